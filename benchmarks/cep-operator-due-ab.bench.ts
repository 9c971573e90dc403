/**
 * The CepOperator's due time (issues 13/14; docs/decisions/0020, fourth addendum) against the rule
 * before it, in one process, alternating passes over the same batches of the CEP benchmark's
 * payments (lib/cep-workload.ts) given to the operator as source batches (each payment its own
 * record, no delay), on the WebAssembly kernel:
 *
 * - "previous rule": dueAt is the earliest buffered event only (a subclass restores it), so the
 *   engine's time advances when a record releases an event and at the batch's last record;
 * - "working tree": dueAt is also the engine's next expiry, for patterns whose expiries emit
 *   something (watermark-ended.ts). Run once for the benchmark's pattern as it is (no timeout
 *   output: the rule does not apply, the per-event loop must cost the same) and once with a
 *   `timeout into` (the rule applies: the engine is asked its next expiry after each advance).
 *
 *   node --import tsx benchmarks/cep-operator-due-ab.bench.ts --events 500000 --keys 100000
 *
 * With `--compare batch`, the variants are instead the working tree stepping per record
 * (`stepsPerBatch` false) and per batch (a batch's releases in one stepSegments call; for the
 * pattern with `timeout into`, one segment per record that moves the watermark: decision 0032,
 * addendum of 16:25). Per batch is the operator's default for both patterns (on the kernel for
 * the one with `timeout into` since decision 0032's addendum of 20:00).
 *
 * Figures: events per CPU-second of this process per pass, `--warmup-rounds` (default 1) left out
 * of the means, `--rounds` (default 3) measured, the variants' order turning every round; beside
 * the ratio of the means, each round's ratio (median and range over the rounds: lib/ab-run.ts).
 * Both variants must emit the same number of matches and timeouts. `--json FILE` writes every
 * pass and the ratios; else stdout only.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { EventBatch } from '../runtime/artifact/operators.ts'
import { CepOperator } from '../runtime/cep/cep-operator.ts'
import type { CepFunctions, MatchContext, PatternEngineFactory } from '../runtime/cep/engine.ts'
import { compileNfa } from '../runtime/cep/nfa-compile.ts'
import { compileKernelSource, KERNELS_DIR } from '../wasm/build.ts'
import { loadCepKernel } from '../wasm/host/cep-kernel.ts'
import * as ab from './lib/ab-run.ts'
import { CEP_BENCH_FUNCTIONS, CEP_BENCH_SPEC, cepBatches } from './lib/cep-workload.ts'

const { values: args } = parseArgs({
  options: {
    ...ab.roundOptions({ rounds: 3, warmupRounds: 1 }),
    events: { type: 'string', default: '500000' },
    keys: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '42' },
    compare: { type: 'string', default: 'due' },
  },
})
if (args.compare !== 'due' && args.compare !== 'batch') throw new RangeError('--compare is due or batch')
const plan = ab.readRoundFlags(args)
const events = ab.wholeNumberFlag('events', args.events, 1)
const keys = ab.wholeNumberFlag('keys', args.keys, 1)
const seed = ab.wholeNumberFlag('seed', args.seed, 0)

const UNBOUNDED = { maxPerKey: Number.POSITIVE_INFINITY, maxTotal: Number.POSITIVE_INFINITY }

/** The operator with the due time of the previous commit: buffered events only. */
class PreviousRuleOperator extends CepOperator {
  protected override dueAt(): number {
    return (this as unknown as { waiting: { dueAt: number } }).waiting.dueAt
  }
}

const kernel = await loadCepKernel(await compileKernelSource(join(KERNELS_DIR, 'cep.ts')))
const factory: PatternEngineFactory = kernel.factory(compileNfa)
const released = cepBatches(events, { seed, keys, eventsPerSecond: keys / 100 }, 4096)
// The same payments as source batches: each its own record, times in order.
const batches = released.map((b) => {
  const input: EventBatch = {
    values: b.rows,
    keys: b.rows.map(() => null),
    timestamps: Array.from(b.times),
    origins: Array.from({ length: b.length }, (_, i) => i),
    length: b.length,
  }
  return { input, maxTimes: Float64Array.from(b.times), last: b.length - 1 }
})

const withTimeouts: CepFunctions = {
  ...CEP_BENCH_FUNCTIONS,
  timeout: (context: MatchContext, key: string) => ({ card: key, smalls: context.events(0).length }),
}

function pass(operator: CepOperator): { cpu: number; outputs: number } {
  let outputs = 0
  const cpu0 = process.cpuUsage()
  for (const b of batches) {
    const out = operator.process(b.input, b.maxTimes, b.last)
    outputs += out.results.length + out.timeouts.length
  }
  const cpu = process.cpuUsage(cpu0)
  return { cpu: (cpu.user + cpu.system) / 1e6, outputs }
}

const runs: { label: string; round: number; warmup: boolean; variant: string; eventsPerCpuSecond: number }[] =
  []
const ratios: ab.NamedRatios[] = []
for (const [label, functions] of [
  ['no timeout output (rule off)', CEP_BENCH_FUNCTIONS],
  ['with `timeout into` (rule on)', withTimeouts],
] as const) {
  const stepping = (perBatch: boolean) => () => {
    const operator = new CepOperator(CEP_BENCH_SPEC, functions, 0, factory, UNBOUNDED)
    operator.stepsPerBatch = perBatch
    return operator
  }
  const variants =
    args.compare === 'batch'
      ? [
          { name: 'per record', make: stepping(false) },
          { name: 'per batch', make: stepping(true) },
        ]
      : [
          {
            name: 'previous rule',
            make: () => new PreviousRuleOperator(CEP_BENCH_SPEC, functions, 0, factory, UNBOUNDED),
          },
          {
            name: 'working tree',
            make: () => new CepOperator(CEP_BENCH_SPEC, functions, 0, factory, UNBOUNDED),
          },
        ]
  const [first, second] = variants.map((v) => v.name) as [string, string]
  let expectedOutputs: number | null = null
  const passes = await ab.alternate(variants, plan, (variant, { round, warmup }) => {
    const { cpu, outputs } = pass(variant.make())
    expectedOutputs ??= outputs
    if (outputs !== expectedOutputs)
      throw new Error(`${variant.name} emitted ${outputs} outputs, the other ${expectedOutputs}`)
    const rate = events / cpu
    console.log(
      `${label}, round ${round}${warmup ? ' (warm-up)' : ''}, ${variant.name}: ${Math.round(rate / 1000)} k events/CPU-s`,
    )
    return rate
  })
  const measured = passes.filter((p) => !p.warmup)
  const mean = (name: string) => {
    const rates = measured.filter((p) => p.variant.name === name).map((p) => p.result)
    return rates.reduce((a, b) => a + b, 0) / rates.length
  }
  const [base, tree] = [mean(first), mean(second)]
  console.log(
    `${label}: ${first} ${Math.round(base / 1000)} k, ${second} ${Math.round(tree / 1000)} k events/CPU-s; ${second} ÷ ${first}: ${(tree / base).toFixed(2)}× (${expectedOutputs} outputs)`,
  )
  const own = ab
    .ratiosByRound(
      measured.map((p) => ({ round: p.round, variant: p.variant.name, value: p.result })),
      first,
    )
    .map((r) => ({ ...r, figure: 'events per CPU-s', group: label }))
  for (const r of own) console.log(`${label}: ${ab.formatRatioSummary(r.figure, r, 2)}`)
  ratios.push(...own)
  runs.push(
    ...passes.map((p) => ({
      label,
      round: p.round,
      warmup: p.warmup,
      variant: p.variant.name,
      eventsPerCpuSecond: p.result,
    })),
  )
}
await ab.writeAbReport(plan.json, { bench: 'cep-operator-due-ab', options: args, plan, runs, ratios })
