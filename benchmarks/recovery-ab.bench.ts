/**
 * Checkpoint-overhead A/B across commits (issue 12's regression hunt): recovery.bench.ts's overhead
 * part (`aggregate by card { n: count(), total: sum(amount) }` over seeded payments on the embedded
 * log; checkpoint every 1 s, none during the run, exactly-once at 1 s) on the runtime of each commit
 * given, with the same input and this file's harness, in alternating fresh processes.
 *
 *   node --import tsx benchmarks/recovery-ab.bench.ts --commits d02368e,c19f880,HEAD
 *   node --import tsx benchmarks/recovery-ab.bench.ts --commits c19f880,HEAD --rounds 4 --variants every,none
 *
 * Per commit, a tree of its files (lib/commit-tree.ts: node_modules linked, WebAssembly kernels
 * and CLI built, removed at the end; `worktree` is this checkout) supplies the runtime and the
 * compiler; a child process per commit and round (lib/revision-rounds.ts: the order turning every
 * round, so all meet the same machine load) first
 * runs a shorter warm-up (left out), then each variant once, in an order that turns with the round. Per run: CPU-s of the process (user +
 * system, every thread) from runner start until every input event is processed (as recovery.bench.ts:
 * exactly-once's wait for the commit of its last batch, up to one interval, is a column of its own,
 * not part of the span), wall seconds, and GC counts; the summary
 * gives medians, CPU µs per event and ratios against the first commit (of medians, and per round
 * against the first commit's run of the same round: median and range), and per commit each
 * variant's ratios to `none` of the same process (paired-overhead.ts: median of the rounds' ratios). The event loop's idle
 * time (waiting on timers and I/O, not for a core) shows waits that CPU-s cannot. `--profile DIR`
 * writes a V8 CPU profile of each measured span (the runner's, not the input's generation). On a loaded machine the
 * CPU figures and the ratios within one run are what count, not events/s. `--json FILE` writes
 * every run and the ratios (lib/ab-run.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import * as ab from './lib/ab-run.ts'
import { withTempDir } from './lib/interrupt.ts'
import { pairedRatios } from './lib/paired-overhead.ts'
import { mulberry32 } from './lib/payments.ts'
import { median } from './lib/percentile.ts'
import { REVISION_CHILD_OPTIONS, runRevisionRounds } from './lib/revision-rounds.ts'
import { mainThreadCpuSeconds } from './lib/thread-cpu.ts'
import { GcCounter, importTreeRuntime } from './lib/tree-runtime.ts'

/** Short names for recovery.bench.ts's overhead variants. */
const VARIANTS = {
  every: { name: 'checkpoint every 1 s', delivery: 'at-least-once', checkpointIntervalMs: 1000 },
  none: { name: 'no checkpoint during the run', delivery: 'at-least-once', checkpointIntervalMs: 3_600_000 },
  eo: { name: 'exactly-once, checkpoint every 1 s', delivery: 'exactly-once', checkpointIntervalMs: 1000 },
} as const
type VariantKey = keyof typeof VARIANTS

interface RunFigures {
  readonly commit: string
  readonly round: number
  readonly variant: VariantKey
  /** From the runner's start to every input event processed (recovery.bench.ts's end, for every variant). */
  readonly seconds: number
  /**
   * From then to every output visible to readers: for exactly-once the wait for the checkpoint
   * that commits the last batch (up to one interval), a latency kept out of `seconds` and the CPU
   * figures, as recovery.bench.ts does.
   */
  readonly visibleSeconds: number
  readonly cpuSeconds: number
  /**
   * Seconds the main thread's event loop waited with nothing to run (performance.eventLoopUtilization):
   * time a quiet machine would not turn into throughput, unlike CPU-s, whatever the load.
   */
  readonly idleSeconds: number
  /**
   * CPU seconds of the main thread alone (Linux /proc; NaN elsewhere): cpuSeconds counts every
   * thread, so work moved off the event loop (compaction-thread.ts) shows here, not there.
   */
  readonly mainCpuSeconds: number
  readonly majorGcs: number
  readonly minorGcs: number
  /**
   * Checkpoints committed during the span: the interval is wall time, so a run the machine slowed
   * takes more of them, and costs more CPU for it than it would on a quiet machine.
   */
  readonly checkpoints: number
}

const args = parseArgs({
  options: {
    ...ab.commitOptions('HEAD~1,HEAD'),
    ...ab.roundOptions({ rounds: 3 }),
    variants: { type: 'string', default: 'every,none,eo' },
    events: { type: 'string', default: '1000000' },
    cards: { type: 'string', default: '100000' },
    warmup: { type: 'string', default: '200000' },
    // A CPU profile per measured run (the runner's span only, not the input's generation) into this directory.
    profile: { type: 'string' },
    ...REVISION_CHILD_OPTIONS,
  },
}).values

const variantKeys = args.variants.split(',').map((v) => v.trim()) as VariantKey[]
for (const key of variantKeys)
  if (!(key in VARIANTS)) throw new Error(`--variants names some of ${Object.keys(VARIANTS).join(', ')}`)
const events = ab.wholeNumberFlag('events', args.events, 1)
const cards = ab.wholeNumberFlag('cards', args.cards, 1)
const warmupEvents = ab.wholeNumberFlag('warmup', args.warmup, 0)

async function parent(): Promise<void> {
  const { plan, revisions, runs } = await runRevisionRounds<RunFigures>(args, {
    script: import.meta.url,
    childArgs: [
      ...['--events', String(events), '--cards', String(cards), '--warmup', String(warmupEvents)],
      ...['--variants', args.variants],
      ...(args.profile === undefined ? [] : ['--profile', args.profile]),
    ],
    onRuns: (figures) => {
      for (const run of figures)
        process.stderr.write(
          `  ${run.variant}: ${run.seconds.toFixed(2)} s (outputs visible ${run.visibleSeconds.toFixed(2)} s later), ${run.cpuSeconds.toFixed(2)} CPU-s (main thread ${run.mainCpuSeconds.toFixed(2)}), loop idle ${run.idleSeconds.toFixed(2)} s, GCs ${run.majorGcs} major / ${run.minorGcs} minor, ${run.checkpoints} checkpoints\n`,
        )
    },
  })
  const all = runs.flatMap((r) => r.result.map((f) => ({ ...f, warmup: r.warmup })))
  const figures = all.filter((f) => !f.warmup)
  const base = revisions[0]!.label
  const cpuOf = (label: string, variant: VariantKey) =>
    median(figures.filter((f) => f.commit === label && f.variant === variant).map((f) => f.cpuSeconds))
  console.log(
    `\nOverhead part, ${events} payments / ${cards} cards, ${plan.rounds} alternating rounds, medians:\n`,
  )
  console.log(
    '| commit | variant | wall s | visible s later | CPU-s | main-thread CPU-s | loop idle s | CPU µs/event | major GCs | CPU vs first commit | CPU vs none (same commit) | main-thread CPU vs none |',
  )
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const { label, sha } of revisions) {
    for (const variant of variantKeys) {
      const own = figures.filter((f) => f.commit === label && f.variant === variant)
      const cpu = cpuOf(label, variant)
      const none = variantKeys.includes('none') ? cpuOf(label, 'none') : Number.NaN
      const main = median(own.map((r) => r.mainCpuSeconds))
      const mainNone = median(
        figures.filter((f) => f.commit === label && f.variant === 'none').map((f) => f.mainCpuSeconds),
      )
      console.log(
        `| ${label} (${sha.slice(0, 7)}) | ${variant} | ${median(own.map((r) => r.seconds)).toFixed(2)} | ${median(own.map((r) => r.visibleSeconds)).toFixed(2)} | ${cpu.toFixed(2)} | ${main.toFixed(2)} | ${median(own.map((r) => r.idleSeconds)).toFixed(2)} | ${((cpu / events) * 1e6).toFixed(2)} | ${median(own.map((r) => r.majorGcs))} | ${(cpu / cpuOf(base, variant)).toFixed(3)}× | ${(cpu / none).toFixed(3)}× | ${(main / mainNone).toFixed(3)}× |`,
      )
    }
  }
  // Each commit's process against the first commit's process of the same round.
  const ratios: ab.NamedRatios[] = variantKeys.flatMap((variant) =>
    ab
      .ratiosByRound(
        figures
          .filter((f) => f.variant === variant)
          .map((f) => ({ round: f.round, variant: f.commit, value: f.cpuSeconds })),
        base,
      )
      .map((r) => ({ ...r, figure: 'CPU-s', group: variant })),
  )
  if (ratios.length > 0) console.log('\nCPU-s per round against the first commit of the same round:\n')
  for (const r of ratios) console.log(`${r.group}: ${ab.formatRatioSummary(r.figure, r)}`)
  await ab.writeAbReport(plan.json, {
    bench: 'recovery-ab',
    options: args,
    plan,
    revisions,
    runs: all,
    ratios,
  })
  if (!variantKeys.includes('none')) return
  // Within one child process (a commit's round) the variants met nearly the same machine: their
  // ratios to `none` carry less of the load than the ratios of medians above.
  console.log("\nAgainst `none` of the same process, medians of the rounds' ratios:\n")
  console.log(
    '| commit | variant | events/s ratio (variant / none) | per round | CPU-s ratio | main-thread CPU-s ratio |',
  )
  console.log('| --- | --- | ---: | --- | ---: | ---: |')
  for (const { label, sha } of revisions) {
    const own = figures
      .filter((f) => f.commit === label)
      .map((f) => ({ ...f, eventsPerSecond: events / f.seconds }))
    for (const r of pairedRatios(own, 'none'))
      console.log(
        `| ${label} (${sha.slice(0, 7)}) | ${r.variant} | ${r.throughputRatio.toFixed(3)} | ${r.throughputRatios.map((x) => x.toFixed(3)).join(', ')} | ${r.cpuRatio.toFixed(3)}× | ${r.mainCpuRatio.toFixed(3)}× |`,
      )
  }
}

/** recovery.bench.ts's payments, byte for byte (same seed and shape). */
function payments(count: number, cards: number, seed: number) {
  const random = mulberry32(seed)
  const start = Date.UTC(2026, 0, 1)
  const records = []
  for (let i = 0; i < count; i++) {
    const card = `card-${cards >= count ? i : Math.floor(random() * cards)}`
    const value = {
      id: `p${i}`,
      card,
      amount: 1 + Math.floor(random() * 1000),
      ts: new Date(start + i).toISOString(),
    }
    records.push({ key: card, value: Buffer.from(JSON.stringify(value)) })
  }
  return records
}

const PIPE = `
schema Payment { id: string, card: string, amount: i64, ts: timestamp @event_time }
source payments: Payment from kafka("payments")
stream totals = payments | aggregate by card { n: count(), total: sum(amount) }
sink totals -> kafka("totals")
`

async function child(tree: string, label: string, round: number): Promise<void> {
  // The commit's own runtime and compiler, from its tree.
  const { loadArtifact, EmbeddedLog, FileSnapshotStore, MetricsRegistry, PipelineRunner } =
    await importTreeRuntime(tree)
  const { compileFixture } = await import(join(tree, 'test/support/compile-fixture.ts'))
  const gcs = new GcCounter()
  const gc = (globalThis as { gc?: () => void }).gc
  const artifact = await loadArtifact(await compileFixture(PIPE, 'recovery-ab'))
  const all = payments(events, cards, 7)
  const warmup = all.slice(0, warmupEvents)
  const profiler = args.profile === undefined ? null : inspectorProfiler(args.profile)

  const runOnce = async (variant: VariantKey, records: typeof all): Promise<RunFigures> => {
    const { delivery, checkpointIntervalMs } = VARIANTS[variant]
    return withTempDir('sluice-ab-recovery-', async (dir) => {
      const log = await EmbeddedLog.open(dir, { durability: { intervalMs: 100 } })
      await log.ensureTopic('payments')
      for (let i = 0; i < records.length; i += 10_000)
        await log.append('payments', records.slice(i, i + 10_000))
      const store = new FileSnapshotStore(join(dir, 'state'))
      gc?.()
      gcs.reset()
      await profiler?.start()
      const started = performance.now()
      const cpuBefore = process.cpuUsage()
      const mainBefore = await mainThreadCpuSeconds()
      const loopBefore = performance.eventLoopUtilization()
      const metrics = new MetricsRegistry()
      const runner = await PipelineRunner.start({
        log,
        artifact,
        metrics,
        delivery,
        checkpointIntervalMs,
        stateStore: store,
      })
      // As recovery.bench.ts: every variant ends when every input event is processed; exactly-once's
      // wait for the commit of its last batch is measured apart (visibleSeconds).
      const processed = () => metrics.find('sluice_events_in_total')?.total() ?? 0
      while (processed() < records.length) await new Promise((r) => setTimeout(r, 5))
      const seconds = (performance.now() - started) / 1000
      const cpu = process.cpuUsage(cpuBefore)
      const loop = performance.eventLoopUtilization(loopBefore)
      const mainCpuSeconds = (await mainThreadCpuSeconds()) - mainBefore
      const figures = {
        idleSeconds: loop.idle / 1000,
        mainCpuSeconds,
        majorGcs: gcs.majors,
        minorGcs: gcs.minors,
        // Older commits' registries may lack findHistogram.
        checkpoints: metrics.findHistogram?.('sluice_checkpoint_seconds')?.observations ?? 0,
      }
      await profiler?.stop(`${label}-${variant}-${round}${records === warmup ? '-warmup' : ''}`)
      if (delivery === 'at-least-once') {
        // Outputs are visible once appended.
        while ((await log.endOffsets('totals')).reduce((a: number, b: number) => a + b, 0) < records.length)
          await new Promise((r) => setTimeout(r, 5))
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
        commit: label,
        round,
        variant,
        seconds,
        visibleSeconds,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        ...figures,
      }
    })
  }

  // The variants' order turns with the round, so none of them always runs first in a process.
  const order = ab.roundOrder(variantKeys, round - 1)
  if (warmup.length > 0) await runOnce(order[0]!, warmup)
  for (const variant of order) console.log(JSON.stringify(await runOnce(variant, all)))
}

/** Starts and stops the V8 CPU profiler of this process, writing each profile to `dir`. */
function inspectorProfiler(dir: string) {
  const session = new Session()
  session.connect()
  const post = (method: string) =>
    new Promise<unknown>((done, fail) =>
      session.post(method, (error, result) => (error ? fail(error) : done(result))),
    )
  return {
    async start() {
      await post('Profiler.enable')
      await post('Profiler.start')
    },
    async stop(name: string) {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown }
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, `${name}.cpuprofile`), JSON.stringify(profile))
    },
  }
}

// Last, after the module's constants are initialised.
if (args.tree !== undefined) await child(args.tree, args.label!, Number(args.round))
else await parent()
