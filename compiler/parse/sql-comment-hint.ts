/**
 * A note for SQL's line comment (issue 17, "hints for SQL and C spellings"): `--` is no comment in
 * Sluice but two minus signs, so `-- why` parses as far as it can as `- -why`, and the error (E0101,
 * or a lexical one for the comment's words) comes at the first `-` or at a later token of the line.
 * Such an error gets a note at the `--` saying how Sluice writes comments. The lexer cannot tell:
 * `x --1` is x - (-1), valid, so the note goes only with an error on the `--`'s line, after it.
 */
import type { Diagnostic } from '../diagnostics/diagnostic.ts'
import type { Token } from './lexer.ts'

export const SQL_COMMENT_NOTE =
  '`--` is two minus signs in Sluice, not a comment as in SQL: comments start with `//`'

/** Syntax errors, and the lexical ones that the words of a comment cause (`'`, `#`, `"`, `5x`). */
const NOTED: ReadonlySet<string> = new Set(['E0101', 'E0001', 'E0002', 'E0003', 'E0005'])

/** The diagnostics, each syntax error that follows a `--` on its line with a note at the `--`. */
export function noteSqlComments(
  diagnostics: readonly Diagnostic[],
  tokens: readonly Token[],
  text: string,
): Diagnostic[] {
  const dashes = tokens.filter(
    (t, i) => t.kind === '-' && tokens[i + 1]?.kind === '-' && tokens[i + 1]!.start === t.end,
  )
  if (dashes.length === 0) return [...diagnostics]
  return diagnostics.map((d) => {
    if (!NOTED.has(d.code)) return d
    // The last `--` at or before the error, if no line ends between them.
    const dash = [...dashes].reverse().find((t) => t.start <= d.span.start)
    if (dash === undefined || /[\n\r]/.test(text.slice(dash.start, d.span.start))) return d
    const note = { message: SQL_COMMENT_NOTE, span: { ...d.span, start: dash.start, end: dash.end + 1 } }
    return { ...d, related: [...(d.related ?? []), note] }
  })
}
