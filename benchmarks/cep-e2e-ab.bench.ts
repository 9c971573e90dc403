/**
 * The CEP benchmark end to end (cep.bench.ts's `sluice run` part) at two commits, in alternating
 * fresh processes: issue 14's end-to-end cost (decode, the CepOperator, the engine, select,
 * encode, append, checkpoints every second to files), where two separate runs of cep.bench.ts on
 * a loaded machine cannot be compared.
 *
 *   node --import tsx benchmarks/cep-e2e-ab.bench.ts --commits 8982eee,HEAD
 *   node --import tsx benchmarks/cep-e2e-ab.bench.ts --commits 8982eee,HEAD --rounds 4 --events 500000
 *
 * Per commit, a detached worktree under --trees (lib/commit-tree.ts: kernels and CLI built) whose
 * compiler compiles the benchmark's pipeline (lib/cep-e2e.ts) with the WebAssembly engine and
 * whose runtime runs it; this file's generator writes the same seeded payments as JSON lines to a
 * fresh embedded log. One process per commit and round, the order of the commits swapped every
 * round so that both meet the same machine load; each runs the PipelineRunner until caught up,
 * with `sluice run`'s defaults (durability 100 ms, state snapshots in files every second).
 * Per run: CPU-s of the process from runner start to caught up (so events per CPU-s), the peak
 * RSS sampled every 50 ms over the same span, the partial matches held (max) and the matches
 * written, which must agree between commits. Ratios are of medians against the first commit.
 * Stdout only: no report is written.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { appendPayments, cepPipeline } from './lib/cep-e2e.ts'
import { commitTree, runQuietlyIn } from './lib/commit-tree.ts'
import { median } from './lib/percentile.ts'

const REPO = resolve(import.meta.dirname, '..')
const SOURCE = 'payments'
const SINK = 'suspicious'

interface RunFigures {
  readonly commit: string
  readonly round: number
  readonly events: number
  readonly cpuSeconds: number
  /** First batch handed to the runner → caught up, ms. */
  readonly processingMs: number
  readonly peakRssBytes: number
  readonly maxPartialMatches: number
  readonly matches: number
}

const args = parseArgs({
  options: {
    commits: { type: 'string', default: '8982eee,HEAD' },
    events: { type: 'string', default: '500000' },
    keys: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '42' },
    rounds: { type: 'string', default: '3' },
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

/** A worktree of `commit` ready to run, with the pipeline compiled by its compiler (WebAssembly engine). */
function prepareTree(commit: string): { sha: string; tree: string; artifact: string } {
  const { sha, tree } = commitTree(REPO, args.trees!, commit)
  const dir = join(tree, '.ab')
  const artifact = join(dir, 'cep-e2e')
  if (!existsSync(artifact)) {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'cep-e2e.pipe'), cepPipeline(SOURCE, SINK))
    runQuietlyIn(tree, ['bin/sluice.js', 'compile', join(dir, 'cep-e2e.pipe'), '-o', artifact])
  }
  return { sha, tree, artifact }
}

async function parent(): Promise<void> {
  const commits = args.commits!.split(',')
  const trees = commits.map((c) => ({ label: c, ...prepareTree(c) }))
  const figures: RunFigures[] = []
  for (let round = 1; round <= Number(args.rounds); round++) {
    const order = round % 2 === 1 ? trees : [...trees].reverse()
    for (const { label, tree, artifact } of order) {
      process.stderr.write(`round ${round}: ${label} … `)
      const stdout = execFileSync(
        process.execPath,
        [
          '--expose-gc',
          '--import',
          'tsx',
          fileURLToPath(import.meta.url),
          ...['--tree', tree, '--artifact', artifact, '--label', label, '--round', String(round)],
          ...['--events', args.events!, '--keys', args.keys!, '--rate', args.rate!, '--seed', args.seed!],
        ],
        { cwd: tree, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      )
      const run = JSON.parse(stdout.trim()) as RunFigures
      figures.push(run)
      process.stderr.write(
        `${run.cpuSeconds.toFixed(2)} CPU-s (${perCpuSecond(run).toFixed(0)} k events per CPU-s), processing ${(run.processingMs / 1000).toFixed(2)} s, peak RSS ${mib(run.peakRssBytes)} MiB, ${run.maxPartialMatches} partial matches, ${run.matches} matches\n`,
      )
    }
  }
  const written = new Set(figures.map((f) => f.matches))
  if (written.size !== 1)
    throw new Error(`the commits wrote different numbers of matches: ${[...written].join(', ')}`)
  const summary = trees.map(({ label, sha }) => {
    const runs = figures.filter((f) => f.commit === label)
    return {
      label,
      sha: sha.slice(0, 7),
      runs: runs.length,
      perCpu: median(runs.map(perCpuSecond)),
      cpu: median(runs.map((f) => f.cpuSeconds)),
      processing: median(runs.map((f) => f.processingMs)),
      rss: median(runs.map((f) => f.peakRssBytes)),
      partials: Math.max(...runs.map((f) => f.maxPartialMatches)),
    }
  })
  const base = summary[0]!
  console.log(
    `\n${args.events} payments over ${args.keys} cards end to end (WebAssembly engine), one process per run:\n`,
  )
  console.log(
    '| commit | runs | k events per CPU-s (median) | CPU-s | processing | peak RSS | partial matches (max) | per CPU-s vs first | peak RSS vs first |',
  )
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const s of summary) {
    console.log(
      `| ${s.label} (${s.sha}) | ${s.runs} | ${s.perCpu.toFixed(0)} | ${s.cpu.toFixed(2)} | ${(s.processing / 1000).toFixed(2)} s | ${mib(s.rss)} MiB | ${s.partials} | ${(s.perCpu / base.perCpu).toFixed(2)}× | ${(s.rss / base.rss).toFixed(2)}× |`,
    )
  }
}

function perCpuSecond(run: RunFigures): number {
  return run.events / run.cpuSeconds / 1000
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1)
}

async function child(tree: string, artifactDir: string, label: string, round: number): Promise<void> {
  // The commit's own runtime: imported from its worktree (these modules have no types here).
  const { loadArtifact } = await import(join(tree, 'runtime/artifact/load.ts'))
  const { EmbeddedLog } = await import(join(tree, 'runtime/log/embedded.ts'))
  const { FileSnapshotStore } = await import(join(tree, 'runtime/state/file-snapshot-store.ts'))
  const { MetricsRegistry } = await import(join(tree, 'runtime/metrics/registry.ts'))
  const { PipelineRunner } = await import(join(tree, 'runtime/node/pipeline-runner.ts'))
  const { TimedLog } = await import(join(tree, 'benchmarks/lib/timed-log.ts'))
  const artifact = await loadArtifact(artifactDir)
  const events = Number(args.events)
  const dir = await mkdtemp(join(tmpdir(), 'sluice-cep-e2e-ab-'))
  const log = await EmbeddedLog.open(join(dir, 'log'), { durability: { intervalMs: 100 } })
  const stateStore = new FileSnapshotStore(join(dir, 'state'))
  try {
    await log.ensureTopic(SOURCE, { partitions: 1 })
    await appendPayments(log, SOURCE, events, {
      seed: Number(args.seed),
      keys: Number(args.keys),
      eventsPerSecond: Number(args.rate),
    })
    ;(globalThis as { gc?: () => void }).gc?.()
    const operators: { partialMatches: number }[] = []
    let peakRss = 0
    let maxPartialMatches = 0
    const sample = () => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss())
      for (const operator of operators)
        maxPartialMatches = Math.max(maxPartialMatches, operator.partialMatches)
    }
    const sampler = setInterval(sample, 50)
    const timed = new TimedLog(log)
    const cpuAtStart = process.cpuUsage()
    const runner = await PipelineRunner.start({
      artifact,
      log: timed,
      metrics: new MetricsRegistry(),
      group: `ab.${round}`,
      partitions: 1,
      deadLetterTopic: 'dead-letter',
      stateStore,
      onMatchOperator: (_id: string, operator: { partialMatches: number }) => void operators.push(operator),
    })
    await runner.waitUntilCaughtUp(600_000)
    const caughtUp = process.hrtime.bigint()
    const cpu = process.cpuUsage(cpuAtStart)
    clearInterval(sampler)
    sample()
    await runner.stop()
    await runner.done
    const total = async (topic: string) =>
      ((await log.endOffsets(topic)) as number[]).reduce((a: number, b: number) => a + b, 0)
    if ((await total('dead-letter')) !== 0 || timed.records !== events)
      throw new Error(`${label}: handled ${timed.records}/${events} records, or wrote dead letters`)
    const figures: RunFigures = {
      commit: label,
      round,
      events,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      processingMs: Number(caughtUp - timed.firstCallStartNs) / 1e6,
      peakRssBytes: peakRss,
      maxPartialMatches,
      matches: await total(SINK),
    }
    console.log(JSON.stringify(figures))
  } finally {
    await stateStore.close()
    await log.close()
    await rm(dir, { recursive: true, force: true })
  }
}
