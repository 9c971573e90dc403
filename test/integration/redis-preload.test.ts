/**
 * RedisSnapshotStore.preload against a real Redis (docs/decisions/0033): a restarted node reads
 * its predecessor's state while it joins the consumer group, before the partitions are its own.
 * The read must change nothing (the previous owner may be alive), and adopt() must recover the
 * scope exactly as load(scope, epoch) would, or refuse (and change nothing) when the scope is no
 * longer as read. Each test has its own key prefix.
 */
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '../../runtime/errors.ts'
import type { SnapshotChanges, StateScope } from '../../runtime/state/index.ts'
import {
  RedisSnapshotStore,
  type RedisSnapshotStoreOptions,
} from '../../runtime/state/redis-snapshot-store.ts'

const url = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6390'
const scope: StateScope = { pipeline: 'p', operator: 'agg', topic: 'in', partition: 0 }
const b = (s: string) => Buffer.from(s)
const text = (entries: ReadonlyMap<string, Buffer>) =>
  Object.fromEntries([...entries].map(([k, v]) => [k, v.toString()]).sort(([x], [y]) => (x! < y! ? -1 : 1)))
const change = (puts: Record<string, string>, deletes: string[] = []): SnapshotChanges => ({
  puts: new Map(Object.entries(puts).map(([k, v]) => [k, b(v)])),
  deletes,
})

function open(prefix: string, options: Partial<RedisSnapshotStoreOptions> = {}): Promise<RedisSnapshotStore> {
  return RedisSnapshotStore.connect({ url, prefix, ...options })
}

const newPrefix = () => `sluice-test-${randomUUID().slice(0, 8)}`

describe('RedisSnapshotStore.preload (docs/decisions/0033)', () => {
  it('reads the state as of an epoch, staged epochs up to it included, and changes nothing; adopt() then recovers as load would', async () => {
    const prefix = newPrefix()
    const owner = await open(prefix)
    const successor = await open(prefix)
    try {
      await owner.stage(scope, 1, change({ a: '1', b: '1' }))
      await owner.commit(scope, 1)
      // The log committed epoch 2, the crash came before Redis did; epoch 3 never committed.
      await owner.stage(scope, 2, change({ a: '2' }))
      await owner.stage(scope, 3, change({ b: '3' }, ['a']))

      const preloaded = await successor.preload!(scope, 2)
      expect(preloaded.epoch).toBe(2)
      expect(text(preloaded.entries)).toEqual({ a: '2', b: '1' })
      // Nothing changed: the newest committed state is still epoch 1's, and epoch 3 is still there.
      expect(text((await owner.load(scope)).entries)).toEqual({ a: '1', b: '1' })
      expect(text((await successor.preload!(scope, 3)).entries)).toEqual({ b: '3' })

      expect(await preloaded.adopt()).toBe(true)
      const after = await successor.load(scope)
      expect(after.epoch).toBe(2)
      expect(text(after.entries)).toEqual({ a: '2', b: '1' })
      // Epoch 3 was dropped, as load(scope, 2) drops it: a later epoch 3 is the successor's own.
      await successor.stage(scope, 3, change({ c: '3' }))
      await successor.commit(scope, 3)
      expect(text((await successor.load(scope)).entries)).toEqual({ a: '2', b: '1', c: '3' })
    } finally {
      await owner.close()
      await successor.close()
    }
  })

  it('adopt() refuses and changes nothing once the previous owner committed past the epoch read', async () => {
    const prefix = newPrefix()
    const owner = await open(prefix)
    const successor = await open(prefix)
    try {
      await owner.stage(scope, 1, change({ a: '1' }))
      await owner.commit(scope, 1)
      await owner.stage(scope, 2, change({ a: '2' }))
      const preloaded = await successor.preload!(scope, 1)
      expect(text(preloaded.entries)).toEqual({ a: '1' })
      await owner.commit(scope, 2)
      expect(await preloaded.adopt()).toBe(false)
      expect(text((await successor.load(scope)).entries)).toEqual({ a: '2' })
    } finally {
      await owner.close()
      await successor.close()
    }
  })

  it('adopt() refuses and changes nothing after a compaction replaced the base it read', async () => {
    const prefix = newPrefix()
    // Every commit compacts: the first promotes its delta to the base, the next merges a new one.
    const owner = await open(prefix, { maxDeltas: 1 })
    const successor = await open(prefix)
    try {
      await owner.stage(scope, 1, change({ a: '1', b: '1' }))
      await owner.commit(scope, 1)
      await owner.stage(scope, 2, change({ b: '2' }))
      const preloaded = await successor.preload!(scope, 2)
      expect(text(preloaded.entries)).toEqual({ a: '1', b: '2' })
      await owner.commit(scope, 2)
      await owner.load(scope) // waits for the compaction
      expect(await preloaded.adopt()).toBe(false)
      const loaded = await successor.load(scope, 2)
      expect(text(loaded.entries)).toEqual({ a: '1', b: '2' })
    } finally {
      await owner.close()
      await successor.close()
    }
  })

  it('rejects a preload of an epoch below the one committed, as load does', async () => {
    const prefix = newPrefix()
    const store = await open(prefix)
    try {
      await store.stage(scope, 1, change({ a: '1' }))
      await store.commit(scope, 1)
      await store.stage(scope, 2, change({ a: '2' }))
      await store.commit(scope, 2)
      const error = await store.preload!(scope, 1).catch((e: unknown) => e)
      expect(isSluiceError(error) && error.code).toBe('STATE_EPOCH_MISMATCH')
    } finally {
      await store.close()
    }
  })

  /**
   * The previous owner stages and commits random epochs; the successor preloads as of the epoch the
   * log committed (any staged one up to the newest); between the preload and adopt() the previous
   * owner does more (nothing, stages, commits, which may compact). Whatever adopt() answers, the
   * state the successor ends up with must be the state as of that epoch (a fold of epochs up to
   * it): preloaded when adopted, loaded afresh otherwise, unless the owner committed past it (the
   * log would then have committed more too, and a fresh load refuses the old epoch).
   */
  it('property: an adopted preload is exactly the state load(scope, epoch) gives, whatever happened in between', async () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd')
    const epochChange = fc.record({
      puts: fc.dictionary(key, fc.string({ maxLength: 4 }), { maxKeys: 3 }),
      deletes: fc.array(key, { maxLength: 2 }),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(epochChange, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom('nothing', 'stage', 'commit'),
        fc.boolean(),
        async (changes, committedPick, targetPick, meanwhile, eager) => {
          const prefix = newPrefix()
          const options = eager ? { maxDeltas: 1, chunkBytes: 32 } : {}
          const owner = await open(prefix, options)
          const successor = await open(prefix, options)
          try {
            const epochs = changes.length
            const committed = committedPick % (epochs + 1)
            for (const [i, c] of changes.entries()) {
              const deletes = c.deletes.filter((d) => !(d in c.puts))
              await owner.stage(scope, i + 1, change(c.puts, [...new Set(deletes)]))
            }
            if (committed > 0) await owner.commit(scope, committed)
            await owner.load(scope) // any compaction finished
            const target = committed + (targetPick % (epochs - committed + 1))
            const stateAt = (epoch: number) => {
              const state: Record<string, string> = {}
              for (const c of changes.slice(0, epoch)) {
                for (const d of c.deletes) if (!(d in c.puts)) delete state[d]
                Object.assign(state, c.puts)
              }
              return Object.fromEntries(Object.entries(state).sort(([x], [y]) => (x < y ? -1 : 1)))
            }
            if (target === 0) return
            const preloaded = await successor.preload!(scope, target)
            expect(text(preloaded.entries)).toEqual(stateAt(target))
            let ownerCommitted = committed
            if (meanwhile === 'stage') await owner.stage(scope, epochs + 1, change({ z: 'late' }))
            if (meanwhile === 'commit' && epochs > committed) {
              ownerCommitted = epochs
              await owner.commit(scope, epochs)
              await owner.load(scope)
            }
            if (await preloaded.adopt()) {
              expect(ownerCommitted).toBeLessThanOrEqual(target)
              expect(text((await successor.load(scope)).entries)).toEqual(stateAt(target))
            } else if (ownerCommitted > target) {
              const error = await successor.load(scope, target).catch((e: unknown) => e)
              expect(isSluiceError(error) && error.code).toBe('STATE_EPOCH_MISMATCH')
            } else {
              expect(text((await successor.load(scope, target)).entries)).toEqual(stateAt(target))
            }
          } finally {
            await owner.close()
            await successor.close()
          }
        },
      ),
      { numRuns: 40 },
    )
  })
})
