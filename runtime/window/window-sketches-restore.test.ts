/**
 * Sketch aggregates (count_distinct, approx_count_distinct, quantile, top_k) live beside the
 * columnar store, in the operator: a snapshot taken after any prefix of the stream and restored
 * into a fresh operator must go on to the same results as one uninterrupted run, for tumbling,
 * hopping and session windows.
 */
import { expect, it } from 'vitest'
import type { WindowGraphNode } from '../artifact/manifest.ts'
import type { EventBatch, WindowFunctions } from '../artifact/operators.ts'
import { CountWindowOperator } from './count-operator.ts'
import { SessionWindowOperator } from './session-operator.ts'
import { TypedArrayWindowStore } from './typed-array-store.ts'
import { type WindowedOperator, WindowOperator } from './window-operator.ts'

interface Ev {
  readonly k: string
  readonly x: string | null
  readonly y: number | null
  readonly t: number
}

const functions: WindowFunctions = {
  accumulators: [],
  rich: [
    { fn: 'count_distinct' },
    { fn: 'approx_count_distinct' },
    { fn: 'quantile', q: 0.5 },
    { fn: 'top_k', k: 2 },
  ],
  extract(input, keys, _columns, _errors, _gaps, richArgs) {
    for (let i = 0; i < input.length; i++) {
      const v = input.values[i] as { k: string; x: string | null; y: number | null }
      keys[i] = v.k
      richArgs[0]![i] = v.x
      richArgs[1]![i] = v.x
      richArgs[2]![i] = v.y
      richArgs[3]![i] = v.x
    }
  },
  keyValues: (key) => [key],
  result: (kv, start, end, _v, _a, _r, rich) => ({ k: kv[0], start, end, rich }),
}
const node = (window: WindowGraphNode['window']): WindowGraphNode => ({
  kind: 'WindowAggregate',
  id: 'w',
  input: 'i',
  window,
  latenessMs: 5000,
  late: null,
  state: { id: 's', step: 'window', ttlMs: null },
  execution: 'typescript',
})
function batch(events: readonly Ev[]): EventBatch {
  return {
    values: [...events],
    keys: events.map((e) => e.k),
    timestamps: events.map((e) => e.t),
    origins: events.map((_, i) => i),
    length: events.length,
  }
}
function run(make: () => WindowedOperator, events: readonly Ev[], cut: number) {
  const times = (evs: readonly Ev[]) => {
    const a = new Float64Array(evs.length)
    let m = -Infinity
    evs.forEach((e, i) => {
      m = Math.max(m, e.t)
      a[i] = m
    })
    return a
  }
  const whole = make()
  const all = whole.process(batch(events), times(events), events.length - 1).results.values
  const first = make()
  const a = first.process(batch(events.slice(0, cut)), times(events.slice(0, cut)), cut - 1).results.values
  const snap = first.snapshot()
  const second = make()
  second.restore(snap)
  const rest = events.slice(cut)
  const b = second.process(batch(rest), times(rest), rest.length - 1).results.values
  return { all, split: [...a, ...b] }
}
it('time and session windows keep rich accumulators across a snapshot', () => {
  const events: Ev[] = []
  for (let i = 0; i < 200; i++)
    events.push({
      k: `k${i % 3}`,
      x: i % 7 === 0 ? null : `v${i % 11}`,
      y: i % 5 === 0 ? null : ((i * 37) % 101) - 20,
      t: i * 700 + ((i * 13) % 5) * 300,
    })
  for (const cut of [1, 50, 123, 199]) {
    const tw = run(
      () =>
        new WindowOperator(
          node({ kind: 'tumbling', sizeMs: 10000, slideMs: 10000 }),
          functions,
          new TypedArrayWindowStore({ accumulators: [], sizeMs: 10000, slideMs: 10000 }),
          1000,
        ),
      events,
      cut,
    )
    expect(tw.all.length).toBeGreaterThan(5)
    expect(tw.split).toEqual(tw.all)
    const hw = run(
      () =>
        new WindowOperator(
          node({ kind: 'hopping', sizeMs: 10000, slideMs: 2500 }),
          functions,
          new TypedArrayWindowStore({ accumulators: [], sizeMs: 10000, slideMs: 2500 }),
          1000,
        ),
      events,
      cut,
    )
    expect(hw.split).toEqual(hw.all)
    const sw = run(
      () => new SessionWindowOperator(node({ kind: 'session', gapMs: 800 }), functions, 1000),
      events,
      cut,
    )
    expect(sw.all.length).toBeGreaterThan(5)
    expect(sw.split).toEqual(sw.all)
    const early = run(
      () =>
        new WindowOperator(
          {
            ...node({ kind: 'hopping', sizeMs: 10000, slideMs: 5000 }),
            emit: { kind: 'every', everyMs: 1500 },
          },
          functions,
          new TypedArrayWindowStore({ accumulators: [], sizeMs: 10000, slideMs: 5000 }),
          1000,
        ),
      events,
      cut,
    )
    expect(early.all.length).toBeGreaterThan(2 * hw.all.length)
    expect(early.split).toEqual(early.all)
    for (const [size, slide] of [
      [5, 5],
      [6, 2],
    ] as const) {
      const cw = run(
        () => new CountWindowOperator(node({ kind: 'count', size, slide }), functions, 1000),
        events,
        cut,
      )
      expect(cw.all.length).toBeGreaterThan(10)
      expect(cw.split).toEqual(cw.all)
    }
  }
})
