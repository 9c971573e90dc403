import { type FileHandle, mkdir, open, readdir, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { SluiceError } from '../../errors.ts'
import type { LogRecord } from '../index.ts'
import { checkFrame, decodeFrame, encodeFrames, FRAME_MAGIC, type FrameInput, frameSize } from './frame.ts'

/**
 * One partition of a topic on disk: `<partitionDir>/<20-digit base offset>.seg` segment files,
 * each holding consecutive frames (frame.ts) starting at the offset in its name. Only the last
 * segment is written to; it is rolled (a new file started) before a write would take it past
 * `segmentBytes`. A batch larger than a segment gets a segment of its own, never split frames.
 *
 * Visibility: readers see a record only after its batch was written and (with fsync 'always')
 * fdatasync'ed, so a consumer never sees a record that a crash could take back.
 *
 * Index: per segment, the file position of every `indexInterval`-th record (by offset relative to
 * the segment's base, so each segment's first record is always indexed). The last segment's index
 * is built when the partition opens (that scan also repairs a torn tail) and kept up to date on
 * append; older segments are scanned and indexed on their first read, which also verifies them.
 */

export interface PartitionOptions {
  readonly segmentBytes: number
  readonly indexInterval: number
  readonly fsync: boolean
  readonly readOnly: boolean
}

const SEGMENT_NAME = /^(\d{20})\.seg$/
const SCAN_CHUNK = 1 << 20
const READ_CHUNK = 64 * 1024

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

  private constructor(
    readonly dir: string,
    readonly topic: string,
    readonly partition: number,
    private readonly options: PartitionOptions,
    segments: Segment[],
  ) {
    this.segments = segments
  }

  /** Offset the next appended record gets (= one past the last visible record). */
  get endOffset(): number {
    const last = this.segments.at(-1)
    return last === undefined ? 0 : last.endOffset
  }

  static async open(
    dir: string,
    topic: string,
    partition: number,
    options: PartitionOptions,
  ): Promise<PartitionLog> {
    if (!options.readOnly) await mkdir(dir, { recursive: true })
    const bases = await listSegmentBases(dir, options.readOnly)
    const segments: Segment[] = []
    for (let i = 0; i < bases.length - 1; i++) {
      const base = bases[i]!
      const file = path.join(dir, segmentFileName(base))
      // Sealed segments are verified and indexed lazily, on first read.
      segments.push(new Segment(base, file, (await stat(file)).size, bases[i + 1]!))
    }
    const log = new PartitionLog(dir, topic, partition, options, segments)
    if (bases.length === 0) {
      if (!options.readOnly) await log.createSegment(0, true)
    } else {
      const base = bases.at(-1)!
      const file = path.join(dir, segmentFileName(base))
      const segment = new Segment(base, file, 0, base)
      segment.fh = await open(file, options.readOnly ? 'r' : 'r+')
      segment.indexOffsets = []
      segments.push(segment)
      await log.recoverTail(segment)
    }
    return log
  }

  /**
   * Scans the last segment from its start, builds its index and finds where its valid frames
   * end. Whatever follows is either a torn write (a crash mid-append: no complete frame follows
   * the damage) and is cut off, or damage in the middle of the segment (a valid frame follows
   * it), which we refuse to paper over. Read-only opens never modify the file: they stop at the
   * first invalid frame, which may be a write in progress by the process that owns the log.
   */
  private async recoverTail(segment: Segment): Promise<void> {
    const fh = segment.fh!
    const fileSize = (await fh.stat()).size
    const scan = await scanFrames(fh, segment, 0, segment.baseOffset, fileSize, this.options.indexInterval)
    segment.size = scan.end
    segment.endOffset = scan.nextOffset
    segment.indexOffsets = scan.indexOffsets
    segment.indexPositions = scan.indexPositions
    if (scan.end === fileSize || this.options.readOnly) return
    const bad = scan.bad!
    const found = await findValidFrameAfter(fh, scan.end, fileSize, scan.nextOffset)
    if (found !== null) {
      throw corrupt(
        segment.file,
        scan.end,
        `${bad.reason}, followed by a valid frame (offset ${found.offset}) at byte ${found.position}`,
      )
    }
    await fh.truncate(scan.end)
    if (this.options.fsync) await fh.datasync()
  }

  /**
   * Read-only: picks up what the owning process appended since the last look (new bytes in the
   * last segment, new segments). Frames are only accepted once complete and valid.
   */
  async refresh(): Promise<void> {
    if (this.segments.length === 0) {
      const bases = await listSegmentBases(this.dir, true)
      if (bases.length === 0) return
      const segment = new Segment(bases[0]!, path.join(this.dir, segmentFileName(bases[0]!)), 0, bases[0]!)
      segment.fh = await open(segment.file, 'r')
      segment.indexOffsets = []
      this.segments.push(segment)
    }
    for (;;) {
      const last = this.segments.at(-1)!
      const fh = await this.handle(last)
      const fileSize = (await fh.stat()).size
      if (fileSize > last.size) {
        const scan = await scanFrames(
          fh,
          last,
          last.size,
          last.endOffset,
          fileSize,
          this.options.indexInterval,
        )
        last.indexOffsets!.push(...scan.indexOffsets)
        last.indexPositions.push(...scan.indexPositions)
        last.size = scan.end
        last.endOffset = scan.nextOffset
      }
      // Segments are only rolled when non-empty, so a successor starts past this one's base.
      if (last.endOffset === last.baseOffset) return
      const next = segmentFileName(last.endOffset)
      let nextFh: FileHandle
      try {
        nextFh = await open(path.join(this.dir, next), 'r')
      } catch (error) {
        if (isCode(error, 'ENOENT')) return
        throw error
      }
      const segment = new Segment(last.endOffset, path.join(this.dir, next), 0, last.endOffset)
      segment.fh = nextFh
      segment.indexOffsets = []
      this.segments.push(segment)
    }
  }

  /**
   * Phase one of an append: assigns offsets from endOffset, writes the frames (one buffer per
   * segment touched, normally one) and syncs them. Nothing is visible until publish(); on failure
   * call rollback(). The caller serializes appends of a partition.
   */
  async prepare(records: readonly FrameInput[]): Promise<PreparedAppend> {
    if (this.poisoned !== null) {
      throw new SluiceError(
        'LOG_CLOSED',
        `partition ${this.topic}/${this.partition} failed an earlier write and accepts no more appends until the log is reopened: ${this.poisoned.message}`,
        { cause: this.poisoned },
      )
    }
    const sizes = records.map(frameSize)
    const firstOffset = this.endOffset
    const chunks: Chunk[] = []
    const created: Segment[] = []
    let segment = this.segments.at(-1)!
    let segmentSize = segment.size
    let isNew = false
    let start = 0
    let bytes = 0
    const cut = (end: number) => {
      const index: [number, number][] = []
      const base = segment.baseOffset
      const startPosition = segmentSize
      const interval = this.options.indexInterval
      const buffer = encodeFrames(
        records.slice(start, end),
        sizes.slice(start, end),
        firstOffset + start,
        (o, p) => {
          if ((o - base) % interval === 0) index.push([o, startPosition + p])
        },
      )
      chunks.push({
        segment,
        isNew,
        startPosition,
        buffer,
        firstOffset: firstOffset + start,
        count: end - start,
        index,
      })
    }
    try {
      for (let i = 0; i < records.length; i++) {
        const size = sizes[i]!
        if (segmentSize + bytes > 0 && segmentSize + bytes + size > this.options.segmentBytes) {
          if (i > start) {
            cut(i)
            await this.writeChunk(chunks.at(-1)!)
          }
          // A segment is sealed durably before its successor exists, even with fsync 'never':
          // recovery only repairs the last segment, so earlier ones must be complete on disk.
          await segment.fh!.datasync()
          segment = await this.createSegment(firstOffset + i, false)
          created.push(segment)
          isNew = true
          segmentSize = 0
          bytes = 0
          start = i
        }
        bytes += size
      }
      cut(records.length)
      await this.writeChunk(chunks.at(-1)!)
      if (this.options.fsync) await segment.fh!.datasync()
    } catch (error) {
      await this.rollback({ firstOffset, chunks, created }, error)
      throw error
    }
    return { firstOffset, chunks, created }
  }

  private async writeChunk(chunk: Chunk): Promise<void> {
    const fh = chunk.segment.fh!
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
  async rollback(prepared: PreparedAppend, cause?: unknown): Promise<void> {
    const active = this.segments.at(-1)!
    try {
      await active.fh!.truncate(active.size)
      for (const segment of prepared.created) {
        await segment.fh?.close()
        segment.fh = null
        await unlink(segment.file)
      }
      if (cause !== undefined && isSyscall(cause, 'fdatasync', 'fsync')) this.poisoned = asError(cause)
    } catch (error) {
      this.poisoned = asError(error)
    }
  }

  private async createSegment(baseOffset: number, publish: boolean): Promise<Segment> {
    const file = path.join(this.dir, segmentFileName(baseOffset))
    const segment = new Segment(baseOffset, file, 0, baseOffset)
    segment.fh = await open(file, 'w+')
    segment.indexOffsets = []
    // The directory entry must be durable too, or a crash could lose the whole file.
    await syncDir(this.dir)
    if (publish) this.segments.push(segment)
    return segment
  }

  /** Up to `maxRecords` visible records from `fromOffset` on. */
  async read(fromOffset: number, maxRecords: number): Promise<LogRecord[]> {
    if (this.options.readOnly && fromOffset >= this.endOffset) await this.refresh()
    const out: LogRecord[] = []
    if (maxRecords <= 0 || fromOffset >= this.endOffset) return out
    let i = findSegment(this.segments, fromOffset)
    while (out.length < maxRecords && i < this.segments.length) {
      const segment = this.segments[i]!
      await this.ensureIndexed(segment)
      const from = Math.max(fromOffset, segment.baseOffset)
      if (from < segment.endOffset) await this.readSegment(segment, from, maxRecords - out.length, out)
      i++
    }
    return out
  }

  private async readSegment(segment: Segment, from: number, max: number, out: LogRecord[]): Promise<void> {
    const fh = await this.handle(segment)
    const limit = segment.size // snapshot: bytes past it may be a batch still being written
    const offsets = segment.indexOffsets!
    const k = upperBound(offsets, from) - 1
    let position = k >= 0 ? segment.indexPositions[k]! : 0
    let wanted = max
    let buf = Buffer.allocUnsafe(0)
    let bufStart = position
    let bufEnd = position
    while (wanted > 0 && position < limit) {
      // Refill until the whole frame at `position` is buffered: first its length, then the rest.
      for (;;) {
        const buffered = bufEnd - position
        const needed = buffered >= 4 ? buf.readUInt32BE(position - bufStart) + 4 : 4
        if (buffered >= needed || bufEnd >= limit) break
        const length = Math.min(limit - position, Math.max(READ_CHUNK, needed))
        if (buf.length < length) buf = Buffer.allocUnsafe(length)
        await readFully(fh, buf, length, position)
        bufStart = position
        bufEnd = position + length
      }
      const at = position - bufStart
      // Frames before `from` (between the index entry and the wanted offset) are only walked over;
      // the CRC is checked on the frames we hand out.
      const check = checkFrame(buf, at, bufEnd - bufStart, false)
      if (check.status !== 'ok') {
        throw corrupt(
          segment.file,
          position,
          check.status === 'invalid' ? check.reason : 'frame runs past the end of the data',
        )
      }
      if (check.offset >= from) {
        const verified = checkFrame(buf, at, bufEnd - bufStart, true)
        if (verified.status !== 'ok') throw corrupt(segment.file, position, 'CRC mismatch')
        try {
          out.push(decodeFrame(buf, at, check.size, this.topic, this.partition))
        } catch (error) {
          throw corrupt(segment.file, position, asError(error).message)
        }
        wanted--
      }
      position += check.size
    }
  }

  /** Scans a sealed segment once, verifying every frame, and builds its index. */
  private ensureIndexed(segment: Segment): Promise<void> {
    if (segment.indexOffsets !== null) return Promise.resolve()
    segment.indexing ??= (async () => {
      const fh = await this.handle(segment)
      const scan = await scanFrames(
        fh,
        segment,
        0,
        segment.baseOffset,
        segment.size,
        this.options.indexInterval,
      )
      if (scan.bad !== null) throw corrupt(segment.file, scan.end, scan.bad.reason)
      if (scan.nextOffset !== segment.endOffset) {
        throw corrupt(
          segment.file,
          scan.end,
          `segment ends at offset ${scan.nextOffset} but the next segment starts at ${segment.endOffset}`,
        )
      }
      segment.indexPositions = scan.indexPositions
      segment.indexOffsets = scan.indexOffsets
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
    await this.segments.at(-1)?.fh?.datasync()
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
  /** Why the scan stopped before `until`, or null when it reached it. */
  readonly bad: { readonly reason: string } | null
}

/**
 * Walks frames from `start` (where offset `firstOffset` must begin) up to `until`, verifying each
 * (length, magic, CRC, consecutive offsets) and collecting index entries. Stops at the first frame
 * that is invalid or runs past `until`.
 */
async function scanFrames(
  fh: FileHandle,
  segment: Segment,
  start: number,
  firstOffset: number,
  until: number,
  indexInterval: number,
): Promise<ScanResult> {
  const indexOffsets: number[] = []
  const indexPositions: number[] = []
  let position = start
  let expected = firstOffset
  let buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, Math.max(until - start, 0)))
  let bufStart = start
  let bufEnd = start
  const result = (reason: string | null): ScanResult => ({
    end: position,
    nextOffset: expected,
    indexOffsets,
    indexPositions,
    bad: reason === null ? null : { reason },
  })
  while (position < until) {
    let check = checkFrame(buf, position - bufStart, bufEnd - bufStart)
    if (check.status === 'incomplete') {
      if (bufEnd >= until) return result('incomplete frame at the end of the file')
      const length = Math.min(until - position, Math.max(SCAN_CHUNK, check.size))
      if (buf.length < length) buf = Buffer.allocUnsafe(length)
      await readFully(fh, buf, length, position)
      bufStart = position
      bufEnd = position + length
      check = checkFrame(buf, 0, length)
      if (check.status === 'incomplete') return result('incomplete frame at the end of the file')
    }
    if (check.status === 'invalid') return result(check.reason)
    if (check.offset !== expected)
      return result(`frame has offset ${check.offset} where ${expected} was expected`)
    if ((expected - segment.baseOffset) % indexInterval === 0) {
      indexOffsets.push(expected)
      indexPositions.push(position)
    }
    position += check.size
    expected++
  }
  return result(null)
}

/**
 * Looks for a complete, CRC-valid frame with an offset ≥ `minOffset` anywhere in
 * `[from + 1, until)`. Finding one means the damage at `from` is in the middle of the data, not a
 * torn tail. Runs only during recovery of a damaged segment.
 */
async function findValidFrameAfter(
  fh: FileHandle,
  from: number,
  until: number,
  minOffset: number,
): Promise<{ position: number; offset: number } | null> {
  const length = until - from
  const buf = Buffer.allocUnsafe(length)
  await readFully(fh, buf, length, from)
  for (let at = 1; at + 9 <= length; at++) {
    if (buf[at + 8] !== FRAME_MAGIC) continue // cheap pre-filter before the CRC
    const check = checkFrame(buf, at, length)
    if (check.status === 'ok' && check.offset >= minOffset)
      return { position: from + at, offset: check.offset }
  }
  return null
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
    throw error
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

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

function corrupt(file: string, position: number, reason: string): SluiceError {
  return new SluiceError('LOG_CORRUPT_SEGMENT', `corrupt segment ${file} at byte ${position}: ${reason}`)
}

export function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code
}

function isSyscall(error: unknown, ...syscalls: string[]): boolean {
  const syscall =
    typeof error === 'object' && error !== null ? (error as { syscall?: unknown }).syscall : undefined
  return typeof syscall === 'string' && syscalls.includes(syscall)
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}
