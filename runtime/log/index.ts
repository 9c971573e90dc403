/**
 * The log: partitioned, append-only topics of records with offsets, and consumer groups whose
 * committed offsets survive restarts. Two implementations pass one conformance suite
 * (conformance.ts):
 * - embedded.ts: segment files under a data directory (the default, one process, no servers);
 * - kafka.ts: Apache Kafka through kafkajs (distributed mode).
 *
 * Contract (both implementations):
 * - `append` writes a batch in order; records with the same key go to the same partition
 *   (Kafka's murmur2 partitioner, so both implementations agree on the partition of a key);
 *   a record with a null key goes to partition `partition` when given, else round-robin.
 *   The returned positions are in the order of the input records.
 * - Offsets within a partition start at 0 and increase by 1 per record; they are never reused,
 *   also across restarts. There may be gaps: offsets with no record (Kafka: compaction, aborted
 *   transactions; embedded: damaged records that were set aside, see below). Readers and
 *   subscriptions step over them; a record's offset is never assumed to be the previous one + 1.
 * - `subscribe` delivers each partition's records in offset order, one batch at a time, and
 *   commits the offset after a batch only once the handler's promise resolved (at-least-once;
 *   exactly-once comes with transactions later). A handler that rejects stops the subscription
 *   and the batch is delivered again to the next subscriber of the group.
 * - A group with no committed offset starts at the earliest record when `fromBeginning` is true,
 *   else at the end of each partition.
 * - `close` stops every subscription, waits for in-flight handlers and flushes to durable storage.
 * - `subscribe` resolves once the subscription's starting positions are fixed, so a record appended
 *   after it resolved is delivered even with `fromBeginning: false`.
 * - `done` never becomes an unhandled rejection when nobody awaits it; a handler must not await
 *   its own subscription's `stop()` (stop waits for that handler).
 * - "Offsets are never reused", embedded (docs/decisions/0008-embedded-log-damage.md): an offset
 *   that can be read on disk (even in a damaged record), or that a consumer group committed past,
 *   is never handed to another record. When recovery cuts a damaged or torn tail, it continues
 *   past every offset readable in the cut bytes and every group's committed offset, and records
 *   the skipped range (a gap). The exception is an append whose offset never became readable on
 *   disk (a crash before or early in its write, or a machine crash losing a page the durability
 *   policy had not synced yet: `{ intervalMs }` or 'none', embedded/durability.ts): nothing is
 *   left to say the offset existed, nobody committed past it (offsets are synced after the data
 *   they follow), and at-least-once delivery tolerates a reader that saw it seeing another record
 *   there. Kafka may also delete old records by retention.
 * - Headers are UTF-8 strings with unique names; timestamps round-trip on CreateTime topics.
 */

/** A record to append. `value` is the encoded event (JSON for now); headers are UTF-8 strings. */
export interface OutgoingRecord {
  readonly key: string | null
  readonly value: Buffer
  readonly headers?: Readonly<Record<string, string>>
  /** Milliseconds since the epoch; defaults to the time of the append. */
  readonly timestamp?: number
  /** Explicit partition; overrides the key's partition. */
  readonly partition?: number
}

/** A record as stored in the log. */
export interface LogRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly key: string | null
  readonly value: Buffer
  readonly headers: Readonly<Record<string, string>>
  readonly timestamp: number
}

export interface RecordPosition {
  readonly topic: string
  readonly partition: number
  readonly offset: number
}

/** Records of one topic-partition, in offset order, handed to a subscription handler. */
export interface RecordBatch {
  readonly topic: string
  readonly partition: number
  readonly records: readonly LogRecord[]
  /**
   * The partition's end offset (the next offset to be written) as the log knew it when it fetched
   * the batch, for consumer lag: records behind after this batch = endOffset - (last offset + 1).
   */
  readonly endOffset: number
}

export interface SubscribeOptions {
  readonly group: string
  readonly topics: readonly string[]
  /** Where a group with no committed offset starts. Default: true (earliest). */
  readonly fromBeginning?: boolean
  /** Upper bound on records in one batch. Default: 1000. */
  readonly maxBatchRecords?: number
  /**
   * Told when the log client loses its connection and keeps retrying by itself (`available: false`,
   * with the error), and when it fetches again (`available: true`): a subscriber's readiness.
   * Failures the client gives up on end the subscription instead (`done` rejects).
   */
  readonly onAvailability?: (available: boolean, error?: unknown) => void
  /** Told after each batch's offsets are committed, with how long the commit took. */
  readonly onCommitted?: (commit: {
    readonly topic: string
    readonly partition: number
    /** The committed offset: the next record the group reads. */
    readonly offset: number
    readonly seconds: number
  }) => void
}

export interface Subscription {
  /** Stops fetching, waits for the handler in flight, commits its offsets. Idempotent. */
  stop(): Promise<void>
  /** Resolves when the subscription ends: after stop(), or rejects with the handler's error. */
  readonly done: Promise<void>
}

export interface TopicConfig {
  /** Default: 1. */
  readonly partitions?: number
}

export interface AppendOptions {
  /**
   * Records the log will never accept as they are (larger than its record limit, a timestamp the
   * broker refuses) are then left out and reported here, with the log's reason, while every other
   * record is appended in order; the returned positions are those of the appended records only.
   * Without it, such a record fails the whole append with LOG_RECORD_REFUSED (records of other
   * partitions may have been appended by then on Kafka). Failures that are not about one record
   * (unknown topic, unavailable, closed) reject the append either way.
   */
  readonly onRefused?: (index: number, reason: string) => void
}

export interface Log {
  /** Creates the topic when it does not exist; an existing topic is left as it is. */
  ensureTopic(topic: string, config?: TopicConfig): Promise<void>
  /** Number of partitions of an existing topic; rejects with code LOG_UNKNOWN_TOPIC otherwise. */
  partitions(topic: string): Promise<number>
  append(
    topic: string,
    records: readonly OutgoingRecord[],
    options?: AppendOptions,
  ): Promise<RecordPosition[]>
  /** Up to `maxRecords` records of one partition from `fromOffset` on (fewer at the end). */
  read(topic: string, partition: number, fromOffset: number, maxRecords: number): Promise<LogRecord[]>
  /** The offset the next appended record of each partition will get, index = partition. */
  endOffsets(topic: string): Promise<number[]>
  /** The group's committed offset (next record to read) per partition; -1 where none. */
  committedOffsets(group: string, topic: string): Promise<number[]>
  subscribe(options: SubscribeOptions, handler: (batch: RecordBatch) => Promise<void>): Promise<Subscription>
  close(): Promise<void>
}
