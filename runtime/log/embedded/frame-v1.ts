import { crc32 } from './crc32.ts'
import { MIN_RECORD_FRAME_BYTES, RECORD_MAGIC } from './frame.ts'
import { type FrameInput, writeI64, writeU64 } from './frame-fields.ts'

/**
 * The encoder of magic 1 frames (one record each, layout in frame.ts), which segments held before
 * record batches. The log no longer writes them; tests use this to build segments exactly as the
 * old encoder did, so that reading, scanning, verifying and repairing them stays tested.
 */

/** Encoded size of one magic 1 frame. */
export function recordFrameSize(record: FrameInput): number {
  let size = MIN_RECORD_FRAME_BYTES + record.value.length
  if (record.key !== null) size += Buffer.byteLength(record.key, 'utf8')
  for (const name in record.headers) {
    size += 8 + Buffer.byteLength(name, 'utf8') + Buffer.byteLength(record.headers[name]!, 'utf8')
  }
  return size
}

/** Encodes `records` as magic 1 frames with consecutive offsets from `firstOffset`, into one buffer. */
export function encodeRecordFrames(records: readonly FrameInput[], firstOffset: number): Buffer {
  const sizes = records.map(recordFrameSize)
  const buf = Buffer.allocUnsafe(sizes.reduce((a, b) => a + b, 0))
  let pos = 0
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!
    const start = pos
    buf.writeUInt32BE(sizes[i]! - 4, pos)
    pos += 8 // crc is filled in once the body is written
    buf[pos++] = RECORD_MAGIC
    pos = writeU64(buf, firstOffset + i, pos)
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
    buf.writeUInt32BE(crc32(buf.subarray(start + 8, pos)), start + 4)
  }
  return buf
}

function writeString(buf: Buffer, s: string, pos: number): number {
  const n = buf.write(s, pos + 4, 'utf8')
  buf.writeUInt32BE(n, pos)
  return pos + 4 + n
}
