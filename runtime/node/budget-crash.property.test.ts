/**
 * The state budget on a window, with crashes (test/support/crash-injection.ts), as a property: for
 * random streams, budgets and crash points, a runner under exactly-once on the embedded log
 * commits the same results and the same refused events (dead letters with the reason) with and
 * without crashes, so a restart from a checkpoint refuses exactly what an uninterrupted run
 * refuses; and each partition's results are the brute-force reference's final results
 * (test/support/window-reference.ts) over the events the budget admitted.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import {
  crashFractionsArb,
  crashPointsWithin,
  crashRunFixture,
  jsonRecord,
  replayableRuns,
} from '../../test/support/crash-run.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import { finalWindowResults, type WindowRefEvent } from '../../test/support/window-reference.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'
import { partitionForKey } from '../log/partitioner.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC } from './pipeline-runner.ts'

const PARTITIONS = 2
const SIZE_MS = 1000
const T = Date.UTC(2026, 0, 1)

const PIPE = `
schema Ev { id: i64, k: string, x: i64, ts: timestamp @event_time }
source evs: Ev from kafka("in")
stream w = evs | aggregate by k window tumbling 1s { start: window_start(), n: count(), s: sum(x) }
sink w -> kafka("out")
`

interface Ev {
  readonly id: number
  readonly k: string
  readonly x: number
  readonly ts: number
}

interface Result {
  readonly k: string
  readonly start: string
  readonly n: number
  readonly s: number
}

let artifact: LoadedArtifact
beforeAll(async () => {
  artifact = await loadArtifact(await compileFixture(PIPE, 'budget-crash-property'))
})
const { runCrashing } = crashRunFixture('sluice-budget-crash')

const eventsArb = fc
  .array(
    fc.record({
      k: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      x: fc.integer({ min: 1, max: 100 }),
      step: fc.integer({ min: -300, max: 500 }),
    }),
    { minLength: 5, maxLength: 50 },
  )
  .map((raw) => {
    let ts = T
    return raw.map(({ step, ...rest }, id) => {
      ts += step
      return { ...rest, id, ts } satisfies Ev
    })
  })

async function run(
  events: readonly Ev[],
  maxKeys: number,
  crashes: number[],
): Promise<{ results: Result[]; refused: number[]; late: number[]; crashed: number; operations: number }> {
  const { result, crashed, operations } = await runCrashing({
    artifact,
    partitions: PARTITIONS,
    inputs: { in: events.map((e) => jsonRecord(e.k, { ...e, ts: new Date(e.ts).toISOString() })) },
    crashes,
    maxBatchRecords: 5,
    runner: { stateBudget: { maxKeys } },
    read: async (log) => {
      const results = (await readTopic(log, 'out')).map((r) => JSON.parse(r.value.toString()) as Result)
      await log.ensureTopic(DEFAULT_DEAD_LETTER_TOPIC)
      const dead = await readTopic(log, DEFAULT_DEAD_LETTER_TOPIC)
      const refused: number[] = []
      const late: number[] = []
      for (const letter of dead) {
        const id = (JSON.parse(letter.value.toString()) as Ev).id
        if (letter.headers[DEAD_LETTER_HEADERS.stage] === 'late') {
          late.push(id)
          continue
        }
        expect(letter.headers[DEAD_LETTER_HEADERS.reason]).toMatch(
          /^the state of step w\.window\.0\.\S+ is full: its budget refuses new keys$/,
        )
        refused.push(id)
      }
      return { results, refused, late }
    },
  })
  return { ...result, crashed, operations }
}

const text = (r: { k: string; start: number | string; n: number; s: number }) =>
  JSON.stringify([r.k, typeof r.start === 'string' ? Date.parse(r.start) : r.start, r.n, r.s])

describe('the state budget with crashes (property)', () => {
  it('commits the same results and refusals with and without crashes, the reference over the admitted events', async () => {
    let crashes = 0
    let refusing = 0
    let runs = 0
    await fc.assert(
      fc.asyncProperty(
        eventsArb,
        fc.integer({ min: 1, max: 4 }),
        crashFractionsArb(),
        async (events, maxKeys, fractions) => {
          const clean = await run(events, maxKeys, [])
          const points = crashPointsWithin(fractions, clean.operations)
          const withCrashes = await run(events, maxKeys, points)
          crashes += withCrashes.crashed
          runs++
          if (clean.refused.length > 0) refusing++
          expect(withCrashes.results.map(text).sort()).toEqual(clean.results.map(text).sort())
          expect([...withCrashes.refused].sort((a, b) => a - b)).toEqual(
            [...clean.refused].sort((a, b) => a - b),
          )
          expect(new Set(clean.refused).size).toBe(clean.refused.length)
          const refused = new Set(clean.refused)
          const expected: string[] = []
          const late: number[] = []
          for (let p = 0; p < PARTITIONS; p++) {
            const mine = events.filter((e) => partitionForKey(e.k, PARTITIONS) === p)
            const reference: WindowRefEvent[] = mine.map((e) => ({
              time: e.ts,
              key: e.k,
              args: [null, null, e.x],
              dropped: refused.has(e.id),
            }))
            const { results, late: lateOfPartition } = finalWindowResults(
              reference,
              { sizeMs: SIZE_MS, slideMs: SIZE_MS, latenessMs: 0, delayMs: 0 },
              ['window_start', 'count', 'sum'],
            )
            for (const i of lateOfPartition) late.push(mine[i]!.id)
            for (const r of results)
              expected.push(
                text({ k: r.key, start: r.start, n: r.values[1] as number, s: r.values[2] as number }),
              )
          }
          expect(clean.results.map(text).sort()).toEqual(expected.sort())
          // Nothing lost: each event is in a window, late, or refused, once.
          const ascending = (ids: readonly number[]) => [...ids].sort((a, b) => a - b)
          expect(ascending(clean.late)).toEqual(ascending(late))
          expect(ascending(withCrashes.late)).toEqual(ascending(late))
          for (const id of clean.refused) expect(late).not.toContain(id)
        },
      ),
      replayableRuns(12),
    )
    expect(crashes).toBeGreaterThanOrEqual(runs)
    expect(refusing).toBeGreaterThan(0)
  }, 600_000)
})
