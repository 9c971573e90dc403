/**
 * Measures one variant of a benchmark: throughput with tinybench, per-batch latency percentiles,
 * a checksum of what it emitted, and peak memory. Single-threaded: everything runs on the calling thread,
 * so events/s is events per second per core (V8's GC helper threads may use another core).
 *
 * Method (also written into every report):
 * - Throughput: a tinybench task processes the whole prepared input (N events, cut ahead of time
 *   into runtime-sized batches, default 1024) per iteration, after warmup iterations;
 *   events/s = N / mean iteration time, ± tinybench's relative margin of error (rme, 95%
 *   confidence) of that mean.
 * - Latency: the input is cut into many small batches of a fixed size (e.g. 64 events), each timed
 *   with `process.hrtime.bigint()`; one batch's time is one sample, and p50/p99/p999 are
 *   nearest-rank percentiles over all samples. They are per batch of that size, not per event:
 *   dividing by the batch size would spread one event's GC pause over 63 others and report a
 *   latency no event had. No queueing is included; a GC pause or a deopt shows up in the tail.
 * - Outputs: when the variant exposes them, its outputs (values, keys, timestamps) are folded into
 *   a checksum after every batch of one pass over the whole input after the timed iterations, and
 *   after every timed latency batch (outside the timer), so variants can be shown to agree on the
 *   run that was measured.
 * - Memory: `process.memoryUsage()` sampled after every throughput iteration and every 256 latency
 *   batches; peak RSS (whole process, so it includes earlier variants' high-water mark) and peak V8
 *   heap used. A full GC runs before each variant, so heap figures are comparable between variants.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Bench } from 'tinybench'
import { type ChecksumResult, OutputChecksum, type OutputView } from './checksum.ts'
import { type LatencySummary, summarize } from './percentile.ts'

/**
 * A variant of a benchmark over a prepared input of `events` events. `batches` cuts the input into
 * batches of a given size ahead of time (untimed), `process` runs one batch through the variant.
 */
export interface VariantSpec<B> {
  readonly name: string
  /** The whole input as consecutive batches of `size` events (the last may be shorter). Untimed. */
  batches(size: number): readonly B[]
  /** Processes one batch; returns the number of events emitted, so the work has an observable result. */
  process(batch: B): number
  /** The outputs of the last `process` call; when given, they are checksummed (outside the timers). */
  outputs?(): OutputView
}

export interface MeasureOptions {
  /** Events in the prepared input; one throughput iteration processes all of them. */
  readonly events: number
  /** Events per batch in the throughput iterations (default 1024, a runtime-sized batch). */
  readonly batchSize?: number
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
  /** The latency clock, nanoseconds (default `process.hrtime.bigint`; the tests pass a fake one). */
  readonly clock?: () => bigint
  /** Also return every latency sample (to merge percentiles over several processes). Default false. */
  readonly keepLatencySamples?: boolean
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
    readonly batchSize: number
    /** Events the variant emitted per iteration (for the report: selectivity check). */
    readonly outputsPerIteration: number
  }
  /** Per-batch latency, nanoseconds: the time to process one batch of `batchSize` events. */
  readonly latencyNs: LatencySummary & { readonly batchSize: number; readonly batches: number }
  /**
   * Checksums of the outputs (when the spec exposes them): `pass` over one untimed pass of the whole
   * input in throughput batches, after the timed iterations; `latencyRun` over every timed latency batch.
   */
  readonly outputs?: { readonly pass: ChecksumResult; readonly latencyRun: ChecksumResult }
  /** Every per-batch latency sample, ns, in measurement order (only with `keepLatencySamples`). */
  readonly latencySamplesNs?: readonly number[]
  readonly memory: {
    readonly peakRssBytes: number
    readonly peakHeapUsedBytes: number
    /** Heap used just before the variant started (after a full GC). */
    readonly startHeapUsedBytes: number
    /** Heap used after a full GC at the end: what the variant retains (peak − this ≈ uncollected garbage). */
    readonly endHeapUsedBytes: number
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

let gcFunction: (() => void) | null | undefined

/** A full GC: `global.gc` when node runs with --expose-gc, else enabled at run time through V8 flags. */
export function collectGarbage(): void {
  if (gcFunction === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc
    if (typeof exposed === 'function') gcFunction = exposed
    else {
      try {
        setFlagsFromString('--expose-gc')
        gcFunction = runInNewContext('gc') as () => void
      } catch {
        gcFunction = null
      }
    }
  }
  gcFunction?.()
}

export async function measureVariant<B>(
  spec: VariantSpec<B>,
  options: MeasureOptions,
): Promise<VariantResult> {
  const events = options.events
  const throughputBatchSize = options.batchSize ?? 1024
  const latencyBatchSize = options.latencyBatchSize ?? 64
  const latencyBatchCount = options.latencyBatches ?? 100_000
  if (!Number.isInteger(events) || events <= 0)
    throw new RangeError(`events must be a positive integer, got ${events}`)
  if (latencyBatchSize > events) {
    throw new RangeError(`latency batch size ${latencyBatchSize} exceeds the ${events} prepared events`)
  }
  const throughputBatches = spec.batches(throughputBatchSize)
  // Only whole batches for latency, so every sample divides by the same size.
  const latencyBatches = spec.batches(latencyBatchSize).slice(0, Math.floor(events / latencyBatchSize))

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
      let emitted = 0
      for (const batch of throughputBatches) emitted += spec.process(batch)
      outputs = emitted
    },
    { afterEach: () => memory.sample() },
  )
  await bench.run()
  const task = bench.tasks[0]!
  const result = task.result
  if (!('latency' in result))
    throw new Error(`benchmark task ${spec.name} did not complete (${result.state})`)
  const meanIterationMs = result.latency.mean

  // The same code, warm from the timed iterations, once more over the whole input, reading outputs.
  const readOutputs = spec.outputs?.bind(spec)
  let pass: ChecksumResult | null = null
  if (readOutputs !== undefined) {
    const checksum = new OutputChecksum()
    for (const batch of throughputBatches) {
      spec.process(batch)
      checksum.addBatch(readOutputs())
    }
    pass = checksum.result()
  }

  // Latency: many small timed batches, walking through the input (and around again). One sample is
  // one batch: a per-event figure would be batch time ÷ size, a latency no event actually had.
  const clock = options.clock ?? process.hrtime.bigint
  const latencyChecksum = new OutputChecksum()
  const samples = new Float64Array(latencyBatchCount)
  for (let b = 0, next = 0; b < latencyBatchCount; b++) {
    const batch = latencyBatches[next]!
    const t0 = clock()
    spec.process(batch)
    const t1 = clock()
    samples[b] = Number(t1 - t0)
    if (readOutputs !== undefined) latencyChecksum.addBatch(readOutputs())
    next = next + 1 === latencyBatches.length ? 0 : next + 1
    if ((b & 255) === 255) memory.sample()
  }
  memory.sample()
  collectGarbage()
  const endHeapUsedBytes = process.memoryUsage().heapUsed

  return {
    name: spec.name,
    throughput: {
      eventsPerSecond: events / (meanIterationMs / 1_000),
      rmePercent: result.latency.rme,
      iterations: result.latency.samplesCount,
      meanIterationMs,
      eventsPerIteration: events,
      batchSize: throughputBatchSize,
      outputsPerIteration: outputs,
    },
    latencyNs: { ...summarize(samples), batchSize: latencyBatchSize, batches: latencyBatchCount },
    ...(options.keepLatencySamples === true ? { latencySamplesNs: Array.from(samples) } : {}),
    ...(pass === null ? {} : { outputs: { pass, latencyRun: latencyChecksum.result() } }),
    memory: {
      peakRssBytes: memory.peakRssBytes,
      peakHeapUsedBytes: memory.peakHeapUsedBytes,
      startHeapUsedBytes,
      endHeapUsedBytes,
    },
  }
}
