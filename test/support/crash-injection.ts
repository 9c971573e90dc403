/**
 * Crashes injected at the n-th operation a runner does against its log or state store, for the
 * exactly-once properties: the subscription ends with the failure, the log aborts what the open
 * checkpoint appended, and a new runner on a reopened log goes on from what committed. Real
 * process kills (SIGKILL, torn files) are the chaos test's part.
 */
import { join } from 'node:path'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import { ForwardingLog } from '../../runtime/log/forwarding-log.ts'
import type { Log, RecordBatch, SubscribeOptions, Subscription } from '../../runtime/log/index.ts'
import type { PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { FileSnapshotStore } from '../../runtime/state/file-snapshot-store.ts'
import type { SnapshotChanges, SnapshotStore, StateScope } from '../../runtime/state/index.ts'

export class InjectedCrash extends Error {}

/** A hang fails the run with what hung, instead of the whole property timing out. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Counts operations and fails the one whose number is next in `crashes` (ascending). */
export class CrashPoints {
  private count = 0
  constructor(private readonly crashes: number[]) {}
  /** How many operations ran so far, over every life. */
  get operations(): number {
    return this.count
  }
  tick(where: string): void {
    this.count++
    if (this.crashes.length > 0 && this.count >= this.crashes[0]!) {
      this.crashes.shift()
      throw new InjectedCrash(`injected crash at operation ${this.count} (${where})`)
    }
  }
}

/** The log with crash points in the handler, the transaction's appends and the checkpoint hooks. */
export class CrashingLog extends ForwardingLog {
  constructor(
    inner: Log,
    private readonly points: CrashPoints,
  ) {
    super(inner)
  }

  override subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    const points = this.points
    const checkpoint = options.checkpoint && {
      ...options.checkpoint,
      prepare: async (topic: string, partition: number) => {
        points.tick('prepare')
        return options.checkpoint!.prepare(topic, partition)
      },
    }
    return super.subscribe({ ...options, ...(checkpoint ? { checkpoint } : {}) }, async (batch) => {
      points.tick('handler')
      const transaction = batch.transaction && {
        append: (...args: Parameters<NonNullable<RecordBatch['transaction']>['append']>) => {
          points.tick('append')
          return batch.transaction!.append(...args)
        },
      }
      return handler(transaction ? { ...batch, transaction } : batch)
    })
  }
}

/** The store with a crash point in commit: the log has committed the epoch, the store not yet. */
export class CrashingStore implements SnapshotStore {
  constructor(
    private readonly inner: SnapshotStore,
    private readonly points: CrashPoints,
  ) {}
  stage(scope: StateScope, epoch: number, changes: SnapshotChanges) {
    return this.inner.stage(scope, epoch, changes)
  }
  async commit(scope: StateScope, epoch: number) {
    this.points.tick('store commit')
    return this.inner.commit(scope, epoch)
  }
  load(scope: StateScope, epoch?: number) {
    return this.inner.load(scope, epoch)
  }
  scopes(pipeline: string) {
    return this.inner.scopes(pipeline)
  }
  close() {
    return this.inner.close()
  }
}

/** What one life of a crashing runner needs: the log and store to wrap, opened fresh per life. */
export interface Life {
  readonly log: EmbeddedLog
  readonly store: FileSnapshotStore
  readonly points: CrashPoints
}

/**
 * Runs a pipeline on the embedded log in `dir` until it has caught up, as a process that crashes
 * at `crashes` would: each life opens the log and the state store afresh, starts a runner with
 * `start` (which wraps them in CrashingLog / CrashingStore), and a crash ends the life; the next one
 * goes on from what committed. `caughtUp` reads the result from the last life's log.
 */
export async function runWithCrashes<T>(
  dir: string,
  crashes: readonly number[],
  start: (life: Life) => Promise<PipelineRunner>,
  caughtUp: (log: EmbeddedLog) => Promise<T>,
): Promise<{ result: T; crashed: number; operations: number }> {
  const points = new CrashPoints([...crashes].sort((a, b) => a - b))
  let crashed = 0
  for (let life = 0; ; life++) {
    if (life > crashes.length + 1) throw new Error('more lives than crashes')
    const log = await EmbeddedLog.open(dir, { durability: 'none' })
    const store = new FileSnapshotStore(join(dir, 'state'), { fsync: false })
    try {
      const runner = await withTimeout(start({ log, store, points }), `starting the runner of life ${life}`)
      const outcome = await Promise.race([
        runner.waitUntilCaughtUp(20_000).then(() => 'caught up' as const),
        runner.done.then(
          () => 'ended' as const,
          (error: unknown) => {
            if (error instanceof InjectedCrash) return 'crashed' as const
            throw error
          },
        ),
      ])
      await withTimeout(runner.stop(), `stopping the runner of life ${life}`)
      if (outcome === 'caught up')
        return { result: await caughtUp(log), crashed, operations: points.operations }
      if (outcome !== 'crashed') throw new Error(`the runner ended by itself (${outcome})`)
      crashed++
    } finally {
      await withTimeout(log.close(), `closing the log of life ${life}`)
      await store.close()
    }
  }
}
