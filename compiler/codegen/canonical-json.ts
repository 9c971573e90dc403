/**
 * A generated check that a record's JSON bytes are already what the sink's encoder would write for
 * them, so that a source that flows into a sink unchanged (Nexmark q0: `sink bids -> …`) can write
 * the record's bytes as they are instead of decoding and encoding them (issue 13, q0 at 450k
 * events/s per core). The check is a validating byte scanner, not a decoder: nothing is allocated.
 *
 * "Canonical" is what the encoder (codecs.ts, `encodeBody`) writes for a row of the schema: one
 * object, no whitespace, every field in schema order under its `JSON.stringify`d name, and
 * - i64: `0`, or an optional `-` and 1 to 15 digits not starting with 0 (`'' + value`; 16-digit
 *   integers are canonical too but need a range check, so they take the ordinary path),
 * - timestamp: `"YYYY-MM-DDThh:mm:ss.sssZ"` naming a real instant (what `isoTimestamp` writes for
 *   years 0000 to 9999),
 * - string: no escape and no control character (`JSON.stringify` of valid UTF-8 text writes such a
 *   string byte for byte; the runner checks UTF-8 validity before, for every record),
 * - bool: `true` / `false`; an optional one of these: `null` or the value.
 * Bytes in that form decode without failure and encode back to themselves, so writing them as they
 * are gives byte-identical output; anything else (other whitespace, order, number forms, escapes,
 * missing or extra fields, malformed JSON) returns NaN and takes the ordinary decode → encode path,
 * which also dead-letters what does not decode, with its reason.
 *
 * The function returns the event time (the `@event_time` field's milliseconds) when the bytes are
 * canonical, 0 when the schema has no event-time field, and NaN when they are not canonical.
 * Schemas it covers: 1 to 64 fields of those types; f64 (whose text has many forms), lists, maps
 * and nested records get no check, and their sources decode and encode as before.
 */
import type { Pipeline, RecordType, SinkNode, SourceNode, Type } from '../ir/types.ts'

const MAX_FIELDS = 64

type Scalar = 'string' | 'bool' | 'i64' | 'timestamp'

function scalarOf(type: Type): { readonly kind: Scalar; readonly optional: boolean } | null {
  const optional = type.kind === 'optional'
  const inner = type.kind === 'optional' ? type.of : type
  switch (inner.kind) {
    case 'string':
    case 'bool':
    case 'i64':
    case 'timestamp':
      return { kind: inner.kind, optional }
    default:
      return null
  }
}

/** Whether `canonicalCheckFunction` covers records of `type` with this event-time field. */
export function canCheckCanonical(type: RecordType, eventTimeField: string | null): boolean {
  if (type.fields.length === 0 || type.fields.length > MAX_FIELDS) return false
  if (!type.fields.every((f) => scalarOf(f.type) !== null)) return false
  if (eventTimeField === null) return true
  // The event time must be a required timestamp: the check returns its milliseconds.
  const field = type.fields.find((f) => f.name === eventTimeField)
  return field !== undefined && field.type.kind === 'timestamp'
}

/** The UTF-8 bytes of `text` as a JS array literal. */
function byteLiteral(text: string): string {
  return `[${[...Buffer.from(text, 'utf8')].join(', ')}]`
}

/**
 * `function name(bytes: JsonBytes): number` for a record type `canCheckCanonical` accepts; the
 * constants it compares against go to `constants` (module-level lines).
 */
export function canonicalCheckFunction(
  name: string,
  type: RecordType,
  eventTimeField: string | null,
  constants: string[],
): string {
  const lines = [`function ${name}(bytes: JsonBytes): number {`, 'let i = 0', 'let time = 0']
  type.fields.forEach((field, index) => {
    const scalar = scalarOf(field.type)
    if (scalar === null) throw new Error(`codegen: field ${field.name} has no canonical check`)
    const prefix = `${name}Key${index}`
    // The field's key as the encoder writes it, with the `{` or `,` before it and the `:` after.
    constants.push(
      `const ${prefix} = ${byteLiteral(`${index === 0 ? '{' : ','}${JSON.stringify(field.name)}:`)}`,
    )
    lines.push(`if (!literalAt(bytes, i, ${prefix})) return Number.NaN`, `i += ${prefix}.length`)
    const value: string[] = []
    switch (scalar.kind) {
      case 'i64':
        value.push('i = canonicalInteger(bytes, i)', 'if (i < 0) return Number.NaN')
        break
      case 'string':
        value.push('i = canonicalString(bytes, i)', 'if (i < 0) return Number.NaN')
        break
      case 'bool':
        value.push('if (scanBoolean(bytes, i) < 0) return Number.NaN', 'i = scanEnd')
        break
      case 'timestamp': {
        // scanIsoTimestamp checks the 24 characters and the closing quote: 26 bytes in all.
        value.push(
          'if (bytes[i] !== 34) return Number.NaN',
          `const ms${index} = scanIsoTimestamp(bytes, i + 1)`,
          `if (ms${index} !== ms${index}) return Number.NaN`,
          'i += 26',
        )
        if (field.name === eventTimeField) value.push(`time = ms${index}`)
        break
      }
    }
    if (scalar.optional) {
      lines.push('if (isNull(bytes, i)) i += 4', 'else {', ...value, '}')
    } else lines.push(...value)
  })
  lines.push('if (i !== bytes.length - 1 || bytes[i] !== 125) return Number.NaN', 'return time', '}')
  return lines.join('\n')
}

/** The helpers of the canonical checks (they also use scanIsoTimestamp, scanBoolean, isNull). */
export const CANONICAL_HELPERS = `
  /** Whether the bytes at i are those of literal. */
  function literalAt(bytes: JsonBytes, i: number, literal: readonly number[]): boolean {
    if (i + literal.length > bytes.length) return false
    for (let k = 0; k < literal.length; k++) if (bytes[i + k] !== literal[k]) return false
    return true
  }
  /** One past an integer at i written as '' + value writes it (at most 15 digits), or -1. */
  function canonicalInteger(bytes: JsonBytes, i: number): number {
    const negative = bytes[i] === 45
    const start = negative ? i + 1 : i
    let c = bytes[start]
    if (c === 48) return negative ? -1 : start + 1
    let k = start
    while (c !== undefined && c >= 48 && c <= 57) c = bytes[++k]
    return k === start || k - start > 15 ? -1 : k
  }
  /** One past a string at i (its opening quote) with no escape or control character, or -1. */
  function canonicalString(bytes: JsonBytes, i: number): number {
    if (bytes[i] !== 34) return -1
    const end = bytes.length
    for (let k = i + 1; k < end; k++) {
      const c = bytes[k]!
      if (c === 34) return k + 1
      if (c === 92 || c < 32) return -1
    }
    return -1
  }
`

/**
 * For a source that a sink without `headers { … }` reads directly (and whose schema the check
 * covers): pushes its check into `code` and returns the source entry's member
 * `, passThrough: <name>`; else ''. Other sources' generated code stays as it was.
 */
export function passThroughCheck(pipeline: Pipeline, source: SourceNode, code: string[]): string {
  const direct = pipeline.nodes.some(
    (n): n is SinkNode => n.kind === 'Sink' && n.input === source.id && n.headers === undefined,
  )
  if (!direct || !canCheckCanonical(source.schema, source.eventTimeField)) return ''
  const name = `passThrough${code.length}`
  const constants: string[] = []
  const check = canonicalCheckFunction(name, source.schema, source.eventTimeField, constants)
  code.push([...constants, check].join('\n'))
  return `, passThrough: ${name}`
}
