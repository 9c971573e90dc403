/**
 * Chained windows on the runner: the watermark gauge has one series per window, told apart by
 * `operator` (the state slot) and `upstream` (the source, or the window whose results it reads).
 * Their values follow the source partition's watermark (the second window's is the first one's
 * output watermark, which after a batch is the same).
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
schema Ev { k: i64, ts: timestamp @event_time }
source evs: Ev from kafka("in") watermark ts - 1s
stream per_key = evs | aggregate by k window tumbling 1s { n: count() }
stream busiest = per_key | aggregate by all: 0 window tumbling 2s { top: max_by(k, n), n: max(n) }
sink busiest -> kafka("out")
`
const T = Date.UTC(2026, 0, 1)

describe('chained windows', () => {
  it('report one watermark series per window, labelled by what each follows', async () => {
    const artifact = await loadArtifact(await compileFixture(PIPE, 'window-chain-metrics'))
    const dir = await mkdtemp(join(tmpdir(), 'sluice-window-chain-'))
    const log = await EmbeddedLog.open(dir, { durability: 'none' })
    const stateStore = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
    const metrics = new MetricsRegistry()
    try {
      await log.ensureTopic('in')
      const times = [100, 200, 300, 1_500, 2_100, 3_500]
      const keys = [1, 2, 2, 3, 1, 1]
      await log.append(
        'in',
        times.map((ms, i) => ({
          key: null,
          value: Buffer.from(JSON.stringify({ k: keys[i], ts: new Date(T + ms).toISOString() })),
        })),
      )
      const runner = await PipelineRunner.start({ log, artifact, metrics, stateStore, maxBatchRecords: 2 })
      await runner.waitUntilCaughtUp(20_000)
      // While the node still owns the partition (a stop gives its state up).
      const text = await metrics.render()
      await runner.stop()
      // The watermark reached 2.5 s: [0, 2 s) fired after the 1 s windows [0, 1 s) and [1 s, 2 s).
      const out = (await readTopic(log, 'out')).map((r) => JSON.parse(r.value.toString()) as unknown)
      expect(out).toEqual([{ all: 0, top: 2, n: 2 }])
      const series = text.split('\n').filter((line) => line.startsWith('sluice_window_watermark_seconds{'))
      expect(series).toHaveLength(2)
      const watermark = String((T + 2_500) / 1000)
      expect(series.find((l) => l.includes('upstream="evs"') && l.includes('per_key.window.0'))).toMatch(
        new RegExp(` ${watermark}$`),
      )
      expect(
        series.find((l) => l.includes('upstream="per_key#1"') && l.includes('busiest.window.0')),
      ).toMatch(new RegExp(` ${watermark}$`))
    } finally {
      await stateStore.close()
      await log.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
