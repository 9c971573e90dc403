import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { CompactionThread } from './compaction-thread.ts'
import { FileSnapshotStore } from './file-snapshot-store.ts'
import { type StateScope, scopeId } from './index.ts'
import { snapshotStoreConformance } from './snapshot-store-conformance.ts'

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

async function newDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-compaction-'))
  dirs.push(dir)
  return dir
}

const scope: StateScope = { pipeline: 'p', operator: 'agg', topic: 't', partition: 0 }

/** Commits `epochs` (each key → value or null: a deletion) into a store that never compacts by itself. */
async function committedEpochs(dir: string, epochs: readonly (readonly [string, string | null][])[]) {
  const store = new FileSnapshotStore(dir, { fsync: false, compactAfterDeltas: 1_000_000 })
  for (const [i, changes] of epochs.entries()) {
    const puts = new Map(changes.filter(([, v]) => v !== null).map(([k, v]) => [k, Buffer.from(v!)]))
    const deletes = changes.filter(([, v]) => v === null).map(([k]) => k)
    await store.stage(scope, i + 1, { puts, deletes })
    await store.commit(scope, i + 1)
  }
  await store.close()
}

async function loaded(dir: string): Promise<Record<string, string>> {
  const store = new FileSnapshotStore(dir, { fsync: false })
  const { entries } = await store.load(scope)
  await store.close()
  return Object.fromEntries([...entries].map(([k, v]) => [k, v.toString()]))
}

// The store's contract holds with compaction on the event loop too (the option the thread replaced).
snapshotStoreConformance('FileSnapshotStore, compacting on the event loop', {
  create: async () =>
    new FileSnapshotStore(await newDir(), { fsync: false, compactAfterDeltas: 3, compactOnLoop: true }),
  reopen: async (store) => {
    await store.close()
    return new FileSnapshotStore((store as FileSnapshotStore).dir, { fsync: false, compactAfterDeltas: 3 })
  },
})

describe('CompactionThread', () => {
  it('property: compacting on the thread leaves one base that loads as the deltas did', async () => {
    const thread = new CompactionThread()
    const change = fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.option(fc.string({ maxLength: 6 })))
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          // A key is put or deleted in an epoch, not both (SnapshotChanges).
          fc.uniqueArray(change, { maxLength: 5, selector: ([key]) => key }),
          { minLength: 1, maxLength: 6 },
        ),
        async (epochs) => {
          const dir = await newDir()
          await committedEpochs(dir, epochs)
          const before = await loaded(dir)
          expect(await thread.compact(path.join(dir, scopeId(scope)), epochs.length, false)).toBe('thread')
          const files = await readdir(path.join(dir, scopeId(scope)))
          expect(files.filter((f) => f.endsWith('.snap'))).toEqual([
            `base-${String(epochs.length).padStart(16, '0')}.snap`,
          ])
          expect(await loaded(dir)).toEqual(before)
        },
      ),
      { numRuns: 25 },
    )
  })

  it('fails a compaction the thread could not do, naming the damaged file, and keeps the files', async () => {
    const dir = await newDir()
    await committedEpochs(dir, [[['a', '1']], [['b', '2']]])
    const damaged = path.join(dir, scopeId(scope), `delta-${'2'.padStart(16, '0')}.snap`)
    await writeFile(damaged, Buffer.from('SLST torn'))
    const error = await new CompactionThread()
      .compact(path.join(dir, scopeId(scope)), 2, false)
      .catch((e) => e)
    expect((error as Error).message).toContain(damaged)
    expect((await readdir(path.join(dir, scopeId(scope)))).filter((f) => f.startsWith('base-'))).toEqual([])
  })

  it('compacts on the event loop when the thread cannot start', async () => {
    const dir = await newDir()
    await committedEpochs(dir, [
      [['a', '1']],
      [
        ['a', null],
        ['b', '2'],
      ],
      [['c', '3']],
    ])
    const thread = new CompactionThread(new URL('./no-such-worker.mjs', import.meta.url))
    expect(await thread.compact(path.join(dir, scopeId(scope)), 3, false)).toBe('loop')
    expect(await loaded(dir)).toEqual({ b: '2', c: '3' })
    expect((await readdir(path.join(dir, scopeId(scope)))).filter((f) => f.endsWith('.snap'))).toEqual([
      `base-${'3'.padStart(16, '0')}.snap`,
    ])
  })
})
