import { describe, expect, it } from 'vitest'
import type { VariantResult } from './measure.ts'
import { combineRounds } from './rounds.ts'

function round(meanIterationMs: number, samples: number[], peakRss: number, digest = 'abc'): VariantResult {
  return {
    name: 'fused',
    throughput: {
      eventsPerSecond: 1_000_000 / (meanIterationMs / 1000),
      rmePercent: 2,
      iterations: 10,
      meanIterationMs,
      eventsPerIteration: 1_000_000,
      batchSize: 1024,
      outputsPerIteration: 500_000,
    },
    latencyNs: {
      count: samples.length,
      min: Math.min(...samples),
      mean: 0,
      p50: 0,
      p99: 0,
      p999: 0,
      max: Math.max(...samples),
      batchSize: 64,
      batches: samples.length,
    },
    outputs: { pass: { events: 500_000, digest }, latencyRun: { events: 10, digest } },
    memory: {
      peakRssBytes: peakRss,
      peakHeapUsedBytes: peakRss / 2,
      startHeapUsedBytes: 1,
      endHeapUsedBytes: 2,
    },
    latencySamplesNs: samples,
  }
}

describe('combineRounds', () => {
  it('rates over the mean iteration time of all rounds, percentiles over all samples, highest peaks', () => {
    const { result, roundsEventsPerSecond } = combineRounds([
      round(20, [1, 2, 3, 4, 5], 100),
      round(40, [6, 7, 8, 9, 10], 300),
    ])
    // Mean iteration 30 ms → 1M events / 0.03 s; not the mean of 50 M and 25 M events/s.
    expect(result.throughput.eventsPerSecond).toBeCloseTo(1_000_000 / 0.03, 3)
    expect(result.throughput.meanIterationMs).toBe(30)
    // t(1) = 12.706; sd of (20, 40) = 14.142; half-width = 12.706 · 14.142 / √2 = 127.06 → 423.5 % of 30.
    expect(result.throughput.rmePercent).toBeCloseTo(423.5, 0)
    expect(result.throughput.iterations).toBe(20)
    expect(roundsEventsPerSecond).toEqual([50_000_000, 25_000_000])
    expect(result.latencyNs).toMatchObject({ count: 10, batches: 10, min: 1, p50: 5, max: 10, batchSize: 64 })
    expect(result.memory.peakRssBytes).toBe(300)
    expect(result.latencySamplesNs).toBeUndefined()
  })

  it('keeps tinybench’s margin for a single round', () => {
    expect(combineRounds([round(20, [1], 1)]).result.throughput.rmePercent).toBe(2)
  })

  it('refuses rounds that emitted different outputs or kept no samples', () => {
    expect(() => combineRounds([round(20, [1], 1), round(20, [1], 1, 'def')])).toThrow(
      "round 2 of 'fused' emitted different outputs than round 1",
    )
    const { latencySamplesNs: _, ...noSamples } = round(20, [1], 1)
    expect(() => combineRounds([noSamples])).toThrow('has no latency samples')
    expect(() => combineRounds([])).toThrow(RangeError)
  })
})
