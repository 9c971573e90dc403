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

  it('reports latency per batch, not batch time divided by the batch size', async () => {
    const { spec } = evenFilter(640)
    // A fake clock that advances 6,400 ns between the two reads around each batch of 64.
    let now = 0n
    let reads = 0
    const clock = () => {
      reads++
      if (reads % 2 === 0) now += 6_400n
      return now
    }
    const result = await measureVariant(spec, {
      events: 640,
      latencyBatchSize: 64,
      latencyBatches: 50,
      iterations: 1,
      timeMs: 1,
      warmupIterations: 1,
      clock,
    })
    expect(result.latencyNs).toMatchObject({ batchSize: 64, batches: 50, p50: 6_400, p99: 6_400, max: 6_400 })
    expect(result.latencySamplesNs).toBeUndefined()
    now = 0n
    reads = 0
    const kept = await measureVariant(spec, {
      events: 640,
      latencyBatchSize: 64,
      latencyBatches: 5,
      timeMs: 1,
      clock,
      keepLatencySamples: true,
    })
    expect(kept.latencySamplesNs).toEqual([6_400, 6_400, 6_400, 6_400, 6_400])
  })

  it('checksums the outputs of a whole pass and of every timed latency batch', async () => {
    // Two variants emitting the same events (one in a different field order) and one with a wrong timestamp.
    const variant = (name: string, shape: (i: number) => { value: unknown; ts: number }) => {
      const input = Array.from({ length: 100 }, (_, i) => i)
      const out = {
        values: [] as unknown[],
        keys: [] as (string | null)[],
        timestamps: [] as number[],
        length: 0,
      }
      const spec: VariantSpec<number[]> = {
        name,
        batches: (size) => {
          const batches: number[][] = []
          for (let start = 0; start < input.length; start += size)
            batches.push(input.slice(start, start + size))
          return batches
        },
        process: (batch) => {
          out.length = 0
          for (const i of batch) {
            if (i % 3 !== 0) continue
            const { value, ts } = shape(i)
            out.values[out.length] = value
            out.keys[out.length] = `k${i % 5}`
            out.timestamps[out.length] = ts
            out.length++
          }
          return out.length
        },
        outputs: () => out,
      }
      return measureVariant(spec, {
        events: 100,
        batchSize: 30,
        latencyBatchSize: 8,
        latencyBatches: 30,
        iterations: 1,
        timeMs: 1,
        warmupIterations: 1,
      })
    }
    const a = await variant('a', (i) => ({ value: { i, half: i / 2 }, ts: i * 10 }))
    const b = await variant('b', (i) => ({ value: { i, half: i / 2 }, ts: i * 10 }))
    const wrongTs = await variant('c', (i) => ({ value: { i, half: i / 2 }, ts: i === 99 ? 0 : i * 10 }))
    const reordered = await variant('d', (i) => ({ value: { half: i / 2, i }, ts: i * 10 }))
    expect(a.outputs!.pass.events).toBe(34)
    // 30 batches of 8 over the 12 whole batches (96 events): 2.5 rounds, 32 outputs per round.
    expect(a.outputs!.latencyRun.events).toBe(80)
    expect(b.outputs).toEqual(a.outputs)
    // Event 99 is only in the pass (the latency batches skip the 4-event tail).
    expect(wrongTs.outputs!.pass.digest).not.toBe(a.outputs!.pass.digest)
    expect(wrongTs.outputs!.latencyRun).toEqual(a.outputs!.latencyRun)
    expect(reordered.outputs!.pass.digest).not.toBe(a.outputs!.pass.digest)
    expect(reordered.outputs!.latencyRun.digest).not.toBe(a.outputs!.latencyRun.digest)
    const { spec } = evenFilter(64)
    const bare = await measureVariant(spec, { events: 64, latencyBatchSize: 8, latencyBatches: 8, timeMs: 1 })
    expect(bare.outputs).toBeUndefined()
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
