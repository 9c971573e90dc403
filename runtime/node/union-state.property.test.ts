/**
 * State after a union of several sources (issue 13, docs/decisions/0036): `union web, shop` of
 * two co-partitioned topics, then a dedup and a keyed running aggregate, whose state is the task's
 * (partition p of both topics). For random events spread over both topics, random batch sizes
 * and random crashes under exactly-once, what commits counts every id once on its card, rows
 * numbered 1, 2, … per card, and each topic's own ids in that topic's order
 * (test/support/union-state-reference.ts): no repeat of an id kept twice across the topics, no
 * count lost or repeated by a restart from a checkpoint, whatever the interleaving of the topics.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { cardCountRuns } from '../../test/support/card-count-run.ts'
import {
  crashFractionsArb,
  crashPointsWithin,
  maxBatchRecordsArb,
  replayableRuns,
} from '../../test/support/crash-run.ts'
import {
  type UnionCountRow,
  type UnionEvent,
  unionCountProblems,
} from '../../test/support/union-state-reference.ts'

const PARTITIONS = 2

const PIPE = `
schema Payment { id: string, card: string, amount: i64, ts: timestamp @event_time }
source web: Payment from kafka("web") watermark ts - 5s
source shop: Payment from kafka("shop")
stream payments = union web, shop
stream fresh = payments | dedup by id within 1h
stream counts = fresh | aggregate by card { n: count(), total: sum(amount) } | key by card
sink counts -> kafka("out")
`

// Keyed by card in both topics, so a card's events are on partition p of each: one task.
const { run } = cardCountRuns<UnionCountRow>(PIPE, 'union-state', PARTITIONS)

const IDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
const CARDS = ['x', 'y', 'z']

/** Events of both topics: each id has one card and one amount; times within the dedup's hour. */
const inputs = fc
  .array(
    fc.record({
      id: fc.integer({ min: 0, max: IDS.length - 1 }),
      topic: fc.constantFrom('web', 'shop'),
      offsetMs: fc.integer({ min: 0, max: 30 * 60_000 }),
    }),
    { minLength: 1, maxLength: 50 },
  )
  .map((raw) => {
    const start = Date.UTC(2026, 0, 1)
    const byTopic: Record<string, UnionEvent[]> = { web: [], shop: [] }
    for (const { id, topic, offsetMs } of raw) {
      byTopic[topic]!.push({
        id: IDS[id]!,
        card: CARDS[id % CARDS.length]!,
        amount: 1 << id,
        ts: start + offsetMs,
      })
    }
    return byTopic
  })

describe('state after a union of several sources (property)', () => {
  it('counts every id once per card across both topics, with and without crashes', async () => {
    let crashes = 0
    let runs = 0
    await fc.assert(
      fc.asyncProperty(
        inputs,
        crashFractionsArb(3),
        maxBatchRecordsArb,
        async (byTopic, fractions, batch) => {
          const clean = await run(byTopic, [], batch)
          expect(unionCountProblems(byTopic, clean.rows)).toEqual([])
          const withCrashes = await run(byTopic, crashPointsWithin(fractions, clean.operations), batch)
          crashes += withCrashes.crashed
          runs++
          expect(unionCountProblems(byTopic, withCrashes.rows)).toEqual([])
        },
      ),
      replayableRuns(20),
    )
    expect(crashes).toBeGreaterThanOrEqual(runs)
  }, 600_000)
})
