import { describe, expect, it } from 'vitest'
import { logScratch } from '../../test/support/log-scratch.ts'
import { countsOperatorState } from '../../test/support/operator-state-fixture.ts'
import { FileSnapshotStore } from '../state/file-snapshot-store.ts'
import type { SnapshotStore, StateScope } from '../state/index.ts'

/**
 * The store's commit of an epoch runs after the `committed` hook returns (issue 12: under
 * exactly-once the log waits for that hook before the partition's next batch). The log's commit is
 * the epoch's commit point, so what is checked here is that nothing is lost or reordered by it.
 */

const { newDir } = logScratch('sluice-store-commit')

/** A file store whose commits wait for release() (or fail with `failWith`), to act between them. */
class GatedStore implements SnapshotStore {
  readonly inner: FileSnapshotStore
  private gate: { promise: Promise<void>; open: () => void }
  failWith: Error | null = null
  commitsStarted = 0

  constructor(dir: string) {
    this.inner = new FileSnapshotStore(dir, { fsync: false })
    this.gate = gated()
  }

  release(): void {
    this.gate.open()
  }

  stage: SnapshotStore['stage'] = (scope, epoch, changes) => this.inner.stage(scope, epoch, changes)
  load: SnapshotStore['load'] = (scope, epoch) => this.inner.load(scope, epoch)
  scopes: SnapshotStore['scopes'] = (pipeline) => this.inner.scopes(pipeline)
  close: SnapshotStore['close'] = () => this.inner.close()

  async commit(scope: StateScope, epoch: number): Promise<void> {
    this.commitsStarted++
    await this.gate.promise
    if (this.failWith !== null) throw this.failWith
    await this.inner.commit(scope, epoch)
  }
}

function gated(): { promise: Promise<void>; open: () => void } {
  let open = () => {}
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

const scope: StateScope = { pipeline: 'p', operator: 'totals.aggregate.0', topic: 'in', partition: 0 }

describe('OperatorState: the store commits in the background', () => {
  it('the committed hook returns before the store commits; the next epoch stages and commits after it, in order', async () => {
    const store = new GatedStore(await newDir())
    const state = countsOperatorState(store)
    const hooks = state.hooks()
    await hooks.assigned('in', 0, null)
    const step = state.of('in', 0)!.chains.get('c1')![0]!
    step.set('card-1', [1, 10], 0)
    const epoch1 = await hooks.prepare('in', 0)
    await hooks.committed('in', 0, epoch1)
    expect(store.commitsStarted).toBe(1)
    // Not committed in the store yet: a plain read sees nothing.
    expect((await store.inner.load(scope)).epoch).toBe(0)

    step.set('card-1', [2, 30], 0)
    const epoch2 = await hooks.prepare('in', 0)
    await hooks.committed('in', 0, epoch2)
    store.release()
    await state.close()

    const reader = new FileSnapshotStore(store.inner.dir)
    const loaded = await reader.load(scope)
    expect(loaded.epoch).toBe(2)
    expect(JSON.parse(loaded.entries.get('v:card-1')!.subarray(8).toString())).toEqual([2, 30])
    await reader.close()
  })

  it('a crash before the store committed restores the epoch the log committed, staged as it is', async () => {
    const store = new GatedStore(await newDir())
    const state = countsOperatorState(store)
    const hooks = state.hooks()
    await hooks.assigned('in', 0, null)
    state.of('in', 0)!.chains.get('c1')![0]!.set('card-1', [1, 10], 0)
    const epoch1 = await hooks.prepare('in', 0)
    await hooks.committed('in', 0, epoch1)
    // The crash: the store's commit never happens.

    const restarted = countsOperatorState(new FileSnapshotStore(store.inner.dir, { fsync: false }))
    await restarted.hooks().assigned('in', 0, epoch1)
    expect(restarted.of('in', 0)!.chains.get('c1')![0]!.get('card-1', 0)).toEqual([1, 10])
    await restarted.close()
  })

  it('a store commit that failed fails the partition’s next checkpoint', async () => {
    const store = new GatedStore(await newDir())
    store.failWith = new Error('disk full')
    store.release()
    const state = countsOperatorState(store)
    const hooks = state.hooks()
    await hooks.assigned('in', 0, null)
    state.of('in', 0)!.chains.get('c1')![0]!.set('card-1', [1, 10], 0)
    await hooks.committed('in', 0, await hooks.prepare('in', 0))
    // The failing commit settles in microtasks after the released gate.
    await new Promise((resolve) => setImmediate(resolve))
    await expect(hooks.prepare('in', 0)).rejects.toThrow('disk full')
    await state.close()
  })
})
