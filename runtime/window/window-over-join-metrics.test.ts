/**
 * A window over a join's results on the runner: its watermark gauge series is labelled
 * `upstream` with the join's id, and its value is the join's output watermark (the smaller of the
 * two sides' watermarks less the join's hold), not either source's.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { PipelineRunner } from '../node/pipeline-runner.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'

const PIPE = `
schema Order { id: i64, ts: timestamp @event_time }
schema Payment { order: i64, ts: timestamp @event_time }
source orders: Order from kafka("orders") watermark ts - 1s
source payments: Payment from kafka("payments") watermark ts - 1s
stream paid = left join orders as o, payments as p on o.id == p.order within p between 0ms after and 5s after o
stream per_order = paid | aggregate by id: o.id window tumbling 10s { n: count() }
sink per_order -> kafka("out")
`
const T = Date.UTC(2026, 0, 1)

describe('a window over a join', () => {
  it("reports the join's output watermark, labelled with the join", async () => {
    const artifact = await loadArtifact(await compileFixture(PIPE, 'window-over-join-metrics'))
    const dir = await mkdtemp(join(tmpdir(), 'sluice-window-over-join-'))
    const log = await EmbeddedLog.open(dir, { durability: 'none' })
    const stateStore = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
    const metrics = new MetricsRegistry()
    const at = (ms: number) => new Date(T + ms).toISOString()
    const record = (value: unknown) => ({ key: null, value: Buffer.from(JSON.stringify(value)) })
    try {
      await log.ensureTopic('orders')
      await log.ensureTopic('payments')
      await log.append('orders', [record({ id: 1, ts: at(1_000) }), record({ id: 2, ts: at(8_000) })])
      await log.append('payments', [
        record({ order: 1, ts: at(2_000) }),
        record({ order: 9, ts: at(12_000) }),
      ])
      const runner = await PipelineRunner.start({ log, artifact, metrics, stateStore, maxBatchRecords: 1 })
      await runner.waitUntilCaughtUp(20_000)
      // While the node still owns the task (a stop gives its state up).
      const text = await metrics.render()
      await runner.stop()
      const series = text.split('\n').filter((line) => line.startsWith('sluice_window_watermark_seconds{'))
      expect(series).toHaveLength(1)
      // The join's watermark is min(8 s - 1 s, 12 s - 1 s) = 7 s; its hold is 5 s (the bound).
      expect(series[0]).toContain('upstream="paid#join"')
      expect(series[0]).toContain('per_order.window.0')
      expect(series[0]).toMatch(new RegExp(` ${(T + 2_000) / 1000}$`))
    } finally {
      await stateStore.close()
      await log.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
