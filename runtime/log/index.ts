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
 *   commits the offset after a batch only once the handler's promise resolved (at-least-once), or
 *   at checkpoints, with exactly-once transactions when asked (CheckpointOptions, Delivery). A handler that rejects stops the subscription
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

/** The positions `append` returns, as two typed arrays: index i is the i-th appended record. */
export interface PositionArrays {
  readonly partitions: Int32Array
  readonly offsets: Float64Array
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
  /**
   * Appends that belong to this partition's open checkpoint: under exactly-once, part of its
   * transaction (invisible to readers until the commit, discarded if it aborts); under
   * at-least-once, plain appends. Present when the subscription has `checkpoint`.
   */
  readonly transaction?: PartitionTransaction
  /**
   * The checkpoint unit (task) the batch belongs to, present when the subscription has
   * `checkpoint`: the first topic of the batch's co-partitioned group (SubscribeOptions.copartitioned)
   * and the batch's partition; the batch's own topic and partition outside any group. Hooks are
   * called with this name; `transaction` is the task's.
   */
  readonly task?: { readonly topic: string; readonly partition: number }
  /**
   * A tick (CheckpointOptions.tickIntervalMs): no records, handed out for a task that has had no
   * batch for the tick interval, so its owner can act on time alone (fire windows an idle
   * partition or the wall clock made due) inside the task's transaction. `topic` and `partition`
   * are the task's name; `endOffset` is -1.
   */
  readonly tick?: true
}

/** Appends as part of a source partition's open checkpoint (see Delivery). */
export interface PartitionTransaction {
  append(
    topic: string,
    records: readonly OutgoingRecord[],
    options?: AppendOptions,
  ): Promise<RecordPosition[]>
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
  /** Default: at-least-once. Exactly-once needs `checkpoint` with a `transactionalId`. */
  readonly delivery?: Delivery
  /**
   * Commit at checkpoints with hooks for operator state, instead of after every batch. Without it
   * (stateless pipelines), at-least-once commits after each batch's handler resolved, as the
   * contract above says: at once, or (Kafka, KafkaLogOptions.commitIntervalMs) within an interval,
   * with everything handled committed on stop() and before a rebalance moves partitions away.
   */
  readonly checkpoint?: CheckpointOptions
  /**
   * Co-partitioned topic groups (docs/decisions/0020-joins-need-co-partitioned-tasks.md), for
   * state fed by several topics (a join). Partition p of every topic of a group is one *task*: the
   * unit of assignment and, with `checkpoint`, of checkpoints:
   *
   * - one subscriber holds all of a task's partitions (Kafka: a partition assigner that assigns
   *   whole tasks; the embedded log has one subscriber per group and topic anyway);
   * - the hooks of CheckpointOptions are called once per task, with the group's first topic and
   *   p (`RecordBatch.task`), and run serialised with the handler of every partition of the task;
   * - a checkpoint commits the offsets of all the task's partitions with the same metadata, and
   *   under exactly-once in one transaction (transactional id `${transactionalId}.${firstTopic}.${p}`)
   *   that holds the outputs of batches of every partition of the task;
   * - `assigned` gets the metadata committed with the first topic's offset (the task's partitions
   *   always commit together, so they carry the same metadata).
   *
   * Each group names two or more distinct topics of `topics`, a topic belongs to at most one
   * group, and the topics of a group must have the same number of partitions: subscribe rejects
   * with LOG_INVALID_ARGUMENT otherwise (naming the topics and their partition counts). Topics in
   * no group are tasks of one partition each, exactly as without this option.
   */
  readonly copartitioned?: readonly (readonly string[])[]
  /** Told after offsets are committed (once per partition a commit moved), with how long it took. */
  readonly onCommitted?: (commit: {
    readonly topic: string
    readonly partition: number
    /** The committed offset: the next record the group reads. */
    readonly offset: number
    readonly seconds: number
  }) => void
}

/**
 * How a subscription's offsets are committed (docs/decisions/0016-exactly-once.md).
 *
 * - `at-least-once`: offsets (with the checkpoint's metadata) are committed after the outputs were
 *   appended; a crash in between replays the records since the last commit, and their outputs
 *   appear again.
 * - `exactly-once`: per source partition, the handler's appends (`RecordBatch.transaction`) and the
 *   group's offset with its metadata commit together in one transaction, or not at all. Readers
 *   (`read`, `subscribe`) only ever see committed records: records of an open transaction are not
 *   delivered yet, those of an aborted one never are (they become gaps). As in Kafka's
 *   read_committed, a reader stops at a partition's oldest open transaction (the last stable
 *   offset): records appended after it, transactional or not, wait until it commits or aborts.
 *   Each source partition has its own transactional id, `${transactionalId}.${topic}.${partition}`,
 *   so whoever takes a partition over (a restarted node, or another node after a rebalance)
 *   fences the previous owner: a zombie's later appends and commits fail with LOG_FENCED instead
 *   of landing.
 */
export type Delivery = 'at-least-once' | 'exactly-once'

/**
 * Checkpoints: instead of committing after every batch, the subscription commits each partition's
 * offset (and, under exactly-once, its transaction) at most every `intervalMs` (at a batch boundary,
 * also when the partition goes idle, and on stop()), and lets the owner of operator state take part:
 * `prepare` before the commit (the runner stages its state for the epoch and returns the epoch as
 * metadata), `committed` after it (the runner makes the staged state visible), `assigned` before a
 * partition's first batch (the runner restores the state of the epoch that committed last).
 *
 * Every hook of a partition runs serialised with that partition's handler: never two at once.
 * A hook that rejects ends the subscription as a rejecting handler does (`done` rejects); under
 * exactly-once the open transaction is then aborted.
 */
export interface CheckpointOptions {
  /** How often each partition commits. Default 1000 ms; 0 commits at every batch boundary. */
  readonly intervalMs?: number
  /** With exactly-once: names the transactions (see Delivery). Required for exactly-once. */
  readonly transactionalId?: string
  /**
   * `prepare` takes everything it commits before it returns its promise (its asynchronous part
   * only writes what it took). A log may then run the partition's next batches while the rest of
   * the checkpoint (the writes, the offsets' commit, `committed`) completes, under at-least-once;
   * the partition's next checkpoint, revocation and stop wait for it. Default false: serialised.
   */
  readonly capturesOnPrepare?: boolean
  /**
   * Ticks: a task that has delivered a batch once and then none for this long gets a batch of no
   * records (`RecordBatch.tick`), serialised with its handler and hooks like any batch and part of
   * its open checkpoint, then again every `tickIntervalMs` while it stays quiet. What a tick
   * appends commits with the task's next checkpoint. Default: no ticks.
   */
  readonly tickIntervalMs?: number
  /**
   * The partition is now this subscriber's; `metadata` is what `prepare` returned for its last
   * committed offset (null when the group never committed it, or committed it without metadata).
   */
  assigned(topic: string, partition: number, metadata: string | null): Promise<void>
  /** Before committing the partition's offset; resolves to the metadata committed with it (≤ 4 KB). */
  prepare(topic: string, partition: number): Promise<string>
  /** After the commit of what `prepare` returned (`metadata`) succeeded. */
  committed(topic: string, partition: number, metadata: string): Promise<void>
  /**
   * The partition is no longer this subscriber's (a rebalance, stop(), or an aborted transaction).
   * Its open work was committed or aborted before this is called; state kept for it must be
   * dropped, since another node may change it before the partition comes back.
   */
  revoked(topic: string, partition: number): void
  /**
   * Optional, a log's hint before it joins its group: the partition (a task's first topic and
   * partition) will probably be assigned, and `metadata` is what the group committed for it now.
   * The owner of the state may start reading it, without changing anything (another node may
   * still own it); `assigned` comes as usual if it is assigned, with the metadata committed then.
   * Kafka gives it for the partitions of the node's previous incarnation (decision 0033).
   */
  preload?(topic: string, partition: number, metadata: string | null): void
  /**
   * Optional: after a group join, which partitions (tasks, as `preload` named them) the
   * subscriber holds; state read ahead for the others must be dropped.
   */
  retainPreloaded?(assigned: (topic: string, partition: number) => boolean): void
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
  /**
   * Optional: `append` with the same contract, the positions as two typed arrays instead of an
   * object per record, for a caller on a hot path (the gateway's group appender, issue 16). A log
   * without it is called through `append`, and so is a decorator that overrides `append` but not
   * this (the appender checks that both come from the same object in the prototype chain).
   */
  appendPositions?(
    topic: string,
    records: readonly OutgoingRecord[],
    options?: AppendOptions,
  ): Promise<PositionArrays>
  /** Up to `maxRecords` records of one partition from `fromOffset` on (fewer at the end). */
  read(topic: string, partition: number, fromOffset: number, maxRecords: number): Promise<LogRecord[]>
  /**
   * The offset the next appended record of each partition will get, index = partition. Kafka:
   * while a transaction is open on a partition, its last stable offset instead (the first offset of
   * the oldest open transaction: where read_committed readers stop for now).
   */
  endOffsets(topic: string): Promise<number[]>
  /** The group's committed offset (next record to read) per partition; -1 where none. */
  committedOffsets(group: string, topic: string): Promise<number[]>
  /** The metadata committed with the group's offset of one partition; null when none. */
  committedMetadata(group: string, topic: string, partition: number): Promise<string | null>
  subscribe(options: SubscribeOptions, handler: (batch: RecordBatch) => Promise<void>): Promise<Subscription>
  close(): Promise<void>
}
