/**
 * The compaction thread's side (compaction-thread.ts): compacts the snapshot directories it is
 * sent, one at a time, and answers each with its id and, when it failed, the error's message.
 */
import { parentPort } from 'node:worker_threads'
import { compactDir } from './snapshot-dir.ts'

export interface CompactionJob {
  readonly id: number
  readonly dir: string
  readonly epoch: number
  readonly fsync: boolean
}

export interface CompactionDone {
  readonly id: number
  readonly error?: { readonly message: string }
}

let queue: Promise<void> = Promise.resolve()
parentPort!.on('message', (job: CompactionJob) => {
  queue = queue.then(async () => {
    let done: CompactionDone
    try {
      await compactDir(job.dir, job.epoch, job.fsync)
      done = { id: job.id }
    } catch (error) {
      done = { id: job.id, error: { message: error instanceof Error ? error.message : String(error) } }
    }
    parentPort!.postMessage(done)
  })
})
parentPort!.postMessage('ready')
