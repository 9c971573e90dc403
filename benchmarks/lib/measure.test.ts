import { describe, expect, it } from 'vitest'
import { measureVariant, PeakMemory, type VariantSpec } from './measure.ts'

/** A variant over `events` integers that emits the even ones, recording how it was driven. */
function evenFilter(events: number) {
  const input = Array.from({ length: events }, (_, i) => i)
  const seen = { batchSizes: new Set<number>(), processed: 0 }
  const spec: VariantSpec<number[]> = {
    name: 'even',
    batches: (size) => {
      const out: number[][] = []
      for (let start = 0; start < input.length; start += size) out.push(input.slice(start, start + size))
      return out
    },
    process: (batch) => {
      seen.batchSizes.add(batch.length)
      seen.processed += batch.length
      let emitted = 0
      for (const value of batch) if (value % 2 === 0) emitted++
      return emitted
    },
  }
  return { spec, seen }
}

describe('measureVariant (bookkeeping, not timings)', () => {
  it('runs whole-input iterations for throughput and fixed-size batches for latency', async () => {
    const { spec, seen } = evenFilter(1000)
    const result = await measureVariant(spec, {
      events: 1000,
      batchSize: 300,
      latencyBatchSize: 16,
      latencyBatches: 500,
      iterations: 4,
      timeMs: 1,
      warmupIterations: 1,
    })
    expect(result.name).toBe('even')
    expect(result.throughput.eventsPerIteration).toBe(1000)
    expect(result.throughput.batchSize).toBe(300)
    expect(result.throughput.outputsPerIteration).toBe(500)
    expect(result.throughput.iterations).toBeGreaterThanOrEqual(4)
    expect(result.throughput.eventsPerSecond).toBeCloseTo(
      1000 / (result.throughput.meanIterationMs / 1000),
      6,
    )
    expect(result.latencyNs.batchSize).toBe(16)
    expect(result.latencyNs.batches).toBe(500)
    expect(result.latencyNs.count).toBe(500)
    expect(result.latencyNs.p50).toBeLessThanOrEqual(result.latencyNs.p99)
    expect(result.latencyNs.p99).toBeLessThanOrEqual(result.latencyNs.p999)
    // Throughput batches of 300 (last one 100); latency only whole batches of 16 (never the 8-event tail).
    expect([...seen.batchSizes].sort((a, b) => a - b)).toEqual([16, 100, 300])
    expect(result.memory.peakRssBytes).toBeGreaterThan(0)
    expect(result.memory.peakHeapUsedBytes).toBeGreaterThan(0)
    expect(result.memory.endHeapUsedBytes).toBeGreaterThan(0)
  })

  it('rejects a latency batch larger than the input', async () => {
    const { spec } = evenFilter(10)
    await expect(measureVariant(spec, { events: 10, latencyBatchSize: 64 })).rejects.toThrow(RangeError)
    await expect(measureVariant(spec, { events: 0 })).rejects.toThrow(RangeError)
  })
})

describe('PeakMemory', () => {
  it('keeps the maximum of the samples', () => {
    const peak = new PeakMemory()
    peak.sample()
    const first = peak.peakHeapUsedBytes
    const ballast = Array.from({ length: 200_000 }, (_, i) => ({ i }))
    peak.sample()
    expect(peak.peakHeapUsedBytes).toBeGreaterThanOrEqual(first)
    expect(ballast.length).toBe(200_000)
  })
})
