import { join } from 'node:path'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import type {
  AccumulatorKind,
  WindowAccumulatorStore,
  WindowStoreSpec,
} from '../../runtime/window/accumulator-store.ts'
import { createTypedArrayWindowStore } from '../../runtime/window/typed-array-store.ts'
import { type Row, rowsOf } from '../../test/support/window-rows.ts'
import { buildKernel, KERNELS_DIR } from '../build.ts'
import { loadWindowKernel, type WindowKernel } from './window-kernel.ts'

let kernel: WindowKernel

beforeAll(async () => {
  const built = await buildKernel(join(KERNELS_DIR, 'window.ts'))
  kernel = await loadWindowKernel(built.wasmPath)
}, 60_000)

/** The brute-force model: a Map keyed by `${keyId}|${start}`, windows found by modular arithmetic. */
class ModelStore {
  readonly rows = new Map<string, Row>()
  constructor(readonly spec: WindowStoreSpec) {}

  add(keyIds: Int32Array, times: Float64Array, horizons: Float64Array, args: Float64Array[], n: number) {
    const { sizeMs, slideMs, accumulators } = this.spec
    for (let i = 0; i < n; i++) {
      const key = keyIds[i]!
      const t = times[i]!
      const first = t - (((t % slideMs) + slideMs) % slideMs)
      for (let start = first; start > t - sizeMs; start -= slideMs) {
        if (start + sizeMs <= horizons[i]!) continue
        const id = `${key}|${start}`
        let row = this.rows.get(id)
        if (row === undefined) {
          row = {
            key,
            start: start + 0,
            dirty: 1,
            values: accumulators.map((kind) =>
              kind === 'min' || kind === 'min_by'
                ? Infinity
                : kind === 'max' || kind === 'max_by'
                  ? -Infinity
                  : kind === 'first' || kind === 'last' || kind === 'taken'
                    ? NaN
                    : 0,
            ),
            aux: accumulators.map((kind) =>
              kind === 'first' || kind === 'max_by' || kind === 'min_by'
                ? Infinity
                : kind === 'last'
                  ? -Infinity
                  : 0,
            ),
          }
          this.rows.set(id, row)
        }
        row.dirty = 1
        // The event a max_by/min_by chose: the `taken` right after it copies its x.
        let chosen = false
        accumulators.forEach((kind, j) => {
          const v = args[j]![i]!
          if (kind === 'count') row.values[j]! += 1
          else if (kind === 'taken') {
            if (chosen) row.values[j] = v
          } else if (Number.isNaN(v)) chosen = false
          else if (kind === 'max_by' || kind === 'min_by') {
            const best = row.values[j]!
            const better = kind === 'max_by' ? v > best : v < best
            chosen = better || (v === best && t < row.aux[j]!)
            if (chosen) {
              row.values[j] = v
              row.aux[j] = t
            }
          } else if (kind === 'sum') {
            row.values[j]! += v
            row.aux[j]! += 1
          } else if (kind === 'min' || kind === 'max') {
            if (kind === 'min' ? v < row.values[j]! : v > row.values[j]!) row.values[j] = v
            row.aux[j]! += 1
          } else if (kind === 'first' ? t < row.aux[j]! : t >= row.aux[j]!) {
            row.values[j] = v
            row.aux[j] = t
          }
        })
      }
    }
  }

  collect(emitUpTo: number, purgeUpTo: number): Row[] {
    const out: Row[] = []
    for (const [id, row] of this.rows) {
      const end = row.start + this.spec.sizeMs
      if (row.dirty === 1 && end <= emitUpTo) {
        out.push({ ...row, values: [...row.values], aux: [...row.aux] })
        row.dirty = 0
      }
      if (end <= purgeUpTo) this.rows.delete(id)
    }
    return out.sort((a, b) => a.start - b.start || a.key - b.key)
  }

  export(): Row[] {
    return [...this.rows.values()]
      .map((row) => ({ ...row, values: [...row.values], aux: [...row.aux] }))
      .sort((a, b) => a.start - b.start || a.key - b.key)
  }

  get nextEmitEnd(): number {
    let least = Infinity
    for (const row of this.rows.values())
      if (row.dirty === 1) least = Math.min(least, row.start + this.spec.sizeMs)
    return least
  }

  get minEnd(): number {
    let least = Infinity
    for (const row of this.rows.values()) least = Math.min(least, row.start + this.spec.sizeMs)
    return least
  }
}

/** Accumulators one aggregate uses: one, or a max_by/min_by with the `taken` that must follow it. */
const KINDS: AccumulatorKind[][] = [
  ['count'],
  ['sum'],
  ['min'],
  ['max'],
  ['first'],
  ['last'],
  ['max_by', 'taken'],
  ['min_by', 'taken'],
]

const specArb: fc.Arbitrary<WindowStoreSpec> = fc
  .record({
    accumulators: fc
      .array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 5 })
      .map((units) => units.flat()),
    slideMs: fc.integer({ min: 1, max: 20 }),
    multiple: fc.integer({ min: 1, max: 4 }),
    extra: fc.integer({ min: 0, max: 19 }),
    hopping: fc.boolean(),
  })
  .map(({ accumulators, slideMs, multiple, extra, hopping }) => ({
    accumulators,
    slideMs,
    sizeMs: hopping ? slideMs * multiple + (extra % slideMs) : slideMs,
  }))

type Op =
  | {
      kind: 'add'
      events: { key: number; t: number; horizon: number; args: number[] }[]
    }
  | { kind: 'collect'; emitUpTo: number; purgeBelowEmit: number }
  | { kind: 'roundTrip' }

const argArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant(Number.NaN) },
  { weight: 3, arbitrary: fc.integer({ min: -50, max: 50 }) },
  { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
)

const opsArb = (base: number, keyMax: number) => {
  const eventArb = fc.record({
    key: fc.integer({ min: 0, max: keyMax }),
    t: fc.integer({ min: -100, max: 400 }).map((t) => base + t),
    horizon: fc.oneof(
      fc.constant(Number.NEGATIVE_INFINITY),
      fc.integer({ min: -150, max: 450 }).map((h) => base + h),
    ),
    args: fc.array(argArb, { minLength: 7, maxLength: 7 }),
  })
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('add' as const),
        events: fc.array(eventArb, { maxLength: 60 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('add' as const),
        events: fc.array(eventArb, { minLength: 250, maxLength: 400 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('collect' as const),
        emitUpTo: fc.oneof(
          fc.integer({ min: -150, max: 500 }).map((x) => base + x),
          fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
        ),
        purgeBelowEmit: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200 }), fc.constant(Infinity)),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'roundTrip' as const }) },
  )
  return fc.array(opArb, { maxLength: 25 })
}

function checkSame(stores: WindowAccumulatorStore[], model: ModelStore, what: string) {
  for (const store of stores) {
    expect(store.size, `${what}: size`).toBe(model.rows.size)
    expect(store.nextEmitEnd, `${what}: nextEmitEnd`).toBe(model.nextEmitEnd)
    expect(store.minEnd, `${what}: minEnd`).toBe(model.minEnd)
  }
}

describe('WasmWindowStore and TypedArrayWindowStore against a brute-force model', () => {
  it('agree on random sequences of add, collect and export/clear/import', () => {
    const scenario = fc
      .record({
        spec: specArb,
        base: fc.constantFrom(0, -86_400_000_000, 2 ** 52, 1_700_000_000_000),
        keyMax: fc.constantFrom(3, 40, 2 ** 31 - 1),
      })
      .chain(({ spec, base, keyMax }) => opsArb(base, keyMax).map((ops) => ({ spec, ops })))
    fc.assert(
      fc.property(scenario, ({ spec, ops }) => {
        const model = new ModelStore(spec)
        const typed = createTypedArrayWindowStore(spec)
        const wasm = kernel.createStore(spec)
        const stores: WindowAccumulatorStore[] = [typed, wasm]
        const accumulators = spec.accumulators.length
        for (const [step, op] of ops.entries()) {
          const what = `step ${step} (${op.kind})`
          if (op.kind === 'add') {
            // Columns longer than the batch: add reads only `length` events.
            const n = op.events.length
            const keyIds = new Int32Array(n + 3)
            const times = new Float64Array(n + 3)
            const horizons = new Float64Array(n + 3)
            const args = Array.from({ length: accumulators }, () => new Float64Array(n + 3))
            op.events.forEach((e, i) => {
              keyIds[i] = e.key
              times[i] = e.t
              horizons[i] = e.horizon
              for (let j = 0; j < accumulators; j++) args[j]![i] = e.args[j]!
            })
            for (const store of stores) store.add(keyIds, times, horizons, args, n)
            model.add(keyIds, times, horizons, args, n)
          } else if (op.kind === 'collect') {
            const purgeUpTo = op.purgeBelowEmit === Infinity ? -Infinity : op.emitUpTo - op.purgeBelowEmit
            const expected = model.collect(op.emitUpTo, purgeUpTo)
            for (const store of stores)
              expect(rowsOf(store.collect(op.emitUpTo, purgeUpTo)), what).toEqual(expected)
          } else {
            for (const store of stores) {
              const rows = store.export()
              store.clear()
              expect(store.size).toBe(0)
              expect(store.nextEmitEnd).toBe(Infinity)
              expect(store.minEnd).toBe(Infinity)
              store.import(rows)
            }
          }
          checkSame(stores, model, what)
          // peek reads a row as it is (some rows, and a (key, start) no row has).
          for (const row of model.export().slice(0, 12)) {
            for (const store of stores) expect(rowsOf(store.peek!(row.key, row.start)), what).toEqual([row])
          }
          for (const store of stores) expect(store.peek!(0, 0.5).length, what).toBe(0)
        }
        const expected = model.export()
        for (const store of stores) expect(rowsOf(store.export())).toEqual(expected)
      }),
      { numRuns: 250 },
    )
  })
})

describe('WasmWindowStore', () => {
  const spec: WindowStoreSpec = {
    accumulators: ['count', 'sum', 'min', 'max', 'last'],
    sizeMs: 60_000,
    slideMs: 60_000,
  }

  it('matches the TypeScript store on large batches with many keys (growth in the middle of add)', () => {
    const typed = createTypedArrayWindowStore(spec)
    const wasm = kernel.createStore(spec)
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) >>> 0
      return seed / 4294967296
    }
    const n = 20_000
    for (let batch = 0; batch < 6; batch++) {
      const keyIds = Int32Array.from({ length: n }, () => Math.floor(random() * 30_000))
      const times = Float64Array.from(
        { length: n },
        (_, i) => batch * 50_000 + Math.floor(i * 2.5 + random() * 100),
      )
      const horizons = new Float64Array(n).fill(batch * 50_000 - 60_000)
      const values = Float64Array.from({ length: n }, () =>
        random() < 0.1 ? NaN : Math.round(random() * 1000),
      )
      const args = [values, values, values, values, values]
      typed.add(keyIds, times, horizons, args, n)
      wasm.add(keyIds, times, horizons, args, n)
      expect(wasm.size).toBe(typed.size)
      expect(rowsOf(wasm.collect(batch * 50_000, batch * 50_000 - 60_000))).toEqual(
        rowsOf(typed.collect(batch * 50_000, batch * 50_000 - 60_000)),
      )
      expect([wasm.nextEmitEnd, wasm.minEnd]).toEqual([typed.nextEmitEnd, typed.minEnd])
    }
    expect(rowsOf(wasm.export())).toEqual(rowsOf(typed.export()))
    expect(wasm.approximateBytes).toBeGreaterThan(0)
  })

  it('rejects bad events and bounds without changing anything', () => {
    const store = kernel.createStore({ accumulators: ['count', 'sum'], sizeMs: 10, slideMs: 5 })
    const one = new Float64Array([1, 2])
    expect(() => store.add(new Int32Array([0, -1]), one, one, [one, one], 2)).toThrow(/event 1 is negative/)
    expect(() =>
      store.add(new Int32Array([0, 0]), new Float64Array([1, Infinity]), one, [one, one], 2),
    ).toThrow(/not finite/)
    expect(store.size).toBe(0)
    expect(() => store.collect(1, 2)).toThrow(RangeError)
    expect(() => kernel.createStore({ accumulators: ['count'], sizeMs: 5, slideMs: 10 })).toThrow(RangeError)
  })

  it('instances are independent, and import refuses a non-empty store', () => {
    const a = kernel.createStore(spec)
    const b = kernel.createStore(spec)
    const one = new Float64Array([1])
    a.add(new Int32Array([1]), one, new Float64Array([-Infinity]), [one, one, one, one, one], 1)
    expect([a.size, b.size]).toEqual([1, 0])
    expect(() => a.import(a.export())).toThrow(/empty store/)
    b.import(a.export())
    expect(rowsOf(b.export())).toEqual(rowsOf(a.export()))
  })

  it('collect returns copies, not views of the kernel memory', () => {
    const store = kernel.createStore({ accumulators: ['sum'], sizeMs: 10, slideMs: 10 })
    const t = new Float64Array([1])
    store.add(new Int32Array([4]), t, new Float64Array([-Infinity]), [new Float64Array([3])], 1)
    const rows = store.collect(10, -Infinity)
    expect(rows.values[0]!.buffer).not.toBe(rows.starts.buffer)
    expect(rows.values[0]!.byteLength).toBe(8)
    expect(rows.values[0]!.buffer.byteLength).toBe(8)
    store.add(new Int32Array([4]), t, new Float64Array([-Infinity]), [new Float64Array([5])], 1)
    store.collect(10, -Infinity)
    expect(rows.values[0]![0]).toBe(3)
  })
})
