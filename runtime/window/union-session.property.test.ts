/**
 * Session windows and processing-time windows over a union of several sources (union-window.ts,
 * issue 13, docs/decisions/0036) in the runner, as properties with random crashes under
 * exactly-once (test/support/topic-property.ts): `union north, south` of two co-partitioned topics
 * (two partitions), random out-of-order events, random batch sizes.
 *
 * 1. Sessions: each topic's events are out of order by at most its source's delay, so none is late
 *    at the union whatever order the log interleaves the topics in (the union's watermark is at
 *    most each source's own). Event times are even and the gap odd, so no session ever just
 *    touches an event (t = end): then which sessions merge does not depend on when the union's
 *    watermark fired them, and what commits by the end is every session the final union watermark
 *    closed, found from all of a key's events at once (test/support/session-reference.ts). A
 *    partition where one source sends nothing holds the union back: nothing of it closes.
 * 2. Processing time, with the node's clock fixed (injected): every event goes to the clock's
 *    window, which never closes, and `emit on update` writes its count after each event. What
 *    commits is, per key, the counts 1 … n of its events from both topics, each once: a crash
 *    neither loses nor repeats an update, whatever the interleaving.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { closedSessions } from '../../test/support/session-reference.ts'
import { type IdEvent, topicProperty } from '../../test/support/topic-property.ts'
import { unionWindowPipe } from '../../test/support/union-window-pipe.ts'

const TOPICS = ['north', 'south'] as const
type Topic = (typeof TOPICS)[number]
type Ev = IdEvent<Topic>
/** The sources' watermark delays: how far out of order each topic's events may be (even). */
const DELAY = { north: 1000, south: 3000 }
/** The session gap: odd, while every event time is even. */
const GAP_MS = 1501
const HOUR = 3_600_000

interface Variant {
  readonly name: string
  readonly window: string
}
const SESSION: Variant = { name: 'sessions', window: `session ${GAP_MS}ms` }
const PROCESSING: Variant = { name: 'processing time', window: 'tumbling 1h processing time emit on update' }

const pipeOf = (variant: Variant) =>
  unionWindowPipe(
    variant.window,
    'start: window_start(), end: window_end(), n: count(), ids: sum(id), top: max(id)',
    variant === SESSION,
  )

const { artifactOf, crashProperty, interpret, laneEvents, partitionOf, partitions, start } = topicProperty(
  'union-session',
  pipeOf,
  TOPICS,
)

/**
 * Random events of the two topics: per topic and partition a clock moves forward by even steps,
 * each event up to the topic's delay behind it (never late at its own source), its time made even.
 * `quiet`: the topics that send nothing on partition 1.
 */
const eventsArb = fc
  .tuple(
    fc.array(
      fc.record({
        topic: fc.constantFrom(...TOPICS),
        k: fc.constantFrom('a', 'b', 'c', 'd'),
        step: fc.integer({ min: 0, max: 700 }).map((half) => 2 * half),
        behind: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      }),
      { minLength: 20, maxLength: 80 },
    ),
    fc.constantFrom<readonly Topic[]>([], [], ['south']),
  )
  .map(([raw, quiet]): Ev[] =>
    laneEvents(raw, DELAY)
      .map((e) => ({ ...e, ts: e.ts - (e.ts % 2) }))
      .filter((e) => !(quiet.includes(e.topic) && partitionOf(e.k) === 1)),
  )

/** A result: key, start, end, count, sum and largest of the ids, its time. */
const resultOf = (k: string, from: number, end: number, n: number, ids: number, top: number, time: number) =>
  `${k}|${from}|${end}|${n}|${ids}|${top}|${time}`

/** Every session the final union watermark closed, per partition (none is late: see above). */
function expectedSessions(events: readonly Ev[]): string[] {
  const results: string[] = []
  for (let p = 0; p < partitions; p++) {
    const own = events.filter((e) => partitionOf(e.k) === p)
    const watermark = Math.min(
      ...TOPICS.map(
        (topic) => Math.max(...own.filter((e) => e.topic === topic).map((e) => e.ts)) - DELAY[topic],
      ),
    )
    const sessions = closedSessions(
      own.map((e) => ({ key: e.k, time: e.ts, value: e.id })),
      GAP_MS,
      watermark,
    )
    for (const s of sessions)
      results.push(
        resultOf(
          s.key,
          s.start,
          s.end,
          s.values.length,
          s.values.reduce((a, b) => a + b, 0),
          Math.max(...s.values),
          s.end - 1,
        ),
      )
  }
  return results.sort()
}

interface Row {
  k: string
  start: number
  end: number
  n: number | bigint
  ids: number | bigint
  top: number | bigint
}

/** The runner's row of `out` (times as ISO strings in JSON) as a result. */
const outRow = (value: Readonly<Record<string, unknown>>, timestamp: number) => {
  const row = value as unknown as Omit<Row, 'start' | 'end'> & { start: string; end: string }
  return resultOf(
    row.k,
    Date.parse(row.start),
    Date.parse(row.end),
    Number(row.n),
    Number(row.ids),
    Number(row.top),
    timestamp,
  )
}

describe('session windows over a union of several sources in the runner, with crashes under exactly-once (property)', () => {
  it('commit every session the final union watermark closed, each once, nothing late', async () => {
    const artifact = await artifactOf(SESSION)
    let sessionsSeen = 0
    let merged = 0
    await crashProperty({
      artifact,
      events: eventsArb,
      expected: (events) => {
        const want = expectedSessions(events)
        const interpreted: string[] = []
        interpret(SESSION, artifact, events, ({ sinkId, value, timestamp }) => {
          const row = value as unknown as Row
          if (sinkId === 'sink#1')
            interpreted.push(
              resultOf(row.k, row.start, row.end, Number(row.n), Number(row.ids), Number(row.top), timestamp),
            )
        })
        expect(interpreted.sort()).toEqual(want)
        sessionsSeen += want.length
        merged += want.filter((row) => Number(row.split('|')[3]) > 1).length
        return want
      },
      outRow,
      empty: ['late'],
      runs: 8,
    })
    expect(sessionsSeen, 'sessions').toBeGreaterThan(0)
    expect(merged, 'sessions of several events').toBeGreaterThan(0)
  }, 600_000)
})

describe('processing-time windows over a union of several sources in the runner, with crashes under exactly-once (property)', () => {
  it("commit each key's running count over both topics once per event, none lost or repeated", async () => {
    const artifact = await artifactOf(PROCESSING)
    // The node's clock, fixed half an hour into the window [start, start + 1h).
    const now = start + HOUR / 2
    await crashProperty({
      artifact,
      events: eventsArb,
      expected: (events) => {
        const want: string[] = []
        for (const k of new Set(events.map((e) => e.k))) {
          const n = events.filter((e) => e.k === k).length
          for (let i = 1; i <= n; i++) want.push(`${k}|${start}|${start + HOUR}|${i}|${start + HOUR - 1}`)
        }
        return want.sort()
      },
      // The sum and largest id of an update depend on the order the node read the topics in.
      outRow: (value, timestamp) => {
        const row = value as { k: string; start: string; end: string; n: number }
        return `${row.k}|${Date.parse(row.start)}|${Date.parse(row.end)}|${row.n}|${timestamp}`
      },
      runs: 8,
      runner: { clock: () => now },
    })
  }, 600_000)
})
