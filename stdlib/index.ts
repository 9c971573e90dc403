/**
 * The functions a `.pipe` expression can call. The compiler reads `signature` and
 * `nullPropagating` to type calls; generated code and the reference interpreter call
 * `stdlib[name].impl(...args)` after the null check. Everything here is pure (no I/O, no clock,
 * no randomness) and imports neither compiler/ nor runtime/.
 *
 * Values at run time: string → JS string, bool → boolean, i64 / f64 → number (i64 always a safe
 * integer), timestamp → epoch milliseconds (UTC), duration → milliseconds, list → array,
 * record → plain object, null → null. Errors are `EvaluationError`s: the runtime sends that event to
 * the dead-letter topic.
 */
import { EvaluationError } from './eval-error.ts'
import { recordMetadataEntries } from './record-metadata.ts'
import {
  civilFromDays,
  floorDiv,
  MS_PER_DAY,
  MS_PER_HOUR,
  MS_PER_MINUTE,
  MS_PER_SECOND,
  parseIsoTimestamp,
} from './time.ts'
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
  readonly impl: (...args: never[]) => unknown
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

const TRUNC_UNITS: Readonly<Record<string, number>> = {
  second: MS_PER_SECOND,
  minute: MS_PER_MINUTE,
  hour: MS_PER_HOUR,
  day: MS_PER_DAY,
}

function dateTrunc(unit: string, ts: number): number {
  const size = TRUNC_UNITS[unit]
  if (size === undefined) fail('date_trunc', unit, 'is not a unit: use "second", "minute", "hour" or "day"')
  return floorDiv(ts, size) * size
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
    doc: 'The length of a string in UTF-16 code units, or the number of items of a list.',
    usage: 'len(value: string | list<T>) → i64',
    signature: fixed('len', [stringOrList], () => t.i64),
    nullPropagating: true,
    impl: (value: string | readonly unknown[]) => value.length,
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
  {
    name: 'split',
    doc: 'The parts of the string between separators (an empty separator splits into characters, each a code point).',
    usage: 'split(s: string, sep: string) → list<string>',
    signature: fixed('split', [p.string('s'), p.string('sep')], () => t.list(t.string)),
    nullPropagating: true,
    impl: split,
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
  // Time (all UTC)
  {
    name: 'hour',
    doc: 'The hour of the day, 0–23, in UTC.',
    usage: 'hour(ts: timestamp) → i64',
    signature: fixed('hour', [p.timestamp('ts')], () => t.i64),
    nullPropagating: true,
    impl: (ts: number) => floorDiv(msOfDay(ts), MS_PER_HOUR),
  },
  {
    name: 'minute',
    doc: 'The minute of the hour, 0–59, in UTC.',
    usage: 'minute(ts: timestamp) → i64',
    signature: fixed('minute', [p.timestamp('ts')], () => t.i64),
    nullPropagating: true,
    impl: (ts: number) => floorDiv(msOfDay(ts) % MS_PER_HOUR, MS_PER_MINUTE),
  },
  {
    name: 'day_of_week',
    doc: 'The ISO day of the week, 1 (Monday) to 7 (Sunday), in UTC.',
    usage: 'day_of_week(ts: timestamp) → i64',
    signature: fixed('day_of_week', [p.timestamp('ts')], () => t.i64),
    nullPropagating: true,
    impl: dayOfWeek,
  },
  {
    name: 'day_of_month',
    doc: 'The day of the month, 1–31, in UTC.',
    usage: 'day_of_month(ts: timestamp) → i64',
    signature: fixed('day_of_month', [p.timestamp('ts')], () => t.i64),
    nullPropagating: true,
    impl: (ts: number) => civilFromDays(floorDiv(ts, MS_PER_DAY)).day,
  },
  {
    name: 'month',
    doc: 'The month, 1–12, in UTC.',
    usage: 'month(ts: timestamp) → i64',
    signature: fixed('month', [p.timestamp('ts')], () => t.i64),
    nullPropagating: true,
    impl: (ts: number) => civilFromDays(floorDiv(ts, MS_PER_DAY)).month,
  },
  {
    name: 'year',
    doc: 'The year, in UTC.',
    usage: 'year(ts: timestamp) → i64',
    signature: fixed('year', [p.timestamp('ts')], () => t.i64),
    nullPropagating: true,
    impl: (ts: number) => civilFromDays(floorDiv(ts, MS_PER_DAY)).year,
  },
  {
    name: 'date_trunc',
    doc: 'The timestamp rounded down to the start of its second, minute, hour or day (UTC); the unit must be a string literal.',
    usage: 'date_trunc(unit: "second" | "minute" | "hour" | "day", ts: timestamp) → timestamp',
    signature: fixed('date_trunc', [p.string('unit'), p.timestamp('ts')], (args) => {
      const unit = args[0]!.literal
      if (typeof unit !== 'string' || TRUNC_UNITS[unit] === undefined) {
        return {
          ok: false,
          argIndex: 0,
          message: `the unit of \`date_trunc\` must be one of the string literals ${Object.keys(TRUNC_UNITS)
            .map((u) => `"${u}"`)
            .join(', ')}`,
        }
      }
      return t.timestamp
    }),
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
])

/** The registry as a Markdown table, in registration order; specs/language.md embeds it (kept in sync by a test). */
export function renderStdlibTable(): string {
  const rows = Object.values(stdlib).map(
    (fn) => `| \`${fn.usage.replaceAll('|', '\\|')}\` | ${fn.doc.replaceAll('|', '\\|')} |`,
  )
  return ['| Function | Description |', '| --- | --- |', ...rows].join('\n')
}
