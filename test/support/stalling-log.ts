/**
 * A log that makes its runner a zombie: once the runner has handled a given number of records, one
 * source partition's work stalls, once, at a chosen point of its open checkpoint, until the test
 * calls release() (a pause: a new owner of the partition can take it over and fence this one
 * meanwhile). It records what the stalled partition's open transaction had appended, and what the
 * woken zombie then got through on it (appends resolved, commits reported) or was refused, so a
 * test can check that a fenced zombie stops writing.
 *
 * Stall points, all with outputs of the partition's open checkpoint already appended:
 * - `before-handler`: a batch of the partition arrived; the runner has not seen it yet;
 * - `before-stage`: the checkpoint's commit began (the log called `prepare`); no state staged yet;
 * - `after-stage`: `prepare` staged the epoch's state; the log is about to commit the transaction.
 */
import { ForwardingLog } from '../../runtime/log/forwarding-log.ts'
import type {
  Log,
  PartitionTransaction,
  RecordBatch,
  SubscribeOptions,
  Subscription,
} from '../../runtime/log/index.ts'

export type FencePoint = 'before-handler' | 'before-stage' | 'after-stage'

/** The one stall of a StallingLog, and what came of it. */
export interface Stall {
  readonly point: FencePoint
  readonly partition: number
  /** Records the runner had handled when it stalled. */
  readonly handledBefore: number
  /** Where the stalled partition's open checkpoint had appended (`topic/partition@offset`). */
  readonly openAppends: readonly string[]
  /**
   * After release, what the stalled subscription got through on the stalled partition's task (the
   * one whose producer the new owner fenced): appends' positions, `commit <partition> <metadata>`.
   */
  readonly landed: string[]
  /** After release, the failures of that task's appends and the error the subscription ended with. */
  readonly refusals: unknown[]
  /** Resolves once the stalled subscription ended (and `landed`, `refusals` are complete). */
  settled(): Promise<void>
}

export class StallingLog extends ForwardingLog {
  /** Set once the subscription stalled. */
  stalled: Stall | null = null
  /** What happened, in order (batches entering the handler, hooks), for a failure's message. */
  readonly trace: string[] = []
  /** Records handled after release() (by any later subscription too). */
  handledAfterRelease = 0
  readonly #handled = new Map<number, number>()
  readonly #commits = new Map<number, string>()
  #total = 0
  #released = false
  #release: () => void = () => {}
  readonly #wake = new Promise<void>((resolve) => {
    this.#release = resolve
  })

  /** `point` null: never stalls (a plain incarnation that still counts what it handles). */
  constructor(
    inner: Log,
    private readonly point: FencePoint | null,
    private readonly afterRecords: number,
  ) {
    super(inner)
  }

  /** Records of source partition `partition` handled so far (by every subscription). */
  handledOf(partition: number): number | undefined {
    return this.#handled.get(partition)
  }

  /** The metadata of the last checkpoint of source partition `partition` committed (by any subscription). */
  lastCommitOf(partition: number): string | undefined {
    return this.#commits.get(partition)
  }

  /** Wakes the stalled subscription (and makes any later stall point pass). */
  release(): void {
    this.#released = true
    this.#release()
  }

  override async subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    // Per partition, where the open checkpoint appended since its last commit.
    const open = new Map<number, string[]>()
    let mine: Stall | null = null
    let ended: () => void = () => {}
    const endedPromise = new Promise<void>((resolve) => {
      ended = resolve
    })
    const stallHere = async (point: FencePoint, partition: number): Promise<void> => {
      if (this.point !== point || this.stalled !== null || this.#released) return
      if (this.#total < this.afterRecords || (open.get(partition)?.length ?? 0) === 0) return
      mine = {
        point,
        partition,
        handledBefore: this.#total,
        openAppends: [...open.get(partition)!],
        landed: [],
        refusals: [],
        settled: () => endedPromise,
      }
      this.stalled = mine
      await this.#wake
    }
    /** What the stalled subscription does after its wake-up is recorded as landed or refused. */
    const woken = () => mine !== null && this.#released
    const checkpoint = options.checkpoint && {
      ...options.checkpoint,
      prepare: async (topic: string, partition: number) => {
        await stallHere('before-stage', partition)
        const metadata = await options.checkpoint!.prepare(topic, partition)
        await stallHere('after-stage', partition)
        return metadata
      },
      assigned: async (topic: string, partition: number, metadata: string | null) => {
        this.trace.push(`assigned ${partition} ${metadata}`)
        return options.checkpoint!.assigned(topic, partition, metadata)
      },
      revoked: (topic: string, partition: number) => {
        this.trace.push(`revoked ${partition}`)
        return options.checkpoint!.revoked(topic, partition)
      },
      committed: async (topic: string, partition: number, metadata: string) => {
        this.trace.push(`committed ${partition} ${metadata}`)
        this.#commits.set(partition, metadata)
        open.delete(partition)
        if (woken() && partition === mine!.partition) mine!.landed.push(`commit ${partition} ${metadata}`)
        return options.checkpoint!.committed(topic, partition, metadata)
      },
    }
    const subscription = await super.subscribe(
      { ...options, ...(checkpoint ? { checkpoint } : {}) },
      async (batch) => {
        if (batch.records.length > 0) {
          this.trace.push(`batch ${batch.partition}@${batch.records[0]!.offset}+${batch.records.length}`)
          await stallHere('before-handler', batch.partition)
        }
        const transaction =
          batch.transaction &&
          this.#recording(batch.transaction, batch.partition, open, () => (woken() ? mine : null))
        await handler(transaction ? { ...batch, transaction } : batch)
        const n = batch.records.length
        this.#total += n
        this.#handled.set(batch.partition, (this.#handled.get(batch.partition) ?? 0) + n)
        if (this.#released) this.handledAfterRelease += n
      },
    )
    subscription.done.then(
      () => ended(),
      (error: unknown) => {
        this.trace.push(`ended ${String(error)}`)
        if (woken()) mine!.refusals.push(error)
        ended()
      },
    )
    return subscription
  }

  #recording(
    inner: PartitionTransaction,
    partition: number,
    open: Map<number, string[]>,
    stall: () => Stall | null,
  ): PartitionTransaction {
    return {
      append: async (topic, records, options) => {
        try {
          const written = await inner.append(topic, records, options)
          const where = written.map((p) => `${p.topic}/${p.partition}@${p.offset}`)
          const list = open.get(partition) ?? []
          list.push(...where)
          open.set(partition, list)
          stall()?.landed.push(...where)
          return written
        } catch (error) {
          stall()?.refusals.push(error)
          throw error
        }
      },
    }
  }
}
