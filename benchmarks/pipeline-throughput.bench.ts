/**
 * End-to-end node throughput: the payments-like filter → select → key by pipeline run by the
 * PipelineRunner against a real log, on JSON-encoded events (bytes in the log, as in production).
 *
 *   npm run bench:pipeline                                      # 500k events, embedded variants
 *   npm run bench:pipeline -- --kafka localhost:19092           # plus Kafka (or SLUICE_KAFKA_BROKERS)
 *   node --import tsx benchmarks/pipeline-throughput.bench.ts --events 100000 --runs 1 --out /tmp/r
 *   npm run bench:pipeline -- --kafka localhost:19092 --kafka-only --kafka-parallel 1   # Kafka only
 *   npm run bench:pipeline -- --kafka localhost:19092 --kafka-only --compare-produce-encoder
 *     # Kafka variants also with kafkajs's own Produce encoder (before/after of decision 0027's addendum)
 *   npm run bench:pipeline -- --kafka localhost:19092 --kafka-only --commit-intervals 0,100,250,1000 --rounds 2
 *     # at-least-once once per offset-commit interval (0: after every batch), variants alternating
 *     # over 2 rounds of fresh processes (docs/decisions/0031-offset-commit-interval.md)
 *
 * Per run: N events are appended to a fresh source topic first (untimed), then the runner starts and
 * the clock runs until the group's committed offsets reach the end of every source partition
 * (`waitUntilCaughtUp`). events/s = N ÷ (caught up − first batch handed to the runner): decode +
 * chain + encode + append of the output + commit, with the log's fetch/read in between. The runner
 * start-up before the first batch (topic creation, Kafka group join) is reported separately.
 *
 * Per-batch latency comes from a Log decorator (lib/timed-log.ts) that wraps `subscribe` and times
 * every handler call, i.e. the runner's whole work on one batch, until its appends resolved.
 *
 * Variants, each in its own fresh node process (this script re-run with `--variant <name>`):
 * the embedded log under each durability policy ('none', every 100 ms (the commands' default),
 * 'batch'; runtime/log/embedded/durability.ts), and Kafka at-least-once and exactly-once when
 * brokers are given (`--kafka-parallel`, `--kafka-compression`: KafkaLogOptions). With a local
 * broker (`--broker-pid`, else scripts/servers/kafka.sh's pid file) its CPU-seconds are measured
 * over the same span as the node's, and both are reported per million input events.
 * When a variant misses its target (or with `--profile always`), it is run once more under
 * `node --cpu-prof` and the report lists what dominates the processing window of that profile.
 *
 * Warm-up: each Kafka variant's process first does `--warmup-runs` (default 1) runs that are left
 * out of every figure (as JMH's warm-up iterations are): the first run through a broker is slower
 * (the broker's JIT; its CPU-seconds per million were 2-3× those of later runs), which is not what a
 * running node sees. They are listed apart in the report.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadArtifact } from '../runtime/artifact/load.ts'
import type { Durability } from '../runtime/log/embedded/durability.ts'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import type { Log } from '../runtime/log/index.ts'
import { type KafkaCompression, KafkaLog } from '../runtime/log/kafka.ts'
import { useSluiceProduceEncoder } from '../runtime/log/kafka-produce-encoder.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'
import { type CpuProfile, type ProfileSummary, summarizeProfile } from './lib/cpu-profile.ts'
import { collectGarbage, PeakMemory, type VariantResult } from './lib/measure.ts'
import { paymentChunks, paymentPipeline } from './lib/payments.ts'
import { summarize } from './lib/percentile.ts'
import {
  type BenchmarkReport,
  computeRatios,
  formatBytes,
  formatNs,
  formatRate,
  machineInfo,
  renderConsoleTable,
  type TargetResult,
  writeReport,
} from './lib/report.ts'
import { runStatistics } from './lib/runs.ts'
import { timeNodeUntilCaughtUp } from './lib/timed-run.ts'

const NAME = 'pipeline-throughput'
const REPO = resolve(import.meta.dirname, '..')
const TARGET_EMBEDDED = 100_000
// Issue 15: at least 100,000 events/s end to end through the broker on this 2-core machine.
const TARGET_KAFKA = 100_000

const VARIANTS = {
  'embedded-none': { label: 'embedded, durability none', target: TARGET_EMBEDDED },
  'embedded-100ms': { label: 'embedded, durability 100ms (default)', target: TARGET_EMBEDDED },
  'embedded-batch': { label: 'embedded, durability batch', target: TARGET_EMBEDDED },
  kafka: { label: 'Kafka (3 partitions)', target: TARGET_KAFKA },
  'kafka-exactly-once': { label: 'Kafka exactly-once (3 partitions)', target: TARGET_KAFKA },
  // With --compare-produce-encoder: the same runs with kafkajs's own Produce encoder (the before).
  'kafka-kafkajs-encoder': { label: 'Kafka (3 partitions), kafkajs encoder', target: TARGET_KAFKA },
  'kafka-exactly-once-kafkajs-encoder': {
    label: 'Kafka exactly-once (3 partitions), kafkajs encoder',
    target: TARGET_KAFKA,
  },
} as const
type VariantName = keyof typeof VARIANTS

type KafkaVariant =
  | 'kafka'
  | 'kafka-exactly-once'
  | 'kafka-kafkajs-encoder'
  | 'kafka-exactly-once-kafkajs-encoder'
const isKafka = (variant: VariantName): variant is KafkaVariant => variant.startsWith('kafka')
const isExactlyOnce = (variant: VariantName): boolean => variant.startsWith('kafka-exactly-once')
const usesKafkajsEncoder = (variant: VariantName): boolean => variant.endsWith('-kafkajs-encoder')

const EMBEDDED_DURABILITY: Record<Exclude<VariantName, KafkaVariant>, Durability> = {
  'embedded-none': 'none',
  'embedded-100ms': { intervalMs: 100 },
  'embedded-batch': 'batch',
}

interface Options {
  readonly events: number
  readonly runs: number
  readonly seed: number
  readonly batch: number
  readonly partitions: number
  readonly brokers: string[]
  /** KafkaLogOptions.partitionsInParallel; undefined: the log's default. */
  readonly kafkaParallel: number | undefined
  readonly kafkaCompression: KafkaCompression | undefined
  /** The local broker's process, whose CPU time is measured beside the node's; undefined: not measured. */
  readonly brokerPid: number | undefined
  /** Only the Kafka variants (no embedded ones). */
  readonly kafkaOnly: boolean
  /** KafkaLogOptions.commitIntervalMs of this child; undefined: the log's default. */
  readonly commitIntervalMs: number | undefined
  /** Runs of each Kafka variant before the measured ones, left out of the figures. */
  readonly warmupRuns: number
  /** Times the list of variants is run (alternating), each time in fresh processes. */
  readonly rounds: number
}

/** A variant as the parent runs it: which one, and with which commit interval. */
interface VariantSpec {
  readonly key: VariantName
  readonly commitIntervalMs?: number
}

function specLabel(spec: VariantSpec): string {
  const base = VARIANTS[spec.key].label
  if (spec.commitIntervalMs === undefined) return base
  return `${base}, commit interval ${spec.commitIntervalMs === 0 ? '0 (every batch)' : `${spec.commitIntervalMs} ms`}`
}

/** One end-to-end run of a variant. */
interface RunResult {
  readonly eventsPerSecond: number
  /** First batch handed to the runner → caught up, ms. */
  readonly processingMs: number
  /** PipelineRunner.start called → first batch handed to the runner, ms. */
  readonly startupMs: number
  /** Appending the N input events beforehand (untimed for events/s), ms. */
  readonly preAppendMs: number
  readonly batches: number
  readonly outputs: number
  /** Time inside the runner's handler ÷ processing time: the rest is the log's fetch/read/commit and waiting. */
  readonly handlerShare: number
  /** CPU time (user + system) of the node process from runner start to caught up, seconds. */
  readonly cpuSeconds: number
  /** CPU time of the broker process over the same span, seconds; null when not measured. */
  readonly brokerCpuSeconds: number | null
  /** The processing window on process.hrtime's clock, µs (to cut a CPU profile to it). */
  readonly windowUs: { readonly startUs: number; readonly endUs: number }
}

interface ChildResult {
  readonly variant: VariantResult
  readonly key: VariantName
  readonly runs: readonly RunResult[]
  /** Warm-up runs before `runs`, in no figure. */
  readonly warmups: readonly RunResult[]
  /** Per-batch handler durations of `runs`, ns (to combine rounds). */
  readonly durationsNs: readonly number[]
}

async function openLog(
  variant: VariantName,
  options: Options,
): Promise<{ log: Log; cleanup: () => Promise<void> }> {
  if (isKafka(variant)) {
    const log = await KafkaLog.connect({
      brokers: options.brokers,
      clientId: 'sluice-bench',
      ...(options.kafkaParallel === undefined ? {} : { partitionsInParallel: options.kafkaParallel }),
      ...(options.commitIntervalMs === undefined ? {} : { commitIntervalMs: options.commitIntervalMs }),
      ...(options.kafkaCompression === undefined ? {} : { compression: options.kafkaCompression }),
    })
    // connect installed Sluice's encoder; the before-variants put kafkajs's back for this process.
    if (usesKafkajsEncoder(variant)) useSluiceProduceEncoder(false)
    return { log, cleanup: async () => {} }
  }
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-log-'))
  const durability = EMBEDDED_DURABILITY[variant]
  const log = await EmbeddedLog.open(dir, { durability })
  return { log, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

async function runOnce(
  variant: VariantName,
  options: Options,
  memory: PeakMemory,
  durations: number[],
): Promise<RunResult> {
  const id = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
  const source = `bench.payments.${id}`
  const sink = `bench.big-payments.${id}`
  const deadLetters = `bench.dead-letter.${id}`
  const artifactDir = await compileFixture(paymentPipeline(source, sink), 'payments', 'payments.pipe')
  const artifact = await loadArtifact(artifactDir)
  const { log, cleanup } = await openLog(variant, options)
  try {
    // Pre-append the input, encoded as the runner's sources expect it: JSON bytes.
    await log.ensureTopic(source, { partitions: options.partitions })
    let expected = 0
    const appendStarted = performance.now()
    for (const chunk of paymentChunks(options.events, options.seed, 10_000)) {
      for (const p of chunk) if (p.amount > 100 && p.country !== 'US') expected++
      await log.append(
        source,
        chunk.map((p) => ({ key: null, value: Buffer.from(JSON.stringify(p)), timestamp: p.ts })),
      )
    }
    const preAppendMs = performance.now() - appendStarted

    const brokerCpuAtStart = processCpuSeconds(options.brokerPid)
    const { timed, processingNs, startupMs, cpuSeconds, windowUs } = await timeNodeUntilCaughtUp(
      log,
      {
        artifact,
        group: `bench.${id}`,
        ...(isExactlyOnce(variant) ? { delivery: 'exactly-once' as const } : {}),
        partitions: options.partitions,
        maxBatchRecords: options.batch,
        deadLetterTopic: deadLetters,
      },
      memory,
      Math.max(300_000, options.events),
    )
    const brokerCpuAtEnd = processCpuSeconds(options.brokerPid)
    const brokerCpuSeconds =
      isKafka(variant) && brokerCpuAtStart !== null && brokerCpuAtEnd !== null
        ? brokerCpuAtEnd - brokerCpuAtStart
        : null
    for (const duration of timed.durationsNs) durations.push(duration)
    // Under exactly-once, transaction markers take offsets too: count the records themselves.
    const count = isExactlyOnce(variant) ? countRecords : sumOfEndOffsets
    const outputs = await count(log, sink)
    const dead = await count(log, deadLetters)
    if (timed.records !== options.events || outputs !== expected || dead !== 0 || timed.failures !== 0) {
      throw new Error(
        `${variant}: handled ${timed.records}/${options.events} records, wrote ${outputs}/${expected} outputs, ${dead} dead letters, ${timed.failures} failed batches`,
      )
    }
    return {
      eventsPerSecond: options.events / (processingNs / 1e9),
      processingMs: processingNs / 1e6,
      startupMs,
      preAppendMs,
      batches: timed.durationsNs.length,
      outputs,
      handlerShare: timed.handlerNs / processingNs,
      cpuSeconds,
      brokerCpuSeconds,
      windowUs,
    }
  } finally {
    await log.close()
    await cleanup()
    await rm(dirname(artifactDir), { recursive: true, force: true })
  }
}

async function measureChild(variant: VariantName, options: Options, label: string): Promise<ChildResult> {
  const warmups: RunResult[] = []
  const warmupRuns = isKafka(variant) ? options.warmupRuns : 0
  for (let r = 0; r < warmupRuns; r++) {
    process.stderr.write(`  ${variant}: warm-up run ${r + 1}/${warmupRuns} (not in the figures) …\n`)
    const run = await runOnce(variant, options, new PeakMemory(), [])
    process.stderr.write(`  ${variant}: warm-up ${formatRate(run.eventsPerSecond)} events/s\n`)
    warmups.push(run)
  }
  collectGarbage()
  const startHeapUsedBytes = process.memoryUsage().heapUsed
  const memory = new PeakMemory()
  const durations: number[] = []
  const runs: RunResult[] = []
  for (let r = 0; r < options.runs; r++) {
    process.stderr.write(`  ${variant}: run ${r + 1}/${options.runs} …\n`)
    const run = await runOnce(variant, options, memory, durations)
    process.stderr.write(
      `  ${variant}: ${formatRate(run.eventsPerSecond)} events/s (${run.processingMs.toFixed(0)} ms, start-up ${run.startupMs.toFixed(0)} ms, pre-append ${run.preAppendMs.toFixed(0)} ms)\n`,
    )
    runs.push(run)
  }
  collectGarbage()
  const endHeapUsedBytes = process.memoryUsage().heapUsed
  return {
    key: variant,
    runs,
    warmups,
    durationsNs: durations,
    variant: variantResult(label, runs, durations, options, {
      peakRssBytes: memory.peakRssBytes,
      peakHeapUsedBytes: memory.peakHeapUsedBytes,
      startHeapUsedBytes,
      endHeapUsedBytes,
    }),
  }
}

/** A variant's figures over its measured runs (of one round, or of all rounds together). */
function variantResult(
  name: string,
  runs: readonly RunResult[],
  durations: readonly number[],
  options: Options,
  memory: VariantResult['memory'],
): VariantResult {
  const stats = runStatistics(runs.map((r) => r.eventsPerSecond))
  const meanMs = runs.reduce((a, r) => a + r.processingMs, 0) / runs.length
  return {
    name,
    throughput: {
      eventsPerSecond: stats.mean,
      rmePercent: stats.rmePercent,
      iterations: runs.length,
      meanIterationMs: meanMs,
      eventsPerIteration: options.events,
      batchSize: options.batch,
      outputsPerIteration: runs[0]!.outputs,
    },
    latencyNs: { ...summarize([...durations]), batchSize: options.batch, batches: durations.length },
    memory,
  }
}

/** One variant's rounds (fresh processes, alternating with the other variants) as one result. */
function combineChildRounds(rounds: readonly ChildResult[], options: Options): ChildResult {
  const first = rounds[0]!
  if (rounds.length === 1) return first
  const runs = rounds.flatMap((r) => r.runs)
  const durationsNs = rounds.flatMap((r) => r.durationsNs)
  const peak = (pick: (m: VariantResult['memory']) => number) =>
    Math.max(...rounds.map((r) => pick(r.variant.memory)))
  return {
    key: first.key,
    runs,
    warmups: rounds.flatMap((r) => r.warmups),
    durationsNs,
    variant: variantResult(first.variant.name, runs, durationsNs, options, {
      peakRssBytes: peak((m) => m.peakRssBytes),
      peakHeapUsedBytes: peak((m) => m.peakHeapUsedBytes),
      startHeapUsedBytes: first.variant.memory.startHeapUsedBytes,
      endHeapUsedBytes: peak((m) => m.endHeapUsedBytes),
    }),
  }
}

/** Runs this script for one variant in a fresh node process; returns its result (last stdout line). */
function runChild(spec: VariantSpec, extraNodeFlags: string[], extraArgs: string[]): ChildResult {
  const stdout = execFileSync(
    process.execPath,
    [
      ...extraNodeFlags,
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      ...process.argv.slice(2),
      ...extraArgs,
      ...(spec.commitIntervalMs === undefined ? [] : ['--commit-interval', String(spec.commitIntervalMs)]),
      '--variant',
      spec.key,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  )
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1]!) as ChildResult
}

interface ProfileResult {
  readonly variant: string
  readonly eventsPerSecond: number
  readonly summary: ProfileSummary
}

/** One more run of `variant` under --cpu-prof; what its processing window spent time on. */
async function profileVariant(spec: VariantSpec): Promise<ProfileResult> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-prof-'))
  try {
    process.stderr.write(`profiling ${specLabel(spec)} (node --cpu-prof, one run) …\n`)
    const result = runChild(spec, ['--cpu-prof', `--cpu-prof-dir=${dir}`], ['--runs', '1'])
    // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: one per thread (tsx's loader hooks run
    // on a thread of their own); the main thread is thread 0.
    const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0')
    if (files.length !== 1)
      throw new Error(`expected one main-thread CPU profile in ${dir}, found ${files.length}`)
    const profile = JSON.parse(await readFile(join(dir, files[0]!), 'utf8')) as CpuProfile
    const summary = summarizeProfile(profile, { window: result.runs[0]!.windowUs, top: 15, root: REPO })
    return { variant: specLabel(spec), eventsPerSecond: result.runs[0]!.eventsPerSecond, summary }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const pct = (share: number) => `${(share * 100).toFixed(1)}%`

/** A sentence naming what dominates, from the profile data. */
function dominates(p: ProfileResult): string {
  const s = p.summary
  const busy = s.components.filter((c) => c.name !== 'idle (waiting for I/O)')
  const top = busy.slice(0, 4).map((c) => `${c.name} ${pct(c.busyShare)}`)
  const fns = s.functions.slice(0, 5).map((f) => `\`${f.name}\` ${pct(f.busyShare)}`)
  return (
    `${p.variant}: the main thread was idle ${pct(s.totalUs > 0 ? s.idleUs / s.totalUs : 0)} of the processing window (waiting for I/O: disk syncs, the broker). ` +
    `Of the busy time, by component: ${top.join(', ')}. Heaviest functions (self time, share of busy time): ${fns.join(', ')}.`
  )
}

function endToEndSection(children: readonly ChildResult[], options: Options): string[] {
  const lines = [
    '## End to end, per run',
    '',
    `events/s = ${options.events.toLocaleString('en-US')} events ÷ (caught up − first batch handed to the runner). Start-up (runner start → first batch: topic creation, Kafka group join) and the pre-append of the input are not in it. CPU-s is the node process's user + system time from runner start to caught up; broker CPU-s is the local Kafka broker process's over the same span (read from /proc/<pid>/stat; — when not measured). Per 1M: CPU-seconds per million input events, steadier than events/s on a shared machine. "in handler" is the share of the processing time spent inside the runner's batch handler; the rest is the log's own work between batches (read/fetch, offset commit) and waiting.`,
    '',
    '| variant | run | events/s | processing | CPU-s | CPU-s per 1M | broker CPU-s per 1M | start-up | pre-append | batches | records/batch | in handler | outputs |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  const perMillion = (seconds: number) => ((seconds * 1e6) / options.events).toFixed(2)
  for (const child of children) {
    const rows = [
      ...child.warmups.map((r, i) => ({ r, run: `warm-up ${i + 1} (excluded)` })),
      ...child.runs.map((r, i) => ({ r, run: String(i + 1) })),
    ]
    rows.forEach(({ r, run }) => {
      lines.push(
        `| ${child.variant.name} | ${run} | ${formatRate(r.eventsPerSecond)} | ${(r.processingMs / 1000).toFixed(2)} s | ${r.cpuSeconds.toFixed(2)} | ${perMillion(r.cpuSeconds)} | ${r.brokerCpuSeconds === null ? '—' : perMillion(r.brokerCpuSeconds)} | ${r.startupMs.toFixed(0)} ms | ${(r.preAppendMs / 1000).toFixed(2)} s | ${r.batches} | ${(options.events / r.batches).toFixed(0)} | ${pct(r.handlerShare)} | ${r.outputs} |`,
      )
    })
  }
  lines.push('')
  return [...lines, ...warmupSection(children, options)]
}

/** What the warm-up runs cost compared with the measured ones: why they are left out. */
function warmupSection(children: readonly ChildResult[], options: Options): string[] {
  const warmed = children.filter((c) => c.warmups.length > 0)
  if (warmed.length === 0) return []
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  const perMillion = (runs: readonly RunResult[], pick: (r: RunResult) => number | null) => {
    const values = runs.map(pick).filter((v): v is number => v !== null)
    return values.length === 0 ? null : (mean(values) * 1e6) / options.events
  }
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null || b === 0 ? '—' : `${(a / b).toFixed(2)}×`
  const lines = [
    '## Warm-up runs (left out of the figures)',
    '',
    `Each Kafka variant's process (one per round) first made ${options.warmupRuns} warm-up run(s), measured like the others and left out of every figure above (as JMH's warm-up iterations): the first run through the broker pays for its JIT and for the client's first connections. Mean of the warm-up runs vs mean of the measured runs of the same process(es):`,
    '',
    '| variant | events/s warm-up | events/s measured | CPU-s per 1M warm-up ÷ measured | broker CPU-s per 1M warm-up ÷ measured | with the warm-up counted (before): events/s |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const c of warmed) {
    const all = [...c.warmups, ...c.runs]
    lines.push(
      `| ${c.variant.name} | ${formatRate(mean(c.warmups.map((r) => r.eventsPerSecond)))} | ${formatRate(mean(c.runs.map((r) => r.eventsPerSecond)))} | ${ratio(
        perMillion(c.warmups, (r) => r.cpuSeconds),
        perMillion(c.runs, (r) => r.cpuSeconds),
      )} | ${ratio(
        perMillion(c.warmups, (r) => r.brokerCpuSeconds),
        perMillion(c.runs, (r) => r.brokerCpuSeconds),
      )} | ${formatRate(mean(all.map((r) => r.eventsPerSecond)))} |`,
    )
  }
  lines.push('')
  return lines
}

function profileSection(profiles: readonly ProfileResult[]): string[] {
  if (profiles.length === 0) return []
  const lines = [
    '## Profile: what dominates',
    '',
    'Each variant that missed its target was run once more under `node --cpu-prof` (1 ms sampling; the profiled run is slower than the measured ones and is not in the figures above). Only samples inside the processing window (first batch → caught up) are counted. Shares of busy time exclude the idle samples; self time only (a function’s callees are counted separately). V8 charges its own builtins to the JS function that calls them: the self time of the runner’s `decode` is mostly `JSON.parse` (plus the inlined generated decoder), that of the generated `encodeN` mostly string building / `JSON.stringify`; C++ bindings (`utf8Slice`, `utf8Write`, `writeBuffer`, `fdatasync`) and `crc32` appear on their own.',
    '',
  ]
  for (const p of profiles) {
    const s = p.summary
    lines.push(
      `### ${p.variant}`,
      '',
      `Profiled run: ${formatRate(p.eventsPerSecond)} events/s; ${(s.totalUs / 1e6).toFixed(2)} s sampled${s.windowed ? ' in the processing window' : ' (whole process: the window matched no samples)'}, idle ${pct(s.idleUs / Math.max(1, s.totalUs))}.`,
      '',
      dominates(p),
      '',
      '| component | self time | share of busy time |',
      '| --- | ---: | ---: |',
      ...s.components
        .filter((c) => c.name !== 'idle (waiting for I/O)')
        .slice(0, 12)
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
    )
  }
  return lines
}

const METHOD = [
  'Input: N payments (seeded PRNG; ~50% pass the filter, 10,000 distinct cards) are JSON-encoded and appended to a fresh source topic (unique topic names and consumer group per run) with null keys, i.e. round-robin over the partitions, in appends of 10,000 records. This pre-append is not timed for events/s.',
  'Throughput: the PipelineRunner starts on the loaded artifact (compiled from the .pipe text above) and the clock runs from the first batch the log hands to the runner until `waitUntilCaughtUp` sees the group’s committed offsets at the end of every source partition (it polls every 25 ms). That covers decode (JSON.parse + schema decode), the fused chain, encode (JSON.stringify + Buffer), append of the output (with durability batch its fdatasync, shared by the appends in flight; every 100 ms one background round syncs data and offsets; none never syncs; acks=all with Kafka) and the offset commit, plus the log’s read/fetch between batches. events/s is the mean over runs; ± rme is the 95% confidence half-width of that mean (Student’s t over runs; 0 for one run). Runs of a variant share one process, so later runs run on warm JIT. With an offset-commit interval (at-least-once, KafkaLogOptions.commitIntervalMs) the clock also waits for the last background commit, up to that interval after the last batch.',
  'Warm-up: each Kafka variant’s process first makes one warm-up run (`--warmup-runs`), measured exactly like the others and left out of every figure (as JMH’s warm-up iterations are); the report lists it apart with what it cost. The first run through the broker is slower for reasons a long-running node does not see (the broker’s and the client’s JIT, first connections). The embedded variants have none. With `--rounds R` the list of variants is run R times in alternation (A B C, A B C), each time in fresh processes with their own warm-up, and each variant’s measured runs of all rounds are combined.',
  'Latency: a Log decorator (benchmarks/lib/timed-log.ts) wraps `subscribe` and times each handler call with process.hrtime.bigint(): one sample per batch (up to the batch size records), from the log calling the runner until the runner’s appends resolved. It does not include the log’s read/fetch before or commit after the handler. p50/p99/p999 are nearest-rank percentiles over all batches of all runs. The table shows them per batch, not per event.',
  'Memory: process.memoryUsage() every 50 ms and every 64 batches while the runner processes, plus once at caught-up; peak RSS and peak heap used of that variant’s own process. Heap after GC: after a full GC once all runs closed their logs.',
  'Isolation: each variant runs in a fresh node process with the same node flags. The Kafka broker (one KRaft node, scripts/servers/kafka.sh) runs on the same 2-core machine, so it competes with the node process for CPU.',
]

function parseOptions() {
  return parseArgs({
    options: {
      events: { type: 'string', default: '500000' },
      runs: { type: 'string', default: '3' },
      seed: { type: 'string', default: '42' },
      batch: { type: 'string', default: '1000' },
      partitions: { type: 'string', default: '3' },
      kafka: { type: 'string' },
      'kafka-parallel': { type: 'string' },
      'kafka-compression': { type: 'string' },
      'kafka-only': { type: 'boolean', default: false },
      'compare-produce-encoder': { type: 'boolean', default: false },
      'broker-pid': { type: 'string' },
      'commit-intervals': { type: 'string' },
      'commit-interval': { type: 'string' },
      'warmup-runs': { type: 'string', default: '1' },
      rounds: { type: 'string', default: '1' },
      profile: { type: 'string', default: 'auto' },
      out: { type: 'string', default: join(import.meta.dirname, 'reports') },
      variant: { type: 'string' },
    },
  }).values
}

async function main(): Promise<void> {
  const args = parseOptions()
  const brokersText = args.kafka ?? process.env.SLUICE_KAFKA_BROKERS ?? ''
  const options: Options = {
    events: Number(args.events),
    runs: Number(args.runs),
    seed: Number(args.seed),
    batch: Number(args.batch),
    partitions: Number(args.partitions),
    brokers: brokersText
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b.length > 0),
    kafkaParallel: args['kafka-parallel'] === undefined ? undefined : Number(args['kafka-parallel']),
    kafkaCompression: args['kafka-compression'] as KafkaCompression | undefined,
    brokerPid: await brokerPid(args['broker-pid']),
    kafkaOnly: args['kafka-only'] === true,
    commitIntervalMs: args['commit-interval'] === undefined ? undefined : Number(args['commit-interval']),
    warmupRuns: Number(args['warmup-runs']),
    rounds: Number(args.rounds),
  }
  const zeroAllowed = new Set(['commitIntervalMs', 'warmupRuns'])
  for (const [key, value] of Object.entries(options)) {
    const least = zeroAllowed.has(key) ? 0 : 1
    if (typeof value === 'number' && !(Number.isInteger(value) && value >= least))
      throw new RangeError(`--${key} must be an integer of at least ${least}, got ${value}`)
  }
  const commitIntervals = (args['commit-intervals'] ?? '')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s) => Number(s))
  if (commitIntervals.some((ms) => !(Number.isInteger(ms) && ms >= 0)))
    throw new RangeError(`--commit-intervals must list whole milliseconds, got ${args['commit-intervals']}`)
  if (!['auto', 'always', 'never'].includes(args.profile))
    throw new RangeError(`--profile must be auto, always or never, got ${args.profile}`)

  if (args.variant !== undefined) {
    // Child mode: measure one variant in this fresh process, print the result as one JSON line.
    if (!(args.variant in VARIANTS)) throw new Error(`unknown variant '${args.variant}'`)
    const key = args.variant as VariantName
    const result = await measureChild(
      key,
      options,
      specLabel({
        key,
        ...(options.commitIntervalMs === undefined ? {} : { commitIntervalMs: options.commitIntervalMs }),
      }),
    )
    process.stdout.write(`${JSON.stringify(result)}\n`)
    // kafkajs may leave timers behind after disconnecting; --cpu-prof writes its file on exit.
    process.exit(0)
  }

  const names: VariantSpec[] = (
    options.kafkaOnly ? [] : (['embedded-none', 'embedded-100ms', 'embedded-batch'] as const)
  ).map((key) => ({ key }))
  if (options.brokers.length > 0 && args['compare-produce-encoder'] === true) {
    // Before and after side by side, alternating, so the machine's load hits both alike.
    for (const key of [
      'kafka-kafkajs-encoder',
      'kafka',
      'kafka-exactly-once-kafkajs-encoder',
      'kafka-exactly-once',
    ] as const)
      names.push({ key })
  } else if (options.brokers.length > 0 && commitIntervals.length > 0) {
    // At-least-once once per commit interval (decision 0031), exactly-once beside them.
    for (const commitIntervalMs of commitIntervals) names.push({ key: 'kafka', commitIntervalMs })
    names.push({ key: 'kafka-exactly-once' })
  } else if (options.brokers.length > 0) names.push({ key: 'kafka' }, { key: 'kafka-exactly-once' })
  // Rounds alternate the variants (A B C, A B C), each in a fresh process, so the load of a shared
  // machine changing meanwhile hits every variant alike.
  const rounds: ChildResult[][] = names.map(() => [])
  for (let round = 0; round < options.rounds; round++) {
    for (const [i, spec] of names.entries()) {
      process.stderr.write(
        `measuring ${specLabel(spec)} (fresh process${options.rounds > 1 ? `, round ${round + 1}/${options.rounds}` : ''}) …\n`,
      )
      rounds[i]!.push(runChild(spec, [], []))
    }
  }
  const children = rounds.map((r) => combineChildRounds(r, options))

  const targets: TargetResult[] = []
  const missed: VariantSpec[] = []
  for (const [i, child] of children.entries()) {
    const { target } = VARIANTS[child.key]
    const rate = child.variant.throughput.eventsPerSecond
    const met = rate >= target
    if (!met) missed.push(names[i]!)
    targets.push({
      description: isKafka(child.key)
        ? `${child.variant.name} ≥ ${target.toLocaleString('en-US')} events/s end to end`
        : `${child.variant.name}: embedded ≥ ${target.toLocaleString('en-US')} events/s`,
      actual: `${formatRate(rate)} events/s`,
      met,
    })
  }
  const toProfile =
    args.profile === 'always'
      ? names
      : args.profile === 'never'
        ? []
        : names.filter((n) => missed.includes(n))
  const profiles: ProfileResult[] = []
  for (const name of toProfile) profiles.push(await profileVariant(name))

  const variants = children.map((c) => c.variant)
  const baseline = variants[0]!.name
  const report: BenchmarkReport & { runs: unknown; profiles: unknown } = {
    name: NAME,
    title: 'Pipeline throughput: filter → select → key by, end to end',
    description:
      'The PipelineRunner on a compiled payments pipeline, reading JSON-encoded events from a log topic and writing its keyed output back: decode + fused chain + encode + append + commit, per log implementation (~50% of events pass the filter).',
    machine: machineInfo(REPO),
    parameters: {
      events: options.events,
      'runs per variant': options.runs,
      'warm-up runs per Kafka variant (not in the figures)': options.warmupRuns,
      rounds: options.rounds,
      'kafka commit interval (at-least-once)':
        commitIntervals.length > 0 ? `${commitIntervals.join(', ')} ms (one variant each)` : 'default',
      seed: options.seed,
      'max records per batch': options.batch,
      partitions: options.partitions,
      kafka:
        options.brokers.length > 0
          ? options.brokers.join(',')
          : 'not run (no --kafka / SLUICE_KAFKA_BROKERS)',
      'kafka partitions in parallel': options.kafkaParallel ?? 'default',
      'kafka compression': options.kafkaCompression ?? 'default',
      'broker CPU measured': options.brokerPid === undefined ? 'no' : `pid ${options.brokerPid}`,
      'load average at start': loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
      'events emitted per run': children[0]!.variant.throughput.outputsPerIteration,
      isolation: 'each variant in a fresh node process',
      'node flags': process.execArgv.join(' '),
      pipeline: paymentPipeline('payments', 'big-payments').trim(),
    },
    variants,
    baseline,
    ratios: computeRatios(variants, baseline),
    targets,
    method: METHOD,
    runs: Object.fromEntries(children.map((c) => [c.variant.name, c.runs])),
    profiles,
  }
  const paths = await writeReport(args.out, report, {
    markerEventsPerSecond: TARGET_EMBEDDED,
    markerLabel: `target ${formatRate(TARGET_EMBEDDED)} (embedded)`,
  })
  // The shared renderer describes per-event latencies and per-core rates; here they are per batch
  // and end to end. Add the per-run table and the profile findings before the parameters.
  const markdown = (await readFile(paths.markdown, 'utf8'))
    .replace(
      'Latencies are per event (see Method).',
      `Latencies are per batch (one runner handler call, up to ${options.batch} records; see Method). Peak heap / RSS while processing.`,
    )
    .replace(
      '## Parameters',
      [...endToEndSection(children, options), ...profileSection(profiles), '## Parameters'].join('\n'),
    )
  await writeFile(paths.markdown, markdown)
  const svg = (await readFile(paths.svg, 'utf8')).replace(': events/s per core', ': events/s end to end')
  await writeFile(paths.svg, svg)

  process.stdout.write(`\n${renderConsoleTable(report)}`)
  for (const p of profiles) process.stdout.write(`${dominates(p)}\n`)
  process.stdout.write(
    `latency is per batch (p50/p99/p999 over ${variants.map((v) => v.latencyNs.batches).join('/')} batches); memory ${variants.map((v) => formatBytes(v.memory.peakRssBytes)).join('/')} peak RSS; p99 ${variants.map((v) => formatNs(v.latencyNs.p99)).join('/')}\n`,
  )
  process.stdout.write(`wrote ${paths.json}, ${paths.markdown}, ${paths.svg}\n`)
}

async function sumOfEndOffsets(log: Log, topic: string): Promise<number> {
  return (await log.endOffsets(topic)).reduce((a, b) => a + b, 0)
}

/** The records of every partition of `topic`, read to its end. */
async function countRecords(log: Log, topic: string): Promise<number> {
  const ends = await log.endOffsets(topic)
  let count = 0
  for (const [partition, end] of ends.entries()) {
    for (let next = 0; next < end; ) {
      const records = await log.read(topic, partition, next, 50_000)
      if (records.length === 0) break
      count += records.length
      next = records[records.length - 1]!.offset + 1
    }
  }
  return count
}

/** User + system CPU seconds of process `pid` so far (Linux /proc), or null when it cannot be read. */
function processCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null
  try {
    // Fields after the command name (which may hold spaces, so split after its closing paren).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return null
  }
}
/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100

/** --broker-pid, else the pid file of the broker scripts/servers/kafka.sh started, if it runs here. */
async function brokerPid(flag: string | undefined): Promise<number | undefined> {
  const text =
    flag ??
    (await readFile(
      join(process.env.SLUICE_RUN_DIR ?? join(REPO, '.cache', 'run'), 'kafka', 'kafka.pid'),
      'utf8',
    ).catch(() => undefined))
  const pid = text === undefined ? Number.NaN : Number(text.trim())
  return Number.isInteger(pid) && processCpuSeconds(pid) !== null ? pid : undefined
}

await main()
