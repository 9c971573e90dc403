/**
 * The crash runs of the dedup-and-count properties (exactly-once, state after a union): a pipeline
 * compiled once for the test file, fed payment events keyed by card (so a card's events are on
 * partition p of every topic: one task), whose sink `out` writes JSON count rows, run until caught
 * up under exactly-once, with crashes at given operations (crash-run.ts).
 *
 * Use: `const { run } = cardCountRuns<Row>(PIPE, 'my-property', PARTITIONS)` at the top of the
 * test file, then per example a clean run (`crashes: []`) and a crashing one.
 */
import { beforeAll } from 'vitest'
import { type LoadedArtifact, loadArtifact } from '../../runtime/artifact/load.ts'
import { compileFixture } from './compile-fixture.ts'
import { crashRunFixture, jsonRecord } from './crash-run.ts'
import { readTopic } from './read-topic.ts'

/** An event of a card at a time (epoch ms), with whatever other fields the schema has. */
export interface CardEvent {
  readonly card: string
  readonly ts: number
}

export function cardCountRuns<Row>(pipe: string, name: string, partitions: number) {
  let artifact: LoadedArtifact
  beforeAll(async () => {
    artifact = await loadArtifact(await compileFixture(pipe, name))
  })
  const { runCrashing } = crashRunFixture(`sluice-${name}`)
  return {
    /** Runs the pipeline over each topic's events until caught up, restarting after each crash. */
    async run(
      byTopic: Readonly<Record<string, readonly CardEvent[]>>,
      crashes: readonly number[],
      maxBatchRecords: number,
    ): Promise<{ rows: Row[]; crashed: number; operations: number }> {
      const { result, crashed, operations } = await runCrashing({
        artifact,
        partitions,
        inputs: Object.fromEntries(
          Object.entries(byTopic).map(([topic, events]) => [
            topic,
            events.map((e) => jsonRecord(e.card, { ...e, ts: new Date(e.ts).toISOString() })),
          ]),
        ),
        crashes,
        maxBatchRecords,
        read: async (log) => (await readTopic(log, 'out')).map((r) => JSON.parse(r.value.toString()) as Row),
      })
      return { rows: result, crashed, operations }
    },
  }
}
