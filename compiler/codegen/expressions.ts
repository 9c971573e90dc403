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

import { isRecordMetadataFunction } from '../../stdlib/record-metadata.ts'
import { isOptional, unwrapOptional } from '../ir/expr.ts'
import type { BinaryExpr, Expr, Span, Type } from '../ir/types.ts'
import { arithmeticChain } from './arithmetic-chain.ts'
import { INLINE_CALLS } from './inline-calls.ts'
import { uncheckedIntegerOp } from './overflow.ts'
import { propertyAccess, propertyKey } from './property.ts'

export interface ExprContext {
  /** The JS variable holding the current record. */
  readonly row: string
  /**
   * In a `match` step's code: the JS variable holding the MatchContext (runtime/cep/engine.ts),
   * whose `events(step)` a StepRef reads.
   */
  readonly steps?: string
  /** Inside a lambda's body: the JS names of its parameters (LocalExpr), by `.pipe` name. */
  readonly locals?: ReadonlyMap<string, string>
  /**
   * In a fused chain that calls record metadata functions: the JS variable holding the event's
   * source record, which they take as a hidden first argument (stdlib/record-metadata.ts).
   */
  readonly record?: string
  /** Declares a temporary of the given TS type and returns its name. */
  temp(type: string): string
  /** The variable holding an expression already computed in this step (common-subexpressions.ts). */
  readonly shared?: (expr: Expr) => string | undefined
  /** The TypeScript name of a record type (generate.ts names them all), so types are not spelled out. */
  readonly typeName?: (type: Type) => string | undefined
  /** Registers a source location for evaluation errors and returns its site index. */
  site(span: Span): number
  /** The JS name under which a stdlib function's impl is bound in the generated module. */
  fn(name: string): {
    readonly ref: string
    readonly nullPropagating: boolean
    readonly mayFail: boolean
    /** For a stdlib `codec` function: the generated codec its impl takes after a call's arguments. */
    readonly codec?: (call: Extract<Expr, { kind: 'Call' }>) => string
  }
  /**
   * Declares a constant of the generated module, evaluated once when it is instantiated (a set of
   * literals, a compiled literal pattern), and returns its name; the code may read `runtime`.
   */
  constant(code: string): string
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
    case 'map':
      return `{ [key: string]: ${tsType(type.of, names)} }`
    case 'record':
      return `{ ${type.fields.map((f) => `${propertyKey(f.name)}: ${tsType(f.type, names)}`).join('; ')} }`
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
  Column: (e, ctx) => propertyAccess(ctx.row, e.name),
  Member: (e, ctx) => {
    const object = compileExpr(e.object, ctx)
    if (!isOptional(e.object.type)) return propertyAccess(object, e.name)
    const t = ctx.temp(tsType(e.object.type, ctx.typeName))
    return `((${t} = ${object}) === null ? null : ${propertyAccess(t, e.name)})`
  },
  Index: (e, ctx) => {
    const object = compileExpr(e.object, ctx)
    const index = compileExpr(e.index, ctx)
    const read = unwrapOptional(e.object.type).kind === 'map' ? 'mapEntry' : 'elementAt'
    return nullGuarded(ctx, [e.object, e.index], [object, index], ([o, i]) => `${read}(${o}, ${i})`)
  },
  Unary: (e, ctx) => {
    const operand = compileExpr(e.operand, ctx)
    const apply = (v: string) => (e.op === 'not' ? `!${v}` : `-${v}`)
    return nullGuarded(ctx, [e.operand], [operand], ([v]) => `(${apply(v!)})`)
  },
  Binary: (e, ctx) => (e.op === 'and' || e.op === 'or' ? logical(e, ctx) : binary(e, ctx)),
  ArithmeticChain: (e, ctx) => arithmeticChain(e, ctx),
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
    const args = e.args.map((arg, i) =>
      i === e.literalArg && arg.kind === 'Literal' && typeof arg.value === 'string'
        ? ctx.constant(
            `runtime.stdlib[${JSON.stringify(e.fn)}]!.literalArg!.compile(${JSON.stringify(arg.value)})`,
          )
        : compileExpr(arg, ctx),
    )
    // `len` of a map counts its keys: only strings and lists are `.length` (inline-calls.ts).
    const inline =
      Object.hasOwn(INLINE_CALLS, e.fn) && !e.args.some((arg) => unwrapOptional(arg.type).kind === 'map')
        ? INLINE_CALLS[e.fn]!
        : undefined
    if (inline) return nullGuarded(ctx, e.args, args, inline)
    const fn = ctx.fn(e.fn)
    const extra = fn.codec === undefined ? [] : [fn.codec(e)]
    if (isRecordMetadataFunction(e.fn)) {
      if (ctx.record === undefined)
        throw new Error(`codegen: ${e.fn}() called where no source record is at hand`)
      return `${fn.ref}(${[ctx.record, ...args].join(', ')})`
    }
    // A call that may fail points the chain's `site` at itself, so its evaluation error is
    // located at the call (`sqrt(x)`), not at the step keyword it is in: once its arguments are
    // evaluated, as a call among them that may fail points it at itself (`to_json(f(x))`).
    const call = (values: readonly string[]) => {
      if (!fn.mayFail) return `${fn.ref}(${[...values, ...extra].join(', ')})`
      const at = ctx.site(e.span)
      if (values.length === 0) return `(site = ${at}, ${fn.ref}(${extra.join(', ')}))`
      const last = values[values.length - 1]!
      let lastThenSite: string
      if (CANNOT_FAIL.test(last)) lastThenSite = `(site = ${at}, ${last})`
      else {
        // The value the call gets: without its null when the call is not made on null.
        const arg = e.args[values.length - 1]!
        const type = fn.nullPropagating ? unwrapOptional(arg.type) : arg.type
        // Temporaries start as null; the cast gives the value back its type.
        const t = ctx.temp(`${tsType(type, ctx.typeName)} | null`)
        lastThenSite = `(${t} = ${last}, site = ${at}, ${t} as ${tsType(type, ctx.typeName)})`
      }
      return `${fn.ref}(${[...values.slice(0, -1), lastThenSite, ...extra].join(', ')})`
    }
    if (!fn.nullPropagating) return call(args)
    return nullGuarded(ctx, e.args, args, call)
  },
  Record: (e, ctx) =>
    `{ ${e.fields.map((f) => `${propertyKey(f.name)}: ${compileExpr(f.value, ctx)}`).join(', ')} }`,
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
    const read = isOptional(item)
      ? `(r === null ? null : ${propertyAccess('r', e.name)})`
      : propertyAccess('r', e.name)
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
  In: (e, ctx) => {
    const operand = compileExpr(e.operand, ctx)
    const cast = isOptional(e.type) ? '' : ' as boolean'
    // `in` means `==` on each item, so maps are equal by their entries, not by identity.
    if (unwrapOptional(e.operand.type).kind === 'map')
      return `(inMapList(${operand}, [${e.items.map((item) => compileExpr(item, ctx)).join(', ')}])${cast})`
    // Literal items (never null: the checker refuses a null one) make a set, built once.
    if (e.items.every((item) => item.kind === 'Literal')) {
      const set = ctx.constant(
        `new Set<unknown>([${e.items.map((item) => literal((item as { value: string | number | boolean }).value)).join(', ')}])`,
      )
      return `(inSet(${operand}, ${set})${cast})`
    }
    return `(inList(${operand}, [${e.items.map((item) => compileExpr(item, ctx)).join(', ')}])${cast})`
  },
  Between: (e, ctx) => {
    const cast = isOptional(e.type) ? '' : ' as boolean'
    return `(between(${compileExpr(e.operand, ctx)}, ${compileExpr(e.low, ctx)}, ${compileExpr(e.high, ctx)})${cast})`
  },
  MapLiteral: (e, ctx) =>
    // mapOf builds an object without a prototype (a `__proto__` key in an object literal would set it).
    `(mapOf([${e.entries.map((entry) => JSON.stringify(entry.key)).join(', ')}], [${e.entries.map((entry) => compileExpr(entry.value, ctx)).join(', ')}]) as ${tsType(e.type, ctx.typeName)})`,
  SimpleCase: (e, ctx) => {
    // The operand once, into a temporary; each `when` value is evaluated (in order, until one
    // matches) before the null test, as the interpreter does, so its errors are the same.
    const t = ctx.temp(tsType(e.operand.type, ctx.typeName))
    const operand = compileExpr(e.operand, ctx)
    const chain = e.branches.reduceRight(
      (otherwise, b) => {
        const match = compileExpr(b.match, ctx)
        const test =
          isOptional(e.operand.type) && isOptional(b.match.type)
            ? `(${match} === ${t} && ${t} !== null)`
            : `${match} === ${t}`
        return `(${test} ? ${compileExpr(b.result, ctx)} : ${otherwise})`
      },
      compileExpr(e.otherwise, ctx),
    )
    return `((${t} = ${operand}), ${chain})`
  },
  Local: (e, ctx) => {
    const name = ctx.locals?.get(e.name)
    if (name === undefined) throw new Error(`codegen: lambda parameter \`${e.name}\` read outside its lambda`)
    return name
  },
  ListLambda: (e, ctx) => {
    const list = compileExpr(e.list, ctx)
    const item = tsType((unwrapOptional(e.list.type) as Extract<Type, { kind: 'list' }>).of)
    // The parameter gets a fresh name (a temporary's, which it shadows), so nested lambdas and
    // the chain's own variables never clash; the body's temporaries are the function's, used
    // and done within one call of the arrow.
    const param = ctx.temp('unknown')
    const body = compileExpr(e.body, { ...ctx, locals: new Map([...(ctx.locals ?? []), [e.param, param]]) })
    const arrow = `(${param}: ${item}) => ${body}`
    const call = ([l]: readonly string[]) => {
      switch (e.fn) {
        case 'map':
          return `${l}.map(${arrow})`
        case 'filter':
          return isOptional(e.body.type)
            ? `${l}.filter((${param}: ${item}) => ${body} === true)`
            : `${l}.filter(${arrow})`
        // A condition that is never null makes the answer never null (the checker typed it so).
        case 'any':
        case 'all': {
          const call = `${e.fn === 'any' ? 'listAny' : 'listAll'}(${l}, ${arrow})`
          return isOptional(e.body.type) ? call : `(${call} as boolean)`
        }
      }
    }
    return nullGuarded(ctx, [e.list], [list], call)
  },
}

function literal(value: string | number | boolean | null): string {
  if (typeof value === 'number') return value < 0 || Object.is(value, -0) ? `(${value})` : String(value)
  return JSON.stringify(value)
}

/**
 * Evaluates `codes` once each, left to right; when any operand whose type is optional is null the
 * result is null, else `body` of the evaluated values. Every operand is evaluated even when one
 * before it is null, as the reference interpreter does (specs/language.md §5), so an error in any
 * of them fails the event: with an optional operand among several, each operand that could fail
 * is evaluated into a temporary before the null tests. Reads and literals, which cannot fail, are
 * used in place.
 */
function nullGuarded(
  ctx: ExprContext,
  operands: readonly Expr[],
  codes: readonly string[],
  body: (values: readonly string[]) => string,
): string {
  const anyOptional = operands.some((operand) => isOptional(operand.type))
  if (!anyOptional) return body(codes)
  const several = operands.length > 1
  const assignments: string[] = []
  const checks: string[] = []
  const values = codes.map((code, i) => {
    const operand = operands[i]!
    const optional = isOptional(operand.type)
    if (!optional && (!several || CANNOT_FAIL.test(code))) return code
    const t = ctx.temp(tsType(operand.type, ctx.typeName))
    if (several) assignments.push(`${t} = ${code}`)
    if (optional) checks.push(several ? `${t} === null` : `(${t} = ${code}) === null`)
    return t
  })
  // The casts are sound: each temp was just tested against null.
  const narrowed = values.map((v, i) =>
    isOptional(operands[i]!.type)
      ? `(${v} as ${tsType(unwrapOptional(operands[i]!.type), ctx.typeName)})`
      : v,
  )
  const guarded = `${checks.join(' || ')} ? null : ${body(narrowed)}`
  return assignments.length === 0 ? `(${guarded})` : `(${assignments.join(', ')}, ${guarded})`
}

/** Generated code that reads a variable or property, or is a literal: nothing to evaluate early. */
const CANNOT_FAIL =
  /^(?:[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\["(?:[^"\\]|\\.)*"\])*|\(?-?\d+(?:\.\d+)?(?:e[+-]?\d+)?\)?|"(?:[^"\\]|\\.)*"|true|false|null)$/

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
  return nullGuarded(ctx, [e.left, e.right], [left, right], ([l, r]) => {
    const comparison = COMPARISON[e.op]
    if (comparison && unwrapOptional(e.left.type).kind === 'map')
      return `${e.op === '!=' ? '!' : ''}mapsEqual(${l}, ${r})`
    if (comparison) return `(${l} ${comparison} ${r})`
    return arithmeticCode(e, l!, r!, ctx)
  })
}

/** `l op r` of `+ - * / %` on the non-null values `l` and `r` of `e`'s operands, checked as `e`'s type needs. */
export function arithmeticCode(e: BinaryExpr, l: string, r: string, ctx: ExprContext): string {
  const integer = INTEGER_KINDS.has(unwrapOptional(e.type).kind)
  const unchecked =
    integer && unwrapOptional(e.type).kind !== 'timestamp' ? uncheckedIntegerOp(e, l, r) : null
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
  // A map's own key only: constructor or __proto__ is a value when present, never inherited.
  function mapEntry<T>(map: { readonly [key: string]: T }, key: string): T | null {
    return Object.hasOwn(map, key) ? (map[key] as T) : null
  }
  // Same keys, and equal (===) values under each; null values are equal to each other.
  function mapsEqual(a: { readonly [key: string]: unknown }, b: { readonly [key: string]: unknown }): boolean {
    const keys = Object.keys(a)
    if (keys.length !== Object.keys(b).length) return false
    for (const key of keys) if (!Object.hasOwn(b, key) || a[key] !== b[key]) return false
    return true
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
  // \`in\` and \`between\` (InExpr, BetweenExpr): every operand is already evaluated.
  function mapOf(keys: readonly string[], values: readonly unknown[]): Record<string, unknown> {
    const map: Record<string, unknown> = Object.create(null)
    for (let i = 0; i < keys.length; i++) map[keys[i]!] = values[i]
    return map
  }
  function inSet(value: unknown, set: ReadonlySet<unknown>): boolean | null {
    return value === null ? null : set.has(value)
  }
  function inList(value: unknown, items: readonly unknown[]): boolean | null {
    let sawNull = value === null
    for (const item of items) {
      if (item === null) sawNull = true
      else if (item === value) return true
    }
    return sawNull ? null : false
  }
  function inMapList(
    value: { readonly [key: string]: unknown } | null,
    items: readonly ({ readonly [key: string]: unknown } | null)[],
  ): boolean | null {
    let sawNull = value === null
    for (const item of items) {
      if (item === null) sawNull = true
      else if (value !== null && mapsEqual(item, value)) return true
    }
    return sawNull ? null : false
  }
  function between<T extends number | string>(x: T | null, low: T | null, high: T | null): boolean | null {
    const above = x === null || low === null ? null : low <= x
    const below = x === null || high === null ? null : x <= high
    return above === false || below === false ? false : above === null || below === null ? null : true
  }
  // any/all (ListLambdaExpr): stop at the deciding item; else null when a condition was null.
  function listAny<T>(list: readonly T[], test: (item: T) => boolean | null): boolean | null {
    let sawNull = false
    for (const item of list) {
      const value = test(item)
      if (value === true) return true
      if (value === null) sawNull = true
    }
    return sawNull ? null : false
  }
  function listAll<T>(list: readonly T[], test: (item: T) => boolean | null): boolean | null {
    let sawNull = false
    for (const item of list) {
      const value = test(item)
      if (value === false) return false
      if (value === null) sawNull = true
    }
    return sawNull ? null : true
  }
  function alwaysFalse(_value: unknown): boolean {
    return false
  }
  function timestampKey(ms: number, site: number): string {
    if (!(Math.abs(ms) <= 8.64e15)) throw new EvaluationError(\`timestamp \${ms} is out of range for a key\`, site)
    return isoTimestamp(ms)
  }
`
