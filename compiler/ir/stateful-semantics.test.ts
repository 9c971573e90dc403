import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import { createInterpreter, type SinkOutput } from './interpret.ts'
import { accumulate, initialAccumulators, stateKey } from './stateful-semantics.ts'
import type { AggregateField, Span, Type } from './types.ts'

const SCHEMA = `schema E { id: string, k: string?, n: i64?, x: f64?, s: string, ts: timestamp @event_time }
source e: E from kafka("e")
`

/** Runs events (rows with every field, `ts` in seconds) through the stream `out` of `steps`. */
function run(
  steps: string,
  rows: readonly Record<string, unknown>[],
): { outputs: SinkOutput[]; failed: number[] } {
  const { pipeline, diagnostics } = checkSource(
    't.pipe',
    `${SCHEMA}stream out = e ${steps}\nsink out -> stdout`,
  )
  if (!pipeline) throw new Error(JSON.stringify(diagnostics))
  const outputs: SinkOutput[] = []
  const failed: number[] = []
  let current = -1
  const interpreter = createInterpreter(pipeline, {
    onSink: (output) => outputs.push(output),
    onError: () => failed.push(current),
  })
  rows.forEach((row, i) => {
    current = i
    const value = { id: 'a', k: null, n: null, x: null, s: '', ...row, ts: ((row.ts as number) ?? 0) * 1000 }
    interpreter.push('e', { value, key: null, timestamp: value.ts })
  })
  return { outputs, failed }
}

describe('dedup (reference semantics)', () => {
  it('drops an event less than the duration from the kept time of its key, before or after it', () => {
    const seconds = [0, 4, -4, 5, 1, -1, 10, 9.999]
    const { outputs } = run(
      '| dedup by id within 5s',
      seconds.map((ts) => ({ ts })),
    )
    // 0 kept; 4 and -4 within 5 s of 0; 5 kept (exactly 5 s away), stored; 1 within 5 s of 5;
    // -1 kept (6 s before 5) but the stored time stays 5; 10 kept; 9.999 within 5 s of 10.
    expect(outputs.map((o) => o.timestamp / 1000)).toEqual([0, 5, -1, 10])
  })

  it('forgets a key once its kept time is the duration behind the clock, less the watermark delay', () => {
    // within 10 s; after `b` at 25 s the clock is 25 s. Without a watermark, `a` (kept at 0) is
    // gone, so `a` at 5 s is kept; with `watermark ts - 20s` it is still live (0 + 10 > 25 - 20)
    // and `a` at 5 s is a repeat. Either way the result does not depend on when a runtime drops keys.
    const rows = [
      { id: 'a', ts: 0 },
      { id: 'b', ts: 25 },
      { id: 'a', ts: 5 },
    ]
    const without = run('| dedup by id within 10s', rows)
    expect(without.outputs.map((o) => o.timestamp / 1000)).toEqual([0, 25, 5])
    const { pipeline } = checkSource(
      't.pipe',
      `${SCHEMA.replace('from kafka("e")', 'from kafka("e") watermark ts - 20s')}stream out = e | dedup by id within 10s\nsink out -> stdout`,
    )
    const outputs: SinkOutput[] = []
    const interpreter = createInterpreter(pipeline!, { onSink: (output) => outputs.push(output) })
    for (const row of rows) {
      const value = { k: null, n: null, x: null, s: '', ...row, ts: row.ts * 1000 }
      interpreter.push('e', { value, key: null, timestamp: value.ts })
    }
    expect(outputs.map((o) => o.timestamp / 1000)).toEqual([0, 25])
  })

  it('keeps keys apart: each key value, null too, and several keys together', () => {
    const rows = [
      { k: 'null', ts: 0 },
      { k: null, ts: 1 },
      { k: 'null', ts: 2 },
      { k: null, ts: 3 },
      { k: 'x', n: 1, ts: 4 },
      { k: 'x', n: 2, ts: 5 },
      { k: 'x', n: 1, ts: 6 },
    ]
    const { outputs } = run('| dedup by k, n within 1m', rows)
    expect(outputs.map((o) => o.timestamp / 1000)).toEqual([0, 1, 4, 5])
  })

  it('passes events on unchanged, with their key', () => {
    const { outputs } = run('| key by s | dedup by id within 1s', [{ s: 'key', n: 3, ts: 7 }])
    expect(outputs).toEqual([
      {
        sinkId: 'sink#1',
        value: { id: 'a', k: null, n: 3, x: null, s: 'key', ts: 7000 },
        key: 'key',
        timestamp: 7000,
      },
    ])
  })
})

describe('aggregate (reference semantics)', () => {
  it('emits the keys then the aggregates after each event, per key', () => {
    const { outputs } = run(
      '| aggregate by id, big: n > 5 { c: count(), total: sum(n), lo: min(n), hi: max(s) }',
      [
        { id: 'a', n: 1, s: 'p' },
        { id: 'b', n: 9, s: 'q' },
        { id: 'a', n: 3, s: 'o' },
        { id: 'a', n: 7, s: 'z' },
      ],
    )
    expect(outputs.map((o) => o.value)).toEqual([
      { id: 'a', big: false, c: 1, total: 1, lo: 1, hi: 'p' },
      { id: 'b', big: true, c: 1, total: 9, lo: 9, hi: 'q' },
      { id: 'a', big: false, c: 2, total: 4, lo: 1, hi: 'p' },
      { id: 'a', big: true, c: 1, total: 7, lo: 7, hi: 'z' },
    ])
  })

  it('skips nulls like SQL: null until a value arrives, count counts every event', () => {
    const { outputs } = run('| aggregate by id { c: count(), total: sum(x), mean: avg(x), first: min(x) }', [
      { x: null },
      { x: 1.5 },
      { x: null },
      { x: 2.5 },
    ])
    expect(outputs.map((o) => o.value)).toEqual([
      { id: 'a', c: 1, total: null, mean: null, first: null },
      { id: 'a', c: 2, total: 1.5, mean: 1.5, first: 1.5 },
      { id: 'a', c: 3, total: 1.5, mean: 1.5, first: 1.5 },
      { id: 'a', c: 4, total: 4, mean: 2, first: 1.5 },
    ])
  })

  it('keeps the event time and key of each input event, and marks a key that is the event time', () => {
    const { pipeline } = checkSource(
      't.pipe',
      `${SCHEMA}stream out = e | aggregate by ts, id { c: count() }\nsink out -> stdout`,
    )
    const schema = pipeline!.nodes.find((n) => n.kind === 'Aggregate')!.schema
    expect(schema.fields).toEqual([
      { name: 'ts', type: { kind: 'timestamp' }, eventTime: true },
      { name: 'id', type: { kind: 'string' } },
      { name: 'c', type: { kind: 'i64' } },
    ])
    const { outputs } = run('| key by s | aggregate by id { c: count() }', [{ s: 'k1', ts: 3 }])
    expect(outputs[0]).toMatchObject({ key: 'k1', timestamp: 3000 })
  })

  it('fails an event whose i64 sum overflows and leaves the state as it was', () => {
    const max = Number.MAX_SAFE_INTEGER
    const { outputs, failed } = run('| aggregate by id { c: count(), total: sum(n) }', [
      { n: max - 1 },
      { n: 5 },
      { n: 1 },
      { n: -max },
    ])
    expect(failed).toEqual([1])
    expect(outputs.map((o) => o.value)).toEqual([
      { id: 'a', c: 1, total: max - 1 },
      { id: 'a', c: 2, total: max },
      { id: 'a', c: 3, total: 0 },
    ])
  })

  it('fails an event with a non-finite f64 argument or sum (state is JSON, which has neither)', () => {
    const { outputs, failed } = run('| aggregate by id { top: max(x * 1e300), total: sum(x * 1e300) }', [
      { x: 1 },
      { x: 1e10 },
      { x: 1e8 },
      { x: 2 },
    ])
    // 1e10 * 1e300 is Infinity; 1e8 * 1e300 = 1e308, and 1e300 + 1e308 is still finite, then
    // 1e308 + 1e300 + 2e300 too: only the infinite argument fails.
    expect(failed).toEqual([1])
    expect(outputs.map((o) => o.value.top)).toEqual([1e300, 1e308, 1e308])
    const overflow = run('| aggregate by id { total: sum(x * 1e300) }', [{ x: 1e8 }, { x: 1e8 }])
    expect(overflow.failed).toEqual([1])
  })

  it('keeps the state of an event that a later step fails on', () => {
    const { outputs, failed } = run('| aggregate by id { c: count() } | select { c, r: 10 / (c - 2) }', [
      {},
      {},
      {},
    ])
    expect(failed).toEqual([1])
    expect(outputs.map((o) => o.value)).toEqual([
      { c: 1, r: -10 },
      { c: 3, r: 10 },
    ])
  })
})

describe('state keys', () => {
  const t = (kind: 'string' | 'i64' | 'bool' | 'timestamp'): Type => ({ kind })
  it('use a required string as it is and JSON otherwise, so null and "null" differ', () => {
    expect(stateKey([t('string')])(['ab'])).toBe('ab')
    expect(stateKey([{ kind: 'optional', of: t('string') }])(['null'])).toBe('"null"')
    expect(stateKey([{ kind: 'optional', of: t('string') }])([null])).toBe('null')
    expect(stateKey([t('i64')])([-0])).toBe('0')
    expect(stateKey([t('string'), t('bool'), t('timestamp')])(['a', true, 5])).toBe('["a",true,5]')
  })

  it('accumulators are JSON data and survive a JSON round trip', () => {
    const span: Span = { file: 't', start: 0, end: 0 }
    const arg = { kind: 'Column' as const, name: 'x', type: t('i64'), span }
    const aggregates: AggregateField[] = (['count', 'sum', 'min', 'max', 'avg'] as const).map((fn) => ({
      name: fn,
      fn,
      arg: fn === 'count' ? null : arg,
      type: t('i64'),
      span,
    }))
    const after = accumulate(aggregates, initialAccumulators(aggregates), [null, 4, 4, 4, 4])
    expect(JSON.parse(JSON.stringify(after))).toEqual(after)
    expect(after).toEqual([1, 4, 4, 4, [4, 1]])
  })
})
