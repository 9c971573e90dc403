/**
 * The runner with stateful steps on the embedded log: state survives a restart (at-least-once
 * replays records into the restored state, never double-counting), a full state refuses new keys
 * by dead-lettering their events with the reason, and evict-lru forgets the oldest key instead.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'
import {
  DEAD_LETTER_HEADERS,
  DEFAULT_DEAD_LETTER_TOPIC,
  PipelineRunner,
  type PipelineRunnerOptions,
} from './pipeline-runner.ts'

const PIPE = `
schema Payment { card: string, amount: i64 }
source payments: Payment from kafka("payments")
stream totals = payments | aggregate by card { n: count(), total: sum(amount) }
sink totals -> kafka("totals")
`

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function setup(): Promise<{ dir: string; artifact: LoadedArtifact }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-runner-state-'))
  dirs.push(dir)
  return { dir, artifact: await loadArtifact(await compileFixture(PIPE, 'totals')) }
}

function payment(card: string, amount: number) {
  return { key: card, value: Buffer.from(JSON.stringify({ card, amount })) }
}

/** Runs until everything in `payments` is processed; returns the metrics. */
async function runOnce(dir: string, artifact: LoadedArtifact, extra: Partial<PipelineRunnerOptions> = {}) {
  const log = await EmbeddedLog.open(dir)
  const store = new FileSnapshotStore(join(dir, 'state'))
  const metrics = new MetricsRegistry()
  try {
    const runner = await PipelineRunner.start({ log, artifact, metrics, stateStore: store, ...extra })
    await runner.waitUntilCaughtUp(20_000)
    // While the node still owns the partition (stop revokes it and drops its state).
    const text = await metrics.render()
    await runner.stop()
    await runner.done
    return { metrics, text }
  } finally {
    await log.close()
    await store.close()
  }
}

async function append(dir: string, records: ReturnType<typeof payment>[]): Promise<void> {
  const log = await EmbeddedLog.open(dir)
  await log.ensureTopic('payments')
  await log.append('payments', records)
  await log.close()
}

async function read(dir: string, topic: string) {
  const log = await EmbeddedLog.open(dir)
  try {
    return await log.read(topic, 0, 0, 1000)
  } finally {
    await log.close()
  }
}

describe('PipelineRunner with stateful steps', () => {
  it('goes on counting from the restored state after a restart', async () => {
    const { dir, artifact } = await setup()
    await append(dir, [payment('a', 1), payment('b', 2), payment('a', 3)])
    await runOnce(dir, artifact)
    await append(dir, [payment('a', 10), payment('b', 20)])
    const { text } = await runOnce(dir, artifact)
    const rows = (await read(dir, 'totals')).map((r) => JSON.parse(r.value.toString()))
    expect(rows).toEqual([
      { card: 'a', n: 1, total: 1 },
      { card: 'b', n: 1, total: 2 },
      { card: 'a', n: 2, total: 4 },
      { card: 'a', n: 3, total: 14 },
      { card: 'b', n: 2, total: 22 },
    ])
    expect(text).toMatch(/sluice_state_keys\{operator="totals\.aggregate\.0\.[0-9a-f]+"\} 2/)
    expect(text).toMatch(/sluice_checkpoint_epoch\{partition="0",topic="payments"\} [1-9]/)
  })

  it('refuses a new key beyond the budget: its event is dead-lettered with the reason', async () => {
    const { dir, artifact } = await setup()
    await append(dir, [payment('a', 1), payment('b', 2), payment('c', 3), payment('a', 4)])
    const { metrics } = await runOnce(dir, artifact, { stateBudget: { maxKeys: 2, overBudget: 'refuse' } })
    const rows = (await read(dir, 'totals')).map((r) => JSON.parse(r.value.toString()))
    expect(rows).toEqual([
      { card: 'a', n: 1, total: 1 },
      { card: 'b', n: 1, total: 2 },
      { card: 'a', n: 2, total: 5 },
    ])
    const dead = await read(dir, DEFAULT_DEAD_LETTER_TOPIC)
    expect(dead.map((r) => JSON.parse(r.value.toString()))).toEqual([{ card: 'c', amount: 3 }])
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(
      /state of step `?totals\.aggregate\.0\.[0-9a-f]+`? is full/,
    )
    expect(metrics.find('sluice_state_refused_keys_total')?.total()).toBe(1)
  })

  it('with evict-lru forgets the least recently used key instead', async () => {
    const { dir, artifact } = await setup()
    await append(dir, [payment('a', 1), payment('b', 2), payment('c', 3), payment('a', 4)])
    const { metrics } = await runOnce(dir, artifact, { stateBudget: { maxKeys: 2, overBudget: 'evict-lru' } })
    const rows = (await read(dir, 'totals')).map((r) => JSON.parse(r.value.toString()))
    // c evicts a (the least recently used), so a starts again from nothing.
    expect(rows.at(-1)).toEqual({ card: 'a', n: 1, total: 4 })
    expect(await read(dir, DEFAULT_DEAD_LETTER_TOPIC)).toEqual([])
    expect(metrics.find('sluice_state_evicted_keys_total')?.total()).toBeGreaterThanOrEqual(1)
  })

  it('refuses to start a stateful pipeline without a state store', async () => {
    const { dir, artifact } = await setup()
    const log = await EmbeddedLog.open(dir)
    try {
      await expect(
        PipelineRunner.start({ log, artifact, metrics: new MetricsRegistry() }),
      ).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
      })
    } finally {
      await log.close()
    }
  })
})
