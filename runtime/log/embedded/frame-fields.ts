/** A record ready to be framed: everything but the partition, which the file path implies. */
export interface FrameInput {
  readonly timestamp: number
  readonly key: string | null
  readonly headers: Readonly<Record<string, string>>
  readonly value: Uint8Array
}

const TWO_32 = 2 ** 32

// 64-bit fields are written as two 32-bit halves: offsets and timestamps are safe integers, and
// this avoids a BigInt allocation per field on the hot path.
export function writeU64(buf: Buffer, value: number, pos: number): number {
  buf.writeUInt32BE(Math.floor(value / TWO_32), pos)
  buf.writeUInt32BE(value % TWO_32, pos + 4)
  return pos + 8
}

export function writeI64(buf: Buffer, value: number, pos: number): number {
  const hi = Math.floor(value / TWO_32)
  buf.writeInt32BE(hi, pos)
  buf.writeUInt32BE(value - hi * TWO_32, pos + 4)
  return pos + 8
}

export function readU64(buf: Buffer, pos: number): number {
  return buf.readUInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4)
}

export function readI64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4)
}
