/**
 * Builders and fast-check arbitraries for patterns (compiler/ir/pattern.ts) and keyed event
 * streams, for the reference matcher's tests and the pattern engines' properties.
 *
 * Events are `{ k, v, n }`: a key, a letter 'a' | 'b' | 'c' and a small number. Conditions come
 * from a small vocabulary (`CondSpec`) so that a counterexample prints readably; one kind is
 * iterative (it reads an earlier step's events, or its own events so far).
 *
 * The generated patterns stay inside what Sluice accepts and Flink defines (the compiler refuses
 * the rest): a negation follows a mandatory step and is not the first part; `not followed by` at
 * the end has a `within`; greedy and reluctant come before a mandatory step; `until` only on a
 * step repeated without bound; a step's `within` only on a single step after a single step; a group's first
 * step is mandatory; alternation options do not repeat.
 */
import fc from 'fast-check'
import type {
  Connector,
  Contiguity,
  Pattern,
  PatternAlternation,
  PatternElement,
  PatternGroupTerm,
  PatternSequence,
  PatternSpec,
  PatternStepInfo,
  PatternStepTerm,
  PatternTerm,
  Quantifier,
  SkipStrategy,
} from '../../compiler/ir/pattern.ts'
import type { Span } from '../../compiler/ir/types.ts'
import type { RefCondition, RefContext } from './cep-reference.ts'

export const NO_SPAN: Span = { file: 'generated.pipe', start: 0, end: 0 }

export function quantifier(
  min: number,
  max: number | null,
  mode: Quantifier['mode'] = 'all',
  inner: Contiguity = 'relaxed',
): Quantifier {
  return { min, max, mode, inner }
}

export const ONCE = quantifier(1, 1)

export function step(index: number, q: Quantifier = ONCE, withinMs: number | null = null): PatternStepTerm {
  return { kind: 'Step', step: index, quantifier: q, withinMs, span: NO_SPAN }
}

export function group(pattern: Pattern, q: Quantifier = ONCE): PatternGroupTerm {
  return { kind: 'Group', pattern, quantifier: q, withinMs: null, span: NO_SPAN }
}

/** `seq(a, ['followedBy', b], ['next', c])`. */
export function seq(
  first: PatternTerm,
  ...rest: readonly (readonly [Connector, PatternTerm])[]
): PatternSequence {
  const elements: PatternElement[] = [{ connector: 'begin', term: first }]
  for (const [connector, term] of rest) elements.push({ connector, term })
  return { kind: 'Sequence', elements, span: NO_SPAN }
}

export function alt(...options: PatternSequence[]): PatternAlternation {
  return { kind: 'Alternation', options, span: NO_SPAN }
}

/** The spec of a pattern whose steps are numbered 0…count−1 (names s0, s1, …). */
export function specOf(
  pattern: Pattern,
  options: {
    readonly withinMs?: number | null
    readonly skip?: SkipStrategy
    readonly untils?: readonly number[]
    readonly reads?: Readonly<Record<number, readonly number[]>>
    readonly names?: readonly string[]
  } = {},
): PatternSpec {
  const info = new Map<number, { negated: boolean; repeated: boolean }>()
  const visit = (p: Pattern, repeatedAround: boolean): void => {
    const sequences = p.kind === 'Alternation' ? p.options : [p]
    for (const s of sequences) {
      for (const element of s.elements) {
        const term = element.term
        const repeats = repeatedAround || term.quantifier.max === null || term.quantifier.max > 1
        if (term.kind === 'Step') {
          info.set(term.step, {
            negated: element.connector === 'notNext' || element.connector === 'notFollowedBy',
            repeated: repeats,
          })
        } else visit(term.pattern, repeats)
      }
    }
  }
  visit(pattern, false)
  const steps: PatternStepInfo[] = []
  for (let s = 0; s < info.size; s++) {
    const found = info.get(s)
    if (!found) throw new Error(`step ${s} is not in the pattern`)
    steps.push({
      name: options.names?.[s] ?? `s${s}`,
      negated: found.negated,
      repeated: found.repeated,
      hasUntil: options.untils?.includes(s) ?? false,
      reads: options.reads?.[s] ?? [],
    })
  }
  return { steps, pattern, withinMs: options.withinMs ?? null, skip: options.skip ?? { kind: 'noSkip' } }
}

// ---------------------------------------------------------------------------------------------
// Conditions

export interface CepEvent {
  readonly k: string
  readonly v: 'a' | 'b' | 'c'
  readonly n: number
}

/** A condition of the vocabulary. `gtLast`: n greater than the last event step `of` matched so far (true when none). */
export type CondSpec =
  | { readonly kind: 'is'; readonly v: CepEvent['v'] }
  | { readonly kind: 'isNot'; readonly v: CepEvent['v'] }
  | { readonly kind: 'nAbove'; readonly k: number }
  | { readonly kind: 'isAndAbove'; readonly v: CepEvent['v']; readonly k: number }
  | { readonly kind: 'gtLast'; readonly of: number }
  | { readonly kind: 'true' }

export function condition(spec: CondSpec): RefCondition {
  switch (spec.kind) {
    case 'is':
      return (e) => (e as CepEvent).v === spec.v
    case 'isNot':
      return (e) => (e as CepEvent).v !== spec.v
    case 'nAbove':
      return (e) => (e as CepEvent).n > spec.k
    case 'isAndAbove':
      return (e) => (e as CepEvent).v === spec.v && (e as CepEvent).n > spec.k
    case 'gtLast':
      return (e, context: RefContext) => {
        const before = context.events(spec.of)
        const last = before[before.length - 1] as CepEvent | undefined
        return last === undefined || (e as CepEvent).n > last.n
      }
    case 'true':
      return () => true
  }
}

export function readsOf(spec: CondSpec): number[] {
  return spec.kind === 'gtLast' ? [spec.of] : []
}

export function describeCondition(spec: CondSpec, names: readonly string[]): string {
  switch (spec.kind) {
    case 'is':
      return `v == '${spec.v}'`
    case 'isNot':
      return `v != '${spec.v}'`
    case 'nAbove':
      return `n > ${spec.k}`
    case 'isAndAbove':
      return `v == '${spec.v}' and n > ${spec.k}`
    case 'gtLast':
      return `n > last(${names[spec.of]}).n`
    case 'true':
      return 'true'
  }
}

// ---------------------------------------------------------------------------------------------
// Random patterns

/** A generated pattern with its conditions. */
export interface GeneratedPattern {
  readonly spec: PatternSpec
  readonly conditions: readonly CondSpec[]
  readonly untils: readonly (CondSpec | null)[]
}

const letter = fc.constantFrom<CepEvent['v']>('a', 'b', 'c')

/** `arbitrary` with probability p (about), else null. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, p: number): fc.Arbitrary<T | null> {
  const weight = Math.round(p * 20)
  return fc.oneof({ weight: 20 - weight, arbitrary: fc.constant(null) }, { weight, arbitrary })
}

const localCondition: fc.Arbitrary<CondSpec> = fc.oneof(
  { weight: 5, arbitrary: letter.map((v): CondSpec => ({ kind: 'is', v })) },
  { weight: 1, arbitrary: letter.map((v): CondSpec => ({ kind: 'isNot', v })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }).map((k): CondSpec => ({ kind: 'nAbove', k })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(letter, fc.integer({ min: 0, max: 2 }))
      .map(([v, k]): CondSpec => ({ kind: 'isAndAbove', v, k })),
  },
  { weight: 1, arbitrary: fc.constant<CondSpec>({ kind: 'true' }) },
)

const quantifierArb: fc.Arbitrary<Quantifier> = fc
  .tuple(
    fc.oneof(
      { weight: 6, arbitrary: fc.constant<[number, number | null]>([1, 1]) },
      { weight: 2, arbitrary: fc.constant<[number, number | null]>([0, 1]) },
      { weight: 2, arbitrary: fc.constant<[number, number | null]>([1, null]) },
      { weight: 1, arbitrary: fc.constant<[number, number | null]>([0, null]) },
      { weight: 1, arbitrary: fc.integer({ min: 2, max: 3 }).map((n): [number, number | null] => [n, n]) },
      { weight: 1, arbitrary: fc.constant<[number, number | null]>([1, 3]) },
      { weight: 1, arbitrary: fc.constant<[number, number | null]>([2, null]) },
    ),
    fc.constantFrom<Quantifier['mode']>('all', 'all', 'all', 'greedy', 'reluctant'),
    fc.constantFrom<Contiguity>('relaxed', 'relaxed', 'strict', 'any'),
  )
  .map(([[min, max], mode, inner]) => quantifier(min, max, mode, inner))

type Draft =
  | { kind: 'step'; connector: Connector; q: Quantifier; withinMs: number | null }
  | {
      kind: 'group'
      connector: Connector
      q: Quantifier
      inner: readonly Connector[]
      innerQ: readonly Quantifier[]
    }
  | { kind: 'choice'; connector: Connector; options: readonly (readonly Connector[])[] }

const positiveConnector = fc.constantFrom<Connector>('next', 'followedBy', 'followedBy', 'followedByAny')
const anyConnector = fc.oneof(
  { weight: 5, arbitrary: positiveConnector },
  { weight: 3, arbitrary: fc.constantFrom<Connector>('notNext', 'notFollowedBy') },
)

const draftArb: fc.Arbitrary<Draft> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(anyConnector, quantifierArb, sometimes(fc.constantFrom(2, 3, 5), 0.2))
      .map(([connector, q, withinMs]): Draft => ({ kind: 'step', connector, q, withinMs })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        positiveConnector,
        // No `+` or `{n,m}` on a group: Flink leaves the head state of a group's repetition after the
        // first that may be left out both skipping events (the group's inner contiguity) and proceeding
        // to what follows, so `(a next b)+ next c` and `(a next b){1,2} next c` match a c two events
        // after b, and `followed by` doubles matches; the reference does not model that head state
        // (a gap in the reference, not in the engines, which follow Flink).
        fc.constantFrom(quantifier(1, 1), quantifier(2, 2), quantifier(0, 1)),
        fc.constantFrom<Contiguity>('relaxed', 'strict', 'any'),
        positiveConnector,
        fc.constantFrom(quantifier(1, 1), quantifier(0, 1)),
      )
      .map(
        ([connector, q, inner, innerConnector, second]): Draft => ({
          kind: 'group',
          connector,
          q: { ...q, inner },
          inner: [innerConnector],
          innerQ: [ONCE, second],
        }),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        positiveConnector,
        fc.array(fc.array(positiveConnector, { maxLength: 1 }), { minLength: 2, maxLength: 2 }),
      )
      .map(([connector, options]): Draft => ({ kind: 'choice', connector, options })),
  },
)

/** Makes drafts consistent with the rules in the header, then numbers the steps. */
function buildPattern(
  drafts: readonly Draft[],
  topAlternative: readonly Draft[] | null,
): { pattern: Pattern; stepCount: number; kinds: ('take' | 'neg')[] } {
  let next = 0
  const kinds: ('take' | 'neg')[] = []
  const sequence = (list: readonly Draft[], isOption: boolean): PatternSequence => {
    const fixed = list.map((d) => ({ ...d }) as Draft)
    fixed[0] = { ...fixed[0]!, connector: 'begin' }
    for (let i = 0; i < fixed.length; i++) {
      const d = fixed[i]!
      const negated = d.connector === 'notNext' || d.connector === 'notFollowedBy'
      const before = fixed[i - 1]
      if (negated) {
        const ok =
          d.kind === 'step' &&
          before?.kind === 'step' &&
          !(before.connector === 'notNext' || before.connector === 'notFollowedBy') &&
          before.q.min >= 1 &&
          before.q.mode === 'all' &&
          (i < fixed.length - 1 || d.connector === 'notNext' || before.q.min === before.q.max)
        if (!ok) fixed[i] = { ...d, connector: 'followedBy' } as Draft
        else fixed[i] = { ...d, q: ONCE } as Draft
      }
    }
    // After a negation, a mandatory part: Flink decides `a not next b c?` on a's own event (its
    // findFinalStateAfterProceed evaluates the negation's PROCEED on the event just taken).
    for (let i = 1; i < fixed.length; i++) {
      const before = fixed[i - 1]!
      const d = fixed[i]!
      const negated = before.connector === 'notNext' || before.connector === 'notFollowedBy'
      if (negated && d.kind !== 'choice' && d.q.min === 0)
        fixed[i] = {
          ...d,
          q: { ...d.q, min: 1, max: d.q.max === null ? null : Math.max(1, d.q.max) },
        } as Draft
    }
    // Greedy and reluctant before a mandatory step only (reluctant may also end the pattern).
    for (let i = 0; i < fixed.length; i++) {
      const d = fixed[i]!
      if (d.kind !== 'step' || d.q.mode === 'all') continue
      const after = fixed[i + 1]
      const mandatoryNext =
        after?.kind === 'step' &&
        after.q.min >= 1 &&
        after.connector !== 'notNext' &&
        after.connector !== 'notFollowedBy'
      const repeated = d.q.max === null || d.q.max > 1
      const keep =
        repeated &&
        d.q.min !== d.q.max &&
        (mandatoryNext || (d.q.mode === 'reluctant' && after === undefined && d.q.min >= 1 && !isOption))
      if (!keep) fixed[i] = { ...d, q: { ...d.q, mode: 'all' } }
    }
    // A step's within: a single step after a single step.
    for (let i = 0; i < fixed.length; i++) {
      const d = fixed[i]!
      if (d.kind !== 'step' || d.withinMs === null) continue
      const before = fixed[i - 1]
      const negated = d.connector === 'notNext' || d.connector === 'notFollowedBy'
      const ok =
        before?.kind === 'step' &&
        before.connector !== 'notNext' &&
        before.connector !== 'notFollowedBy' &&
        before.q.min === 1 &&
        before.q.max === 1 &&
        (negated ? d.connector === 'notFollowedBy' && i === fixed.length - 1 : d.q.min === 1 && d.q.max === 1)
      if (!ok) fixed[i] = { ...d, withinMs: null }
    }
    // A sequence that could match no event at all is refused (Flink: canProduceEmptyMatches).
    if (!fixed.some((d) => d.kind === 'choice' || d.q.min >= 1)) {
      const d = fixed[0] as Extract<Draft, { kind: 'step' }>
      fixed[0] = { ...d, q: { ...d.q, min: 1 } }
    }
    const elements: PatternElement[] = fixed.map((d) => {
      const negated = d.connector === 'notNext' || d.connector === 'notFollowedBy'
      if (d.kind === 'step') {
        kinds.push(negated ? 'neg' : 'take')
        return { connector: d.connector, term: step(next++, d.q, d.withinMs) }
      }
      if (d.kind === 'group') {
        const inner: PatternElement[] = d.innerQ.map((q, j) => {
          kinds.push('take')
          return { connector: j === 0 ? 'begin' : d.inner[j - 1]!, term: step(next++, q) }
        })
        return {
          connector: d.connector,
          term: group({ kind: 'Sequence', elements: inner, span: NO_SPAN }, d.q),
        }
      }
      const options = d.options.map((connectors) => {
        const optionElements: PatternElement[] = [{ connector: 'begin', term: step(next++) }]
        kinds.push('take')
        for (const c of connectors) {
          kinds.push('take')
          optionElements.push({ connector: c, term: step(next++) })
        }
        return { kind: 'Sequence', elements: optionElements, span: NO_SPAN } as PatternSequence
      })
      return { connector: d.connector, term: group(alt(...options)) }
    })
    return { kind: 'Sequence', elements, span: NO_SPAN }
  }
  const first = sequence(drafts, topAlternative !== null)
  if (topAlternative === null) return { pattern: first, stepCount: next, kinds }
  const second = sequence(topAlternative, true)
  return { pattern: alt(first, second), stepCount: next, kinds }
}

/** Whether `within` is needed: a pattern ending with `not followed by` without a step within. */
function needsWithin(pattern: Pattern): boolean {
  const sequences = pattern.kind === 'Alternation' ? pattern.options : [pattern]
  return sequences.some((s) => {
    const last = s.elements[s.elements.length - 1]!
    return last.connector === 'notFollowedBy' && last.term.withinMs === null
  })
}

function takeSteps(pattern: Pattern, kinds: readonly ('take' | 'neg')[]): number[] {
  void pattern
  return kinds.flatMap((k, i) => (k === 'take' ? [i] : []))
}

export const patternArb: fc.Arbitrary<GeneratedPattern> = fc
  .record({
    drafts: fc.array(draftArb, { minLength: 1, maxLength: 4 }),
    alternative: sometimes(fc.array(draftArb, { minLength: 1, maxLength: 2 }), 0.15),
    within: sometimes(fc.constantFrom(3, 4, 6, 9), 0.4),
    skipKind: fc.constantFrom('noSkip', 'noSkip', 'noSkip', 'toNext', 'pastLastEvent', 'toFirst', 'toLast'),
    skipPick: fc.nat(),
    conditionSeeds: fc.array(localCondition, { minLength: 16, maxLength: 16 }),
    iterative: fc.array(sometimes(fc.nat({ max: 15 }), 0.2), { minLength: 16, maxLength: 16 }),
    untilSeeds: fc.array(sometimes(localCondition, 0.25), { minLength: 16, maxLength: 16 }),
  })
  .map(({ drafts, alternative, within, skipKind, skipPick, conditionSeeds, iterative, untilSeeds }) => {
    // The first part of a sequence is a step or group, never a choice (an alternation needs a head).
    const head = (list: Draft[]): Draft[] =>
      list.map((d, i) =>
        i === 0 && d.kind === 'choice' ? { kind: 'step', connector: 'begin', q: ONCE, withinMs: null } : d,
      )
    const { pattern, stepCount, kinds } = buildPattern(
      head(drafts),
      alternative === null ? null : head(alternative),
    )
    const takes = takeSteps(pattern, kinds)
    const conditions: CondSpec[] = []
    const untils: (CondSpec | null)[] = []
    const reads: Record<number, number[]> = {}
    const repeatedSteps = repeatedStepSet(pattern)
    for (let s = 0; s < stepCount; s++) {
      const pick = iterative[s]
      let c = conditionSeeds[s]!
      // Iterative: reads an earlier taken step, or the step's own events so far.
      if (pick !== null && pick !== undefined && kinds[s] === 'take') {
        const candidates = takes.filter((t) => t <= s)
        const of = candidates[pick % candidates.length]!
        c = { kind: 'gtLast', of }
      }
      conditions.push(c)
      reads[s] = readsOf(c)
      untils.push(repeatedSteps.has(s) && !greedyStep(pattern, s) ? (untilSeeds[s] ?? null) : null)
    }
    let skip: SkipStrategy = { kind: 'noSkip' }
    if (skipKind === 'toNext' || skipKind === 'pastLastEvent') skip = { kind: skipKind }
    else if (skipKind === 'toFirst' || skipKind === 'toLast')
      skip = { kind: skipKind, step: takes[skipPick % takes.length]! }
    const withinMs = within ?? (needsWithin(pattern) ? 6 : null)
    const spec = specOf(pattern, {
      withinMs,
      skip,
      untils: untils.flatMap((u, s) => (u === null ? [] : [s])),
      reads,
    })
    return { spec, conditions, untils }
  })

/** Steps repeated without bound: the ones `until` may go on (E0471). */
function repeatedStepSet(pattern: Pattern): Set<number> {
  const found = new Set<number>()
  const sequences = pattern.kind === 'Alternation' ? pattern.options : [pattern]
  for (const s of sequences)
    for (const e of s.elements)
      if (e.term.kind === 'Step' && e.term.quantifier.max === null) found.add(e.term.step)
  return found
}

function greedyStep(pattern: Pattern, step: number): boolean {
  const sequences = pattern.kind === 'Alternation' ? pattern.options : [pattern]
  return sequences.some((s) =>
    s.elements.some(
      (e) => e.term.kind === 'Step' && e.term.step === step && e.term.quantifier.mode !== 'all',
    ),
  )
}

/** The pattern in the `.pipe` syntax, for counterexamples. */
export function describePattern(generated: GeneratedPattern): string {
  const { spec } = generated
  const names = spec.steps.map((s) => s.name)
  const q = (x: Quantifier): string => {
    let text = ''
    if (x.min === 1 && x.max === 1) return ''
    if (x.min === 0 && x.max === 1) text = '?'
    else if (x.min === 1 && x.max === null) text = '+'
    else if (x.min === 0 && x.max === null) text = '*'
    else if (x.max === null) text = `{${x.min},}`
    else if (x.min === x.max) text = `{${x.min}}`
    else text = `{${x.min},${x.max}}`
    if (x.mode !== 'all') text += ` ${x.mode}`
    if (x.inner === 'strict') text += ' consecutive'
    if (x.inner === 'any') text += ' any'
    return text
  }
  const connector: Record<Connector, string> = {
    begin: '',
    next: ' next ',
    followedBy: ' followed by ',
    followedByAny: ' followed by any ',
    notNext: ' not next ',
    notFollowedBy: ' not followed by ',
  }
  const term = (t: PatternTerm): string => {
    const body = t.kind === 'Step' ? names[t.step]! : `(${pattern(t.pattern)})`
    const qt = q(t.quantifier)
    return `${body}${qt === '' ? '' : qt.startsWith('{') || qt.length === 1 || /^[?+*]/.test(qt) ? qt : ` ${qt}`}${
      t.withinMs === null ? '' : ` within ${t.withinMs}ms`
    }`
  }
  const pattern = (p: Pattern): string =>
    p.kind === 'Alternation'
      ? p.options.map(pattern).join(' | ')
      : p.elements.map((e) => `${connector[e.connector]}${term(e.term)}`).join('')
  const define = spec.steps
    .map((s, i) => {
      const u = generated.untils[i]
      return `${s.name} as ${describeCondition(generated.conditions[i]!, names)}${u ? ` until ${describeCondition(u, names)}` : ''}`
    })
    .join(', ')
  const skip =
    spec.skip.kind === 'noSkip'
      ? ''
      : spec.skip.kind === 'toFirst' || spec.skip.kind === 'toLast'
        ? ` skip ${spec.skip.kind === 'toFirst' ? 'to first' : 'to last'} ${names[spec.skip.step]}`
        : ` skip ${spec.skip.kind === 'toNext' ? 'to next' : 'past last event'}`
  return `match${spec.withinMs === null ? '' : ` within ${spec.withinMs}ms`} pattern ${pattern(spec.pattern)} define ${define}${skip}`
}

// ---------------------------------------------------------------------------------------------
// Random keyed streams

export interface StreamEvent {
  readonly value: CepEvent
  readonly time: number
  /** Arrival order. */
  readonly seq: number
}

/** Events of one to three keys in arrival order: times out of order and often equal. */
export const streamArb: fc.Arbitrary<StreamEvent[]> = fc
  .array(
    fc.record({
      k: fc.constantFrom('k1', 'k1', 'k2', 'k3'),
      v: letter,
      n: fc.integer({ min: 0, max: 4 }),
      time: fc.integer({ min: 0, max: 14 }),
    }),
    { maxLength: 14 },
  )
  .map((rows) => rows.map((r, seq) => ({ value: { k: r.k, v: r.v, n: r.n }, time: r.time, seq })))

/**
 * Events whose times drift forward with the arrivals (gaps of 0-2, sometimes 3-8) and arrive up to
 * 4 late: what a watermark with a delay meets, where streamArb's times are scattered at random.
 * `keys` is drawn from uniformly (list a key twice to make it more common). `options` change the
 * gaps and how late an event may arrive.
 */
export function driftingStreamArb(
  keys: readonly string[],
  maxLength: number,
  options: { readonly gap?: fc.Arbitrary<number>; readonly maxBack?: number } = {},
): fc.Arbitrary<StreamEvent[]> {
  return fc
    .array(
      fc.record({
        k: fc.constantFrom(...keys),
        v: letter,
        n: fc.integer({ min: 0, max: 4 }),
        gap: options.gap ?? fc.oneof(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 3, max: 8 })),
        back: fc.integer({ min: 0, max: options.maxBack ?? 4 }),
      }),
      { maxLength },
    )
    .map((rows) => {
      let time = 0
      return rows.map((r, seq) => {
        time += r.gap
        return { value: { k: r.k, v: r.v, n: r.n }, time: Math.max(0, time - r.back), seq }
      })
    })
}

/** An event numbered by its arrival (`i`; -1 for the far-off record of recordsWithEnd). */
export type NumberedEvent = CepEvent & { i: number }

/**
 * A CEP operator's source records for `stream`: its events in arrival order, then one far-off
 * record (key `end`) `slack` after the last time, whose watermark ends whatever a pattern holds.
 */
export function recordsWithEnd(
  stream: readonly StreamEvent[],
  slack: number,
): { row: NumberedEvent; time: number }[] {
  const last = stream.reduce((most, e) => Math.max(most, e.time), 0)
  return [
    ...stream.map((e) => ({ row: { ...e.value, i: e.seq }, time: e.time })),
    { row: { k: 'end', v: 'a', n: 0, i: -1 }, time: last + slack },
  ]
}

/** The same events in event-time order with increasing times per arrival (no two out of order). */
export function inOrder(events: readonly StreamEvent[]): StreamEvent[] {
  return [...events].sort((a, b) => a.time - b.time || a.seq - b.seq).map((e, seq) => ({ ...e, seq }))
}
