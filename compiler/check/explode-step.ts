/**
 * Checking and lowering of `| explode list as item [or null]` (specs/language.md, "Lists"): one
 * event per item of a list, for the checker (check.ts), which lends it expression checking.
 *
 * Before: a step `explode items as item` over a record `{ id, items: list<Item> }`.
 * After:  an `Explode` node whose record is the input's fields followed by `item: Item` (optional
 *         with `or null`, or when the items are); the input's event-time field stays one.
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { ExplodeNode, Expr, RecordType, Span, Type } from '../ir/types.ts'
import type { ExplodeStep, Expression } from '../parse/ast.ts'
import { baseType, containsBareNull, describeRecord, ERROR_TYPE, isError, optional, show } from './types.ts'

export interface ExplodeContext {
  readonly record: Type
  readonly id: string
  readonly input: string
  expr(e: Expression): Expr
  checkFieldName(name: string, span: Span): void
  report(code: DiagnosticCode, message: string, span: Span): void
}

export function checkExplode(step: ExplodeStep, ctx: ExplodeContext): ExplodeNode {
  const list = ctx.expr(step.list)
  let item: Type = ERROR_TYPE
  if (!isError(list.type)) {
    const base = baseType(list.type)
    if (base.kind === 'list' && !containsBareNull(base.of)) item = base.of
    else if (base.kind === 'list') {
      ctx.report('E0310', 'the item type of a list of only `null`s cannot be inferred', step.list.span)
    } else {
      ctx.report(
        'E0332',
        `\`explode\` makes one event per item of a list, but this is \`${show(list.type)}\``,
        step.list.span,
      )
    }
  }
  ctx.checkFieldName(step.alias.name, step.alias.span)
  const input = isError(ctx.record) ? null : (baseType(ctx.record) as RecordType)
  if (input?.kind === 'record' && input.fields.some((f) => f.name === step.alias.name)) {
    ctx.report(
      'E0333',
      `the item's name \`${step.alias.name}\` is already a field of ${describeRecord(input)}; choose another name after \`as\` (drop the field with a \`select\` after the explode)`,
      step.alias.span,
    )
  }
  const schema: RecordType = {
    kind: 'record',
    fields: [
      ...(input?.kind === 'record' ? input.fields : []),
      { name: step.alias.name, type: step.orNull ? optional(item) : item },
    ],
  }
  return {
    kind: 'Explode',
    id: ctx.id,
    span: step.span,
    schema,
    input: ctx.input,
    list,
    alias: step.alias.name,
    outer: step.orNull,
  }
}
