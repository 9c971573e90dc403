/**
 * A running aggregate's state as an array per key against rows of numbers (docs/decisions/0037),
 * in one process, alternating: the recovery benchmark's workload (`aggregate by card { n: count(),
 * total: sum(amount) }`, 100 k cards) on KeyedState alone, as the generated code drives it, with a
 * checkpoint (takeChanges) after every `--per-checkpoint` events. Per round and variant, in CPU
 * time (the machine may be loaded): hot-path ns per event, capture (takeChanges) ns per changed
 * key, and the whole run's CPU and peak heap; the summary gives
 * the median of each round's rows / arrays ratio (paired-overhead.ts's reasoning: the two runs of
 * a round meet nearly the same machine load). Heap garbage from other work is absent here, so the
 * capture runs faster per key than inside the pipeline; the ratio is the point.
 *
 *   node --import tsx benchmarks/keyed-state-rows-ab.bench.ts [--rounds 8] [--events 1000000] [--cards 100000]
 *
 * Prints only (no report written): a comparison, not one of the reports.
 */
import { parseArgs } from 'node:util'
import { jsonCodec } from '../runtime/state/index.ts'
import { KeyedState } from '../runtime/state/keyed-state.ts'
import type { RowLayout } from '../runtime/state/number-rows.ts'
import { roundOrder } from './lib/ab-run.ts'
import { collectGarbage, PeakMemory } from './lib/measure.ts'
import { mulberry32 } from './lib/payments.ts'
import { median } from './lib/percentile.ts'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '8' },
    events: { type: 'string', default: '1000000' },
    cards: { type: 'string', default: '100000' },
    'per-checkpoint': { type: 'string', default: '150000' },
  },
})
const ROUNDS = Number(values.rounds)
const EVENTS = Number(values.events)
const CARDS = Number(values.cards)
const PER_CHECKPOINT = Number(values['per-checkpoint'])

const random = mulberry32(42)
const cards = Array.from({ length: CARDS }, (_, i) => `card-${i}`)
const picks = Uint32Array.from({ length: EVENTS }, () => Math.floor(random() * CARDS))
const amounts = Uint32Array.from({ length: EVENTS }, () => 1 + Math.floor(random() * 1000))
const LAYOUT: RowLayout = ['number', 'number']

type Variant = 'arrays' | 'rows'

/** One event of each variant, as stateful.ts generates it (sumI64's overflow check included). */
const steps: Record<
  Variant,
  (state: KeyedState<unknown>, key: string, amount: number, time: number) => number
> = {
  arrays(state, key, amount, time) {
    const p = state.get(key, time) as [number, number] | undefined
    const n = (p === undefined ? 0 : p[0]) + 1
    const total = (p === undefined ? 0 : p[1]) + amount
    if (total > Number.MAX_SAFE_INTEGER) throw new Error('i64 overflow in sum')
    if (!state.set(key, [n, total], time)) throw new Error('full')
    return n
  },
  rows(state, key, amount, time) {
    const p = state.findRow(key, time, LAYOUT)
    const c = state.rows
    const n = (p < 0 ? 0 : c[p]!) + 1
    const total = (p < 0 ? 0 : c[p + 1]!) + amount
    if (total > Number.MAX_SAFE_INTEGER) throw new Error('i64 overflow in sum')
    const w = state.rowScratch
    w[0] = n
    w[1] = total
    if (!state.setRow(key, time)) throw new Error('full')
    return n
  },
}

/**
 * CPU ms of the process so far: on a loaded machine wall time is mostly waiting for a core. The
 * process is this loop and the collector's helpers, so it is nearly the main thread's.
 */
function cpuMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

interface Run {
  readonly variant: Variant
  readonly hotNsPerEvent: number
  readonly captureNsPerKey: number
  readonly cpuSeconds: number
  readonly peakHeapBytes: number
}

function run(variant: Variant): Run {
  collectGarbage()
  const peak = new PeakMemory()
  const state = new KeyedState<unknown>({ codec: jsonCodec })
  const step = steps[variant]
  let hotMs = 0
  let captureMs = 0
  let captured = 0
  let sink = 0
  const cpu = process.cpuUsage()
  for (let from = 0; from < EVENTS; from += PER_CHECKPOINT) {
    const to = Math.min(EVENTS, from + PER_CHECKPOINT)
    const hotStart = cpuMs()
    for (let i = from; i < to; i++) sink += step(state, cards[picks[i]!]!, amounts[i]!, i)
    const captureStart = cpuMs()
    const { puts } = state.takeChanges()
    captureMs += cpuMs() - captureStart
    hotMs += captureStart - hotStart
    captured += puts.size
    peak.sample()
  }
  const used = process.cpuUsage(cpu)
  if (sink === 0) throw new Error('nothing counted')
  return {
    variant,
    hotNsPerEvent: (hotMs * 1e6) / EVENTS,
    captureNsPerKey: (captureMs * 1e6) / captured,
    cpuSeconds: (used.user + used.system) / 1e6,
    peakHeapBytes: peak.peakHeapUsedBytes,
  }
}

const fmt = (x: number) => x.toFixed(0).padStart(5)
run('arrays')
run('rows') // warm-up, left out
const ratios = { hot: [] as number[], capture: [] as number[], cpu: [] as number[] }
for (let round = 0; round < ROUNDS; round++) {
  const runs = new Map<Variant, Run>()
  for (const variant of roundOrder<Variant>(['arrays', 'rows'], round)) runs.set(variant, run(variant))
  const arrays = runs.get('arrays')!
  const rows = runs.get('rows')!
  for (const r of [arrays, rows]) {
    console.log(
      `round ${round + 1}: ${r.variant.padEnd(6)} hot ${fmt(r.hotNsPerEvent)} ns/event (${fmt(1e6 / r.hotNsPerEvent)} k events/s of CPU), capture ${fmt(r.captureNsPerKey)} ns/changed key, CPU ${r.cpuSeconds.toFixed(2)} s, peak heap ${(r.peakHeapBytes / 2 ** 20).toFixed(0)} MiB`,
    )
  }
  ratios.hot.push(rows.hotNsPerEvent / arrays.hotNsPerEvent)
  ratios.capture.push(rows.captureNsPerKey / arrays.captureNsPerKey)
  ratios.cpu.push(rows.cpuSeconds / arrays.cpuSeconds)
}
const show = (xs: number[]) =>
  `median ${median(xs).toFixed(3)} (rounds ${xs.map((x) => x.toFixed(2)).join(', ')})`
console.log(`rows / arrays, ${ROUNDS} rounds: hot path ${show(ratios.hot)}`)
console.log(`rows / arrays: capture per changed key ${show(ratios.capture)}`)
console.log(`rows / arrays: process CPU ${show(ratios.cpu)}`)
