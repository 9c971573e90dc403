/**
 * What state and checkpoints cost a running node, and how fast it comes back (issue 12's report):
 *
 * 1. Checkpoint overhead, in one run: a keyed running count + sum (`aggregate by card`) over N
 *    payments on the embedded log, run by the PipelineRunner in this process, with a checkpoint
 *    every 1 s against none during the run (interval 1 h: state is only written at the stop), both
 *    at-least-once, and exactly-once at 1 s. After a shorter warm-up run (left out), each round
 *    runs every variant once, in an order that turns with the round; the overhead is the median
 *    over rounds of each round's ratio to the run without checkpoints of the same round (events/s,
 *    process CPU-s, main-thread CPU-s: paired-overhead.ts), not a ratio of two medians, which pairs
 *    one variant's quiet minute with another's busy one. Every variant's span ends when every
 *    input event is processed; the wait until its outputs are visible (exactly-once: the last
 *    checkpoint's commit, up to one interval) is measured and reported apart.
 * 2. Recovery: a node (`sluice run`, a real process) holds KEYS keys of committed state, is
 *    SIGKILLed, one new event is appended, and a new node is started: the time from its spawn to
 *    the new event's output being readable, split by the node's own log lines (process start,
 *    state restored, running). Embedded log with state files, and Kafka with state in Redis when
 *    --kafka and --redis are given. `--recovery-rounds N` kills and restarts N times (median
 *    reported); `--commits A,B` restarts with each commit's CLI in turn (worktree: this checkout),
 *    for a before/after in one run; `--trace` prints each restarted node's log lines with their
 *    time since spawn (the phases: store and log connected, hand-over, group join, restore).
 *
 *   npm run bench:recovery [-- --events 1000000 --keys 1000000 --rounds 3]
 *   npm run bench:recovery -- --kafka 127.0.0.1:19092 --redis redis://127.0.0.1:6390
 *   npm run bench:recovery -- --part overhead [--variants 'checkpoint every 1 s,no checkpoint during the run']
 *
 * Writes benchmarks/reports/recovery.{json,md,svg}. Run it alone: the machine has two cores.
 * `--part overhead` or `--part recovery` runs one part and only prints it (no report written),
 * for comparing a change against its parent in one session; `--variants` picks overhead variants
 * by name (comma-separated).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadArtifact } from '../runtime/artifact/load.ts'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import type { Delivery, Log } from '../runtime/log/index.ts'
import { KafkaLog } from '../runtime/log/kafka.ts'
import { MetricsRegistry } from '../runtime/metrics/registry.ts'
import { PipelineRunner } from '../runtime/node/pipeline-runner.ts'
import { FileSnapshotStore } from '../runtime/state/file-snapshot-store.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'
import { roundOrder } from './lib/ab-run.ts'
import { openCommitTrees, WORKTREE } from './lib/commit-tree.ts'
import { collectGarbage, PeakMemory } from './lib/measure.ts'
import { pairedRatios } from './lib/paired-overhead.ts'
import { mulberry32 } from './lib/payments.ts'
import { formatBytes, formatRate, machineInfo, writeReportFiles } from './lib/report.ts'
import { mainThreadCpuSeconds } from './lib/thread-cpu.ts'

const REPO = resolve(import.meta.dirname, '..')
const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    cards: { type: 'string', default: '100000' },
    keys: { type: 'string', default: '1000000' },
    // Overhead rounds (each runs every variant once); paired ratios need more than a few on a noisy machine.
    rounds: { type: 'string', default: '5' },
    kafka: { type: 'string' },
    redis: { type: 'string' },
    out: { type: 'string', default: 'benchmarks/reports' },
    part: { type: 'string', default: 'all' },
    variants: { type: 'string' },
    // Print every log line of each restarted node with its time since spawn (where recovery goes).
    trace: { type: 'boolean', default: false },
    // Kill-and-restart rounds per backend (and per --commits entry), alternating.
    'recovery-rounds': { type: 'string', default: '1' },
    // Recovery with each commit's CLI in turn (benchmarks/lib/commit-tree.ts), e.g. HEAD~3,HEAD;
    // 'worktree' is this checkout as it is. Default: this checkout alone.
    commits: { type: 'string' },
    // Where the commits' trees are made for the run (and removed after it).
    trees: { type: 'string', default: tmpdir() },
    // Which recovery backends: embedded, kafka (needs --kafka and --redis), or both (default).
    backends: { type: 'string', default: 'embedded,kafka' },
  },
})
const EVENTS = Number(values.events)
const CARDS = Number(values.cards)
const KEYS = Number(values.keys)
const ROUNDS = Number(values.rounds)
const PART = values.part!
const RECOVERY_ROUNDS = Number(values['recovery-rounds'])
if (PART !== 'all' && PART !== 'overhead' && PART !== 'recovery')
  throw new Error(`--part is all, overhead or recovery, not ${PART}`)

const PIPE = (input: string, output: string) => `
schema Payment { id: string, card: string, amount: i64, ts: timestamp @event_time }
source payments: Payment from kafka("${input}")
stream totals = payments | aggregate by card { n: count(), total: sum(amount) }
sink totals -> kafka("${output}")
`

function payments(count: number, cards: number, seed: number, firstId = 0) {
  const random = mulberry32(seed)
  const start = Date.UTC(2026, 0, 1)
  const records = []
  for (let i = 0; i < count; i++) {
    const card = `card-${cards >= count ? firstId + i : Math.floor(random() * cards)}`
    const value = {
      id: `p${firstId + i}`,
      card,
      amount: 1 + Math.floor(random() * 1000),
      ts: new Date(start + i).toISOString(),
    }
    records.push({ key: card, value: Buffer.from(JSON.stringify(value)) })
  }
  return records
}

async function appendAll(log: Log, topic: string, records: ReturnType<typeof payments>): Promise<void> {
  await log.ensureTopic(topic)
  for (let i = 0; i < records.length; i += 10_000) await log.append(topic, records.slice(i, i + 10_000))
}

// ── 1. checkpoint overhead ────────────────────────────────────────────────────────────────────

interface OverheadVariant {
  readonly name: string
  readonly delivery: Delivery
  readonly checkpointIntervalMs: number
}

const VARIANTS: readonly OverheadVariant[] = [
  { name: 'checkpoint every 1 s', delivery: 'at-least-once', checkpointIntervalMs: 1000 },
  { name: 'no checkpoint during the run', delivery: 'at-least-once', checkpointIntervalMs: 3_600_000 },
  { name: 'exactly-once, checkpoint every 1 s', delivery: 'exactly-once', checkpointIntervalMs: 1000 },
]

interface OverheadRound {
  readonly round: number
  readonly variant: string
  readonly seconds: number
  readonly eventsPerSecond: number
  /**
   * CPU seconds the process used over the same span (every thread: GC helpers and file I/O too).
   * On a loaded machine wall time follows the other processes; CPU time per event much less.
   */
  readonly cpuSeconds: number
  /** CPU seconds of the main thread alone over the span (NaN off Linux): where checkpoint capture runs. */
  readonly mainCpuSeconds: number
  /**
   * Checkpoints the log committed during the span. The interval is wall time, so a run slowed by
   * the machine takes more of them (each with fewer changed keys, more in all): under load a
   * checkpointed run costs more than the same run on a quiet machine would.
   */
  readonly checkpoints: number
  /**
   * From every event processed (the end of `seconds`) to every output visible to readers: for
   * exactly-once, the wait for the checkpoint that commits the last batch (up to one interval).
   */
  readonly visibleSeconds: number
}

async function overheadRound(
  variant: OverheadVariant,
  records: ReturnType<typeof payments>,
  round: number,
): Promise<OverheadRound> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-recovery-'))
  try {
    const log = await EmbeddedLog.open(dir, { durability: { intervalMs: 100 } })
    await appendAll(log, 'payments', records)
    const artifact = await loadArtifact(await compileFixture(PIPE('payments', 'totals'), 'recovery-bench'))
    const store = new FileSnapshotStore(join(dir, 'state'))
    collectGarbage()
    const metrics = new MetricsRegistry()
    const started = performance.now()
    const cpuBefore = process.cpuUsage()
    const mainBefore = await mainThreadCpuSeconds()
    const runner = await PipelineRunner.start({
      log,
      artifact,
      metrics,
      delivery: variant.delivery,
      checkpointIntervalMs: variant.checkpointIntervalMs,
      stateStore: store,
    })
    // The same end for every variant: every input event processed (its batch handled, checkpoints
    // during the run included). What exactly-once adds after that, the wait for the checkpoint
    // that commits the last batch (up to one interval, whenever it falls), is measured apart
    // (visibleSeconds), not hidden and not mixed into the throughput.
    const processed = () => metrics.find('sluice_events_in_total')?.total() ?? 0
    while (processed() < records.length) await new Promise((r) => setTimeout(r, 5))
    const seconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    const mainCpuSeconds = (await mainThreadCpuSeconds()) - mainBefore
    const checkpoints = metrics.findHistogram('sluice_checkpoint_seconds')?.observations ?? 0
    if (variant.delivery === 'at-least-once') {
      // Outputs are visible once appended.
      while ((await log.endOffsets('totals')).reduce((a, b) => a + b, 0) < records.length) {
        await new Promise((r) => setTimeout(r, 5))
      }
    } else {
      // Exactly-once outputs are visible once the group committed everything.
      await runner.waitUntilCaughtUp(600_000)
    }
    const visibleSeconds = (performance.now() - started) / 1000 - seconds
    await runner.stop()
    await runner.done
    await log.close()
    await store.close()
    return {
      round,
      variant: variant.name,
      seconds,
      eventsPerSecond: records.length / seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      mainCpuSeconds,
      checkpoints,
      visibleSeconds,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

// ── 2. recovery after SIGKILL ─────────────────────────────────────────────────────────────────

interface RecoveryResult {
  readonly backend: string
  /** Which CLI the restarted node ran (--commits). */
  readonly cli: string
  readonly keys: number
  /** Spawn of the new node → the new event's output readable. */
  readonly totalSeconds: number
  /** Spawn → the node's first log line (process and CLI start-up). */
  readonly startSeconds: number | null
  /** Spawn → state restored (the node's 'operator state restored' lines, the last one). */
  readonly restoredSeconds: number | null
  /** Spawn → 'running'. */
  readonly runningSeconds: number | null
  /** How often the output was polled: the resolution of totalSeconds. */
  readonly pollMs: number
}

interface Backend {
  readonly name: string
  readonly args: readonly string[]
  readonly env: NodeJS.ProcessEnv
  open(): Promise<Log>
  /** A reader for polling while a node runs (embedded: read-only, without the lock). */
  openReader(): Promise<Log>
  /** Removes what the pipeline named `pipeline` left in the state store (Redis). */
  dropState?(pipeline: string): Promise<void>
}

/** A CLI to start nodes with: this checkout's, or a commit's worktree's (--commits). */
interface Cli {
  readonly name: string
  readonly root: string
}

function sluice(
  cli: Cli,
  args: readonly string[],
  backend: Backend,
): {
  child: ChildProcess
  lines: () => { t: number; msg: string; text: string }[]
  exit: Promise<number | null>
} {
  const child = spawn(
    process.execPath,
    [
      join(cli.root, 'bin/sluice.js'),
      ...args,
      ...backend.args,
      '--log-format',
      'json',
      '--log-level',
      'info',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...backend.env },
    },
  )
  const lines: { t: number; msg: string; text: string }[] = []
  let pending = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    const now = performance.now()
    pending += chunk.toString()
    const parts = pending.split('\n')
    pending = parts.pop()!
    for (const line of parts) {
      try {
        lines.push({ t: now, msg: (JSON.parse(line) as { msg: string }).msg, text: line })
      } catch {
        lines.push({ t: now, msg: line, text: line })
      }
    }
  })
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return { child, lines: () => lines, exit }
}

async function total(log: Log, topic: string): Promise<number> {
  return (await log.endOffsets(topic)).reduce((a, b) => a + b, 0)
}

/**
 * Builds KEYS keys of committed state on `backend`, then ROUNDS_RECOVERY times: the running node is
 * SIGKILLed, one new event is appended, and a new node (the CLI of each of `clis` in turn, so
 * every variant meets the same machine load) is timed from spawn to that event's output.
 */
async function recovery(backend: Backend, clis: readonly Cli[]): Promise<RecoveryResult[]> {
  const suffix = Math.random().toString(36).slice(2, 8)
  const input = `recovery-in-${suffix}`
  const output = `recovery-out-${suffix}`
  const artifact = await compileFixture(PIPE(input, output), `recovery-${suffix}`)
  const common = ['run', artifact, '--group', `recovery-${suffix}`]
  const embedded = backend.name.startsWith('embedded')
  // KEYS distinct cards: KEYS keys of state.
  const log = await backend.open()
  await appendAll(log, input, payments(KEYS, KEYS, 1))
  if (embedded) await log.close()
  console.log(`[recovery ${backend.name}] building ${KEYS.toLocaleString('en')} keys of state…`)
  const build = sluice(clis[0]!, [...common, '--until-caught-up'], backend)
  if ((await build.exit) !== 0)
    throw new Error(
      `building the state failed:\n${build
        .lines()
        .map((l) => l.msg)
        .join('\n')}`,
    )

  // A node that restored the state and is idle: the first victim.
  let victim = sluice(clis[0]!, common, backend)
  while (!victim.lines().some((l) => l.msg === 'running')) {
    if (victim.child.exitCode !== null) throw new Error('the node exited before running')
    await new Promise((r) => setTimeout(r, 20))
  }
  const results: RecoveryResult[] = []
  let next = KEYS
  try {
    for (let round = 0; round < RECOVERY_ROUNDS; round++) {
      for (const cli of clis) {
        // Past the victim's checkpoint interval: its state and offsets are committed.
        await new Promise((r) => setTimeout(r, 1500))
        victim.child.kill('SIGKILL')
        await victim.exit

        const writer = embedded ? await backend.open() : log
        const before = await total(writer, output)
        await writer.append(input, payments(1, next + 1, 2, next))
        next++
        if (embedded) await writer.close()

        const spawned = performance.now()
        const node = sluice(cli, common, backend)
        victim = node
        const pollMs = 10
        let done = 0
        for (;;) {
          if (node.child.exitCode !== null)
            throw new Error(
              `the node exited:\n${node
                .lines()
                .map((l) => l.msg)
                .join('\n')}`,
            )
          const r = embedded ? await backend.openReader() : log
          const n = await total(r, output).catch(() => before)
          if (r !== log) await r.close()
          if (n > before) {
            done = performance.now()
            break
          }
          await new Promise((res) => setTimeout(res, pollMs))
        }
        if (values.trace) {
          for (const line of node.lines())
            console.log(
              `[trace ${backend.name} ${cli.name}] ${((line.t - spawned) / 1000).toFixed(3)} s ${line.text}`,
            )
        }
        const at = (msg: string, last = false) => {
          const hits = node.lines().filter((l) => l.msg === msg)
          const hit = last ? hits.at(-1) : hits[0]
          return hit ? (hit.t - spawned) / 1000 : null
        }
        const first = node.lines()[0]
        const result: RecoveryResult = {
          backend: backend.name,
          cli: cli.name,
          keys: KEYS,
          totalSeconds: (done - spawned) / 1000,
          startSeconds: first ? (first.t - spawned) / 1000 : null,
          restoredSeconds: at('operator state restored', true),
          runningSeconds: at('running'),
          pollMs,
        }
        console.log(
          `[recovery] ${backend.name}, ${cli.name}, round ${round + 1}: ${result.totalSeconds.toFixed(2)} s (up ${fmt(result.startSeconds)}, restored ${fmt(result.restoredSeconds)}, running ${fmt(result.runningSeconds)})`,
        )
        results.push(result)
      }
    }
  } finally {
    victim.child.kill('SIGTERM')
    await victim.exit
    if (!embedded) await log.close()
    // A million keys are about 31 MB of Redis: not left behind in a shared Redis.
    await backend.dropState?.(`recovery-${suffix}`)
  }
  return results
}

const fmt = (x: number | null) => (x === null ? '—' : `${x.toFixed(2)} s`)

// ── report ────────────────────────────────────────────────────────────────────────────────────

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

async function main(): Promise<void> {
  const peak = new PeakMemory()
  const sampler = setInterval(() => peak.sample(), 100)
  const records = payments(EVENTS, CARDS, 7)
  const rounds: OverheadRound[] = []
  const chosen = values.variants?.split(',').map((name) => name.trim())
  const variants = VARIANTS.filter((v) => chosen === undefined || chosen.includes(v.name))
  if (chosen !== undefined && variants.length !== chosen.length)
    throw new Error(`--variants names some of: ${VARIANTS.map((v) => v.name).join('; ')}`)
  // A shorter run first, left out: the first run in a process also pays for compiling the hot paths.
  if (PART !== 'recovery' && variants.length > 0)
    await overheadRound(variants[0]!, records.slice(0, Math.ceil(records.length / 5)), 0)
  for (let r = 0; PART !== 'recovery' && r < ROUNDS; r++) {
    for (const variant of roundOrder(variants, r)) {
      const round = await overheadRound(variant, records, r + 1)
      console.log(
        `[overhead] round ${r + 1}: ${variant.name}: ${formatRate(round.eventsPerSecond)} (${round.seconds.toFixed(2)} s, CPU ${round.cpuSeconds.toFixed(2)} s, main thread ${round.mainCpuSeconds.toFixed(2)} s, ${round.checkpoints} checkpoints; outputs visible ${round.visibleSeconds.toFixed(2)} s later)`,
      )
      rounds.push(round)
    }
  }
  const overhead = variants.map((v) => ({
    variant: v.name,
    eventsPerSecond: median(rounds.filter((r) => r.variant === v.name).map((r) => r.eventsPerSecond)),
    cpuSeconds: median(rounds.filter((r) => r.variant === v.name).map((r) => r.cpuSeconds)),
    visibleSeconds: median(rounds.filter((r) => r.variant === v.name).map((r) => r.visibleSeconds)),
  }))
  // Each variant against the run without checkpoints of the same round (paired-overhead.ts).
  const ratios = pairedRatios(rounds, 'no checkpoint during the run')
  const everySecond = ratios.find((r) => r.variant === 'checkpoint every 1 s')
  const overheadPercent = everySecond === undefined ? Number.NaN : (1 - everySecond.throughputRatio) * 100
  if (PART === 'overhead') {
    for (const o of overhead)
      console.log(
        `[overhead] median: ${o.variant}: ${formatRate(o.eventsPerSecond)}, CPU ${o.cpuSeconds.toFixed(2)} s, visible ${o.visibleSeconds.toFixed(2)} s later`,
      )
    for (const r of ratios)
      console.log(
        `[overhead] ${r.variant} / none, median of ${r.rounds} rounds' ratios: events/s ${r.throughputRatio.toFixed(3)} (rounds: ${r.throughputRatios.map((x) => x.toFixed(3)).join(', ')}), CPU-s ${r.cpuRatio.toFixed(3)}, main-thread CPU-s ${r.mainCpuRatio.toFixed(3)}`,
      )
    console.log(
      `[overhead] checkpoints every 1 s cost ${overheadPercent.toFixed(1)} % (no report written: --part)`,
    )
    clearInterval(sampler)
    return
  }

  const chosenBackends = values.backends!.split(',').map((b) => b.trim())
  const backends: Backend[] = []
  const scratch: string[] = []
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-recovery-node-'))
  scratch.push(dir)
  if (chosenBackends.includes('embedded')) {
    backends.push({
      name: 'embedded log + state files',
      args: ['--data-dir', dir],
      env: { SLUICE_KAFKA_BROKERS: '' },
      open: () => EmbeddedLog.open(dir),
      openReader: () => EmbeddedLog.openReadOnly(dir),
    })
  }
  const brokers = values.kafka ?? process.env.SLUICE_KAFKA_BROKERS
  const redis = values.redis ?? process.env.SLUICE_REDIS_URL
  if (brokers && redis && chosenBackends.includes('kafka')) {
    backends.push({
      name: 'Kafka + Redis',
      // One node identity for every incarnation: the restarted node removes the killed one from the
      // group at once (runtime/log/kafka-handover.ts) instead of waiting out its session.
      args: ['--kafka', brokers, '--state', redis, '--node-id', 'recovery-node'],
      env: {},
      open: () => KafkaLog.connect({ brokers: brokers.split(',') }),
      openReader: () => KafkaLog.connect({ brokers: brokers.split(',') }),
      dropState: async (pipeline) => {
        const { Redis } = await import('ioredis')
        const client = new Redis(redis)
        try {
          const keys = []
          for await (const found of client.scanStream({ match: `sluice:{${pipeline}/*`, count: 1000 }))
            keys.push(...(found as string[]))
          for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500))
        } finally {
          client.disconnect()
        }
      },
    })
  }
  // Removed at the end, and by lib/interrupt.ts if the bench fails or is stopped before.
  const commitTrees = openCommitTrees({
    repo: REPO,
    revisions: (values.commits ?? WORKTREE).split(',').map((c) => c.trim()),
    parent: values.trees!,
  })
  const clis: Cli[] = commitTrees.trees.map(({ label, sha, tree }) =>
    label === WORKTREE
      ? { name: WORKTREE, root: REPO }
      : { name: `${label} (${sha.slice(0, 8)})`, root: tree },
  )
  const recoveryRounds: RecoveryResult[] = []
  for (const backend of backends) recoveryRounds.push(...(await recovery(backend, clis)))
  // Per backend and CLI, the round with the median total.
  const recoveries: RecoveryResult[] = []
  for (const backend of backends) {
    for (const cli of clis) {
      const rounds = recoveryRounds
        .filter((r) => r.backend === backend.name && r.cli === cli.name)
        .sort((a, b) => a.totalSeconds - b.totalSeconds)
      const middle = rounds[Math.floor(rounds.length / 2)]
      if (middle === undefined) continue
      recoveries.push(middle)
      const baseline = recoveries.find((r) => r.backend === backend.name)!
      console.log(
        `[recovery] median: ${backend.name}, ${cli.name}: ${middle.totalSeconds.toFixed(2)} s (all: ${rounds.map((r) => r.totalSeconds.toFixed(2)).join(', ')}; ${(middle.totalSeconds / baseline.totalSeconds).toFixed(3)}x the first)`,
      )
    }
  }
  clearInterval(sampler)
  peak.sample()
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })))
  commitTrees.close()
  if (PART === 'recovery') return

  const report = {
    name: 'recovery',
    machine: machineInfo(),
    events: EVENTS,
    cards: CARDS,
    rounds: ROUNDS,
    overhead,
    overheadRatios: ratios,
    overheadRounds: rounds,
    checkpointOverheadPercent: overheadPercent,
    recoveries,
    recoveryRounds: RECOVERY_ROUNDS,
    allRecoveries: recoveryRounds,
    peakRssBytes: peak.peakRssBytes,
    targets: {
      checkpointOverheadPercent: 5,
      recoverySeconds: 2,
    },
  }
  await writeReportFiles(values.out!, 'recovery', report, renderMarkdown(report), renderSvg(report))
  console.log(renderMarkdown(report))
}

type Report = {
  machine: ReturnType<typeof machineInfo>
  events: number
  cards: number
  rounds: number
  overhead: { variant: string; eventsPerSecond: number; cpuSeconds: number; visibleSeconds: number }[]
  overheadRatios: ReturnType<typeof pairedRatios>
  checkpointOverheadPercent: number
  recoveries: RecoveryResult[]
  recoveryRounds: number
  peakRssBytes: number
}

function renderMarkdown(report: Report): string {
  const s = (x: number | null) => (x === null ? '—' : `${x.toFixed(2)} s`)
  return `# Checkpoints and recovery

${report.machine.cpuModel}, ${report.machine.cores} cores, Node ${report.machine.nodeVersion}, ${report.machine.date} (commit ${report.machine.gitCommit ?? 'unknown'}${report.machine.gitDirty ? ', dirty' : ''}).

## Checkpoint overhead

\`aggregate by card { n: count(), total: sum(amount) }\` over ${report.events.toLocaleString('en')} payments and ${report.cards.toLocaleString('en')} cards, embedded log (durability 100 ms), end to end (JSON in, through the log, JSON out); ${report.rounds} rounds after a shorter warm-up run, each running every variant once in an order that turns with the round; the table gives each variant's median round. CPU seconds: the process's user + system time over the same span (all threads), less sensitive than events/s to other processes on a loaded machine.

| variant | events/s | CPU seconds (process) | outputs visible after the last event (s) |
|---|---:|---:|---:|
${report.overhead.map((o) => `| ${o.variant} | ${formatRate(o.eventsPerSecond)} | ${o.cpuSeconds.toFixed(2)} | ${o.visibleSeconds.toFixed(2)} |`).join('\n')}

Against the run without checkpoints of the same round (the median of the rounds' ratios, so that the two runs of a ratio met nearly the same machine; runs of one variant spread ~30 % even on a quiet machine):

| variant | events/s ratio | per round | process CPU-s ratio | main-thread CPU-s ratio |
|---|---:|---|---:|---:|
${report.overheadRatios.map((r) => `| ${r.variant} | ${r.throughputRatio.toFixed(3)} | ${r.throughputRatios.map((x) => x.toFixed(3)).join(', ')} | ${r.cpuRatio.toFixed(3)} | ${r.mainCpuRatio.toFixed(3)} |`).join('\n')}

Checkpoints every second cost **${report.checkpointOverheadPercent.toFixed(1)} %** of the throughput without checkpoints (target: under 5 %). Every variant is measured from the runner's start to every input event processed (checkpoints during the run, and exactly-once's waits for each transaction's commit, included); the last column is the time after that until every output was visible to readers: for exactly-once the wait for the checkpoint that commits the last batch (up to one interval, 1 s), a latency rather than a throughput cost, so it is shown apart instead of being spread over the events.

## Recovery after SIGKILL

A node holding committed state is SIGKILLed, one new event is appended, a new node is spawned; the time runs from the spawn to the new event's output being readable. Median of ${report.recoveryRounds} kill-and-restart rounds per backend.

| backend | keys | total | process up (first log line) | state restored | running |
|---|---:|---:|---:|---:|---:|
${report.recoveries.map((r) => `| ${r.backend} | ${r.keys.toLocaleString('en')} | **${s(r.totalSeconds)}** | ${s(r.startSeconds)} | ${s(r.restoredSeconds)} | ${s(r.runningSeconds)} |`).join('\n')}

Target: under 2 s with 1,000,000 keys. On Kafka both incarnations run with \`--node-id\`: the new node removes the killed one's member from the group before joining (runtime/log/kafka-handover.ts, decision 0025), so it does not wait for that member's session timeout (6 s, the broker's minimum), and it reads and restores the partitions that member held from Redis while it evicts it and joins the group (decision 0033), so the restore of a million keys overlaps the hand-over instead of following it. Peak RSS of the benchmark process ${formatBytes(report.peakRssBytes)}. The output was polled every ${report.recoveries[0]?.pollMs ?? 10} ms. Snapshot size and time per million keys for both stores: state-snapshot.md.
`
}

function renderSvg(report: Report): string {
  const bars = [
    ...report.overhead.map((o) => ({ label: o.variant, value: o.eventsPerSecond, unit: 'ev/s' })),
    ...report.recoveries.map((r) => ({ label: `recovery: ${r.backend}`, value: r.totalSeconds, unit: 's' })),
  ]
  const width = 760
  const rowHeight = 28
  const height = 40 + bars.length * rowHeight
  const rows = bars
    .map((b, i) => {
      const max = Math.max(...bars.filter((x) => x.unit === b.unit).map((x) => x.value), 1e-9)
      const w = Math.max(2, (b.value / max) * 360)
      const y = 30 + i * rowHeight
      const text = b.unit === 's' ? `${b.value.toFixed(2)} s` : formatRate(b.value)
      return `<text x="10" y="${y + 14}" font-size="12">${b.label}</text><rect x="300" y="${y}" width="${w}" height="18" fill="${b.unit === 's' ? '#d9822b' : '#4a7bd0'}"/><text x="${306 + w}" y="${y + 14}" font-size="12">${text}</text>`
    })
    .join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<text x="10" y="18" font-size="14" font-weight="bold">Checkpoint overhead (events/s) and recovery after SIGKILL (s)</text>
${rows}
</svg>
`
}

await main()
