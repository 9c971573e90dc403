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
import { beforeAll, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import {
  crashFractionsArb,
  crashPointsWithin,
  crashRunFixture,
  jsonRecord,
  maxBatchRecordsArb,
  replayableRuns,
} from '../../test/support/crash-run.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import {
  type UnionCountRow,
  type UnionEvent,
  unionCountProblems,
} from '../../test/support/union-state-reference.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'

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

let artifact: LoadedArtifact
beforeAll(async () => {
  artifact = await loadArtifact(await compileFixture(PIPE, 'union-state-property'))
})
const { runCrashing } = crashRunFixture('sluice-union-state')

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

async function run(
  byTopic: Readonly<Record<string, readonly UnionEvent[]>>,
  crashes: number[],
  maxBatchRecords: number,
): Promise<{ rows: UnionCountRow[]; crashed: number; operations: number }> {
  const { result, crashed, operations } = await runCrashing({
    artifact,
    partitions: PARTITIONS,
    inputs: Object.fromEntries(
      Object.entries(byTopic).map(([topic, events]) => [
        topic,
        // Keyed by card in both topics, so a card's events are on partition p of each: one task.
        events.map((e) => jsonRecord(e.card, { ...e, ts: new Date(e.ts).toISOString() })),
      ]),
    ),
    crashes,
    maxBatchRecords,
    read: async (log) =>
      (await readTopic(log, 'out')).map((r) => JSON.parse(r.value.toString()) as UnionCountRow),
  })
  return { rows: result, crashed, operations }
}

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
