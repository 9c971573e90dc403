/**
 * Checkpointed subscriptions on Kafka (CheckpointOptions in index.ts): per task (a source
 * partition, or partition p of every topic of a co-partitioned group: SubscribeOptions.copartitioned
 * and tasks.ts), the batches the consumer fetches for any of its partitions, the hooks and the
 * commits, serialised on one promise chain. Hooks are called once per task, with its name (the
 * group's first topic and p, or the partition itself).
 *
 * - A task is opened at the first batch of any of its partitions: under exactly-once its
 *   transactional producer is initialised first (which fences the previous owner and settles its
 *   open transaction), then the group's committed offset of each of its partitions is read and
 *   `assigned` is told the metadata committed with the first topic's. Records below a partition's
 *   committed offset are skipped: kafkajs may have fetched it from an older committed offset,
 *   before the previous owner's transaction completed.
 * - The same "next offset" floor, per partition, drops records fetched again after a rebalance that
 *   left the task here (kafkajs then restarts from the committed offset, behind the open
 *   checkpoint).
 * - A checkpoint opens with the first batch handled after a commit and commits `intervalMs` later:
 *   at a batch boundary, or from a timer when the task went idle (queued on the chain, so never
 *   while one of its handlers runs). It commits the offset of every partition of the task that has
 *   one, with the same metadata, in one request: under exactly-once one TxnOffsetCommit in the
 *   task's transaction, under at-least-once one OffsetCommit.
 * - Before the first join, KafkaLog may hint at tasks through `checkpoint.preload` (the partitions of
 *   this node's previous incarnation, decision 0033); each join tells `checkpoint.retainPreloaded`
 *   which tasks it assigned, so state read ahead for the others is dropped.
 * - A task leaves at a rebalance that takes any of its partitions (committed if it can be, else
 *   aborted, then `revoked`), at stop() (committed), when the subscription fails or kafkajs
 *   restarts the consumer (aborted).
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
import type { PartitionOffset, TransactionalProducer } from './kafka-transactions.ts'
import { type TaskName, type Tasks, taskKey } from './tasks.ts'

/** What the checkpointing needs from the log and its consumer. */
export interface CheckpointEnvironment {
  readonly group: string
  readonly delivery: Delivery
  readonly checkpoint: CheckpointOptions
  /** The subscription's tasks: which partitions check in together. */
  readonly tasks: Tasks
  readonly maxBatchRecords: number
  readonly handler: (batch: RecordBatch) => Promise<void>
  readonly onCommitted: SubscribeOptions['onCommitted']
  toLogRecord(topic: string, partition: number, message: KafkaMessage): LogRecord
  /** Exactly-once: connects the producer of the task named `topic`/`partition` and fences earlier owners of its id. */
  openProducer(topic: string, partition: number): Promise<TransactionalProducer>
  /** The group's committed offset of one partition (-1: none) and its metadata (null: none). */
  fetchCommitted(topic: string, partition: number): Promise<{ offset: number; metadata: string | null }>
  /**
   * Exactly-once, after a commit: resolves once the group's offsets (each at least the one in
   * `offsets`) and the outputs the transaction wrote (`written`, see TransactionalProducer.commit)
   * are visible.
   */
  awaitCommitted(
    offsets: readonly PartitionOffset[],
    written: ReadonlyMap<string, ReadonlyMap<number, number>>,
  ): Promise<void>
  /** At-least-once: commits the group's offsets, each with `metadata`, through the consumer, in one request. */
  commitOffsets(offsets: readonly PartitionOffset[], metadata: string): Promise<void>
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

/** How a task's open work ends when it leaves. */
type Closing =
  /** stop(): commit; a failure ends the subscription (done rejects). */
  | 'commit'
  /** Rebalance: commit if possible; a failure (fenced by the new owner) only aborts. */
  | 'commit-if-possible'
  /** The subscription failed or the consumer restarts: abort. */
  | 'abort'

class TaskCheckpoint {
  readonly name: TaskName
  /** The topics whose partition `name.partition` belongs to the task, the first one first. */
  readonly topics: readonly string[]
  /** assigned() was called (and revoked() is owed). */
  opened = false
  /** No more batches; the closing work is queued. */
  closed = false
  /**
   * Per topic of the task, the next offset to handle: records below it were handled already (or
   * committed by another owner); -1 while the partition has no position (never committed, nothing
   * handled), which a commit leaves out.
   */
  readonly next = new Map<string, number>()
  /** Batches were handled since the last commit. */
  dirty = false
  /** When the first batch after the last commit was handed to the handler. */
  openedAt = 0
  /** Exactly-once: a sibling task's commit asked this one to commit now (see #commitSiblings). */
  commitRequested = false
  /** A commit of this task is under way. */
  committing = false
  timer: NodeJS.Timeout | undefined
  /** The next tick (CheckpointOptions.tickIntervalMs), re-armed by every batch and tick. */
  tickTimer: NodeJS.Timeout | undefined
  /** Something was appended through `view` since this was last cleared (a tick's output). */
  appended = false
  producer: TransactionalProducer | undefined
  /** The producer closed: appends through a stale batch.transaction are refused. */
  released = false
  view: PartitionTransaction

  constructor(name: TaskName, topics: readonly string[], env: CheckpointEnvironment) {
    this.name = name
    this.topics = topics
    this.view = {
      append: async (target, records, options = {}) => {
        if (this.released) {
          throw new SluiceError(
            'LOG_CLOSED',
            `the checkpoint of ${name.topic}/${name.partition} ended: its transaction takes no more appends`,
          )
        }
        this.appended = true
        return env.append(this.producer, target, records, options)
      },
    }
  }

  /** The offsets a commit sends: every partition of the task that has a position. */
  positions(): PartitionOffset[] {
    const offsets: PartitionOffset[] = []
    for (const [topic, offset] of this.next) {
      if (offset >= 0) offsets.push({ topic, partition: this.name.partition, offset })
    }
    return offsets
  }
}

export class CheckpointedTasks {
  readonly #env: CheckpointEnvironment
  readonly #intervalMs: number
  readonly #states = new Map<string, TaskCheckpoint>()
  /** Per task, the end of its chain of batches, hooks and commits. */
  readonly #tails = new Map<string, Promise<unknown>>()
  /** The partitions of the last group join (partitionKey); undefined before the first. */
  #assignment: Set<string> | undefined
  #ending = false
  #failed = false

  constructor(env: CheckpointEnvironment) {
    this.#env = env
    this.#intervalMs = env.checkpoint.intervalMs ?? 1000
  }

  /** kafkajs's eachBatch: hands the batch's records to the handler in slices, on its task's chain. */
  async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const stopped = () => this.#ending || this.#failed || !isRunning() || isStale()
    // A batch fetched before a rebalance took the partition away is not handled.
    if (
      stopped() ||
      (this.#assignment !== undefined && !this.#assignment.has(partitionKey(batch.topic, batch.partition)))
    ) {
      return
    }
    const name = this.#env.tasks.of(batch.topic, batch.partition)
    const key = taskKey(name)
    let state = this.#states.get(key)
    if (state === undefined) {
      state = new TaskCheckpoint(name, this.#env.tasks.topicsOf(name.topic), this.#env)
      this.#states.set(key, state)
    }
    const current = state
    const messages = batch.messages
    const max = this.#env.maxBatchRecords
    for (let from = 0; from < messages.length; from += max) {
      if (stopped()) return
      const slice = messages.slice(from, from + max)
      const handled = await this.#run(key, () =>
        this.#handle(current, batch.topic, slice, Number(batch.highWatermark), resolveOffset),
      )
      if (!handled) return
      if (from + max < messages.length) await heartbeat()
    }
  }

  /**
   * A group join gave this member `assignment`: tasks that are no longer wholly in it leave (their
   * open work committed if the new owner has not fenced it yet, else aborted).
   */
  assign(assignment: Readonly<Record<string, readonly number[]>>): void {
    const keys = new Set<string>()
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) keys.add(partitionKey(topic, partition))
    }
    this.#assignment = keys
    // State read ahead for tasks this member did not get after all is dropped (decision 0033).
    this.#env.checkpoint.retainPreloaded?.((topic, partition) =>
      this.#env.tasks.topicsOf(topic).every((member) => keys.has(partitionKey(member, partition))),
    )
    for (const state of this.#states.values()) {
      const kept = state.topics.every((topic) => keys.has(partitionKey(topic, state.name.partition)))
      if (!kept) void this.#close(state, 'commit-if-possible')
    }
  }

  /** No more batches are taken (stop() or a failure). */
  end(): void {
    this.#ending = true
  }

  /** Ends every task's open work (`commit` at stop(), `abort` after a failure or a restart). */
  async closeAll(how: 'commit' | 'abort'): Promise<void> {
    await Promise.all([...this.#states.values()].map((state) => this.#close(state, how)))
    // Also what was queued before: tasks a rebalance took away are still being closed.
    await Promise.all([...this.#tails.values()])
  }

  /** Runs `work` after everything queued for the task; a failure ends the subscription. */
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
    state: TaskCheckpoint,
    topic: string,
    slice: readonly KafkaMessage[],
    endOffset: number,
    resolveOffset: (offset: string) => void,
  ): Promise<boolean> {
    if (state.closed || this.#failed || this.#ending) return false
    if (!state.opened) await this.#open(state)
    const { partition } = state.name
    const last = slice[slice.length - 1]!.offset
    const floor = state.next.get(topic) ?? -1
    const fresh = slice.filter((m) => Number(m.offset) >= floor)
    if (fresh.length > 0) {
      const records = fresh.map((m) => this.#env.toLogRecord(topic, partition, m))
      if (!state.dirty) state.openedAt = Date.now()
      await this.#env.handler({
        topic,
        partition,
        records,
        endOffset,
        transaction: state.view,
        task: state.name,
      })
      state.next.set(topic, Number(last) + 1)
      state.dirty = true
      this.#scheduleTick(state)
    }
    // kafkajs fetches from the resolved offset on; what was below the floor is passed over too.
    resolveOffset(last)
    if (!state.dirty || this.#failed || state.closed) return true
    if (this.#due(state)) await this.#commit(state)
    else this.#schedule(state)
    return true
  }

  async #open(state: TaskCheckpoint): Promise<void> {
    const { topic, partition } = state.name
    // Fence first: the committed offsets read after it include whatever the previous owner's
    // transaction committed, and nothing it does later can land.
    if (this.#env.delivery === 'exactly-once') state.producer = await this.#env.openProducer(topic, partition)
    // The task's partitions always commit together: the first topic's metadata is the task's.
    let metadata: string | null = null
    for (const member of state.topics) {
      const committed = await this.#env.fetchCommitted(member, partition)
      state.next.set(member, committed.offset)
      if (member === topic) metadata = committed.metadata
    }
    state.opened = true
    await this.#env.checkpoint.assigned(topic, partition, metadata)
  }

  #due(state: TaskCheckpoint): boolean {
    return state.commitRequested || Date.now() - state.openedAt >= this.#intervalMs
  }

  /** A timer for a task that may go idle with handled batches: it commits them when due. */
  #schedule(state: TaskCheckpoint): void {
    if (state.timer !== undefined) return
    const wait = state.commitRequested ? 0 : Math.max(0, state.openedAt + this.#intervalMs - Date.now())
    state.timer = setTimeout(() => {
      state.timer = undefined
      void this.#run(taskKey(state.name), async () => {
        if (state.closed || !state.dirty || this.#failed || this.#ending) return true
        if (this.#due(state)) await this.#commit(state)
        else this.#schedule(state)
        return true
      })
    }, wait)
  }

  /**
   * Re-arms the task's tick: `tickIntervalMs` after its last batch or tick, a batch of no records
   * (RecordBatch.tick) on the task's chain; what it appends makes the task dirty, so it commits
   * with the next checkpoint like a batch's output.
   */
  #scheduleTick(state: TaskCheckpoint): void {
    const interval = this.#env.checkpoint.tickIntervalMs
    if (interval === undefined || state.closed) return
    clearTimeout(state.tickTimer)
    state.tickTimer = setTimeout(() => {
      state.tickTimer = undefined
      void this.#run(taskKey(state.name), async () => {
        if (state.closed || !state.opened || this.#failed || this.#ending) return true
        state.appended = false
        await this.#env.handler({
          ...state.name,
          records: [],
          endOffset: -1,
          transaction: state.view,
          task: state.name,
          tick: true,
        })
        if (state.appended) {
          if (!state.dirty) state.openedAt = Date.now()
          state.dirty = true
        }
        if (state.dirty && this.#due(state)) await this.#commit(state)
        else if (state.dirty) this.#schedule(state)
        this.#scheduleTick(state)
        return true
      })
    }, interval)
  }

  async #commit(state: TaskCheckpoint, how: { closing?: boolean } = {}): Promise<void> {
    clearTimeout(state.timer)
    state.timer = undefined
    const { topic, partition } = state.name
    const metadata = await this.#env.checkpoint.prepare(topic, partition)
    const offsets = state.positions()
    const started = performance.now()
    state.commitRequested = false
    state.committing = true
    try {
      if (state.producer) {
        // Not when the task leaves (rebalance, stop): the others go on with their own intervals.
        if (how.closing !== true && !this.#ending) this.#commitSiblings(state)
        const written = await state.producer.commit(this.#env.group, offsets, metadata)
        // `committed` tells the state owner the epoch is durable: also readable, so that anyone who
        // looks (the next owner, a reader of the outputs) sees what the epoch did.
        await this.#env.awaitCommitted(offsets, written)
      } else {
        await this.#env.commitOffsets(offsets, metadata)
      }
    } finally {
      state.committing = false
    }
    state.dirty = false
    const seconds = (performance.now() - started) / 1000
    for (const committed of offsets) this.#env.onCommitted?.({ ...committed, seconds })
    await this.#env.checkpoint.committed(topic, partition, metadata)
  }

  /**
   * Exactly-once: asks every other task with an open transaction to commit now too, each on its
   * own chain (after the batch it is handling). Why: the tasks' transactions write to the same
   * output partitions, and awaitCommitted waits (up to a second) until the last stable offset of
   * each passed this commit's last batch, which every sibling transaction opened before it holds
   * back until that sibling commits. With each task committing on its own interval the tasks
   * drifted apart and every commit stalled its task (and kafkajs's next fetch, which waits for
   * every partition's batch) for the rest of its siblings' intervals: issue 15 measured 200-470 ms
   * per one-second epoch. Committing together, the wait ends with the siblings' commits, a few
   * milliseconds later. A task commits earlier than its interval, never later; each transaction
   * stays its own (outputs, offsets and state of one task, atomic), and a task that is committing
   * or already asked is left alone, so the asking does not echo back.
   */
  #commitSiblings(committing: TaskCheckpoint): void {
    for (const other of this.#states.values()) {
      if (other === committing || other.producer === undefined || !other.opened || other.closed) continue
      if (!other.dirty || other.committing || other.commitRequested) continue
      other.commitRequested = true
      clearTimeout(other.timer)
      other.timer = undefined
      this.#schedule(other)
    }
  }

  /** Takes the task out now and queues the end of its open work, then `revoked`. */
  #close(state: TaskCheckpoint, how: Closing): Promise<boolean> {
    const key = taskKey(state.name)
    if (this.#states.get(key) === state) this.#states.delete(key)
    if (state.closed) return Promise.resolve(true)
    state.closed = true
    clearTimeout(state.timer)
    state.timer = undefined
    clearTimeout(state.tickTimer)
    state.tickTimer = undefined
    return this.#run(key, async () => {
      let failure: unknown
      if (how !== 'abort' && state.opened && state.dirty && !this.#failed) {
        try {
          await this.#commit(state, { closing: true })
        } catch (error) {
          // Under exactly-once the open transaction is aborted below (or already was, by the
          // owner that fenced it); under at-least-once the records are handled again.
          failure = error
        }
      }
      state.released = true
      await state.producer?.close()
      if (state.opened) this.#env.checkpoint.revoked(state.name.topic, state.name.partition)
      if (failure !== undefined && how === 'commit') throw failure
      return true
    })
  }
}

function partitionKey(topic: string, partition: number): string {
  return taskKey({ topic, partition })
}
