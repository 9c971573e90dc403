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
import { type Bid, type NexmarkConfig, nexmarkEvents } from '../../benchmarks/lib/nexmark.ts'
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

/** Compiles `file`, runs it over the generated events on a fresh embedded log, reads `sink`. */
async function runQuery(file: string, sink: string): Promise<RunResult> {
  const name = file.replace(/\.pipe$/, '')
  const text = readFileSync(join(import.meta.dirname, file), 'utf8')
  const artifact = await loadArtifact(await compileFixture(text, name, `examples/nexmark/${file}`))
  const dataDir = await mkdtemp(join(tmpdir(), `sluice-nexmark-${name}-`))
  const log = await EmbeddedLog.open(dataDir, { durability: 'none' })
  const stateStore = new FileSnapshotStore(join(dataDir, 'state'), { fsync: false })
  try {
    for (const topic of ['person', 'auction', 'bid'] as const) {
      await log.ensureTopic(topic)
      await log.append(
        topic,
        events
          .filter((e) => e.topic === topic)
          .map((e) => ({ key: null, value: Buffer.from(JSON.stringify(e.value)), timestamp: e.timestamp })),
      )
    }
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
})
