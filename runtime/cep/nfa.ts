/**
 * The TypeScript pattern engine: steps the NFA of nfa-compile.ts over each key's released events,
 * the way Flink CEP's NFA does (NFA.java: computeNextStates, createDecisionGraph,
 * findFinalStateAfterProceed, advanceTime, processMatchesAccordingToSkipStrategy).
 *
 * A partial match (Flink's ComputationState) is a state of the NFA, the time and seq of its first
 * event, the time of its last event and its events so far. The events are a persistent linked list
 * whose head is the newest event: a branch (an event both taken and ignored, or taken by two
 * edges) shares the whole prefix with its sibling, as Flink's SharedBuffer shares entries, and what
 * no partial match references any more is garbage. Flink's Dewey versions exist to pick one path out
 * of the shared buffer; a list per partial match needs none.
 *
 * Flink keeps one start computation state per key at all times; here the start is virtual (tried for
 * every event, never stored), so a key without partial matches holds nothing at all.
 *
 * The stepping is kept in small plain functions over arrays so that the WebAssembly kernel
 * (wasm/kernels/cep.ts) can follow it line by line. docs/cep.md describes the whole.
 */
import { deserialize, serialize } from 'node:v8'
import {
  type CepFunctions,
  type DropReason,
  type EngineBudget,
  type EngineMatch,
  HELD_FIELDS,
  type KeyMatches,
  type MatchContext,
  PARTIAL_FIELDS,
  type PatternEngine,
  type ReleasedEvents,
  type SegmentOutputs,
  stepSegmentsOneByOne,
  type TraceEntry,
} from './engine.ts'
import { compileNfa } from './nfa-compile.ts'
import type { Nfa, NfaCondition, NfaEdge } from './nfa-types.ts'
import type { PatternSpec, SkipStrategy } from './pattern-spec.ts'

/** One matched event: a link of a partial match's persistent list (newest first). */
interface MatchedEvent {
  readonly step: number
  readonly row: unknown
  readonly seq: number
  readonly time: number
  readonly previous: MatchedEvent | null
}

/** Flink's ComputationState. */
interface Partial {
  /** For traces: a branch keeps its parent's id when it is the first successor, else gets a new one. */
  readonly id: number
  readonly state: number
  /** Time and seq of the first event (Flink's start timestamp and start event id). */
  readonly startTime: number
  readonly startSeq: number
  /** Time of the last taken event (a step's `within` counts from it). */
  readonly lastTime: number
  readonly events: MatchedEvent | null
}

/** A partial match that reached a final state (or whose pending absence ran out), with its emit time. */
interface Completed {
  readonly partial: Partial
  readonly time: number
}

/** What a key holds; absent from the map when it holds nothing. */
interface KeyState {
  /** Ordered by (startTime, startSeq): the first is the earliest-started. */
  partials: Partial[]
  /** Matches held back by a skip strategy until no earlier-started partial match remains. */
  completed: Completed[]
  /** When its first partial match runs out (whole or step window); +Infinity: none can. */
  due: number
  /** When it began to be held (advanceTime ends keys' partial matches in this order). */
  order: number
}

/** A key's due time in the expiry heap; stale once the key's `due` is another. */
interface DueEntry {
  readonly at: number
  readonly keyId: number
}

/** The virtual start partial's start fields (never compared: it is not stored). */
const NO_START = Number.POSITIVE_INFINITY

const SNAPSHOT_VERSION = 1

/** Creates the TypeScript engine (PatternEngineFactory). */
export function createNfaEngine(spec: PatternSpec, functions: CepFunctions, budget: EngineBudget): NfaEngine {
  return new NfaEngine(
    compileNfa(spec),
    spec.skip,
    functions,
    budget,
    spec.steps.map((step) => step.reads.length === 0),
  )
}

export class NfaEngine implements PatternEngine {
  readonly wantsMasks = false
  trace: ((entry: TraceEntry) => void) | null = null
  private keys = new Map<number, KeyState>()
  private total = 0
  private nextId = 1
  private droppedCounts: Record<DropReason, number> = emptyDropped()
  /**
   * Keys by when their first partial match runs out (a min-heap on `at`, stale entries skipped), so
   * advanceTime visits only keys with something due: with 100,000 keys and a 10-minute window,
   * scanning every key at every watermark cost more than the matching.
   */
  private dueHeap: DueEntry[] = []
  /** Keys changed since takeChangedKeys last ran (incremental snapshots). */
  private changedKeys = new Set<number>()
  /** Stamps keys' `order`. */
  private held = 0
  /** Timeouts found while stepping (a partial match ran out before an event): handed out by advanceTime. */
  private stepTimeouts: EngineMatch[] = []
  /** Per state: the step its first TAKE records (traces of IGNORE name it). */
  private readonly stateSteps: number[]
  /** Failure already reported for the event being stepped. */
  private eventFailed = false
  private failures: { seq: number; error: unknown; site: number }[] = []
  private currentSeq = 0
  /** Per step: its condition and until read the current event alone (PatternStepInfo.reads empty). */
  private readonly eventLocal: readonly boolean[]
  /**
   * The current event's results of event-local conditions (step s at s, its until at steps + s):
   * 0 not evaluated yet, 1 true, 2 false. Every partial match shares them, so each is evaluated once
   * per event however many partial matches ask.
   */
  private readonly localResults: Int8Array

  constructor(
    readonly nfa: Nfa,
    private readonly skip: SkipStrategy,
    private readonly functions: CepFunctions,
    private readonly budget: EngineBudget,
    /** Per step, whether its conditions are event-local (results then shared per event); default none. */
    eventLocal: readonly boolean[] = [],
  ) {
    const steps = functions.conditions.length
    this.eventLocal = Array.from({ length: steps }, (_, s) => eventLocal[s] === true)
    this.localResults = new Int8Array(steps * 2)
    this.stateSteps = nfa.states.map((state) => state.edges.find((e) => e.action === 'take')?.step ?? -1)
  }

  get partialMatches(): number {
    return this.total
  }

  get dropped(): Readonly<Record<DropReason, number>> {
    return this.droppedCounts
  }

  step(
    events: ReleasedEvents,
    matches: EngineMatch[],
    failures: { seq: number; error: unknown; site: number }[],
  ): void {
    this.failures = failures
    for (let i = 0; i < events.length; i++) {
      const keyId = events.keyIds[i] as number
      const time = events.times[i] as number
      const seq = events.seqs[i] as number
      const key = this.keys.get(keyId) ?? {
        partials: [],
        completed: [],
        due: Number.POSITIVE_INFINITY,
        order: 0,
      }
      const before = key.partials.length
      // Flink's CepOperator advances each key's time to an event's timestamp before the event.
      this.expire(key, keyId, time, matches, this.stepTimeouts)
      this.processEvent(key, keyId, events.rows[i], time, seq, matches)
      if (this.enforceBudget(key, before) && key.completed.length > 0) {
        // A held match may have waited for a dropped partial match.
        const kept = key.partials.length
        this.releaseCompleted(key, keyId, [], matches)
        this.total += key.partials.length - kept
      }
      this.storeKey(keyId, key)
    }
  }

  stepSegments(
    events: ReleasedEvents,
    ends: Int32Array,
    watermarks: Float64Array,
    count: number,
    out: SegmentOutputs,
    emptyChecks: Uint8Array,
  ): void {
    stepSegmentsOneByOne(this, events, ends, watermarks, count, out, emptyChecks)
  }

  advanceTime(watermark: number, matches: EngineMatch[], timeouts: EngineMatch[] | null): void {
    if (timeouts !== null) for (const timeout of this.stepTimeouts) timeouts.push(timeout)
    this.stepTimeouts = []
    // The keys with something due, in the order they began to be held (as a scan of them would).
    const due: [number, KeyState][] = []
    while (this.dueHeap.length > 0 && (this.dueHeap[0] as DueEntry).at <= watermark) {
      const entry = heapPopDue(this.dueHeap)
      const key = this.keys.get(entry.keyId)
      if (key === undefined || key.due !== entry.at) continue
      key.due = Number.NaN // taken: later (stale) entries of it are skipped
      due.push([entry.keyId, key])
    }
    due.sort((a, b) => a[1].order - b[1].order)
    for (const [keyId, key] of due) {
      const before = key.partials.length
      this.expire(key, keyId, watermark, matches, timeouts)
      this.total += key.partials.length - before
      this.storeKey(keyId, key)
    }
  }

  nextDue(): number {
    const heap = this.dueHeap
    while (heap.length > 0) {
      const top = heap[0] as DueEntry
      // Stale entries (the key's due moved, or the key went) are dropped here as advanceTime would.
      if (this.keys.get(top.keyId)?.due === top.at) return top.at
      heapPopDue(heap)
    }
    return Number.POSITIVE_INFINITY
  }

  /** When this partial match's window (whole or step) runs out; +Infinity when it has none. */
  private expiryOf(partial: Partial): number {
    const whole = this.nfa.windowMs
    const step = this.nfa.states[partial.state]?.windowMs ?? null
    let at = Number.POSITIVE_INFINITY
    if (whole !== null) at = partial.startTime + whole
    if (step !== null) at = Math.min(at, partial.lastTime + step)
    return at
  }

  keyIsEmpty(keyId: number): boolean {
    return !this.keys.has(keyId)
  }

  // ---- one event -------------------------------------------------------------------------------

  /** Flink's doProcess for one key and one event. */
  private processEvent(
    key: KeyState,
    keyId: number,
    row: unknown,
    time: number,
    seq: number,
    matches: EngineMatch[],
  ): void {
    this.eventFailed = false
    this.currentSeq = seq
    this.localResults.fill(0)
    const next: Partial[] = []
    const potential: Completed[] = []
    for (const partial of key.partials) this.stepPartial(partial, false, row, time, seq, next, potential)
    const start: Partial = {
      id: 0,
      state: this.nfa.start,
      startTime: NO_START,
      startSeq: NO_START,
      lastTime: NO_START,
      events: null,
    }
    this.stepPartial(start, true, row, time, seq, next, potential)
    key.partials = next
    this.releaseCompleted(key, keyId, potential, matches)
  }

  /** Steps one partial match by one event into `next` and `potential` (Flink's computeNextStates + doProcess). */
  private stepPartial(
    partial: Partial,
    isStart: boolean,
    row: unknown,
    time: number,
    seq: number,
    next: Partial[],
    potential: Completed[],
  ): void {
    const edges = this.decisionGraph(partial, isStart, row, time)
    const successors: Partial[] = []
    let stopped = false
    let first = true
    for (const edge of edges) {
      if (edge.action === 'ignore') {
        if (isStart) continue
        const id = first ? partial.id : this.nextId++
        first = false
        successors.push({ ...partial, id, state: edge.target })
        this.emitTrace({ kind: 'ignore', partial: id, step: this.stateSteps[edge.target] as number, seq })
        continue
      }
      const id = first && !isStart ? partial.id : this.nextId++
      first = false
      const events: MatchedEvent = { step: edge.step, row, seq, time, previous: partial.events }
      const taken: Partial = {
        id,
        state: edge.target,
        startTime: isStart ? time : partial.startTime,
        startSeq: isStart ? seq : partial.startSeq,
        lastTime: time,
        events,
      }
      this.emitTrace({ kind: isStart ? 'start' : 'take', partial: id, step: edge.step, seq })
      successors.push(taken)
      // Taking may complete the match at once when the rest of the pattern may be skipped.
      const final = this.finalAfterProceed(edge.target, partial, row)
      if (final >= 0) successors.push({ ...taken, state: final })
    }
    for (const successor of successors) {
      const kind = this.nfa.states[successor.state]?.kind
      if (kind === 'stop') stopped = true
    }
    if (!isStart && successors.length === 0)
      this.countDrop(
        partial,
        'no-continuation',
        seq,
        this.trace === null ? undefined : this.awaitedSteps(partial.state),
      )
    // A negated step's event ends every branch of this partial match, except matches completed by it.
    if (stopped && !isStart) this.countDrop(partial, 'negation', seq)
    for (const successor of successors) {
      const kind = this.nfa.states[successor.state]?.kind
      if (kind === 'final') potential.push({ partial: successor, time: successor.lastTime })
      else if (!stopped) next.push(successor)
    }
  }

  /**
   * The TAKE and IGNORE edges an event may follow from a partial match's state, PROCEED edges
   * followed at once (Flink's createDecisionGraph). A state a step's `within` guards is passed over
   * once that window has run out for this partial match.
   */
  private decisionGraph(partial: Partial, isStart: boolean, row: unknown, time: number): NfaEdge[] {
    const edges: NfaEdge[] = []
    const stack = [partial.state]
    let visits = 0
    while (stack.length > 0) {
      const stateIndex = stack.pop() as number
      if (++visits > 64 * this.nfa.states.length) throw new Error('the NFA has a cycle of proceed edges')
      const state = this.nfa.states[stateIndex]
      if (state === undefined) continue
      if (!isStart && state.windowMs !== null && time - partial.lastTime >= state.windowMs) continue
      for (const edge of state.edges) {
        if (!this.holds(edge.condition, row, partial)) continue
        if (edge.action === 'proceed') stack.push(edge.target)
        else edges.push(edge)
      }
    }
    return edges
  }

  /** A final state reachable from `state` by PROCEED edges on this event (Flink's findFinalStateAfterProceed); -1: none. */
  private finalAfterProceed(state: number, partial: Partial, row: unknown): number {
    const stack = [state]
    let visits = 0
    while (stack.length > 0) {
      const current = this.nfa.states[stack.pop() as number]
      if (current === undefined) continue
      if (++visits > 64 * this.nfa.states.length) throw new Error('the NFA has a cycle of proceed edges')
      for (const edge of current.edges) {
        if (edge.action !== 'proceed' || !this.holds(edge.condition, row, partial)) continue
        if (this.nfa.states[edge.target]?.kind === 'final') return edge.target
        stack.push(edge.target)
      }
    }
    return -1
  }

  // ---- conditions ------------------------------------------------------------------------------

  private holds(condition: NfaCondition, row: unknown, partial: Partial): boolean {
    switch (condition.kind) {
      case 'true':
        return true
      case 'step':
        return this.evaluate(
          condition.step,
          condition.step,
          this.functions.conditions[condition.step],
          row,
          partial,
        )
      case 'until': {
        const slot = this.eventLocal.length + condition.step
        return this.evaluate(slot, condition.step, this.functions.untils[condition.step], row, partial)
      }
      case 'not':
        return !this.holds(condition.of, row, partial)
      case 'and':
        for (const of of condition.of) if (!this.holds(of, row, partial)) return false
        return true
      case 'or':
        for (const of of condition.of) if (this.holds(of, row, partial)) return true
        return false
    }
  }

  /** A condition, from the event's cache when it is event-local. */
  private evaluate(
    slot: number,
    step: number,
    condition: ((event: unknown, context: MatchContext) => boolean) | null | undefined,
    row: unknown,
    partial: Partial,
  ): boolean {
    if (!this.eventLocal[step]) return this.call(condition, step, row, partial)
    const known = this.localResults[slot]
    if (known !== 0) return known === 1
    const result = this.call(condition, step, row, partial)
    this.localResults[slot] = result ? 1 : 2
    return result
  }

  /** A generated condition on the event; one that throws counts false and is reported once per event. */
  private call(
    condition: ((event: unknown, context: MatchContext) => boolean) | null | undefined,
    step: number,
    row: unknown,
    partial: Partial,
  ): boolean {
    if (condition === null || condition === undefined) return false
    try {
      return condition(row, contextOf(partial.events)) === true
    } catch (error) {
      if (!this.eventFailed) {
        this.eventFailed = true
        this.failures.push({ seq: this.currentSeq, error, site: step })
      }
      this.emitTrace({
        kind: 'fail',
        partial: partial.id,
        step,
        seq: this.currentSeq,
        error: error instanceof Error ? error.message : String(error),
      })
      return false
    }
  }

  // ---- time ------------------------------------------------------------------------------------

  /**
   * Flink's advanceTime for one key at `time`: partial matches whose `within` ran out end, as
   * timeouts or (absence at the end) as matches.
   */
  private expire(
    key: KeyState,
    keyId: number,
    time: number,
    matches: EngineMatch[],
    timeouts: EngineMatch[] | null,
  ): void {
    const kept: Partial[] = []
    const potential: Completed[] = []
    for (const partial of key.partials) {
      const ranOut = this.ranOutAt(partial, time)
      if (ranOut === null) {
        kept.push(partial)
      } else if (this.nfa.states[partial.state]?.kind === 'pending') {
        potential.push({ partial, time: ranOut })
      } else {
        if (timeouts !== null) {
          timeouts.push(toEngineMatch(keyId, partial, ranOut))
          this.emitTrace({ kind: 'timeout', partial: partial.id, seqs: seqsOf(partial.events) })
        }
        this.countDrop(partial, 'timeout', null)
      }
    }
    key.partials = kept
    // A timed-out partial match may free held matches; absences that ran out are matches.
    this.releaseCompleted(key, keyId, potential, matches)
  }

  /** When the partial match's window ran out if it did by `time` (the earlier of the two), else null. */
  private ranOutAt(partial: Partial, time: number): number | null {
    let ranOut = Number.POSITIVE_INFINITY
    const whole = this.nfa.windowMs
    if (whole !== null && time - partial.startTime >= whole) ranOut = partial.startTime + whole
    const step = this.nfa.states[partial.state]?.windowMs ?? null
    if (step !== null && time - partial.lastTime >= step) ranOut = Math.min(ranOut, partial.lastTime + step)
    return ranOut === Number.POSITIVE_INFINITY ? null : ranOut
  }

  // ---- matches and skip strategies ---------------------------------------------------------------

  /**
   * Flink's processMatchesAccordingToSkipStrategy: completed matches go out in start order; with a
   * skip strategy each waits until no partial match started earlier, and prunes what the strategy
   * says when it goes.
   */
  private releaseCompleted(
    key: KeyState,
    keyId: number,
    potential: Completed[],
    matches: EngineMatch[],
  ): void {
    if (potential.length > 0) key.completed = sortByStart([...key.completed, ...potential])
    while (key.completed.length > 0) {
      const earliest = key.completed[0] as Completed
      const earliestPartial = key.partials[0]
      const hold = this.skip.kind !== 'noSkip' && earliestPartial !== undefined
      if (hold && compareStart(earliest.partial, earliestPartial) > 0) break
      key.completed.shift()
      const pruneBefore = this.pruningPoint(earliest.partial.events)
      if (pruneBefore !== null) {
        key.partials = this.prune(key.partials, pruneBefore)
        key.completed = this.pruneCompleted(key.completed, pruneBefore)
      }
      this.emit(keyId, earliest, matches)
    }
  }

  /** The event (time, seq) the skip strategy prunes up to, from a match's events; null: nothing. */
  private pruningPoint(events: MatchedEvent | null): { time: number; seq: number } | null {
    const skip = this.skip
    if (skip.kind === 'noSkip') return null
    let point: MatchedEvent | null = null
    for (let e = events; e !== null; e = e.previous) {
      if (skip.kind === 'toNext')
        point = e // the list is newest first: the last visited is the first event
      else if (skip.kind === 'pastLastEvent') point ??= e
      else if (e.step === skip.step && (skip.kind === 'toFirst' || point === null)) point = e
    }
    return point === null ? null : { time: point.time, seq: point.seq }
  }

  /** Flink: to next and past last prune what started at or before the point; to first/last what started before it. */
  private shouldPrune(partial: Partial, point: { time: number; seq: number }): boolean {
    const c = partial.startTime - point.time || partial.startSeq - point.seq
    return this.skip.kind === 'toNext' || this.skip.kind === 'pastLastEvent' ? c <= 0 : c < 0
  }

  private prune(partials: Partial[], point: { time: number; seq: number }): Partial[] {
    const kept: Partial[] = []
    for (const partial of partials) {
      if (!this.shouldPrune(partial, point)) kept.push(partial)
      else this.countDrop(partial, 'skip', null)
    }
    return kept
  }

  private pruneCompleted(completed: Completed[], point: { time: number; seq: number }): Completed[] {
    const kept: Completed[] = []
    for (const c of completed) {
      if (!this.shouldPrune(c.partial, point)) kept.push(c)
      else this.countDrop(c.partial, 'skip', null)
    }
    return kept
  }

  private emit(keyId: number, completed: Completed, matches: EngineMatch[]): void {
    matches.push(toEngineMatch(keyId, completed.partial, completed.time))
    this.emitTrace({ kind: 'match', partial: completed.partial.id, seqs: seqsOf(completed.partial.events) })
  }

  // ---- budgets and bookkeeping -----------------------------------------------------------------

  /**
   * After a key's event: past maxPerKey the key's oldest partial matches go; past maxTotal, the
   * oldest of this key (the one that grew) go, so one busy key cannot evict quiet keys' matches.
   */
  private enforceBudget(key: KeyState, before: number): boolean {
    this.total += key.partials.length - before
    let drop = Math.max(0, key.partials.length - this.budget.maxPerKey)
    drop = Math.max(drop, Math.min(key.partials.length, this.total - this.budget.maxTotal))
    if (drop <= 0) return false
    for (const partial of key.partials.slice(0, drop)) this.countDrop(partial, 'budget', null)
    key.partials = key.partials.slice(drop)
    this.total -= drop
    return true
  }

  private storeKey(keyId: number, key: KeyState): void {
    this.changedKeys.add(keyId)
    if (key.partials.length === 0 && key.completed.length === 0) {
      this.keys.delete(keyId)
      return
    }
    if (!this.keys.has(keyId)) {
      key.order = this.held++
      this.keys.set(keyId, key)
    }
    let due = Number.POSITIVE_INFINITY
    for (const partial of key.partials) due = Math.min(due, this.expiryOf(partial))
    if (due !== key.due) {
      key.due = due
      if (due !== Number.POSITIVE_INFINITY) heapPushDue(this.dueHeap, { at: due, keyId })
    }
  }

  private countDrop(
    partial: Partial,
    reason: DropReason,
    seq: number | null,
    awaited?: readonly number[],
  ): void {
    this.droppedCounts[reason]++
    this.emitTrace(
      awaited === undefined
        ? { kind: 'drop', partial: partial.id, reason, seq }
        : { kind: 'drop', partial: partial.id, reason, seq, awaited },
    )
  }

  /**
   * For traces: the steps whose events a partial match in `state` could take next, through any
   * proceed edges (whatever their conditions), negated steps left out.
   */
  private awaitedSteps(state: number): number[] {
    const steps = new Set<number>()
    const seen = new Set<number>()
    const stack = [state]
    while (stack.length > 0) {
      const at = stack.pop() as number
      if (seen.has(at)) continue
      seen.add(at)
      for (const edge of this.nfa.states[at]?.edges ?? []) {
        if (edge.action === 'proceed') stack.push(edge.target)
        else if (edge.action === 'take' && this.nfa.states[edge.target]?.kind !== 'stop') steps.add(edge.step)
      }
    }
    return [...steps].sort((a, b) => a - b)
  }

  private emitTrace(entry: TraceEntry): void {
    if (this.trace !== null) this.trace(entry)
  }

  // ---- snapshots -------------------------------------------------------------------------------

  /**
   * The engine's state as bytes: the matched events of all partial matches as one table (a shared
   * prefix is written once; rows by node:v8), and per key its partial and held matches as indices
   * into it. A flat table rather than the linked lists themselves: serialising a long list
   * recursively could run out of stack.
   */
  snapshot(): Uint8Array {
    const table = new EventTable()
    const keys: [number, number[][], number[][]][] = []
    for (const [keyId, key] of this.keys) {
      const partials = key.partials.map((p) => partialRow(p, table))
      const completed = key.completed.map((c) => [...partialRow(c.partial, table), c.time])
      keys.push([keyId, partials, completed])
    }
    return serialize({
      version: SNAPSHOT_VERSION,
      states: this.nfa.states.length,
      nextId: this.nextId,
      dropped: this.droppedCounts,
      events: table.columns(),
      keys,
      stepTimeouts: this.stepTimeouts,
    })
  }

  restore(bytes: Uint8Array): void {
    const state = deserialize(bytes) as {
      version: number
      states: number
      nextId: number
      dropped: Record<DropReason, number>
      events: { steps: number[]; seqs: number[]; times: number[]; previous: number[]; rows: unknown[] }
      keys: [number, number[][], number[][]][]
      stepTimeouts: EngineMatch[]
    }
    if (state.version !== SNAPSHOT_VERSION) throw new Error('the CEP engine snapshot is of another version')
    // Partial matches name NFA states by index: a snapshot of another pattern cannot be read.
    if (state.states !== this.nfa.states.length)
      throw new Error('the CEP engine snapshot was taken with another pattern')
    const nodes: MatchedEvent[] = []
    const { steps, seqs, times, previous, rows } = state.events
    for (let i = 0; i < steps.length; i++) {
      const p = previous[i] as number
      nodes.push({
        step: steps[i] as number,
        row: rows[i],
        seq: seqs[i] as number,
        time: times[i] as number,
        previous: p < 0 ? null : (nodes[p] as MatchedEvent),
      })
    }
    const partialOf = (r: number[]): Partial => ({
      id: r[0] as number,
      state: r[1] as number,
      startTime: r[2] as number,
      startSeq: r[3] as number,
      lastTime: r[4] as number,
      events: (r[5] as number) < 0 ? null : (nodes[r[5] as number] as MatchedEvent),
    })
    this.keys = new Map()
    this.dueHeap = []
    this.held = 0
    this.total = 0
    for (const [keyId, partials, completed] of state.keys) {
      const key: KeyState = {
        partials: partials.map(partialOf),
        completed: completed.map((r) => ({ partial: partialOf(r), time: r[6] as number })),
        due: Number.NaN,
        order: 0,
      }
      this.total += key.partials.length
      this.storeKey(keyId, key)
    }
    this.nextId = state.nextId
    this.droppedCounts = { ...emptyDropped(), ...state.dropped }
    this.stepTimeouts = state.stepTimeouts
    this.changedKeys.clear()
  }

  // ---- one key at a time (incremental snapshots) -----------------------------------------------

  takeChangedKeys(): ArrayLike<number> {
    const keys = [...this.changedKeys]
    this.changedKeys.clear()
    return keys
  }

  exportKey(keyId: number): KeyMatches | null {
    const key = this.keys.get(keyId)
    if (key === undefined) return null
    const table = new EventTable()
    const partials: number[] = []
    for (const p of key.partials)
      partials.push(p.state, table.add(p.events), p.startTime, p.startSeq, p.lastTime)
    const held: number[] = []
    for (const c of key.completed) {
      const p = c.partial
      held.push(p.state, table.add(p.events), p.startTime, p.startSeq, p.lastTime, c.time)
    }
    const { steps, seqs, times, previous, rows } = table.columns()
    return {
      steps: Int32Array.from(steps),
      previous: Int32Array.from(previous),
      times: Float64Array.from(times),
      seqs: Float64Array.from(seqs),
      rows,
      partials: Float64Array.from(partials),
      held: Float64Array.from(held),
    }
  }

  importKey(keyId: number, matches: KeyMatches): void {
    if (this.keys.has(keyId)) throw new Error(`importKey: key ${keyId} holds partial matches`)
    const nodes: MatchedEvent[] = []
    for (let i = 0; i < matches.steps.length; i++) {
      const p = matches.previous[i] as number
      nodes.push({
        step: matches.steps[i] as number,
        row: matches.rows[i],
        seq: matches.seqs[i] as number,
        time: matches.times[i] as number,
        previous: p < 0 ? null : (nodes[p] as MatchedEvent),
      })
    }
    const partialAt = (fields: Float64Array, at: number): Partial => {
      const events = fields[at + 1] as number
      return {
        id: this.nextId++,
        state: fields[at] as number,
        startTime: fields[at + 2] as number,
        startSeq: fields[at + 3] as number,
        lastTime: fields[at + 4] as number,
        events: events < 0 ? null : (nodes[events] as MatchedEvent),
      }
    }
    const key: KeyState = { partials: [], completed: [], due: Number.NaN, order: 0 }
    for (let at = 0; at < matches.partials.length; at += PARTIAL_FIELDS)
      key.partials.push(partialAt(matches.partials, at))
    for (let at = 0; at < matches.held.length; at += HELD_FIELDS)
      key.completed.push({ partial: partialAt(matches.held, at), time: matches.held[at + 5] as number })
    this.total += key.partials.length
    this.storeKey(keyId, key)
    this.changedKeys.delete(keyId)
  }
}

/** Matched events written once each, parents before children (indices into the columns). */
class EventTable {
  private readonly index = new Map<MatchedEvent, number>()
  private readonly steps: number[] = []
  private readonly seqs: number[] = []
  private readonly times: number[] = []
  private readonly previous: number[] = []
  private readonly rows: unknown[] = []

  add(events: MatchedEvent | null): number {
    if (events === null) return -1
    const chain: MatchedEvent[] = []
    for (let e: MatchedEvent | null = events; e !== null && !this.index.has(e); e = e.previous) chain.push(e)
    for (let i = chain.length - 1; i >= 0; i--) {
      const e = chain[i] as MatchedEvent
      this.index.set(e, this.steps.length)
      this.steps.push(e.step)
      this.seqs.push(e.seq)
      this.times.push(e.time)
      this.previous.push(e.previous === null ? -1 : (this.index.get(e.previous) as number))
      this.rows.push(e.row)
    }
    return this.index.get(events) as number
  }

  columns(): { steps: number[]; seqs: number[]; times: number[]; previous: number[]; rows: unknown[] } {
    return { steps: this.steps, seqs: this.seqs, times: this.times, previous: this.previous, rows: this.rows }
  }
}

function partialRow(p: Partial, table: EventTable): number[] {
  return [p.id, p.state, p.startTime, p.startSeq, p.lastTime, table.add(p.events)]
}

function emptyDropped(): Record<DropReason, number> {
  return { timeout: 0, budget: 0, skip: 0, negation: 0, 'no-continuation': 0 }
}

function compareStart(a: Partial, b: Partial): number {
  return a.startTime - b.startTime || a.startSeq - b.startSeq
}

/**
 * Completed matches in emission order (decision 0024): by first event, then, for the same first
 * event (Flink leaves their order open, and under a skip strategy it decides which survives), by
 * their events: the earlier event at the first place they differ, a match that is a prefix of the
 * other first, then by the steps. Stable, so only identical matches keep the order they were found in.
 */
function sortByStart(completed: Completed[]): Completed[] {
  if (completed.length < 2) return completed
  // The events are listed only for matches that tie on their start (rare).
  const listed = new Map<Completed, MatchedEvent[]>()
  const eventsOf = (c: Completed): MatchedEvent[] => {
    let events = listed.get(c)
    if (events === undefined) {
      events = eventsInOrder(c.partial.events)
      listed.set(c, events)
    }
    return events
  }
  return [...completed].sort(
    (x, y) => compareStart(x.partial, y.partial) || compareEvents(eventsOf(x), eventsOf(y)),
  )
}

/** Two matches' events (oldest first): by (time, seq) at the first place they differ, then length, then steps. */
function compareEvents(a: readonly MatchedEvent[], b: readonly MatchedEvent[]): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i] as MatchedEvent
    const y = b[i] as MatchedEvent
    if (x !== y && (x.time !== y.time || x.seq !== y.seq)) return x.time - y.time || x.seq - y.seq
  }
  if (a.length !== b.length) return a.length - b.length
  for (let i = 0; i < n; i++) {
    const d = (a[i] as MatchedEvent).step - (b[i] as MatchedEvent).step
    if (d !== 0) return d
  }
  return 0
}

/** The events of a partial match, oldest first. */
function eventsInOrder(events: MatchedEvent | null): MatchedEvent[] {
  const list: MatchedEvent[] = []
  for (let e = events; e !== null; e = e.previous) list.push(e)
  return list.reverse()
}

function seqsOf(events: MatchedEvent | null): number[] {
  return eventsInOrder(events).map((e) => e.seq)
}

function toEngineMatch(keyId: number, partial: Partial, time: number): EngineMatch {
  const events = eventsInOrder(partial.events)
  return {
    keyId,
    steps: events.map((e) => e.step),
    rows: events.map((e) => e.row),
    seqs: events.map((e) => e.seq),
    time,
  }
}

/** A step's events in a partial match, for conditions (its own step: the events so far). */
function contextOf(events: MatchedEvent | null): MatchContext {
  return {
    events(step: number): readonly unknown[] {
      const rows: unknown[] = []
      for (let e = events; e !== null; e = e.previous) if (e.step === step) rows.push(e.row)
      return rows.reverse()
    },
  }
}

/** A MatchContext over an engine match (the operator's select and timeout read it). */
export function matchContext(match: EngineMatch): MatchContext {
  return {
    events(step: number): readonly unknown[] {
      const rows: unknown[] = []
      for (let i = 0; i < match.steps.length; i++) if (match.steps[i] === step) rows.push(match.rows[i])
      return rows
    },
  }
}

function heapPushDue(heap: DueEntry[], entry: DueEntry): void {
  let i = heap.length
  heap.push(entry)
  while (i > 0) {
    const parent = (i - 1) >> 1
    if ((heap[parent] as DueEntry).at <= entry.at) break
    heap[i] = heap[parent] as DueEntry
    i = parent
  }
  heap[i] = entry
}

function heapPopDue(heap: DueEntry[]): DueEntry {
  const top = heap[0] as DueEntry
  const last = heap.pop() as DueEntry
  if (heap.length > 0) {
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= heap.length) break
      const right = left + 1
      const child =
        right < heap.length && (heap[right] as DueEntry).at < (heap[left] as DueEntry).at ? right : left
      if ((heap[child] as DueEntry).at >= last.at) break
      heap[i] = heap[child] as DueEntry
      i = child
    }
    heap[i] = last
  }
  return top
}
