/**
 * Measures one variant of a benchmark: throughput with tinybench, per-event latency percentiles
 * from per-batch timings, and peak memory. Single-threaded: everything runs on the calling thread,
 * so events/s is events per second per core (V8's GC helper threads may use another core).
 *
 * Method (also written into every report):
 * - Throughput: a tinybench task processes the whole prepared input (N events) per iteration,
 *   after warmup iterations; events/s = N / mean iteration time, ± tinybench's relative margin of
 *   error (rme, 95% confidence) of that mean.
 * - Latency: the input is cut into many small batches of a fixed size (e.g. 64 events), each timed
 *   with `process.hrtime.bigint()`; a batch's time divided by its size is one per-event sample, and
 *   p50/p99/p999 are nearest-rank percentiles over all samples. This is per-event processing cost
 *   within a small batch (no queueing), so a GC pause or a deopt shows up in the tail.
 * - Memory: `process.memoryUsage()` sampled after every throughput iteration and every 256 latency
 *   batches; peak RSS (whole process) and peak V8 heap used. When node runs with --expose-gc, a
 *   full GC runs before each variant, so heap figures are comparable between variants.
 */
import { Bench } from 'tinybench'
import { type LatencySummary, summarize } from './percentile.ts'

/** A variant: processes `count` events of the prepared input starting at `start`. */
export interface VariantSpec {
  readonly name: string
  /** Returns the number of events emitted, so the work has an observable result. */
  run(start: number, count: number): number
}

export interface MeasureOptions {
  /** Events in the prepared input; one throughput iteration processes all of them. */
  readonly events: number
  /** Minimum throughput iterations after warmup (default 10). */
  readonly iterations?: number
  /** Time budget for the throughput iterations, ms (default 5000; tinybench stops when both limits are met). */
  readonly timeMs?: number
  /** Warmup iterations before measuring (default 3). */
  readonly warmupIterations?: number
  /** Events per timed batch in the latency measurement (default 64). */
  readonly latencyBatchSize?: number
  /** Number of timed batches (default 100,000). */
  readonly latencyBatches?: number
}

export interface VariantResult {
  readonly name: string
  readonly throughput: {
    readonly eventsPerSecond: number
    /** Relative margin of error of the mean iteration time, percent. */
    readonly rmePercent: number
    readonly iterations: number
    readonly meanIterationMs: number
    readonly eventsPerIteration: number
    /** Events the variant emitted per iteration (for the report: selectivity check). */
    readonly outputsPerIteration: number
  }
  /** Per-event latency, nanoseconds. */
  readonly latencyNs: LatencySummary & { readonly batchSize: number; readonly batches: number }
  readonly memory: {
    readonly peakRssBytes: number
    readonly peakHeapUsedBytes: number
    /** Heap used just before the variant started (after a GC when available). */
    readonly startHeapUsedBytes: number
  }
}

/** Tracks the peak of RSS and heap used over samples. */
export class PeakMemory {
  peakRssBytes = 0
  peakHeapUsedBytes = 0

  sample(): void {
    const usage = process.memoryUsage()
    if (usage.rss > this.peakRssBytes) this.peakRssBytes = usage.rss
    if (usage.heapUsed > this.peakHeapUsedBytes) this.peakHeapUsedBytes = usage.heapUsed
  }
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (typeof gc === 'function') gc()
}

export async function measureVariant(spec: VariantSpec, options: MeasureOptions): Promise<VariantResult> {
  const events = options.events
  const batchSize = options.latencyBatchSize ?? 64
  const batches = options.latencyBatches ?? 100_000
  if (!Number.isInteger(events) || events <= 0)
    throw new RangeError(`events must be a positive integer, got ${events}`)
  if (batchSize > events)
    throw new RangeError(`latency batch size ${batchSize} exceeds the ${events} prepared events`)

  collectGarbage()
  const startHeapUsedBytes = process.memoryUsage().heapUsed
  const memory = new PeakMemory()
  memory.sample()

  // Throughput.
  let outputs = 0
  const bench = new Bench({
    name: spec.name,
    iterations: options.iterations ?? 10,
    time: options.timeMs ?? 5_000,
    warmup: true,
    warmupIterations: options.warmupIterations ?? 3,
    warmupTime: 0,
    throws: true,
  })
  bench.add(
    spec.name,
    () => {
      outputs = spec.run(0, events)
    },
    { afterEach: () => memory.sample() },
  )
  await bench.run()
  const task = bench.tasks[0]!
  const result = task.result
  if (!('latency' in result))
    throw new Error(`benchmark task ${spec.name} did not complete (${result.state})`)
  const meanIterationMs = result.latency.mean

  // Latency: many small timed batches, walking through the input.
  const samples = new Float64Array(batches)
  const span = events - batchSize + 1
  let start = 0
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint()
    spec.run(start, batchSize)
    const t1 = process.hrtime.bigint()
    samples[b] = Number(t1 - t0) / batchSize
    start += batchSize
    if (start >= span) start = 0
    if ((b & 255) === 255) memory.sample()
  }
  memory.sample()

  return {
    name: spec.name,
    throughput: {
      eventsPerSecond: events / (meanIterationMs / 1_000),
      rmePercent: result.latency.rme,
      iterations: result.latency.samplesCount,
      meanIterationMs,
      eventsPerIteration: events,
      outputsPerIteration: outputs,
    },
    latencyNs: { ...summarize(samples), batchSize, batches },
    memory: {
      peakRssBytes: memory.peakRssBytes,
      peakHeapUsedBytes: memory.peakHeapUsedBytes,
      startHeapUsedBytes,
    },
  }
}
