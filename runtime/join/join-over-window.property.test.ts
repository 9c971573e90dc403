/**
 * Joins over a window's results (join-over-window.ts, issue 13), run by the pipeline runner as a
 * property: a window over one source joined back to that source's events (Nexmark q7's shape), one
 * topic of two partitions, events out of event-time order (some late), random batch sizes and
 * random crashes under exactly-once (test/support/crash-injection.ts). The committed rows and the
 * dead-lettered late events must equal the brute-force references composed, as multisets: the
 * window's final results (test/support/window-reference.ts, lateness 0: each window fires once)
 * become, at the source arrival whose watermark reached their end, events timed end - 1 on their
 * side that meet the watermark of the arrival before, then that side moves to the arrival's own
 * watermark; the join reference (test/support/join-reference.ts) enumerates the rows of that
 * interleaving. The reference interpreter (compiler/ir/interpret.ts) must give the same. The raw side's events come before the results of the same record when the raw side
 * is the left one, after them when it is the right one (the runner's order by input slot).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter } from '../../compiler/ir/interpret.ts'
import { stdlib } from '../../stdlib/index.ts'
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
  type JoinRefSide,
  joinReference,
  rowText,
} from '../../test/support/join-reference.ts'
import { type KeyedEvent, keyedEventRecord, keyedEventsArb, lateIds } from '../../test/support/late-events.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import {
  finalWindowResults,
  type WindowRefEvent,
  type WindowRefShape,
  watermarks,
} from '../../test/support/window-reference.ts'
import type { LoadedArtifact } from '../artifact/load.ts'
import { partitionForKey } from '../log/partitioner.ts'

const PARTITIONS = 2
const T0 = Date.UTC(2026, 0, 1)
const DELAY_MS = 1000
const DELAY = { left: DELAY_MS, right: DELAY_MS }
/** Result ids start here (raw events keep their own ids, below it). */
const RESULT_IDS = 1_000_000

interface Variant {
  readonly name: string
  /** The window of `top`, over every event. */
  readonly window: string
  readonly windowShape: Pick<WindowRefShape, 'sizeMs' | 'slideMs'>
  /** The join of `top` (alias `t`) with `events`, `small` or `big` (alias `b`). */
  readonly clause: string
  readonly shape: JoinRefShape
  /** The side `top` is on. */
  readonly resultSide: JoinRefSide
  /** Whether an event reaches the join on the raw side (its stream's `where`). */
  readonly raw: (amount: number) => boolean
}

const ALL = () => true
const VARIANTS: readonly Variant[] = [
  {
    name: "inner interval join of the events with their window's count (q7's shape)",
    window: 'tumbling 5s',
    windowShape: { sizeMs: 5000, slideMs: 5000 },
    clause: 'join events as b, top as t on b.k == t.k within b between 4999ms before and 0ms after t',
    shape: {
      joinType: 'inner',
      bound: { kind: 'interval', lowerMs: 0, upperMs: 4999 },
      latenessMs: 0,
      delayMs: DELAY,
    },
    resultSide: 'right',
    raw: ALL,
  },
  {
    name: 'full outer interval join, the window results on the left, a `where` on the right',
    window: 'tumbling 5s',
    windowShape: { sizeMs: 5000, slideMs: 5000 },
    clause: 'full join top as t, small as b on t.k == b.k within b between 2s before and 3s after t',
    shape: {
      joinType: 'full',
      bound: { kind: 'interval', lowerMs: -2000, upperMs: 3000 },
      latenessMs: 0,
      delayMs: DELAY,
    },
    resultSide: 'left',
    raw: (amount) => amount <= 6,
  },
  {
    name: 'left interval join over hopping window results, with lateness',
    window: 'hopping 4s every 2s',
    windowShape: { sizeMs: 4000, slideMs: 2000 },
    clause:
      'left join big as b, top as t on b.k == t.k within t between 1s before and 4s after b lateness 1s',
    shape: {
      joinType: 'left',
      bound: { kind: 'interval', lowerMs: -1000, upperMs: 4000 },
      latenessMs: 1000,
      delayMs: DELAY,
    },
    resultSide: 'right',
    raw: (amount) => amount >= 4 && amount <= 8,
  },
  {
    name: 'tumbling window join of window results with the events',
    window: 'tumbling 3s',
    windowShape: { sizeMs: 3000, slideMs: 3000 },
    // Every other result window ends with a join window: without the watermark of the arrival
    // before, its results would find their join window gone.
    clause: 'join top as t, events as b on t.k == b.k window tumbling 6s',
    shape: {
      joinType: 'inner',
      bound: { kind: 'tumbling', sizeMs: 6000, slideMs: 6000 },
      latenessMs: 0,
      delayMs: DELAY,
    },
    resultSide: 'left',
    raw: ALL,
  },
]

const pipeOf = (variant: Variant) => `
schema E { id: i64, k: string, amount: i64, ts: timestamp @event_time }
source events: E from kafka("events") watermark ts - 1s
stream small = events | where amount <= 6
stream big = events | where amount >= 4 and amount <= 8
stream top = events | aggregate by k window ${variant.window} { start: window_start(), n: count() }
stream joined = ${variant.clause}
  | select { b: b.id, k: b.k ?? t.k, ws: t.start }
sink joined -> kafka("out")
`

const artifactOf = artifactPerVariant('join-over-window', pipeOf)

const { runCrashing } = crashRunFixture('sluice-join-over-window')

type Ev = KeyedEvent

/** Random events, mostly forward in event time with some going back, so some are late. */
const eventsArb = keyedEventsArb(T0)

/**
 * One fixed example, run before the random ones, that gives every variant rows pairing raw events
 * with window results and a late event (id 4, behind the window and the join): the coverage checks
 * after the property no longer hang on the draws (10 random examples gave no such row for about
 * 1 seed in 75; seed 14 did so for the tumbling variant).
 */
const at = (id: number, ts: number): Ev => ({ id, k: 'a', amount: 5, ts: T0 + ts })
const COVERING_EVENTS: readonly Ev[] = [
  at(0, 10_000),
  at(1, 11_000),
  at(2, 12_500),
  at(3, 13_500),
  at(4, 9_000),
  at(5, 16_000),
  at(6, 19_000),
]

/** The id of a window result, the same in the reference and in the runner's rows. */
const resultIds = new Map<string, number>()
const resultId = (key: string, start: number) => {
  const name = `${key}|${start}`
  let id = resultIds.get(name)
  if (id === undefined) {
    id = RESULT_IDS + resultIds.size
    resultIds.set(name, id)
  }
  return id
}

function expected(variant: Variant, events: readonly Ev[]): { rows: string[]; late: number[] } {
  const rows: string[] = []
  const late: number[] = []
  const rawSide: JoinRefSide = variant.resultSide === 'left' ? 'right' : 'left'
  for (let p = 0; p < PARTITIONS; p++) {
    const evs = events.filter((e) => partitionForKey(e.k, PARTITIONS) === p)
    const windowEvents: WindowRefEvent[] = evs.map((e) => ({
      time: e.ts,
      key: e.k,
      args: [],
      dropped: false,
    }))
    const windowShape: WindowRefShape = { ...variant.windowShape, latenessMs: 0, delayMs: DELAY_MS }
    const window = finalWindowResults(windowEvents, windowShape, ['count'])
    late.push(...window.late.map((i) => evs[i]!.id))
    const w = watermarks(windowEvents, DELAY_MS)
    const records: JoinRefRecord[] = []
    evs.forEach((e, i) => {
      const before = i === 0 ? Number.NEGATIVE_INFINITY : w[i - 1]!
      const raw: JoinRefRecord = {
        side: rawSide,
        id: e.id,
        time: e.ts,
        key: e.k,
        dropped: !variant.raw(e.amount),
      }
      // The results this arrival fired: their end passed by its watermark, not by the one before.
      const fired = window.results
        .filter((r) => before < r.end && r.end <= w[i]!)
        .map(
          (r): JoinRefRecord => ({
            side: variant.resultSide,
            id: resultId(r.key, r.start),
            time: r.end - 1,
            key: r.key,
            dropped: false,
            watermark: before,
          }),
        )
      const moved: JoinRefRecord = {
        side: variant.resultSide,
        id: -1,
        time: Number.NEGATIVE_INFINITY,
        key: null,
        dropped: true,
        watermark: w[i]!,
      }
      records.push(...(rawSide === 'left' ? [raw, ...fired] : [...fired, raw]), moved)
    })
    const outcome = joinReference(records, variant.shape)
    // A result is never late (the point of meeting the watermark of the arrival before).
    expect(outcome.late.filter((id) => id >= RESULT_IDS)).toEqual([])
    rows.push(
      ...outcome.rows.map((row) => {
        const [rawId, resId] = rawSide === 'left' ? [row.left, row.right] : [row.right, row.left]
        return rowText({ left: rawId, right: resId, key: row.key, time: row.time })
      }),
    )
    late.push(...outcome.late)
  }
  return { rows: rows.sort(), late: late.sort((a, b) => a - b) }
}

/** The reference interpreter, one instance per source partition fed its events in arrival order. */
function interpret(
  variant: Variant,
  artifact: LoadedArtifact,
  events: readonly Ev[],
): { rows: string[]; late: number[] } {
  const { pipeline } = checkSource('join-over-window.pipe', pipeOf(variant))
  if (!pipeline) throw new Error('the pipeline does not check')
  const decoder = artifact.operators.sources.events!
  const rows: string[] = []
  const late: number[] = []
  for (let p = 0; p < PARTITIONS; p++) {
    const interpreter = createInterpreter(pipeline, {
      functions: stdlib,
      onSink: ({ value, timestamp }) => {
        const row = value as { b: number | bigint | null; k: string; ws: number | null }
        const res = row.ws === null ? null : resultId(row.k, row.ws)
        rows.push(
          rowText({ left: row.b === null ? null : Number(row.b), right: res, key: row.k, time: timestamp }),
        )
      },
      onError: (failure) => {
        expect(failure.error.message).toMatch(/^late event/)
        late.push(Number((failure.event.value as { id: number | bigint }).id))
      },
    })
    for (const e of events.filter((e) => partitionForKey(e.k, PARTITIONS) === p)) {
      const json = JSON.stringify({ id: e.id, k: e.k, amount: e.amount, ts: new Date(e.ts).toISOString() })
      const value = decoder.decode(JSON.parse(json)) as never
      interpreter.push('events', { value, key: e.k, timestamp: e.ts })
    }
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
        const row = JSON.parse(r.value.toString()) as { b: number | null; k: string; ws: string | null }
        const res = row.ws === null ? null : resultId(row.k, Date.parse(row.ws))
        return rowText({ left: row.b, right: res, key: row.k, time: r.timestamp })
      })
      return { rows: rows.sort(), late: await lateIds(log) }
    },
  })
  return { ...result, crashed, operations }
}

describe("joins over a window's results in the runner, with crashes under exactly-once (property)", () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: rows and late events equal the composed references, nothing lost or twice`, async () => {
      const artifact = await artifactOf(variant)
      let crashes = 0
      let runs = 0
      let lateSeen = 0
      let rowsSeen = 0
      const params = replayableRuns(10)
      await fc.assert(
        fc.asyncProperty(
          eventsArb,
          crashFractionsArb(),
          maxBatchRecordsArb,
          async (events, fractions, maxBatchRecords) => {
            const want = expected(variant, events)
            const interpreted = interpret(variant, artifact, events)
            expect(interpreted.rows).toEqual(want.rows)
            expect(interpreted.late).toEqual(want.late)
            const clean = await run(artifact, events, [], maxBatchRecords)
            expect(clean.rows).toEqual(want.rows)
            expect(clean.late).toEqual(want.late)
            const points = crashPointsWithin(fractions, clean.operations)
            const result = await run(artifact, events, points, maxBatchRecords)
            crashes += result.crashed
            runs++
            lateSeen += want.late.length
            rowsSeen += want.rows.filter((row) => !row.includes('|-|') && !row.startsWith('-|')).length
            expect(result.rows).toEqual(want.rows)
            expect(result.late).toEqual(want.late)
          },
        ),
        { ...params, examples: [[[...COVERING_EVENTS], [0.5], 3]] },
      )
      // Recovery is covered (a crash in every run), and so are lateness and pairs with results.
      expect(crashes, `seed ${params.seed}`).toBeGreaterThanOrEqual(runs)
      expect(lateSeen, `seed ${params.seed}`).toBeGreaterThan(0)
      expect(rowsSeen, `seed ${params.seed}`).toBeGreaterThan(0)
    }, 600_000)
  }
})
