/**
 * Type checking of flat operator chains the parser may have built balanced (issue 17: a flat chain
 * of more than 500 terms was "nested too deeply"):
 *
 * - `a ?? b ?? …`: `??` is associative and either shape evaluates the terms left to right, each
 *   only while all before it are null, so any shape is kept. It gets one W0004 per chain, at the
 *   first term that is never null (the terms after it are never used), not one per `??`.
 * - `a + b - c …` and `a * b / c …` of more than LONG_LOGICAL_CHAIN terms (ArithmeticChain):
 *   built balanced when it is `+` of strings, else kept flat in the order written
 *   (checkArithmeticChain), so no later pass recurses once per term.
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { ArithmeticStep, Expr, Span, Type } from '../ir/types.ts'
import type { ArithmeticChain, ArithmeticOperator, CoalesceExpression, Expression } from '../parse/ast.ts'
import { baseType, ERROR_TYPE, isError, isNullable, show, unify, withNullability } from './types.ts'

export interface ChainContext {
  expr(e: Expression): Expr
  /** Types `left op right` (both already checked), reporting what is wrong with it. */
  binary(op: ArithmeticOperator, left: Expr, right: Expr, rightSpan: Span, opSpan: Span, span: Span): Expr
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

/**
 * A flat arithmetic chain (more than LONG_LOGICAL_CHAIN terms). `+` of strings alone is built
 * balanced, as concatenation is associative, a null term makes the result null either way, and
 * both shapes evaluate every term left to right. Anything else is typed step by step as the
 * left-deep chain it means and kept flat (ArithmeticChainExpr): every step is checked (i64
 * overflow, division by zero, the timestamp range) in the order written, and f64 rounding follows
 * it too.
 */
export function checkArithmeticChain(chain: ArithmeticChain, ctx: ChainContext): Expr {
  const terms = chain.terms.map((t) => ctx.expr(t))
  if (chain.ops.every((o) => o.op === '+') && terms.every((t) => baseType(t.type).kind === 'string'))
    return balancedConcatenation(terms, 0, terms.length)
  const first = terms[0]!
  const steps: ArithmeticStep[] = []
  // Each step typed as the BinaryExpr of the left-deep chain would be (ctx.binary looks at its
  // operands' types only, so building the left-deep tree here costs no recursion); kept are each
  // step's operator, right operand, type and span.
  let left: Expr = first
  for (let i = 1; i < terms.length; i++) {
    const { op, opSpan } = chain.ops[i - 1]!
    const span: Span = { ...chain.span, end: chain.terms[i]!.span.end }
    const typed = ctx.binary(op, left, terms[i]!, chain.terms[i]!.span, opSpan, span)
    steps.push({ op, operand: terms[i]!, type: typed.type, span })
    left = typed
  }
  const type = steps.some((s) => isError(s.type)) ? ERROR_TYPE : steps[steps.length - 1]!.type
  return { kind: 'ArithmeticChain', first, steps, type, span: chain.span }
}

/** terms[from..to) joined by `+`, as a balanced tree of string concatenations. */
function balancedConcatenation(terms: readonly Expr[], from: number, to: number): Expr {
  if (to - from === 1) return terms[from]!
  const middle = (from + to) >> 1
  const left = balancedConcatenation(terms, from, middle)
  const right = balancedConcatenation(terms, middle, to)
  const type: Type = withNullability(baseType(left.type), isNullable(left.type) || isNullable(right.type))
  return { kind: 'Binary', op: '+', left, right, type, span: { ...left.span, end: right.span.end } }
}
