/**
 * Snapshot compaction on a thread of its own (issue 12). A file store's compaction merges a base
 * with the deltas after it, every entry of them: for a running aggregate whose keys all change
 * between checkpoints that is ~9 × the state, hundreds of milliseconds every eight checkpoints,
 * which on the node's thread stop its batches, and tens of megabytes of buffers (the files, the
 * merge's hash table, the new base) whose release forces a full collection of the node's heap.
 * On this thread they cost neither; the store still serialises a scope's operations, so nothing
 * reads or writes the directory while the thread compacts it.
 *
 * One thread per process, started on the first compaction and unreferenced while it has no work,
 * so it never keeps a process alive. When the thread cannot start or dies, compaction falls back
 * to the event loop (snapshot-dir.ts compactDir), as before this thread existed: it is an
 * optimisation, never a new way for a checkpoint to fail.
 */
import { Worker } from 'node:worker_threads'
import type { CompactionDone, CompactionJob } from './compaction-worker.ts'
import { compactDir } from './snapshot-dir.ts'

const WORKER_FILE = new URL('./compaction-worker-boot.mjs', import.meta.url)

export class CompactionThread {
  private worker: Worker | null = null
  /** Resolves once the thread said it is ready; false when it could not start. */
  private started: Promise<boolean> | null = null
  private failed = false
  private nextId = 1
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>()

  /** `workerFile`: the thread's entry (tests give one that cannot start). */
  constructor(private readonly workerFile: URL = WORKER_FILE) {}

  /**
   * Compacts `dir` as of `epoch` (snapshot-dir.ts compactDir) on the thread, or here when it is
   * unavailable; says where it ran.
   */
  async compact(dir: string, epoch: number, fsync: boolean): Promise<'thread' | 'loop'> {
    if (!(await this.start())) {
      await compactDir(dir, epoch, fsync)
      return 'loop'
    }
    const worker = this.worker!
    const id = this.nextId++
    const done = new Promise<'thread'>((resolve, reject) =>
      this.pending.set(id, { resolve: () => resolve('thread'), reject }),
    )
    if (this.pending.size === 1) worker.ref()
    worker.postMessage({ id, dir, epoch, fsync } satisfies CompactionJob)
    return done
  }

  private start(): Promise<boolean> {
    if (this.failed) return Promise.resolve(false)
    this.started ??= new Promise<boolean>((resolve) => {
      let worker: Worker
      try {
        worker = new Worker(this.workerFile)
      } catch {
        this.failed = true
        resolve(false)
        return
      }
      this.worker = worker
      worker.on('message', (message: CompactionDone | 'ready') => {
        if (message === 'ready') {
          worker.unref()
          resolve(true)
          return
        }
        const job = this.pending.get(message.id)
        if (job === undefined) return
        this.pending.delete(message.id)
        if (this.pending.size === 0) worker.unref()
        if (message.error === undefined) job.resolve()
        else job.reject(new Error(`compaction of a snapshot directory failed: ${message.error.message}`))
      })
      const dead = (error: Error) => {
        // Jobs in flight fail (the store logs nothing for them: a failed compaction leaves the
        // base and deltas it would have replaced, which load() reads as before); later ones run
        // on the event loop.
        this.failed = true
        this.worker = null
        resolve(false)
        for (const job of this.pending.values()) job.reject(error)
        this.pending.clear()
      }
      worker.on('error', dead)
      worker.on('exit', (code) => dead(new Error(`the compaction thread exited with code ${code}`)))
    })
    return this.started
  }
}

let shared: CompactionThread | null = null

/** The process's compaction thread. */
export function compactionThread(): CompactionThread {
  shared ??= new CompactionThread()
  return shared
}
