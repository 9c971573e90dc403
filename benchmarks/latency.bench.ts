/**
 * Latency of a node under a fixed offered load, open loop: the real PipelineRunner on the compiled
 * payments pipeline, fed by a producer that appends events at their intended send times (the
 * schedule, not when the previous append returned), so queueing cannot hide (coordinated
 * omission). Per offered rate it reports, per output event, in HDR histograms (p50/p99/p999/max):
 *
 *   read → handoff     the log handed the batch to the runner → its outputs handed to log.append
 *   read → durable     → that append resolved
 *   offered → durable  the event's intended send time → durable
 *
 * and the highest rate "held": achieved rate ≥ 97 % of the offered and p99 read → handoff < 1 ms.
 * Plus GC pause time (PerformanceObserver 'gc'), CPU time and peak RSS in the measured window.
 *
 *   npm run bench:latency                                   # embedded log, every durability policy
 *   npm run bench:latency -- --kafka 127.0.0.1:19092        # plus Kafka (or SLUICE_KAFKA_BROKERS)
 *   node --import tsx benchmarks/latency.bench.ts --rates 50000,100000 --warmup 1 --duration 2
 *
 * Each variant (log and durability policy) runs in a fresh node process (this script again with
 * `--variant NAME`); its rates run one after another in that process, each on fresh topics (and a
 * fresh data directory for the embedded log) with a new runner. The search goes up the rates and
 * stops after the first rate at which the node falls clearly behind (achieved < 90 % of offered);
 * when no listed rate was held it halves the lowest one until a rate is held or --min-rate.
 * The producer runs in the node's process (the embedded log is one process by design), so its
 * appends compete with the runner for the same thread, as a co-located producer would.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PerformanceObserver } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadArtifact } from '../runtime/artifact/load.ts'
import { COMMAND_DEFAULT_DURABILITY } from '../runtime/log/embedded/durability.ts'
import { EmbeddedLog, type EmbeddedLogOptions } from '../runtime/log/embedded.ts'
import type { Log, OutgoingRecord } from '../runtime/log/index.ts'
import { KafkaLog } from '../runtime/log/kafka.ts'
import { MetricsRegistry } from '../runtime/metrics/registry.ts'
import { PipelineRunner } from '../runtime/node/pipeline-runner.ts'
import { LatencyProbeLog } from './lib/latency-probe-log.ts'
import {
  formatRate,
  heldRate,
  type LatencyReport,
  type RateResult,
  renderLatencyMarkdown,
  type VariantLatency,
  writeLatencyReport,
} from './lib/latency-report.ts'
import { collectGarbage } from './lib/measure.ts'
import { OpenLoopProducer, OpenLoopSchedule } from './lib/open-loop.ts'
import { paymentChunks, paymentPipeline } from './lib/payments.ts'
import { nextRate, type RateOutcome } from './lib/rate-search.ts'
import { formatNs, machineInfo } from './lib/report.ts'

const NAME = 'latency'
const BIN = join(import.meta.dirname, '..', 'bin', 'sluice.js')
/** p99 read → handoff must stay under this for a rate to be held. */
const P99_LIMIT_NS = 1e6
/** A rate is held when the achieved rate is at least this share of the offered. */
const HELD_SHARE = 0.97
/** Below this share the node is overloaded and higher rates are not tried. */
const OVERLOAD_SHARE = 0.9
const DEFAULT_RATES = '20000,50000,100000,150000,200000,300000,400000,600000'

interface EmbeddedVariant {
  readonly label: string
  readonly kind: 'embedded'
  readonly options: EmbeddedLogOptions
}
interface KafkaVariant {
  readonly label: string
  readonly kind: 'kafka'
}
/** One entry per durability policy the embedded log offers (embedded/durability.ts), plus Kafka. */
const VARIANTS: Record<string, EmbeddedVariant | KafkaVariant> = {
  'embedded-batch': {
    label: "embedded, durability 'batch'",
    kind: 'embedded',
    options: { durability: 'batch' },
  },
  'embedded-100ms': {
    label: 'embedded, durability every 100 ms',
    kind: 'embedded',
    options: { durability: COMMAND_DEFAULT_DURABILITY },
  },
  'embedded-none': {
    label: "embedded, durability 'none'",
    kind: 'embedded',
    options: { durability: 'none' },
  },
  kafka: { label: 'Kafka (acks=all)', kind: 'kafka' },
}

interface Options {
  readonly rates: number[]
  readonly warmupSeconds: number
  /** At least this many warm-up events per rate, however low the rate (the JIT needs the calls). */
  readonly warmupEvents: number
  /** The downward search (when no listed rate is held) stops below this rate. */
  readonly minRate: number
  readonly durationSeconds: number
  readonly batch: number
  readonly partitions: number
  readonly seed: number
  readonly brokers: string[]
}

/** Nanoseconds on the same clock as performance.now(). */
const clockNs = (): number => performance.now() * 1e6

/** Distinct events the producer cycles through, encoded up to their `ts` value once. */
const POOL = 65_536

interface EventPool {
  /** Each event's JSON up to and including `"ts":`; the send appends the timestamp and `}`. */
  readonly prefixes: string[]
  readonly keys: string[]
  /** Whether the pipeline's filter passes pool entry i (so the expected output count is known). */
  readonly passes: boolean[]
}

function eventPool(seed: number): EventPool {
  const prefixes: string[] = []
  const keys: string[] = []
  const passes: boolean[] = []
  for (const chunk of paymentChunks(POOL, seed, POOL)) {
    for (const p of chunk) {
      const json = JSON.stringify(p)
      const cut = json.lastIndexOf('"ts":') + 5
      if (cut < 5 || !json.endsWith(`${p.ts}}`)) throw new Error(`unexpected payment encoding: ${json}`)
      prefixes.push(json.slice(0, cut))
      keys.push(p.card)
      passes.push(p.amount > 100 && p.country !== 'US')
    }
  }
  return { prefixes, keys, passes }
}

/**
 * The event's `ts` (its event time, which the sink writes as the output's record timestamp) and
 * the source record's timestamp say which event a record is: base + seq ms. The base is a day back, so even 600,000 events/s for 10 s stays in the past
 * (Kafka refuses timestamps too far ahead; an event-time sink copies them to the outputs).
 */
function timestampBase(): number {
  return Date.now() - 86_400_000
}

async function openLog(
  variant: EmbeddedVariant | KafkaVariant,
  options: Options,
): Promise<{ log: Log; cleanup: () => Promise<void> }> {
  if (variant.kind === 'kafka') {
    const log = await KafkaLog.connect({ brokers: options.brokers, clientId: 'sluice-latency-bench' })
    return { log, cleanup: async () => {} }
  }
  const dir = await mkdtemp(join(tmpdir(), 'sluice-latency-log-'))
  const log = await EmbeddedLog.open(dir, variant.options)
  return { log, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/**
 * Compiles with `sluice compile` in a child process: the compiler's heap (ts-morph, TypeScript)
 * never lives in the measured process, where it would lengthen every major GC.
 */
async function compilePipeline(text: string): Promise<string> {
  const out = join(await mkdtemp(join(tmpdir(), 'sluice-latency-artifact-')), 'payments')
  execFileSync(process.execPath, [BIN, 'compile', '-', '--name', 'payments', '-o', out], {
    input: text,
    stdio: ['pipe', 'ignore', 'pipe'],
  })
  return out
}

/** GC pauses reported by V8, kept with their start time to cut them to a window. */
class GcPauses {
  private readonly pauses: { startMs: number; durationMs: number }[] = []
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      this.pauses.push({ startMs: entry.startTime, durationMs: entry.duration })
  })

  constructor() {
    this.observer.observe({ entryTypes: ['gc'] })
  }

  /** Pauses that began in [fromMs, toMs) on performance.now()'s clock. */
  within(fromMs: number, toMs: number): { count: number; totalMs: number; maxMs: number } {
    let count = 0
    let totalMs = 0
    let maxMs = 0
    for (const p of this.pauses) {
      if (p.startMs < fromMs || p.startMs >= toMs) continue
      count++
      totalMs += p.durationMs
      if (p.durationMs > maxMs) maxMs = p.durationMs
    }
    return { count, totalMs, maxMs }
  }

  /** Lets pending entries be delivered (the observer's callback runs asynchronously). */
  async flush(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function waitFor(condition: () => boolean, timeoutMs: number, pollMs = 5): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) return false
    await sleep(pollMs)
  }
  return true
}

/** One offered rate on a fresh topic set and a new runner. */
async function runRate(
  variant: EmbeddedVariant | KafkaVariant,
  rate: number,
  options: Options,
  pool: EventPool,
  gc: GcPauses,
): Promise<RateResult> {
  const id = `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`
  const source = `bench.latency.in.${id}`
  const sink = `bench.latency.out.${id}`
  const deadLetters = `bench.latency.dead-letter.${id}`
  const artifactDir = await compilePipeline(paymentPipeline(source, sink))
  const artifact = await loadArtifact(artifactDir)
  const { log, cleanup } = await openLog(variant, options)
  // At least the minimum warm-up events, but no more than 10 s of them at a low rate.
  const warmupEvents = Math.max(
    Math.round(rate * options.warmupSeconds),
    Math.min(options.warmupEvents, Math.round(rate * 10)),
  )
  const measuredEvents = Math.round(rate * options.durationSeconds)
  const total = warmupEvents + measuredEvents
  // seq 0 is a primer sent before the clock starts (it waits out Kafka's group join); the
  // producer's event s is seq s + 1.
  const base = timestampBase()
  let schedule: OpenLoopSchedule | null = null
  const probe = new LatencyProbeLog(log, {
    outputTopic: sink,
    events: total + 1,
    measureFromSeq: warmupEvents + 1,
    seqOf: (timestamp) => timestamp - base,
    intendedNs: (seq) => schedule!.intendedNs(seq - 1),
    clock: clockNs,
  })
  let expectedOutputs = 0
  for (let s = warmupEvents; s < total; s++) if (pool.passes[(s + 1) % POOL]) expectedOutputs++
  const record = (seq: number): OutgoingRecord => {
    const i = seq % POOL
    const timestamp = base + seq
    return { key: pool.keys[i]!, value: Buffer.from(`${pool.prefixes[i]}${timestamp}}`), timestamp }
  }
  let runner: PipelineRunner | null = null
  let peakRss = 0
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss()
    if (rss > peakRss) peakRss = rss
  }, 20)
  try {
    await log.ensureTopic(source, { partitions: options.partitions })
    runner = await PipelineRunner.start({
      log: probe,
      artifact,
      metrics: new MetricsRegistry(),
      group: `bench.latency.${id}`,
      partitions: options.partitions,
      maxBatchRecords: options.batch,
      deadLetterTopic: deadLetters,
    })
    await log.append(source, [record(0)])
    if (!(await waitFor(() => probe.recordsRead >= 1, 60_000, 10)))
      throw new Error(`${variant.label}: the runner did not read the primer within 60 s`)
    collectGarbage()

    const origin = clockNs()
    schedule = new OpenLoopSchedule(rate, origin)
    const producer = new OpenLoopProducer(log, source, schedule, total, (s) => record(s + 1), clockNs)
    const windowStartNs = schedule.intendedNs(warmupEvents)
    const scheduleEndNs = schedule.intendedNs(total - 1)
    let cpuAtWindow: NodeJS.CpuUsage | null = null
    let batchesAtWindow = 0
    let readAtWindow = 0
    const windowTimer = setTimeout(
      () => {
        cpuAtWindow = process.cpuUsage()
        batchesAtWindow = probe.batches
        readAtWindow = probe.recordsRead
      },
      Math.max(0, (windowStartNs - clockNs()) / 1e6),
    )
    producer.start()
    const catchUpMs = Math.max(10_000, options.durationSeconds * 2000)
    const scheduleMs = (scheduleEndNs - origin) / 1e6
    const caughtUp = await waitFor(
      () => probe.outputsDurable >= expectedOutputs || producer.failed,
      scheduleMs + catchUpMs,
      10,
    )
    producer.stop()
    clearTimeout(windowTimer)
    if (producer.failed) throw new Error(`${variant.label}: the producer's append failed`)
    const endNs = caughtUp ? (probe.lastDurableNs ?? clockNs()) : clockNs()
    const cpu = process.cpuUsage(cpuAtWindow ?? undefined)
    await gc.flush()
    const pauses = gc.within(windowStartNs / 1e6, endNs / 1e6)
    if (probe.failedAppends > 0)
      throw new Error(`${variant.label}: ${probe.failedAppends} output appends failed`)
    const windowSeconds = (Math.max(endNs, scheduleEndNs) - windowStartNs) / 1e9
    const achieved = (measuredEvents * (probe.outputsDurable / expectedOutputs)) / windowSeconds
    const result: RateResult = {
      offered: rate,
      achieved,
      caughtUp,
      measuredEvents,
      measuredOutputs: probe.outputsDurable,
      expectedOutputs,
      windowSeconds,
      readToHandoff: probe.readToHandoff.summary(),
      readToDurable: probe.readToDurable.summary(),
      offeredToDurable: probe.offeredToDurable.summary(),
      gc: pauses,
      cpu: {
        userSeconds: cpu.user / 1e6,
        systemSeconds: cpu.system / 1e6,
        utilisation: (cpu.user + cpu.system) / 1e6 / windowSeconds,
      },
      peakRssBytes: Math.max(peakRss, process.memoryUsage.rss()),
      batches: probe.batches - batchesAtWindow,
      recordsPerBatch: (probe.recordsRead - readAtWindow) / Math.max(1, probe.batches - batchesAtWindow),
      producer: { appends: producer.appends, largestGroup: producer.largestGroup },
      held: false,
    }
    return { ...result, held: heldRate(result, P99_LIMIT_NS, HELD_SHARE) }
  } finally {
    clearInterval(sampler)
    await runner?.stop().catch(() => {})
    await log.close().catch(() => {})
    await cleanup()
    await rm(dirname(artifactDir), { recursive: true, force: true })
  }
}

async function measureChild(name: string, options: Options): Promise<VariantLatency> {
  const variant = VARIANTS[name]!
  const pool = eventPool(options.seed)
  const gc = new GcPauses()
  const rates: RateResult[] = []
  const outcomes: RateOutcome[] = []
  for (
    let rate = nextRate(outcomes, options.rates, options.minRate);
    rate !== null;
    rate = nextRate(outcomes, options.rates, options.minRate)
  ) {
    process.stderr.write(`  ${variant.label}: ${formatRate(rate)} events/s offered …\n`)
    const r = await runRate(variant, rate, options, pool, gc)
    process.stderr.write(
      `  ${variant.label}: ${formatRate(r.offered)} offered, ${formatRate(r.achieved)} achieved; read→handoff p50 ${formatNs(r.readToHandoff.p50)} p99 ${formatNs(r.readToHandoff.p99)} p999 ${formatNs(r.readToHandoff.p999)}; offered→durable p99 ${formatNs(r.offeredToDurable.p99)}; ${r.recordsPerBatch.toFixed(0)} records/batch; GC ${r.gc.totalMs.toFixed(0)} ms; ${r.held ? 'held' : 'NOT held'}\n`,
    )
    rates.push(r)
    outcomes.push({
      offered: r.offered,
      held: r.held,
      overloaded: r.achieved < OVERLOAD_SHARE * r.offered || !r.caughtUp,
    })
  }
  rates.sort((a, b) => a.offered - b.offered)
  const held = rates.filter((r) => r.held).map((r) => r.offered)
  return {
    key: name,
    label: variant.label,
    rates,
    highestHeld: held.length === 0 ? null : Math.max(...held),
  }
}

function runChild(name: string): VariantLatency {
  const stdout = execFileSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--variant', name],
    { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  )
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1]!) as VariantLatency
}

const METHOD = [
  'Open loop: per offered rate R, event s (s = 0, 1, …) is due at origin + s/R. A producer in the node’s process ticks every 1 ms (Node’s finest timer) and appends, as one group, every event due that it has not sent; a tick while its append is in flight sends nothing, and what fell due meanwhile goes with the first tick after the append resolved. Latencies that start at the intended send time therefore include any delay of the producer, the log and the runner’s backlog: a stall cannot hide queued events (coordinated omission).',
  'Events: a pool of 65,536 seeded payments (benchmarks/lib/payments.ts), JSON-encoded once up to their `ts`; the producer cycles through them, keyed by card, and writes `ts` = base + seq ms (the event time) per send, also as the record timestamp, so an output (the sink writes the event time as its record timestamp) names its source event and nothing is added to the records. About half the events pass the filter; latencies are per output event.',
  'Hooks: a Log decorator (benchmarks/lib/latency-probe-log.ts, a ForwardingLog) wraps `subscribe` (the time the log hands a batch to the runner, per source record) and `append` on the output topic (handed off when called, durable when it resolved); no runtime code is changed for measuring. The clock is performance.now(). Values go into HDR histograms (hdr-histogram-js 3.0.1, 3 significant digits, 1 ns … 10 min): percentiles are within 0.1 % above the exact value.',
  `Per rate: a fresh topic set (and data directory for the embedded log), a new PipelineRunner on the artifact (compiled by sluice compile in a child process, so the compiler’s heap is not in the measured one); one primer event read before the clock starts (Kafka’s group join); then warm-up events (not recorded: max(warm-up seconds × rate, min(the warm-up event minimum, 10 s × rate)), so the JIT has seen enough calls even at low rates) followed by the measured ones. The run ends when every measured output is durable (or after the schedule plus max(10 s, 2 × duration): not caught up). Achieved rate = measured events ÷ (max(last output durable, schedule end) − first measured intended time). A rate is held when achieved ≥ ${HELD_SHARE * 100} % of offered and p99 read → handoff < 1 ms. GC: PerformanceObserver 'gc' pauses that began in that window. CPU: process.cpuUsage over the window (user + system of the whole process, so also the producer; with Kafka the broker’s CPU is not counted). Peak RSS: process RSS sampled every 20 ms during the rate.`,
  'Isolation: each variant runs in a fresh node process; the search goes up the rates and stops after the first at which the node falls below 90 % of the offered rate or does not catch up; when none of the listed rates was held it halves the lowest one until a rate is held or the minimum rate is reached (benchmarks/lib/rate-search.ts). The machine has 2 cores shared with whatever else runs (the load average at the start is in the parameters); with Kafka the broker runs on the same cores.',
]

function parseOptions() {
  return parseArgs({
    options: {
      rates: { type: 'string', default: DEFAULT_RATES },
      warmup: { type: 'string', default: '2' },
      'warmup-events': { type: 'string', default: '100000' },
      'min-rate': { type: 'string', default: '2500' },
      duration: { type: 'string', default: '5' },
      batch: { type: 'string', default: '1000' },
      partitions: { type: 'string', default: '1' },
      seed: { type: 'string', default: '42' },
      kafka: { type: 'string' },
      variants: { type: 'string' },
      out: { type: 'string', default: join(import.meta.dirname, 'reports') },
      variant: { type: 'string' },
    },
  }).values
}

async function main(): Promise<void> {
  const args = parseOptions()
  const brokersText = args.kafka ?? process.env.SLUICE_KAFKA_BROKERS ?? ''
  const options: Options = {
    rates: args.rates.split(',').map((r) => Number(r.trim())),
    warmupSeconds: Number(args.warmup),
    warmupEvents: Number(args['warmup-events']),
    minRate: Number(args['min-rate']),
    durationSeconds: Number(args.duration),
    batch: Number(args.batch),
    partitions: Number(args.partitions),
    seed: Number(args.seed),
    brokers: brokersText
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b.length > 0),
  }
  for (const rate of options.rates)
    if (!(Number.isInteger(rate) && rate > 0))
      throw new RangeError(`--rates: ${rate} is not a positive integer`)
  for (const [key, value] of [
    ['warmup', options.warmupSeconds],
    ['duration', options.durationSeconds],
  ] as const)
    if (!(value > 0)) throw new RangeError(`--${key} must be a positive number of seconds, got ${value}`)
  for (const [key, value] of [
    ['batch', options.batch],
    ['partitions', options.partitions],
    ['min-rate', options.minRate],
  ] as const)
    if (!(Number.isInteger(value) && value > 0))
      throw new RangeError(`--${key} must be a positive integer, got ${value}`)
  if (!(Number.isInteger(options.warmupEvents) && options.warmupEvents >= 0))
    throw new RangeError(`--warmup-events must be a non-negative integer, got ${options.warmupEvents}`)

  if (args.variant !== undefined) {
    if (!(args.variant in VARIANTS)) throw new Error(`unknown variant '${args.variant}'`)
    if (VARIANTS[args.variant]!.kind === 'kafka' && options.brokers.length === 0)
      throw new Error('the kafka variant needs --kafka BROKERS (or SLUICE_KAFKA_BROKERS)')
    const result = await measureChild(args.variant, options)
    process.stdout.write(`${JSON.stringify(result)}\n`)
    // kafkajs may leave timers behind after disconnecting.
    process.exit(0)
  }

  const names = args.variants
    ? args.variants.split(',').map((v) => v.trim())
    : Object.keys(VARIANTS).filter((k) => VARIANTS[k]!.kind !== 'kafka' || options.brokers.length > 0)
  for (const name of names) if (!(name in VARIANTS)) throw new Error(`unknown variant '${name}'`)
  const load = loadavg()
  const variants: VariantLatency[] = []
  for (const name of names) {
    process.stderr.write(`measuring ${VARIANTS[name]!.label} (fresh process) …\n`)
    variants.push(runChild(name))
  }
  const report: LatencyReport = {
    name: NAME,
    title: 'Node latency under open-loop load',
    description:
      'The payments pipeline (where → select → key by) run by the PipelineRunner, fed at fixed offered rates by an open-loop producer. Latencies per output event; "held" = achieved ≥ 97 % of offered and p99 read → handoff < 1 ms.',
    machine: machineInfo(),
    parameters: {
      rates: options.rates.join(', '),
      warmupSeconds: options.warmupSeconds,
      warmupEventsAtLeast: options.warmupEvents,
      minRate: options.minRate,
      durationSeconds: options.durationSeconds,
      maxBatchRecords: options.batch,
      partitions: options.partitions,
      seed: options.seed,
      loadAverageAtStart: load.map((l) => l.toFixed(2)).join(' '),
      pipeline: paymentPipeline('<source>', '<sink>'),
    },
    variants,
    p99LimitNs: P99_LIMIT_NS,
    heldShare: HELD_SHARE,
    method: METHOD,
  }
  const paths = await writeLatencyReport(args.out, report)
  process.stdout.write(renderLatencyMarkdown(report))
  process.stderr.write(`wrote ${paths.json}, ${paths.markdown}, ${paths.svg}\n`)
}

await main()
