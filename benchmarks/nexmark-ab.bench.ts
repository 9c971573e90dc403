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
 * detached git worktree under --trees (made once: node_modules linked, WebAssembly kernels and CLI
 * built, examples/nexmark/<query>.pipe compiled by that commit's compiler) supplies the runtime and
 * the artifact; this file's generator writes the same seeded bids to a fresh embedded log, and a
 * child process per commit and round (in turn: A, B, A, B, …, so both meet the same machine load)
 * runs that commit's PipelineRunner until caught up. Per run: CPU-s (process user + system from
 * runner start to caught up), processing (first batch → caught up, and first → last batch, which
 * leaves out the wait for the checkpoint that commits the last offsets), and GC counts (counts
 * depend far less on machine load than times do). The first run of each process is JIT warm-up
 * and is left out of the summary; ratios are of medians against the first commit.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PerformanceObserver } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { commitTree, runQuietlyIn } from './lib/commit-tree.ts'
import { nexmarkEvents } from './lib/nexmark.ts'
import { median } from './lib/percentile.ts'

const REPO = resolve(import.meta.dirname, '..')

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
    commits: { type: 'string', default: '6372881,HEAD' },
    query: { type: 'string', default: 'q1' },
    events: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '2' },
    trees: { type: 'string', default: join(tmpdir(), 'sluice-ab') },
    // Child mode: one commit's tree and artifact.
    tree: { type: 'string' },
    artifact: { type: 'string' },
    label: { type: 'string' },
    round: { type: 'string' },
  },
}).values

if (args.tree !== undefined) await child(args.tree, args.artifact!, args.label!, Number(args.round))
else await parent()

/** A worktree of `commit` ready to run (commit-tree.ts), with the query compiled by that commit's compiler. */
function prepareTree(commit: string, query: string): { sha: string; tree: string; artifact: string } {
  const { sha, tree } = commitTree(REPO, args.trees!, commit)
  const artifact = join(tree, '.ab', query)
  if (!existsSync(artifact)) {
    const pipe = join('examples', 'nexmark', `${query}.pipe`)
    runQuietlyIn(tree, ['bin/sluice.js', 'compile', pipe, '-o', artifact])
  }
  return { sha, tree, artifact }
}

async function parent(): Promise<void> {
  const query = args.query!
  const commits = args.commits!.split(',')
  const trees = commits.map((c) => ({ label: c, ...prepareTree(c, query) }))
  const figures: RunFigures[] = []
  for (let round = 1; round <= Number(args.rounds); round++) {
    for (const { label, tree, artifact } of trees) {
      process.stderr.write(`round ${round}: ${label} (${query}) …\n`)
      const stdout = execFileSync(
        process.execPath,
        [
          '--expose-gc',
          '--import',
          'tsx',
          fileURLToPath(import.meta.url),
          ...['--tree', tree, '--artifact', artifact, '--label', label, '--round', String(round)],
          ...['--events', args.events!, '--runs', args.runs!],
        ],
        { cwd: tree, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      )
      for (const line of stdout.trim().split('\n')) {
        const run = JSON.parse(line) as RunFigures
        figures.push(run)
        process.stderr.write(
          `  run ${run.run}: ${run.cpuSeconds.toFixed(2)} CPU-s, processing ${run.processingMs.toFixed(0)} ms (last batch at ${run.lastBatchMs.toFixed(0)}), GCs ${run.majorGcs} major / ${run.minorGcs} minor\n`,
        )
      }
    }
  }
  const summary = trees.map(({ label, sha }) => {
    const warm = figures.filter((f) => f.commit === label && f.run > 1)
    return {
      label,
      sha: sha.slice(0, 7),
      runs: warm.length,
      cpu: median(warm.map((f) => f.cpuSeconds)),
      cpuMin: Math.min(...warm.map((f) => f.cpuSeconds)),
      processing: median(warm.map((f) => f.processingMs)),
      lastBatch: median(warm.map((f) => f.lastBatchMs)),
      majors: median(warm.map((f) => f.majorGcs)),
    }
  })
  const base = summary[0]!
  console.log(`\n${query}, ${args.events} Nexmark events, warm runs (the first of each process left out):\n`)
  console.log(
    '| commit | runs | CPU-s (median) | CPU-s (min) | processing | last batch | major GCs | CPU vs first |',
  )
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const s of summary) {
    console.log(
      `| ${s.label} (${s.sha}) | ${s.runs} | ${s.cpu.toFixed(2)} | ${s.cpuMin.toFixed(2)} | ${(s.processing / 1000).toFixed(2)} s | ${(s.lastBatch / 1000).toFixed(2)} s | ${s.majors} | ${(s.cpu / base.cpu).toFixed(2)}× |`,
    )
  }
}

async function child(tree: string, artifactDir: string, label: string, round: number): Promise<void> {
  // The commit's own runtime: imported from its worktree (these modules have no types here).
  const { loadArtifact } = await import(join(tree, 'runtime/artifact/load.ts'))
  const { EmbeddedLog } = await import(join(tree, 'runtime/log/embedded.ts'))
  const { parseDurability } = await import(join(tree, 'runtime/log/embedded/durability.ts'))
  const { FileSnapshotStore } = await import(join(tree, 'runtime/state/file-snapshot-store.ts'))
  const { MetricsRegistry } = await import(join(tree, 'runtime/metrics/registry.ts'))
  const { PipelineRunner } = await import(join(tree, 'runtime/node/pipeline-runner.ts'))
  const { TimedLog } = await import(join(tree, 'benchmarks/lib/timed-log.ts'))
  let majors = 0
  let minors = 0
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as { detail?: { kind?: number } }).detail?.kind === 1) minors++
      else majors++
    }
  }).observe({ entryTypes: ['gc'] })
  const gc = (globalThis as { gc?: () => void }).gc
  const artifact = await loadArtifact(artifactDir)
  const events = Number(args.events)
  for (let run = 1; run <= Number(args.runs); run++) {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-ab-run-'))
    const log = await EmbeddedLog.open(join(dir, 'log'), { durability: parseDurability('100ms') })
    const stateStore = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
    try {
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
      majors = 0
      minors = 0
      const timed = new TimedLog(log)
      const cpuAtStart = process.cpuUsage()
      const runner = await PipelineRunner.start({
        artifact,
        log: timed,
        metrics: new MetricsRegistry(),
        group: `ab.${round}.${run}`,
        maxBatchRecords: 1000,
        stateStore,
      })
      await runner.waitUntilCaughtUp(600_000)
      const caughtUp = process.hrtime.bigint()
      const cpu = process.cpuUsage(cpuAtStart)
      const figures: RunFigures = {
        commit: label,
        round,
        run,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        processingMs: Number(caughtUp - timed.firstCallStartNs) / 1e6,
        lastBatchMs: Number(timed.lastCallEndNs - timed.firstCallStartNs) / 1e6,
        majorGcs: majors,
        minorGcs: minors,
        batches: timed.durationsNs.length,
      }
      await runner.stop()
      await runner.done
      console.log(JSON.stringify(figures))
    } finally {
      await stateStore.close()
      await log.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
