/**
 * One scope's snapshot directory of the file store (file-snapshot-store.ts describes its files):
 * listing it, loading an epoch's layers, and compaction, which runs on the compaction thread
 * (compaction-thread.ts) as well as in the store, so it needs nothing of the store's own.
 */
import { readdir, readFile, unlink } from 'node:fs/promises'
import path from 'node:path'
import { writeFileAtomic } from '../log/embedded/atomic-file.ts'
import { isCode } from '../log/embedded/fs-util.ts'
import { type EntryLayer, mergeLayers } from './snapshot-entries.ts'
import { decodeSnapshotFile, fileWriter, finishFile } from './snapshot-file.ts'

export const baseName = (epoch: number) => `base-${String(epoch).padStart(16, '0')}.snap`
export const deltaName = (epoch: number) => `delta-${String(epoch).padStart(16, '0')}.snap`
const SNAPSHOT_NAME = /^(base|delta)-(\d{16})\.snap$/

/** Writes the state as of `epoch` as a new base, then removes the files it replaces. */
export async function compactDir(dir: string, epoch: number, fsync: boolean): Promise<void> {
  const layers = await loadLayers(dir, epoch)
  const writer = fileWriter(layers.reduce((n, l) => n + l.end - l.start, 0) + 64)
  mergeLayers(layers, writer)
  await writeFileAtomic(path.join(dir, baseName(epoch)), finishFile(writer, 'base', epoch), fsync)
  const files = await listFiles(dir)
  for (const e of files.bases) if (e < epoch) await unlink(path.join(dir, baseName(e)))
  for (const e of files.deltas) if (e <= epoch) await unlink(path.join(dir, deltaName(e)))
}

/**
 * The base and the deltas after it up to `epoch`, as layers read in place: nothing is merged
 * here (KeyedState.restore applies them in order; the Map view merges on first use).
 */
export async function loadLayers(dir: string, epoch: number): Promise<EntryLayer[]> {
  const files = await listFiles(dir)
  const base = files.bases.filter((e) => e <= epoch).at(-1)
  const layers: EntryLayer[] = []
  if (base !== undefined) layers.push((await readSnapshot(dir, baseName(base))).layer)
  for (const e of files.deltas) {
    if (e <= (base ?? 0) || e > epoch) continue
    layers.push((await readSnapshot(dir, deltaName(e))).layer)
  }
  return layers
}

async function readSnapshot(dir: string, name: string): Promise<ReturnType<typeof decodeSnapshotFile>> {
  const file = path.join(dir, name)
  return decodeSnapshotFile(await readFile(file), file)
}

export async function listFiles(dir: string): Promise<{ bases: number[]; deltas: number[] }> {
  const bases: number[] = []
  const deltas: number[] = []
  for (const name of await listDir(dir)) {
    const match = SNAPSHOT_NAME.exec(name)
    if (match === null) continue
    ;(match[1] === 'base' ? bases : deltas).push(Number(match[2]))
  }
  bases.sort((a, b) => a - b)
  deltas.sort((a, b) => a - b)
  return { bases, deltas }
}

export async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (error) {
    if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return []
    throw error
  }
}
