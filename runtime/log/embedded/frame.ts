import type { LogRecord } from '../index.ts'
import { crc32 } from './crc32.ts'

/**
 * The record frame: how one record is stored in a segment file. Segments are nothing but frames
 * back to back, so a reader can walk a segment from any frame start it knows (the sparse index).
 * All integers are big-endian.
 *
 *   byte  size  field
 *   0     4     length      u32, number of bytes after this field (so the frame is 4 + length bytes)
 *   4     4     crc         u32, CRC-32 (IEEE, as zlib.crc32) of bytes [8, 4 + length)
 *   8     1     magic       u8, frame format version, currently 1
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
export const FRAME_MAGIC = 1
/** The smallest possible frame: null key, no headers, empty value. */
export const MIN_FRAME_BYTES = 4 + 4 + 1 + 8 + 8 + 4 + 4 + 4
/** Frames larger than this are refused on append and treated as damage when scanning. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024

const TWO_32 = 2 ** 32

/** A record ready to be framed: everything but the partition, which the file path implies. */
export interface FrameInput {
  readonly timestamp: number
  readonly key: string | null
  readonly headers: Readonly<Record<string, string>>
  readonly value: Uint8Array
}

/** Encoded size of one frame in bytes. */
export function frameSize(record: FrameInput): number {
  let size = MIN_FRAME_BYTES + record.value.length
  if (record.key !== null) size += Buffer.byteLength(record.key, 'utf8')
  for (const name in record.headers) {
    size += 8 + Buffer.byteLength(name, 'utf8') + Buffer.byteLength(record.headers[name]!, 'utf8')
  }
  return size
}

/**
 * Encodes `records` with consecutive offsets from `firstOffset` into one buffer (one write).
 * `sizes[i]` must be frameSize(records[i]); `onFrame` is told the position of each frame within
 * the buffer, which the caller uses for its sparse index.
 */
export function encodeFrames(
  records: readonly FrameInput[],
  sizes: readonly number[],
  firstOffset: number,
  onFrame?: (offset: number, positionInBuffer: number) => void,
): Buffer {
  let total = 0
  for (const size of sizes) total += size
  const buf = Buffer.allocUnsafe(total)
  let pos = 0
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!
    const size = sizes[i]!
    const offset = firstOffset + i
    onFrame?.(offset, pos)
    const start = pos
    buf.writeUInt32BE(size - 4, pos)
    pos += 8 // crc is filled in once the body is written
    buf[pos++] = FRAME_MAGIC
    pos = writeU64(buf, offset, pos)
    pos = writeI64(buf, record.timestamp, pos)
    if (record.key === null) {
      buf.writeInt32BE(-1, pos)
      pos += 4
    } else {
      const n = buf.write(record.key, pos + 4, 'utf8')
      buf.writeInt32BE(n, pos)
      pos += 4 + n
    }
    const headerCountAt = pos
    pos += 4
    let headerCount = 0
    for (const name in record.headers) {
      pos = writeString(buf, name, pos)
      pos = writeString(buf, record.headers[name]!, pos)
      headerCount++
    }
    buf.writeUInt32BE(headerCount, headerCountAt)
    buf.writeUInt32BE(record.value.length, pos)
    pos += 4
    buf.set(record.value, pos)
    pos += record.value.length
    if (pos - start !== size) throw new Error(`frame size mismatch: wrote ${pos - start}, expected ${size}`)
    buf.writeUInt32BE(crc32(buf.subarray(start + 8, pos)), start + 4)
  }
  return buf
}

export type FrameCheck =
  | { readonly status: 'ok'; readonly size: number; readonly offset: number }
  /** The frame continues past `end`; `size` is its claimed size, or 0 when not even the length is there. */
  | { readonly status: 'incomplete'; readonly size: number }
  | { readonly status: 'invalid'; readonly reason: string }

/**
 * Checks the frame starting at `pos` in `buf[pos, end)`: length sanity, magic and (unless
 * `verifyCrc` is false) the CRC. Does not decode key, headers or value.
 */
export function checkFrame(buf: Buffer, pos: number, end: number, verifyCrc = true): FrameCheck {
  if (end - pos < 4) return { status: 'incomplete', size: 0 }
  const size = buf.readUInt32BE(pos) + 4
  if (size < MIN_FRAME_BYTES || size > MAX_FRAME_BYTES)
    return { status: 'invalid', reason: `bad frame length ${size - 4}` }
  if (end - pos < size) return { status: 'incomplete', size }
  if (buf[pos + 8] !== FRAME_MAGIC) return { status: 'invalid', reason: `bad frame magic ${buf[pos + 8]}` }
  if (verifyCrc) {
    const stored = buf.readUInt32BE(pos + 4)
    const actual = crc32(buf.subarray(pos + 8, pos + size))
    if (stored !== actual) return { status: 'invalid', reason: 'CRC mismatch' }
  }
  const offset = readU64(buf, pos + 9)
  return { status: 'ok', size, offset }
}

/** Whether the stored CRC of the `size`-byte frame at `pos` matches its body. */
export function frameCrcMatches(buf: Buffer, pos: number, size: number): boolean {
  return buf.readUInt32BE(pos + 4) === crc32(buf.subarray(pos + 8, pos + size))
}

/**
 * Decodes a frame that checkFrame accepted (`size` bytes at `pos`). Throws an Error with a reason
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

function writeString(buf: Buffer, s: string, pos: number): number {
  const n = buf.write(s, pos + 4, 'utf8')
  buf.writeUInt32BE(n, pos)
  return pos + 4 + n
}

function readString(buf: Buffer, pos: number, end: number): [string, number] {
  need(pos + 4, end, 'string length')
  const n = buf.readUInt32BE(pos)
  need(pos + 4 + n, end, 'string')
  return [buf.toString('utf8', pos + 4, pos + 4 + n), pos + 4 + n]
}

// 64-bit fields are written as two 32-bit halves: offsets and timestamps are safe integers, and
// this avoids a BigInt allocation per field on the hot path.
function writeU64(buf: Buffer, value: number, pos: number): number {
  buf.writeUInt32BE(Math.floor(value / TWO_32), pos)
  buf.writeUInt32BE(value % TWO_32, pos + 4)
  return pos + 8
}

function writeI64(buf: Buffer, value: number, pos: number): number {
  const hi = Math.floor(value / TWO_32)
  buf.writeInt32BE(hi, pos)
  buf.writeUInt32BE(value - hi * TWO_32, pos + 4)
  return pos + 8
}

function readU64(buf: Buffer, pos: number): number {
  return buf.readUInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4)
}

function readI64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4)
}
