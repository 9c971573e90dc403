/**
 * The fused chain against the strongest baselines, on one 3-operator stateless chain
 * (filter → map → key by) over the same pre-decoded events, with the end-to-end node figure
 * quoted beside it. The variants (hand-written loop, operator-at-a-time, interpreted, fused) are
 * described in lib/chain-variants.ts.
 *
 *   npm run bench                                   # 1M events, writes benchmarks/reports/fused-vs-interpreted.*
 *   node --import tsx benchmarks/fused-vs-interpreted.bench.ts --events 200000 --time 2000 --out /tmp/r
 *
 * All variants see the same decoded events (generated from the same seed), cut into the same
 * batches. Each variant is measured in its own fresh node process (this script re-run with
 * `--variant <name>`), so none inherits another's heap, JIT state or V8 pretenuring decisions.
 * The outputs are read and compared twice: on a prefix, event by event, before anything is timed;
 * and on the measured run, as checksums each child computes over a whole pass of the input and over
 * every timed latency batch. The run aborts, writing no report, if any variant differs.
 */
import { execFileSync } from 'node:child_process'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  checkedPipeline,
  checkMeasuredOutputs,
  crossCheck,
  loadFusedChain,
  PIPELINE,
  specFactory,
  VARIANT_KEYS,
  VARIANTS,
  type VariantKey,
  variantSpec,
} from './lib/chain-variants.ts'
import { measureVariant, type VariantResult } from './lib/measure.ts'
import { generatePayments } from './lib/payments.ts'
import {
  type BenchmarkReport,
  computeRatiosOf,
  formatRate,
  formatRatio,
  machineInfo,
  readEndToEndFigures,
  renderConsoleTable,
  writeReport,
} from './lib/report.ts'
import { combineRounds } from './lib/rounds.ts'

const NAME = 'fused-vs-interpreted'
const TARGET_EVENTS_PER_SECOND = 5_000_000
const TARGET_SPEEDUP = 3
const REPO = join(import.meta.dirname, '..')

const METHOD = [
  'Variants: hand-written loop (one loop over the decoded payments with the filter, the projection and the key inline: what a person would write with no framework), operator-at-a-time (one loop per operator per batch: the filter writes a selection vector, the projection reads through it into the output batch, key by sets that batch’s keys; specialised to this pipeline by hand), interpreted (the reference interpreter over the unfused IR: one object per operator, one push per event per operator) and fused (the generated chain function, loaded from the compiled artifact). The hand-written loop and the operators truncate with Math.trunc where to_i64 also rejects NaN and values beyond ±2^53, which no payment here reaches. Ratios compare the fused chain with each of the other three.',
  'Rounds: every variant is measured once per round, each time in a fresh node process, and the variants alternate within a round (hand-written, operator-at-a-time, interpreted, fused; then again), so a change in the machine’s load during the run is spread over all variants instead of landing on one. The table combines a variant’s rounds; the Rounds section lists each round’s events/s.',
  'Throughput: each tinybench iteration runs the whole prepared input (the event count above, cut ahead of time into batches of the throughput batch size) through the variant, after warmup iterations. events/s = events ÷ the mean iteration time over all rounds (each round’s mean iteration time weighted equally); ± rme is the 95% confidence half-width of that mean across rounds (Student’s t; with one round, tinybench’s relative margin of error of its mean). Everything runs on one thread, so this is events/s per core (V8’s GC helper threads may use the second core).',
  'Latency: the same input is cut into batches of the latency batch size; each batch is timed with process.hrtime.bigint(), and one batch’s time is one sample. p50/p99/p999 are nearest-rank percentiles over the samples of all rounds together, per batch of that many events, not per event: an event waits for its whole batch, and dividing by the batch size would spread one event’s GC pause over the others. This is processing time only, without queueing; GC pauses and deoptimisations show up in the tail.',
  'Outputs: every variant writes value, key and timestamp of each output into arrays reused between batches. Before timing, each variant runs over a prefix of the input and every output must equal the interpreter’s (deep equality, and a checksum that also compares field order). In the measured process, after the timed iterations, the variant runs once more over the whole input and its outputs are folded into a checksum batch by batch; the outputs of every timed latency batch are folded into a second checksum outside the timer (the checksum allocates nothing, so it leaves no garbage for the next timed batch). The report is written only if all variants’ checksums and output counts are equal; they are listed under Outputs.',
  'End to end: the figures under “End to end” are read, when this report is written, from the committed report of benchmarks/pipeline-throughput.bench.ts: the same workload through a whole node (JSON lines in a log topic, decode, the fused chain, encode, append to the output topic, offset commit). They come from a different run, at the date shown; the ratio column says how much of the node’s time the chain is not.',
  'Memory: process.memoryUsage() sampled after every throughput iteration and every 256 latency batches; a full GC runs before measuring. Each variant runs in its own fresh node process, so peak RSS and peak heap used (the highest of its rounds) are that variant’s own (they include the prepared input, ~1M decoded events, and garbage not yet collected).',
  'Inputs: all variants read the same decoded events, generated from the same seed (no JSON decoding is timed); the interpreter gets them wrapped once, before timing, as { value, key, timestamp }, the fused chain and the operators as runtime batches (parallel arrays of values, keys, timestamps, origins), the hand-written loop as arrays of payments.',
]

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      events: { type: 'string', default: '1000000' },
      seed: { type: 'string', default: '42' },
      time: { type: 'string', default: '3000' },
      rounds: { type: 'string', default: '3' },
      'batch-size': { type: 'string', default: '1024' },
      'latency-batch-size': { type: 'string', default: '64' },
      'latency-batches': { type: 'string', default: '100000' },
      'end-to-end': {
        type: 'string',
        default: join(import.meta.dirname, 'reports', 'pipeline-throughput.json'),
      },
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
    keepLatencySamples: true,
  }

  if (args.variant !== undefined) {
    // Child mode: measure one variant in this (fresh) process and print its result as JSON.
    if (!(VARIANT_KEYS as readonly string[]).includes(args.variant))
      throw new Error(`unknown variant '${args.variant}' (one of ${VARIANT_KEYS.join(', ')})`)
    const { chain } = await loadFusedChain()
    const pipeline = checkedPipeline()
    const payments = generatePayments(events, seed)
    const spec = variantSpec(args.variant as VariantKey, chain, pipeline, payments)
    process.stderr.write(`measuring ${spec.name} (pid ${process.pid}) …\n`)
    process.stdout.write(`${JSON.stringify(await measureVariant(spec, options))}\n`)
    return
  }

  // Read before measuring: a missing or unreadable end-to-end report fails the run at once.
  const endToEnd = await readEndToEndFigures(args['end-to-end'], relative(REPO, args['end-to-end']))
  process.stderr.write(`compiling and loading the pipeline …\n`)
  const { chain, chainId } = await loadFusedChain()
  const pipeline = checkedPipeline()
  const prefix = generatePayments(Math.min(events, 20_480), seed)
  const checked = crossCheck(specFactory(chain, pipeline), prefix, options.batchSize)
  process.stderr.write(
    `outputs of all ${VARIANT_KEYS.length} variants agree on the first ${prefix.length} events (${checked} emitted)\n`,
  )

  // Each variant runs in its own fresh process (same node flags), so none inherits another's
  // heap, JIT feedback or V8 pretenuring decisions, and RSS/heap peaks are the variant's own.
  // Rounds alternate the variants (A B C D, A B C D, …), so a change in the machine's load while
  // the benchmark runs is spread over all of them rather than landing on one.
  const rounds = Number(args.rounds)
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new RangeError(`--rounds must be a positive integer, got ${args.rounds}`)
  const measured = new Map<VariantKey, VariantResult[]>(VARIANT_KEYS.map((key) => [key, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const key of VARIANT_KEYS) {
      process.stderr.write(`round ${round}/${rounds}: `)
      const stdout = execFileSync(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--variant', key],
        { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
      )
      const lines = stdout.trim().split('\n')
      measured.get(key)!.push(JSON.parse(lines[lines.length - 1]!) as VariantResult)
    }
  }
  const combined = VARIANT_KEYS.map((key) => combineRounds(measured.get(key)!))
  const variants = combined.map((c) => c.result)
  checkMeasuredOutputs(variants)
  const byKey = (key: VariantKey) => variants[VARIANT_KEYS.indexOf(key)]!
  const fused = byKey('fused')
  const baselines = VARIANT_KEYS.filter((key) => key !== 'fused').map((key) => VARIANTS[key])
  const ratios = computeRatiosOf(variants, fused.name, baselines)
  const speedup = ratios.find((r) => r.baseline === VARIANTS.interpreted)!.throughput
  const report: BenchmarkReport = {
    name: NAME,
    title: 'Fused chain vs baselines: filter → map → key by',
    description:
      'The same 3-operator stateless chain run as the generated fused chain function, a hand-written loop, one loop per operator per batch, and the reference interpreter, on the same pre-decoded events (~50% pass the filter), with the end-to-end node figure of the same workload beside them.',
    machine: machineInfo(REPO),
    parameters: {
      events,
      seed,
      'throughput batch size': options.batchSize,
      'latency batch size': options.latencyBatchSize,
      'latency batches': options.latencyBatches,
      'tinybench time budget per round (ms)': options.timeMs,
      rounds,
      'fused chain': chainId,
      'events emitted per iteration': fused.throughput.outputsPerIteration,
      'outputs compared on the prefix': `${checked} of ${prefix.length} events`,
      isolation: 'each variant in a fresh node process',
      'node flags': process.execArgv.join(' '),
      pipeline: PIPELINE.trim(),
    },
    variants,
    baseline: VARIANTS.interpreted,
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
    rounds: combined.map((c) => ({ variant: c.result.name, eventsPerSecond: c.roundsEventsPerSecond })),
    latencyNote: `Latencies are per batch of ${options.latencyBatchSize} events (the time to process one whole batch), not per event; see Method.`,
    endToEnd: { ...endToEnd, compareWith: fused.name },
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
