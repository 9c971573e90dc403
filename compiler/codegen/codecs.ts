/**
 * Generated JSON codecs, one function per record type, so the hot path never interprets a
 * schema at run time.
 *
 * Decoding (specs/language.md, "Event decoding"): the input is the value of `JSON.parse`. A record
 * is a JSON object; required fields must be present with the right JSON type; an optional field may
 * be absent or null (both become null, so every decoded record has every field, in schema order, and
 * all records of a schema share one V8 hidden class); i64 must be a safe integer; timestamps accept
 * epoch milliseconds (an integer) or an ISO-8601 string with a zone; unknown fields are ignored.
 * Anything else throws `DecodeFailure` naming the field path and what was expected.
 *
 * Encoding writes JSON text directly (keys in field order, timestamps as ISO-8601 strings with
 * milliseconds, non-finite f64 as null), which is also faster than JSON.stringify on a value
 * that needs timestamp conversion.
 */
import type { RecordType, Type } from '../ir/types.ts'
import { tsType } from './expressions.ts'

/** Names and emits one function per distinct type, deduplicated by structure. */
export class CodecWriter {
  private readonly decoders = new Map<string, string>()
  private readonly encoders = new Map<string, string>()
  private readonly bodies: string[] = []

  constructor(private readonly typeName: (type: Type) => string | undefined) {}

  /** Returns the name of `decode_N(value: unknown, path: string): T`. */
  decoder(type: Type): string {
    const id = JSON.stringify(type)
    const existing = this.decoders.get(id)
    if (existing) return existing
    const name = `decode${this.decoders.size}`
    this.decoders.set(id, name)
    this.bodies.push(
      `function ${name}(value: unknown, path: string): ${tsType(type, this.typeName)} {\n${this.decodeBody(type)}\n}`,
    )
    return name
  }

  /** Returns the name of `encode_N(value: T): string`. */
  encoder(type: Type): string {
    const id = JSON.stringify(type)
    const existing = this.encoders.get(id)
    if (existing) return existing
    const name = `encode${this.encoders.size}`
    this.encoders.set(id, name)
    this.bodies.push(
      `function ${name}(value: ${tsType(type, this.typeName)}): string {\n${this.encodeBody(type)}\n}`,
    )
    return name
  }

  /** The functions requested so far, in a stable order. */
  code(): string {
    return this.bodies.join('\n\n')
  }

  private decodeBody(type: Type): string {
    switch (type.kind) {
      case 'string':
        return `if (typeof value !== 'string') throw new DecodeFailure(path, 'a string', value)\nreturn value`
      case 'bool':
        return `if (typeof value !== 'boolean') throw new DecodeFailure(path, 'a boolean', value)\nreturn value`
      case 'i64':
        return `if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new DecodeFailure(path, 'an integer within ±(2^53-1)', value)\nreturn value`
      case 'f64':
        return `if (typeof value !== 'number') throw new DecodeFailure(path, 'a number', value)\nreturn value`
      case 'timestamp':
        return 'return decodeTimestamp(value, path)'
      case 'duration':
        return `if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new DecodeFailure(path, 'a duration in milliseconds', value)\nreturn value`
      case 'null':
        return `if (value !== null && value !== undefined) throw new DecodeFailure(path, 'null', value)\nreturn null`
      case 'optional':
        return `return value === null || value === undefined ? null : ${this.decoder(type.of)}(value, path)`
      case 'list': {
        const item = this.decoder(type.of)
        return [
          `if (!Array.isArray(value)) throw new DecodeFailure(path, 'a list', value)`,
          `const out: ${tsType(type, this.typeName)} = new Array(value.length)`,
          `for (let i = 0; i < value.length; i++) out[i] = ${item}(value[i], path + '[' + i + ']')`,
          'return out',
        ].join('\n')
      }
      case 'record':
        return this.decodeRecord(type)
    }
  }

  private decodeRecord(type: RecordType): string {
    const fields = type.fields.map((f) => {
      const decode = this.decoder(f.type)
      return `    ${f.name}: ${decode}(${ownField('object', f.name)}, path === '' ? ${JSON.stringify(f.name)} : path + ${JSON.stringify(`.${f.name}`)}),`
    })
    return [
      `if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DecodeFailure(path, 'an object', value)`,
      'const object = value as Record<string, unknown>',
      'return {',
      ...fields,
      '}',
    ].join('\n')
  }

  private encodeBody(type: Type): string {
    switch (type.kind) {
      case 'string':
        return 'return JSON.stringify(value)'
      case 'bool':
        return 'return String(value)'
      case 'i64':
      case 'duration':
        // Evaluation keeps integers safe; this guards the output against anything that got past it.
        return `if (!Number.isSafeInteger(value)) throw new RangeError(\`\${value} is not an integer within ±(2^53-1)\`)\nreturn String(value)`
      case 'f64':
        return `return Number.isFinite(value) ? String(value) : 'null'`
      case 'timestamp':
        return `return '"' + new Date(value).toISOString() + '"'`
      case 'null':
        return `return 'null'`
      case 'optional':
        return `return value === null ? 'null' : ${this.encoder(type.of)}(value)`
      case 'list': {
        const item = this.encoder(type.of)
        return [
          'let out = "["',
          `for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + ${item}(value[i]!)`,
          `return out + ']'`,
        ].join('\n')
      }
      case 'record': {
        if (type.fields.length === 0) return `return '{}'`
        const parts = type.fields.map((f, i) => {
          const key = JSON.stringify(`${i === 0 ? '{' : ','}${JSON.stringify(f.name)}:`)
          return `${key} + ${this.encoder(f.type)}(value.${f.name})`
        })
        return `return ${parts.join(' +\n    ')} + '}'`
      }
    }
  }
}

/**
 * Reads a field of a parsed JSON object. A field named like a member of Object.prototype
 * (`constructor`, `toString`, …) must be an own property, or an absent field would read the
 * inherited function; other names need no check, and the fast path stays a plain property load.
 */
function ownField(object: string, name: string): string {
  return name in Object.prototype
    ? `(Object.hasOwn(${object}, ${JSON.stringify(name)}) ? ${object}[${JSON.stringify(name)}] : undefined)`
    : `${object}.${name}`
}

/** Helpers the codecs call; emitted once per generated module. */
export const CODEC_HELPERS = `
  class DecodeFailure extends Error {
    constructor(readonly path: string, readonly expected: string, readonly actual: unknown) {
      super(\`\${path || 'event'}: expected \${expected}, got \${describe(actual)}\`)
    }
  }
  function describe(value: unknown): string {
    if (value === undefined) return 'nothing (field missing)'
    if (value === null) return 'null'
    if (Array.isArray(value)) return 'a list'
    if (typeof value === 'string') return 'the string ' + JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)
    if (typeof value === 'object') return 'an object'
    return typeof value + ' ' + String(value)
  }
  // Timestamps: epoch milliseconds within the range of a Date (±8.64e15), or the ISO-8601 forms
  // that parse_ts accepts (date, or date-time with a zone; impossible dates are rejected).
  const MAX_TIMESTAMP_MS = 8.64e15
  function decodeTimestamp(value: unknown, path: string): number {
    if (typeof value === 'number') {
      if (Number.isSafeInteger(value) && Math.abs(value) <= MAX_TIMESTAMP_MS) return value
    } else if (typeof value === 'string') {
      const ms = parseTimestamp(value)
      if (ms !== null && Math.abs(ms) <= MAX_TIMESTAMP_MS) return ms
    }
    throw new DecodeFailure(path, 'a timestamp (epoch milliseconds or ISO-8601 with a zone)', value)
  }
`
