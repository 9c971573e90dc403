/**
 * The reference semantics of the stateful steps, `dedup` and `aggregate` (specs/language.md,
 * "Stateful steps"), in the plainest form, for the reference interpreter (interpret.ts). The
 * generated code (compiler/codegen/stateful.ts) implements the same rules inline and is
 * property-tested against these.
 *
 * State is a map from a key string to a plain JSON value (the runtime snapshots it as JSON):
 * dedup stores the latest event time it kept for the key, aggregate one accumulator per aggregate.
 */
import { EvaluationError } from '../../stdlib/eval-error.ts'
import type { AggregateField, Type } from './types.ts'

/** Where a step keeps its values per key; the interpreter's is a Map that never refuses a key. */
export interface ReferenceState {
  /** The newest event time the step has seen (dedup's clock); -Infinity before any. */
  clock: number
  get(key: string): unknown
  set(key: string, value: unknown): void
}

/**
 * The state key of a step's key values: one required string is used as it is; anything else (a
 * number, a bool, a timestamp as epoch ms, an optional string, so that null and "null" differ,
 * or several keys) is the JSON of the value, or of the array of values.
 */
export function stateKey(types: readonly Type[]): (values: readonly unknown[]) => string {
  if (types.length === 1 && types[0]!.kind === 'string') return (values) => values[0] as string
  if (types.length === 1) return (values) => JSON.stringify(values[0])
  return (values) => JSON.stringify(values)
}

/**
 * Dedup: whether the event at `time` is kept. The step's clock first moves to the newest event
 * time seen. The key's stored time (the latest kept so far) counts only while it is live: more
 * than `withinMs` ahead of the clock less `latenessMs` (the source's watermark delay); a key
 * behind that is gone, whenever the runtime actually drops it, so results do not depend on
 * checkpoints or restarts. The event is dropped when a live stored time is less than `withinMs`
 * away, before or after; a kept event stores max(live stored time, time). A dropped event leaves
 * the keys as they were.
 */
export function dedupKeeps(
  state: ReferenceState,
  key: string,
  time: number,
  withinMs: number,
  latenessMs: number,
): boolean {
  if (time > state.clock) state.clock = time
  const stored = state.get(key) as number | undefined
  const kept = stored !== undefined && stored + withinMs > state.clock - latenessMs ? stored : undefined
  if (kept !== undefined && Math.abs(time - kept) < withinMs) return false
  state.set(key, kept === undefined ? time : Math.max(kept, time))
  return true
}

/** One aggregate's accumulator: count → n; sum, min, max → the value so far or null; avg → [sum, n]. */
export type Accumulator = number | string | null | readonly [number, number]

/** The accumulators of a key that has seen no event. */
export function initialAccumulators(aggregates: readonly AggregateField[]): Accumulator[] {
  return aggregates.map((a) => (a.fn === 'count' ? 0 : a.fn === 'avg' ? [0, 0] : null))
}

/**
 * The accumulators after one more event, whose aggregate arguments are `args` (null for count).
 * Nulls are skipped (SQL). Throws an EvaluationError, leaving `previous` as it was, when an i64
 * sum leaves ±(2^53−1), or an f64 argument or sum is not finite: state is kept as JSON, which has
 * no NaN or Infinity, and a sink could not write them either.
 */
export function accumulate(
  aggregates: readonly AggregateField[],
  previous: readonly Accumulator[],
  args: readonly unknown[],
): Accumulator[] {
  return aggregates.map((aggregate, i) => {
    const before = previous[i]!
    if (aggregate.fn === 'count') return (before as number) + 1
    const value = args[i]
    if (value === null) return before
    const f64 = baseKind(aggregate.arg!.type) === 'f64'
    if (f64 && !Number.isFinite(value as number)) {
      throw new EvaluationError(`${aggregate.fn} of ${String(value)}: aggregates take finite numbers only`)
    }
    // `max` is the default branch: count returned above, so the switch covers every function.
    switch (aggregate.fn) {
      case 'sum': {
        if (before === null) return value as number
        const sum = (before as number) + (value as number)
        if (f64 ? !Number.isFinite(sum) : Math.abs(sum) > Number.MAX_SAFE_INTEGER) {
          throw new EvaluationError(f64 ? 'f64 overflow in sum' : 'i64 overflow in sum')
        }
        return sum
      }
      case 'avg': {
        const [sum, n] = before as readonly [number, number]
        const total = sum + (value as number)
        if (!Number.isFinite(total)) throw new EvaluationError('f64 overflow in avg')
        return [total, n + 1] as const
      }
      case 'min':
        return before === null || (value as number) < (before as number) ? (value as number | string) : before
      default:
        return before === null || (value as number) > (before as number) ? (value as number | string) : before
    }
  })
}

/** The value of each aggregate field from its accumulator (avg: sum / n, null before any value). */
export function aggregateValues(
  aggregates: readonly AggregateField[],
  accumulators: readonly Accumulator[],
): unknown[] {
  return aggregates.map((aggregate, i) => {
    const accumulator = accumulators[i]!
    if (aggregate.fn !== 'avg') return accumulator
    const [sum, n] = accumulator as readonly [number, number]
    return n === 0 ? null : sum / n
  })
}

function baseKind(type: Type): Type['kind'] {
  return type.kind === 'optional' ? baseKind(type.of) : type.kind
}
