/**
 * Mean and relative margin of error (95% confidence, Student's t) of a few repeated measurements,
 * e.g. events/s of several end-to-end runs; the same definition tinybench uses for its rme.
 */

/** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom. */
const T_975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
]

/** t quantile for a 95% confidence interval with `df` degrees of freedom (1.96 beyond 30). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`degrees of freedom must be ≥ 1, got ${df}`)
  return T_975[df - 1] ?? 1.96
}

export interface RunStatistics {
  readonly count: number
  readonly mean: number
  /** Sample standard deviation (n − 1); 0 for one run. */
  readonly sd: number
  /** Half-width of the 95% confidence interval of the mean ÷ the mean, percent; 0 for one run. */
  readonly rmePercent: number
}

export function runStatistics(values: readonly number[]): RunStatistics {
  if (values.length === 0) throw new RangeError('no runs to summarise')
  const n = values.length
  const mean = values.reduce((a, b) => a + b, 0) / n
  if (n === 1) return { count: 1, mean, sd: 0, rmePercent: 0 }
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1))
  const moe = (tQuantile975(n - 1) * sd) / Math.sqrt(n)
  return { count: n, mean, sd, rmePercent: mean === 0 ? 0 : (moe / Math.abs(mean)) * 100 }
}
