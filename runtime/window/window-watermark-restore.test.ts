/**
 * A batch whose only effect on a window is to move its watermark (every record filtered out by a
 * `where` before the window) must still be checkpointed: otherwise, after a restart, the watermark
 * is back where it was, and an event that was late is taken into a window instead (no late
 * output, and a window that may never fire). Found by the window properties' graceful stops.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import { loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { PipelineRunner } from '../node/pipeline-runner.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'

const PIPE = `
schema Ev { id: i64, keep: bool, ts: timestamp @event_time }
source evs: Ev from kafka("in")
stream w = evs | where keep | aggregate by keep window tumbling 1s late into late_evs { n: count() }
sink w -> kafka("out")
sink late_evs -> kafka("late")
`
const T = Date.UTC(2026, 0, 1)
const record = (id: number, keep: boolean, ms: number) => ({
  key: null,
  value: Buffer.from(JSON.stringify({ id, keep, ts: new Date(T + ms).toISOString() })),
})

describe('a window whose watermark only a filtered-out record moved', () => {
  for (const delivery of ['exactly-once', 'at-least-once'] as const) {
    it(`keeps that watermark across a restart (${delivery})`, async () => {
      const artifact = await loadArtifact(await compileFixture(PIPE, 'window-watermark-restore'))
      const dir = await mkdtemp(join(tmpdir(), 'sluice-window-watermark-'))
      const run = async () => {
        const log = await EmbeddedLog.open(dir, { durability: 'none' })
        const stateStore = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
        try {
          const runner = await PipelineRunner.start({
            log,
            artifact,
            metrics: new MetricsRegistry(),
            stateStore,
            delivery,
            checkpointIntervalMs: 1,
          })
          await runner.waitUntilCaughtUp(20_000)
          await runner.stop()
          return (await readTopic(log, 'late')).map(
            (r) => (JSON.parse(r.value.toString()) as { id: number }).id,
          )
        } finally {
          await stateStore.close()
          await log.close()
        }
      }
      try {
        const log = await EmbeddedLog.open(dir, { durability: 'none' })
        await log.ensureTopic('in')
        await log.ensureTopic('late')
        // Filtered out, but moves the watermark to 5 s: window [0, 1 s) is closed for good.
        await log.append('in', [record(0, false, 5_000)])
        await log.close()
        expect(await run()).toEqual([])
        const again = await EmbeddedLog.open(dir, { durability: 'none' })
        await again.append('in', [record(1, true, 100)])
        await again.close()
        // The reference (and a run without the restart) sends event 1 to the late stream.
        expect(await run()).toEqual([1])
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })
  }
})
