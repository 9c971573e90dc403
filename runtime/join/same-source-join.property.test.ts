/**
 * Joins of two streams split from one source, and of a stream with itself, run by the pipeline
 * runner (runtime/node/same-source.ts, issue 13), as a property: one topic of two partitions,
 * events out of event-time order (some late), random batch sizes and random crashes under
 * exactly-once (test/support/crash-injection.ts). The committed rows and the dead-lettered late
 * events must equal the brute-force reference (test/support/join-reference.ts) exactly, as
 * multisets: nothing lost, nothing twice.
 *
 * The reference reads one source record as its left events then its right one (one `dropped`
 * when its stream's `where` drops it; two left events when a same-source union on the left has it
 * twice): so every record moves both sides' watermark, and a record's right event meets its own
 * left events, which is how the runner takes a source batch.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  artifactPerVariant,
  crashFractionsArb,
  crashPointsWithin,
  crashRunFixture,
  maxBatchRecordsArb,
  replayableRuns,
} from '../../test/support/crash-run.ts'
import {
  type JoinRefRecord,
  type JoinRefShape,
  joinReference,
  rowText,
} from '../../test/support/join-reference.ts'
import { type KeyedEvent, keyedEventRecord, keyedEventsArb, lateIds } from '../../test/support/late-events.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import type { LoadedArtifact } from '../artifact/load.ts'
import { partitionForKey } from '../log/partitioner.ts'

const PARTITIONS = 2
const T0 = Date.UTC(2026, 0, 1)
const DELAY = { left: 1000, right: 1000 }

interface Variant {
  readonly name: string
  /** The join, over `big` and `small` (streams of `events`) or `events` itself. */
  readonly clause: string
  readonly shape: JoinRefShape
  /** How many times an event is on each side (the sides' `where`s; twice after a union). */
  readonly left: (amount: number) => number
  readonly right: (amount: number) => boolean
}

const BIG = (amount: number) => amount >= 4 && amount <= 8
const SMALL = (amount: number) => amount <= 6
const ONCE = (side: (amount: number) => boolean) => (amount: number) => (side(amount) ? 1 : 0)
const VARIANTS: readonly Variant[] = [
  {
    name: 'full outer interval join of two streams of one source',
    clause: 'full join big as l, small as r on l.k == r.k within r between 2s before and 3s after l',
    shape: {
      joinType: 'full',
      bound: { kind: 'interval', lowerMs: -2000, upperMs: 3000 },
      latenessMs: 0,
      delayMs: DELAY,
    },
    left: ONCE(BIG),
    right: SMALL,
  },
  {
    name: 'inner interval join of a stream with itself, with lateness',
    clause:
      'join events as l, events as r on l.k == r.k within r between 0s after and 2s after l lateness 1s',
    shape: {
      joinType: 'inner',
      bound: { kind: 'interval', lowerMs: 0, upperMs: 2000 },
      latenessMs: 1000,
      delayMs: DELAY,
    },
    left: () => 1,
    right: () => true,
  },
  {
    name: 'left interval join of a union of two streams of one source with a third',
    clause: 'left join both as l, small as r on l.k == r.k within r between 1s before and 1s after l',
    shape: {
      joinType: 'left',
      bound: { kind: 'interval', lowerMs: -1000, upperMs: 1000 },
      latenessMs: 0,
      delayMs: DELAY,
    },
    left: (amount) => (BIG(amount) ? 1 : 0) + (SMALL(amount) ? 1 : 0),
    right: SMALL,
  },
  {
    name: 'tumbling window join of two streams of one source',
    clause: 'join big as l, small as r on l.k == r.k window tumbling 5s',
    shape: {
      joinType: 'inner',
      bound: { kind: 'tumbling', sizeMs: 5000, slideMs: 5000 },
      latenessMs: 0,
      delayMs: DELAY,
    },
    left: ONCE(BIG),
    right: SMALL,
  },
]

const pipeOf = (variant: Variant) => `
schema E { id: i64, k: string, amount: i64, ts: timestamp @event_time }
source events: E from kafka("events") watermark ts - 1s
stream big = events | where amount >= 4 and amount <= 8
stream small = events | where amount <= 6
stream both = union big, small
stream joined = ${variant.clause}
  | select { l: l.id, r: r.id, k: l.k ?? r.k }
sink joined -> kafka("out")
`

const artifactOf = artifactPerVariant('same-source-join', pipeOf)

const { runCrashing } = crashRunFixture('sluice-same-source-join')

type Ev = KeyedEvent

/** Random events, mostly forward in event time with some going back, so some are late. */
const eventsArb = keyedEventsArb(T0)

/** Reference ids: 4 × the event's id + its copy on the left (0 or 1), 4 × id + 3 on the right. */
function expected(variant: Variant, events: readonly Ev[]): { rows: string[]; late: number[] } {
  const rows: string[] = []
  const late: number[] = []
  for (let p = 0; p < PARTITIONS; p++) {
    const records: JoinRefRecord[] = events
      .filter((e) => partitionForKey(e.k, PARTITIONS) === p)
      .flatMap((e): JoinRefRecord[] => {
        const copies = variant.left(e.amount)
        const left = (copy: number, dropped: boolean) =>
          ({ side: 'left', id: 4 * e.id + copy, time: e.ts, key: e.k, dropped }) as const
        return [
          ...(copies === 0 ? [left(0, true)] : Array.from({ length: copies }, (_, c) => left(c, false))),
          { side: 'right', id: 4 * e.id + 3, time: e.ts, key: e.k, dropped: !variant.right(e.amount) },
        ]
      })
    const outcome = joinReference(records, variant.shape)
    const source = (id: number | null) => (id === null ? null : Math.floor(id / 4))
    rows.push(
      ...outcome.rows.map((row) => rowText({ ...row, left: source(row.left), right: source(row.right) })),
    )
    late.push(...outcome.late.map((id) => Math.floor(id / 4)))
  }
  return { rows: rows.sort(), late: late.sort((a, b) => a - b) }
}

async function run(
  artifact: LoadedArtifact,
  events: readonly Ev[],
  crashes: readonly number[],
  maxBatchRecords: number,
): Promise<{ rows: string[]; late: number[]; crashed: number; operations: number }> {
  const { result, crashed, operations } = await runCrashing({
    artifact,
    partitions: PARTITIONS,
    inputs: { events: events.map(keyedEventRecord) },
    crashes,
    maxBatchRecords,
    read: async (log) => {
      const rows = (await readTopic(log, 'out')).map((r) => {
        const row = JSON.parse(r.value.toString()) as { l: number | null; r: number | null; k: string }
        return rowText({ left: row.l, right: row.r, key: row.k, time: r.timestamp })
      })
      return { rows: rows.sort(), late: await lateIds(log) }
    },
  })
  return { ...result, crashed, operations }
}

describe('joins of one source with itself in the runner, with crashes under exactly-once (property)', () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: rows and late events equal the reference, nothing lost or twice`, async () => {
      const artifact = await artifactOf(variant)
      let crashes = 0
      let runs = 0
      let lateSeen = 0
      await fc.assert(
        fc.asyncProperty(
          eventsArb,
          crashFractionsArb(),
          maxBatchRecordsArb,
          async (events, fractions, maxBatchRecords) => {
            const want = expected(variant, events)
            const clean = await run(artifact, events, [], maxBatchRecords)
            expect(clean.rows).toEqual(want.rows)
            expect(clean.late).toEqual(want.late)
            const points = crashPointsWithin(fractions, clean.operations)
            const result = await run(artifact, events, points, maxBatchRecords)
            crashes += result.crashed
            runs++
            lateSeen += want.late.length
            expect(result.rows).toEqual(want.rows)
            expect(result.late).toEqual(want.late)
          },
        ),
        replayableRuns(12),
      )
      // Recovery is covered (a crash in every run) and so is lateness.
      expect(crashes).toBeGreaterThanOrEqual(runs)
      expect(lateSeen).toBeGreaterThan(0)
    }, 600_000)
  }
})
