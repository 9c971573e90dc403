/**
 * One Kafka transactional producer per owned task (a source partition, or partition p of every
 * topic of a co-partitioned group; exactly-once, "EOS v1" style: kafkajs has no KIP-447
 * consumer-group fencing, so the transactional id names the task and whoever takes the task over
 * fences the previous owner by initialising the same id).
 *
 * kafkajs initialises a transactional producer id lazily, at the first `producer.transaction()`,
 * not at connect: `open` begins a transaction at once so the fencing (InitProducerId, which also
 * aborts or completes the previous owner's open transaction before it answers) happens before the
 * new owner reads the task's committed offsets. A transaction that failed to commit leaves
 * kafkajs's transaction state machine stuck (it stays COMMITTING), so a failed commit ends this
 * producer: the subscription ends and the next owner's InitProducerId settles the outcome.
 */
import {
  type Kafka,
  Partitioners,
  type Producer,
  type ProducerRecord,
  type RecordMetadata,
  type Transaction,
} from 'kafkajs'
import { SluiceError } from '../errors.ts'
import { isStuckProducerError } from './kafka-stuck-producer.ts'

/** Longest close() waits for the broker to confirm an abort. */
const ABORT_WAIT_MS = 5000

/** The group's next offset of one partition, as a commit sends it. */
export interface PartitionOffset {
  readonly topic: string
  readonly partition: number
  readonly offset: number
}

/** Sends one produce request (kafkajs's `send` of a producer or of a transaction). */
export type Sender = (record: ProducerRecord) => Promise<RecordMetadata[]>

export interface TransactionalProducerConfig {
  readonly kafka: Kafka
  readonly transactionalId: string
  /** kafkajs retries of one request (bounded, as for the log's idempotent producer). */
  readonly retries: number
  /**
   * The broker aborts a transaction open longer than this (a producer that died without a
   * successor). Readers with read_committed wait at most this long behind an abandoned one.
   */
  readonly transactionTimeoutMs: number
  /** Maps a kafkajs failure to the log's errors (fencing → LOG_FENCED, unreachable → KAFKA_UNAVAILABLE). */
  readonly mapError: (error: unknown) => unknown
}

export class TransactionalProducer {
  readonly transactionalId: string
  readonly #producer: Producer
  readonly #mapError: (error: unknown) => unknown
  #transaction: Transaction
  /** Set once a send or commit failed: kafkajs cannot go on with this producer. */
  #broken: unknown
  /** Per topic and partition, the base offset of the last batch sent in the open transaction. */
  #written = new Map<string, Map<number, number>>()

  private constructor(config: TransactionalProducerConfig, producer: Producer, transaction: Transaction) {
    this.transactionalId = config.transactionalId
    this.#producer = producer
    this.#mapError = (error) =>
      isFencingError(error) ? fencedError(config.transactionalId, error) : config.mapError(error)
    this.#transaction = transaction
  }

  /**
   * Connects and initialises the transactional id: from here on an earlier owner of the id is
   * fenced, and its open transaction was aborted (or, if it was already committing, completed).
   */
  static async open(config: TransactionalProducerConfig): Promise<TransactionalProducer> {
    const producer = config.kafka.producer({
      transactionalId: config.transactionalId,
      idempotent: true,
      // As the log's own producer: a retried request must not overtake a later one.
      maxInFlightRequests: 1,
      transactionTimeout: config.transactionTimeoutMs,
      allowAutoTopicCreation: false,
      // Every record is sent with its partition; naming the partitioner keeps kafkajs quiet about
      // its v2 default.
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: Math.max(config.retries, 1), initialRetryTime: 300, maxRetryTime: 30_000 },
    })
    try {
      await producer.connect()
      const transaction = await producer.transaction()
      return new TransactionalProducer(config, producer, transaction)
    } catch (error) {
      await producer.disconnect().catch(() => {})
      throw isFencingError(error) ? fencedError(config.transactionalId, error) : config.mapError(error)
    }
  }

  /** Sends as part of the open transaction. A failure makes the producer unusable (see class doc). */
  readonly send: Sender = async (record) => {
    if (this.#broken !== undefined) throw this.#broken
    try {
      const sent = await this.#transaction.send(record)
      for (const { topicName, partition, baseOffset } of sent) {
        if (baseOffset === undefined) continue
        let partitions = this.#written.get(topicName)
        if (partitions === undefined) {
          partitions = new Map()
          this.#written.set(topicName, partitions)
        }
        partitions.set(partition, Math.max(partitions.get(partition) ?? -1, Number(baseOffset)))
      }
      return sent
    } catch (error) {
      // Fenced: nothing this producer does can land any more. Any other failure leaves the
      // transaction usable: a refused record (too large, bad timestamp) refused only its batch,
      // and after a connection failure kafkajs rolled its sequence numbers back, so sending the
      // same records again (appendRetrying on RecordBatch.transaction) cannot duplicate them. If
      // the broker aborted the transaction meanwhile (its timeout), the retry is fenced.
      if (isFencingError(error)) {
        this.#broken = fencedError(this.transactionalId, error)
        throw this.#broken
      }
      // The broker refused the producer's sequence (kafka-stuck-producer.ts): every later send to
      // that partition would be refused alike, and the transaction cannot commit without it. So
      // the producer ends as a fenced one does: its transaction is aborted (nothing of it becomes
      // visible) and the subscriber starts again from the last commit with a new producer epoch.
      if (isStuckProducerError(error, TRANSACTION_STUCK_ERRORS)) {
        this.#broken = stuckError(this.transactionalId, error)
        await this.#transaction.abort().catch(() => {})
        throw this.#broken
      }
      // The log's append maps it, naming the topic.
      throw error
    }
  }

  /**
   * Commits the open transaction with the group's offsets of `offsets` (the partitions of one task,
   * all in one TxnOffsetCommit) and `metadata` with each (TxnOffsetCommit carries metadata), then
   * begins the next transaction. Resolves to where the committed transaction wrote (topic →
   * partition → base offset of its last batch there): the broker answers EndTxn once the commit is
   * decided, and writes the markers that make it visible (to readers, and to OffsetFetch for the
   * group's offsets) just after.
   */
  async commit(
    group: string,
    offsets: readonly PartitionOffset[],
    metadata: string,
  ): Promise<ReadonlyMap<string, ReadonlyMap<number, number>>> {
    if (this.#broken !== undefined) throw this.#broken
    const byTopic = new Map<string, { partition: number; offset: string }[]>()
    for (const { topic, partition, offset } of offsets) {
      let partitions = byTopic.get(topic)
      if (partitions === undefined) {
        partitions = []
        byTopic.set(topic, partitions)
      }
      // kafkajs's types leave `metadata` out; its TxnOffsetCommit request encodes it.
      partitions.push({ partition, offset: String(offset), metadata } as {
        partition: number
        offset: string
      })
    }
    try {
      await this.#transaction.sendOffsets({
        consumerGroupId: group,
        topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
      })
      await this.#transaction.commit()
      const written = this.#written
      this.#written = new Map()
      this.#transaction = await this.#producer.transaction()
      return written
    } catch (error) {
      this.#broken = this.#mapError(error)
      throw this.#broken
    }
  }

  /**
   * Aborts the open transaction, best effort: when the broker cannot be told (unreachable,
   * fenced), the transaction is aborted by the next owner's InitProducerId or by the broker's
   * transaction timeout; either way nothing of it ever becomes visible.
   */
  async abort(): Promise<void> {
    if (this.#broken !== undefined || !this.#transaction.isActive()) return
    await this.#transaction.abort().catch(() => {})
  }

  /**
   * Aborts what is open and disconnects, waiting at most ABORT_WAIT_MS: with the broker away,
   * kafkajs would retry for half a minute, and nobody needs to wait for an abort the broker
   * completes by itself (the next owner's InitProducerId, or the transaction timeout).
   */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      (async () => {
        await this.abort()
        await this.#producer.disconnect().catch(() => {})
      })(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, ABORT_WAIT_MS)
      }),
    ])
    clearTimeout(timer)
  }
}

/** Broker answers that leave a transactional producer unable to go on (fencing aside). */
const TRANSACTION_STUCK_ERRORS = ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID']

/**
 * LOG_FENCED, as for a producer fenced by a newer owner: the effect is the same (this producer's
 * open transaction is aborted, the subscriber joins again and continues from its last commit).
 */
function stuckError(transactionalId: string, error: unknown): SluiceError {
  const reason = error instanceof Error ? error.message : String(error)
  return new SluiceError(
    'LOG_FENCED',
    `transactional id ${transactionalId}: Kafka refused the producer's sequence (${reason}); its open transaction is aborted and the work since the last commit is done again`,
    { cause: error },
  )
}

/**
 * A producer that lost its transactional id to a newer owner. Brokers answer INVALID_PRODUCER_EPOCH
 * (47) to a fenced producer's produce, AddPartitionsToTxn, TxnOffsetCommit and EndTxn; newer
 * brokers answer PRODUCER_FENCED (90) to some of them, a code kafkajs 2.2.4 does not know (it
 * reports "Unknown error code 90").
 */
export function isFencingError(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const type = (current as { type?: unknown }).type
    if (type === 'INVALID_PRODUCER_EPOCH' || type === 'PRODUCER_FENCED') return true
    if (type === 'KAFKAJS_UNKNOWN_ERROR_CODE' && /\bcode 90\b/.test(current.message)) return true
    current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError
  }
  return false
}

export function fencedError(transactionalId: string, error: unknown): SluiceError {
  return new SluiceError(
    'LOG_FENCED',
    `transactional id ${transactionalId} was taken over by a newer owner (or the broker aborted its transaction after the transaction timeout): this subscriber's open transaction is aborted`,
    { cause: error },
  )
}
