import { BATCH_HEADER_BYTES, isBatchMagic } from './batch.ts'
import { crc32 } from './crc32.ts'
import { checkFrame, isFrameMagic, MAX_FRAME_BYTES, MIN_FRAME_BYTES, MIN_RECORD_BYTES } from './frame.ts'

/**
 * Telling a torn write from corruption, for the bytes after the last valid frame of a segment.
 *
 * - Torn write: a crash in the middle of an append leaves an incomplete last frame (its length
 *   says more bytes than the file has), or zeros where the file system had allocated blocks the
 *   data never reached. Nothing there was ever a complete record.
 * - Corruption: a complete frame (by its length) whose CRC, magic or offset is wrong, a length
 *   no frame can have, or an incomplete-looking frame whose CRC matches the bytes up to the end
 *   of the file (a complete record with a damaged length field). Such bytes may hold records that
 *   were acknowledged and read, so they are kept (quarantined), never deleted.
 */
export interface TailDamage {
  readonly corrupt: boolean
  /** What is there, for messages. */
  readonly reason: string
  /** Highest record offset readable in the bytes (plausible for this position), or -1. */
  readonly highestOffset: number
  /**
   * Records in the complete frames (by their length field) in the bytes: a batch counts its
   * records when its count is plausible for its size, any other frame one.
   */
  readonly completeRecords: number
}

export function classifyTail(buf: Buffer, expectedOffset: number, position: number): TailDamage {
  let at = 0
  let completeRecords = 0
  let highestOffset = -1
  let corrupt = false
  let reason = ''
  // Offsets in the region can only be expectedOffset + k for the k-th record, and every record
  // takes at least MIN_RECORD_BYTES; anything outside that range is a damaged offset field.
  const maxPlausible = expectedOffset + Math.ceil(buf.length / MIN_RECORD_BYTES)
  const note = (text: string) => {
    if (reason === '') reason = text
  }
  while (at < buf.length) {
    if (isZero(buf, at)) {
      note(`${buf.length - at} zero bytes after the last complete frame (a torn write)`)
      break
    }
    if (buf.length - at >= 17 && isFrameMagic(buf[at + 8])) {
      const offset = buf.readUInt32BE(at + 9) * 2 ** 32 + buf.readUInt32BE(at + 13)
      // A batch torn short may still have been read whole (written to the OS, lost in a machine
      // crash): every offset it claims counts, its count checked against the size it claims.
      const claimed = Math.min(buf.readUInt32BE(at) + 4, MAX_FRAME_BYTES)
      if (offset >= expectedOffset && offset <= maxPlausible)
        highestOffset = Math.max(highestOffset, offset + batchCount(buf, at, claimed) - 1)
    }
    if (buf.length - at < 4) {
      note(
        `${buf.length - at} bytes after the last complete frame, too few for a frame's length (a torn write)`,
      )
      break
    }
    const size = buf.readUInt32BE(at) + 4
    if (size < MIN_FRAME_BYTES || size > MAX_FRAME_BYTES) {
      corrupt = true
      note(`the frame at byte ${position + at} has an impossible length ${size - 4}`)
      break
    }
    if (buf.length - at < size) {
      const remaining = buf.length - at
      if (remaining > 8 && crc32(buf.subarray(at + 8)) === buf.readUInt32BE(at + 4)) {
        corrupt = true
        note(
          `the frame at byte ${position + at} claims ${size} bytes but only ${remaining} remain, and those ` +
            'pass its CRC: a complete record whose length field is damaged',
        )
      } else {
        note(
          `incomplete frame at the end of the file: the frame at byte ${position + at} claims ${size} bytes but only ${remaining} were written (a torn write)`,
        )
      }
      break
    }
    const check = checkFrame(buf, at, buf.length)
    corrupt = true
    completeRecords += batchCount(buf, at, size)
    note(
      `the complete frame at byte ${position + at} is damaged (${check.status === 'invalid' ? check.reason : `offset ${check.status === 'ok' ? check.offset : '?'} out of sequence`})`,
    )
    at += size
  }
  return { corrupt, reason, highestOffset, completeRecords }
}

/**
 * Looks for a complete, CRC-valid frame with an offset ≥ `minOffset` in `buf` from byte 1 on.
 * Finding one means damage at byte 0 is in the middle of the data, not a torn tail.
 */
export function findValidFrame(buf: Buffer, minOffset: number): { at: number; offset: number } | null {
  for (let at = 1; at + 9 <= buf.length; at++) {
    if (!isFrameMagic(buf[at + 8])) continue // cheap pre-filter before the CRC
    const check = checkFrame(buf, at, buf.length)
    if (check.status === 'ok' && check.offset >= minOffset) return { at, offset: check.offset }
  }
  return null
}

/** The reason for an incomplete frame found where more data follows. */
export function incompleteReason(position: number, claimed: number, remaining: number): string {
  return claimed === 0
    ? `only ${remaining} bytes remain at byte ${position}, too few for a frame's length`
    : `the frame at byte ${position} claims ${claimed} bytes but only ${remaining} remain`
}

/**
 * How many records the frame at `at` claims, when it is a batch whose record count is there and
 * fits in `size` bytes; otherwise 1 (a record frame, or a count too damaged to believe).
 */
function batchCount(buf: Buffer, at: number, size: number): number {
  if (!isBatchMagic(buf[at + 8]) || size < BATCH_HEADER_BYTES || buf.length - at < BATCH_HEADER_BYTES)
    return 1
  const count = buf.readUInt32BE(at + 25)
  return count >= 1 && count <= (size - BATCH_HEADER_BYTES) / MIN_RECORD_BYTES ? count : 1
}

function isZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false
  return true
}
