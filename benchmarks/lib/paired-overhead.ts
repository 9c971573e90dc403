/**
 * The cost of a variant against a baseline measured in the same rounds (issue 12's checkpoint
 * overhead): per round the variant's figure over the baseline's of that round, then the median of
 * those ratios. Runs of one variant spread ~30 % on a quiet machine and more under load, mostly
 * with what else the machine does at that minute; the two runs of one round meet nearly the same
 * load, so their ratio carries much less of it than a ratio of each variant's own median does
 * (which pairs a good minute of one with a bad minute of the other).
 */
import { ratiosByRound } from './ab-run.ts'

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

/** Per variant other than `baseline`, its per-round ratios against the baseline's run of the same round (ab-run.ts). */
export function pairedRatios(runs: readonly OverheadRun[], baseline: string): PairedRatios[] {
  const ratiosOf = (figure: (run: OverheadRun) => number) =>
    ratiosByRound(
      runs.map((r) => ({ round: r.round, variant: r.variant, value: figure(r) })),
      baseline,
    )
  const throughput = ratiosOf((r) => r.eventsPerSecond)
  const cpu = ratiosOf((r) => r.cpuSeconds)
  const mainCpu = ratiosOf((r) => r.mainCpuSeconds)
  return throughput.map((t, i) => ({
    variant: t.variant,
    rounds: t.rounds,
    throughputRatios: t.ratios,
    throughputRatio: t.median,
    cpuRatio: cpu[i]!.median,
    mainCpuRatio: mainCpu[i]!.median,
  }))
}
