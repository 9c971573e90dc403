/**
 * Unsigned LEB128 varints (7 bits a byte, low group first, high bit = more follows) for
 * non-negative safe integers, as Kafka's record batches use them for per-record fields. Values
 * below 2^31 take the bit-operation path; larger ones (a timestamp delta of years) divide, so
 * every safe integer round-trips without BigInt.
 */

/** Largest value a varint field may hold: readers refuse more than 8 bytes (56 bits). */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER

/** Bytes writeVarint uses for `value`. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1
  if (value < 0x4000) return 2
  if (value < 0x200000) return 3
  if (value < 0x10000000) return 4
  let size = 4
  for (let v = Math.floor(value / 0x10000000); v > 0; v = Math.floor(v / 0x80)) size++
  return size
}

/** Writes `value` at `pos`; returns the position after it. */
export function writeVarint(buf: Uint8Array, value: number, pos: number): number {
  let v = value
  while (v > 0x7fffffff) {
    buf[pos++] = (v % 0x80) | 0x80
    v = Math.floor(v / 0x80)
  }
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  buf[pos++] = v
  return pos
}

/**
 * A reader over one frame's bytes: `pos` moves past what it reads, and reading past `end`
 * throws (damage the CRC missed, or a bug), which the caller turns into a corrupt-segment error.
 */
export class VarintReader {
  pos: number

  constructor(
    readonly buf: Uint8Array,
    pos: number,
    readonly end: number,
  ) {
    this.pos = pos
  }

  varint(what: string): number {
    const buf = this.buf
    let pos = this.pos
    let byte = pos < this.end ? buf[pos++]! : this.short(what)
    if (byte < 0x80) {
      this.pos = pos
      return byte
    }
    let value = byte & 0x7f
    let scale = 0x80
    for (let i = 1; ; i++) {
      if (i === 8) throw new Error(`${what} is a varint longer than 8 bytes`)
      byte = pos < this.end ? buf[pos++]! : this.short(what)
      value += (byte & 0x7f) * scale
      if (byte < 0x80) break
      scale *= 0x80
    }
    this.pos = pos
    return value
  }

  /** Marks `n` bytes as read (a string or value the caller slices) and returns where they began. */
  take(n: number, what: string): number {
    const start = this.pos
    if (start + n > this.end) this.short(what)
    this.pos = start + n
    return start
  }

  private short(what: string): never {
    throw new Error(`${what} runs past the end of the frame`)
  }
}

/** Zigzag: signed → unsigned so small magnitudes stay small (0, -1, 1, -2 → 0, 1, 2, 3). */
export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1
}

export function unzigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2
}
