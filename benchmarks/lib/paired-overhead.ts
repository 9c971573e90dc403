/**
 * The cost of a variant against a baseline measured in the same rounds (issue 12's checkpoint
 * overhead): per round the variant's figure over the baseline's of that round, then the median of
 * those ratios. Runs of one variant spread ~30 % on a quiet machine and more under load, mostly
 * with what else the machine does at that minute; the two runs of one round meet nearly the same
 * load, so their ratio carries much less of it than a ratio of each variant's own median does
 * (which pairs a good minute of one with a bad minute of the other).
 */
import { median } from './percentile.ts'

export interface OverheadRun {
  readonly round: number
  readonly variant: string
  readonly eventsPerSecond: number
  /** CPU seconds of the process (every thread) over the measured span. */
  readonly cpuSeconds: number
  /** CPU seconds of the main thread alone over the span; NaN where the platform does not say. */
  readonly mainCpuSeconds: number
}

export interface PairedRatios {
  readonly variant: string
  /** Rounds that measured both this variant and the baseline. */
  readonly rounds: number
  /** Per round, the variant's events/s over the baseline's, in round order. */
  readonly throughputRatios: readonly number[]
  /** Medians of the per-round ratios: events/s, process CPU-s and main-thread CPU-s. */
  readonly throughputRatio: number
  readonly cpuRatio: number
  readonly mainCpuRatio: number
}

/** Per variant other than `baseline`, its per-round ratios against the baseline's run of the same round. */
export function pairedRatios(runs: readonly OverheadRun[], baseline: string): PairedRatios[] {
  const baseOf = new Map<number, OverheadRun>()
  for (const run of runs) if (run.variant === baseline) baseOf.set(run.round, run)
  const variants = [...new Set(runs.map((r) => r.variant))].filter((v) => v !== baseline)
  return variants.map((variant) => {
    const pairs = runs
      .filter((r) => r.variant === variant && baseOf.has(r.round))
      .sort((a, b) => a.round - b.round)
      .map((r) => [r, baseOf.get(r.round)!] as const)
    const throughputRatios = pairs.map(([r, b]) => r.eventsPerSecond / b.eventsPerSecond)
    return {
      variant,
      rounds: pairs.length,
      throughputRatios,
      throughputRatio: pairs.length === 0 ? Number.NaN : median(throughputRatios),
      cpuRatio: pairs.length === 0 ? Number.NaN : median(pairs.map(([r, b]) => r.cpuSeconds / b.cpuSeconds)),
      mainCpuRatio:
        pairs.length === 0 ? Number.NaN : median(pairs.map(([r, b]) => r.mainCpuSeconds / b.mainCpuSeconds)),
    }
  })
}

/** The variants in the order a round runs them: turned by one each round, so none always runs first. */
export function roundOrder<T>(variants: readonly T[], round: number): T[] {
  return variants.map((_, i) => variants[(i + round) % variants.length]!)
}
