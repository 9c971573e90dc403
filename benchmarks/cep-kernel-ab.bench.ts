/**
 * The CEP kernel at a git revision against the working tree's, in one process, alternating passes
 * over the same batches of the CEP benchmark (lib/cep-workload.ts): for kernel work, where
 * `npm run bench:cep` measures only the current kernel and a loaded machine makes two separate
 * runs incomparable.
 *
 *   node --import tsx benchmarks/cep-kernel-ab.bench.ts --base HEAD~1
 *   node --import tsx benchmarks/cep-kernel-ab.bench.ts --base HEAD~1 --events 1000000 --keys 1000
 *
 * Both kernels are compiled with the build's flags (wasm/build.ts) and run behind the working
 * tree's host (wasm/host/cep-kernel.ts), so the base must export what that host calls (a base
 * without the ring of inline records runs compact records with path nodes, as its own host ran
 * them). Every pass
 * starts a fresh engine (cep.bench.ts reuses one per variant instead), steps the batches and
 * advances time to each batch's last event, as cep.bench.ts does; both kernels must emit the same
 * matches (a digest of key and seqs) or the run stops. Figures: events per CPU-second of this process (user + system, which includes the
 * garbage collector's helper threads) and per wall-second, per pass; `--warmup-rounds` (default 1)
 * come first and are left out of the means, `--rounds` (default 3) are measured, the kernels'
 * order turning every round; beside the ratio of the means, each round's ratio of the two
 * kernels (median and range over the rounds: lib/ab-run.ts). `--json FILE` writes every pass and
 * the ratios; else stdout only.
 *
 * `--reuse`: one engine per kernel serves every round, as in cep.bench.ts and a long-running
 * operator (its memory grows in the warm-up and is reused after, so region growth and its copies
 * are not timed): between rounds, untimed, each engine's time runs past what it holds and the
 * batches move on in event time and seqs (whole numbers within [2^40, 2^41) ms: exact sums).
 *
 * `--rate` is payments per second of event time over all cards; the default (keys ÷ 100) keeps each
 * card's payments as dense as in cep.bench.ts (100,000 cards at 1,000/s), so a run with fewer
 * cards holds as many partial matches per card and differs only in how much of the state fits
 * the caches.
 */
import { execFileSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { EngineMatch, PatternEngine } from '../runtime/cep/engine.ts'
import { compileNfa } from '../runtime/cep/nfa-compile.ts'
import { compileKernelSource, KERNELS_DIR } from '../wasm/build.ts'
import { loadCepKernel } from '../wasm/host/cep-kernel.ts'
import * as ab from './lib/ab-run.ts'
import { CEP_BENCH_FUNCTIONS, CEP_BENCH_SPEC, cepBatches, WITHIN_MS } from './lib/cep-workload.ts'
import { revParse } from './lib/commit-tree.ts'
import { withTempDir } from './lib/interrupt.ts'

const REPO = resolve(import.meta.dirname, '..')
const UNBOUNDED = { maxPerKey: Number.POSITIVE_INFINITY, maxTotal: Number.POSITIVE_INFINITY }

const { values: args } = parseArgs({
  options: {
    ...ab.roundOptions({ rounds: 3, warmupRounds: 1 }),
    base: { type: 'string', default: 'HEAD' },
    events: { type: 'string', default: '1000000' },
    keys: { type: 'string', default: '100000' },
    rate: { type: 'string' },
    seed: { type: 'string', default: '42' },
    reuse: { type: 'boolean', default: false },
  },
})
const plan = ab.readRoundFlags(args)
const events = ab.wholeNumberFlag('events', args.events, 1)
const keys = ab.wholeNumberFlag('keys', args.keys, 1)
const rate = args.rate === undefined ? keys / 100 : ab.wholeNumberFlag('rate', args.rate, 1)

/** The kernel source at `revision`, compiled as wasm/build.ts compiles kernels. */
async function kernelAt(revision: string): Promise<Uint8Array> {
  const sha = revParse(REPO, revision)
  const source = execFileSync('git', ['show', `${sha}:wasm/kernels/cep.ts`], { cwd: REPO })
  return withTempDir('sluice-cep-ab-', async (dir) => {
    const path = join(dir, 'cep.ts')
    await writeFile(path, source)
    return await compileKernelSource(path)
  })
}

const variants = [
  { name: `base (${args.base})`, wasm: await kernelAt(args.base) },
  { name: 'working tree', wasm: await compileKernelSource(join(KERNELS_DIR, 'cep.ts')) },
]
const factories = await Promise.all(
  variants.map(async (v) => (await loadCepKernel(v.wasm)).factory(compileNfa)),
)
const batches = cepBatches(events, { seed: Number(args.seed), keys, eventsPerSecond: rate }, 4096)
const failed = new Uint8Array(4096)

// --reuse: how far the batches have moved in seqs (digests count seqs from a pass's own first).
let seqBase = 0
const lastBatch = batches[batches.length - 1]!
const timeShift = Math.ceil(lastBatch.watermark - batches[0]!.times[0]!) + WITHIN_MS + 2000
const seqShift = lastBatch.seqs[lastBatch.length - 1]! - batches[0]!.seqs[0]! + 1

/** Moves the batches on to the next round's stretch of the stream (--reuse). */
function shiftBatches(): void {
  for (const [b, batch] of batches.entries()) {
    for (let i = 0; i < batch.length; i++) {
      batch.times[i]! += timeShift
      batch.seqs[i]! += seqShift
    }
    batches[b] = { ...batch, watermark: batch.watermark + timeShift }
  }
  seqBase += seqShift
  if (!(batches[0]!.times[0]! >= 2 ** 40 && batches[batches.length - 1]!.watermark < 2 ** 41))
    throw new RangeError('--reuse: event times leave [2^40, 2^41) ms, where shifting them is exact')
}

/** One pass of an engine: CPU and wall seconds, and the matches' digest. */
function pass(engine: PatternEngine): { cpu: number; wall: number; digest: number; count: number } {
  let digest = 0x811c9dc5
  let count = 0
  const cpu0 = process.cpuUsage()
  const wall0 = process.hrtime.bigint()
  for (const batch of batches) {
    const matches: EngineMatch[] = []
    CEP_BENCH_FUNCTIONS.masks!(batch.rows, batch.length, batch.masks, failed, [])
    engine.step(batch, matches, [])
    engine.advanceTime(batch.watermark, matches, null)
    for (const m of matches) {
      digest = Math.imul(digest ^ m.keyId, 0x01000193) >>> 0
      for (const seq of m.seqs) digest = Math.imul(digest ^ (seq - seqBase), 0x01000193) >>> 0
    }
    count += matches.length
  }
  const cpu = process.cpuUsage(cpu0)
  return {
    cpu: (cpu.user + cpu.system) / 1e6,
    wall: Number(process.hrtime.bigint() - wall0) / 1e9,
    digest,
    count,
  }
}

let expected: { digest: number; count: number } | null = null
const rate1 = (seconds: number) => `${(events / seconds / 1e3).toFixed(0)} k`
const reused = args.reuse
  ? factories.map((factory) => factory(CEP_BENCH_SPEC, CEP_BENCH_FUNCTIONS, UNBOUNDED))
  : null
let lastRound: number | null = null
const passes = await ab.alternate([0, 1], plan, (v, { round, warmup }) => {
  if (reused !== null && lastRound !== null && round !== lastRound) {
    const end = batches[batches.length - 1]!.watermark + WITHIN_MS + 1000
    for (const engine of reused) {
      const left: EngineMatch[] = []
      engine.advanceTime(end, left, null)
      if (engine.partialMatches !== 0) throw new Error('--reuse: partial matches left after time ran out')
    }
    shiftBatches()
  }
  lastRound = round
  const result = pass(reused?.[v] ?? factories[v]!(CEP_BENCH_SPEC, CEP_BENCH_FUNCTIONS, UNBOUNDED))
  if (expected === null) expected = result
  else if (result.digest !== expected.digest || result.count !== expected.count)
    throw new Error(`${variants[v]!.name} emitted other matches (${result.count}, digest ${result.digest})`)
  process.stdout.write(
    `round ${round}${warmup ? ' (warm-up)' : ''} ${variants[v]!.name}: ${rate1(result.cpu)} events/CPU-s, ${rate1(result.wall)} events/s wall, ${result.count} matches\n`,
  )
  return result
})
const measured = passes.filter((p) => !p.warmup)
const totals = variants.map((_, v) => {
  const own = measured.filter((p) => p.variant === v)
  return { cpu: own.reduce((a, p) => a + p.result.cpu, 0), wall: own.reduce((a, p) => a + p.result.wall, 0) }
})
for (const [v, variant] of variants.entries())
  process.stdout.write(
    `${variant.name}: mean ${rate1(totals[v]!.cpu / plan.rounds)} events/CPU-s, ${rate1(totals[v]!.wall / plan.rounds)} events/s wall\n`,
  )
process.stdout.write(
  `working tree ÷ base: ${(totals[0]!.cpu / totals[1]!.cpu).toFixed(2)}× (CPU), ${(totals[0]!.wall / totals[1]!.wall).toFixed(2)}× (wall)\n`,
)
// Each round's passes met nearly the same load: the working tree's events per CPU-s over the base's of that round.
const ratios = ab
  .ratiosByRound(
    measured.map((p) => ({
      round: p.round,
      variant: variants[p.variant]!.name,
      value: events / p.result.cpu,
    })),
    variants[0]!.name,
  )
  .map((r) => ({ ...r, figure: 'events per CPU-s' }))
for (const r of ratios) process.stdout.write(`${ab.formatRatioSummary(r.figure, r, 2)}\n`)
await ab.writeAbReport(plan.json, {
  bench: 'cep-kernel-ab',
  options: args,
  plan,
  revisions: [{ label: args.base, sha: revParse(REPO, args.base) }],
  runs: passes.map((p) => ({
    round: p.round,
    warmup: p.warmup,
    variant: variants[p.variant]!.name,
    ...p.result,
  })),
  ratios,
})
