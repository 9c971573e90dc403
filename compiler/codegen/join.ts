/**
 * Code of a join's per-event and per-result work, as an entry of the generated module's `joins`
 * (runtime/artifact/operators.ts, JoinFunctions). The runtime's join operator
 * (runtime/join/interval-join.ts) owns the buffers, the watermarks and the bound; the generated
 * code only does what depends on the pipeline's types and expressions:
 *
 *   leftKeys / rightKeys  one loop over a batch of that side: each event's join key string (null
 *                         when a key value is null: it matches nothing), or an error for the event
 *   output                the output record of a pair or an outer row, `{ <left alias>, <right alias> }`,
 *                         and for a window join its window's `window_start` and `window_end`
 *   late                  the record of a late event: `{ <left alias>, <right alias> }`, one side null
 *
 * An event's time is not computed here: it travels with the event in the batch's `timestamps`
 * (the side's `@event_time` as its source read it, §7), also where a `select` dropped the field.
 *
 * The key string is the interpreter's (compiler/ir/interpret.ts, joinKeyFunction): one key as an
 * event key is written (a string as it is, numbers in decimal, bools as words, timestamps ISO),
 * several as the JSON array of those strings. Semantics: specs/language.md, "Joins".
 */
import type { Expr, JoinNode, Type } from '../ir/types.ts'
import { compileExpr, type ExprContext } from './expressions.ts'

export interface JoinCodeContext {
  site(span: JoinNode['span']): number
  fnRef(name: string): { ref: string; nullPropagating: boolean; mayFail: boolean }
  /** Declares a constant of the generated module (ExprContext.constant). */
  constant(code: string): string
  /** The event-key text of a key expression's value (null when it is null). */
  keyToString(expr: Expr, code: string, ctx: ExprContext): string
  /** The TypeScript name of a record type. */
  typeName?(type: Type): string | undefined
}

/** The object literal of one join's functions. */
export function joinFunctions(node: JoinNode, context: JoinCodeContext): string {
  const sides = `${JSON.stringify(node.leftAlias)}: left, ${JSON.stringify(node.rightAlias)}: right`
  return [
    '{',
    `leftKeys: ${keysFunction(node, node.leftKeys, context)},`,
    `rightKeys: ${keysFunction(node, node.rightKeys, context)},`,
    `output: (left: unknown, right: unknown, start: number, end: number): unknown => ({ ${sides}${node.bound.kind === 'interval' ? '' : ', window_start: start, window_end: end'} }),`,
    `late: (left: unknown, right: unknown): unknown => ({ ${sides} }),`,
    '}',
  ].join('\n')
}

function keysFunction(node: JoinNode, keys: readonly Expr[], context: JoinCodeContext): string {
  const temps: string[] = []
  const ctx: ExprContext = {
    row: 'r0',
    temp: (type) => {
      const t = `t${temps.length}`
      temps.push(`${t}: ${type} = null`)
      return t
    },
    site: (span) => context.site(span),
    fn: (name) => context.fnRef(name),
    constant: (code) => context.constant(code),
    typeName: context.typeName,
  }
  const stepSite = context.site(node.span)
  const lines: string[] = []
  keys.forEach((key, k) => {
    lines.push(
      `site = ${context.site(key.span)}`,
      `const k${k} = ${context.keyToString(key, compileExpr(key, ctx), ctx)}`,
      `if (k${k} === null) { keys[i] = null; continue }`,
    )
  })
  const keyString = keys.length === 1 ? 'k0' : `JSON.stringify([${keys.map((_, k) => `k${k}`).join(', ')}])`
  return [
    '(input: EventBatch, keys: (string | null)[], errors: ChainError[]): void => {',
    'const values = input.values as any[], n = input.length',
    `let site = ${stepSite}`,
    ...(temps.length > 0 ? [`let ${temps.join(', ')}`] : []),
    'for (let i = 0; i < n; i++) {',
    'try {',
    'const r0 = values[i]!',
    ...lines,
    `keys[i] = ${keyString}`,
    '} catch (error) {',
    'keys[i] = null',
    'errors.push({ index: i, error, site })',
    '}',
    '}',
    '}',
  ].join('\n')
}
