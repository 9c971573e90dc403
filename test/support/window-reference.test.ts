import { describe, expect, it } from 'vitest'
import {
  countWindowEmissions,
  finalWindowResults,
  type WindowFn,
  type WindowRefEvent,
  type WindowRefShape,
  watermarks,
  windowEmissions,
  withIdleTick,
} from './window-reference.ts'

const S = 1000
/** specs/conformance/window-tumbling: amount and fee per payment, times in seconds past midnight. */
const PAYMENTS: [id: string, card: string, amount: number, fee: number | null, second: number][] = [
  ['p1', 'c1', 10, null, 5],
  ['p2', 'c2', 20, 1, 10],
  ['p3', 'c1', 5, 0.5, 1],
  ['p4', 'c1', 7, null, 63],
  ['p5', 'c2', 1, null, 80],
  ['p6', 'c1', 3, null, 59],
  ['p7', 'c1', 2, null, 130],
  ['p8', 'c2', 4, 2, 110],
  ['p9', 'c2', 6, null, 180],
  ['p10', 'c1', 100, null, 70],
]
const FNS: WindowFn[] = [
  'window_start',
  'window_end',
  'count',
  'sum',
  'sum',
  'min',
  'max',
  'avg',
  'first',
  'last',
]
const conformanceEvents: WindowRefEvent[] = PAYMENTS.map(([, card, amount, fee, second]) => ({
  time: second * S,
  key: card,
  // One argument per function: sum(fee) is the fifth, every other takes the amount.
  args: FNS.map((_, f) => (f === 4 ? fee : amount)),
  dropped: false,
}))
const TUMBLING_1M: WindowRefShape = { sizeMs: 60 * S, slideMs: 60 * S, latenessMs: 30 * S, delayMs: 2 * S }

const row = (key: string, start: number, values: (number | null)[]) => ({
  key,
  start: start * S,
  end: (start + 60) * S,
  values: [start * S, (start + 60) * S, ...values],
})

describe('window reference', () => {
  it('an idle tick moves the watermark after its arrival, never back, and closes windows without an event', () => {
    const shape: WindowRefShape = { sizeMs: 10, slideMs: 10, latenessMs: 0, delayMs: 2 }
    const ev = (time: number, key: string): WindowRefEvent => ({ time, key, args: [null], dropped: false })
    // a@3 and b@12, then the tick (watermark 25), then a@14 (behind it: late) and a@40.
    const events = withIdleTick([ev(3, 'a'), ev(12, 'b'), ev(14, 'a'), ev(40, 'a')], 2, 1, 25)
    expect(events.map((e) => e.watermark)).toEqual([1, 10, 25, 25, 38])
    expect(events[2]!.dropped).toBe(true)
    // The tick fires [10, 20) for b; [0, 10) fired at b's arrival (watermark 10); a@40's window
    // [40, 50) is still open at 38.
    expect(windowEmissions(events, shape, ['count']).map((r) => [r.key, r.start, r.values[0]])).toEqual([
      ['a', 0, 1],
      ['b', 10, 1],
    ])
    expect(finalWindowResults(events, shape, ['count']).late).toEqual([3])
    // A tick behind the partition's own watermark changes nothing.
    expect(withIdleTick([ev(30, 'a')], 0, 0, 5).map((e) => e.watermark)).toEqual([30, 30])
  })

  it('replays the watermark per arrival', () => {
    expect(watermarks(conformanceEvents, 2 * S).map((w) => w / S)).toEqual([
      3, 8, 8, 61, 78, 78, 128, 128, 178, 178,
    ])
  })

  it('gives the conformance case its emissions, updates included, and its late event', () => {
    // expected.per-minute.jsonl of specs/conformance/window-tumbling, in its order.
    expect(windowEmissions(conformanceEvents, TUMBLING_1M, FNS)).toEqual([
      row('c1', 0, [2, 15, 0.5, 5, 10, 7.5, 5, 10]),
      row('c2', 0, [1, 20, 1, 20, 20, 20, 20, 20]),
      row('c1', 0, [3, 18, 0.5, 3, 10, 6, 5, 3]),
      row('c1', 60, [1, 7, null, 7, 7, 7, 7, 7]),
      row('c2', 60, [1, 1, null, 1, 1, 1, 1, 1]),
      row('c2', 60, [2, 5, 2, 1, 4, 2.5, 1, 4]),
    ])
    const outcome = finalWindowResults(conformanceEvents, TUMBLING_1M, FNS)
    // Window [2m, 3m) has not fired: the last watermark is 2:58.
    expect(outcome.results).toEqual([
      row('c1', 0, [3, 18, 0.5, 3, 10, 6, 5, 3]),
      row('c2', 0, [1, 20, 1, 20, 20, 20, 20, 20]),
      row('c1', 60, [1, 7, null, 7, 7, 7, 7, 7]),
      row('c2', 60, [2, 5, 2, 1, 4, 2.5, 1, 4]),
    ])
    expect(outcome.late).toEqual([9])
  })

  it('puts an event in every hopping window that holds it, also when the size is no multiple of the slide', () => {
    // Windows of 25 ms every 10 ms: t = 23 is in [0, 25), [10, 35), [20, 45).
    const shape: WindowRefShape = { sizeMs: 25, slideMs: 10, latenessMs: 0, delayMs: 0 }
    const events: WindowRefEvent[] = [
      { time: 23, key: 'a', args: [null], dropped: false },
      { time: 100, key: 'b', args: [null], dropped: true },
    ]
    expect(finalWindowResults(events, shape, ['window_start']).results.map((r) => r.start)).toEqual([
      0, 10, 20,
    ])
  })

  it('skips nulls, breaks time ties by arrival and orders first/last by event time', () => {
    const shape: WindowRefShape = { sizeMs: 10, slideMs: 10, latenessMs: 0, delayMs: 5 }
    const fns: WindowFn[] = ['count', 'sum', 'avg', 'first', 'last', 'min']
    const e = (time: number, arg: number | null): WindowRefEvent => ({
      time,
      key: 'k',
      args: fns.map(() => arg),
      dropped: false,
    })
    // Arrival: 7 (4), 3 (null), 3 (8), 7 (1), 3 (2); then 30 moves the watermark to 25.
    const events = [e(7, 4), e(3, null), e(3, 8), e(7, 1), e(3, 2), e(30, null)]
    expect(finalWindowResults(events, shape, fns).results).toEqual([
      { key: 'k', start: 0, end: 10, values: [5, 15, 15 / 4, 8, 1, 1] },
    ])
    const nulls = finalWindowResults([e(1, null), e(20, null)], shape, fns).results
    expect(nulls[0]!.values).toEqual([1, null, null, null, null, null])
  })

  it('drops filtered events but lets them move the watermark, and calls late only what reaches no window', () => {
    // Hopping 20 every 10, lateness 5, no delay. The filtered event at 80 closes everything below 75.
    const shape: WindowRefShape = { sizeMs: 20, slideMs: 10, latenessMs: 5, delayMs: 0 }
    const ev = (time: number, dropped = false): WindowRefEvent => ({ time, key: 'k', args: [1], dropped })
    // 72: in [60, 80) (80 + 5 > 80) and [70, 90): not late. 64: in [50, 70) gone and [60, 80) kept.
    // 55: in [40, 60) and [50, 70), both gone: late.
    const events = [ev(10), ev(80, true), ev(72), ev(64), ev(55)]
    const outcome = finalWindowResults(events, shape, ['count'])
    expect(outcome.late).toEqual([4])
    // [70, 90) holds 72 but has not fired.
    expect(outcome.results.map((r) => [r.start, r.values[0]])).toEqual([
      [0, 1],
      [10, 1],
      [60, 2],
    ])
    // 10's windows fire when 80 arrives; 72 and 64 each reach [60, 80), which has fired: an update each.
    expect(windowEmissions(events, shape, ['count']).map((r) => [r.start, r.values[0]])).toEqual([
      [0, 1],
      [10, 1],
      [60, 1],
      [60, 2],
    ])
  })

  it('numbers count windows in event-time order and emits each when the watermark passes its last event', () => {
    // specs/conformance/window-count-sliding: count 4 every 2, watermark 1 s behind, seconds.
    const readings: [key: string, seq: number, second: number][] = [
      ['s1', 1, 10],
      ['s1', 2, 12],
      ['s1', 3, 11],
      ['s1', 4, 13],
      ['s2', 5, 13],
      ['s1', 6, 15],
      ['s1', 7, 5],
      ['s1', 8, 16],
      ['s1', 9, 16],
      ['s9', 10, 60],
    ]
    const events = readings.map(
      ([key, seq, second]): WindowRefEvent => ({
        time: second * S,
        key,
        args: [null, seq, seq],
        dropped: false,
      }),
    )
    const fns: WindowFn[] = ['count', 'first', 'last']
    const { emissions, late } = countWindowEmissions(events, { size: 4, slide: 2, delayMs: S }, fns)
    // Line 7 (second 5) arrives behind the watermark (14 s).
    expect(late).toEqual([6])
    // Windows of 2, 4, then the last 4 events, by time then arrival; timed at their last event.
    expect(emissions.map((r) => [r.key, r.start / S, (r.end - 1) / S, ...r.values])).toEqual([
      ['s1', 10, 11, 2, 1, 3],
      ['s1', 10, 13, 4, 1, 4],
      ['s1', 12, 16, 4, 2, 8],
    ])
    // Tumbling windows of 3: s1's first three by time are 1, 3, 2 (emitted once 13 s passes 12 s).
    const tumbling = countWindowEmissions(events, { size: 3, slide: 3, delayMs: S }, fns)
    expect(tumbling.emissions.map((r) => [r.start / S, (r.end - 1) / S, ...r.values])).toEqual([
      [10, 12, 3, 1, 2],
      [13, 16, 3, 4, 8],
    ])
  })
})
