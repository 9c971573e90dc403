/**
 * Code of a windowed aggregate's per-event and per-result work, as an entry of the generated
 * module's `windows` (runtime/artifact/operators.ts, WindowFunctions). The runtime's window
 * operator owns the windows, the watermark and the accumulator store (WebAssembly or typed
 * arrays); the generated code only does what depends on the pipeline's types and expressions:
 *
 *   accumulators  the store's accumulator kinds, one per aggregate that needs one (avg uses a sum;
 *                 max_by/min_by use two: the `by` compared, then `taken`, the x of the chosen event)
 *   rich          the rich aggregates (count_distinct, approx_count_distinct, quantile, top_k) with
 *                 their literal k or q: the runtime keeps their stdlib/sketches accumulators
 *   extract       one loop over a batch: each event's state key string, and each accumulator's
 *                 argument as an f64 (NaN for null) in column j at the event's index, each rich
 *                 aggregate's raw argument in richArgs[r] at the event's index (and a session
 *                 gap computed per event in `gaps`); an event that fails (a key, an argument, a
 *                 non-finite f64, a gap that is not positive) is reported and its key is null
 *   keyValues     the key field values back from a key string (for results after a restore)
 *   result        the output record of one store row and the finished rich values: keys, then the
 *                 aggregates in written order; `final` false for an early result (window_final())
 *
 * Semantics: specs/language.md, "Windows"; the reference is compiler/ir/window-semantics.ts.
 */
import { isRichFunction } from '../../stdlib/sketches/index.ts'
import { isOptional, unwrapOptional } from '../ir/expr.ts'
import type { Expr, Type, WindowAggregateField, WindowAggregateNode } from '../ir/types.ts'
import { compileExpr, type ExprContext } from './expressions.ts'
import { propertyKey } from './property.ts'

export interface WindowCodeContext {
  site(span: WindowAggregateNode['span']): number
  fnRef(name: string): { ref: string; nullPropagating: boolean; mayFail: boolean }
  /** Declares a constant of the generated module (ExprContext.constant). */
  constant(code: string): string
  typeName(type: Type): string | undefined
}

/**
 * Whether a field's state is a rich accumulator (stdlib/sketches) rather than a store column: the
 * sketches, and max_by/min_by of a string or bool (store columns hold numbers).
 */
export function isRich(field: WindowAggregateField): boolean {
  if (field.by !== undefined) return !NUMERIC_KINDS.has(unwrapOptional(field.arg!.type).kind)
  return isRichFunction(field.fn)
}

const NUMERIC_KINDS: ReadonlySet<string> = new Set(['i64', 'f64', 'timestamp'])

/**
 * The accumulator (store column pair) of each field, or null for window_start()/window_end() and
 * the rich aggregates.
 */
export function accumulatorOf(field: WindowAggregateField): string | null {
  if (isRich(field)) return null
  switch (field.fn) {
    case 'window_start':
    case 'window_end':
    case 'window_final':
      return null
    case 'avg':
      return 'sum'
    default:
      return field.fn
  }
}

/** The object literal of one window's functions. */
export function windowFunctions(node: WindowAggregateNode, context: WindowCodeContext): string {
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
  const keyCodes = node.keys.map((key) => compileExpr(key.value, ctx))
  const keyTypes = node.keys.map((key) => key.value.type)
  const singleString = keyTypes.length === 1 && keyTypes[0]!.kind === 'string'
  const keyString = singleString
    ? keyCodes[0]!
    : keyTypes.length === 1
      ? `JSON.stringify(${keyCodes[0]})`
      : `JSON.stringify([${keyCodes.join(', ')}])`

  const accumulators: string[] = []
  /** Per accumulator, the column its argument is in (-1: none); equal arguments share one column. */
  const argColumns: number[] = []
  const columnOfArgument = new Map<string, number>()
  const rich: { fn: string; k?: number; q?: number }[] = []
  const extractLines: string[] = []
  const resultFields: string[] = []
  /**
   * The column of accumulator j's argument: a column already holding the same expression
   * (`sum(amount)`, `max(amount)`, `avg(amount)`: evaluated and checked once), else column j,
   * which extract fills.
   */
  const argumentColumn = (arg: Expr, j: number, v: string, fn: string, fieldSite: number): number => {
    const argument = JSON.stringify(arg, (name, value) => (name === 'span' ? undefined : value))
    const shared = columnOfArgument.get(argument)
    if (shared !== undefined) return shared
    columnOfArgument.set(argument, j)
    extractLines.push(`site = ${fieldSite}`, `const ${v} = ${compileExpr(arg, ctx)}`)
    if (unwrapOptional(arg.type).kind === 'f64') {
      extractLines.push(
        `if (${v} !== null && !Number.isFinite(${v})) throw new EvaluationError(\`${fn} of \${${v}}: aggregates take finite numbers only\`, ${fieldSite})`,
      )
    }
    extractLines.push(
      isOptional(arg.type)
        ? `columns[${j}]![i] = ${v} === null ? Number.NaN : ${v}`
        : `columns[${j}]![i] = ${v}`,
    )
    return j
  }
  node.aggregates.forEach((field, fieldIndex) => {
    const fieldSite = context.site(field.span)
    if (isRich(field)) {
      const r = rich.length
      rich.push({
        fn: field.fn,
        ...(field.k === undefined ? {} : { k: field.k }),
        ...(field.q === undefined ? {} : { q: field.q }),
      })
      const v = `a${fieldIndex}`
      const finite = (name: string, arg: Expr) =>
        unwrapOptional(arg.type).kind === 'f64'
          ? [
              `if (${name} !== null && !Number.isFinite(${name})) throw new EvaluationError(\`${field.fn} of \${${name}}: aggregates take finite numbers only\`, ${fieldSite})`,
            ]
          : []
      extractLines.push(
        `site = ${fieldSite}`,
        `const ${v} = ${compileExpr(field.arg!, ctx)}`,
        ...finite(v, field.arg!),
      )
      if (field.by !== undefined) {
        // max_by/min_by of a string or bool: [x, by, the event's time] (stdlib/sketches/arg-best.ts).
        const b = `b${fieldIndex}`
        extractLines.push(`const ${b} = ${compileExpr(field.by, ctx)}`, ...finite(b, field.by))
        extractLines.push(`richArgs[${r}]![i] = [${v}, ${b}, input.timestamps[i]!]`)
      } else extractLines.push(`richArgs[${r}]![i] = ${v}`)
      resultFields.push(`${propertyKey(field.name)}: rich[${r}]`)
      return
    }
    const kind = accumulatorOf(field)
    if (kind === null) {
      const bound = { window_start: 'start', window_end: 'end', window_final: 'final !== false' }
      resultFields.push(`${propertyKey(field.name)}: ${bound[field.fn as keyof typeof bound]}`)
      return
    }
    const j = accumulators.length
    accumulators.push(kind)
    argColumns.push(-1)
    if (field.by !== undefined) {
      // max_by(x, by): accumulator j compares `by`, the next one takes `x` from the event j chose.
      // x is evaluated first, as the interpreter does (the first failure is the one reported).
      accumulators.push('taken')
      argColumns.push(argumentColumn(field.arg!, j + 1, `a${fieldIndex}`, field.fn, fieldSite))
      argColumns[j] = argumentColumn(field.by, j, `b${fieldIndex}`, field.fn, fieldSite)
    } else if (field.arg !== null) {
      argColumns[j] = argumentColumn(field.arg, j, `a${fieldIndex}`, field.fn, fieldSite)
    }
    resultFields.push(`${propertyKey(field.name)}: ${resultCode(field, j, fieldSite)}`)
  })

  if (node.window.kind === 'session' && node.window.gap !== null) {
    const gapSite = context.site(node.window.gap.span)
    extractLines.push(
      `site = ${gapSite}`,
      `const gap = ${compileExpr(node.window.gap, ctx)}`,
      `if (gap === null || !(gap > 0)) throw new EvaluationError(\`a session gap must be a positive duration, but it is \${gap === null ? 'null' : \`\${gap} ms\`}\`, ${gapSite})`,
      'gaps[i] = gap',
    )
  }
  const keyFields = node.keys.map((key, i) => `${propertyKey(key.name)}: kv[${i}]`)
  const keyValues = singleString
    ? '(key: string): readonly unknown[] => [key]'
    : keyTypes.length === 1
      ? '(key: string): readonly unknown[] => [JSON.parse(key)]'
      : '(key: string): readonly unknown[] => JSON.parse(key) as unknown[]'
  const inputType = 'any'
  return [
    '{',
    `accumulators: ${JSON.stringify(accumulators)} as const,`,
    `rich: ${JSON.stringify(rich)} as const,`,
    `argColumns: ${JSON.stringify(argColumns)},`,
    `extract(input: EventBatch, keys: (string | null)[], columns: readonly Float64Array[], errors: ChainError[], gaps: Float64Array, richArgs: unknown[][]): void {`,
    `const values = input.values as ${inputType}[], n = input.length`,
    'let site = -1',
    ...(temps.length > 0 ? [`let ${temps.join(', ')}`] : []),
    'for (let i = 0; i < n; i++) {',
    'try {',
    'const r0 = values[i]!',
    `site = ${stepSite}`,
    `const key = ${keyString}`,
    ...extractLines,
    'keys[i] = key',
    '} catch (error) {',
    'keys[i] = null',
    'errors.push({ index: i, error, site })',
    '}',
    '}',
    '},',
    `keyValues: ${keyValues},`,
    'result(kv: readonly unknown[], start: number, end: number, values: readonly Float64Array[], aux: readonly Float64Array[], row: number, rich: readonly unknown[], final?: boolean): unknown {',
    `return { ${[...keyFields, ...resultFields].join(', ')} }`,
    '},',
    '}',
  ].join('\n')
}

/** A field's value from row `row` of accumulator `j` (see runtime/window/accumulator-store.ts). */
function resultCode(field: WindowAggregateField, j: number, site: number): string {
  const value = `values[${j}]![row]!`
  const aux = `aux[${j}]![row]!`
  const overflow = (kind: string) =>
    `windowOverflow('${kind}', '${field.fn}', ${JSON.stringify(field.name)}, ${site})`
  switch (field.fn) {
    case 'count':
      return value
    case 'sum':
      return unwrapOptional(field.arg!.type).kind === 'i64'
        ? `(${aux} === 0 ? null : Math.abs(${value}) > Number.MAX_SAFE_INTEGER ? ${overflow('i64')} : ${value})`
        : `(${aux} === 0 ? null : Number.isFinite(${value}) ? ${value} : ${overflow('f64')})`
    case 'avg':
      return `(${aux} === 0 ? null : Number.isFinite(${value}) ? ${value} / ${aux} : ${overflow('f64')})`
    case 'min':
    case 'max':
      return `(${aux} === 0 ? null : ${value})`
    case 'first':
    case 'last':
      return `(Number.isFinite(${aux}) ? ${value} : null)`
    case 'max_by':
    case 'min_by': {
      // The value taken (NaN: none chosen yet, or the chosen event's x was null).
      const taken = `values[${j + 1}]![row]!`
      return `(Number.isNaN(${taken}) ? null : ${taken})`
    }
    default:
      throw new Error(`codegen: ${field.fn} has no accumulator`)
  }
}

/** Helpers of the window functions; emitted once per generated module that has windows. */
export const WINDOW_HELPERS = `
  function windowOverflow(kind: string, fn: string, name: string, site: number): never {
    throw new EvaluationError(\`\${kind} overflow in \${fn} \\\`\${name}\\\` of a window\`, site)
  }
`
