import { stdlib } from '../../stdlib/index.ts'
import type { ArithmeticChainExpr, BinaryExpr, BinaryOp, Expr, ScalarTypeKind, Type } from './types.ts'

type ExprOf<K extends Expr['kind']> = Extract<Expr, { kind: K }>

/** The direct sub-expressions of each expression kind; a new kind will not compile until listed. */
const CHILDREN: { readonly [K in Expr['kind']]: (expr: ExprOf<K>) => readonly Expr[] } = {
  Literal: () => [],
  Column: () => [],
  Member: (e) => [e.object],
  Index: (e) => [e.object, e.index],
  Unary: (e) => [e.operand],
  Binary: (e) => [e.left, e.right],
  ArithmeticChain: (e) => [e.first, ...e.steps.map((step) => step.operand)],
  Coalesce: (e) => [e.left, e.right],
  IsNull: (e) => [e.operand],
  Conditional: (e) => [e.condition, e.whenTrue, e.whenFalse],
  Call: (e) => e.args,
  Record: (e) => e.fields.map((f) => f.value),
  List: (e) => e.items,
  StepRef: () => [],
  Project: (e) => [e.object],
  ListFunction: (e) => [e.list],
  In: (e) => [e.operand, ...e.items],
  Between: (e) => [e.operand, e.low, e.high],
  Local: () => [],
  ListLambda: (e) => [e.list, e.body],
  SimpleCase: (e) => [e.operand, ...e.branches.flatMap((b) => [b.match, b.result]), e.otherwise],
  MapLiteral: (e) => e.entries.map((entry) => entry.value),
}

/** Rebuilds each kind from new children, in the order CHILDREN lists them. */
const REBUILD: { readonly [K in Expr['kind']]: (expr: ExprOf<K>, children: readonly Expr[]) => Expr } = {
  Literal: (e) => e,
  Column: (e) => e,
  Member: (e, [object]) => ({ ...e, object: object! }),
  Index: (e, [object, index]) => ({ ...e, object: object!, index: index! }),
  Unary: (e, [operand]) => ({ ...e, operand: operand! }),
  Binary: (e, [left, right]) => ({ ...e, left: left!, right: right! }),
  ArithmeticChain: (e, [first, ...operands]) => ({
    ...e,
    first: first!,
    steps: e.steps.map((step, i) => ({ ...step, operand: operands[i]! })),
  }),
  Coalesce: (e, [left, right]) => ({ ...e, left: left!, right: right! }),
  IsNull: (e, [operand]) => ({ ...e, operand: operand! }),
  Conditional: (e, [condition, then, otherwise]) => ({
    ...e,
    condition: condition!,
    whenTrue: then!,
    whenFalse: otherwise!,
  }),
  Call: (e, args) => ({ ...e, args }),
  Record: (e, values) => ({ ...e, fields: e.fields.map((f, i) => ({ name: f.name, value: values[i]! })) }),
  List: (e, items) => ({ ...e, items }),
  StepRef: (e) => e,
  Project: (e, [object]) => ({ ...e, object: object! }),
  ListFunction: (e, [list]) => ({ ...e, list: list! }),
  In: (e, [operand, ...items]) => ({ ...e, operand: operand!, items }),
  Between: (e, [operand, low, high]) => ({ ...e, operand: operand!, low: low!, high: high! }),
  Local: (e) => e,
  ListLambda: (e, [list, body]) => ({ ...e, list: list!, body: body! }),
  SimpleCase: (e, [operand, ...rest]) => ({
    ...e,
    operand: operand!,
    branches: e.branches.map((_, i) => ({ match: rest[2 * i]!, result: rest[2 * i + 1]! })),
    otherwise: rest[rest.length - 1]!,
  }),
  MapLiteral: (e, values) => ({
    ...e,
    entries: e.entries.map((entry, i) => ({ key: entry.key, value: values[i]! })),
  }),
}

export function childrenOf(expr: Expr): readonly Expr[] {
  return (CHILDREN[expr.kind] as (e: Expr) => readonly Expr[])(expr)
}

/** Bottom-up rewrite: `fn` sees each expression after its children were rewritten. */
export function transformExpr(expr: Expr, fn: (expr: Expr) => Expr): Expr {
  const children = childrenOf(expr)
  const rewritten = children.map((child) => transformExpr(child, fn))
  const changed = rewritten.some((child, i) => child !== children[i])
  const rebuilt = changed
    ? (REBUILD[expr.kind] as (e: Expr, c: readonly Expr[]) => Expr)(expr, rewritten)
    : expr
  return fn(rebuilt)
}

/** The indexes of the `match` steps an expression reads (StepRef), into `into`. */
export function stepsRead(expr: Expr, into = new Set<number>()): Set<number> {
  if (expr.kind === 'StepRef') into.add(expr.step)
  for (const child of childrenOf(expr)) stepsRead(child, into)
  return into
}

/** Names of the input columns an expression reads. */
export function columnsRead(expr: Expr, into = new Set<string>()): Set<string> {
  if (expr.kind === 'Column') into.add(expr.name)
  for (const child of childrenOf(expr)) columnsRead(child, into)
  return into
}

export function isOptional(type: Type): boolean {
  return type.kind === 'optional' || type.kind === 'null'
}

/** The type without its outer `optional`. */
export function unwrapOptional(type: Type): Type {
  return type.kind === 'optional' ? type.of : type
}

/** Splits `a and b and c` into its conjuncts. */
export function conjuncts(expr: Expr): Expr[] {
  if (expr.kind === 'Binary' && expr.op === 'and') return [...conjuncts(expr.left), ...conjuncts(expr.right)]
  return [expr]
}

/** Joins conjuncts back with `and`; the span covers them all, the type is optional if any part is. */
export function conjoin(parts: readonly Expr[]): Expr {
  return parts.reduce((left, right) => ({
    kind: 'Binary',
    op: 'and',
    left,
    right,
    type:
      isOptional(left.type) || isOptional(right.type)
        ? { kind: 'optional', of: { kind: 'bool' } }
        : { kind: 'bool' },
    span: {
      file: left.span.file,
      start: Math.min(left.span.start, right.span.start),
      end: Math.max(left.span.end, right.span.end),
    },
  }))
}

/** Arithmetic that is checked (division by zero, results outside ±(2^53−1)) when its result is an integer type. */
const CHECKED_OPS: ReadonlySet<BinaryOp> = new Set<BinaryOp>(['+', '-', '*', '/', '%'])
const INTEGER_TYPES: ReadonlySet<string> = new Set<ScalarTypeKind>(['i64', 'duration', 'timestamp'])

/**
 * Whether evaluating `expr` can raise an evaluation error for some input (so send an event to the
 * dead-letter topic): `+ - * / %` whose result is i64, duration or timestamp (optional or not), or
 * a call of a function marked `mayFail` (an unknown function counts as failing), anywhere inside.
 * Conservative: a guarded sub-expression (`x != 0 and a / x > 1`) still counts.
 */
export function canFail(
  expr: Expr,
  functions: Readonly<Record<string, { readonly mayFail: boolean } | undefined>> = stdlib,
): boolean {
  if (expr.kind === 'Binary' && CHECKED_OPS.has(expr.op) && INTEGER_TYPES.has(unwrapOptional(expr.type).kind))
    return true
  if (
    expr.kind === 'ArithmeticChain' &&
    expr.steps.some((s) => INTEGER_TYPES.has(unwrapOptional(s.type).kind))
  )
    return true
  if (expr.kind === 'Call') {
    const fn = Object.hasOwn(functions, expr.fn) ? functions[expr.fn] : undefined
    if (fn?.mayFail !== false) return true
  }
  return childrenOf(expr).some((child) => canFail(child, functions))
}

/**
 * Whether `expr` calls a function marked `nondeterministic` (`now()`, `uuid()`) anywhere inside:
 * such an expression may not be merged with an equal one (two `uuid()` calls differ), nor
 * evaluated at compile time.
 */
export function isNondeterministic(
  expr: Expr,
  functions: Readonly<Record<string, { readonly nondeterministic?: true } | undefined>> = stdlib,
): boolean {
  if (
    expr.kind === 'Call' &&
    Object.hasOwn(functions, expr.fn) &&
    functions[expr.fn]?.nondeterministic === true
  )
    return true
  return childrenOf(expr).some((child) => isNondeterministic(child, functions))
}

/**
 * Step `index` of an arithmetic chain as the BinaryExpr it stands for, with `left` in place of
 * the steps before it (a stand-in such as a LocalExpr naming the running value), so code that
 * knows BinaryExpr evaluates a chain one step at a time without building it left-deep.
 */
export function chainStep(chain: ArithmeticChainExpr, index: number, left: Expr): BinaryExpr {
  const step = chain.steps[index]!
  return { kind: 'Binary', op: step.op, left, right: step.operand, type: step.type, span: step.span }
}

/** The type of the running value before step `index` of a chain: the first term's, or the step before's. */
export function typeBeforeStep(chain: ArithmeticChainExpr, index: number): Type {
  return index === 0 ? chain.first.type : chain.steps[index - 1]!.type
}
