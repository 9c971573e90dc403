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
import { encodeGroupName } from './group-offsets.ts'
import type { PartitionLog } from './segment.ts'
import type { TransactionalProducer } from './transactions.ts'

/**
 * The checkpoint side of one embedded subscription (index.ts CheckpointOptions): per source
 * partition, `assigned` before its first batch, a checkpoint (prepare, commit of the offset with
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
  commitOffset(
    group: string,
    topic: string,
    partition: number,
    offset: number,
    metadata: string,
  ): Promise<void>
  claim(
    transactionalId: string,
    source: { group: string; topic: string; partition: number },
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

interface PartitionState {
  assigned: boolean
  /** The offset committed last (what a restart resumes from). */
  committed: number
  /** When the last checkpoint (or the assignment) was, performance.now(). */
  since: number
  producer: TransactionalProducer | null
  transaction: PartitionTransaction | null
}

/** The longest partition number a topic can have (embedded.ts allows 10 000 partitions). */
const MAX_PARTITION_DIGITS = '9999'

/** Kafka's default offset.metadata.max.bytes; the contract promises no more. */
const MAX_METADATA_BYTES = 4096

export class Checkpoints {
  private readonly states = new Map<CheckpointedPartition, PartitionState>()
  readonly intervalMs: number

  constructor(
    private readonly log: CheckpointLog,
    private readonly group: string,
    private readonly hooks: CheckpointOptions,
    private readonly delivery: Delivery,
    private readonly onCommitted: SubscribeOptions['onCommitted'],
    /** Wakes the subscription's loop (a fenced producer ends it without waiting for a batch). */
    private readonly wake: () => void,
  ) {
    this.intervalMs = hooks.intervalMs ?? 1000
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

  private state(p: CheckpointedPartition): PartitionState {
    let state = this.states.get(p)
    if (state === undefined) {
      state = { assigned: false, committed: p.position, since: 0, producer: null, transaction: null }
      this.states.set(p, state)
    }
    return state
  }

  /** Before a batch of `p`: the assignment (claim, `assigned`) the first time; the batch's transaction. */
  async beforeBatch(p: CheckpointedPartition): Promise<PartitionTransaction> {
    const state = this.state(p)
    this.checkFenced(state)
    if (!state.assigned) {
      state.assigned = true
      state.committed = p.position
      const transactionalId = this.hooks.transactionalId
      if (this.delivery === 'exactly-once' && transactionalId !== undefined) {
        const producer = await this.log.claim(
          `${transactionalId}.${p.topic}.${p.partition}`,
          { group: this.group, topic: p.topic, partition: p.partition },
          this.wake,
        )
        state.producer = producer
        state.transaction = {
          append: (topic, records, options) =>
            producer.append(() => this.log.appendTransactional(topic, records, options, producer)),
        }
      } else {
        state.transaction = { append: (topic, records, options) => this.log.append(topic, records, options) }
      }
      const metadata = await this.log.committedMetadata(this.group, p.topic, p.partition)
      await this.hooks.assigned(p.topic, p.partition, metadata)
      state.since = performance.now()
    }
    return state.transaction!
  }

  /** After a batch of `p` was handled and its position moved: a checkpoint when one is due. */
  async afterBatch(p: CheckpointedPartition): Promise<void> {
    const state = this.state(p)
    this.checkFenced(state)
    if (performance.now() - state.since >= this.intervalMs) await this.checkpoint(p, state)
  }

  /** `p` has nothing to deliver: a checkpoint when one is due and there is something to commit. */
  async whenIdle(p: CheckpointedPartition): Promise<void> {
    const state = this.states.get(p)
    if (state === undefined || !state.assigned) return
    this.checkFenced(state)
    if (this.dirty(p, state) && performance.now() - state.since >= this.intervalMs)
      await this.checkpoint(p, state)
  }

  /** Milliseconds until the first partition with uncommitted work is due (null: none). */
  nextDue(): number | null {
    let due: number | null = null
    const now = performance.now()
    for (const [p, state] of this.states) {
      if (!state.assigned || !this.dirty(p, state)) continue
      const wait = Math.max(0, state.since + this.intervalMs - now)
      if (due === null || wait < due) due = wait
    }
    return due
  }

  /** Throws LOG_FENCED when another subscriber took one of this subscription's transactional ids. */
  checkAllFenced(): void {
    for (const state of this.states.values()) this.checkFenced(state)
  }

  /** Clean stop: every partition's open work is committed, then each is revoked. */
  async stop(): Promise<void> {
    for (const [p, state] of this.states) {
      if (!state.assigned) continue
      this.checkFenced(state)
      if (this.dirty(p, state)) await this.checkpoint(p, state)
    }
    await this.revokeAll()
  }

  /** The subscription failed: every partition's open transaction is aborted, then each is revoked. */
  async fail(): Promise<void> {
    for (const state of this.states.values()) {
      if (state.producer === null) continue
      // A fenced producer's work was aborted by whoever fenced it; an abort that fails here leaves
      // the transaction open, which the next claim of the id or the next open aborts.
      await state.producer.close().catch(() => {})
    }
    await this.revokeAll()
  }

  private async revokeAll(): Promise<void> {
    for (const [p, state] of this.states) {
      if (!state.assigned) continue
      state.assigned = false
      await state.producer?.close()
      state.producer = null
      this.hooks.revoked(p.topic, p.partition)
    }
  }

  private dirty(p: CheckpointedPartition, state: PartitionState): boolean {
    return p.position !== state.committed || (state.producer?.hasOpenWork ?? false)
  }

  private async checkpoint(p: CheckpointedPartition, state: PartitionState): Promise<void> {
    const metadata = await this.hooks.prepare(p.topic, p.partition)
    if (typeof metadata !== 'string' || Buffer.byteLength(metadata) > MAX_METADATA_BYTES) {
      throw new SluiceError(
        'LOG_INVALID_ARGUMENT',
        `checkpoint metadata of ${p.topic}/${p.partition} must be a string of at most ${MAX_METADATA_BYTES} bytes`,
      )
    }
    const offset = p.position
    const started = performance.now()
    if (state.producer !== null) await state.producer.commit(offset, metadata)
    else await this.log.commitOffset(this.group, p.topic, p.partition, offset, metadata)
    state.committed = offset
    state.since = performance.now()
    this.onCommitted?.({
      topic: p.topic,
      partition: p.partition,
      offset,
      seconds: (performance.now() - started) / 1000,
    })
    await this.hooks.committed(p.topic, p.partition, metadata)
  }

  private checkFenced(state: PartitionState): void {
    if (state.producer?.fenced) {
      throw new SluiceError(
        'LOG_FENCED',
        `transactional id ${state.producer.transactionalId} was taken over by another subscriber`,
      )
    }
  }
}
