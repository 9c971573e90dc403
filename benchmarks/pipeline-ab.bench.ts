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
 * tree), and the ratio of each tree's medians to the first tree's. On a loaded machine the CPU
 * figures and the ratios within one run are what count, not events/s.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
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
function runChild(tree: Tree, variant: Variant, args: readonly string[]): Run[] {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', 'benchmarks/pipeline-throughput.bench.ts', '--variant', variant, ...args],
    { cwd: tree.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 },
  )
  const last = out.trim().split('\n').pop() ?? ''
  return (JSON.parse(last) as { runs: Run[] }).runs
}

function main(): void {
  const args = parseArgs({
    options: {
      kafka: { type: 'string' },
      tree: { type: 'string', multiple: true },
      variants: { type: 'string', default: VARIANTS.join(',') },
      rounds: { type: 'string', default: '3' },
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
  const variants = args.variants.split(',').map((v) => v.trim()) as Variant[]
  for (const v of variants) if (!VARIANTS.includes(v)) throw new RangeError(`unknown variant ${v}`)
  const rounds = Number(args.rounds)
  const events = Number(args.events)
  const pid = brokerPid(args['broker-pid'])
  const childArgs = [
    '--kafka',
    brokers,
    '--events',
    String(events),
    '--runs',
    args.runs,
    '--warmup-runs',
    args['warmup-runs'],
    ...(pid === undefined ? [] : ['--broker-pid', pid]),
  ]

  const results = new Map<string, Run[]>()
  const key = (tree: Tree, variant: Variant) => `${tree.label}\u0000${variant}`
  const loads: number[] = []
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      // The order of the trees turns every round, so neither always runs first.
      const order = trees.map((_, i) => trees[(i + round) % trees.length]!)
      for (const tree of order) {
        loads.push(loadavg()[0]!)
        const runs = runChild(tree, variant, childArgs)
        results.set(key(tree, variant), [...(results.get(key(tree, variant)) ?? []), ...runs])
        const shown = runs.map((r) => `${(r.eventsPerSecond / 1000).toFixed(0)} k`).join(', ')
        process.stderr.write(`round ${round + 1}/${rounds} ${variant} ${tree.label}: ${shown}\n`)
      }
    }
  }

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
  process.stdout.write(`${lines.join('\n')}\n`)
}

main()
