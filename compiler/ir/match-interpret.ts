/**
 * The reference interpreter's `match` operator (complex event processing): event time, keys and
 * late events as the runtime's CepOperator keeps them, and the matching itself by the brute-force
 * reference matcher (cep-semantics.ts), which shares no code with the runtime's NFA.
 *
 * Event time: the watermark is the window operators' (its source's largest event time less the
 * delay, ticked after every source record). An event before the watermark as of the record
 * before its own is late (Flink's rule in Sluice's watermark terms, decision 0024): it goes to the
 * `late into` stream, else to the dead letters (an EvaluationError with the runtime's reason).
 * Other events wait per key until the watermark passes them.
 *
 * Matching: whenever a tick moves the watermark, each key's released events are matched from
 * scratch (conformance inputs are small), the time advancing to every watermark ticked so far as
 * the runtime's operator advances every key on every watermark (it advances only where something
 * is due, which ends the same partial matches at the same records: what the watermark alone ends
 * comes at the record whose watermark passes its span, never later), and what the matcher finds that
 * was not emitted before is emitted now, in the runtime's order: the matches found while the newly
 * released events are stepped, in (time, arrival) order across keys (those ended by the time
 * advance before an event first); then those the advance to the watermark ends, key by key (in
 * the order the engine began to hold each key); then the timeouts in the same two groups. A match
 * is timed by its last event (absence at the end: when its span ran out), a timeout by when its
 * span ran out; the key travels as the event key.
 *
 * Left to the reference's rules: the timeouts of one key that run out at one time come once each,
 * ordered by their events (the runtime's NFA emits one per automaton state holding the prefix, in
 * the order of its states), and a condition that fails counts as false without a report (the
 * runtime dead-letters the event once, when its NFA evaluated that condition).
 */
import { EvaluationError } from '../../stdlib/eval-error.ts'
import {
  type RefContext,
  type RefEvent,
  type RefMatch,
  type RefPoint,
  referenceMatch,
} from './cep-semantics.ts'
import type { InterpreterEvent } from './interpret.ts'
import type { MatchNode } from './types.ts'

/** An expression of a `match` step, over the current event (null: none) and the steps' events. */
export type StepEvaluator = (event: Record<string, unknown> | null, context: RefContext) => unknown

/** The match node's expressions, compiled by the interpreter's own expression evaluator. */
export interface MatchEvaluators {
  /** The key string of an event (null: the event is left out); '' for all without `by`. */
  readonly key: (event: Record<string, unknown>) => string | null
  readonly conditions: readonly StepEvaluator[]
  readonly untils: readonly (StepEvaluator | null)[]
  /** The output record of a match, and of a timed-out partial match (null: no `timeout into`). */
  readonly select: StepEvaluator
  readonly timeout: StepEvaluator | null
}

interface Target {
  push(event: InterpreterEvent): void
}

export interface MatchClock {
  /** The watermark of the match's source now. */
  watermark(): number
  /** Runs `tick` after every record of the match's source, once the watermark moved with it. */
  onTick(tick: () => void): void
  report(error: EvaluationError): void
}

/** One key's events and what was emitted for it so far. */
interface KeyState {
  readonly released: RefEvent[]
  readonly waiting: RefEvent[]
  /** Emitted matches by identity (steps, events, time), counted. */
  readonly emitted: Map<string, number>
  readonly timedOut: Set<string>
  /** Per released event (by seq): how many watermark advances were made before its release. */
  readonly releasedAt: Map<number, number>
}

/** Something to emit, with where the runtime would emit it in one watermark's output. */
interface Pending {
  readonly key: string
  readonly match: RefMatch
  readonly values: readonly unknown[]
  /** 0: while the released events are stepped; 1: at the advance to the watermark. */
  readonly group: 0 | 1
  /**
   * Group 0: the event's time and arrival, and 0 for the time advance before it, 1 for the event;
   * group 1: the time and arrival of the event since which the engine holds the key.
   */
  readonly order: readonly number[]
}

export function matchOperator(
  node: MatchNode,
  evaluators: MatchEvaluators,
  emit: Target,
  late: Target | null,
  timeouts: Target | null,
  clock: MatchClock,
): Target {
  const spec = { steps: node.steps, pattern: node.pattern, withinMs: node.withinMs, skip: node.skip }
  const truth =
    (evaluate: StepEvaluator) =>
    (event: unknown, context: RefContext): boolean =>
      evaluate(event as Record<string, unknown>, context) === true
  const functions = {
    conditions: evaluators.conditions.map(truth),
    untils: evaluators.untils.map((until) => (until === null ? null : truth(until))),
  }
  const keys = new Map<string, KeyState>()
  /** The watermarks the time advanced to, in order (every key advances on each). */
  const advances: number[] = []
  let watermarkBefore = Number.NEGATIVE_INFINITY
  let arrivals = 0

  const contextOf = (match: RefMatch, values: readonly unknown[]): RefContext => ({
    events: (step) => values.filter((_, i) => match.steps[i] === step),
  })
  const output = (target: Target, evaluate: StepEvaluator, item: Pending) => {
    let value: unknown
    try {
      value = evaluate(null, contextOf(item.match, item.values))
    } catch (error) {
      if (!(error instanceof EvaluationError)) throw error
      clock.report(error)
      return
    }
    target.push({ value: value as Record<string, unknown>, key: item.key, timestamp: item.match.time })
  }

  /** What key `key` emits at watermark `watermark`, given the events released at it (`fresh`). */
  const collect = (key: string, state: KeyState, watermark: number, fresh: readonly RefEvent[]) => {
    const result = referenceMatch(spec, functions, state.released, {
      finalWatermark: watermark,
      advanceTimes: advances,
    })
    const bySeq = new Map(state.released.map((e) => [e.seq, e.value]))
    const valuesOf = (m: RefMatch) => m.seqs.map((seq) => bySeq.get(seq))
    const sorted = [...state.released].sort((a, b) => a.time - b.time || a.seq - b.seq)
    // The runtime's advance goes key by key in the order the engine last began to hold each: by
    // the event after which the key held something, having held nothing before it. The engine
    // forgets a key only after stepping an event (the time advance to the event's time included)
    // or after advancing to a watermark.
    // An advance to an event's time is the runtime stepping that event, unless a watermark went
    // there at an earlier record than the one that released the event: then the key was advanced
    // (and may have been forgotten) before the event came. A watermark that releases an event at
    // its own time advances the key after stepping it.
    const eventTimes = new Set(sorted.map((e) => e.time))
    const steppingOnly = (time: number) => {
      const watermark = advances.indexOf(time)
      return (
        watermark < 0 ||
        sorted.some(
          (e) => e.time === time && (state.releasedAt.get(e.seq) ?? Number.POSITIVE_INFINITY) <= watermark,
        )
      )
    }
    let holdingSince: readonly number[] = [Number.POSITIVE_INFINITY]
    let held = false
    result.points.forEach((point, k) => {
      if (k === result.points.length - 1) return // the advance to the watermark itself
      if (point.kind === 'advance' && eventTimes.has(point.time) && steppingOnly(point.time)) return
      const now = result.holding[k]!
      if (point.kind === 'event' && now && !held) {
        const event = sorted[point.index]!
        holdingSince = [event.time, event.seq]
      }
      held = now
    })
    /** Where the runtime emits what the matcher found at point `point` (see Pending). */
    const placed = (point: RefPoint | undefined): Pick<Pending, 'group' | 'order'> => {
      if (point?.kind === 'event') {
        const event = sorted[point.index]!
        if (fresh.includes(event)) return { group: 0, order: [event.time, event.seq, 1] }
      } else if (point !== undefined) {
        // The runtime advances a key to an event's time before it steps the event.
        const event = fresh.find((e) => e.time === point.time)
        if (event !== undefined) return { group: 0, order: [event.time, event.seq, 0] }
      }
      return { group: 1, order: holdingSince }
    }
    const matches: Pending[] = []
    const seen = new Map<string, number>()
    result.matches.forEach((match, i) => {
      const id = `${match.steps.join(',')}|${match.seqs.join(',')}|${match.time}`
      const count = (seen.get(id) ?? 0) + 1
      seen.set(id, count)
      if (count <= (state.emitted.get(id) ?? 0)) return
      state.emitted.set(id, count)
      matches.push({ key, match, values: valuesOf(match), ...placed(result.points[result.emittedAt[i]!]) })
    })
    const expired: Pending[] = []
    for (const timeout of result.timeouts) {
      const id = `${timeout.steps.join(',')}|${timeout.seqs.join(',')}`
      if (state.timedOut.has(id)) continue
      state.timedOut.add(id)
      // A span runs out at the first time advance that reaches it.
      const point = result.points.find((p) => p.kind === 'advance' && p.time >= timeout.time)
      expired.push({ key, match: timeout, values: valuesOf(timeout), ...placed(point) })
    }
    return { matches, expired }
  }

  clock.onTick(() => {
    const watermark = clock.watermark()
    watermarkBefore = watermark
    const last = advances[advances.length - 1] ?? Number.NEGATIVE_INFINITY
    const advancing = watermark > last
    // An event at the watermark is on time, and released at the next record even when the
    // watermark stays where it is (the runtime releases whatever is due at each record).
    if (!advancing && ![...keys.values()].some((s) => s.waiting.some((e) => e.time <= watermark))) return
    const matches: Pending[] = []
    const expired: Pending[] = []
    for (const [key, state] of keys) {
      const fresh = state.waiting.filter((e) => e.time <= watermark)
      if (fresh.length > 0) {
        state.released.push(...fresh)
        for (const e of fresh) state.releasedAt.set(e.seq, advances.length)
        state.waiting.splice(0, state.waiting.length, ...state.waiting.filter((e) => e.time > watermark))
      }
      if (state.released.length === 0) continue
      const found = collect(key, state, watermark, fresh)
      matches.push(...found.matches)
      expired.push(...found.expired)
    }
    if (advancing) advances.push(watermark)
    for (const item of inRuntimeOrder(matches)) output(emit, evaluators.select, item)
    const timeout = evaluators.timeout
    if (timeouts !== null && timeout !== null)
      for (const item of inRuntimeOrder(expired)) output(timeouts, timeout, item)
  })

  return {
    push: (event) => {
      if (!(event.timestamp >= watermarkBefore)) {
        if (late === null) throw new EvaluationError(cepLateReason(event.timestamp, watermarkBefore))
        late.push(event)
        return
      }
      const key = evaluators.key(event.value)
      if (key === null) return // as windows leave out events whose key is null
      let state = keys.get(key)
      if (state === undefined) {
        state = { released: [], waiting: [], emitted: new Map(), timedOut: new Set(), releasedAt: new Map() }
        keys.set(key, state)
      }
      state.waiting.push({ value: event.value, time: event.timestamp, seq: arrivals++ })
    },
  }
}

/** Group 0, then group 1, each by its order; stable otherwise. */
function inRuntimeOrder(items: readonly Pending[]): Pending[] {
  return items
    .map((item, i) => ({ item, i }))
    .sort((a, b) => {
      if (a.item.group !== b.item.group) return a.item.group - b.item.group
      for (let k = 0; k < a.item.order.length; k++) {
        const d = a.item.order[k]! - b.item.order[k]!
        if (d !== 0) return d
      }
      return a.i - b.i
    })
    .map(({ item }) => item)
}

/** The reason a late event of a `match` gives in the dead letters (the runtime's words). */
export function cepLateReason(time: number, watermark: number): string {
  return `late event: its event time ${new Date(time).toISOString()} is before the watermark ${new Date(watermark).toISOString()}, and a match takes each key's events in event-time order`
}
