/**
 * Windows over a union of several sources (union-window.ts, issue 13, docs/decisions/0036) as
 * properties against the brute-force window reference (test/support/window-reference.ts), whose
 * watermark is given per arrival: the union's, the smallest over the sources of their largest
 * event time so far less their delay.
 *
 * 1. The runner: `union north, south` of two co-partitioned topics (two partitions), a window
 *    over it; random events, random batch sizes and random crashes under exactly-once
 *    (test/support/crash-injection.ts). Each topic's events are out of order by at most its
 *    source's delay, so none is late at the union whatever order the log interleaves the topics
 *    in (the union's watermark is at most each source's own), and what the window emits by the end
 *    is every window the final union watermark closed, with every event in it. The committed
 *    results must equal the reference's, with no dead letters; the reference interpreter too.
 * 2. The reference interpreter with late events: random interleavings of out-of-order events,
 *    late ones included, give the reference's emissions, in order, and its late events, for time
 *    windows and count windows (countWindowEmissions) alike.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter } from '../../compiler/ir/interpret.ts'
import { stdlib } from '../../stdlib/index.ts'
import { asNumber, type IdEvent, replayableRuns, topicProperty } from '../../test/support/topic-property.ts'
import { unionWindowPipe } from '../../test/support/union-window-pipe.ts'
import {
  countWindowEmissions,
  finalWindowResults,
  type WindowRefEvent,
  windowEmissions,
} from '../../test/support/window-reference.ts'

/** The sources' watermark delays: how far out of order each topic's events may be. */
const DELAY = { north: 1000, south: 3000 }
const TOPICS = ['north', 'south'] as const
type Topic = (typeof TOPICS)[number]

interface Variant {
  readonly name: string
  readonly window: string
  readonly sizeMs: number
  readonly slideMs: number
}

const VARIANTS: readonly Variant[] = [
  { name: 'a tumbling window', window: 'tumbling 3s', sizeMs: 3000, slideMs: 3000 },
  { name: 'a hopping window', window: 'hopping 4s every 2s', sizeMs: 4000, slideMs: 2000 },
]

const pipeOf = (variant: Variant) =>
  unionWindowPipe(variant.window, 'start: window_start(), n: count(), ids: sum(id), top: max(id)', true)

const { artifactOf, crashProperty, interpret, laneEvents, partitionOf, partitions } = topicProperty(
  'union-window',
  pipeOf,
  TOPICS,
)

type Ev = IdEvent<Topic>

/**
 * Random events of the two topics. Per topic and partition a clock moves forward and each event is
 * behind it by up to `lateness` times the topic's delay: up to 1, never late at its own source.
 */
const eventsArb = (lateness: number) =>
  fc
    .array(
      fc.record({
        topic: fc.constantFrom(...TOPICS),
        k: fc.constantFrom('a', 'b', 'c'),
        step: fc.integer({ min: 0, max: 1500 }),
        behind: fc.double({ min: 0, max: lateness, noNaN: true, maxExcluded: lateness <= 1 }),
      }),
      { minLength: 20, maxLength: 80 },
    )
    .map((raw): Ev[] => laneEvents(raw, DELAY))

/** A result of the window: key, window start, count, sum and largest of the ids, its time. */
const resultOf = (
  k: string,
  start: number,
  n: number,
  ids: number | null,
  top: number | null,
  time: number,
) => `${k}|${start}|${n}|${ids ?? '-'}|${top ?? '-'}|${time}`

/**
 * The union's watermark after each of `arrivals` (in order): per source the largest time so far
 * less its delay, the smallest over both sources (−∞ while one has sent nothing).
 */
function unionWatermarks(arrivals: readonly Ev[]): number[] {
  const max: Record<Topic, number> = { north: Number.NEGATIVE_INFINITY, south: Number.NEGATIVE_INFINITY }
  return arrivals.map((e) => {
    max[e.topic] = Math.max(max[e.topic], e.ts)
    return Math.min(max.north - DELAY.north, max.south - DELAY.south)
  })
}

const refEvent = (e: Ev, watermark: number): WindowRefEvent => ({
  time: e.ts,
  key: e.k,
  args: [null, null, e.id, e.id],
  dropped: false,
  watermark,
})

const shapeOf = (variant: Variant) => ({
  sizeMs: variant.sizeMs,
  slideMs: variant.slideMs,
  latenessMs: 0,
  delayMs: 0,
})
const FNS = ['window_start', 'count', 'sum', 'max'] as const

/** What the runner must commit by the end: per partition, the windows the final union watermark closed. */
function expectedFinal(variant: Variant, events: readonly Ev[]): string[] {
  const results: string[] = []
  for (let p = 0; p < partitions; p++) {
    const own = events.filter((e) => partitionOf(e.k) === p)
    // Any interleaving: no event is late at its own source, so none is at the union.
    const finalW = unionWatermarks(own).at(-1) ?? Number.NEGATIVE_INFINITY
    const arrivals = own.map((e) => refEvent(e, Number.NEGATIVE_INFINITY))
    arrivals.push({ time: finalW, key: '', args: [], dropped: true, watermark: finalW })
    const windows = finalWindowResults(arrivals, shapeOf(variant), [...FNS])
    expect(windows.late, 'no event is late').toEqual([])
    for (const r of windows.results) {
      const [start, n, ids, top] = r.values as [number, number, number | null, number | null]
      results.push(resultOf(r.key, start, n, ids, top, r.end - 1))
    }
  }
  return results.sort()
}

interface Row {
  k: string
  start: number
  n: number | bigint
  ids: number | bigint | null
  top: number | bigint | null
}

describe('windows over a union of several sources in the runner, with crashes under exactly-once (property)', () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: the windows the final union watermark closed, nothing late, lost or twice`, async () => {
      const artifact = await artifactOf(variant)
      let resultsSeen = 0
      await crashProperty({
        artifact,
        events: eventsArb(1),
        expected: (events) => {
          const want = expectedFinal(variant, events)
          const interpreted: string[] = []
          interpret(variant, artifact, events, ({ sinkId, value, timestamp }) => {
            const row = value as unknown as Row
            if (sinkId === 'sink#1')
              interpreted.push(
                resultOf(row.k, row.start, Number(row.n), asNumber(row.ids), asNumber(row.top), timestamp),
              )
          })
          expect(interpreted.sort()).toEqual(want)
          resultsSeen += want.length
          return want
        },
        outRow: (value, timestamp) => {
          const row = value as unknown as Omit<Row, 'start'> & { start: string; n: number }
          return resultOf(
            row.k,
            Date.parse(row.start),
            row.n,
            asNumber(row.ids),
            asNumber(row.top),
            timestamp,
          )
        },
        empty: ['late'],
        runs: 8,
      })
      expect(resultsSeen, 'window results').toBeGreaterThan(0)
    }, 600_000)
  }
})

/** Events (up to twice a topic's delay behind its clock) in a random interleaving of the topics. */
const interleavedArb = eventsArb(2).chain((events) =>
  fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }).map((order) => {
    // Keeps each topic's own order (one partition here), as the node reads a partition.
    const queues = {
      north: events.filter((e) => e.topic === 'north'),
      south: events.filter((e) => e.topic === 'south'),
    }
    return order.map((e) => queues[e.topic].shift()!)
  }),
)

/** The interpreter's window results and late event ids for `arrivals`, pushed in order. */
function interpretArrivals(text: string, arrivals: readonly Ev[]): { emitted: string[]; late: number[] } {
  const { pipeline } = checkSource('union-window.pipe', text)
  if (!pipeline) throw new Error('the pipeline does not check')
  const emitted: string[] = []
  const late: number[] = []
  const interpreter = createInterpreter(pipeline, {
    functions: stdlib,
    onSink: ({ sinkId, value, timestamp }) => {
      const row = value as unknown as Row & { id: number | bigint }
      if (sinkId === 'sink#1')
        emitted.push(
          resultOf(row.k, row.start, Number(row.n), asNumber(row.ids), asNumber(row.top), timestamp),
        )
      else late.push(Number(row.id))
    },
  })
  for (const e of arrivals)
    interpreter.push(e.topic, { value: { id: e.id, k: e.k, ts: e.ts }, key: e.k, timestamp: e.ts })
  return { emitted, late }
}

describe('count windows over a union of several sources in the reference interpreter (property)', () => {
  it("fire when the union's watermark passes their last event; events behind it are late", () => {
    const text = pipeOf({ name: 'count', window: 'count 3 every 2', sizeMs: 0, slideMs: 0 })
    let lateSeen = 0
    fc.assert(
      fc.property(interleavedArb, (arrivals) => {
        const { emitted, late } = interpretArrivals(text, arrivals)
        const watermarks = unionWatermarks(arrivals)
        const reference = countWindowEmissions(
          arrivals.map((e, i) => refEvent(e, watermarks[i]!)),
          { size: 3, slide: 2, delayMs: 0 },
          [...FNS],
        )
        expect(emitted).toEqual(
          reference.emissions.map((r) => {
            const [start, n, ids, top] = r.values as [number, number, number | null, number | null]
            return resultOf(r.key, start, n, ids, top, r.end - 1)
          }),
        )
        expect(late).toEqual(reference.late.map((i) => arrivals[i]!.id))
        lateSeen += late.length
      }),
      replayableRuns(200),
    )
    expect(lateSeen, 'late events').toBeGreaterThan(0)
  })
})

describe('windows over a union of several sources in the reference interpreter, late events included (property)', () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: the reference's emissions in order, and its late events`, () => {
      const text = pipeOf(variant)
      let lateSeen = 0
      fc.assert(
        fc.property(interleavedArb, (arrivals) => {
          const { emitted, late } = interpretArrivals(text, arrivals)
          const watermarks = unionWatermarks(arrivals)
          const refEvents = arrivals.map((e, i) => refEvent(e, watermarks[i]!))
          expect(emitted).toEqual(
            windowEmissions(refEvents, shapeOf(variant), [...FNS]).map((r) => {
              const [start, n, ids, top] = r.values as [number, number, number | null, number | null]
              return resultOf(r.key, start, n, ids, top, r.end - 1)
            }),
          )
          const reference = finalWindowResults(refEvents, shapeOf(variant), [...FNS])
          expect(late).toEqual(reference.late.map((i) => arrivals[i]!.id))
          lateSeen += late.length
        }),
        replayableRuns(200),
      )
      expect(lateSeen, 'late events').toBeGreaterThan(0)
    })
  }
})
