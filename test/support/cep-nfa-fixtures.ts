/**
 * Test fixtures for the CEP engine: a small reader of the pattern syntax (specs/language.md,
 * "Patterns") into the IR, so tests read like the Flink documentation's examples, and a runner
 * that steps rows such as `c d a1 a2` (id `a1`, value `a`) through an engine.
 */
import type {
  Connector,
  Pattern,
  PatternElement,
  PatternSequence,
  PatternSpec,
  PatternStepInfo,
  PatternTerm,
  Quantifier,
  SkipStrategy,
} from '../../compiler/ir/pattern.ts'
import type { Span } from '../../compiler/ir/types.ts'
import type {
  CepFunctions,
  EngineMatch,
  MatchContext,
  PatternEngine,
  StepCondition,
} from '../../runtime/cep/engine.ts'

const SPAN: Span = { file: 'test', start: 0, end: 0 }

export interface FixtureRow {
  readonly id: string
  readonly v: string
  readonly k?: string
}

/** Reads `c followed by a+ consecutive followed by b` (durations in ms: `within 5`). */
export function readPattern(
  text: string,
  options: {
    withinMs?: number | null
    skip?: SkipStrategy | string
    untils?: readonly string[]
    /** Steps whose conditions read matched events (iterative conditions): `reads` names the step itself. */
    iterative?: readonly string[]
  } = {},
): PatternSpec {
  const tokens = text.match(/\{\d+(,\d*)?\}|[()|+*?]|[A-Za-z_][A-Za-z0-9_]*|\d+/g) ?? []
  let at = 0
  const steps: PatternStepInfo[] = []
  const names: string[] = []
  const peek = (): string | undefined => tokens[at]
  const take = (word?: string): string => {
    const token = tokens[at++]
    if (token === undefined || (word !== undefined && token !== word))
      throw new Error(`expected ${word ?? 'a token'} at ${at - 1} in ${text}`)
    return token
  }
  const connector = (): Connector | null => {
    const t = peek()
    if (t === 'next') {
      take()
      return 'next'
    }
    if (t === 'followed') {
      take()
      take('by')
      if (peek() === 'any') {
        take()
        return 'followedByAny'
      }
      return 'followedBy'
    }
    if (t === 'not') {
      take()
      if (peek() === 'next') {
        take()
        return 'notNext'
      }
      take('followed')
      take('by')
      return 'notFollowedBy'
    }
    return null
  }
  const quantifier = (): Quantifier => {
    const t = peek()
    let min = 1
    let max: number | null = 1
    if (t === '+') [min, max] = [1, null]
    else if (t === '*') [min, max] = [0, null]
    else if (t === '?') [min, max] = [0, 1]
    else if (t?.startsWith('{')) {
      const [a, b] = t.slice(1, -1).split(',')
      min = Number(a)
      max = b === undefined ? min : b === '' ? null : Number(b)
    } else return { min: 1, max: 1, mode: 'all', inner: 'relaxed' }
    take()
    let mode: Quantifier['mode'] = 'all'
    let inner: Quantifier['inner'] = 'relaxed'
    if (peek() === 'greedy' || peek() === 'reluctant') mode = take() as Quantifier['mode']
    if (peek() === 'consecutive') {
      take()
      inner = 'strict'
    } else if (peek() === 'any') {
      take()
      inner = 'any'
    }
    return { min, max, mode, inner }
  }
  const within = (): number | null => {
    if (peek() !== 'within') return null
    take()
    return Number(take())
  }
  const term = (negated: boolean, repeated: boolean): PatternTerm => {
    if (peek() === '(') {
      take()
      const start = at
      // Read the quantifier after the group first: whether its steps repeat depends on it.
      let depth = 1
      while (depth > 0) {
        const t = take()
        if (t === '(') depth++
        if (t === ')') depth--
      }
      const q = quantifier()
      const w = within()
      const end = at
      at = start
      const inner = pattern(repeated || q.max !== 1)
      take(')')
      at = end
      return { kind: 'Group', pattern: inner, quantifier: q, withinMs: w, span: SPAN }
    }
    const name = take()
    const q = quantifier()
    const w = within()
    const index = steps.length
    names.push(name)
    steps.push({
      name,
      negated,
      repeated: repeated || q.max !== 1,
      hasUntil: options.untils?.includes(name) ?? false,
      reads: options.iterative?.includes(name) ? [index] : [],
    })
    return { kind: 'Step', step: index, quantifier: q, withinMs: w, span: SPAN }
  }
  const sequence = (repeated: boolean): PatternSequence => {
    const elements: PatternElement[] = [{ connector: 'begin', term: term(false, repeated) }]
    for (let c = connector(); c !== null; c = connector())
      elements.push({ connector: c, term: term(c === 'notNext' || c === 'notFollowedBy', repeated) })
    return { kind: 'Sequence', elements, span: SPAN }
  }
  const pattern = (repeated: boolean): Pattern => {
    const first = sequence(repeated)
    if (peek() !== '|') return first
    const options = [first]
    while (peek() === '|') {
      take()
      options.push(sequence(repeated))
    }
    return { kind: 'Alternation', options, span: SPAN }
  }
  const result = pattern(false)
  if (at !== tokens.length) throw new Error(`unread tokens from ${at} in ${text}`)
  return {
    steps,
    pattern: result,
    withinMs: options.withinMs ?? null,
    skip:
      typeof options.skip === 'string' ? skipOf(options.skip, names) : (options.skip ?? { kind: 'noSkip' }),
  }
}

function skipOf(text: string, names: string[]): SkipStrategy {
  if (text === 'noSkip' || text === 'toNext' || text === 'pastLastEvent') return { kind: text }
  const [kind, name] = text.split(' ')
  const step = names.indexOf(name as string)
  if ((kind !== 'toFirst' && kind !== 'toLast') || step < 0) throw new Error(`bad skip ${text}`)
  return { kind, step }
}

/** Rows from `c d a1 a2`: id is the token, v its letters (the value conditions compare with). */
export function rowsOf(text: string, key = 'k'): FixtureRow[] {
  return text
    .split(/\s+/)
    .filter((t) => t !== '')
    .map((id) => ({ id, v: id.replace(/[0-9]+$/, '').toLowerCase(), k: key }))
}

/** Conditions: step `x` matches rows whose value is `x`, unless `conditions` says otherwise. */
export function fixtureFunctions(
  spec: PatternSpec,
  conditions: Record<string, StepCondition> = {},
  untils: Record<string, StepCondition> = {},
): CepFunctions {
  const stepConditions = spec.steps.map(
    (step) => conditions[step.name] ?? ((row: unknown) => (row as FixtureRow).v === step.name),
  )
  const stepUntils = spec.steps.map((step) => untils[step.name] ?? null)
  return {
    conditions: stepConditions,
    untils: stepUntils,
    masks: masksOf(spec, stepConditions, stepUntils),
    key: (row) => (row as FixtureRow).k ?? null,
    select: (context: MatchContext) => describe(spec, context),
    timeout: (context: MatchContext, key: string, at: number) => ({ key, at, ids: describe(spec, context) }),
  }
}

/**
 * CepFunctions.masks as generated code evaluates them (so that the WebAssembly kernel, which
 * steps on masks only, runs the conditions): bit s for step s's condition, bit 16 + s for its
 * `until`, for the steps whose conditions read the event alone. A condition that throws marks the
 * event failed with the error's `site` (0 without one).
 */
export function masksOf(
  spec: PatternSpec,
  conditions: readonly StepCondition[],
  untils: readonly (StepCondition | null)[],
): NonNullable<CepFunctions['masks']> {
  const local = spec.steps.map((step) => step.reads.length === 0)
  const none: MatchContext = { events: () => [] }
  return (rows, n, masks, failed, errors) => {
    for (let i = 0; i < n; i++) {
      let bits = 0
      failed[i] = 0
      const bit = (condition: StepCondition | null | undefined, at: number) => {
        try {
          if (condition?.(rows[i], none) === true) bits |= 1 << at
        } catch (error) {
          failed[i] = 1
          const site = (error as { site?: unknown } | null)?.site
          errors.push({ index: i, error, site: typeof site === 'number' ? site : 0 })
        }
      }
      for (let s = 0; s < local.length; s++) {
        if (!local[s]) continue
        bit(conditions[s], s)
        bit(untils[s], 16 + s)
      }
      masks[i] = bits >>> 0
    }
  }
}

function describe(spec: PatternSpec, context: MatchContext): string[] {
  const ids: string[] = []
  spec.steps.forEach((_, s) => {
    for (const row of context.events(s)) ids.push((row as FixtureRow).id)
  })
  return ids
}

/** Steps rows (times 1, 2, … unless given) through an engine of one key, then advances time to `until`. */
export function runRows(
  engine: PatternEngine,
  rows: readonly FixtureRow[],
  options: { times?: readonly number[]; until?: number; keyIds?: readonly number[] } = {},
): {
  matches: EngineMatch[]
  timeouts: EngineMatch[]
  failures: { seq: number; error: unknown; site: number }[]
} {
  const n = rows.length
  const events = {
    length: n,
    keyIds: Int32Array.from(rows.map((_, i) => options.keyIds?.[i] ?? 0)),
    times: Float64Array.from(rows.map((_, i) => options.times?.[i] ?? i + 1)),
    seqs: Float64Array.from(rows.map((_, i) => i)),
    rows: [...rows],
    masks: new Uint32Array(n),
  }
  const matches: EngineMatch[] = []
  const timeouts: EngineMatch[] = []
  const failures: { seq: number; error: unknown; site: number }[] = []
  engine.step(events, matches, failures)
  if (options.until !== undefined) engine.advanceTime(options.until, matches, timeouts)
  return { matches, timeouts, failures }
}

/** A match as `c a1 b` (its events in order). */
export function idsOf(match: EngineMatch): string {
  return match.rows.map((row) => (row as FixtureRow).id).join(' ')
}
