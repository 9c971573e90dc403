/**
 * Windows over a join's results (window-over-join.ts, issue 13), run by the pipeline runner as a
 * property: `j` joins topics `as` and `bs` (co-partitioned, two partitions), a window aggregates
 * `j`'s rows; random out-of-order events, random batch sizes and random crashes under exactly-once
 * (test/support/crash-injection.ts). The committed results must equal the brute-force join
 * reference (test/support/join-reference.ts) composed with the brute-force window reference
 * (test/support/window-reference.ts), with no dead letters; the reference interpreter must give the
 * same results.
 *
 * Each topic's events are out of order by at most their source's watermark delay, so no source
 * event is late at the join whatever order the log interleaves the topics in: which pairs and
 * outer rows the join emits by the end, and when (in event time) they are timed, do not depend on
 * the interleaving. What is checked is that no row of the join is late at the window either
 * (outer rows included, timed up to the bound's width plus the lateness behind the join's
 * watermark), and that the window closes exactly the windows the join's final output watermark
 * (its watermark less the hold) reaches. The reference therefore gives the window every row of the
 * join, never late, then that final output watermark.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type JoinRefRecord,
  type JoinRefShape,
  joinReference,
  joinWatermarks,
} from '../../test/support/join-reference.ts'
import { asNumber, type IdEvent, topicProperty } from '../../test/support/topic-property.ts'
import { finalWindowResults, type WindowRefEvent } from '../../test/support/window-reference.ts'
import type { LoadedArtifact } from '../artifact/load.ts'
import { outputHoldMs } from '../join/join-over-join.ts'

/** The sources' watermark delays: how far out of order each topic's events may be. */
const DELAY = { as: 1000, bs: 2000 }
const TOPICS = ['as', 'bs'] as const
type Topic = (typeof TOPICS)[number]

interface Variant {
  readonly name: string
  /** `j`, over `as` (alias `a`, always present in its rows) and `bs` (alias `b`). */
  readonly join: string
  readonly joinShape: Omit<JoinRefShape, 'delayMs'>
  /** The window clause over `j`'s rows. */
  readonly window: string
  readonly sizeMs: number
  readonly slideMs: number
}

const VARIANTS: readonly Variant[] = [
  {
    name: 'a tumbling window over a left interval join (outer rows held back by the bound)',
    join: 'left join as as a, bs as b on a.k == b.k within b between 1s before and 2s after a',
    joinShape: {
      joinType: 'left',
      bound: { kind: 'interval', lowerMs: -1000, upperMs: 2000 },
      latenessMs: 0,
    },
    window: 'tumbling 3s',
    sizeMs: 3000,
    slideMs: 3000,
  },
  {
    name: 'a hopping window over a left interval join with lateness',
    join: 'left join as as a, bs as b on a.k == b.k within a between 1s before and 0ms after b lateness 500ms',
    joinShape: { joinType: 'left', bound: { kind: 'interval', lowerMs: 0, upperMs: 1000 }, latenessMs: 500 },
    window: 'hopping 4s every 2s',
    sizeMs: 4000,
    slideMs: 2000,
  },
  {
    name: 'a tumbling window over a window join',
    join: 'join as as a, bs as b on a.k == b.k window tumbling 2s',
    joinShape: { joinType: 'inner', bound: { kind: 'tumbling', sizeMs: 2000, slideMs: 2000 }, latenessMs: 0 },
    window: 'tumbling 5s',
    sizeMs: 5000,
    slideMs: 5000,
  },
]

const pipeOf = (variant: Variant) => `
schema E { id: i64, k: string, ts: timestamp @event_time }
source as: E from kafka("as") watermark ts - 1s
source bs: E from kafka("bs") watermark ts - 2s
stream j = ${variant.join}
stream w = j
  | aggregate by k: a.k window ${variant.window} { start: window_start(), n: count(), ids: sum(a.id), top: max(b.id) }
sink w -> kafka("out")
`

const { artifactOf, crashProperty, interpret, laneEvents, partitionOf, partitions } = topicProperty(
  'window-over-join',
  pipeOf,
  TOPICS,
)

type Ev = IdEvent<Topic>

/**
 * Random events of the two topics. Per topic and partition a clock moves forward and each event is
 * up to the topic's delay behind it, so events come out of order but never behind the watermark.
 */
const eventsArb = fc
  .array(
    fc.record({
      topic: fc.constantFrom(...TOPICS),
      k: fc.constantFrom('a', 'b', 'c'),
      step: fc.integer({ min: 0, max: 1200 }),
      behind: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
    { minLength: 30, maxLength: 90 },
  )
  .map((raw): Ev[] => laneEvents(raw, DELAY))

/** A result of the window: key, window start, count, sum of `a` ids, largest `b` id, its time. */
const resultOf = (
  k: string,
  start: number,
  n: number,
  ids: number | null,
  top: number | null,
  time: number,
) => `${k}|${start}|${n}|${ids ?? '-'}|${top ?? '-'}|${time}`

function expected(variant: Variant, events: readonly Ev[]): { results: string[]; outer: number } {
  const results: string[] = []
  let outer = 0
  const joinShape: JoinRefShape = { ...variant.joinShape, delayMs: { left: DELAY.as, right: DELAY.bs } }
  const hold = outputHoldMs({ bound: joinShape.bound, latenessMs: joinShape.latenessMs })
  for (let p = 0; p < partitions; p++) {
    const of = (topic: Topic) => events.filter((e) => e.topic === topic && partitionOf(e.k) === p)
    // The join: any interleaving gives the same outcome (no event is late); `as` first is one.
    const records: JoinRefRecord[] = [
      ...of('as').map((e) => ({ side: 'left' as const, id: e.id, time: e.ts, key: e.k, dropped: false })),
      ...of('bs').map((e) => ({ side: 'right' as const, id: e.id, time: e.ts, key: e.k, dropped: false })),
    ]
    const joined = joinReference(records, joinShape)
    expect(joined.late, 'no source event is late').toEqual([])
    const finalW = joinWatermarks(records, joinShape).at(-1) ?? Number.NEGATIVE_INFINITY
    outer += joined.rows.filter((row) => row.right === null).length
    // The window: every row of the join (keyed by its `as` event's key), never late, then the
    // join's final output watermark.
    const rowEvents: WindowRefEvent[] = joined.rows.map((row) => ({
      time: row.time,
      key: row.key!,
      args: [null, null, row.left, row.right],
      dropped: false,
      watermark: Number.NEGATIVE_INFINITY,
    }))
    rowEvents.push({ time: finalW, key: '', args: [], dropped: true, watermark: finalW - hold })
    const windows = finalWindowResults(
      rowEvents,
      { sizeMs: variant.sizeMs, slideMs: variant.slideMs, latenessMs: 0, delayMs: 0 },
      ['window_start', 'count', 'sum', 'max'],
    )
    expect(windows.late, 'no row of the join is late at the window').toEqual([])
    for (const r of windows.results) {
      const [start, n, ids, top] = r.values as [number, number, number | null, number | null]
      results.push(resultOf(r.key, start, n, ids, top, r.end - 1))
    }
  }
  return { results: results.sort(), outer }
}

/** The reference interpreter's results, sorted. */
function interpreted(variant: Variant, artifact: LoadedArtifact, events: readonly Ev[]): string[] {
  const results: string[] = []
  interpret(variant, artifact, events, ({ value, timestamp }) => {
    const row = value as {
      k: string
      start: number
      n: number | bigint
      ids: number | bigint | null
      top: number | bigint | null
    }
    results.push(resultOf(row.k, row.start, Number(row.n), asNumber(row.ids), asNumber(row.top), timestamp))
  })
  return results.sort()
}

describe("windows over a join's results in the runner, with crashes under exactly-once (property)", () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: results equal the join and window references composed, nothing late, lost or twice`, async () => {
      const artifact = await artifactOf(variant)
      let resultsSeen = 0
      let outerSeen = 0
      await crashProperty({
        artifact,
        events: eventsArb,
        expected: (events) => {
          const want = expected(variant, events)
          expect(interpreted(variant, artifact, events)).toEqual(want.results)
          resultsSeen += want.results.length
          outerSeen += want.outer
          return want.results
        },
        outRow: (value, timestamp) => {
          const row = value as { k: string; start: string; n: number; ids: number | null; top: number | null }
          return resultOf(row.k, Date.parse(row.start), row.n, row.ids, row.top, timestamp)
        },
        // To replay a failure: SLUICE_PROPERTY_SEED=<seed> SLUICE_PROPERTY_PATH=<path>.
        runs: 8,
      })
      // Recovery is covered (crashProperty checks a crash in every run), and so are window results
      // and outer rows.
      expect(resultsSeen, 'window results').toBeGreaterThan(0)
      if (variant.joinShape.joinType === 'left') expect(outerSeen, 'outer rows in windows').toBeGreaterThan(0)
    }, 600_000)
  }
})
