/**
 * A brute-force reference for `match` (complex event processing) on one key's events, written
 * from the rules and sharing no code with runtime/cep/ (it reads the pattern IR's types alone):
 * no automaton, no shared buffer, no partial match carried from event to event. It is the reference
 * semantics of `match`: the reference interpreter runs Match nodes with it (match-interpret.ts),
 * and the property tests (runtime/cep/nfa.property.test.ts) compare both pattern engines with it.
 *
 * The rules are Flink CEP's (docs/decisions/0024-cep-semantics.md), stated over the events sorted
 * by (time, seq):
 *
 * 1. The pattern is expanded into linear options: a top-level alternation gives one option per
 *    alternative, a group `( … ){n,m}` one option per repetition count (each repetition's first
 *    part joins by the group's connector the first time, by its inner contiguity after), an
 *    alternation inside a sequence one option per alternative. An option is a list of parts: taken
 *    steps with a quantifier, and negated steps.
 * 2. A prefix is an assignment of increasing events to an option's parts (a part's repetitions
 *    consecutive, at most its max). After its last event p, in part E with c repetitions, it waits
 *    in one of these ways, each with a rule for the events it skips and the event it takes:
 *    - another repetition of E (c < max): skipped events per E's inner contiguity (strict: none;
 *      relaxed: those that do not meet E's condition; any: all), never one that meets `until`;
 *      the taken event meets E's condition and not its `until`;
 *    - the first repetition of a later part F (c >= min(E), every part between optional): skipped
 *      events per F's connector (next: none; followed by: those that do not meet F's condition;
 *      followed by any: all); F's `within` bounds the time from p to F's event.
 *    A condition sees the events the prefix matched so far (its context). Further rules on every
 *    skipped and taken event: `not followed by N` after E: an event after E's first event up to
 *    and including the next taken one that meets N ends the path (Flink's stop state), except a
 *    match that same event completes, which is still emitted (Flink's doProcess keeps final
 *    states), and except, past the first event after p, while a bounded E waits for an optional
 *    repetition (that wait skips events in a state Flink gives no such stop); `not next N` after
 *    E: the event right after p lets the prefix on only if it does not meet N (c >= min); a greedy
 *    part G left (E) or left out: the state after G takes, skips and passes on no event that meets
 *    G's condition (Flink's updateWithGreedyCondition), every event while waiting there, else only
 *    the event that passes through it; reluctant E (Sluice's): a repetition beyond the minimum (with
 *    a minimum of 0, the first one too, also where a prefix starts) is not taken by an event the
 *    following part would take, and at the end of the pattern E repeats exactly its minimum;
 *    `within d` on the match: last − first < d.
 * 3. A prefix is a match when the parts after E are all optional (it completes at p), or are one
 *    `not next N` (it completes at the event after p, which must not meet N and is not part of the
 *    match), or are one `not followed by N` (absence at the end: it completes when the span runs out,
 *    at D = min(first + within, p + N's within), when no event before D meets N; a repeated E not at
 *    its maximum needs one event before D to move there, as Flink's looping state does).
 * 4. Emission follows Flink's operator and NFA: processing goes time by time, first the time
 *    advance (partial matches whose `within` ran out end; absences at the end whose span ran out
 *    complete), then the events of that time one by one; a final advance to the final watermark.
 *    The times are the key's event times and any further ones given (`advanceTimes`: the operator
 *    advances every key on every watermark, as Flink's CepOperator does).
 *    At each of these points the matches completed there join a queue ordered by their first event
 *    (ties: by their events, in order); without a skip strategy all are emitted; with one, the
 *    earliest is emitted while no partial match still alive there started before it, and each
 *    emitted match prunes, by its first event, queued matches and partial matches as Flink's
 *    AfterMatchSkipStrategy does (to next: those starting at or before the match's first event;
 *    past last event: at or before its last; to first/last S: before S's first/last event, or
 *    nothing when the match has no S).
 * 5. Timeouts: every prefix whose wait is still alive when the time advance ends it by a `within`
 *    (the match's: first + within; a step's: p + within), once per prefix, at the time the span ran
 *    out. Flink emits one per automaton state holding the prefix; the reference emits the set, and
 *    the properties compare sets.
 *
 * Not modelled (the generators avoid them): a group's first step repeating with the group's inner
 * contiguity, or optional there (Flink's headOfGroup), and the head state of a repeated group's
 * later repetitions, which both skips events and proceeds to what follows.
 */
import type { Contiguity, Pattern, PatternSequence, PatternSpec, Quantifier } from './pattern.ts'

export interface RefEvent {
  readonly value: unknown
  readonly time: number
  /** Arrival order: ties of equal time go by it. */
  readonly seq: number
}

/** The events each step matched so far, as a condition sees them. */
export interface RefContext {
  events(step: number): readonly unknown[]
}

export type RefCondition = (event: unknown, context: RefContext) => boolean

export interface RefFunctions {
  /** Per step: its condition (a negated step's: the event that stops the match). */
  readonly conditions: readonly RefCondition[]
  readonly untils: readonly (RefCondition | null)[]
}

export interface RefMatch {
  /** Step of each matched event, in event order. */
  readonly steps: readonly number[]
  readonly seqs: readonly number[]
  /** Last event's time; for absence at the end and timeouts, the time the span ran out. */
  readonly time: number
}

export interface RefResult {
  readonly matches: readonly RefMatch[]
  /** Timed-out partial matches, sorted by (time, seqs), each once. */
  readonly timeouts: readonly RefMatch[]
  /** For each match, the processing point it was emitted at (see `points`). */
  readonly emittedAt: readonly number[]
  /** The processing points in order: a time advance, or the event at a sorted index. */
  readonly points: readonly RefPoint[]
  /**
   * Per point: whether the key still holds something after it (a partial match alive, or a match
   * a skip strategy holds back); an engine forgets a key that holds nothing.
   */
  readonly holding: readonly boolean[]
}

export type RefPoint =
  | { readonly kind: 'advance'; readonly time: number }
  | { readonly kind: 'event'; readonly index: number }

interface TakePart {
  readonly kind: 'take'
  readonly step: number
  readonly min: number
  readonly max: number
  readonly mode: Quantifier['mode']
  readonly inner: Contiguity
  /** How its first repetition joins what comes before. */
  readonly enter: Contiguity
  readonly withinMs: number | null
}

interface NotPart {
  readonly kind: 'not'
  readonly step: number
  /** `not next` (true) or `not followed by` (false). */
  readonly strict: boolean
  readonly withinMs: number | null
}

type Part = TakePart | NotPart
type LinearOption = readonly Part[]

function contiguityOf(connector: string): Contiguity {
  if (connector === 'next') return 'strict'
  if (connector === 'followedByAny') return 'any'
  return 'relaxed'
}

/** Every linear option of a pattern (rule 1); a repeated group is unrolled up to `maxReps` repetitions. */
export function linearOptions(pattern: Pattern, maxReps: number): LinearOption[] {
  if (pattern.kind === 'Alternation') return pattern.options.flatMap((o) => sequenceOptions(o, maxReps))
  return sequenceOptions(pattern, maxReps)
}

function withEnter(parts: LinearOption, enter: Contiguity): LinearOption {
  const [first, ...rest] = parts
  if (first === undefined) return parts
  if (first.kind !== 'take') throw new Error('reference: a sequence begins with a taken step')
  return [{ ...first, enter }, ...rest]
}

function sequenceOptions(sequence: PatternSequence, maxReps: number): LinearOption[] {
  let options: LinearOption[] = [[]]
  for (const element of sequence.elements) {
    const term = element.term
    const enter = contiguityOf(element.connector)
    let alternatives: LinearOption[]
    if (term.kind === 'Step') {
      if (element.connector === 'notNext' || element.connector === 'notFollowedBy') {
        alternatives = [
          [
            {
              kind: 'not',
              step: term.step,
              strict: element.connector === 'notNext',
              withinMs: term.withinMs,
            },
          ],
        ]
      } else {
        const q = term.quantifier
        alternatives = [
          [
            {
              kind: 'take',
              step: term.step,
              min: q.min,
              max: q.max ?? Number.POSITIVE_INFINITY,
              mode: q.mode,
              inner: q.inner,
              enter,
              withinMs: term.withinMs,
            },
          ],
        ]
      }
    } else {
      const q = term.quantifier
      if (q.mode !== 'all') throw new Error('reference: a group is neither greedy nor reluctant')
      if (term.withinMs !== null) throw new Error('reference: no within on a group')
      const inner = linearOptions(term.pattern, maxReps)
      alternatives = []
      // Repetitions past the minimum take an event each: more than maxReps of them cannot happen.
      const most = Math.min(q.max ?? Number.POSITIVE_INFINITY, q.min + maxReps)
      for (let reps = q.min; reps <= most; reps++) {
        let unrolled: LinearOption[] = [[]]
        for (let r = 0; r < reps; r++) {
          const joins = r === 0 ? enter : q.inner
          unrolled = unrolled.flatMap((before) => inner.map((o) => [...before, ...withEnter(o, joins)]))
        }
        alternatives.push(...unrolled)
      }
    }
    options = options.flatMap((before) => alternatives.map((a) => [...before, ...a]))
  }
  return options
}

interface Prefix {
  readonly option: number
  readonly part: number
  readonly count: number
  /** Sorted indices of its events, and the step of each. */
  readonly indices: readonly number[]
  readonly steps: readonly number[]
}

/** How a prefix's wait ends: at an event point (it cannot skip that event) or at a time advance. */
interface Wait {
  /** Point index after which the wait no longer exists (Infinity: never). */
  readonly diesAt: number
  /** Whether it dies by a `within` (a timeout), and when that span ran out. */
  readonly timeoutAt: number | null
}

interface Completion {
  readonly prefix: Prefix
  readonly point: number
  readonly time: number
}

export interface RefOptions {
  /** The watermark after the last event; null: no final time advance. */
  readonly finalWatermark: number | null
  /**
   * Further times the time advances to (besides the key's own event times), before the events of
   * that time: the operator advances every key with partial matches on every watermark, as
   * Flink's CepOperator does, so other keys' times count.
   */
  readonly advanceTimes?: readonly number[]
}

const NO_STEP: readonly unknown[] = []

/** The matches (and timeouts) of one key's events under `spec`. */
export function referenceMatch(
  spec: PatternSpec,
  functions: RefFunctions,
  input: readonly RefEvent[],
  options: RefOptions,
): RefResult {
  const events = [...input].sort((a, b) => a.time - b.time || a.seq - b.seq)
  const n = events.length
  const lineOptions = linearOptions(spec.pattern, Math.max(1, n))
  checkSupported(lineOptions)

  // Processing points (rule 4): per distinct time, the advance and then its events; a final advance.
  const points: RefPoint[] = []
  const eventPoint: number[] = []
  const times = [...new Set([...events.map((e) => e.time), ...(options.advanceTimes ?? [])])].sort(
    (a, b) => a - b,
  )
  let next = 0
  for (const time of times) {
    points.push({ kind: 'advance', time })
    for (; next < n && events[next]!.time === time; next++) {
      eventPoint.push(points.length)
      points.push({ kind: 'event', index: next })
    }
  }
  if (options.finalWatermark !== null) points.push({ kind: 'advance', time: options.finalWatermark })
  /** The first time advance at or after `time`: where a span ending at `time` runs out. */
  const advanceReaching = (time: number): number => {
    for (let k = 0; k < points.length; k++) {
      const point = points[k]!
      if (point.kind === 'advance' && point.time >= time) return k
    }
    return Number.POSITIVE_INFINITY
  }

  const contextOf = (prefix: Prefix): RefContext => ({
    events(step: number) {
      const found: unknown[] = []
      prefix.steps.forEach((s, i) => {
        if (s === step) found.push(events[prefix.indices[i]!]!.value)
      })
      return found.length === 0 ? NO_STEP : found
    },
  })
  const meets = (condition: RefCondition | null | undefined, index: number, context: RefContext): boolean => {
    if (!condition) return false
    try {
      return condition(events[index]!.value, context)
    } catch {
      return false // a failing condition counts false (the operator reports the error)
    }
  }
  const cond = (step: number, index: number, context: RefContext) =>
    meets(functions.conditions[step], index, context)
  const until = (step: number, index: number, context: RefContext) =>
    meets(functions.untils[step], index, context)
  /**
   * Reluctant part F (Sluice's) with `count` repetitions so far: a repetition beyond its minimum
   * (the first one too, when the minimum is 0) is not taken by an event that the part after F would
   * take (its condition, and not its `until`).
   */
  const yieldsToFollowing = (
    parts: LinearOption,
    f: number,
    count: number,
    index: number,
    context: RefContext,
  ): boolean => {
    const part = parts[f] as TakePart
    if (part.mode !== 'reluctant' || count < part.min) return false
    let after = f + 1
    while (after < parts.length && parts[after]!.kind === 'not') after++
    const following = parts[after] as TakePart | undefined
    if (following === undefined) return false
    return (
      cond(following.step, index, context) && !(following.max > 1 && until(following.step, index, context))
    )
  }

  const completions: Completion[] = []
  const waits: { prefix: Prefix; wait: Wait }[] = []

  const explore = (prefix: Prefix, doomed = false): void => {
    const parts = lineOptions[prefix.option]!
    const part = parts[prefix.part] as TakePart
    const p = prefix.indices[prefix.indices.length - 1]!
    const first = prefix.indices[0]!
    const startTime = events[first]!.time
    const lastTime = events[p]!.time
    const context = contextOf(prefix)
    const c = prefix.count
    const mayLeave = c >= part.min
    const matchTimeout = spec.withinMs === null ? null : startTime + spec.withinMs

    // The negations right after E, and the first taken part after them.
    let after = prefix.part + 1
    const notFollowed: number[] = []
    let notNext: number | null = null
    while (after < parts.length && parts[after]!.kind === 'not') {
      const not = parts[after] as NotPart
      if (not.strict) notNext = not.step
      else notFollowed.push(not.step)
      after++
    }
    const followingTake = after < parts.length ? (parts[after] as TakePart) : null
    // `not next` only lets the prefix on past an event that does not meet it; `not followed by` ends
    // the path at an event that meets it, a match that same event completes excepted.
    const notNextAt = (i: number): boolean =>
      notNext !== null && mayLeave && i === p + 1 && cond(notNext, i, context)
    const stopsAt = (i: number): boolean => notFollowed.some((s) => cond(s, i, context)) || notNextAt(i)

    if (doomed) {
      // The event that made this prefix also met a negation: Flink discards every continuation of
      // the path (doProcess: shouldDiscardPath) but still emits a match that event completed.
      const rest = parts.slice(prefix.part + 1)
      if (mayLeave && rest.every((r) => r.kind === 'take' && r.min === 0))
        completions.push({ prefix, point: eventPoint[p]!, time: lastTime })
      return
    }

    /** A wait: scans the events after p, extending by each it may take, until one it cannot skip. */
    const wait = (
      canSkip: (i: number) => boolean,
      canTake: (i: number) => boolean,
      next: (i: number) => Prefix,
      spanEnd: number | null,
      stops: (i: number) => boolean = stopsAt,
    ): void => {
      let diesAt = Number.POSITIVE_INFINITY
      let timeoutAt: number | null = null
      const timeoutPoint = spanEnd === null ? Number.POSITIVE_INFINITY : advanceReaching(spanEnd)
      for (let i = p + 1; i < n; i++) {
        if (eventPoint[i]! > timeoutPoint) break
        if (canTake(i)) explore(next(i), stops(i))
        if (!canSkip(i)) {
          diesAt = eventPoint[i]!
          break
        }
      }
      if (timeoutPoint < diesAt) {
        diesAt = timeoutPoint
        timeoutAt = spanEnd
      }
      waits.push({ prefix, wait: { diesAt, timeoutAt } })
    }
    const extend = (i: number, partIndex: number, count: number, step: number): Prefix => ({
      option: prefix.option,
      part: partIndex,
      count,
      indices: [...prefix.indices, i],
      steps: [...prefix.steps, step],
    })

    // Another repetition of E.
    const reluctantAtEnd = part.mode === 'reluctant' && followingTake === null && mayLeave
    if (c < part.max && !reluctantAtEnd) {
      const reluctantBlocks = (i: number) => yieldsToFollowing(parts, prefix.part, c, i, context)
      // A bounded step's optional repetition skips events in a state of its own that Flink gives no
      // stop for a following `not followed by` (addStopStates, not addStopStateToLooping): past the
      // first event after p, such a negation no longer ends this wait.
      const ownIgnoreState = part.max !== Number.POSITIVE_INFINITY && mayLeave
      const repStops = (i: number) => (ownIgnoreState && i > p + 1 ? false : stopsAt(i))
      wait(
        (i) =>
          !repStops(i) &&
          !until(part.step, i, context) &&
          (part.inner === 'any' || (part.inner === 'relaxed' && !cond(part.step, i, context))),
        (i) => cond(part.step, i, context) && !until(part.step, i, context) && !reluctantBlocks(i),
        (i) => extend(i, prefix.part, c + 1, part.step),
        matchTimeout,
        repStops,
      )
    }

    if (!mayLeave) return

    // The first repetition of a later part F, every part between optional.
    for (let f = after; f < parts.length; f++) {
      const target = parts[f]!
      if (target.kind !== 'take') break
      // Greedy parts left here (E) or passed over (an optional one): the state after such a part G
      // takes, skips and passes on no event that meets G's condition (Flink updateWithGreedyCondition);
      // while the prefix waits in that state, for every event, else only at the event it passes G's.
      const greedy = parts
        .slice(prefix.part, f)
        .flatMap((g, k) =>
          g.kind === 'take' && g.mode === 'greedy' && g.max !== g.min
            ? [{ step: g.step, sink: prefix.part + k + 1 }]
            : [],
        )
      const greedyBlocks = (i: number) =>
        greedy.some((g) => (g.sink === f || i === p + 1) && cond(g.step, i, context))
      const stepSpan = target.withinMs === null ? null : lastTime + target.withinMs
      // A step's within ends the wait at p + d (Flink's PREVIOUS_AND_CURRENT), the match's at first + d.
      const spanEnd =
        stepSpan === null ? matchTimeout : matchTimeout === null ? stepSpan : Math.min(stepSpan, matchTimeout)
      const repeated = target.max > 1
      wait(
        (i) =>
          !stopsAt(i) &&
          !greedyBlocks(i) &&
          (target.enter === 'any' || (target.enter === 'relaxed' && !cond(target.step, i, context))),
        (i) =>
          !notNextAt(i) &&
          !greedyBlocks(i) &&
          cond(target.step, i, context) &&
          !(repeated && until(target.step, i, context)) &&
          !yieldsToFollowing(parts, f, 0, i, context),
        (i) => extend(i, f, 1, target.step),
        spanEnd,
      )
      if (target.min > 0) break
    }

    // Completions (rule 3).
    const rest = parts.slice(prefix.part + 1)
    const only = rest.length === 1 ? rest[0]! : null
    if (rest.every((r) => r.kind === 'take' && r.min === 0)) {
      completions.push({ prefix, point: eventPoint[p]!, time: lastTime })
    } else if (only?.kind === 'not' && only.strict) {
      // `not next` at the end: the event after p decides, unless the match's within ran out first.
      const q = p + 1
      const timeoutPoint = matchTimeout === null ? Number.POSITIVE_INFINITY : advanceReaching(matchTimeout)
      const decided = q < n && eventPoint[q]! < timeoutPoint
      if (decided && !cond(only.step, q, context) && !notFollowed.some((s) => cond(s, q, context)))
        completions.push({ prefix, point: eventPoint[q]!, time: lastTime })
      waits.push({
        prefix,
        wait: decided
          ? { diesAt: eventPoint[q]!, timeoutAt: null }
          : { diesAt: timeoutPoint, timeoutAt: matchTimeout },
      })
    } else if (only?.kind === 'not' && !only.strict) {
      const absent = only
      const spans = [matchTimeout, absent.withinMs === null ? null : lastTime + absent.withinMs].filter(
        (x): x is number => x !== null,
      )
      if (spans.length === 0) throw new Error('reference: absence at the end needs a within')
      const deadline = Math.min(...spans)
      const due = advanceReaching(deadline)
      // Flink's looping state reaches the pending state only by proceeding at a next event.
      const needsEvent = c < part.max
      let moved = !needsEvent
      let stopped = false
      let stoppedAt = Number.POSITIVE_INFINITY
      for (let i = p + 1; i < n && eventPoint[i]! < due; i++) {
        if (cond(absent.step, i, context)) {
          stopped = true
          stoppedAt = eventPoint[i]!
          break
        }
        moved = true
      }
      if (moved && !stopped && due !== Number.POSITIVE_INFINITY)
        completions.push({ prefix, point: due, time: deadline })
      if (moved) waits.push({ prefix, wait: { diesAt: Math.min(due, stoppedAt), timeoutAt: null } })
    }
  }

  // Every event may start a prefix in any part that only optional parts precede (the start state).
  lineOptions.forEach((parts, option) => {
    for (let f = 0; f < parts.length; f++) {
      const part = parts[f]!
      if (part.kind !== 'take') break
      const empty: RefContext = { events: () => NO_STEP }
      // A greedy part left out before F passes on no event it could take (rule 2, greedy).
      const greedyBefore = parts
        .slice(0, f)
        .filter((g): g is TakePart => g.kind === 'take' && g.mode === 'greedy' && g.max !== g.min)
      for (let i = 0; i < n; i++) {
        if (greedyBefore.some((g) => cond(g.step, i, empty))) continue
        if (yieldsToFollowing(parts, f, 0, i, empty)) continue
        if (cond(part.step, i, empty) && !(part.max > 1 && until(part.step, i, empty)))
          explore({ option, part: f, count: 1, indices: [i], steps: [part.step] })
      }
      if (part.min > 0) break
    }
  })

  return emit(spec, events, points, completions, waits)
}

function checkSupported(options: readonly LinearOption[]): void {
  for (const parts of options) {
    parts.forEach((part, i) => {
      if (part.kind !== 'not') return
      const before = parts[i - 1]
      if (before === undefined || before.kind !== 'take')
        throw new Error('reference: a negation follows a taken step')
      if (before.min === 0) throw new Error('reference: a negation cannot follow an optional step (Flink)')
      if (i < parts.length - 1 && parts[i + 1]!.kind !== 'take')
        throw new Error('reference: two negations in a row')
    })
  }
}

/** Rule 4: the emission order and the after-match skip strategy. */
function emit(
  spec: PatternSpec,
  events: readonly RefEvent[],
  points: readonly RefPoint[],
  completions: readonly Completion[],
  waits: readonly { prefix: Prefix; wait: Wait }[],
): RefResult {
  const byStart = (a: Completion, b: Completion) => {
    const x = a.prefix.indices
    const y = b.prefix.indices
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!
    return x.length - y.length || compareLists(a.prefix.steps, b.prefix.steps)
  }
  const matches: RefMatch[] = []
  const emittedAt: number[] = []
  const timeouts = new Map<string, RefMatch>()
  const skip = spec.skip
  /** Partial matches and queued matches whose first event index is below this are pruned. */
  let prunedBelow = 0
  const queue: Completion[] = []
  const holding: boolean[] = []
  const birthOf = (prefix: Prefix) => pointOfEvent(points, prefix.indices[prefix.indices.length - 1]!)
  const aliveAfter = (point: number) => (w: { prefix: Prefix; wait: Wait }) =>
    birthOf(w.prefix) <= point && w.wait.diesAt > point && w.prefix.indices[0]! >= prunedBelow

  for (let point = 0; point < points.length; point++) {
    // Timeouts: waits that a within ends at this advance, not pruned before it.
    for (const { prefix, wait } of waits) {
      if (wait.timeoutAt === null || wait.diesAt !== point || prefix.indices[0]! < prunedBelow) continue
      if (birthOf(prefix) > point) continue
      const seqs = prefix.indices.map((i) => events[i]!.seq)
      timeouts.set(`${seqs.join(',')}|${prefix.steps.join(',')}`, {
        steps: prefix.steps,
        seqs,
        time: wait.timeoutAt,
      })
    }
    for (const c of completions) if (c.point === point && c.prefix.indices[0]! >= prunedBelow) queue.push(c)
    queue.sort(byStart)
    while (queue.length > 0) {
      const earliest = queue[0]!
      if (skip.kind !== 'noSkip') {
        const alive = waits.filter(aliveAfter(point)).map((w) => w.prefix.indices[0]!)
        const earliestPartial = alive.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...alive)
        if (earliestPartial < earliest.prefix.indices[0]!) break
      }
      queue.shift()
      const { indices, steps } = earliest.prefix
      matches.push({ steps, seqs: indices.map((i) => events[i]!.seq), time: earliest.time })
      emittedAt.push(point)
      const bound = pruneBound(skip, indices, steps)
      if (bound !== null && bound > prunedBelow) {
        prunedBelow = bound
        for (let k = queue.length - 1; k >= 0; k--)
          if (queue[k]!.prefix.indices[0]! < prunedBelow) queue.splice(k, 1)
      }
    }
    holding.push(queue.length > 0 || waits.some(aliveAfter(point)))
  }
  const sortedTimeouts = [...timeouts.values()].sort(
    (a, b) => a.time - b.time || compareLists(a.seqs, b.seqs) || compareLists(a.steps, b.steps),
  )
  return { matches, timeouts: sortedTimeouts, emittedAt, points, holding }
}

function pointOfEvent(points: readonly RefPoint[], index: number): number {
  return points.findIndex((p) => p.kind === 'event' && p.index === index)
}

function compareLists(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/**
 * The first event index a match leaves alive after it (AfterMatchSkipStrategy.getPruningId and
 * shouldPrune): starts below the returned index are pruned; null: nothing is.
 */
function pruneBound(
  skip: PatternSpec['skip'],
  indices: readonly number[],
  steps: readonly number[],
): number | null {
  switch (skip.kind) {
    case 'noSkip':
      return null
    case 'toNext':
      return indices[0]! + 1
    case 'pastLastEvent':
      return indices[indices.length - 1]! + 1
    case 'toFirst':
    case 'toLast': {
      const of = indices.filter((_, i) => steps[i] === skip.step)
      if (of.length === 0) return null
      return skip.kind === 'toFirst' ? of[0]! : of[of.length - 1]!
    }
  }
}
