/**
 * The functions a `.pipe` expression can call. The compiler reads `signature` and
 * `nullPropagating` to type calls; generated code and the reference interpreter call
 * `stdlib[name].impl(...args)` after the null check. Everything here is pure (no I/O, no clock,
 * no randomness) except `now()` and `uuid()`, which read the clock and random source of
 * environment.ts (which tests replace) and are marked `nondeterministic`; nothing imports
 * compiler/ or runtime/.
 *
 * Values at run time: string → JS string, bool → boolean, i64 / f64 → number (i64 always a safe
 * integer), timestamp → epoch milliseconds (UTC), duration → milliseconds, list → array,
 * record → plain object, null → null. Errors are `EvaluationError`s: the runtime sends that event to
 * the dead-letter topic.
 */
import { EvaluationError } from './eval-error.ts'
import { type JsonDecode, type JsonEncode, parseJson, toJson } from './json-functions.ts'
import { distinct, flatten, flattenSignature, scalarListSignature, sort } from './lists.ts'
import { MAP_FUNCTIONS } from './maps.ts'
import { patternFunctions } from './patterns.ts'
import { recordMetadataEntries } from './record-metadata.ts'
import {
  base64Decode,
  base64Encode,
  hash,
  indexOf,
  invalidUuid,
  lpad,
  parseBool,
  rpad,
  sha256,
  urlDecode,
  urlEncode,
  uuid,
  uuidV5,
} from './text-functions.ts'
import { civilFromDays, floorDiv, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, parseIsoTimestamp } from './time.ts'
import {
  dateTrunc,
  formatTime,
  fromEpochMicros,
  fromEpochMillis,
  fromEpochSeconds,
  localTime,
  now,
  parseTime,
  TRUNC_UNITS,
  toEpochMicros,
  toEpochSeconds,
} from './time-functions.ts'
import { compilePattern } from './time-patterns.ts'
import { invalidTimeZone } from './time-zones.ts'
import {
  type ArgInfo,
  isNumeric,
  isScalar,
  type LibType,
  type SignatureResult,
  showType,
  t,
  unifyTypes,
} from './types.ts'

export { parseIsoTimestamp } from './time.ts'
export type { ArgInfo, LibType, SignatureResult } from './types.ts'

export interface StdlibFunction {
  readonly name: string
  /** One sentence for the language reference (specs/language.md is generated from it). */
  readonly doc: string
  /** How a call reads, with parameter names and types, e.g. `substr(s: string, start: i64, len: i64) → string`. */
  readonly usage: string
  /**
   * Types a call from its arguments. For a null-propagating function the checker passes the
   * arguments' types with `?` removed and makes the result optional itself when any argument was
   * optional, so a signature only describes non-null values.
   */
  readonly signature: (args: readonly ArgInfo[]) => SignatureResult
  /** When true, callers return null without calling impl if any argument is null. */
  readonly nullPropagating: boolean
  /**
   * True when impl can throw an `EvaluationError` for some arguments (the optimiser may not move
   * such a call past an operator or ahead of a check that guards it). Entries leave it out when false.
   */
  readonly mayFail: boolean
  /**
   * The impl takes one more argument after the call's own, a codec for a type of the call
   * (json-functions.ts): `decode-result` a decoder of parsed JSON into the call's result type,
   * `encode-argument` an encoder of the first argument's type to JSON text. Generated code passes
   * its generated codecs, the interpreter the reference ones.
   */
  readonly codec?: 'decode-result' | 'encode-argument'
  /**
   * Reads the clock or the random source (environment.ts): two calls may differ, so an optimiser
   * must neither merge two calls nor evaluate one at compile time.
   */
  readonly nondeterministic?: true
  readonly impl: (...args: never[]) => unknown
  /**
   * An argument that is compiled before use (a `like` or regular-expression pattern): when it is a
   * string literal, callers compile it once with `compile` (which throws on an invalid one) and
   * pass impl the result instead of the text (stdlib/patterns.ts).
   */
  readonly literalArg?: { readonly index: number; readonly compile: (literal: string) => unknown }
}

// ---------------------------------------------------------------------------------------------
// Signature building blocks

interface Param {
  readonly name: string
  /** How the expected type reads in a message: `timestamp`, `a number`, `a string or a list`. */
  readonly expected: string
  readonly accepts: (type: LibType) => boolean
}

const p = {
  string: (name: string): Param => ({ name, expected: 'string', accepts: (x) => x.kind === 'string' }),
  i64: (name: string): Param => ({ name, expected: 'i64', accepts: (x) => x.kind === 'i64' }),
  number: (name: string): Param => ({ name, expected: 'i64 or f64', accepts: isNumeric }),
  timestamp: (name: string): Param => ({
    name,
    expected: 'timestamp',
    accepts: (x) => x.kind === 'timestamp',
  }),
  duration: (name: string): Param => ({ name, expected: 'duration', accepts: (x) => x.kind === 'duration' }),
}

function arityMessage(name: string, params: readonly Param[], got: number): SignatureResult {
  const n = params.length
  if (n === 0)
    return {
      ok: false,
      arity: true,
      message: `\`${name}\` takes no arguments, but ${got} ${got === 1 ? 'was' : 'were'} given`,
    }
  return {
    ok: false,
    arity: true,
    message: `\`${name}\` takes ${n} argument${n === 1 ? '' : 's'} (${params.map((q) => q.name).join(', ')}), but ${got} ${got === 1 ? 'was' : 'were'} given`,
  }
}

function argMessage(name: string, index: number, param: Param, found: LibType): SignatureResult {
  return {
    ok: false,
    argIndex: index,
    message: `argument \`${param.name}\` of \`${name}\` must be ${param.expected}, found \`${showType(found)}\``,
  }
}

/** A fixed-arity signature: checks the count, then each argument, then computes the result. */
function fixed(
  name: string,
  params: readonly Param[],
  result: (args: readonly ArgInfo[]) => LibType | SignatureResult,
): (args: readonly ArgInfo[]) => SignatureResult {
  return (args) => {
    if (args.length !== params.length) return arityMessage(name, params, args.length)
    for (let i = 0; i < params.length; i++) {
      const param = params[i]!
      const arg = args[i]!
      if (!param.accepts(arg.type)) return argMessage(name, i, param, arg.type)
    }
    const r = result(args)
    return 'ok' in r ? r : { ok: true, type: r }
  }
}

/**
 * A signature whose last `optional.length` parameters may be left out (`format_time(ts, pattern)`
 * or `format_time(ts, pattern, zone)`); `result` sees the arguments given.
 */
function withOptional(
  name: string,
  required: readonly Param[],
  optional: readonly Param[],
  result: (args: readonly ArgInfo[]) => LibType | SignatureResult,
): (args: readonly ArgInfo[]) => SignatureResult {
  const all = [...required, ...optional]
  return (args) => {
    if (args.length < required.length || args.length > all.length) {
      const counts = `${required.length} to ${all.length}`.replace(
        `${required.length} to ${required.length + 1}`,
        `${required.length} or ${required.length + 1}`,
      )
      return {
        ok: false,
        arity: true,
        message: `\`${name}\` takes ${counts} arguments (${required.map((q) => q.name).join(', ')}[, ${optional.map((q) => q.name).join(', ')}]), but ${args.length} ${args.length === 1 ? 'was' : 'were'} given`,
      }
    }
    for (let i = 0; i < args.length; i++) {
      if (!all[i]!.accepts(args[i]!.type)) return argMessage(name, i, all[i]!, args[i]!.type)
    }
    const r = result(args)
    return 'ok' in r ? r : { ok: true, type: r }
  }
}

/** E0350 when argument `index` is a string literal that names no time zone. */
function checkZoneLiteral(args: readonly ArgInfo[], index: number): SignatureResult | null {
  const zone = args[index]?.literal
  if (typeof zone !== 'string') return null
  const problem = invalidTimeZone(zone)
  return problem === null ? null : { ok: false, argIndex: index, code: 'E0350', message: problem }
}

/** E0351 when argument `index` is a string literal that is not a date-time pattern. */
function checkPatternLiteral(args: readonly ArgInfo[], index: number): SignatureResult | null {
  const pattern = args[index]?.literal
  if (typeof pattern !== 'string') return null
  const compiled = compilePattern(pattern)
  return typeof compiled !== 'string'
    ? null
    : {
        ok: false,
        argIndex: index,
        code: 'E0351',
        message: `${JSON.stringify(pattern)} is not a date-time pattern: ${compiled}`,
      }
}

/** A calendar field of a timestamp, in UTC or in the zone of an optional second argument. */
function calendarField(name: string): (args: readonly ArgInfo[]) => SignatureResult {
  return withOptional(
    name,
    [p.timestamp('ts')],
    [p.string('zone')],
    (args) => checkZoneLiteral(args, 1) ?? t.i64,
  )
}

/** Numbers keep their type (`abs(i64)` is i64) so no float sneaks into integer arithmetic. */
const sameNumber = (args: readonly ArgInfo[]): LibType => args[0]!.type

function numericResult(args: readonly ArgInfo[]): LibType {
  return args.every((a) => a.type.kind === 'i64') ? t.i64 : t.f64
}

// ---------------------------------------------------------------------------------------------
// Implementations that need more than one expression

/**
 * Throws an EvaluationError `fn: <value> <problem>`. The message is built here, out of line: a
 * template literal inside a hot function (to_i64 runs on every event of a chain) stops V8 from
 * inlining it well, and the benchmark measured the chain at half speed with the message inline.
 */
function fail(fn: string, value: unknown, problem: string): never {
  throw new EvaluationError(
    `${fn}: ${typeof value === 'string' ? JSON.stringify(value) : String(value)} ${problem}`,
  )
}

function toI64(value: number): number {
  if (!Number.isFinite(value)) fail('to_i64', value, 'is not a finite number')
  const truncated = Math.trunc(value)
  if (!Number.isSafeInteger(truncated)) fail('to_i64', value, 'is outside the i64 range ±(2^53−1)')
  // `+ 0` turns -0 (from truncating -0.5) into 0, so it prints as 0.
  return truncated + 0
}

const I64_TEXT = /^[+-]?\d+$/
const F64_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

function parseI64(text: string): number | null {
  if (!I64_TEXT.test(text)) return null
  const value = Number(text)
  return Number.isSafeInteger(value) ? value + 0 : null
}

function parseF64(text: string): number | null {
  if (!F64_TEXT.test(text)) return null
  const value = Number(text)
  return Number.isFinite(value) ? value : null
}

function substr(s: string, start: number, len: number): string {
  if (start < 0) fail('substr', start, 'is not a valid start (negative)')
  if (len < 0) fail('substr', len, 'is not a valid length (negative)')
  // A character outside the BMP is two code units; one cut in half at either end is left out, so
  // the result is never half a character (which strict JSON parsers and UTF-8 encoders refuse).
  let from = Math.min(start, s.length)
  let to = Math.min(start + len, s.length)
  if (
    from > 0 &&
    from < s.length &&
    isLowSurrogate(s.charCodeAt(from)) &&
    isHighSurrogate(s.charCodeAt(from - 1))
  )
    from++
  if (to > 0 && to < s.length && isLowSurrogate(s.charCodeAt(to)) && isHighSurrogate(s.charCodeAt(to - 1)))
    to--
  return from >= to ? '' : s.substring(from, to)
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff
}

/** `split` with an empty separator gives characters (code points), never half of one. */
function split(s: string, sep: string): string[] {
  return sep === '' ? Array.from(s) : s.split(sep)
}

function replaceAll(s: string, from: string, to: string): string {
  // A function replacement keeps `$&`-style patterns in `to` literal.
  return from === '' ? s : s.replaceAll(from, () => to)
}

function roundHalfAwayFromZero(value: number): number {
  return value < 0 ? -Math.round(-value) : Math.round(value)
}

function sqrt(value: number): number {
  if (value < 0) fail('sqrt', value, 'is negative')
  return Math.sqrt(value)
}

function msOfDay(ts: number): number {
  const r = ts % MS_PER_DAY
  return r < 0 ? r + MS_PER_DAY : r
}

function dayOfWeek(ts: number): number {
  // 1970-01-01 was a Thursday (ISO 4).
  const days = floorDiv(ts, MS_PER_DAY)
  return ((((days + 3) % 7) + 7) % 7) + 1
}

function formatTs(ts: number): string {
  // Date covers ±8.64e15 ms; beyond that toISOString throws a RangeError.
  if (!Number.isFinite(ts) || Math.abs(ts) > 8.64e15) fail('format_ts', ts, 'is not a valid timestamp')
  return new Date(ts).toISOString()
}

function coalesce(...args: unknown[]): unknown {
  for (const a of args) if (a !== null && a !== undefined) return a
  return null
}

// ---------------------------------------------------------------------------------------------
// The registry

const stringOrList: Param = {
  name: 'value',
  expected: 'a string or a list',
  accepts: (x) => x.kind === 'string' || x.kind === 'list',
}

function containsSignature(args: readonly ArgInfo[]): SignatureResult {
  const params = [
    { ...stringOrList, name: 'haystack' },
    { name: 'needle', expected: 'a scalar', accepts: isScalar },
  ]
  if (args.length !== 2) return arityMessage('contains', params, args.length)
  const [haystack, needle] = [args[0]!.type, args[1]!.type]
  if (haystack.kind === 'string') {
    return needle.kind === 'string'
      ? { ok: true, type: t.bool }
      : argMessage('contains', 1, p.string('needle'), needle)
  }
  if (haystack.kind === 'list') {
    const item = haystack.of.kind === 'optional' ? haystack.of.of : haystack.of
    if (!isScalar(item)) {
      return {
        ok: false,
        argIndex: 0,
        message: `\`contains\` needs a list of scalars, found \`${showType(haystack)}\``,
      }
    }
    if (unifyTypes(item, needle) === null) {
      return {
        ok: false,
        argIndex: 1,
        message: `cannot look for \`${showType(needle)}\` in \`${showType(haystack)}\``,
      }
    }
    return { ok: true, type: t.bool }
  }
  return argMessage('contains', 0, params[0]!, haystack)
}

function concatSignature(args: readonly ArgInfo[]): SignatureResult {
  if (args.length < 2) {
    return {
      ok: false,
      arity: true,
      message: `\`concat\` takes two or more strings, but ${args.length} given`,
    }
  }
  for (let i = 0; i < args.length; i++) {
    const type = args[i]!.type
    if (type.kind !== 'string') return argMessage('concat', i, p.string(`#${i + 1}`), type)
  }
  return { ok: true, type: t.string }
}

function coalesceSignature(args: readonly ArgInfo[]): SignatureResult {
  if (args.length < 2) {
    return {
      ok: false,
      arity: true,
      message: `\`coalesce\` takes two or more arguments, but ${args.length} given`,
    }
  }
  let acc: LibType = args[0]!.type
  for (let i = 1; i < args.length; i++) {
    const next = unifyTypes(acc, args[i]!.type)
    if (next === null) {
      return {
        ok: false,
        argIndex: i,
        message: `arguments of \`coalesce\` must have one type: \`${showType(acc)}\` and \`${showType(args[i]!.type)}\``,
      }
    }
    acc = next
  }
  if (acc.kind === 'null') return { ok: false, message: '`coalesce` of only `null`s has no type' }
  // The first argument that can never be null ends the search, so the result is never null.
  const neverNull = args.some((a) => a.type.kind !== 'optional' && a.type.kind !== 'null')
  return { ok: true, type: neverNull && acc.kind === 'optional' ? acc.of : acc }
}

const identity = (x: number): number => x

function define(
  fns: readonly (Omit<StdlibFunction, 'mayFail'> & { readonly mayFail?: true })[],
): Readonly<Record<string, StdlibFunction>> {
  const table: Record<string, StdlibFunction> = Object.create(null)
  for (const fn of fns) table[fn.name] = Object.freeze({ ...fn, mayFail: fn.mayFail ?? false })
  return Object.freeze(table)
}

export const stdlib: Readonly<Record<string, StdlibFunction>> = define([
  // Strings
  {
    name: 'lower',
    doc: 'The string in lower case (Unicode default case mapping).',
    usage: 'lower(s: string) → string',
    signature: fixed('lower', [p.string('s')], () => t.string),
    nullPropagating: true,
    impl: (s: string) => s.toLowerCase(),
  },
  {
    name: 'upper',
    doc: 'The string in upper case (Unicode default case mapping).',
    usage: 'upper(s: string) → string',
    signature: fixed('upper', [p.string('s')], () => t.string),
    nullPropagating: true,
    impl: (s: string) => s.toUpperCase(),
  },
  {
    name: 'len',
    doc: 'The length of a string in UTF-16 code units, the number of items of a list, or the number of keys of a map.',
    usage: 'len(value: string | list<T> | map<string, T>) → i64',
    signature: fixed(
      'len',
      [
        {
          ...stringOrList,
          expected: 'a string, a list or a map',
          accepts: (x) => stringOrList.accepts(x) || x.kind === 'map',
        },
      ],
      () => t.i64,
    ),
    nullPropagating: true,
    impl: (value: string | readonly unknown[] | Readonly<Record<string, unknown>>) =>
      typeof value === 'string' || Array.isArray(value) ? value.length : Object.keys(value).length,
  },
  {
    name: 'trim',
    doc: 'The string without leading and trailing white space.',
    usage: 'trim(s: string) → string',
    signature: fixed('trim', [p.string('s')], () => t.string),
    nullPropagating: true,
    impl: (s: string) => s.trim(),
  },
  {
    name: 'concat',
    doc: 'The strings joined in order (same as `+` on strings, for two or more).',
    usage: 'concat(a: string, b: string, ...) → string',
    signature: concatSignature,
    nullPropagating: true,
    impl: (...parts: string[]) => parts.join(''),
  },
  {
    name: 'contains',
    doc: 'Whether a string contains a substring, or a list of scalars contains an item.',
    usage: 'contains(haystack: string | list<T>, needle: string | T) → bool',
    signature: containsSignature,
    nullPropagating: true,
    impl: (haystack: string | readonly unknown[], needle: never) => haystack.includes(needle),
  },
  {
    name: 'starts_with',
    doc: 'Whether the string starts with the prefix.',
    usage: 'starts_with(s: string, prefix: string) → bool',
    signature: fixed('starts_with', [p.string('s'), p.string('prefix')], () => t.bool),
    nullPropagating: true,
    impl: (s: string, prefix: string) => s.startsWith(prefix),
  },
  {
    name: 'ends_with',
    doc: 'Whether the string ends with the suffix.',
    usage: 'ends_with(s: string, suffix: string) → bool',
    signature: fixed('ends_with', [p.string('s'), p.string('suffix')], () => t.bool),
    nullPropagating: true,
    impl: (s: string, suffix: string) => s.endsWith(suffix),
  },
  {
    name: 'substr',
    doc: 'At most `len` code units of the string from 0-based `start` (shorter at the end of the string); a character cut in half at either end is left out; a negative start or length is an evaluation error.',
    usage: 'substr(s: string, start: i64, len: i64) → string',
    signature: fixed('substr', [p.string('s'), p.i64('start'), p.i64('len')], () => t.string),
    nullPropagating: true,
    mayFail: true,
    impl: substr,
  },
  {
    name: 'replace',
    doc: 'The string with every occurrence of `from` replaced by `to` (an empty `from` changes nothing).',
    usage: 'replace(s: string, from: string, to: string) → string',
    signature: fixed('replace', [p.string('s'), p.string('from'), p.string('to')], () => t.string),
    nullPropagating: true,
    impl: replaceAll,
  },
  ...patternFunctions,
  {
    name: 'split',
    doc: 'The parts of the string between separators (an empty separator splits into characters, each a code point).',
    usage: 'split(s: string, sep: string) → list<string>',
    signature: fixed('split', [p.string('s'), p.string('sep')], () => t.list(t.string)),
    nullPropagating: true,
    impl: split,
  },
  {
    name: 'index_of',
    doc: 'The 0-based position (in UTF-16 code units, as `substr` counts) of the first occurrence of `sub` in the string, or -1 when there is none; an empty `sub` is at 0.',
    usage: 'index_of(s: string, sub: string) → i64',
    signature: fixed('index_of', [p.string('s'), p.string('sub')], () => t.i64),
    nullPropagating: true,
    impl: indexOf,
  },
  {
    name: 'lpad',
    doc: 'The string padded on the left with repetitions of `fill` to `width` code units (a string already that long, or an empty `fill`, is returned unchanged, never cut; a character of `fill` that would be cut in half is left out). A width above 1,048,576 is an evaluation error.',
    usage: 'lpad(s: string, width: i64, fill: string) → string',
    signature: fixed('lpad', [p.string('s'), p.i64('width'), p.string('fill')], () => t.string),
    nullPropagating: true,
    mayFail: true,
    impl: lpad,
  },
  {
    name: 'rpad',
    doc: 'The string padded on the right, as `lpad` pads on the left.',
    usage: 'rpad(s: string, width: i64, fill: string) → string',
    signature: fixed('rpad', [p.string('s'), p.i64('width'), p.string('fill')], () => t.string),
    nullPropagating: true,
    mayFail: true,
    impl: rpad,
  },
  // Lists (map, filter, any, all, count, sum, min, max, avg, first and last are expressions: language.md "Lists")
  {
    name: 'flatten',
    doc: 'The items of a list of lists, in order, as one list; a null inner list adds nothing.',
    usage: 'flatten(list: list<list<T>>) → list<T>',
    signature: flattenSignature,
    nullPropagating: true,
    impl: flatten,
  },
  {
    name: 'distinct',
    doc: 'The list without repeated items: the first occurrence of each, in order (items compare as `==` does; a null is kept once).',
    usage: 'distinct(list: list<T>) → list<T>',
    signature: scalarListSignature('distinct'),
    nullPropagating: true,
    impl: distinct,
  },
  {
    name: 'sort',
    doc: 'The items in ascending order (strings by UTF-16 code units, as `<`; a stable sort), NaN after the numbers, nulls last.',
    usage: 'sort(list: list<T>) → list<T>',
    signature: scalarListSignature('sort'),
    nullPropagating: true,
    impl: sort,
  },
  // Numbers
  {
    name: 'abs',
    doc: 'The absolute value, of the same numeric type.',
    usage: 'abs(x: i64 | f64) → same type',
    signature: fixed('abs', [p.number('x')], sameNumber),
    nullPropagating: true,
    impl: Math.abs,
  },
  {
    name: 'round',
    doc: 'The nearest integer, halves away from zero; an i64 is returned unchanged.',
    usage: 'round(x: i64 | f64) → same type',
    signature: fixed('round', [p.number('x')], sameNumber),
    nullPropagating: true,
    impl: roundHalfAwayFromZero,
  },
  {
    name: 'floor',
    doc: 'The largest integer not above x; an i64 is returned unchanged.',
    usage: 'floor(x: i64 | f64) → same type',
    signature: fixed('floor', [p.number('x')], sameNumber),
    nullPropagating: true,
    impl: Math.floor,
  },
  {
    name: 'ceil',
    doc: 'The smallest integer not below x; an i64 is returned unchanged.',
    usage: 'ceil(x: i64 | f64) → same type',
    signature: fixed('ceil', [p.number('x')], sameNumber),
    nullPropagating: true,
    impl: Math.ceil,
  },
  {
    name: 'sqrt',
    doc: 'The square root as f64; a negative argument is an evaluation error.',
    usage: 'sqrt(x: i64 | f64) → f64',
    signature: fixed('sqrt', [p.number('x')], () => t.f64),
    nullPropagating: true,
    mayFail: true,
    impl: sqrt,
  },
  {
    name: 'min',
    doc: 'The smaller of two numbers (i64 when both are i64, else f64).',
    usage: 'min(a: i64 | f64, b: i64 | f64) → i64 | f64',
    signature: fixed('min', [p.number('a'), p.number('b')], numericResult),
    nullPropagating: true,
    impl: Math.min,
  },
  {
    name: 'max',
    doc: 'The larger of two numbers (i64 when both are i64, else f64).',
    usage: 'max(a: i64 | f64, b: i64 | f64) → i64 | f64',
    signature: fixed('max', [p.number('a'), p.number('b')], numericResult),
    nullPropagating: true,
    impl: Math.max,
  },
  {
    name: 'to_f64',
    doc: 'The number as f64.',
    usage: 'to_f64(x: i64 | f64) → f64',
    signature: fixed('to_f64', [p.number('x')], () => t.f64),
    nullPropagating: true,
    impl: identity,
  },
  {
    name: 'to_i64',
    doc: 'The number truncated toward zero; NaN, ±Infinity or a result outside ±(2^53−1) is an evaluation error.',
    usage: 'to_i64(x: i64 | f64) → i64',
    signature: fixed('to_i64', [p.number('x')], () => t.i64),
    nullPropagating: true,
    mayFail: true,
    impl: toI64,
  },
  {
    name: 'to_string',
    doc: 'The text of a string, bool or number (`true`, `42`, `1.5`; an integral f64 prints without a fraction). Use format_ts for timestamps and millis for durations.',
    usage: 'to_string(x: string | bool | i64 | f64) → string',
    signature: fixed(
      'to_string',
      [
        {
          name: 'x',
          expected: 'string, bool, i64 or f64',
          accepts: (x) => x.kind === 'string' || x.kind === 'bool' || isNumeric(x),
        },
      ],
      () => t.string,
    ),
    nullPropagating: true,
    impl: (x: string | number | boolean) => String(x),
  },
  {
    name: 'parse_i64',
    doc: 'The decimal integer the whole string spells (optional sign, digits only), or null when it does not or is out of the i64 range.',
    usage: 'parse_i64(s: string) → i64?',
    signature: fixed('parse_i64', [p.string('s')], () => t.optional(t.i64)),
    nullPropagating: true,
    impl: parseI64,
  },
  {
    name: 'parse_f64',
    doc: 'The decimal number the whole string spells (e.g. `-1.5e3`), or null when it does not.',
    usage: 'parse_f64(s: string) → f64?',
    signature: fixed('parse_f64', [p.string('s')], () => t.optional(t.f64)),
    nullPropagating: true,
    impl: parseF64,
  },
  {
    name: 'parse_bool',
    doc: 'True for `true`, `t`, `yes`, `y`, `on`, `1`; false for `false`, `f`, `no`, `n`, `off`, `0` (any case, white space around ignored, as PostgreSQL reads booleans); null for anything else, like `parse_i64`.',
    usage: 'parse_bool(s: string) → bool?',
    signature: fixed('parse_bool', [p.string('s')], () => t.optional(t.bool)),
    nullPropagating: true,
    impl: parseBool,
  },
  // Time (UTC unless a zone is given; see "Time zones and patterns" in specs/language.md §12)
  {
    name: 'hour',
    doc: 'The hour of the day, 0–23, in UTC or in the time zone `zone`.',
    usage: 'hour(ts: timestamp, zone?: string) → i64',
    signature: calendarField('hour'),
    nullPropagating: true,
    mayFail: true,
    impl: (ts: number, zone?: string) => floorDiv(msOfDay(localTime('hour', ts, zone)), MS_PER_HOUR),
  },
  {
    name: 'minute',
    doc: 'The minute of the hour, 0–59, in UTC or in the time zone `zone`.',
    usage: 'minute(ts: timestamp, zone?: string) → i64',
    signature: calendarField('minute'),
    nullPropagating: true,
    mayFail: true,
    impl: (ts: number, zone?: string) =>
      floorDiv(msOfDay(localTime('minute', ts, zone)) % MS_PER_HOUR, MS_PER_MINUTE),
  },
  {
    name: 'day_of_week',
    doc: 'The ISO day of the week, 1 (Monday) to 7 (Sunday), in UTC or in the time zone `zone`.',
    usage: 'day_of_week(ts: timestamp, zone?: string) → i64',
    signature: calendarField('day_of_week'),
    nullPropagating: true,
    mayFail: true,
    impl: (ts: number, zone?: string) => dayOfWeek(localTime('day_of_week', ts, zone)),
  },
  {
    name: 'day_of_month',
    doc: 'The day of the month, 1–31, in UTC or in the time zone `zone`.',
    usage: 'day_of_month(ts: timestamp, zone?: string) → i64',
    signature: calendarField('day_of_month'),
    nullPropagating: true,
    mayFail: true,
    impl: (ts: number, zone?: string) =>
      civilFromDays(floorDiv(localTime('day_of_month', ts, zone), MS_PER_DAY)).day,
  },
  {
    name: 'month',
    doc: 'The month, 1–12, in UTC or in the time zone `zone`.',
    usage: 'month(ts: timestamp, zone?: string) → i64',
    signature: calendarField('month'),
    nullPropagating: true,
    mayFail: true,
    impl: (ts: number, zone?: string) =>
      civilFromDays(floorDiv(localTime('month', ts, zone), MS_PER_DAY)).month,
  },
  {
    name: 'year',
    doc: 'The year, in UTC or in the time zone `zone`.',
    usage: 'year(ts: timestamp, zone?: string) → i64',
    signature: calendarField('year'),
    nullPropagating: true,
    mayFail: true,
    impl: (ts: number, zone?: string) =>
      civilFromDays(floorDiv(localTime('year', ts, zone), MS_PER_DAY)).year,
  },
  {
    name: 'date_trunc',
    doc: 'The timestamp rounded down to the start of its second, minute, hour, day, ISO week (Monday 00:00), month or year, in UTC or in the time zone `zone` (a local start that does not exist, skipped by a daylight-saving change, moves forward by the gap); the unit must be a string literal.',
    usage:
      'date_trunc(unit: "second" | "minute" | "hour" | "day" | "week" | "month" | "year", ts: timestamp, zone?: string) → timestamp',
    signature: withOptional(
      'date_trunc',
      [p.string('unit'), p.timestamp('ts')],
      [p.string('zone')],
      (args) => {
        const unit = args[0]!.literal
        if (typeof unit !== 'string' || !(TRUNC_UNITS as readonly string[]).includes(unit)) {
          return {
            ok: false,
            argIndex: 0,
            message: `the unit of \`date_trunc\` must be one of the string literals ${TRUNC_UNITS.map((u) => `"${u}"`).join(', ')}`,
          }
        }
        return checkZoneLiteral(args, 2) ?? t.timestamp
      },
    ),
    nullPropagating: true,
    mayFail: true,
    impl: dateTrunc,
  },
  {
    name: 'format_ts',
    doc: 'The timestamp as an ISO-8601 string in UTC with milliseconds, e.g. `2024-01-01T00:00:00.000Z`.',
    usage: 'format_ts(ts: timestamp) → string',
    signature: fixed('format_ts', [p.timestamp('ts')], () => t.string),
    nullPropagating: true,
    mayFail: true,
    impl: formatTs,
  },
  {
    name: 'parse_ts',
    doc: 'The timestamp an ISO-8601 string spells (`2024-01-01`, or date and time with `Z` or an offset), or null when it does not.',
    usage: 'parse_ts(s: string) → timestamp?',
    signature: fixed('parse_ts', [p.string('s')], () => t.optional(t.timestamp)),
    nullPropagating: true,
    impl: parseIsoTimestamp,
  },
  {
    name: 'format_time',
    doc: 'The timestamp written with a date-time pattern (e.g. `"yyyy-MM-dd HH:mm"`; letters below the table) in UTC or in the time zone `zone`. A literal pattern or zone that is invalid is a compile error (E0351, E0350); one computed at run time is an evaluation error.',
    usage: 'format_time(ts: timestamp, pattern: string, zone?: string) → string',
    signature: withOptional(
      'format_time',
      [p.timestamp('ts'), p.string('pattern')],
      [p.string('zone')],
      (args) => checkPatternLiteral(args, 1) ?? checkZoneLiteral(args, 2) ?? t.string,
    ),
    nullPropagating: true,
    mayFail: true,
    impl: formatTime,
  },
  {
    name: 'parse_time',
    doc: 'The timestamp a string spells in a date-time pattern, read in UTC or in the time zone `zone` unless the pattern has an offset (`X`); null when the whole string does not match or names no date (fields left out default to 1970-01-01 00:00:00.000). Invalid patterns and zones as for format_time.',
    usage: 'parse_time(s: string, pattern: string, zone?: string) → timestamp?',
    signature: withOptional(
      'parse_time',
      [p.string('s'), p.string('pattern')],
      [p.string('zone')],
      (args) => checkPatternLiteral(args, 1) ?? checkZoneLiteral(args, 2) ?? t.optional(t.timestamp),
    ),
    nullPropagating: true,
    mayFail: true,
    impl: parseTime,
  },
  {
    name: 'from_epoch_seconds',
    doc: 'The timestamp of a number of seconds since 1970-01-01T00:00:00Z (an f64 may have a fraction; rounded to the nearest millisecond); outside ±8.64e15 ms, or NaN, is an evaluation error.',
    usage: 'from_epoch_seconds(s: i64 | f64) → timestamp',
    signature: fixed('from_epoch_seconds', [p.number('s')], () => t.timestamp),
    nullPropagating: true,
    mayFail: true,
    impl: fromEpochSeconds,
  },
  {
    name: 'from_epoch_millis',
    doc: 'The timestamp of a number of milliseconds since the epoch; outside ±8.64e15 is an evaluation error.',
    usage: 'from_epoch_millis(ms: i64) → timestamp',
    signature: fixed('from_epoch_millis', [p.i64('ms')], () => t.timestamp),
    nullPropagating: true,
    mayFail: true,
    impl: fromEpochMillis,
  },
  {
    name: 'from_epoch_micros',
    doc: 'The timestamp of a number of microseconds since the epoch, rounded down to the millisecond.',
    usage: 'from_epoch_micros(us: i64) → timestamp',
    signature: fixed('from_epoch_micros', [p.i64('us')], () => t.timestamp),
    nullPropagating: true,
    mayFail: true,
    impl: fromEpochMicros,
  },
  {
    name: 'to_epoch_seconds',
    doc: 'Whole seconds since the epoch, rounded down (`-0.5 s` is -1).',
    usage: 'to_epoch_seconds(ts: timestamp) → i64',
    signature: fixed('to_epoch_seconds', [p.timestamp('ts')], () => t.i64),
    nullPropagating: true,
    impl: toEpochSeconds,
  },
  {
    name: 'to_epoch_millis',
    doc: 'Milliseconds since the epoch.',
    usage: 'to_epoch_millis(ts: timestamp) → i64',
    signature: fixed('to_epoch_millis', [p.timestamp('ts')], () => t.i64),
    nullPropagating: true,
    impl: identity,
  },
  {
    name: 'to_epoch_micros',
    doc: 'Microseconds since the epoch; beyond ±(2^53−1) (about 285 years from 1970) is an evaluation error.',
    usage: 'to_epoch_micros(ts: timestamp) → i64',
    signature: fixed('to_epoch_micros', [p.timestamp('ts')], () => t.i64),
    nullPropagating: true,
    mayFail: true,
    impl: toEpochMicros,
  },
  {
    name: 'now',
    doc: 'Processing time: the wall clock of the node when the call is evaluated (not the event time). Non-deterministic: replaying the same events gives other values, and two calls on one event may differ.',
    usage: 'now() → timestamp',
    signature: fixed('now', [], () => t.timestamp),
    nullPropagating: true,
    nondeterministic: true,
    impl: now,
  },
  {
    name: 'millis',
    doc: 'The duration in milliseconds.',
    usage: 'millis(d: duration) → i64',
    signature: fixed('millis', [p.duration('d')], () => t.i64),
    nullPropagating: true,
    impl: identity,
  },
  {
    name: 'to_duration_ms',
    doc: 'The duration of the given number of milliseconds.',
    usage: 'to_duration_ms(ms: i64) → duration',
    signature: fixed('to_duration_ms', [p.i64('ms')], () => t.duration),
    nullPropagating: true,
    impl: identity,
  },
  // Encodings, hashes and ids (strings as UTF-8 bytes; a lone surrogate is an evaluation error)
  {
    name: 'sha256',
    doc: 'The SHA-256 digest of the string, as 64 lower-case hex digits.',
    usage: 'sha256(s: string) → string',
    signature: fixed('sha256', [p.string('s')], () => t.string),
    nullPropagating: true,
    mayFail: true,
    impl: sha256,
  },
  {
    name: 'hash',
    doc: 'A fast non-cryptographic hash for bucketing (`hash(user) % 16`): the top 53 bits of FNV-1a 64, a non-negative i64. Fixed by the algorithm, so stable across versions and machines; not for security.',
    usage: 'hash(s: string) → i64',
    signature: fixed('hash', [p.string('s')], () => t.i64),
    nullPropagating: true,
    mayFail: true,
    impl: hash,
  },
  {
    name: 'base64_encode',
    doc: 'The string in base64 (standard alphabet, with `=` padding).',
    usage: 'base64_encode(s: string) → string',
    signature: fixed('base64_encode', [p.string('s')], () => t.string),
    nullPropagating: true,
    mayFail: true,
    impl: base64Encode,
  },
  {
    name: 'base64_decode',
    doc: 'The text base64 spells (standard or URL-safe alphabet, padding optional); anything else, or bytes that are not UTF-8, is an evaluation error.',
    usage: 'base64_decode(s: string) → string',
    signature: fixed('base64_decode', [p.string('s')], () => t.string),
    nullPropagating: true,
    mayFail: true,
    impl: base64Decode,
  },
  {
    name: 'url_encode',
    doc: 'The string percent-encoded as RFC 3986 says (all but `A-Z a-z 0-9 - . _ ~`), for a URL component.',
    usage: 'url_encode(s: string) → string',
    signature: fixed('url_encode', [p.string('s')], () => t.string),
    nullPropagating: true,
    mayFail: true,
    impl: urlEncode,
  },
  {
    name: 'url_decode',
    doc: 'The string with `%XX` escapes decoded as UTF-8 (`+` is kept: for form data use `url_decode(replace(s, "+", " "))`); a `%` without two hex digits, or bytes that are not UTF-8, is an evaluation error.',
    usage: 'url_decode(s: string) → string',
    signature: fixed('url_decode', [p.string('s')], () => t.string),
    nullPropagating: true,
    mayFail: true,
    impl: urlDecode,
  },
  {
    name: 'uuid',
    doc: 'A random (version 4) UUID, e.g. `"0f8fad5b-d9cb-469f-a165-70867728950e"`. Non-deterministic: a new value on every call, also on a replay.',
    usage: 'uuid() → string',
    signature: fixed('uuid', [], () => t.string),
    nullPropagating: true,
    nondeterministic: true,
    impl: uuid,
  },
  {
    name: 'uuid_v5',
    doc: 'The name-based (version 5, SHA-1) UUID of `name` in the UUID `namespace`: the same arguments always give the same id. An invalid literal namespace is a compile error (E0353), one computed at run time an evaluation error.',
    usage: 'uuid_v5(namespace: string, name: string) → string',
    signature: fixed('uuid_v5', [p.string('namespace'), p.string('name')], (args) => {
      const namespace = args[0]!.literal
      const problem = typeof namespace === 'string' ? invalidUuid(namespace) : null
      return problem === null ? t.string : { ok: false, argIndex: 0, code: 'E0353', message: problem }
    }),
    nullPropagating: true,
    mayFail: true,
    impl: uuidV5,
  },
  // JSON held in a string
  {
    name: 'parse_json',
    doc: 'The JSON text decoded as type `T`, a schema or scalar type named by the second argument, by the rules of event decoding (§9); JSON `null` gives null. Text that is not JSON, or not of type `T`, is an evaluation error naming the path (`$.items[2].sku: expected a string, got number 3`).',
    usage: 'parse_json(s: string, T) → T?',
    // The checker types the call (it resolves the type name); this only rejects other uses.
    signature: () => ({
      ok: false,
      message: '`parse_json` takes a string and a type name: `parse_json(s, Order)`',
    }),
    nullPropagating: true,
    mayFail: true,
    codec: 'decode-result',
    impl: parseJson as (text: string, decode: JsonDecode) => unknown,
  },
  {
    name: 'to_json',
    doc: 'The value as JSON text, written as a sink writes it (§9): timestamps as ISO-8601 strings, records with their fields in order. A null value gives the text `null` (not null-propagating).',
    usage: 'to_json(x: T) → string',
    signature: (args) =>
      args.length === 1
        ? { ok: true, type: t.string }
        : {
            ok: false,
            arity: true,
            message: `\`to_json\` takes 1 argument (x), but ${args.length} were given`,
          },
    nullPropagating: false,
    mayFail: true,
    codec: 'encode-argument',
    impl: toJson as (value: unknown, encode: JsonEncode) => string,
  },
  // The log record an event was read from (record-metadata.ts)
  ...recordMetadataEntries,
  // Null
  {
    name: 'coalesce',
    doc: 'The first argument that is not null (null when all are); never null when any argument type is not optional. Like `??`, an argument is evaluated only when all before it are null.',
    usage: 'coalesce(a: T?, b: T?, ...) → T or T?',
    signature: coalesceSignature,
    nullPropagating: false,
    impl: coalesce,
  },
  // Maps
  ...MAP_FUNCTIONS,
])

/** The registry as a Markdown table, in registration order; specs/language.md embeds it (kept in sync by a test). */
export function renderStdlibTable(): string {
  const rows = Object.values(stdlib).map(
    (fn) => `| \`${fn.usage.replaceAll('|', '\\|')}\` | ${fn.doc.replaceAll('|', '\\|')} |`,
  )
  return ['| Function | Description |', '| --- | --- |', ...rows].join('\n')
}
