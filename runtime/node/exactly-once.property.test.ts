/**
 * Exactly-once as a property (issue 12): for random input streams and random crash points, the
 * committed output of a pipeline with a dedup and a keyed running aggregate equals the output of a
 * run without crashes, and both equal a brute-force reference.
 *
 * A "crash" is a failure injected at the n-th operation the runner does against the log or the
 * state store (a handler call, an append inside the partition's transaction, a checkpoint's
 * prepare, the store's commit after the log committed; test/support/crash-injection.ts). Real
 * process kills (SIGKILL, torn files) are the chaos test's part
 * (test/integration/exactly-once-chaos.test.ts).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { cardCountRuns } from '../../test/support/card-count-run.ts'
import { crashFractionsArb, crashPointsWithin, replayableRuns } from '../../test/support/crash-run.ts'
import {
  type ChaosEvent,
  type CountRow,
  compareCounts,
  expectedCounts,
} from '../../test/support/stateful-reference.ts'
import { partitionForKey } from '../log/partitioner.ts'

const WITHIN_MS = 10_000
const PARTITIONS = 2

const PIPE = `
schema Payment { id: string, card: string, amount: i64, ts: timestamp @event_time }
source payments: Payment from kafka("in")
stream fresh = payments | dedup by id within 10s
stream counts = fresh | aggregate by card { n: count(), total: sum(amount) } | key by card
sink counts -> kafka("out")
`

const { run: runByTopic } = cardCountRuns<CountRow>(PIPE, 'eo-property', PARTITIONS)

/** Runs the pipeline over `events` until caught up, restarting after each injected crash. */
const run = (events: readonly ChaosEvent[], crashes: number[]) => runByTopic({ in: events }, crashes, 7)

const CARD_OF_ID: Record<string, string> = { a: 'x', b: 'x', c: 'y', d: 'y', e: 'z', f: 'z' }

const events = fc
  .array(
    fc.record({
      id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      amount: fc.integer({ min: 1, max: 100 }),
      // Mostly increasing event time with some disorder, so the dedup meets late repeats.
      step: fc.integer({ min: -3_000, max: 6_000 }),
    }),
    { minLength: 5, maxLength: 60 },
  )
  .map((raw) => {
    let ts = Date.UTC(2026, 0, 1)
    return raw.map(({ step, ...rest }) => {
      ts += step
      // An id belongs to one card, so its repeats arrive on the partition of its first event:
      // dedup state is per source partition (decision 0015).
      return { ...rest, card: CARD_OF_ID[rest.id]!, ts } satisfies ChaosEvent
    })
  })

describe('exactly-once with crashes (property)', () => {
  it('commits the same output with and without crashes, equal to the reference', async () => {
    let crashes = 0
    let runs = 0
    await fc.assert(
      fc.asyncProperty(events, crashFractionsArb(4), async (input, fractions) => {
        const clean = await run(input, [])
        const points = crashPointsWithin(fractions, clean.operations)
        const withCrashes = await run(input, points)
        crashes += withCrashes.crashed
        runs++
        // The dedup's clock is per source partition, as the records are partitioned by card.
        const expected = expectedCounts(input, WITHIN_MS, (e) => partitionForKey(e.card, PARTITIONS))
        expect(compareCounts(expected, clean.rows)).toEqual([])
        expect(compareCounts(expected, withCrashes.rows)).toEqual([])
      }),
      replayableRuns(25),
    )
    // The crash points are reached, so the comparison covers recovery: every run has one before
    // 90 % of its operations, and a crash only adds operations.
    expect(crashes).toBeGreaterThanOrEqual(runs)
  }, 600_000)
})
