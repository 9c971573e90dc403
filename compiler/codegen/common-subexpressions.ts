/**
 * Common subexpressions of a step's output fields, computed once (issue 17, a fast CLI):
 * `select { a: upper(name) + "!", b: upper(name) }` evaluates `upper(name)` once.
 *
 * Only expressions that cannot fail and have no effect are shared, so computing one before its
 * first use, or where a branch (`if`, `??`, `and`) would have skipped it, changes nothing but the
 * work done: no evaluation error can move or appear, and no value differs. Integer arithmetic
 * (which may overflow), calls that may fail or are not known to be deterministic, and anything
 * that allocates (records, lists) are never shared.
 */
import type { Expr } from '../ir/types.ts'

/** Stdlib functions that are pure and deterministic (never `uuid()` or `now()`, which differ per call). */
const PURE_FUNCTIONS: ReadonlySet<string> = new Set(['len', 'lower', 'upper', 'trim', 'abs'])

export interface SharedSubexpressions {
  /** The repeated expressions, inner before outer, each with the index of the first field that uses it. */
  readonly order: readonly { readonly expr: Expr; readonly key: string; readonly field: number }[]
  /** The structural key of an expression met in the fields (equal keys: the same value). */
  keyOf(expr: Expr): string | undefined
}

/**
 * The shareable expressions that occur more than once in `fields`. `mayFail(fn)` says whether a
 * stdlib function can raise an evaluation error.
 */
export function sharedSubexpressions(
  fields: readonly Expr[],
  mayFail: (fn: string) => boolean,
): SharedSubexpressions {
  const keys = new Map<Expr, string>()
  const safe = new Map<Expr, boolean>()
  const counts = new Map<string, number>()
  const firsts: { expr: Expr; key: string; field: number }[] = []
  const seen = new Set<string>()

  /** Post-order: children first, so a shared expression's own shared parts are named before it. */
  const visit = (expr: Expr, field: number): void => {
    const children = childrenOf(expr)
    for (const child of children) visit(child, field)
    const key = `${expr.kind}:${expr.type.kind}:${detailOf(expr)}(${children.map((c) => keys.get(c)).join(',')})`
    keys.set(expr, key)
    const shareable = isShareable(expr, mayFail) && children.every((c) => safe.get(c) === true)
    safe.set(expr, shareable)
    if (!shareable || expr.kind === 'Column' || expr.kind === 'Literal') return
    counts.set(key, (counts.get(key) ?? 0) + 1)
    if (!seen.has(key)) {
      seen.add(key)
      firsts.push({ expr, key, field })
    }
  }
  for (const [field, expr] of fields.entries()) visit(expr, field)
  return {
    order: firsts.filter((entry) => (counts.get(entry.key) ?? 0) > 1),
    keyOf: (expr) => keys.get(expr),
  }
}

function childrenOf(expr: Expr): readonly Expr[] {
  switch (expr.kind) {
    case 'Member':
    case 'Project':
      return [expr.object]
    case 'Index':
      return [expr.object, expr.index]
    case 'Unary':
      return [expr.operand]
    case 'IsNull':
      return [expr.operand]
    case 'Binary':
    case 'Coalesce':
      return [expr.left, expr.right]
    case 'ArithmeticChain':
      return [expr.first, ...expr.steps.map((step) => step.operand)]
    case 'Conditional':
      return [expr.condition, expr.whenTrue, expr.whenFalse]
    case 'Call':
      return expr.args
    case 'Record':
      return expr.fields.map((f) => f.value)
    case 'List':
      return expr.items
    default:
      // Literal, Column, StepRef, and kinds not listed: leaves here. Those that have children
      // are never shareable (isShareable), so neither is anything around them.
      return []
  }
}

/** What, besides its kind, type and children, tells an expression from another. */
function detailOf(expr: Expr): string {
  switch (expr.kind) {
    case 'Literal':
      return JSON.stringify(expr.value)
    case 'Column':
    case 'Member':
    case 'Project':
      return JSON.stringify(expr.name)
    case 'Unary':
    case 'Binary':
      return expr.op
    case 'ArithmeticChain':
      return expr.steps.map((step) => step.op).join('')
    case 'IsNull':
      return String(expr.negated)
    case 'Call':
      return JSON.stringify(expr.fn)
    default:
      return ''
  }
}

/** Whether the expression itself (its children checked apart) cannot fail and has no effect. */
function isShareable(expr: Expr, mayFail: (fn: string) => boolean): boolean {
  switch (expr.kind) {
    case 'Literal':
    case 'Column':
    case 'Member':
    case 'Index':
    case 'IsNull':
    case 'Coalesce':
    case 'Conditional':
      return true
    case 'Unary':
      return expr.op === 'not' || expr.type.kind === 'f64' || isOptionalOf(expr, 'f64')
    case 'Binary':
      // Comparisons and logic cannot fail; f64 arithmetic and string concatenation neither.
      // Integer and timestamp arithmetic are checked (overflow, division by zero): not shared.
      return ['==', '!=', '<', '<=', '>', '>=', 'and', 'or'].includes(expr.op) || isFloatOrString(expr)
    case 'ArithmeticChain':
      // Shared only when every step is f64 arithmetic, which cannot fail (a long chain, issue 17).
      return expr.steps.every(
        (step) => step.type.kind === 'f64' || (step.type.kind === 'optional' && step.type.of.kind === 'f64'),
      )
    case 'Call':
      return PURE_FUNCTIONS.has(expr.fn) && !mayFail(expr.fn)
    default:
      return false
  }
}

function isOptionalOf(expr: Expr, kind: string): boolean {
  return expr.type.kind === 'optional' && expr.type.of.kind === kind
}

function isFloatOrString(expr: Expr): boolean {
  return ['f64', 'string'].some((kind) => expr.type.kind === kind || isOptionalOf(expr, kind))
}
