/**
 * The log on Apache Kafka through kafkajs (distributed mode). Same contract as the embedded log
 * (see index.ts); the differences that remain are Kafka's own: offsets are the broker's, a topic's
 * partition count is fixed at creation here (ensureTopic never changes an existing topic), and a
 * group's membership follows Kafka's rebalancing protocol.
 *
 * - Keyed records are placed with partitionForKey and sent with an explicit partition, so the
 *   embedded log and Kafka agree on the partition of a key whatever the client's partitioner does.
 * - append uses one idempotent producer (acks=all, one request in flight per connection, so a retried
 *   request can neither duplicate nor reorder records) and computes positions from the produce
 *   response: baseOffset of the partition's record batch + the record's index within it. Its
 *   requests (and the transactional producers') are encoded by kafka-produce-encoder.ts. After a
 *   request whose answer was lost, only the same records go out under the same producer id
 *   (kafka-uncertain-batches.ts): the broker would take others of the same count for duplicates.
 *   A producer whose sequence the broker refuses (OUT_OF_ORDER_SEQUENCE_NUMBER and the like) gets
 *   a new producer id, and the refused batch goes out again (kafka-stuck-producer.ts).
 * - append, read and subscribe wait a bounded time for a topic the broker does not know yet (one
 *   just created, whose metadata is still spreading) before calling it unknown
 *   (kafka-topic-settling.ts).
 * - read fetches the partition from its leader with plain Fetch requests (kafka-reader.ts: no
 *   consumer group, one connection kept for the log's lifetime); it stops at
 *   min(fromOffset + maxRecords, end offset at the time of the call).
 * - subscribe commits a batch's offsets only after the handler's promise resolved; a rejecting
 *   handler stops the consumer without committing that batch, so the next member of the group gets
 *   it again.
 * - With CheckpointOptions, kafka-checkpoint.ts runs each task's batches, hooks and commits (a task
 *   is a source partition, or partition p of every topic of a co-partitioned group); exactly-once
 *   uses one transactional producer per task (kafka-transactions.ts), whose TxnOffsetCommit carries
 *   the group's offsets of the task's partitions and their metadata.
 * - With co-partitioned groups (SubscribeOptions.copartitioned) the consumer group assigns whole
 *   tasks (kafka-assigner.ts); without, kafkajs's round robin assigns partitions.
 * - Readers (read and every subscription) consume read_committed: records of open transactions
 *   wait, those of aborted ones are skipped. endOffsets and read's range end at the last stable
 *   offset (kafkajs's ListOffsets asks with read_committed), so an open transaction's records are
 *   not yet counted there.
 */
import {
  type Admin,
  CompressionTypes,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type ISocketFactory,
  Kafka,
  type KafkaConfig,
  type KafkaMessage,
  type LogEntry,
  logLevel,
  Partitioners,
  type Producer,
  type ProducerConfig,
  type RecordMetadata,
} from 'kafkajs'
import { SluiceError } from '../errors.ts'
import { formatLogRecord } from '../observability/logger.ts'
import type {
  AppendOptions,
  CheckpointOptions,
  Log,
  LogRecord,
  OutgoingRecord,
  RecordBatch,
  RecordPosition,
  SubscribeOptions,
  Subscription,
  TopicConfig,
} from './index.ts'
import { taskAssigner } from './kafka-assigner.ts'
import { type CheckpointEnvironment, CheckpointedTasks } from './kafka-checkpoint.ts'
import { evictMembers, findPreviousIncarnation, memberClientId } from './kafka-handover.ts'
import { type CommittedOffset, OffsetCommitScheduler } from './kafka-offset-commits.ts'
import { PartitionedMessages, type PlacedMessage } from './kafka-partitioned-messages.ts'
import { useSluiceProduceEncoder } from './kafka-produce-encoder.ts'
import { isStaleMetadata, KafkaPartitionReader, ReadTimeout } from './kafka-reader.ts'
import { kafkaSocketFactory } from './kafka-socket.ts'
import { isStuckProducerError, sendRenewingStuckProducer } from './kafka-stuck-producer.ts'
import { DEFAULT_UNKNOWN_TOPIC_WAIT_MS, isTopicSettling, untilTopicSettles } from './kafka-topic-settling.ts'
import { type PartitionOffset, type Sender, TransactionalProducer } from './kafka-transactions.ts'
import { batchesByPartition, UncertainBatches } from './kafka-uncertain-batches.ts'
import { partitionForKey } from './partitioner.ts'
import { type TaskName, Tasks, taskKey } from './tasks.ts'

export type KafkaClientLogLevel = 'error' | 'warn' | 'info' | 'debug'

/** One kafkajs log line, as structured data. */
export interface KafkaClientLogEntry {
  readonly level: KafkaClientLogLevel
  /** kafkajs component: Connection, Consumer, Producer, Admin, ... */
  readonly namespace: string
  readonly message: string
  readonly fields: Readonly<Record<string, unknown>>
}

export interface KafkaTlsOptions {
  /** PEM certificate(s) of the CA(s) the brokers' certificates must chain to, instead of Node's default CAs. */
  readonly ca?: string | Buffer
  /** PEM client certificate and its private key, for brokers that require mutual TLS. */
  readonly cert?: string | Buffer
  readonly key?: string | Buffer
  /**
   * Accept any broker certificate (no CA or host name check): encrypted, but anyone on the path can
   * impersonate the broker. For testing only. Default: false.
   */
  readonly insecure?: boolean
}

export type KafkaCompression = 'none' | 'gzip'

export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512'

export interface KafkaSaslOptions {
  readonly mechanism: KafkaSaslMechanism
  readonly username: string
  readonly password: string
}

export interface KafkaLogOptions {
  /** Bootstrap brokers, host:port. */
  readonly brokers: readonly string[]
  /**
   * Client id sent to the brokers: what their logs, metrics and quotas know this client by. Default:
   * 'sluice'.
   */
  readonly clientId?: string
  /**
   * A stable identity of this node (`sluice run --node-id`): its consumer-group members use client
   * id `<clientId>.<instanceId>`, and before joining a group it removes the members its previous
   * incarnation left there (killed before leaving), so a restarted node gets its partitions at once
   * instead of after their session timeout (runtime/log/kafka-handover.ts). Two live nodes must
   * not share one. Default: none (a restarted node waits for the session timeout).
   */
  readonly instanceId?: string
  /** TLS to every broker (`true`: verify them against Node's default CAs). Default: plaintext. */
  readonly tls?: KafkaTlsOptions | boolean
  /** SASL authentication (over TLS when `tls` is set). Default: none. */
  readonly sasl?: KafkaSaslOptions
  /**
   * Receives kafkajs's log lines at `logLevel` and above. Default: warnings and errors go to stderr
   * as JSON lines. kafkajs's lifecycle info counts as debug; failures it retries or hands back to
   * the caller anyway are at most warnings; stack traces come only at debug.
   */
  readonly logger?: (entry: KafkaClientLogEntry) => void
  /** Default: 'warn'. */
  readonly logLevel?: KafkaClientLogLevel
  /** TCP connect timeout per broker in ms. Default: 3000. */
  readonly connectionTimeoutMs?: number
  /** Timeout of one request in ms. Default: 30000. */
  readonly requestTimeoutMs?: number
  /**
   * Retries of a failing request before it fails (exponential back-off from 300 ms, capped at 30 s).
   * Default: 5 (about 10 s when no broker is reachable).
   */
  readonly retries?: number
  /**
   * Consumer session timeout in ms: how long the group waits for a member that stopped
   * heartbeating (killed, partitioned away) before its partitions move to the others. Default:
   * 6000, the broker's smallest allowed (group.min.session.timeout.ms), so a killed node's
   * partitions move within seconds.
   */
  readonly sessionTimeoutMs?: number
  /** Consumer heartbeat interval in ms; also bounds how fast a rebalance is noticed. Default: 1000. */
  readonly heartbeatIntervalMs?: number
  /** Longest a consumer's fetch waits for new records in ms. Default: 500. */
  readonly maxWaitTimeMs?: number
  /** Longest read() may take before it fails with KAFKA_UNAVAILABLE, in ms. Default: 30000. */
  readonly readTimeoutMs?: number
  /**
   * How long append, read and subscribe go on trying while the broker does not know the topic or
   * its leader yet (metadata of a topic just created, here or by another node, still spreading),
   * in ms; a topic still unknown then is LOG_UNKNOWN_TOPIC (kafka-topic-settling.ts). Default: 3000.
   */
  readonly unknownTopicWaitMs?: number
  /** Longest subscribe() waits for the first partition assignment, in ms. Default: 60000. */
  readonly subscribeTimeoutMs?: number
  /**
   * How many partitions' batches a subscription hands to its handler at once (kafkajs's
   * partitionsConsumedConcurrently): while one partition's batch waits for its produce and commit
   * round trips, another's is decoded and processed. Batches of one partition still come one at a
   * time, in offset order, each committed only after its handler resolved. Default: 4 (measured:
   * docs/decisions/0027-kafka-client.md).
   */
  readonly partitionsInParallel?: number
  /**
   * At-least-once without checkpoints (stateless pipelines): longest a batch's offsets wait for
   * their commit after its handler resolved, in ms. Commits run in the background, one at a time,
   * each taking every offset resolved by then; stop(), a rebalance and a failed handler commit
   * everything resolved first, so only a crash replays, at most the records of this interval
   * (docs/decisions/0031-offset-commit-interval.md). 0 commits after every batch. Checkpointed
   * subscriptions commit at their checkpoints instead. Default: 250.
   */
  readonly commitIntervalMs?: number
  /**
   * Compression of the record batches appended (codec kafkajs ships: gzip). Default: 'none', which
   * costs the least CPU on both ends; gzip trades CPU for bytes on a slow or metered network.
   */
  readonly compression?: KafkaCompression
  /**
   * Opens the connections to the brokers instead of kafkajs's TCP/TLS factory: for a proxy, or for
   * a test that cuts the client off the network as a crashed process would be.
   */
  readonly socketFactory?: ISocketFactory
}

const DEFAULT_MAX_BATCH_RECORDS = 1000
const DEFAULT_PARTITIONS_IN_PARALLEL = 4
/** Measured with bench:pipeline: docs/decisions/0031-offset-commit-interval.md. */
const DEFAULT_COMMIT_INTERVAL_MS = 250
const DEFAULT_SESSION_TIMEOUT_MS = 6000
const DEFAULT_HEARTBEAT_INTERVAL_MS = 1000
/**
 * Upper bound on the encoded size of one produce request: an append is split into sends of at most
 * this many bytes, well under the broker's default message.max.bytes (1 MiB) per record batch.
 */
const MAX_SEND_BYTES = 512 * 1024
/** Longest a commit waits for its transaction's outputs to become readable (see #awaitCommitted). */
const OUTPUT_VISIBILITY_WAIT_MS = 1000
/** Longest a checkpointed subscription's stop() waits for its consumer to leave the group. */
const CHECKPOINT_DISCONNECT_WAIT_MS = 10_000
/** Per-record overhead estimate of Kafka's record format v2. */
const RECORD_OVERHEAD_BYTES = 32

const KAFKAJS_LEVEL: Record<KafkaClientLogLevel, logLevel> = {
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
}
const LEVEL_RANK: Record<KafkaClientLogLevel, number> = { error: 1, warn: 2, info: 4, debug: 5 }

/** Errors of kafkajs that mean the cluster cannot be reached (as opposed to a refused request). */
const UNAVAILABLE_ERRORS = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTimeout',
])

/** Protocol errors for records the broker will never accept as they are. */
const INVALID_RECORD_ERRORS = [
  'INVALID_TIMESTAMP',
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
]

export class KafkaLog implements Log {
  readonly #kafka: Kafka
  /** The client of this node's consumer-group members: #kafka, or one under its instance id. */
  readonly #memberKafka: Kafka
  #admin: Admin
  /** The idempotent producer of append; replaced by a new producer id after a lost answer. */
  #producer: Producer
  readonly #newProducer: () => Producer
  /** Its batches whose outcome is unknown (kafka-uncertain-batches.ts). */
  readonly #uncertain = new UncertainBatches()
  #renewing: Promise<void> | undefined
  /** A producer the broker answered with a stuck-producer error (kafka-stuck-producer.ts). */
  #stuck: Producer | undefined
  /** Sends under way per producer: a replaced producer disconnects when its last one ends. */
  readonly #sending = new Map<Producer, number>()
  /** append's default sender: the current idempotent producer's, guarded by #uncertain. */
  readonly #idempotentSend: Sender = (record) => this.#sendIdempotent(record)
  /** read()'s fetches, on a cluster connection of its own opened at the first read. */
  readonly #reader: KafkaPartitionReader
  readonly #options: KafkaLogOptions
  readonly #brokers: string
  /** Partition counts of topics seen; a topic's partition count only changes by an admin's hand. */
  readonly #partitionCounts = new Map<string, number>()
  /** Next partition for records with neither a key nor a partition, per topic. */
  readonly #roundRobin = new Map<string, number>()
  readonly #subscriptions = new Set<KafkaSubscription>()
  /** Public calls under way; close() waits for them. */
  readonly #inFlight = new Set<Promise<unknown>>()
  #adminQueue: Promise<unknown> = Promise.resolve()
  #closed = false
  #closing: Promise<void> | undefined

  private constructor(
    kafka: Kafka,
    memberKafka: Kafka,
    admin: Admin,
    newProducer: () => Producer,
    options: KafkaLogOptions,
  ) {
    this.#kafka = kafka
    this.#memberKafka = memberKafka
    this.#admin = admin
    this.#newProducer = newProducer
    this.#producer = newProducer()
    this.#options = options
    this.#brokers = options.brokers.join(',')
    this.#reader = new KafkaPartitionReader(kafka, {
      lowWatermark: async (topic, partition) =>
        (await this.#watermarks(topic)).find((w) => w.partition === partition)?.low ?? 0,
      isTransient: (error) => isUnavailable(error),
    })
  }

  /** Connects the admin client and the producer; rejects with KAFKA_UNAVAILABLE when no broker answers. */
  static async connect(options: KafkaLogOptions): Promise<KafkaLog> {
    if (options.brokers.length === 0) {
      throw new SluiceError('CONFIG_INVALID', 'KafkaLog.connect: no brokers given')
    }
    const parallel = options.partitionsInParallel
    if (parallel !== undefined && !(Number.isInteger(parallel) && parallel >= 1)) {
      throw new SluiceError(
        'CONFIG_INVALID',
        'KafkaLog.connect: partitionsInParallel must be a positive integer',
      )
    }
    const commitIntervalMs = options.commitIntervalMs
    if (
      commitIntervalMs !== undefined &&
      !(Number.isSafeInteger(commitIntervalMs) && commitIntervalMs >= 0)
    ) {
      throw new SluiceError(
        'CONFIG_INVALID',
        'KafkaLog.connect: commitIntervalMs must be a non-negative integer (ms)',
      )
    }
    const unknownTopicWaitMs = options.unknownTopicWaitMs
    if (
      unknownTopicWaitMs !== undefined &&
      !(Number.isSafeInteger(unknownTopicWaitMs) && unknownTopicWaitMs >= 0)
    ) {
      throw new SluiceError(
        'CONFIG_INVALID',
        'KafkaLog.connect: unknownTopicWaitMs must be a non-negative integer (ms)',
      )
    }
    if (
      options.compression !== undefined &&
      options.compression !== 'none' &&
      options.compression !== 'gzip'
    ) {
      throw new SluiceError(
        'CONFIG_INVALID',
        `KafkaLog.connect: unknown compression '${String(options.compression)}'`,
      )
    }
    // kafkajs's producers (this log's and the transactional ones) encode their Produce requests
    // with Sluice's encoder: same bytes, a fraction of the CPU (kafka-produce-encoder.ts).
    useSluiceProduceEncoder(true)
    const level = options.logLevel ?? 'warn'
    const sink = options.logger ?? defaultLogSink
    const retries = options.retries ?? 5
    const config: KafkaConfig = {
      clientId: options.clientId ?? 'sluice',
      brokers: [...options.brokers],
      ...clientSecurity(options),
      connectionTimeout: options.connectionTimeoutMs ?? 3000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      retry: { retries, initialRetryTime: 300, maxRetryTime: 30_000 },
      logLevel: KAFKAJS_LEVEL[level],
      socketFactory: kafkaSocketFactory(options.socketFactory),
      logCreator: () => (entry: LogEntry) => {
        const structured = toLogEntry(entry)
        if (LEVEL_RANK[structured.level] <= LEVEL_RANK[level]) sink(structured)
      },
    }
    const kafka = new Kafka(config)
    const memberKafka =
      options.instanceId === undefined
        ? kafka
        : new Kafka({ ...config, clientId: memberClientId(config.clientId!, options.instanceId) })
    const admin = kafka.admin()
    const producerConfig: ProducerConfig = {
      idempotent: true,
      // One request in flight: with more, a retried produce request could overtake a later one and
      // the broker would reject it as out of sequence (kafkajs does not re-sequence).
      maxInFlightRequests: 1,
      // Keyed records are placed by partitionForKey and sent with an explicit partition; the
      // explicit partitioner also keeps kafkajs from warning about its v2 default.
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      // Bounded (kafkajs defaults to unbounded retries for idempotent producers) so an unreachable
      // cluster surfaces as KAFKA_UNAVAILABLE; sequence numbers still dedupe the retries made, and
      // other records after a lost answer go out under a new producer id (kafka-uncertain-batches.ts).
      retry: { retries: Math.max(retries, 1), initialRetryTime: 300, maxRetryTime: 30_000 },
    }
    const newProducer = () => kafka.producer(producerConfig)
    const log = new KafkaLog(kafka, memberKafka, admin, newProducer, options)
    const producer = log.#producer
    try {
      await admin.connect()
      await producer.connect()
    } catch (error) {
      await Promise.allSettled([producer.disconnect(), admin.disconnect()])
      throw authFailure(error, options) ?? log.#unavailable(error)
    }
    return log
  }

  ensureTopic(topic: string, config: TopicConfig = {}): Promise<void> {
    return this.#op(() => this.#ensureTopicImpl(topic, config))
  }

  partitions(topic: string): Promise<number> {
    return this.#op(() => this.#partitionsImpl(topic))
  }

  append(
    topic: string,
    records: readonly OutgoingRecord[],
    options: AppendOptions = {},
  ): Promise<RecordPosition[]> {
    return this.#op(() => this.#appendImpl(topic, records, options))
  }

  read(topic: string, partition: number, fromOffset: number, maxRecords: number): Promise<LogRecord[]> {
    return this.#op(() =>
      this.#settling(topic, () => this.#readImpl(topic, partition, fromOffset, maxRecords)),
    )
  }

  endOffsets(topic: string): Promise<number[]> {
    return this.#op(() => this.#endOffsetsImpl(topic))
  }

  committedOffsets(group: string, topic: string): Promise<number[]> {
    return this.#op(() => this.#committedOffsetsImpl(group, topic))
  }

  committedMetadata(group: string, topic: string, partition: number): Promise<string | null> {
    return this.#op(async () => (await this.#committedImpl(group, topic, partition)).metadata)
  }

  subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    return this.#op(() => this.#subscribeImpl(options, handler))
  }

  /**
   * Stops every subscription (each waits for its handler in flight and commits), waits for the
   * calls in flight (an append under way completes), then disconnects. Idempotent.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closed = true
      this.#closing = (async () => {
        await Promise.allSettled([...this.#subscriptions].map((s) => s.stop()))
        await Promise.allSettled([...this.#inFlight])
        // Subscriptions started by calls that were in flight.
        await Promise.allSettled([...this.#subscriptions].map((s) => s.stop()))
        await Promise.allSettled([
          this.#producer.disconnect(),
          this.#admin.disconnect(),
          this.#reader.close(),
        ])
      })()
    }
    return this.#closing
  }

  /**
   * Runs admin calls one at a time. kafkajs's admin keeps one metadata cache that fetchTopicMetadata
   * replaces with the metadata of just the topics asked for, while fetchTopicOffsets reads it between
   * requests: concurrent calls on different topics fail inside kafkajs (a TypeError on an empty
   * ListOffsets result). Admin calls are short; the producer and consumers have their own caches.
   */
  /** Replaces the admin client by a connected new one (fresh metadata), in the admin queue's order. */
  #renewAdmin(): Promise<void> {
    return this.#withAdmin(async (old) => {
      const fresh = this.#kafka.admin()
      await fresh.connect()
      this.#admin = fresh
      await old.disconnect().catch(() => {})
    })
  }

  #withAdmin<T>(call: (admin: Admin) => Promise<T>): Promise<T> {
    const result = this.#adminQueue
      .then(() => call(this.#admin))
      .catch((error: unknown) => {
        // When no broker answered a metadata request (all down, e.g. restarting), kafkajs's
        // brokerPool.withBroker returns null and the admin call fails reading it: a TypeError that
        // means the cluster is unavailable.
        if (error instanceof TypeError && /of null \(reading '\w+'\)/.test(error.message)) {
          throw this.#unavailable(error)
        }
        throw error
      })
    this.#adminQueue = result.catch(() => {})
    return result
  }

  /** Runs a public call: LOG_CLOSED after close(), and close() waits for it. */
  #op<T>(call: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new SluiceError('LOG_CLOSED', 'the Kafka log is closed'))
    const running = call()
    this.#inFlight.add(running)
    const forget = () => this.#inFlight.delete(running)
    running.then(forget, forget)
    return running
  }

  async #ensureTopicImpl(topic: string, config: TopicConfig = {}): Promise<void> {
    const partitions = config.partitions ?? 1
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new SluiceError(
        'LOG_INVALID_ARGUMENT',
        `ensureTopic(${topic}): partitions must be a positive integer`,
      )
    }
    try {
      // Returns false when the topic exists already; an existing topic is left as it is.
      await this.#withAdmin((admin) =>
        admin.createTopics({
          topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }],
          waitForLeaders: true,
        }),
      )
    } catch (error) {
      if (isKafkaError(error, 'INVALID_TOPIC_EXCEPTION')) {
        throw new SluiceError('LOG_INVALID_ARGUMENT', `invalid Kafka topic name '${topic}'`, { cause: error })
      }
      // kafkajs's wait for leaders gives up when the broker it asks does not know the topic yet
      // (its metadata lags the controller's): created all the same, so #awaitLeaders waits on.
      if (!isTopicAlreadyExists(error) && !isTopicSettling(error)) throw this.#mapError(error, topic)
    }
    this.#partitionCounts.delete(topic)
    // A concurrent creator's call (TOPIC_ALREADY_EXISTS) returns before the topic has leaders; the
    // broker's metadata may lag the controller too. Return only once the topic is usable.
    await this.#awaitLeaders(topic)
  }

  async #awaitLeaders(topic: string): Promise<void> {
    const deadline = Date.now() + (this.#options.requestTimeoutMs ?? 30_000)
    for (let delay = 10; ; delay = Math.min(delay * 2, 500)) {
      try {
        const { topics } = await this.#withAdmin((admin) => admin.fetchTopicMetadata({ topics: [topic] }))
        const found = topics.find((t) => t.name === topic)
        if (found && found.partitions.length > 0 && found.partitions.every((p) => p.leader >= 0)) return
      } catch (error) {
        if (
          !isKafkaError(error, 'UNKNOWN_TOPIC_OR_PARTITION') &&
          !isKafkaError(error, 'LEADER_NOT_AVAILABLE')
        ) {
          throw this.#mapError(error, topic)
        }
      }
      if (Date.now() > deadline) {
        throw new SluiceError(
          'KAFKA_UNAVAILABLE',
          `topic ${topic} has no leader on Kafka at ${this.#brokers}`,
          {
            retryable: true,
          },
        )
      }
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }

  async #partitionsImpl(topic: string): Promise<number> {
    return this.#fetchPartitionCount(topic)
  }

  /** `send` is the idempotent producer's, or a transaction's (RecordBatch.transaction under exactly-once). */
  async #appendImpl(
    topic: string,
    records: readonly OutgoingRecord[],
    options: AppendOptions,
    send: Sender = this.#idempotentSend,
  ): Promise<RecordPosition[]> {
    let partitionCount = await this.#settling(topic, () => this.#partitionCount(topic))
    if (records.length === 0) return []
    // The cached count may predate partitions an admin added since: check before refusing a record.
    if (records.some((r) => r.partition !== undefined && r.partition >= partitionCount)) {
      partitionCount = await this.#fetchPartitionCount(topic)
    }
    const placed: Placed[] = records.map((record, index) => ({
      index,
      record,
      partition: this.#place(topic, record, partitionCount),
    }))
    const positions: (RecordPosition | undefined)[] = new Array(records.length)
    const now = Date.now()
    let start = 0
    while (start < placed.length) {
      // One send per chunk of at most MAX_SEND_BYTES (at least one record); chunks go in order.
      let end = start
      let bytes = 0
      while (end < placed.length) {
        const size = estimateSize(placed[end]!.record)
        if (end > start && bytes + size > MAX_SEND_BYTES) break
        bytes += size
        end++
      }
      const chunk = placed.slice(start, end)
      try {
        try {
          await this.#sendChunk(send, topic, chunk, positions, now)
        } catch (error) {
          if (!isRefusal(error) || options.onRefused === undefined) throw error
          await this.#sendAroundRefusals(send, topic, chunk, positions, now, options.onRefused)
        }
      } catch (error) {
        // The chunks before this one are acknowledged. Sending the rest again, starting with this
        // very chunk, cannot duplicate it: kafkajs rolled its sequence numbers back, so the broker
        // recognises a batch it already wrote.
        throw withAppended(error, start)
      }
      start = end
    }
    return positions.filter((p): p is RecordPosition => p !== undefined)
  }

  /**
   * Calls `call` again while the broker does not know the topic or its leader yet, for at most
   * unknownTopicWaitMs (kafka-topic-settling.ts), fetching the topic's metadata anew each time.
   */
  #settling<T>(topic: string, call: () => Promise<T>): Promise<T> {
    return untilTopicSettles(call, {
      waitMs: this.#options.unknownTopicWaitMs ?? DEFAULT_UNKNOWN_TOPIC_WAIT_MS,
      onSettling: () => this.#partitionCounts.delete(topic),
    })
  }

  /**
   * #send of `items`, tried again while the topic settles (the same records under the same
   * producer id: a batch the broker wrote meanwhile is recognised, not written twice) and, for the
   * log's own idempotent producer, past a stuck producer (kafka-stuck-producer.ts). A transaction's
   * producer ends itself instead (kafka-transactions.ts).
   */
  #sendChunk(
    send: Sender,
    topic: string,
    items: readonly Placed[],
    positions: (RecordPosition | undefined)[],
    now: number,
  ): Promise<void> {
    const once = (part: readonly Placed[]) => this.#send(send, topic, part, positions, now)
    if (send !== this.#idempotentSend) return this.#settling(topic, () => once(items))
    return this.#settling(topic, () =>
      sendRenewingStuckProducer(items, {
        partitionOf: (item) => item.partition,
        send: once,
        renew: () => this.#renewStuckProducer(),
      }),
    )
  }

  /** One produce request for `chunk`; fills in the positions of its records. */
  async #send(
    send: Sender,
    topic: string,
    chunk: readonly Placed[],
    positions: (RecordPosition | undefined)[],
    now: number,
  ): Promise<void> {
    // Grouped per partition by kafkajs in linear time (kafka-partitioned-messages.ts).
    const messages = PartitionedMessages.placed(
      chunk.map(({ record, partition }) => toMessage(record, partition, now)),
    )
    // Only the log's own idempotent producer: a transaction's batches are its task's to resend.
    const batches = send === this.#idempotentSend ? batchesByPartition(chunk) : undefined
    if (batches !== undefined && this.#uncertain.conflicts(topic, batches)) await this.#renewProducer()
    const producer = this.#producer
    let metadata: RecordMetadata[]
    try {
      metadata = await send({
        topic,
        messages,
        acks: -1,
        ...(this.#options.compression === 'gzip' ? { compression: CompressionTypes.GZIP } : {}),
      })
    } catch (error) {
      this.#partitionCounts.delete(topic)
      const mapped = this.#mapError(error, topic)
      // Of a request to one partition, a refusal is the broker's answer that it wrote nothing;
      // anything else may have been written (a batch of a replaced producer cannot be confused).
      if (batches !== undefined && producer === this.#producer) {
        if (isRefusal(mapped) && batches.size === 1) this.#uncertain.settled(topic, batches.keys())
        else this.#uncertain.failed(topic, batches)
        if (isStuckProducerError(error)) this.#stuck = producer
      }
      throw mapped
    }
    if (batches !== undefined && producer === this.#producer) this.#uncertain.settled(topic, batches.keys())
    // kafkajs writes one record batch per partition, in input order; its base offset is the offset
    // of the first record of that partition in this chunk.
    const baseOffsets = new Map<number, number>()
    for (const m of metadata) {
      if (m.topicName !== topic || m.baseOffset === undefined) continue
      baseOffsets.set(m.partition, Number(m.baseOffset))
    }
    const nextIndex = new Map<number, number>()
    for (const { index, partition } of chunk) {
      const base = baseOffsets.get(partition)
      if (base === undefined) {
        throw new SluiceError(
          'KAFKA_UNAVAILABLE',
          `Kafka at ${this.#brokers} acknowledged a produce to ${topic} without an offset for partition ${partition}`,
          { retryable: true },
        )
      }
      const n = nextIndex.get(partition) ?? 0
      nextIndex.set(partition, n + 1)
      positions[index] = { topic, partition, offset: base + n }
    }
  }

  /** One send of the current idempotent producer, counted so a replaced one disconnects after its last. */
  async #sendIdempotent(record: Parameters<Sender>[0]): Promise<RecordMetadata[]> {
    const producer = this.#producer
    this.#sending.set(producer, (this.#sending.get(producer) ?? 0) + 1)
    try {
      return await producer.send(record)
    } finally {
      const left = this.#sending.get(producer)! - 1
      if (left > 0) this.#sending.set(producer, left)
      else {
        this.#sending.delete(producer)
        if (producer !== this.#producer) void producer.disconnect().catch(() => {})
      }
    }
  }

  /** Renews the producer if it is still the one the broker found stuck (kafka-stuck-producer.ts). */
  async #renewStuckProducer(): Promise<void> {
    if (this.#stuck !== undefined && this.#stuck === this.#producer) await this.#renewProducer()
  }

  /**
   * Replaces the idempotent producer by one with a new producer id (kafka-uncertain-batches.ts):
   * its sequences start again, so no batch can be taken for one the old id may have written.
   * Rejects with KAFKA_UNAVAILABLE while no broker answers; the old producer stays meanwhile.
   */
  #renewProducer(): Promise<void> {
    this.#renewing ??= (async () => {
      const fresh = this.#newProducer()
      try {
        await fresh.connect()
      } catch (error) {
        await fresh.disconnect().catch(() => {})
        throw this.#unavailable(error)
      }
      const old = this.#producer
      this.#producer = fresh
      this.#uncertain.clear()
      this.#stuck = undefined
      if (!this.#sending.has(old)) void old.disconnect().catch(() => {})
    })().finally(() => {
      this.#renewing = undefined
    })
    return this.#renewing
  }

  /**
   * A request of `chunk` was refused for some record in it. The broker refuses per partition, and
   * it may have written the other partitions' batches: each partition's records are sent again as
   * the same batch first (kafkajs rolled the idempotent sequence numbers back, so a batch the broker
   * already holds is recognised as a duplicate and not written twice), and a refused batch is split
   * in halves until the records the broker will not take are found and reported.
   */
  async #sendAroundRefusals(
    send: Sender,
    topic: string,
    chunk: readonly Placed[],
    positions: (RecordPosition | undefined)[],
    now: number,
    onRefused: (index: number, reason: string) => void,
  ): Promise<void> {
    const byPartition = new Map<number, Placed[]>()
    for (const item of chunk) {
      const list = byPartition.get(item.partition)
      if (list === undefined) byPartition.set(item.partition, [item])
      else list.push(item)
    }
    const sendOrSplit = async (items: readonly Placed[]): Promise<void> => {
      try {
        await this.#sendChunk(send, topic, items, positions, now)
      } catch (error) {
        if (!isRefusal(error)) throw error
        if (items.length === 1) {
          onRefused(items[0]!.index, errorMessage(error))
          return
        }
        const half = items.length >> 1
        await sendOrSplit(items.slice(0, half))
        await sendOrSplit(items.slice(half))
      }
    }
    for (const items of byPartition.values()) await sendOrSplit(items)
  }

  async #readImpl(
    topic: string,
    partition: number,
    fromOffset: number,
    maxRecords: number,
  ): Promise<LogRecord[]> {
    const partitionCount = await this.#fetchPartitionCount(topic)
    if (!Number.isInteger(partition) || partition < 0 || partition >= partitionCount) {
      throw new SluiceError(
        'LOG_BAD_PARTITION',
        `${topic} has ${partitionCount} partitions, no partition ${partition}`,
      )
    }
    if (!Number.isInteger(fromOffset) || fromOffset < 0) {
      throw new SluiceError('LOG_INVALID_ARGUMENT', `read(${topic}, ${partition}): bad offset ${fromOffset}`)
    }
    if (!Number.isInteger(maxRecords) || maxRecords <= 0) return []
    const watermarks = await this.#watermarks(topic)
    const mark = watermarks.find((w) => w.partition === partition)
    if (!mark) throw new SluiceError('LOG_UNKNOWN_TOPIC', `${topic}: no offsets for partition ${partition}`)
    // Records below the log start offset are gone (retention); the range starts at what is left.
    let start = Math.max(fromOffset, mark.low)
    let until = Math.min(fromOffset + maxRecords, mark.high)
    for (;;) {
      if (start >= until) return []
      const records = await this.#readRange(topic, partition, start, until, maxRecords)
      if (records.length > 0) return records
      // Only aborted records and transaction markers in [start, until): a reader's next records,
      // if any, come after them, and an empty result would say the partition ends here.
      start = until
      until = Math.min(start + maxRecords, mark.high)
    }
  }

  async #endOffsetsImpl(topic: string): Promise<number[]> {
    const watermarks = await this.#watermarks(topic)
    return watermarks.map((w) => w.high)
  }

  async #committedOffsetsImpl(group: string, topic: string): Promise<number[]> {
    const partitionCount = await this.#fetchPartitionCount(topic)
    let response: Awaited<ReturnType<Admin['fetchOffsets']>>
    try {
      response = await this.#withAdmin((admin) => admin.fetchOffsets({ groupId: group, topics: [topic] }))
    } catch (error) {
      throw this.#mapError(error, topic)
    }
    const offsets = new Array<number>(partitionCount).fill(-1)
    for (const entry of response) {
      if (entry.topic !== topic) continue
      for (const p of entry.partitions) {
        // kafkajs reports "no committed offset" as '-1'.
        const offset = Number(p.offset)
        if (p.partition < partitionCount) offsets[p.partition] = offset >= 0 ? offset : -1
      }
    }
    return offsets
  }

  /** The group's committed offset of one partition (-1: none) and the metadata committed with it. */
  async #committedImpl(
    group: string,
    topic: string,
    partition: number,
  ): Promise<{ offset: number; metadata: string | null }> {
    const partitionCount = await this.#fetchPartitionCount(topic)
    if (!Number.isInteger(partition) || partition < 0 || partition >= partitionCount) {
      throw new SluiceError(
        'LOG_BAD_PARTITION',
        `${topic} has ${partitionCount} partitions, no partition ${partition}`,
      )
    }
    let response: Awaited<ReturnType<Admin['fetchOffsets']>>
    try {
      response = await this.#withAdmin((admin) => admin.fetchOffsets({ groupId: group, topics: [topic] }))
    } catch (error) {
      throw this.#mapError(error, topic)
    }
    const entry = response.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === partition)
    const offset = entry === undefined ? -1 : Number(entry.offset)
    if (entry === undefined || offset < 0) return { offset: -1, metadata: null }
    // Kafka stores a commit without metadata as the empty string: both read as "no metadata".
    return { offset, metadata: entry.metadata === null || entry.metadata === '' ? null : entry.metadata }
  }

  async #subscribeImpl(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    if (options.topics.length === 0) {
      throw new SluiceError('LOG_INVALID_ARGUMENT', `subscribe(${options.group}): no topics`)
    }
    validateCheckpoint(options)
    const maxBatchRecords = options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS
    if (!Number.isInteger(maxBatchRecords) || maxBatchRecords < 1) {
      throw new SluiceError(
        'LOG_INVALID_ARGUMENT',
        `subscribe(${options.group}): maxBatchRecords must be a positive integer`,
      )
    }
    // A source topic another node created a moment ago may not have reached this broker yet.
    for (const topic of options.topics) await this.#settling(topic, () => this.#fetchPartitionCount(topic))
    // Checked before joining the group: a member with bad groups must not take partitions.
    const tasks = await Tasks.of(options, (topic) => this.#fetchPartitionCount(topic))
    if (this.#options.instanceId !== undefined) await this.#handOver(options, tasks)
    const consumer = this.#memberKafka.consumer({
      groupId: options.group,
      // Whole tasks to one member; without groups, kafkajs's default (round robin) as before.
      ...(tasks.grouped ? { partitionAssigners: [taskAssigner(tasks)] } : {}),
      allowAutoTopicCreation: false,
      sessionTimeout: this.#options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      heartbeatInterval: this.#options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
      maxWaitTimeInMs: this.#options.maxWaitTimeMs ?? 500,
      // Committed records only (kafkajs's default, stated because exactly-once relies on it):
      // records of open transactions wait, those of aborted ones are skipped.
      readUncommitted: false,
    })
    const subscription = new KafkaSubscription(
      consumer,
      handler,
      { ...options, maxBatchRecords },
      tasks,
      (error) => this.#mapConsumerError(error),
      {
        commitIntervalMs: this.#options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS,
        log: (entry) => this.#clientLog(entry),
      },
      options.checkpoint && this.#checkpointAccess(options.checkpoint),
    )
    this.#subscriptions.add(subscription)
    subscription.done.then(
      () => this.#subscriptions.delete(subscription),
      () => this.#subscriptions.delete(subscription),
    )
    try {
      await subscription.start(
        options,
        this.#options.subscribeTimeoutMs ?? 60_000,
        this.#options.partitionsInParallel ?? DEFAULT_PARTITIONS_IN_PARALLEL,
      )
    } catch (error) {
      await subscription.stop().catch(() => {})
      this.#subscriptions.delete(subscription)
      throw this.#mapError(error)
    }
    return subscription
  }

  /** A line of this log's own, to the client log sink at the configured level and above. */
  #clientLog(entry: KafkaClientLogEntry): void {
    if (LEVEL_RANK[entry.level] <= LEVEL_RANK[this.#options.logLevel ?? 'warn']) {
      ;(this.#options.logger ?? defaultLogSink)(entry)
    }
  }

  /**
   * Removes the members this node's previous incarnation left in the group (kafka-handover.ts)
   * and, meanwhile, hints the checkpoint owner at the tasks they held (CheckpointOptions.preload):
   * their state can be read while this member joins (decision 0033).
   */
  async #handOver(options: SubscribeOptions, tasks: Tasks): Promise<void> {
    const { group } = options
    const clientId = memberClientId(this.#options.clientId ?? 'sluice', this.#options.instanceId)
    const previous = await this.#withAdmin((admin) => findPreviousIncarnation(admin, group, clientId))
    await Promise.all([
      this.#preload(options, tasks, previous.partitions),
      this.#evict(group, clientId, previous.memberIds),
    ])
  }

  async #evict(group: string, clientId: string, memberIds: readonly string[]): Promise<void> {
    if (memberIds.length === 0) return
    await evictMembers(this.#kafka, group, memberIds)
    ;(this.#options.logger ?? defaultLogSink)({
      level: 'info',
      namespace: 'Handover',
      message: 'removed the group members of this node’s previous incarnation',
      fields: { group, clientId, memberIds, atMs: Math.round(performance.now()) },
    })
  }

  /**
   * Tells `preload` the tasks of `partitions` (the previous incarnation's) among the subscribed
   * topics, each with the metadata the group committed for it now. Only a hint: a failure to read
   * the metadata skips it (the tasks then load at assignment, as without it).
   */
  async #preload(
    options: SubscribeOptions,
    tasks: Tasks,
    partitions: ReadonlyMap<string, readonly number[]>,
  ): Promise<void> {
    const preload = options.checkpoint?.preload
    if (preload === undefined) return
    const named = new Map<string, TaskName>()
    for (const [topic, numbers] of partitions) {
      if (!options.topics.includes(topic)) continue
      for (const p of numbers) {
        const name = tasks.of(topic, p)
        named.set(taskKey(name), name)
      }
    }
    if (named.size === 0) return
    const leads = [...new Set([...named.values()].map((n) => n.topic))]
    let response: Awaited<ReturnType<Admin['fetchOffsets']>>
    try {
      response = await this.#withAdmin((admin) =>
        admin.fetchOffsets({ groupId: options.group, topics: leads }),
      )
    } catch {
      return
    }
    for (const name of named.values()) {
      const entry = response
        .find((t) => t.topic === name.topic)
        ?.partitions.find((p) => p.partition === name.partition)
      // As #committedImpl: no commit, or one without metadata, reads as null.
      const metadata =
        entry === undefined || Number(entry.offset) < 0 || !entry.metadata ? null : entry.metadata
      preload(name.topic, name.partition, metadata)
    }
    this.#clientLog({
      level: 'info',
      namespace: 'Handover',
      message: 'reading ahead the state of the previous incarnation’s partitions',
      fields: { group: options.group, tasks: [...named.keys()], atMs: Math.round(performance.now()) },
    })
  }

  /** What a checkpointed subscription uses of the log (kafka-checkpoint.ts). */
  #checkpointAccess(checkpoint: CheckpointOptions): CheckpointAccess {
    const intervalMs = checkpoint.intervalMs ?? 1000
    return {
      openProducer: (topic, partition) =>
        TransactionalProducer.open({
          kafka: this.#kafka,
          transactionalId: `${checkpoint.transactionalId}.${topic}.${partition}`,
          retries: this.#options.retries ?? 5,
          // Well above the interval between commits, within the broker's default maximum (15 min).
          transactionTimeoutMs: Math.min(900_000, Math.max(60_000, 3 * intervalMs)),
          mapError: (error) => this.#mapError(error),
        }),
      fetchCommitted: (group, topic, partition) => this.#committedImpl(group, topic, partition),
      awaitCommitted: (group, offsets, written) => this.#awaitCommitted(group, offsets, written),
      // Not through #op: a handler in flight while the log closes still finishes its batch.
      append: (producer, topic, records, options) =>
        this.#appendImpl(topic, records, options, producer?.send),
    }
  }

  /**
   * Polls until a committed transaction's markers are written, so that `committed` means visible:
   * the group's committed offset of every partition in `offsets` reached the one committed there
   * (kafkajs's OffsetFetch predates KIP-447's require_stable, and EndTxn answers before the
   * markers are written), and, for at most OUTPUT_VISIBILITY_WAIT_MS, the last stable offset of
   * every partition the transaction wrote passed its last batch. That second wait is bounded and
   * never fails: another transaction open on the same output partition (another task's, committing
   * within its interval; a dead member's, until its successor or the transaction timeout aborts it)
   * holds the last stable offset back, which is not this commit's business. Usually one or two
   * rounds of a few milliseconds.
   */
  async #awaitCommitted(
    group: string,
    offsets: readonly PartitionOffset[],
    written: ReadonlyMap<string, ReadonlyMap<number, number>>,
  ): Promise<void> {
    const started = Date.now()
    const deadline = started + (this.#options.requestTimeoutMs ?? 30_000)
    const pending = new Map([...written].map(([t, partitions]) => [t, new Map(partitions)]))
    let unseen = [...offsets]
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      if (unseen.length > 0) {
        const seen = await this.#committedOffsetsOf(group, [...new Set(unseen.map((o) => o.topic))])
        unseen = unseen.filter((o) => (seen.get(o.topic)?.get(o.partition) ?? -1) < o.offset)
      }
      if (Date.now() - started > OUTPUT_VISIBILITY_WAIT_MS) pending.clear()
      for (const [t, partitions] of pending) {
        // fetchTopicOffsets asks with read_committed: its high is the last stable offset.
        for (const { partition: p, high } of await this.#watermarks(t)) {
          const last = partitions.get(p)
          if (last !== undefined && high > last) partitions.delete(p)
        }
        if (partitions.size === 0) pending.delete(t)
      }
      if (unseen.length === 0 && pending.size === 0) return
      if (Date.now() > deadline) {
        const what = offsets.map((o) => `${o.topic}/${o.partition} at ${o.offset}`).join(', ')
        throw new SluiceError(
          'KAFKA_UNAVAILABLE',
          `the transaction committing ${group}'s offsets (${what}) did not become visible on Kafka at ${this.#brokers}`,
          { retryable: true },
        )
      }
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }

  /** The group's committed offsets of `topics` in one request: topic → partition → offset (absent: none). */
  async #committedOffsetsOf(
    group: string,
    topics: readonly string[],
  ): Promise<Map<string, Map<number, number>>> {
    let response: Awaited<ReturnType<Admin['fetchOffsets']>>
    try {
      response = await this.#withAdmin((admin) => admin.fetchOffsets({ groupId: group, topics: [...topics] }))
    } catch (error) {
      throw this.#mapError(error)
    }
    const offsets = new Map<string, Map<number, number>>()
    for (const entry of response) {
      const partitions = new Map<number, number>()
      for (const p of entry.partitions) {
        const offset = Number(p.offset)
        if (offset >= 0) partitions.set(p.partition, offset)
      }
      offsets.set(entry.topic, partitions)
    }
    return offsets
  }

  #place(topic: string, record: OutgoingRecord, partitionCount: number): number {
    if (record.partition !== undefined) {
      if (!Number.isInteger(record.partition) || record.partition < 0 || record.partition >= partitionCount) {
        throw new SluiceError(
          'LOG_BAD_PARTITION',
          `${topic} has ${partitionCount} partitions, no partition ${record.partition}`,
        )
      }
      return record.partition
    }
    if (record.key !== null) return partitionForKey(record.key, partitionCount)
    const next = this.#roundRobin.get(topic) ?? 0
    this.#roundRobin.set(topic, (next + 1) % partitionCount)
    return next % partitionCount
  }

  async #partitionCount(topic: string): Promise<number> {
    return this.#partitionCounts.get(topic) ?? this.#fetchPartitionCount(topic)
  }

  async #fetchPartitionCount(topic: string): Promise<number> {
    let metadata: Awaited<ReturnType<Admin['fetchTopicMetadata']>>
    try {
      // One metadata request for exactly this topic (no retries on an unknown topic).
      metadata = await this.#withAdmin((admin) => admin.fetchTopicMetadata({ topics: [topic] }))
    } catch (error) {
      this.#partitionCounts.delete(topic)
      throw this.#mapError(error, topic)
    }
    const found = metadata.topics.find((t) => t.name === topic)
    if (!found || found.partitions.length === 0) {
      throw new SluiceError('LOG_UNKNOWN_TOPIC', `unknown topic ${topic}`)
    }
    this.#partitionCounts.set(topic, found.partitions.length)
    return found.partitions.length
  }

  /** Low and high watermark per partition, in partition order. */
  async #watermarks(topic: string): Promise<{ partition: number; low: number; high: number }[]> {
    // Checked first: fetchTopicOffsets retries an unknown topic for seconds before it fails.
    await this.#fetchPartitionCount(topic)
    let offsets: Awaited<ReturnType<Admin['fetchTopicOffsets']>>
    const deadline = Date.now() + WATERMARKS_LEADER_WAIT_MS
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        offsets = await this.#withAdmin((admin) => admin.fetchTopicOffsets(topic))
        break
      } catch (error) {
        // kafkajs's admin gives up at once on a partition whose leader moved or is being elected
        // (just after a broker restart), and keeps its metadata for five minutes: a fresh admin
        // reads the new leaders, and the wait lets an election finish.
        if (!isStaleMetadata(error) || Date.now() + delay > deadline) throw this.#mapError(error, topic)
        await this.#renewAdmin().catch(() => {})
        await new Promise((resolve) => setTimeout(resolve, delay))
      }
    }
    return offsets
      .map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
      .sort((a, b) => a.partition - b.partition)
  }

  async #readRange(
    topic: string,
    partition: number,
    start: number,
    until: number,
    maxRecords: number,
  ): Promise<LogRecord[]> {
    const timeoutMs = this.#options.readTimeoutMs ?? 30_000
    try {
      const messages = await this.#reader.read({
        topic,
        partition,
        start,
        until,
        maxRecords,
        deadline: Date.now() + timeoutMs,
      })
      return messages.map((message) => toLogRecord(topic, partition, message))
    } catch (error) {
      if (error instanceof ReadTimeout) {
        throw new SluiceError(
          'KAFKA_UNAVAILABLE',
          `read(${topic}, ${partition}, ${start}) from Kafka at ${this.#brokers} got ${error.got} of the records before offset ${until} in ${timeoutMs} ms`,
          { retryable: true },
        )
      }
      throw this.#mapError(error, topic)
    }
  }

  /** A connection failure as KAFKA_UNAVAILABLE; anything else unchanged. */
  #unavailable(error: unknown): unknown {
    if (error instanceof SluiceError) return error
    return new SluiceError(
      'KAFKA_UNAVAILABLE',
      `Kafka at ${this.#brokers} is unavailable: ${errorMessage(error)}`,
      { cause: error, retryable: true },
    )
  }

  /**
   * A consumer that kafkajs gave up on (a crash it will not restart). Only a missing topic, a
   * refused login or TLS handshake (KAFKA_AUTH) or an ACL refusal is final; anything else (the broker restarting, a coordinator moving,
   * a network blip longer than kafkajs's retries) is KAFKA_UNAVAILABLE and retryable, so the
   * subscriber can subscribe again once the cluster answers.
   */
  #mapConsumerError(error: unknown): unknown {
    const refusedLogin = authFailure(error, this.#options)
    if (refusedLogin) return refusedLogin
    const mapped = this.#mapError(error)
    if (mapped instanceof SluiceError) return mapped
    if (isKafkaError(error, 'UNKNOWN_TOPIC_OR_PARTITION') || isAuthorizationError(error)) return mapped
    return new SluiceError(
      'KAFKA_UNAVAILABLE',
      `the Kafka consumer at ${this.#brokers} stopped: ${errorMessage(error)}`,
      { cause: error, retryable: true },
    )
  }

  #mapError(error: unknown, topic?: string): unknown {
    if (error instanceof SluiceError) return error
    if (topic !== undefined && isKafkaError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) {
      return new SluiceError('LOG_UNKNOWN_TOPIC', `unknown topic ${topic}`, { cause: error })
    }
    // Refused records: a timestamp too far off the broker's clock, a record or batch over its size limit.
    if (INVALID_RECORD_ERRORS.some((type) => isKafkaError(error, type))) {
      return new SluiceError(
        'LOG_RECORD_REFUSED',
        `Kafka refused the record${topic ? ` for ${topic}` : ''}: ${errorMessage(error)}`,
        {
          cause: error,
        },
      )
    }
    // The idempotent producer's sequence refused (kafka-stuck-producer.ts): the append renewed the
    // producer id and sent again, or the next append will.
    if (isStuckProducerError(error)) {
      return new SluiceError(
        'KAFKA_UNAVAILABLE',
        `Kafka at ${this.#brokers} refused the producer's sequence${topic ? ` for ${topic}` : ''}: ${errorMessage(error)}`,
        { cause: error, retryable: true },
      )
    }
    // Checkpoint metadata over the broker's offset.metadata.max.bytes (default 4096).
    if (isKafkaError(error, 'OFFSET_METADATA_TOO_LARGE')) {
      return new SluiceError(
        'LOG_INVALID_ARGUMENT',
        `Kafka refused the checkpoint metadata committed with the offset: ${errorMessage(error)}`,
        { cause: error },
      )
    }
    if (isUnavailable(error)) return this.#unavailable(error)
    return error
  }
}

/** What a checkpointed subscription needs of the log; see CheckpointEnvironment. */
interface CheckpointAccess {
  openProducer: CheckpointEnvironment['openProducer']
  awaitCommitted(group: string, ...rest: Parameters<CheckpointEnvironment['awaitCommitted']>): Promise<void>
  fetchCommitted(
    group: string,
    topic: string,
    partition: number,
  ): ReturnType<CheckpointEnvironment['fetchCommitted']>
  append: CheckpointEnvironment['append']
}

function validateCheckpoint(options: SubscribeOptions): void {
  const { delivery, checkpoint, group } = options
  if (delivery !== undefined && delivery !== 'at-least-once' && delivery !== 'exactly-once') {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      `subscribe(${group}): unknown delivery '${String(delivery)}'`,
    )
  }
  if (delivery === 'exactly-once' && (checkpoint === undefined || !checkpoint.transactionalId)) {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      `subscribe(${group}): exactly-once needs checkpoint options with a transactionalId`,
    )
  }
  const intervalMs = checkpoint?.intervalMs
  if (intervalMs !== undefined && !(Number.isFinite(intervalMs) && intervalMs >= 0)) {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      `subscribe(${group}): checkpoint.intervalMs must be a non-negative number`,
    )
  }
  const tickIntervalMs = checkpoint?.tickIntervalMs
  if (tickIntervalMs !== undefined && !(Number.isFinite(tickIntervalMs) && tickIntervalMs > 0)) {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      `subscribe(${group}): checkpoint.tickIntervalMs must be a positive number`,
    )
  }
}

/** One consumer-group member of a subscription. */
class KafkaSubscription implements Subscription {
  readonly done: Promise<void>
  readonly #consumer: Consumer
  readonly #handler: (batch: RecordBatch) => Promise<void>
  readonly #maxBatchRecords: number
  readonly #mapError: (error: unknown) => unknown
  readonly #onCommitted: SubscribeOptions['onCommitted']
  readonly #onAvailability: SubscribeOptions['onAvailability']
  #available = true
  #resolveDone!: () => void
  #rejectDone!: (error: unknown) => void
  #failure: { error: unknown } | undefined
  #stopping: Promise<void> | undefined
  /** stop() finished: a consumer that fetches after this is a ghost kafkajs brought back. */
  #stopped = false
  /** With CheckpointOptions: batches, hooks and commits per task (kafka-checkpoint.ts). */
  readonly #checkpoints: CheckpointedTasks | undefined
  /** Without checkpoints: when the offsets resolved after each batch are committed. */
  readonly #commits: OffsetCommitScheduler
  /**
   * The running consumer's own commit functions, from its latest batch: kafkajs's consumer-level
   * commitOffsets does nothing once stop() began, these commit until the member leaves the group.
   * Dropped at every join: a new generation (or a consumer kafkajs restarted) resolves afresh.
   */
  #committer: Pick<EachBatchPayload, 'commitOffsetsIfNecessary' | 'uncommittedOffsets'> | undefined
  /** A heartbeat said the group is rebalancing: every batch that ends commits at once until it rejoined. */
  #rebalancing = false
  /** The log's own lines (KafkaLog's client log sink, at its level). */
  readonly #log: (entry: KafkaClientLogEntry) => void

  constructor(
    consumer: Consumer,
    handler: (batch: RecordBatch) => Promise<void>,
    options: SubscribeOptions,
    tasks: Tasks,
    mapError: (error: unknown) => unknown,
    commitOptions: { commitIntervalMs: number; log: (entry: KafkaClientLogEntry) => void },
    access?: CheckpointAccess,
  ) {
    this.#commits = new OffsetCommitScheduler({
      intervalMs: commitOptions.commitIntervalMs,
      commit: () => this.#commitResolved(),
      onCommitted: (offsets, seconds) => {
        for (const o of offsets) this.#onCommitted?.({ ...o, seconds })
      },
      onBackgroundError: (error) =>
        commitOptions.log({
          level: 'info',
          namespace: 'OffsetCommits',
          message: `offset commit failed; the offsets stay resolved and are committed later`,
          fields: { group: options.group, error: String(error) },
        }),
    })
    this.#consumer = consumer
    this.#log = commitOptions.log
    this.#handler = handler
    this.#maxBatchRecords = options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS
    this.#onCommitted = options.onCommitted
    this.#onAvailability = options.onAvailability
    this.#mapError = mapError
    if (options.checkpoint && access) {
      const { group } = options
      this.#checkpoints = new CheckpointedTasks({
        group,
        delivery: options.delivery ?? 'at-least-once',
        checkpoint: options.checkpoint,
        tasks,
        maxBatchRecords: this.#maxBatchRecords,
        handler,
        onCommitted: options.onCommitted,
        toLogRecord,
        openProducer: access.openProducer,
        fetchCommitted: (topic, partition) => access.fetchCommitted(group, topic, partition),
        awaitCommitted: (...args) => access.awaitCommitted(group, ...args),
        commitOffsets: (offsets, metadata) => commitThroughConsumer(consumer, offsets, metadata, mapError),
        append: access.append,
        fail: (error) => this.#fail(error),
      })
    }
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolveDone = resolve
      this.#rejectDone = reject
    })
    // `done` may never be awaited (a caller that only calls stop()): no unhandled rejection.
    this.done.catch(() => {})
  }

  /** Joins the group and resolves once this member's first fetch resolved its start offsets. */
  async start(options: SubscribeOptions, timeoutMs: number, partitionsInParallel: number): Promise<void> {
    const consumer = this.#consumer
    await consumer.connect()
    await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning ?? true })
    // A group without committed offsets starts at the end of a partition *when this member first
    // fetches it*; wait for that so records appended after subscribe() resolved are delivered.
    let joined = false
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new SluiceError('KAFKA_UNAVAILABLE', `no partition assignment within ${timeoutMs} ms`, {
              retryable: true,
            }),
          ),
        timeoutMs,
      )
      const settle = (fn: () => void) => {
        clearTimeout(timer)
        removeJoin()
        removeFetch()
        removeCrash()
        fn()
      }
      const removeJoin = consumer.on(consumer.events.GROUP_JOIN, (event) => {
        joined = true
        const assigned = Object.values(event.payload.memberAssignment).some(
          (partitions) => partitions.length > 0,
        )
        if (!assigned) settle(resolve)
      })
      const removeFetch = consumer.on(consumer.events.FETCH, () => {
        if (joined) settle(resolve)
      })
      const removeCrash = consumer.on(consumer.events.CRASH, (event) => {
        if (!event.payload.restart) settle(() => reject(event.payload.error))
      })
    })
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) this.#fail(this.#mapError(event.payload.error))
      else {
        this.#setAvailable(false, this.#mapError(event.payload.error))
        // The restarted consumer fetches from the committed offsets: the open checkpoints are
        // aborted (their partitions are assigned again, from the last commit, once it rejoins).
        void this.#checkpoints?.closeAll('abort')
      }
    })
    // kafkajs can bring a disconnected consumer back: a crash restart it schedules after the
    // disconnect() that ends its crash (ours may share it), or a restart still joining the group
    // (its runner is not running yet, so disconnect() passes it by). Such a ghost joins the group
    // and holds partitions that nobody handles; once it fetches, its runner runs and can be
    // stopped.
    consumer.on(consumer.events.FETCH_START, () => {
      if (this.#stopped) void consumer.disconnect().catch(() => {})
    })
    // Partitions a rebalance took away leave their checkpoint (kafkajs has no revocation callback:
    // the new assignment is known once the member rejoined).
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      // A start-up (and rebalance) phase, with the time since the process started.
      this.#log({
        level: 'info',
        namespace: 'Subscription',
        message: 'joined the consumer group',
        fields: {
          group: options.group,
          joinMs: event.payload.duration,
          assignment: event.payload.memberAssignment,
          atMs: Math.round(performance.now()),
        },
      })
      this.#checkpoints?.assign(event.payload.memberAssignment)
      this.#committer = undefined
      this.#rebalancing = false
    })
    // kafkajs has no revocation callback: it rejoins right after this (synchronous) event, once the
    // batches in flight ended. Those that saw the rebalance committed already (#heartbeat); this
    // covers one noticed by kafkajs's own heartbeat after an empty fetch, sent ahead of the
    // JoinGroup, best effort (it fails harmlessly if the join overtakes it: a replay, no loss).
    consumer.on(consumer.events.REBALANCING, () => {
      if (!this.#checkpoints) void this.#commits.flush().catch(() => {})
    })
    // kafkajs restarts a consumer that crashed on a retriable error (the broker went away, the
    // coordinator moved) by itself; the first fetch after that means it is back.
    consumer.on(consumer.events.FETCH, () => this.#setAvailable(true))
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Batches of different partitions overlap (one's CPU work with another's round trips); a
      // partition's own batches stay one at a time, in order.
      partitionsConsumedConcurrently: partitionsInParallel,
      eachBatch: (payload) => this.#eachBatch(payload),
    })
    await ready
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    if (this.#checkpoints) return this.#checkpoints.eachBatch(payload)
    return this.#eachBatchCommitting(payload)
  }

  /**
   * Without checkpoints: resolves each batch's offsets after its handler resolved and commits them
   * within the commit interval (#commits), at once when stopping, failing or rebalancing.
   */
  async #eachBatchCommitting(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, isRunning, isStale } = payload
    this.#committer = payload
    const messages = batch.messages
    for (let from = 0; from < messages.length; from += this.#maxBatchRecords) {
      // Not after a failure (the consumer is being stopped and nothing more may be handled or
      // committed), a stop (the rest goes to the next member) or a rebalance that took the partition.
      if (this.#failure || this.#stopped || !isRunning() || isStale()) return
      const slice = messages.slice(from, from + this.#maxBatchRecords)
      const records = slice.map((m) => toLogRecord(batch.topic, batch.partition, m))
      const endOffset = Number(batch.highWatermark)
      try {
        await this.#handler({ topic: batch.topic, partition: batch.partition, records, endOffset })
      } catch (error) {
        this.#fail(error)
        return
      }
      resolveOffset(slice[slice.length - 1]!.offset)
      // Offsets are resolved only after their handler resolved, so a commit takes batches of other
      // partitions handled meanwhile (partitionsInParallel), never one still in a handler. Inline
      // (interval 0, or stopping / failing / rebalancing), a commit that fails (the broker went
      // away, the group moved on while the handler waited) throws into kafkajs, which restarts the
      // consumer: the batch is fetched and handled again.
      if (!this.#commits.background || this.#stopping || this.#failure || this.#rebalancing) {
        await this.#commits.flush()
      } else this.#commits.resolved()
      await this.#heartbeat(payload)
    }
  }

  /**
   * kafkajs heartbeats after each batch anyway (at most once per heartbeat interval); doing it here
   * first lets a rebalance it reports commit the resolved offsets before kafkajs rejoins the group
   * (the broker still takes the old generation's commits while the group prepares to rebalance).
   */
  async #heartbeat(payload: EachBatchPayload): Promise<void> {
    try {
      await payload.heartbeat()
    } catch (error) {
      if ((error as { type?: string }).type === 'REBALANCE_IN_PROGRESS') {
        this.#rebalancing = true
        await this.#commits.flush().catch(() => {})
      }
      throw error
    }
  }

  /** Commits every offset the consumer resolved (the handler of its batch resolved). */
  async #commitResolved(): Promise<CommittedOffset[]> {
    const committer = this.#committer
    if (!committer) return []
    const { topics } = committer.uncommittedOffsets()
    if (topics.length === 0) return []
    await committer.commitOffsetsIfNecessary({ topics })
    return topics.flatMap(({ topic, partitions }) =>
      partitions.map((p) => ({ topic, partition: Number(p.partition), offset: Number(p.offset) })),
    )
  }

  #setAvailable(available: boolean, error?: unknown): void {
    if (this.#available === available) return
    this.#available = available
    this.#onAvailability?.(available, error)
  }

  #fail(error: unknown): void {
    if (this.#failure) return
    this.#failure = { error }
    // Not awaited here: disconnect waits for the eachBatch call this runs in to return.
    void this.#shutdown()
  }

  stop(): Promise<void> {
    return this.#shutdown()
  }

  #shutdown(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = (async () => {
        if (this.#checkpoints) {
          // Before the consumer stops: at-least-once commits go through it.
          this.#checkpoints.end()
          await this.#checkpoints.closeAll(this.#failure ? 'abort' : 'commit')
        } else {
          // Before the consumer leaves the group: what was resolved (handlers that resolved, a
          // failed one's predecessors included) is committed; batches still in a handler commit
          // their own as they end (#eachBatchCommitting sees #stopping). A commit that cannot be
          // made leaves those records to be replayed, as a crash would.
          this.#commits.close()
          await this.#commits.flush().catch(() => {})
        }
        try {
          // Stops fetching, waits for the eachBatch in flight (which commits after its handler),
          // then leaves the group so its partitions move to the other members at once.
          const disconnected = this.#consumer.disconnect()
          // With checkpoints the handlers are done already (closeAll waited for them): when the
          // broker cannot be reached, kafkajs's retries need not hold stop() up for long.
          await (this.#checkpoints ? withinMs(disconnected, CHECKPOINT_DISCONNECT_WAIT_MS) : disconnected)
        } catch {
          // The consumer is gone either way; a failed LeaveGroup only delays the rebalance.
        }
        this.#stopped = true
        if (this.#failure) this.#rejectDone(this.#failure.error)
        else this.#resolveDone()
      })()
    }
    return this.#stopping
  }
}

/**
 * At-least-once: commits `offsets` (a task's partitions) with `metadata` through the consumer, in
 * one OffsetCommit. kafkajs resolves commitOffsets without committing when its consumer is not
 * running (stopping, or restarting after a crash): only its commit event says the commit was made,
 * and it must name every partition.
 */
async function commitThroughConsumer(
  consumer: Consumer,
  offsets: readonly PartitionOffset[],
  metadata: string,
  mapError: (error: unknown) => unknown,
): Promise<void> {
  const unmade = new Set(offsets.map((o) => taskKey(o)))
  const removeListener = consumer.on(consumer.events.COMMIT_OFFSETS, ({ payload }) => {
    for (const t of payload.topics) {
      for (const p of t.partitions) unmade.delete(taskKey({ topic: t.topic, partition: Number(p.partition) }))
    }
  })
  try {
    await consumer.commitOffsets(
      offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset: String(offset), metadata })),
    )
  } catch (error) {
    throw mapError(error)
  } finally {
    removeListener()
  }
  if (unmade.size > 0) {
    const what = offsets.map((o) => `${o.topic}/${o.partition}`).join(', ')
    throw new SluiceError(
      'KAFKA_UNAVAILABLE',
      `the offsets of ${what} were not committed: the Kafka consumer is not running`,
      { retryable: true },
    )
  }
}

/** Resolves when `promise` settles or after `ms`, whichever comes first (never rejects). */
async function withinMs(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    promise.catch(() => {}),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms)
    }),
  ])
  clearTimeout(timer)
}

function toMessage(record: OutgoingRecord, partition: number, now: number): PlacedMessage {
  const message: PlacedMessage = {
    key: record.key,
    value: record.value,
    partition,
    timestamp: String(record.timestamp ?? now),
  }
  if (record.headers) message.headers = { ...record.headers }
  return message
}

function toLogRecord(topic: string, partition: number, message: KafkaMessage): LogRecord {
  return {
    topic,
    partition,
    offset: Number(message.offset),
    key: message.key === null ? null : message.key.toString('utf8'),
    value: message.value ?? Buffer.alloc(0),
    headers: decodeHeaders(message.headers),
    timestamp: Number(message.timestamp),
  }
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (!headers) return out
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    // A repeated header name comes back as an array; the log's headers are a map: last one wins.
    const last = Array.isArray(value) ? value[value.length - 1] : value
    if (last === undefined) continue
    out[name] = typeof last === 'string' ? last : last.toString('utf8')
  }
  return out
}

/** A record of an append with the partition it goes to and its index in the append. */
interface Placed {
  readonly index: number
  readonly record: OutgoingRecord
  readonly partition: number
}

function withAppended(error: unknown, appended: number): unknown {
  if (!(error instanceof SluiceError)) return error
  return new SluiceError(error.code, error.message, {
    cause: error.cause,
    retryable: error.retryable,
    appended,
  })
}

function isRefusal(error: unknown): boolean {
  return error instanceof SluiceError && error.code === 'LOG_RECORD_REFUSED'
}

function estimateSize(record: OutgoingRecord): number {
  let size = RECORD_OVERHEAD_BYTES + record.value.length
  if (record.key !== null) size += Buffer.byteLength(record.key, 'utf8')
  if (record.headers) {
    for (const [name, value] of Object.entries(record.headers)) {
      size += 8 + Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value, 'utf8')
    }
  }
  return size
}

/** How long reading a topic's offsets waits for partitions without a leader to get one (a broker restarting). */
const WATERMARKS_LEADER_WAIT_MS = 30_000

function isKafkaError(error: unknown, type: string): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if ((current as { type?: unknown }).type === type) return true
    current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError
  }
  return false
}

function isTopicAlreadyExists(error: unknown): boolean {
  if (isKafkaError(error, 'TOPIC_ALREADY_EXISTS')) return true
  // createTopics wraps per-topic failures in a KafkaJSAggregateError of protocol errors.
  const errors = (error as { errors?: unknown }).errors
  return (
    Array.isArray(errors) && errors.length > 0 && errors.every((e) => isKafkaError(e, 'TOPIC_ALREADY_EXISTS'))
  )
}

/** An ACL refusal (TOPIC_/GROUP_/CLUSTER_AUTHORIZATION_FAILED): retrying does not grant access. */
function isAuthorizationError(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const type = (current as { type?: unknown }).type
    if (typeof type === 'string' && type.endsWith('AUTHORIZATION_FAILED')) return true
    current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError
  }
  return false
}

/**
 * Protocol errors of a cluster still settling (a broker just restarted: its group coordinator is
 * loading, a partition has no leader yet): kafkajs gives up on them after its own retries in admin
 * calls such as fetchOffsets, but trying again later succeeds.
 */
const SETTLING_PROTOCOL_ERRORS = new Set([
  'NOT_COORDINATOR',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_OR_FOLLOWER',
  'NOT_LEADER_FOR_PARTITION',
])

export function isUnavailable(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (UNAVAILABLE_ERRORS.has(current.name)) return true
    const type = (current as { type?: unknown }).type
    if (
      current.name === 'KafkaJSProtocolError' &&
      typeof type === 'string' &&
      SETTLING_PROTOCOL_ERRORS.has(type)
    ) {
      return true
    }
    current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError
  }
  return false
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function toLogEntry({ namespace, level, log }: LogEntry): KafkaClientLogEntry {
  const {
    message,
    timestamp: _timestamp,
    logger: _logger,
    ...fields
  } = log as LogEntry['log'] & {
    logger?: string
  }
  let mapped: KafkaClientLogLevel =
    level === logLevel.ERROR
      ? 'error'
      : level === logLevel.WARN
        ? 'warn'
        : level === logLevel.INFO
          ? 'info'
          : 'debug'
  // An error response is retried by kafkajs or handed back to the caller, who maps it: logging it
  // too only adds noise (a fresh broker answers "coordinator not available" a few times).
  if (namespace === 'Connection' && message.startsWith('Response ')) mapped = 'debug'
  // kafkajs's info lines are client lifecycle chatter (connecting, joining a group, stopping):
  // detail for debugging, not news for an operator.
  if (mapped === 'info') mapped = 'debug'
  // A failed connection or login is retried, and a lasting failure reaches the caller as
  // KAFKA_UNAVAILABLE or KAFKA_AUTH: worth a warning while it happens, not an error of its own.
  if (
    mapped === 'error' &&
    (namespace === 'Connection' || namespace === 'BrokerPool' || namespace.startsWith('SaslAuthenticator'))
  ) {
    mapped = 'warn'
  }
  // A transaction's next send right after a commit meets the commit's markers still being
  // written: the broker asks to retry, and kafkajs does.
  if (message.includes('another concurrent operation on the same transaction')) mapped = 'debug'
  // A fenced transactional producer: the subscription ends with LOG_FENCED, which says so.
  if (mapped === 'error' && message.startsWith('Producer attempted an operation with an old epoch')) {
    mapped = 'warn'
  }
  // Retries are bounded on purpose (see KafkaLog.connect); said at every connect, it is no news.
  if (message.startsWith('Limiting retries for the idempotent producer')) mapped = 'debug'
  // kafkajs logs a restart after a retriable consumer crash; the consumer goes on.
  // (kafkajs 2.2.4 says so under Consumer, at error level.)
  if ((namespace === 'Runner' || namespace === 'Consumer') && message.startsWith('Restarting the consumer')) {
    mapped = 'info'
  }
  // Stack traces are for debugging; an operator's log gets the message.
  if (mapped !== 'debug' && 'stack' in fields) delete (fields as { stack?: unknown }).stack
  return { level: mapped, namespace, message, fields }
}

/** Without a logger: warnings and errors to stderr as JSON lines, like the runtime's own logs. */
function defaultLogSink(entry: KafkaClientLogEntry): void {
  if (entry.level !== 'error' && entry.level !== 'warn') return
  process.stderr.write(
    formatLogRecord('json', entry.level, entry.message, {
      component: 'kafkajs',
      namespace: entry.namespace,
      ...entry.fields,
    }),
  )
}

/** kafkajs's ssl and sasl settings from KafkaLogOptions. */
function clientSecurity(options: KafkaLogOptions): Pick<import('kafkajs').KafkaConfig, 'ssl' | 'sasl'> {
  const config: Pick<import('kafkajs').KafkaConfig, 'ssl' | 'sasl'> = {}
  if (options.tls === true) config.ssl = true
  else if (options.tls) {
    const { ca, cert, key, insecure } = options.tls
    config.ssl = {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      rejectUnauthorized: insecure !== true,
    }
  }
  if (options.sasl) {
    const { mechanism, username, password } = options.sasl
    config.sasl = { mechanism, username, password } as import('kafkajs').SASLOptions
  }
  return config
}

/** Node's codes for a broker certificate that does not chain to a trusted CA. */
const UNTRUSTED_CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
])

/**
 * A refused login or a failed TLS handshake as KAFKA_AUTH naming the broker and the mechanism, or
 * undefined for any other failure. Retrying cannot help either, so neither is retryable.
 */
function authFailure(error: unknown, options: KafkaLogOptions): SluiceError | undefined {
  const chain: Error[] = []
  for (let current: unknown = error; chain.length < 6 && current instanceof Error; ) {
    chain.push(current)
    current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError
  }
  const brokers = options.brokers.join(',')
  const sasl = chain.find((e) => e.name === 'KafkaJSSASLAuthenticationError')
  if (sasl && options.sasl) {
    const mechanism = options.sasl.mechanism.toUpperCase()
    return new SluiceError(
      'KAFKA_AUTH',
      `Kafka at ${brokers} refused SASL ${mechanism} authentication of user '${options.sasl.username}': ${sasl.message}`,
      { cause: error },
    )
  }
  if (sasl) {
    return new SluiceError('KAFKA_AUTH', `Kafka at ${brokers} requires authentication: ${sasl.message}`, {
      cause: error,
    })
  }
  if (!options.tls) return undefined
  const connection = chain.find((e) => typeof (e as { code?: unknown }).code === 'string') as
    | (Error & { code: string; broker?: string })
    | undefined
  if (!connection) return undefined
  const code = connection.code
  const broker = connection.broker ?? brokers
  const reason = UNTRUSTED_CERTIFICATE_CODES.has(code)
    ? "the broker's certificate is not signed by a trusted CA"
    : code === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? "the broker's certificate is not for this host name"
      : code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID'
        ? "the broker's certificate is expired or not yet valid"
        : /CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN/.test(code)
          ? 'the broker refused the client certificate (or requires one and none was given)'
          : code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO'
            ? 'the broker does not speak TLS on this port'
            : code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('CERT_')
              ? 'the TLS handshake failed'
              : undefined
  if (reason === undefined) return undefined
  return new SluiceError(
    'KAFKA_AUTH',
    `TLS with Kafka broker ${broker} failed: ${reason} (${code}: ${connection.message.replace(/^Connection error: /, '')})`,
    { cause: error },
  )
}
