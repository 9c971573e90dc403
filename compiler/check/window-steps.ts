/**
 * Checking and lowering of windowed aggregates (specs/language.md, "Windows"), for the checker
 * (check.ts), which owns scopes and expression checking and lends them through StepContext.
 *
 * Before: `| aggregate by card window tumbling 1m lateness 10s late into late { n: count() }`.
 * After: a `WindowAggregate` node (a record of the keys then the aggregates per key and window),
 * and, with `late into`, a `LateEvents` node that the named stream reads. Also `window count 100
 * every 10` (no lateness, E0420) and `emit every 30s` / `emit on update` (time windows only, E0421).
 */
import type {
  CountSpec,
  Expr,
  FieldType,
  RecordType,
  SessionSpec,
  StateSlot,
  Type,
  WindowAggregateField,
  WindowAggregateNode,
  WindowEmit,
  WindowFunction,
  WindowSpec,
} from '../ir/types.ts'
import type { AggregateInit, AggregateStep, DurationLiteral, Expression, WindowClause } from '../parse/ast.ts'
import { DURATION_UNIT_MS } from '../parse/lexer.ts'
import { aggregateFields, checkKeyType, describeKinds, type StepContext, slotId } from './stateful-steps.ts'
import { didYouMean } from './suggest.ts'
import { baseType, isError, isNullable, listOf, optional, scalar, show, withNullability } from './types.ts'

export const WINDOW_FUNCTIONS: readonly WindowFunction[] = [
  'count',
  'sum',
  'min',
  'max',
  'avg',
  'first',
  'last',
  'window_start',
  'window_end',
  'window_final',
  'count_distinct',
  'approx_count_distinct',
  'quantile',
  'top_k',
  'max_by',
  'min_by',
]
const WINDOW_FUNCTION_LIST =
  '`count()`, `sum(x)`, `min(x)`, `max(x)`, `avg(x)`, `first(x)`, `last(x)`, `window_start()`, `window_end()`, `window_final()`, `count_distinct(x)`, `approx_count_distinct(x)`, `quantile(x, q)`, `top_k(x, k)`, `max_by(x, by)` and `min_by(x, by)`'

/** The kinds (of the non-null type) a key may have: those of the distinct counts and top_k. */
const KEY_KINDS: readonly string[] = ['string', 'i64', 'bool', 'timestamp']
/** The largest k of `top_k(x, k)`: the result is a list of at most k records. */
const MAX_TOP_K = 1000

/** Argument kinds (of the non-null type) each function of one argument accepts in a window. */
const WINDOW_ARGUMENT_KINDS: Readonly<Record<string, readonly string[]>> = {
  sum: ['i64', 'f64'],
  avg: ['i64', 'f64'],
  min: ['i64', 'f64', 'timestamp'],
  max: ['i64', 'f64', 'timestamp'],
  first: ['i64', 'f64', 'timestamp'],
  last: ['i64', 'f64', 'timestamp'],
  count_distinct: KEY_KINDS,
  approx_count_distinct: KEY_KINDS,
  top_k: KEY_KINDS,
  quantile: ['i64', 'f64'],
  max_by: ['i64', 'f64', 'timestamp', 'string', 'bool'],
  min_by: ['i64', 'f64', 'timestamp', 'string', 'bool'],
}
/** What the `by` of max_by(x, by) and min_by(x, by) may be (of the non-null type): numbers and times. */
const BY_KINDS: readonly string[] = ['i64', 'f64', 'timestamp']

/** The largest window or lateness: windows are kept in memory until the watermark passes them. */
const MAX_WINDOW_MS = 366 * 24 * 3600 * 1000

export function checkWindowAggregate(
  step: AggregateStep & { window: WindowClause },
  ctx: StepContext,
  lateId: string,
): WindowAggregateNode {
  const keys = ctx.fieldInits(step.keys)
  keys.forEach((key, i) => {
    if (key.value.type.kind !== 'null') checkKeyType(key.value, step.keys[i]!.value.span, ctx)
  })
  if (step.aggregates.length === 0) {
    ctx.report(
      'E0218',
      `\`aggregate { }\` computes nothing; name at least one aggregate (${WINDOW_FUNCTION_LIST})`,
      step.span,
    )
  }
  const window = windowSpec(step.window, ctx)
  const latenessMs = step.window.lateness ? durationMs(step.window.lateness) : 0
  if (window.kind === 'count' && step.window.lateness) {
    ctx.report(
      'E0420',
      'a count window takes no `lateness`: it counts events in event-time order, so a late event would renumber every window after it; events behind the watermark go to `late into` (or the dead letters)',
      step.window.lateness.span,
    )
  } else if (latenessMs > MAX_WINDOW_MS) {
    ctx.report(
      'E0410',
      'the lateness is longer than a year: windows stay in memory that long after they close',
      step.window.lateness!.span,
    )
  }

  const processingTime = step.window.processingTime && checkProcessingTime(step.window, window, ctx)

  const aggregates = aggregateFields(step, keys, ctx, checkWindowField)
  const emit = emitOf(step.window, window, ctx)

  // The output's event time is the window's last millisecond (end - 1), carried with the event;
  // no output field is marked as event time, since none holds exactly that value.
  const fields: FieldType[] = [
    ...keys.map((key) => ({ name: key.name, type: key.value.type })),
    ...aggregates.map((a) => ({ name: a.name, type: a.type })),
  ]
  const schema: RecordType = { kind: 'record', fields }
  const layout = {
    keys: keys.map((key) => show(key.value.type)),
    window:
      window.kind === 'session'
        ? ['session']
        : window.kind === 'count'
          ? ['count', window.size, window.slide]
          : [window.sizeMs, window.slideMs],
    aggregates: accumulatorLayout(aggregates),
  }
  const state: StateSlot = { id: slotId(ctx.stateId, layout), step: 'window', ttlMs: null }
  return {
    kind: 'WindowAggregate',
    id: ctx.id,
    span: step.span,
    schema,
    input: ctx.input,
    keys,
    aggregates,
    window,
    ...(processingTime ? { time: 'processing' as const } : {}),
    latenessMs,
    emit,
    late: step.window.lateInto ? lateId : null,
    state,
    execution: 'wasm',
  }
}

/**
 * `processing time`: tumbling and hopping windows only (E0423: a session's gap and a count
 * window's order are about the events' own times), and without `lateness` or `late into` (E0422:
 * an event is assigned by the clock when it is processed, so none is ever late). True when valid.
 */
function checkProcessingTime(
  clause: WindowClause,
  window: WindowSpec | SessionSpec | CountSpec,
  ctx: StepContext,
): boolean {
  let valid = true
  if (window.kind === 'session' || window.kind === 'count') {
    ctx.report(
      'E0423',
      `a ${window.kind === 'session' ? 'session' : 'count'} window cannot go by processing time: ${window.kind === 'session' ? 'its gaps are between the events’ own times' : 'it orders a key’s events by their own times'}; use \`window tumbling …\` or \`window hopping …\` with \`processing time\`, or drop \`processing time\``,
      clause.type.span,
    )
    valid = false
  }
  for (const [what, span] of [
    ['lateness', clause.lateness?.span],
    ['late into', clause.lateInto?.span],
  ] as const) {
    if (span === undefined) continue
    ctx.report(
      'E0422',
      `a processing-time window takes no \`${what}\`: each event goes to the window of the moment it is processed, so no event is ever late; remove \`${what}\`, or drop \`processing time\` to window by event time`,
      span,
    )
    valid = false
  }
  return valid
}

/** What the snapshot of a window's rows means: its accumulators, in order. */
function accumulatorLayout(aggregates: readonly WindowAggregateField[]): string[] {
  return aggregates
    .filter((a) => a.fn !== 'window_start' && a.fn !== 'window_end' && a.fn !== 'window_final')
    .map((a) => {
      if (a.arg === null) return a.fn
      const param = a.k ?? a.q ?? (a.by === undefined ? undefined : baseType(a.by.type).kind)
      return `${a.fn}(${baseType(a.arg.type).kind}${param === undefined ? '' : `,${param}`})`
    })
}

function durationMs(d: DurationLiteral): number {
  return d.amount * DURATION_UNIT_MS[d.unit]
}

function windowSpec(clause: WindowClause, ctx: StepContext): WindowSpec | SessionSpec | CountSpec {
  if (clause.type.name === 'session') return sessionSpec(clause, ctx)
  if (clause.events !== null) return countSpec(clause.events, ctx)
  const sizeMs = durationMs(clause.size!)
  const slideMs = clause.every ? durationMs(clause.every) : sizeMs
  if (sizeMs <= 0 || sizeMs > MAX_WINDOW_MS) {
    ctx.report(
      'E0410',
      sizeMs <= 0
        ? 'a window must have a positive length (e.g. `window tumbling 1m`)'
        : 'a window longer than a year is not supported: its state would stay in memory that long',
      clause.size!.span,
    )
  } else if (clause.every && (slideMs <= 0 || slideMs > sizeMs)) {
    ctx.report(
      'E0410',
      slideMs <= 0
        ? 'the step between hopping windows must be positive (e.g. `every 1m`)'
        : `hopping windows every ${clause.every.amount}${clause.every.unit} but only ${clause.size!.amount}${clause.size!.unit} long would leave gaps no window covers; use a step no longer than the window`,
      clause.every.span,
    )
  } else if (clause.every && sizeMs / slideMs > 1000) {
    ctx.report(
      'E0410',
      `each event would belong to ${Math.ceil(sizeMs / slideMs)} hopping windows; at most 1000 are supported (make the step longer)`,
      clause.every.span,
    )
  }
  const safeSize = sizeMs > 0 ? sizeMs : 1
  return {
    kind: clause.every ? 'hopping' : 'tumbling',
    sizeMs: safeSize,
    slideMs: slideMs > 0 && slideMs <= safeSize ? slideMs : safeSize,
  }
}

/**
 * `emit every D` (D shorter than the window, so an open window crosses a multiple of it),
 * `emit on update` or `emit on close`; early results are for time windows only.
 */
function emitOf(
  clause: WindowClause,
  window: WindowSpec | SessionSpec | CountSpec,
  ctx: StepContext,
): WindowEmit {
  const emit = clause.emit
  if (emit === null || emit.mode === 'close') return { kind: 'close' }
  if (window.kind === 'session' || window.kind === 'count') {
    ctx.report(
      'E0421',
      window.kind === 'session'
        ? 'a session window emits only when it closes: its end moves with every event, so an early result would belong to no fixed window (use `emit on close` or leave `emit` out)'
        : 'a count window emits only when it closes, as its last event is counted (use `emit on close` or leave `emit` out)',
      emit.span,
    )
    return { kind: 'close' }
  }
  if (emit.mode === 'update') return { kind: 'update' }
  const everyMs = durationMs(emit.every!)
  if (everyMs <= 0 || everyMs >= window.sizeMs) {
    ctx.report(
      'E0421',
      everyMs <= 0
        ? 'early results need a positive period (e.g. `emit every 30s`)'
        : `a window of ${clause.size!.amount}${clause.size!.unit} closes before ${emit.every!.amount}${emit.every!.unit} of it have passed: it would never emit early; use a period shorter than the window`,
      emit.every!.span,
    )
    return { kind: 'close' }
  }
  return { kind: 'every', everyMs }
}

/** The most events a count window holds: a key keeps that many events' arguments until it fires. */
const MAX_COUNT_WINDOW = 100_000

/** `count N` (tumbling: every N events of a key) or `count N every S` (sliding). */
function countSpec(events: NonNullable<WindowClause['events']>, ctx: StepContext): CountSpec {
  const size = events.size.value
  const slide = events.every?.value ?? size
  if (size < 1 || size > MAX_COUNT_WINDOW) {
    ctx.report(
      'E0410',
      size < 1
        ? 'a count window must hold at least one event (e.g. `window count 100`)'
        : `a count window of more than ${MAX_COUNT_WINDOW} events is not supported: each key keeps its window's events until it fires`,
      events.size.span,
    )
  } else if (events.every && (slide < 1 || slide > size)) {
    ctx.report(
      'E0410',
      slide < 1
        ? 'a count window must fire every one event or more (e.g. `every 10`)'
        : `count windows of ${size} events every ${slide} events would leave events no window holds; fire every ${size} events or fewer`,
      events.every.span,
    )
  } else if (events.every && size / slide > 1000) {
    ctx.report(
      'E0410',
      `each event would belong to ${Math.ceil(size / slide)} count windows; at most 1000 are supported (fire less often)`,
      events.every.span,
    )
  }
  const safeSize = size >= 1 ? Math.min(size, MAX_COUNT_WINDOW) : 1
  return { kind: 'count', size: safeSize, slide: slide >= 1 && slide <= safeSize ? slide : safeSize }
}

/** `session 30m` (a fixed gap) or `session (expr)` (a duration computed per event). */
function sessionSpec(clause: WindowClause, ctx: StepContext): SessionSpec {
  if (clause.gap !== null) {
    const gap = ctx.expr(clause.gap)
    if (!isError(gap.type) && gap.type.kind !== 'duration') {
      ctx.report(
        'E0410',
        `the gap of a session must be a duration (e.g. \`session (if vip then 5m else 30m)\`), but this is \`${show(gap.type)}\``,
        clause.gap.span,
      )
    }
    return { kind: 'session', gapMs: null, gap }
  }
  const gapMs = durationMs(clause.size!)
  if (gapMs <= 0 || gapMs > MAX_WINDOW_MS) {
    ctx.report(
      'E0410',
      gapMs <= 0
        ? 'a session gap must be positive (e.g. `window session 30m`)'
        : 'a session gap longer than a year is not supported: sessions would stay in memory that long',
      clause.size!.span,
    )
  }
  return { kind: 'session', gapMs: gapMs > 0 ? gapMs : 1, gap: null }
}

/** One `name: fn(arg)` of a windowed aggregate; null after an error in it (reported). */
function checkWindowField(init: AggregateInit, ctx: StepContext): WindowAggregateField | null {
  const args = init.args.map((arg) => ctx.expr(arg))
  const fnName = init.fn.name
  const fn = WINDOW_FUNCTIONS.find((f) => f === fnName)
  if (fn === undefined) {
    const hint =
      didYouMean(fnName, WINDOW_FUNCTIONS) || `; the aggregates of a window are ${WINDOW_FUNCTION_LIST}`
    ctx.report('E0217', `unknown aggregate function \`${fnName}\`${hint}`, init.fn.span)
    return null
  }
  const field = (arg: Expr | null, type: Type): WindowAggregateField => ({
    name: init.name.name,
    fn,
    arg,
    type,
    span: init.span,
  })
  if (fn === 'count' || fn === 'window_start' || fn === 'window_end' || fn === 'window_final') {
    if (args.length > 0) {
      const what = {
        window_start: "is the window's first millisecond",
        window_end: "is the window's end (exclusive)",
        window_final: 'tells a final result from an early one',
      }
      ctx.report(
        'E0303',
        fn === 'count'
          ? '`count()` counts events and takes no argument; to count the non-null values of `x`, write `sum(if x is null then 0 else 1)`'
          : `\`${fn}()\` ${what[fn]} and takes no argument`,
        init.args[0]!.span,
      )
      return null
    }
    return field(null, scalar(fn === 'count' ? 'i64' : fn === 'window_final' ? 'bool' : 'timestamp'))
  }
  const argMax = fn === 'max_by' || fn === 'min_by'
  const two = fn === 'quantile' || fn === 'top_k' || argMax
  if (args.length !== (two ? 2 : 1)) {
    const second = fn === 'quantile' ? 'q' : fn === 'top_k' ? 'k' : 'by'
    const usage = two ? `${fn}(${argMax ? 'x' : 'expression'}, ${second})` : `${fn}(expression)`
    const count = two ? 'two arguments' : 'one argument'
    ctx.report(
      'E0303',
      `the aggregate \`${fn}\` takes ${count}, but ${args.length === 0 ? 'none was' : args.length === 1 ? 'one was' : `${args.length} were`} given: \`${init.name.name}: ${usage}\``,
      args.length === 0 || args.length < (two ? 2 : 1) ? init.span : init.args[two ? 2 : 1]!.span,
    )
    return null
  }
  const arg = args[0]!
  if (isError(arg.type)) return null
  const base = baseType(arg.type)
  const allowed = WINDOW_ARGUMENT_KINDS[fn]!
  if (!allowed.includes(base.kind)) {
    const strings =
      base.kind === 'string'
        ? '; of strings, a window computes `count_distinct`, `approx_count_distinct`, `top_k`, and `max_by`/`min_by` (as the value taken)'
        : ''
    const taken = argMax ? ' (the value taken from the chosen event)' : ''
    ctx.report(
      'E0304',
      `\`${fn}\` in a window needs ${allowed === KEY_KINDS ? 'a `string`, `i64`, `bool` or `timestamp` (a key type)' : describeKinds(allowed)} argument${taken}, but this is \`${show(arg.type)}\`${strings}`,
      init.args[0]!.span,
    )
    return null
  }
  switch (fn) {
    case 'max_by':
    case 'min_by': {
      const by = args[1]!
      if (isError(by.type)) return null
      if (!BY_KINDS.includes(baseType(by.type).kind)) {
        ctx.report(
          'E0304',
          `the \`by\` of \`${fn}(x, by)\` is the value compared, so it must be ${describeKinds(BY_KINDS)}, but this is \`${show(by.type)}\``,
          init.args[1]!.span,
        )
        return null
      }
      // Null when the chosen event's x is null, or when no event of the window had a non-null `by`.
      const nullable = isNullable(arg.type) || isNullable(by.type)
      return { ...field(arg, withNullability(base, nullable)), by }
    }
    case 'count_distinct':
    case 'approx_count_distinct':
      // Nulls are skipped; no value at all counts 0.
      return field(arg, scalar('i64'))
    case 'quantile': {
      const q = literalParameter(init.args[1]!)
      if (q === null || q.kind !== 'FloatLiteral' || !(q.value > 0 && q.value < 1)) {
        ctx.report(
          'E0304',
          `the quantile \`q\` of \`quantile(x, q)\` must be an \`f64\` literal between 0 and 1 (both excluded), e.g. \`0.99\`${q === null ? ', not an expression' : `, but this is \`${q.text}\``}`,
          init.args[1]!.span,
        )
        return null
      }
      // Null while every argument in the window was null (or there was none).
      return { ...field(arg, optional(scalar('f64'))), q: q.value }
    }
    case 'top_k': {
      const k = literalParameter(init.args[1]!)
      if (k === null || k.kind !== 'IntLiteral' || k.value < 1 || k.value > MAX_TOP_K) {
        ctx.report(
          'E0304',
          `the \`k\` of \`top_k(x, k)\` must be an \`i64\` literal from 1 to ${MAX_TOP_K}, e.g. \`10\`${k === null ? ', not an expression' : `, but this is \`${k.text}\``}`,
          init.args[1]!.span,
        )
        return null
      }
      const entry: RecordType = {
        kind: 'record',
        fields: [
          { name: 'value', type: base },
          { name: 'count', type: scalar('i64') },
        ],
      }
      return { ...field(arg, listOf(entry)), k: k.value }
    }
  }
  // Nulls are skipped (SQL), so the result is null only while every argument in the window was
  // null, which only an optional argument can be.
  const result: Type = fn === 'avg' ? scalar('f64') : base
  return field(arg, withNullability(result, isNullable(arg.type)))
}

/** A number literal as written (a minus sign makes it no literal here: q and k are positive). */
function literalParameter(
  expression: Expression,
): { kind: 'IntLiteral' | 'FloatLiteral'; value: number; text: string } | null {
  if (expression.kind !== 'IntLiteral' && expression.kind !== 'FloatLiteral') return null
  const text =
    expression.kind === 'FloatLiteral' && Number.isInteger(expression.value)
      ? `${expression.value}.0`
      : String(expression.value)
  return { kind: expression.kind, value: expression.value, text }
}
