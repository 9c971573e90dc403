/**
 * Pattern functions: SQL `like` and JavaScript regular expressions (specs/language.md §5 and §12).
 *
 * A pattern argument that is a string literal is compiled once: the checker compiles it to report
 * an invalid one as a compile error (E0320) at the literal, the reference interpreter when it
 * builds the expression's closure, and generated code when its module is instantiated (the
 * function's `literalArg.compile`). The impl then receives the compiled pattern instead of the
 * text. A pattern computed per event arrives as text and is compiled here, through a bounded
 * cache; an invalid one is an evaluation error, so the event is dead-lettered at the call.
 */
import { EvaluationError } from './eval-error.ts'
import type { ArgInfo, LibType, SignatureResult } from './types.ts'
import { showType, t } from './types.ts'

// ---------------------------------------------------------------------------------------------
// like

/** A compiled `like` pattern: code units to match, `ANY_RUN` for `%`, `ONE_CHARACTER` for `_`. */
export interface LikePattern {
  readonly kind: 'like'
  readonly tokens: readonly number[]
}

const ANY_RUN = -1
const ONE_CHARACTER = -2

/**
 * `%` is any run of characters (also none), `_` exactly one character (a code point, so a
 * surrogate pair is one), `\` makes the next character literal (`\%`, `\_`, `\\`); a `\` at the
 * very end stands for itself. Everything else matches itself, case-sensitively.
 */
export function compileLike(pattern: string): LikePattern {
  const tokens: number[] = []
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i)
    if (c === 0x5c && i + 1 < pattern.length) {
      i++
      tokens.push(pattern.charCodeAt(i))
      // An escaped character outside the BMP is both of its code units.
      if (isHighSurrogate(pattern.charCodeAt(i)) && isLowSurrogate(pattern.charCodeAt(i + 1))) {
        i++
        tokens.push(pattern.charCodeAt(i))
      }
    } else if (c === 0x25) {
      if (tokens.at(-1) !== ANY_RUN) tokens.push(ANY_RUN)
    } else if (c === 0x5f) {
      tokens.push(ONE_CHARACTER)
    } else {
      tokens.push(c)
    }
  }
  return { kind: 'like', tokens }
}

/**
 * Whether all of `s` matches: the classic wildcard match that returns to the last `%` on a
 * mismatch, so it takes at most |s|·|pattern| steps whatever the pattern (no exponential
 * backtracking). `%` and `_` move by whole code points, so neither splits a surrogate pair.
 */
export function likeMatches(pattern: LikePattern, s: string): boolean {
  const tokens = pattern.tokens
  let si = 0
  let ti = 0
  let starToken = -1
  let starAt = 0
  while (si < s.length) {
    const token = ti < tokens.length ? tokens[ti]! : undefined
    if (token === ONE_CHARACTER) {
      si += characterLength(s, si)
      ti++
    } else if (token === ANY_RUN) {
      starToken = ti++
      starAt = si
    } else if (token !== undefined && token === s.charCodeAt(si)) {
      si++
      ti++
    } else if (starToken >= 0) {
      starAt += characterLength(s, starAt)
      si = starAt
      ti = starToken + 1
    } else {
      return false
    }
  }
  while (ti < tokens.length && tokens[ti] === ANY_RUN) ti++
  return ti === tokens.length
}

function characterLength(s: string, at: number): number {
  return isHighSurrogate(s.charCodeAt(at)) && isLowSurrogate(s.charCodeAt(at + 1)) ? 2 : 1
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff
}

// ---------------------------------------------------------------------------------------------
// Regular expressions

/**
 * JavaScript regular expressions with the `u` flag (code points, so `.` and `[^a]` never split a
 * surrogate pair, and `\p{…}` works) and no other: case-sensitive, `^`/`$` anchor the whole
 * string, `.` does not match a line break. `regex_replace` adds `g` to replace every match.
 */
const MATCH_FLAGS = 'u'
const REPLACE_FLAGS = 'gu'

/** Compiles `source`, or throws an Error whose message says what is wrong (V8's words). */
function compileRegExp(source: string, flags: string): RegExp {
  try {
    return new RegExp(source, flags)
  } catch (error) {
    const message = (error as Error).message
    // "Invalid regular expression: /(/u: Unterminated group" → "Unterminated group".
    const reason = /^Invalid regular expression: \/[\s\S]*\/[a-z]*: ([\s\S]*)$/.exec(message)?.[1] ?? message
    throw new Error(`invalid regular expression: ${reason}`)
  }
}

/**
 * The flags a `.pipe` may give (the last argument of the regex functions): `i` case-insensitive
 * (Unicode case folding), `m` `^`/`$` also at line breaks, `s` `.` also matches a line break, and
 * `u`, which is always on. Each at most once, in any order; `g` (replace always replaces every
 * match, the others take the first), `y`, `d` and `v` are refused.
 */
const USER_FLAGS = 'imsu'

/** Null when `flags` is a valid flag string, else why not. */
export function invalidRegexFlags(flags: string): string | null {
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i]!
    if (!USER_FLAGS.includes(flag))
      return `${JSON.stringify(flag)} is not a regular-expression flag here: the flags are \`i\` (ignore case), \`m\` (\`^\` and \`$\` at line breaks) and \`s\` (\`.\` matches line breaks), and \`u\`, always on`
    if (flags.indexOf(flag) !== i) return `the flag \`${flag}\` is given twice`
  }
  return null
}

/** The JavaScript flags of `base` (MATCH_FLAGS or REPLACE_FLAGS) with the user's `flags` added. */
function withUserFlags(base: string, flags: string): string {
  return [...new Set([...base, ...flags])].sort().join('')
}

/** A literal pattern compiled with its default flags, recompiled once per other flag string. */
const reflagged = new WeakMap<RegExp, Map<string, RegExp>>()

function flagged(fn: string, re: string | RegExp, base: string, flags: string | undefined): RegExp {
  if (flags !== undefined) {
    const problem = invalidRegexFlags(flags)
    if (problem !== null) fail(fn, flags, `are not valid flags: ${problem}`)
  }
  const wanted = flags === undefined ? base : withUserFlags(base, flags)
  if (typeof re === 'string') {
    const compiled = cachedRegExp(re, wanted)
    if (compiled instanceof Error) fail(fn, re, `is an ${compiled.message}`)
    return compiled
  }
  if (wanted === re.flags) return re
  let byFlags = reflagged.get(re)
  if (byFlags === undefined) {
    byFlags = new Map()
    reflagged.set(re, byFlags)
  }
  let compiled = byFlags.get(wanted)
  if (compiled === undefined) {
    compiled = new RegExp(re.source, wanted)
    byFlags.set(wanted, compiled)
  }
  return compiled
}

/** Patterns computed per event, compiled at most once each while they stay in this cache. */
const MAX_CACHED = 256
const cache = new Map<string, RegExp | Error>()

function cachedRegExp(source: string, flags: string): RegExp | Error {
  const key = `${flags}/${source}`
  let compiled = cache.get(key)
  if (compiled === undefined) {
    try {
      compiled = compileRegExp(source, flags)
    } catch (error) {
      compiled = error as Error
    }
    if (cache.size >= MAX_CACHED) cache.clear()
    cache.set(key, compiled)
  }
  return compiled
}

/** Throws the EvaluationError `fn: <value> <problem>`, as the other stdlib functions word theirs. */
function fail(fn: string, value: unknown, problem: string): never {
  throw new EvaluationError(
    `${fn}: ${typeof value === 'string' ? JSON.stringify(value) : String(value)} ${problem}`,
  )
}

const groupCounts = new WeakMap<RegExp, number>()

/** The number of capture groups of `re`: an alternative that matches the empty string shows them all. */
export function captureGroupCount(re: RegExp): number {
  let count = groupCounts.get(re)
  if (count === undefined) {
    count = (new RegExp(`${re.source}|`, re.flags.replace('g', '')).exec('')?.length ?? 1) - 1
    groupCounts.set(re, count)
  }
  return count
}

// Each impl takes its pattern compiled already (a literal) or as text, compiled through the cache,
// and then, optionally, the flags (validated per call: they may be computed per event).

function regexMatch(s: string, re: string | RegExp, flags?: string): boolean {
  return flagged('regex_match', re, MATCH_FLAGS, flags).test(s)
}

/** `regex_extract(s, p)`, `(s, p, group)`, `(s, p, flags)` or `(s, p, group, flags)`. */
function regexExtract(
  s: string,
  re: string | RegExp,
  groupOrFlags?: number | string,
  flags?: string,
): string | null {
  const group = typeof groupOrFlags === 'number' ? groupOrFlags : 0
  const compiled = flagged(
    'regex_extract',
    re,
    MATCH_FLAGS,
    typeof groupOrFlags === 'string' ? groupOrFlags : flags,
  )
  const count = captureGroupCount(compiled)
  if (group < 0 || group > count) {
    fail(
      'regex_extract',
      group,
      `is not a group of the pattern (it has ${count} capture group${count === 1 ? '' : 's'})`,
    )
  }
  const match = compiled.exec(s)
  return match === null ? null : (match[group] ?? null)
}

function regexReplace(s: string, re: string | RegExp, replacement: string, flags?: string): string {
  return s.replace(flagged('regex_replace', re, REPLACE_FLAGS, flags), replacement)
}

// ---------------------------------------------------------------------------------------------
// Signatures

/** Checks `names.length` arguments (`optional` more may be left out) and a literal pattern at index 1. */
function patternSignature(
  fn: string,
  names: readonly string[],
  kinds: readonly string[],
  required: number,
  flags: string,
  result: LibType,
): (args: readonly ArgInfo[]) => SignatureResult {
  return (args) => {
    if (args.length < required || args.length > names.length) {
      const count =
        required === names.length
          ? `${required}`
          : `${required} ${names.length - required === 1 ? 'or' : 'to'} ${names.length}`
      return {
        ok: false,
        arity: true,
        message: `\`${fn}\` takes ${count} arguments (${names.join(', ')}), but ${args.length} ${args.length === 1 ? 'was' : 'were'} given`,
      }
    }
    // `regex_extract(s, p, "i")`: a string third argument is the flags, the group left out.
    const slots =
      names[2] === 'group' && names[3] === 'flags' && args.length === 3 && args[2]!.type.kind === 'string'
        ? [0, 1, 3]
        : [0, 1, 2, 3]
    for (let i = 0; i < args.length; i++) {
      const slot = slots[i]!
      if (args[i]!.type.kind !== kinds[slot]) {
        return {
          ok: false,
          argIndex: i,
          message: `argument \`${names[slot]}\` of \`${fn}\` must be ${kinds[slot]}, found \`${showType(args[i]!.type)}\``,
        }
      }
    }
    const flagsAt = slots.indexOf(names.indexOf('flags'))
    const userFlags = flagsAt >= 0 ? args[flagsAt]?.literal : undefined
    if (typeof userFlags === 'string') {
      const problem = invalidRegexFlags(userFlags)
      if (problem !== null) {
        // `regex_extract(s, p, "1")`: a group written as a string reads as flags.
        const hint =
          slots[2] === 3 && /^[0-9]+$/.test(userFlags)
            ? `; a third argument that is a string is the flags: a group number is an i64, \`${userFlags}\` without quotes`
            : ''
        return { ok: false, argIndex: flagsAt, code: 'E0322', message: problem + hint }
      }
    }
    const pattern = args[1]!.literal
    if (typeof pattern !== 'string' || flags === '') return { ok: true, type: result }
    let compiled: RegExp
    try {
      compiled = compileRegExp(
        pattern,
        typeof userFlags === 'string' ? withUserFlags(flags, userFlags) : flags,
      )
    } catch (error) {
      return { ok: false, argIndex: 1, code: 'E0320', message: (error as Error).message }
    }
    const group = slots[2] === 2 ? args[2]?.literal : undefined
    if (typeof group === 'number' && group > captureGroupCount(compiled)) {
      const count = captureGroupCount(compiled)
      return {
        ok: false,
        argIndex: 2,
        code: 'E0321',
        message: `group ${group} does not exist: the pattern has ${count} capture group${count === 1 ? '' : 's'}`,
      }
    }
    return { ok: true, type: result }
  }
}

/** The stdlib entries of this module (stdlib/index.ts registers them after the string functions). */
export const patternFunctions = [
  {
    name: 'like',
    doc: 'Whether the whole string matches the SQL pattern: `%` any run of characters, `_` one character (a code point), `\\` before a character makes it literal (in a `.pipe` string `"100\\\\%"`); case-sensitive. `s like p` is the operator form.',
    usage: 'like(s: string, pattern: string) → bool',
    signature: patternSignature('like', ['s', 'pattern'], ['string', 'string'], 2, '', t.bool),
    nullPropagating: true,
    literalArg: { index: 1, compile: compileLike },
    impl: (s: string, pattern: string | LikePattern) =>
      likeMatches(typeof pattern === 'string' ? compileLike(pattern) : pattern, s),
  },
  {
    name: 'regex_match',
    doc: 'Whether the JavaScript regular expression (flag `u`) matches somewhere in the string (anchor it with `^…$` to match all of it); an invalid pattern is a compile error when it is a literal, else an evaluation error. `flags`: any of `i` (ignore case), `m` (`^`/`$` at line breaks), `s` (`.` matches line breaks).',
    usage: 'regex_match(s: string, pattern: string, flags?: string) → bool',
    signature: patternSignature(
      'regex_match',
      ['s', 'pattern', 'flags'],
      ['string', 'string', 'string'],
      2,
      MATCH_FLAGS,
      t.bool,
    ),
    nullPropagating: true,
    mayFail: true as const,
    literalArg: { index: 1, compile: (pattern: string) => compileRegExp(pattern, MATCH_FLAGS) },
    impl: regexMatch,
  },
  {
    name: 'regex_extract',
    doc: 'The text of capture group `group` (default 0, the whole match) of the first match, or null when nothing matches or the group took no part; a group the pattern does not have is an error. `flags` as for `regex_match` (`regex_extract(s, p, "i")` leaves the group out).',
    usage: 'regex_extract(s: string, pattern: string, group?: i64, flags?: string) → string?',
    signature: patternSignature(
      'regex_extract',
      ['s', 'pattern', 'group', 'flags'],
      ['string', 'string', 'i64', 'string'],
      2,
      MATCH_FLAGS,
      t.optional(t.string),
    ),
    nullPropagating: true,
    mayFail: true as const,
    literalArg: { index: 1, compile: (pattern: string) => compileRegExp(pattern, MATCH_FLAGS) },
    impl: regexExtract,
  },
  {
    name: 'regex_replace',
    doc: 'The string with every match replaced by `replacement`, in which `$1`…`$99`, `$<name>`, `$&` and `$$` stand for groups, the match and `$`. `flags` as for `regex_match`.',
    usage: 'regex_replace(s: string, pattern: string, replacement: string, flags?: string) → string',
    signature: patternSignature(
      'regex_replace',
      ['s', 'pattern', 'replacement', 'flags'],
      ['string', 'string', 'string', 'string'],
      3,
      REPLACE_FLAGS,
      t.string,
    ),
    nullPropagating: true,
    mayFail: true as const,
    literalArg: { index: 1, compile: (pattern: string) => compileRegExp(pattern, REPLACE_FLAGS) },
    impl: regexReplace,
  },
]

// ---------------------------------------------------------------------------------------------
// Catastrophic backtracking

/**
 * The first group of a regular expression that is repeated without bound while it holds an
 * unbounded repetition itself (`(a+)+`, `(\w*\s?)*`, `(x.*){2,}`): the shape that can make a
 * backtracking matcher take exponential time on a text it fails to match. Returns the group with
 * its quantifier, or null. A heuristic over a valid pattern: it does not see other ambiguous
 * shapes such as overlapping alternatives (`(a|ab)*`).
 */
export function nestedRepetition(source: string): string | null {
  const groups: { start: number; unbounded: boolean }[] = []
  const markUnbounded = () => {
    const top = groups.at(-1)
    if (top) top.unbounded = true
  }
  let i = 0
  while (i < source.length) {
    const c = source[i]!
    if (c === '(') {
      groups.push({ start: i, unbounded: false })
      i++
      // `(?:`, `(?=`, `(?!`, `(?<=`, `(?<!` and `(?<name>`: the `?` is no quantifier.
      if (source[i] === '?') {
        i++
        if (source[i] === '<' && source[i + 1] !== '=' && source[i + 1] !== '!')
          i = source.indexOf('>', i) + 1
        else i += source[i] === '<' ? 2 : 1
      }
      continue
    }
    let inner = false
    let start = i
    if (c === ')') {
      const group = groups.pop()
      inner = group?.unbounded ?? false
      start = group?.start ?? i
      i++
    } else if (c === '\\') {
      i += 2
    } else if (c === '[') {
      i++
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1
      i++
    } else {
      i++
    }
    const quantifier = /^(?:([*+])|\{\d+(,)?(\d*)\}|\?)\??/.exec(source.slice(i))
    const unbounded =
      quantifier !== null && (quantifier[1] !== undefined || (quantifier[2] === ',' && quantifier[3] === ''))
    if (quantifier !== null) i += quantifier[0].length
    if (inner && unbounded) return source.slice(start, i)
    if (inner || unbounded) markUnbounded()
  }
  return null
}
