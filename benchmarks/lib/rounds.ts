/**
 * Combines the results of one variant measured in several fresh processes ("rounds"). On a shared
 * machine the load changes while a benchmark runs; measuring the variants in alternation (A B C D,
 * A B C D, …) and combining each variant's rounds spreads that change over all of them, instead of
 * handing it to whichever variant ran during a busy minute.
 *
 * - Throughput: events ÷ the mean of the rounds' mean iteration times (the single-round definition
 *   over all rounds), ± the 95% margin of error of that mean across rounds (Student's t); with one
 *   round, tinybench's own.
 * - Latency: percentiles over the samples of all rounds together (never an average of percentiles).
 * - Memory: the highest peak of any round.
 * - Outputs: every round must have emitted the same outputs (checksums), or this throws.
 */
import { isDeepStrictEqual } from 'node:util'
import type { VariantResult } from './measure.ts'
import { summarize } from './percentile.ts'
import { runStatistics } from './runs.ts'

export interface CombinedRounds {
  readonly result: VariantResult
  /** events/s of each round, in the order measured. */
  readonly roundsEventsPerSecond: readonly number[]
}

export function combineRounds(rounds: readonly VariantResult[]): CombinedRounds {
  const first = rounds[0]
  if (first === undefined) throw new RangeError('no rounds to combine')
  for (const [i, round] of rounds.entries()) {
    const same =
      round.name === first.name &&
      round.throughput.eventsPerIteration === first.throughput.eventsPerIteration &&
      round.throughput.batchSize === first.throughput.batchSize &&
      round.latencyNs.batchSize === first.latencyNs.batchSize
    if (!same) throw new Error(`round ${i + 1} of '${first.name}' measured something else (${round.name})`)
    if (
      round.throughput.outputsPerIteration !== first.throughput.outputsPerIteration ||
      !isDeepStrictEqual(round.outputs, first.outputs)
    ) {
      throw new Error(`round ${i + 1} of '${first.name}' emitted different outputs than round 1`)
    }
    if (round.latencySamplesNs === undefined)
      throw new Error(`round ${i + 1} of '${first.name}' has no latency samples (keepLatencySamples)`)
  }
  const meanIterationMs = runStatistics(rounds.map((r) => r.throughput.meanIterationMs))
  const samples = rounds.flatMap((r) => r.latencySamplesNs!)
  const { latencySamplesNs: _, ...rest } = first
  return {
    result: {
      ...rest,
      throughput: {
        ...first.throughput,
        eventsPerSecond: first.throughput.eventsPerIteration / (meanIterationMs.mean / 1_000),
        rmePercent: rounds.length > 1 ? meanIterationMs.rmePercent : first.throughput.rmePercent,
        iterations: rounds.reduce((sum, r) => sum + r.throughput.iterations, 0),
        meanIterationMs: meanIterationMs.mean,
      },
      latencyNs: { ...summarize(samples), batchSize: first.latencyNs.batchSize, batches: samples.length },
      memory: {
        peakRssBytes: Math.max(...rounds.map((r) => r.memory.peakRssBytes)),
        peakHeapUsedBytes: Math.max(...rounds.map((r) => r.memory.peakHeapUsedBytes)),
        startHeapUsedBytes: first.memory.startHeapUsedBytes,
        endHeapUsedBytes: Math.max(...rounds.map((r) => r.memory.endHeapUsedBytes)),
      },
    },
    roundsEventsPerSecond: rounds.map((r) => r.throughput.eventsPerSecond),
  }
}
