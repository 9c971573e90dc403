import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type LoadedArtifact, loadArtifact } from '../runtime/artifact/load.ts'
import { FileSnapshotStore } from '../runtime/state/file-snapshot-store.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'
import { stateOptions } from './state-options.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function artifactOf(body: string): Promise<LoadedArtifact> {
  return loadArtifact(
    await compileFixture(
      `schema P { card: string, amount: i64 }\nsource p: P from kafka("p")\n${body}`,
      'opts',
    ),
  )
}

const STATEFUL = 'stream t = p | aggregate by card { n: count() }\nsink t -> kafka("t")'
const STATELESS = 'stream t = p | where amount > 0\nsink t -> kafka("t")'

describe('sluice run state options', () => {
  it('defaults: at-least-once, checkpoints every second, refuse, files under the data directory', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-state-opts-'))
    dirs.push(dir)
    const choice = await stateOptions({ 'data-dir': dir }, await artifactOf(STATEFUL), {})
    expect(choice.delivery).toBe('at-least-once')
    expect(choice.checkpointIntervalMs).toBe(1000)
    expect(choice.idleTimeoutMs).toBeUndefined()
    expect(choice.stateBudget).toEqual({ overBudget: 'refuse' })
    expect(choice.stateStore).toBeInstanceOf(FileSnapshotStore)
    expect((choice.stateStore as FileSnapshotStore).dir).toBe(path.join(dir, 'state'))
    await choice.stateStore!.close()
  })

  it('a join keeps state: it gets a store, and --idle-timeout reaches the runner options', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-state-opts-'))
    dirs.push(dir)
    const artifact = await loadArtifact(
      await compileFixture(
        `schema A { k: string, ts: timestamp @event_time }
source a: A from kafka("a")
source b: A from kafka("b")
stream j = join a as x, b as y on x.k == y.k within y between 1s before and 1s after x
sink j -> kafka("j")`,
        'opts-join',
      ),
    )
    const choice = await stateOptions({ 'data-dir': dir, 'idle-timeout': '30000' }, artifact, {})
    expect(choice.idleTimeoutMs).toBe(30_000)
    expect(choice.stateStore).toBeInstanceOf(FileSnapshotStore)
    await choice.stateStore!.close()
  })

  it('opens no store for a stateless pipeline', async () => {
    const choice = await stateOptions({ delivery: 'exactly-once' }, await artifactOf(STATELESS), {})
    expect(choice).toMatchObject({ delivery: 'exactly-once', stateStore: null })
  })

  it('refuses bad values with usage errors naming the option', async () => {
    const artifact = await artifactOf(STATEFUL)
    const cases: [Record<string, string>, RegExp][] = [
      [{ delivery: 'twice' }, /--delivery must be at-least-once or exactly-once/],
      [{ 'checkpoint-interval': '0' }, /--checkpoint-interval must be at least 1 ms/],
      [{ 'idle-timeout': '0' }, /--idle-timeout must be at least 1/],
      [{ 'state-over-budget': 'spill' }, /--state-over-budget must be refuse or evict-lru/],
      [{ 'state-max-keys': '0' }, /--state-max-keys must be at least 1/],
      [{ 'cep-max-partial-per-key': '0' }, /--cep-max-partial-per-key must be at least 1/],
      [{ 'cep-max-partial': 'x' }, /cep-max-partial/],
      [{ state: ' ' }, /--state names no directory or URL/],
      [{ state: 'postgres://db/state' }, /only redis:\/\/ and rediss:\/\/ URLs, or a directory/],
      [{ kafka: '127.0.0.1:9' }, /with Kafka its state must move with the partitions/],
    ]
    for (const [values, message] of cases) {
      await expect(stateOptions(values, artifact, {})).rejects.toThrow(message)
    }
  })
})
