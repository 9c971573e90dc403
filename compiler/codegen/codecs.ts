/**
 * Generated JSON codecs, one function per record type, so the hot path never interprets a
 * schema at run time (docs/decisions/0013-generated-codecs.md).
 *
 * Decoding (specs/language.md, "Event decoding"): the input is the value of `JSON.parse`. A record
 * is a JSON object; required fields must be present with the right JSON type; an optional field may
 * be absent or null (both become null); i64 must be a safe integer; timestamps accept epoch
 * milliseconds (an integer) or an ISO-8601 string with a zone; unknown fields are ignored.
 * Anything else throws `DecodeFailure` naming the field path and what was expected.
 *
 * Each type gets two decoders that accept exactly the same values:
 * - the reader (`readN`, `fastN`, `validN`), the success path: it checks every field and builds
 *   nothing but the result, no path strings and no messages, returning undefined (or false) at
 *   the first value it rejects; a source's reader materialises only the fields the pipeline reads
 *   (the rest are checked and dropped), so the rows of one source still share one hidden class;
 * - the explaining decoder (`decodeN(value, path)`), run only after the reader rejected a value,
 *   which finds the same first failure and throws it with the field path.
 *
 * A source's decoder from bytes (`decodeJsonN`) tries the byte-level scanner first
 * (json-scanner.ts), then JSON.parse and the reader; as JSON.parse rounds numbers of more than
 * 15 digits, an accepted i64 or duration is then checked against the bytes when the text holds
 * such a number (`integerWalker`, `checkWrittenIntegers`), so `100.0000000000000001` is refused.
 *
 * Encoding writes JSON text directly (keys in field order, timestamps as ISO-8601 strings with
 * milliseconds formatted by arithmetic, non-finite f64 as null), one concatenation per record, or
 * JSON.stringify for records without timestamps (the same text).
 */
import { LONE_SURROGATE_REASON } from '../../stdlib/json-functions.ts'
import type { RecordType, Type } from '../ir/types.ts'
import { tsType } from './expressions.ts'
import { ISO_TIMESTAMP } from './iso-timestamp.ts'
import { canScan, scannerFunction } from './json-scanner.ts'
import { isArrayIndexName, propertyAccess, propertyKey } from './property.ts'

/** Names and emits one function per distinct type, deduplicated by structure. */
/**
 * A family of generated walkers that find the first value of a kind in a value (its path): what
 * the type's leaves look for, and whether map keys can hold it.
 */
interface FirstFoundWalkers {
  readonly prefix: string
  readonly names: Map<string, string | null>
  count: number
  /** Whether a map key can hold what is looked for (checked before the key's value). */
  readonly keys: boolean
  /** The body for a type the family decides itself (null: nothing to find), or undefined: walk in. */
  leaf(type: Type): string | null | undefined
}

export class CodecWriter {
  private readonly decoders = new Map<string, string>()
  private readonly readers = new Map<string, string>()
  private readonly jsonDecoders = new Map<string, string>()
  private readonly fasts = new Map<string, string>()
  private readonly valids = new Map<string, string>()
  private readonly encoders = new Map<string, string>()
  private readonly bodies: string[] = []
  private readonly integerWalkers = new Map<string, string | null>()
  private integerWalkerCount = 0
  private readonly sinkEncoders = new Map<string, string>()
  /** A non-finite f64 that may not be null, an i64 or duration out of range, a bad timestamp. */
  private readonly unwritable: FirstFoundWalkers = {
    prefix: 'unwritable',
    names: new Map(),
    count: 0,
    keys: false,
    leaf: (type) => {
      switch (type.kind) {
        case 'f64':
          return 'return Number.isFinite(value) ? null : path'
        case 'i64':
        case 'duration':
          return 'return Number.isSafeInteger(value) ? null : path'
        case 'timestamp':
          return 'return Number.isInteger(value) && Math.abs(value) <= 8.64e15 ? null : path'
        case 'optional':
          // An optional f64 that is not finite is written as null: only what is inside can fail.
          return type.of.kind === 'f64' ? null : undefined
        default:
          return undefined
      }
    },
  }
  /** A string or map key holding a lone surrogate. */
  private readonly surrogates: FirstFoundWalkers = {
    prefix: 'surrogates',
    names: new Map(),
    count: 0,
    keys: true,
    leaf: (type) => (type.kind === 'string' ? 'return wellFormed(value) ? null : path' : undefined),
  }

  /** How many `named` emits are running, one inside another, and the emits put off meanwhile. */
  private emitting = 0
  private readonly deferred: (() => void)[] = []

  constructor(
    private readonly typeName: (type: Type) => string | undefined,
    /** Equal for equal types; short (records by name) so that a deep type is not spelled per lookup. */
    private readonly keyOf: (type: Type) => string = (type) => JSON.stringify(type),
  ) {}

  /**
   * Returns the name of `readN(value: unknown): T | undefined`, the success-path decoder of a
   * source's records: it accepts exactly what `decoder(type)` accepts, returns undefined for the
   * rest, and materialises only the fields named in `read` (all of them when `read` is null). The
   * row keeps the schema's type in TypeScript; only the fields the pipeline reads are present.
   */
  reader(type: RecordType, read: ReadonlySet<string> | null): string {
    const fields = read === null ? null : type.fields.filter((f) => read.has(f.name)).map((f) => f.name)
    const id = `${this.keyOf(type)}/${JSON.stringify(fields)}`
    return this.named(this.readers, id, 'read', (name) => {
      const selected = fields === null ? null : new Set(fields)
      return [
        `function ${name}(value: unknown): ${tsType(type, this.typeName)} | undefined {`,
        this.recordReader(type, selected, 'return undefined'),
        '}',
      ].join('\n')
    })
  }

  /**
   * Returns the name of `decodeJsonN(bytes: JsonBytes): T`, a source's decoder from the JSON bytes
   * of a record: the byte-level scanner (json-scanner.ts) when the schema has one and it takes the
   * bytes, else `JSON.parse` (a SyntaxError for invalid JSON), the reader, and the explaining
   * decoder for what the reader rejects.
   */
  jsonDecoder(type: RecordType, read: ReadonlySet<string> | null): string {
    const fields = read === null ? null : type.fields.filter((f) => read.has(f.name)).map((f) => f.name)
    const id = `${this.keyOf(type)}/${JSON.stringify(fields)}`
    return this.named(this.jsonDecoders, id, 'decodeJson', (name) => {
      const rowType = tsType(type, this.typeName)
      const lines = [`function ${name}(bytes: JsonBytes): ${rowType} {`]
      if (canScan(type)) {
        const scanner = `scan${this.jsonDecoders.size - 1}`
        this.bodies.push(scannerFunction(scanner, type, read, this.typeName))
        lines.push(`const scanned = ${scanner}(bytes)`, 'if (scanned !== undefined) return scanned')
      }
      // JSON.parse rounds a number of more than 15 digits: an i64 written `100.0000000000000001`
      // would read as 100. The scanner reads at most 15; here the text is checked (issue 17).
      const integers = this.integerWalker(type)
      lines.push(
        `const text = bytes.toString('utf8', 0, bytes.length)`,
        'const value: unknown = JSON.parse(text)',
        `const row = ${this.reader(type, read)}(value)`,
        integers === null
          ? 'if (row !== undefined) return row'
          : `if (row !== undefined) {\nif (mayHideRounding(text)) checkWrittenIntegers(text, value, ${integers})\nreturn row\n}`,
        // The failure path: the explaining decoder, its reason quoting numbers as the bytes have them.
        `try {\nreturn ${this.decoder(type)}(value, '')\n} catch (error) {\nthrow withNumberAsWritten(error, text)\n}`,
        '}',
      )
      return lines.join('\n')
    })
  }

  /**
   * The name of `intsN(value, path, out)`, which pushes the path of every i64 and duration in a
   * parsed JSON value the reader accepted (so of the type's shape), or null when the type has none.
   */
  integerWalker(type: Type): string | null {
    // Inner types first, so each walk finds them done and never recurses deep (issue 17).
    bottomUp(
      type,
      typesInside,
      (t) => this.integerWalkers.has(this.keyOf(t)),
      (t) => this.integerWalkerOf(t),
    )
    return this.integerWalkers.get(this.keyOf(type)) ?? null
  }

  private integerWalkerOf(type: Type): string | null {
    const id = this.keyOf(type)
    if (this.integerWalkers.has(id)) return this.integerWalkers.get(id)!
    this.integerWalkers.set(id, null) // types are not recursive; this only guards the lookup
    let body: string | null
    switch (type.kind) {
      case 'i64':
      case 'duration':
        body = 'out.push(path)'
        break
      case 'optional': {
        const inner = this.integerWalkerOf(type.of)
        body = inner === null ? null : `if (value !== null && value !== undefined) ${inner}(value, path, out)`
        break
      }
      case 'list': {
        const inner = this.integerWalkerOf(type.of)
        body =
          inner === null
            ? null
            : `for (let i = 0; i < value.length; i++) ${inner}(value[i], path + '[' + i + ']', out)`
        break
      }
      case 'map': {
        const inner = this.integerWalkerOf(type.of)
        body =
          inner === null
            ? null
            : `for (const key of Object.keys(value)) ${inner}(value[key], path + '[' + JSON.stringify(key) + ']', out)`
        break
      }
      case 'record': {
        const parts = type.fields.flatMap((f) => {
          const inner = this.integerWalkerOf(f.type)
          return inner === null
            ? []
            : [
                `${inner}(${ownField('value', f.name)}, path === '' ? ${JSON.stringify(f.name)} : path + ${JSON.stringify(`.${f.name}`)}, out)`,
              ]
        })
        body = parts.length === 0 ? null : parts.join('\n')
        break
      }
      default:
        body = null
    }
    if (body === null) return null
    const name = `ints${this.integerWalkerCount++}`
    this.integerWalkers.set(id, name)
    this.bodies.push(`function ${name}(value: any, path: string, out: string[]): void {\n${body}\n}`)
    return name
  }

  /** Returns the name of `decode_N(value: unknown, path: string): T`, which throws DecodeFailure. */
  decoder(type: Type): string {
    return this.named(
      this.decoders,
      this.keyOf(type),
      'decode',
      (name) =>
        `function ${name}(value: unknown, path: string): ${tsType(type, this.typeName)} {\n${this.decodeBody(type)}\n}`,
    )
  }

  /** Returns the name of `encode_N(value: T): string`. */
  encoder(type: Type): string {
    return this.named(
      this.encoders,
      this.keyOf(type),
      'encode',
      (name) =>
        `function ${name}(value: ${tsType(type, this.typeName)}): string {\n${this.encodeBody(type)}\n}`,
    )
  }

  /**
   * Returns the name of a sink's encoder: the type's encoder, and when it refuses a value (a
   * non-finite f64 that may not be null, an integer out of range), a reason that names the field
   * (`ratio: NaN is not a finite number: …`), found only then, as the decoders find theirs.
   */
  sinkEncoder(type: Type): string {
    const walker = this.unwritableWalker(type)
    const surrogates = this.surrogateWalker(type)
    if (walker === null && surrogates === null) return this.encoder(type)
    const encode =
      walker === null
        ? `const text = ${this.encoder(type)}(value)`
        : `let text: string\ntry {\ntext = ${this.encoder(type)}(value)\n} catch (error) {\nthrow withEncodePath(error, ${walker}(value, ''))\n}`
    // JSON.stringify writes a lone surrogate as an escape (`\ud83d`), which strict JSON parsers
    // refuse (specs/language.md §9): only text with such an escape needs the walk that finds it.
    const refuse =
      surrogates === null
        ? []
        : [
            `if (text.includes('\\\\ud')) {`,
            `const path = ${surrogates}(value, '')`,
            `if (path !== null) throw withEncodePath(new RangeError(LONE_SURROGATE_REASON), path)`,
            '}',
          ]
    return this.named(this.sinkEncoders, this.keyOf(type), 'encodeSink', (name) =>
      [
        `function ${name}(value: ${tsType(type, this.typeName)}): string {`,
        encode,
        ...refuse,
        'return text',
        '}',
      ].join('\n'),
    )
  }

  /**
   * The name of `surrogatesN(value, path)`: the path of the first string or map key in `value`
   * that holds a lone surrogate (`s`, `tags[1]`, `m["\ud83d"]`), or null; null itself when the
   * type has no string.
   */
  private surrogateWalker(type: Type): string | null {
    return this.firstFoundWalkerOfDeep(this.surrogates, type)
  }

  /**
   * The name of `unwritableN(value, path)`: the path of the first value in `value` that the
   * encoder refuses (a non-finite f64 that may not be null, an i64 or duration out of range, a
   * timestamp outside a Date's range), or null; null itself when the type has no such value.
   */
  unwritableWalker(type: Type): string | null {
    return this.firstFoundWalkerOfDeep(this.unwritable, type)
  }

  /**
   * firstFoundWalker for a type however deep: the inner types the family walks into first, so
   * the walk of `type` finds them done and never recurses deep (issue 17, defect 2).
   */
  private firstFoundWalkerOfDeep(family: FirstFoundWalkers, type: Type): string | null {
    bottomUp(
      type,
      (t) => (family.leaf(t) === undefined ? typesInside(t) : []),
      (t) => family.names.has(this.keyOf(t)),
      (t) => this.firstFoundWalker(family, t),
    )
    return this.firstFoundWalker(family, type)
  }

  /**
   * The name of a function `(value, path)` that returns the path of the first value in `value`
   * (in the order the encoder writes it) that `family` looks for, or null; null itself when the
   * type holds nothing the family looks for.
   */
  private firstFoundWalker(family: FirstFoundWalkers, type: Type): string | null {
    const id = this.keyOf(type)
    if (family.names.has(id)) return family.names.get(id)!
    family.names.set(id, null) // types are not recursive; this only guards the lookup
    const body = this.firstFoundBody(family, type)
    if (body === null) return null
    const name = `${family.prefix}${family.count++}`
    family.names.set(id, name)
    this.bodies.push(`function ${name}(value: any, path: string): string | null {\n${body}\n}`)
    return name
  }

  private firstFoundBody(family: FirstFoundWalkers, type: Type): string | null {
    const leaf = family.leaf(type)
    if (leaf !== undefined) return leaf
    switch (type.kind) {
      case 'optional': {
        const inner = this.firstFoundWalker(family, type.of)
        return inner === null ? null : `return value === null ? null : ${inner}(value, path)`
      }
      case 'list': {
        const inner = this.firstFoundWalker(family, type.of)
        return inner === null
          ? null
          : `for (let i = 0; i < value.length; i++) {\nconst found = ${inner}(value[i], path + '[' + i + ']')\nif (found !== null) return found\n}\nreturn null`
      }
      case 'map': {
        const inner = this.firstFoundWalker(family, type.of)
        if (!family.keys) {
          return inner === null
            ? null
            : `for (const key of Object.keys(value).sort()) {\nconst found = ${inner}(value[key], path + '[' + JSON.stringify(key) + ']')\nif (found !== null) return found\n}\nreturn null`
        }
        // In the order the encoder writes the entries; a key is checked before its value.
        return [
          'for (const key of Object.keys(value).sort()) {',
          `const at = path + '[' + JSON.stringify(key) + ']'`,
          'if (!wellFormed(key)) return at',
          ...(inner === null
            ? []
            : [`const found = ${inner}(value[key], at)`, 'if (found !== null) return found']),
          '}',
          'return null',
        ].join('\n')
      }
      case 'record': {
        const parts = type.fields.flatMap((f) => {
          const inner = this.firstFoundWalker(family, f.type)
          if (inner === null) return []
          const fieldPath = `path === '' ? ${JSON.stringify(f.name)} : path + ${JSON.stringify(`.${f.name}`)}`
          return [
            `found = ${inner}(${propertyAccess('value', f.name)}, ${fieldPath})`,
            'if (found !== null) return found',
          ]
        })
        return parts.length === 0 ? null : ['let found: string | null', ...parts, 'return null'].join('\n')
      }
      default:
        return null
    }
  }

  /** The functions requested so far, in a stable order. */
  code(): string {
    return this.bodies.join('\n\n')
  }

  /**
   * The name in `names` of the function for `id`; the first time, a new one (`prefix` and a
   * number) whose text `emit` writes. The name is taken before `emit` runs, so a function that
   * refers to itself finds it; what `emit` requests on the way is emitted before it.
   */
  private named(
    names: Map<string, string>,
    id: string,
    prefix: string,
    emit: (name: string) => string,
  ): string {
    const existing = names.get(id)
    if (existing) return existing
    const name = `${prefix}${names.size}`
    names.set(id, name)
    if (this.emitting >= MAX_EMIT_NESTING) {
      // Deep records (a chain of hundreds of schemas) would nest one emit per level: the body is
      // written later, from the outermost emit, in the slot it would have had (issue 17, defect 2).
      const slot = this.bodies.push('') - 1
      this.deferred.push(() => {
        this.bodies[slot] = emit(name)
      })
      return name
    }
    this.emitting++
    try {
      this.bodies.push(emit(name))
      // Only the outermost emit runs what was deferred: each runs at most MAX_EMIT_NESTING deep.
      if (this.emitting === 1) for (let next = this.deferred.pop(); next; next = this.deferred.pop()) next()
    } finally {
      this.emitting--
      if (this.emitting === 0) this.deferred.length = 0
    }
    return name
  }

  // -------------------------------------------------------------------------------------------
  // The success path: checks without messages

  /** `fastN(value: unknown): T | undefined`: the value materialised, or undefined when rejected. */
  private fast(type: Type): string {
    return this.named(this.fasts, this.keyOf(type), 'fast', (name) => {
      const fail = 'return undefined'
      const body =
        type.kind === 'record'
          ? this.recordReader(type, null, fail)
          : type.kind === 'list'
            ? [...this.listCheck(type.of, true, fail), 'return out'].join('\n')
            : type.kind === 'map'
              ? [...this.mapCheck(type.of, true, fail), 'return out'].join('\n')
              : [...this.check(type, 'value', 'out', fail), 'return out'].join('\n')
      return `function ${name}(value: unknown): ${tsType(type, this.typeName)} | undefined {\n${body}\n}`
    })
  }

  /** `validN(value: unknown): boolean`: whether the value decodes, building nothing. */
  private valid(type: Type): string {
    return this.named(this.valids, this.keyOf(type), 'valid', (name) => {
      const fail = 'return false'
      const lines =
        type.kind === 'record'
          ? [
              ...objectCheck(fail),
              ...type.fields.flatMap((f, i) => [
                `const f${i} = ${ownField('object', f.name)}`,
                ...this.check(f.type, `f${i}`, null, fail),
              ]),
            ]
          : type.kind === 'list'
            ? this.listCheck(type.of, false, fail)
            : type.kind === 'map'
              ? this.mapCheck(type.of, false, fail)
              : this.check(type, 'value', null, fail)
      return `function ${name}(value: unknown): boolean {\n${[...lines, 'return true'].join('\n')}\n}`
    })
  }

  /**
   * Statements that check `source` (a local name) against `type` and run `fail` when it does not
   * decode; with a `target`, they also declare `const target` holding the decoded value.
   * Scalars are checked inline; lists and records (and optionals of them) call a function.
   */
  private check(type: Type, source: string, target: string | null, fail: string): string[] {
    const guard = (condition: string) => `if (${condition}) ${fail}`
    const assign = (expression: string) => (target === null ? [] : [`const ${target} = ${expression}`])
    const absent = `(${source} === null || ${source} === undefined)`
    switch (type.kind) {
      case 'string':
        return [guard(`typeof ${source} !== 'string' || !wellFormed(${source})`), ...assign(source)]
      case 'bool':
        return [guard(`typeof ${source} !== 'boolean'`), ...assign(source)]
      case 'f64':
        return [guard(`!Number.isFinite(${source})`), ...assign(`${source} as number`)]
      case 'i64':
      case 'duration':
        return [guard(`!Number.isSafeInteger(${source})`), ...assign(`${source} as number`)]
      case 'timestamp':
        return target === null
          ? [guard(`Number.isNaN(timestampOrNaN(${source}))`)]
          : [`const ${target} = timestampOrNaN(${source})`, guard(`${target} !== ${target}`)]
      case 'null':
        return [guard(`!${absent}`), ...assign('null')]
      case 'optional': {
        const inner = type.of
        if (inner.kind === 'string' || inner.kind === 'bool') {
          const wrong =
            inner.kind === 'string'
              ? `(typeof ${source} !== 'string' || !wellFormed(${source}))`
              : `typeof ${source} !== 'boolean'`
          return [guard(`!${absent} && ${wrong}`), ...assign(`${source} ?? null`)]
        }
        if (inner.kind === 'f64') {
          return [
            guard(`!${absent} && !Number.isFinite(${source})`),
            ...assign(`(${source} ?? null) as number | null`),
          ]
        }
        if (target === null) return [guard(`!${absent} && !${this.valid(inner)}(${source})`)]
        // null and undefined decode to null; anything else as the inner type (undefined: rejected).
        return [
          `const ${target} = ${absent} ? null : ${this.fast(inner)}(${source})`,
          guard(`${target} === undefined`),
        ]
      }
      case 'list':
      case 'map':
      case 'record':
        if (target === null) return [guard(`!${this.valid(type)}(${source})`)]
        return [`const ${target} = ${this.fast(type)}(${source})`, guard(`${target} === undefined`)]
    }
  }

  /** Checks `value` is a list of `item`; with `materialise`, declares `const out`, the decoded list. */
  private listCheck(item: Type, materialise: boolean, fail: string): string[] {
    const lines = [`if (!Array.isArray(value)) ${fail}`]
    const type = tsType({ kind: 'list', of: item }, this.typeName)
    if (!materialise || IDENTITY_ITEMS.has(item.kind)) {
      // Items that decode to themselves are checked and the parsed array kept: no copy.
      lines.push(
        'for (let i = 0; i < value.length; i++) {',
        'const item: unknown = value[i]',
        ...this.check(item, 'item', null, fail),
        '}',
      )
      if (materialise) lines.push(`const out = value as ${type}`)
      return lines
    }
    lines.push(
      `const out: ${type} = new Array(value.length)`,
      'for (let i = 0; i < value.length; i++) {',
      'const item: unknown = value[i]',
      ...this.check(item, 'item', 'decoded', fail),
      'out[i] = decoded',
      '}',
    )
    return lines
  }

  /**
   * Checks `value` is a JSON object whose values are `item`s; with `materialise`, declares
   * `const out`, the decoded map: an object without a prototype, so every key (`__proto__`,
   * `constructor`) is an ordinary own property and nothing is inherited.
   */
  private mapCheck(item: Type, materialise: boolean, fail: string): string[] {
    const type = tsType({ kind: 'map', of: item }, this.typeName)
    return [
      ...objectCheck(fail),
      ...(materialise ? [`const out = Object.create(null) as ${type}`] : []),
      'for (const key of Object.keys(object)) {',
      `if (!wellFormed(key)) ${fail}`,
      'const item: unknown = object[key]',
      ...this.check(item, 'item', materialise ? 'decoded' : null, fail),
      ...(materialise ? ['out[key] = decoded'] : []),
      '}',
    ]
  }

  /** Checks an object's fields in schema order and returns the fields in `selected` (null: all). */
  private recordReader(type: RecordType, selected: ReadonlySet<string> | null, fail: string): string {
    const lines = objectCheck(fail)
    const kept: string[] = []
    type.fields.forEach((f, i) => {
      const keep = selected === null || selected.has(f.name)
      lines.push(`const f${i} = ${ownField('object', f.name)}`)
      lines.push(...this.check(f.type, `f${i}`, keep ? `v${i}` : null, fail))
      if (keep) kept.push(`${propertyKey(f.name)}: v${i}`)
    })
    const row = `{ ${kept.join(', ')} }`
    const complete = kept.length === type.fields.length
    // A partial row keeps the schema's type: the pipeline reads only the fields it holds.
    lines.push(complete ? `return ${row}` : `return ${row} as ${tsType(type, this.typeName)}`)
    return lines.join('\n')
  }

  // -------------------------------------------------------------------------------------------
  // The error path: the same checks, with the field path in the message

  private decodeBody(type: Type): string {
    switch (type.kind) {
      case 'string':
        return [
          `if (typeof value !== 'string') throw new DecodeFailure(path, 'a string', value)`,
          `if (!wellFormed(value)) throw new DecodeFailure(path, ${JSON.stringify(WHOLE_CHARACTERS)}, value)`,
          'return value',
        ].join('\n')
      case 'bool':
        return `if (typeof value !== 'boolean') throw new DecodeFailure(path, 'a boolean', value)\nreturn value`
      case 'i64':
        return `if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new DecodeFailure(path, 'an integer within ±(2^53-1)', value)\nreturn value`
      case 'f64':
        // JSON.parse reads 1e400 as Infinity: not a number an f64 field can hold and write back.
        return `if (typeof value !== 'number' || !Number.isFinite(value)) throw new DecodeFailure(path, 'a finite number', value)\nreturn value`
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
      case 'map': {
        const item = this.decoder(type.of)
        return [
          `if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DecodeFailure(path, 'an object (a map)', value)`,
          'const object = value as Record<string, unknown>',
          `const out = Object.create(null) as ${tsType(type, this.typeName)}`,
          'for (const key of Object.keys(object)) {',
          `if (!wellFormed(key)) throw new DecodeFailure(path + '[' + JSON.stringify(key) + ']', ${JSON.stringify(WHOLE_CHARACTERS_KEY)}, key)`,
          `out[key] = ${item}(object[key], path + '[' + JSON.stringify(key) + ']')`,
          '}',
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
      return `    ${propertyKey(f.name)}: ${decode}(${ownField('object', f.name)}, path === '' ? ${JSON.stringify(f.name)} : path + ${JSON.stringify(`.${f.name}`)}),`
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
      case 'map': {
        // Keys in ascending order of UTF-16 code units (specs/language.md, map<string, T>).
        return [
          'const keys = Object.keys(value).sort()',
          `let out = '{'`,
          'for (let i = 0; i < keys.length; i++) {',
          'const key = keys[i]!',
          'const item = value[key]',
          `out += (i === 0 ? '' : ',') + JSON.stringify(key) + ':' + ${this.encodeValue(type.of, 'item')}`,
          '}',
          `return out + '}'`,
        ].join('\n')
      }
      case 'list': {
        return [
          `let out = '['`,
          'for (let i = 0; i < value.length; i++) {',
          'const item = value[i]!',
          `out += (i === 0 ? '' : ',') + ${this.encodeValue(type.of, 'item')}`,
          '}',
          `return out + ']'`,
        ].join('\n')
      }
      case 'record': {
        if (type.fields.length === 0) return `return '{}'`
        // A name like `1` would come first in the object, so such records are concatenated in order.
        if (
          type.fields.every((f) => stringifies(unwrapIntegers(f.type), true) && !isArrayIndexName(f.name))
        ) {
          // JSON.stringify writes these records exactly as the concatenation would (the rows
          // are built with the schema's fields in order), and a flat string, which Buffer.from
          // copies faster than the concatenation's rope. Integers only need their range check,
          // and a non-optional f64 its finiteness (stringify would write NaN as null).
          const guards = type.fields.flatMap((f) => {
            const field = propertyAccess('value', f.name)
            if (unwrapIntegers(f.type) !== f.type) {
              return isOptionalType(f.type)
                ? [`if (${field} !== null) integerText(${field})`]
                : [`integerText(${field})`]
            }
            return f.type.kind === 'f64' ? [`finiteText(${field})`] : []
          })
          return [...guards, 'return JSON.stringify(value)'].join('\n')
        }
        const parts = type.fields.map((f, i) => {
          const key = JSON.stringify(`${i === 0 ? '{' : ','}${JSON.stringify(f.name)}:`)
          return `${key} + ${this.encodeValue(f.type, propertyAccess('value', f.name))}`
        })
        return `return ${parts.join(' +\n    ')} + '}'`
      }
      default:
        return `return ${this.encodeValue(type, 'value')}`
    }
  }

  /**
   * A JS expression: the JSON text of `value` (a property read or a local, so reading it twice
   * costs nothing). Scalars inline; lists and records call their encoder.
   */
  private encodeValue(type: Type, value: string): string {
    switch (type.kind) {
      case 'string':
        return `JSON.stringify(${value})`
      case 'bool':
        return `(${value} ? 'true' : 'false')`
      case 'i64':
      case 'duration':
        // Evaluation keeps integers safe; this guards the output against anything that got past it.
        return `integerText(${value})`
      case 'f64':
        // JSON has no NaN or Infinity: a field that may not be null cannot carry them.
        return `finiteText(${value})`
      case 'timestamp':
        return `'"' + isoTimestamp(${value}) + '"'`
      case 'null':
        return `'null'`
      case 'optional':
        // An optional f64 that is NaN or ±Infinity is written as null (language.md, section 9).
        if (type.of.kind === 'f64')
          return `(${value} === null || !Number.isFinite(${value}) ? 'null' : '' + ${value})`
        return `(${value} === null ? 'null' : ${this.encodeValue(type.of, value)})`
      case 'list':
      case 'map':
      case 'record':
        return `${this.encoder(type)}(${value})`
    }
  }
}

/**
 * Whether JSON.stringify writes a value of this type as the encoder does (no timestamps, no
 * integers to check; f64 only as a record's own field, where a guard checks it: in a list or a
 * nested record stringify would write a non-finite number as null unchecked).
 */
function stringifies(type: Type, topLevelField = false): boolean {
  if (topLevelField && (type.kind === 'f64' || (type.kind === 'optional' && type.of.kind === 'f64')))
    return true
  // Inner types first, so that a record nested hundreds of levels deep takes no stack (issue 17).
  bottomUp(
    type,
    typesInside,
    (t) => stringifiesInside.has(t),
    (t) => stringifiesInside.set(t, stringifiesOnce(t)),
  )
  return stringifiesInside.get(type)!
}

/** stringifies(type) below a record's own fields, once computed. */
const stringifiesInside = new WeakMap<Type, boolean>()

/** stringifies(type) below a record's own fields, of a type whose inner types are known. */
function stringifiesOnce(type: Type): boolean {
  const inner = (t: Type) => stringifiesInside.get(t)!
  switch (type.kind) {
    case 'string':
    case 'bool':
    case 'null':
      return true
    case 'optional':
      // stringify writes an optional f64's NaN as null, which is what the encoder writes too.
      return type.of.kind === 'f64' ? false : inner(type.of)
    case 'list':
      return inner(type.of)
    case 'record':
      return type.fields.every((f) => inner(f.type))
    default:
      return false
  }
}

/** An i64 or duration field (optional or not) as f64: a guard checks its range, stringify writes it. */
function unwrapIntegers(type: Type): Type {
  const inner = type.kind === 'optional' ? type.of : type
  return inner.kind === 'i64' || inner.kind === 'duration' ? { kind: 'f64' } : type
}

function isOptionalType(type: Type): boolean {
  return type.kind === 'optional'
}

/**
 * What a string or map key holding a lone surrogate was expected to be. JSON can escape one
 * (`"a\ud800b"`), JSON.parse reads it, and it would be written back escaped, which strict JSON
 * parsers refuse: such an event is dead-lettered, as invalid UTF-8 is (specs/language.md §9).
 */
export const WHOLE_CHARACTERS = 'a string without lone surrogates'
export const WHOLE_CHARACTERS_KEY = 'a key without lone surrogates'

/** The types a value of `type` holds directly: what a walk of it walks into. */
function typesInside(type: Type): readonly Type[] {
  switch (type.kind) {
    case 'optional':
    case 'list':
    case 'map':
      return [type.of]
    case 'record':
      return type.fields.map((f) => f.type)
    default:
      return []
  }
}

/**
 * Calls `visit` on every type inside `type` (as `inside` leads) that is not `done`, and then on
 * `type`, each after the types inside it and in the order a recursive walk would, but without
 * recursion, so records nested hundreds of levels deep take no stack. `visit` must make `done` true.
 */
function bottomUp(
  type: Type,
  inside: (type: Type) => readonly Type[],
  done: (type: Type) => boolean,
  visit: (type: Type) => void,
): void {
  const pending = [type]
  for (let top = pending.at(-1); top !== undefined; top = pending.at(-1)) {
    if (done(top)) {
      pending.pop()
      continue
    }
    const next = inside(top).filter((t) => !done(t))
    if (next.length > 0) pending.push(...next.reverse())
    else visit(pending.pop()!)
  }
}

/**
 * How many generated functions are emitted one inside another before `named` puts the next ones
 * off: each level is a few frames of this writer, so this keeps its stack short however deep the
 * records nest, and shallower types are emitted exactly as before.
 */
const MAX_EMIT_NESTING = 32

/** List items whose decoded value is the parsed value itself. */
const IDENTITY_ITEMS: ReadonlySet<Type['kind']> = new Set(['string', 'bool', 'i64', 'f64', 'duration'])

function objectCheck(fail: string): string[] {
  return [
    `if (typeof value !== 'object' || value === null || Array.isArray(value)) ${fail}`,
    'const object = value as Record<string, unknown>',
  ]
}

/**
 * Reads a field of a parsed JSON object. A field named like a member of Object.prototype
 * (`constructor`, `toString`, …) must be an own property, or an absent field would read the
 * inherited function; other names need no check, and the fast path stays a plain property load.
 */
function ownField(object: string, name: string): string {
  return name in Object.prototype
    ? `(Object.hasOwn(${object}, ${JSON.stringify(name)}) ? ${object}[${JSON.stringify(name)}] : undefined)`
    : propertyAccess(object, name)
}

/** Helpers the codecs call; emitted once per generated module. */
export const CODEC_HELPERS = `
  class DecodeFailure extends Error {
    constructor(
      readonly path: string,
      readonly expected: string,
      readonly actual: unknown,
      /** A number as the event wrote it, when JSON.parse rounded it (withNumberAsWritten). */
      readonly written?: string,
    ) {
      super(\`\${path || 'event'}: expected \${expected}, got \${written === undefined ? describe(actual) : 'number ' + cut(written)}\`)
    }
  }
  function cut(text: string): string {
    return text.length > 40 ? text.slice(0, 40) + '…' : text
  }
  /**
   * A failure on a number with the number as the event wrote it: JSON.parse rounds 9007199254740993
   * to 9007199254740992 and 1e400 to Infinity, and a reason quoting those would not be the event's
   * value (issue 17, defect 21). Runs on the failure path only, once.
   */
  function withNumberAsWritten(error: unknown, text: string): unknown {
    if (!(error instanceof DecodeFailure) || typeof error.actual !== 'number' || error.written !== undefined) return error
    const written = numberTextAt(text, error.path)
    return written === undefined ? error : new DecodeFailure(error.path, error.expected, error.actual, written)
  }
  /** The text of the number at a failure's path (\`a.b[2]\`, '' the whole value) in valid JSON text. */
  function numberTextAt(text: string, path: string): string | undefined {
    let i = 0
    const space = () => {
      while (i < text.length && (text[i] === ' ' || text[i] === '\\t' || text[i] === '\\n' || text[i] === '\\r')) i++
    }
    const skipString = () => {
      i++
      while (i < text.length && text[i] !== '"') i += text[i] === '\\\\' ? 2 : 1
      i++
    }
    // Iterative: the value skipped may be nested deeper than the stack would allow.
    const skipValue = () => {
      let depth = 0
      while (i < text.length) {
        space()
        const c = text[i]
        if (c === '{' || c === '[') depth++
        else if (c === '}' || c === ']') depth--
        if (c === '"') skipString()
        else if (c === '{' || c === '[' || c === '}' || c === ']' || c === ',' || c === ':') i++
        else while (i < text.length && !',:{}[] \\t\\n\\r'.includes(text[i]!)) i++
        if (depth === 0 && c !== ',' && c !== ':') return
      }
    }
    // The path's steps: \`.name\` (or a name first) and \`[index]\`. No regular expression: the
    // module's indentation (indent.ts) counts brackets.
    for (let p = 0; p < path.length; ) {
      space()
      if (path[p] === '[' && path[p + 1] !== '"') {
        const close = path.indexOf(']', p)
        if (text[i] !== '[' || close < 0) return undefined
        i++
        for (let k = Number(path.slice(p + 1, close)); k > 0; k--) {
          skipValue()
          space()
          if (text[i] !== ',') return undefined
          i++
        }
        p = close + 1
      } else {
        let name: string
        if (path[p] === '[') {
          // A map key, \`["k"]\`: the JSON string up to its closing quote, then \`]\`.
          let end = p + 2
          while (end < path.length && path[end] !== '"') end += path[end] === '\\\\' ? 2 : 1
          name = JSON.parse(path.slice(p + 1, end + 1)) as string
          p = end + 2
        } else {
          if (path[p] === '.') p++
          let end = p
          while (end < path.length && path[end] !== '.' && path[end] !== '[') end++
          name = path.slice(p, end)
          p = end
        }
        if (text[i] !== '{') return undefined
        i++
        let found = -1
        for (space(); text[i] === '"'; space()) {
          const start = i
          skipString()
          const key: unknown = JSON.parse(text.slice(start, i))
          space()
          i++
          space()
          // The last of duplicate keys, as JSON.parse keeps.
          if (key === name) found = i
          skipValue()
          space()
          if (text[i] === ',') i++
        }
        if (found < 0) return undefined
        i = found
      }
    }
    space()
    const start = i
    while (i < text.length && '+-.0123456789eE'.includes(text[i]!)) i++
    return i > start ? text.slice(start, i) : undefined
  }
  /**
   * Whether JSON text may hold a number JSON.parse rounded to an integer: one of more than 15
   * significant digits with a fraction or an exponent (a shorter one, or an integer written as
   * one, parses exactly or to a number no i64 accepts), or one with an exponent of -100 or less,
   * which may underflow to 0 (\`1e-400\`). A cheap test over the whole text.
   */
  function mayHideRounding(text: string): boolean {
    let run = 0
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if ((c >= 48 && c <= 57) || (c === 46 && run > 0)) {
        if (++run > 16) return true
      } else {
        run = 0
        if (c === 45 && i > 0 && (text.charCodeAt(i - 1) | 32) === 101 && digitAt(text, i + 1) && digitAt(text, i + 2) && digitAt(text, i + 3)) return true
      }
    }
    return false
  }
  function digitAt(text: string, i: number): boolean {
    const c = text.charCodeAt(i)
    return c >= 48 && c <= 57
  }
  /** Whether a JSON number's text denotes an integer exactly (\`100.0\` and \`1e2\` do, \`1.5\` does not). */
  function writtenAsInteger(written: string): boolean {
    let i = written[0] === '-' ? 1 : 0
    let digits = ''
    let fraction = 0
    for (; i < written.length && written[i] !== 'e' && written[i] !== 'E'; i++) {
      if (written[i] === '.') fraction = -1
      else {
        digits += written[i]
        if (fraction < 0 || fraction > 0) fraction = fraction < 0 ? 1 : fraction + 1
      }
    }
    const exponent = (i < written.length ? Number(written.slice(i + 1)) : 0) - Math.max(fraction, 0)
    if (exponent >= 0) return true
    for (let k = Math.max(0, digits.length + exponent); k < digits.length; k++) if (digits[k] !== '0') return false
    return true
  }
  /** Refuses an event whose i64 field (at a path \`walk\` gives) was written as a non-integer JSON.parse rounded. */
  function checkWrittenIntegers(text: string, value: unknown, walk: (value: unknown, path: string, out: string[]) => void): void {
    const paths: string[] = []
    walk(value, '', paths)
    for (const path of paths) {
      const written = numberTextAt(text, path)
      if (written !== undefined && !writtenAsInteger(written))
        throw new DecodeFailure(path, 'an integer within ±(2^53-1), written exactly', undefined, written)
    }
  }
  /** Whether a string has no lone surrogate (String.prototype.isWellFormed, ES2024: typed here). */
  function wellFormed(text: string): boolean {
    return (text as unknown as { isWellFormed(): boolean }).isWellFormed()
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
  /** The timestamp a value decodes to, or NaN (never a timestamp) when it does not decode. */
  function timestampOrNaN(value: unknown): number {
    if (typeof value === 'number') {
      return Number.isSafeInteger(value) && Math.abs(value) <= MAX_TIMESTAMP_MS ? value : Number.NaN
    }
    if (typeof value === 'string') {
      const ms = parseTimestamp(value)
      return ms !== null && Math.abs(ms) <= MAX_TIMESTAMP_MS ? ms : Number.NaN
    }
    return Number.NaN
  }
  function decodeTimestamp(value: unknown, path: string): number {
    const ms = timestampOrNaN(value)
    if (ms === ms) return ms
    throw new DecodeFailure(path, 'a timestamp (epoch milliseconds or ISO-8601 with a zone)', value)
  }
  function finiteText(value: number): string {
    if (!Number.isFinite(value)) throw new RangeError(\`\${value} is not a finite number: JSON has no NaN or Infinity; make the field optional (f64?) to write null\`)
    return '' + value
  }
  const LONE_SURROGATE_REASON = ${JSON.stringify(LONE_SURROGATE_REASON)}
  /** A sink encoder's refusal, its reason naming the field (CodecWriter.sinkEncoder). */
  function withEncodePath(error: unknown, path: string | null): unknown {
    if (path === null || path === '' || !(error instanceof RangeError)) return error
    return new RangeError(path + ': ' + error.message)
  }
  function integerText(value: number): string {
    if (!Number.isSafeInteger(value)) throw new RangeError(\`\${value} is not an integer within ±(2^53-1)\`)
    return '' + value
  }
${ISO_TIMESTAMP}`
