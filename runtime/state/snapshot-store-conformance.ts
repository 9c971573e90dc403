/**
 * The SnapshotStore contract (index.ts) as one suite that every implementation runs:
 * file-snapshot-store.test.ts (embedded) and test/integration/redis-state.test.ts (real Redis).
 */
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isSluiceError } from '../errors.ts'
import type { SnapshotChanges, SnapshotStore, StateScope } from './index.ts'

export interface SnapshotStoreHarness {
  /** A fresh, empty store (a new directory, a new key prefix). */
  create(): Promise<SnapshotStore>
  /** The same storage opened again (a restarted node). */
  reopen(store: SnapshotStore): Promise<SnapshotStore>
}

const b = (s: string) => Buffer.from(s)
const changes = (puts: Record<string, string>, deletes: string[] = []): SnapshotChanges => ({
  puts: new Map(Object.entries(puts).map(([k, v]) => [k, b(v)])),
  deletes,
})
const text = (entries: ReadonlyMap<string, Buffer>) =>
  Object.fromEntries([...entries].map(([k, v]) => [k, v.toString()]).sort(([a], [c]) => (a! < c! ? -1 : 1)))

export function snapshotStoreConformance(name: string, harness: SnapshotStoreHarness): void {
  describe(`${name}: SnapshotStore conformance`, () => {
    let store: SnapshotStore
    const scope: StateScope = { pipeline: 'payments', operator: 'dedup-1', topic: 'in', partition: 2 }

    beforeEach(async () => {
      store = await harness.create()
    })
    afterEach(async () => {
      await store.close()
    })

    it('loads nothing at epoch 0 from an empty store', async () => {
      expect(await store.load(scope)).toEqual({ epoch: 0, entries: new Map() })
    })

    it('hides staged epochs until they are committed, then applies them in order', async () => {
      await store.stage(scope, 1, changes({ a: '1', b: '1' }))
      await store.stage(scope, 2, changes({ a: '2', c: '2' }, ['b']))
      expect(text((await store.load(scope)).entries)).toEqual({})
      await store.commit(scope, 2)
      const loaded = await store.load(scope)
      expect(loaded.epoch).toBe(2)
      expect(text(loaded.entries)).toEqual({ a: '2', c: '2' })
    })

    it('loads the epoch the log committed: staged ones up to it count, later ones are discarded', async () => {
      await store.stage(scope, 1, changes({ a: '1' }))
      await store.commit(scope, 1)
      await store.stage(scope, 2, changes({ a: '2' }))
      await store.stage(scope, 3, changes({ a: '3', z: '3' }))
      // The crash came after the log committed epoch 2 and before this store heard of it.
      store = await harness.reopen(store)
      const loaded = await store.load(scope, 2)
      expect(loaded.epoch).toBe(2)
      expect(text(loaded.entries)).toEqual({ a: '2' })
      // Epoch 3 never committed: staging 3 again replaces it; committing it does not bring back z.
      await store.stage(scope, 3, changes({ b: '3' }))
      await store.commit(scope, 3)
      expect(text((await store.load(scope)).entries)).toEqual({ a: '2', b: '3' })
    })

    it('refuses to stage an epoch that is not after the committed one', async () => {
      await store.stage(scope, 5, changes({ a: '5' }))
      await store.commit(scope, 5)
      const error = await store.stage(scope, 5, changes({ a: 'x' })).catch((e: unknown) => e)
      expect(isSluiceError(error, 'STATE_EPOCH_MISMATCH')).toBe(true)
      expect(text((await store.load(scope)).entries)).toEqual({ a: '5' })
    })

    it('keeps scopes apart and lists them per pipeline', async () => {
      const other: StateScope = { ...scope, partition: 3 }
      const elsewhere: StateScope = { ...scope, pipeline: 'other/pipe' }
      await store.stage(scope, 1, changes({ a: 'p2' }))
      await store.stage(other, 1, changes({ a: 'p3' }))
      await store.stage(elsewhere, 1, changes({ a: 'x' }))
      for (const s of [scope, other, elsewhere]) await store.commit(s, 1)
      expect(text((await store.load(other)).entries)).toEqual({ a: 'p3' })
      expect(text((await store.load(elsewhere)).entries)).toEqual({ a: 'x' })
      const listed = await store.scopes('payments')
      expect(listed.sort((x, y) => x.partition - y.partition)).toEqual([scope, other])
      expect(await store.scopes('other/pipe')).toEqual([elsewhere])
    })

    it('stores any key and binary value, also many of them', async () => {
      const puts = new Map<string, Buffer>()
      for (let i = 0; i < 5000; i++)
        puts.set(`k/${i}:\u00e9\u{1F600}`, Buffer.from([i % 256, 0, 255, i >> 8]))
      await store.stage(scope, 1, { puts, deletes: [] })
      await store.commit(scope, 1)
      store = await harness.reopen(store)
      const loaded = await store.load(scope)
      expect(loaded.entries.size).toBe(5000)
      for (const [k, v] of puts) expect(loaded.entries.get(k)?.equals(v)).toBe(true)
    })

    it('property: after any sequence of epochs, load equals a map with every committed change applied', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              puts: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.string({ maxLength: 4 })),
              deletes: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 3 }),
              commit: fc.boolean(),
            }),
            { minLength: 1, maxLength: 12 },
          ),
          async (epochs) => {
            const s = await harness.create()
            try {
              const expected = new Map<string, string>()
              const pending: (typeof epochs)[number][] = []
              for (const [i, e] of epochs.entries()) {
                // One epoch's changes name a key once: a put wins over a delete of the same key.
                const deletes = e.deletes.filter((k) => !(k in e.puts))
                await s.stage(scope, i + 1, changes(e.puts, deletes))
                pending.push({ ...e, deletes })
                if (e.commit) {
                  await s.commit(scope, i + 1)
                  for (const p of pending.splice(0)) {
                    for (const k of p.deletes) expected.delete(k)
                    for (const [k, v] of Object.entries(p.puts)) expected.set(k, v)
                  }
                }
              }
              expect(text((await s.load(scope)).entries)).toEqual(
                Object.fromEntries([...expected].sort(([a], [c]) => (a < c ? -1 : 1))),
              )
            } finally {
              await s.close()
            }
          },
        ),
        { numRuns: 25 },
      )
    })
  })
}
