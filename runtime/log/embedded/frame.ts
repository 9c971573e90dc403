import type { LogRecord } from '../index.ts'
import {
  batchHeaderBytes,
  decodeBatch,
  isBatchMagic,
  MIN_BATCH_BYTES,
  MIN_BATCH_RECORD_BYTES,
  soloBatchSize,
} from './batch.ts'
import { crc32 } from './crc32.ts'
import { type FrameInput, readI64, readU64 } from './frame-fields.ts'

export type { FrameInput } from './frame-fields.ts'

/**
 * Frames: how records are stored in a segment file. Segments are nothing but frames back to
 * back, so a reader can walk a segment from any frame start it knows (the sparse index). Two
 * kinds share their first 17 bytes (length, CRC, magic, first offset), so scanners and damage
 * classification read them alike:
 *
 * - magic 2, the record batch (batch.ts): what appends write, one frame per append chunk;
 *   magic 3, the same written by an exactly-once transaction (its producer id and epoch added).
 * - magic 1, one record per frame: what segments held before record batches
 *   (docs/decisions/0018-embedded-record-batches.md). Never written any more, always readable,
 *   also mixed with batches in one segment (a log written before batches and appended to after).
 *
 * The magic 1 layout, all integers big-endian:
 *
 *   byte  size  field
 *   0     4     length      u32, number of bytes after this field (so the frame is 4 + length bytes)
 *   4     4     crc         u32, CRC-32 (IEEE, as zlib.crc32) of bytes [8, 4 + length)
 *   8     1     magic       u8, 1
 *   9     8     offset      u64 (< 2^53), the record's offset in its partition
 *   17    8     timestamp   i64, milliseconds since the epoch
 *   25    4     keyLength   i32, -1 for a null key
 *   29    k     key         UTF-8, keyLength bytes (absent when null)
 *   ..    4     headerCount u32
 *               per header: u32 nameLength, name UTF-8, u32 valueLength, value UTF-8
 *   ..    4     valueLength u32
 *   ..    v     value       raw bytes
 *
 * The length prefix lets a scanner skip frames without decoding them; the CRC covers everything
 * after itself (offset included), so a torn write or a flipped bit anywhere in the body is caught.
 * The length field is not covered, but a damaged length makes the CRC land on the wrong bytes and
 * fail, or points past the end of the file, which the scanner also reports.
 */
export const RECORD_MAGIC = 1
export { BATCH_MAGIC } from './batch.ts'
/** The smallest magic 1 frame: null key, no headers, empty value. */
export const MIN_RECORD_FRAME_BYTES = 4 + 4 + 1 + 8 + 8 + 4 + 4 + 4
/** The smallest frame of either kind (a batch of one minimal record). */
export const MIN_FRAME_BYTES = Math.min(MIN_BATCH_BYTES, MIN_RECORD_FRAME_BYTES)
/** Frames larger than this are refused on append and treated as damage when scanning. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024
/** The fewest bytes one record takes in any frame: bounds how many offsets damaged bytes can hold. */
export const MIN_RECORD_BYTES = MIN_BATCH_RECORD_BYTES

/** Whether `byte` is the magic of a frame kind this version reads. */
export function isFrameMagic(byte: number | undefined): boolean {
  return isBatchMagic(byte) || byte === RECORD_MAGIC
}

/**
 * Size of the frame holding `record` alone, the size the log's record limit (maxRecordBytes)
 * applies to: a record within it can always be stored, whatever batch it lands in.
 */
export function frameSize(record: FrameInput): number {
  return soloBatchSize(record)
}

export type FrameCheck =
  /** `offset` is the frame's first record's, `count` how many consecutive offsets it holds. */
  | { readonly status: 'ok'; readonly size: number; readonly offset: number; readonly count: number }
  /** The frame continues past `end`; `size` is its claimed size, or 0 when not even the length is there. */
  | { readonly status: 'incomplete'; readonly size: number }
  | { readonly status: 'invalid'; readonly reason: string }

/**
 * Checks the frame starting at `pos` in `buf[pos, end)`: length sanity, magic, record count and
 * (unless `verifyCrc` is false) the CRC. Does not decode keys, headers or values.
 */
export function checkFrame(buf: Buffer, pos: number, end: number, verifyCrc = true): FrameCheck {
  if (end - pos < 4) return { status: 'incomplete', size: 0 }
  const size = buf.readUInt32BE(pos) + 4
  if (size < MIN_FRAME_BYTES || size > MAX_FRAME_BYTES)
    return { status: 'invalid', reason: `bad frame length ${size - 4}` }
  if (end - pos < size) return { status: 'incomplete', size }
  const magic = buf[pos + 8]
  let count = 1
  if (isBatchMagic(magic)) {
    count = buf.readUInt32BE(pos + 25)
    if (count < 1 || count > (size - batchHeaderBytes(magic) - 1) / MIN_BATCH_RECORD_BYTES)
      return { status: 'invalid', reason: `bad record count ${count} for a batch of ${size} bytes` }
  } else if (magic !== RECORD_MAGIC) {
    return { status: 'invalid', reason: `bad frame magic ${magic}` }
  } else if (size < MIN_RECORD_FRAME_BYTES) {
    return { status: 'invalid', reason: `bad frame length ${size - 4}` }
  }
  if (verifyCrc && !frameCrcMatches(buf, pos, size)) return { status: 'invalid', reason: 'CRC mismatch' }
  return { status: 'ok', size, offset: readU64(buf, pos + 9), count }
}

/** Whether the stored CRC of the `size`-byte frame at `pos` matches its body. */
export function frameCrcMatches(buf: Buffer, pos: number, size: number): boolean {
  return buf.readUInt32BE(pos + 4) === crc32(buf.subarray(pos + 8, pos + size))
}

/**
 * Appends the records of a frame that checkFrame accepted (`size` bytes at `pos`, CRC checked)
 * with offsets ≥ `from` to `out`, at most `max`; returns how many. Throws an Error with a reason
 * when the inner lengths do not add up to the frame size.
 */
export function decodeRecords(
  buf: Buffer,
  pos: number,
  size: number,
  topic: string,
  partition: number,
  from: number,
  max: number,
  out: LogRecord[],
): number {
  if (isBatchMagic(buf[pos + 8])) return decodeBatch(buf, pos, size, topic, partition, from, max, out)
  if (max <= 0 || readU64(buf, pos + 9) < from) return 0
  out.push(decodeFrame(buf, pos, size, topic, partition))
  return 1
}

/**
 * Decodes a magic 1 frame that checkFrame accepted (`size` bytes at `pos`). Throws an Error with a reason
 * when the inner lengths do not add up to the frame size (damage the CRC could not see, or a bug).
 */
export function decodeFrame(
  buf: Buffer,
  pos: number,
  size: number,
  topic: string,
  partition: number,
): LogRecord {
  const end = pos + size
  let p = pos + 9
  const offset = readU64(buf, p)
  p += 8
  const timestamp = readI64(buf, p)
  p += 8
  const keyLength = buf.readInt32BE(p)
  p += 4
  let key: string | null = null
  if (keyLength >= 0) {
    need(p + keyLength, end, 'key')
    key = buf.toString('utf8', p, p + keyLength)
    p += keyLength
  } else if (keyLength !== -1) {
    throw new Error(`bad key length ${keyLength}`)
  }
  need(p + 4, end, 'header count')
  const headerCount = buf.readUInt32BE(p)
  p += 4
  const headers: Record<string, string> = {}
  for (let i = 0; i < headerCount; i++) {
    const [name, afterName] = readString(buf, p, end)
    const [value, afterValue] = readString(buf, afterName, end)
    // A header named "__proto__" must become a header, not the object's prototype; defineProperty
    // does that but is several times slower than a plain store, so only that name pays for it.
    if (name === '__proto__')
      Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true })
    else headers[name] = value
    p = afterValue
  }
  need(p + 4, end, 'value length')
  const valueLength = buf.readUInt32BE(p)
  p += 4
  if (p + valueLength !== end) throw new Error(`value length ${valueLength} does not fill the frame`)
  // A view into the read buffer, not a copy: the reader gives every read a buffer of its own,
  // sized to that read and never reused (segment.ts readSegment), so the view stays valid and
  // pins at most that one read's bytes for as long as the caller keeps the record.
  const value = buf.subarray(p, end)
  return { topic, partition, offset, key, value, headers, timestamp }
}

function need(until: number, end: number, what: string): void {
  if (until > end) throw new Error(`${what} runs past the end of the frame`)
}

function readString(buf: Buffer, pos: number, end: number): [string, number] {
  need(pos + 4, end, 'string length')
  const n = buf.readUInt32BE(pos)
  need(pos + 4 + n, end, 'string')
  return [buf.toString('utf8', pos + 4, pos + 4 + n), pos + 4 + n]
}
