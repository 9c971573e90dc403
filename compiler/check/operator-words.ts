/**
 * Type checking and lowering of the SQL-style expressions (specs/language.md §4): `in`, `between`,
 * `like` and `case`. `in` and `between` become their IR nodes, `like` a call of the stdlib's
 * `like` (which compiles a literal pattern once), `case` the nested conditionals it means, and
 * each `not` form is `not` of the positive one (three-valued, so null stays null).
 */
import { nestedRepetition } from '../../stdlib/patterns.ts'
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import type { Expr, Span, Type } from '../ir/types.ts'
import type {
  BetweenExpression,
  CaseExpression,
  Expression,
  Identifier,
  InExpression,
  LikeExpression,
} from '../parse/ast.ts'
import {
  BOOL,
  baseType,
  comparable,
  ERROR_TYPE,
  isError,
  isNullable,
  NULL,
  show,
  unify,
  withNullability,
} from './types.ts'

export interface OperatorContext {
  expr(e: Expression): Expr
  call(callee: Identifier, args: readonly Expression[], span: Span): Expr
  /** Reports E0302 unless `condition` is a bool (or bool?). */
  expectCondition(condition: Expr, what: string, span: Span): void
  report(code: DiagnosticCode, message: string, span: Span, related?: readonly RelatedInformation[]): void
}

export type OperatorWordExpression = InExpression | BetweenExpression | LikeExpression | CaseExpression

export function checkOperatorWord(e: OperatorWordExpression, ctx: OperatorContext): Expr {
  switch (e.kind) {
    case 'In':
      return negate(checkIn(e, ctx), e.negated)
    case 'Between':
      return negate(checkBetween(e, ctx), e.negated)
    case 'Like':
      return negate(
        ctx.call({ kind: 'Identifier', name: 'like', span: e.opSpan }, [e.operand, e.pattern], e.span),
        e.negated,
      )
    case 'Case':
      return checkCase(e, ctx)
  }
}

function negate(expr: Expr, negated: boolean): Expr {
  return negated ? { kind: 'Unary', op: 'not', operand: expr, type: expr.type, span: expr.span } : expr
}

/** A literal `null` operand or item: the result could never be true or false. */
function reportNull(word: string, part: Expr, ctx: OperatorContext): boolean {
  if (part.type.kind !== 'null') return false
  ctx.report(
    'E0311',
    `a \`null\` in \`${word}\` makes it null, never true or false; test with \`is null\` instead`,
    part.span,
  )
  return true
}

function checkIn(e: InExpression, ctx: OperatorContext): Expr {
  const operand = ctx.expr(e.operand)
  const items = e.items.map((item) => ctx.expr(item))
  const result = (type: Type): Expr => ({ kind: 'In', operand, items, type, span: e.span })
  let ok = !isError(operand.type) && !reportNull('in', operand, ctx)
  if (ok && !comparable(baseType(operand.type), baseType(operand.type), false)) {
    ctx.report(
      'E0301',
      `\`in\` compares scalars (string, bool, i64, f64, timestamp, duration), but this is \`${show(operand.type)}\``,
      e.operand.span,
    )
    ok = false
  }
  for (const item of items) {
    if (isError(item.type) || reportNull('in', item, ctx)) {
      ok = false
      continue
    }
    if (ok && !comparable(baseType(operand.type), baseType(item.type), false)) {
      ctx.report(
        'E0301',
        `the values of an \`in\` list must have the type of what they are compared with (\`${show(operand.type)}\`), but this is \`${show(item.type)}\``,
        item.span,
        [{ message: `compared with this \`${show(operand.type)}\``, span: e.operand.span }],
      )
      ok = false
    }
  }
  if (!ok) return result(ERROR_TYPE)
  return result(withNullability(BOOL, isNullable(operand.type) || items.some((i) => isNullable(i.type))))
}

function checkBetween(e: BetweenExpression, ctx: OperatorContext): Expr {
  const operand = ctx.expr(e.operand)
  const low = ctx.expr(e.low)
  const high = ctx.expr(e.high)
  const result = (type: Type): Expr => ({ kind: 'Between', operand, low, high, type, span: e.span })
  const parts = [operand, low, high]
  if (parts.some((p) => isError(p.type))) return result(ERROR_TYPE)
  // Every part is checked, so each null literal is reported.
  const nulls = parts.filter((p) => reportNull('between', p, ctx))
  if (nulls.length > 0) return result(ERROR_TYPE)
  for (const bound of [low, high]) {
    if (!comparable(baseType(operand.type), baseType(bound.type), true)) {
      ctx.report(
        'E0301',
        `cannot apply \`between\` to \`${show(operand.type)}\` and \`${show(bound.type)}\`; \`between\` compares numbers, strings, timestamps or durations of one kind`,
        bound.span,
        [{ message: `the value compared is \`${show(operand.type)}\``, span: e.operand.span }],
      )
      return result(ERROR_TYPE)
    }
  }
  return result(
    withNullability(
      BOOL,
      parts.some((p) => isNullable(p.type)),
    ),
  )
}

/**
 * `case when c1 then v1 … else e end` is `if c1 then v1 else if … else e` (`else null` without
 * `else`), so a null condition goes on to the next branch, as in SQL. The values unify like the
 * branches of `if`; without `else` the result is optional.
 */
function checkCase(e: CaseExpression, ctx: OperatorContext): Expr {
  if (e.operand !== null) return checkSimpleCase(e, e.operand, ctx)
  const branches = e.branches.map((b) => {
    const condition = ctx.expr(b.condition)
    ctx.expectCondition(condition, '`when`', b.condition.span)
    return { condition, value: ctx.expr(b.value) }
  })
  const otherwise = e.otherwise === null ? null : ctx.expr(e.otherwise)
  const finalType = caseType(branches, otherwise, ctx)
  let chain: Expr = otherwise ?? { kind: 'Literal', value: null, type: NULL, span: e.span }
  for (let i = branches.length - 1; i >= 0; i--) {
    const { condition, value } = branches[i]!
    chain = {
      kind: 'Conditional',
      condition,
      whenTrue: value,
      whenFalse: chain,
      type: finalType,
      span: e.span,
    }
  }
  return chain
}

/**
 * `case x when w1 then v1 … end`: each `w` must compare with `x` by `==` (scalars of one kind,
 * as the items of `in`), and a literal `null` is refused (E0311): it would never match, as `x ==
 * null` is never true. The IR node evaluates `x` once (SimpleCaseExpr).
 */
function checkSimpleCase(e: CaseExpression, operandAst: Expression, ctx: OperatorContext): Expr {
  const operand = ctx.expr(operandAst)
  let ok = !isError(operand.type)
  if (ok && operand.type.kind === 'null') {
    ctx.report(
      'E0311',
      '`case null when …` never matches: a null equals nothing; give the `else` value alone, or test with `case when x is null then …`',
      operand.span,
    )
    ok = false
  }
  const operandBase = baseType(operand.type)
  if (ok && (operandBase.kind === 'map' || !comparable(operandBase, operandBase, false))) {
    ctx.report(
      'E0301',
      `\`case x when …\` compares scalars (string, bool, i64, f64, timestamp, duration), but this is \`${show(operand.type)}\`; write \`case when …\` with conditions instead`,
      operandAst.span,
    )
    ok = false
  }
  const branches = e.branches.map((b) => {
    const match = ctx.expr(b.condition)
    if (match.type.kind === 'null') {
      ctx.report(
        'E0311',
        '`when null` never matches: a null equals nothing, not even null; test with `case when x is null then …` instead',
        match.span,
      )
      ok = false
    } else if (
      ok &&
      !isError(match.type) &&
      !comparable(baseType(operand.type), baseType(match.type), false)
    ) {
      ctx.report(
        'E0301',
        `the values after \`when\` must have the type of the \`case\` operand (\`${show(operand.type)}\`), but this is \`${show(match.type)}\``,
        match.span,
        [{ message: `compared with this \`${show(operand.type)}\``, span: operandAst.span }],
      )
      ok = false
    }
    return { match, result: ctx.expr(b.value) }
  })
  const otherwise = e.otherwise === null ? null : ctx.expr(e.otherwise)
  const type = caseType(
    branches.map((b) => ({ value: b.result })),
    otherwise,
    ctx,
  )
  return {
    kind: 'SimpleCase',
    operand,
    branches,
    otherwise: otherwise ?? { kind: 'Literal', value: null, type: NULL, span: e.span },
    type: ok && branches.every((b) => !isError(b.match.type)) ? type : ERROR_TYPE,
    span: e.span,
  }
}

/** The values (and `else`) of a `case` unify like the branches of `if`; without `else` the result is optional. */
function caseType(
  branches: readonly { readonly value: Expr }[],
  otherwise: Expr | null,
  ctx: OperatorContext,
): Type {
  const values = [...branches.map((b) => b.value), ...(otherwise === null ? [] : [otherwise])]
  const first = branches[0]!.value
  let type: Type | null = first.type
  for (const value of values.slice(1)) {
    const next = unify(type, value.type)
    if (next === null) {
      ctx.report(
        'E0307',
        `the branches of \`case\` have different types: \`${show(type)}\` and \`${show(value.type)}\``,
        value.span,
        [{ message: `this branch is \`${show(first.type)}\``, span: first.span }],
      )
      type = ERROR_TYPE
      break
    }
    type = next
  }
  if (otherwise === null) type = unify(type, NULL) ?? ERROR_TYPE
  return type
}

/**
 * W0020 on a literal regular expression that repeats a repeated group without bound (`(a+)+`):
 * one event it fails to match can stall its partition (specs/language.md, Text patterns).
 */
export function warnBacktracking(fn: string, pattern: Expr, report: OperatorContext['report']): void {
  if (!fn.startsWith('regex_') || pattern.kind !== 'Literal' || typeof pattern.value !== 'string') return
  const group = nestedRepetition(pattern.value)
  if (group === null) return
  report(
    'W0020',
    `\`${group}\` repeats a group that repeats itself, so a text this pattern fails to match can take exponential time; bound one of the repetitions (\`{1,64}\`) or make it match each text one way only`,
    pattern.span,
  )
}
