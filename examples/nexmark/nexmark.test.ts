/**
 * The Nexmark examples end to end: each query's `.pipe` is compiled to an artifact, a few thousand
 * generated events (benchmarks/lib/nexmark.ts) are appended as JSON lines to the `person`,
 * `auction` and `bid` topics of an embedded log (one partition each), the artifact runs until
 * caught up, and its sink must hold exactly what a plain reference over the generated bids gives.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  type Bid,
  type NexmarkConfig,
  type NexmarkEvent,
  nexmarkEvents,
} from '../../benchmarks/lib/nexmark.ts'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { FileSnapshotStore } from '../../runtime/state/file-snapshot-store.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { readTopic } from '../../test/support/read-topic.ts'

const EVENTS = 5000
/** 100 events/s of event time: 5,000 events span 50 s, five 10 s windows. */
const CONFIG: Partial<NexmarkConfig> = { seed: 7, eventsPerSecond: 100 }
const WINDOW_MS = 10_000

const events = [...nexmarkEvents(EVENTS, CONFIG)]
const bids = events.flatMap((e) => (e.topic === 'bid' ? [e.value] : []))

interface RunResult {
  readonly values: unknown[]
  readonly keys: (string | null)[]
  readonly deadLetters: number
}

/**
 * Compiles `file` (or each file of a chain of pipelines, run one after the other on the same log:
 * the later ones read what the earlier ones wrote), runs it over the generated events on a fresh
 * embedded log, reads `sink`. With `partitions`, the `bid` topic has that many partitions and each
 * bid goes to partition `auction % partitions` (keyed by auction); sink topics have one.
 */
async function runQuery(
  file: string | readonly string[],
  sink: string,
  options: { partitions?: number; events?: readonly NexmarkEvent[] } = {},
): Promise<RunResult> {
  const files = typeof file === 'string' ? [file] : file
  const name = files.map((f) => f.replace(/\.pipe$/, '')).join('+')
  const input = options.events ?? events
  const partitions = options.partitions ?? 1
  const dataDir = await mkdtemp(join(tmpdir(), `sluice-nexmark-${name}-`))
  const log = await EmbeddedLog.open(dataDir, { durability: 'none' })
  const stateStore = new FileSnapshotStore(join(dataDir, 'state'), { fsync: false })
  try {
    for (const topic of ['person', 'auction', 'bid'] as const) {
      await log.ensureTopic(topic, { partitions: topic === 'bid' ? partitions : 1 })
      await log.append(
        topic,
        input
          .filter((e) => e.topic === topic)
          .map((e) => ({
            key: null,
            value: Buffer.from(JSON.stringify(e.value)),
            timestamp: e.timestamp,
            ...(e.topic === 'bid' ? { partition: e.value.auction % partitions } : {}),
          })),
      )
    }
    for (const f of files) {
      const text = readFileSync(join(import.meta.dirname, f), 'utf8')
      const stage = f.replace(/\.pipe$/, '')
      const artifact = await loadArtifact(await compileFixture(text, stage, `examples/nexmark/${f}`))
      const runner = await PipelineRunner.start({
        log,
        artifact,
        metrics: new MetricsRegistry(),
        stateStore,
        maxBatchRecords: 500,
      })
      await runner.waitUntilCaughtUp(20_000)
      await runner.stop()
      await runner.done
    }
    const records = await readTopic(log, sink)
    const dead = await log.partitions(DEFAULT_DEAD_LETTER_TOPIC).then(
      () => readTopic(log, DEFAULT_DEAD_LETTER_TOPIC),
      () => [],
    )
    return {
      values: records.map((r) => JSON.parse(r.value.toString()) as unknown),
      keys: records.map((r) => r.key),
      deadLetters: dead.length,
    }
  } finally {
    await stateStore.close()
    await log.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

/** q5-counts by hand: bids per auction per 10 s tumbling window, for the windows that fired. */
function expectedWindowCounts(
  input: readonly Bid[],
): { auction: number; starts: string; ends: string; bids: number }[] {
  // The watermark is the latest bid time (no delay, one partition); a window fires once the
  // watermark reaches its end, so windows ending after the last bid's time never fire.
  const watermark = Math.max(...input.map((b) => Date.parse(b.date_time)))
  const counts = new Map<number, Map<number, number>>()
  for (const b of input) {
    const start = Math.floor(Date.parse(b.date_time) / WINDOW_MS) * WINDOW_MS
    if (start + WINDOW_MS > watermark) continue
    const perAuction = counts.get(start) ?? new Map<number, number>()
    perAuction.set(b.auction, (perAuction.get(b.auction) ?? 0) + 1)
    counts.set(start, perAuction)
  }
  // Results come in order of window start, then of the key's state string (an i64 key's JSON).
  return [...counts.keys()]
    .sort((a, b) => a - b)
    .flatMap((start) =>
      [...counts.get(start)!.entries()]
        .sort(([a], [b]) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0))
        .map(([auction, n]) => ({
          auction,
          starts: new Date(start).toISOString(),
          ends: new Date(start + WINDOW_MS).toISOString(),
          bids: n,
        })),
    )
}

/** The last bid's time: the final watermark (no delay, one partition, bids in event-time order). */
const finalWatermark = (input: readonly Bid[]) => Math.max(...input.map((b) => Date.parse(b.date_time)))
const iso = (ms: number) => new Date(ms).toISOString()

/** The bids' counts per auction in each 10 s window every 2 s that ends by `watermark`, by start. */
function hoppingCounts(input: readonly Bid[], watermark: number): Map<number, Map<number, number>> {
  const size = 10_000
  const slide = 2_000
  const counts = new Map<number, Map<number, number>>()
  for (const b of input) {
    const t = Date.parse(b.date_time)
    for (let start = Math.floor(t / slide) * slide; start > t - size; start -= slide) {
      if (start + size > watermark) continue
      const perAuction = counts.get(start) ?? new Map<number, number>()
      perAuction.set(b.auction, (perAuction.get(b.auction) ?? 0) + 1)
      counts.set(start, perAuction)
    }
  }
  return counts
}

/** q5 by hand: per 10 s window every 2 s (that fired), the auction with the most bids. */
function expectedHotItems(
  input: readonly Bid[],
): { starts: string; ends: string; auction: number; bids: number }[] {
  const counts = hoppingCounts(input, finalWatermark(input))
  return [...counts.keys()]
    .sort((a, b) => a - b)
    .map((start) => {
      const entries = [...counts.get(start)!.entries()]
      const most = Math.max(...entries.map(([, n]) => n))
      // Ties: the first stage emits a window's counts by auction id as text; max_by keeps the first.
      const [auction] = entries
        .filter(([, n]) => n === most)
        .map(([a]) => String(a))
        .sort()
      return { starts: iso(start), ends: iso(start + 10_000), auction: Number(auction), bids: most }
    })
}

/** q7 by hand: per 10 s tumbling window ending by `watermark`, the bid with the highest price. */
function expectedHighestBids(input: readonly Bid[], watermark = finalWatermark(input)) {
  const best = new Map<number, Bid>()
  for (const b of input) {
    const t = Date.parse(b.date_time)
    const start = Math.floor(t / WINDOW_MS) * WINDOW_MS
    if (start + WINDOW_MS > watermark) continue
    const current = best.get(start)
    // Ties of price: the earlier bid, then the first to arrive.
    if (
      current === undefined ||
      b.price > current.price ||
      (b.price === current.price && t < Date.parse(current.date_time))
    )
      best.set(start, b)
  }
  return [...best.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, b]) => ({
      auction: b.auction,
      bidder: b.bidder,
      price: b.price,
      date_time: b.date_time,
      extra: b.extra,
      starts: iso(start),
      ends: iso(start + WINDOW_MS),
    }))
}

describe('Nexmark examples on the embedded log', () => {
  it('the generated input has bids, hot auctions and several windows', () => {
    expect(bids.length).toBe((EVENTS / 50) * 46)
    expect(bids.filter((b) => b.auction % 123 === 0).length).toBeGreaterThan(0)
    expect(expectedWindowCounts(bids).length).toBeGreaterThan(100)
  })

  it('q0: every bid passes through unchanged', async () => {
    const { values, deadLetters } = await runQuery('q0.pipe', 'nexmark-q0')
    expect(deadLetters).toBe(0)
    expect(values).toEqual(bids)
  })

  it('q1: every bid with its price in euros (price * 89 / 100, truncated)', async () => {
    const { values, deadLetters } = await runQuery('q1.pipe', 'nexmark-q1')
    expect(deadLetters).toBe(0)
    expect(values).toEqual(
      bids.map((b) => ({
        auction: b.auction,
        bidder: b.bidder,
        price: Math.trunc((b.price * 89) / 100),
        date_time: b.date_time,
        extra: b.extra,
      })),
    )
  })

  it('q2: auction and price of the bids on every 123rd auction', async () => {
    const { values, deadLetters } = await runQuery('q2.pipe', 'nexmark-q2')
    expect(deadLetters).toBe(0)
    const expected = bids
      .filter((b) => b.auction % 123 === 0)
      .map((b) => ({ auction: b.auction, price: b.price }))
    expect(expected.length).toBeGreaterThan(0)
    expect(values).toEqual(expected)
  })

  it('q5-counts: bids per auction per 10 s tumbling window, for the windows the watermark closed', async () => {
    const { values, keys, deadLetters } = await runQuery('q5-counts.pipe', 'nexmark-q5-counts')
    expect(deadLetters).toBe(0)
    const expected = expectedWindowCounts(bids)
    expect(values).toEqual(expected)
    expect(keys).toEqual(expected.map((r) => String(r.auction)))
  })

  it('q5: per 10 s window every 2 s, the auction with the most bids (a window over a window)', async () => {
    const { values, keys, deadLetters } = await runQuery('q5.pipe', 'nexmark-q5')
    expect(deadLetters).toBe(0)
    const expected = expectedHotItems(bids)
    // Every window that fired has its result: those starting 8 s before the first bid up to 38 s
    // after it (the bids span 50 s), 24 windows.
    expect(expected.length).toBe(24)
    expect(values).toEqual(expected)
    expect(keys).toEqual(expected.map((r) => String(Date.parse(r.starts))))
  })

  describe('on a partitioned bid topic: the per-partition stage, then the merge over a one-partition topic', () => {
    const PARTITIONS = 3
    /** 200 s of event time: the merges' 30 s watermark delay leaves most windows closed. */
    const longEvents = [...nexmarkEvents(20_000, CONFIG)]
    const longBids = longEvents.flatMap((e) => (e.topic === 'bid' ? [e.value] : []))
    const partitionOf = (b: Bid) => b.auction % PARTITIONS
    const bidsOf = (p: number) => longBids.filter((b) => partitionOf(b) === p)
    /** The last result per key (the merges emit a window again for each partition's late result). */
    const lastPerKey = (run: RunResult) => {
      const last = new Map<string | null, unknown>()
      run.keys.forEach((key, i) => {
        last.set(key, run.values[i])
      })
      return [...last.values()]
    }

    it('q5 then q5-merge: per window, an auction with the most bids of all partitions', async () => {
      const run = await runQuery(['q5.pipe', 'q5-merge.pipe'], 'nexmark-q5-global', {
        partitions: PARTITIONS,
        events: longEvents,
      })
      expect(run.deadLetters).toBe(0)
      // q5.pipe's last result on partition p ends at its last 2 s boundary; the merge waits 30 s.
      const lastEnds = Math.max(
        ...[0, 1, 2].map((p) => Math.floor(finalWatermark(bidsOf(p)) / 2_000) * 2_000),
      )
      const mergeWatermark = lastEnds - 30_000
      const counts = hoppingCounts(longBids, Number.POSITIVE_INFINITY)
      // Hopping window s is the merge's tumbling window [s + 10 s, s + 12 s) (results at their end).
      const starts = [...counts.keys()].filter((s) => s + 12_000 <= mergeWatermark).sort((a, b) => a - b)
      expect(starts.length).toBeGreaterThan(50)
      const results = lastPerKey(run) as {
        starts: string
        auction: number
        bids: number
        partitions: number
      }[]
      expect(results.map((r) => r.starts)).toEqual(starts.map(iso))
      for (const r of results) {
        const perAuction = counts.get(Date.parse(r.starts))!
        const most = Math.max(...perAuction.values())
        expect(r.bids, r.starts).toBe(most)
        // Ties across partitions go to whichever partition's result came first: any hottest one.
        expect(perAuction.get(r.auction), `${r.starts}: auction ${r.auction}`).toBe(most)
        expect(r.partitions).toBe(new Set([...perAuction.keys()].map((a) => a % PARTITIONS)).size)
      }
    })

    it('q7 then q7-merge: per window, the highest bid of all partitions', async () => {
      const run = await runQuery(['q7.pipe', 'q7-merge.pipe'], 'nexmark-q7-global', {
        partitions: PARTITIONS,
        events: longEvents,
      })
      expect(run.deadLetters).toBe(0)
      // The candidates q7.pipe writes per partition; the merge's watermark trails the latest by 30 s.
      const candidates = [0, 1, 2].flatMap((p) => expectedHighestBids(bidsOf(p)))
      const mergeWatermark = Math.max(...candidates.map((c) => Date.parse(c.date_time))) - 30_000
      const expected = expectedHighestBids(longBids, mergeWatermark)
      expect(expected.length).toBeGreaterThan(10)
      expect(lastPerKey(run)).toEqual([expected.at(-1)])
      // Each window is emitted once per partition's candidate at most: the last one is the answer.
      const finals = new Map<string, unknown>()
      for (const v of run.values as { starts: string }[]) finals.set(v.starts, v)
      expect([...finals.values()]).toEqual(expected)
    })
  })

  it('q8: per 10 s tumbling window, the new persons who opened an auction in it (a window join)', async () => {
    const { values, deadLetters } = await runQuery('q8.pipe', 'nexmark-q8')
    expect(deadLetters).toBe(0)
    const expected = expectedNewUsers(events)
    expect(expected.length).toBeGreaterThan(3)
    const sort = (rows: readonly unknown[]) => rows.map((r) => JSON.stringify(r)).sort()
    expect(sort(values)).toEqual(sort(expected))
  })

  it('q7: per 10 s tumbling window, the highest bid', async () => {
    const { values, keys, deadLetters } = await runQuery('q7.pipe', 'nexmark-q7')
    expect(deadLetters).toBe(0)
    const expected = expectedHighestBids(bids)
    expect(expected.length).toBe(4)
    expect(values).toEqual(expected)
    expect(keys).toEqual(expected.map(() => '0'))
  })
})

/**
 * q8 by hand: for each 10 s window the join's watermark (the smaller of the latest person's and the
 * latest auction's time) closed, the persons of the window whose id is the seller of an auction
 * of the same window.
 */
function expectedNewUsers(input: readonly NexmarkEvent[]): { id: number; name: string; starts: string }[] {
  const persons = input.flatMap((e) => (e.topic === 'person' ? [e.value] : []))
  const auctions = input.flatMap((e) => (e.topic === 'auction' ? [e.value] : []))
  const last = (times: readonly string[]) => Math.max(...times.map((t) => Date.parse(t)))
  const watermark = Math.min(last(persons.map((p) => p.date_time)), last(auctions.map((a) => a.date_time)))
  const windowOf = (time: string) => Math.floor(Date.parse(time) / WINDOW_MS) * WINDOW_MS
  const sellers = new Set(auctions.map((a) => `${windowOf(a.date_time)}|${a.seller}`))
  return persons
    .filter((p) => windowOf(p.date_time) + WINDOW_MS <= watermark)
    .filter((p) => sellers.has(`${windowOf(p.date_time)}|${p.id}`))
    .map((p) => ({ id: p.id, name: p.name, starts: new Date(windowOf(p.date_time)).toISOString() }))
}
