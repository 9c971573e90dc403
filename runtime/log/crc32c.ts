/**
 * CRC-32C (Castagnoli), the checksum of Kafka's record batches, computed eight bytes per step
 * ("slicing by 8"): eight 256-entry tables, so each step costs eight lookups and no loop-carried
 * dependency per byte. kafkajs's own CRC32C goes byte by byte; over a produce request of ~200 KB
 * this one takes a fraction of its time (issue 15's profile: kafkajs's crc32C was 2 % of the node).
 */

/** The reflected Castagnoli polynomial. */
const POLYNOMIAL = 0x82f63b78

/** TABLES[k * 256 + b]: the CRC of byte b followed by k zero bytes. */
const TABLES = buildTables()

function buildTables(): Int32Array {
  const tables = new Int32Array(8 * 256)
  for (let b = 0; b < 256; b++) {
    let crc = b
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1
    tables[b] = crc
  }
  for (let b = 0; b < 256; b++) {
    for (let k = 1; k < 8; k++) {
      const previous = tables[(k - 1) * 256 + b]!
      tables[k * 256 + b] = tables[previous & 0xff]! ^ (previous >>> 8)
    }
  }
  return tables
}

/** The CRC-32C of bytes [start, end) of `bytes`, as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const t = TABLES
  let crc = -1
  let i = start
  for (const last8 = end - 8; i <= last8; i += 8) {
    const low = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))
    crc =
      t[1792 + (low & 0xff)]! ^
      t[1536 + ((low >>> 8) & 0xff)]! ^
      t[1280 + ((low >>> 16) & 0xff)]! ^
      t[1024 + (low >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!
  }
  for (; i < end; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}
