/**
 * Checkpointed subscriptions on Kafka (CheckpointOptions in index.ts): per source partition, the
 * batches the consumer fetches, the hooks and the commits, serialised on one promise chain.
 *
 * - A partition is opened at its first batch: under exactly-once its transactional producer is
 *   initialised first (which fences the previous owner and settles its open transaction), then the
 *   group's committed offset and metadata are read and `assigned` is told. Records below that
 *   committed offset are skipped: kafkajs may have fetched the partition from an older committed
 *   offset, before the previous owner's transaction completed.
 * - The same "next offset" floor drops records fetched again after a rebalance that left the
 *   partition here (kafkajs then restarts from the committed offset, behind the open checkpoint).
 * - A checkpoint opens with the first batch handled after a commit and commits `intervalMs` later:
 *   at a batch boundary, or from a timer when the partition went idle (queued on the chain, so
 *   never while its handler runs).
 * - A partition leaves at a rebalance (committed if it can be, else aborted, then `revoked`), at
 *   stop() (committed), when the subscription fails or kafkajs restarts the consumer (aborted).
 */
import type { EachBatchPayload, KafkaMessage } from 'kafkajs'
import { SluiceError } from '../errors.ts'
import type {
  AppendOptions,
  CheckpointOptions,
  Delivery,
  LogRecord,
  OutgoingRecord,
  PartitionTransaction,
  RecordBatch,
  RecordPosition,
  SubscribeOptions,
} from './index.ts'
import type { TransactionalProducer } from './kafka-transactions.ts'

/** What the checkpointing needs from the log and its consumer. */
export interface CheckpointEnvironment {
  readonly group: string
  readonly delivery: Delivery
  readonly checkpoint: CheckpointOptions
  readonly maxBatchRecords: number
  readonly handler: (batch: RecordBatch) => Promise<void>
  readonly onCommitted: SubscribeOptions['onCommitted']
  toLogRecord(topic: string, partition: number, message: KafkaMessage): LogRecord
  /** Exactly-once: connects the partition's producer and fences earlier owners of its id. */
  openProducer(topic: string, partition: number): Promise<TransactionalProducer>
  /** The group's committed offset (-1: none) and its metadata (null: none). */
  fetchCommitted(topic: string, partition: number): Promise<{ offset: number; metadata: string | null }>
  /**
   * Exactly-once, after a commit: resolves once the group's offset (at least `offset`) and the
   * outputs the transaction wrote (`written`, see TransactionalProducer.commit) are visible.
   */
  awaitCommitted(
    topic: string,
    partition: number,
    offset: number,
    written: ReadonlyMap<string, ReadonlyMap<number, number>>,
  ): Promise<void>
  /** At-least-once: commits the group's offset with its metadata through the consumer. */
  commitOffset(topic: string, partition: number, offset: number, metadata: string): Promise<void>
  /** A plain append (no producer) or one in `producer`'s open transaction. */
  append(
    producer: TransactionalProducer | undefined,
    topic: string,
    records: readonly OutgoingRecord[],
    options: AppendOptions,
  ): Promise<RecordPosition[]>
  /** Ends the subscription with `error`. */
  fail(error: unknown): void
}

/** How a partition's open work ends when it leaves. */
type Closing =
  /** stop(): commit; a failure ends the subscription (done rejects). */
  | 'commit'
  /** Rebalance: commit if possible; a failure (fenced by the new owner) only aborts. */
  | 'commit-if-possible'
  /** The subscription failed or the consumer restarts: abort. */
  | 'abort'

class PartitionCheckpoint {
  readonly topic: string
  readonly partition: number
  /** assigned() was called (and revoked() is owed). */
  opened = false
  /** No more batches; the closing work is queued. */
  closed = false
  /** Next offset to handle; records below it were handled already (or committed by another owner). */
  next = -1
  /** Batches were handled since the last commit. */
  dirty = false
  /** When the first batch after the last commit was handed to the handler. */
  openedAt = 0
  timer: NodeJS.Timeout | undefined
  producer: TransactionalProducer | undefined
  /** The producer closed: appends through a stale batch.transaction are refused. */
  released = false
  view: PartitionTransaction

  constructor(topic: string, partition: number, env: CheckpointEnvironment) {
    this.topic = topic
    this.partition = partition
    this.view = {
      append: async (target, records, options = {}) => {
        if (this.released) {
          throw new SluiceError(
            'LOG_CLOSED',
            `the checkpoint of ${topic}/${partition} ended: its transaction takes no more appends`,
          )
        }
        return env.append(this.producer, target, records, options)
      },
    }
  }
}

export class CheckpointedPartitions {
  readonly #env: CheckpointEnvironment
  readonly #intervalMs: number
  readonly #states = new Map<string, PartitionCheckpoint>()
  /** Per partition, the end of its chain of batches, hooks and commits. */
  readonly #tails = new Map<string, Promise<unknown>>()
  /** The partitions of the last group join; undefined before the first. */
  #assignment: Set<string> | undefined
  #ending = false
  #failed = false

  constructor(env: CheckpointEnvironment) {
    this.#env = env
    this.#intervalMs = env.checkpoint.intervalMs ?? 1000
  }

  /** kafkajs's eachBatch: hands the batch's records to the handler in slices, on the partition's chain. */
  async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const key = partitionKey(batch.topic, batch.partition)
    const stopped = () => this.#ending || this.#failed || !isRunning() || isStale()
    // A batch fetched before a rebalance took the partition away is not handled.
    if (stopped() || (this.#assignment !== undefined && !this.#assignment.has(key))) return
    let state = this.#states.get(key)
    if (state === undefined) {
      state = new PartitionCheckpoint(batch.topic, batch.partition, this.#env)
      this.#states.set(key, state)
    }
    const current = state
    const messages = batch.messages
    const max = this.#env.maxBatchRecords
    for (let from = 0; from < messages.length; from += max) {
      if (stopped()) return
      const slice = messages.slice(from, from + max)
      const handled = await this.#run(key, () =>
        this.#handle(current, slice, Number(batch.highWatermark), resolveOffset),
      )
      if (!handled) return
      if (from + max < messages.length) await heartbeat()
    }
  }

  /**
   * A group join gave this member `assignment`: partitions that are no longer in it leave (their
   * open work committed if the new owner has not fenced it yet, else aborted).
   */
  assign(assignment: Readonly<Record<string, readonly number[]>>): void {
    const keys = new Set<string>()
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) keys.add(partitionKey(topic, partition))
    }
    this.#assignment = keys
    for (const [key, state] of this.#states) {
      if (!keys.has(key)) void this.#close(state, 'commit-if-possible')
    }
  }

  /** No more batches are taken (stop() or a failure). */
  end(): void {
    this.#ending = true
  }

  /** Ends every partition's open work (`commit` at stop(), `abort` after a failure or a restart). */
  async closeAll(how: 'commit' | 'abort'): Promise<void> {
    await Promise.all([...this.#states.values()].map((state) => this.#close(state, how)))
    // Also what was queued before: partitions a rebalance took away are still being closed.
    await Promise.all([...this.#tails.values()])
  }

  /** Runs `work` after everything queued for the partition; a failure ends the subscription. */
  #run(key: string, work: () => Promise<boolean>): Promise<boolean> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    const result = previous.then(work).catch((error: unknown) => {
      this.#failed = true
      this.#env.fail(error)
      return false
    })
    this.#tails.set(key, result)
    return result
  }

  async #handle(
    state: PartitionCheckpoint,
    slice: readonly KafkaMessage[],
    endOffset: number,
    resolveOffset: (offset: string) => void,
  ): Promise<boolean> {
    if (state.closed || this.#failed || this.#ending) return false
    if (!state.opened) await this.#open(state)
    const { topic, partition } = state
    const last = slice[slice.length - 1]!.offset
    const fresh = slice.filter((m) => Number(m.offset) >= state.next)
    if (fresh.length > 0) {
      const records = fresh.map((m) => this.#env.toLogRecord(topic, partition, m))
      if (!state.dirty) state.openedAt = Date.now()
      await this.#env.handler({ topic, partition, records, endOffset, transaction: state.view })
      state.next = Number(last) + 1
      state.dirty = true
    }
    // kafkajs fetches from the resolved offset on; what was below the floor is passed over too.
    resolveOffset(last)
    if (!state.dirty || this.#failed || state.closed) return true
    if (this.#due(state)) await this.#commit(state)
    else this.#schedule(state)
    return true
  }

  async #open(state: PartitionCheckpoint): Promise<void> {
    const { topic, partition } = state
    // Fence first: the committed offset read after it includes whatever the previous owner's
    // transaction committed, and nothing it does later can land.
    if (this.#env.delivery === 'exactly-once') state.producer = await this.#env.openProducer(topic, partition)
    const committed = await this.#env.fetchCommitted(topic, partition)
    state.next = committed.offset
    state.opened = true
    await this.#env.checkpoint.assigned(topic, partition, committed.metadata)
  }

  #due(state: PartitionCheckpoint): boolean {
    return Date.now() - state.openedAt >= this.#intervalMs
  }

  /** A timer for a partition that may go idle with handled batches: it commits them when due. */
  #schedule(state: PartitionCheckpoint): void {
    if (state.timer !== undefined) return
    const wait = Math.max(0, state.openedAt + this.#intervalMs - Date.now())
    state.timer = setTimeout(() => {
      state.timer = undefined
      void this.#run(partitionKey(state.topic, state.partition), async () => {
        if (state.closed || !state.dirty || this.#failed || this.#ending) return true
        if (this.#due(state)) await this.#commit(state)
        else this.#schedule(state)
        return true
      })
    }, wait)
  }

  async #commit(state: PartitionCheckpoint): Promise<void> {
    clearTimeout(state.timer)
    state.timer = undefined
    const { topic, partition } = state
    const metadata = await this.#env.checkpoint.prepare(topic, partition)
    const started = performance.now()
    if (state.producer) {
      const written = await state.producer.commit(this.#env.group, topic, partition, state.next, metadata)
      // `committed` tells the state owner the epoch is durable: also readable, so that anyone who
      // looks (the next owner, a reader of the outputs) sees what the epoch did.
      await this.#env.awaitCommitted(topic, partition, state.next, written)
    } else {
      await this.#env.commitOffset(topic, partition, state.next, metadata)
    }
    state.dirty = false
    this.#env.onCommitted?.({
      topic,
      partition,
      offset: state.next,
      seconds: (performance.now() - started) / 1000,
    })
    await this.#env.checkpoint.committed(topic, partition, metadata)
  }

  /** Takes the partition out now and queues the end of its open work, then `revoked`. */
  #close(state: PartitionCheckpoint, how: Closing): Promise<boolean> {
    const key = partitionKey(state.topic, state.partition)
    if (this.#states.get(key) === state) this.#states.delete(key)
    if (state.closed) return Promise.resolve(true)
    state.closed = true
    clearTimeout(state.timer)
    state.timer = undefined
    return this.#run(key, async () => {
      let failure: unknown
      if (how !== 'abort' && state.opened && state.dirty && !this.#failed) {
        try {
          await this.#commit(state)
        } catch (error) {
          // Under exactly-once the open transaction is aborted below (or already was, by the
          // owner that fenced it); under at-least-once the records are handled again.
          failure = error
        }
      }
      state.released = true
      await state.producer?.close()
      if (state.opened) this.#env.checkpoint.revoked(state.topic, state.partition)
      if (failure !== undefined && how === 'commit') throw failure
      return true
    })
  }
}

function partitionKey(topic: string, partition: number): string {
  return `${partition}\u0000${topic}`
}
