/**
 * Checking and lowering of joins (specs/language.md, "Joins"), for the checker (check.ts), which
 * owns name lookup and expression checking and lends them through JoinCheckContext.
 *
 * Before: `stream s = left join orders as o, shipments as s on o.id == s.order_id within s
 * between 5m before and 1m after o`. After: a `Join` node whose output record has one field per
 * alias (`{ o: Order, s: Shipment? }`), with the key expressions rewritten over each side's own
 * record, the bound as offsets of the right event's time from the left's, and its state slot.
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import { columnsRead, transformExpr } from '../ir/expr.ts'
import type {
  Expr,
  FieldType,
  IntervalJoinBound,
  JoinNode,
  RecordType,
  Span,
  StateSlot,
  Type,
  WindowSpec,
} from '../ir/types.ts'
import type { BoundOffset, DurationLiteral, Expression, Identifier, JoinClause } from '../parse/ast.ts'
import { DURATION_UNIT_MS } from '../parse/lexer.ts'
import { checkTimedSide, type TimedInput } from './join-over-results.ts'
import { slotId } from './stateful-steps.ts'
import { baseType, ERROR_TYPE, isError, isKeyType, isNullable, optional, show } from './types.ts'

/** One input of a join as the checker knows it; null fields where the name did not resolve. */
export interface JoinInput {
  readonly name: Identifier
  readonly record: Type
  /** The node whose output the join reads. */
  readonly lastId: string
  /** Whether its events are timed by an `@event_time` field of their source (not the log append time). */
  readonly hasEventTime: boolean
  /** The source its events come from (null when it carries timed results, see below). */
  readonly source: string | null
  /**
   * The window, join or match upstream whose results it carries, or the late events, if any
   * (join-over-results.ts says which a join may read).
   */
  readonly timedResultsOf: TimedInput | null
}

export interface JoinCheckContext {
  readonly id: string
  readonly lateId: string
  /** `<stream>.join.0`, the start of the slot id. */
  readonly stateId: string
  /** Checks an expression over `record`. */
  expr(e: Expression, record: Type): Expr
  checkFieldName(name: string, span: Span): void
  report(code: DiagnosticCode, message: string, span: Span, related?: readonly RelatedInformation[]): void
}

/** The fields a window join adds after its sides: the window's first millisecond and its end. */
export const WINDOW_FIELDS: readonly string[] = ['window_start', 'window_end']

/** The longest bound or lateness: both sides' events stay in memory that long. */
const MAX_BOUND_MS = 366 * 24 * 3600 * 1000

export function checkJoin(
  clause: JoinClause,
  left: JoinInput | null,
  right: JoinInput | null,
  span: Span,
  ctx: JoinCheckContext,
): JoinNode {
  const leftAlias = clause.leftAlias.name
  const rightAlias = clause.rightAlias.name
  ctx.checkFieldName(leftAlias, clause.leftAlias.span)
  ctx.checkFieldName(rightAlias, clause.rightAlias.span)
  if (leftAlias === rightAlias) {
    ctx.report(
      'E0442',
      `both sides of the join are named \`${leftAlias}\`; give the second another name (\`${clause.right.name} as ${rightAlias}2\`)`,
      clause.rightAlias.span,
      [{ message: 'the first side is named here', span: clause.leftAlias.span }],
    )
  }
  // Two sides of one source, or one stream on both sides, are allowed: the runner hands each source
  // record to both sides in record order (runtime/node/same-source.ts), and an event on both sides
  // may pair with itself, as in Flink's interval join of two streams built from one source.
  for (const side of [left, right]) {
    if (side === null) continue
    if (!side.hasEventTime) {
      ctx.report(
        'E0441',
        `the events of \`${side.name.name}\` have no event time (their source's schema marks no field \`@event_time\`), so a join cannot bound them in time; mark the source's time field \`@event_time\``,
        side.name.span,
      )
    }
    if (side.timedResultsOf !== null) checkTimedSide(side.name, side.timedResultsOf, ctx)
  }

  const leftRecord = sideRecord(left)
  const rightRecord = sideRecord(right)
  // With one name for both sides, `x.f` could mean either: the condition and the bound are left
  // unchecked rather than reported against a guess.
  const sameAlias = leftAlias === rightAlias
  const { leftKeys, rightKeys } = sameAlias
    ? { leftKeys: [], rightKeys: [] }
    : checkCondition(clause, leftRecord, rightRecord, ctx)

  let bound: IntervalJoinBound | WindowSpec
  let latenessMs: number
  let lateInto: Identifier | null
  if (clause.within !== null) {
    bound = sameAlias ? { kind: 'interval', lowerMs: 0, upperMs: 0 } : intervalBound(clause, ctx)
    latenessMs = lateness(clause.within.lateness, ctx)
    lateInto = clause.within.lateInto
  } else {
    const window = clause.window!
    if (window.processingTime) {
      ctx.report(
        'E0423',
        "a window join cannot go by processing time: it pairs the two sides' events by their event times; drop `processing time`",
        window.span,
      )
    }
    bound = windowBound(clause, ctx)
    latenessMs = lateness(window.lateness, ctx)
    lateInto = window.lateInto
  }

  const outerLeft = clause.type === 'full'
  const outerRight = clause.type !== 'inner'
  const fields: FieldType[] = [
    { name: leftAlias, type: outerLeft ? optional(leftRecord) : leftRecord },
    { name: rightAlias, type: outerRight ? optional(rightRecord) : rightRecord },
  ]
  if (bound.kind !== 'interval') {
    // A window join's rows say which window paired them, as Flink SQL's window join does.
    for (const alias of [clause.leftAlias, clause.rightAlias]) {
      if (WINDOW_FIELDS.includes(alias.name)) {
        ctx.report(
          'E0442',
          `\`${alias.name}\` names a field of a window join's output (its window's bounds); name the side otherwise`,
          alias.span,
        )
      }
    }
    fields.push(...WINDOW_FIELDS.map((name) => ({ name, type: { kind: 'timestamp' } as const })))
  }
  const layout = {
    join: clause.type,
    keys: leftKeys.map((key) => show(baseType(key.type))),
    bound: bound.kind === 'interval' ? [bound.lowerMs, bound.upperMs] : [bound.sizeMs, bound.slideMs],
  }
  const state: StateSlot = { id: slotId(ctx.stateId, layout), step: 'join', ttlMs: null }
  return {
    kind: 'Join',
    id: ctx.id,
    span,
    schema: { kind: 'record', fields },
    left: left?.lastId ?? '',
    right: right?.lastId ?? '',
    leftAlias,
    rightAlias,
    joinType: clause.type,
    leftKeys,
    rightKeys,
    bound,
    latenessMs,
    late: lateInto === null ? null : ctx.lateId,
    state,
    leftSchema: leftRecord as RecordType,
    rightSchema: rightRecord as RecordType,
  }
}

/** The record type of the late events of a join: one field per side, both optional. */
export function lateRecordOf(join: JoinNode): RecordType {
  return {
    kind: 'record',
    fields: join.schema.fields.slice(0, 2).map((f) => ({
      name: f.name,
      type: isNullable(f.type) ? f.type : optional(f.type),
    })),
  }
}

/** A side's record without `@event_time` marks: inside the join's output it is a nested record. */
function sideRecord(side: JoinInput | null): Type {
  if (side === null || isError(side.record) || side.record.kind !== 'record') return ERROR_TYPE
  return { kind: 'record', fields: side.record.fields.map((f) => ({ name: f.name, type: f.type })) }
}

/**
 * `on a == b and c == d`: each conjunct an equality of an expression over one side with one over
 * the other, of one key type. Returns the key expressions rewritten over each side's own record.
 */
function checkCondition(
  clause: JoinClause,
  leftRecord: Type,
  rightRecord: Type,
  ctx: JoinCheckContext,
): { leftKeys: Expr[]; rightKeys: Expr[] } {
  const leftAlias = clause.leftAlias.name
  const rightAlias = clause.rightAlias.name
  // The condition sees both sides as present records, whatever the join type.
  const scope: Type = {
    kind: 'record',
    fields: [
      { name: leftAlias, type: leftRecord },
      { name: rightAlias, type: rightRecord },
    ],
  }
  const leftKeys: Expr[] = []
  const rightKeys: Expr[] = []
  const conjuncts: Expression[] = []
  const split = (e: Expression): void => {
    if (e.kind === 'Binary' && e.op === 'and') {
      split(e.left)
      split(e.right)
    } else conjuncts.push(e)
  }
  split(clause.on)
  for (const part of conjuncts) {
    if (part.kind !== 'Binary' || part.op !== '==') {
      const checked = ctx.expr(part, scope)
      if (!isError(checked.type)) {
        ctx.report(
          'E0445',
          `a join condition is one or more equalities of a key of each side joined by \`and\` (\`on ${leftAlias}.id == ${rightAlias}.${leftAlias}_id\`); filter on anything else with \`where\` after the join`,
          part.span,
        )
      }
      continue
    }
    const a = ctx.expr(part.left, scope)
    const b = ctx.expr(part.right, scope)
    if (isError(a.type) || isError(b.type)) continue
    const aSide = sideOf(a, leftAlias, rightAlias)
    const bSide = sideOf(b, leftAlias, rightAlias)
    if (aSide === null || bSide === null || aSide === bSide) {
      const which = (s: string | null) => (s === null ? 'both sides or neither' : `only \`${s}\``)
      ctx.report(
        'E0445',
        `each side of a join equality reads one side of the join: here the left reads ${which(aSide === null ? null : aSide === 'left' ? leftAlias : rightAlias)} and the right ${which(bSide === null ? null : bSide === 'left' ? leftAlias : rightAlias)}`,
        part.span,
      )
      continue
    }
    const [l, r, lSpan, rSpan] =
      aSide === 'left' ? [a, b, part.left.span, part.right.span] : [b, a, part.right.span, part.left.span]
    let ok = true
    for (const [key, keySpan] of [
      [l, lSpan],
      [r, rSpan],
    ] as const) {
      if (!isKeyType(key.type) || key.type.kind === 'null') {
        ctx.report(
          'E0308',
          `a join key must be a string, i64, bool or timestamp (optionally \`?\`), but this is \`${show(key.type)}\``,
          keySpan,
        )
        ok = false
      }
    }
    if (!ok) continue
    if (show(baseType(l.type)) !== show(baseType(r.type))) {
      ctx.report(
        'E0440',
        `the keys of a join must have one type, but \`${leftAlias}\`'s is \`${show(l.type)}\` and \`${rightAlias}\`'s is \`${show(r.type)}\`; convert one (e.g. \`to_string(…)\`)`,
        part.span,
      )
      continue
    }
    for (const [key, keySpan, alias] of [
      [l, lSpan, leftAlias],
      [r, rSpan, rightAlias],
    ] as const) {
      if (isNullable(key.type)) {
        ctx.report(
          'W0014',
          `\`${alias}\`'s key is optional: an event whose key is null matches nothing (in an inner join it is dropped)`,
          keySpan,
        )
      }
    }
    leftKeys.push(overSide(l, leftAlias))
    rightKeys.push(overSide(r, rightAlias))
  }
  return { leftKeys, rightKeys }
}

/** Which alias an expression reads: 'left', 'right', or null for both or neither. */
function sideOf(expr: Expr, leftAlias: string, rightAlias: string): 'left' | 'right' | null {
  const names = columnsRead(expr)
  if (names.size !== 1) return null
  const [name] = names
  return name === leftAlias ? 'left' : name === rightAlias ? 'right' : null
}

/** `alias.f` becomes the column `f` of the side's own record. */
function overSide(expr: Expr, alias: string): Expr {
  return transformExpr(expr, (e) =>
    e.kind === 'Member' && e.object.kind === 'Column' && e.object.name === alias
      ? { kind: 'Column', name: e.name, type: e.type, span: e.span }
      : e,
  )
}

function durationMs(d: DurationLiteral): number {
  return d.amount * DURATION_UNIT_MS[d.unit]
}

function offsetMs(o: BoundOffset): number {
  const ms = durationMs(o.amount)
  return o.direction === 'after' ? ms : -ms
}

/** `within s between A and B o`: the offsets of the right event's time from the left's. */
function intervalBound(clause: JoinClause, ctx: JoinCheckContext): IntervalJoinBound {
  const w = clause.within!
  const aliases = [clause.leftAlias.name, clause.rightAlias.name]
  for (const name of [w.subject, w.reference]) {
    if (!aliases.includes(name.name)) {
      ctx.report(
        'E0446',
        `\`${name.name}\` is not a side of this join; the bound names the two sides, \`within ${aliases[1]} between 5m before and 1m after ${aliases[0]}\``,
        name.span,
      )
      return { kind: 'interval', lowerMs: 0, upperMs: 0 }
    }
  }
  if (w.subject.name === w.reference.name) {
    ctx.report(
      'E0446',
      `the bound relates \`${w.subject.name}\` to itself; it relates the time of one side to the other's (\`within ${aliases[1]} between 5m before and 1m after ${aliases[0]}\`)`,
      w.reference.span,
    )
    return { kind: 'interval', lowerMs: 0, upperMs: 0 }
  }
  const from = offsetMs(w.lower)
  const to = offsetMs(w.upper)
  const show = (o: BoundOffset) => `${o.amount.amount}${o.amount.unit} ${o.direction}`
  if (from > to) {
    ctx.report(
      'E0443',
      `the bound is empty: \`${show(w.lower)}\` is later than \`${show(w.upper)}\`, so no two events can meet it; write the earlier offset first`,
      { file: w.span.file, start: w.lower.span.start, end: w.upper.span.end },
    )
  }
  for (const o of [w.lower, w.upper]) {
    if (durationMs(o.amount) > MAX_BOUND_MS) {
      ctx.report(
        'E0443',
        'a join bound longer than a year is not supported: both sides would stay in memory that long',
        o.amount.span,
      )
    }
  }
  // Subject = right: r.t in [l.t + from, l.t + to]; subject = left: l.t in [r.t + from, r.t + to].
  return w.subject.name === clause.rightAlias.name
    ? { kind: 'interval', lowerMs: from, upperMs: to }
    : { kind: 'interval', lowerMs: -to, upperMs: -from }
}

function windowBound(clause: JoinClause, ctx: JoinCheckContext): WindowSpec {
  const w = clause.window!
  if (w.type.name === 'session' || w.type.name === 'count') {
    ctx.report(
      'E0448',
      `a window join pairs events in tumbling or hopping windows; ${w.type.name} windows are not supported in joins`,
      w.type.span,
    )
    return { kind: 'tumbling', sizeMs: 1, slideMs: 1 }
  }
  if (w.emit !== null && w.emit.mode !== 'close') {
    ctx.report(
      'E0448',
      'a window join emits its pairs when their window closes; early results (`emit every`, `emit on update`) are not supported in joins',
      w.emit.span,
    )
  }
  if (clause.type !== 'inner') {
    ctx.report(
      'E0448',
      `a window join is an inner join; \`${clause.type} join … window\` is not supported (use an interval join, \`within …\`, for outer rows)`,
      clause.span,
    )
  }
  const sizeMs = durationMs(w.size!)
  const slideMs = w.every ? durationMs(w.every) : sizeMs
  if (sizeMs <= 0 || sizeMs > MAX_BOUND_MS) {
    ctx.report(
      'E0410',
      sizeMs <= 0
        ? 'a window must have a positive length (e.g. `window tumbling 1m`)'
        : 'a window longer than a year is not supported: its state would stay in memory that long',
      w.size!.span,
    )
  } else if (w.every && (slideMs <= 0 || slideMs > sizeMs || sizeMs / slideMs > 1000)) {
    ctx.report(
      'E0410',
      slideMs <= 0 || slideMs > sizeMs
        ? 'the step between hopping windows must be positive and no longer than the window'
        : `each event would belong to ${Math.ceil(sizeMs / slideMs)} hopping windows; at most 1000 are supported (make the step longer)`,
      w.every.span,
    )
  }
  const safeSize = sizeMs > 0 ? sizeMs : 1
  return {
    kind: w.every ? 'hopping' : 'tumbling',
    sizeMs: safeSize,
    slideMs: slideMs > 0 && slideMs <= safeSize ? slideMs : safeSize,
  }
}

function lateness(d: DurationLiteral | null, ctx: JoinCheckContext): number {
  if (d === null) return 0
  const ms = durationMs(d)
  if (ms > MAX_BOUND_MS) {
    ctx.report(
      'E0443',
      'a lateness longer than a year is not supported: both sides would stay in memory that long',
      d.span,
    )
  }
  return ms
}
