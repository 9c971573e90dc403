/**
 * Checking and lowering of the stateful steps, `dedup` and `aggregate` (specs/language.md,
 * "Stateful steps"), for the checker (check.ts), which owns scopes and expression checking and
 * passes them in.
 *
 * Before: `| dedup by id within 10m`, `| aggregate by card { n: count(), total: sum(amount) }`.
 * After: a `Dedup` node (same record out) or an `Aggregate` node (a record of the keys then the
 * aggregates), each with the `StateSlot` the runtime keeps its keyed state under.
 */
import { createHash } from 'node:crypto'
import { stdlib } from '../../stdlib/index.ts'
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import type {
  AggregateField,
  AggregateFunction,
  AggregateNode,
  DedupNode,
  Expr,
  FieldType,
  MapNode,
  RecordType,
  Span,
  StateSlot,
  Type,
} from '../ir/types.ts'
import type { AggregateInit, AggregateStep, DedupStep, Expression, FieldInit } from '../parse/ast.ts'
import { DURATION_UNIT_MS } from '../parse/lexer.ts'
import { didYouMean } from './suggest.ts'
import { baseType, isError, isKeyType, isNullable, scalar, show, withNullability } from './types.ts'

/** What the checker lends this module for one step. */
export interface StepContext {
  /** The step's input record. */
  readonly record: Type
  /** The input's event-time field, if it has one. */
  readonly eventTimeField: string | null
  readonly id: string
  readonly input: string
  /** The start of the slot id, `<stream>.<step>.<n>` (see slotId). */
  readonly stateId: string
  expr(e: Expression): Expr
  /** Checks `select`-style fields (names, duplicates, bare nulls). */
  fieldInits(inits: readonly FieldInit[]): MapNode['fields']
  /** Reports a name no record may have (`__proto__`). */
  checkFieldName(name: string, span: Span): void
  report(code: DiagnosticCode, message: string, span: Span, related?: readonly RelatedInformation[]): void
}

export const AGGREGATE_FUNCTIONS: readonly AggregateFunction[] = ['count', 'sum', 'min', 'max', 'avg']
const AGGREGATE_LIST = '`count()`, `sum(x)`, `min(x)`, `max(x)` and `avg(x)`'

/** Argument kinds each aggregate accepts (on the non-null type). */
const ARGUMENT_KINDS: Readonly<Record<Exclude<AggregateFunction, 'count'>, readonly string[]>> = {
  sum: ['i64', 'f64'],
  avg: ['i64', 'f64'],
  min: ['i64', 'f64', 'timestamp', 'string'],
  max: ['i64', 'f64', 'timestamp', 'string'],
}

export function checkDedup(step: DedupStep, ctx: StepContext): DedupNode {
  const keys = step.keys.map((key) => {
    const value = ctx.expr(key)
    checkKeyType(value, key.span, ctx)
    return value
  })
  const withinMs = step.within.amount * DURATION_UNIT_MS[step.within.unit]
  if (withinMs <= 0) {
    ctx.report(
      'E0409',
      '`dedup … within 0` would keep every event: the duration must be positive (e.g. `within 10m`)',
      step.within.span,
    )
  }
  const layout = { keys: keys.map((key) => show(key.type)) }
  const state: StateSlot = { id: slotId(ctx.stateId, layout), step: 'dedup', ttlMs: withinMs }
  return {
    kind: 'Dedup',
    id: ctx.id,
    span: step.span,
    schema: ctx.record as RecordType,
    input: ctx.input,
    keys,
    withinMs,
    state,
  }
}

/** The aggregate node, and the event-time field of its output (a key that is the input's). */
export function checkAggregate(
  step: AggregateStep,
  ctx: StepContext,
): { node: AggregateNode; eventTimeField: string | null } {
  const keys = ctx.fieldInits(step.keys)
  keys.forEach((key, i) => {
    // A bare `null` key was reported by fieldInits already (its type cannot be inferred).
    if (key.value.type.kind !== 'null') checkKeyType(key.value, step.keys[i]!.value.span, ctx)
  })
  if (step.aggregates.length === 0) {
    ctx.report(
      'E0218',
      `\`aggregate { }\` computes nothing; name at least one aggregate (${AGGREGATE_LIST})`,
      step.span,
    )
  }
  const aggregates = aggregateFields(step, keys, ctx, checkAggregateField)

  let eventTimeField: string | null = null
  const fields: FieldType[] = keys.map((key) => {
    const isEventTime =
      eventTimeField === null &&
      ctx.eventTimeField !== null &&
      key.value.kind === 'Column' &&
      key.value.name === ctx.eventTimeField
    if (isEventTime) eventTimeField = key.name
    return isEventTime
      ? { name: key.name, type: key.value.type, eventTime: true }
      : { name: key.name, type: key.value.type }
  })
  for (const aggregate of aggregates) fields.push({ name: aggregate.name, type: aggregate.type })
  const schema: RecordType = { kind: 'record', fields }
  const layout = {
    keys: keys.map((key) => show(key.value.type)),
    aggregates: aggregates.map((a) => (a.arg === null ? a.fn : `${a.fn}(${baseType(a.arg.type).kind})`)),
  }
  const state: StateSlot = { id: slotId(ctx.stateId, layout), step: 'aggregate', ttlMs: null }
  return {
    node: {
      kind: 'Aggregate',
      id: ctx.id,
      span: step.span,
      schema,
      input: ctx.input,
      keys,
      aggregates,
      state,
    },
    eventTimeField,
  }
}

/**
 * The checked aggregate fields of `aggregate by keys { … }`, running or windowed: each name once
 * among keys and aggregates (E0207), and a legal field name; a field whose check failed (reported
 * by `check`) is left out.
 */
export function aggregateFields<F>(
  step: AggregateStep,
  keys: readonly { readonly name: string }[],
  ctx: StepContext,
  check: (init: AggregateInit, ctx: StepContext) => F | null,
): F[] {
  const names = new Map<string, Span>()
  step.keys.forEach((init, i) => {
    const key = keys[i]
    if (key) names.set(key.name, init.name?.span ?? init.value.span)
  })
  const fields: F[] = []
  for (const init of step.aggregates) {
    const field = check(init, ctx)
    const first = names.get(init.name.name)
    if (first) {
      ctx.report('E0207', `field \`${init.name.name}\` is defined more than once`, init.name.span, [
        { message: 'first defined here', span: first },
      ])
      continue
    }
    names.set(init.name.name, init.name.span)
    ctx.checkFieldName(init.name.name, init.name.span)
    if (field) fields.push(field)
  }
  return fields
}

/**
 * The slot id: `<stream>.<step>.<n>.<layout>`, `layout` being 8 hex digits of the SHA-256 of what
 * the stored values mean: the key types (they decide the key strings) and, for an aggregate, each
 * accumulator's function and argument kind, in order. Recompiling an unchanged step keeps the id,
 * and so the state the runtime snapshotted under it; so do renaming output fields, changing the
 * duration and editing other steps. A change that would make the stored values mean something
 * else (another aggregate in front, a key added) gets a new id: the step starts from empty state
 * instead of misreading the old one (a count read as a sum).
 */
export function slotId(base: string, layout: unknown): string {
  return `${base}.${createHash('sha256').update(JSON.stringify(layout)).digest('hex').slice(0, 8)}`
}

/** Keys become state keys through their JSON or string form: scalars only, as for `key by`. */
export function checkKeyType(key: Expr, span: Span, ctx: StepContext): void {
  if (isError(key.type) || (isKeyType(key.type) && key.type.kind !== 'null')) return
  ctx.report(
    'E0308',
    `a key must be a string, i64, bool or timestamp (optionally \`?\`), but this is \`${show(key.type)}\``,
    span,
  )
}

/** One `name: fn(arg)`; null after an error in it (reported). */
function checkAggregateField(init: AggregateInit, ctx: StepContext): AggregateField | null {
  const args = init.args.map((arg) => ctx.expr(arg))
  const fnName = init.fn.name
  const fn = AGGREGATE_FUNCTIONS.find((f) => f === fnName)
  if (fn === undefined) {
    const hint = Object.hasOwn(stdlib, fnName)
      ? `; \`${fnName}\` works on one event: aggregate its result (\`max(${fnName}(…))\`) or compute it in a \`select\` before the \`aggregate\``
      : didYouMean(fnName, AGGREGATE_FUNCTIONS) || `; the aggregates are ${AGGREGATE_LIST}`
    ctx.report('E0217', `unknown aggregate function \`${fnName}\`${hint}`, init.fn.span)
    return null
  }
  if (fn === 'count') {
    if (args.length > 0) {
      ctx.report(
        'E0303',
        '`count()` counts events and takes no argument; to count the non-null values of `x`, write `sum(if x is null then 0 else 1)`',
        init.args[0]!.span,
      )
      return null
    }
    return { name: init.name.name, fn, arg: null, type: scalar('i64'), span: init.span }
  }
  if (args.length !== 1) {
    // `max(a, b)` of the stdlib compares two values of one event; an aggregate takes one.
    const stdlibHint =
      args.length === 2 && (fn === 'min' || fn === 'max')
        ? `; \`${fn}(a, b)\` of two values of one event is a stdlib function: aggregate it with \`${fn}(${fn}(a, b))\``
        : ''
    ctx.report(
      'E0303',
      `the aggregate \`${fn}\` takes one argument, but ${args.length === 0 ? 'none was' : `${args.length} were`} given: \`${init.name.name}: ${fn}(expression)\`${stdlibHint}`,
      args.length === 0 ? init.span : init.args[1]!.span,
    )
    return null
  }
  const arg = args[0]!
  if (isError(arg.type)) return null
  const base = baseType(arg.type)
  const allowed = ARGUMENT_KINDS[fn]
  if (!allowed.includes(base.kind)) {
    ctx.report(
      'E0304',
      `\`${fn}\` needs ${describeKinds(allowed)} argument, but this is \`${show(arg.type)}\``,
      init.args[0]!.span,
    )
    return null
  }
  // SQL's rule: null arguments are skipped, so the result is null only while every argument so
  // far was null, which only an optional argument can be.
  const result: Type = fn === 'avg' ? scalar('f64') : base
  return {
    name: init.name.name,
    fn,
    arg,
    type: withNullability(result, isNullable(arg.type)),
    span: init.span,
  }
}

export function describeKinds(kinds: readonly string[]): string {
  const quoted = kinds.map((k) => `\`${k}\``)
  const list = quoted.length === 1 ? quoted[0]! : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`
  return `an ${list}`
}
