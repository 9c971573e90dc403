import { mkdir, readdir } from 'node:fs/promises'
import path from 'node:path'
import { SluiceError } from '../../errors.ts'
import { writeFileAtomic } from './atomic-file.ts'
import type { BatchProducer } from './batch.ts'
import { isCode } from './fs-util.ts'
import { decodeGroupName, encodeGroupName } from './group-offsets.ts'
import { ioError, readTextIfExists } from './io-errors.ts'
import type { PartitionLog } from './segment.ts'

/**
 * Exactly-once transactions of the embedded log (index.ts Delivery): one transaction file per
 * transactional id, `<dataDir>/transactions/<encoded id>.json`,
 *
 *   { "version": 1, "transactionalId": "...", "state": "open" | "committed" | "aborted",
 *     "producerId": 3, "epoch": 5,
 *     "decided": [{ "topic": "out", "partition": 0, "until": 14 }],
 *     "ranges": [{ "topic": "out", "partition": 0, "from": 10, "to": 14 }],
 *     "commits": [{ "group": "g", "topic": "in", "partition": 0, "offset": 7, "metadata": "..." }] }
 *
 * replaced atomically (atomic-file.ts) at each step of a transaction:
 * - claim: state "open" with a producer id (assigned once per transactional id, never reused)
 *   and the epoch, one higher than the previous holder's. The transaction's records are written
 *   as transactional batches (batch.ts, magic 3) carrying both, so nothing is written before
 *   each append: records on disk name their transaction themselves, and every one at or past
 *   its transaction's `decided` offset in its partition belongs to an epoch that has not ended.
 *   In memory they stay invisible (segment.ts `reserve`).
 * - commit: the records are made durable first, then one write with state "committed", the
 *   ranges and the source partitions' offsets and metadata (one source partition, or every
 *   partition of a co-partitioned task: index.ts SubscribeOptions.copartitioned). That write is the commit point:
 *   outputs, offset and metadata become visible together. The group's offsets file is updated
 *   after it; a crash in between is repaired on open, which rolls the group forward to `commit`.
 *   An epoch that appended nothing commits its offset alone, like at-least-once (nothing to
 *   make visible with it).
 * - abort: the ranges go to each partition's aborted.json (aborted.ts) first, then state
 *   "aborted" with no ranges.
 * Commit and abort move `decided` past the epoch's ranges in each partition it wrote to: below
 * it, every batch of this producer is committed or recorded in aborted.json.
 * `commits` always holds the last committed offsets of the source partitions, carried from epoch
 * to epoch, so the roll-forward never depends on a file the next epoch already overwrote. Files
 * written before tasks have a single `commit` object instead; they are read as a list of one.
 *
 * On open, transactional batches at or past their producer's `decided` offset are the records of
 * epochs the process did not finish: they are aborted (EmbeddedLog.open, which scans only past
 * each partition's transactional tail mark, txn-tail.ts). Files written before transactional
 * batches may still be "open" with the ranges of their intent: those ranges are aborted too.
 *
 * Fencing: the log is one process, so a zombie is another subscriber of this process holding the
 * same transactional id. `claim` aborts the previous holder's open transaction and fences it: its
 * later appends and commits fail with LOG_FENCED. Everything a producer does (append, commit,
 * abort) and a claim run under one lock per id, so a claim never slips into an append.
 */

export interface TransactionRange {
  readonly topic: string
  readonly partition: number
  readonly from: number
  readonly to: number
}

/** A source partition's offset and metadata a transaction commits. */
export interface SourceCommit {
  readonly group: string
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly metadata: string
}

/** A source partition whose offset a producer's transactions commit. */
export interface SourcePartition {
  readonly group: string
  readonly topic: string
  readonly partition: number
}

/** Below `until`, every transactional batch of the file's producer in the partition has ended. */
export interface DecidedUntil {
  readonly topic: string
  readonly partition: number
  readonly until: number
}

export interface TransactionFile {
  readonly transactionalId: string
  readonly state: 'open' | 'committed' | 'aborted'
  readonly ranges: readonly TransactionRange[]
  /** The source partitions' last committed offsets (empty before the first commit). */
  readonly commits: readonly SourceCommit[]
  /** Absent in files written before transactional batches (no batch names them). */
  readonly producerId?: number
  readonly epoch?: number
  readonly decided?: readonly DecidedUntil[]
}

/** The first offset of `partition` where batches of the file's producer may not have ended (0: all). */
export function decidedUntil(file: TransactionFile | undefined, topic: string, partition: number): number {
  const d = file?.decided?.find((x) => x.topic === topic && x.partition === partition)
  return d?.until ?? 0
}

export const TRANSACTIONS_DIR = 'transactions'

/** What a producer needs from the log. */
export interface TransactionHost {
  /** Makes the data already written to these partitions durable (per the durability policy). */
  syncData(partitions: readonly PartitionLog[]): Promise<void>
  /** Records the group's offsets and metadata (after the commit point), all in one write. */
  commitOffsets(commits: readonly SourceCommit[]): Promise<void>
  /** Readers of these topics may have something new to see (an LSO moved). */
  wake(topics: Iterable<string>): void
}

export class Transactions {
  private readonly holders = new Map<string, TransactionalProducer>()
  private readonly locks = new Map<string, Promise<unknown>>()
  /** The last committed source offset per id, from the files (carried into the next epoch). */
  private readonly lastCommits = new Map<string, readonly SourceCommit[]>()
  /** The files read at open, per id: producer ids, epochs and decided offsets carry on from them. */
  private readonly loaded = new Map<string, TransactionFile>()
  private nextProducerId = 0

  constructor(
    readonly dir: string,
    private readonly fsync: boolean,
    private readonly host: TransactionHost,
  ) {}

  /** Every transaction file in `dir` (none when it does not exist); LOG_CORRUPT_SEGMENT for a damaged one. */
  static async readAll(dir: string): Promise<TransactionFile[]> {
    let names: string[]
    try {
      names = await readdir(dir)
    } catch (error) {
      if (isCode(error, 'ENOENT')) return []
      throw ioError(error, dir, 'listing')
    }
    const files: TransactionFile[] = []
    for (const name of names.sort()) {
      const match = /^(.+)\.json$/.exec(name)
      if (match === null) continue
      const file = path.join(dir, name)
      // Gone between the listing and the read (released meanwhile): nothing to read.
      const text = await readTextIfExists(file)
      if (text === null) continue
      files.push(parseTransactionFile(text, file, decodeGroupName(match[1]!)))
    }
    return files
  }

  /** Remembers the last commits of the files read at open. */
  load(files: readonly TransactionFile[]): void {
    for (const f of files) {
      this.lastCommits.set(f.transactionalId, f.commits)
      this.loaded.set(f.transactionalId, f)
      if (f.producerId !== undefined) this.nextProducerId = Math.max(this.nextProducerId, f.producerId + 1)
    }
  }

  /**
   * Takes `transactionalId` over: the previous holder (if any) is fenced and its open transaction
   * aborted, then the file is written with the id's producer id and a new epoch, before this
   * resolves. That write is the only one a transaction makes before its records.
   */
  claim(
    transactionalId: string,
    sources: readonly SourcePartition[],
    onFenced: () => void = () => {},
  ): Promise<TransactionalProducer> {
    encodeGroupName(transactionalId)
    return this.locked(transactionalId, async () => {
      const previous = this.holders.get(transactionalId)
      if (previous !== undefined) {
        previous.fenced = true
        await previous.abortLocked()
        previous.onFenced()
      }
      const file = this.loaded.get(transactionalId)
      const before = previous?.identity ?? (file?.producerId === undefined ? null : file)
      const identity: BatchProducer = {
        producerId: before?.producerId ?? this.nextProducerId++,
        epoch: (before?.epoch ?? -1) + 1,
      }
      const decided = new Map<string, DecidedUntil>()
      for (const d of previous?.decidedList() ?? file?.decided ?? [])
        decided.set(`${d.topic}\0${d.partition}`, d)
      const producer = new TransactionalProducer(
        this,
        transactionalId,
        sources,
        previous?.lastCommits ?? this.lastCommits.get(transactionalId) ?? [],
        identity,
        decided,
        onFenced,
      )
      await producer.writeClaim()
      this.holders.set(transactionalId, producer)
      return producer
    })
  }

  /** @internal A producer is done (its subscription ended): the id is free without fencing. */
  release(producer: TransactionalProducer): void {
    if (this.holders.get(producer.transactionalId) !== producer) return
    this.holders.delete(producer.transactionalId)
    // The next holder in this process carries on from this one as from a file read at open: the
    // same producer id (its batches on disk name it), its decided offsets (below them its
    // committed batches must not be taken for undecided ones and aborted after a crash) and its
    // last commits.
    this.loaded.set(producer.transactionalId, {
      transactionalId: producer.transactionalId,
      state: 'aborted',
      ranges: [],
      commits: producer.lastCommits,
      ...producer.identity,
      decided: producer.decidedList(),
    })
    this.lastCommits.set(producer.transactionalId, producer.lastCommits)
  }

  /** @internal Runs `task` under the id's lock. */
  locked<T>(transactionalId: string, task: () => Promise<T>): Promise<T> {
    const before = this.locks.get(transactionalId) ?? Promise.resolve()
    const run = before.then(task, task)
    const tail = run.catch(() => {})
    this.locks.set(transactionalId, tail)
    void tail.then(() => {
      if (this.locks.get(transactionalId) === tail) this.locks.delete(transactionalId)
    })
    return run
  }

  /** @internal Replaces the id's file. */
  async write(file: TransactionFile): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const target = path.join(this.dir, `${encodeGroupName(file.transactionalId)}.json`)
    await writeFileAtomic(target, `${JSON.stringify({ version: 2, ...file })}\n`, this.fsync)
  }

  /** @internal */
  get logHost(): TransactionHost {
    return this.host
  }
}

interface Reserved {
  readonly partition: PartitionLog
  from: number
  to: number
}

/**
 * One holder of a transactional id: the transaction of one source partition (or of a task's
 * partitions), epoch after epoch.
 * Appends reserve their ranges (`reserve`, called by the log while it holds the topic's append
 * turn) and write their records as batches naming `identity`, `commit` ends the epoch with the
 * source offsets, `abort` discards it.
 */
export class TransactionalProducer {
  /** Set when another holder claimed the id: everything fails with LOG_FENCED from then on. */
  fenced = false
  private reserved: Reserved[] = []

  constructor(
    private readonly owner: Transactions,
    readonly transactionalId: string,
    private readonly sources: readonly SourcePartition[],
    public lastCommits: readonly SourceCommit[],
    /** What this holder's batches carry (batch.ts TXN_BATCH_MAGIC). */
    readonly identity: BatchProducer,
    /** Per `${topic}\0${partition}`: below `until`, this producer's batches there have ended. */
    private readonly decided: Map<string, DecidedUntil>,
    /** Told when another holder claims the id (the subscription ends without waiting for a batch). */
    readonly onFenced: () => void,
  ) {}

  /** Whether the open epoch appended anything. */
  get hasOpenWork(): boolean {
    return this.reserved.length > 0
  }

  /** Runs an append of this transaction (under the id's lock; LOG_FENCED once fenced). */
  append<T>(task: () => Promise<T>): Promise<T> {
    return this.owner.locked(this.transactionalId, async () => {
      this.checkFenced()
      return task()
    })
  }

  /**
   * Reserves [from, to) of `partition` for this transaction: invisible to readers from now on.
   * The caller then writes the records as batches naming `identity`.
   */
  reserve(partition: PartitionLog, from: number, to: number): void {
    this.checkFenced()
    partition.reserve(this, from, to)
    const last = this.reserved.at(-1)
    if (last !== undefined && last.partition === partition && last.to === from) last.to = to
    else this.reserved.push({ partition, from, to })
  }

  /** @internal Claim: the file names this holder's producer id and epoch before it appends. */
  writeClaim(): Promise<void> {
    return this.writeState('open')
  }

  /** @internal The decided offsets, for the next holder of the id. */
  decidedList(): DecidedUntil[] {
    return [...this.decided.values()]
  }

  /** Takes back a reservation whose records were not written (the append failed and was undone). */
  unreserve(partition: PartitionLog, from: number, to: number): void {
    partition.unreserve(this, from, to)
    this.reserved = this.reserved.flatMap((r) =>
      r.partition !== partition || r.to <= from || r.from >= to
        ? [r]
        : [
            ...(r.from < from ? [{ partition, from: r.from, to: from }] : []),
            ...(r.to > to ? [{ partition, from: to, to: r.to }] : []),
          ],
    )
    // No batch of it reached the disk (the append was undone), so nothing on disk names it.
  }

  /**
   * Commits the epoch: the records are made durable, then the transaction file records the
   * ranges and the source offsets with their metadata (the commit point), then readers see them.
   * `offsets[i]` is the next offset of `sources[i]` (as claimed).
   */
  commit(offsets: readonly number[], metadata: string): Promise<void> {
    return this.owner.locked(this.transactionalId, async () => {
      this.checkFenced()
      const host = this.owner.logHost
      const commits: SourceCommit[] = this.sources.map((source, i) => ({
        ...source,
        offset: offsets[i]!,
        metadata,
      }))
      if (this.reserved.length === 0) {
        // No outputs to make visible with it: the offsets alone are the commit, as at-least-once.
        // A marker is not needed (recovery only rolls groups forward, never back).
        this.lastCommits = commits
        await host.commitOffsets(commits)
        return
      }
      const partitions = [...new Set(this.reserved.map((r) => r.partition))]
      await host.syncData(partitions)
      const ranges = this.ranges()
      await this.owner.write({
        transactionalId: this.transactionalId,
        state: 'committed',
        ranges,
        commits,
        ...this.identity,
        decided: this.decidedAfter(ranges),
      })
      this.decide(ranges)
      for (const p of partitions) p.commitRanges(this)
      this.reserved = []
      for (const p of partitions) {
        // Only shortens recovery's scan: a mark that could not be moved stays a correct bound.
        await p.advanceTransactionalTail(false).catch(() => {})
      }
      this.lastCommits = commits
      host.wake(partitions.map((p) => p.topic))
      await host.commitOffsets(commits)
    })
  }

  /** Aborts the open epoch (its records never become visible). A fenced producer has nothing left to abort. */
  abort(): Promise<void> {
    return this.owner.locked(this.transactionalId, () => this.abortLocked())
  }

  /** Ends this holder: aborts what is open unless fenced, and frees the id. */
  async close(): Promise<void> {
    if (!this.fenced) await this.abort()
    this.owner.release(this)
  }

  /** @internal abort() with the lock held (claim aborts the previous holder's epoch). */
  async abortLocked(): Promise<void> {
    if (this.reserved.length === 0) return
    const partitions = [...new Set(this.reserved.map((r) => r.partition))]
    for (const p of partitions) await p.abortRanges(this)
    // Recorded in aborted.json now: the file may say the epoch ended there.
    this.decide(this.ranges())
    this.reserved = []
    await this.writeState('aborted')
    this.owner.logHost.wake(partitions.map((p) => p.topic))
  }

  private writeState(state: 'open' | 'aborted'): Promise<void> {
    return this.owner.write({
      transactionalId: this.transactionalId,
      state,
      ranges: [],
      commits: this.lastCommits,
      ...this.identity,
      decided: this.decidedList(),
    })
  }

  /** The decided offsets once `ranges` have ended. */
  private decidedAfter(ranges: readonly TransactionRange[]): DecidedUntil[] {
    const next = new Map(this.decided)
    for (const r of ranges) {
      const key = `${r.topic}\0${r.partition}`
      if ((next.get(key)?.until ?? 0) < r.to)
        next.set(key, { topic: r.topic, partition: r.partition, until: r.to })
    }
    return [...next.values()]
  }

  private decide(ranges: readonly TransactionRange[]): void {
    for (const d of this.decidedAfter(ranges)) this.decided.set(`${d.topic}\0${d.partition}`, d)
  }

  private ranges(): TransactionRange[] {
    return this.reserved.map((r) => ({
      topic: r.partition.topic,
      partition: r.partition.partition,
      from: r.from,
      to: r.to,
    }))
  }

  private checkFenced(): void {
    if (this.fenced) {
      throw new SluiceError(
        'LOG_FENCED',
        `transactional id ${this.transactionalId} was taken over by another subscriber; this one's transaction was aborted`,
      )
    }
  }
}

/** Parses a transaction file; LOG_CORRUPT_SEGMENT naming it when it is not one. */
export function parseTransactionFile(text: string, file: string, fallbackId: string): TransactionFile {
  const bad = (why: string) =>
    new SluiceError(
      'LOG_CORRUPT_SEGMENT',
      `transaction file ${file} is damaged (${why}); records of a transaction it lists as open could become visible, so the log refuses to open: run \`sluice log verify\``,
    )
  let parsed: Record<string, unknown>
  try {
    parsed = JSON.parse(text) as Record<string, unknown>
  } catch (error) {
    throw bad((error as Error).message)
  }
  if (typeof parsed !== 'object' || parsed === null) throw bad('not an object')
  const { state, ranges, commit, commits } = parsed
  const transactionalId = typeof parsed.transactionalId === 'string' ? parsed.transactionalId : fallbackId
  if (state !== 'open' && state !== 'committed' && state !== 'aborted') throw bad(`state ${String(state)}`)
  if (!Array.isArray(ranges)) throw bad('no "ranges" list')
  const list: TransactionRange[] = []
  for (const r of ranges) {
    const { topic, partition, from, to } = (r ?? {}) as Record<string, unknown>
    if (
      typeof topic !== 'string' ||
      !Number.isSafeInteger(partition) ||
      !Number.isSafeInteger(from) ||
      !Number.isSafeInteger(to) ||
      (from as number) < 0 ||
      (to as number) <= (from as number)
    )
      throw bad(`bad range ${JSON.stringify(r)}`)
    list.push({ topic, partition: partition as number, from: from as number, to: to as number })
  }
  // Files written before tasks hold one `commit` (or null); later ones a `commits` list.
  const listed = commits !== undefined ? commits : commit === null || commit === undefined ? [] : [commit]
  if (!Array.isArray(listed)) throw bad('"commits" is not a list')
  const sources: SourceCommit[] = listed.map((entry) => {
    const c = (entry ?? {}) as Record<string, unknown>
    if (
      typeof c.group !== 'string' ||
      typeof c.topic !== 'string' ||
      !Number.isSafeInteger(c.partition) ||
      !Number.isSafeInteger(c.offset) ||
      typeof c.metadata !== 'string'
    )
      throw bad(`bad commit ${JSON.stringify(entry)}`)
    return {
      group: c.group,
      topic: c.topic,
      partition: c.partition as number,
      offset: c.offset as number,
      metadata: c.metadata,
    }
  })
  const { producerId, epoch, decided } = parsed
  const identity: { producerId?: number; epoch?: number; decided?: DecidedUntil[] } = {}
  if (producerId !== undefined) {
    if (!Number.isSafeInteger(producerId) || (producerId as number) < 0)
      throw bad(`producerId ${String(producerId)}`)
    if (!Number.isSafeInteger(epoch) || (epoch as number) < 0 || (epoch as number) > 0xffffffff)
      throw bad(`epoch ${String(epoch)}`)
    identity.producerId = producerId as number
    identity.epoch = epoch as number
  }
  if (decided !== undefined) {
    if (!Array.isArray(decided)) throw bad('"decided" is not a list')
    identity.decided = decided.map((d) => {
      const { topic, partition, until } = (d ?? {}) as Record<string, unknown>
      if (
        typeof topic !== 'string' ||
        !Number.isSafeInteger(partition) ||
        !Number.isSafeInteger(until) ||
        (until as number) < 0
      )
        throw bad(`bad decided entry ${JSON.stringify(d)}`)
      return { topic, partition: partition as number, until: until as number }
    })
  }
  return { transactionalId, state, ranges: list, commits: sources, ...identity }
}
