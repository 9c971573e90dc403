/**
 * A sink's `headers { "name": expr, … }` (specs/language.md, "Record metadata"): each header's
 * value is an expression over the event the sink writes, of a key type, written as its key string
 * (§9); a null value leaves the header out. Names are unique, non-empty and not in the `sluice.`
 * namespace, where the node writes headers of its own (the artifact id, dead-letter reasons).
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import type { Connector, Expr, SinkHeaderExpr, Span } from '../ir/types.ts'
import type { Expression, SinkHeadersClause } from '../parse/ast.ts'
import { isError, isKeyType, show } from './types.ts'

export interface SinkHeadersContext {
  readonly connector: Connector | null
  expr(e: Expression): Expr
  report(code: DiagnosticCode, message: string, span: Span, related?: readonly RelatedInformation[]): void
}

/** The prefix of the headers the node itself writes. */
const RESERVED_PREFIX = 'sluice.'

export function checkSinkHeaders(clause: SinkHeadersClause, context: SinkHeadersContext): SinkHeaderExpr[] {
  if (context.connector?.kind === 'stdout') {
    context.report(
      'E0361',
      '`stdout` writes lines of text, not log records, so there are no headers to set; remove `headers { … }` or sink to `kafka("…")`',
      clause.span,
    )
  }
  const seen = new Map<string, Span>()
  const headers: SinkHeaderExpr[] = []
  for (const header of clause.headers) {
    const name = header.name.value
    const value = context.expr(header.value)
    if (name === '' || name.toLowerCase().startsWith(RESERVED_PREFIX)) {
      context.report(
        'E0362',
        name === ''
          ? 'a header needs a name'
          : `header names starting with "${RESERVED_PREFIX}" are the node's own (it writes "sluice.artifact" on every record); choose another name`,
        header.name.span,
      )
      continue
    }
    const first = seen.get(name)
    if (first) {
      context.report('E0363', `header "${name}" is set more than once`, header.name.span, [
        { message: 'first set here', span: first },
      ])
      continue
    }
    seen.set(name, header.name.span)
    if (!isError(value.type) && (!isKeyType(value.type) || value.type.kind === 'null')) {
      context.report(
        'E0364',
        `a header value must be a string, i64, bool or timestamp (optionally \`?\`; written as text, null leaves the header out), but this is \`${show(value.type)}\`; use \`to_string\` for an f64`,
        header.value.span,
      )
      continue
    }
    headers.push({ name, value, span: header.span })
  }
  return headers
}
