/**
 * The CEP benchmark end to end (cep.bench.ts's `sluice run` part) at two commits, in alternating
 * fresh processes: issue 14's end-to-end cost (decode, the CepOperator, the engine, select,
 * encode, append, checkpoints every second to files), where two separate runs of cep.bench.ts on
 * a loaded machine cannot be compared.
 *
 *   node --import tsx benchmarks/cep-e2e-ab.bench.ts --commits 8982eee,HEAD
 *   node --import tsx benchmarks/cep-e2e-ab.bench.ts --commits 8982eee,HEAD --rounds 4 --events 500000
 *
 * Per commit, a tree of its files (lib/commit-tree.ts: kernels and CLI built, removed at the end;
 * `worktree` is this checkout) whose compiler compiles the benchmark's pipeline (lib/cep-e2e.ts)
 * with the WebAssembly engine and whose runtime runs it; this file's generator writes the same
 * seeded payments as JSON lines to a fresh embedded log. One process per commit and round
 * (lib/revision-rounds.ts), the order of the commits turning every round so that all meet the
 * same machine load; each runs the PipelineRunner until caught up,
 * with `sluice run`'s defaults (durability 100 ms, state snapshots in files every second).
 * Per run: CPU-s of the process from runner start to caught up (so events per CPU-s), the peak
 * RSS sampled every 50 ms over the same span, the partial matches held (max) and the matches
 * written, which must agree between commits. Ratios are of medians against the first commit, and
 * per round against the first commit's run of the same round (median and range of the rounds'
 * ratios). `--json FILE` writes every run and the ratios (lib/ab-run.ts); else stdout only.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as ab from './lib/ab-run.ts'
import { appendPayments, cepPipeline } from './lib/cep-e2e.ts'
import { compileWithTreeCli } from './lib/commit-tree.ts'
import { median } from './lib/percentile.ts'
import { REVISION_CHILD_OPTIONS, runRevisionRounds } from './lib/revision-rounds.ts'
import { importTreeRuntime, runTreeNodeUntilCaughtUp, withScratchLog } from './lib/tree-runtime.ts'

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
    ...ab.commitOptions('8982eee,HEAD'),
    ...ab.roundOptions({ rounds: 3 }),
    events: { type: 'string', default: '500000' },
    keys: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '42' },
    ...REVISION_CHILD_OPTIONS,
  },
}).values
const events = ab.wholeNumberFlag('events', args.events, 1)
const keys = ab.wholeNumberFlag('keys', args.keys, 1)
const rate = ab.wholeNumberFlag('rate', args.rate, 1)
const seed = ab.wholeNumberFlag('seed', args.seed, 0)

if (args.tree !== undefined) await child(args.tree, args.artifact!, args.label!, Number(args.round))
else await parent()

async function parent(): Promise<void> {
  const { plan, revisions, runs } = await runRevisionRounds<RunFigures>(args, {
    script: import.meta.url,
    childArgs: [
      '--events',
      String(events),
      '--keys',
      String(keys),
      '--rate',
      String(rate),
      '--seed',
      String(seed),
    ],
    // The pipeline compiled by each commit's compiler, with the WebAssembly engine.
    prepare: ({ tree, scratch }) => {
      const pipe = join(scratch, 'cep-e2e.pipe')
      writeFileSync(pipe, cepPipeline(SOURCE, SINK))
      compileWithTreeCli(tree, pipe, join(scratch, 'cep-e2e'))
      return ['--artifact', join(scratch, 'cep-e2e')]
    },
    onRuns: ([run]) =>
      process.stderr.write(
        `  ${run!.cpuSeconds.toFixed(2)} CPU-s (${perCpuSecond(run!).toFixed(0)} k events per CPU-s), processing ${(run!.processingMs / 1000).toFixed(2)} s, peak RSS ${mib(run!.peakRssBytes)} MiB, ${run!.maxPartialMatches} partial matches, ${run!.matches} matches\n`,
      ),
  })
  const all = runs.flatMap((r) => r.result.map((f) => ({ ...f, warmup: r.warmup })))
  const written = new Set(all.map((f) => f.matches))
  if (written.size !== 1)
    throw new Error(`the commits wrote different numbers of matches: ${[...written].join(', ')}`)
  const figures = all.filter((f) => !f.warmup)
  const summary = revisions.map(({ label, sha }) => {
    const own = figures.filter((f) => f.commit === label)
    return {
      label,
      sha: sha.slice(0, 7),
      runs: own.length,
      perCpu: median(own.map(perCpuSecond)),
      cpu: median(own.map((f) => f.cpuSeconds)),
      processing: median(own.map((f) => f.processingMs)),
      rss: median(own.map((f) => f.peakRssBytes)),
      partials: Math.max(...own.map((f) => f.maxPartialMatches)),
    }
  })
  const base = summary[0]!
  console.log(
    `\n${events} payments over ${keys} cards end to end (WebAssembly engine), one process per run:\n`,
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
  const ratiosOf = (figure: string, value: (run: RunFigures) => number) =>
    ab
      .ratiosByRound(
        figures.map((f) => ({ round: f.round, variant: f.commit, value: value(f) })),
        base.label,
      )
      .map((r) => ({ ...r, figure }))
  const ratios = [
    ...ratiosOf('events per CPU-s', perCpuSecond),
    ...ratiosOf('peak RSS', (f) => f.peakRssBytes),
  ]
  console.log('\nPer round against the first commit of the same round:\n')
  for (const r of ratios) console.log(ab.formatRatioSummary(r.figure, r))
  await ab.writeAbReport(plan.json, {
    bench: 'cep-e2e-ab',
    options: args,
    plan,
    revisions,
    runs: all,
    ratios,
  })
}

function perCpuSecond(run: RunFigures): number {
  return run.events / run.cpuSeconds / 1000
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1)
}

async function child(tree: string, artifactDir: string, label: string, round: number): Promise<void> {
  // The commit's own runtime, from its tree.
  const runtime = await importTreeRuntime(tree)
  const artifact = await runtime.loadArtifact(artifactDir)
  const scratch = { log: { durability: { intervalMs: 100 } } }
  await withScratchLog(runtime, scratch, async (log, stateStore) => {
    await log.ensureTopic(SOURCE, { partitions: 1 })
    await appendPayments(log, SOURCE, events, { seed, keys, eventsPerSecond: rate })
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
    const { timed, caughtUpNs, cpuSeconds } = await runTreeNodeUntilCaughtUp(runtime, log, {
      artifact,
      group: `ab.${round}`,
      partitions: 1,
      deadLetterTopic: 'dead-letter',
      stateStore,
      onMatchOperator: (_id: string, operator: { partialMatches: number }) => void operators.push(operator),
    })
    clearInterval(sampler)
    sample()
    const total = async (topic: string) =>
      ((await log.endOffsets(topic)) as number[]).reduce((a: number, b: number) => a + b, 0)
    if ((await total('dead-letter')) !== 0 || timed.records !== events)
      throw new Error(`${label}: handled ${timed.records}/${events} records, or wrote dead letters`)
    const figures: RunFigures = {
      commit: label,
      round,
      events,
      cpuSeconds,
      processingMs: Number(caughtUpNs - timed.firstCallStartNs) / 1e6,
      peakRssBytes: peakRss,
      maxPartialMatches,
      matches: await total(SINK),
    }
    console.log(JSON.stringify(figures))
  })
}
