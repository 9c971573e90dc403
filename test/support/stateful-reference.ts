/**
 * Brute-force references for the stateful steps, for tests that check the real thing against them:
 * `dedup by id within W` followed by `aggregate by card { n: count(), total: sum(amount) }`, run
 * event by event in each card's order of arrival (all of a card's events share a partition, since
 * they are keyed by card).
 */
export interface ChaosEvent {
  readonly id: string
  readonly card: string
  readonly amount: number
  /** Event time, ms since the epoch. */
  readonly ts: number
}

export interface CountRow {
  readonly card: string
  readonly n: number
  readonly total: number
}

/**
 * What the pipeline must emit, per card, in order. The dedup's clock (specs/language.md) is per
 * source partition; `partitionOf` says which partition an event is on (by default one for all,
 * which is exact when repeats of an id only come after the id's first event, as here).
 */
export function expectedCounts(
  events: readonly ChaosEvent[],
  withinMs: number,
  partitionOf: (e: ChaosEvent) => number = () => 0,
): Map<string, CountRow[]> {
  const kept = new Map<string, number>()
  const clocks = new Map<number, number>()
  const out = new Map<string, CountRow[]>()
  for (const e of events) {
    const p = partitionOf(e)
    const clock = Math.max(clocks.get(p) ?? Number.NEGATIVE_INFINITY, e.ts)
    clocks.set(p, clock)
    const stored = kept.get(e.id)
    // A kept time `within` behind the clock is gone (no watermark: lateness 0).
    const last = stored !== undefined && stored + withinMs > clock ? stored : undefined
    if (last !== undefined && Math.abs(e.ts - last) < withinMs) continue
    kept.set(e.id, last === undefined ? e.ts : Math.max(last, e.ts))
    const rows = out.get(e.card) ?? []
    const previous = rows.at(-1)
    rows.push({ card: e.card, n: (previous?.n ?? 0) + 1, total: (previous?.total ?? 0) + e.amount })
    out.set(e.card, rows)
  }
  return out
}

/** A deterministic xorshift generator, so a failing run can be repeated from its seed. */
export function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
}

/**
 * Payments 10 ms apart with repeats: about 8 % resend one of the last 100 events' id a few seconds
 * after it (dropped by a dedup within a minute), 2 % resend an id from more than `2 × within` ago
 * at the current time (kept again). Event time stays close to arrival order, so a dedup's clock
 * never runs far ahead of the events it compares.
 */
export function chaosEvents(count: number, cards: number, withinMs: number, seed: number): ChaosEvent[] {
  const random = seededRandom(seed)
  const events: ChaosEvent[] = []
  const start = Date.UTC(2026, 0, 1)
  const oldAfter = Math.ceil((2 * withinMs) / 10)
  for (let i = 0; i < count; i++) {
    const roll = random()
    const ts = start + i * 10
    if (i > 100 && roll < 0.08) {
      const earlier = events[i - 1 - Math.floor(random() * 100)]!
      events.push({ ...earlier, ts: earlier.ts + Math.floor(random() * 5000) })
      continue
    }
    if (i > oldAfter && roll < 0.1) {
      const old = events[Math.floor(random() * (i - oldAfter))]!
      events.push({ ...old, ts })
      continue
    }
    events.push({
      id: `e${i}`,
      card: `c${Math.floor(random() * cards)}`,
      amount: 1 + Math.floor(random() * 1000),
      ts,
    })
  }
  return events
}

/**
 * Compares emitted rows with the expected ones card by card: returns the problems found (missing,
 * duplicated or out-of-order rows), empty when they agree exactly.
 */
export function compareCounts(expected: Map<string, CountRow[]>, actual: readonly CountRow[]): string[] {
  const byCard = new Map<string, CountRow[]>()
  for (const row of actual) {
    const rows = byCard.get(row.card) ?? []
    rows.push(row)
    byCard.set(row.card, rows)
  }
  const problems: string[] = []
  for (const [card, rows] of expected) {
    const got = byCard.get(card) ?? []
    if (got.length !== rows.length) problems.push(`card ${card}: ${got.length} rows, expected ${rows.length}`)
    const first = rows.findIndex((row, i) => got[i]?.n !== row.n || got[i]?.total !== row.total)
    if (first >= 0) {
      problems.push(
        `card ${card}: row ${first} is ${JSON.stringify(got[first])}, expected ${JSON.stringify(rows[first])}`,
      )
    }
  }
  for (const card of byCard.keys())
    if (!expected.has(card)) problems.push(`card ${card}: not expected at all`)
  return problems
}
