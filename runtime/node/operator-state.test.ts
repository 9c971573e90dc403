import { describe, expect, it } from 'vitest'
import { logScratch } from '../../test/support/log-scratch.ts'
import { countsChain, countsOperatorState } from '../../test/support/operator-state-fixture.ts'
import type { GraphNode } from '../artifact/manifest.ts'
import { isSluiceError, SluiceError } from '../errors.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'
import { epochOfMetadata, metadataOfEpoch, type OperatorStateOptions } from './operator-state.ts'

const { newDir } = logScratch('sluice-operator-state')
const seen: GraphNode & { kind: 'Fused' } = {
  kind: 'Fused',
  id: 'c2',
  input: 's',
  state: [{ id: 'fresh.dedup.0', step: 'dedup', ttlMs: 1000 }],
}

async function operatorState(dir: string, overrides: Partial<OperatorStateOptions> = {}) {
  const metrics = new MetricsRegistry()
  const state = countsOperatorState(new FileSnapshotStore(dir, { fsync: false }), {
    chains: [countsChain, seen],
    chainsOfTopic: new Map([['in', new Set(['c1', 'c2'])]]),
    metrics,
    ...overrides,
  })
  return { state, hooks: state.hooks(), metrics }
}

describe('OperatorState', () => {
  it('reads the epoch from the offsets metadata, and treats anything else as epoch 0', () => {
    expect(epochOfMetadata(metadataOfEpoch(42))).toBe(42)
    for (const other of [null, '', 'not json', '{"epoch":-1}', '{"epoch":1.5}', '[]', 'null']) {
      expect(epochOfMetadata(other)).toBe(0)
    }
  })

  it('restores exactly the epoch the log committed: staged epochs the log never committed are dropped', async () => {
    const dir = await newDir()
    const first = await operatorState(dir)
    await first.hooks.assigned('in', 0, null)
    const part = first.state.of('in', 0)!
    part.chains.get('c1')![0]!.set('card-1', [1, 10], 0)
    const epoch1 = await first.hooks.prepare('in', 0)
    expect(epoch1).toBe(metadataOfEpoch(1))
    await first.hooks.committed('in', 0, epoch1)
    part.chains.get('c1')![0]!.set('card-1', [2, 30], 0)
    part.chains.get('c1')![0]!.set('card-2', [1, 5], 0)
    // Staged, but the crash comes before the log commits epoch 2.
    await first.hooks.prepare('in', 0)
    await first.state.close()

    const second = await operatorState(dir)
    await second.hooks.assigned('in', 0, epoch1)
    const restored = second.state.of('in', 0)!.chains.get('c1')![0]!
    expect(restored.get('card-1', 0)).toEqual([1, 10])
    expect(restored.get('card-2', 0)).toBeUndefined()
    // The next epoch after the restored one is 2 again: epoch numbers follow the log's commits.
    expect(await second.hooks.prepare('in', 0)).toBe(metadataOfEpoch(2))
    await second.state.close()
  })

  it('restores a staged epoch the log did commit (the crash came between the log and the store)', async () => {
    const dir = await newDir()
    const first = await operatorState(dir)
    await first.hooks.assigned('in', 3, null)
    first.state.of('in', 3)!.chains.get('c2')![0]!.set('id-9', 500, 500)
    const metadata = await first.hooks.prepare('in', 3)
    await first.state.close()

    const second = await operatorState(dir)
    await second.hooks.assigned('in', 3, metadata)
    expect(second.state.of('in', 3)!.chains.get('c2')![0]!.get('id-9', 600)).toBe(500)
    expect(second.state.of('in', 3)!.epoch).toBe(1)
    await second.state.close()
  })

  it('keeps partitions apart, drops a revoked one, and only creates state for chains the topic reaches', async () => {
    const dir = await newDir()
    const { state, hooks } = await operatorState(dir, {
      chainsOfTopic: new Map([
        ['in', new Set(['c1'])],
        ['other', new Set(['c2'])],
      ]),
    })
    await hooks.assigned('in', 0, null)
    await hooks.assigned('in', 1, null)
    expect([...state.of('in', 0)!.chains.keys()]).toEqual(['c1'])
    state.of('in', 0)!.chains.get('c1')![0]!.set('k', 1, 0)
    expect(state.of('in', 1)!.chains.get('c1')![0]!.get('k', 0)).toBeUndefined()
    hooks.revoked('in', 0)
    expect(state.of('in', 0)).toBeUndefined()
    await state.close()
  })

  it('expires idle keys at a checkpoint by the step’s clock, less the watermark delay', async () => {
    const dir = await newDir()
    const { state, hooks, metrics } = await operatorState(dir, { watermarkDelayMs: () => 200 })
    await hooks.assigned('in', 0, null)
    const part = state.of('in', 0)!
    const dedup = part.chains.get('c2')![0]!
    dedup.set('old', 1000, 1000)
    dedup.set('recent', 2500, 2500)
    dedup.clock = 2500
    // The step's clock less its lateness is 2300: `old` idled 1300 ms > its 1000 ms TTL.
    await hooks.committed('in', 0, await hooks.prepare('in', 0))
    expect(dedup.get('old', 2500)).toBeUndefined()
    expect(dedup.get('recent', 2500)).toBe(2500)
    expect(metrics.find('sluice_state_expired_keys_total')?.total()).toBe(1)
    const text = await metrics.render()
    expect(text).toContain('sluice_checkpoint_epoch{partition="0",topic="in"} 1')
    expect(text).toContain('sluice_state_keys{operator="fresh.dedup.0"} 1')
    expect(text).toMatch(/sluice_checkpoint_seconds_count 1/)
    await state.close()
  })

  it('restores each step’s clock with its state', async () => {
    const dir = await newDir()
    const first = await operatorState(dir)
    await first.hooks.assigned('in', 0, null)
    const dedup = first.state.of('in', 0)!.chains.get('c2')![0]!
    dedup.clock = 123_456
    const epoch = await first.hooks.prepare('in', 0)
    await first.hooks.committed('in', 0, epoch)
    await first.state.close()
    const second = await operatorState(dir)
    await second.hooks.assigned('in', 0, epoch)
    expect(second.state.of('in', 0)!.chains.get('c2')![0]!.clock).toBe(123_456)
    expect(second.state.of('in', 0)!.chains.get('c1')![0]!.clock).toBe(Number.NEGATIVE_INFINITY)
    await second.state.close()
  })

  it('refuses to commit an epoch it did not prepare', async () => {
    const dir = await newDir()
    const { state, hooks } = await operatorState(dir)
    await hooks.assigned('in', 0, null)
    await expect(hooks.committed('in', 0, metadataOfEpoch(5))).rejects.toMatchObject({
      code: 'STATE_EPOCH_MISMATCH',
    })
    await state.close()
  })
  it('a zombie whose partition a newer owner committed meanwhile is fenced at prepare (LOG_FENCED), not failed', async () => {
    const dir = await newDir()
    // Two owners of partition 0 over one store: the first stalls after its `assigned`, the second
    // takes the partition over from the same committed epoch and commits the next one.
    const zombie = await operatorState(dir)
    const successor = await operatorState(dir)
    await zombie.hooks.assigned('in', 0, null)
    await successor.hooks.assigned('in', 0, null)
    successor.state.of('in', 0)!.chains.get('c1')![0]!.set('card-1', [1, 10], 0)
    const epoch1 = await successor.hooks.prepare('in', 0)
    await successor.hooks.committed('in', 0, epoch1)
    await successor.state.close()

    zombie.state.of('in', 0)!.chains.get('c1')![0]!.set('card-1', [7, 70], 0)
    const refused = await zombie.hooks.prepare('in', 0).then(
      () => null,
      (error: unknown) => error,
    )
    expect(isSluiceError(refused, 'LOG_FENCED'), String(refused)).toBe(true)
    expect(isSluiceError((refused as Error).cause, 'STATE_EPOCH_MISMATCH')).toBe(true)
    await zombie.state.close()
    // The successor's epoch stands.
    const reader = await operatorState(dir)
    await reader.hooks.assigned('in', 0, epoch1)
    expect(reader.state.of('in', 0)!.chains.get('c1')![0]!.get('card-1', 0)).toEqual([1, 10])
    await reader.state.close()
  })
  it('a stage refused because another node took the scope over (STATE_FENCED) is LOG_FENCED too', async () => {
    // The Redis store fences a zombie by owner generation (test/integration/redis-state.test.ts);
    // here a store that answers as it does.
    class TakenOverStore extends FileSnapshotStore {
      override async stage(): Promise<void> {
        throw new SluiceError('STATE_FENCED', 'another node took the scope over')
      }
    }
    const dir = await newDir()
    const zombie = await operatorState(dir, { store: new TakenOverStore(dir, { fsync: false }) })
    await zombie.hooks.assigned('in', 0, null)
    zombie.state.of('in', 0)!.chains.get('c1')![0]!.set('card-1', [7, 70], 0)
    const refused = await zombie.hooks.prepare('in', 0).then(
      () => null,
      (error: unknown) => error,
    )
    expect(isSluiceError(refused, 'LOG_FENCED'), String(refused)).toBe(true)
    expect(isSluiceError((refused as Error).cause, 'STATE_FENCED')).toBe(true)
    await zombie.state.close()
  })
})
