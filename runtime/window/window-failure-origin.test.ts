/**
 * A window result fired by the watermark of a source record that a `where` before the window drops
 * belongs to that record: a failing result's dead letter carries it, as the reference interpreter
 * says, however the log cut the batches (the runner once named the next kept record, or the
 * batch's last one). Found by the window properties.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter } from '../../compiler/ir/interpret.ts'
import { stdlib } from '../../stdlib/index.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import { loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from '../node/pipeline-runner.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'

const PIPE = `
schema Ev { id: i64, n: i64, keep: bool, ts: timestamp @event_time }
source evs: Ev from kafka("in")
stream w = evs | where keep | aggregate by keep window tumbling 1s { total: sum(n) }
sink w -> kafka("out")
`
const T = Date.UTC(2026, 0, 1)
// 2^52 + 2^52 = 2^53 overflows an i64 sum. Event 2, filtered out, moves the watermark to 1.5 s:
// window [0, 1 s) fires and fails. Event 3 is kept.
const EVENTS = [
  { id: 0, n: 2 ** 52, keep: true, ts: T + 100 },
  { id: 1, n: 2 ** 52, keep: true, ts: T + 200 },
  { id: 2, n: 0, keep: false, ts: T + 1500 },
  { id: 3, n: 0, keep: true, ts: T + 1600 },
]
const json = (e: (typeof EVENTS)[number]) => JSON.stringify({ ...e, ts: new Date(e.ts).toISOString() })

async function deadLetterIds(maxBatchRecords: number): Promise<number[]> {
  const artifact = await loadArtifact(await compileFixture(PIPE, 'window-origin'))
  const dir = await mkdtemp(join(tmpdir(), 'sluice-window-origin-'))
  const log = await EmbeddedLog.open(dir, { durability: 'none' })
  const stateStore = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
  try {
    await log.ensureTopic('in')
    await log.append(
      'in',
      EVENTS.map((e) => ({ key: null, value: Buffer.from(json(e)) })),
    )
    const runner = await PipelineRunner.start({
      log,
      artifact,
      metrics: new MetricsRegistry(),
      stateStore,
      maxBatchRecords,
    })
    await runner.waitUntilCaughtUp(20_000)
    await runner.stop()
    return (await readTopic(log, DEFAULT_DEAD_LETTER_TOPIC)).map(
      (r) => (JSON.parse(r.value.toString()) as { id: number }).id,
    )
  } finally {
    await stateStore.close()
    await log.close()
    await rm(dir, { recursive: true, force: true })
  }
}

describe('a window result fired by a filtered-out record', () => {
  it('is dead-lettered with that record, by the interpreter', async () => {
    const { pipeline } = checkSource('origin.pipe', PIPE)
    const artifact = await loadArtifact(await compileFixture(PIPE, 'window-origin'))
    const decoder = artifact.operators.sources.evs!
    const failed: number[] = []
    const interpreter = createInterpreter(pipeline!, {
      functions: stdlib,
      onSink: () => {},
      // The decoder leaves out fields no step reads (the id): the event time names the event.
      onError: (failure) => failed.push(EVENTS.find((e) => e.ts === failure.event.timestamp)!.id),
    })
    for (const e of EVENTS) {
      const value = decoder.decode(JSON.parse(json(e))) as never
      interpreter.push('evs', { value, key: null, timestamp: decoder.eventTime!(value) })
    }
    expect(failed).toEqual([2])
  })

  it('is dead-lettered with that record by the runner, however the batches are cut', async () => {
    // Batches of 3 end on record 2: the runner names it. One batch of 4: the runner names record 3.
    expect(await deadLetterIds(3)).toEqual([2])
    expect(await deadLetterIds(1000)).toEqual([2])
  })
})
