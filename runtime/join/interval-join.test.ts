import { describe, expect, it } from 'vitest'
import type { EventBatch, JoinFunctions } from '../artifact/operators.ts'
import { JoinOperator, type JoinSpec } from './interval-join.ts'

interface Ev {
  readonly id: string
  readonly k: string | null
  readonly f?: number
}

const FUNCTIONS: JoinFunctions = {
  leftKeys: (input, keys, errors) => {
    for (let i = 0; i < input.length; i++) {
      const k = (input.values[i] as Ev).k
      if (k === 'boom') {
        keys[i] = null
        errors.push({ index: i, error: new Error('boom'), site: 7 })
      } else keys[i] = k
    }
  },
  rightKeys: (input, keys) => {
    for (let i = 0; i < input.length; i++) keys[i] = (input.values[i] as Ev).k
  },
  output: (left, right) => ({ l: left, r: right }),
  late: (left, right) => ({ l: left, r: right }),
}

const LEFT_JOIN: JoinSpec = {
  id: 'j#join',
  joinType: 'left',
  bound: { kind: 'interval', lowerMs: 0, upperMs: 10 },
  latenessMs: 0,
}

/** A batch of events at the given times, one source record each (origins 0, 1, …), and its running max times. */
function batch(events: readonly (Ev & { t: number })[]): [EventBatch, Float64Array] {
  const maxTimes = new Float64Array(events.length)
  let max = Number.NEGATIVE_INFINITY
  events.forEach((e, i) => {
    max = Math.max(max, e.t)
    maxTimes[i] = max
  })
  return [
    {
      values: events.map(({ t: _t, ...value }) => value),
      keys: events.map(() => null),
      timestamps: events.map((e) => e.t),
      origins: events.map((_, i) => i),
      length: events.length,
    },
    maxTimes,
  ]
}

describe('JoinOperator', () => {
  it('fails an event whose key fails, naming its source record, and buffers nothing of it', () => {
    const join = new JoinOperator(LEFT_JOIN, FUNCTIONS, { left: 0, right: 0 })
    const [input, maxTimes] = batch([
      { id: 'a', k: 'x', t: 1 },
      { id: 'b', k: 'boom', t: 2 },
    ])
    const out = join.process('left', input, maxTimes, 1)
    expect(out.failures).toEqual([{ origin: 1, error: new Error('boom'), site: 7 }])
    expect(join.size).toBe(1)
    expect(join.rows).toBe(1)
  })

  it('attributes an outer row to the record whose arrival moved the watermark past its bound', () => {
    const join = new JoinOperator(LEFT_JOIN, FUNCTIONS, { left: 0, right: 0 })
    const [lefts, leftTimes] = batch([{ id: 'a', k: 'x', t: 0 }])
    join.process('left', lefts, leftTimes, 0)
    // Right records at 5, 11 (the join's watermark is min(0, …) = 0), then the left side moves on.
    const [rights, rightTimes] = batch([
      { id: 'r1', k: 'y', t: 5 },
      { id: 'r2', k: 'y', t: 11 },
    ])
    expect(join.process('right', rights, rightTimes, 1).results.length).toBe(0)
    const [more, moreTimes] = batch([
      { id: 'b', k: 'z', t: 3 },
      { id: 'c', k: 'z', t: 20 },
    ])
    const out = join.process('left', more, moreTimes, 1)
    // W = min(20, 11) = 11 > 0 + 10 at record 1: `a` comes out alone, attributed to record 1.
    expect(out.results.values).toEqual([{ l: { id: 'a', k: 'x' }, r: null }])
    expect(out.results.origins).toEqual([1])
    expect(out.results.timestamps).toEqual([0])
    expect(out.results.keys).toEqual(['x'])
  })

  it('hands a late event out as the late record, with the watermark it met', () => {
    const join = new JoinOperator(LEFT_JOIN, FUNCTIONS, { left: 0, right: 0 })
    const [lefts, leftTimes] = batch([{ id: 'a', k: 'x', t: 50 }])
    join.process('left', lefts, leftTimes, 0)
    const [rights, rightTimes] = batch([
      { id: 'r1', k: 'x', t: 60 },
      { id: 'r0', k: 'x', t: 40 },
    ])
    const out = join.process('right', rights, rightTimes, 1)
    expect(out.results.values).toEqual([{ l: { id: 'a', k: 'x' }, r: { id: 'r1', k: 'x' } }])
    expect(out.late.values).toEqual([{ l: null, r: { id: 'r0', k: 'x' } }])
    expect(out.late.origins).toEqual([1])
    expect(out.lateWatermarks).toEqual([50])
  })

  it('restores what it snapshotted, f64 values JSON cannot hold included, and refuses other bytes', () => {
    const join = new JoinOperator(LEFT_JOIN, FUNCTIONS, { left: 0, right: 0 })
    const [lefts, leftTimes] = batch([
      { id: 'a', k: 'x', f: Number.NaN, t: 0 },
      { id: 'b', k: 'x', f: -0, t: 1 },
    ])
    join.process('left', lefts, leftTimes, 1)
    expect(join.takeChanged()).toBe(true)
    const restored = new JoinOperator(LEFT_JOIN, FUNCTIONS, { left: 0, right: 0 })
    restored.restore(join.snapshot())
    expect(restored.maxTime).toEqual({ left: 1, right: Number.NEGATIVE_INFINITY })
    const [rights, rightTimes] = batch([{ id: 'r', k: 'x', t: 5 }])
    const out = restored.process('right', rights, rightTimes, 0)
    const values = out.results.values as { l: Ev }[]
    expect(values.map((v) => v.l.id)).toEqual(['a', 'b'])
    expect(values[0]!.l.f).toBeNaN()
    expect(Object.is(values[1]!.l.f, -0)).toBe(true)
    expect(() => restored.restore(Buffer.from('{"not":"a join"}'))).toThrow(/not a join snapshot/)
    restored.restore(undefined)
    expect(restored.size).toBe(0)
  })
})
