/**
 * The common ground of the runner properties over several co-partitioned topics (windows over a
 * union, windows over a join, joins over a join): two partitions, a start time, events that are an
 * id and a key at a time on a topic, written as JSON, one compiled artifact per variant, and the
 * property itself: for each random example a run without crashes and one with random crashes
 * under exactly-once (crash-run.ts), both of which must commit the expected rows to `out` and
 * nothing to the dead letters. What each property generates and expects stays in its file.
 *
 * Use: `const { artifactOf, crashProperty } = topicProperty('window-over-join', pipeOf, TOPICS)`
 * at the top of the test file, then `await crashProperty({ … })` in a test.
 */
import fc from 'fast-check'
import { expect } from 'vitest'
import type { LoadedArtifact } from '../../runtime/artifact/load.ts'
import { partitionForKey } from '../../runtime/log/partitioner.ts'
import type { PipelineRunnerOptions } from '../../runtime/node/pipeline-runner.ts'
import { DEFAULT_DEAD_LETTER_TOPIC } from '../../runtime/node/pipeline-runner.ts'
import {
  artifactPerVariant,
  crashFractionsArb,
  crashPointsWithin,
  crashRunFixture,
  maxBatchRecordsArb,
  replayableRuns,
} from './crash-run.ts'
import { readTopic } from './read-topic.ts'
import {
  interpretByPartition,
  type LaneStep,
  laneClockedEvents,
  recordsByTopic,
  type TopicEvent,
} from './topic-events.ts'

export { replayableRuns } from './crash-run.ts'

/** The partitions of every topic and of the runner. */
const PARTITIONS = 2
/** Where event time starts (lane clocks start 10 s later: laneClockedEvents). */
const T0 = Date.UTC(2026, 0, 1)

/** An event of topic `T`: its number (`id`), its key `k` and its time `ts`. */
export interface IdEvent<T extends string> extends TopicEvent<T> {
  readonly id: number
}

/** The JSON an IdEvent is written as (the pipelines' schema `E { id: i64, k: string, ts }`). */
export const idEventJson = (e: IdEvent<string>): string =>
  JSON.stringify({ id: e.id, k: e.k, ts: new Date(e.ts).toISOString() })

/** An i64 or optional i64 a sink or the interpreter gave (a number or a bigint) as a number. */
export const asNumber = (v: number | bigint | null): number | null => (v === null ? null : Number(v))

/** A row as a sink or the interpreter gives it: field values by name. */
export type RowValue = Readonly<Record<string, unknown>>

/** One crash property over an artifact (see topicProperty). */
export interface CrashProperty<E> {
  readonly artifact: LoadedArtifact
  readonly events: fc.Arbitrary<readonly E[]>
  /**
   * The rows `out` must hold by the end, sorted, as `outRow` writes them; the place for the
   * example's other checks too (the reference interpreter's rows, say) and for counting what the
   * examples covered.
   */
  readonly expected: (events: readonly E[]) => readonly string[]
  /** A record of `out` (its JSON value, its record timestamp) as the text compared. */
  readonly outRow: (value: RowValue, timestamp: number) => string
  /** Topics besides the dead letters that must stay empty (a `late into` stream's). */
  readonly empty?: readonly string[]
  /** How many examples (replayableRuns: SLUICE_PROPERTY_RUNS overrides), and given ones first. */
  readonly runs: number
  readonly examples?: fc.Parameters<[readonly E[], number[], number]>['examples']
  /** Runner options beyond the exactly-once set-up (an idle timeout, a clock). */
  readonly runner?: Partial<Omit<PipelineRunnerOptions, 'log' | 'stateStore'>>
}

/**
 * One artifact per variant (`pipeOf` writes it; compiled on first use), the reference interpreter
 * over `topics` one partition at a time, and the crash property, its data directories named after
 * `name` and removed after the file's tests.
 */
export function topicProperty<V extends { readonly name: string }, T extends string>(
  name: string,
  pipeOf: (variant: V) => string,
  topics: readonly T[],
) {
  const { runCrashing } = crashRunFixture(`sluice-${name}`)

  /** Runs the artifact over `events`: the rows of `out`, sorted, and what the `empty` topics hold. */
  async function run<E extends IdEvent<T>>(
    property: CrashProperty<E>,
    events: readonly E[],
    crashes: readonly number[],
    maxBatchRecords: number,
  ) {
    return runCrashing({
      artifact: property.artifact,
      partitions: PARTITIONS,
      inputs: recordsByTopic(topics, events, idEventJson),
      crashes,
      maxBatchRecords,
      ...(property.runner ? { runner: property.runner } : {}),
      read: async (log) => {
        const rows = (await readTopic(log, 'out')).map((r) =>
          property.outRow(JSON.parse(r.value.toString()) as RowValue, r.timestamp),
        )
        const empty: Record<string, number> = {}
        for (const topic of [DEFAULT_DEAD_LETTER_TOPIC, ...(property.empty ?? [])])
          empty[topic] = (await readTopic(log, topic)).length
        return { rows: rows.sort(), empty }
      },
    })
  }

  return {
    artifactOf: artifactPerVariant(name, pipeOf),
    partitions: PARTITIONS,
    /** Where event time starts. */
    start: T0,
    /** The partition of key `k` in every topic. */
    partitionOf: (k: string) => partitionForKey(k, PARTITIONS),
    /** Events timed on lane clocks from T0 + 10 s (laneClockedEvents), `delayMs` per topic. */
    laneEvents: (steps: readonly LaneStep<T>[], delayMs: Readonly<Record<T, number>>) =>
      laneClockedEvents(steps, { partitions: PARTITIONS, start: T0, delayMs }),

    /** The reference interpreter of `variant` over `events`, one instance per partition, topic after topic. */
    interpret<E extends IdEvent<T>>(
      variant: V,
      artifact: LoadedArtifact,
      events: readonly E[],
      onSink: Parameters<typeof interpretByPartition>[0]['onSink'],
    ): void {
      interpretByPartition({
        file: `${name}.pipe`,
        text: pipeOf(variant),
        artifact,
        partitions: PARTITIONS,
        topics,
        events,
        json: idEventJson,
        onSink,
      })
    },

    /**
     * For random events, batch sizes and crash points: a clean run and a crashing run each commit
     * the expected rows and leave the dead letters (and the `empty` topics) empty. Returns how many
     * examples ran and how many crashes they met: a crashing run crashes at least once, checked here.
     */
    async crashProperty<E extends IdEvent<T>>(
      property: CrashProperty<E>,
    ): Promise<{ runs: number; crashes: number; seed: number }> {
      let crashes = 0
      let runs = 0
      const params = replayableRuns(property.runs)
      const nothing = Object.fromEntries(
        [DEFAULT_DEAD_LETTER_TOPIC, ...(property.empty ?? [])].map((t) => [t, 0]),
      )
      await fc.assert(
        fc.asyncProperty(
          property.events,
          crashFractionsArb(),
          maxBatchRecordsArb,
          async (events, fractions, maxBatchRecords) => {
            const want = property.expected(events)
            const clean = await run(property, events, [], maxBatchRecords)
            expect(clean.result.rows).toEqual(want)
            expect(clean.result.empty).toEqual(nothing)
            const points = crashPointsWithin(fractions, clean.operations)
            const crashing = await run(property, events, points, maxBatchRecords)
            crashes += crashing.crashed
            runs++
            expect(crashing.result.rows).toEqual(want)
            expect(crashing.result.empty).toEqual(nothing)
          },
        ),
        property.examples ? { ...params, examples: property.examples } : params,
      )
      // Recovery is covered: every crashing run crashed at least once.
      expect(crashes, `seed ${params.seed}`).toBeGreaterThanOrEqual(runs)
      return { runs, crashes, seed: params.seed }
    },
  }
}
