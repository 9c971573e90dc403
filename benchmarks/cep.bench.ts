/**
 * Complex event processing (issue 14): the keyed pattern `small{2} followed by large within 10m`
 * (small = amount < 1000, large = amount > 50000) over 100,000 cards, three ways on the same
 * released-event batches (lib/cep-workload.ts has the workload and the hand-written loop).
 *
 *   npm run bench:cep                                   # 2M events, writes reports/cep.*
 *   node --import tsx benchmarks/cep.bench.ts --events 300000 --passes 1 --out /tmp/r
 *   node --cpu-prof --cpu-prof-dir=/tmp/p --import tsx benchmarks/cep.bench.ts --e2e wasm
 *
 * `--e2e wasm|typescript` runs only one end-to-end run in this process and prints its figures as
 * JSON, with `windowUs`, the processing window on the clock of a `--cpu-prof` profile of the main
 * thread (lib/cpu-profile.ts summarizeProfile cuts the profile to it: set-up and the untimed
 * append of the input are left out).
 *
 * Variants, each given the batches as the CepOperator releases them (dense key ids, times, seqs,
 * rows), followed by advanceTime to the batch's last event time (the watermark):
 * - wasm: the WebAssembly engine (wasm/host/cep-kernel.ts); the timed work includes the generated
 *   `masks` over the batch's rows (the operator computes them for an engine that wants masks).
 * - typescript: the TypeScript engine (runtime/cep/nfa.ts), evaluating the conditions itself.
 * - hand-written: the pattern as a loop over per-card typed arrays, no NFA: the strongest honest
 *   reference for what this pattern costs.
 * The engines are driven directly (the CepOperator, its key dictionary and event-time buffering
 * are not part of this run). Before anything is timed the parent runs every variant once over the
 * whole input in process: all must emit the same matches in the same order (a digest of each
 * match's card and seqs). Each variant is then measured in fresh node processes (this script re-run
 * with `--variant`), alternating in rounds; every timed pass must emit the checked digest. In a
 * child, one engine (one loop) serves the warm-up and every timed pass, as one engine serves a
 * long-running operator: between passes, untimed, its time runs past the partial matches left and
 * the input moves on in event time and seqs, so the memory it grew in the first pass is reused
 * rather than allocated and collected again in every timed one.
 *
 * Figures: events/s per core = events ÷ mean pass time (single thread); per-event time = a batch's
 * time ÷ its events, one sample per batch (p50/p99 over all batches of all passes); partial matches
 * held after each batch (max, mean); peak RSS and V8 heap of the child process, and the kernel's
 * linear memory.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { writeArtifact } from '../compiler/artifact/package.ts'
import { compileSource } from '../compiler/compile.ts'
import { loadArtifact } from '../runtime/artifact/load.ts'
import type { CepOperator } from '../runtime/cep/cep-operator.ts'
import type { EngineMatch, PatternEngine } from '../runtime/cep/engine.ts'
import { createNfaEngine } from '../runtime/cep/nfa.ts'
import { compileNfa } from '../runtime/cep/nfa-compile.ts'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import { FileSnapshotStore } from '../runtime/state/file-snapshot-store.ts'
import { buildKernel, KERNELS_DIR } from '../wasm/build.ts'
import { loadCepKernel, type WasmPatternEngine } from '../wasm/host/cep-kernel.ts'
import { appendPayments, cepPipeline } from './lib/cep-e2e.ts'
import {
  CEP_BENCH_FUNCTIONS,
  CEP_BENCH_SPEC,
  type CepBatch,
  type CepWorkloadOptions,
  cepBatches,
  HandWrittenSmallSmallLarge,
  LARGE_ABOVE,
  SMALL_BELOW,
  WITHIN_MS,
} from './lib/cep-workload.ts'
import { runScriptChild } from './lib/child-run.ts'
import { collectGarbage, PeakMemory, type VariantResult } from './lib/measure.ts'
import { summarize } from './lib/percentile.ts'
import {
  type BenchmarkReport,
  computeRatios,
  formatBytes,
  formatNs,
  formatRate,
  machineInfo,
  renderConsoleTable,
  renderMarkdown,
  renderSvg,
  writeReportFiles,
} from './lib/report.ts'
import { combineRounds } from './lib/rounds.ts'
import { runStatistics } from './lib/runs.ts'
import { timeNodeUntilCaughtUp } from './lib/timed-run.ts'

const NAME = 'cep'
const REPO = resolve(import.meta.dirname, '..')
const TARGET_EVENTS_PER_SECOND = 4_000_000
const PATTERN_TEXT = `small{2} followed by large within 10m (small: amount < ${SMALL_BELOW}, large: amount > ${LARGE_ABOVE})`

const VARIANTS = {
  wasm: 'wasm (WebAssembly kernel)',
  typescript: 'typescript (NFA engine)',
  'hand-written': 'hand-written (per-card loop)',
} as const
type VariantKey = keyof typeof VARIANTS
const VARIANT_KEYS = Object.keys(VARIANTS) as VariantKey[]

interface Options {
  readonly events: number
  readonly workload: CepWorkloadOptions
  readonly batchSize: number
  readonly passes: number
  readonly warmup: number
}

const UNBOUNDED = { maxPerKey: Number.POSITIVE_INFINITY, maxTotal: Number.POSITIVE_INFINITY }

// ---------------------------------------------------------------------------------------------
// Variants

/**
 * One variant over the prepared batches: `process` one batch (timed), `expire` between passes
 * (untimed). One variant, and so one engine, serves every pass, as one engine serves a long-running
 * operator: its memory grows in the first pass and is reused after (see shiftBatches).
 */
interface CepVariant {
  readonly name: string
  /**
   * Advances time to `watermark`, past every partial match the last pass left, so the next pass
   * starts with none, on the engine and memory the last one used. Matches then: none (the pattern
   * ends in a step, not an absence).
   */
  expire(watermark: number): void
  /** Processes batch `b`; returns the number of matches. */
  process(b: number): number
  /** Folds the matches of the last `process` into `digest` (untimed). */
  digest(into: MatchDigest): void
  /** Partial matches held now. */
  held(): number
  /** Bytes held outside the V8 heap (the kernel's linear memory), 0 when none. */
  externalBytes(): number
}

/** An order-sensitive digest of matches (card and seqs of each, seqs counted from `seqBase`: a pass's own). */
class MatchDigest {
  hash = 0x811c9dc5
  count = 0

  constructor(private readonly seqBase = 0) {}

  add(card: number, seqs: ArrayLike<number>): void {
    let h = Math.imul(this.hash ^ card, 0x01000193)
    for (let i = 0; i < seqs.length; i++) h = Math.imul(h ^ (seqs[i]! - this.seqBase), 0x01000193)
    this.hash = h >>> 0
    this.count++
  }
}

function engineVariant(
  key: 'wasm' | 'typescript',
  create: () => PatternEngine,
  batches: readonly CepBatch[],
): CepVariant {
  const engine = create()
  let matches: EngineMatch[] = []
  const failures: { seq: number; error: unknown; site: number }[] = []
  const failed = new Uint8Array(Math.max(...batches.map((b) => b.length)))
  const errors: { index: number; error: unknown; site: number }[] = []
  const masks = CEP_BENCH_FUNCTIONS.masks!
  return {
    name: VARIANTS[key],
    expire: (watermark) => {
      const none: EngineMatch[] = []
      engine.advanceTime(watermark, none, null)
      if (none.length > 0 || engine.partialMatches !== 0)
        throw new Error(
          `${VARIANTS[key]}: ${engine.partialMatches} partial matches and ${none.length} matches left after the pass's time ran out`,
        )
    },
    process: (b) => {
      const batch = batches[b]!
      matches = []
      // What the operator does for an engine that wants masks.
      if (engine.wantsMasks) masks(batch.rows, batch.length, batch.masks, failed, errors)
      engine.step(batch, matches, failures)
      engine.advanceTime(batch.watermark, matches, null)
      return matches.length
    },
    digest: (into) => {
      for (const m of matches) into.add(m.keyId, m.seqs)
    },
    held: () => engine.partialMatches,
    externalBytes: () => (key === 'wasm' ? (engine as WasmPatternEngine).approximateBytes : 0),
  }
}

function handWrittenVariant(batches: readonly CepBatch[], keys: number): CepVariant {
  const loop = new HandWrittenSmallSmallLarge(keys)
  let found: number[] = []
  const record = (card: number, a: number, b: number, c: number) => {
    found.push(card, a, b, c)
  }
  return {
    name: VARIANTS['hand-written'],
    expire: (watermark) => {
      loop.expire(watermark)
      if (loop.held !== 0)
        throw new Error(`${VARIANTS['hand-written']}: ${loop.held} pairs left after the pass's time ran out`)
    },
    process: (b) => {
      found = []
      return loop.step(batches[b]!, record)
    },
    digest: (into) => {
      for (let i = 0; i < found.length; i += 4) into.add(found[i]!, found.slice(i + 1, i + 4))
    },
    held: () => loop.held,
    externalBytes: () => 0,
  }
}

async function makeVariant(
  key: VariantKey,
  batches: readonly CepBatch[],
  options: Options,
): Promise<CepVariant> {
  // Created through the engines' factories, as the operator creates them.
  if (key === 'typescript')
    return engineVariant(key, () => createNfaEngine(CEP_BENCH_SPEC, CEP_BENCH_FUNCTIONS, UNBOUNDED), batches)
  if (key === 'wasm') {
    const built = await buildKernel(join(KERNELS_DIR, 'cep.ts'))
    const factory = (await loadCepKernel(built.wasmPath)).factory(compileNfa)
    return engineVariant(key, () => factory(CEP_BENCH_SPEC, CEP_BENCH_FUNCTIONS, UNBOUNDED), batches)
  }
  return handWrittenVariant(batches, options.workload.keys)
}

// ---------------------------------------------------------------------------------------------
// Measuring (child process)

interface ChildResult {
  readonly variant: VariantResult
  readonly digest: { readonly hash: number; readonly count: number }
  readonly batchSamplesNs: readonly number[]
  readonly held: { readonly max: number; readonly mean: number; readonly atEnd: number }
  readonly peakExternalBytes: number
}

/**
 * Moves `batches` (in place) `timeMs` later in event time and `seqs` later in arrival order: the
 * next pass is then the stream going on, which the engine of the last pass can take (each key's
 * events after those it saw), instead of the same events again, which would need a fresh engine.
 * The shifts are whole numbers and the times stay within [2^40, 2^41) ms (measure checks), where
 * a double's step is 2^-12 ms: every sum is exact, so the pass sees the same time differences and
 * finds the same matches (measure also checks the digest of every pass).
 */
function shiftBatches(batches: CepBatch[], timeMs: number, seqs: number): void {
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b]!
    for (let i = 0; i < batch.length; i++) {
      batch.times[i]! += timeMs
      batch.seqs[i]! += seqs
    }
    batches[b] = { ...batch, watermark: batch.watermark + timeMs }
  }
}

/**
 * `warmup` untimed passes, then `passes` timed ones, each over the whole input, all on one engine
 * (the variant's): between passes, untimed, the engine's time runs past every partial match the
 * pass left and the batches move on in time (shiftBatches), so each pass starts with no partial
 * match, as the first did, but the memory the engine grew is reused, as in a long-running operator,
 * instead of being allocated (and collected) again in every timed pass. events/s = events ÷ the
 * mean pass time (the sum of its batch times); per-event time = a batch's time ÷ its events, one
 * sample per batch. `batches` must be the array the variant was made with.
 */
function measure(variant: CepVariant, batches: CepBatch[], options: Options): ChildResult {
  const events = batches.reduce((sum, b) => sum + b.length, 0)
  const last = batches[batches.length - 1]!
  const firstTime = batches[0]!.times[0]!
  const lastTime = last.times[last.length - 1]!
  // The next pass starts more than `within` after the last one's final event (its partial
  // matches cannot reach into it), and after the watermark `expire` sets.
  const timeShift = Math.ceil(lastTime - firstTime) + WITHIN_MS + 2000
  const seqShift = last.seqs[last.length - 1]! - batches[0]!.seqs[0]! + 1
  const passes = options.warmup + options.passes
  if (!(firstTime >= 2 ** 40 && lastTime + (passes - 1) * timeShift < 2 ** 41))
    throw new RangeError(
      `event times ${firstTime} to ${lastTime} over ${passes} passes leave [2^40, 2^41) ms, where shifting them is exact`,
    )
  let shiftedSeqs = 0
  let started = false
  collectGarbage()
  const startHeapUsedBytes = process.memoryUsage().heapUsed
  const memory = new PeakMemory()
  memory.sample()
  const clock = process.hrtime.bigint
  let peakExternalBytes = 0
  const heldSamples: number[] = []
  const run = (timed: boolean, perEvent: number[], perBatch: number[]) => {
    if (started) {
      const end = batches[batches.length - 1]!.watermark
      variant.expire(end + WITHIN_MS + 1000)
      shiftBatches(batches, timeShift, seqShift)
      shiftedSeqs += seqShift
    }
    started = true
    const digest = new MatchDigest(shiftedSeqs)
    let totalNs = 0
    for (let b = 0; b < batches.length; b++) {
      const t0 = clock()
      const n = variant.process(b)
      const ns = Number(clock() - t0)
      totalNs += ns
      if (n > 0) variant.digest(digest)
      if (timed) {
        perEvent.push(ns / batches[b]!.length)
        perBatch.push(ns)
        heldSamples.push(variant.held())
      }
      if ((b & 63) === 63) {
        memory.sample()
        peakExternalBytes = Math.max(peakExternalBytes, variant.externalBytes())
      }
    }
    memory.sample()
    peakExternalBytes = Math.max(peakExternalBytes, variant.externalBytes())
    return { totalNs, digest }
  }
  for (let w = 0; w < options.warmup; w++) run(false, [], [])
  const perEvent: number[] = []
  const perBatch: number[] = []
  const passMs: number[] = []
  let first: MatchDigest | null = null
  for (let p = 0; p < options.passes; p++) {
    const pass = run(true, perEvent, perBatch)
    passMs.push(pass.totalNs / 1e6)
    if (first === null) first = pass.digest
    else if (pass.digest.hash !== first.hash || pass.digest.count !== first.count)
      throw new Error(`${variant.name}: pass ${p + 1} emitted different matches than pass 1`)
  }
  const atEnd = variant.held()
  collectGarbage()
  const stats = runStatistics(passMs)
  return {
    variant: {
      name: variant.name,
      throughput: {
        eventsPerSecond: events / (stats.mean / 1000),
        rmePercent: passMs.length > 1 ? stats.rmePercent : 0,
        iterations: passMs.length,
        meanIterationMs: stats.mean,
        eventsPerIteration: events,
        batchSize: options.batchSize,
        outputsPerIteration: first!.count,
      },
      latencyNs: { ...summarize(perEvent), batchSize: options.batchSize, batches: perEvent.length },
      latencySamplesNs: perEvent,
      memory: {
        peakRssBytes: memory.peakRssBytes,
        peakHeapUsedBytes: memory.peakHeapUsedBytes,
        startHeapUsedBytes,
        endHeapUsedBytes: process.memoryUsage().heapUsed,
      },
    },
    digest: { hash: first!.hash, count: first!.count },
    batchSamplesNs: perBatch,
    held: {
      max: Math.max(...heldSamples),
      mean: heldSamples.reduce((a, b) => a + b, 0) / heldSamples.length,
      atEnd,
    },
    peakExternalBytes,
  }
}

/** This script in a fresh node process with `extra` arguments (lib/child-run.ts). */
function runChild<T>(extra: string[], nodeFlags: string[] = []): T {
  return runScriptChild<T>(import.meta.url, extra, nodeFlags)
}

// ---------------------------------------------------------------------------------------------
// In process (parent): check, then measure every variant in fresh processes

interface InProcessFigures {
  readonly variants: readonly VariantResult[]
  readonly children: ReadonlyMap<VariantKey, readonly ChildResult[]>
  readonly matches: { readonly hash: number; readonly count: number }
}

async function measureInProcess(options: Options, rounds: number): Promise<InProcessFigures> {
  process.stderr.write(`preparing ${options.events.toLocaleString('en-US')} events …\n`)
  const batches = cepBatches(options.events, options.workload, options.batchSize)
  let reference: MatchDigest | null = null
  for (const key of VARIANT_KEYS) {
    const variant = await makeVariant(key, batches, options)
    const digest = new MatchDigest()
    for (let b = 0; b < batches.length; b++) if (variant.process(b) > 0) variant.digest(digest)
    if (reference === null) {
      if (digest.count === 0) throw new Error('the workload completes no match; nothing would be compared')
      reference = digest
    } else if (digest.hash !== reference.hash || digest.count !== reference.count)
      throw new Error(
        `${variant.name} emits ${digest.count} matches (digest ${digest.hash}) where ${VARIANTS[VARIANT_KEYS[0]!]} emits ${reference.count} (digest ${reference.hash}); not benchmarking`,
      )
  }
  process.stderr.write(`all variants emit the same ${reference!.count} matches (digest ${reference!.hash})\n`)

  const children = new Map<VariantKey, ChildResult[]>(VARIANT_KEYS.map((k) => [k, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const key of VARIANT_KEYS) {
      process.stderr.write(`round ${round}/${rounds}: `)
      const child = runChild<ChildResult>(['--variant', key])
      if (child.digest.hash !== reference!.hash || child.digest.count !== reference!.count)
        throw new Error(`${VARIANTS[key]}: the measured passes emitted other matches than the checked pass`)
      process.stderr.write(`  ${formatRate(child.variant.throughput.eventsPerSecond)} events/s\n`)
      children.get(key)!.push(child)
    }
  }
  const variants = VARIANT_KEYS.map((key) => combineRounds(children.get(key)!.map((c) => c.variant)).result)
  return { variants, children, matches: { hash: reference!.hash, count: reference!.count } }
}

// ---------------------------------------------------------------------------------------------
// Report

async function writeCepReport(
  figures: InProcessFigures,
  options: Options,
  rounds: number,
  out: string,
  note: string | undefined,
  endToEnd: readonly EndToEndRun[],
): Promise<void> {
  const byKey = (key: VariantKey) => figures.variants[VARIANT_KEYS.indexOf(key)]!
  const fastestKey: VariantKey =
    byKey('wasm').throughput.eventsPerSecond >= byKey('typescript').throughput.eventsPerSecond
      ? 'wasm'
      : 'typescript'
  const fastest = byKey(fastestKey)
  const perVariant = VARIANT_KEYS.map((key) => {
    const children = figures.children.get(key)!
    const batch = summarize(children.flatMap((c) => c.batchSamplesNs))
    return {
      variant: VARIANTS[key],
      batchNs: { p50: batch.p50, p99: batch.p99, max: batch.max },
      partialMatches: {
        max: Math.max(...children.map((c) => c.held.max)),
        mean: children.reduce((a, c) => a + c.held.mean, 0) / children.length,
        atEnd: children[0]!.held.atEnd,
      },
      peakKernelBytes: Math.max(...children.map((c) => c.peakExternalBytes)),
    }
  })
  const report: BenchmarkReport = {
    name: NAME,
    title: 'CEP: small{2} followed by large within 10m, keyed by card',
    description:
      'Pattern engines stepping released-event batches directly (no CepOperator, no decoding): the WebAssembly kernel, the TypeScript NFA engine and a hand-written per-card loop, on the same events, all emitting the same matches.',
    machine: machineInfo(REPO),
    parameters: {
      pattern: PATTERN_TEXT,
      events: options.events,
      cards: options.workload.keys,
      eventsPerSecondOfEventTime: options.workload.eventsPerSecond,
      seed: options.workload.seed,
      batchSize: options.batchSize,
      passes: options.passes,
      warmup: options.warmup,
      rounds,
      withinMs: WITHIN_MS,
      amounts: '70% small (< 1000), 28% medium, 2% large (> 50000)',
      matchesPerPass: figures.matches.count,
      ...(note === undefined ? {} : { note }),
    },
    variants: figures.variants,
    baseline: VARIANTS['hand-written'],
    ratios: computeRatios(figures.variants, VARIANTS['hand-written']),
    targets: [
      {
        description: `fastest engine ≥ ${formatRate(TARGET_EVENTS_PER_SECOND)} events/s per core`,
        actual: `${fastest.name}: ${formatRate(fastest.throughput.eventsPerSecond)}`,
        met: fastest.throughput.eventsPerSecond >= TARGET_EVENTS_PER_SECOND,
      },
    ],
    method: [
      'Each variant gets the same batches of released events (dense key ids, event times, seqs, rows) as the CepOperator hands an engine, and after each batch advances time to its last event (the watermark). The engines are called directly: the operator (key dictionary, event-time buffering, select) is not part of this run.',
      'wasm: the timed work includes the generated masks over the batch (amount < 1000 → bit 0, amount > 50000 → bit 1), which the operator computes for an engine that wants masks, then WasmPatternEngine.step and advanceTime. typescript: NfaEngine.step evaluates the conditions on the rows itself. hand-written: per card, the waiting small payment in typed arrays and the pairs waiting for a large one in an array; no NFA; it drops run-out pairs lazily at the card’s next payment.',
      'Before timing, every variant runs once over the whole input in the parent process; all must emit the same matches in the same order (an FNV digest over card and seqs of every match). Each variant then runs in fresh node processes, alternating in rounds; each timed pass must emit that digest.',
      'In a child process one engine (one hand-written loop) serves the warm-up and all timed passes, as one engine serves a long-running operator: between passes, untimed, time advances past every partial match left and the input moves later in event time and seqs, so each pass starts with no partial match but on the memory the engine grew before, not on a fresh engine whose growth and garbage would be timed in every pass.',
      'events/s per core = events ÷ mean pass time (single thread). Latency columns: per event, one sample per batch = batch time ÷ batch size (p50/p99 over all batches of all timed passes). Partial matches held: sampled after every batch. Peak RSS and heap: of the child process; the kernel’s linear memory is in RSS.',
    ],
    latencyNote: `per event: the time of one batch of ${options.batchSize} events ÷ its size (step + advanceTime)`,
    rounds: VARIANT_KEYS.map((key) => ({
      variant: VARIANTS[key],
      eventsPerSecond: figures.children.get(key)!.map((c) => c.variant.throughput.eventsPerSecond),
    })),
  }
  const cepLines = [
    '## Partial matches, batches and memory',
    '',
    '| variant | partial matches held (max) | (mean) | batch p50 | batch p99 | batch max | kernel memory |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...perVariant.map(
      (v) =>
        `| ${v.variant} | ${v.partialMatches.max.toLocaleString('en-US')} | ${Math.round(v.partialMatches.mean).toLocaleString('en-US')} | ${formatNs(v.batchNs.p50)} | ${formatNs(v.batchNs.p99)} | ${formatNs(v.batchNs.max)} | ${v.peakKernelBytes > 0 ? formatBytes(v.peakKernelBytes) : '–'} |`,
    ),
    '',
    '(The hand-written loop drops run-out pairs only when their card pays again, so it may hold more.)',
    '',
  ]
  const e2eLines = [
    '## End to end: `sluice run` on the embedded log, JSON in and out',
    '',
    `The same pattern as a \`match\` step compiled from .pipe (${endToEnd[0]?.events.toLocaleString('en-US')} payments as JSON lines, appended untimed to a one-partition topic), run by the PipelineRunner until caught up: decode, the CepOperator (key dictionary, event-time buffering), the engine, select, encode, append, checkpoints every second to files.`,
    '',
    '| engine | events/s | CPU-s | events per CPU-s | peak RSS | partial matches held (max) | matches written | batch p99 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...endToEnd.map(
      (r) =>
        `| ${r.execution} | ${formatRate(r.eventsPerSecond)} | ${r.cpuSeconds.toFixed(2)} | ${formatRate(r.events / r.cpuSeconds)} | ${formatBytes(r.peakRssBytes)} | ${r.maxPartialMatches.toLocaleString('en-US')} | ${r.matches.toLocaleString('en-US')} | ${formatNs(r.batchP99Ns)} |`,
    ),
    '',
  ]
  const markdown = renderMarkdown(report).replace(
    '## Parameters',
    [...cepLines, ...e2eLines, '## Parameters'].join('\n'),
  )
  const svg = renderSvg(report, {
    markerEventsPerSecond: TARGET_EVENTS_PER_SECOND,
    markerLabel: `target ${formatRate(TARGET_EVENTS_PER_SECOND)}`,
  })
  const paths = await writeReportFiles(out, NAME, { ...report, cep: perVariant, endToEnd }, markdown, svg)
  process.stdout.write(`\n${renderConsoleTable(report)}`)
  for (const v of perVariant)
    process.stdout.write(
      `${v.variant}: partial matches max ${v.partialMatches.max}, mean ${Math.round(v.partialMatches.mean)}${v.peakKernelBytes > 0 ? `, kernel memory ${formatBytes(v.peakKernelBytes)}` : ''}\n`,
    )
  process.stdout.write(`wrote ${paths.json}, ${paths.markdown}, ${paths.svg}\n`)
}

// ---------------------------------------------------------------------------------------------
// End to end

interface EndToEndRun {
  readonly execution: 'wasm' | 'typescript'
  readonly events: number
  readonly eventsPerSecond: number
  readonly cpuSeconds: number
  readonly peakRssBytes: number
  readonly maxPartialMatches: number
  readonly matches: number
  readonly batchP99Ns: number
  /** The processing window on process.hrtime's clock, µs (to cut a `node --cpu-prof` profile of this process to it). */
  readonly windowUs: { readonly startUs: number; readonly endUs: number }
}

/**
 * One \`sluice run\` equivalent in this (fresh) process: the payments as JSON lines in a fresh
 * embedded log (untimed), then the PipelineRunner on the artifact compiled with the given engine,
 * until caught up, with \`sluice run\`'s defaults (durability 100 ms, snapshots in files every second).
 */
async function endToEndRun(
  execution: 'wasm' | 'typescript',
  options: Options,
  events: number,
): Promise<EndToEndRun> {
  const id = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
  const source = `bench.payments.${id}`
  const sink = `bench.suspicious.${id}`
  const deadLetters = `bench.dead-letter.${id}`
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-cep-'))
  const compiled = compileSource('cep.pipe', cepPipeline(source, sink), {
    name: 'cep-bench',
    cepExecution: execution,
  })
  if (!compiled.artifact)
    throw new Error(compiled.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'))
  await writeArtifact(compiled.artifact, join(dir, 'artifact'))
  const artifact = await loadArtifact(join(dir, 'artifact'))
  const log = await EmbeddedLog.open(join(dir, 'log'), { durability: { intervalMs: 100 } })
  const stateStore = new FileSnapshotStore(join(dir, 'state'))
  try {
    await log.ensureTopic(source, { partitions: 1 })
    await appendPayments(log, source, events, options.workload)
    const memory = new PeakMemory()
    const operators: CepOperator[] = []
    let maxPartialMatches = 0
    const sampler = setInterval(() => {
      for (const operator of operators)
        maxPartialMatches = Math.max(maxPartialMatches, operator.partialMatches)
    }, 50)
    const { timed, processingNs, cpuSeconds, windowUs } = await timeNodeUntilCaughtUp(
      log,
      {
        artifact,
        group: `bench.${id}`,
        partitions: 1,
        deadLetterTopic: deadLetters,
        stateStore,
        onMatchOperator: (_id: string, operator: CepOperator) => void operators.push(operator),
      },
      memory,
      600_000,
    )
    clearInterval(sampler)
    for (const operator of operators) maxPartialMatches = Math.max(maxPartialMatches, operator.partialMatches)
    const matches = (await log.endOffsets(sink)).reduce((a, b) => a + b, 0)
    const dead = (await log.endOffsets(deadLetters)).reduce((a, b) => a + b, 0)
    if (dead > 0) {
      const [first] = await log.read(deadLetters, 0, 0, 1)
      process.stderr.write(
        `first dead letter: ${JSON.stringify(first?.headers)} ${first?.value.toString().slice(0, 300)}\n`,
      )
    }
    if (timed.records !== events || dead !== 0 || timed.failures !== 0)
      throw new Error(
        `end to end ${execution}: handled ${timed.records}/${events} records, ${dead} dead letters, ${timed.failures} failed batches`,
      )
    if (matches === 0) throw new Error(`end to end ${execution}: no match written; the run measured nothing`)
    return {
      execution,
      events,
      eventsPerSecond: events / (processingNs / 1e9),
      cpuSeconds,
      peakRssBytes: memory.peakRssBytes,
      maxPartialMatches,
      matches,
      batchP99Ns: summarize(timed.durationsNs).p99,
      windowUs,
    }
  } finally {
    await log.close()
    await stateStore.close()
    await rm(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      events: { type: 'string', default: '2000000' },
      keys: { type: 'string', default: '100000' },
      // 100,000 cards at 1,000 payments/s: a card pays every 100 s on average, ~6 times in 10 minutes.
      rate: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '42' },
      'batch-size': { type: 'string', default: '4096' },
      rounds: { type: 'string', default: '1' },
      passes: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      out: { type: 'string', default: join(import.meta.dirname, 'reports') },
      note: { type: 'string' },
      variant: { type: 'string' },
      e2e: { type: 'string' },
      // The end-to-end runs: fewer events than the engine runs (the TypeScript engine is slow at 100,000 cards).
      'e2e-events': { type: 'string', default: '500000' },
    },
  })
  const options: Options = {
    events: Number(args.events),
    workload: { seed: Number(args.seed), keys: Number(args.keys), eventsPerSecond: Number(args.rate) },
    batchSize: Number(args['batch-size']),
    passes: Number(args.passes),
    warmup: Number(args.warmup),
  }
  const rounds = Number(args.rounds)
  for (const [name, value] of Object.entries({ ...options, ...options.workload, rounds })) {
    if (typeof value === 'number' && !(Number.isInteger(value) && value >= (name === 'warmup' ? 0 : 1)))
      throw new RangeError(`--${name} must be a positive integer, got ${value}`)
  }

  if (args.variant !== undefined) {
    if (!(VARIANT_KEYS as readonly string[]).includes(args.variant))
      throw new Error(`unknown variant '${args.variant}' (one of ${VARIANT_KEYS.join(', ')})`)
    const batches = cepBatches(options.events, options.workload, options.batchSize)
    const variant = await makeVariant(args.variant as VariantKey, batches, options)
    process.stderr.write(`measuring ${variant.name} (pid ${process.pid}) …\n`)
    process.stdout.write(`${JSON.stringify(measure(variant, batches, options))}\n`)
    return
  }

  if (args.e2e !== undefined) {
    if (args.e2e !== 'wasm' && args.e2e !== 'typescript')
      throw new Error(`--e2e wasm|typescript, got ${args.e2e}`)
    process.stdout.write(
      `${JSON.stringify(await endToEndRun(args.e2e, options, Number(args['e2e-events'])))}\n`,
    )
    return
  }

  const figures = await measureInProcess(options, rounds)
  const endToEnd: EndToEndRun[] = []
  for (const execution of ['wasm', 'typescript'] as const) {
    process.stderr.write(`end to end, ${execution} engine: `)
    const run = runChild<EndToEndRun>(['--e2e', execution])
    process.stderr.write(`${formatRate(run.eventsPerSecond)} events/s, ${run.matches} matches\n`)
    endToEnd.push(run)
  }
  if (endToEnd[0]!.matches !== endToEnd[1]!.matches)
    throw new Error(
      `end to end the engines wrote different numbers of matches: wasm ${endToEnd[0]!.matches}, typescript ${endToEnd[1]!.matches}`,
    )
  await writeCepReport(figures, options, rounds, args.out, args.note, endToEnd)
}

await main()
