/**
 * A dedup on an idle partition (runtime/node/idle-clocks.ts): with --idle-timeout, its clock
 * follows the source's other partitions on the partition's ticks, as its windows do, so its keys
 * expire (and leave memory at the next checkpoint) while the partition is quiet, and an event it
 * delivers later is compared with the clock it followed; without, the clock waits for the
 * partition's own events and the key stays.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { readTopic } from '../../test/support/read-topic.ts'
import { loadArtifact } from '../artifact/load.ts'
import type { GraphNode } from '../artifact/manifest.ts'
import { waitFor } from '../log/conformance-support.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'
import { chainsFedBySource } from './idle-clocks.ts'
import { PipelineRunner } from './pipeline-runner.ts'

const PIPE = `
schema Ev { k: string, ts: timestamp @event_time }
source evs: Ev from kafka("in")
stream fresh = evs | dedup by k within 10s
sink fresh -> kafka("out")
`
const T = Date.UTC(2026, 0, 1)
const record = (k: string, seconds: number, partition: number) => ({
  key: k,
  value: Buffer.from(JSON.stringify({ k, ts: new Date(T + seconds * 1000).toISOString() })),
  partition,
})

/** Runs the dedup over two partitions; partition 1 goes quiet while partition 0 moves a minute on. */
async function run(idle: boolean): Promise<{ keys: string[]; expired: number }> {
  const artifact = await loadArtifact(await compileFixture(PIPE, 'idle-clocks'))
  const dir = await mkdtemp(join(tmpdir(), 'sluice-idle-clocks-'))
  const log = await EmbeddedLog.open(dir, { durability: 'none' })
  const stateStore = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
  const metrics = new MetricsRegistry()
  let now = 0
  const expired = () => metrics.find('sluice_state_expired_keys_total')?.total() ?? 0
  try {
    await log.ensureTopic('in', { partitions: 2 })
    await log.append('in', [record('y', 0, 0), record('x', 0, 1)])
    const runner = await PipelineRunner.start({
      log,
      artifact,
      metrics,
      stateStore,
      delivery: 'exactly-once',
      partitions: 2,
      checkpointIntervalMs: 1,
      ...(idle ? { idleTimeoutMs: 1000, tickIntervalMs: 5 } : {}),
      clock: () => now,
    })
    await runner.waitUntilCaughtUp(20_000)
    now = 5000
    // Partition 0 moves on a minute (y expires there by its own event); partition 1 stays quiet.
    await log.append('in', [record('z', 60, 0)])
    await runner.waitUntilCaughtUp(20_000)
    if (idle) await waitFor(() => expired() >= 2, 'x expired on partition 1’s ticks')
    // Partition 1 delivers x again, 5 s after the first.
    await log.append('in', [record('x', 5, 1)])
    await runner.waitUntilCaughtUp(20_000)
    await runner.stop()
    const keys = (await readTopic(log, 'out')).map((r) => (JSON.parse(r.value.toString()) as { k: string }).k)
    return { keys: keys.sort(), expired: expired() }
  } finally {
    await stateStore.close()
    await log.close()
    await rm(dir, { recursive: true, force: true })
  }
}

describe('stateful steps on idle partitions', () => {
  it("with --idle-timeout, a dedup's clock follows the other partitions on ticks: its keys expire", async () => {
    const { keys, expired } = await run(true)
    // x at 5 s meets the clock partition 1 followed (60 s): its first x (0 s) was gone, so it is kept.
    expect(keys).toEqual(['x', 'x', 'y', 'z'])
    expect(expired).toBeGreaterThanOrEqual(2)
  })

  it('without, the idle partition keeps its keys and drops the repeat', async () => {
    const { keys } = await run(false)
    expect(keys).toEqual(['x', 'y', 'z'])
  })

  it('only chains that read a source’s events follow it, through unions and lookups, not after windows', () => {
    const nodes = [
      { kind: 'Source', id: 's1', name: 's1', connector: { kind: 'kafka', topic: 'a' } },
      { kind: 'Source', id: 's2', name: 's2', connector: { kind: 'kafka', topic: 'b' } },
      { kind: 'Union', id: 'u', inputs: ['s1', 's2'] },
      { kind: 'Fused', id: 'dedup', input: 'u', state: [{ id: 'd', step: 'dedup', ttlMs: 1 }] },
      { kind: 'Fused', id: 'stateless', input: 's1' },
      {
        kind: 'WindowAggregate',
        id: 'w',
        input: 's1',
        window: { kind: 'tumbling', sizeMs: 1, slideMs: 1 },
        latenessMs: 0,
        late: null,
        state: { id: 'w', step: 'window', ttlMs: null },
        execution: 'typescript',
      },
      { kind: 'Fused', id: 'after-window', input: 'w', state: [{ id: 'a', step: 'aggregate', ttlMs: null }] },
    ] as unknown as GraphNode[]
    expect(Object.fromEntries(chainsFedBySource(nodes))).toEqual({ s1: ['dedup'], s2: ['dedup'] })
  })
})
