/**
 * Typed host binding of the grouped-aggregation kernel (wasm/kernels/aggregate.ts).
 *
 *   const kernel = await loadAggregateKernel()            // wasm/dist/aggregate.wasm
 *   const { count, sum, min, max } = kernel.aggregateColumns(groups, values, groupCount)
 *
 * Row i adds `values[i]` to group `groups[i]`. Per group: `count` (exact up to 2^53), `sum` (added
 * in row order, so it equals a left-to-right JS sum), `min`/`max` (Math.min/Math.max semantics:
 * NaN propagates, -0 < +0). A group with no rows has count 0, sum 0, min +Infinity, max -Infinity.
 *
 * Each call lays the batch out in the kernel's linear memory (columns copied in, accumulators
 * copied out), so the kernel instance can be reused for any number of batches; the memory grows to
 * the largest batch seen and stays there.
 */

import { fileURLToPath } from 'node:url'
import { type Arena, instantiateKernel, type KernelBaseExports, type KernelInstance } from './kernel-host.ts'

/** The default location of the built kernel (`npm run build:wasm`, or `buildKernel` from wasm/build.ts). */
export const AGGREGATE_WASM_PATH = fileURLToPath(new URL('../dist/aggregate.wasm', import.meta.url))

interface AggregateExports extends KernelBaseExports {
  readonly aggregate: (
    groups: number,
    values: number,
    length: number,
    count: number,
    sum: number,
    min: number,
    max: number,
    groupCount: number,
  ) => number
  readonly resetAccumulators: (
    count: number,
    sum: number,
    min: number,
    max: number,
    groupCount: number,
  ) => void
}

/** Per-group accumulators, one entry per group index. */
export interface AggregateResult {
  readonly count: Float64Array
  readonly sum: Float64Array
  readonly min: Float64Array
  readonly max: Float64Array
}

export interface AggregateKernel {
  /** Aggregates one batch into fresh accumulators for groups `0 … groupCount - 1`. */
  aggregateColumns(groups: Int32Array, values: Float64Array, groupCount: number): AggregateResult
  /**
   * Folds one batch into existing accumulators (updated in place), e.g. a window's running state.
   * The group count is the accumulators' length. On a bad group index nothing is updated.
   */
  aggregateInto(accumulators: AggregateResult, groups: Int32Array, values: Float64Array): void
}

/** Fresh accumulators: count 0, sum 0, min +Infinity, max -Infinity for each group. */
export function emptyAccumulators(groupCount: number): AggregateResult {
  checkGroupCount(groupCount)
  return {
    count: new Float64Array(groupCount),
    sum: new Float64Array(groupCount),
    min: new Float64Array(groupCount).fill(Number.POSITIVE_INFINITY),
    max: new Float64Array(groupCount).fill(Number.NEGATIVE_INFINITY),
  }
}

function checkGroupCount(groupCount: number): void {
  if (!Number.isInteger(groupCount) || groupCount < 0 || groupCount > 0x7fff_ffff) {
    throw new RangeError(`groupCount must be an integer in [0, 2^31), got ${groupCount}`)
  }
}

/** Instantiates the aggregation kernel from its bytes or a `.wasm` path. */
export async function loadAggregateKernel(
  wasm: Uint8Array | string = AGGREGATE_WASM_PATH,
): Promise<AggregateKernel> {
  const instance = await instantiateKernel<AggregateExports>(wasm, 'aggregate')
  if (
    typeof instance.exports.aggregate !== 'function' ||
    typeof instance.exports.resetAccumulators !== 'function'
  ) {
    throw new Error('wasm module is not the aggregate kernel (missing aggregate/resetAccumulators exports)')
  }
  return createAggregateKernel(instance)
}

function createAggregateKernel(instance: KernelInstance<AggregateExports>): AggregateKernel {
  const { exports, arena } = instance

  /** Lays the batch and the accumulators out, runs the kernel, and returns the accumulator pointers. */
  const run = (
    groups: Int32Array,
    values: Float64Array,
    groupCount: number,
    initial: AggregateResult | null,
  ): { arena: Arena; count: number; sum: number; min: number; max: number } => {
    if (groups.length !== values.length) {
      throw new RangeError(`groups has ${groups.length} rows but values has ${values.length}`)
    }
    arena.reset()
    // All allocation first (it may grow the memory), then the views.
    const count = arena.allocF64(groupCount)
    const sum = arena.allocF64(groupCount)
    const min = arena.allocF64(groupCount)
    const max = arena.allocF64(groupCount)
    const valuesPtr = arena.allocF64(values.length)
    const groupsPtr = arena.allocI32(groups.length)
    arena.f64(valuesPtr, values.length).set(values)
    arena.i32(groupsPtr, groups.length).set(groups)
    if (initial === null) {
      exports.resetAccumulators(count, sum, min, max, groupCount)
    } else {
      arena.f64(count, groupCount).set(initial.count)
      arena.f64(sum, groupCount).set(initial.sum)
      arena.f64(min, groupCount).set(initial.min)
      arena.f64(max, groupCount).set(initial.max)
    }
    const done = exports.aggregate(groupsPtr, valuesPtr, groups.length, count, sum, min, max, groupCount)
    if (done !== groups.length) {
      throw new RangeError(`group index ${groups[done]} at row ${done} is outside [0, ${groupCount})`)
    }
    return { arena, count, sum, min, max }
  }

  return {
    aggregateColumns(groups, values, groupCount) {
      checkGroupCount(groupCount)
      const out = run(groups, values, groupCount, null)
      return {
        count: out.arena.f64(out.count, groupCount).slice(),
        sum: out.arena.f64(out.sum, groupCount).slice(),
        min: out.arena.f64(out.min, groupCount).slice(),
        max: out.arena.f64(out.max, groupCount).slice(),
      }
    },
    aggregateInto(accumulators, groups, values) {
      const groupCount = accumulators.count.length
      checkGroupCount(groupCount)
      if (
        accumulators.sum.length !== groupCount ||
        accumulators.min.length !== groupCount ||
        accumulators.max.length !== groupCount
      ) {
        throw new RangeError('accumulator arrays differ in length')
      }
      const out = run(groups, values, groupCount, accumulators)
      accumulators.count.set(out.arena.f64(out.count, groupCount))
      accumulators.sum.set(out.arena.f64(out.sum, groupCount))
      accumulators.min.set(out.arena.f64(out.min, groupCount))
      accumulators.max.set(out.arena.f64(out.max, groupCount))
    },
  }
}
