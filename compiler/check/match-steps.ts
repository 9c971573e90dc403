/**
 * Checking and lowering of the `match` step (specs/language.md, "Patterns"; docs/cep.md), for the
 * checker (check.ts), which owns scopes and expression checking and lends them through MatchContext.
 *
 * Before: `| match by card within 10m pattern small{2} followed by large define small as …, large
 * as … { card: large.card, total: sum(small.amount) }`.
 * After: a `Match` node (the PatternSpec the runtime builds its NFA from, the conditions as
 * expressions over the current event and StepRefs to earlier steps, the output fields), and, with
 * `late into` / `timeout into`, a `LateEvents` / `MatchTimeouts` node that the named stream reads.
 *
 * Steps are numbered in pattern order (left to right). A step's name in an expression reads its
 * events: a record when it matches exactly one, an optional record when it may match none, a list
 * of records when it repeats; a condition may read only the steps before it and, when it repeats,
 * itself (the events matched so far, Flink's IterativeCondition).
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import { conjuncts, stepsRead } from '../ir/expr.ts'
import type {
  Connector,
  Pattern,
  PatternElement,
  PatternSequence,
  PatternTerm,
  Quantifier,
  SkipStrategy,
} from '../ir/pattern.ts'
import type {
  Expr,
  MapNode,
  MatchNode,
  MatchStepInfo,
  RecordType,
  Span,
  StateSlot,
  Type,
} from '../ir/types.ts'
import type {
  DurationLiteral,
  Expression,
  FieldInit,
  MatchStep,
  PatternSequenceSyntax,
  PatternSyntax,
  PatternTermSyntax,
  QuantifierSyntax,
} from '../parse/ast.ts'
import { DURATION_UNIT_MS } from '../parse/lexer.ts'
import { slotId } from './stateful-steps.ts'
import { didYouMean } from './suggest.ts'
import { baseType, ERROR_TYPE, isError, isKeyType, listOf, optional, show } from './types.ts'

/** Resolves the names of an expression that are steps of the pattern. */
export interface StepScope {
  /** The step named `name` as an expression (ERROR_TYPE after reporting), or null when no step has that name. */
  resolve(name: string, span: Span): Expr | null
}

/** What the checker lends this module for one `match` step. */
export interface MatchContext {
  /** The step's input record. */
  readonly record: Type
  readonly id: string
  readonly input: string
  /** The start of the slot id, `<stream>.match.<n>`. */
  readonly stateId: string
  readonly lateId: string
  readonly timeoutId: string
  /** Checks an expression over the current event; names of `steps` read the steps' events. */
  expr(e: Expression, steps: StepScope | null): Expr
  fieldInits(inits: readonly FieldInit[], steps: StepScope): MapNode['fields']
  report(code: DiagnosticCode, message: string, span: Span, related?: readonly RelatedInformation[]): void
}

/** The WebAssembly kernel's masks have 16 bits for the conditions and 16 for the `until`s. */
export const MAX_PATTERN_STEPS = 16
/** The most repetitions a quantifier may name: the NFA unrolls them into states. */
export const MAX_REPETITIONS = 1000
/** The longest `within`: partial matches stay in memory that long. */
const MAX_WITHIN_MS = 366 * 24 * 3600 * 1000

/** One step as it stands in the pattern, before its condition is checked. */
interface PatternStep {
  readonly name: string
  readonly span: Span
  readonly negated: boolean
  /** Matches more than one event: its quantifier's max, or an enclosing group's, is not 1. */
  readonly repeated: boolean
  /** May match no event: min 0 (its own or a group's), or inside an option of `|`. */
  readonly optional: boolean
  readonly quantifier: QuantifierSyntax | null
  /** The options of alternations it is inside: `alternation id:option index`. */
  readonly options: readonly string[]
}

export interface CheckedMatch {
  readonly node: MatchNode
  /** The record type of the `timeout into` stream, when there is one. */
  readonly timeoutSchema: RecordType | null
}

export function checkMatch(step: MatchStep, ctx: MatchContext): CheckedMatch {
  const record = ctx.record as RecordType
  const steps: PatternStep[] = []
  const indexOf = new Map<string, number>()
  const pattern = lowerPattern(step.pattern, {
    ctx,
    steps,
    indexOf,
    repeated: false,
    optional: false,
    options: [],
    alternations: 0,
  })
  if (steps.length > MAX_PATTERN_STEPS) {
    ctx.report(
      'E0474',
      `a pattern has at most ${MAX_PATTERN_STEPS} steps, but this one has ${steps.length}; split it into two \`match\` steps`,
      step.pattern.span,
    )
  }
  checkNegations(step.pattern, step.within, ctx)

  // Each pattern step needs one definition; each definition, a pattern step.
  const definitions = new Map<string, MatchStep['defines'][number]>()
  for (const definition of step.defines) {
    const name = definition.name.name
    const earlier = definitions.get(name)
    if (earlier) {
      ctx.report('E0462', `step \`${name}\` is defined more than once`, definition.name.span, [
        { message: 'first defined here', span: earlier.name.span },
      ])
      continue
    }
    definitions.set(name, definition)
    if (!indexOf.has(name)) {
      ctx.report(
        'E0461',
        `step \`${name}\` is defined but not in the pattern${didYouMean(name, indexOf.keys())}; use it in the pattern or remove its definition`,
        definition.name.span,
      )
    }
  }
  for (const s of steps) {
    if (!definitions.has(s.name)) {
      ctx.report(
        'E0460',
        `step \`${s.name}\` is in the pattern but not defined${didYouMean(s.name, definitions.keys())}; add \`${s.name} as <condition>\` to \`define\``,
        s.span,
      )
    }
  }

  const withinMs = step.within === null ? null : durationMs(step.within, 'the match', ctx)
  const infos: MatchStepInfo[] = steps.map((s, index) => {
    const definition = definitions.get(s.name)
    const scope = conditionScope(index, steps, record, ctx)
    const condition =
      definition === undefined
        ? ({ kind: 'Literal', value: true, type: { kind: 'bool' }, span: s.span } as Expr)
        : checkCondition(definition.condition, scope, `the condition of step \`${s.name}\``, ctx)
    let until: Expr | null = null
    if (definition?.until) {
      until = checkCondition(definition.until, scope, `the \`until\` of step \`${s.name}\``, ctx)
      if (s.negated || s.quantifier === null || s.quantifier.max !== null) {
        ctx.report(
          'E0471',
          `\`until\` ends the repetitions of a step repeated without bound (\`+\`, \`*\`, \`{n,}\`), but \`${s.name}\` ${s.negated ? 'is negated' : s.quantifier === null ? 'matches one event' : `repeats at most ${s.quantifier.max} times`}`,
          definition.until.span,
        )
      }
    }
    if (definition && neverTrue(condition)) {
      ctx.report(
        'W0018',
        `step \`${s.name}\` can never match: its condition is never true, so the pattern ${s.negated ? 'never stops at it' : 'never matches'}`,
        definition.condition.span,
      )
    }
    const reads = new Set<number>()
    stepsRead(condition, reads)
    if (until !== null) stepsRead(until, reads)
    return {
      name: s.name,
      negated: s.negated,
      repeated: s.repeated,
      hasUntil: until !== null,
      reads: [...reads].sort((a, b) => a - b),
      condition,
      until,
      span: definition?.span ?? s.span,
    }
  })

  let key: Expr | null = null
  if (step.key !== null) {
    key = ctx.expr(step.key, null)
    if (!isError(key.type) && (!isKeyType(key.type) || key.type.kind === 'null')) {
      ctx.report(
        'E0308',
        `a key must be a string, i64, bool or timestamp (optionally \`?\`), but this is \`${show(key.type)}\``,
        step.key.span,
      )
    }
  }

  const fields = ctx.fieldInits(step.fields, outputScope(steps, record, false, ctx))
  if (step.fields.length === 0) {
    ctx.report(
      'E0478',
      'a match emits `{ }`, a record with no field; name what to keep of its steps (`{ card: b.card, n: count(a) }`)',
      step.span,
    )
  }
  let timeout: MatchNode['timeout'] = null
  let timeoutSchema: RecordType | null = null
  if (step.timeout !== null) {
    if (withinMs === null && !steps.some((_, i) => stepWithin(pattern, i) !== null)) {
      ctx.report(
        'E0466',
        'a partial match times out only when a `within` runs out, and this pattern has none; add `within <duration>` after `match` (or its key)',
        step.timeout.span,
      )
    }
    const timeoutFields = ctx.fieldInits(step.timeout.fields, outputScope(steps, record, true, ctx))
    timeout = { stream: ctx.timeoutId, fields: timeoutFields }
    timeoutSchema = {
      kind: 'record',
      fields: timeoutFields.map((f) => ({ name: f.name, type: f.value.type })),
    }
  }

  const skip = skipStrategy(step, indexOf, steps, ctx)
  if (withinMs === null && canGrowWithoutBound(pattern)) {
    ctx.report(
      'W0017',
      'this pattern has no `within`, and a step repeated without bound or `followed by any` keeps partial matches until their events come, so its state can grow without bound; add `within <duration>` after `match`',
      step.pattern.span,
    )
  }

  const schema: RecordType = {
    kind: 'record',
    fields: fields.map((f) => ({ name: f.name, type: f.value.type })),
  }
  const layout = {
    key: key === null ? null : show(key.type),
    steps: infos.map((s) => [s.name, s.negated, s.repeated]),
    pattern: stripSpans(pattern),
    withinMs,
    skip,
  }
  const state: StateSlot = { id: slotId(ctx.stateId, layout), step: 'match', ttlMs: null }
  const node: MatchNode = {
    kind: 'Match',
    id: ctx.id,
    span: step.span,
    schema,
    input: ctx.input,
    inputSchema: record,
    key,
    steps: infos,
    pattern,
    withinMs,
    skip,
    fields,
    timeout,
    late: step.lateInto === null ? null : ctx.lateId,
    latenessMs: 0,
    state,
    execution: infos.every((s) => s.reads.length === 0) ? 'wasm' : 'typescript',
  }
  return { node, timeoutSchema }
}

// ---------------------------------------------------------------------------------------------
// The pattern

interface Lowering {
  readonly ctx: MatchContext
  readonly steps: PatternStep[]
  readonly indexOf: Map<string, number>
  readonly repeated: boolean
  readonly optional: boolean
  readonly options: readonly string[]
  alternations: number
}

function lowerPattern(pattern: PatternSyntax, lowering: Lowering): Pattern {
  if (pattern.kind === 'PatternSequence') return lowerSequence(pattern, lowering)
  const id = lowering.alternations++
  return {
    kind: 'Alternation',
    options: pattern.options.map((option, i) =>
      lowerSequence(option, { ...lowering, optional: true, options: [...lowering.options, `${id}:${i}`] }),
    ),
    span: pattern.span,
  }
}

function lowerSequence(sequence: PatternSequenceSyntax, lowering: Lowering): PatternSequence {
  const elements: PatternElement[] = []
  for (const element of sequence.elements) {
    const negated = element.connector === 'notNext' || element.connector === 'notFollowedBy'
    const term = lowerTerm(element.term, negated, element.connector, lowering)
    if (term !== null) elements.push({ connector: element.connector, term })
  }
  return { kind: 'Sequence', elements, span: sequence.span }
}

function lowerTerm(
  term: PatternTermSyntax,
  negated: boolean,
  connector: Connector,
  lowering: Lowering,
): PatternTerm | null {
  const { ctx } = lowering
  const quantifier = lowerQuantifier(term.quantifier, ctx)
  const withinMs = term.within === null ? null : durationMs(term.within, 'a step', ctx)
  const repeated = lowering.repeated || quantifier.max !== 1
  const optional = lowering.optional || quantifier.min === 0
  if (term.group !== null) {
    if (negated) {
      ctx.report(
        'E0469',
        `\`${connector === 'notNext' ? 'not next' : 'not followed by'}\` takes one step, not a group: name a step whose condition says what may not come`,
        term.span,
      )
    }
    const pattern = lowerPattern(term.group, { ...lowering, repeated, optional })
    return { kind: 'Group', pattern, quantifier, withinMs, span: term.span }
  }
  const name = term.step!
  if (negated && term.quantifier !== null) {
    ctx.report(
      'E0469',
      `a negated step takes no quantifier: \`not next ${name.name}\` / \`not followed by ${name.name}\` already refuse any such event`,
      term.quantifier.span,
    )
  }
  const earlier = lowering.indexOf.get(name.name)
  if (earlier !== undefined) {
    ctx.report(
      'E0462',
      `step \`${name.name}\` is in the pattern twice; a step appears once (define another step with the same condition)`,
      name.span,
      [{ message: 'first used here', span: lowering.steps[earlier]!.span }],
    )
    return null
  }
  const index = lowering.steps.length
  lowering.indexOf.set(name.name, index)
  lowering.steps.push({
    name: name.name,
    span: name.span,
    negated,
    repeated: negated ? false : repeated,
    optional: negated ? true : optional,
    quantifier: negated ? null : term.quantifier,
    options: lowering.options,
  })
  return {
    kind: 'Step',
    step: index,
    quantifier: negated ? ONCE : quantifier,
    withinMs,
    span: term.span,
  }
}

const ONCE: Quantifier = { min: 1, max: 1, mode: 'all', inner: 'relaxed' }

function lowerQuantifier(q: QuantifierSyntax | null, ctx: MatchContext): Quantifier {
  if (q === null) return ONCE
  if (q.max === 0) {
    ctx.report(
      'E0467',
      `\`{${q.min === 0 && q.form === 'exact' ? '0' : `${q.min},0`}}\` matches no event; to require that no such event comes, write \`not next\` or \`not followed by\``,
      q.span,
    )
    return ONCE
  }
  if (q.max !== null && q.min > q.max) {
    ctx.report(
      'E0467',
      `the quantifier \`{${q.min},${q.max}}\` asks for at least ${q.min} but at most ${q.max} repetitions; write the smaller bound first`,
      q.span,
    )
    return ONCE
  }
  if (Math.max(q.min, q.max ?? 0) > MAX_REPETITIONS) {
    ctx.report(
      'E0467',
      `a quantifier may name at most ${MAX_REPETITIONS} repetitions (the pattern's automaton has a state for each); use \`{n,}\` for "n or more"`,
      q.span,
    )
    return ONCE
  }
  return { min: q.min, max: q.max, mode: q.mode, inner: q.inner }
}

/**
 * Flink's rules for absence: a negation cannot follow an optional part (a match with and one
 * without it would need two patterns), and `not followed by` at the end needs a `within`, the span
 * in which the event must not come.
 */
function checkNegations(pattern: PatternSyntax, within: DurationLiteral | null, ctx: MatchContext): void {
  const walk = (p: PatternSyntax, atEnd: boolean): void => {
    const options = p.kind === 'PatternAlternation' ? p.options : [p]
    for (const option of options) {
      option.elements.forEach((element, i) => {
        const last = i === option.elements.length - 1
        if (element.term.group !== null) walk(element.term.group, atEnd && last)
        if (element.connector !== 'notNext' && element.connector !== 'notFollowedBy') return
        const before = option.elements[i - 1]?.term
        if (before?.quantifier && before.quantifier.min === 0) {
          ctx.report(
            'E0465',
            'a negation cannot follow an optional step (`?`, `*`, `{0,…}`): the match with it and the one without it need different checks; write two patterns, one with and one without the optional step',
            element.term.span,
          )
        }
        if (
          element.connector === 'notFollowedBy' &&
          atEnd &&
          last &&
          within === null &&
          element.term.within === null
        ) {
          ctx.report(
            'E0466',
            '`not followed by` at the end of a pattern needs a span in which the event must not come: add `within <duration>` after `match` or after the step',
            element.term.span,
          )
        }
      })
    }
  }
  walk(pattern, true)
}

/** The `within` of the term of step `index`, or null. */
function stepWithin(pattern: Pattern, index: number): number | null {
  const options = pattern.kind === 'Alternation' ? pattern.options : [pattern]
  for (const option of options) {
    for (const { term } of option.elements) {
      if (term.kind === 'Step' && term.step === index) return term.withinMs
      if (term.kind === 'Group') {
        const inner = stepWithin(term.pattern, index)
        if (inner !== null || term.withinMs !== null) return inner ?? term.withinMs
      }
    }
  }
  return null
}

/** An unbounded quantifier (on a step or a group) or `followed by any`, anywhere. */
function canGrowWithoutBound(pattern: Pattern): boolean {
  const options = pattern.kind === 'Alternation' ? pattern.options : [pattern]
  return options.some((option) =>
    option.elements.some(
      ({ connector, term }) =>
        connector === 'followedByAny' ||
        term.quantifier.max === null ||
        (term.kind === 'Group' && canGrowWithoutBound(term.pattern)),
    ),
  )
}

function skipStrategy(
  step: MatchStep,
  indexOf: ReadonlyMap<string, number>,
  steps: readonly PatternStep[],
  ctx: MatchContext,
): SkipStrategy {
  const skip = step.skip
  if (skip === null) return { kind: 'noSkip' }
  if (skip.strategy === 'toNext' || skip.strategy === 'pastLastEvent') return { kind: skip.strategy }
  const name = skip.step!
  const index = indexOf.get(name.name)
  if (index === undefined || steps[index]!.negated) {
    ctx.report(
      'E0468',
      index === undefined
        ? `\`skip to ${skip.strategy === 'toFirst' ? 'first' : 'last'}\` names \`${name.name}\`, which is not a step of the pattern${didYouMean(name.name, indexOf.keys())}`
        : `\`skip to ${skip.strategy === 'toFirst' ? 'first' : 'last'} ${name.name}\` names a negated step, which is never part of a match`,
      name.span,
    )
    return { kind: 'noSkip' }
  }
  return { kind: skip.strategy, step: index }
}

// ---------------------------------------------------------------------------------------------
// Conditions and outputs

/** What step `index`'s condition may read: the steps before it, and itself when it repeats. */
function conditionScope(
  index: number,
  steps: readonly PatternStep[],
  record: RecordType,
  ctx: MatchContext,
): StepScope {
  const self = steps[index]!
  return {
    resolve(name, span) {
      const target = steps.findIndex((s) => s.name === name)
      if (target === -1) return null
      const other = steps[target]!
      const error = (message: string): Expr => {
        ctx.report('E0463', message, span)
        return { kind: 'StepRef', step: target, name, type: ERROR_TYPE, span }
      }
      if (target === index) {
        if (!self.repeated) {
          return error(
            `step \`${name}\` matches one event, so in its own condition \`${name}\` would be the events it matched before this one, always none; read the current event's fields by name (\`amount\`, not \`${name}.amount\`)`,
          )
        }
        return { kind: 'StepRef', step: target, name, type: listOf(record), span }
      }
      if (other.negated) {
        ctx.report(
          'E0464',
          `\`${name}\` is a negated step: its events are never part of a match, so no condition can read them`,
          span,
        )
        return { kind: 'StepRef', step: target, name, type: ERROR_TYPE, span }
      }
      if (target > index) {
        return error(
          `the condition of \`${self.name}\` cannot read \`${name}\`: it comes later in the pattern, so it has matched nothing yet when \`${self.name}\` is tried (a condition reads the steps before it)`,
        )
      }
      if (exclusive(self, other)) {
        return error(
          `the condition of \`${self.name}\` cannot read \`${name}\`: they are in different options of \`|\`, never in one match`,
        )
      }
      return { kind: 'StepRef', step: target, name, type: stepType(other, record, false), span }
    },
  }
}

/** What an output (or, with `timedOut`, a timeout record) may read: every step that is not negated. */
function outputScope(
  steps: readonly PatternStep[],
  record: RecordType,
  timedOut: boolean,
  ctx: MatchContext,
): StepScope {
  return {
    resolve(name, span) {
      const target = steps.findIndex((s) => s.name === name)
      if (target === -1) {
        // No event is current when a match is emitted: its fields are read through a step.
        const last = [...steps].reverse().find((s) => !s.negated && !s.repeated)
        const isField = record.fields.some((f) => f.name === name)
        ctx.report(
          'E0476',
          `\`${name}\` is not a step of the pattern${
            isField
              ? ''
              : didYouMean(
                  name,
                  steps.map((s) => s.name),
                )
          }: the ${timedOut ? 'timeout record' : 'output'} of a match has no current event, so a field is read through a step${isField && last ? ` (\`${last.name}.${name}\`)` : ''}`,
          span,
        )
        return { kind: 'Literal', value: null, type: ERROR_TYPE, span }
      }
      const step = steps[target]!
      if (step.negated) {
        ctx.report(
          'E0464',
          `\`${name}\` is a negated step: its events are never part of a match, so the ${timedOut ? 'timeout record' : 'output'} cannot read them`,
          span,
        )
        return { kind: 'StepRef', step: target, name, type: ERROR_TYPE, span }
      }
      return { kind: 'StepRef', step: target, name, type: stepType(step, record, timedOut), span }
    },
  }
}

/** A list when it repeats; else a record, optional when it may match none (or the match timed out). */
function stepType(step: PatternStep, record: RecordType, timedOut: boolean): Type {
  if (step.repeated) return listOf(record)
  return step.optional || timedOut ? optional(record) : record
}

/** Two steps in different options of one `|`. */
function exclusive(a: PatternStep, b: PatternStep): boolean {
  return a.options.some((option) => {
    const [alternation] = option.split(':')
    return b.options.some((other) => other.split(':')[0] === alternation && other !== option)
  })
}

function checkCondition(expression: Expression, scope: StepScope, what: string, ctx: MatchContext): Expr {
  const condition = ctx.expr(expression, scope)
  if (!isError(condition.type) && baseType(condition.type).kind !== 'bool') {
    ctx.report(
      'E0470',
      `${what} must be a \`bool\`, but this is \`${show(condition.type)}\``,
      expression.span,
    )
  }
  return condition
}

function durationMs(d: DurationLiteral, of: string, ctx: MatchContext): number {
  const ms = d.amount * DURATION_UNIT_MS[d.unit]
  if (ms <= 0 || ms > MAX_WITHIN_MS) {
    ctx.report(
      'E0472',
      ms <= 0
        ? `the \`within\` of ${of} must be positive (e.g. \`within 10m\`)`
        : `a \`within\` longer than a year is not supported: partial matches would stay in memory that long`,
      d.span,
    )
    return 1
  }
  return ms
}

// ---------------------------------------------------------------------------------------------
// Conditions that are never true (W0018)

/**
 * Whether a condition is never true: `false` or `null`, `and` with such a side, `or` of two, `not`
 * of `true`, a comparison of two literals that fails, or conjuncts that bound one field to an
 * empty range (`amount < 10 and amount > 20`, `kind == "a" and kind == "b"`).
 */
export function neverTrue(expr: Expr): boolean {
  const constant = constantValue(expr)
  if (constant !== undefined) return constant !== true
  if (expr.kind === 'Binary' && expr.op === 'or') return neverTrue(expr.left) && neverTrue(expr.right)
  if (expr.kind === 'Binary' && expr.op === 'and') {
    return neverTrue(expr.left) || neverTrue(expr.right) || contradictory(conjuncts(expr))
  }
  return false
}

type Constant = string | number | boolean | null

/** The value of an expression of literals alone (comparisons, `and`, `or`, `not`), or undefined. */
function constantValue(expr: Expr): Constant | undefined {
  if (expr.kind === 'Literal') return expr.value
  if (expr.kind === 'Unary' && expr.op === 'not') {
    const v = constantValue(expr.operand)
    return v === undefined || v === null ? v : !v
  }
  if (expr.kind !== 'Binary') return undefined
  const l = constantValue(expr.left)
  const r = constantValue(expr.right)
  if (expr.op === 'and') {
    if (l === false || r === false) return false
    return l === undefined || r === undefined ? undefined : l === null || r === null ? null : true
  }
  if (expr.op === 'or') {
    if (l === true || r === true) return true
    return l === undefined || r === undefined ? undefined : l === null || r === null ? null : false
  }
  if (l === undefined || r === undefined) return undefined
  if (l === null || r === null) return null
  switch (expr.op) {
    case '==':
      return l === r
    case '!=':
      return l !== r
    case '<':
      return l < r
    case '<=':
      return l <= r
    case '>':
      return l > r
    case '>=':
      return l >= r
    default:
      return undefined
  }
}

const FLIPPED: Readonly<Record<string, string>> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '==': '==' }

/** Conjuncts `field op literal` that no value of one field meets together. */
function contradictory(parts: readonly Expr[]): boolean {
  const ranges = new Map<
    string,
    { lo: number; loOpen: boolean; hi: number; hiOpen: boolean; eq: Constant[] }
  >()
  for (const part of parts) {
    if (part.kind !== 'Binary' || !(part.op in FLIPPED)) continue
    const leftValue = part.right.kind === 'Column' ? constantValue(part.left) : undefined
    const rightValue = part.left.kind === 'Column' ? constantValue(part.right) : undefined
    let column: string
    let value: Constant
    let op = part.op
    if (part.left.kind === 'Column' && rightValue !== undefined) {
      column = part.left.name
      value = rightValue
    } else if (part.right.kind === 'Column' && leftValue !== undefined) {
      column = part.right.name
      value = leftValue
      op = FLIPPED[op] as typeof op
    } else continue
    if (value === null) continue
    const range = ranges.get(column) ?? { lo: -Infinity, loOpen: false, hi: Infinity, hiOpen: false, eq: [] }
    ranges.set(column, range)
    if (op === '==') {
      range.eq.push(value)
      continue
    }
    if (typeof value !== 'number') continue
    if ((op === '>' || op === '>=') && (value > range.lo || (value === range.lo && op === '>'))) {
      range.lo = value
      range.loOpen = op === '>'
    }
    if ((op === '<' || op === '<=') && (value < range.hi || (value === range.hi && op === '<'))) {
      range.hi = value
      range.hiOpen = op === '<'
    }
  }
  for (const range of ranges.values()) {
    if (range.lo > range.hi || (range.lo === range.hi && (range.loOpen || range.hiOpen))) return true
    if (new Set(range.eq).size > 1) return true
    for (const v of range.eq) {
      if (typeof v !== 'number') continue
      if (
        v < range.lo ||
        v > range.hi ||
        (v === range.lo && range.loOpen) ||
        (v === range.hi && range.hiOpen)
      )
        return true
    }
  }
  return false
}

/** The pattern without spans, for the state slot's layout (a moved step keeps its slot). */
function stripSpans(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSpans)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (k !== 'span') out[k] = stripSpans(v)
    return out
  }
  return value
}
