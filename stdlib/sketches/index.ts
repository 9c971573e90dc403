/**
 * The rich aggregates of windows (specs/language.md, "Windows"): accumulators that are not
 * numeric columns. Shared by the reference interpreter (compiler/ir/window-semantics.ts) and the
 * runtime's window operators (runtime/window/), so both compute the very same values.
 *
 * Every sketch depends only on the multiset of values added (merges included), never on their
 * order: `a.merge(b)` equals the accumulator built from both inputs. `max_by`/`min_by` of a
 * string or bool (arg-best.ts) depend on order only to break ties, as the numeric ones do.
 */
import { ArgBest } from './arg-best.ts'
import { DDSketch } from './ddsketch.ts'
import { DistinctSet, TopCounts } from './distinct.ts'
import { HyperLogLog } from './hyperloglog.ts'

export { ArgBest } from './arg-best.ts'
export {
  bucketIndex,
  bucketValue,
  DDSKETCH_MAX_BUCKETS,
  DDSKETCH_RELATIVE_ACCURACY,
  DDSketch,
} from './ddsketch.ts'
export { DistinctSet, TopCounts, type TopEntry } from './distinct.ts'
export { canonical, hash64 } from './hash.ts'
export { HLL_PRECISION, HLL_REGISTERS, HLL_STANDARD_ERROR, HyperLogLog } from './hyperloglog.ts'

/** The sketches: rich whatever their argument. */
export type SketchFunction = 'count_distinct' | 'approx_count_distinct' | 'quantile' | 'top_k'
/** Rich accumulators: the sketches, and max_by/min_by of an `x` that is not a number. */
export type RichFunction = SketchFunction | 'max_by' | 'min_by'

export const RICH_FUNCTIONS: readonly SketchFunction[] = [
  'count_distinct',
  'approx_count_distinct',
  'quantile',
  'top_k',
]

/** Whether `fn` is a sketch (always rich); max_by/min_by are rich only for some arguments. */
export function isRichFunction(fn: string): fn is SketchFunction {
  return (RICH_FUNCTIONS as readonly string[]).includes(fn)
}

/** What to build: the function and its literal parameter (`k` of top_k, `q` of quantile). */
export interface RichSpec {
  readonly fn: RichFunction
  readonly k?: number
  readonly q?: number
}

/** One rich aggregate's state in one window or session. */
export interface RichAccumulator {
  /**
   * Adds an argument (null is skipped; max_by/min_by take `[x, by, time]`). `seq`, the event's
   * arrival number, breaks ties of max_by/min_by across merges (sessions pass it).
   */
  add(value: unknown, seq?: number): void
  /** Adds everything of `other` (an accumulator of the same spec); `other` is unchanged. */
  merge(other: RichAccumulator): void
  /** The aggregate's value: i64 for the counts, f64 or null for quantile, a list for top_k. */
  result(): unknown
  serialize(): Uint8Array
}

type Sketch = DistinctSet | HyperLogLog | DDSketch | TopCounts | ArgBest

class Rich implements RichAccumulator {
  constructor(
    readonly spec: RichSpec,
    readonly sketch: Sketch,
  ) {}

  add(value: unknown, seq?: number): void {
    if (this.sketch instanceof ArgBest) this.sketch.add(value, seq)
    else this.sketch.add(value)
  }

  merge(other: RichAccumulator): void {
    // Every sketch class merges with one of its own class.
    ;(this.sketch.merge as (o: Sketch) => void)((other as Rich).sketch)
  }

  result(): unknown {
    const { sketch, spec } = this
    if (sketch instanceof DDSketch) return sketch.quantile(spec.q!)
    if (sketch instanceof TopCounts) return sketch.result(spec.k!)
    return sketch.result()
  }

  serialize(): Uint8Array {
    return this.sketch.serialize()
  }
}

export function createRich(spec: RichSpec): RichAccumulator {
  switch (spec.fn) {
    case 'count_distinct':
      return new Rich(spec, new DistinctSet())
    case 'approx_count_distinct':
      return new Rich(spec, new HyperLogLog())
    case 'quantile':
      return new Rich(spec, new DDSketch())
    case 'top_k':
      return new Rich(spec, new TopCounts())
    case 'max_by':
    case 'min_by':
      return new Rich(spec, new ArgBest(spec.fn))
  }
}

export function deserializeRich(spec: RichSpec, bytes: Uint8Array): RichAccumulator {
  switch (spec.fn) {
    case 'count_distinct':
      return new Rich(spec, DistinctSet.deserialize(bytes))
    case 'approx_count_distinct':
      return new Rich(spec, HyperLogLog.deserialize(bytes))
    case 'quantile':
      return new Rich(spec, DDSketch.deserialize(bytes))
    case 'top_k':
      return new Rich(spec, TopCounts.deserialize(bytes))
    case 'max_by':
    case 'min_by':
      return new Rich(spec, ArgBest.deserialize(spec.fn, bytes))
  }
}

/** A fresh accumulator holding `a` and `b` (neither changes). */
export function mergedRich(spec: RichSpec, a: RichAccumulator, b: RichAccumulator): RichAccumulator {
  const out = createRich(spec)
  out.merge(a)
  out.merge(b)
  return out
}
