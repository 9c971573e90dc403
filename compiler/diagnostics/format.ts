import type { Span } from '../ir/types.ts'
import type { Diagnostic, Severity } from './diagnostic.ts'

export interface FormatOptions {
  readonly color: boolean
  /**
   * At most this many diagnostics are rendered, then a line saying how many more there are (the
   * summary still counts them all): a file with thousands of errors would print megabytes of
   * snippets nobody reads (issue 17, defect 3). Unset: all.
   */
  readonly maxShown?: number
}

/** How many diagnostics `sluice check` and `sluice compile` print per file. */
export const MAX_SHOWN_DIAGNOSTICS = 100

/** 1-based line and column; columns count UTF-16 code units (what a JS string index counts). */
export interface LineColumn {
  readonly line: number
  readonly column: number
}

/**
 * Offsets of the first character of every line, for binary search from an offset to a line.
 * Lines end with LF, CR LF, or a CR alone (old Mac files), as the lexer's line comments do.
 */
export function lineStarts(text: string): number[] {
  const starts = [0]
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) starts.push(i + 1)
  }
  return starts
}

export function lineColumnOf(starts: readonly number[], offset: number): LineColumn {
  let lo = 0
  let hi = starts.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if ((starts[mid] ?? 0) <= offset) lo = mid
    else hi = mid - 1
  }
  return { line: lo + 1, column: offset - (starts[lo] ?? 0) + 1 }
}

const ansi = {
  reset: '\u001b[0m',
  bold: '\u001b[1m',
  red: '\u001b[31m',
  yellow: '\u001b[33m',
  blue: '\u001b[34m',
  cyan: '\u001b[36m',
} as const

function paint(text: string, codes: string, color: boolean): string {
  return color ? `${codes}${text}${ansi.reset}` : text
}

function severityColor(severity: Severity): string {
  return severity === 'error' ? ansi.red : ansi.yellow
}

interface Snippet {
  readonly lineNumber: number
  /** The column of the span's start, 1-based in UTF-16 code units (as in `file:line:col`). */
  readonly column: number
  /** What to print of the line: a window around the span, safe for a terminal. */
  readonly lineText: string
  /** Where the carets start and how many, in `lineText`'s code units. */
  readonly caretOffset: number
  readonly caretLength: number
}

/** The widest part of a line a snippet prints; longer lines show a window around the span. */
const MAX_SNIPPET_UNITS = 160
const CONTEXT_UNITS = 60

/**
 * The line a span starts on and the part of it to underline. A span that runs over several lines
 * is underlined to the end of its first line; an empty span (end of file, a missing token) gets
 * one caret so the position is still visible.
 */
function snippetFor(span: Span, text: string, starts: readonly number[]): Snippet {
  const start = Math.max(0, Math.min(span.start, text.length))
  const end = Math.max(start, Math.min(span.end, text.length))
  const { line, column } = lineColumnOf(starts, start)
  const lineStart = starts[line - 1] ?? 0
  let lineEnd = starts[line] !== undefined ? (starts[line] ?? text.length) - 1 : text.length
  if (lineEnd > lineStart && text.charCodeAt(lineEnd - 1) === 13) lineEnd -= 1
  const caretEnd = Math.min(end, lineEnd)
  // A long line (a 10 MB literal) prints a window around the span, marked with `…` on cut sides.
  let from = lineStart
  let to = lineEnd
  if (lineEnd - lineStart > MAX_SNIPPET_UNITS) {
    from = Math.max(lineStart, start - CONTEXT_UNITS)
    to = Math.min(lineEnd, Math.max(caretEnd, start + 1) + CONTEXT_UNITS, from + MAX_SNIPPET_UNITS)
    from = safeBoundary(text, from)
    to = safeBoundary(text, to)
  }
  const before = from > lineStart ? '…' : ''
  const after = to < lineEnd ? '…' : ''
  return {
    lineNumber: line,
    column,
    lineText: `${before}${terminalSafe(text.slice(from, to))}${after}`,
    caretOffset: before.length + start - from,
    caretLength: Math.max(1, Math.min(caretEnd, to) - start),
  }
}

/** Moves an offset off the second half of a surrogate pair, so a window never splits one. */
function safeBoundary(text: string, offset: number): number {
  const c = text.charCodeAt(offset)
  return c >= 0xdc00 && c <= 0xdfff ? offset - 1 : offset
}

/**
 * Source text as a terminal should see it: control characters (which could move the cursor or
 * recolor the terminal) and bidirectional overrides (which reorder what is shown) become visible
 * stand-ins of one code unit each, so columns and carets stay where they were.
 */
function terminalSafe(line: string): string {
  let out = ''
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if ((c < 32 && c !== 9) || c === 127) out += String.fromCharCode(c === 127 ? 0x2421 : 0x2400 + c)
    else if ((c >= 0x80 && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069))
      out += '\ufffd'
    else out += line[i]
  }
  return out
}

/** Columns a terminal gives a code point: 0 for combining marks, 2 for East Asian wide and emoji. */
function displayWidth(cp: number): number {
  if ((cp >= 0x200b && cp <= 0x200f) || cp === 0xfe0f || COMBINING.test(String.fromCodePoint(cp))) return 0
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f680 && cp <= 0x1f6ff) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2
  }
  return 1
}

const COMBINING = /^[\p{Mn}\p{Me}]$/u

/** Blank space as wide as `text` is shown (tabs kept as tabs, so they line up however wide). */
function blankLike(text: string): string {
  let out = ''
  for (const ch of text) out += ch === '\t' ? '\t' : ' '.repeat(displayWidth(ch.codePointAt(0)!))
  return out
}

/** How many columns `text` takes on a terminal (at least 1, so an empty span still shows). */
function widthOf(text: string): number {
  let width = 0
  for (const ch of text) width += displayWidth(ch.codePointAt(0)!)
  return Math.max(1, width)
}

function renderLocation(
  header: string,
  span: Span,
  sources: ReadonlyMap<string, string>,
  caretColor: string,
  options: FormatOptions,
): string[] {
  const text = sources.get(span.file)
  if (text === undefined) return [header, `  --> ${span.file}`]
  const starts = lineStarts(text)
  const snippet = snippetFor(span, text, starts)
  const gutterWidth = String(snippet.lineNumber).length
  const pad = ' '.repeat(gutterWidth + 1)
  const bar = paint('|', ansi.bold + ansi.blue, options.color)
  // The caret lines up under wide characters (CJK, emoji) and tabs as the terminal draws them.
  const caretIndent = blankLike(snippet.lineText.slice(0, snippet.caretOffset))
  const underlined = snippet.lineText.slice(snippet.caretOffset, snippet.caretOffset + snippet.caretLength)
  const carets = paint('^'.repeat(widthOf(underlined)), ansi.bold + caretColor, options.color)
  return [
    header,
    `${pad}${paint('-->', ansi.bold + ansi.blue, options.color)} ${span.file}:${snippet.lineNumber}:${snippet.column}`,
    `${pad} ${bar}`,
    `${paint(` ${String(snippet.lineNumber).padStart(gutterWidth)} `, ansi.bold + ansi.blue, options.color)}${bar}${snippet.lineText.length > 0 ? ` ${snippet.lineText}` : ''}`,
    `${pad} ${bar} ${caretIndent}${carets}`,
  ]
}

/** Renders one diagnostic (with its related notes) as lines, without a trailing newline. */
export function formatDiagnostic(
  diagnostic: Diagnostic,
  sources: ReadonlyMap<string, string>,
  options: FormatOptions,
): string {
  const color = severityColor(diagnostic.severity)
  const header = `${paint(`${diagnostic.severity}[${diagnostic.code}]`, ansi.bold + color, options.color)}${paint(`: ${diagnostic.message}`, ansi.bold, options.color)}`
  const lines = renderLocation(header, diagnostic.span, sources, color, options)
  for (const related of diagnostic.related ?? []) {
    const noteHeader = `${paint('note', ansi.bold + ansi.cyan, options.color)}: ${related.message}`
    lines.push(...renderLocation(noteHeader, related.span, sources, ansi.cyan, options))
  }
  return lines.join('\n')
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`
}

/** The closing line: `3 errors, 1 warning`; empty when there is nothing to report. */
export function summarizeDiagnostics(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length
  const warnings = diagnostics.length - errors
  const parts: string[] = []
  if (errors > 0) parts.push(plural(errors, 'error'))
  if (warnings > 0) parts.push(plural(warnings, 'warning'))
  return parts.join(', ')
}

/**
 * Renders diagnostics the way `sluice check` prints them: each with its location, the source line
 * and a caret under the span, separated by blank lines, then the summary line. `sources` maps a
 * span's `file` to its text; a file missing from it is printed as a bare location.
 * The result ends with a newline unless it is empty (no diagnostics).
 */
export function formatDiagnostics(
  diagnostics: readonly Diagnostic[],
  sources: ReadonlyMap<string, string>,
  options: FormatOptions,
): string {
  if (diagnostics.length === 0) return ''
  const shown = options.maxShown === undefined ? diagnostics : diagnostics.slice(0, options.maxShown)
  const blocks = shown.map((d) => formatDiagnostic(d, sources, options))
  const hidden = diagnostics.length - shown.length
  if (hidden > 0)
    blocks.push(`… and ${plural(hidden, 'more diagnostic')} not shown (the first ${shown.length} are)`)
  return `${blocks.join('\n\n')}\n\n${paint(summarizeDiagnostics(diagnostics), ansi.bold, options.color)}\n`
}
