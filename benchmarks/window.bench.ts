/**
 * Windowed aggregates (issue 13): a keyed 1-minute tumbling window with count, sum, min, max and
 * avg of an f64 amount over 10,000 cards, run four ways on the same decoded events, with the
 * end-to-end node beside them.
 *
 *   npm run bench:window                                             # 4.8M events, writes reports/window.*
 *   node --import tsx benchmarks/window.bench.ts --events 200000 --rate 1000 --out /tmp/r
 *
 * In-process variants (lib/window-workload.ts has the workload and the hand-written baseline):
 * - wasm: the runtime's WindowOperator on the WebAssembly accumulator store, as the runner runs it
 *   per decoded EventBatch: the generated `extract` (key + arguments), the key dictionary, the
 *   kernel's add, collect and the generated `result` of every emitted row.
 * - typescript: the same operator and generated functions on the TypedArrayWindowStore.
 * - interpreter: the reference interpreter (compiler/ir/interpret.ts), one push per event.
 * - hand-written: one Map<card, accumulator object> per open window start, inline watermark.
 * Before anything is timed the parent runs every variant once over the whole input: each must emit
 * exactly the interpreter's results (deep equality, field order, keys, timestamps). Each variant is
 * then measured in fresh node processes (this script re-run with `--variant`), alternating in
 * rounds (lib/rounds.ts); every timed pass checksums its results and all must agree.
 *
 * End to end (`--e2e-runs`, default 2 per execution): the PipelineRunner on the embedded log with a
 * FileSnapshotStore, compiled with windowExecution 'wasm' and 'typescript', each run in a fresh
 * process, alternating; N JSON events are appended first (untimed), then the clock runs until the
 * runner caught up. events/s, CPU-seconds and peak RSS as in pipeline-throughput.bench.ts.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { isDeepStrictEqual, parseArgs } from 'node:util'
import { writeArtifact } from '../compiler/artifact/package.ts'
import { compileSource } from '../compiler/compile.ts'
import { checkSource } from '../compiler/frontend.ts'
import { createInterpreter, type InterpreterEvent } from '../compiler/ir/interpret.ts'
import { type LoadedArtifact, loadArtifact } from '../runtime/artifact/load.ts'
import type { WindowGraphNode } from '../runtime/artifact/manifest.ts'
import type { EventBatch, WindowFunctions } from '../runtime/artifact/operators.ts'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import { FileSnapshotStore } from '../runtime/state/file-snapshot-store.ts'
import type { WindowAccumulatorStore } from '../runtime/window/accumulator-store.ts'
import { createTypedArrayWindowStore } from '../runtime/window/typed-array-store.ts'
import { WindowOperator } from '../runtime/window/window-operator.ts'
import { loadWindowKernel } from '../wasm/host/window-kernel.ts'
import { checkMeasuredOutputs } from './lib/chain-variants.ts'
import { type ChecksumResult, OutputChecksum, type OutputView } from './lib/checksum.ts'
import { runScriptChild } from './lib/child-run.ts'
import { type CpuProfile, type ProfileSummary, summarizeProfile } from './lib/cpu-profile.ts'
import { collectGarbage, PeakMemory, type VariantResult } from './lib/measure.ts'
import { summarize } from './lib/percentile.ts'
import {
  type BenchmarkReport,
  computeRatiosOf,
  type EndToEndFigures,
  formatBytes,
  formatNs,
  formatRate,
  formatRatio,
  machineInfo,
  renderConsoleTable,
  renderMarkdown,
  renderSvg,
  writeReportFiles,
} from './lib/report.ts'
import { combineRounds } from './lib/rounds.ts'
import { runStatistics } from './lib/runs.ts'
import { timeNodeUntilCaughtUp } from './lib/timed-run.ts'
import {
  batchMaxTimes,
  HandWrittenTumblingWindows,
  WATERMARK_DELAY_MS,
  type WindowPayment,
  type WindowWorkloadOptions,
  windowPaymentChunks,
  windowPipeline,
} from './lib/window-workload.ts'

const NAME = 'window'
const REPO = resolve(import.meta.dirname, '..')
const TARGET_EVENTS_PER_SECOND = 5_000_000

const VARIANTS = {
  wasm: 'wasm (WebAssembly store)',
  typescript: 'typescript (typed arrays)',
  interpreter: 'interpreter (on a prefix)',
  'hand-written': 'hand-written (Map per window)',
} as const
type VariantKey = keyof typeof VARIANTS
const VARIANT_KEYS = Object.keys(VARIANTS) as VariantKey[]
type Execution = 'wasm' | 'typescript'
const EXECUTIONS: readonly Execution[] = ['wasm', 'typescript']

interface Options {
  readonly events: number
  readonly workload: WindowWorkloadOptions
  readonly batchSize: number
  readonly passes: number
  readonly warmup: number
  readonly e2eEvents: number
  readonly e2eBatch: number
  /** Events the interpreter is timed on (a prefix of the input: it is far too slow for all). */
  readonly interpreterEvents: number
  /** The small check workload on which the interpreter is compared with the others. */
  readonly checkEvents: number
  readonly checkRate: number
}

// ---------------------------------------------------------------------------------------------
// Compiling and loading

interface WindowArtifact {
  readonly artifact: LoadedArtifact
  readonly node: WindowGraphNode
  readonly functions: WindowFunctions
  readonly cleanup: () => Promise<void>
}

/** Compiles the pipeline with the given window execution and loads it as the runtime does. */
async function loadWindowArtifact(
  execution: Execution,
  source?: string,
  sink?: string,
): Promise<WindowArtifact> {
  const compiled = compileSource('window.pipe', windowPipeline(source, sink), {
    name: 'window',
    windowExecution: execution,
  })
  if (compiled.artifact === null)
    throw new Error(
      `the benchmark pipeline does not compile:\n${JSON.stringify(compiled.diagnostics, null, 2)}`,
    )
  // The prefix lets lib/cpu-profile.ts name generated code as such.
  const parent = await mkdtemp(join(tmpdir(), 'sluice-artifact-'))
  const dir = join(parent, 'window')
  await writeArtifact(compiled.artifact, dir)
  const artifact = await loadArtifact(dir)
  const node = artifact.manifest.graph.nodes.find((n): n is WindowGraphNode => n.kind === 'WindowAggregate')
  if (node === undefined || node.execution !== execution)
    throw new Error(`expected one window on ${execution}, the artifact has ${JSON.stringify(node)}`)
  const functions = artifact.operators.windows?.[node.id]
  if (functions === undefined) throw new Error(`the artifact has no functions for window ${node.id}`)
  return { artifact, node, functions, cleanup: () => rm(parent, { recursive: true, force: true }) }
}

// ---------------------------------------------------------------------------------------------
// Inputs and variants

/**
 * The decoded events in batches: the workload's events JSON-encoded and decoded by the artifact's
 * generated decoder (what the runner hands the window), cut into EventBatches of `batchSize`.
 */
function prepareBatches(
  artifact: LoadedArtifact,
  count: number,
  workload: WindowWorkloadOptions,
  batchSize: number,
): EventBatch[] {
  const source = artifact.operators.sources.payments!
  const decode = source.decodeJson ?? ((bytes: Buffer) => source.decode(JSON.parse(bytes.toString('utf8'))))
  const batches: EventBatch[] = []
  for (const chunk of windowPaymentChunks(count, workload, batchSize)) {
    const values = chunk.map((p) => decode(Buffer.from(JSON.stringify(p))) as WindowPayment)
    batches.push({
      values,
      keys: new Array<string | null>(values.length).fill(null),
      timestamps: values.map((v) => v.ts),
      origins: Array.from({ length: values.length }, (_, i) => i),
      length: values.length,
    })
  }
  return batches
}

/** One variant over the prepared batches: `reset` starts from empty state (untimed), `process` one batch (timed). */
interface WindowVariant {
  readonly name: string
  reset(): void
  /** Processes batch `b`; returns the number of results emitted. */
  process(b: number): number
  /** The results of the last `process`. */
  outputs(): OutputView
}

function operatorVariant(
  key: 'wasm' | 'typescript',
  loaded: WindowArtifact,
  createStore: () => WindowAccumulatorStore,
  batches: readonly EventBatch[],
  batchSize: number,
): WindowVariant {
  const maxTimes = new Float64Array(batchSize)
  let operator: WindowOperator | null = null
  let results: OutputView = { values: [], keys: [], timestamps: [], length: 0 }
  return {
    name: VARIANTS[key],
    reset: () => {
      operator = new WindowOperator(loaded.node, loaded.functions, createStore(), WATERMARK_DELAY_MS)
    },
    process: (b) => {
      const batch = batches[b]!
      // The runner computes the sources' running maximum per batch too (sourceMaxTimes).
      const out = operator!.process(
        batch,
        batchMaxTimes(batch.timestamps, batch.length, maxTimes),
        batch.length - 1,
      )
      if (out.late.length > 0 || out.failures.length > 0)
        throw new Error(`${key}: ${out.late.length} late events, ${out.failures.length} failures`)
      results = out.results
      return out.results.length
    },
    outputs: () => results,
  }
}

function interpreterVariant(batches: readonly EventBatch[]): WindowVariant {
  const checked = checkSource('window.pipe', windowPipeline())
  if (checked.pipeline === null)
    throw new Error(`the pipeline does not check: ${JSON.stringify(checked.diagnostics)}`)
  const pipeline = checked.pipeline
  // Wrapped once, before timing, as the interpreter takes them.
  const events: InterpreterEvent[][] = batches.map((batch) =>
    (batch.values as WindowPayment[]).map((v) => ({ value: v as never, key: null, timestamp: v.ts })),
  )
  const out = {
    values: [] as unknown[],
    keys: [] as (string | null)[],
    timestamps: [] as number[],
    length: 0,
  }
  let interpreter: ReturnType<typeof createInterpreter> | null = null
  return {
    name: VARIANTS.interpreter,
    reset: () => {
      interpreter = createInterpreter(pipeline, {
        onSink: (event) => {
          out.values[out.length] = event.value
          out.keys[out.length] = event.key
          out.timestamps[out.length] = event.timestamp
          out.length++
        },
      })
    },
    process: (b) => {
      const batch = events[b]!
      out.length = 0
      for (let i = 0; i < batch.length; i++) interpreter!.push('payments', batch[i]!)
      return out.length
    },
    outputs: () => out,
  }
}

function handWrittenVariant(batches: readonly EventBatch[]): WindowVariant {
  let windows = new HandWrittenTumblingWindows()
  return {
    name: VARIANTS['hand-written'],
    reset: () => {
      windows = new HandWrittenTumblingWindows()
    },
    process: (b) => {
      const n = windows.process(batches[b]!.values as WindowPayment[])
      if (windows.late > 0) throw new Error(`hand-written: ${windows.late} late events`)
      return n
    },
    outputs: () => windows,
  }
}

async function makeVariant(
  key: VariantKey,
  loaded: Record<Execution, WindowArtifact>,
  batches: readonly EventBatch[],
  options: Options,
): Promise<WindowVariant> {
  switch (key) {
    case 'wasm': {
      const kernel = await loadWindowKernel(loaded.wasm.artifact.wasm.get('window')!)
      const spec = { accumulators: loaded.wasm.functions.accumulators, sizeMs: 60_000, slideMs: 60_000 }
      return operatorVariant('wasm', loaded.wasm, () => kernel.createStore(spec), batches, options.batchSize)
    }
    case 'typescript': {
      const spec = { accumulators: loaded.typescript.functions.accumulators, sizeMs: 60_000, slideMs: 60_000 }
      return operatorVariant(
        'typescript',
        loaded.typescript,
        () => createTypedArrayWindowStore(spec),
        batches,
        options.batchSize,
      )
    }
    case 'interpreter':
      return interpreterVariant(batches)
    case 'hand-written':
      return handWrittenVariant(batches)
  }
}

interface OutputEvent {
  readonly value: unknown
  readonly key: string | null
  readonly timestamp: number
}

/** One untimed pass from empty state, collecting copies of every result. */
function collectAll(variant: WindowVariant, batchCount: number): OutputEvent[] {
  variant.reset()
  const all: OutputEvent[] = []
  for (let b = 0; b < batchCount; b++) {
    variant.process(b)
    const out = variant.outputs()
    for (let i = 0; i < out.length; i++)
      all.push(structuredClone({ value: out.values[i], key: out.keys[i]!, timestamp: out.timestamps[i]! }))
  }
  return all
}

const digestOf = (events: readonly OutputEvent[]): ChecksumResult => {
  const checksum = new OutputChecksum()
  for (const e of events) checksum.addEvent(e.value, e.key, e.timestamp)
  return checksum.result()
}

// ---------------------------------------------------------------------------------------------
// Measuring one variant (child process)

interface ChildResult {
  readonly variant: VariantResult
  /** The timed passes on process.hrtime's clock, µs (to cut a CPU profile to them). */
  readonly windowUs: { readonly startUs: number; readonly endUs: number }
  /** Per-batch time percentiles (not divided by the batch size), ns. */
  readonly batchNs: {
    readonly p50: number
    readonly p99: number
    readonly p999: number
    readonly max: number
  }
  readonly batchSamplesNs: readonly number[]
}

/**
 * `warmup` untimed passes, then `passes` timed ones, each from empty state over the whole input.
 * events/s = events ÷ the mean pass time (the sum of its batch times); per-event time = a batch's
 * time ÷ its events, one sample per batch.
 */
function measure(
  variant: WindowVariant,
  batches: readonly EventBatch[],
  options: Pick<Options, 'batchSize' | 'passes' | 'warmup'>,
): ChildResult {
  const events = batches.reduce((sum, b) => sum + b.length, 0)
  collectGarbage()
  const startHeapUsedBytes = process.memoryUsage().heapUsed
  const memory = new PeakMemory()
  memory.sample()
  const clock = process.hrtime.bigint
  const run = (timed: boolean, perEvent: number[], perBatch: number[]) => {
    variant.reset()
    const checksum = new OutputChecksum()
    let totalNs = 0
    let results = 0
    for (let b = 0; b < batches.length; b++) {
      const t0 = clock()
      const n = variant.process(b)
      const ns = Number(clock() - t0)
      totalNs += ns
      results += n
      if (n > 0) checksum.addBatch(variant.outputs())
      if (timed) {
        perEvent.push(ns / batches[b]!.length)
        perBatch.push(ns)
      }
      if ((b & 63) === 63) memory.sample()
    }
    memory.sample()
    return { totalNs, results, checksum: checksum.result() }
  }
  for (let w = 0; w < options.warmup; w++) run(false, [], [])
  const perEvent: number[] = []
  const perBatch: number[] = []
  const passMs: number[] = []
  let first: ReturnType<typeof run> | null = null
  const startUs = Number(clock() / 1000n)
  for (let p = 0; p < options.passes; p++) {
    const pass = run(true, perEvent, perBatch)
    passMs.push(pass.totalNs / 1e6)
    if (first === null) first = pass
    else if (pass.results !== first.results || pass.checksum.digest !== first.checksum.digest)
      throw new Error(`${variant.name}: pass ${p + 1} emitted different results than pass 1`)
  }
  const endUs = Number(clock() / 1000n)
  collectGarbage()
  const stats = runStatistics(passMs)
  const batchSummary = summarize(perBatch)
  return {
    variant: {
      name: variant.name,
      throughput: {
        eventsPerSecond: events / (stats.mean / 1000),
        rmePercent: passMs.length > 1 ? stats.rmePercent : 0,
        iterations: passMs.length,
        meanIterationMs: stats.mean,
        eventsPerIteration: events,
        batchSize: options.batchSize,
        outputsPerIteration: first!.results,
      },
      latencyNs: { ...summarize(perEvent), batchSize: options.batchSize, batches: perEvent.length },
      latencySamplesNs: perEvent,
      outputs: { pass: first!.checksum, latencyRun: first!.checksum },
      memory: {
        peakRssBytes: memory.peakRssBytes,
        peakHeapUsedBytes: memory.peakHeapUsedBytes,
        startHeapUsedBytes,
        endHeapUsedBytes: process.memoryUsage().heapUsed,
      },
    },
    windowUs: { startUs, endUs },
    batchNs: { p50: batchSummary.p50, p99: batchSummary.p99, p999: batchSummary.p999, max: batchSummary.max },
    batchSamplesNs: perBatch,
  }
}

// ---------------------------------------------------------------------------------------------
// End to end (child process)

interface EndToEndRun {
  readonly execution: Execution
  readonly eventsPerSecond: number
  /** First batch handed to the runner → caught up, ms. */
  readonly processingMs: number
  readonly startupMs: number
  readonly preAppendMs: number
  /** User + system CPU of the process from runner start to caught up, s. */
  readonly cpuSeconds: number
  readonly peakRssBytes: number
  readonly batches: number
  readonly batchP99Ns: number
  readonly outputs: number
}

async function endToEndRun(execution: Execution, options: Options): Promise<EndToEndRun> {
  const id = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
  const source = `bench.payments.${id}`
  const sink = `bench.per-minute.${id}`
  const deadLetters = `bench.dead-letter.${id}`
  const loaded = await loadWindowArtifact(execution, source, sink)
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-window-'))
  // `sluice run`'s defaults: the embedded log syncing every 100 ms, snapshots in files.
  const log = await EmbeddedLog.open(join(dir, 'log'), { durability: { intervalMs: 100 } })
  const stateStore = new FileSnapshotStore(join(dir, 'state'))
  try {
    await log.ensureTopic(source, { partitions: 1 })
    const appendStarted = performance.now()
    for (const chunk of windowPaymentChunks(options.e2eEvents, options.workload, 10_000)) {
      await log.append(
        source,
        chunk.map((p) => ({ key: null, value: Buffer.from(JSON.stringify(p)), timestamp: p.ts })),
      )
    }
    const preAppendMs = performance.now() - appendStarted

    const memory = new PeakMemory()
    const { timed, processingNs, startupMs, cpuSeconds } = await timeNodeUntilCaughtUp(
      log,
      {
        artifact: loaded.artifact,
        group: `bench.${id}`,
        partitions: 1,
        maxBatchRecords: options.e2eBatch,
        deadLetterTopic: deadLetters,
        stateStore,
      },
      memory,
      Math.max(300_000, options.e2eEvents / 10),
    )
    const outputs = (await log.endOffsets(sink)).reduce((a, b) => a + b, 0)
    const dead = (await log.endOffsets(deadLetters)).reduce((a, b) => a + b, 0)
    if (timed.records !== options.e2eEvents || dead !== 0 || timed.failures !== 0)
      throw new Error(
        `end to end ${execution}: handled ${timed.records}/${options.e2eEvents} records, ${dead} dead letters, ${timed.failures} failed batches`,
      )
    return {
      execution,
      eventsPerSecond: options.e2eEvents / (processingNs / 1e9),
      processingMs: processingNs / 1e6,
      startupMs,
      preAppendMs,
      cpuSeconds,
      peakRssBytes: memory.peakRssBytes,
      batches: timed.durationsNs.length,
      batchP99Ns: summarize(timed.durationsNs).p99,
      outputs,
    }
  } finally {
    await log.close()
    await stateStore.close()
    await loaded.cleanup()
    await rm(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// Parent

/** This script in a fresh node process with `extra` arguments (lib/child-run.ts). */
function runChild<T>(extra: string[], nodeFlags: string[] = []): T {
  return runScriptChild<T>(import.meta.url, extra, nodeFlags)
}

interface ProfileResult {
  readonly variant: string
  readonly eventsPerSecond: number
  readonly summary: ProfileSummary
}

/** One more round of `key` under --cpu-prof; what its timed passes spent time on. */
async function profileVariant(key: VariantKey): Promise<ProfileResult> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-prof-'))
  try {
    process.stderr.write(`profiling ${VARIANTS[key]} (node --cpu-prof, one round) …\n`)
    const result = runChild<ChildResult>(['--variant', key], ['--cpu-prof', `--cpu-prof-dir=${dir}`])
    // One profile per thread (tsx's loader hooks run on their own); the main thread is thread 0.
    const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0')
    if (files.length !== 1)
      throw new Error(`expected one main-thread CPU profile in ${dir}, found ${files.length}`)
    const profile = JSON.parse(await readFile(join(dir, files[0]!), 'utf8')) as CpuProfile
    const summary = summarizeProfile(profile, { window: result.windowUs, top: 20, root: REPO })
    return { variant: VARIANTS[key], eventsPerSecond: result.variant.throughput.eventsPerSecond, summary }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const pct = (share: number) => `${(share * 100).toFixed(1)}%`

function profileLines(p: ProfileResult): string[] {
  const s = p.summary
  return [
    `### Profile: ${p.variant}`,
    '',
    `Run once more under \`node --cpu-prof\` (both Sluice paths, when the faster missed the target, or with \`--profile always\`; profiled round: ${formatRate(p.eventsPerSecond)} events/s, slower than unprofiled; ${(s.totalUs / 1e6).toFixed(2)} s sampled in its timed passes). Self time only; V8 charges inlined callees and builtins to their caller, and the WebAssembly kernel's functions appear by name. The window includes the harness's result checksum between batches (\`benchmarks/lib/checksum.ts\`), which the timings leave out.`,
    '',
    '| component | self time | share of busy time |',
    '| --- | ---: | ---: |',
    ...s.components
      .filter((c) => c.name !== 'idle (waiting for I/O)')
      .slice(0, 10)
      .map(
        (c) =>
          `| ${c.name.replace(/\|/g, '\\|')} | ${(c.selfUs / 1000).toFixed(0)} ms | ${pct(c.busyShare)} |`,
      ),
    '',
    '| function | self time | share of busy time |',
    '| --- | ---: | ---: |',
    ...s.functions.map(
      (f) =>
        `| \`${f.name.replace(/\|/g, '\\|')}\` | ${(f.selfUs / 1000).toFixed(0)} ms | ${pct(f.busyShare)} |`,
    ),
    '',
  ]
}

const METHOD = [
  'Workload: the events (cards drawn uniformly from the key count, amounts uniform in [0, 400) with cents, event time advancing steadily at the rate above with up to the given disorder, seeded) are JSON-encoded and decoded by the artifact’s generated decoder before anything is timed, so every in-process variant reads the objects the runner would hand the window, cut into EventBatches of the batch size. The watermark delay (3 s) exceeds the disorder, so no event is late; a window fires once, when the watermark passes its end, with one row per card.',
  'Variants: wasm and typescript run the runtime’s WindowOperator exactly as the PipelineRunner does per batch (the running maximum of event times per record, then `process`: the generated `extract` of key and arguments, the key dictionary, the watermark and lateness checks, the store’s add, collect, sorting the rows and the generated `result` per emitted row), on the WebAssembly store and on the TypedArrayWindowStore, from the artifact compiled with windowExecution wasm / typescript. interpreter is the reference interpreter (compiler/ir/interpret.ts), one push per event; it fires windows by scanning and sorting all of its open rows before and after every event (compiler/ir/window-semantics.ts, written to be obviously right, not fast), so its cost per event grows with the keys (about 1,000 events/s at 10,000 keys) and it is timed on a prefix of the input (see Parameters), one pass per round without warmup: the rows it holds by the end of that prefix are most of the keys, as in the full run. hand-written is benchmarks/lib/window-workload.ts: one Map<card, accumulator object> per open window start and the watermark inline, emitting a window’s rows in card order once the watermark passes its end, specialised to this pipeline (no lateness, no null handling, no snapshots). Ratios compare wasm with each other variant.',
  'Checks: before timing, the parent runs the variants from empty state, each once over the input, collecting every result: on a check workload of the same shape at a lower event rate (so windows close within a few thousand events; see Parameters), wasm, typescript and hand-written must emit exactly the interpreter’s results; on the whole input, wasm and typescript must emit exactly the hand-written loop’s (count, deep equality of values, keys and timestamps, and a checksum that also compares field order). Every timed pass also folds its results into a checksum (outside the batch timer); all passes, rounds and the three full-input variants must agree, or no report is written.',
  'Throughput: in a fresh node process per variant and round, warmup passes and then timed passes, each from empty state over the whole input; every batch is timed with process.hrtime.bigint(). events/s = events ÷ the mean pass time (sum of its batch times), over all rounds (each round’s mean pass time weighted equally), ± the 95% margin of that mean across rounds (Student’s t). Rounds alternate the variants (wasm, typescript, interpreter, hand-written; again). One thread, so this is per core (V8’s GC helper threads may use the other core).',
  'Time per event: one sample per timed batch = the batch’s time ÷ its events; p50/p99/p999 are nearest-rank percentiles over the batches of all passes and rounds. It is an amortised cost, not a latency: every event of a batch waits for the whole batch (multiply by the batch size for that), and a batch in which windows fire (collect, sort and 10,000 result records) is one sample carrying that whole cost, so the high percentiles are the batches where windows closed. The per-batch times are in the JSON (`batchNs`).',
  'End to end: `sluice run` equivalent. Per run, in a fresh node process, alternating wasm and typescript: the events are JSON-encoded and appended to a fresh one-partition topic of the embedded log (durability every 100 ms, the default; untimed), then the PipelineRunner starts on the artifact compiled with that window execution, with a FileSnapshotStore in a temporary directory (checkpoints at the runner’s default interval), and the clock runs from the first batch handed to the runner until its committed offsets reach the end of the topic. events/s = events ÷ that time; CPU-s = the process’s user + system time from runner start to caught up; peak RSS sampled every 50 ms and every 64 batches. Each run checks every record was handled, nothing was dead-lettered, and the results written equal the in-process count (when the event counts match).',
  'Memory (in-process table): process.memoryUsage() every 64 batches and after every pass; the figures include the prepared input (all events decoded, plus the interpreter’s wrappers).',
]

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      events: { type: 'string', default: '4800000' },
      rate: { type: 'string', default: '20000' },
      keys: { type: 'string', default: '10000' },
      disorder: { type: 'string', default: '500' },
      seed: { type: 'string', default: '42' },
      'batch-size': { type: 'string', default: '4096' },
      rounds: { type: 'string', default: '3' },
      passes: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      'e2e-events': { type: 'string' },
      'e2e-runs': { type: 'string', default: '2' },
      'e2e-batch': { type: 'string', default: '1000' },
      'interpreter-events': { type: 'string', default: '20000' },
      'check-events': { type: 'string', default: '30000' },
      'check-rate': { type: 'string', default: '200' },
      profile: { type: 'string', default: 'auto' },
      out: { type: 'string', default: join(import.meta.dirname, 'reports') },
      variant: { type: 'string' },
      e2e: { type: 'string' },
    },
  })
  const options: Options = {
    events: Number(args.events),
    workload: {
      seed: Number(args.seed),
      keys: Number(args.keys),
      eventsPerSecond: Number(args.rate),
      disorderMs: Number(args.disorder),
    },
    batchSize: Number(args['batch-size']),
    passes: Number(args.passes),
    warmup: Number(args.warmup),
    e2eEvents: Number(args['e2e-events'] ?? args.events),
    e2eBatch: Number(args['e2e-batch']),
    interpreterEvents: Number(args['interpreter-events']),
    checkEvents: Number(args['check-events']),
    checkRate: Number(args['check-rate']),
  }
  const rounds = Number(args.rounds)
  const e2eRuns = Number(args['e2e-runs'])
  for (const [name, value] of Object.entries({ ...options, ...options.workload, rounds })) {
    if (typeof value === 'number' && !(Number.isInteger(value) && value > 0))
      throw new RangeError(`--${name} must be a positive integer, got ${value}`)
  }
  if (!(Number.isInteger(e2eRuns) && e2eRuns >= 0))
    throw new RangeError(`--e2e-runs must be ≥ 0, got ${e2eRuns}`)
  if (!['auto', 'always', 'never'].includes(args.profile))
    throw new RangeError(`--profile must be auto, always or never, got ${args.profile}`)

  if (args.e2e !== undefined) {
    if (!(EXECUTIONS as readonly string[]).includes(args.e2e))
      throw new Error(`unknown execution '${args.e2e}'`)
    process.stderr.write(`end to end ${args.e2e} (pid ${process.pid}) …\n`)
    process.stdout.write(`${JSON.stringify(await endToEndRun(args.e2e as Execution, options))}\n`)
    return
  }

  const loaded = {
    wasm: await loadWindowArtifact('wasm'),
    typescript: await loadWindowArtifact('typescript'),
  }
  try {
    process.stderr.write(`preparing ${options.events.toLocaleString('en-US')} decoded events …\n`)
    const batches = prepareBatches(loaded.wasm.artifact, options.events, options.workload, options.batchSize)

    if (args.variant !== undefined) {
      // Child mode: measure one variant in this fresh process, print the result as one JSON line.
      if (!(VARIANT_KEYS as readonly string[]).includes(args.variant))
        throw new Error(`unknown variant '${args.variant}' (one of ${VARIANT_KEYS.join(', ')})`)
      if (args.variant === 'interpreter') {
        // O(open rows) per event (see METHOD): one pass, no warmup, over a prefix of the input.
        const prefix = batches.slice(0, Math.ceil(options.interpreterEvents / options.batchSize))
        const variant = await makeVariant('interpreter', loaded, prefix, options)
        process.stderr.write(`measuring ${variant.name} on ${prefix.length} batches (pid ${process.pid}) …\n`)
        const result = measure(variant, prefix, { ...options, passes: 1, warmup: 0 })
        process.stdout.write(`${JSON.stringify(result)}\n`)
        return
      }
      const variant = await makeVariant(args.variant as VariantKey, loaded, batches, options)
      process.stderr.write(`measuring ${variant.name} (pid ${process.pid}) …\n`)
      process.stdout.write(`${JSON.stringify(measure(variant, batches, options))}\n`)
      return
    }

    // Before anything is timed: (1) on a small workload of the same shape whose windows close
    // within a few thousand events (a lower event rate), every variant must emit exactly the
    // interpreter's results; (2) on the whole input, wasm and typescript must emit exactly the
    // hand-written loop's (the interpreter would take hours over it).
    const check = async (
      label: string,
      input: readonly EventBatch[],
      referenceKey: VariantKey,
      keys: VariantKey[],
    ) => {
      const expected = collectAll(await makeVariant(referenceKey, loaded, input, options), input.length)
      if (expected.length === 0)
        throw new Error(
          `${label} closes no window (raise the event count or lower the rate); nothing would be compared`,
        )
      const digest = digestOf(expected)
      for (const key of keys) {
        const actual = collectAll(await makeVariant(key, loaded, input, options), input.length)
        const at = actual.findIndex((e, i) => !isDeepStrictEqual(e, expected[i]))
        if (actual.length !== expected.length || at >= 0 || digestOf(actual).digest !== digest.digest)
          throw new Error(
            `${label}: ${VARIANTS[key]} differs from ${VARIANTS[referenceKey]}: ${at >= 0 ? `result ${at}: ${JSON.stringify(actual[at])} where the reference emits ${JSON.stringify(expected[at])}` : `${actual.length} results where the reference emits ${expected.length}, or another field order`}; not benchmarking`,
          )
      }
      process.stderr.write(
        `${label}: ${keys.map((k) => k).join(', ')} emit ${referenceKey}'s ${expected.length} results (checksum ${digest.digest})\n`,
      )
      return { results: expected.length, digest }
    }
    const checkWorkload = { ...options.workload, eventsPerSecond: options.checkRate }
    const checkBatches = prepareBatches(
      loaded.wasm.artifact,
      options.checkEvents,
      checkWorkload,
      options.batchSize,
    )
    const checked = await check(
      `check workload (${options.checkEvents} events at ${options.checkRate}/s of event time)`,
      checkBatches,
      'interpreter',
      ['wasm', 'typescript', 'hand-written'],
    )
    const whole = await check('whole input', batches, 'hand-written', ['wasm', 'typescript'])
    const reference = { length: whole.results }
    const referenceDigest = whole.digest

    const measured = new Map<VariantKey, ChildResult[]>(VARIANT_KEYS.map((k) => [k, []]))
    for (let round = 1; round <= rounds; round++) {
      for (const key of VARIANT_KEYS) {
        process.stderr.write(`round ${round}/${rounds}: `)
        const child = runChild<ChildResult>(['--variant', key])
        process.stderr.write(`  ${formatRate(child.variant.throughput.eventsPerSecond)} events/s\n`)
        measured.get(key)!.push(child)
      }
    }
    const combined = VARIANT_KEYS.map((key) => combineRounds(measured.get(key)!.map((c) => c.variant)))
    const variants = combined.map((c) => c.result)
    // The interpreter ran on a prefix: its results are checked on the check workload instead.
    checkMeasuredOutputs(variants.filter((v) => v.name !== VARIANTS.interpreter))
    if (variants[0]!.outputs!.pass.digest !== referenceDigest.digest)
      throw new Error('the measured passes emitted other results than the checked pass; not writing a report')
    const byKey = (key: VariantKey) => variants[VARIANT_KEYS.indexOf(key)]!
    const batchNs = Object.fromEntries(
      VARIANT_KEYS.map((key) => {
        const s = summarize(measured.get(key)!.flatMap((c) => c.batchSamplesNs))
        return [VARIANTS[key], { p50: s.p50, p99: s.p99, p999: s.p999, max: s.max }]
      }),
    )

    // End to end, alternating the executions, one fresh process per run.
    const e2e: EndToEndRun[] = []
    for (let run = 1; run <= e2eRuns; run++) {
      for (const execution of EXECUTIONS) {
        process.stderr.write(`end to end ${run}/${e2eRuns}: `)
        const result = runChild<EndToEndRun>(['--e2e', execution])
        process.stderr.write(
          `  ${formatRate(result.eventsPerSecond)} events/s, ${result.cpuSeconds.toFixed(2)} CPU-s, ${formatBytes(result.peakRssBytes)} peak RSS, ${result.outputs} results\n`,
        )
        if (options.e2eEvents === options.events && result.outputs !== reference.length)
          throw new Error(
            `end to end ${execution} wrote ${result.outputs} results where in process emits ${reference.length}`,
          )
        e2e.push(result)
      }
    }
    const e2eSummary = EXECUTIONS.map((execution) => {
      const runs = e2e.filter((r) => r.execution === execution)
      const rate = runStatistics(runs.map((r) => r.eventsPerSecond))
      const cpu = runStatistics(runs.map((r) => r.cpuSeconds))
      return {
        execution,
        runs,
        eventsPerSecond: rate.mean,
        rmePercent: runs.length > 1 ? rate.rmePercent : 0,
        cpuSeconds: cpu.mean,
        cpuMicrosecondsPerEvent: (cpu.mean * 1e6) / options.e2eEvents,
        peakRssBytes: Math.max(...runs.map((r) => r.peakRssBytes)),
      }
    })

    // Target: the faster of the two Sluice paths.
    const fastestKey: VariantKey =
      byKey('wasm').throughput.eventsPerSecond >= byKey('typescript').throughput.eventsPerSecond
        ? 'wasm'
        : 'typescript'
    const fastest = byKey(fastestKey)
    const met = fastest.throughput.eventsPerSecond >= TARGET_EVENTS_PER_SECOND
    const profiles: ProfileResult[] = []
    // Both Sluice paths: the faster one, and wasm, which runs by default.
    if (args.profile === 'always' || (args.profile === 'auto' && !met))
      for (const key of EXECUTIONS) profiles.push(await profileVariant(key))

    const wasm = byKey('wasm')
    const endToEnd: EndToEndFigures | undefined =
      e2eRuns === 0
        ? undefined
        : {
            source: 'this run',
            title: 'PipelineRunner on the embedded log',
            date: new Date().toISOString(),
            gitCommit: null,
            compareWith: wasm.name,
            variants: e2eSummary.map((s) => ({
              name: s.execution,
              eventsPerSecond: s.eventsPerSecond,
              rmePercent: s.rmePercent,
              peakRssBytes: s.peakRssBytes,
            })),
          }
    const report: BenchmarkReport = {
      name: NAME,
      title: 'Windowed aggregate: tumbling 1m, count/sum/min/max/avg by card',
      description: `A keyed 1-minute tumbling window over ${options.workload.keys!.toLocaleString('en-US')} cards with count, sum, min, max and avg of an f64 amount, run by the runtime’s WindowOperator on the WebAssembly store and on the TypeScript store, by the reference interpreter and by a hand-written loop, on the same decoded events (${options.workload.eventsPerSecond!.toLocaleString('en-US')} events per second of event time, so a window closes every ${(60 * options.workload.eventsPerSecond!).toLocaleString('en-US')} events), with the node end to end beside them.`,
      machine: machineInfo(REPO),
      parameters: {
        events: options.events,
        keys: options.workload.keys!,
        'events per second of event time': options.workload.eventsPerSecond!,
        'disorder (ms)': options.workload.disorderMs!,
        'watermark delay (ms)': WATERMARK_DELAY_MS,
        seed: options.workload.seed,
        'batch size': options.batchSize,
        rounds,
        'warmup passes per round': options.warmup,
        'timed passes per round': options.passes,
        'results per pass': reference.length,
        'results checksum': referenceDigest.digest,
        'interpreter timed on': `the first ${byKey('interpreter').throughput.eventsPerIteration} events, one pass per round, no warmup`,
        'check workload': `${options.checkEvents} events at ${options.checkRate} events/s of event time: ${checked.results} results, checksum ${checked.digest.digest}`,
        'end-to-end events': options.e2eEvents,
        'end-to-end runs per execution': e2eRuns,
        'end-to-end max records per batch': options.e2eBatch,
        isolation: 'each variant, round and end-to-end run in a fresh node process',
        'node flags': process.execArgv.join(' '),
        pipeline: windowPipeline().trim(),
      },
      variants,
      baseline: wasm.name,
      ratios: computeRatiosOf(
        variants,
        wasm.name,
        VARIANT_KEYS.filter((k) => k !== 'wasm').map((k) => VARIANTS[k]),
      ),
      targets: [
        {
          description: `fastest Sluice path (${fastestKey}) ≥ ${formatRate(TARGET_EVENTS_PER_SECOND)} events/s per core`,
          actual: `${formatRate(fastest.throughput.eventsPerSecond)} events/s`,
          met,
        },
      ],
      method: METHOD,
      rounds: combined.map((c) => ({ variant: c.result.name, eventsPerSecond: c.roundsEventsPerSecond })),
      latencyNote: `p50/p99/p999 are time per event: a batch’s processing time ÷ its ${options.batchSize.toLocaleString('en-US')} events, percentiles over batches. An amortised cost, not any event’s latency (see Method); per-batch times are in the JSON.`,
    }
    const e2eLines =
      e2eRuns === 0
        ? []
        : [
            '## End to end (this run: PipelineRunner, embedded log, FileSnapshotStore)',
            '',
            `${options.e2eEvents.toLocaleString('en-US')} JSON events appended first (untimed), then timed until the runner caught up; ${e2eRuns} run(s) per execution, each in a fresh process, alternating. Decode, the window, encode of the results, appends, offset commits and checkpoints are all in it.`,
            '',
            '| window execution | events/s | ± rme | CPU-s | CPU µs/event | peak RSS | in-process wasm ÷ this |',
            '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
            ...e2eSummary.map(
              (s) =>
                `| ${s.execution} | ${formatRate(s.eventsPerSecond)} | ${s.rmePercent.toFixed(2)}% | ${s.cpuSeconds.toFixed(2)} | ${s.cpuMicrosecondsPerEvent.toFixed(2)} | ${formatBytes(s.peakRssBytes)} | ${(wasm.throughput.eventsPerSecond / s.eventsPerSecond).toFixed(0)}× |`,
            ),
            '',
            `End to end, wasm ÷ typescript: ${formatRatio(e2eSummary[0]!.eventsPerSecond / e2eSummary[1]!.eventsPerSecond)} the events/s; typescript ÷ wasm: ${formatRatio(e2eSummary[1]!.cpuSeconds / e2eSummary[0]!.cpuSeconds)} the CPU-seconds.`,
            '',
            '| run | execution | events/s | processing | CPU-s | start-up | pre-append | batches | batch p99 | peak RSS | results |',
            '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
            ...e2e.map(
              (r, i) =>
                `| ${Math.floor(i / EXECUTIONS.length) + 1} | ${r.execution} | ${formatRate(r.eventsPerSecond)} | ${(r.processingMs / 1000).toFixed(2)} s | ${r.cpuSeconds.toFixed(2)} | ${r.startupMs.toFixed(0)} ms | ${(r.preAppendMs / 1000).toFixed(2)} s | ${r.batches} | ${formatNs(r.batchP99Ns)} | ${formatBytes(r.peakRssBytes)} | ${r.outputs} |`,
            ),
            '',
          ]
    const batchLines = [
      '## Time per batch',
      '',
      `| variant | p50 | p99 | p999 | max |`,
      '| --- | ---: | ---: | ---: | ---: |',
      ...Object.entries(batchNs).map(
        ([name, s]) =>
          `| ${name} | ${formatNs(s.p50)} | ${formatNs(s.p99)} | ${formatNs(s.p999)} | ${formatNs(s.max)} |`,
      ),
      '',
    ]
    // The shared renderer's end-to-end section quotes another report; this one's comes from this
    // run, with CPU time, so it is written here. The chart still shows its grey bars.
    const markdown = renderMarkdown(report).replace(
      '## Parameters',
      [...batchLines, ...e2eLines, ...profiles.flatMap(profileLines), '## Parameters'].join('\n'),
    )
    const withE2E = endToEnd === undefined ? report : { ...report, endToEnd }
    const svg = renderSvg(withE2E, {
      markerEventsPerSecond: TARGET_EVENTS_PER_SECOND,
      markerLabel: `target ${formatRate(TARGET_EVENTS_PER_SECOND)}`,
    }).replace('JSON out), from this run', 'JSON out), measured in this run')
    const paths = await writeReportFiles(
      args.out,
      NAME,
      { ...report, batchNs, endToEnd: e2eSummary, profiles },
      markdown,
      svg,
    )
    process.stdout.write(`\n${renderConsoleTable(withE2E)}`)
    for (const s of e2eSummary)
      process.stdout.write(
        `end to end ${s.execution}: ${formatRate(s.eventsPerSecond)} events/s, ${s.cpuSeconds.toFixed(2)} CPU-s (${s.cpuMicrosecondsPerEvent.toFixed(2)} µs/event), ${formatBytes(s.peakRssBytes)} peak RSS\n`,
      )
    for (const p of profiles) {
      const top = p.summary.functions.slice(0, 8).map((f) => `${f.name} ${pct(f.busyShare)}`)
      process.stdout.write(`profile of ${p.variant}: ${top.join(', ')}\n`)
    }
    process.stdout.write(`wrote ${paths.json}, ${paths.markdown}, ${paths.svg}\n`)
  } finally {
    await loaded.wasm.cleanup()
    await loaded.typescript.cleanup()
  }
}

await main()
