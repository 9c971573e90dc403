import { join } from 'node:path'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildKernel, KERNELS_DIR } from '../build.ts'
import {
  type AggregateKernel,
  type AggregateResult,
  emptyAccumulators,
  loadAggregateKernel,
} from './aggregate.ts'

/** The brute-force reference: one pass in plain JS, Math.min/Math.max semantics. */
function reference(groups: Int32Array, values: Float64Array, groupCount: number): AggregateResult {
  const result = emptyAccumulators(groupCount)
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!
    const v = values[i]!
    result.count[g]! += 1
    result.sum[g]! += v
    result.min[g] = Math.min(result.min[g]!, v)
    result.max[g] = Math.max(result.max[g]!, v)
  }
  return result
}

/** A batch: a group count and rows whose group indices are in range. */
const batchArb = (maxGroups: number, maxRows: number) =>
  fc.integer({ min: 1, max: maxGroups }).chain((groupCount) =>
    fc
      .array(fc.tuple(fc.integer({ min: 0, max: groupCount - 1 }), fc.double({ noNaN: true })), {
        maxLength: maxRows,
      })
      .map((rows) => ({
        groupCount,
        groups: Int32Array.from(rows, ([g]) => g),
        values: Float64Array.from(rows, ([, v]) => v),
      })),
  )

/** Deterministic pseudo-random batch (mulberry32) for the large cases. */
function largeBatch(rows: number, groupCount: number, seed: number) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const groups = new Int32Array(rows)
  const values = new Float64Array(rows)
  for (let i = 0; i < rows; i++) {
    groups[i] = Math.floor(next() * groupCount)
    values[i] = (next() - 0.5) * 1e6
  }
  return { groups, values, groupCount }
}

let kernel: AggregateKernel

beforeAll(async () => {
  const built = await buildKernel(join(KERNELS_DIR, 'aggregate.ts'))
  kernel = await loadAggregateKernel(built.wasmPath)
}, 60_000)

describe('aggregateColumns', () => {
  it('matches the JS reference on random batches', () => {
    fc.assert(
      fc.property(batchArb(40, 300), ({ groups, values, groupCount }) => {
        expect(kernel.aggregateColumns(groups, values, groupCount)).toEqual(
          reference(groups, values, groupCount),
        )
      }),
      { numRuns: 300 },
    )
  })

  it('matches the reference with a single group', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true }), { minLength: 1, maxLength: 500 }), (raw) => {
        const values = Float64Array.from(raw)
        const groups = new Int32Array(values.length)
        const result = kernel.aggregateColumns(groups, values, 1)
        expect(result).toEqual(reference(groups, values, 1))
        expect(result.count[0]).toBe(raw.length)
      }),
    )
  })

  it('handles empty batches: every group keeps its identity values', () => {
    expect(kernel.aggregateColumns(new Int32Array(0), new Float64Array(0), 0)).toEqual(emptyAccumulators(0))
    const result = kernel.aggregateColumns(new Int32Array(0), new Float64Array(0), 3)
    expect(Array.from(result.count)).toEqual([0, 0, 0])
    expect(Array.from(result.sum)).toEqual([0, 0, 0])
    expect(Array.from(result.min)).toEqual([Infinity, Infinity, Infinity])
    expect(Array.from(result.max)).toEqual([-Infinity, -Infinity, -Infinity])
  })

  it('keeps the Math.min/Math.max semantics for signed zeros and infinities', () => {
    const groups = Int32Array.from([0, 0, 1, 1, 2, 2])
    const values = Float64Array.from([0, -0, -0, 0, Infinity, -Infinity])
    const result = kernel.aggregateColumns(groups, values, 3)
    expect(result).toEqual(reference(groups, values, 3))
    expect(Object.is(result.min[0], -0)).toBe(true)
    expect(Object.is(result.max[1], 0)).toBe(true)
    expect(result.sum[2]).toBeNaN()
  })

  it('matches the reference with many groups', () => {
    const { groups, values, groupCount } = largeBatch(50_000, 20_000, 7)
    expect(kernel.aggregateColumns(groups, values, groupCount)).toEqual(reference(groups, values, groupCount))
  })

  it('grows the memory for batches larger than it, and keeps working on small ones after', () => {
    // The module starts with no pages at all; 400k rows need ~4.8 MB (74 pages).
    const small = largeBatch(100, 8, 1)
    const large = largeBatch(400_000, 1_000, 2)
    const larger = largeBatch(1_200_000, 64, 3)
    for (const batch of [small, large, small, larger, small]) {
      expect(kernel.aggregateColumns(batch.groups, batch.values, batch.groupCount)).toEqual(
        reference(batch.groups, batch.values, batch.groupCount),
      )
    }
  })

  it('rejects a group index outside [0, groupCount) and mismatched columns', () => {
    expect(() => kernel.aggregateColumns(Int32Array.from([0, 3]), Float64Array.from([1, 2]), 3)).toThrow(
      'group index 3 at row 1 is outside [0, 3)',
    )
    expect(() => kernel.aggregateColumns(Int32Array.from([-1]), Float64Array.from([1]), 3)).toThrow(
      RangeError,
    )
    expect(() => kernel.aggregateColumns(Int32Array.from([0]), Float64Array.from([1, 2]), 3)).toThrow(
      'groups has 1 rows but values has 2',
    )
    expect(() => kernel.aggregateColumns(new Int32Array(0), new Float64Array(0), -1)).toThrow(RangeError)
    expect(() => kernel.aggregateColumns(new Int32Array(0), new Float64Array(0), 1.5)).toThrow(RangeError)
  })
})

describe('aggregateInto', () => {
  it('folding batches one after another equals aggregating their concatenation', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }).chain((groupCount) =>
          fc.tuple(
            fc.constant(groupCount),
            fc.array(
              fc.array(fc.tuple(fc.integer({ min: 0, max: groupCount - 1 }), fc.double({ noNaN: true })), {
                maxLength: 50,
              }),
              { maxLength: 6 },
            ),
          ),
        ),
        ([groupCount, batches]) => {
          const accumulators = emptyAccumulators(groupCount)
          for (const rows of batches) {
            kernel.aggregateInto(
              accumulators,
              Int32Array.from(rows, ([g]) => g),
              Float64Array.from(rows, ([, v]) => v),
            )
          }
          const all = batches.flat()
          const groups = Int32Array.from(all, ([g]) => g)
          const values = Float64Array.from(all, ([, v]) => v)
          expect(accumulators).toEqual(reference(groups, values, groupCount))
        },
      ),
    )
  })

  it('leaves the accumulators untouched when a batch has a bad group index', () => {
    const accumulators = emptyAccumulators(2)
    kernel.aggregateInto(accumulators, Int32Array.from([0, 1]), Float64Array.from([5, 6]))
    const before = structuredClone(accumulators)
    expect(() =>
      kernel.aggregateInto(accumulators, Int32Array.from([1, 2]), Float64Array.from([1, 1])),
    ).toThrow(RangeError)
    expect(accumulators).toEqual(before)
  })
})
