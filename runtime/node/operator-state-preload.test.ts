/**
 * OperatorState's preload (docs/decisions/0033): state read ahead of a partition's assignment is
 * used only for the epoch the log committed at assignment and only if the store adopts it; state
 * read for partitions not assigned after all is dropped. The store here is the file store with a
 * preload that reads its newest committed epoch (the Redis store's own preload is tested against
 * Redis in test/integration/redis-preload.test.ts); it counts loads and adoptions.
 */
import { describe, expect, it } from 'vitest'
import { logScratch } from '../../test/support/log-scratch.ts'
import { countsOperatorState } from '../../test/support/operator-state-fixture.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'
import type {
  PreloadedSnapshot,
  Snapshot,
  SnapshotChanges,
  SnapshotStore,
  StateScope,
} from '../state/index.ts'
import { metadataOfEpoch, type OperatorState } from './operator-state.ts'

const { newDir } = logScratch('sluice-preload')

/** The file store, with a preload of committed epochs; counts what OperatorState asks of it. */
class CountingStore implements SnapshotStore {
  loads = 0
  preloads = 0
  adoptions = 0
  /** What adopt() answers (false: the scope changed since the preload). */
  adoptable = true
  /** Makes preloads fail (Redis unavailable, say). */
  failPreloads = false

  constructor(private readonly inner: FileSnapshotStore) {}

  stage(scope: StateScope, epoch: number, changes: SnapshotChanges): Promise<void> {
    return this.inner.stage(scope, epoch, changes)
  }
  commit(scope: StateScope, epoch: number): Promise<void> {
    return this.inner.commit(scope, epoch)
  }
  load(scope: StateScope, epoch?: number): Promise<Snapshot> {
    this.loads++
    return this.inner.load(scope, epoch)
  }
  async preload(scope: StateScope, epoch: number): Promise<PreloadedSnapshot> {
    this.preloads++
    if (this.failPreloads) throw new Error('preload failed')
    const snapshot = await this.inner.load(scope)
    if (snapshot.epoch !== epoch) throw new Error(`this test store preloads committed epochs only`)
    return {
      ...snapshot,
      adopt: async () => {
        this.adoptions++
        if (!this.adoptable) return false
        await this.inner.load(scope, epoch)
        return true
      },
    }
  }
  scopes(pipeline: string): Promise<StateScope[]> {
    return this.inner.scopes(pipeline)
  }
  close(): Promise<void> {
    return this.inner.close()
  }
}

async function setUp() {
  const dir = await newDir()
  const open = () => {
    const store = new CountingStore(new FileSnapshotStore(dir, { fsync: false }))
    const state = countsOperatorState(store)
    return { state, hooks: state.hooks(), store }
  }
  // Partitions 0 and 1 with committed state: epoch 1, then (partition 0) epoch 2.
  const first = open()
  for (const partition of [0, 1]) {
    await first.hooks.assigned('in', partition, null)
    first.state.of('in', partition)!.chains.get('c1')![0]!.set(`card-${partition}`, [1, 10], 0)
    const epoch1 = await first.hooks.prepare('in', partition)
    await first.hooks.committed('in', partition, epoch1)
  }
  first.state.of('in', 0)!.chains.get('c1')![0]!.set('card-0', [2, 30], 0)
  await first.hooks.committed('in', 0, await first.hooks.prepare('in', 0))
  await first.state.close()
  return open
}

const restoredValue = (state: OperatorState, partition: number, key: string) =>
  state.of('in', partition)!.chains.get('c1')![0]!.get(key, 0)

describe('OperatorState preload', () => {
  it('restores a partition from its preload when the log committed the same epoch at assignment', async () => {
    const { state, hooks, store } = (await setUp())()
    hooks.preload!('in', 0, metadataOfEpoch(2))
    expect(state.preloadedPartitions()).toEqual([{ topic: 'in', partition: 0 }])
    await hooks.assigned('in', 0, metadataOfEpoch(2))
    expect(restoredValue(state, 0, 'card-0')).toEqual([2, 30])
    expect(state.of('in', 0)!.epoch).toBe(2)
    expect({ loads: store.loads, adoptions: store.adoptions }).toEqual({ loads: 0, adoptions: 1 })
    expect(state.preloadedPartitions()).toEqual([])
    // The epochs go on from the one restored.
    expect(await hooks.prepare('in', 0)).toBe(metadataOfEpoch(3))
    await state.close()
  })

  it('loads afresh when the previous owner committed another epoch before the assignment', async () => {
    const open = await setUp()
    const successor = open()
    successor.hooks.preload!('in', 1, metadataOfEpoch(1))
    // Still alive, the previous owner commits epoch 2 of partition 1 before it lets go.
    const owner = open()
    await owner.hooks.assigned('in', 1, metadataOfEpoch(1))
    owner.state.of('in', 1)!.chains.get('c1')![0]!.set('card-1', [5, 50], 0)
    const epoch2 = await owner.hooks.prepare('in', 1)
    await owner.hooks.committed('in', 1, epoch2)
    await owner.state.close()
    await successor.hooks.assigned('in', 1, epoch2)
    expect({ loads: successor.store.loads, adoptions: successor.store.adoptions }).toEqual({
      loads: 1,
      adoptions: 0,
    })
    expect(restoredValue(successor.state, 1, 'card-1')).toEqual([5, 50])
    expect(successor.state.of('in', 1)!.epoch).toBe(2)
    await successor.state.close()
  })

  it('loads afresh when the store no longer holds the scope as it was read', async () => {
    const { state, hooks, store } = (await setUp())()
    hooks.preload!('in', 0, metadataOfEpoch(2))
    store.adoptable = false
    await hooks.assigned('in', 0, metadataOfEpoch(2))
    expect({ loads: store.loads, adoptions: store.adoptions }).toEqual({ loads: 1, adoptions: 1 })
    expect(restoredValue(state, 0, 'card-0')).toEqual([2, 30])
    await state.close()
  })

  it('loads afresh after a failed preload', async () => {
    const { state, hooks, store } = (await setUp())()
    store.failPreloads = true
    hooks.preload!('in', 0, metadataOfEpoch(2))
    await hooks.assigned('in', 0, metadataOfEpoch(2))
    expect({ preloads: store.preloads, loads: store.loads }).toEqual({ preloads: 1, loads: 1 })
    expect(restoredValue(state, 0, 'card-0')).toEqual([2, 30])
    await state.close()
  })

  it('drops what it read for partitions the group join did not assign', async () => {
    const { state, hooks, store } = (await setUp())()
    hooks.preload!('in', 0, metadataOfEpoch(2))
    hooks.preload!('in', 1, metadataOfEpoch(1))
    hooks.retainPreloaded!((topic, partition) => topic === 'in' && partition === 1)
    expect(state.preloadedPartitions()).toEqual([{ topic: 'in', partition: 1 }])
    // Partition 0 comes later after all (a second rebalance): it loads afresh.
    await hooks.assigned('in', 0, metadataOfEpoch(2))
    await hooks.assigned('in', 1, metadataOfEpoch(1))
    expect({ loads: store.loads, adoptions: store.adoptions }).toEqual({ loads: 1, adoptions: 1 })
    expect(restoredValue(state, 0, 'card-0')).toEqual([2, 30])
    expect(restoredValue(state, 1, 'card-1')).toEqual([1, 10])
    await state.close()
  })

  it('preloads nothing for a partition without committed state, or one it already holds', async () => {
    const { state, hooks, store } = (await setUp())()
    hooks.preload!('in', 5, null)
    await hooks.assigned('in', 1, metadataOfEpoch(1))
    hooks.preload!('in', 1, metadataOfEpoch(1))
    expect(store.preloads).toBe(0)
    expect(state.preloadedPartitions()).toEqual([])
    await state.close()
  })
})
