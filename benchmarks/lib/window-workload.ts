/**
 * The workload of benchmarks/window.bench.ts: a keyed 1-minute tumbling window with count, sum,
 * min, max and avg of an f64 amount per card, and a seeded generator of its events, plus the
 * hand-written baseline (what a person would write for this one pipeline with no framework).
 *
 * Events: `keys` cards drawn uniformly, amounts uniform in [0, 400) with cent precision, event
 * times advancing steadily at `eventsPerSecond` events per second of event time, each up to
 * `disorderMs` earlier than its place in that sequence (small disorder). With the watermark delay
 * of the pipeline (3 s) larger than the disorder, no event is late: every variant aggregates every
 * event, and a window fires once, when the watermark passes its end.
 */
import type { OutputView } from './checksum.ts'
import { mulberry32 } from './payments.ts'

export const WINDOW_SIZE_MS = 60_000
export const WATERMARK_DELAY_MS = 3_000

/** The benchmarked pipeline, reading `source` and writing `sink`. */
export function windowPipeline(source = 'payments', sink = 'per-minute'): string {
  return `schema Payment { card: string, amount: f64, ts: timestamp @event_time }

source payments: Payment from kafka("${source}") watermark ts - ${WATERMARK_DELAY_MS / 1000}s

stream per_minute = payments
  | aggregate by card window tumbling 1m { n: count(), total: sum(amount), low: min(amount), high: max(amount), mean: avg(amount) }

sink per_minute -> kafka("${sink}")
`
}

/** One event of the workload, as the source's decoder produces it. */
export interface WindowPayment {
  card: string
  amount: number
  ts: number
}

export interface WindowWorkloadOptions {
  readonly seed: number
  /** Distinct cards (default 10,000). */
  readonly keys?: number
  /** Events per second of event time (default 20,000). */
  readonly eventsPerSecond?: number
  /** Largest amount an event's time lags its place in the sequence, ms (default 500). */
  readonly disorderMs?: number
  /** No event is earlier; the first window starts here (default 2026-01-01T00:00:00Z, a window boundary). */
  readonly startMs?: number
}

export const WORKLOAD_DEFAULTS = {
  keys: 10_000,
  eventsPerSecond: 20_000,
  disorderMs: 500,
  startMs: Date.UTC(2026, 0, 1),
} as const

/** `count` events in chunks of at most `chunk`, without holding them all in memory. */
export function* windowPaymentChunks(
  count: number,
  options: WindowWorkloadOptions,
  chunk: number,
): Generator<WindowPayment[]> {
  const keys = options.keys ?? WORKLOAD_DEFAULTS.keys
  const rate = options.eventsPerSecond ?? WORKLOAD_DEFAULTS.eventsPerSecond
  const disorderMs = options.disorderMs ?? WORKLOAD_DEFAULTS.disorderMs
  const start = options.startMs ?? WORKLOAD_DEFAULTS.startMs
  const random = mulberry32(options.seed)
  // One string per card, as a dictionary-backed decoder would hand them out; the benchmark
  // re-decodes the events from JSON bytes anyway when it wants the runner's own strings.
  const cards = Array.from({ length: keys }, (_, k) => `card-${k}`)
  for (let from = 0; from < count; from += chunk) {
    const out: WindowPayment[] = []
    for (let i = from; i < Math.min(count, from + chunk); i++) {
      const card = cards[Math.floor(random() * keys)]!
      const amount = Math.round(random() * 40_000) / 100
      // Shifted by the disorder, so no event precedes `start` (a window boundary).
      const ts = start + disorderMs + Math.floor((i * 1000) / rate - random() * disorderMs)
      out.push({ card, amount, ts })
    }
    yield out
  }
}

/** `count` events in one array. */
export function generateWindowPayments(count: number, options: WindowWorkloadOptions): WindowPayment[] {
  const events: WindowPayment[] = []
  for (const chunk of windowPaymentChunks(count, options, 65_536)) for (const p of chunk) events.push(p)
  return events
}

/**
 * For each source record index o of a batch, the largest event time among its events 0…o
 * (-Infinity before the first): the `sourceMaxTimes` argument of `WindowOperator.process`. The
 * same computation as the runner's (runtime/node/pipeline-runner.ts, not exported), for a batch
 * whose events are its records (origins 0…n-1).
 */
export function batchMaxTimes(
  timestamps: readonly number[],
  length: number,
  into: Float64Array,
): Float64Array {
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < length; i++) {
    const t = timestamps[i]!
    if (t > max) max = t
    into[i] = max
  }
  return into
}

/** A window's result as the pipeline defines it (field order included). */
export interface PerMinute {
  card: string
  n: number
  total: number
  low: number
  high: number
  mean: number
}

interface Accumulator {
  n: number
  total: number
  low: number
  high: number
}

/**
 * The hand-written baseline: one `Map<card, accumulator object>` per open window start, the
 * watermark kept inline, and a window emitted (rows in card order, timed at its last millisecond,
 * keyed by the card) once the watermark reaches its end, as the pipeline's semantics say. It knows
 * the pipeline: tumbling windows, non-null finite amounts, no event later than the watermark delay
 * (it counts any in `late` and drops it rather than implementing lateness), no snapshots.
 */
export class HandWrittenTumblingWindows implements OutputView {
  readonly values: PerMinute[] = []
  readonly keys: string[] = []
  readonly timestamps: number[] = []
  length = 0
  /** Events dropped as late (none in this workload). */
  late = 0
  private readonly windows = new Map<number, Map<string, Accumulator>>()
  private maxTime = Number.NEGATIVE_INFINITY
  /** The smallest end among open windows (+Infinity when none). */
  private nextEnd = Number.POSITIVE_INFINITY
  // The window the previous event went to: most events go to the same one as the one before.
  private currentStart = Number.NaN
  private current: Map<string, Accumulator> | undefined

  constructor(
    private readonly sizeMs = WINDOW_SIZE_MS,
    private readonly delayMs = WATERMARK_DELAY_MS,
  ) {}

  /** Aggregates one batch; its results (windows it closed) replace the previous batch's. Returns their count. */
  process(events: readonly WindowPayment[], length = events.length): number {
    this.length = 0
    const { sizeMs, delayMs } = this
    for (let i = 0; i < length; i++) {
      const p = events[i]!
      const t = p.ts
      if (t > this.maxTime) this.maxTime = t
      const watermark = this.maxTime - delayMs
      if (watermark >= this.nextEnd) this.fire(watermark)
      const start = t - (((t % sizeMs) + sizeMs) % sizeMs)
      if (start + sizeMs <= watermark) {
        this.late++
        continue
      }
      let window = this.current
      if (start !== this.currentStart || window === undefined) {
        window = this.windows.get(start)
        if (window === undefined) {
          window = new Map()
          this.windows.set(start, window)
          if (start + sizeMs < this.nextEnd) this.nextEnd = start + sizeMs
        }
        this.current = window
        this.currentStart = start
      }
      const amount = p.amount
      const acc = window.get(p.card)
      if (acc === undefined) window.set(p.card, { n: 1, total: 0 + amount, low: amount, high: amount })
      else {
        acc.n++
        acc.total += amount
        if (amount < acc.low) acc.low = amount
        if (amount > acc.high) acc.high = amount
      }
    }
    return this.length
  }

  /** Emits and drops every window whose end is at or before `watermark`, oldest first. */
  private fire(watermark: number): void {
    const due = [...this.windows.keys()].filter((s) => s + this.sizeMs <= watermark).sort((a, b) => a - b)
    for (const start of due) {
      const window = this.windows.get(start)!
      const end = start + this.sizeMs
      for (const card of [...window.keys()].sort()) {
        const acc = window.get(card)!
        const o = this.length++
        this.values[o] = {
          card,
          n: acc.n,
          total: acc.total,
          low: acc.low,
          high: acc.high,
          mean: acc.total / acc.n,
        }
        this.keys[o] = card
        this.timestamps[o] = end - 1
      }
      this.windows.delete(start)
      if (start === this.currentStart) {
        this.current = undefined
        this.currentStart = Number.NaN
      }
    }
    let next = Number.POSITIVE_INFINITY
    for (const start of this.windows.keys()) if (start + this.sizeMs < next) next = start + this.sizeMs
    this.nextEnd = next
  }
}
