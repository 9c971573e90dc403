/**
 * JSON.stringify's bytes written straight into a buffer, for the values a checkpoint encodes
 * (issue 12: a checkpoint of a running aggregate encodes ~100 k small values like `[3,1742]` a
 * second; a string per value, then copying it into the snapshot, was a third of the checkpoint's
 * CPU and most of its garbage).
 *
 * Only the shapes that running state is made of are written here: finite numbers, ASCII strings
 * without escapes, booleans, null, arrays and plain objects of them. Anything else (a Date or any
 * object with another prototype or a `toJSON`, a BigInt, a string needing escapes, nesting deeper
 * than MAX_DEPTH, which is also where a cycle ends) answers UNSUPPORTED, and the caller encodes the
 * whole value with JSON.stringify instead, so the bytes are always exactly JSON.stringify's and a
 * snapshot stays the readable JSON it was (json-bytes.test.ts checks the equality on random values).
 */

/** The value has a shape this writer leaves to JSON.stringify. */
export const UNSUPPORTED = -1
/** The encoding does not fit before `limit`: give more room and ask again. */
export const NO_ROOM = -2

const MAX_DEPTH = 16
const QUOTE = 0x22
const BACKSLASH = 0x5c
const OBJECT_PROTOTYPE = Object.prototype

/**
 * Writes JSON.stringify(value)'s UTF-8 at bytes[at, limit); returns where it ends, NO_ROOM, or
 * UNSUPPORTED (see above). What was written before a failure is garbage for the caller to overwrite.
 */
export function writeJson(value: unknown, bytes: Uint8Array, at: number, limit: number): number {
  return write(value, bytes, at, limit, 0)
}

function write(value: unknown, bytes: Uint8Array, at: number, limit: number, depth: number): number {
  switch (typeof value) {
    case 'number':
      return writeNumber(value, bytes, at, limit)
    case 'string':
      return writeString(value, bytes, at, limit)
    case 'boolean':
      return writeAscii(value ? 'true' : 'false', bytes, at, limit)
    case 'object':
      if (value === null) return writeAscii('null', bytes, at, limit)
      if (depth >= MAX_DEPTH) return UNSUPPORTED
      if (Array.isArray(value)) return writeArray(value, bytes, at, limit, depth + 1)
      return writeObject(value as Record<string, unknown>, bytes, at, limit, depth + 1)
    default:
      // undefined, functions and symbols (omitted or null by position), BigInt (a TypeError).
      return UNSUPPORTED
  }
}

function writeArray(value: unknown[], bytes: Uint8Array, at: number, limit: number, depth: number): number {
  if (Object.getPrototypeOf(value) !== Array.prototype || 'toJSON' in value) return UNSUPPORTED
  if (at >= limit) return NO_ROOM
  bytes[at++] = 0x5b // [
  for (let i = 0; i < value.length; i++) {
    if (i > 0) {
      if (at >= limit) return NO_ROOM
      bytes[at++] = 0x2c // ,
    }
    const element = value[i]
    // Numbers first: the accumulators of running aggregates are arrays of them. Holes,
    // undefined, functions and symbols are null in an array.
    at =
      typeof element === 'number'
        ? writeNumber(element, bytes, at, limit)
        : element === undefined || typeof element === 'function' || typeof element === 'symbol'
          ? writeAscii('null', bytes, at, limit)
          : write(element, bytes, at, limit, depth)
    if (at < 0) return at
  }
  if (at >= limit) return NO_ROOM
  bytes[at++] = 0x5d // ]
  return at
}

function writeObject(
  value: Record<string, unknown>,
  bytes: Uint8Array,
  at: number,
  limit: number,
  depth: number,
): number {
  const prototype = Object.getPrototypeOf(value)
  if ((prototype !== OBJECT_PROTOTYPE && prototype !== null) || 'toJSON' in value) return UNSUPPORTED
  if (at >= limit) return NO_ROOM
  bytes[at++] = 0x7b // {
  let first = true
  // Object.keys: the own enumerable string keys in JSON.stringify's order.
  for (const key of Object.keys(value)) {
    const field = value[key]
    if (field === undefined || typeof field === 'function' || typeof field === 'symbol') continue
    if (!first) {
      if (at >= limit) return NO_ROOM
      bytes[at++] = 0x2c // ,
    }
    first = false
    at = writeString(key, bytes, at, limit)
    if (at < 0) return at
    if (at >= limit) return NO_ROOM
    bytes[at++] = 0x3a // :
    at = write(field, bytes, at, limit, depth)
    if (at < 0) return at
  }
  if (at >= limit) return NO_ROOM
  bytes[at++] = 0x7d // }
  return at
}

/** A string of printable ASCII other than `"` and `\`: as it is, quoted; others need escapes. */
function writeString(value: string, bytes: Uint8Array, at: number, limit: number): number {
  const length = value.length
  if (at + length + 2 > limit) return NO_ROOM
  bytes[at++] = QUOTE
  for (let i = 0; i < length; i++) {
    const unit = value.charCodeAt(i)
    if (unit < 0x20 || unit > 0x7e || unit === QUOTE || unit === BACKSLASH) return UNSUPPORTED
    bytes[at++] = unit
  }
  bytes[at++] = QUOTE
  return at
}

/**
 * A safe integer as its digits (what JSON.stringify prints for it, -0 as 0); other finite numbers
 * as String(value), which is JSON.stringify's text for them; NaN and ±Infinity as null.
 */
export function writeNumber(value: number, bytes: Uint8Array, at: number, limit: number): number {
  // Most running state is small integers (counts, sums of cents): int32 arithmetic for them.
  if ((value | 0) === value && value !== INT32_MIN) return writeInt32(value | 0, bytes, at, limit)
  if (!Number.isSafeInteger(value)) {
    return writeAscii(Number.isFinite(value) ? String(value) : 'null', bytes, at, limit)
  }
  let rest = value
  if (rest < 0) {
    if (at >= limit) return NO_ROOM
    bytes[at++] = 0x2d // -
    rest = -rest
  }
  let digits = 1
  for (let power = 10; power <= rest; power *= 10) digits++
  if (at + digits > limit) return NO_ROOM
  for (let p = at + digits - 1; p >= at; p--) {
    bytes[p] = 0x30 + (rest % 10)
    rest = Math.floor(rest / 10)
  }
  return at + digits
}

const INT32_MIN = -0x8000_0000

/** An int32 but INT32_MIN (whose negation is no int32) as its digits; -0 as 0, as JSON.stringify. */
function writeInt32(value: number, bytes: Uint8Array, at: number, limit: number): number {
  let rest = value
  if (rest < 0) {
    if (at >= limit) return NO_ROOM
    bytes[at++] = 0x2d // -
    rest = -rest
  }
  const digits =
    rest < 10_000
      ? rest < 100
        ? rest < 10
          ? 1
          : 2
        : rest < 1000
          ? 3
          : 4
      : rest < 10_000_000
        ? rest < 100_000
          ? 5
          : rest < 1_000_000
            ? 6
            : 7
        : rest < 100_000_000
          ? 8
          : rest < 1_000_000_000
            ? 9
            : 10
  if (at + digits > limit) return NO_ROOM
  let p = at + digits
  do {
    const quotient = (rest / 10) | 0
    bytes[--p] = 0x30 + rest - quotient * 10
    rest = quotient
  } while (rest !== 0)
  return at + digits
}

function writeAscii(text: string, bytes: Uint8Array, at: number, limit: number): number {
  if (at + text.length > limit) return NO_ROOM
  for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i)
  return at
}
