import type { Span } from '../ir/types.ts'
import type { Diagnostic, Severity } from './diagnostic.ts'

export interface FormatOptions {
  readonly color: boolean
}

/** 1-based line and column; columns count UTF-16 code units (what a JS string index counts). */
export interface LineColumn {
  readonly line: number
  readonly column: number
}

/** Offsets of the first character of every line, for binary search from an offset to a line. */
export function lineStarts(text: string): number[] {
  const starts = [0]
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) === 10) starts.push(i + 1)
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
  readonly lineText: string
  readonly caretOffset: number
  readonly caretLength: number
}

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
  const lineText = text.slice(lineStart, lineEnd)
  const caretEnd = Math.min(end, lineEnd)
  return {
    lineNumber: line,
    lineText,
    caretOffset: column - 1,
    caretLength: Math.max(1, caretEnd - start),
  }
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
  // Tabs before the caret are copied so the caret lines up however wide the terminal draws a tab.
  const caretIndent = snippet.lineText.slice(0, snippet.caretOffset).replace(/[^\t]/g, ' ')
  const carets = paint('^'.repeat(snippet.caretLength), ansi.bold + caretColor, options.color)
  return [
    header,
    `${pad}${paint('-->', ansi.bold + ansi.blue, options.color)} ${span.file}:${snippet.lineNumber}:${snippet.caretOffset + 1}`,
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
  const blocks = diagnostics.map((d) => formatDiagnostic(d, sources, options))
  return `${blocks.join('\n\n')}\n\n${paint(summarizeDiagnostics(diagnostics), ansi.bold, options.color)}\n`
}
