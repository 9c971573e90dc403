/**
 * The CEP benchmark's workload (benchmarks/cep.bench.ts): card payments over many cards, the
 * pattern `small{2} followed by large within 10m` keyed by card (small = amount < 1000, large =
 * amount > 50000), and a hand-written loop that finds the same matches without an NFA.
 *
 * Payments come in event-time order at a fixed mean rate (exponential gaps, fractional ms, so no
 * two share a time); cards are drawn uniformly. Amounts: 70% small, 28% medium, 2% large, so most
 * events start or extend partial matches and a large payment completes the pairs of small ones
 * before it in the last 10 minutes of its card.
 */
import type { PatternSpec } from '../../compiler/ir/pattern.ts'
import type { CepFunctions, MatchContext, ReleasedEvents } from '../../runtime/cep/engine.ts'
import { mulberry32 } from './payments.ts'

export const WITHIN_MS = 10 * 60_000
export const SMALL_BELOW = 1000
export const LARGE_ABOVE = 50_000

export interface CepPayment {
  readonly card: number
  readonly amount: number
  readonly ts: number
}

export interface CepWorkloadOptions {
  readonly seed: number
  readonly keys: number
  /** Mean payments per second of event time (all cards together). */
  readonly eventsPerSecond: number
}

const SPAN = { file: 'cep.bench', start: 0, end: 0 }

/** `small{2} followed by large within 10m`, as the checker lowers it. */
export const CEP_BENCH_SPEC: PatternSpec = {
  steps: [
    { name: 'small', negated: false, repeated: true, hasUntil: false, reads: [] },
    { name: 'large', negated: false, repeated: false, hasUntil: false, reads: [] },
  ],
  pattern: {
    kind: 'Sequence',
    elements: [
      {
        connector: 'begin',
        term: {
          kind: 'Step',
          step: 0,
          quantifier: { min: 2, max: 2, mode: 'all', inner: 'relaxed' },
          withinMs: null,
          span: SPAN,
        },
      },
      {
        connector: 'followedBy',
        term: {
          kind: 'Step',
          step: 1,
          quantifier: { min: 1, max: 1, mode: 'all', inner: 'relaxed' },
          withinMs: null,
          span: SPAN,
        },
      },
    ],
    span: SPAN,
  },
  withinMs: WITHIN_MS,
  skip: { kind: 'noSkip' },
}

const isSmall = (row: unknown): boolean => (row as CepPayment).amount < SMALL_BELOW
const isLarge = (row: unknown): boolean => (row as CepPayment).amount > LARGE_ABOVE

/** What compiler/codegen/cep.ts would generate for the pattern (conditions, masks, key, select). */
export const CEP_BENCH_FUNCTIONS: CepFunctions = {
  conditions: [isSmall, isLarge],
  untils: [null, null],
  masks(rows, n, masks) {
    for (let i = 0; i < n; i++) {
      const amount = (rows[i] as CepPayment).amount
      masks[i] = (amount < SMALL_BELOW ? 1 : 0) | (amount > LARGE_ABOVE ? 2 : 0)
    }
  },
  key: (row) => String((row as CepPayment).card),
  select: (context: MatchContext, key: string) => ({ card: key, smalls: context.events(0).length }),
  timeout: null,
}

/** One batch of released events, with the time the watermark reaches after it (its last event's). */
export interface CepBatch extends ReleasedEvents {
  readonly watermark: number
}

/** The payments in released-event batches of `batchSize` (key id = card). */
export function cepBatches(count: number, options: CepWorkloadOptions, batchSize: number): CepBatch[] {
  const random = mulberry32(options.seed)
  const meanGapMs = 1000 / options.eventsPerSecond
  const batches: CepBatch[] = []
  let time = Date.UTC(2026, 0, 1)
  let seq = 0
  for (let from = 0; from < count; from += batchSize) {
    const n = Math.min(batchSize, count - from)
    const keyIds = new Int32Array(n)
    const times = new Float64Array(n)
    const seqs = new Float64Array(n)
    const rows: CepPayment[] = []
    for (let i = 0; i < n; i++) {
      time += -Math.log(1 - random()) * meanGapMs
      const card = Math.floor(random() * options.keys)
      const r = random()
      const amount =
        r < 0.7
          ? 1 + Math.floor(random() * (SMALL_BELOW - 1))
          : r < 0.98
            ? SMALL_BELOW + Math.floor(random() * (LARGE_ABOVE - SMALL_BELOW))
            : LARGE_ABOVE + 1 + Math.floor(random() * 150_000)
      keyIds[i] = card
      times[i] = time
      seqs[i] = seq++
      rows.push({ card, amount, ts: time })
    }
    batches.push({ length: n, keyIds, times, seqs, rows, masks: new Uint32Array(n), watermark: time })
  }
  return batches
}

/**
 * The pattern by hand, per card: the small payment waiting for a second one (`small:1`) and the
 * pairs waiting for a large one. A small payment pairs with the card's previous small payment and
 * waits itself; a large one completes every waiting pair. Pairs whose first payment is 10 minutes
 * old or older are dropped when the card's next payment comes (the engines drop them on the
 * watermark too; that changes what they hold, not what they match).
 */
/**
 * Drops the pairs at the front of `pairs` whose first payment is at or before `horizon`, in place
 * (a copy per drop, `slice` or `splice`, made garbage at every expiry and with it GC pauses the
 * engines do not have).
 */
function dropRunOut(pairs: number[], horizon: number): void {
  let keep = 0
  while (keep < pairs.length && pairs[keep]! <= horizon) keep += 3
  let to = 0
  for (let from = keep; from < pairs.length; from++) pairs[to++] = pairs[from]!
  pairs.length = to
}

export class HandWrittenSmallSmallLarge {
  /** Per card: the waiting small payment's time and seq (NaN: none). */
  private readonly firstTime: Float64Array
  private readonly firstSeq: Float64Array
  /** Per card: waiting pairs as [firstTime, firstSeq, secondSeq, …], or undefined. */
  private readonly pairs: (number[] | undefined)[]

  constructor(keys: number) {
    this.firstTime = new Float64Array(keys).fill(Number.NaN)
    this.firstSeq = new Float64Array(keys)
    this.pairs = new Array(keys)
  }

  /** Steps a batch; calls `match(card, seqs…)` per match in the engines' order; returns the match count. */
  step(batch: CepBatch, match: (card: number, a: number, b: number, c: number) => void): number {
    const { keyIds, times, seqs, rows } = batch
    let found = 0
    for (let i = 0; i < batch.length; i++) {
      const card = keyIds[i]!
      const t = times[i]!
      const amount = (rows[i] as CepPayment).amount
      const horizon = t - WITHIN_MS
      if (this.firstTime[card]! <= horizon) this.firstTime[card] = Number.NaN
      let pairs = this.pairs[card]
      if (pairs !== undefined && pairs.length > 0 && pairs[0]! <= horizon) dropRunOut(pairs, horizon)
      if (amount > LARGE_ABOVE) {
        if (pairs !== undefined && pairs.length > 0) {
          for (let p = 0; p < pairs.length; p += 3) match(card, pairs[p + 1]!, pairs[p + 2]!, seqs[i]!)
          found += pairs.length / 3
          pairs.length = 0
        }
      } else if (amount < SMALL_BELOW) {
        const first = this.firstTime[card]!
        if (!Number.isNaN(first)) {
          if (pairs === undefined) {
            pairs = []
            this.pairs[card] = pairs
          }
          pairs.push(first, this.firstSeq[card]!, seqs[i]!)
        }
        this.firstTime[card] = t
        this.firstSeq[card] = seqs[i]!
      }
    }
    return found
  }

  /**
   * Drops every waiting payment and pair that ran out by event time `time`, as `step` does per
   * card at its next payment: what an engine's advanceTime does (the benchmark calls it between
   * passes, so each pass starts with what the engines start with). Keeps the pair arrays.
   */
  expire(time: number): void {
    const horizon = time - WITHIN_MS
    for (let card = 0; card < this.firstTime.length; card++) {
      if (this.firstTime[card]! <= horizon) this.firstTime[card] = Number.NaN
      const pairs = this.pairs[card]
      if (pairs !== undefined && pairs.length > 0 && pairs[0]! <= horizon) dropRunOut(pairs, horizon)
    }
  }

  /** Partial matches it holds (some may have run out: it drops them lazily). */
  get held(): number {
    let held = 0
    for (let k = 0; k < this.firstTime.length; k++) {
      if (!Number.isNaN(this.firstTime[k]!)) held++
      held += (this.pairs[k]?.length ?? 0) / 3
    }
    return held
  }
}
