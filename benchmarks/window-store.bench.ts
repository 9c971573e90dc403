/**
 * The window accumulator stores' hot path: events/s of `add` for the WebAssembly store
 * (wasm/host/window-kernel.ts) and the TypeScript store (runtime/window/typed-array-store.ts).
 *
 *   node --import tsx benchmarks/window-store.bench.ts [--keys 10000] [--batches 400] [--rounds 5]
 *
 * Workload: `keys` key ids drawn uniformly, event times advancing 1 ms per event on average
 * (~1000 events per second of event time) with up to 500 ms of disorder, 1-minute tumbling
 * windows, accumulators count, sum, min, max and sum (the sum of avg), 10 % null arguments.
 * The input (`batches` × 4096 events) is generated up front. One round runs it through a fresh
 * store batch by batch: `add` with horizons at the watermark (the largest time seen before the
 * batch, less 1 s of allowed lateness), then `collect(watermark, watermark - lateness)`, which emits
 * and purges the windows that closed (a no-op until one does). Reported: events/s of the time spent
 * in `add` alone, and of add + collect; the best and the median of the rounds after one warmup
 * round. Prints to stdout only; writes no files.
 */
import { parseArgs } from 'node:util'
import type { WindowAccumulatorStore, WindowStoreSpec } from '../runtime/window/accumulator-store.ts'
import { createTypedArrayWindowStore } from '../runtime/window/typed-array-store.ts'
import { buildKernel } from '../wasm/build.ts'
import { loadWindowKernel } from '../wasm/host/window-kernel.ts'

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000' },
    batches: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '5' },
  },
})
const KEYS = Number(values.keys)
const BATCHES = Number(values.batches)
const ROUNDS = Number(values.rounds)
const BATCH = 4096
const LATENESS_MS = 1000
const SPEC: WindowStoreSpec = {
  accumulators: ['count', 'sum', 'min', 'max', 'sum'],
  sizeMs: 60_000,
  slideMs: 60_000,
}

interface Batch {
  readonly keyIds: Int32Array
  readonly times: Float64Array
  readonly horizons: Float64Array
  readonly args: Float64Array[]
  /** The watermark after this batch: the largest time seen so far. */
  readonly watermark: number
}

/** Deterministic input (mulberry32). */
function generate(): Batch[] {
  let state = 0x5eed
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const batches: Batch[] = []
  const base = 1_700_000_000_000
  let clock = 0
  let watermark = Number.NEGATIVE_INFINITY
  for (let b = 0; b < BATCHES; b++) {
    const keyIds = new Int32Array(BATCH)
    const times = new Float64Array(BATCH)
    const horizons = new Float64Array(BATCH).fill(watermark - LATENESS_MS)
    const amounts = new Float64Array(BATCH)
    for (let i = 0; i < BATCH; i++) {
      clock += random() * 2
      keyIds[i] = Math.floor(random() * KEYS)
      times[i] = base + Math.floor(clock - random() * 500)
      amounts[i] = random() < 0.1 ? Number.NaN : Math.round(random() * 100_000) / 100
      if (times[i]! > watermark) watermark = times[i]!
    }
    batches.push({ keyIds, times, horizons, args: [amounts, amounts, amounts, amounts, amounts], watermark })
  }
  return batches
}

interface RoundResult {
  readonly addMs: number
  readonly totalMs: number
  readonly emitted: number
}

function round(store: WindowAccumulatorStore, batches: readonly Batch[]): RoundResult {
  let addNs = 0n
  let emitted = 0
  const started = process.hrtime.bigint()
  for (const batch of batches) {
    const before = process.hrtime.bigint()
    store.add(batch.keyIds, batch.times, batch.horizons, batch.args, BATCH)
    addNs += process.hrtime.bigint() - before
    emitted += store.collect(batch.watermark, batch.watermark - LATENESS_MS).length
  }
  const totalNs = process.hrtime.bigint() - started
  return { addMs: Number(addNs) / 1e6, totalMs: Number(totalNs) / 1e6, emitted }
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}
const rate = (eventsPerSecond: number): string => `${(eventsPerSecond / 1e6).toFixed(2)} M events/s`

async function main(): Promise<void> {
  const built = await buildKernel(new URL('../wasm/kernels/window.ts', import.meta.url).pathname)
  const kernel = await loadWindowKernel(built.wasmPath)
  const batches = generate()
  const events = BATCHES * BATCH
  const variants: { name: string; create: () => WindowAccumulatorStore }[] = [
    { name: 'WasmWindowStore', create: () => kernel.createStore(SPEC) },
    { name: 'TypedArrayWindowStore', create: () => createTypedArrayWindowStore(SPEC) },
  ]
  console.log(
    `window store: ${KEYS} keys, ${events} events in batches of ${BATCH}, 1-min tumbling, count/sum/min/max/sum, ${ROUNDS} rounds`,
  )
  for (const variant of variants) {
    round(variant.create(), batches) // warmup
    const results: RoundResult[] = []
    for (let r = 0; r < ROUNDS; r++) results.push(round(variant.create(), batches))
    const add = results.map((x) => events / (x.addMs / 1000))
    const total = results.map((x) => events / (x.totalMs / 1000))
    console.log(
      `${variant.name.padEnd(22)} add: ${rate(Math.max(...add))} best, ${rate(median(add))} median; ` +
        `add + collect: ${rate(Math.max(...total))} best, ${rate(median(total))} median ` +
        `(${results[0]!.emitted} rows emitted per round)`,
    )
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
