/**
 * A window over a union of several sources in the runner (runtime/window/union-window.ts, issue
 * 13) with a source that never sends: without `--idle-timeout` it holds the union's watermark back
 * and nothing closes, as an input that has read nothing does in Flink; with it (injected clock),
 * once the silent source has been quiet for the timeout the window runs on the other source's
 * watermark, and an event that source then sends behind it is late.
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
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from './pipeline-runner.ts'

const PIPE = `
schema Ev { k: string, v: i64, ts: timestamp @event_time }
source north: Ev from kafka("north")
source south: Ev from kafka("south")
stream u = union north, south
stream w = u | aggregate by k window tumbling 1s { start: window_start(), n: count(), s: sum(v) }
sink w -> kafka("out")
`
const T = Date.UTC(2026, 0, 1)
const record = (k: string, v: number, ms: number) => ({
  key: k,
  value: Buffer.from(JSON.stringify({ k, v, ts: new Date(T + ms).toISOString() })),
})

describe('a window over a union with a silent source', () => {
  for (const idleTimeoutMs of [undefined, 1000]) {
    it(
      idleTimeoutMs === undefined ? 'waits for it without --idle-timeout' : 'leaves it out once idle',
      async () => {
        const artifact = await loadArtifact(await compileFixture(PIPE, 'union-idle'))
        const dir = await mkdtemp(join(tmpdir(), 'sluice-union-idle-'))
        const log = await EmbeddedLog.open(dir, { durability: 'none' })
        const stateStore = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
        let now = 0
        try {
          await log.ensureTopic('north', { partitions: 1 })
          await log.ensureTopic('south', { partitions: 1 })
          await log.append('north', [record('a', 1, 100), record('a', 2, 200)])
          const runner = await PipelineRunner.start({
            log,
            artifact,
            metrics: new MetricsRegistry(),
            stateStore,
            delivery: 'exactly-once',
            partitions: 1,
            checkpointIntervalMs: 1,
            ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs, tickIntervalMs: 5 }),
            clock: () => now,
          })
          await runner.waitUntilCaughtUp(20_000)
          // south has been silent for the timeout: north's 2.5 s closes [0, 1 s), and north's own
          // event at 0.5 s after it is late.
          now = 5000
          await log.append('north', [record('a', 4, 2500)])
          await runner.waitUntilCaughtUp(20_000)
          await log.append('north', [record('a', 8, 500)])
          await runner.waitUntilCaughtUp(20_000)
          await runner.stop()
          const rows = (await readTopic(log, 'out')).map((r) => JSON.parse(r.value.toString()) as unknown)
          const late = (await readTopic(log, DEFAULT_DEAD_LETTER_TOPIC)).map(
            (d) => d.headers[DEAD_LETTER_HEADERS.stage],
          )
          if (idleTimeoutMs === undefined) {
            expect(rows).toEqual([])
            expect(late).toEqual([])
          } else {
            expect(rows).toEqual([{ k: 'a', start: new Date(T).toISOString(), n: 2, s: 3 }])
            expect(late).toEqual(['late'])
          }
        } finally {
          await stateStore.close()
          await log.close()
          await rm(dir, { recursive: true, force: true })
        }
      },
    )
  }
})
