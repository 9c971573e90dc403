/**
 * Nexmark A/B across commits (issue 13's regression hunt): one query's processing on the runtime
 * of each commit given, with the same input and the same harness, in alternating fresh processes.
 *
 *   node --import tsx benchmarks/nexmark-ab.bench.ts --commits 6372881,HEAD --query q1
 *   node --import tsx benchmarks/nexmark-ab.bench.ts --commits 6372881,HEAD --query q5 --rounds 4 --runs 3
 *
 * nexmark.bench.ts measures each commit with that commit's own harness, and the harness changed
 * along with the runtime (in-process ts-morph compiles that left ~50 MB on the heap, person and
 * auction topics appended for q8): figures from two of its reports mix both. Here, per commit, a
 * tree of its files (lib/commit-tree.ts: node_modules linked, WebAssembly kernels and CLI built,
 * removed at the end; `worktree` is this checkout) supplies the runtime and, compiling
 * examples/nexmark/<query>.pipe, the artifact; this file's generator writes the same seeded bids
 * to a fresh embedded log, and a child process per commit and round (lib/revision-rounds.ts: the
 * order turning every round, so all meet the same machine load) runs that commit's PipelineRunner
 * until caught up. Per run: CPU-s (process user + system from
 * runner start to caught up), processing (first batch → caught up, and first → last batch, which
 * leaves out the wait for the checkpoint that commits the last offsets), and GC counts (counts
 * depend far less on machine load than times do). The first run of each process is JIT warm-up
 * and is left out of the summary; ratios are of medians against the first commit, and per round
 * against the first commit's run of the same round (median and range of the rounds' ratios).
 * `--json FILE` writes every run and the ratios (lib/ab-run.ts).
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as ab from './lib/ab-run.ts'
import { compileWithTreeCli } from './lib/commit-tree.ts'
import { nexmarkEvents } from './lib/nexmark.ts'
import { median } from './lib/percentile.ts'
import { REVISION_CHILD_OPTIONS, runRevisionRounds } from './lib/revision-rounds.ts'
import { GcCounter, importTreeRuntime, runTreeNodeUntilCaughtUp, withScratchLog } from './lib/tree-runtime.ts'

interface RunFigures {
  readonly commit: string
  readonly round: number
  readonly run: number
  readonly cpuSeconds: number
  /** First batch handed to the runner → caught up, ms. */
  readonly processingMs: number
  /** First batch → end of the last batch, ms (without the wait for the final checkpoint). */
  readonly lastBatchMs: number
  readonly majorGcs: number
  readonly minorGcs: number
  readonly batches: number
}

const args = parseArgs({
  options: {
    ...ab.commitOptions('6372881,HEAD'),
    ...ab.roundOptions({ rounds: 3 }),
    query: { type: 'string', default: 'q1' },
    events: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '2' },
    ...REVISION_CHILD_OPTIONS,
  },
}).values
const events = ab.wholeNumberFlag('events', args.events, 1)
const runsPerProcess = ab.wholeNumberFlag('runs', args.runs, 2)

if (args.tree !== undefined) await child(args.tree, args.artifact!, args.label!, Number(args.round))
else await parent()

async function parent(): Promise<void> {
  const query = args.query
  const { plan, revisions, runs } = await runRevisionRounds<RunFigures>(args, {
    script: import.meta.url,
    childArgs: ['--events', String(events), '--runs', String(runsPerProcess)],
    prepare: ({ tree, scratch }) => {
      const artifact = join(scratch, query)
      compileWithTreeCli(tree, join('examples', 'nexmark', `${query}.pipe`), artifact)
      return ['--artifact', artifact]
    },
    onRuns: (figures) => {
      for (const run of figures)
        process.stderr.write(
          `  run ${run.run}: ${run.cpuSeconds.toFixed(2)} CPU-s, processing ${run.processingMs.toFixed(0)} ms (last batch at ${run.lastBatchMs.toFixed(0)}), GCs ${run.majorGcs} major / ${run.minorGcs} minor\n`,
        )
    },
  })
  // The first run of each process is JIT warm-up, and so are warm-up rounds.
  const warm = runs.filter((r) => !r.warmup).flatMap((r) => r.result.filter((f) => f.run > 1))
  const summary = revisions.map(({ label, sha }) => {
    const own = warm.filter((f) => f.commit === label)
    return {
      label,
      sha: sha.slice(0, 7),
      runs: own.length,
      cpu: median(own.map((f) => f.cpuSeconds)),
      cpuMin: Math.min(...own.map((f) => f.cpuSeconds)),
      processing: median(own.map((f) => f.processingMs)),
      lastBatch: median(own.map((f) => f.lastBatchMs)),
      majors: median(own.map((f) => f.majorGcs)),
    }
  })
  const base = summary[0]!
  console.log(`\n${query}, ${events} Nexmark events, warm runs (the first of each process left out):\n`)
  console.log(
    '| commit | runs | CPU-s (median) | CPU-s (min) | processing | last batch | major GCs | CPU vs first |',
  )
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const s of summary) {
    console.log(
      `| ${s.label} (${s.sha}) | ${s.runs} | ${s.cpu.toFixed(2)} | ${s.cpuMin.toFixed(2)} | ${(s.processing / 1000).toFixed(2)} s | ${(s.lastBatch / 1000).toFixed(2)} s | ${s.majors} | ${(s.cpu / base.cpu).toFixed(2)}× |`,
    )
  }
  const ratios = ab.ratiosByRound(
    warm.map((f) => ({ round: f.round, variant: f.commit, value: f.cpuSeconds })),
    base.label,
  )
  console.log('\nPer round against the first commit of the same round (CPU-s):\n')
  for (const r of ratios) console.log(ab.formatRatioSummary('CPU-s', r))
  await ab.writeAbReport(plan.json, {
    bench: 'nexmark-ab',
    options: args,
    plan,
    revisions,
    runs: runs.flatMap((r) => r.result.map((f) => ({ ...f, warmup: r.warmup || f.run === 1 }))),
    ratios: ratios.map((r) => ({ ...r, figure: 'CPU-s' })),
  })
}

async function child(tree: string, artifactDir: string, label: string, round: number): Promise<void> {
  // The commit's own runtime, from its tree.
  const runtime = await importTreeRuntime(tree)
  const { parseDurability } = await import(join(tree, 'runtime/log/embedded/durability.ts'))
  const gcs = new GcCounter()
  const gc = (globalThis as { gc?: () => void }).gc
  const artifact = await runtime.loadArtifact(artifactDir)
  const scratch = { log: { durability: parseDurability('100ms') }, state: { fsync: false } }
  for (let run = 1; run <= runsPerProcess; run++) {
    await withScratchLog(runtime, scratch, async (log, stateStore) => {
      await log.ensureTopic('bid')
      for (let from = 0; from < events; from += 10_000) {
        const records: { key: null; value: Buffer; timestamp: number }[] = []
        const n = Math.min(10_000, events - from)
        for (const event of nexmarkEvents(n, { seed: 42, eventsPerSecond: 10_000 }, from)) {
          if (event.topic !== 'bid') continue
          records.push({
            key: null,
            value: Buffer.from(JSON.stringify(event.value)),
            timestamp: event.timestamp,
          })
        }
        await log.append('bid', records)
      }
      gc?.()
      gcs.reset()
      const { timed, caughtUpNs, cpuSeconds } = await runTreeNodeUntilCaughtUp(runtime, log, {
        artifact,
        group: `ab.${round}.${run}`,
        maxBatchRecords: 1000,
        stateStore,
      })
      const figures: RunFigures = {
        commit: label,
        round,
        run,
        cpuSeconds,
        processingMs: Number(caughtUpNs - timed.firstCallStartNs) / 1e6,
        lastBatchMs: Number(timed.lastCallEndNs - timed.firstCallStartNs) / 1e6,
        majorGcs: gcs.majors,
        minorGcs: gcs.minors,
        batches: timed.durationsNs.length,
      }
      console.log(JSON.stringify(figures))
    })
  }
}
