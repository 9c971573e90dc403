/**
 * Code of a `match` step, as an entry of the generated module's `matches`: the CepFunctions of
 * runtime/cep/engine.ts. The runtime's CEP operator (runtime/cep/cep-operator.ts) owns keys,
 * buffering, watermarks and the NFA; the generated code only does what depends on the pipeline's
 * types and expressions:
 *
 *   conditions / untils  per step, `(event, context) => boolean`: the step's condition over the
 *                        current event (`r0`), where a step's name reads `context.events(step)`;
 *                        a null condition counts false; a failure throws an EvaluationError
 *                        carrying the site of the expression (or of the condition) that failed
 *   masks                one loop over a batch evaluating every event-local condition (a step
 *                        whose `reads` is empty) into a bitmask: bit s its condition, bit 16 + s
 *                        its `until` (for the WebAssembly kernel, which cannot call back)
 *   key                  the `match by` key string of an event (as `key by` writes it), '' for
 *                        all events when the step has no `by`
 *   select / timeout     the output record of a match / of a timed-out partial match
 *
 * Semantics: specs/language.md, "Patterns"; docs/cep.md.
 */
import type { Expr, MatchNode, Span, Type } from '../ir/types.ts'
import { compileExpr, type ExprContext, tsType } from './expressions.ts'
import { propertyKey } from './property.ts'

export interface CepCodeContext {
  site(span: Span): number
  fnRef(name: string): { ref: string; nullPropagating: boolean; mayFail: boolean }
  /** Declares a constant of the generated module (ExprContext.constant). */
  constant(code: string): string
  /** The event-key text of a key expression's value (null when it is null). */
  keyToString(expr: Expr, code: string, ctx: ExprContext): string
  /** The TypeScript name of a record type. */
  typeName?(type: Type): string | undefined
}

/** Helpers the match functions call; emitted once per module that has a match. */
export const CEP_HELPERS = `
  function withSite(error: unknown, site: number): unknown {
    return error instanceof EvaluationError && (error as { site?: number }).site === -1
      ? new EvaluationError((error as Error).message, site)
      : error
  }
  const NO_EVENTS: MatchContext = { events: () => [] }
`

/** A function body's temporaries and the ExprContext that declares them. */
function scope(context: CepCodeContext, row: string, steps: string | undefined) {
  const temps: string[] = []
  const ctx: ExprContext = {
    row,
    ...(steps === undefined ? {} : { steps }),
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
  const declare = () => (temps.length > 0 ? `let ${temps.join(', ')}\n` : '')
  return { ctx, declare }
}

/** A condition as a JS boolean expression: a null counts false. */
function truth(condition: Expr, code: string): string {
  return condition.type.kind === 'bool' ? code : `${code} === true`
}

/** The object literal of one match's functions. */
export function cepFunctions(node: MatchNode, context: CepCodeContext): string {
  const input = tsType(node.inputSchema, context.typeName)
  const condition = (expr: Expr | null): string => {
    if (expr === null) return 'null'
    const { ctx, declare } = scope(context, 'r0', 'context')
    const code = truth(expr, compileExpr(expr, ctx))
    return [
      '(event: unknown, context: MatchContext): boolean => {',
      `const r0 = event as ${input}`,
      `let site = ${context.site(expr.span)}`,
      declare(),
      `try { return ${code} } catch (error) { throw withSite(error, site) }`,
      '}',
    ].join('\n')
  }
  const entries = [
    `conditions: [${node.steps.map((s) => condition(s.condition)).join(',\n')}],`,
    `untils: [${node.steps.map((s) => condition(s.until)).join(',\n')}],`,
  ]
  const masks = masksFunction(node, context)
  if (masks !== null) entries.push(`masks: ${masks},`)
  entries.push(`key: ${keyFunction(node, context)},`)
  entries.push(
    `select: ${recordFunction(node.fields, node.span, '(context: MatchContext, _key: string)', context)},`,
  )
  entries.push(
    `timeout: ${
      node.timeout === null
        ? 'null'
        : recordFunction(
            node.timeout.fields,
            node.span,
            '(context: MatchContext, _key: string, _timedOutAt: number)',
            context,
          )
    },`,
  )
  return `{\n${entries.join('\n')}\n}`
}

/** Evaluates every event-local condition (and `until`) of a batch into bitmasks; null when none is. */
function masksFunction(node: MatchNode, context: CepCodeContext): string | null {
  const local = node.steps.map((s, index) => ({ s, index })).filter(({ s }) => s.reads.length === 0)
  if (local.length === 0) return null
  const { ctx, declare } = scope(context, 'r0', 'NO_EVENTS')
  const lines: string[] = []
  for (const { s, index } of local) {
    lines.push(`site = ${context.site(s.condition.span)}`)
    lines.push(`if (${truth(s.condition, compileExpr(s.condition, ctx))}) m |= ${1 << index}`)
    if (s.until !== null) {
      lines.push(`site = ${context.site(s.until.span)}`)
      lines.push(`if (${truth(s.until, compileExpr(s.until, ctx))}) m |= ${(1 << (16 + index)) >>> 0}`)
    }
  }
  return [
    '(rows: readonly unknown[], n: number, masks: Uint32Array, failed: Uint8Array, errors: { index: number; error: unknown; site: number }[]): void => {',
    'let site = -1',
    declare(),
    'for (let i = 0; i < n; i++) {',
    `const r0 = rows[i] as ${tsType(node.inputSchema, context.typeName)}`,
    'let m = 0',
    'try {',
    ...lines,
    'masks[i] = m',
    'failed[i] = 0',
    '} catch (error) {',
    'masks[i] = 0',
    'failed[i] = 1',
    'const located = withSite(error, site)',
    'errors.push({ index: i, error: located, site: (located as { site?: number }).site ?? site })',
    '}',
    '}',
    '}',
  ].join('\n')
}

function keyFunction(node: MatchNode, context: CepCodeContext): string {
  if (node.key === null) return "(_event: unknown): string | null => ''"
  const { ctx, declare } = scope(context, 'r0', undefined)
  const code = context.keyToString(node.key, compileExpr(node.key, ctx), ctx)
  return [
    '(event: unknown): string | null => {',
    `const r0 = event as ${tsType(node.inputSchema, context.typeName)}`,
    `let site = ${context.site(node.key.span)}`,
    declare(),
    `try { return ${code} } catch (error) { throw withSite(error, site) }`,
    '}',
  ].join('\n')
}

/** `select` or `timeout`: a record of fields over the steps' events. */
function recordFunction(
  fields: MatchNode['fields'],
  span: Span,
  parameters: string,
  context: CepCodeContext,
): string {
  const { ctx, declare } = scope(context, 'r0', 'context')
  const values = fields.map((f) => `${propertyKey(f.name)}: ${compileExpr(f.value, ctx)}`)
  return [
    `${parameters}: unknown => {`,
    `let site = ${context.site(span)}`,
    declare(),
    `try { return { ${values.join(', ')} } } catch (error) { throw withSite(error, site) }`,
    '}',
  ].join('\n')
}
