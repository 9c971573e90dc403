import zlib from 'node:zlib'

/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF), the same
 * checksum as zlib's crc32. Node ≥ 20.15 ships `zlib.crc32` (native, fast); older Node 20 releases
 * do not, so we fall back to a byte-wise table implementation that produces identical values.
 * The engines field allows 20.10, hence the fallback.
 */
export const crc32: (data: Uint8Array) => number = resolveCrc32()

function resolveCrc32(): (data: Uint8Array) => number {
  const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32
  if (typeof native === 'function') return (data) => native(data) >>> 0
  return crc32Table
}

let table: Uint32Array | null = null

function buildTable(): Uint32Array {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
}

/** The portable implementation; exported so tests can check it against zlib. */
export function crc32Table(data: Uint8Array): number {
  if (table === null) table = buildTable()
  const t = table
  let c = 0xffffffff
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
