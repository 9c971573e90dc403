/**
 * Compiles a pattern (runtime/cep/pattern-spec.ts) into the NFA both engines step (nfa-types.ts).
 *
 * The construction is Flink CEP's NFACompiler, followed closely so that Sluice matches what Flink
 * matches: the pattern is turned into a chain of "patterns" (one per step or group, each linked to
 * the one before it, as Flink's Pattern objects are) and the chain is compiled from its end to its
 * beginning, every part pointing its edges at the states already built for what follows it. A
 * quantifier is unrolled into copies of the step's state, a negation becomes edges into a STOP
 * state, absence at the end under a `within` becomes a PENDING state. docs/cep.md draws examples.
 *
 * What Flink has no counterpart for:
 * - alternation `a | b`: a state whose PROCEED edges lead into each option's first state, each
 *   option compiled like the raw pattern of a group;
 * - `reluctant`: on the states that may proceed, the TAKE condition is narrowed to events the
 *   following step would not take, so that the following step wins every tie; at the end of the
 *   pattern (nothing follows) it repeats exactly its minimum;
 * - a step's `within` is the `windowMs` of the states that wait for its first event.
 *
 * Structures it cannot compile throw an Error saying why (the checker refuses the same ones).
 */

import type { Nfa, NfaCondition, NfaEdge, NfaState } from './nfa-types.ts'
import type {
  Connector,
  Pattern,
  PatternSequence,
  PatternSpec,
  PatternTerm,
  Quantifier,
} from './pattern-spec.ts'

/** Flink's ConsumingStrategy: how a pattern's events may be separated from what comes before. */
type Consuming = 'strict' | 'skipTillNext' | 'skipTillAny' | 'notNext' | 'notFollow'
type InnerConsuming = 'strict' | 'skipTillNext' | 'skipTillAny'

/** One link of the chain: a step, a group or an alternation, as Flink's Pattern is. */
interface Link {
  readonly name: string
  readonly previous: Link | null
  /** The step's index; -1 for a group or an alternation. */
  readonly step: number
  /** A group's or alternation's options, each the last link of its own chain (a group has one). */
  readonly options: readonly Link[] | null
  readonly alternation: boolean
  readonly consuming: Consuming
  readonly inner: InnerConsuming
  /** Flink's LOOPING (unbounded), TIMES (bounded), OPTIONAL (min 0). */
  readonly looping: boolean
  readonly times: boolean
  readonly optional: boolean
  readonly greedy: boolean
  readonly reluctant: boolean
  /** Flink's Times: the mandatory (from) and the most (to) repetitions of a TIMES or the floor of a LOOPING. */
  readonly from: number
  readonly to: number
  readonly until: NfaCondition | null
  readonly withinMs: number | null
}

type Action = NfaEdge['action']

interface Edge {
  readonly action: Action
  readonly target: State
  /** Mutable: a greedy step narrows the edges of the state after it (Flink's updateWithGreedyCondition). */
  condition: NfaCondition
  readonly step: number
}

interface State {
  readonly id: number
  readonly name: string
  kind: NfaState['kind']
  readonly edges: Edge[]
  windowMs: number | null
}

const TRUE: NfaCondition = { kind: 'true' }

function not(of: NfaCondition): NfaCondition {
  return { kind: 'not', of }
}

function and(...of: NfaCondition[]): NfaCondition {
  return { kind: 'and', of }
}

function or(...of: NfaCondition[]): NfaCondition {
  return { kind: 'or', of }
}

/** Builds the NFA of a pattern. Throws an Error for a structure it cannot compile. */
export function compileNfa(spec: PatternSpec): Nfa {
  const compiler = new NfaCompiler(spec)
  return compiler.compile()
}

/** Why a pattern cannot be compiled, or null when it can (the checker reports the same refusals). */
export function nfaRefusal(spec: PatternSpec): string | null {
  try {
    compileNfa(spec)
    return null
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

/** Reads the IR into Flink's chain of links (the last link of the whole pattern is returned). */
class ChainBuilder {
  constructor(private readonly spec: PatternSpec) {}

  /** The whole pattern: a sequence is a chain; a top-level alternation is one link of its own. */
  top(pattern: Pattern): Link {
    if (pattern.kind === 'Sequence') return this.sequence(pattern)
    return this.alternationLink(pattern.options, 'begin', null, ONE, null)
  }

  /** A sequence's chain; its first element's connector is `begin` (the connector into it is the group's). */
  private sequence(sequence: PatternSequence): Link {
    let link: Link | null = null
    sequence.elements.forEach((element, i) => {
      if ((i === 0) !== (element.connector === 'begin'))
        throw new Error('a pattern sequence begins with its first step and joins the others with connectors')
      link = this.term(element.term, element.connector, link)
    })
    if (link === null) throw new Error('a pattern sequence has no steps')
    return link
  }

  private term(term: PatternTerm, connector: Connector, previous: Link | null): Link {
    if (term.kind === 'Step')
      return this.stepLink(term.step, term.quantifier, connector, previous, term.withinMs)
    const pattern = term.pattern
    if (pattern.kind === 'Alternation')
      return this.alternationLink(pattern.options, connector, previous, term.quantifier, term.withinMs)
    const inner = this.sequence(pattern)
    return this.link({
      name: `(${this.firstName(inner)}…)`,
      previous,
      step: -1,
      options: [inner],
      alternation: false,
      connector,
      quantifier: term.quantifier,
      until: null,
      withinMs: term.withinMs,
    })
  }

  private alternationLink(
    options: readonly PatternSequence[],
    connector: Connector,
    previous: Link | null,
    quantifier: Quantifier,
    withinMs: number | null,
  ): Link {
    if (quantifier.min !== 1 || quantifier.max !== 1)
      throw new Error('an alternation cannot be quantified: quantify a group inside it instead')
    if (options.length < 2) throw new Error('an alternation needs two options or more')
    const chains = options.map((option) => this.sequence(option))
    return this.link({
      name: `(${chains.map((c) => this.firstName(c)).join('|')})`,
      previous,
      step: -1,
      options: chains,
      alternation: true,
      connector,
      quantifier,
      until: null,
      withinMs,
    })
  }

  private stepLink(
    step: number,
    quantifier: Quantifier,
    connector: Connector,
    previous: Link | null,
    withinMs: number | null,
  ): Link {
    const info = this.spec.steps[step]
    if (info === undefined) throw new Error(`the pattern names step ${step}, which does not exist`)
    const negated = connector === 'notNext' || connector === 'notFollowedBy'
    if (negated !== info.negated)
      throw new Error(`step ${info.name}: its negation does not agree with its connector`)
    if (negated && (quantifier.min !== 1 || quantifier.max !== 1))
      throw new Error(`step ${info.name}: a negated step cannot be quantified`)
    if (negated && info.hasUntil) throw new Error(`step ${info.name}: a negated step cannot have until`)
    if (negated && previous?.optional)
      throw new Error(
        `step ${info.name}: a negation cannot follow an optional part (write two patterns, one with it and one without)`,
      )
    return this.link({
      name: info.name,
      previous,
      step,
      options: null,
      alternation: false,
      connector,
      quantifier,
      until: info.hasUntil ? { kind: 'until', step } : null,
      withinMs,
    })
  }

  private link(parts: {
    name: string
    previous: Link | null
    step: number
    options: readonly Link[] | null
    alternation: boolean
    connector: Connector
    quantifier: Quantifier
    until: NfaCondition | null
    withinMs: number | null
  }): Link {
    const q = parts.quantifier
    if (q.max !== null && (q.max < 1 || q.max < q.min))
      throw new Error(`${parts.name}: the quantifier {${q.min},${q.max}} admits no repetition`)
    if (q.min < 0 || !Number.isInteger(q.min) || (q.max !== null && !Number.isInteger(q.max)))
      throw new Error(`${parts.name}: a quantifier's bounds are whole numbers`)
    const single = q.max === 1
    if (parts.until !== null && single)
      throw new Error(`${parts.name}: until needs a repeated step (a quantifier that admits more than one)`)
    if (q.mode !== 'all' && single)
      throw new Error(`${parts.name}: ${q.mode} needs a quantifier that admits more than one repetition`)
    if (parts.previous?.greedy && q.min === 0)
      throw new Error(`${parts.name}: an optional part cannot follow a greedy one`)
    return {
      name: parts.name,
      previous: parts.previous,
      step: parts.step,
      options: parts.options,
      alternation: parts.alternation,
      consuming: CONSUMING[parts.connector],
      inner: INNER[q.inner],
      looping: q.max === null,
      times: q.max !== null && q.max > 1,
      optional: q.min === 0,
      greedy: q.mode === 'greedy',
      reluctant: q.mode === 'reluctant',
      from: Math.max(q.min, 1),
      to: q.max === null ? Math.max(q.min, 1) : q.max,
      until: parts.until,
      withinMs: parts.withinMs,
    }
  }

  private firstName(link: Link): string {
    let first = link
    while (first.previous !== null) first = first.previous
    return first.options === null ? first.name : first.name.slice(1, -1)
  }
}

const ONE: Quantifier = { min: 1, max: 1, mode: 'all', inner: 'relaxed' }

/** `begin` has Flink's default strategy; it matters only for a group's head inside a loop. */
const CONSUMING: Record<Connector, Consuming> = {
  begin: 'skipTillNext',
  next: 'strict',
  followedBy: 'skipTillNext',
  followedByAny: 'skipTillAny',
  notNext: 'notNext',
  notFollowedBy: 'notFollow',
}

const INNER: Record<Quantifier['inner'], InnerConsuming> = {
  strict: 'strict',
  relaxed: 'skipTillNext',
  any: 'skipTillAny',
}

/** Flink's NFAFactoryCompiler, over links instead of Pattern objects. */
class NfaCompiler {
  private readonly states: State[] = []
  private readonly stopStates = new Map<string, State>()
  private readonly firstOfLoop = new Map<Link, boolean>()
  private currentGroup: Link | null = null
  private current: Link
  private following: Link | null = null
  private followingTake: NfaCondition | null = null
  /**
   * Per step, the take condition of what follows it, as it stood before the step's own states were
   * built: a reluctant step yields to it. (`followingTake` itself grows with each copy of the step.)
   */
  private readonly takeAfter = new Map<Link, NfaCondition | null>()
  /** Per group or alternation being compiled, the group it is in (null: none). */
  private readonly enclosingGroup = new Map<Link, Link | null>()
  private readonly names = new Map<string, number>()
  /** Greedy with until: the states after a greedy step as they were before it narrowed them. */
  private readonly originalStates = new Map<State, State>()

  constructor(private readonly spec: PatternSpec) {
    this.current = new ChainBuilder(spec).top(spec.pattern)
    if (spec.withinMs !== null && !(spec.withinMs > 0))
      throw new Error('a pattern within must be longer than zero')
  }

  compile(): Nfa {
    this.checkNames()
    this.checkSkip()
    const end = this.createState('$end', 'final')
    let sink = this.createMiddleStates(end)
    sink = this.convertLink(sink)
    if (this.current.withinMs !== null)
      throw new Error(
        `${this.current.name}: the first step has no step before it for its within to count from`,
      )
    if (sink.kind !== 'normal')
      throw new Error('the pattern cannot begin with a negation or end where it begins')
    sink.kind = 'start'
    return this.freeze(sink)
  }

  /** A skip to a step names one that can be in a match (Flink's checkPatternSkipStrategy). */
  private checkSkip(): void {
    const skip = this.spec.skip
    if (skip.kind !== 'toFirst' && skip.kind !== 'toLast') return
    const step = this.spec.steps[skip.step]
    if (step === undefined) throw new Error(`the skip strategy names step ${skip.step}, which does not exist`)
    if (step.negated)
      throw new Error(`step ${step.name}: a skip cannot go to a negated step (it is never in a match)`)
  }

  /** Every step appears once (Flink's checkPatternNameUniqueness). */
  private checkNames(): void {
    const seen = new Set<number>()
    const visit = (link: Link | null): void => {
      for (let l = link; l !== null; l = l.previous) {
        if (l.options !== null) for (const option of l.options) visit(option)
        else if (seen.has(l.step)) throw new Error(`step ${l.name} appears twice in the pattern`)
        else seen.add(l.step)
      }
    }
    visit(this.current)
  }

  private freeze(start: State): Nfa {
    // Keep only the states reachable from the start (copies made for nots may orphan originals).
    const order: State[] = []
    const index = new Map<State, number>()
    const queue = [start]
    index.set(start, 0)
    order.push(start)
    while (queue.length > 0) {
      const state = queue.shift() as State
      for (const edge of state.edges) {
        if (index.has(edge.target)) continue
        index.set(edge.target, order.length)
        order.push(edge.target)
        queue.push(edge.target)
      }
    }
    // Names by order from the start (the construction runs backwards): `b`, `b:2`, `b:3` for a step's copies.
    const seen = new Map<string, number>()
    const names = order.map((state) => {
      const base = state.name.replace(/:\d+$/, '')
      const count = (seen.get(base) ?? 0) + 1
      seen.set(base, count)
      return count === 1 ? base : `${base}:${count}`
    })
    const states: NfaState[] = order.map((state, i) => ({
      name: names[i] as string,
      kind: state.kind,
      windowMs: state.windowMs,
      edges: state.edges.map((edge) => ({
        action: edge.action,
        target: index.get(edge.target) as number,
        condition: edge.condition,
        step: edge.step,
      })),
    }))
    if (!states.some((state) => state.kind === 'final' || state.kind === 'pending'))
      throw new Error('the pattern can never complete')
    return { states, start: 0, windowMs: this.spec.withinMs }
  }

  private createState(name: string, kind: NfaState['kind']): State {
    const count = this.names.get(name) ?? 0
    this.names.set(name, count + 1)
    const state: State = {
      id: this.states.length,
      name: count === 0 ? name : `${name}:${count}`,
      kind,
      edges: [],
      windowMs: null,
    }
    this.states.push(state)
    return state
  }

  private addEdge(from: State, action: Action, target: State, condition: NfaCondition, step = -1): void {
    from.edges.push({ action, target, condition, step })
  }

  private addTake(from: State, target: State, condition: NfaCondition): void {
    this.addEdge(from, 'take', target, condition, this.current.step)
  }

  private createMiddleStates(sinkState: State): State {
    let lastSink = sinkState
    for (let previous = this.current.previous; previous !== null; previous = this.current.previous) {
      const current = this.current
      if (current.consuming === 'notFollow') {
        if (lastSink.kind === 'final') {
          // Absence at the end: only a window can tell when the absence is complete.
          if (this.currentGroup !== null && !this.currentGroup.alternation)
            throw new Error(`step ${current.name}: not followed by cannot end a group`)
          if ((current.withinMs ?? this.spec.withinMs) === null)
            throw new Error(
              `step ${current.name}: a pattern may end with not followed by only under a within (the match or that step)`,
            )
          const pending = this.createState(current.name, 'pending')
          const notCondition = this.takeCondition(current)
          const stop = this.createStopState(notCondition, current.name, current.step)
          this.addEdge(pending, 'proceed', stop, notCondition)
          this.addEdge(pending, 'ignore', pending, not(notCondition))
          pending.windowMs = current.withinMs
          lastSink = pending
        } else if (current.withinMs !== null) {
          throw new Error(`step ${current.name}: within on not followed by is only for absence at the end`)
        }
        // Otherwise it is no state of its own: the states around it get edges into its STOP state.
      } else if (current.consuming === 'notNext') {
        if (current.withinMs !== null)
          throw new Error(`step ${current.name}: within on not next is not supported`)
        const notNext = this.createState(current.name, 'normal')
        const notCondition = this.takeCondition(current)
        const stop = this.createStopState(notCondition, current.name, current.step)
        // Into a final state by IGNORE (consuming the event), so the PROCEED to it does not fire at once.
        if (lastSink.kind === 'final') this.addEdge(notNext, 'ignore', lastSink, not(notCondition))
        else this.addEdge(notNext, 'proceed', lastSink, not(notCondition))
        this.addEdge(notNext, 'proceed', stop, notCondition)
        lastSink = notNext
      } else {
        lastSink = this.convertLink(lastSink)
      }
      this.following = current
      this.current = previous
    }
    return lastSink
  }

  private convertLink(sinkState: State): State {
    const current = this.current
    let lastSink: State
    this.takeAfter.set(current, this.followingTake)
    const exactlyMin = this.reluctantAtEnd(current)
    if (current.looping && !exactlyMin) {
      this.setFirstOfLoop(false)
      const sink = this.copyWithoutTransitiveNots(sinkState)
      const looping = this.createLooping(sink)
      this.setFirstOfLoop(true)
      lastSink = this.createTimesState(looping, sinkState, current.from, current.from)
    } else if (current.times || current.looping) {
      const to = exactlyMin ? current.from : current.to
      lastSink = this.createTimesState(sinkState, sinkState, current.from, to)
    } else {
      lastSink = this.createSingletonState(
        sinkState,
        sinkState,
        this.takeCondition(current),
        this.ignoreCondition(current),
        this.isOptional(current),
      )
    }
    // An alternation's entry only proceeds into its options, whose first states carry the negations.
    if (!current.alternation) this.addStopStates(lastSink)
    if (current.withinMs !== null) this.markWindow(lastSink, current.withinMs)
    return lastSink
  }

  /** A step's `within`: the states that wait for its first event time out `withinMs` after the previous event. */
  private markWindow(entry: State, windowMs: number): void {
    if (!(windowMs > 0)) throw new Error(`${this.current.name}: a within must be longer than zero`)
    entry.windowMs = windowMs
    for (const edge of entry.edges)
      if (edge.action === 'ignore' && edge.target !== entry && edge.target.kind === 'normal')
        edge.target.windowMs = windowMs
  }

  /** `reluctant` with nothing after it to prefer: it repeats exactly its minimum. */
  private reluctantAtEnd(link: Link): boolean {
    if (!link.reluctant || this.followingTake !== null) return false
    if (this.currentGroup !== null)
      throw new Error(`${link.name}: reluctant needs a following step inside its group`)
    if (link.optional)
      throw new Error(`${link.name}: reluctant at the end of the pattern never matches an event`)
    return true
  }

  private setFirstOfLoop(first: boolean): void {
    if (this.current.options !== null) this.firstOfLoop.set(this.current, first)
  }

  private isCurrentGroupFirstOfLoop(): boolean {
    if (this.currentGroup === null) return true
    return this.firstOfLoop.get(this.currentGroup) ?? true
  }

  private headOfGroup(link: Link): boolean {
    return this.currentGroup !== null && link.previous === null
  }

  private isOptional(link: Link): boolean {
    return link.optional
  }

  /** The head of an optional group (not inside its repetitions) gets an ignore copy as an optional step does. */
  private isHeadOfOptionalGroup(link: Link): boolean {
    return this.headOfGroup(link) && this.isCurrentGroupFirstOfLoop() && (this.currentGroup as Link).optional
  }

  private createStopState(notCondition: NfaCondition, name: string, step: number): State {
    let stop = this.stopStates.get(name)
    if (stop === undefined) {
      stop = this.createState(name, 'stop')
      this.addEdge(stop, 'take', stop, notCondition, step)
      this.stopStates.set(name, stop)
    }
    return stop
  }

  /**
   * The negations before the current link, over optional links (Flink's getCurrentNotCondition).
   * From the head of an alternation's option the walk goes on before the alternation: a partial
   * match waits for the option's first event in the option's own states (the alternation's entry
   * only proceeds into them), so those states carry the negations before it, as the state of a
   * group's head (which is the group's first state in Flink) does.
   */
  private currentNotConditions(): { condition: NfaCondition; name: string; step: number }[] {
    const nots: { condition: NfaCondition; name: string; step: number }[] = []
    let previous: Link = this.current
    let group = this.currentGroup
    for (;;) {
      while (
        previous.previous !== null &&
        (previous.previous.optional || previous.previous.consuming === 'notFollow')
      ) {
        previous = previous.previous
        if (previous.consuming === 'notFollow')
          nots.push({ condition: this.takeCondition(previous), name: previous.name, step: previous.step })
      }
      if (previous.previous !== null || group === null || !group.alternation) return nots
      previous = group
      group = this.enclosingGroup.get(group) ?? null
    }
  }

  /**
   * A copy of `sinkState` without the PROCEED edges into the STOP states of the negations before
   * an optional link: once the optional link took an event, those negations no longer apply.
   */
  private copyWithoutTransitiveNots(sinkState: State): State {
    const nots = this.currentNotConditions()
    if (nots.length === 0 || !this.current.optional) return sinkState
    const copy = this.createState(sinkState.name.split(':')[0] as string, sinkState.kind)
    copy.windowMs = sinkState.windowMs
    for (const edge of sinkState.edges) {
      if (edge.action === 'proceed') {
        let target = edge.target
        let remove = false
        if (target.kind === 'stop') {
          for (const n of nots) if (target.name === n.name) remove = true
        } else {
          target = this.copyWithoutTransitiveNots(edge.target)
        }
        if (!remove) copy.edges.push({ ...edge, target })
      } else {
        copy.edges.push({ ...edge, target: edge.target === sinkState ? copy : edge.target })
      }
    }
    return copy
  }

  private addStopStates(state: State): void {
    for (const n of this.currentNotConditions())
      this.addEdge(state, 'proceed', this.createStopState(n.condition, n.name, n.step), n.condition)
  }

  private addStopStateToLooping(state: State): void {
    const following = this.following
    if (following !== null && following.consuming === 'notFollow') {
      const condition = this.takeCondition(following)
      this.addEdge(
        state,
        'proceed',
        this.createStopState(condition, following.name, following.step),
        condition,
      )
    }
  }

  private createTimesState(sinkState: State, proceedState: State, from: number, to: number): State {
    const current = this.current
    let lastSink = sinkState
    this.setFirstOfLoop(false)
    const innerIgnore = this.extendWithUntil(this.innerIgnoreCondition(current), current.until, false)
    const take = this.extendWithUntil(this.takeCondition(current), current.until, true) as NfaCondition
    if (current.greedy && from !== to) {
      if (current.until !== null) this.originalStates.set(sinkState, this.copy(sinkState))
      this.updateWithGreedyCondition(sinkState, take)
    }
    for (let i = from; i < to; i++) {
      lastSink = this.createSingletonState(lastSink, proceedState, take, innerIgnore, true)
      this.addStopStateToLooping(lastSink)
    }
    for (let i = 0; i < from - 1; i++) {
      lastSink = this.createSingletonState(lastSink, null, take, innerIgnore, false)
      this.addStopStateToLooping(lastSink)
    }
    this.setFirstOfLoop(true)
    return this.createSingletonState(
      lastSink,
      proceedState,
      take,
      this.ignoreCondition(current),
      this.isOptional(current),
    )
  }

  private createSingletonState(
    sinkState: State,
    proceedState: State | null,
    takeCondition: NfaCondition,
    ignoreCondition: NfaCondition | null,
    isOptional: boolean,
  ): State {
    const current = this.current
    if (current.options !== null) return this.createGroupState(current, sinkState, proceedState, isOptional)
    const singleton = this.createState(current.name, 'normal')
    const sink = this.copyWithoutTransitiveNots(sinkState)
    const take = isOptional ? this.reluctantTake(current, takeCondition) : takeCondition
    this.addTake(singleton, sink, take)
    if (isOptional) {
      const proceed = proceedState as State
      if (current.greedy && current.until !== null) {
        // Greedy with until: at the until event it proceeds into the un-narrowed copy of what follows.
        this.addEdge(singleton, 'proceed', this.originalStates.get(proceed) ?? proceed, current.until)
        this.addEdge(singleton, 'proceed', proceed, not(current.until))
      } else {
        this.addEdge(singleton, 'proceed', proceed, this.trueCondition())
      }
    }
    if (ignoreCondition !== null) {
      let ignoreState: State
      if (isOptional || this.isHeadOfOptionalGroup(current)) {
        ignoreState = this.createState(current.name, 'normal')
        this.addTake(ignoreState, sink, take)
        this.addEdge(ignoreState, 'ignore', ignoreState, ignoreCondition)
        this.addStopStates(ignoreState)
      } else {
        ignoreState = singleton
      }
      this.addEdge(singleton, 'ignore', ignoreState, ignoreCondition)
    }
    this.followingTake = this.nextFollowingTake(this.followingTake, takeCondition, isOptional)
    return singleton
  }

  /**
   * Sluice's reluctant: a repetition that may be left out is not taken when the following step
   * would take the event. The step's own later copies do not count as following it (else `s*`
   * would never take a repetition the step itself could take).
   */
  private reluctantTake(link: Link, take: NfaCondition): NfaCondition {
    const following = this.takeAfter.get(link) ?? null
    if (!link.reluctant || following === null) return take
    return and(take, not(following))
  }

  private createGroupState(
    group: Link,
    sinkState: State,
    proceedState: State | null,
    isOptional: boolean,
  ): State {
    const old = this.saveGroupContext(group)
    let entry: State
    if (group.alternation) {
      entry = this.createState(group.name, 'normal')
      const followingTakes: NfaCondition[] = []
      for (const option of group.options as readonly Link[]) {
        this.current = option
        this.following = old.following
        this.followingTake = null
        let first = this.createMiddleStates(sinkState)
        first = this.convertLink(first)
        this.addEdge(entry, 'proceed', first, this.trueCondition())
        if (this.followingTake !== null) followingTakes.push(this.followingTake)
      }
      this.followingTake = followingTakes.length > 0 ? or(...followingTakes) : null
    } else {
      this.current = (group.options as readonly Link[])[0] as Link
      this.followingTake = null
      entry = this.createMiddleStates(sinkState)
      entry = this.convertLink(entry)
    }
    if (isOptional) this.addEdge(entry, 'proceed', proceedState as State, this.trueCondition())
    this.restoreGroupContext(old, isOptional)
    return entry
  }

  private createLoopingGroupState(group: Link, sinkState: State): State {
    if (group.alternation) throw new Error('an alternation cannot be repeated')
    const old = this.saveGroupContext(group)
    const dummy = this.createState(group.name, 'normal')
    this.current = (group.options as readonly Link[])[0] as Link
    this.followingTake = null
    let lastSink = this.createMiddleStates(dummy)
    lastSink = this.convertLink(lastSink)
    this.addEdge(lastSink, 'proceed', sinkState, this.trueCondition())
    this.addEdge(dummy, 'proceed', lastSink, this.trueCondition())
    this.restoreGroupContext(old, true)
    return lastSink
  }

  private saveGroupContext(group: Link): {
    current: Link
    following: Link | null
    group: Link | null
    followingTake: NfaCondition | null
  } {
    const old = {
      current: this.current,
      following: this.following,
      group: this.currentGroup,
      followingTake: this.followingTake,
    }
    if (group.greedy || group.reluctant)
      throw new Error(`${group.name}: a group cannot be greedy or reluctant`)
    this.enclosingGroup.set(group, this.currentGroup)
    this.currentGroup = group
    return old
  }

  private restoreGroupContext(
    old: { current: Link; following: Link | null; group: Link | null; followingTake: NfaCondition | null },
    isOptional: boolean,
  ): void {
    const groupTake = this.followingTake
    this.current = old.current
    this.following = old.following
    this.currentGroup = old.group
    this.followingTake =
      groupTake === null
        ? old.followingTake
        : this.nextFollowingTake(old.followingTake, groupTake, isOptional)
  }

  private createLooping(sinkState: State): State {
    const current = this.current
    if (current.options !== null) return this.createLoopingGroupState(current, sinkState)
    const ignoreCondition = this.extendWithUntil(this.innerIgnoreCondition(current), current.until, false)
    const takeCondition = this.extendWithUntil(
      this.takeCondition(current),
      current.until,
      true,
    ) as NfaCondition
    const take = this.reluctantTake(current, takeCondition)
    const looping = this.createState(current.name, 'normal')
    if (current.greedy) {
      // Flink's greedy: what follows may not take (or skip) an event the loop can take.
      if (current.until !== null) {
        const copy = this.copy(sinkState)
        this.addEdge(looping, 'proceed', copy, current.until)
        this.originalStates.set(sinkState, copy)
      }
      this.addEdge(looping, 'proceed', sinkState, current.until !== null ? not(current.until) : TRUE)
      this.updateWithGreedyCondition(sinkState, this.takeCondition(current))
    } else {
      this.addEdge(looping, 'proceed', sinkState, this.trueCondition())
    }
    this.addTake(looping, looping, take)
    this.addStopStateToLooping(looping)
    if (ignoreCondition !== null) {
      const ignoreState = this.createState(current.name, 'normal')
      this.addTake(ignoreState, looping, take)
      this.addEdge(ignoreState, 'ignore', ignoreState, ignoreCondition)
      this.addEdge(looping, 'ignore', ignoreState, ignoreCondition)
      this.addStopStateToLooping(ignoreState)
    }
    this.followingTake = this.nextFollowingTake(this.followingTake, takeCondition, true)
    return looping
  }

  private extendWithUntil(
    condition: NfaCondition | null,
    until: NfaCondition | null,
    isTake: boolean,
  ): NfaCondition | null {
    if (until !== null && condition !== null) return and(not(until), condition)
    if (until !== null && isTake) return not(until)
    return condition
  }

  /** Flink's updateWithGreedyCondition: every edge of `state` only for events the greedy step cannot take. */
  private updateWithGreedyCondition(state: State, take: NfaCondition): void {
    for (const edge of state.edges) edge.condition = and(edge.condition, not(take))
  }

  /** A copy of a state with the same edges (a self-edge stays a self-edge). */
  private copy(state: State): State {
    const copy = this.createState(state.name.replace(/:\d+$/, ''), state.kind)
    copy.windowMs = state.windowMs
    for (const edge of state.edges)
      copy.edges.push({ ...edge, target: edge.target === state ? copy : edge.target })
    return copy
  }

  private nextFollowingTake(
    followingTake: NfaCondition | null,
    currentTake: NfaCondition,
    isOptional: boolean,
  ): NfaCondition {
    return isOptional && followingTake !== null ? or(currentTake, followingTake) : currentTake
  }

  /**
   * Between a step's repetitions. A group's head repeats under the group's inner contiguity
   * (Flink's getInnerIgnoreCondition); an alternation's option is no group: its head keeps its own.
   */
  private innerIgnoreCondition(link: Link): NfaCondition | null {
    const group = this.currentGroup
    const strategy =
      this.headOfGroup(link) && !(group as Link).alternation ? (group as Link).inner : link.inner
    return this.strategyIgnore(strategy, link)
  }

  private ignoreCondition(link: Link): NfaCondition | null {
    let strategy: Consuming = link.consuming
    if (this.headOfGroup(link)) {
      const group = this.currentGroup as Link
      strategy = this.isCurrentGroupFirstOfLoop() ? group.consuming : group.inner
    }
    return this.strategyIgnore(strategy, link)
  }

  private strategyIgnore(strategy: Consuming, link: Link): NfaCondition | null {
    if (strategy === 'skipTillNext') return not(this.takeCondition(link))
    if (strategy === 'skipTillAny') return TRUE
    return null
  }

  /** A group has no condition of its own (its states come from its raw pattern): never on an edge. */
  private takeCondition(link: Link): NfaCondition {
    if (link.options !== null) return TRUE
    return { kind: 'step', step: link.step }
  }

  private trueCondition(): NfaCondition {
    return TRUE
  }
}
