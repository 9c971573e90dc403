/**
 * An idle join input (sluice run --idle-timeout): after the timeout without a batch from one side,
 * the other side's watermark alone moves the join's, so outer rows come out; the watermark never
 * goes back when the idle side delivers again, and its events behind it are late.
 */
import { describe, expect, it } from 'vitest'
import type { EventBatch, JoinFunctions } from '../artifact/operators.ts'
import { JoinOperator, type JoinSide } from './interval-join.ts'

interface Value {
  readonly id: string
  readonly k: string
  readonly t: number
}

const idsOf = (left: unknown, right: unknown) => ({
  l: (left as Value | null)?.id ?? null,
  r: (right as Value | null)?.id ?? null,
})

const FUNCTIONS: JoinFunctions = {
  leftKeys: (input, keys) => {
    for (let i = 0; i < input.length; i++) keys[i] = (input.values[i] as Value).k
  },
  rightKeys: (input, keys) => {
    for (let i = 0; i < input.length; i++) keys[i] = (input.values[i] as Value).k
  },
  output: (left, right) => idsOf(left, right),
  late: (left, right) => idsOf(left, right),
}

/** A left join: a right event matches a left one of its key from 0 to 10 ms after it. */
const SPEC = {
  id: 'j#join',
  joinType: 'left' as const,
  bound: { kind: 'interval' as const, lowerMs: 0, upperMs: 10 },
  latenessMs: 0,
}

function batchOf(events: readonly Value[]): { batch: EventBatch; maxTimes: Float64Array } {
  const maxTimes = new Float64Array(events.length)
  let max = Number.NEGATIVE_INFINITY
  events.forEach((e, i) => {
    max = Math.max(max, e.t)
    maxTimes[i] = max
  })
  return {
    batch: {
      values: [...events],
      keys: events.map((e) => e.k),
      timestamps: events.map((e) => e.t),
      origins: events.map((_, i) => i),
      length: events.length,
    },
    maxTimes,
  }
}

function feed(operator: JoinOperator, side: JoinSide, events: readonly Value[]) {
  const { batch, maxTimes } = batchOf(events)
  const out = operator.process(side, batch, maxTimes, events.length - 1)
  return {
    rows: out.results.values.slice(0, out.results.length),
    late: out.late.values.slice(0, out.late.length),
  }
}

describe('join with an idle input', () => {
  it('without a timeout, an input that never delivers holds every outer row back', () => {
    const operator = new JoinOperator(SPEC, FUNCTIONS, { left: 0, right: 0 })
    expect(feed(operator, 'left', [{ id: 'a', k: 'x', t: 100 }]).rows).toEqual([])
    expect(feed(operator, 'left', [{ id: 'b', k: 'x', t: 500 }]).rows).toEqual([])
  })

  it('after the timeout the other side moves the watermark alone; the idle side is late when it returns', () => {
    let now = 0
    const operator = new JoinOperator(
      SPEC,
      FUNCTIONS,
      { left: 0, right: 0 },
      { timeoutMs: 1000, now: () => now },
    )
    // Both sides deliver at first: the right side's time holds the watermark at 100.
    expect(feed(operator, 'right', [{ id: 'r1', k: 'y', t: 100 }]).rows).toEqual([])
    expect(feed(operator, 'left', [{ id: 'a', k: 'x', t: 100 }]).rows).toEqual([])
    now = 500
    // Within the timeout the right side still counts: the watermark stays at min(300, 100).
    expect(feed(operator, 'left', [{ id: 'b', k: 'x', t: 300 }]).rows).toEqual([])
    now = 1200
    // The right side has been idle for 1200 ms: the left side's 400 is the watermark, and a
    // (last useful at 110) and b (310) can no longer meet a right event.
    expect(feed(operator, 'left', [{ id: 'c', k: 'x', t: 400 }]).rows).toEqual([
      { l: 'a', r: null },
      { l: 'b', r: null },
    ])
    // The right side returns with an event behind the watermark: late, and the watermark does
    // not go back to it (c, waiting until 410, is not emitted by it either).
    const back = feed(operator, 'right', [{ id: 'r2', k: 'x', t: 395 }])
    expect(back.late).toEqual([{ l: null, r: 'r2' }])
    expect(back.rows).toEqual([])
    // Both deliver again: a right event in c's interval matches it.
    expect(feed(operator, 'right', [{ id: 'r3', k: 'x', t: 405 }]).rows).toEqual([{ l: 'c', r: 'r3' }])
  })

  it('a tick moves the watermark to the active side when the other is idle, without a batch; with both idle nothing moves', () => {
    let now = 0
    const operator = new JoinOperator(
      SPEC,
      FUNCTIONS,
      { left: 0, right: 0 },
      { timeoutMs: 1000, now: () => now },
    )
    const rowsOf = (out: ReturnType<JoinOperator['tick']>) => out.results.values.slice(0, out.results.length)
    feed(operator, 'right', [{ id: 'r1', k: 'y', t: 100 }])
    feed(operator, 'left', [{ id: 'a', k: 'x', t: 100 }])
    now = 500
    feed(operator, 'left', [{ id: 'b', k: 'x', t: 300 }])
    // Nobody idle yet: a tick changes nothing.
    expect(rowsOf(operator.tick())).toEqual([])
    expect(operator.watermark).toBe(100)
    now = 1200
    // The right side is idle, the left is not (700 ms since b): the watermark is the left's 300,
    // so a (useful until 110) comes out; b (until 310) waits.
    expect(rowsOf(operator.tick())).toEqual([{ l: 'a', r: null }])
    expect(operator.watermark).toBe(300)
    now = 5000
    // Both idle: the watermark stays where it was.
    expect(rowsOf(operator.tick())).toEqual([])
    expect(operator.watermark).toBe(300)
  })

  it('without an idle timeout a tick does nothing', () => {
    const operator = new JoinOperator(SPEC, FUNCTIONS, { left: 0, right: 0 })
    feed(operator, 'left', [{ id: 'a', k: 'x', t: 100 }])
    expect(operator.tick().results.length).toBe(0)
    expect(operator.watermark).toBe(Number.NEGATIVE_INFINITY)
  })

  it('keeps the watermark it reached through a snapshot', () => {
    let now = 0
    const idle = { timeoutMs: 10, now: () => now }
    const operator = new JoinOperator(SPEC, FUNCTIONS, { left: 0, right: 0 }, idle)
    feed(operator, 'right', [{ id: 'r1', k: 'y', t: 0 }])
    now = 100
    feed(operator, 'left', [{ id: 'a', k: 'x', t: 1000 }])
    const restored = new JoinOperator(SPEC, FUNCTIONS, { left: 0, right: 0 }, idle)
    restored.restore(operator.snapshot())
    // The right side is not idle right after the restore, but the watermark stays at 1000.
    expect(feed(restored, 'right', [{ id: 'r2', k: 'x', t: 500 }]).late).toEqual([{ l: null, r: 'r2' }])
  })
})
