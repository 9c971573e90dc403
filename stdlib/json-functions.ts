/**
 * JSON held in a string: `parse_json(s, T)` decodes it as type T and `to_json(x)` writes x, both by
 * the rules of event decoding and encoding (specs/language.md §9). Their impls take the codec as a
 * last argument (the registry marks them `codec`): generated code passes the module's generated
 * decoder or encoder for the type, so a string field decodes exactly as an event would; the
 * reference interpreter passes the reference codecs below, which follow the same rules by
 * interpreting the type.
 */
import { EvaluationError } from './eval-error.ts'
import { parseIsoTimestamp } from './time.ts'
import type { LibType } from './types.ts'

/**
 * Decodes a parsed JSON value as the call's type or throws (any Error: its message is the
 * reason); `path` names the value in messages.
 */
export type JsonDecode = (value: unknown, path: string) => unknown
/** Writes a value of the argument's type as JSON text, or throws. */
export type JsonEncode = (value: unknown) => string

function reason(fn: string, error: unknown): never {
  if (error instanceof EvaluationError) throw error
  throw new EvaluationError(`${fn}: ${error instanceof Error ? error.message : String(error)}`)
}

export function parseJson(text: string, decode: JsonDecode): unknown {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text
    throw new EvaluationError(`parse_json: ${JSON.stringify(shown)} is not JSON`)
  }
  try {
    return decode(value, ROOT_PATH)
  } catch (error) {
    return reason('parse_json', error)
  }
}

export function toJson(value: unknown, encode: JsonEncode): string {
  try {
    return encode(value)
  } catch (error) {
    return reason('to_json', error)
  }
}

// ---------------------------------------------------------------------------------------------
// Reference codecs (the interpreter's): the rules of compiler/codegen/codecs.ts, by interpretation

const MAX_TIMESTAMP_MS = 8.64e15

/** The path of the top-level value in messages, JSONPath style (`$.address.city`). */
export const ROOT_PATH = '$'

class DecodeFailure extends Error {
  constructor(path: string, expected: string, actual: unknown) {
    super(`${path || 'event'}: expected ${expected}, got ${describe(actual)}`)
  }
}

/** As the generated codecs describe a value (CODEC_HELPERS), so both paths give one reason. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing (field missing)'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${String(value)}`
}

function decodeTimestamp(value: unknown): number {
  if (typeof value === 'number')
    return Number.isSafeInteger(value) && Math.abs(value) <= MAX_TIMESTAMP_MS ? value : Number.NaN
  if (typeof value === 'string') {
    const ms = parseIsoTimestamp(value)
    return ms !== null && Math.abs(ms) <= MAX_TIMESTAMP_MS ? ms : Number.NaN
  }
  return Number.NaN
}

/**
 * Whether a string has no lone surrogate: JSON can escape one (`"a\ud800b"`) and would write it
 * back escaped, which strict parsers refuse, so decoding refuses it (specs/language.md §9).
 * String.prototype.isWellFormed is ES2024, typed here.
 */
function wellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed()
}

export function referenceDecode(type: LibType, value: unknown, path: string): unknown {
  switch (type.kind) {
    case 'string':
      if (typeof value !== 'string') throw new DecodeFailure(path, 'a string', value)
      if (!wellFormed(value)) throw new DecodeFailure(path, 'a string without lone surrogates', value)
      return value
    case 'bool':
      if (typeof value !== 'boolean') throw new DecodeFailure(path, 'a boolean', value)
      return value
    case 'i64':
      if (typeof value !== 'number' || !Number.isSafeInteger(value))
        throw new DecodeFailure(path, 'an integer within ±(2^53-1)', value)
      return value
    case 'f64':
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw new DecodeFailure(path, 'a finite number', value)
      return value
    case 'duration':
      if (typeof value !== 'number' || !Number.isSafeInteger(value))
        throw new DecodeFailure(path, 'a duration in milliseconds', value)
      return value
    case 'timestamp': {
      const ms = decodeTimestamp(value)
      if (Number.isNaN(ms))
        throw new DecodeFailure(path, 'a timestamp (epoch milliseconds or ISO-8601 with a zone)', value)
      return ms
    }
    case 'null':
      if (value !== null && value !== undefined) throw new DecodeFailure(path, 'null', value)
      return null
    case 'optional':
      return value === null || value === undefined ? null : referenceDecode(type.of, value, path)
    case 'list':
      if (!Array.isArray(value)) throw new DecodeFailure(path, 'a list', value)
      return value.map((item, i) => referenceDecode(type.of, item, `${path}[${i}]`))
    case 'map': {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new DecodeFailure(path, 'an object (a map)', value)
      const object = value as Record<string, unknown>
      // No prototype, as the generated decoder: `__proto__` is an ordinary key.
      const out: Record<string, unknown> = Object.create(null)
      for (const key of Object.keys(object)) {
        const keyPath = `${path}[${JSON.stringify(key)}]`
        if (!wellFormed(key)) throw new DecodeFailure(keyPath, 'a key without lone surrogates', key)
        out[key] = referenceDecode(type.of, object[key], keyPath)
      }
      return out
    }
    case 'record': {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new DecodeFailure(path, 'an object', value)
      const object = value as Record<string, unknown>
      const out: Record<string, unknown> = {}
      for (const field of type.fields) {
        const item = Object.hasOwn(object, field.name) ? object[field.name] : undefined
        out[field.name] = referenceDecode(
          field.type,
          item,
          path === '' ? field.name : `${path}.${field.name}`,
        )
      }
      return out
    }
  }
}

/** The ISO-8601 text the encoders write: UTC with milliseconds, years outside 0000-9999 as ±YYYYYY. */
function isoTimestamp(ms: number): string {
  return new Date(ms).toISOString()
}

/**
 * Writes `value` as the generated encoders do, or throws a RangeError whose message starts with the
 * path of the value refused (`inner.r: …`, `xs[1]: …`, `m["b"]: …`), as a sink's reason does
 * (CodecWriter.sinkEncoder); the top-level value has no path.
 */
export function referenceEncode(type: LibType, value: unknown): string {
  try {
    const text = encodeAt(type, value, '')
    // After the rest, as the generated encoder looks for an escaped lone surrogate in its text.
    const lone = text.includes('\\ud') ? loneSurrogateAt(type, value, '') : null
    if (lone !== null) throw new RefusedAt(lone, LONE_SURROGATE_REASON)
    return text
  } catch (error) {
    if (error instanceof RefusedAt && error.path !== '')
      throw new RangeError(`${error.path}: ${error.message}`)
    if (error instanceof RefusedAt) throw new RangeError(error.message)
    throw error
  }
}

/**
 * Why a string (or map key) holding a lone surrogate is not written as JSON (specs/language.md §9):
 * JSON.stringify would write it escaped (`\ud83d`), which strict JSON parsers refuse, as the
 * decoders refuse it in input. The generated sink encoders (CodecWriter.sinkEncoder) give it too.
 */
export const LONE_SURROGATE_REASON =
  'a lone surrogate (half of a UTF-16 surrogate pair) cannot be written: strict JSON parsers refuse it'

/** The path of the first string or map key in `value` holding a lone surrogate, or null. */
function loneSurrogateAt(type: LibType, value: unknown, path: string): string | null {
  switch (type.kind) {
    case 'string':
      return wellFormed(value as string) ? null : path
    case 'optional':
      return value === null ? null : loneSurrogateAt(type.of, value, path)
    case 'list': {
      const items = value as readonly unknown[]
      for (let i = 0; i < items.length; i++) {
        const found = loneSurrogateAt(type.of, items[i], `${path}[${i}]`)
        if (found !== null) return found
      }
      return null
    }
    case 'map': {
      const map = value as Record<string, unknown>
      for (const key of Object.keys(map).sort()) {
        const at = `${path}[${JSON.stringify(key)}]`
        if (!wellFormed(key)) return at
        const found = loneSurrogateAt(type.of, map[key], at)
        if (found !== null) return found
      }
      return null
    }
    case 'record': {
      const record = value as Record<string, unknown>
      for (const f of type.fields) {
        const found = loneSurrogateAt(f.type, record[f.name], path === '' ? f.name : `${path}.${f.name}`)
        if (found !== null) return found
      }
      return null
    }
    default:
      return null
  }
}

/** A value the encoder refuses, and where. */
class RefusedAt extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message)
  }
}

function encodeAt(type: LibType, value: unknown, path: string): string {
  switch (type.kind) {
    case 'string':
      return JSON.stringify(value)
    case 'bool':
      return value ? 'true' : 'false'
    case 'i64':
    case 'duration':
      if (!Number.isSafeInteger(value))
        throw new RefusedAt(path, `${String(value)} is not an integer within ±(2^53-1)`)
      return String(value)
    case 'f64':
      if (!Number.isFinite(value))
        throw new RefusedAt(
          path,
          `${String(value)} is not a finite number: JSON has no NaN or Infinity; make the field optional (f64?) to write null`,
        )
      return String(value)
    case 'timestamp':
      // As a Date (and the generated isoTimestamp) refuses a time outside its range.
      if (!(Math.abs(value as number) <= MAX_TIMESTAMP_MS)) throw new RefusedAt(path, 'Invalid time value')
      return `"${isoTimestamp(value as number)}"`
    case 'null':
      return 'null'
    case 'optional':
      if (value === null) return 'null'
      if (type.of.kind === 'f64' && !Number.isFinite(value)) return 'null'
      return encodeAt(type.of, value, path)
    case 'list':
      return `[${(value as readonly unknown[]).map((item, i) => encodeAt(type.of, item, `${path}[${i}]`)).join(',')}]`
    case 'map': {
      // Keys in ascending order of UTF-16 code units, as the generated encoder writes them.
      const map = value as Record<string, unknown>
      return `{${Object.keys(map)
        .sort()
        .map(
          (key) => `${JSON.stringify(key)}:${encodeAt(type.of, map[key], `${path}[${JSON.stringify(key)}]`)}`,
        )
        .join(',')}}`
    }
    case 'record': {
      const record = value as Record<string, unknown>
      return `{${type.fields.map((f) => `${JSON.stringify(f.name)}:${encodeAt(f.type, record[f.name], path === '' ? f.name : `${path}.${f.name}`)}`).join(',')}}`
    }
  }
}
