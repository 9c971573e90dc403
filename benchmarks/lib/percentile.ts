/**
 * Percentiles of latency samples, by the nearest-rank method: the p-th percentile of n sorted
 * samples is the smallest sample such that at least p·n samples are ≤ it, i.e. the sample at
 * 1-based rank ⌈p·n⌉. It always returns an observed value (no interpolation), which is what a
 * latency percentile should be: "99.9% of batches took at most this long".
 */

/** The p-quantile (0 < p ≤ 1) of ascending `sorted` by nearest rank. Throws on an empty input. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of an empty sample')
  if (!(p > 0 && p <= 1)) throw new RangeError(`percentile rank must be in (0, 1], got ${p}`)
  // The small epsilon keeps 0.999 · 1000 = 998.9999999999999 from rounding up to rank 1000.
  const rank = Math.max(1, Math.ceil(p * sorted.length - 1e-9))
  return sorted[rank - 1]!
}

export interface LatencySummary {
  readonly count: number
  readonly min: number
  readonly mean: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

/** Sorts a copy of `samples` and summarises it; the unit is the samples' unit. */
export function summarize(samples: ArrayLike<number>): LatencySummary {
  if (samples.length === 0) throw new RangeError('cannot summarise an empty sample')
  const sorted = Float64Array.from(samples).sort()
  let total = 0
  for (const value of sorted) total += value
  return {
    count: sorted.length,
    min: sorted[0]!,
    mean: total / sorted.length,
    p50: percentileOfSorted(sorted, 0.5),
    p99: percentileOfSorted(sorted, 0.99),
    p999: percentileOfSorted(sorted, 0.999),
    max: sorted[sorted.length - 1]!,
  }
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
