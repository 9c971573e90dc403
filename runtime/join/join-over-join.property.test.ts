/**
 * Joins over another join's results (join-over-join.ts, issue 13), run by the pipeline runner as a
 * property: `j1` joins topics `as` and `bs`, `j2` joins `j1`'s results with topic `cs`; three
 * co-partitioned topics of two partitions, random batch sizes and random crashes under
 * exactly-once (test/support/crash-injection.ts). The committed rows must equal the brute-force
 * join reference (test/support/join-reference.ts) applied twice, as multisets, with no dead
 * letters; and the reference interpreter must give the same rows.
 *
 * Each topic's events are in event-time order within a partition, so no source event is late
 * whatever order the log interleaves the topics in (as in join-runner.property.test.ts). What is
 * checked is that no row of `j1` is late at `j2` either, outer rows included, though they are
 * timed up to the bound's width plus the lateness behind `j1`'s watermark: `j2` follows `j1`'s
 * output watermark, held back by that much, as of the record before. The reference therefore gives
 * `j2` every row of `j1` (never late) and, at the end, `j1`'s final watermark less the hold as that
 * side's watermark: which rows and outer rows `j2` emits by the end does not depend on the
 * interleaving.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type JoinRefRecord,
  type JoinRefShape,
  type JoinRefSide,
  joinReference,
  joinWatermarks,
} from '../../test/support/join-reference.ts'
import { asNumber, type IdEvent, topicProperty } from '../../test/support/topic-property.ts'
import type { LoadedArtifact } from '../artifact/load.ts'
import { outputHoldMs } from './join-over-join.ts'

/** The sources' watermark delays (`as`, `bs`, `cs`). */
const DELAY = { as: 1000, bs: 2000, cs: 0 }
const TOPICS = ['as', 'bs', 'cs'] as const
type Topic = (typeof TOPICS)[number]

interface Variant {
  readonly name: string
  /** `j1`, over `as` (alias `a`, always present in its rows) and `bs` (alias `b`). */
  readonly first: string
  readonly firstShape: Omit<JoinRefShape, 'delayMs'>
  /** `j2`, over `j1` (alias `x`) and `cs` (alias `c`). */
  readonly second: string
  readonly secondShape: Omit<JoinRefShape, 'delayMs'>
  /** The side `j1` is on in `j2`. */
  readonly j1Side: JoinRefSide
}

const VARIANTS: readonly Variant[] = [
  {
    name: 'a left interval join over a left interval join (outer rows held back by the bound)',
    first: 'left join as as a, bs as b on a.k == b.k within b between 1s before and 2s after a',
    firstShape: {
      joinType: 'left',
      bound: { kind: 'interval', lowerMs: -1000, upperMs: 2000 },
      latenessMs: 0,
    },
    second: 'left join j1 as x, cs as c on x.a.k == c.k within c between 0ms after and 3s after x',
    secondShape: { joinType: 'left', bound: { kind: 'interval', lowerMs: 0, upperMs: 3000 }, latenessMs: 0 },
    j1Side: 'left',
  },
  {
    name: 'a full interval join, on the right, over a left interval join with lateness',
    first:
      'left join as as a, bs as b on a.k == b.k within a between 1s before and 0ms after b lateness 500ms',
    firstShape: {
      joinType: 'left',
      bound: { kind: 'interval', lowerMs: 0, upperMs: 1000 },
      latenessMs: 500,
    },
    second: 'full join cs as c, j1 as x on c.k == x.a.k within x between 1s before and 1s after c',
    secondShape: {
      joinType: 'full',
      bound: { kind: 'interval', lowerMs: -1000, upperMs: 1000 },
      latenessMs: 0,
    },
    j1Side: 'right',
  },
  {
    name: 'an interval join over a window join',
    first: 'join as as a, bs as b on a.k == b.k window tumbling 4s',
    firstShape: {
      joinType: 'inner',
      bound: { kind: 'tumbling', sizeMs: 4000, slideMs: 4000 },
      latenessMs: 0,
    },
    second: 'left join j1 as x, cs as c on x.a.k == c.k within c between 1s before and 1s after x',
    secondShape: {
      joinType: 'left',
      bound: { kind: 'interval', lowerMs: -1000, upperMs: 1000 },
      latenessMs: 0,
    },
    j1Side: 'left',
  },
]

const pipeOf = (variant: Variant) => `
schema E { id: i64, k: string, ts: timestamp @event_time }
source as: E from kafka("as") watermark ts - 1s
source bs: E from kafka("bs") watermark ts - 2s
source cs: E from kafka("cs")
stream j1 = ${variant.first}
stream j2 = ${variant.second}
  | select { a: x.a.id, b: x.b.id, c: c.id }
sink j2 -> kafka("out")
`

const { artifactOf, crashProperty, interpret, partitionOf, partitions, start } = topicProperty(
  'join-over-join',
  pipeOf,
  TOPICS,
)

type Ev = IdEvent<Topic>

/** Random events of the three topics; within a topic and partition, event time never decreases. */
const eventsArb = fc
  .array(
    fc.record({
      topic: fc.constantFrom(...TOPICS),
      k: fc.constantFrom('a', 'b', 'c'),
      step: fc.integer({ min: 0, max: 1500 }),
    }),
    { minLength: 30, maxLength: 90 },
  )
  .map((raw) => {
    const clock = new Map<string, number>()
    return raw.map(({ topic, k, step }, id): Ev => {
      const lane = `${topic}/${partitionOf(k)}`
      const ts = (clock.get(lane) ?? start) + step
      clock.set(lane, ts)
      return { topic, id, k, ts }
    })
  })

/**
 * One fixed example, run before the random ones, that gives every variant rows of three events and
 * outer rows (key a, one partition; the last three events move every watermark past the rest):
 * the coverage checks after the property no longer hang on the draws (10 random examples gave the
 * window-join variant no outer row for about 1 seed in 500, seed 294 for one).
 */
const COVERING_EVENTS: readonly Ev[] = (
  [
    ['as', 1000],
    ['bs', 1500],
    ['cs', 1600],
    ['as', 5000],
    ['bs', 5500],
    ['cs', 5600],
    ['cs', 7500],
    ['as', 9000],
    ['bs', 9500],
    ['cs', 9800],
    ['as', 13000],
    ['bs', 13200],
    ['cs', 13300],
    ['as', 20000],
    ['as', 40000],
    ['bs', 40000],
    ['cs', 40000],
  ] as const
).map(([topic, ts], id) => ({ topic, id, k: 'a', ts: start + ts }))

/** A row of `j2` by the ids of its events (`-` for a missing one) and its time. */
const rowOf = (a: number | null, b: number | null, c: number | null, time: number) =>
  `${a ?? '-'}|${b ?? '-'}|${c ?? '-'}|${time}`

function expected(variant: Variant, events: readonly Ev[]): string[] {
  const rows: string[] = []
  const firstShape: JoinRefShape = { ...variant.firstShape, delayMs: { left: DELAY.as, right: DELAY.bs } }
  const hold = outputHoldMs({ bound: firstShape.bound, latenessMs: firstShape.latenessMs })
  const cSide: JoinRefSide = variant.j1Side === 'left' ? 'right' : 'left'
  const secondShape: JoinRefShape = {
    ...variant.secondShape,
    // The `j1` side's watermark is given explicitly; `cs` has no delay.
    delayMs: { left: DELAY.cs, right: DELAY.cs },
  }
  for (let p = 0; p < partitions; p++) {
    const of = (topic: Topic) => events.filter((e) => e.topic === topic && partitionOf(e.k) === p)
    // j1: any interleaving gives the same outcome (no event is late); `as` first is one.
    const firstRecords: JoinRefRecord[] = [
      ...of('as').map((e) => ({ side: 'left' as const, id: e.id, time: e.ts, key: e.k, dropped: false })),
      ...of('bs').map((e) => ({ side: 'right' as const, id: e.id, time: e.ts, key: e.k, dropped: false })),
    ]
    const first = joinReference(firstRecords, firstShape)
    expect(first.late, 'no source event is late').toEqual([])
    const finalFirst = joinWatermarks(firstRecords, firstShape).at(-1) ?? Number.NEGATIVE_INFINITY
    // j2: every row of j1 (its key is the `as` event's), never late; then j1's final output
    // watermark; then `cs` in order.
    const rowsOfFirst = first.rows
    const secondRecords: JoinRefRecord[] = [
      ...rowsOfFirst.map((row, i) => ({
        side: variant.j1Side,
        id: i,
        time: row.time,
        key: row.key,
        dropped: false,
        watermark: Number.NEGATIVE_INFINITY,
      })),
      {
        side: variant.j1Side,
        id: -1,
        time: Number.NEGATIVE_INFINITY,
        key: null,
        dropped: true,
        watermark: finalFirst - hold,
      },
      ...of('cs').map((e) => ({ side: cSide, id: 1_000_000 + e.id, time: e.ts, key: e.k, dropped: false })),
    ]
    const second = joinReference(secondRecords, secondShape)
    expect(second.late, 'no row of j1 and no event of cs is late').toEqual([])
    for (const row of second.rows) {
      const [x, c] = variant.j1Side === 'left' ? [row.left, row.right] : [row.right, row.left]
      const firstRow = x === null ? null : rowsOfFirst[x]!
      rows.push(
        rowOf(firstRow?.left ?? null, firstRow?.right ?? null, c === null ? null : c - 1_000_000, row.time),
      )
    }
  }
  return rows.sort()
}

/** The reference interpreter's rows, sorted. */
function interpreted(variant: Variant, artifact: LoadedArtifact, events: readonly Ev[]): string[] {
  const rows: string[] = []
  interpret(variant, artifact, events, ({ value, timestamp }) => {
    const row = value as {
      a: number | bigint | null
      b: number | bigint | null
      c: number | bigint | null
    }
    rows.push(rowOf(asNumber(row.a), asNumber(row.b), asNumber(row.c), timestamp))
  })
  return rows.sort()
}

describe("joins over another join's results in the runner, with crashes under exactly-once (property)", () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: rows equal the reference applied twice, nothing late, lost or twice`, async () => {
      const artifact = await artifactOf(variant)
      let outerSeen = 0
      let fullSeen = 0
      const { seed } = await crashProperty({
        artifact,
        events: eventsArb,
        expected: (events) => {
          const want = expected(variant, events)
          expect(interpreted(variant, artifact, events)).toEqual(want)
          outerSeen += want.filter((row) => row.includes('-')).length
          fullSeen += want.filter((row) => !row.includes('-')).length
          return want
        },
        outRow: (value, timestamp) => {
          const row = value as { a: number | null; b: number | null; c: number | null }
          return rowOf(row.a, row.b, row.c, timestamp)
        },
        runs: 10,
        examples: [[[...COVERING_EVENTS], [0.5], 3]],
      })
      // Recovery is covered (crashProperty checks a crash in every run), and so are rows of three
      // events and outer rows.
      expect(fullSeen, `rows of three events, seed ${seed}`).toBeGreaterThan(0)
      expect(outerSeen, `outer rows, seed ${seed}`).toBeGreaterThan(0)
    }, 600_000)
  }
})
