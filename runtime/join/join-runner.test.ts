/**
 * A join in the runner on the embedded log: outputs and metrics as an operator sees them, and the
 * refusal of topics that are not co-partitioned (decision 0020).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import { loadArtifact } from '../artifact/load.ts'
import { isSluiceError } from '../errors.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from '../node/pipeline-runner.ts'
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

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 0, minutes)).toISOString()
const json = (value: unknown) => ({ key: null, value: Buffer.from(JSON.stringify(value)) })

describe('a join in the runner', () => {
  it('emits pairs and outer rows, dead-letters late events with the reason, and shows its metrics', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-join-runner-'))
    dirs.push(dir)
    const artifact = await loadArtifact(await compileFixture(PIPE, 'join-runner'))
    const log = await EmbeddedLog.open(dir)
    const store = new FileSnapshotStore(join(dir, 'state'))
    const metrics = new MetricsRegistry()
    try {
      await log.ensureTopic('orders')
      await log.ensureTopic('payments')
      await log.append('orders', [json({ id: 'a', ts: at(0) }), json({ id: 'b', ts: at(1) })])
      await log.append('payments', [
        json({ order_id: 'a', ts: at(0) }),
        // Moves the payments' watermark to 10 min: order b (waiting until 1 + 1 min) is alone.
        json({ order_id: 'z', ts: at(10) }),
      ])
      await log.append('orders', [json({ id: 'c', ts: at(11) })])
      const runner = await PipelineRunner.start({ log, artifact, metrics, stateStore: store })
      await runner.waitUntilCaughtUp(20_000)
      // The payment of b comes after the join's watermark (10 min) passed it: late.
      await log.append('payments', [json({ order_id: 'b', ts: at(2) })])
      await runner.waitUntilCaughtUp(20_000)
      const text = await metrics.render()
      await runner.stop()
      await runner.done

      const paid = (await readTopic(log, 'paid')).map((r) => JSON.parse(r.value.toString()))
      expect(paid).toEqual([
        { order: 'a', paid: true },
        { order: 'b', paid: false },
      ])
      const dead = await readTopic(log, DEFAULT_DEAD_LETTER_TOPIC)
      expect(dead).toHaveLength(1)
      expect(dead[0]!.headers[DEAD_LETTER_HEADERS.stage]).toBe('late')
      expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/behind the join's watermark/)
      expect(text).toMatch(/sluice_join_results_total\{operator="paid#join"\} 2/)
      // Order c waits for a payment until 12 min; payment z (10 min) for an order until then.
      expect(text).toMatch(/sluice_join_rows\{operator="[^"]+"\} 2/)
      expect(text).toMatch(
        new RegExp(
          `sluice_join_watermark_seconds\\{[^}]*topic="orders"[^}]*\\} ${Date.UTC(2026, 0, 1, 0, 10) / 1000}`,
        ),
      )
    } finally {
      await log.close()
      await store.close()
    }
  })

  it("a window beside the join, on the join's second topic, runs on its own source's watermark delay", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-join-runner-'))
    dirs.push(dir)
    const text = `
schema Order { id: string, ts: timestamp @event_time }
schema Payment { order_id: string, ts: timestamp @event_time }
source orders: Order from kafka("orders") watermark ts
source payments: Payment from kafka("payments") watermark ts - 1m
stream paid = join orders as o, payments as p on o.id == p.order_id within p between 0s before and 1m after o
  | select { order: o.id }
stream per_minute = payments | aggregate by order_id window tumbling 1m { n: count() }
sink paid -> kafka("paid")
sink per_minute -> kafka("per-minute")
`
    const artifact = await loadArtifact(await compileFixture(text, 'join-runner-window'))
    const log = await EmbeddedLog.open(dir)
    const store = new FileSnapshotStore(join(dir, 'state'))
    try {
      await log.ensureTopic('orders')
      await log.ensureTopic('payments')
      await log.ensureTopic('per-minute')
      await log.append('payments', [
        json({ order_id: 'a', ts: new Date(Date.UTC(2026, 0, 1, 0, 0, 30)).toISOString() }),
        json({ order_id: 'a', ts: new Date(Date.UTC(2026, 0, 1, 0, 1, 30)).toISOString() }),
      ])
      const runner = await PipelineRunner.start({
        log,
        artifact,
        metrics: new MetricsRegistry(),
        stateStore: store,
      })
      await runner.waitUntilCaughtUp(20_000)
      await runner.stop()
      await runner.done
      // The payments' watermark is 0:00:30 (1:30 less the minute of delay): the first minute is open.
      expect(await readTopic(log, 'per-minute')).toEqual([])
    } finally {
      await log.close()
      await store.close()
    }
  })

  it("a dedup on the second topic of a task keeps keys for its own source's lateness", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-join-runner-'))
    dirs.push(dir)
    const text = `
schema Order { id: string, ts: timestamp @event_time }
schema Payment { id: string, order_id: string, ts: timestamp @event_time }
source orders: Order from kafka("orders") watermark ts
source payments: Payment from kafka("payments") watermark ts - 1m
stream paid = join orders as o, payments as p on o.id == p.order_id within p between 0s before and 1m after o
  | select { order: o.id }
stream fresh = payments | dedup by id within 10s | select { id }
sink paid -> kafka("paid")
sink fresh -> kafka("fresh")
`
    const artifact = await loadArtifact(await compileFixture(text, 'join-runner-dedup'))
    const log = await EmbeddedLog.open(dir)
    const store = new FileSnapshotStore(join(dir, 'state'))
    const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1) + seconds * 1000).toISOString()
    try {
      await log.ensureTopic('orders')
      await log.ensureTopic('payments')
      const runner = await PipelineRunner.start({
        log,
        artifact,
        metrics: new MetricsRegistry(),
        stateStore: store,
        checkpointIntervalMs: 1,
      })
      await log.append('payments', [json({ id: 'x', order_id: 'a', ts: at(0) })])
      await runner.waitUntilCaughtUp(20_000)
      // Each batch checkpoints, and a checkpoint forgets the keys the step treats as gone.
      await log.append('payments', [json({ id: 'y', order_id: 'a', ts: at(30) })])
      await runner.waitUntilCaughtUp(20_000)
      // x again, 5 s after the first: within the 10 s, and within the payments' minute of
      // lateness, so still a repeat.
      await log.append('payments', [json({ id: 'x', order_id: 'a', ts: at(5) })])
      await runner.waitUntilCaughtUp(20_000)
      await runner.stop()
      await runner.done
      expect((await readTopic(log, 'fresh')).map((r) => JSON.parse(r.value.toString()).id)).toEqual([
        'x',
        'y',
      ])
    } finally {
      await log.close()
      await store.close()
    }
  })

  it('refuses to start when the joined topics have different partition counts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-join-runner-'))
    dirs.push(dir)
    const artifact = await loadArtifact(await compileFixture(PIPE, 'join-runner-refused'))
    const log = await EmbeddedLog.open(dir)
    const store = new FileSnapshotStore(join(dir, 'state'))
    try {
      await log.ensureTopic('orders', { partitions: 2 })
      await log.ensureTopic('payments', { partitions: 3 })
      const started = PipelineRunner.start({
        log,
        artifact,
        metrics: new MetricsRegistry(),
        stateStore: store,
      })
      const error = await started.then(
        () => null,
        (e: unknown) => e,
      )
      expect(isSluiceError(error)).toBe(true)
      expect(String((error as Error).message)).toMatch(/orders has 2, payments has 3/)
    } finally {
      await log.close()
      await store.close()
    }
  })
})
