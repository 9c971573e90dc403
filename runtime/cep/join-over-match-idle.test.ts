/**
 * A join over a match's results when the match's source partition goes idle (sluice run
 * --idle-timeout; docs/decisions/0020, fourth addendum): a tick gives the idle partition the
 * watermark of the source's other partition, which ends an absence at the end; the match comes
 * with the tick, and the join side over it must take the tick's batch to pair it.
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
schema Ev { card: string, kind: string, ts: timestamp @event_time }
schema Note { card: string, text: string, ts: timestamp @event_time }
source events: Ev from kafka("events") watermark ts
source notes: Note from kafka("notes") watermark ts
stream quiet = events
  | match by card within 1m pattern a not followed by x define a as kind == "a", x as kind == "x"
      { card: a.card }
stream noted = join quiet as q, notes as n on q.card == n.card within n between 0s after and 2m after q
  | select { card: q.card, text: n.text }
sink noted -> kafka("noted")
`
const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 0, minutes)).toISOString()
// Keys of the two partitions (runtime/log/partitioner.ts): k3 goes to partition 0, k0 to 1.
const json = (value: { card: string }) => ({ key: value.card, value: Buffer.from(JSON.stringify(value)) })

describe('a join over a match whose source partition went idle, in the runner', () => {
  it('pairs the match that an idle tick ends', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-join-over-match-idle-'))
    const artifact = await loadArtifact(await compileFixture(PIPE, 'join-over-match-idle'))
    const log = await EmbeddedLog.open(dir, { durability: 'none' })
    const store = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
    let now = 0
    const noted = async () => (await readTopic(log, 'noted')).map((r) => JSON.parse(r.value.toString()))
    try {
      await log.ensureTopic('events', { partitions: 2 })
      await log.ensureTopic('notes', { partitions: 2 })
      // Partition 0: k3's `a` at 0 min (quiet once the watermark passes 1 min), a note at 1 min.
      await log.append('events', [json({ card: 'k3', kind: 'a', ts: at(0) } as never)])
      await log.append('notes', [json({ card: 'k3', text: 'hello', ts: at(1) } as never)])
      const runner = await PipelineRunner.start({
        log,
        artifact,
        metrics: new MetricsRegistry(),
        partitions: 2,
        stateStore: store,
        delivery: 'exactly-once',
        checkpointIntervalMs: 1,
        idleTimeoutMs: 1000,
        tickIntervalMs: 5,
        clock: () => now,
      })
      await runner.waitUntilCaughtUp(20_000)
      // Partition 1 moves on to 5 min; partition 0 of the events stays at 0 min.
      now = 500
      await log.append('events', [json({ card: 'k0', kind: 'b', ts: at(5) } as never)])
      await log.append('notes', [json({ card: 'k0', text: 'later', ts: at(5) } as never)])
      await runner.waitUntilCaughtUp(20_000)
      expect(await noted()).toEqual([])
      // Partition 0 is idle (1.2 s without a record): a tick gives it 5 min, which ends k3's span.
      now = 1200
      await waitFor(async () => (await noted()).length === 1, 'the pair of the match the tick ended')
      await runner.stop()
      expect(await noted()).toEqual([{ card: 'k3', text: 'hello' }])
    } finally {
      await log.close()
      await store.close()
      await rm(dir, { recursive: true, force: true })
    }
  }, 30_000)
})
