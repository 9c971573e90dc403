/**
 * Turns a typed IR expression into one JavaScript expression (text), for the body of a fused
 * chain. The checked types decide the code: an operand whose type is not optional gets no null
 * test at all, so a chain over required fields compiles to the plain arithmetic a hand-written
 * loop would have. Optional operands go through temporaries (`t0`, `t1`, …) declared once per
 * chain function, so nothing is evaluated twice and no closure is allocated per event.
 *
 * Semantics are those of specs/language.md and the reference interpreter (compiler/ir/interpret.ts);
 * the property test in codegen.test.ts compares the two on random events.
 */
import { isOptional, unwrapOptional } from '../ir/expr.ts'
import type { BinaryExpr, Expr, Span, Type } from '../ir/types.ts'
import { INLINE_CALLS } from './inline-calls.ts'
import { uncheckedIntegerOp } from './overflow.ts'

export interface ExprContext {
  /** The JS variable holding the current record. */
  readonly row: string
  /**
   * In a `match` step's code: the JS variable holding the MatchContext (runtime/cep/engine.ts),
   * whose `events(step)` a StepRef reads.
   */
  readonly steps?: string
  /** Declares a temporary of the given TS type and returns its name. */
  temp(type: string): string
  /** The variable holding an expression already computed in this step (common-subexpressions.ts). */
  readonly shared?: (expr: Expr) => string | undefined
  /** The TypeScript name of a record type (generate.ts names them all), so types are not spelled out. */
  readonly typeName?: (type: Type) => string | undefined
  /** Registers a source location for evaluation errors and returns its site index. */
  site(span: Span): number
  /** The JS name under which a stdlib function's impl is bound in the generated module. */
  fn(name: string): { readonly ref: string; readonly nullPropagating: boolean; readonly mayFail: boolean }
}

const MAX_SAFE = 'Number.MAX_SAFE_INTEGER'

/** TypeScript text of a value type (records inline; codegen names schemas separately). */
export function tsType(type: Type, names?: (type: Type) => string | undefined): string {
  const named = names?.(type)
  if (named) return named
  switch (type.kind) {
    case 'string':
      return 'string'
    case 'bool':
      return 'boolean'
    case 'i64':
    case 'f64':
    case 'timestamp':
    case 'duration':
      return 'number'
    case 'null':
      return 'null'
    case 'optional':
      return `${tsType(type.of, names)} | null`
    case 'list': {
      const item = tsType(type.of, names)
      return item.includes('|') ? `(${item})[]` : `${item}[]`
    }
    case 'record':
      return `{ ${type.fields.map((f) => `${f.name}: ${tsType(f.type, names)}`).join('; ')} }`
  }
}

export function compileExpr(expr: Expr, ctx: ExprContext): string {
  const shared = ctx.shared?.(expr)
  if (shared !== undefined) return shared
  return (EMIT[expr.kind] as (e: Expr, c: ExprContext) => string)(expr, ctx)
}

type ExprOf<K extends Expr['kind']> = Extract<Expr, { kind: K }>

const EMIT: { readonly [K in Expr['kind']]: (expr: ExprOf<K>, ctx: ExprContext) => string } = {
  Literal: (e) => literal(e.value),
  Column: (e, ctx) => `${ctx.row}.${e.name}`,
  Member: (e, ctx) => {
    const object = compileExpr(e.object, ctx)
    if (!isOptional(e.object.type)) return `${object}.${e.name}`
    const t = ctx.temp(tsType(e.object.type, ctx.typeName))
    return `((${t} = ${object}) === null ? null : ${t}.${e.name})`
  },
  Index: (e, ctx) => {
    const object = compileExpr(e.object, ctx)
    const index = compileExpr(e.index, ctx)
    return nullGuarded(ctx, [e.object, e.index], [object, index], ([o, i]) => `elementAt(${o}, ${i})`)
  },
  Unary: (e, ctx) => {
    const operand = compileExpr(e.operand, ctx)
    const apply = (v: string) => (e.op === 'not' ? `!${v}` : `-${v}`)
    return nullGuarded(ctx, [e.operand], [operand], ([v]) => `(${apply(v!)})`)
  },
  Binary: (e, ctx) => (e.op === 'and' || e.op === 'or' ? logical(e, ctx) : binary(e, ctx)),
  Coalesce: (e, ctx) => {
    const left = compileExpr(e.left, ctx)
    if (!isOptional(e.left.type)) return left
    const t = ctx.temp(tsType(e.left.type, ctx.typeName))
    return `((${t} = ${left}) !== null ? ${t} : ${compileExpr(e.right, ctx)})`
  },
  IsNull: (e, ctx) => {
    // A non-optional operand is never null, but it is still evaluated: it may fail (the checker
    // warns that the test is constant), and the reference interpreter evaluates it too.
    if (!isOptional(e.operand.type))
      return `${e.negated ? '!' : ''}alwaysFalse(${compileExpr(e.operand, ctx)})`
    return `(${compileExpr(e.operand, ctx)} ${e.negated ? '!==' : '==='} null)`
  },
  Conditional: (e, ctx) => {
    const condition = compileExpr(e.condition, ctx)
    const test = isOptional(e.condition.type) ? `${condition} === true` : condition
    return `(${test} ? ${compileExpr(e.whenTrue, ctx)} : ${compileExpr(e.whenFalse, ctx)})`
  },
  Call: (e, ctx) => {
    const args = e.args.map((arg) => compileExpr(arg, ctx))
    const inline = Object.hasOwn(INLINE_CALLS, e.fn) ? INLINE_CALLS[e.fn]! : undefined
    if (inline) return nullGuarded(ctx, e.args, args, inline)
    const fn = ctx.fn(e.fn)
    // A call that may fail first points the chain's `site` at itself, so its evaluation error is
    // located at the call (`sqrt(x)`), not at the step keyword it is in.
    const call = (values: readonly string[]) =>
      fn.mayFail
        ? `(site = ${ctx.site(e.span)}, ${fn.ref}(${values.join(', ')}))`
        : `${fn.ref}(${values.join(', ')})`
    if (!fn.nullPropagating) return call(args)
    return nullGuarded(ctx, e.args, args, call)
  },
  Record: (e, ctx) => `{ ${e.fields.map((f) => `${f.name}: ${compileExpr(f.value, ctx)}`).join(', ')} }`,
  List: (e, ctx) => `[${e.items.map((item) => compileExpr(item, ctx)).join(', ')}]`,
  StepRef: (e, ctx) => {
    if (ctx.steps === undefined) throw new Error(`codegen: step \`${e.name}\` read outside a match step`)
    const events = `${ctx.steps}.events(${e.step})`
    // A list is the events as they are; a record, the one event or null (the checker typed it so).
    return unwrapOptional(e.type).kind === 'list'
      ? `(${events} as ${tsType(e.type, ctx.typeName)})`
      : `((${events}[0] ?? null) as ${tsType(e.type, ctx.typeName)})`
  },
  Project: (e, ctx) => {
    const object = compileExpr(e.object, ctx)
    const item = (unwrapOptional(e.object.type) as Extract<Type, { kind: 'list' }>).of
    const read = isOptional(item) ? `(r === null ? null : r.${e.name})` : `r.${e.name}`
    return nullGuarded(
      ctx,
      [e.object],
      [object],
      ([list]) => `${list}.map((r: ${tsType(item, ctx.typeName)}) => ${read})`,
    )
  },
  ListFunction: (e, ctx) => {
    const list = compileExpr(e.list, ctx)
    const kind = unwrapOptional(e.type).kind
    const call = ([l]: readonly string[]) =>
      e.fn === 'sum'
        ? kind === 'f64'
          ? `listSum(${l})`
          : `listSumInteger(${l}, ${ctx.site(e.span)})`
        : `list${e.fn[0]!.toUpperCase()}${e.fn.slice(1)}(${l})`
    return nullGuarded(ctx, [e.list], [list], call)
  },
}

function literal(value: string | number | boolean | null): string {
  if (typeof value === 'number') return value < 0 || Object.is(value, -0) ? `(${value})` : String(value)
  return JSON.stringify(value)
}

/**
 * Evaluates `codes` once each; when any operand whose type is optional is null the result is
 * null, else `body` of the evaluated values. Non-optional operands are used in place.
 */
function nullGuarded(
  ctx: ExprContext,
  operands: readonly Expr[],
  codes: readonly string[],
  body: (values: readonly string[]) => string,
): string {
  const checks: string[] = []
  const values = codes.map((code, i) => {
    const operand = operands[i]!
    if (!isOptional(operand.type)) return code
    const t = ctx.temp(tsType(operand.type, ctx.typeName))
    checks.push(`(${t} = ${code}) === null`)
    return t
  })
  if (checks.length === 0) return body(values)
  // The casts are sound: each temp was just tested against null.
  const narrowed = values.map((v, i) =>
    isOptional(operands[i]!.type)
      ? `(${v} as ${tsType(unwrapOptional(operands[i]!.type), ctx.typeName)})`
      : v,
  )
  return `(${checks.join(' || ')} ? null : ${body(narrowed)})`
}

/** Result kinds computed in integer milliseconds or units: range-checked, `/` truncates, `/ 0` fails. */
const INTEGER_KINDS: ReadonlySet<string> = new Set(['i64', 'duration', 'timestamp'])

const COMPARISON: Readonly<Record<string, string>> = {
  '==': '===',
  '!=': '!==',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
}

function binary(e: BinaryExpr, ctx: ExprContext): string {
  const left = compileExpr(e.left, ctx)
  const right = compileExpr(e.right, ctx)
  const integer = INTEGER_KINDS.has(unwrapOptional(e.type).kind)
  return nullGuarded(ctx, [e.left, e.right], [left, right], ([l, r]) => {
    const comparison = COMPARISON[e.op]
    if (comparison) return `(${l} ${comparison} ${r})`
    const unchecked =
      integer && unwrapOptional(e.type).kind !== 'timestamp' ? uncheckedIntegerOp(e, l!, r!) : null
    if (unchecked !== null) return unchecked
    if (integer && (e.op === '/' || e.op === '%')) {
      return `${e.op === '/' ? 'idiv' : 'imod'}(${l}, ${r}, ${ctx.site(e.span)})`
    }
    // A timestamp result must stay a time a Date can hold, or it fails here, with this location,
    // rather than later when it is encoded or formatted.
    if (unwrapOptional(e.type).kind === 'timestamp')
      return `checkTimestamp(${l} ${e.op} ${r}, ${ctx.site(e.span)})`
    if (integer) return `checkI64(${l} ${e.op} ${r}, ${ctx.site(e.span)})`
    return `(${l} ${e.op} ${r})`
  })
}

/**
 * Three-valued `and`/`or` that short-circuit: `false and x` is false and `true or x` is true
 * without evaluating `x` (so `b != 0 and a / b > 1` guards the division); otherwise a null
 * operand makes the result null unless the other operand decides it.
 */
function logical(e: BinaryExpr, ctx: ExprContext): string {
  const left = compileExpr(e.left, ctx)
  const right = compileExpr(e.right, ctx)
  const and = e.op === 'and'
  if (!isOptional(e.left.type) && !isOptional(e.right.type)) return `(${left} ${and ? '&&' : '||'} ${right})`
  const decisive = and ? 'false' : 'true'
  const l = ctx.temp('boolean | null')
  const r = ctx.temp('boolean | null')
  return `((${l} = ${left}) === ${decisive} ? ${decisive} : (${r} = ${right}) === ${decisive} ? ${decisive} : ${l} === null || ${r} === null ? null : ${and ? 'true' : 'false'})`
}

/** Helpers the expressions above call; emitted once per generated module. */
export const EXPRESSION_HELPERS = `
  function elementAt<T>(list: readonly T[], index: number): T | null {
    return index >= 0 && index < list.length ? (list[index] as T) : null
  }
  function checkI64(value: number, site: number): number {
    if (value > ${MAX_SAFE} || value < -${MAX_SAFE}) throw new EvaluationError('i64 overflow', site)
    return value
  }
  function checkTimestamp(value: number, site: number): number {
    if (!(Math.abs(value) <= 8.64e15)) {
      throw new EvaluationError(\`timestamp arithmetic gave \${value} ms, outside the range of a timestamp (±8.64e15 ms, years -271821 to 275760)\`, site)
    }
    return value
  }
  function idiv(a: number, b: number, site: number): number {
    if (b === 0) throw new EvaluationError('integer division by zero', site)
    return checkI64(Math.trunc(a / b), site)
  }
  function imod(a: number, b: number, site: number): number {
    if (b === 0) throw new EvaluationError('integer division by zero', site)
    return a % b
  }
  // The list functions (ListFunctionExpr): nulls are skipped; sum/min/max/avg of no value are null.
  function listCount(list: readonly unknown[]): number {
    let n = 0
    for (const item of list) if (item !== null) n++
    return n
  }
  function listSum(list: readonly (number | null)[]): number | null {
    let sum = 0
    let any = false
    for (const item of list) if (item !== null) { sum += item; any = true }
    return any ? sum : null
  }
  function listSumInteger(list: readonly (number | null)[], site: number): number | null {
    const sum = listSum(list)
    return sum === null ? null : checkI64(sum, site)
  }
  function listAvg(list: readonly (number | null)[]): number | null {
    const sum = listSum(list)
    return sum === null ? null : sum / listCount(list)
  }
  function listMin<T extends number | string>(list: readonly (T | null)[]): T | null {
    let best: T | null = null
    for (const item of list) if (item !== null && (best === null || item < best)) best = item
    return best
  }
  function listMax<T extends number | string>(list: readonly (T | null)[]): T | null {
    let best: T | null = null
    for (const item of list) if (item !== null && (best === null || item > best)) best = item
    return best
  }
  function listFirst<T>(list: readonly T[]): T | null {
    return list.length === 0 ? null : (list[0] as T)
  }
  function listLast<T>(list: readonly T[]): T | null {
    return list.length === 0 ? null : (list[list.length - 1] as T)
  }
  function alwaysFalse(_value: unknown): boolean {
    return false
  }
  function timestampKey(ms: number, site: number): string {
    if (!(Math.abs(ms) <= 8.64e15)) throw new EvaluationError(\`timestamp \${ms} is out of range for a key\`, site)
    return isoTimestamp(ms)
  }
`
