/**
 * The list functions that take a lambda: `map(l, x -> e)`, `filter(l, x -> c)`, `any(l, x -> c)`
 * and `all(l, x -> c)` (specs/language.md, "Lists"). The lambda's parameter is the list's item,
 * typed as the list's item type, and shadows fields (and outer parameters) of the same name in
 * its body. A lambda anywhere else is refused (E0330), and these functions take nothing but a
 * list and a lambda (E0303, E0304, E0331).
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { Expr, ListLambdaFunction, Span, Type } from '../ir/types.ts'
import type { Expression, Identifier } from '../parse/ast.ts'
import {
  BOOL,
  baseType,
  containsBareNull,
  ERROR_TYPE,
  isError,
  isNullable,
  listOf,
  show,
  withNullability,
} from './types.ts'

export const LAMBDA_FUNCTIONS: readonly ListLambdaFunction[] = ['map', 'filter', 'any', 'all']

export function isLambdaFunction(name: string): name is ListLambdaFunction {
  return (LAMBDA_FUNCTIONS as readonly string[]).includes(name)
}

export interface LambdaContext {
  /** Checks an expression in the call's scope, with `local` (a lambda parameter) added when given. */
  expr(e: Expression, local?: { readonly name: string; readonly type: Type }): Expr
  report(code: DiagnosticCode, message: string, span: Span): void
}

const EXAMPLES: Readonly<Record<ListLambdaFunction, string>> = {
  map: 'map(items, i -> i.price * i.qty)',
  filter: 'filter(items, i -> i.qty > 0)',
  any: 'any(tags, t -> t == "vip")',
  all: 'all(items, i -> i.qty > 0)',
}

/** The message for a lambda where none can be: it is only an argument of these functions. */
export function misplacedLambdaMessage(): string {
  return 'a lambda `x -> …` can only be the second argument of `map`, `filter`, `any` or `all` (e.g. `map(items, i -> i.price)`)'
}

export function checkListLambda(
  fn: ListLambdaFunction,
  callee: Identifier,
  argAsts: readonly Expression[],
  span: Span,
  ctx: LambdaContext,
): Expr {
  const failed = (list: Expr): Expr => ({
    kind: 'ListLambda',
    fn,
    list,
    param: '',
    body: list,
    type: ERROR_TYPE,
    span,
  })
  const none: Expr = { kind: 'Literal', value: null, type: ERROR_TYPE, span }
  if (argAsts.length !== 2) {
    for (const arg of argAsts) if (arg.kind !== 'Lambda') ctx.expr(arg)
    ctx.report(
      'E0303',
      `\`${fn}\` takes a list and a lambda (\`${EXAMPLES[fn]}\`), but ${argAsts.length} argument${argAsts.length === 1 ? ' was' : 's were'} given`,
      callee.span,
    )
    return failed(none)
  }
  const [listAst, lambda] = argAsts as [Expression, Expression]
  // A lambda in the list's place is refused by the checker's expression rule (E0330).
  const list = ctx.expr(listAst)
  if (lambda.kind !== 'Lambda') {
    ctx.report(
      'E0331',
      `the second argument of \`${fn}\` must be a lambda \`x -> …\` over the items (\`${EXAMPLES[fn]}\`)`,
      lambda.span,
    )
    return failed(list)
  }
  let item: Type = ERROR_TYPE
  if (!isError(list.type)) {
    const base = baseType(list.type)
    if (base.kind === 'list') item = base.of
    else {
      ctx.report(
        'E0304',
        `\`${fn}\` needs a list as its first argument, but this is \`${show(list.type)}\``,
        listAst.span,
      )
    }
  }
  const body = ctx.expr(lambda.body, { name: lambda.param.name, type: item })
  const result = (type: Type): Expr => ({
    kind: 'ListLambda',
    fn,
    list,
    param: lambda.param.name,
    body,
    type,
    span,
  })
  if (isError(list.type) || isError(item) || isError(body.type)) return result(ERROR_TYPE)
  const nullableList = isNullable(list.type)
  if (fn === 'map') {
    if (containsBareNull(body.type)) {
      ctx.report(
        'E0310',
        'the item type of the mapped list cannot be inferred: a bare `null` has no type (give it one, e.g. `if false then 0 else null` for an `i64?`)',
        lambda.body.span,
      )
      return result(ERROR_TYPE)
    }
    return result(withNullability(listOf(body.type), nullableList))
  }
  if (baseType(body.type).kind !== 'bool') {
    ctx.report(
      'E0302',
      `the lambda of \`${fn}\` needs a \`bool\` condition, but this is \`${show(body.type)}\``,
      lambda.body.span,
    )
    return result(ERROR_TYPE)
  }
  if (fn === 'filter') return result(list.type)
  return result(withNullability(BOOL, nullableList || isNullable(body.type)))
}
