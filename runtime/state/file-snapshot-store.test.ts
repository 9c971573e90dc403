import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { isSluiceError } from '../errors.ts'
import { FileSnapshotStore } from './file-snapshot-store.ts'
import { type StateScope, scopeId } from './index.ts'
import { snapshotStoreConformance } from './snapshot-store-conformance.ts'

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

async function newDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-state-'))
  dirs.push(dir)
  return dir
}

snapshotStoreConformance('FileSnapshotStore', {
  create: async () => new FileSnapshotStore(await newDir(), { fsync: false, compactAfterDeltas: 3 }),
  reopen: async (store) => {
    await store.close()
    return new FileSnapshotStore((store as FileSnapshotStore).dir, { fsync: false, compactAfterDeltas: 3 })
  },
})

const scope: StateScope = { pipeline: 'p', operator: 'count', topic: 't', partition: 0 }
const one = (key: string, value: string) => ({ puts: new Map([[key, Buffer.from(value)]]), deletes: [] })

describe('FileSnapshotStore files', () => {
  it('compacts committed deltas into a base in the background and keeps loading the same state', async () => {
    const dir = await newDir()
    const store = new FileSnapshotStore(dir, { fsync: false, compactAfterDeltas: 3 })
    for (let e = 1; e <= 7; e++) {
      await store.stage(scope, e, one(`k${e % 4}`, `v${e}`))
      await store.commit(scope, e)
    }
    await store.close()
    const files = (await readdir(path.join(dir, scopeId(scope)))).sort()
    expect(files.filter((f) => f.startsWith('delta-')).length).toBeLessThan(3)
    expect(files.filter((f) => f.startsWith('base-'))).toHaveLength(1)
    const reopened = new FileSnapshotStore(dir, { fsync: false })
    const loaded = await reopened.load(scope)
    expect(loaded.epoch).toBe(7)
    expect(Object.fromEntries([...loaded.entries].map(([k, v]) => [k, v.toString()]))).toEqual({
      k0: 'v4',
      k1: 'v5',
      k2: 'v6',
      k3: 'v7',
    })
    // Once compacted past it, an older epoch cannot be rebuilt: a clear error, not wrong state.
    const error = await reopened.load(scope, 2).catch((e: unknown) => e)
    expect(isSluiceError(error, 'STATE_EPOCH_MISMATCH')).toBe(true)
    await reopened.close()
  })

  it('refuses a damaged snapshot file, naming it', async () => {
    const dir = await newDir()
    const store = new FileSnapshotStore(dir, { fsync: false })
    await store.stage(scope, 1, one('a', 'x'))
    await store.commit(scope, 1)
    const file = path.join(dir, scopeId(scope), 'delta-0000000000000001.snap')
    await writeFile(file, Buffer.from('SLST\u0001\u0002 torn'))
    const error = await store.load(scope).catch((e: unknown) => e)
    expect(isSluiceError(error, 'STATE_CORRUPT')).toBe(true)
    expect((error as Error).message).toContain(file)
    await store.close()
  })
})
