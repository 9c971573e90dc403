/**
 * Type checking of flat operator chains the parser may have built balanced (issue 17: a flat chain
 * of more than 500 terms was "nested too deeply"):
 *
 * - `a ?? b ?? …`: `??` is associative and either shape evaluates the terms left to right, each
 *   only while all before it are null, so any shape is kept. It gets one W0004 per chain, at the
 *   first term that is never null (the terms after it are never used), not one per `??`.
 * - `a + b + …` of more than LONG_LOGICAL_CHAIN terms (BinaryExpression.regrouped): on strings
 *   the balanced shape is kept, since concatenation is associative, a null term makes the result
 *   null either way, and both shapes evaluate the terms left to right up to the first null. On
 *   numbers, durations and timestamps every step is checked (i64 overflow, the timestamp range)
 *   and f64 addition is not associative, so the chain is rebuilt left-deep as written, and one of
 *   more than MAX_NESTING terms is refused (E0104), as the code after the checker recurses per
 *   level.
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { Expr, Span, Type } from '../ir/types.ts'
import type { BinaryExpression, CoalesceExpression, Expression } from '../parse/ast.ts'
import { chainOfMessage, MAX_NESTING } from '../parse/parser.ts'
import { baseType, ERROR_TYPE, isError, isNullable, show, unify, withNullability } from './types.ts'

export interface ChainContext {
  expr(e: Expression): Expr
  /** Types `left + right` (both already checked), reporting what is wrong with it. */
  add(left: Expr, right: Expr, rightSpan: Span, opSpan: Span, span: Span): Expr
  report(code: DiagnosticCode, message: string, span: Span): void
}

/** The terms of a `??` chain, left to right, whatever its shape (parentheses included). */
function coalesceTerms(e: Expression, into: Expression[] = []): Expression[] {
  if (e.kind !== 'Coalesce') {
    into.push(e)
    return into
  }
  coalesceTerms(e.left, into)
  coalesceTerms(e.right, into)
  return into
}

export function checkCoalesceChain(chain: CoalesceExpression, ctx: ChainContext): Expr {
  const asts = coalesceTerms(chain)
  const terms = asts.map((t) => ctx.expr(t))
  const fail = terms.some((t) => isError(t.type))
  if (!fail) {
    const never = terms.findIndex((t, i) => i < terms.length - 1 && !isNullable(t.type))
    if (never >= 0) {
      const type = show(terms[never]!.type)
      const after = terms.length - 1 - never
      ctx.report(
        'W0004',
        terms.length === 2
          ? `the left side of \`??\` is never null (its type is \`${type}\`), so the right side is never used`
          : `this term of the \`??\` chain is never null (its type is \`${type}\`), so ${after === 1 ? 'the term after it is' : `the ${after} terms after it are`} never used`,
        asts[never]!.span,
      )
    }
  }
  let index = 0
  let failed = fail
  // Mirrors the parsed shape; each node's type is what its terms unify to, the last one as it is
  // and the others without their null (`a ?? b` is never null when `b` is not).
  const build = (e: Expression): Expr => {
    if (e.kind !== 'Coalesce') return terms[index++]!
    const left = build(e.left)
    const right = build(e.right)
    if (failed) return { kind: 'Coalesce', left, right, type: ERROR_TYPE, span: e.span }
    const type = unify(baseType(left.type), right.type)
    if (type === null) {
      ctx.report(
        'E0307',
        `\`??\` needs a fallback of the same type: \`${show(left.type)}\` and \`${show(right.type)}\``,
        e.right.span,
      )
      failed = true
      return { kind: 'Coalesce', left, right, type: ERROR_TYPE, span: e.span }
    }
    return { kind: 'Coalesce', left, right, type, span: e.span }
  }
  return build(chain)
}

/** The terms of a regrouped `+` chain and the operator between each two, left to right. */
function sumTerms(e: Expression, terms: Expression[], ops: Span[]): void {
  if (e.kind === 'Binary' && e.regrouped === true) {
    sumTerms(e.left, terms, ops)
    ops.push(e.opSpan)
    sumTerms(e.right, terms, ops)
  } else {
    terms.push(e)
  }
}

export function checkRegroupedSum(chain: BinaryExpression, ctx: ChainContext): Expr {
  const asts: Expression[] = []
  const ops: Span[] = []
  sumTerms(chain, asts, ops)
  const terms = asts.map((t) => ctx.expr(t))
  if (terms.every((t) => baseType(t.type).kind === 'string')) {
    let index = 0
    const build = (e: Expression): Expr => {
      if (!(e.kind === 'Binary' && e.regrouped === true)) return terms[index++]!
      const left = build(e.left)
      const right = build(e.right)
      const type: Type = withNullability(baseType(left.type), isNullable(left.type) || isNullable(right.type))
      return { kind: 'Binary', op: '+', left, right, type, span: e.span }
    }
    return build(chain)
  }
  if (terms.length > MAX_NESTING) {
    if (!terms.some((t) => isError(t.type))) {
      ctx.report(
        'E0104',
        `${chainOfMessage(['+'])} has more than ${MAX_NESTING} terms, the most for arithmetic that runs in the order written (only \`+\` on strings may have more); group part of it in parentheses`,
        ops[MAX_NESTING - 1]!,
      )
    }
    return { ...terms[0]!, type: ERROR_TYPE }
  }
  let sum = terms[0]!
  for (let i = 1; i < terms.length; i++) {
    const span = { ...asts[0]!.span, end: asts[i]!.span.end }
    sum = ctx.add(sum, terms[i]!, asts[i]!.span, ops[i - 1]!, span)
  }
  return sum
}
