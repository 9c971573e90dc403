import { type FileHandle, mkdir, open, readdir, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { SluiceError } from '../../errors.ts'
import type { LogRecord } from '../index.ts'
import { AbortedRanges, mergeRanges, type OffsetRange } from './aborted.ts'
import { writeNewFile } from './atomic-file.ts'
import { BatchBuilder, type BatchProducer, batchProducer, MAX_BATCH_BYTES } from './batch.ts'
import { classifyTail, findValidFrame, incompleteReason } from './damage.ts'
import { checkFrame, decodeRecords, type FrameInput, frameCrcMatches } from './frame.ts'
import { isCode, syncDir } from './fs-util.ts'
import { OffsetGaps } from './gaps.ts'
import { ioError, withAppended, withFile } from './io-errors.ts'
import type { ReportSink } from './report.ts'
import { decidedUntil, type TransactionFile } from './transactions.ts'
import { readTxnTail, writeTxnTail } from './txn-tail.ts'

export { isCode, syncDir } from './fs-util.ts'

/**
 * One partition of a topic on disk: `<partitionDir>/<20-digit base offset>.seg` segment files,
 * each holding consecutive frames (frame.ts) starting at the offset in its name. Appends write
 * record batch frames (batch.ts), one per append chunk of up to MAX_BATCH_BYTES. Only the last
 * segment is written to; it is rolled (a new file started) before a write would take it past
 * `segmentBytes`. A record larger than a segment gets a segment of its own, never split frames.
 *
 * Durability: prepare() writes a batch and says so (onWritten); the log's group commit syncs it
 * (syncData) when its durability policy (durability.ts) says, and publishes the batch to readers
 * after that ('batch') or right after the write (interval, 'none').
 *
 * Index: per segment, the file position and first offset of every frame that holds an
 * `indexInterval`-th record (by offset relative to the segment's base, so each segment's first
 * frame is always indexed); a read starts at the last indexed frame at or before its offset. The
 * last segment's index is built when the partition opens (that scan also recovers the tail) and
 * kept up to date on append; older segments are scanned and indexed on their first read, which
 * also verifies them.
 *
 * Damage (docs/decisions/0008-embedded-log-damage.md): on open, bytes after the last valid frame
 * of the last segment are cut: a torn write (incomplete frame, zeros) is cut, complete frames
 * that fail their CRC are first copied to `<segment>.quarantine-at-<byte>`. Offsets that may have
 * been handed out (readable in the cut bytes, or committed by a consumer group) are retired as
 * a recorded gap (gaps.ts) and appends continue in a new segment past them. Damage with valid
 * frames after it cannot be cut without losing records: the partition is marked damaged and
 * refuses reads and appends (naming the file, byte and `sluice log repair`) while the rest of
 * the log works.
 *
 * Transactions (transactions.ts): the records of an open transaction are written like any other
 * but stay invisible until it commits: readers see nothing at or past the first offset of the
 * oldest open transaction (the last stable offset, `stableEnd`), and never the records of an
 * aborted one (aborted.ts), which they step over like gaps. A partition that never took part in
 * a transaction reads exactly as before: the filtering is only switched on (`transactional`) once
 * it has an open or aborted range. A transaction's records are written as transactional batches
 * (batch.ts, magic 3) naming it, so the ones on disk can be told apart after a crash
 * (`transactionalBatches`) and by read-only readers in another process (`reloadTransactions`),
 * from the partition's transactional tail mark (txn-tail.ts) on.
 */

/** A transactional batch found on disk. */
export interface TransactionalBatch {
  readonly offset: number
  readonly count: number
  readonly producerId: number
}

/** Commits move the transactional tail mark when it lags the last stable offset by this many offsets. */
const TAIL_MARK_LAG = 1 << 16

export interface PartitionOptions {
  readonly segmentBytes: number
  readonly indexInterval: number
  readonly fsync: boolean
  readonly readOnly: boolean
  /** Read-only: step over damaged bytes (reporting each range) instead of failing the read. */
  readonly skipCorrupt?: boolean
  /** Where recovery reports what it found and did. */
  readonly report?: ReportSink
  /** Highest offset a consumer group committed for this partition (-1: none); appends continue past it. */
  readonly highestCommitted?: number
  /**
   * End of the ranges transactions open at a crash had reserved here (-1: none): their records may
   * not all have been written, but the offsets were promised to them, so appends continue past.
   */
  readonly reservedUntil?: number
  /** What the user can run about damage, appended to damage errors. */
  readonly repairHint?: string
  /** @internal Test seam: called before each segment write; throwing simulates a failed write. */
  readonly beforeWrite?: (file: string, bytes: number) => void
  /** @internal Test seam: called before each fdatasync of a segment; throwing simulates a failed sync. */
  readonly beforeSync?: (file: string) => void | Promise<void>
  /**
   * Told after prepare() wrote bytes that are not yet durable; the log's group commit
   * (group-commit.ts) then calls syncData(). prepare itself never syncs the batch it wrote.
   */
  readonly onWritten?: (partition: PartitionLog) => void
}

const SEGMENT_NAME = /^(\d{20})\.seg$/
const SCAN_CHUNK = 1 << 20
/** Largest single read of readSegment; a larger frame gets a read of exactly its size. */
const MAX_READ_BYTES = 1 << 20
const EMPTY = Buffer.alloc(0)

export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}.seg`
}

class Segment {
  fh: FileHandle | null = null
  /** Bytes of complete, visible frames. */
  size: number
  /** Offset after the last visible record. */
  endOffset: number
  /** Sparse index, null until built. Parallel arrays, ascending. */
  indexOffsets: number[] | null = null
  indexPositions: number[] = []
  indexing: Promise<void> | null = null
  /** Read-only: whether its transactional batches are in PartitionLog.seenTransactional. */
  transactionalScanned = false
  /** Damaged byte ranges a reader steps over (read-only with skipCorrupt): start → end. */
  readonly skips = new Map<number, number>()
  /** Sealed segments: damage after the valid records (up to `endOffset`); reads reaching it fail. */
  damage: SluiceError | null = null

  constructor(
    readonly baseOffset: number,
    readonly file: string,
    size: number,
    endOffset: number,
  ) {
    this.size = size
    this.endOffset = endOffset
  }
}

interface Chunk {
  readonly segment: Segment
  readonly isNew: boolean
  readonly startPosition: number
  readonly buffer: Buffer
  readonly firstOffset: number
  readonly count: number
  readonly index: [offset: number, position: number][]
}

/** A batch written (and synced) to disk but not yet visible; see PartitionLog.prepare. */
export interface PreparedAppend {
  readonly firstOffset: number
  readonly chunks: readonly Chunk[]
  /** Segments this batch rolled into existence (they become visible on publish). */
  readonly created: readonly Segment[]
}

export class PartitionLog {
  private segments: Segment[]
  private poisoned: Error | null = null
  /** Damage that makes the partition unusable until repaired (read-write opens). */
  private damage: SluiceError | null = null
  /** Read-only: damage where the visible records end; reads past it fail with it. */
  private readDamage: SluiceError | null = null
  /** The segment written to since the last syncData, or null when everything written is durable. */
  private unsynced: Segment | null = null
  /** Ranges of aborted transactions; loaded by open(). */
  private aborted: AbortedRanges
  /** Ranges reserved by open transactions, per transaction (transactions.ts), not yet visible. */
  private readonly openRanges = new Map<object, OffsetRange[]>()
  /** The first offset of the oldest open transaction here (Infinity: none). */
  private firstOpen = Number.POSITIVE_INFINITY
  /** Whether reads must filter for transactions (an open or aborted range exists). */
  private transactional = false
  /** The transactional tail mark (txn-tail.ts) as last read or written; null: no file. */
  private tailMark: number | null = null
  /** Read-only: transactional batches seen past the tail mark and not known to have ended. */
  private seenTransactional: TransactionalBatch[] = []

  private constructor(
    readonly dir: string,
    readonly topic: string,
    readonly partition: number,
    private readonly options: PartitionOptions,
    segments: Segment[],
    private readonly gaps: OffsetGaps,
  ) {
    this.segments = segments
    this.aborted = AbortedRanges.empty(dir)
  }

  /** Offset the next appended record gets (= one past the last visible record). */
  get endOffset(): number {
    if (this.damage !== null) throw this.damage
    const last = this.segments.at(-1)
    return last === undefined ? 0 : last.endOffset
  }

  /** Whether appends fail until the log is reopened (a write that could not be undone, damage). */
  get refusesAppends(): boolean {
    return this.poisoned !== null || this.damage !== null
  }

  /** The damage that makes this partition unusable, or null. */
  get damaged(): SluiceError | null {
    return this.damage
  }

  /**
   * The end of what readers may see: endOffset, or the first offset of the oldest open
   * transaction when that is lower (Kafka's last stable offset).
   */
  get stableEnd(): number {
    const end = this.endOffset
    return Math.min(this.firstOpen, end)
  }

  /**
   * The first offset ≥ `offset` not inside a recorded gap or an aborted transaction's range
   * (consumers step over both with it).
   */
  skipGaps(offset: number): number {
    const past = this.gaps.skip(offset)
    if (!this.transactional) return past
    for (let at = past; ; ) {
      const next = this.gaps.skip(this.aborted.skip(at))
      if (next === at) return at
      at = next
    }
  }

  /**
   * Reserves [from, to) for the open transaction `owner`: invisible to readers until
   * commitRanges or abortRanges. Called before the records are written.
   */
  reserve(owner: object, from: number, to: number): void {
    const list = this.openRanges.get(owner) ?? []
    this.openRanges.set(owner, mergeRanges([...list, { from, to }]))
    this.transactional = true
    this.firstOpen = Math.min(this.firstOpen, from)
  }

  /** Takes back a reservation whose append failed (its offsets are handed out again). */
  unreserve(owner: object, from: number, to: number): void {
    const list = this.openRanges.get(owner)
    if (list === undefined) return
    const rest = list.flatMap((r) =>
      r.to <= from || r.from >= to
        ? [r]
        : [
            ...(r.from < from ? [{ from: r.from, to: from }] : []),
            ...(r.to > to ? [{ from: to, to: r.to }] : []),
          ],
    )
    if (rest.length === 0) this.openRanges.delete(owner)
    else this.openRanges.set(owner, rest)
    this.updateOpen()
  }

  /** `owner` committed: its records here become visible. */
  commitRanges(owner: object): void {
    if (this.openRanges.delete(owner)) this.updateOpen()
  }

  /**
   * `owner` aborted (or was fenced): its ranges here are recorded as aborted (durably, before the
   * transaction forgets them), so no reader ever sees their records.
   */
  async abortRanges(owner: object): Promise<void> {
    const list = this.openRanges.get(owner)
    if (list === undefined) return
    await this.recordAborted(list)
    this.openRanges.delete(owner)
    this.updateOpen()
  }

  /** Records ranges of transactions that were open when the process ended (recovery). */
  async recordAborted(ranges: readonly OffsetRange[]): Promise<void> {
    if (this.damage !== null) throw this.damage
    await this.aborted.record(ranges, this.options.fsync)
    if (!this.aborted.isEmpty) this.transactional = true
  }

  /** Aborted ranges, for verification and tests. */
  get abortedRanges(): readonly OffsetRange[] {
    return this.aborted.all
  }

  private updateOpen(): void {
    let first = Number.POSITIVE_INFINITY
    for (const list of this.openRanges.values()) if (list[0]!.from < first) first = list[0]!.from
    this.firstOpen = first
    this.transactional = this.openRanges.size > 0 || !this.aborted.isEmpty
  }

  /**
   * Read-only: the open ranges are what the owning process has not committed or aborted now: every
   * transactional batch at or past its producer's decided offset (transactions.ts) and not in
   * aborted.json (Kafka's read_committed rule, from the batches and the files), and the ranges
   * older files list as open. The owner records an abort in aborted.json before its transaction
   * file or the tail mark say the batches ended, so they are read first and aborted.json last:
   * a batch they say ended and that was aborted is then always in the aborted.json read.
   */
  async reloadTransactions(readFiles: () => Promise<readonly TransactionFile[]>): Promise<void> {
    const mark = await readTxnTail(this.dir)
    const files = await readFiles()
    await this.aborted.reload()
    if (mark !== null) {
      this.tailMark = mark
      // Segments sealed before this reader first looked were not scanned for batches yet.
      for (const segment of this.segments) {
        if (segment.transactionalScanned || segment.endOffset <= mark || segment === this.segments.at(-1))
          continue
        const fh = await this.handle(segment)
        const found: TransactionalBatch[] = []
        await scanFrames(fh, segment, 0, segment.baseOffset, segment.size, this.options.indexInterval, found)
        segment.transactionalScanned = true
        this.seenTransactional.push(...found)
      }
      this.seenTransactional.sort((a, b) => a.offset - b.offset)
    }
    const byProducer = new Map<number, TransactionFile>()
    for (const f of files) if (f.producerId !== undefined) byProducer.set(f.producerId, f)
    const open: OffsetRange[] = []
    this.seenTransactional = this.seenTransactional.filter((b) => {
      const to = b.offset + b.count
      // Ended for good: before the mark, before its producer's decided offset, or aborted.
      if (mark !== null && to <= mark) return false
      if (b.offset < decidedUntil(byProducer.get(b.producerId), this.topic, this.partition)) return false
      if (this.aborted.skip(b.offset) >= to) return false
      open.push({ from: b.offset, to })
      return true
    })
    for (const f of files) {
      if (f.state !== 'open') continue
      for (const r of f.ranges) if (r.topic === this.topic && r.partition === this.partition) open.push(r)
    }
    this.openRanges.clear()
    if (open.length > 0) this.openRanges.set(this, mergeRanges(open))
    this.updateOpen()
  }

  /**
   * The transactional batches on disk from `from` on (recovery: those of transactions the last
   * process did not end). Stops at damage, which makes what follows unreadable anyway.
   */
  async transactionalBatches(from: number): Promise<TransactionalBatch[]> {
    if (this.damage !== null) return []
    const found: TransactionalBatch[] = []
    for (const segment of this.segments) {
      if (segment.endOffset <= from || segment.size === 0) continue
      // From the last indexed frame at or before `from` when the segment is indexed (the last
      // one is, by recovery): the scan covers the tail, not the whole segment.
      let position = 0
      let first = segment.baseOffset
      const k = segment.indexOffsets === null ? -1 : upperBound(segment.indexOffsets, from) - 1
      if (k >= 0) {
        position = segment.indexPositions[k]!
        first = segment.indexOffsets![k]!
      }
      const fh = await this.handle(segment)
      await scanFrames(fh, segment, position, first, segment.size, this.options.indexInterval, found)
    }
    return found.filter((b) => b.offset + b.count > from)
  }

  /** The transactional tail mark (txn-tail.ts) read at open or last written; null: none. */
  get transactionalTail(): number | null {
    return this.tailMark
  }

  /**
   * Before the partition's first transactional batch is written: the tail mark must exist and not
   * lie past it. One write per partition, ever (later marks only move it forward).
   */
  async markTransactional(): Promise<void> {
    if (this.tailMark !== null) return
    const from = this.endOffset
    await withFile(path.join(this.dir, 'transactional.json'), 'writing', () =>
      writeTxnTail(this.dir, from, this.options.fsync),
    )
    this.tailMark = from
  }

  /**
   * Moves the tail mark to the last stable offset: below it every transactional batch has ended.
   * `always`: even when it lags little (recovery, once everything is decided).
   */
  async advanceTransactionalTail(always: boolean): Promise<void> {
    if (this.tailMark === null || this.damage !== null) return
    const to = this.stableEnd
    if (to <= this.tailMark || (!always && to - this.tailMark < TAIL_MARK_LAG)) return
    await writeTxnTail(this.dir, to, this.options.fsync)
    this.tailMark = to
  }

  /** A partition that could not be opened: every read and append fails with `error`. */
  static damaged(
    dir: string,
    topic: string,
    partition: number,
    options: PartitionOptions,
    error: SluiceError,
  ) {
    const log = new PartitionLog(dir, topic, partition, options, [], OffsetGaps.empty(dir))
    log.damage = error
    return log
  }

  static async open(
    dir: string,
    topic: string,
    partition: number,
    options: PartitionOptions,
  ): Promise<PartitionLog> {
    if (!options.readOnly) await withFile(dir, 'creating', () => mkdir(dir, { recursive: true }))
    const bases = await listSegmentBases(dir, options.readOnly)
    const gaps = await OffsetGaps.load(dir)
    const segments: Segment[] = []
    for (let i = 0; i < bases.length - 1; i++) {
      const base = bases[i]!
      const file = path.join(dir, segmentFileName(base))
      // Sealed segments are verified and indexed lazily, on first read.
      const { size } = await withFile(file, 'reading', () => stat(file))
      segments.push(new Segment(base, file, size, bases[i + 1]!))
    }
    const log = new PartitionLog(dir, topic, partition, options, segments, gaps)
    log.aborted = await AbortedRanges.load(dir)
    log.transactional = !log.aborted.isEmpty
    if (!options.readOnly) log.tailMark = await readTxnTail(dir)
    if (bases.length === 0) {
      if (!options.readOnly) await log.continueAt(0, null)
      return log
    }
    const base = bases.at(-1)!
    const file = path.join(dir, segmentFileName(base))
    const segment = new Segment(base, file, 0, base)
    segment.fh = await withFile(file, 'opening', () => open(file, options.readOnly ? 'r' : 'r+'))
    segment.indexOffsets = []
    segments.push(segment)
    if (options.readOnly) await log.scanReadOnly(segment)
    else await log.recoverTail(segment)
    return log
  }

  private note(kind: Parameters<ReportSink>[0]['kind'], message: string, fields: object = {}): void {
    this.options.report?.({ kind, message, topic: this.topic, partition: this.partition, ...fields })
  }

  private hint(): string {
    return this.options.repairHint === undefined ? '' : `; ${this.options.repairHint}`
  }

  /**
   * Scans the last segment from its start, builds its index and finds where its valid frames
   * end. What follows is cut (torn write) or quarantined and cut (corruption) when no valid frame
   * follows it; otherwise the damage is in the middle of the data and the partition is marked
   * damaged instead of papering over it. Then appends continue past every offset that may have
   * been handed out (continueAt).
   */
  private async recoverTail(segment: Segment): Promise<void> {
    const fh = segment.fh!
    const fileSize = (await fh.stat()).size
    const scan = await scanFrames(fh, segment, 0, segment.baseOffset, fileSize, this.options.indexInterval)
    segment.size = scan.end
    segment.endOffset = scan.nextOffset
    segment.indexOffsets = scan.indexOffsets
    segment.indexPositions = scan.indexPositions
    if (scan.end === fileSize) {
      await this.continueAt(scan.nextOffset, null)
      return
    }
    const tail = await readRegion(fh, scan.end, fileSize)
    const found = findValidFrame(tail, scan.nextOffset)
    if (found !== null) {
      this.damage = corrupt(
        segment.file,
        scan.end,
        `${scan.bad!.reason}, followed by a valid frame (offset ${found.offset}) at byte ${scan.end + found.at}${scan.bad!.incomplete ? '; the length field is probably damaged' : ''}`,
        this.hint(),
      )
      this.note(
        'partition-damaged',
        `partition ${this.topic}/${this.partition} is damaged and refuses reads and appends until repaired: ${this.damage.message}`,
        {
          file: segment.file,
          position: scan.end,
        },
      )
      return
    }
    const damage = classifyTail(tail, scan.nextOffset, scan.end)
    await this.continueAt(scan.nextOffset, { segment, position: scan.end, bytes: tail, damage })
  }

  /**
   * Makes the next appended offset `endOffset` or higher: past the offsets readable in a cut
   * tail, past every offset a consumer group committed, past a gap recorded at the end (a crash
   * between recording a gap and starting the segment after it). Order, for crash safety: keep
   * corrupt bytes (quarantine), record the gap, cut the tail, then start the segment past the gap.
   */
  private async continueAt(
    endOffset: number,
    cut: {
      segment: Segment
      position: number
      bytes: Buffer
      damage: ReturnType<typeof classifyTail>
    } | null,
  ): Promise<void> {
    const committed = this.options.highestCommitted ?? -1
    const reserved = this.options.reservedUntil ?? -1
    const fromCut =
      cut === null ? -1 : Math.max(cut.damage.highestOffset + 1, endOffset + cut.damage.completeRecords)
    const target = this.gaps.skip(Math.max(endOffset, committed, fromCut, reserved))
    let quarantine: string | null = null
    if (cut?.damage.corrupt) {
      quarantine = await writeNewFile(cut.segment.file, `quarantine-at-${cut.position}`, cut.bytes)
    }
    const reasons: string[] = []
    if (cut !== null && fromCut > endOffset)
      reasons.push(`records ${endOffset}..${fromCut - 1} were cut from ${cut.segment.file}`)
    if (committed > endOffset)
      reasons.push(`a consumer group had committed offset ${committed} but the log ended at ${endOffset}`)
    if (reserved > endOffset)
      reasons.push(`a transaction open at the crash had reserved offsets up to ${reserved - 1}`)
    if (target > endOffset) {
      await this.gaps.record(
        endOffset,
        target,
        reasons.join('; ') || 'recorded gap at the end',
        this.options.fsync,
      )
    }
    if (cut !== null) {
      const fh = cut.segment.fh!
      await withFile(cut.segment.file, 'cutting the damaged tail of', async () => {
        await fh.truncate(cut.position)
        if (this.options.fsync) await fh.datasync()
      })
      const lost = fromCut > endOffset ? ` (records ${endOffset}..${fromCut - 1})` : ''
      if (quarantine !== null) {
        this.note(
          'corrupt-tail-quarantined',
          `corrupt data at the end of ${cut.segment.file}: ${cut.damage.reason}; moved ${cut.bytes.length} bytes from byte ${cut.position}${lost} to ${quarantine}`,
          {
            file: cut.segment.file,
            position: cut.position,
            bytes: cut.bytes.length,
            quarantine,
            ...offsetsField(endOffset, fromCut),
          },
        )
      } else {
        this.note(
          'torn-tail-cut',
          `cut ${cut.bytes.length} bytes from byte ${cut.position} of ${cut.segment.file}: ${cut.damage.reason}${lost}`,
          {
            file: cut.segment.file,
            position: cut.position,
            bytes: cut.bytes.length,
            ...offsetsField(endOffset, fromCut),
          },
        )
      }
    }
    const last = this.segments.at(-1)
    if (last !== undefined && target === endOffset) return
    // The old last segment becomes sealed: durable before its successor exists, as on a roll.
    if (last?.fh) await withFile(last.file, 'syncing', () => last.fh!.datasync())
    await this.createSegment(target, true)
    if (target > endOffset) {
      this.note(
        'offsets-skipped',
        `partition ${this.topic}/${this.partition} continues at offset ${target}: offsets ${endOffset}..${target - 1} are retired (${reasons.join('; ') || 'recorded gap'}) and never handed out again`,
        { offsets: { from: endOffset, to: target } },
      )
    }
  }

  /**
   * Read-only: scans the last segment from what is known of it to the end of the file. An
   * incomplete last frame may be a write in progress: it is left for the next look. Anything
   * else invalid is corruption: reads past it fail with an error naming file, byte and offset,
   * or (skipCorrupt) step over the damaged bytes to the next valid frame, with a warning.
   */
  private async scanReadOnly(segment: Segment): Promise<void> {
    const fh = await this.handle(segment)
    for (;;) {
      const fileSize = (await fh.stat()).size
      if (fileSize <= segment.size) return
      const scan = await scanFrames(
        fh,
        segment,
        segment.size,
        segment.endOffset,
        fileSize,
        this.options.indexInterval,
        this.seenTransactional,
      )
      segment.transactionalScanned = true
      segment.indexOffsets!.push(...scan.indexOffsets)
      segment.indexPositions.push(...scan.indexPositions)
      segment.size = scan.end
      segment.endOffset = scan.nextOffset
      if (scan.end === fileSize) return
      const tail = await readRegion(fh, scan.end, fileSize)
      const found = findValidFrame(tail, scan.nextOffset)
      let reason: string
      if (found !== null) {
        reason = `${scan.bad!.reason}, followed by a valid frame (offset ${found.offset}) at byte ${scan.end + found.at}${scan.bad!.incomplete ? '; the length field is probably damaged' : ''}`
      } else {
        const damage = classifyTail(tail, scan.nextOffset, scan.end)
        if (!damage.corrupt) return // maybe being written: look again later
        reason = damage.reason
      }
      const error = corrupt(
        segment.file,
        scan.end,
        `${reason} (where record offset ${scan.nextOffset} should be)`,
        this.hint(),
      )
      if (this.options.skipCorrupt !== true) {
        this.readDamage = error
        return
      }
      const to = found === null ? fileSize : scan.end + found.at
      segment.skips.set(scan.end, to)
      segment.size = to
      const resume = found === null ? scan.nextOffset : found.offset
      this.note(
        'corrupt-skipped',
        `skipped damaged bytes ${scan.end}..${to - 1} of ${segment.file}${resume > scan.nextOffset ? ` (offsets ${scan.nextOffset}..${resume - 1} unreadable)` : ''}: ${reason}`,
        {
          file: segment.file,
          position: scan.end,
          bytes: to - scan.end,
          ...offsetsField(scan.nextOffset, resume),
        },
      )
      segment.endOffset = resume
      if (found === null) return
    }
  }

  /**
   * Read-only: picks up what the owning process appended since the last look (new bytes in the
   * last segment, new segments). Frames are only accepted once complete and valid.
   */
  async refresh(): Promise<void> {
    if (this.damage !== null) throw this.damage
    if (this.segments.length === 0) {
      const bases = await listSegmentBases(this.dir, true)
      if (bases.length === 0) return
      const segment = new Segment(bases[0]!, path.join(this.dir, segmentFileName(bases[0]!)), 0, bases[0]!)
      segment.fh = await open(segment.file, 'r')
      segment.indexOffsets = []
      this.segments.push(segment)
    }
    for (;;) {
      if (this.readDamage !== null) return
      const last = this.segments.at(-1)!
      await this.scanReadOnly(last)
      if (this.readDamage !== null) return
      // A successor starts where this segment ends, or past a gap recorded there. Looking it up by
      // that name (not by listing) never skips bytes of this segment not yet scanned.
      let nextBase = last.endOffset
      let nextFh =
        last.endOffset === last.baseOffset
          ? null
          : await openIfExists(path.join(this.dir, segmentFileName(nextBase)))
      if (nextFh === null) {
        await this.gaps.reload()
        nextBase = this.gaps.skip(last.endOffset)
        if (nextBase === last.endOffset) return
        nextFh = await openIfExists(path.join(this.dir, segmentFileName(nextBase)))
        if (nextFh === null) return
      }
      const segment = new Segment(nextBase, path.join(this.dir, segmentFileName(nextBase)), 0, nextBase)
      segment.fh = nextFh
      segment.indexOffsets = []
      this.segments.push(segment)
    }
  }

  /**
   * Phase one of an append: assigns offsets from endOffset, writes the frames (one buffer per
   * segment touched, normally one); syncing them is syncData's job. Nothing is visible until
   * publish(); on failure
   * call rollback(). The caller serializes appends of a partition. Failures name the file:
   * LOG_DISK_FULL for ENOSPC/EDQUOT, LOG_IO otherwise; nothing of a failed batch stays.
   * `producers[i]`: the transaction record i belongs to (null or absent: none); a batch holds
   * records of one transaction, or of none.
   */
  async prepare(
    records: readonly FrameInput[],
    producers?: readonly (BatchProducer | null)[],
  ): Promise<PreparedAppend> {
    if (this.damage !== null) throw this.damage
    if (this.poisoned !== null) throw this.poisonedError()
    const firstOffset = this.endOffset
    const chunks: Chunk[] = []
    const created: Segment[] = []
    let segment = this.segments.at(-1)!
    let segmentSize = segment.size
    let isNew = false
    // The chunk being built (the bytes for one write to `segment`): its closed batches, the index
    // of its first record, and their bytes.
    let batches: BatchBuilder[] = []
    let start = 0
    let bytes = 0
    let batch = new BatchBuilder(producers?.[0] ?? null)
    const cut = () => {
      const index: [number, number][] = []
      const base = segment.baseOffset
      const startPosition = segmentSize
      const interval = this.options.indexInterval
      const buffer = Buffer.allocUnsafe(bytes)
      let pos = 0
      let offset = firstOffset + start
      for (const b of batches) {
        if (holdsIndexedOffset(offset - base, b.count, interval)) index.push([offset, startPosition + pos])
        pos = b.encode(buffer, pos, offset)
        offset += b.count
      }
      chunks.push({
        segment,
        isNew,
        startPosition,
        buffer,
        firstOffset: firstOffset + start,
        count: offset - firstOffset - start,
        index,
      })
    }
    let file = segment.file
    let action = 'writing'
    try {
      for (let i = 0; i < records.length; i++) {
        const record = records[i]!
        const producer = producers?.[i] ?? null
        if (producer !== batch.producer) {
          if (batch.count > 0) {
            batches.push(batch)
            bytes += batch.size
          }
          batch = new BatchBuilder(producer)
        }
        let size = batch.measure(record)
        if (
          batch.count > 0 &&
          (size > MAX_BATCH_BYTES || segmentSize + bytes + size > this.options.segmentBytes)
        ) {
          batches.push(batch)
          bytes += batch.size
          batch = new BatchBuilder(producer)
          size = batch.measure(record)
        }
        if (
          batch.count === 0 &&
          segmentSize + bytes > 0 &&
          segmentSize + bytes + size > this.options.segmentBytes
        ) {
          if (batches.length > 0) {
            cut()
            await this.writeChunk(chunks.at(-1)!)
          }
          // A segment is sealed durably before its successor exists, even with fsync 'never':
          // recovery only repairs the last segment, so earlier ones must be complete on disk.
          action = 'syncing'
          await this.datasync(segment)
          file = path.join(this.dir, segmentFileName(firstOffset + i))
          action = 'creating'
          segment = await this.createSegment(firstOffset + i, false)
          created.push(segment)
          file = segment.file
          action = 'writing'
          isNew = true
          segmentSize = 0
          bytes = 0
          batches = []
          start = i
        }
        batch.add(record)
      }
      if (batch.count > 0) {
        batches.push(batch)
        bytes += batch.size
      }
      cut()
      await this.writeChunk(chunks.at(-1)!)
      this.unsynced = segment
      this.options.onWritten?.(this)
    } catch (error) {
      const undone = await this.rollback({ firstOffset, chunks, created }, error)
      // appended: 0 tells the caller none of the batch is in the log, so resending all of it
      // adds no duplicates; unknown when the rollback itself failed.
      throw withAppended(ioError(error, file, action), undone ? 0 : undefined)
    }
    return { firstOffset, chunks, created }
  }

  private async writeChunk(chunk: Chunk): Promise<void> {
    const fh = chunk.segment.fh!
    this.options.beforeWrite?.(chunk.segment.file, chunk.buffer.length)
    let written = 0
    while (written < chunk.buffer.length) {
      const { bytesWritten } = await fh.write(
        chunk.buffer,
        written,
        chunk.buffer.length - written,
        chunk.startPosition + written,
      )
      written += bytesWritten
    }
  }

  /**
   * Makes everything prepare() wrote so far durable (one fdatasync of the segment written to).
   * A failed sync poisons the partition: after a failed fsync the kernel may have dropped the
   * dirty pages and a second fsync would report success, so nothing written can be trusted.
   */
  async syncData(): Promise<void> {
    const segment = this.unsynced
    if (segment === null) return
    if (this.poisoned !== null) throw this.poisonedError()
    this.unsynced = null
    if (segment.fh === null) return // removed by a rollback
    try {
      await this.datasync(segment)
    } catch (error) {
      this.poisoned = asError(error)
      throw ioError(error, segment.file, 'syncing')
    }
  }

  private async datasync(segment: Segment): Promise<void> {
    await this.options.beforeSync?.(segment.file)
    await segment.fh!.datasync()
  }

  private poisonedError(): SluiceError {
    return new SluiceError(
      'LOG_CLOSED',
      `partition ${this.topic}/${this.partition} failed an earlier write and accepts no more appends until the log is reopened: ${this.poisoned!.message}`,
      { cause: this.poisoned },
    )
  }

  /** Phase two: makes a prepared batch visible to readers. */
  publish(prepared: PreparedAppend): void {
    for (const chunk of prepared.chunks) {
      const segment = chunk.segment
      if (chunk.isNew && this.segments.at(-1) !== segment) this.segments.push(segment)
      segment.indexOffsets ??= []
      for (const [offset, position] of chunk.index) {
        segment.indexOffsets.push(offset)
        segment.indexPositions.push(position)
      }
      segment.size = chunk.startPosition + chunk.buffer.length
      segment.endOffset = chunk.firstOffset + chunk.count
    }
  }

  /**
   * Undoes a prepared (or half-prepared) batch: cuts the active segment back and removes segments
   * the batch created. If that fails, or the failure was in a sync (after a failed fsync the page
   * cache can no longer be trusted), the partition refuses further appends until reopened.
   */
  async rollback(prepared: PreparedAppend, cause?: unknown): Promise<boolean> {
    const active = this.segments.at(-1)!
    try {
      await active.fh!.truncate(active.size)
      if (this.unsynced !== null && prepared.created.includes(this.unsynced)) this.unsynced = active
      for (const segment of prepared.created) {
        await segment.fh?.close()
        segment.fh = null
        await unlink(segment.file)
      }
      if (cause !== undefined && isSyscall(cause, 'fdatasync', 'fsync')) this.poisoned = asError(cause)
      return true
    } catch (error) {
      this.poisoned = asError(error)
      return false
    }
  }

  private async createSegment(baseOffset: number, publish: boolean): Promise<Segment> {
    const file = path.join(this.dir, segmentFileName(baseOffset))
    const segment = new Segment(baseOffset, file, 0, baseOffset)
    segment.fh = await withFile(file, 'creating', () => open(file, 'w+'))
    segment.indexOffsets = []
    // The directory entry must be durable too, or a crash could lose the whole file.
    await withFile(this.dir, 'syncing', () => syncDir(this.dir))
    if (publish) this.segments.push(segment)
    return segment
  }

  /**
   * Up to `maxRecords` visible records from `fromOffset` on: below stableEnd and outside aborted
   * ranges once the partition took part in a transaction (fewer only at stableEnd).
   */
  read(fromOffset: number, maxRecords: number): Promise<LogRecord[]> {
    return this.transactional
      ? this.readCommitted(fromOffset, maxRecords)
      : this.readVisible(fromOffset, maxRecords)
  }

  private async readCommitted(fromOffset: number, maxRecords: number): Promise<LogRecord[]> {
    if (this.options.readOnly && fromOffset >= this.endOffset) await this.refresh()
    const out: LogRecord[] = []
    let at = fromOffset
    while (out.length < maxRecords) {
      at = this.skipGaps(at)
      const limit = this.stableEnd
      if (at >= limit) break
      // Up to the next aborted range (or the stable end): offsets are unique, so no more records
      // than offsets lie before it.
      const until = Math.min(limit, this.aborted.nextStart(at))
      const chunk = await this.readVisible(at, Math.min(maxRecords - out.length, until - at))
      let kept = 0
      for (const record of chunk) {
        if (record.offset >= until) break
        out.push(record)
        kept++
      }
      if (kept > 0) at = out.at(-1)!.offset + 1
      else if (chunk.length === 0 || until === limit) break
      else at = until
    }
    return out
  }

  private async readVisible(fromOffset: number, maxRecords: number): Promise<LogRecord[]> {
    if (this.damage !== null) throw this.damage
    if (this.options.readOnly && fromOffset >= this.endOffset) await this.refresh()
    const out: LogRecord[] = []
    if (maxRecords > 0 && fromOffset >= this.endOffset && this.readDamage !== null) throw this.readDamage
    if (maxRecords <= 0 || fromOffset >= this.endOffset) return out
    let i = findSegment(this.segments, fromOffset)
    while (out.length < maxRecords && i < this.segments.length) {
      const segment = this.segments[i]!
      await this.ensureIndexed(segment)
      const from = Math.max(fromOffset, segment.baseOffset)
      if (from < segment.endOffset) await this.readSegment(segment, from, maxRecords - out.length, out)
      if (segment.damage !== null && out.length < maxRecords) {
        // Hand out what lies before the damage; the next read, starting at it, fails.
        if (out.length > 0) break
        throw segment.damage
      }
      i++
    }
    return out
  }

  /**
   * Reads up to `max` records from offset `from` on. Each file read goes into a buffer of its own,
   * sized from the sparse index to cover the wanted frames (at most MAX_READ_BYTES, at least one
   * whole frame) and never reused: the records' values are views into it (frame.ts decodeRecords),
   * so nothing is copied, and a buffer lives only as long as records of this read are kept.
   * Each frame records are handed out of is checked once (length, magic, CRC); frames wholly
   * before `from` (between the index entry and the wanted offset) are only walked over, and the
   * records before `from` in the batch holding it are decoded past, not handed out.
   */
  private async readSegment(segment: Segment, from: number, max: number, out: LogRecord[]): Promise<void> {
    const fh = await this.handle(segment)
    const limit = segment.size // snapshot: bytes past it may be a batch still being written
    const offsets = segment.indexOffsets!
    const positions = segment.indexPositions
    const k = upperBound(offsets, from) - 1
    let position = k >= 0 ? positions[k]! : 0
    let wanted = max
    // Offsets within a segment are consecutive, so the last wanted frame's offset is known.
    const lastWanted = from + max - 1
    let buf = EMPTY
    let bufStart = position
    let bufEnd = position
    while (wanted > 0 && position < limit) {
      const skipTo = segment.skips.get(position)
      if (skipTo !== undefined) {
        position = skipTo
        continue
      }
      // Refill until the whole frame at `position` is buffered: first its length, then the rest.
      for (;;) {
        const buffered = bufEnd - position
        const needed = buffered >= 4 ? buf.readUInt32BE(position - bufStart) + 4 : 4
        if (buffered >= needed || bufEnd >= limit) break
        // Up to the first indexed frame at or past the last wanted offset: the whole batch in
        // one read when it fits, overshooting by less than indexInterval frames.
        const j = upperBound(offsets, lastWanted)
        const estimate = (j < offsets.length ? positions[j]! : limit) - position
        const length = Math.min(limit - position, Math.max(needed, Math.min(estimate, MAX_READ_BYTES)))
        buf = Buffer.allocUnsafeSlow(length)
        await readFully(fh, buf, length, position)
        bufStart = position
        bufEnd = position + length
      }
      const at = position - bufStart
      const check = checkFrame(buf, at, bufEnd - bufStart, false)
      if (check.status !== 'ok') {
        throw corrupt(
          segment.file,
          position,
          check.status === 'invalid' ? check.reason : 'frame runs past the end of the data',
          this.hint(),
        )
      }
      if (check.offset + check.count > from) {
        if (!frameCrcMatches(buf, at, check.size))
          throw corrupt(segment.file, position, `CRC mismatch (record offset ${check.offset})`, this.hint())
        try {
          wanted -= decodeRecords(buf, at, check.size, this.topic, this.partition, from, wanted, out)
        } catch (error) {
          throw corrupt(segment.file, position, asError(error).message, this.hint())
        }
      }
      position += check.size
    }
  }

  /**
   * Scans a sealed segment once, verifying every frame, and builds its index. Its frames must
   * run up to where the next segment starts, or stop where a recorded gap begins. Damage fails
   * the read (read-only readers asked to skip it step over it instead, with a warning).
   */
  private ensureIndexed(segment: Segment): Promise<void> {
    if (segment.indexOffsets !== null) return Promise.resolve()
    segment.indexing ??= (async () => {
      const fh = await this.handle(segment)
      const offsets: number[] = []
      const positions: number[] = []
      let position = 0
      let expected = segment.baseOffset
      for (;;) {
        const scan = await scanFrames(
          fh,
          segment,
          position,
          expected,
          segment.size,
          this.options.indexInterval,
        )
        offsets.push(...scan.indexOffsets)
        positions.push(...scan.indexPositions)
        expected = scan.nextOffset
        if (scan.bad === null) break
        const tail = await readRegion(fh, scan.end, segment.size)
        const found = findValidFrame(tail, scan.nextOffset)
        const reason =
          found === null
            ? `${scan.bad.reason} in a sealed segment`
            : `${scan.bad.reason}, followed by a valid frame (offset ${found.offset}) at byte ${scan.end + found.at}${scan.bad.incomplete ? '; the length field is probably damaged' : ''}`
        if (this.options.skipCorrupt !== true) {
          // The records before the damage stay readable; a read that reaches it fails with this.
          segment.damage = corrupt(
            segment.file,
            scan.end,
            `${reason} (where record offset ${expected} should be)`,
            this.hint(),
          )
          segment.size = scan.end
          break
        }
        const to = found === null ? segment.size : scan.end + found.at
        segment.skips.set(scan.end, to)
        const resume = found === null ? segment.endOffset : found.offset
        this.note(
          'corrupt-skipped',
          `skipped damaged bytes ${scan.end}..${to - 1} of ${segment.file}${resume > expected ? ` (offsets ${expected}..${resume - 1} unreadable)` : ''}: ${reason}`,
          { file: segment.file, position: scan.end, bytes: to - scan.end, ...offsetsField(expected, resume) },
        )
        if (found === null) {
          expected = resume
          break
        }
        position = to
        expected = found.offset
      }
      if (segment.damage === null && expected !== segment.endOffset) {
        const explained = expected < segment.endOffset && this.gaps.covers(expected, segment.endOffset)
        if (!explained && this.options.skipCorrupt !== true) {
          segment.damage = corrupt(
            segment.file,
            segment.size,
            `segment ends at offset ${expected} but the next segment starts at ${segment.endOffset}` +
              (expected < segment.endOffset ? ' and no gap is recorded for the offsets between' : ''),
            this.hint(),
          )
        }
      }
      segment.endOffset = Math.min(segment.endOffset, expected)
      segment.indexPositions = positions
      segment.indexOffsets = offsets
    })().finally(() => {
      segment.indexing = null
    })
    return segment.indexing
  }

  private async handle(segment: Segment): Promise<FileHandle> {
    // Sealed segments are opened on first read and kept open: segments are large, so there are few.
    segment.fh ??= await open(segment.file, 'r')
    return segment.fh
  }

  /** Flushes the active segment (used by close, which must leave everything durable). */
  async sync(): Promise<void> {
    if (this.options.readOnly) return
    const last = this.segments.at(-1)
    if (last?.fh) await withFile(last.file, 'syncing', () => last.fh!.datasync())
  }

  async close(): Promise<void> {
    const handles = this.segments.map((s) => s.fh).filter((fh): fh is FileHandle => fh !== null)
    for (const segment of this.segments) segment.fh = null
    await Promise.all(handles.map((fh) => fh.close()))
  }
}

interface ScanResult {
  /** Byte position after the last valid frame. */
  readonly end: number
  readonly nextOffset: number
  readonly indexOffsets: number[]
  readonly indexPositions: number[]
  /** Why the scan stopped before `until` (incomplete: the frame's length runs past `until`), or null. */
  readonly bad: { readonly reason: string; readonly incomplete: boolean } | null
}

/**
 * Walks frames from `start` (where offset `firstOffset` must begin) up to `until`, verifying each
 * (length, magic, record count, CRC, consecutive offsets) and collecting index entries (and, into
 * `transactional` when given, the transactional batches). Stops at the first frame
 * that is invalid or runs past `until`.
 */
async function scanFrames(
  fh: FileHandle,
  segment: Segment,
  start: number,
  firstOffset: number,
  until: number,
  indexInterval: number,
  transactional?: TransactionalBatch[],
): Promise<ScanResult> {
  const indexOffsets: number[] = []
  const indexPositions: number[] = []
  let position = start
  let expected = firstOffset
  let buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, Math.max(until - start, 0)))
  let bufStart = start
  let bufEnd = start
  const result = (reason: string | null, incomplete = false): ScanResult => ({
    end: position,
    nextOffset: expected,
    indexOffsets,
    indexPositions,
    bad: reason === null ? null : { reason, incomplete },
  })
  while (position < until) {
    let check = checkFrame(buf, position - bufStart, bufEnd - bufStart)
    if (check.status === 'incomplete') {
      if (bufEnd >= until) return result(incompleteReason(position, check.size, until - position), true)
      const length = Math.min(until - position, Math.max(SCAN_CHUNK, check.size))
      if (buf.length < length) buf = Buffer.allocUnsafe(length)
      await readFully(fh, buf, length, position)
      bufStart = position
      bufEnd = position + length
      check = checkFrame(buf, 0, length)
      if (check.status === 'incomplete')
        return result(incompleteReason(position, check.size, until - position), true)
    }
    if (check.status === 'invalid') return result(check.reason)
    if (check.offset !== expected)
      return result(`frame has offset ${check.offset} where ${expected} was expected`)
    if (holdsIndexedOffset(expected - segment.baseOffset, check.count, indexInterval)) {
      indexOffsets.push(expected)
      indexPositions.push(position)
    }
    if (transactional !== undefined) {
      const producer = batchProducer(buf, position - bufStart)
      if (producer !== null)
        transactional.push({ offset: expected, count: check.count, producerId: producer.producerId })
    }
    position += check.size
    expected += check.count
  }
  return result(null)
}

/** The bytes [from, until) of a file. */
async function readRegion(fh: FileHandle, from: number, until: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(until - from)
  await readFully(fh, buf, until - from, from)
  return buf
}

async function openIfExists(file: string): Promise<FileHandle | null> {
  try {
    return await open(file, 'r')
  } catch (error) {
    if (isCode(error, 'ENOENT')) return null
    throw error
  }
}

function offsetsField(from: number, to: number): { offsets?: { from: number; to: number } } {
  return to > from ? { offsets: { from, to } } : {}
}

async function readFully(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<void> {
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done)
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + done}`)
    done += bytesRead
  }
}

async function listSegmentBases(dir: string, tolerateMissing: boolean): Promise<number[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (error) {
    if (tolerateMissing && isCode(error, 'ENOENT')) return []
    throw ioError(error, dir, 'listing')
  }
  const bases: number[] = []
  for (const name of names) {
    const match = SEGMENT_NAME.exec(name)
    if (match !== null) bases.push(Number(match[1]))
  }
  return bases.sort((a, b) => a - b)
}

/** Index of the last segment whose base offset is ≤ offset (0 when offset precedes them all). */
function findSegment(segments: readonly Segment[], offset: number): number {
  let lo = 0
  let hi = segments.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (segments[mid]!.baseOffset <= offset) lo = mid
    else hi = mid - 1
  }
  return lo
}

/**
 * Whether a frame of `count` records from `relative` (its first offset minus the segment's base)
 * holds an offset the index samples (a multiple of `interval` relative to the base).
 */
function holdsIndexedOffset(relative: number, count: number, interval: number): boolean {
  const r = relative % interval
  return r === 0 || r + count > interval
}

/** First index whose value is > x. */
function upperBound(values: readonly number[], x: number): number {
  let lo = 0
  let hi = values.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (values[mid]! <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}

function corrupt(file: string, position: number, reason: string, hint = ''): SluiceError {
  return new SluiceError(
    'LOG_CORRUPT_SEGMENT',
    `corrupt segment ${file} at byte ${position}: ${reason}${hint}`,
  )
}

export async function listSegments(dir: string): Promise<number[]> {
  return listSegmentBases(dir, true)
}

function isSyscall(error: unknown, ...syscalls: string[]): boolean {
  const syscall =
    typeof error === 'object' && error !== null ? (error as { syscall?: unknown }).syscall : undefined
  return typeof syscall === 'string' && syscalls.includes(syscall)
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}
