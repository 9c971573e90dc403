/**
 * Joins run by the pipeline runner, as a property: two co-partitioned topics, random batch sizes
 * and random crashes under exactly-once (test/support/crash-injection.ts); the committed output
 * must equal the brute-force reference (test/support/join-reference.ts) exactly, as a multiset:
 * nothing lost, nothing twice. This is what the task layer is for (decision 0020): a join's state,
 * both topics' offsets and its outputs commit or abort together.
 *
 * Each side's events are in event-time order within a partition, so no event is late whatever
 * order the log interleaves the two topics in (an arriving event's time is at least its side's
 * maximum, so at least the join's watermark); the outcome then does not depend on the
 * interleaving, which crashes and batch cuts change.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  artifactPerVariant,
  crashRunFixture,
  jsonRecord,
  replayableRuns,
} from '../../test/support/crash-run.ts'
import {
  type JoinRefRecord,
  type JoinRefShape,
  joinReference,
  rowText,
} from '../../test/support/join-reference.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import type { LoadedArtifact } from '../artifact/load.ts'
import { partitionForKey } from '../log/partitioner.ts'

const PARTITIONS = 2
const T0 = Date.UTC(2026, 0, 1)

interface Variant {
  readonly name: string
  readonly clause: string
  readonly shape: JoinRefShape
}

const NO_DELAY = { left: 0, right: 0 }
const VARIANTS: readonly Variant[] = [
  {
    name: 'full outer interval join',
    clause: 'full join lefts as l, rights as r on l.k == r.k within r between 2s before and 3s after l',
    shape: {
      joinType: 'full',
      bound: { kind: 'interval', lowerMs: -2000, upperMs: 3000 },
      latenessMs: 0,
      delayMs: NO_DELAY,
    },
  },
  {
    name: 'inner tumbling window join',
    clause: 'join lefts as l, rights as r on l.k == r.k window tumbling 5s',
    shape: {
      joinType: 'inner',
      bound: { kind: 'tumbling', sizeMs: 5000, slideMs: 5000 },
      latenessMs: 0,
      delayMs: NO_DELAY,
    },
  },
]

const pipeOf = (variant: Variant) => `
schema L { id: i64, k: string, ts: timestamp @event_time }
schema R { id: i64, k: string, ts: timestamp @event_time }
source lefts: L from kafka("lefts") watermark ts
source rights: R from kafka("rights") watermark ts
stream joined = ${variant.clause}
  | select { l: l.id, r: r.id, k: l.k ?? r.k }
sink joined -> kafka("out")
`

const artifactOf = artifactPerVariant('join-runner', pipeOf)

const { runCrashing } = crashRunFixture('sluice-join-runner')

interface Ev {
  readonly side: 'left' | 'right'
  readonly id: number
  readonly k: string
  readonly ts: number
}

/** Random events of both sides; within a side and partition, event time never decreases. */
const eventsArb = fc
  .array(
    fc.record({
      side: fc.constantFrom('left' as const, 'right' as const),
      k: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      step: fc.integer({ min: 0, max: 2500 }),
    }),
    { minLength: 10, maxLength: 60 },
  )
  .map((raw) => {
    const clock = new Map<string, number>()
    return raw.map(({ side, k, step }, id): Ev => {
      const lane = `${side}/${partitionForKey(k, PARTITIONS)}`
      const ts = (clock.get(lane) ?? T0) + step
      clock.set(lane, ts)
      return { side, id, k, ts }
    })
  })

function expectedRows(variant: Variant, events: readonly Ev[]): string[] {
  const rows: string[] = []
  for (let p = 0; p < PARTITIONS; p++) {
    // Any interleaving gives the same outcome here; the left side's events first is one.
    const records: JoinRefRecord[] = ['left', 'right'].flatMap((side) =>
      events
        .filter((e) => e.side === side && partitionForKey(e.k, PARTITIONS) === p)
        .map((e) => ({ side: e.side, id: e.id, time: e.ts, key: e.k, dropped: false })),
    )
    const outcome = joinReference(records, variant.shape)
    expect(outcome.late, 'the scenario has no late events').toEqual([])
    rows.push(...outcome.rows.map(rowText))
  }
  return rows.sort()
}

/** Runs the pipeline over `events` until caught up, restarting after each injected crash. */
async function run(
  artifact: LoadedArtifact,
  events: readonly Ev[],
  crashes: readonly number[],
  maxBatchRecords: number,
): Promise<{ rows: string[]; crashed: number }> {
  const of = (side: Ev['side']) =>
    events
      .filter((e) => e.side === side)
      .map((e) => jsonRecord(e.k, { id: e.id, k: e.k, ts: new Date(e.ts).toISOString() }))
  const { result: rows, crashed } = await runCrashing({
    artifact,
    partitions: PARTITIONS,
    inputs: { lefts: of('left'), rights: of('right') },
    crashes,
    maxBatchRecords,
    read: async (log) =>
      (await readTopic(log, 'out'))
        .map((r) => {
          const row = JSON.parse(r.value.toString()) as { l: number | null; r: number | null; k: string }
          return rowText({ left: row.l, right: row.r, key: row.k, time: r.timestamp })
        })
        .sort(),
  })
  return { rows, crashed }
}

describe('joins in the runner, with crashes under exactly-once (property)', () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: the committed output equals the reference, nothing lost or twice`, async () => {
      const artifact = await artifactOf(variant)
      let crashes = 0
      await fc.assert(
        fc.asyncProperty(
          eventsArb,
          fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 4 }),
          fc.integer({ min: 1, max: 9 }),
          async (events, points, maxBatchRecords) => {
            const expected = expectedRows(variant, events)
            const result = await run(artifact, events, points, maxBatchRecords)
            crashes += result.crashed
            expect(result.rows).toEqual(expected)
          },
        ),
        replayableRuns(20),
      )
      // The crash points are reached, so the comparison covers recovery.
      expect(crashes).toBeGreaterThan(10)
    }, 600_000)
  }
})
