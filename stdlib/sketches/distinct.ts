/**
 * Exact per-window accumulators of key-typed values: `count_distinct` (the set of canonical
 * strings) and `top_k` (a count per value). Both depend only on the multiset of values added, so
 * neither the order of arrival nor merges change their results.
 */
import { canonical } from './hash.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The set of distinct non-null values, by canonical string (hash.ts). */
export class DistinctSet {
  private readonly values = new Set<string>()

  add(value: unknown): void {
    if (value === null || value === undefined) return
    this.values.add(canonical(value))
  }

  merge(other: DistinctSet): void {
    for (const v of other.values) this.values.add(v)
  }

  result(): number {
    return this.values.size
  }

  /** UTF-8 JSON of the canonical strings, sorted. */
  serialize(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.values].sort()))
  }

  static deserialize(bytes: Uint8Array): DistinctSet {
    const set = new DistinctSet()
    for (const v of JSON.parse(decoder.decode(bytes)) as string[]) set.values.add(v)
    return set
  }
}

export interface TopEntry {
  readonly value: unknown
  readonly count: number
}

/** Exact counts per non-null value; the result is the k most frequent. */
export class TopCounts {
  /** By canonical string: the value (as first added) and its count. */
  private readonly counts = new Map<string, { value: unknown; count: number }>()

  add(value: unknown, count = 1): void {
    if (value === null || value === undefined) return
    const key = canonical(value)
    const entry = this.counts.get(key)
    if (entry === undefined) this.counts.set(key, { value, count })
    else entry.count += count
  }

  merge(other: TopCounts): void {
    for (const { value, count } of other.counts.values()) this.add(value, count)
  }

  /**
   * At most k entries `{ value, count }`, by count descending, then by the value's canonical
   * string ascending (UTF-16 code units, as JavaScript compares strings).
   */
  result(k: number): TopEntry[] {
    return [...this.counts]
      .sort(([ka, a], [kb, b]) => b.count - a.count || (ka < kb ? -1 : ka > kb ? 1 : 0))
      .slice(0, k)
      .map(([, { value, count }]) => ({ value, count }))
  }

  /** UTF-8 JSON of `[value, count]` pairs, by canonical string. */
  serialize(): Uint8Array {
    const pairs = [...this.counts]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, { value, count }]) => [value, count])
    return encoder.encode(JSON.stringify(pairs))
  }

  static deserialize(bytes: Uint8Array): TopCounts {
    const top = new TopCounts()
    for (const [value, count] of JSON.parse(decoder.decode(bytes)) as [unknown, number][])
      top.add(value, count)
    return top
  }
}
