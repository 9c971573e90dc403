/**
 * A sink's `headers { … }` as a generated function `(r0, rec) => headers`: each value is evaluated
 * on the event the sink writes (reading the source record `rec` if it calls record metadata
 * functions) and written as its key string; a null value leaves its header out. An evaluation
 * error is thrown with the site of the header that failed, so the runner dead-letters the event
 * with that location (specs/language.md, "Record metadata").
 */
import type { Expr, SinkNode, Span, Type } from '../ir/types.ts'
import { compileExpr, type ExprContext, tsType } from './expressions.ts'
import { readsRecordMetadata, SOURCE_RECORD } from './record-metadata.ts'
import { siteMarker } from './site-marker.ts'

export interface SinkHeadersContext {
  site(span: Span): number
  fnRef(name: string): { ref: string; nullPropagating: boolean; mayFail: boolean }
  typeName(type: Type): string | undefined
  keyToString(expr: Expr, code: string, ctx: ExprContext): string
  constant(code: string): string
}

/** The function's text, or null when the sink sets no headers. */
export function sinkHeadersFunction(
  name: string,
  sink: SinkNode,
  context: SinkHeadersContext,
): string | null {
  if (sink.headers === undefined || sink.headers.length === 0) return null
  const temps: string[] = []
  const readsRecord = sink.headers.some((h) => readsRecordMetadata(h.value))
  const ctx: ExprContext = {
    row: 'r0',
    ...(readsRecord ? { record: SOURCE_RECORD } : {}),
    temp: (type) => {
      const t = `t${temps.length}`
      temps.push(`${t}: ${type} = null`)
      return t
    },
    site: (span) => context.site(span),
    fn: (fnName) => context.fnRef(fnName),
    constant: (code) => context.constant(code),
  }
  const lines = sink.headers.map((header) => {
    const site = context.site(header.span)
    const text = context.keyToString(header.value, compileExpr(header.value, ctx), ctx)
    return `${siteMarker(site)}\nsite = ${site}; h = ${text}; if (h !== null) headers[${JSON.stringify(header.name)}] = h`
  })
  return [
    `function ${name}(r0: ${tsType(sink.schema, context.typeName)}, ${SOURCE_RECORD}: SourceRecord): Record<string, string> {`,
    'let site = -1',
    'let h: string | null = null',
    ...(temps.length > 0 ? [`let ${temps.join(', ')}`] : []),
    'const headers: Record<string, string> = {}',
    'try {',
    ...lines,
    '} catch (error) {',
    // An error raised without a site of its own (an operator's) is located at its header.
    '  throw error instanceof EvaluationError && (error as { site?: number }).site === -1 ? new EvaluationError(error.message, site) : error',
    '}',
    'return headers',
    '}',
  ].join('\n')
}
