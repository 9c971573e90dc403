/**
 * Kafka pipeline throughput A/B across source trees (issue 15): pipeline-throughput.bench.ts's
 * Kafka variants, each run by the bench of each tree given, in fresh processes that alternate
 * (A, B, A, B, … with the order turning every round), so that both meet the same machine load.
 *
 *   node --import tsx benchmarks/pipeline-ab.bench.ts --kafka 127.0.0.1:19092 \
 *     --tree before=/tmp/sluice-8982eee --tree after=. --rounds 4
 *
 * A tree is a checkout with node_modules and wasm/dist in place (e.g. `git archive <commit>`
 * unpacked, node_modules linked, wasm/dist copied or built): this script makes none, so it never
 * touches a repository's worktree list. Per process: `--warmup-runs` left out, then `--runs`
 * measured runs of `--events` events (pipeline-throughput.bench.ts's child mode, `--variant`).
 * Reported per tree and variant: medians of events/s, the node's CPU-seconds per million input
 * events and the local broker's (`--broker-pid`, else scripts/servers/kafka.sh's pid file of this
 * tree), the ratio of each tree's medians to the first tree's, and per round the ratio to the
 * first tree's process of the same round (median and range over the rounds: lib/ab-run.ts, which
 * also turns the order and writes `--json FILE`). On a loaded machine the CPU figures and the
 * ratios within one run are what count, not events/s.
 */
import { existsSync, readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import * as ab from './lib/ab-run.ts'
import { runChildJsonLast } from './lib/child-run.ts'
import { median } from './lib/percentile.ts'

const VARIANTS = ['kafka', 'kafka-exactly-once'] as const
type Variant = (typeof VARIANTS)[number]

interface Tree {
  readonly label: string
  readonly dir: string
}

interface Run {
  readonly eventsPerSecond: number
  readonly cpuSeconds: number
  readonly brokerCpuSeconds: number | null
}

function parseTrees(specs: readonly string[]): Tree[] {
  return specs.map((spec) => {
    const at = spec.indexOf('=')
    if (at <= 0) throw new RangeError(`--tree takes label=directory, got '${spec}'`)
    const dir = resolve(spec.slice(at + 1))
    if (!existsSync(join(dir, 'benchmarks/pipeline-throughput.bench.ts')))
      throw new RangeError(`--tree ${spec}: no benchmarks/pipeline-throughput.bench.ts there`)
    if (!existsSync(join(dir, 'node_modules'))) throw new RangeError(`--tree ${spec}: no node_modules there`)
    return { label: spec.slice(0, at), dir }
  })
}

function brokerPid(given: string | undefined): string | undefined {
  if (given !== undefined) return given
  const file = join(import.meta.dirname, '../.cache/run/kafka/kafka.pid')
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined
}

/** One fresh process of `tree`'s bench for `variant`: its measured runs. */
async function runChild(tree: Tree, variant: Variant, args: readonly string[]): Promise<Run[]> {
  const result = await runChildJsonLast<{ runs: Run[] }>({
    script: 'benchmarks/pipeline-throughput.bench.ts',
    cwd: tree.dir,
    args: ['--variant', variant, ...args],
  })
  return result.runs
}

async function main(): Promise<void> {
  const args = parseArgs({
    options: {
      ...ab.roundOptions({ rounds: 3 }),
      kafka: { type: 'string' },
      tree: { type: 'string', multiple: true },
      variants: { type: 'string', default: VARIANTS.join(',') },
      runs: { type: 'string', default: '2' },
      'warmup-runs': { type: 'string', default: '1' },
      events: { type: 'string', default: '500000' },
      'broker-pid': { type: 'string' },
    },
  }).values
  const brokers = args.kafka ?? process.env.SLUICE_KAFKA_BROKERS
  if (brokers === undefined) throw new Error('--kafka <brokers> (or SLUICE_KAFKA_BROKERS) is needed')
  const trees = parseTrees(args.tree ?? [])
  if (trees.length < 2) throw new RangeError('give at least two --tree label=directory')
  if (new Set(trees.map((t) => t.label)).size !== trees.length)
    throw new RangeError('each --tree label once (runs are told apart by it)')
  const variants = args.variants.split(',').map((v) => v.trim()) as Variant[]
  for (const v of variants) if (!VARIANTS.includes(v)) throw new RangeError(`unknown variant ${v}`)
  const plan = ab.readRoundFlags(args)
  const events = ab.wholeNumberFlag('events', args.events, 1)
  const pid = brokerPid(args['broker-pid'])
  const childArgs = [
    '--kafka',
    brokers,
    '--events',
    String(events),
    '--runs',
    String(ab.wholeNumberFlag('runs', args.runs, 1)),
    '--warmup-runs',
    String(ab.wholeNumberFlag('warmup-runs', args['warmup-runs'], 0)),
    ...(pid === undefined ? [] : ['--broker-pid', pid]),
  ]

  const loads: number[] = []
  // Per round and variant, every tree once in the round's turning order.
  const measured = await ab.alternate(
    trees,
    plan,
    async (tree, { round, warmup, group: variant }) => {
      loads.push(loadavg()[0]!)
      const runs = await runChild(tree, variant, childArgs)
      const shown = runs.map((r) => `${(r.eventsPerSecond / 1000).toFixed(0)} k`).join(', ')
      process.stderr.write(
        `round ${round}/${plan.rounds}${warmup ? ' (warm-up)' : ''} ${variant} ${tree.label}: ${shown}\n`,
      )
      return runs
    },
    variants,
  )
  const results = new Map<string, Run[]>()
  const key = (tree: Tree, variant: Variant) => `${tree.label}\u0000${variant}`
  for (const { variant: tree, group, result, warmup } of measured)
    if (!warmup) results.set(key(tree, group), [...(results.get(key(tree, group)) ?? []), ...result])
  const rounds = plan.rounds

  const perMillion = (seconds: number) => (seconds * 1e6) / events
  const lines = [
    `Kafka pipeline A/B, ${rounds} round(s) × ${args.runs} run(s) of ${events.toLocaleString('en-US')} events per tree and variant, ${new Date().toISOString()}; load average (1 min) during the run ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} on ${cpus().length} cores.`,
    '',
    '| variant | tree | runs | events/s (median) | CPU-s per 1M (median) | broker CPU-s per 1M (median) | events/s vs first | CPU-s per 1M vs first |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const variant of variants) {
    const base = results.get(key(trees[0]!, variant)) ?? []
    const baseRate = median(base.map((r) => r.eventsPerSecond))
    const baseCpu = median(base.map((r) => perMillion(r.cpuSeconds)))
    for (const tree of trees) {
      const runs = results.get(key(tree, variant)) ?? []
      const rate = median(runs.map((r) => r.eventsPerSecond))
      const cpu = median(runs.map((r) => perMillion(r.cpuSeconds)))
      const broker = runs.flatMap((r) =>
        r.brokerCpuSeconds === null ? [] : [perMillion(r.brokerCpuSeconds)],
      )
      lines.push(
        `| ${variant} | ${tree.label} | ${runs.length} | ${(rate / 1000).toFixed(1)} k | ${cpu.toFixed(2)} | ${broker.length === 0 ? '—' : median(broker).toFixed(2)} | ${(rate / baseRate).toFixed(2)}× | ${(cpu / baseCpu).toFixed(2)}× |`,
      )
    }
  }
  lines.push('', 'Every run (events/s; CPU-s per 1M; broker CPU-s per 1M):', '')
  for (const [k, runs] of results) {
    const [label, variant] = k.split('\u0000')
    const shown = runs.map(
      (r) =>
        `${(r.eventsPerSecond / 1000).toFixed(0)} k; ${perMillion(r.cpuSeconds).toFixed(2)}; ${r.brokerCpuSeconds === null ? '—' : perMillion(r.brokerCpuSeconds).toFixed(2)}`,
    )
    lines.push(`- ${variant} ${label}: ${shown.join(' | ')}`)
  }
  // Each tree's process against the first tree's process of the same round and variant.
  const ratios: ab.NamedRatios[] = variants.flatMap((variant) => {
    const own = measured.filter((m) => m.group === variant && !m.warmup)
    const ratiosOf = (figure: string, value: (run: Run) => number) =>
      ab
        .ratiosByRound(
          own.flatMap((m) =>
            m.result.map((r) => ({ round: m.round, variant: m.variant.label, value: value(r) })),
          ),
          trees[0]!.label,
        )
        .map((r) => ({ ...r, figure, group: variant }))
    return [
      ...ratiosOf('events/s', (r) => r.eventsPerSecond),
      ...ratiosOf('CPU-s per 1M', (r) => r.cpuSeconds),
    ]
  })
  lines.push('', 'Per round against the first tree of the same round:', '')
  for (const r of ratios) lines.push(`- ${r.group} ${ab.formatRatioSummary(r.figure, r)}`)
  process.stdout.write(`${lines.join('\n')}\n`)
  await ab.writeAbReport(plan.json, {
    bench: 'pipeline-ab',
    options: args,
    plan,
    runs: measured.flatMap((m) =>
      m.result.map((r) => ({
        round: m.round,
        warmup: m.warmup,
        variant: m.group,
        tree: m.variant.label,
        ...r,
      })),
    ),
    ratios,
  })
}

await main()
