/**
 * Fused generated code vs the reference interpreter, on one 3-operator stateless chain
 * (filter → map → key by) over the same pre-decoded events.
 *
 *   npm run bench                                   # 1M events, writes benchmarks/reports/fused-vs-interpreted.*
 *   node --import tsx benchmarks/fused-vs-interpreted.bench.ts --events 200000 --time 2000 --out /tmp/r
 *
 * - fused: the artifact `compileSource` produces for PIPELINE, loaded through the runtime's
 *   artifact loader; its one chain function runs a whole batch in one loop.
 * - interpreted: `createInterpreter` over the same checked, unfused IR: one object per operator,
 *   one `push` per event per operator (compiler/ir/interpret.ts).
 *
 * Both variants see the same decoded events (generated from the same seed), cut into the same
 * batches. Each variant is measured in its own fresh node process (this script re-run with
 * `--variant <name>`), so neither inherits the other's heap, JIT state or V8 pretenuring decisions.
 * Before that, the outputs of both are compared on a prefix of the input and the run aborts if
 * they differ.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { writeArtifact } from '../compiler/artifact/package.ts'
import { compileSource } from '../compiler/compile.ts'
import { checkSource } from '../compiler/frontend.ts'
import { createInterpreter, type InterpreterEvent } from '../compiler/ir/interpret.ts'
import type { Pipeline } from '../compiler/ir/types.ts'
import { loadArtifact } from '../runtime/artifact/load.ts'
import {
  type ChainError,
  type ChainFunction,
  createEventBatch,
  type EventBatch,
} from '../runtime/artifact/operators.ts'
import { measureVariant, type VariantResult, type VariantSpec } from './lib/measure.ts'
import { generatePayments, type Payment, paymentPipeline } from './lib/payments.ts'
import {
  type BenchmarkReport,
  computeRatios,
  formatRate,
  formatRatio,
  machineInfo,
  renderConsoleTable,
  writeReport,
} from './lib/report.ts'

const NAME = 'fused-vs-interpreted'
const SOURCE_NAME = 'payments'
const TARGET_EVENTS_PER_SECOND = 5_000_000
const TARGET_SPEEDUP = 3

const PIPELINE = paymentPipeline()

interface Chunk {
  readonly start: number
  readonly end: number
}

function chunks(total: number, size: number): Chunk[] {
  const out: Chunk[] = []
  for (let start = 0; start < total; start += size) out.push({ start, end: Math.min(total, start + size) })
  return out
}

/** The fused variant: the generated chain function over pre-built input batches. */
function fusedVariant(chain: ChainFunction, payments: readonly Payment[]): VariantSpec<EventBatch> {
  const output = createEventBatch(0)
  const errors: ChainError[] = []
  return {
    name: 'fused (generated)',
    batches: (size) =>
      chunks(payments.length, size).map(({ start, end }) => ({
        values: payments.slice(start, end),
        keys: new Array<string | null>(end - start).fill(null),
        timestamps: payments.slice(start, end).map((p) => p.ts),
        origins: Array.from({ length: end - start }, (_, i) => start + i),
        length: end - start,
      })),
    process: (batch) => {
      errors.length = 0
      chain(batch, output, errors)
      return output.length
    },
  }
}

/** The interpreted variant: one push per event through the unfused operator objects. */
function interpretedVariant(
  pipeline: Pipeline,
  payments: readonly Payment[],
): VariantSpec<InterpreterEvent[]> {
  // The sink writes into reused arrays, like the fused chain's output batch.
  const outValues: unknown[] = []
  const outKeys: (string | null)[] = []
  let emitted = 0
  const interpreter = createInterpreter(pipeline, {
    onSink: (out) => {
      outValues[emitted] = out.value
      outKeys[emitted] = out.key
      emitted++
    },
    onError: () => {},
  })
  const events: InterpreterEvent[] = payments.map((p) => ({
    value: p as unknown as Record<string, unknown>,
    key: null,
    timestamp: p.ts,
  }))
  return {
    name: 'interpreted',
    batches: (size) => chunks(events.length, size).map(({ start, end }) => events.slice(start, end)),
    process: (batch) => {
      emitted = 0
      for (let i = 0; i < batch.length; i++) interpreter.push(SOURCE_NAME, batch[i]!)
      return emitted
    },
  }
}

/**
 * Runs both variants over `payments` (in batches of `batchSize`, like the measurement) and throws
 * if their outputs differ. Returns the number of events emitted.
 */
function crossCheck(
  chain: ChainFunction,
  pipeline: Pipeline,
  payments: readonly Payment[],
  batchSize: number,
): number {
  const expected: { value: unknown; key: string | null; timestamp: number }[] = []
  const interpreter = createInterpreter(pipeline, {
    onSink: (out) => expected.push({ value: out.value, key: out.key, timestamp: out.timestamp }),
  })
  for (const p of payments) {
    interpreter.push(SOURCE_NAME, {
      value: p as unknown as Record<string, unknown>,
      key: null,
      timestamp: p.ts,
    })
  }
  const actual: { value: unknown; key: string | null; timestamp: number }[] = []
  const output = createEventBatch(0)
  const errors: ChainError[] = []
  for (const batch of fusedVariant(chain, payments).batches(batchSize)) {
    chain(batch, output, errors)
    if (errors.length > 0) throw new Error(`fused chain reported ${errors.length} errors on the check prefix`)
    for (let i = 0; i < output.length; i++) {
      actual.push({ value: output.values[i], key: output.keys[i]!, timestamp: output.timestamps[i]! })
    }
  }
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error('fused and interpreted outputs differ on the check prefix; not benchmarking')
  }
  return expected.length
}

async function loadFusedChain(): Promise<{ chain: ChainFunction; chainId: string; pipeline: Pipeline }> {
  const compiled = compileSource('bench.pipe', PIPELINE)
  if (compiled.artifact === null || compiled.pipeline === null) {
    throw new Error(
      `the benchmark pipeline does not compile:\n${JSON.stringify(compiled.diagnostics, null, 2)}`,
    )
  }
  const fused = compiled.pipeline.nodes.filter((node) => node.kind === 'Fused')
  if (fused.length !== 1) throw new Error(`expected one fused chain, the optimiser made ${fused.length}`)
  const chainId = fused[0]!.id
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'))
  try {
    await writeArtifact(compiled.artifact, dir)
    const loaded = await loadArtifact(dir)
    const chain = loaded.operators.chains[chainId]
    if (chain === undefined) throw new Error(`artifact has no chain '${chainId}'`)
    return { chain, chainId, pipeline: compiled.pipeline }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function checkedPipeline(): Pipeline {
  const checked = checkSource('bench.pipe', PIPELINE)
  if (checked.pipeline === null)
    throw new Error(`the benchmark pipeline does not check: ${JSON.stringify(checked.diagnostics)}`)
  return checked.pipeline
}

const METHOD = [
  'Throughput: each tinybench iteration runs the whole prepared input (the event count above, cut ahead of time into batches of the throughput batch size) through the variant, after warmup iterations; events/s = events ÷ mean iteration time, and ± rme is tinybench’s relative margin of error of that mean (95% confidence). Everything runs on one thread, so this is events/s per core (V8’s GC helper threads may use the second core).',
  'Latency: the same input is cut into batches of the latency batch size; each batch is timed with process.hrtime.bigint() and its time divided by the batch size is one per-event sample. p50/p99/p999 are nearest-rank percentiles over all samples. This is processing cost per event inside a small batch, without queueing; GC pauses and deoptimisations show up in the tail.',
  'Memory: process.memoryUsage() sampled after every throughput iteration and every 256 latency batches; a full GC runs before measuring. Each variant runs in its own fresh node process, so peak RSS and peak heap used are that variant’s own (they include the prepared input, ~1M decoded events, and garbage not yet collected).',
  'Inputs: both variants read the same decoded events, generated from the same seed (no JSON decoding is timed); the interpreter gets them wrapped once, before timing, as { value, key, timestamp }. Before timing, both variants run over a prefix of the input and their outputs (values, keys, timestamps) must be identical.',
]

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      events: { type: 'string', default: '1000000' },
      seed: { type: 'string', default: '42' },
      time: { type: 'string', default: '5000' },
      'batch-size': { type: 'string', default: '1024' },
      'latency-batch-size': { type: 'string', default: '64' },
      'latency-batches': { type: 'string', default: '100000' },
      out: { type: 'string', default: join(import.meta.dirname, 'reports') },
      variant: { type: 'string' },
    },
  })
  const events = Number(args.events)
  const seed = Number(args.seed)
  const options = {
    events,
    timeMs: Number(args.time),
    batchSize: Number(args['batch-size']),
    latencyBatchSize: Number(args['latency-batch-size']),
    latencyBatches: Number(args['latency-batches']),
  }

  const variantNames = ['interpreted', 'fused'] as const
  if (args.variant !== undefined) {
    // Child mode: measure one variant in this (fresh) process and print its result as JSON.
    if (!(variantNames as readonly string[]).includes(args.variant))
      throw new Error(`unknown variant '${args.variant}'`)
    const { chain } = await loadFusedChain()
    const pipeline = checkedPipeline()
    const payments = generatePayments(events, seed)
    const spec = (
      args.variant === 'fused' ? fusedVariant(chain, payments) : interpretedVariant(pipeline, payments)
    ) as VariantSpec<unknown>
    process.stderr.write(`measuring ${spec.name} (pid ${process.pid}) …\n`)
    process.stdout.write(`${JSON.stringify(await measureVariant(spec, options))}\n`)
    return
  }

  process.stderr.write(`compiling and loading the pipeline …\n`)
  const { chain, chainId } = await loadFusedChain()
  const pipeline = checkedPipeline()
  const prefix = generatePayments(Math.min(events, 20_480), seed)
  const checked = crossCheck(chain, pipeline, prefix, options.batchSize)
  process.stderr.write(`outputs agree on the first ${prefix.length} events (${checked} emitted)\n`)

  // Each variant runs in its own fresh process (same node flags), so neither inherits the other's
  // heap, JIT feedback or V8 pretenuring decisions, and RSS/heap peaks are the variant's own.
  const variants: VariantResult[] = []
  for (const name of variantNames) {
    const stdout = execFileSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--variant', name],
      { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
    )
    const lines = stdout.trim().split('\n')
    variants.push(JSON.parse(lines[lines.length - 1]!) as VariantResult)
  }
  const interpreted = variants[0]!
  const fused = variants[1]!
  const ratios = computeRatios(variants, interpreted.name)
  const speedup = ratios[0]!.throughput
  const report: BenchmarkReport = {
    name: NAME,
    title: 'Fused vs interpreted: filter → map → key by',
    description:
      'The same 3-operator stateless chain run as the generated fused chain function and as the reference interpreter, on the same pre-decoded events (~50% pass the filter).',
    machine: machineInfo(),
    parameters: {
      events,
      seed,
      'throughput batch size': options.batchSize,
      'latency batch size': options.latencyBatchSize,
      'latency batches': options.latencyBatches,
      'tinybench time budget (ms)': options.timeMs,
      'fused chain': chainId,
      'events emitted per iteration': fused.throughput.outputsPerIteration,
      isolation: 'each variant in a fresh node process',
      'node flags': process.execArgv.join(' '),
      pipeline: PIPELINE.trim(),
    },
    variants,
    baseline: interpreted.name,
    ratios,
    targets: [
      {
        description: `fused ≥ ${TARGET_SPEEDUP}× the interpreter`,
        actual: formatRatio(speedup),
        met: speedup >= TARGET_SPEEDUP,
      },
      {
        description: `fused ≥ ${formatRate(TARGET_EVENTS_PER_SECOND)} events/s per core`,
        actual: `${formatRate(fused.throughput.eventsPerSecond)} events/s`,
        met: fused.throughput.eventsPerSecond >= TARGET_EVENTS_PER_SECOND,
      },
    ],
    method: METHOD,
  }
  const paths = await writeReport(args.out, report, {
    markerEventsPerSecond: TARGET_EVENTS_PER_SECOND,
    markerLabel: `target ${formatRate(TARGET_EVENTS_PER_SECOND)}`,
  })
  process.stdout.write(
    `\n${renderConsoleTable(report)}\nwrote ${paths.json}, ${paths.markdown}, ${paths.svg}\n`,
  )
}

await main()
