/**
 * The reference semantics of a sink's `headers { … }`: each value evaluated on the event the sink
 * writes and written as its key string (keyString); a null value leaves its header out.
 */
import { compileExpr, type FunctionTable, keyString } from './interpret.ts'
import type { SinkNode } from './types.ts'

/** The headers of one event, or null when the sink sets none. */
export function sinkHeadersEvaluator(
  node: SinkNode,
  functions: FunctionTable,
): ((row: Record<string, unknown>) => Record<string, string>) | null {
  if (node.headers === undefined || node.headers.length === 0) return null
  const headers = node.headers.map((header) => ({
    name: header.name,
    value: compileExpr(header.value, functions),
    text: keyString(header.value.type),
  }))
  return (row) => {
    const out: Record<string, string> = {}
    for (const header of headers) {
      const text = header.text(header.value(row))
      if (text !== null) out[header.name] = text
    }
    return out
  }
}
