/**
 * The workload both benchmarks share: one filter → map → key-by pipeline over payments, and a
 * seeded generator of its events, so every run (and every benchmark) measures the same input.
 * Amount is uniform in [0, 400) (75% above 100) and the country one of US/DE/FR (2/3 not US), so
 * about 50% pass the filter; 10,000 distinct cards; event time 10 ms apart.
 */

export interface Payment {
  id: string
  card: string
  amount: number
  country: string
  ts: number
}

/** The benchmarked pipeline, reading `source` and writing `sink`. */
export function paymentPipeline(source = 'payments', sink = 'big-payments'): string {
  return `schema Payment { id: string, card: string, amount: f64, country: string, ts: timestamp @event_time }

source payments: Payment from kafka("${source}")

stream big = payments
  | where amount > 100.0 and country != "US"
  | select { id, card, cents: to_i64(amount * 100.0), country }
  | key by card

sink big -> kafka("${sink}")
`
}

/** mulberry32: a small seeded PRNG, so every run benchmarks the same events. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const COUNTRIES = ['US', 'DE', 'FR'] as const
const START = Date.UTC(2026, 0, 1)

/** `count` payments in chunks of at most `chunk`, without holding them all in memory. */
export function* paymentChunks(count: number, seed: number, chunk: number): Generator<Payment[]> {
  const random = mulberry32(seed)
  for (let from = 0; from < count; from += chunk) {
    const out: Payment[] = []
    for (let i = from; i < Math.min(count, from + chunk); i++) {
      out.push({
        id: `p-${i}`,
        card: `card-${Math.floor(random() * 10_000)}`,
        amount: Math.round(random() * 40_000) / 100,
        country: COUNTRIES[Math.floor(random() * 3)]!,
        ts: START + i * 10,
      })
    }
    yield out
  }
}

/** `count` payments in one array. */
export function generatePayments(count: number, seed: number): Payment[] {
  const events: Payment[] = []
  for (const chunk of paymentChunks(count, seed, 65_536)) for (const payment of chunk) events.push(payment)
  return events
}
