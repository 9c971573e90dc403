/**
 * Map literals `{ "a": 1, "b": x }` in the checker (specs/language.md, "Maps"): a
 * `map<string, T>` whose values unify like the items of a list literal. A key given twice is an
 * error (E0342): the first value would be lost without a trace.
 */
import type { Expr, Span, Type } from '../ir/types.ts'
import type { Expression, MapLiteral } from '../parse/ast.ts'
import type { Reporter } from './maps.ts'
import { ERROR_TYPE, isError, show, unify } from './types.ts'

export function checkMapLiteral(e: MapLiteral, expr: (inner: Expression) => Expr, report: Reporter): Expr {
  const entries = e.entries.map((entry) => ({ key: entry.key, value: expr(entry.value) }))
  const result = (type: Type): Expr => ({ kind: 'MapLiteral', entries, type, span: e.span })
  const firstAt = new Map<string, Span>()
  let ok = true
  for (const entry of e.entries) {
    const earlier = firstAt.get(entry.key)
    if (earlier === undefined) {
      firstAt.set(entry.key, entry.keySpan)
      continue
    }
    report(
      'E0342',
      `the key ${JSON.stringify(entry.key)} is given twice in this map literal`,
      entry.keySpan,
      [{ message: 'first given here', span: earlier }],
    )
    ok = false
  }
  let valueType: Type | null = null
  for (const entry of entries) {
    if (isError(entry.value.type)) return result(ERROR_TYPE)
    const next: Type | null = valueType === null ? entry.value.type : unify(valueType, entry.value.type)
    if (next === null) {
      report(
        'E0307',
        `the values of a map must have one type, but this is \`${show(entry.value.type)}\` and earlier values are \`${show(valueType!)}\``,
        entry.value.span,
      )
      return result(ERROR_TYPE)
    }
    valueType = next
  }
  if (valueType === null || valueType.kind === 'null') {
    report('E0310', 'the value type of a map of only `null`s cannot be inferred', e.span)
    return result(ERROR_TYPE)
  }
  return result(ok ? { kind: 'map', of: valueType } : ERROR_TYPE)
}
