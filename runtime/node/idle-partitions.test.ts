/**
 * Idle source partitions (sluice run --idle-timeout) in the runner, with an injected clock: a
 * partition that delivered nothing for the timeout follows the watermark of the source's other
 * partitions, and its windows fire on a tick (no record of its own), inside its exactly-once
 * checkpoint; with every partition idle nothing fires; when it delivers again, its events behind
 * the watermark it followed are late.
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
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from './pipeline-runner.ts'

const PIPE = `
schema Ev { k: string, v: i64, ts: timestamp @event_time }
source evs: Ev from kafka("in")
stream w = evs | aggregate by k window tumbling 1s { start: window_start(), n: count(), s: sum(v) }
sink w -> kafka("out")
`
const T = Date.UTC(2026, 0, 1)
const record = (k: string, v: number, ms: number, partition: number) => ({
  key: k,
  value: Buffer.from(JSON.stringify({ k, v, ts: new Date(T + ms).toISOString() })),
  partition,
})

interface Row {
  readonly k: string
  readonly start: string
  readonly n: number
  readonly s: number
}

describe('idle source partitions', () => {
  for (const delivery of ['exactly-once', 'at-least-once'] as const) {
    it(`fire their windows by the other partitions' watermark on a tick (${delivery})`, async () => {
      const artifact = await loadArtifact(await compileFixture(PIPE, 'idle-partitions'))
      const dir = await mkdtemp(join(tmpdir(), 'sluice-idle-partitions-'))
      const log = await EmbeddedLog.open(dir, { durability: 'none' })
      const stateStore = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
      const metrics = new MetricsRegistry()
      let now = 0
      const idleGauge = () => metrics.find('sluice_idle_partitions')?.value({ source: 'evs' }) ?? 0
      const rows = async () => (await readTopic(log, 'out')).map((r) => JSON.parse(r.value.toString()) as Row)
      try {
        await log.ensureTopic('in', { partitions: 2 })
        await log.append('in', [record('a', 1, 100, 0), record('a', 2, 200, 0), record('b', 5, 300, 1)])
        const runner = await PipelineRunner.start({
          log,
          artifact,
          metrics,
          stateStore,
          delivery,
          partitions: 2,
          checkpointIntervalMs: 1,
          idleTimeoutMs: 1000,
          tickIntervalMs: 5,
          clock: () => now,
        })
        await runner.waitUntilCaughtUp(20_000)
        expect(idleGauge()).toBe(0)
        // Both partitions idle: nothing moves by itself (ticks see them idle, and fire nothing).
        now = 5000
        await waitFor(() => idleGauge() === 2, 'both partitions counted idle')
        expect(await rows()).toEqual([])
        // Partition 1 delivers again: its own window [0, 1 s) closes by its watermark (2.5 s), and
        // partition 0, still idle, follows that watermark on its next tick, without a record.
        await log.append('in', [record('b', 7, 2500, 1)])
        await waitFor(async () => (await rows()).length === 2, 'both windows [0, 1 s) fired')
        expect(idleGauge()).toBe(1)
        // Partition 0 delivers again, behind the watermark it followed: late, dead-lettered.
        await log.append('in', [record('a', 9, 500, 0)])
        await runner.waitUntilCaughtUp(20_000)
        await runner.stop()
        const start = new Date(T).toISOString()
        expect(
          (await rows()).sort((x, y) => x.k.localeCompare(y.k)),
          'one result per key and window, a with both its events',
        ).toEqual([
          { k: 'a', start, n: 2, s: 3 },
          { k: 'b', start, n: 1, s: 5 },
        ])
        const dead = await readTopic(log, DEFAULT_DEAD_LETTER_TOPIC)
        expect(dead.map((d) => [d.headers[DEAD_LETTER_HEADERS.stage], d.key])).toEqual([['late', 'a']])
      } finally {
        await stateStore.close()
        await log.close()
        await rm(dir, { recursive: true, force: true })
      }
    })
  }

  it('without --idle-timeout, an idle partition keeps its windows open', async () => {
    const artifact = await loadArtifact(await compileFixture(PIPE, 'idle-partitions'))
    const dir = await mkdtemp(join(tmpdir(), 'sluice-idle-partitions-'))
    const log = await EmbeddedLog.open(dir, { durability: 'none' })
    const stateStore = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
    try {
      await log.ensureTopic('in', { partitions: 2 })
      await log.append('in', [record('a', 1, 100, 0), record('b', 5, 300, 1), record('b', 7, 2500, 1)])
      const runner = await PipelineRunner.start({
        log,
        artifact,
        metrics: new MetricsRegistry(),
        stateStore,
        delivery: 'exactly-once',
        partitions: 2,
        checkpointIntervalMs: 1,
      })
      await runner.waitUntilCaughtUp(20_000)
      await runner.stop()
      const keys = (await readTopic(log, 'out')).map((r) => (JSON.parse(r.value.toString()) as Row).k)
      expect(keys).toEqual(['b'])
    } finally {
      await stateStore.close()
      await log.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
