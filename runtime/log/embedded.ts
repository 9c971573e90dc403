import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { isSluiceError, SluiceError } from '../errors.ts'
import { type Logger, silentLogger } from '../observability/logger.ts'
import { mergeRanges } from './embedded/aborted.ts'
import type { BatchProducer } from './embedded/batch.ts'
import { type CheckpointedPartition, Checkpoints } from './embedded/checkpoints.ts'
import { type Durability, formatDurability, resolveDurability } from './embedded/durability.ts'
import type { FrameInput } from './embedded/frame.ts'
import { frameSize, MAX_FRAME_BYTES, MIN_FRAME_BYTES } from './embedded/frame.ts'
import { GroupCommit, type RoundResult } from './embedded/group-commit.ts'
import {
  encodeGroupName,
  GroupOffsets,
  type OffsetsSnapshot,
  type PartitionOffset,
} from './embedded/group-offsets.ts'
import { withAppended, withFile } from './embedded/io-errors.ts'
import { acquireLock, releaseLock } from './embedded/lock.ts'
import { type RecoveryEvent, RecoveryReport } from './embedded/report.ts'
import { isCode, PartitionLog, type PreparedAppend, syncDir } from './embedded/segment.ts'
import {
  decidedUntil,
  type SourcePartition,
  TRANSACTIONS_DIR,
  type TransactionalProducer,
  type TransactionFile,
  Transactions,
} from './embedded/transactions.ts'
import type {
  AppendOptions,
  Log,
  LogRecord,
  OutgoingRecord,
  PositionArrays,
  RecordBatch,
  RecordPosition,
  SubscribeOptions,
  Subscription,
  TopicConfig,
} from './index.ts'
import { partitionForKey } from './partitioner.ts'
import { Tasks } from './tasks.ts'

/**
 * The embedded log: the Log contract (index.ts) on local files, for one process, no servers.
 *
 * Layout of a data directory:
 *   <dataDir>/LOCK                              pid of the owning process (embedded/lock.ts)
 *   <dataDir>/log/<topic>/meta.json             {"version":1,"partitions":N}; written last, so a
 *                                               topic exists once its partitions do
 *   <dataDir>/log/<topic>/<p>/<base>.seg        segment files of record batch frames
 *                                               (embedded/segment.ts, frame.ts, batch.ts)
 *   <dataDir>/log/<topic>/<p>/gaps.json         retired offset ranges (embedded/gaps.ts)
 *   <dataDir>/log/<topic>/<p>/<base>.seg.quarantine-at-<byte>
 *                                               damaged bytes set aside, never deleted
 *   <dataDir>/groups/<group>.json[.bak]         committed offsets (and checkpoint metadata) and
 *                                               their previous generation (embedded/group-offsets.ts)
 *   <dataDir>/transactions/<id>.json            exactly-once transactions: producer id and epoch,
 *                                               commit markers (embedded/transactions.ts)
 *   <dataDir>/log/<topic>/<p>/aborted.json      offset ranges of aborted transactions (embedded/aborted.ts)
 *   <dataDir>/log/<topic>/<p>/transactional.json
 *                                               where transactions that may not have ended begin
 *                                               (embedded/txn-tail.ts)
 *
 * Damage (docs/decisions/0008-embedded-log-damage.md) stays in its partition: open() recovers
 * what it safely can (cuts a torn write, quarantines a corrupt tail, never reuses an offset) and
 * marks a partition it cannot recover as damaged; that partition's reads and appends fail with
 * LOG_CORRUPT_SEGMENT naming the file, the byte and `sluice log repair`, everything else works.
 * What recovery found and did is logged (options.logger) and kept in `recoveryReport`.
 *
 * Appends of a topic are serialized; a batch becomes one buffer and one write per partition (per
 * segment, if it rolls one). If any partition of a batch fails, the other partitions' part is
 * rolled back too. When appends and offset commits become durable is the data directory's
 * durability policy (embedded/durability.ts, docs/decisions/0014-embedded-durability-policy.md):
 * 'batch' (the default here) syncs before an append or commit resolves, concurrent ones sharing
 * one sync round (embedded/group-commit.ts); the interval policy (the commands' default, every
 * 100 ms) syncs data and then offsets in one round every N ms; 'none' only on close.
 *
 * Consumer groups: a group has at most one active subscription per topic here (a second one is
 * refused with LOG_GROUP_BUSY). Spreading a group's partitions over several consumers is what the
 * Kafka implementation is for; the embedded log is one process by design (the LOCK file).
 *
 * Checkpoints and exactly-once (index.ts CheckpointOptions, Delivery): embedded/checkpoints.ts
 * drives a checkpointed subscription's hooks and commits; embedded/transactions.ts is Kafka's
 * design for one writer: a transaction's records are written as transactional batches naming it
 * (batch.ts, magic 3) and reserved, so readers stop at the oldest open one
 * (PartitionLog.stableEnd) and step over aborted ones (aborted.ts); one atomic write of its
 * transaction file, after the records are durable, commits the outputs with the source offset and
 * metadata. open() aborts the batches of transactions a crash left open (abortUndecided) and
 * rolls groups forward to their last commit marker. Partitions that never saw a transaction read
 * exactly as before. A zombie is another subscriber of this process taking the same
 * transactional id: it is fenced (LOG_FENCED) and its open transaction aborted.
 */

export interface EmbeddedLogOptions {
  /** A segment is rolled before a write would take it past this size. Default: 64 MiB. */
  readonly segmentBytes?: number
  /**
   * When appends and commits become durable: 'batch', { intervalMs } or 'none' (see
   * embedded/durability.ts for each one's guarantee). Default: 'batch'. close()
   * syncs everything under every policy.
   */
  readonly durability?: Durability
  /** The old name of durability: 'always' is 'batch', 'never' is 'none'. */
  readonly fsync?: 'always' | 'never'
  /** Every indexInterval-th record's file position is kept in memory. Default: 128. */
  readonly indexInterval?: number
  /**
   * How long an idle subscription sleeps when no append notification arrives. Appends in this
   * process wake it at once; this is a safety net, not a poll. Default: 1000 ms.
   */
  readonly idleWakeMs?: number
  /**
   * Largest record (as a record batch frame holding it alone: value, key, headers and at least 35
   * bytes of framing) an append accepts; a larger one is refused (LOG_RECORD_REFUSED, or reported
   * through AppendOptions.onRefused), like Kafka's max.message.bytes. Default and upper bound:
   * 256 MiB.
   */
  readonly maxRecordBytes?: number
  /** Where recovery warnings go (JSON lines in the CLI). Default: silent; see recoveryReport. */
  readonly logger?: Logger
  /** @internal Test seam: called before each segment write; throwing simulates a failed write. */
  readonly beforeWrite?: (file: string, bytes: number) => void
  /**
   * @internal Test seam: called before each fdatasync of a segment and each fsync of an offsets
   * file (with its path); throwing simulates a failed sync; a returned promise holds the sync
   * back until it settles (to see what proceeds meanwhile).
   */
  readonly beforeSync?: (file: string) => void | Promise<void>
}

/** Options of a read-only open. */
export interface ReadOnlyOptions {
  readonly indexInterval?: number
  readonly logger?: Logger
  /**
   * Step over damaged records (each range reported as a 'corrupt-skipped' event) instead of
   * failing the read with LOG_CORRUPT_SEGMENT. Default: false.
   */
  readonly skipCorrupt?: boolean
}

type ResolvedOptions = Required<
  Omit<EmbeddedLogOptions, 'fsync' | 'logger' | 'beforeWrite' | 'beforeSync' | 'durability'>
> & {
  readonly durability: Durability
  /** Whether anything is synced before close (recovery, new topics, offsets files). */
  readonly fsync: boolean
  readonly skipCorrupt: boolean
  readonly beforeWrite?: (file: string, bytes: number) => void
  readonly beforeSync?: (file: string) => void | Promise<void>
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
const DEFAULT_INDEX_INTERVAL = 128
const MAX_PARTITIONS = 10_000
/** Kafka's rule for topic names; it also keeps names safe as directory names. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/

interface Topic {
  readonly name: string
  readonly partitions: readonly PartitionLog[]
  /** Appends waiting while one is written; the next write takes them all as one batch. */
  waiting: PendingAppend[]
  /** Whether an append of this topic is being written (appends are serialized per topic). */
  writing: boolean
  /** Next partition for a record with neither key nor partition. */
  roundRobin: number
}

/** An append queued behind the one being written (EmbeddedLog.enqueue). */
interface PendingAppend {
  readonly byPartition: Map<number, FrameInput[]>
  /** The exactly-once transaction the append belongs to (its records stay invisible until it commits). */
  readonly producer: TransactionalProducer | null
  readonly resolve: (firstOffsets: Map<number, number>) => void
  readonly reject: (error: unknown) => void
}

export class EmbeddedLog implements Log {
  private readonly topics = new Map<string, Promise<Topic | null>>()
  private readonly subscriptions = new Set<EmbeddedSubscription>()
  /** `${group}\0${topic}` of every running subscription. */
  private readonly claimed = new Set<string>()
  private readonly inFlight = new Set<Promise<unknown>>()
  /** @internal Emits 'append' with the topic name after a batch becomes visible (wakes subscriptions). */
  readonly events = new EventEmitter()
  /** Set when close() begins: no new subscriptions. */
  private closing: Promise<void> | null = null
  /** Set once subscriptions have stopped: nothing at all is accepted any more. */
  private closed = false
  /** @internal Committed offsets; subscriptions commit through commitOffset. */
  readonly groups: GroupOffsets
  private readonly report: RecoveryReport
  /** Sync rounds of data and offsets (policies 'batch' and interval). */
  private readonly syncer: GroupCommit<PartitionLog, OffsetsSnapshot>
  /** The interval policy's timer. */
  private syncTimer: ReturnType<typeof setInterval> | null = null
  /** Exactly-once transactions (not in read-only opens). */
  private readonly transactions: Transactions
  /** `${topic}\0${partition}` → end of ranges transactions open at the last crash reserved (open()). */
  private reservedUntil = new Map<string, number>()

  private constructor(
    readonly dataDir: string,
    private readonly options: ResolvedOptions,
    readonly readOnly: boolean,
    private readonly lockFile: string | null,
    private readonly logger: Logger,
  ) {
    this.report = new RecoveryReport(logger)
    const deferred = options.durability !== 'none'
    this.syncer = new GroupCommit(
      {
        takeDirty: () => this.groups.takeDirty(),
        write: (snapshot) => this.groups.writeSnapshot(snapshot),
        restore: (snapshot) => this.groups.restore(snapshot),
      },
      {
        independent: options.durability === 'batch',
        onFailure: (result) => this.reportSyncFailure(result),
      },
    )
    this.groups = new GroupOffsets(path.join(dataDir, 'groups'), {
      fsync: options.fsync,
      readOnly,
      report: this.report.add,
      ...(deferred ? { onRecord: this.syncer.markOffsetsDirty } : {}),
      ...(options.beforeSync === undefined ? {} : { beforeSync: options.beforeSync }),
    })
    this.transactions = new Transactions(path.join(dataDir, TRANSACTIONS_DIR), options.fsync, {
      syncData: (partitions) => this.syncForCommit(partitions),
      // A producer's sources are one group's partitions, committed with one metadata.
      commitOffsets: (commits) => this.commitOffsets(commits[0]!.group, commits, commits[0]!.metadata),
      wake: (topics) => {
        for (const topic of new Set(topics)) this.events.emit('append', topic)
      },
    })
    this.events.setMaxListeners(0)
    const { durability } = options
    if (!readOnly && typeof durability === 'object') {
      this.syncTimer = setInterval(() => {
        if (!this.syncer.idle || this.syncer.busy) void this.syncer.round()
      }, durability.intervalMs)
      // The timer alone must not keep a process alive; close() does the last round.
      this.syncTimer.unref()
    }
  }

  /** The durability policy this log was opened with. */
  get durability(): Durability {
    return this.options.durability
  }

  /**
   * A failed sync round: with 'batch' the appends and commits waiting for it fail; with the
   * interval policy they were acknowledged already, so this error in the log is the signal that
   * records acknowledged since the previous round may not survive a machine crash. The partition
   * refuses further appends (LOG_CLOSED) until the log is reopened.
   */
  private reportSyncFailure(result: RoundResult<PartitionLog>): void {
    for (const [partition, error] of result.failed) {
      this.logger.error(
        'embedded log: syncing a partition failed; it refuses appends until the log is reopened',
        {
          topic: partition.topic,
          partition: partition.partition,
          durability: formatDurability(this.options.durability),
          error: error.message,
        },
      )
    }
    if (result.offsetsError !== null) {
      this.logger.error('embedded log: writing consumer-group offsets failed; they stay as last written', {
        durability: formatDurability(this.options.durability),
        error: result.offsetsError.message,
      })
    }
  }

  /**
   * What recovery found and did since the log was opened: torn writes cut, corrupt data
   * quarantined, offsets retired, damaged partitions and topics, offsets files restored from
   * their backup, damaged records a reader skipped. Each was also logged as a warning.
   */
  get recoveryReport(): readonly RecoveryEvent[] {
    return this.report.events
  }

  /** What the user can run about damage in this data directory (for error messages). */
  private get repairHint(): string {
    const dir = JSON.stringify(this.dataDir)
    return `run \`sluice log verify --data-dir ${dir}\` to see the damage and \`sluice log repair --data-dir ${dir}\` (with the log closed) to set it aside`
  }

  /**
   * Opens (creating if needed) a data directory for reading and writing. Takes the directory's
   * LOCK (LOG_LOCKED if a live process holds it) and recovers every partition: a torn last write
   * is cut off, a corrupt tail is quarantined, and appends continue past every offset that may
   * have been handed out. Damage recovery cannot fix (a bad frame with valid ones after it, a
   * damaged meta.json) makes only that partition or topic unusable; it is reported, not thrown.
   */
  static async open(dataDir: string, options: EmbeddedLogOptions = {}): Promise<EmbeddedLog> {
    const resolved = resolveOptions(options)
    await withFile(dataDir, 'creating', () => mkdir(dataDir, { recursive: true }))
    const lockFile = await acquireLock(dataDir)
    const log = new EmbeddedLog(dataDir, resolved, false, lockFile, options.logger ?? silentLogger)
    try {
      await mkdir(path.join(dataDir, 'log'), { recursive: true })
      await mkdir(path.join(dataDir, 'groups'), { recursive: true })
      const transactions = await Transactions.readAll(path.join(dataDir, TRANSACTIONS_DIR))
      await log.rollForward(transactions)
      for (const name of await readdir(path.join(dataDir, 'log'))) {
        if (!TOPIC_NAME.test(name)) continue
        try {
          await log.lookup(name)
        } catch (error) {
          if (!isSluiceError(error, 'LOG_CORRUPT_SEGMENT')) throw error
          log.report.add({
            kind: 'topic-damaged',
            message: `topic ${name} is unusable until repaired: ${error.message}`,
            topic: name,
          })
        }
      }
      await log.abortUnfinished(transactions)
      await log.abortUndecided(transactions)
    } catch (error) {
      if (log.syncTimer !== null) clearInterval(log.syncTimer)
      await log.closeFiles().catch(() => {})
      await releaseLock(lockFile).catch(() => {})
      throw error
    }
    return log
  }

  /**
   * Opens a data directory for inspection while another process may own it: takes no lock,
   * repairs nothing, ignores a last frame still being written, and picks up new records on each
   * read/endOffsets. append, subscribe and creating topics fail with LOG_READ_ONLY.
   */
  static async openReadOnly(dataDir: string, options: ReadOnlyOptions = {}): Promise<EmbeddedLog> {
    try {
      if (!(await stat(dataDir)).isDirectory()) throw new Error('not a directory')
    } catch (error) {
      throw new SluiceError('LOG_INVALID_ARGUMENT', `no data directory at ${dataDir}`, { cause: error })
    }
    const interval = options.indexInterval === undefined ? {} : { indexInterval: options.indexInterval }
    const resolved = {
      ...resolveOptions({ ...interval, durability: 'none' }),
      skipCorrupt: options.skipCorrupt === true,
    }
    return new EmbeddedLog(dataDir, resolved, true, null, options.logger ?? silentLogger)
  }

  /**
   * Recovery, first step: a transaction that committed is the truth about its group's offset and
   * metadata (the offsets file is written after the commit marker), so a group behind it is moved
   * forward to it; and the ranges of transactions still open are reserved, so the partitions
   * continue past them (openPartitions).
   */
  private async rollForward(files: readonly TransactionFile[]): Promise<void> {
    this.transactions.load(files)
    for (const f of files) {
      const behind = []
      for (const c of f.commits) {
        const stored = (await this.groups.committed(c.group, c.topic, c.partition + 1))[c.partition]!
        if (stored < c.offset) behind.push(c)
      }
      // A task's partitions moved forward together: all of them in one write.
      if (behind.length > 0) await this.groups.commitAll(behind[0]!.group, behind, behind[0]!.metadata)
      if (f.state !== 'open') continue
      for (const r of f.ranges) {
        const key = `${r.topic}\0${r.partition}`
        this.reservedUntil.set(key, Math.max(this.reservedUntil.get(key) ?? -1, r.to))
      }
    }
  }

  /**
   * Recovery, last step: the transactions that were open when the process ended are aborted:
   * their ranges are recorded as aborted in their partitions, so no reader ever sees them.
   */
  private async abortUnfinished(files: readonly TransactionFile[]): Promise<void> {
    for (const f of files) {
      if (f.state !== 'open' || f.ranges.length === 0) continue
      let complete = true
      for (const r of f.ranges) {
        const t = await this.lookup(r.topic).catch(() => null)
        const partition = t?.partitions[r.partition]
        if (partition === undefined || partition.damaged !== null) {
          // Its records stay where they are; the damaged partition refuses reads until repaired,
          // and the next open (after repair) aborts them.
          complete = false
          continue
        }
        await partition.recordAborted([{ from: r.from, to: r.to }])
        this.report.add({
          kind: 'transaction-aborted',
          message: `transaction ${f.transactionalId} was open when the log was last closed; its records ${r.from}..${r.to - 1} of ${r.topic}/${r.partition} are aborted and never delivered`,
          topic: r.topic,
          partition: r.partition,
          offsets: { from: r.from, to: r.to },
        })
      }
      if (complete) await this.transactions.write({ ...f, state: 'aborted', ranges: [] })
    }
    this.reservedUntil.clear()
  }

  /**
   * Recovery, after abortUnfinished: transactional batches (embedded/batch.ts, magic 3) at or past
   * their producer's decided offset belong to epochs the last process did not commit or abort:
   * they are aborted. Only the partitions' tails from their transactional tail mark are scanned;
   * the mark then moves to the end, since everything before it has now ended.
   */
  private async abortUndecided(files: readonly TransactionFile[]): Promise<void> {
    const byProducer = new Map<number, TransactionFile>()
    for (const f of files) if (f.producerId !== undefined) byProducer.set(f.producerId, f)
    for (const pending of this.topics.values()) {
      const t = await pending.catch(() => null)
      for (const partition of t?.partitions ?? []) {
        const mark = partition.transactionalTail
        if (mark === null || partition.damaged !== null) continue
        const batches = await partition.transactionalBatches(mark)
        const undecided = batches.filter((b) => {
          const f = byProducer.get(b.producerId)
          return b.offset >= decidedUntil(f, partition.topic, partition.partition)
        })
        const ranges = mergeRanges(undecided.map((b) => ({ from: b.offset, to: b.offset + b.count })))
        const fresh = ranges.filter((r) => partition.skipGaps(r.from) < r.to)
        await partition.recordAborted(ranges)
        for (const r of fresh) {
          this.report.add({
            kind: 'transaction-aborted',
            message: `records ${r.from}..${r.to - 1} of ${partition.topic}/${partition.partition} belong to a transaction that was open when the log was last closed; they are aborted and never delivered`,
            topic: partition.topic,
            partition: partition.partition,
            offsets: { from: r.from, to: r.to },
          })
        }
        await partition.advanceTransactionalTail(true)
      }
    }
  }

  /** @internal Takes a transactional id over (see embedded/transactions.ts). */
  claim(
    transactionalId: string,
    sources: readonly SourcePartition[],
    onFenced: () => void,
  ): Promise<TransactionalProducer> {
    this.checkOpen()
    return this.transactions.claim(transactionalId, sources, onFenced)
  }

  /**
   * Takes back the reservations of a transactional append that failed and was undone: its
   * offsets go to the next append. Nothing on disk names them (no batch of it stayed).
   */
  private retract(
    reserved: readonly { producer: TransactionalProducer; log: PartitionLog; from: number; to: number }[],
  ): void {
    // A partition whose write could not be undone refuses appends until reopened: nothing reuses
    // its offsets, and records of the batch may be on disk, so the reservation stays (aborted
    // with the transaction, or by recovery).
    for (const r of reserved) if (!r.log.refusesAppends) r.producer.unreserve(r.log, r.from, r.to)
  }

  /** Before a commit marker is written, the transaction's records must be durable. */
  private async syncForCommit(partitions: readonly PartitionLog[]): Promise<void> {
    // 'batch' synced them before each append resolved; 'none' syncs nothing before close.
    if (typeof this.options.durability !== 'object' || partitions.length === 0) return
    const round = await this.syncer.dataRound()
    const failed = partitions.map((p) => round.failed.get(p)).find((e) => e !== undefined)
    if (failed !== undefined) throw failed
  }

  async ensureTopic(topic: string, config: TopicConfig = {}): Promise<void> {
    this.checkOpen()
    validateTopicName(topic)
    const partitions = config.partitions ?? 1
    if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
      throw new SluiceError(
        'LOG_INVALID_ARGUMENT',
        `partitions must be an integer in 1..${MAX_PARTITIONS}, got ${partitions}`,
      )
    }
    for (;;) {
      if ((await this.lookup(topic)) !== null) return
      if (this.readOnly)
        throw new SluiceError('LOG_READ_ONLY', `cannot create topic ${topic} in a read-only log`)
      // Another caller may have started creating it while we looked; then wait for that one.
      if (this.topics.has(topic)) continue
      const creating = this.createTopic(topic, partitions)
      this.topics.set(topic, creating)
      creating.catch(() => this.topics.delete(topic))
      await creating
      return
    }
  }

  async partitions(topic: string): Promise<number> {
    return (await this.topic(topic)).partitions.length
  }

  append(
    topic: string,
    records: readonly OutgoingRecord[],
    options: AppendOptions = {},
  ): Promise<RecordPosition[]> {
    return this.appendAs(topic, records, options, null).then((positions) => positionObjects(topic, positions))
  }

  appendPositions(
    topic: string,
    records: readonly OutgoingRecord[],
    options: AppendOptions = {},
  ): Promise<PositionArrays> {
    return this.appendAs(topic, records, options, null)
  }

  /** @internal An append in an exactly-once transaction (invisible until `producer` commits). */
  appendTransactional(
    topic: string,
    records: readonly OutgoingRecord[],
    options: AppendOptions | undefined,
    producer: TransactionalProducer,
  ): Promise<RecordPosition[]> {
    return this.appendAs(topic, records, options ?? {}, producer).then((positions) =>
      positionObjects(topic, positions),
    )
  }

  private async appendAs(
    topic: string,
    records: readonly OutgoingRecord[],
    options: AppendOptions,
    producer: TransactionalProducer | null,
  ): Promise<PositionArrays> {
    this.checkOpen()
    if (this.readOnly)
      throw new SluiceError('LOG_READ_ONLY', `cannot append to ${topic}: the log is open read-only`)
    const t = await this.topic(topic)
    if (records.length === 0) return NO_POSITIONS
    const now = Date.now()
    const count = t.partitions.length
    const partitionOf = new Int32Array(records.length)
    let appended = 0
    const byPartition = new Map<number, FrameInput[]>()
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!
      const partition = choosePartition(t, record, count)
      const input = toFrameInput(record, now, topic)
      const refusal = refusalOf(input, this.options.maxRecordBytes)
      if (refusal !== null) {
        if (options.onRefused === undefined) throw new SluiceError('LOG_RECORD_REFUSED', refusal)
        options.onRefused(i, refusal)
        continue
      }
      partitionOf[appended++] = partition
      const list = byPartition.get(partition)
      if (list === undefined) byPartition.set(partition, [input])
      else list.push(input)
    }
    if (byPartition.size === 0) return NO_POSITIONS
    const run = this.enqueue(t, byPartition, producer)
    this.inFlight.add(run)
    let firstOffsets: Map<number, number>
    try {
      firstOffsets = await run
    } finally {
      this.inFlight.delete(run)
    }
    const partitions = partitionOf.subarray(0, appended)
    const offsets = new Float64Array(appended)
    if (firstOffsets.size === 1) {
      // One partition (or all records in one): consecutive offsets, no lookups.
      const first = firstOffsets.values().next().value!
      for (let i = 0; i < appended; i++) offsets[i] = first + i
    } else {
      const next = new Map(firstOffsets)
      for (let i = 0; i < appended; i++) {
        const partition = partitions[i]!
        const offset = next.get(partition)!
        next.set(partition, offset + 1)
        offsets[i] = offset
      }
    }
    return { partitions, offsets }
  }

  /**
   * Serializes the appends of a topic, and coalesces them: appends that arrive while one is being
   * written (and, with 'batch', synced) wait, and are then written together as one batch (one
   * write per partition, one sync round), each told the offsets of its own records. A coalesced
   * batch succeeds or fails as a whole, like any one batch.
   */
  private enqueue(
    t: Topic,
    byPartition: Map<number, FrameInput[]>,
    producer: TransactionalProducer | null,
  ): Promise<Map<number, number>> {
    return new Promise((resolve, reject) => {
      t.waiting.push({ byPartition, producer, resolve, reject })
      if (!t.writing) void this.drain(t)
    })
  }

  private async drain(t: Topic): Promise<void> {
    t.writing = true
    try {
      while (t.waiting.length > 0) {
        const appends = t.waiting.splice(0)
        if (appends.length === 1) {
          const only = appends[0]!
          const reservations = reservationsOf(only, null)
          await this.appendSerialized(t, only.byPartition, reservations).then(only.resolve, only.reject)
          continue
        }
        // Each append's records follow those of the appends before it, per partition.
        const merged = new Map<number, FrameInput[]>()
        const starts = appends.map(({ byPartition }) => {
          const start = new Map<number, number>()
          for (const [partition, inputs] of byPartition) {
            const list = merged.get(partition) ?? []
            merged.set(partition, list)
            start.set(partition, list.length)
            for (const input of inputs) list.push(input)
          }
          return start
        })
        const reservations = appends.flatMap((append, i) => reservationsOf(append, starts[i]!))
        await this.appendSerialized(t, merged, reservations).then(
          (firstOffsets) =>
            appends.forEach((append, i) => {
              const own = new Map<number, number>()
              for (const [partition, index] of starts[i]!)
                own.set(partition, firstOffsets.get(partition)! + index)
              append.resolve(own)
            }),
          (error: unknown) => {
            for (const append of appends) append.reject(error)
          },
        )
      }
    } finally {
      t.writing = false
    }
  }

  /** Writes every partition's part of a batch (and with 'batch' syncs it), then publishes all or rolls back all. */
  private async appendSerialized(
    t: Topic,
    byPartition: Map<number, FrameInput[]>,
    reservations: readonly Reservation[],
  ): Promise<Map<number, number>> {
    const entries = [...byPartition]
    // Transactional records: their ranges are reserved (invisible) before a byte of them is
    // written, and they go into transactional batches naming their producer, so a crash at any
    // point leaves them abortable (abortUndecided) without a write per append.
    const reserved: { producer: TransactionalProducer; log: PartitionLog; from: number; to: number }[] = []
    const producers = new Map<number, (BatchProducer | null)[]>()
    try {
      for (const r of reservations) {
        const log = t.partitions[r.partition]!
        const from = log.endOffset + r.start
        r.producer.reserve(log, from, from + r.count)
        reserved.push({ producer: r.producer, log, from, to: from + r.count })
        let list = producers.get(r.partition)
        if (list === undefined) {
          list = new Array<BatchProducer | null>(byPartition.get(r.partition)!.length).fill(null)
          producers.set(r.partition, list)
        }
        list.fill(r.producer.identity, r.start, r.start + r.count)
      }
      // Once per partition, ever: recovery's scan for transactional batches starts at the mark.
      for (const partition of producers.keys()) await t.partitions[partition]!.markTransactional()
    } catch (error) {
      this.retract(reserved)
      throw withAppended(error, 0)
    }
    const results = await Promise.allSettled(
      entries.map(([p, inputs]) => t.partitions[p]!.prepare(inputs, producers.get(p))),
    )
    let failure: unknown = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason
    if (failure === undefined && this.options.durability === 'batch') {
      // Durable before visible and acknowledged; concurrent appends share the round.
      const round = await this.syncer.dataRound()
      failure = entries.map(([p]) => round.failed.get(t.partitions[p]!)).find((e) => e !== undefined)
    }
    if (failure !== undefined) {
      const undone = await Promise.all(
        results.map((r, i) =>
          r.status === 'fulfilled'
            ? t.partitions[entries[i]![0]]!.rollback(r.value, failure)
            : Promise.resolve(isSluiceError(r.reason) && r.reason.appended === 0),
        ),
      )
      this.retract(reserved)
      // The batch is all or nothing: say none of it is in the log only when every part was undone.
      throw withAppended(failure, undone.every(Boolean) ? 0 : undefined)
    }
    const firstOffsets = new Map<number, number>()
    results.forEach((r, i) => {
      const prepared = (r as PromiseFulfilledResult<PreparedAppend>).value
      const partition = entries[i]![0]
      t.partitions[partition]!.publish(prepared)
      firstOffsets.set(partition, prepared.firstOffset)
    })
    this.events.emit('append', t.name)
    return firstOffsets
  }

  async read(topic: string, partition: number, fromOffset: number, maxRecords: number): Promise<LogRecord[]> {
    this.checkOpen()
    const t = await this.topic(topic)
    const p = partitionLog(t, partition)
    if (!Number.isSafeInteger(fromOffset) || fromOffset < 0) {
      throw new SluiceError(
        'LOG_INVALID_ARGUMENT',
        `fromOffset must be a non-negative integer, got ${fromOffset}`,
      )
    }
    if (!Number.isSafeInteger(maxRecords)) {
      throw new SluiceError('LOG_INVALID_ARGUMENT', `maxRecords must be an integer, got ${maxRecords}`)
    }
    if (!this.readOnly) return p.read(fromOffset, maxRecords)
    // Read-only: what the owner's transactions hide is re-read each time; records past the end
    // seen before that are left for the next read, since their transaction may be unknown yet.
    await p.refresh()
    const end = p.endOffset
    await p.reloadTransactions(() => Transactions.readAll(path.join(this.dataDir, TRANSACTIONS_DIR)))
    return (await p.read(fromOffset, maxRecords)).filter((r) => r.offset < end)
  }

  async endOffsets(topic: string): Promise<number[]> {
    this.checkOpen()
    const t = await this.topic(topic)
    if (this.readOnly) await Promise.all(t.partitions.map((p) => p.refresh()))
    return t.partitions.map((p) => p.endOffset)
  }

  async committedOffsets(group: string, topic: string): Promise<number[]> {
    this.checkOpen()
    encodeGroupName(group)
    const t = await this.topic(topic)
    return this.groups.committed(group, topic, t.partitions.length)
  }

  async committedMetadata(group: string, topic: string, partition: number): Promise<string | null> {
    this.checkOpen()
    encodeGroupName(group)
    partitionLog(await this.topic(topic), partition)
    return this.groups.committedMetadata(group, topic, partition)
  }

  async subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    this.checkOpen()
    if (this.readOnly) throw new SluiceError('LOG_READ_ONLY', 'cannot subscribe: the log is open read-only')
    if (this.closing !== null) throw new SluiceError('LOG_CLOSED', 'the log is closing')
    const { group } = options
    encodeGroupName(group)
    Checkpoints.validate(options)
    const maxBatchRecords = options.maxBatchRecords ?? 1000
    if (!Number.isSafeInteger(maxBatchRecords) || maxBatchRecords < 1) {
      throw new SluiceError(
        'LOG_INVALID_ARGUMENT',
        `maxBatchRecords must be a positive integer, got ${maxBatchRecords}`,
      )
    }
    const names = [...new Set(options.topics)]
    if (names.length === 0)
      throw new SluiceError('LOG_INVALID_ARGUMENT', 'subscribe needs at least one topic')
    const topics = await Promise.all(names.map((name) => this.topic(name)))
    const tasks = await Tasks.of(options, async (name) => topics[names.indexOf(name)]!.partitions.length)
    const keys = names.map((name) => `${group}\0${name}`)
    const busy = names.filter((_, i) => this.claimed.has(keys[i]!))
    if (busy.length > 0) {
      throw new SluiceError(
        'LOG_GROUP_BUSY',
        `group ${group} already has a subscription to ${busy.join(', ')} in this log; the embedded log runs one ` +
          'consumer per group and topic (use Kafka to spread a group over several consumers)',
      )
    }
    for (const key of keys) this.claimed.add(key)
    try {
      const assignments: Assignment[] = []
      for (const t of topics) {
        const committed = await this.groups.committed(group, t.name, t.partitions.length)
        t.partitions.forEach((p, i) => {
          const c = committed[i]!
          // No committed offset: earliest is 0 (nothing is ever deleted), latest is the end now.
          const position = c >= 0 ? c : options.fromBeginning === false ? p.endOffset : 0
          assignments.push({ topic: t.name, partition: i, log: p, position })
        })
      }
      const subscription = new EmbeddedSubscription(
        this,
        group,
        assignments,
        maxBatchRecords,
        handler,
        options,
        tasks,
        () => {
          for (const key of keys) this.claimed.delete(key)
          this.subscriptions.delete(subscription)
        },
      )
      this.subscriptions.add(subscription)
      return subscription
    } catch (error) {
      for (const key of keys) this.claimed.delete(key)
      throw error
    }
  }

  /**
   * Resolves once every append and commit acknowledged before the call is durable, for whoever
   * must know (a benchmark measuring time to durable, a producer about to report success):
   * with 'batch' at once (they were durable when acknowledged); with the interval policy after
   * the next round of its timer (not sooner: it starts no round of its own); with 'none' after a
   * round it starts, which syncs the data (offsets files are synced only by close()). Rejects
   * with the failure when that round failed to sync something.
   */
  async whenDurable(): Promise<void> {
    this.checkOpen()
    const { durability } = this.options
    if (this.readOnly || durability === 'batch') return
    let round: RoundResult<PartitionLog>
    if (typeof durability === 'object') {
      if (this.syncer.idle && !this.syncer.busy) return
      round = await this.syncer.nextRound()
    } else {
      round = await this.syncer.round()
    }
    const failed = round.failed.values().next().value ?? round.offsetsError
    if (failed) throw failed
  }

  /**
   * @internal Commits a group's offset per the durability policy: 'none' writes the offsets file
   * now (unsynced); 'batch' records it and resolves once a sync round wrote it; the interval
   * policy records it for the next round.
   */
  commitOffset(
    group: string,
    topic: string,
    partition: number,
    offset: number,
    metadata: string | null = null,
  ): Promise<void> {
    return this.commitOffsets(group, [{ topic, partition, offset }], metadata)
  }

  /** @internal commitOffset() of several partitions (a task's) with one metadata, all or none. */
  async commitOffsets(
    group: string,
    offsets: readonly PartitionOffset[],
    metadata: string | null = null,
  ): Promise<void> {
    const { durability } = this.options
    if (durability === 'none') return this.groups.commitAll(group, offsets, metadata)
    await this.groups.recordAll(group, offsets, metadata)
    if (durability !== 'batch') return
    const round = await this.syncer.offsetsRound()
    if (round.offsetsError !== null) throw round.offsetsError
  }

  /**
   * Stops every subscription (waiting for handlers in flight; they may still append, which is how
   * a pipeline writes its output), waits for appends in flight, syncs data and offsets, closes
   * every file and releases the LOCK. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.subscriptions].map((s) => s.stop()))
      this.closed = true
      await Promise.allSettled([...this.inFlight])
      if (this.syncTimer !== null) clearInterval(this.syncTimer)
      try {
        // The last round: whatever the policy deferred (data, then offsets) becomes durable.
        let lastRound: Error | null = null
        if (!this.readOnly && this.options.durability !== 'none') {
          const round = await this.syncer.round()
          lastRound = round.failed.values().next().value ?? round.offsetsError
        }
        await this.closeFiles()
        if (lastRound !== null) throw lastRound
      } finally {
        if (this.lockFile !== null) await releaseLock(this.lockFile)
      }
    })()
    return this.closing
  }

  private async closeFiles(): Promise<void> {
    const topics = (await Promise.allSettled([...this.topics.values()])).flatMap((r) =>
      r.status === 'fulfilled' && r.value !== null ? [r.value] : [],
    )
    const partitions = topics.flatMap((t) => t.partitions)
    const synced = await Promise.allSettled(partitions.map((p) => p.sync()))
    await Promise.allSettled(partitions.map((p) => p.close()))
    const failed = synced.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  private checkOpen(): void {
    if (this.closed) throw new SluiceError('LOG_CLOSED', `the log at ${this.dataDir} is closed`)
  }

  private async topic(name: string): Promise<Topic> {
    validateTopicName(name)
    const t = await this.lookup(name)
    if (t === null) throw new SluiceError('LOG_UNKNOWN_TOPIC', `unknown topic ${name}`)
    return t
  }

  /** The topic from memory, else from disk (loading it once); null when it does not exist. */
  private lookup(name: string): Promise<Topic | null> {
    const known = this.topics.get(name)
    if (known !== undefined) return known
    const loading = this.loadTopic(name).then(
      (t) => {
        if (t === null) this.topics.delete(name)
        return t
      },
      (error: unknown) => {
        this.topics.delete(name)
        throw error
      },
    )
    this.topics.set(name, loading)
    return loading
  }

  private async loadTopic(name: string): Promise<Topic | null> {
    const dir = path.join(this.dataDir, 'log', name)
    const file = path.join(dir, 'meta.json')
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if (isCode(error, 'ENOENT')) return null
      return withFile(file, 'reading', () => Promise.reject(error))
    }
    let meta: unknown
    try {
      meta = JSON.parse(text)
    } catch (error) {
      throw new SluiceError(
        'LOG_CORRUPT_SEGMENT',
        `${file} is damaged (${(error as Error).message}); ${this.repairHint}`,
      )
    }
    const count = (meta as { partitions?: unknown } | null)?.partitions
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) {
      throw new SluiceError('LOG_CORRUPT_SEGMENT', `${file} has no valid partition count; ${this.repairHint}`)
    }
    return this.openPartitions(name, count)
  }

  private async createTopic(name: string, partitions: number): Promise<Topic> {
    const dir = path.join(this.dataDir, 'log', name)
    await withFile(dir, 'creating', () => mkdir(dir, { recursive: true }))
    const t = await this.openPartitions(name, partitions)
    // meta.json last and atomically: its presence means every partition directory is in place.
    const meta = path.join(dir, 'meta.json')
    const temp = `${meta}.${randomBytes(4).toString('hex')}.tmp`
    await withFile(meta, 'writing', async () => {
      const fh = await open(temp, 'w')
      try {
        await fh.writeFile(JSON.stringify({ version: 1, partitions }))
        if (this.options.fsync) await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(temp, meta).catch(async (error: unknown) => {
        await unlink(temp).catch(() => {})
        throw error
      })
    })
    if (this.options.fsync) {
      await syncDir(dir)
      await syncDir(path.dirname(dir))
    }
    return t
  }

  private async openPartitions(name: string, count: number): Promise<Topic> {
    const dir = path.join(this.dataDir, 'log', name)
    // Recovery continues each partition past the highest offset any group committed in it.
    const committed = this.readOnly ? [] : await this.groups.highestCommitted(name)
    const partitions: PartitionLog[] = []
    try {
      for (let p = 0; p < count; p++) {
        const partitionDir = path.join(dir, String(p))
        const partitionOptions = {
          reservedUntil: this.reservedUntil.get(`${name}\0${p}`) ?? -1,
          segmentBytes: this.options.segmentBytes,
          indexInterval: this.options.indexInterval,
          fsync: this.options.fsync,
          readOnly: this.readOnly,
          skipCorrupt: this.options.skipCorrupt,
          onWritten: this.syncer.markDirty,
          report: this.report.add,
          highestCommitted: committed[p] ?? -1,
          repairHint: this.repairHint,
          ...(this.options.beforeWrite === undefined ? {} : { beforeWrite: this.options.beforeWrite }),
          ...(this.options.beforeSync === undefined ? {} : { beforeSync: this.options.beforeSync }),
        }
        try {
          partitions.push(await PartitionLog.open(partitionDir, name, p, partitionOptions))
        } catch (error) {
          if (!isSluiceError(error, 'LOG_CORRUPT_SEGMENT')) throw error
          // Damage that stops the partition from opening at all (a damaged gaps.json) stays in
          // this partition: it refuses reads and appends, the others work.
          const damage = new SluiceError('LOG_CORRUPT_SEGMENT', `${error.message}; ${this.repairHint}`, {
            cause: error,
          })
          this.report.add({
            kind: 'partition-damaged',
            message: `partition ${name}/${p} is damaged and refuses reads and appends until repaired: ${damage.message}`,
            topic: name,
            partition: p,
          })
          partitions.push(PartitionLog.damaged(partitionDir, name, p, partitionOptions, damage))
        }
      }
    } catch (error) {
      await Promise.allSettled(partitions.map((p) => p.close()))
      throw error
    }
    return { name, partitions, waiting: [], writing: false, roundRobin: 0 }
  }

  /** @internal For subscriptions: how long to sleep when idle. */
  get idleWakeMs(): number {
    return this.options.idleWakeMs
  }
}

type Assignment = CheckpointedPartition

/**
 * One subscription: a single async loop that visits its partitions round-robin and hands each
 * one, per round, whatever it holds past the group's position, never waiting for more: a small
 * batch at once when the queue is short, at most what the handler gets through in 0.5 ms while it
 * keeps up, full batches (maxBatchRecords) once it falls behind (limitFor). A batch's
 * offsets are committed after the handler resolved, while the next batch is read and handled (at
 * most one commit in flight, so they land in order). When everything is caught up it sleeps until
 * an append to one of its topics wakes it (or the one idle timer of the subscription).
 *
 * With `checkpoint` (embedded/checkpoints.ts), offsets are committed at checkpoints instead of
 * after each batch, the sleep ends when a partition with uncommitted work is due, and batches
 * carry the partition's transaction. Readers see only committed records (PartitionLog.stableEnd).
 */
class EmbeddedSubscription implements Subscription {
  readonly done: Promise<void>
  private stopping = false
  /** An append arrived since the current round began; prevents sleeping past it. */
  private signalled = false
  private wake: (() => void) | null = null
  private readonly topicNames: Set<string>
  /** The offset commit in flight (or the last one); its failure ends the subscription. */
  private committing: Promise<void> | null = null
  /**
   * The handler's synchronous work per record, ms, smoothed over recent batches (0 before the
   * first): what sizes batches to the latency budget while the subscription keeps up (limitFor).
   */
  private msPerRecord = 0
  /** Handler time a batch aims under while the subscription keeps up with its partitions. */
  private static readonly BUDGET_MS = 0.5
  /** The smallest budgeted batch: below it the per-batch work (read, commit) would dominate. */
  private static readonly MIN_BUDGETED_BATCH = 64
  /**
   * How long two full batches or more may stay waiting before the subscription counts as falling
   * behind: a burst after a stall drains sooner at a rate the node can hold.
   */
  private static readonly BEHIND_AFTER_MS = 200
  /** Per partition: since when two full batches or more have been waiting (performance.now). */
  private readonly backlogSince = new Map<Assignment, number>()
  private readonly onCommitted: SubscribeOptions['onCommitted']
  /** Checkpoints and transactions; null for a subscription that commits after every batch. */
  private readonly checkpoints: Checkpoints | null

  constructor(
    private readonly log: EmbeddedLog,
    private readonly group: string,
    private readonly assignments: readonly Assignment[],
    private readonly maxBatchRecords: number,
    private readonly handler: (batch: RecordBatch) => Promise<void>,
    options: SubscribeOptions,
    tasks: Tasks,
    private readonly release: () => void,
  ) {
    this.onCommitted = options.onCommitted
    this.checkpoints =
      options.checkpoint === undefined
        ? null
        : new Checkpoints(
            log,
            group,
            options.checkpoint,
            options.delivery ?? 'at-least-once',
            options.onCommitted,
            () => this.wake?.(),
            assignments,
            tasks,
          )
    this.topicNames = new Set(assignments.map((a) => a.topic))
    this.done = this.run()
    // Callers that only call stop() never look at `done`; without this a failing handler would
    // surface as an unhandled rejection. Awaiting `done` still sees the rejection.
    this.done.catch(() => {})
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.wake?.()
    await this.done.catch(() => {})
  }

  private readonly onAppend = (topic: string): void => {
    if (!this.topicNames.has(topic)) return
    this.signalled = true
    this.wake?.()
  }

  private async run(): Promise<void> {
    // Let the constructor finish (and subscribe() return) before the first handler call.
    await Promise.resolve()
    this.log.events.on('append', this.onAppend)
    // One safety-net timer for the subscription's life rather than one per idle wait: under a
    // steady trickle of appends the loop falls asleep after almost every batch, and appends in
    // this process wake it anyway.
    const safetyNet = setInterval(() => this.wake?.(), this.log.idleWakeMs)
    const cp = this.checkpoints
    try {
      while (!this.stopping) {
        this.signalled = false
        let delivered = false
        cp?.checkAllFenced()
        for (const a of this.assignments) {
          if (this.stopping) break
          // Offsets retired by recovery hold no records (nor do aborted transactions' offsets for
          // a reader): move the group past them, so its committed offset reaches the end (caught
          // up) instead of waiting for records that never come.
          const past = a.log.skipGaps(a.position)
          if (past > a.position && past <= a.log.stableEnd) {
            if (cp === null) await this.commit(a, past)
            a.position = past
          }
          if (a.position >= a.log.stableEnd) {
            if (cp !== null) await cp.whenIdle(a)
            if (cp?.tickDue(a)) await this.tick(a, cp)
            continue
          }
          const records = await a.log.read(a.position, this.limitFor(a))
          if (records.length === 0) continue
          const endOffset = a.log.endOffset
          const batch: RecordBatch =
            cp === null
              ? { topic: a.topic, partition: a.partition, records, endOffset }
              : {
                  topic: a.topic,
                  partition: a.partition,
                  records,
                  endOffset,
                  transaction: await cp.beforeBatch(a),
                  task: cp.task(a),
                }
          const started = performance.now()
          const handling = this.handler(batch)
          // Up to its first await the handler works on the batch (a pipeline runner: decode, the
          // chains, encode, the append call); the rest is waiting for the log.
          this.observe(records.length, performance.now() - started)
          await handling
          const next = records.at(-1)!.offset + 1
          if (cp === null) await this.commit(a, next)
          a.position = next
          if (cp !== null) await cp.afterBatch(a)
          delivered = true
        }
        if (!delivered && !this.stopping && !this.signalled) await this.sleep(cp?.nextDue() ?? null)
      }
      // stop() resolves once the last batch's offsets are committed.
      await this.committing
      await cp?.stop()
    } catch (error) {
      // The open transactions are aborted (nothing of them is ever visible) before `revoked`.
      await cp?.fail()
      throw error
    } finally {
      clearInterval(safetyNet)
      // A failed handler ends the loop; the commit before it still finishes before the release.
      await this.committing?.catch(() => {})
      this.log.events.off('append', this.onAppend)
      this.release()
    }
  }

  /** Hands `a`'s task a tick (RecordBatch.tick) inside its open checkpoint, as a batch of no records. */
  private async tick(a: Assignment, cp: Checkpoints): Promise<void> {
    const transaction = await cp.beforeBatch(a)
    const task = cp.task(a)
    await this.handler({ ...task, records: [], endOffset: -1, transaction, task, tick: true })
    await cp.afterBatch(a)
  }

  /**
   * How many records to read next from `a`. Keeping up: as many as the handler gets through
   * within BUDGET_MS, so the burst after a stall (a GC pause, a slow write) is handed out in
   * budget-sized batches, shrinking the backlog batch by batch, rather than in one large batch
   * every record of which waits for. Falling behind (two full batches or more waiting for
   * BEHIND_AFTER_MS): full batches, so per-batch work does not slow it further.
   */
  private limitFor(a: Assignment): number {
    const max = this.maxBatchRecords
    if (a.log.endOffset - a.position < 2 * max) this.backlogSince.delete(a)
    else {
      const since = this.backlogSince.get(a)
      if (since === undefined) this.backlogSince.set(a, performance.now())
      else if (performance.now() - since >= EmbeddedSubscription.BEHIND_AFTER_MS) return max
    }
    if (!(this.msPerRecord > 0)) return max
    const budgeted = Math.floor(EmbeddedSubscription.BUDGET_MS / this.msPerRecord)
    return Math.min(max, Math.max(EmbeddedSubscription.MIN_BUDGETED_BATCH, budgeted))
  }

  private observe(records: number, ms: number): void {
    if (!(ms >= 0) || records === 0) return
    const perRecord = ms / records
    this.msPerRecord = this.msPerRecord === 0 ? perRecord : 0.8 * this.msPerRecord + 0.2 * perRecord
  }

  /**
   * Starts committing `offset` for `a` once the commit in flight is written (rethrowing its
   * failure), without waiting for this one: the next batch is read and handled meanwhile.
   */
  private async commit(a: Assignment, offset: number): Promise<void> {
    if (this.committing !== null) await this.committing
    const started = performance.now()
    const committing = this.log.commitOffset(this.group, a.topic, a.partition, offset).then(() => {
      this.onCommitted?.({
        topic: a.topic,
        partition: a.partition,
        offset,
        seconds: (performance.now() - started) / 1000,
      })
    })
    // Awaited before the next commit or at the end; until then it must not count as unhandled.
    committing.catch(() => {})
    this.committing = committing
  }

  /** Sleeps until woken, or at most `ms` (a checkpoint falls due) when given. */
  private sleep(ms: number | null = null): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === null ? null : setTimeout(() => this.wake?.(), ms)
      this.wake = () => {
        this.wake = null
        if (timer !== null) clearTimeout(timer)
        resolve()
      }
    })
  }
}

function resolveOptions(options: EmbeddedLogOptions): ResolvedOptions {
  const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES
  const indexInterval = options.indexInterval ?? DEFAULT_INDEX_INTERVAL
  const idleWakeMs = options.idleWakeMs ?? 1000
  const maxRecordBytes = options.maxRecordBytes ?? MAX_FRAME_BYTES
  if (
    !Number.isSafeInteger(maxRecordBytes) ||
    maxRecordBytes < MIN_FRAME_BYTES ||
    maxRecordBytes > MAX_FRAME_BYTES
  ) {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      `maxRecordBytes must be an integer in ${MIN_FRAME_BYTES}..${MAX_FRAME_BYTES}, got ${maxRecordBytes}`,
    )
  }
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1) {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      `segmentBytes must be a positive integer, got ${segmentBytes}`,
    )
  }
  if (!Number.isSafeInteger(indexInterval) || indexInterval < 1) {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      `indexInterval must be a positive integer, got ${indexInterval}`,
    )
  }
  if (!(idleWakeMs > 0))
    throw new SluiceError('LOG_INVALID_ARGUMENT', `idleWakeMs must be positive, got ${idleWakeMs}`)
  const durability = resolveDurability(options.durability, options.fsync)
  return {
    segmentBytes,
    indexInterval,
    idleWakeMs,
    maxRecordBytes,
    durability,
    fsync: durability !== 'none',
    skipCorrupt: false,
    ...(options.beforeWrite === undefined ? {} : { beforeWrite: options.beforeWrite }),
    ...(options.beforeSync === undefined ? {} : { beforeSync: options.beforeSync }),
  }
}

function validateTopicName(topic: string): void {
  if (typeof topic !== 'string' || !TOPIC_NAME.test(topic) || topic === '.' || topic === '..') {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      `invalid topic name ${JSON.stringify(topic)}: use 1-249 characters from [A-Za-z0-9._-] (as Kafka does)`,
    )
  }
}

/** A transactional append's records in one partition: `count` from `start` within the batch. */
interface Reservation {
  readonly producer: TransactionalProducer
  readonly partition: number
  readonly start: number
  readonly count: number
}

/** The ranges `append` reserves in a batch where its records start at `starts` (null: at 0). */
function reservationsOf(append: PendingAppend, starts: Map<number, number> | null): Reservation[] {
  const { producer } = append
  if (producer === null) return []
  return [...append.byPartition].map(([partition, inputs]) => ({
    producer,
    partition,
    start: starts?.get(partition) ?? 0,
    count: inputs.length,
  }))
}

function partitionLog(t: Topic, partition: number): PartitionLog {
  const p = Number.isSafeInteger(partition) ? t.partitions[partition] : undefined
  if (p === undefined) {
    throw new SluiceError(
      'LOG_BAD_PARTITION',
      `topic ${t.name} has no partition ${partition} (it has ${t.partitions.length})`,
    )
  }
  return p
}

const NO_POSITIONS: PositionArrays = { partitions: new Int32Array(0), offsets: new Float64Array(0) }

/** The Log contract's one object per appended record. */
function positionObjects(topic: string, { partitions, offsets }: PositionArrays): RecordPosition[] {
  const positions: RecordPosition[] = new Array(partitions.length)
  for (let i = 0; i < partitions.length; i++)
    positions[i] = { topic, partition: partitions[i]!, offset: offsets[i]! }
  return positions
}

function choosePartition(t: Topic, record: OutgoingRecord, count: number): number {
  if (record.partition !== undefined) return partitionLog(t, record.partition).partition
  if (record.key !== null) return partitionForKey(record.key, count)
  const p = t.roundRobin % count
  t.roundRobin = (t.roundRobin + 1) % count
  return p
}

function toFrameInput(record: OutgoingRecord, now: number, topic: string): FrameInput {
  if (!(record.value instanceof Uint8Array)) {
    throw new SluiceError('LOG_INVALID_ARGUMENT', `record value for ${topic} must be a Buffer`)
  }
  if (record.key !== null && typeof record.key !== 'string') {
    throw new SluiceError('LOG_INVALID_ARGUMENT', `record key for ${topic} must be a string or null`)
  }
  const timestamp = record.timestamp ?? now
  if (!Number.isSafeInteger(timestamp)) {
    throw new SluiceError(
      'LOG_INVALID_ARGUMENT',
      `record timestamp must be an integer (ms since the epoch), got ${timestamp}`,
    )
  }
  const headers = record.headers ?? {}
  for (const name in headers) {
    if (typeof headers[name] !== 'string') {
      throw new SluiceError(
        'LOG_INVALID_ARGUMENT',
        `header ${name} of a record for ${topic} must be a string`,
      )
    }
  }
  return { timestamp, key: record.key, headers, value: record.value }
}

/** Why the log can never store this record as it is, or null when it can. */
function refusalOf(input: FrameInput, maxRecordBytes: number): string | null {
  const size = frameSize(input)
  return size > maxRecordBytes
    ? `record of ${size} bytes exceeds the embedded log's limit of ${maxRecordBytes} bytes`
    : null
}
