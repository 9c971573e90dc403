/**
 * `map<string, T>` in the checker (specs/language.md, "Maps"): the type as written, and `m[k]`.
 * The functions over maps (`keys`, `values`, `contains_key`, `len`) are stdlib functions.
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import type { Expr, Span, Type } from '../ir/types.ts'
import type { MapTypeExpr } from '../parse/ast.ts'
import { baseType, ERROR_TYPE, isError, isNullable, optional, show } from './types.ts'

export type Reporter = (
  code: DiagnosticCode,
  message: string,
  span: Span,
  related?: readonly RelatedInformation[],
) => void

/** `map<K, V>` with K and V resolved: JSON object keys are strings, so K must be `string` (E0340). */
export function resolveMapType(written: MapTypeExpr, key: Type, value: Type, report: Reporter): Type {
  if (isError(key) || isError(value)) return ERROR_TYPE
  if (key.kind !== 'string') {
    report(
      'E0340',
      `the keys of a map are the keys of a JSON object, so they are strings: write \`map<string, ${show(value)}>\`, not \`map<${show(key)}, …>\``,
      written.key.span,
    )
    return ERROR_TYPE
  }
  return { kind: 'map', of: value }
}

/**
 * `m[k]`: the value of key `k`, or null when the map has no such key, so `T?` (null too when `m`
 * or `k` is). The key must be a string (E0341).
 */
export function checkMapIndex(
  object: Expr,
  index: Expr,
  span: Span,
  indexSpan: Span,
  report: Reporter,
): Expr {
  const map = baseType(object.type)
  if (map.kind !== 'map') throw new Error('checkMapIndex: not a map')
  let type: Type = optional(map.of)
  if (!isError(index.type) && baseType(index.type).kind !== 'string') {
    report('E0341', `a map is indexed by a \`string\` key, but this is \`${show(index.type)}\``, indexSpan)
    type = ERROR_TYPE
  }
  if (!isError(type) && (isNullable(index.type) || isNullable(object.type))) type = optional(type)
  return { kind: 'Index', object, index, type, span }
}
