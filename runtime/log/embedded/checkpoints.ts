import { SluiceError } from '../../errors.ts'
import type {
  AppendOptions,
  CheckpointOptions,
  Delivery,
  OutgoingRecord,
  PartitionTransaction,
  RecordPosition,
  SubscribeOptions,
} from '../index.ts'
import type { TaskName, Tasks } from '../tasks.ts'
import { taskKey } from '../tasks.ts'
import { encodeGroupName, type PartitionOffset } from './group-offsets.ts'
import type { PartitionLog } from './segment.ts'
import type { SourcePartition, TransactionalProducer } from './transactions.ts'

/**
 * The checkpoint side of one embedded subscription (index.ts CheckpointOptions): per task (a
 * source partition, or partition p of every topic of a co-partitioned group: tasks.ts), `assigned`
 * before its first batch, a checkpoint (prepare, commit of the offset with
 * the metadata, and under exactly-once of the partition's transaction, then committed) when
 * `intervalMs` has passed since the last one (at a batch boundary, or when the partition went
 * idle: the subscription's loop sleeps no longer than nextDue()), and on stop(); `revoked` last.
 * The subscription's single loop calls all of it, so a partition's hooks and handler never run
 * at the same time.
 */

/** What a checkpointed subscription needs from the log. */
export interface CheckpointLog {
  append(
    topic: string,
    records: readonly OutgoingRecord[],
    options?: AppendOptions,
  ): Promise<RecordPosition[]>
  appendTransactional(
    topic: string,
    records: readonly OutgoingRecord[],
    options: AppendOptions | undefined,
    producer: TransactionalProducer,
  ): Promise<RecordPosition[]>
  /** Commits the offsets of several partitions (a task's) with one metadata, in one write. */
  commitOffsets(group: string, offsets: readonly PartitionOffset[], metadata: string): Promise<void>
  claim(
    transactionalId: string,
    sources: readonly SourcePartition[],
    onFenced: () => void,
  ): Promise<TransactionalProducer>
  committedMetadata(group: string, topic: string, partition: number): Promise<string | null>
}

/** A source partition as the subscription loop sees it. */
export interface CheckpointedPartition {
  readonly topic: string
  readonly partition: number
  readonly log: PartitionLog
  /** Next offset to deliver. */
  position: number
}

interface TaskState {
  readonly name: TaskName
  /** The task's partitions in this subscription, the group's first topic first. */
  readonly members: readonly CheckpointedPartition[]
  assigned: boolean
  /** Per member, the offset committed last (what a restart resumes from). */
  readonly committed: Map<CheckpointedPartition, number>
  /** When the last checkpoint (or the assignment) was, performance.now(). */
  since: number
  producer: TransactionalProducer | null
  transaction: PartitionTransaction | null
  /**
   * A checkpoint still completing while batches go on (CheckpointOptions.capturesOnPrepare,
   * at-least-once only), and what it failed with: the loop throws that at the task's next step.
   */
  pending: Promise<void> | null
  failure: { error: unknown } | null
  /** When a batch or a tick of the task was last handed out, performance.now(). */
  lastDelivery: number
}

/** The longest partition number a topic can have (embedded.ts allows 10 000 partitions). */
const MAX_PARTITION_DIGITS = '9999'

/** Kafka's default offset.metadata.max.bytes; the contract promises no more. */
const MAX_METADATA_BYTES = 4096

export class Checkpoints {
  /** Every task of the subscription, by the partitions in it. */
  private readonly taskOf = new Map<CheckpointedPartition, TaskState>()
  private readonly tasks: readonly TaskState[]
  readonly intervalMs: number
  /** CheckpointOptions.tickIntervalMs; null: no ticks. */
  private readonly tickIntervalMs: number | null

  constructor(
    private readonly log: CheckpointLog,
    private readonly group: string,
    private readonly hooks: CheckpointOptions,
    private readonly delivery: Delivery,
    private readonly onCommitted: SubscribeOptions['onCommitted'],
    /** Wakes the subscription's loop (a fenced producer ends it without waiting for a batch). */
    private readonly wake: () => void,
    /** The subscription's partitions, grouped into tasks by `tasks`. */
    partitions: readonly CheckpointedPartition[],
    tasks: Tasks,
  ) {
    this.intervalMs = hooks.intervalMs ?? 1000
    this.tickIntervalMs = hooks.tickIntervalMs ?? null
    const byKey = new Map<string, TaskState>()
    for (const p of partitions) {
      const name = tasks.of(p.topic, p.partition)
      const key = taskKey(name)
      let state = byKey.get(key)
      if (state === undefined) {
        state = {
          name,
          members: [],
          assigned: false,
          committed: new Map(),
          since: 0,
          producer: null,
          transaction: null,
          pending: null,
          failure: null,
          lastDelivery: 0,
        }
        byKey.set(key, state)
      }
      ;(state.members as CheckpointedPartition[]).push(p)
      this.taskOf.set(p, state)
    }
    for (const state of byKey.values()) {
      const order = tasks.topicsOf(state.name.topic)
      ;(state.members as CheckpointedPartition[]).sort(
        (x, y) => order.indexOf(x.topic) - order.indexOf(y.topic),
      )
    }
    this.tasks = [...byKey.values()]
  }

  /** Validates subscribe options about checkpoints and delivery (LOG_INVALID_ARGUMENT). */
  static validate(options: SubscribeOptions): void {
    const { delivery = 'at-least-once', checkpoint } = options
    if (delivery !== 'at-least-once' && delivery !== 'exactly-once')
      throw new SluiceError('LOG_INVALID_ARGUMENT', `unknown delivery ${JSON.stringify(delivery)}`)
    if (checkpoint !== undefined) {
      const interval = checkpoint.intervalMs ?? 1000
      if (!Number.isFinite(interval) || interval < 0)
        throw new SluiceError('LOG_INVALID_ARGUMENT', `checkpoint intervalMs must be ≥ 0, got ${interval}`)
      const tick = checkpoint.tickIntervalMs
      if (tick !== undefined && !(Number.isFinite(tick) && tick > 0))
        throw new SluiceError('LOG_INVALID_ARGUMENT', `checkpoint tickIntervalMs must be > 0, got ${tick}`)
    }
    if (delivery !== 'exactly-once') return
    if (checkpoint === undefined)
      throw new SluiceError(
        'LOG_INVALID_ARGUMENT',
        'exactly-once delivery needs a checkpoint (with a transactionalId)',
      )
    if (typeof checkpoint.transactionalId !== 'string' || checkpoint.transactionalId.length === 0)
      throw new SluiceError('LOG_INVALID_ARGUMENT', 'exactly-once delivery needs checkpoint.transactionalId')
    // Each partition's id names a file (transactions.ts): refuse now what would fail at the first batch.
    for (const topic of options.topics) {
      try {
        encodeGroupName(`${checkpoint.transactionalId}.${topic}.${MAX_PARTITION_DIGITS}`)
      } catch {
        throw new SluiceError(
          'LOG_INVALID_ARGUMENT',
          `checkpoint.transactionalId ${JSON.stringify(checkpoint.transactionalId.slice(0, 40))}… is too long for the embedded log (with the topic ${topic} and a partition it must encode to at most 200 file-name characters)`,
        )
      }
    }
  }

  /** The task `p` belongs to (RecordBatch.task). */
  task(p: CheckpointedPartition): TaskName {
    return this.state(p).name
  }

  private state(p: CheckpointedPartition): TaskState {
    const state = this.taskOf.get(p)
    if (state === undefined)
      throw new Error(`${p.topic}/${p.partition} is not a partition of this subscription`)
    return state
  }

  /**
   * Before a batch of `p`: the assignment of its task (claim, `assigned`) the first time; the
   * task's transaction.
   */
  async beforeBatch(p: CheckpointedPartition): Promise<PartitionTransaction> {
    const state = this.state(p)
    this.checkFenced(state)
    this.checkFailure(state)
    if (!state.assigned) {
      state.assigned = true
      for (const member of state.members) state.committed.set(member, member.position)
      const { topic, partition } = state.name
      const transactionalId = this.hooks.transactionalId
      if (this.delivery === 'exactly-once' && transactionalId !== undefined) {
        const producer = await this.log.claim(
          `${transactionalId}.${topic}.${partition}`,
          state.members.map((m) => ({ group: this.group, topic: m.topic, partition: m.partition })),
          this.wake,
        )
        state.producer = producer
        state.transaction = {
          append: (target, records, options) =>
            producer.append(() => this.log.appendTransactional(target, records, options, producer)),
        }
      } else {
        state.transaction = {
          append: (target, records, options) => this.log.append(target, records, options),
        }
      }
      const metadata = await this.log.committedMetadata(this.group, topic, partition)
      await this.hooks.assigned(topic, partition, metadata)
      state.since = performance.now()
    }
    return state.transaction!
  }

  /** After a batch (or a tick) of `p` was handled and its position moved: a checkpoint when one is due. */
  async afterBatch(p: CheckpointedPartition): Promise<void> {
    const state = this.state(p)
    state.lastDelivery = performance.now()
    this.checkFenced(state)
    this.checkFailure(state)
    if (state.pending === null && performance.now() - state.since >= this.intervalMs) await this.due(state)
  }

  /** `p` has nothing to deliver: a checkpoint of its task when one is due and there is something to commit. */
  async whenIdle(p: CheckpointedPartition): Promise<void> {
    const state = this.state(p)
    if (!state.assigned) return
    this.checkFenced(state)
    this.checkFailure(state)
    if (state.pending === null && this.dirty(state) && performance.now() - state.since >= this.intervalMs)
      await this.due(state)
  }

  /**
   * Whether `p`, which has nothing to deliver, should hand out a tick for its task now: ticks are
   * asked for, the task had a batch once, and neither a batch nor a tick came for the interval.
   * Only the task's first partition ticks, so a task gets one tick per interval.
   */
  tickDue(p: CheckpointedPartition): boolean {
    const state = this.state(p)
    // A task restored with committed offsets ticks too, so windows it reopened can close.
    return (
      this.tickIntervalMs !== null &&
      (state.assigned || state.members.some((m) => m.position > 0)) &&
      state.members[0] === p &&
      performance.now() - state.lastDelivery >= this.tickIntervalMs
    )
  }

  /** Milliseconds until the first task with uncommitted work or a tick is due (null: none). */
  nextDue(): number | null {
    let due: number | null = null
    const now = performance.now()
    for (const state of this.tasks) {
      if (!state.assigned && !state.members.some((m) => m.position > 0)) continue
      if (state.assigned && state.pending === null && this.dirty(state)) {
        const wait = Math.max(0, state.since + this.intervalMs - now)
        if (due === null || wait < due) due = wait
      }
      if (this.tickIntervalMs !== null) {
        const wait = Math.max(0, state.lastDelivery + this.tickIntervalMs - now)
        if (due === null || wait < due) due = wait
      }
    }
    return due
  }

  /** Throws LOG_FENCED when another subscriber took one of this subscription's transactional ids. */
  checkAllFenced(): void {
    for (const state of this.tasks) this.checkFenced(state)
  }

  /** Clean stop: every task's open work is committed, then each is revoked. */
  async stop(): Promise<void> {
    for (const state of this.tasks) {
      if (!state.assigned) continue
      await state.pending
      this.checkFenced(state)
      this.checkFailure(state)
      if (this.dirty(state)) await this.checkpoint(state)
    }
    await this.revokeAll()
  }

  /** The subscription failed: every task's open transaction is aborted, then each is revoked. */
  async fail(): Promise<void> {
    // A checkpoint completing in the background finishes (or fails) before anything is revoked.
    await Promise.allSettled(this.tasks.map((state) => state.pending))
    for (const state of this.tasks) {
      if (state.producer === null) continue
      // A fenced producer's work was aborted by whoever fenced it; an abort that fails here leaves
      // the transaction open, which the next claim of the id or the next open aborts.
      await state.producer.close().catch(() => {})
    }
    await this.revokeAll()
  }

  private async revokeAll(): Promise<void> {
    for (const state of this.tasks) {
      if (!state.assigned) continue
      state.assigned = false
      await state.producer?.close()
      state.producer = null
      this.hooks.revoked(state.name.topic, state.name.partition)
    }
  }

  private dirty(state: TaskState): boolean {
    return (
      state.members.some((m) => m.position !== state.committed.get(m)) ||
      (state.producer?.hasOpenWork ?? false)
    )
  }

  /**
   * A due checkpoint: awaited, or, when the hooks capture their state when `prepare` is called
   * and no transaction is open (at-least-once), completed in the background while the next
   * batches run: their positions are past the offsets it commits, and the next checkpoint of the
   * task waits for it. What the loop pauses for is then `prepare`'s synchronous part (taking the
   * state's changes), not the writes and syncs of the state and the offsets.
   */
  private async due(state: TaskState): Promise<void> {
    if (!this.hooks.capturesOnPrepare || state.producer !== null) return this.checkpoint(state)
    state.since = performance.now()
    const run = this.checkpoint(state)
      .catch((error: unknown) => {
        state.failure = { error }
        this.wake()
      })
      .finally(() => {
        state.pending = null
        // nextDue() skips a task while its checkpoint is pending, so a loop that went to sleep
        // meanwhile (caught up) would otherwise wait for the idle safety net (idleWakeMs) before
        // committing what the batches after this checkpoint's start moved (issue 13).
        this.wake()
      })
    state.pending = run
  }

  private checkFailure(state: TaskState): void {
    if (state.failure !== null) throw state.failure.error
  }

  private async checkpoint(state: TaskState): Promise<void> {
    const { topic, partition } = state.name
    // The positions as of the call: with capturesOnPrepare, batches may move them while it runs.
    const offsets = state.members.map((m) => m.position)
    const metadata = await this.hooks.prepare(topic, partition)
    if (typeof metadata !== 'string' || Buffer.byteLength(metadata) > MAX_METADATA_BYTES) {
      throw new SluiceError(
        'LOG_INVALID_ARGUMENT',
        `checkpoint metadata of ${topic}/${partition} must be a string of at most ${MAX_METADATA_BYTES} bytes`,
      )
    }
    const started = performance.now()
    if (state.producer !== null) await state.producer.commit(offsets, metadata)
    else {
      await this.log.commitOffsets(
        this.group,
        state.members.map((m, i) => ({ topic: m.topic, partition: m.partition, offset: offsets[i]! })),
        metadata,
      )
    }
    const seconds = (performance.now() - started) / 1000
    state.since = performance.now()
    for (const [i, m] of state.members.entries()) {
      state.committed.set(m, offsets[i]!)
      this.onCommitted?.({ topic: m.topic, partition: m.partition, offset: offsets[i]!, seconds })
    }
    await this.hooks.committed(topic, partition, metadata)
  }

  private checkFenced(state: TaskState): void {
    if (state.producer?.fenced) {
      throw new SluiceError(
        'LOG_FENCED',
        `transactional id ${state.producer.transactionalId} was taken over by another subscriber`,
      )
    }
  }
}
