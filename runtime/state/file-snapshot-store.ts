import { mkdir, readFile, unlink } from 'node:fs/promises'
import path from 'node:path'
import { SluiceError } from '../errors.ts'
import { writeFileAtomic } from '../log/embedded/atomic-file.ts'
import { isCode } from '../log/embedded/fs-util.ts'
import { compactionThread } from './compaction-thread.ts'
import type { Snapshot, SnapshotChanges, SnapshotStore, StateScope } from './index.ts'
import { encodeScopePart, parseScopeId, scopeId } from './index.ts'
import { compactDir, deltaName, listDir, listFiles, loadLayers } from './snapshot-dir.ts'
import { SnapshotEntries } from './snapshot-entries.ts'
import { encodeSnapshotFile } from './snapshot-file.ts'

export interface FileSnapshotStoreOptions {
  /**
   * Fold deltas into a new base once this many committed deltas follow the base (in the
   * background, after a commit). Default: 8.
   */
  readonly compactAfterDeltas?: number
  /** fsync every file written (default true). */
  readonly fsync?: boolean
  /**
   * Compact on the event loop instead of the compaction thread (default false). A compaction
   * merges the base with up to compactAfterDeltas deltas, every key of them: with the state of a
   * running aggregate that is ~9 × its size, hundreds of milliseconds of the node's thread every
   * few checkpoints and tens of megabytes of buffers whose release forces a full GC of the node's
   * heap (issue 12).
   */
  readonly compactOnLoop?: boolean
}

/**
 * Snapshots as files under a directory (embedded mode: `<data-dir>/state`), one directory per
 * scope (`<pipeline>/<operator>/<topic>/<partition>`, each part URI-encoded):
 *
 *   base-<epoch>.snap     the whole state as of a committed epoch (written by compaction)
 *   delta-<epoch>.snap    the changes of one epoch, staged or committed
 *   COMMITTED             the newest committed epoch, as text (replaced atomically)
 *
 * Staging writes a delta; commit replaces COMMITTED, then (in the background) compaction writes
 * the newest state as a new base and removes the files it replaces. Every write is a temp file,
 * fsync, rename, directory fsync: a crash leaves the old file or the new one.
 */
export class FileSnapshotStore implements SnapshotStore {
  private readonly compactAfter: number
  private readonly fsync: boolean
  private readonly compactOnLoop: boolean
  /** Per scope: the chain of operations (stage/commit/compact) so they never interleave. */
  private readonly queues = new Map<string, Promise<unknown>>()
  private closed = false

  constructor(
    readonly dir: string,
    options: FileSnapshotStoreOptions = {},
  ) {
    this.compactAfter = options.compactAfterDeltas ?? 8
    this.fsync = options.fsync ?? true
    this.compactOnLoop = options.compactOnLoop ?? false
  }

  stage(scope: StateScope, epoch: number, changes: SnapshotChanges): Promise<void> {
    return this.serialized(scope, async (dir) => {
      checkEpoch(epoch)
      const committed = await this.committedEpoch(dir)
      if (epoch <= committed) {
        throw new SluiceError(
          'STATE_EPOCH_MISMATCH',
          `cannot stage epoch ${epoch} for ${scopeId(scope)}: epoch ${committed} is already committed`,
        )
      }
      await mkdir(dir, { recursive: true })
      const bytes = encodeSnapshotFile('delta', epoch, changes.puts, changes.deletes)
      await writeFileAtomic(path.join(dir, deltaName(epoch)), bytes, this.fsync)
    })
  }

  commit(scope: StateScope, epoch: number): Promise<void> {
    return this.serialized(scope, async (dir) => {
      checkEpoch(epoch)
      if (epoch <= (await this.committedEpoch(dir))) return
      await mkdir(dir, { recursive: true })
      await writeFileAtomic(path.join(dir, 'COMMITTED'), `${epoch}\n`, this.fsync)
      const files = await listFiles(dir)
      const deltasAfterBase = files.deltas.filter((e) => e > (files.bases.at(-1) ?? 0) && e <= epoch)
      if (deltasAfterBase.length >= this.compactAfter) {
        // In the background: the caller's epoch is committed already; close() waits for it.
        void this.serialized(scope, (d) => this.compact(d, epoch)).catch(() => {})
      }
    })
  }

  load(scope: StateScope, epoch?: number): Promise<Snapshot> {
    return this.serialized(scope, async (dir) => {
      const committed = await this.committedEpoch(dir)
      const target = epoch ?? committed
      const files = await listFiles(dir)
      // An epoch older than the newest committed one can be rebuilt only while its history is
      // there: compaction into a newer base removes the deltas up to that base.
      if (target < committed && files.bases.some((e) => e > target)) {
        throw new SluiceError(
          'STATE_EPOCH_MISMATCH',
          `the log committed epoch ${target} for ${scopeId(scope)} but the state in ${dir} is at epoch ${committed} and no longer holds ${target}`,
        )
      }
      const layers = await loadLayers(dir, target)
      // An empty state as a plain Map: what callers compare against.
      const entries = layers.length === 0 ? new Map<string, Buffer>() : new SnapshotEntries(layers)
      if (epoch === undefined) return { epoch: target, entries }
      // Recovery: staged epochs above the target never committed in the log; their changes are gone.
      for (const e of files.deltas) if (e > target) await unlink(path.join(dir, deltaName(e)))
      if (target !== committed) {
        await mkdir(dir, { recursive: true })
        await writeFileAtomic(path.join(dir, 'COMMITTED'), `${target}\n`, this.fsync)
      }
      return { epoch: target, entries }
    })
  }

  async scopes(pipeline: string): Promise<StateScope[]> {
    const root = path.join(this.dir, encodeScopePart(pipeline))
    const out: StateScope[] = []
    for (const operator of await listDir(root)) {
      for (const topic of await listDir(path.join(root, operator))) {
        for (const partition of await listDir(path.join(root, operator, topic))) {
          const id = [path.basename(root), operator, topic, partition].join('/')
          try {
            out.push(parseScopeId(id))
          } catch {
            // Not a scope directory (a stray file): skip it.
          }
        }
      }
    }
    return out
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.allSettled([...this.queues.values()])
  }

  /**
   * The state as of `epoch` as a new base, the files it replaces removed: on the compaction
   * thread (compaction-thread.ts) unless this store was made to compact on the event loop.
   */
  private async compact(dir: string, epoch: number): Promise<void> {
    if (this.compactOnLoop) await compactDir(dir, epoch, this.fsync)
    else await compactionThread().compact(dir, epoch, this.fsync)
  }

  private async committedEpoch(dir: string): Promise<number> {
    let text: string
    try {
      text = await readFile(path.join(dir, 'COMMITTED'), 'utf8')
    } catch (error) {
      if (isCode(error, 'ENOENT')) return 0
      throw error
    }
    const epoch = Number(text.trim())
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new SluiceError(
        'STATE_CORRUPT',
        `${path.join(dir, 'COMMITTED')} holds no epoch: ${JSON.stringify(text)}`,
      )
    }
    return epoch
  }

  private serialized<T>(scope: StateScope, operation: (dir: string) => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(new SluiceError('LOG_CLOSED', `the state store in ${this.dir} is closed`))
    const id = scopeId(scope)
    const dir = path.join(this.dir, id)
    const previous = this.queues.get(id) ?? Promise.resolve()
    const run = previous.then(() => operation(dir))
    const tail = run.catch(() => {})
    this.queues.set(id, tail)
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id)
    })
    return run
  }
}

function checkEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 1) {
    throw new SluiceError('LOG_INVALID_ARGUMENT', `an epoch is a positive integer, got ${epoch}`)
  }
}
