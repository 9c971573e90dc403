/**
 * Turns `.pipe` text into tokens. Never fails: a bad character, an unterminated string or comment,
 * or a malformed number is reported as a diagnostic and lexing goes on (a bad character is
 * skipped, a bad literal still yields a token) so the parser sees a usable stream.
 *
 * Offsets are UTF-16 code-unit indices into the text (JS string indices).
 */
import { createDiagnostic, type Diagnostic } from '../diagnostics/diagnostic.ts'
import type { Span } from '../ir/types.ts'
import type { DurationUnit } from './ast.ts'

export const KEYWORDS = [
  'schema',
  'source',
  'stream',
  'sink',
  'from',
  'where',
  'select',
  'key',
  'by',
  'watermark',
  'and',
  'or',
  'not',
  'is',
  'null',
  'true',
  'false',
  'if',
  'then',
  'else',
] as const
export type Keyword = (typeof KEYWORDS)[number]
const keywordSet: ReadonlySet<string> = new Set(KEYWORDS)

export function isKeyword(name: string): name is Keyword {
  return keywordSet.has(name)
}

/** Longest first, so `??` wins over `?` and `->` over `-`. */
const PUNCTUATION = [
  '->',
  '??',
  '==',
  '!=',
  '<=',
  '>=',
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  '<',
  '>',
  ',',
  ':',
  '.',
  '|',
  '?',
  '+',
  '-',
  '*',
  '/',
  '%',
  '@',
  '=',
] as const
export type Punctuation = (typeof PUNCTUATION)[number]

/** Operators of SQL and C that Sluice spells otherwise, and the token each stands for. */
const FOREIGN_SPELLINGS: readonly { readonly text: string; readonly kind: 'and' | 'or' | 'not' | '!=' }[] = [
  { text: '&&', kind: 'and' },
  { text: '||', kind: 'or' },
  { text: '<>', kind: '!=' },
  { text: '!', kind: 'not' },
]

export type TokenKind = 'ident' | 'int' | 'float' | 'string' | 'duration' | 'eof' | Keyword | Punctuation

export interface Token {
  readonly kind: TokenKind
  readonly start: number
  readonly end: number
  /** Identifier name, string value after escapes, or the number (a duration's amount). */
  readonly value: string | number
  readonly unit?: DurationUnit
  /** A backquoted name (`` `user-id` ``): an identifier whatever its characters, never a keyword. */
  readonly quoted?: boolean
  /** How SQL or C spells this operator (`&&`, `||`, `<>`, `!`), as the source wrote it; the lexer reported it. */
  readonly spelledAs?: string
}

export const DURATION_UNIT_MS: Readonly<Record<DurationUnit, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

/** A letter outside ASCII, where a name may start, and what may continue such a name. */
const NON_ASCII_NAME_START = /^\p{L}$/u
const NON_ASCII_NAME_PART = /^[\p{L}\p{M}\p{N}]$/u

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c)
}

export interface LexResult {
  readonly tokens: readonly Token[]
  readonly diagnostics: readonly Diagnostic[]
}

export function lex(file: string, text: string): LexResult {
  const tokens: Token[] = []
  const diagnostics: Diagnostic[] = []
  const span = (start: number, end: number): Span => ({ file, start, end })
  let i = 0

  /** A `"…"` string, or with `quote` a backquoted name, which takes the same escapes and `` \` ``. */
  const readString = (start: number, quote: '"' | '`' = '"'): void => {
    let value = ''
    i = start + 1
    for (;;) {
      if (i >= text.length || text.charCodeAt(i) === 10) {
        diagnostics.push(
          quote === '"'
            ? createDiagnostic('E0002', 'unterminated string literal; add a closing `"`', span(start, i))
            : createDiagnostic('E0114', 'unterminated quoted name; add a closing `` ` ``', span(start, i)),
        )
        break
      }
      const c = text[i]!
      if (c === quote) {
        i++
        break
      }
      if (c !== '\\') {
        value += c
        i++
        continue
      }
      const escStart = i
      const e = text[i + 1]
      i += 2
      if (quote === '`' && e === '`') {
        value += '`'
        continue
      }
      switch (e) {
        case '"':
          value += '"'
          break
        case '\\':
          value += '\\'
          break
        case 'n':
          value += '\n'
          break
        case 't':
          value += '\t'
          break
        case 'r':
          value += '\r'
          break
        case 'u': {
          const m = /^\{([0-9a-fA-F]{1,6})\}/.exec(text.slice(i, i + 8))
          const code = m ? Number.parseInt(m[1]!, 16) : -1
          if (m && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff)) {
            value += String.fromCodePoint(code)
            i += m[0].length
          } else {
            if (m) i += m[0].length
            diagnostics.push(
              createDiagnostic(
                'E0003',
                'invalid unicode escape; write `\\u{…}` with 1 to 6 hex digits naming a Unicode scalar value',
                span(escStart, i),
              ),
            )
          }
          break
        }
        default:
          if (e === undefined || e === '\n') {
            i = escStart + 1
            continue
          }
          diagnostics.push(
            createDiagnostic(
              'E0003',
              `unknown escape \`\\${e}\`; the escapes are \\" \\\\ \\n \\t \\r \\u{…}${quote === '`' ? ' \\`' : ''}`,
              span(escStart, i),
            ),
          )
      }
    }
    if (quote === '"') {
      tokens.push({ kind: 'string', start, end: i, value })
      return
    }
    if (value === '') {
      diagnostics.push(createDiagnostic('E0114', 'a quoted name cannot be empty', span(start, i)))
    }
    tokens.push({ kind: 'ident', start, end: i, value, quoted: true })
  }

  const readNumber = (start: number): void => {
    while (i < text.length && isDigit(text.charCodeAt(i))) i++
    let isFloat = false
    if (text[i] === '.' && isDigit(text.charCodeAt(i + 1))) {
      isFloat = true
      i++
      while (i < text.length && isDigit(text.charCodeAt(i))) i++
    }
    if (text[i] === 'e' || text[i] === 'E') {
      const signed = text[i + 1] === '+' || text[i + 1] === '-'
      if (isDigit(text.charCodeAt(i + (signed ? 2 : 1)))) {
        isFloat = true
        i += signed ? 2 : 1
        while (i < text.length && isDigit(text.charCodeAt(i))) i++
      }
    }
    const numberText = text.slice(start, i)
    // A letter right after the digits is a duration unit or a mistake; read the whole suffix.
    const suffixStart = i
    while (i < text.length && isIdentPart(text.charCodeAt(i))) i++
    const suffix = text.slice(suffixStart, i)
    if (suffix === '') {
      if (isFloat) {
        const value = Number(numberText)
        if (!Number.isFinite(value)) {
          // 1e309 would silently be Infinity, which no f64 field can write to JSON.
          diagnostics.push(
            createDiagnostic(
              'E0005',
              `\`${numberText}\` is beyond the range of f64 (about ±1.8e308)`,
              span(start, i),
            ),
          )
        }
        tokens.push({ kind: 'float', start, end: i, value: Number.isFinite(value) ? value : 0 })
        return
      }
      const value = Number(numberText)
      if (!Number.isSafeInteger(value)) {
        diagnostics.push(
          createDiagnostic(
            'E0005',
            `integer literal \`${numberText}\` is outside the i64 range ±(2^53−1); write it as a float (\`${numberText}.0\`) if that is what you mean`,
            span(start, i),
          ),
        )
      }
      tokens.push({ kind: 'int', start, end: i, value: Number.isSafeInteger(value) ? value : 0 })
      return
    }
    if (!isFloat && suffix in DURATION_UNIT_MS) {
      const amount = Number(numberText)
      const unit = suffix as DurationUnit
      if (!Number.isSafeInteger(amount * DURATION_UNIT_MS[unit])) {
        diagnostics.push(
          createDiagnostic('E0005', `duration \`${numberText}${suffix}\` is too large`, span(start, i)),
        )
      }
      tokens.push({ kind: 'duration', start, end: i, value: amount, unit })
      return
    }
    diagnostics.push(
      createDiagnostic(
        'E0005',
        isFloat
          ? `invalid suffix \`${suffix}\` on a number; durations are whole numbers (\`1500ms\`, not \`1.5s\`)`
          : `invalid suffix \`${suffix}\` on a number; duration units are ms, s, m, h, d and w`,
        span(start, i),
      ),
    )
    tokens.push(
      isFloat
        ? { kind: 'float', start, end: i, value: Number(numberText) }
        : {
            kind: 'int',
            start,
            end: i,
            value: Number.isSafeInteger(Number(numberText)) ? Number(numberText) : 0,
          },
    )
  }

  while (i < text.length) {
    const c = text.charCodeAt(i)
    // White space: space, tab, CR, LF, and the BOM some editors write.
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 0xfeff) {
      i++
      continue
    }
    const start = i
    if (c === 47 && text.charCodeAt(i + 1) === 47) {
      // A line comment ends at LF or CR (old Mac files end lines with CR alone).
      while (i < text.length && text.charCodeAt(i) !== 10 && text.charCodeAt(i) !== 13) i++
      continue
    }
    if (c === 47 && text.charCodeAt(i + 1) === 42) {
      const close = text.indexOf('*/', i + 2)
      if (close < 0) {
        diagnostics.push(
          createDiagnostic('E0004', 'unterminated block comment; add `*/`', span(start, start + 2)),
        )
        i = text.length
      } else {
        i = close + 2
      }
      continue
    }
    if (isIdentStart(c) || NON_ASCII_NAME_START.test(String.fromCodePoint(text.codePointAt(i) ?? c))) {
      // A name with non-ASCII letters (`café`, `名前`) is one error for the whole name, not one per
      // character, and lexes on as a name so the rest of the statement is still checked.
      let nonAscii = false
      while (i < text.length) {
        const code = text.codePointAt(i) ?? 0
        if (code < 128) {
          if (!isIdentPart(code)) break
          i++
          continue
        }
        if (!NON_ASCII_NAME_PART.test(String.fromCodePoint(code))) break
        nonAscii = true
        i += code > 0xffff ? 2 : 1
      }
      const name = text.slice(start, i)
      if (nonAscii) {
        diagnostics.push(
          createDiagnostic(
            'E0001',
            `\`${name}\` is not a valid name: names are ASCII letters, digits and \`_\``,
            span(start, i),
          ),
        )
      }
      tokens.push({ kind: isKeyword(name) ? name : 'ident', start, end: i, value: name })
      continue
    }
    if (isDigit(c)) {
      readNumber(start)
      continue
    }
    if (c === 34) {
      readString(start)
      continue
    }
    if (c === 96) {
      readString(start, '`')
      continue
    }
    // Spellings of other languages: one clear error, and the token Sluice spells, so the rest
    // of the expression still parses (`&&` gave two "unexpected character" errors and a cascade).
    const foreign = FOREIGN_SPELLINGS.find(
      (f) => text.startsWith(f.text, i) && !(f.text === '!' && text[i + 1] === '='),
    )
    if (foreign !== undefined) {
      i += foreign.text.length
      diagnostics.push(
        createDiagnostic(
          'E0001',
          `\`${foreign.text}\` is spelled \`${foreign.kind}\` in Sluice`,
          span(start, i),
        ),
      )
      tokens.push({ kind: foreign.kind, start, end: i, value: foreign.kind, spelledAs: foreign.text })
      continue
    }
    const punct = PUNCTUATION.find((p) => text.startsWith(p, i))
    if (punct !== undefined) {
      i += punct.length
      tokens.push({ kind: punct, start, end: i, value: punct })
      continue
    }
    // One code point, so an emoji is reported once and its span covers both surrogates.
    const cp = text.codePointAt(i) ?? c
    i += cp > 0xffff ? 2 : 1
    const shown =
      cp < 32 || cp === 127
        ? `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`
        : `\`${String.fromCodePoint(cp)}\``
    diagnostics.push(createDiagnostic('E0001', `unexpected character ${shown}`, span(start, i)))
  }
  tokens.push({ kind: 'eof', start: text.length, end: text.length, value: '' })
  return { tokens, diagnostics }
}
