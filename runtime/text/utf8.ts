import { isUtf8 } from 'node:buffer'

/** Whether `bytes` is valid UTF-8 (native, fast: what the runner checks every record with). */
export { isUtf8 }

/**
 * The offset of the first byte of the first invalid UTF-8 sequence in `bytes`, or -1 when there
 * is none: for messages that say where the damage is.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1
  // Binary search on the longest prefix that decodes (a prefix cut inside a valid sequence is
  // decoded with stream: true, so only a bad byte makes it fail).
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let lo = 0
  let hi = bytes.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    try {
      decoder.decode(bytes.subarray(0, mid + 1), { stream: true })
      lo = mid + 1
    } catch {
      hi = mid
    }
  }
  // `lo` is where the decoder noticed; the bad sequence starts at the lead byte before it, if any.
  let start = lo
  while (start > 0 && start > lo - 3 && (bytes[start - 1]! & 0xc0) === 0x80) start--
  if (start > 0 && start > lo - 4 && bytes[start - 1]! >= 0xc0) start--
  return start
}
