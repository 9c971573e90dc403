/**
 * A join whose input went idle (sluice run --idle-timeout), in the runner with an injected clock:
 * once the payments have delivered nothing for the timeout while the orders still deliver, a
 * tick moves the join's watermark to the orders' alone and emits the outer rows it makes due,
 * without a batch of either topic (docs/decisions/0028).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import { loadArtifact } from '../artifact/load.ts'
import { waitFor } from '../log/conformance-support.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { PipelineRunner } from '../node/pipeline-runner.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'

const PIPE = `
schema Order { id: string, ts: timestamp @event_time }
schema Payment { order_id: string, ts: timestamp @event_time }
source orders: Order from kafka("orders") watermark ts
source payments: Payment from kafka("payments") watermark ts
stream paid = left join orders as o, payments as p on o.id == p.order_id
  within p between 0s before and 1m after o
  | select { order: o.id, paid: p is not null }
sink paid -> kafka("paid")
`
const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 0, minutes)).toISOString()
const json = (value: unknown) => ({ key: null, value: Buffer.from(JSON.stringify(value)) })

describe('a join with an idle input in the runner', () => {
  it('emits the outer rows the active input makes due on a tick, without a batch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-join-idle-runner-'))
    const artifact = await loadArtifact(await compileFixture(PIPE, 'join-idle-runner'))
    const log = await EmbeddedLog.open(dir, { durability: 'none' })
    const store = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
    let now = 0
    const paid = async () => (await readTopic(log, 'paid')).map((r) => JSON.parse(r.value.toString()))
    try {
      await log.ensureTopic('orders')
      await log.ensureTopic('payments')
      await log.append('orders', [json({ id: 'a', ts: at(0) }), json({ id: 'c', ts: at(1) })])
      await log.append('payments', [json({ order_id: 'a', ts: at(0) })])
      const runner = await PipelineRunner.start({
        log,
        artifact,
        metrics: new MetricsRegistry(),
        stateStore: store,
        delivery: 'exactly-once',
        checkpointIntervalMs: 1,
        idleTimeoutMs: 1000,
        tickIntervalMs: 5,
        clock: () => now,
      })
      await runner.waitUntilCaughtUp(20_000)
      // The payments hold the watermark at 0 min: c (waiting until 2 min) stays.
      now = 500
      await log.append('orders', [json({ id: 'b', ts: at(5) })])
      await runner.waitUntilCaughtUp(20_000)
      expect(await paid()).toEqual([{ order: 'a', paid: true }])
      // The payments are idle, the orders not (700 ms since b): the orders' 5 min is the watermark.
      now = 1200
      await waitFor(async () => (await paid()).length === 2, 'the outer row of c')
      await runner.stop()
      // b waits until 6 min: not emitted.
      expect(await paid()).toEqual([
        { order: 'a', paid: true },
        { order: 'c', paid: false },
      ])
    } finally {
      await log.close()
      await store.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
