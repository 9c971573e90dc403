/**
 * Code of tables and lookups, as entries of the generated module (runtime/artifact/operators.ts,
 * `tables` and `lookups`). The runtime's TableReader (runtime/table/) owns the rows, reading the
 * changelog topic; the generated code only does what depends on the pipeline's types:
 *
 *   tables[name]   the row decoders (from JSON bytes, from a parsed value), `key(row)`, the key
 *                  string of a row: the same string form as `key by` (specs/language.md §9), and
 *                  `time(row)`, its version time (the `@event_time` field), or null without one
 *   lookups[id]    one loop over a batch: each event's key string, the table's row for it, and the
 *                  output record (the event's fields, then the row under the alias; with `as of`,
 *                  the row as of the event's time expression, `table.getAsOf`); an inner
 *                  lookup drops an event with no row, a left one sets the alias to null. It
 *                  returns how many events found no row.
 *
 * Semantics: specs/language.md, "Tables and lookups"; the reference is the interpreter's
 * lookupOperator (compiler/ir/interpret.ts).
 */
import type { Expr, LookupNode, RecordType, Span, TableDecl, Type } from '../ir/types.ts'
import { compileExpr, type ExprContext, tsType } from './expressions.ts'
import { propertyAccess, propertyKey } from './property.ts'
import { siteMarker } from './site-marker.ts'

export interface LookupCodeContext {
  site(span: Span): number
  fnRef(name: string): { ref: string; nullPropagating: boolean; mayFail: boolean }
  /** Declares a constant of the generated module (ExprContext.constant). */
  constant(code: string): string
  typeName(type: Type): string | undefined
  /** The key string of a key expression's value (`code`), as `key by` computes it. */
  keyToString(expr: Expr, code: string, ctx: ExprContext): string
}

/** An expression context over row `r0` whose temporaries are declared by the caller. */
function expressionContext(context: LookupCodeContext, temps: string[]): ExprContext {
  return {
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
}

/**
 * `function name(r0: Row): string | null`: the key string of a table's row (null when the key
 * expression is null; throws an EvaluationError when it fails).
 */
export function tableKeyFunction(name: string, table: TableDecl, context: LookupCodeContext): string {
  const temps: string[] = []
  const ctx = expressionContext(context, temps)
  const keySite = context.site(table.key.span)
  const key = context.keyToString(table.key, compileExpr(table.key, ctx), ctx)
  return [
    `function ${name}(r0: ${tsType(table.schema, context.typeName)}): string | null {`,
    'let site = -1',
    ...(temps.length > 0 ? [`let ${temps.join(', ')}`] : []),
    siteMarker(keySite),
    `site = ${keySite}`,
    `return ${key}`,
    '}',
  ].join('\n')
}

/**
 * One lookup as a function with a single loop. Sketch for `lookup accounts as a on card` over
 * `{ id, card }`:
 *
 *   for (let i = 0; i < n; i++) {
 *     try {
 *       const r0 = values[i]
 *       site = 3; const key = r0.card
 *       const row = key === null ? undefined : table.get(key)
 *       if (row === undefined) { misses++; continue }
 *       outValues[o] = { id: r0.id, card: r0.card, a: row }; …; o++
 *     } catch (error) { errors.push({ index: i, error, site }) }
 *   }
 */
export function lookupFunction(
  name: string,
  node: LookupNode,
  inputSchema: RecordType,
  table: TableDecl,
  context: LookupCodeContext,
): string {
  const temps: string[] = []
  const ctx = expressionContext(context, temps)
  const stepSite = context.site(node.span)
  const key = context.keyToString(node.key, compileExpr(node.key, ctx), ctx)
  const at = node.asOf === null ? null : compileExpr(node.asOf, ctx)
  const rowType = tsType(table.schema, context.typeName)
  const fields = inputSchema.fields.map((f) => `${propertyKey(f.name)}: ${propertyAccess('r0', f.name)}`)
  const miss =
    node.mode === 'inner'
      ? ['if (row === undefined) {', 'misses++', 'continue', '}']
      : ['if (row === undefined) misses++']
  const alias = node.mode === 'inner' ? `row as ${rowType}` : `row === undefined ? null : (row as ${rowType})`
  const loopBody = [
    'try {',
    'const r0 = values[i]!',
    siteMarker(stepSite),
    `site = ${stepSite}`,
    `const key: string | null = ${key}`,
    ...(at === null
      ? ['const row = key === null ? undefined : table.get(key)']
      : [
          `const at: number | null = ${at}`,
          'const row = key === null || at === null ? undefined : table.getAsOf(key, at)',
        ]),
    ...miss,
    `const r1: ${tsType(node.schema, context.typeName)} = { ${[...fields, `${node.alias}: ${alias}`].join(', ')} }`,
    'outValues[o] = r1; outKeys[o] = keys[i]!; outTimestamps[o] = timestamps[i]!; outOrigins[o] = origins[i]!; o++',
    '} catch (error) {',
    'errors.push({ index: i, error, site })',
    '}',
  ]
  return [
    `function ${name}(input: EventBatch, output: EventBatch, errors: ChainError[], table: LookupTable): number {`,
    `const values = input.values as ${tsType(inputSchema, context.typeName)}[], keys = input.keys, timestamps = input.timestamps, origins = input.origins, n = input.length`,
    'const outValues = output.values, outKeys = output.keys, outTimestamps = output.timestamps, outOrigins = output.origins',
    'let o = 0',
    'let misses = 0',
    'let site = -1',
    ...(temps.length > 0 ? [`let ${temps.join(', ')}`] : []),
    `for (let i = 0; i < n; i++) {\n${loopBody.join('\n')}\n}`,
    'output.length = o',
    siteMarker('end'),
    'return misses',
    '}',
  ].join('\n')
}
