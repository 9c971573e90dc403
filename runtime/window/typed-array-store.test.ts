import { describe, expect, it } from 'vitest'
import { rowsOf } from '../../test/support/window-rows.ts'
import type { AccumulatorKind, WindowRows, WindowStoreSpec } from './accumulator-store.ts'
import {
  createTypedArrayWindowStore,
  lastWindowStart,
  type TypedArrayWindowStore,
} from './typed-array-store.ts'

interface Event {
  readonly key: number
  readonly t: number
  /** One argument per accumulator; NaN is null. Defaults to t for every accumulator. */
  readonly args?: readonly number[]
  readonly horizon?: number
}

function addEvents(store: TypedArrayWindowStore, events: readonly Event[]): void {
  const n = events.length
  const accumulators = store.spec.accumulators.length
  const args = Array.from({ length: accumulators }, (_, j) =>
    Float64Array.from(events, (e) => (e.args === undefined ? e.t : e.args[j]!)),
  )
  store.add(
    Int32Array.from(events, (e) => e.key),
    Float64Array.from(events, (e) => e.t),
    Float64Array.from(events, (e) => e.horizon ?? Number.NEGATIVE_INFINITY),
    args,
    n,
  )
}

const spec = (accumulators: AccumulatorKind[], sizeMs: number, slideMs = sizeMs): WindowStoreSpec => ({
  accumulators,
  sizeMs,
  slideMs,
})

describe('lastWindowStart', () => {
  it('floors to a multiple of the slide, also below zero and near 2^53', () => {
    expect(lastWindowStart(0, 10)).toBe(0)
    expect(Object.is(lastWindowStart(-0, 10), 0)).toBe(true)
    expect(lastWindowStart(9, 10)).toBe(0)
    expect(lastWindowStart(10, 10)).toBe(10)
    expect(lastWindowStart(-1, 10)).toBe(-10)
    expect(lastWindowStart(-10, 10)).toBe(-10)
    expect(lastWindowStart(-11, 10)).toBe(-20)
    const big = 2 ** 53 - 1
    for (const slide of [3, 7, 1000, 60_000, 86_400_000]) {
      const s = lastWindowStart(big, slide)
      expect(BigInt(s)).toBe(BigInt(big) - (BigInt(big) % BigInt(slide)))
      const n = lastWindowStart(-big, slide)
      expect(n <= -big && n > -big - slide).toBe(true)
    }
  })
})

describe('TypedArrayWindowStore', () => {
  it('rejects invalid specs', () => {
    expect(() => createTypedArrayWindowStore(spec(['count'], 0))).toThrow(RangeError)
    expect(() => createTypedArrayWindowStore(spec(['count'], 10, 20))).toThrow(RangeError)
    expect(() => createTypedArrayWindowStore(spec(['count'], 10.5))).toThrow(RangeError)
    expect(() => createTypedArrayWindowStore(spec(['median' as AccumulatorKind], 10))).toThrow(/median/)
  })

  it('tumbling windows: one row per key and window', () => {
    const store = createTypedArrayWindowStore(spec(['count'], 10))
    addEvents(store, [
      { key: 1, t: 0 },
      { key: 1, t: 9 },
      { key: 1, t: 10 },
      { key: 2, t: 5 },
      { key: 1, t: -1 },
    ])
    expect(store.size).toBe(4)
    expect(store.minEnd).toBe(0)
    expect(store.nextEmitEnd).toBe(0)
    const rows = rowsOf(store.export())
    expect(rows.map((r) => [r.start, r.key, r.values[0]])).toEqual([
      [-10, 1, 1],
      [0, 1, 2],
      [0, 2, 1],
      [10, 1, 1],
    ])
  })

  it('hopping windows with size = 3 × slide: every event in three windows', () => {
    const store = createTypedArrayWindowStore(spec(['count'], 30, 10))
    addEvents(store, [{ key: 0, t: 25 }])
    expect(rowsOf(store.export()).map((r) => r.start)).toEqual([0, 10, 20])
    addEvents(store, [{ key: 0, t: 30 }])
    expect(rowsOf(store.export()).map((r) => [r.start, r.values[0]])).toEqual([
      [0, 1],
      [10, 2],
      [20, 2],
      [30, 1],
    ])
  })

  it('hopping windows with a size that is not a multiple of the slide', () => {
    const store = createTypedArrayWindowStore(spec(['count'], 25, 10))
    // t = 24 lies in [0, 25), [10, 35), [20, 45); t = 25 no longer in [0, 25).
    addEvents(store, [{ key: 0, t: 24 }])
    expect(rowsOf(store.export()).map((r) => r.start)).toEqual([0, 10, 20])
    store.clear()
    addEvents(store, [{ key: 0, t: 25 }])
    expect(rowsOf(store.export()).map((r) => r.start)).toEqual([10, 20])
    store.clear()
    addEvents(store, [{ key: 0, t: -5 }])
    expect(rowsOf(store.export()).map((r) => r.start)).toEqual([-20, -10])
    expect(store.minEnd).toBe(5)
  })

  it('each accumulator kind, with nulls as NaN', () => {
    const store = createTypedArrayWindowStore(spec(['count', 'sum', 'min', 'max', 'first', 'last'], 100))
    const N = Number.NaN
    addEvents(store, [
      { key: 0, t: 50, args: [N, 5, 5, 5, 5, 5] },
      { key: 0, t: 10, args: [N, N, N, N, N, N] },
      { key: 0, t: 20, args: [N, -2, -2, -2, -2, -2] },
      { key: 0, t: 60, args: [N, 0.5, 7, 7, 7, 7] },
      { key: 0, t: 30, args: [N, N, N, N, N, N] },
    ])
    const [row] = rowsOf(store.export())
    expect(row!.values).toEqual([5, 3.5, -2, 7, -2, 7])
    expect(row!.aux).toEqual([0, 3, 3, 3, 20, 60])
  })

  it('initial accumulators of a row whose arguments are all null', () => {
    const store = createTypedArrayWindowStore(spec(['count', 'sum', 'min', 'max', 'first', 'last'], 100))
    const N = Number.NaN
    addEvents(store, [{ key: 3, t: 1, args: [N, N, N, N, N, N] }])
    const [row] = rowsOf(store.export())
    expect(row!.values).toEqual([1, 0, Infinity, -Infinity, N, N])
    expect(row!.aux).toEqual([0, 0, 0, 0, Infinity, -Infinity])
  })

  it('ties: first keeps the earliest added, last takes the latest added; min/max compare strictly', () => {
    const store = createTypedArrayWindowStore(spec(['first', 'last', 'min', 'max'], 100))
    addEvents(store, [
      { key: 0, t: 5, args: [1, 1, 0, 0] },
      { key: 0, t: 5, args: [2, 2, -0, -0] },
      { key: 0, t: 5, args: [3, 3, 0, 0] },
      { key: 0, t: 7, args: [4, 4, 1, 1] },
      { key: 0, t: 7, args: [5, 5, 1, 1] },
      { key: 0, t: 6, args: [6, 6, 1, 1] },
    ])
    const [row] = rowsOf(store.export())
    expect(row!.values[0]).toBe(1)
    expect(row!.aux[0]).toBe(5)
    expect(row!.values[1]).toBe(5)
    expect(row!.aux[1]).toBe(7)
    // 0 then -0: -0 < 0 is false, so min keeps +0; max keeps +0 too.
    expect(Object.is(row!.values[2], 0)).toBe(true)
    expect(Object.is(row!.values[3], 1)).toBe(true)
  })

  it('max_by/min_by: the largest/smallest argument, ties to the earlier time then the first added; taken follows', () => {
    const store = createTypedArrayWindowStore(spec(['max_by', 'taken', 'min_by', 'taken'], 100))
    const N = Number.NaN
    addEvents(store, [
      { key: 0, t: 50, args: [5, 1, 5, 1] },
      { key: 0, t: 40, args: [5, 2, N, 9] }, // ties on 5 at an earlier time: max_by takes it
      { key: 0, t: 40, args: [5, 3, 2, N] }, // same time, added later: max_by keeps 2; min_by takes 2 (x null)
      { key: 0, t: 60, args: [N, 4, 7, 4] }, // a null `by` is skipped
      { key: 0, t: 70, args: [-1, 5, 2, 5] }, // ties min_by's 2 at a later time: kept
    ])
    const [row] = rowsOf(store.export())
    expect(row!.values).toEqual([5, 2, 2, N])
    expect(row!.aux).toEqual([40, 0, 40, 0])
  })

  it('horizons skip the windows that are already closed', () => {
    const store = createTypedArrayWindowStore(spec(['count'], 30, 10))
    // t = 25: windows [0,30), [10,40), [20,50); horizon 30 closes [0,30) (end 30 <= 30).
    addEvents(store, [{ key: 0, t: 25, horizon: 30 }])
    expect(rowsOf(store.export()).map((r) => r.start)).toEqual([10, 20])
    addEvents(store, [{ key: 1, t: 25, horizon: 49 }])
    expect(
      rowsOf(store.export())
        .filter((r) => r.key === 1)
        .map((r) => r.start),
    ).toEqual([20])
    addEvents(store, [{ key: 2, t: 25, horizon: 50 }])
    expect(store.size).toBe(3)
    expect(rowsOf(store.export()).some((r) => r.key === 2)).toBe(false)
  })

  it('collect emits dirty rows up to emitUpTo, purges rows up to purgeUpTo', () => {
    const store = createTypedArrayWindowStore(spec(['count'], 10))
    addEvents(store, [
      { key: 0, t: 1 },
      { key: 0, t: 11 },
      { key: 0, t: 21 },
      { key: 1, t: 21 },
    ])
    expect(store.nextEmitEnd).toBe(10)
    const first = store.collect(20, 10)
    expect(rowsOf(first).map((r) => [r.start, r.key, r.dirty])).toEqual([
      [0, 0, 1],
      [10, 0, 1],
    ])
    // [0,10) purged; [10,20) kept but clean; [20,30) dirty.
    expect(store.size).toBe(3)
    expect(store.minEnd).toBe(20)
    expect(store.nextEmitEnd).toBe(30)
    // Nothing due: an empty result with one (empty) column per accumulator.
    const none = store.collect(25, 15)
    expect(none.length).toBe(0)
    expect(none.values.length).toBe(1)
    expect(store.size).toBe(3)
    const exported = rowsOf(store.export())
    expect(exported.map((r) => [r.start, r.key, r.dirty])).toEqual([
      [10, 0, 0],
      [20, 0, 1],
      [20, 1, 1],
    ])
    const last = store.collect(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY)
    expect(rowsOf(last).map((r) => [r.start, r.key])).toEqual([
      [20, 0],
      [20, 1],
    ])
    expect(store.size).toBe(0)
    expect(store.minEnd).toBe(Number.POSITIVE_INFINITY)
    expect(store.nextEmitEnd).toBe(Number.POSITIVE_INFINITY)
  })

  it('a clean row becomes dirty again on a later add, and is emitted again with its running totals', () => {
    const store = createTypedArrayWindowStore(spec(['count', 'sum'], 10))
    addEvents(store, [{ key: 0, t: 1, args: [0, 2] }])
    expect(rowsOf(store.collect(10, Number.NEGATIVE_INFINITY))[0]!.values).toEqual([1, 2])
    expect(store.nextEmitEnd).toBe(Number.POSITIVE_INFINITY)
    expect(store.minEnd).toBe(10)
    expect(store.collect(10, Number.NEGATIVE_INFINITY).length).toBe(0)
    addEvents(store, [{ key: 0, t: 2, args: [0, 3] }])
    expect(store.nextEmitEnd).toBe(10)
    expect(rowsOf(store.export())[0]!.dirty).toBe(1)
    const again = rowsOf(store.collect(10, 10))
    expect(again.map((r) => r.values)).toEqual([[2, 5]])
    expect(store.size).toBe(0)
  })

  it('peek reads one row as it is, dirty flag and bounds unchanged; no row when there is none', () => {
    const store = createTypedArrayWindowStore(spec(['count', 'sum'], 10, 5))
    addEvents(store, [
      { key: 0, t: 7, args: [0, 2] },
      { key: 1, t: 8, args: [0, 4] },
      { key: 0, t: 9, args: [0, 3] },
    ])
    expect(rowsOf(store.peek(0, 5))).toEqual([{ key: 0, start: 5, dirty: 1, values: [2, 5], aux: [0, 2] }])
    expect(rowsOf(store.peek(1, 0))).toEqual([{ key: 1, start: 0, dirty: 1, values: [1, 4], aux: [0, 1] }])
    expect(store.peek(1, 10).length).toBe(0)
    expect(store.peek(2, 5).length).toBe(0)
    expect(store.nextEmitEnd).toBe(10)
    expect(store.collect(10, Number.NEGATIVE_INFINITY).length).toBe(2)
    expect(rowsOf(store.peek(0, 0))[0]!.dirty).toBe(0)
  })

  it('rejects bad arguments without changing anything', () => {
    const store = createTypedArrayWindowStore(spec(['count', 'sum'], 10))
    const one = new Float64Array([1])
    expect(() => store.add(new Int32Array([-1]), one, one, [one, one], 1)).toThrow(/negative/)
    expect(() => store.add(new Int32Array([0]), new Float64Array([Number.NaN]), one, [one, one], 1)).toThrow(
      /not finite/,
    )
    expect(() => store.add(new Int32Array([0]), one, one, [one], 1)).toThrow(/argument columns/)
    expect(() => store.add(new Int32Array([0]), one, one, [one, one], 2)).toThrow(RangeError)
    expect(() => store.collect(1, 2)).toThrow(RangeError)
    expect(store.size).toBe(0)
  })

  it('export, clear and import round-trip every row with its dirty flag and the bounds', () => {
    const store = createTypedArrayWindowStore(spec(['count', 'sum', 'first', 'last'], 30, 10))
    addEvents(
      store,
      Array.from({ length: 200 }, (_, i) => ({ key: i % 17, t: i * 3, args: [0, i, i, i] })),
    )
    store.collect(300, 200)
    const before = store.export()
    const bounds = [store.size, store.nextEmitEnd, store.minEnd]
    store.clear()
    expect(store.size).toBe(0)
    expect(store.nextEmitEnd).toBe(Number.POSITIVE_INFINITY)
    expect(store.minEnd).toBe(Number.POSITIVE_INFINITY)
    store.import(before)
    expect([store.size, store.nextEmitEnd, store.minEnd]).toEqual(bounds)
    expect(rowsOf(store.export())).toEqual(rowsOf(before))
    expect(() => store.import(before)).toThrow(/empty store/)
    // Into a fresh store too.
    const other = createTypedArrayWindowStore(store.spec)
    other.import(before)
    expect(rowsOf(other.export())).toEqual(rowsOf(before))
  })

  it('import refuses repeated rows and leaves the store empty', () => {
    const store = createTypedArrayWindowStore(spec(['count'], 10))
    addEvents(store, [{ key: 0, t: 1 }])
    const rows = store.export()
    const doubled: WindowRows = {
      length: 2,
      keyIds: new Int32Array([0, 0]),
      starts: new Float64Array([0, 0]),
      dirty: new Uint8Array([1, 1]),
      values: [new Float64Array([rows.values[0]![0]!, 1])],
      aux: [new Float64Array(2)],
    }
    const empty = createTypedArrayWindowStore(store.spec)
    expect(() => empty.import(doubled)).toThrow(/repeats/)
    expect(empty.size).toBe(0)
  })

  it('many keys: the columns and the table grow, and every row stays reachable', () => {
    const store = createTypedArrayWindowStore(spec(['count', 'sum'], 1000))
    const keys = 50_000
    const events = Array.from({ length: keys * 2 }, (_, i) => ({
      key: i % keys,
      t: Math.floor(i / keys) * 1000 + (i % 1000),
      args: [0, 1],
    }))
    addEvents(store, events)
    expect(store.size).toBe(keys * 2)
    const rows = store.export()
    let total = 0
    for (let i = 0; i < rows.length; i++) total += rows.values[0]![i]!
    expect(total).toBe(keys * 2)
    // Adding the same events again reaches the same rows.
    addEvents(store, events)
    expect(store.size).toBe(keys * 2)
    expect(store.approximateBytes).toBeGreaterThan(keys * 2 * 16)
  })

  it('many collects do not slow the table down (no tombstones)', () => {
    const keys = 2000
    const store = createTypedArrayWindowStore(spec(['count', 'sum'], 10, 10))
    const keyIds = Int32Array.from({ length: keys }, (_, i) => i)
    const times = new Float64Array(keys)
    const horizons = new Float64Array(keys).fill(Number.NEGATIVE_INFINITY)
    const args = [times, times]
    const timeRound = (round: number): number => {
      const started = performance.now()
      for (let r = round; r < round + 50; r++) {
        times.fill(r * 10 + 5)
        store.add(keyIds, times, horizons, args, keys)
        store.add(keyIds, times, horizons, args, keys)
        const rows = store.collect(r * 10 + 10, r * 10 + 10)
        if (rows.length !== keys) throw new Error(`round ${r}: ${rows.length} rows`)
      }
      return performance.now() - started
    }
    timeRound(0) // warm up
    const early = Math.min(timeRound(50), timeRound(100), timeRound(150))
    for (let round = 200; round < 2000; round += 50) timeRound(round)
    const late = Math.min(timeRound(2000), timeRound(2050), timeRound(2100))
    expect(store.size).toBe(0)
    // 2000 collects each removing every row: a table full of tombstones would make this many times
    // slower. Best of three on both sides, and a wide margin, so a busy machine does not fail it.
    expect(late).toBeLessThan(early * 4 + 5)
  })
})
