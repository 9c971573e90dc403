/**
 * The contract between the CEP operator (runtime/cep/cep-operator.ts: keys, event-time buffering,
 * watermarks, late events, checkpoints, metrics) and a pattern engine that steps partial matches
 * (the TypeScript NFA, runtime/cep/nfa.ts, or the WebAssembly kernel, wasm/host/cep-kernel.ts).
 * Both engines run the NFA that runtime/cep/nfa-compile.ts builds from a PatternSpec
 * (runtime/cep/pattern-spec.ts), so they agree by construction of the automaton and differ only in
 * where its partial matches live; the property tests compare both with a brute-force reference.
 */
import type { PatternSpec } from './pattern-spec.ts'

/** The events matched so far (or in a match) by each step, as a condition or `select` reads them. */
export interface MatchContext {
  /** The events step `step` matched, in order; empty when it matched none. */
  events(step: number): readonly unknown[]
}

/**
 * A step's condition (or `until`) on an event, given the partial match it would extend. Throws an
 * EvaluationError when the expression fails (the operator reports it; the condition counts false).
 */
export type StepCondition = (event: unknown, context: MatchContext) => boolean

/** The generated part of a `match` step (compiler/codegen/cep.ts writes it). */
export interface CepFunctions {
  /** Per step: its condition (a negated step's too: the event that would stop the match). */
  readonly conditions: readonly StepCondition[]
  /** Per step: its `until` condition, or null. */
  readonly untils: readonly (StepCondition | null)[]
  /**
   * Evaluates, for the first `n` events of `rows`, every event-local condition (steps whose `reads`
   * are empty): bit s of `masks[i]` is step s's condition on event i, bit 16 + s its `until`.
   * Events whose evaluation failed get `failed[i] = 1` and an entry in `errors`. Absent when no
   * step's condition is event-local.
   */
  readonly masks?: (
    rows: readonly unknown[],
    n: number,
    masks: Uint32Array,
    failed: Uint8Array,
    errors: { index: number; error: unknown; site: number }[],
  ) => void
  /** The key string of an event (`match by` key), null for a null key; throws an EvaluationError on failure. */
  key(event: unknown): string | null
  /** The output record of a match. `key` is the key string. */
  select(context: MatchContext, key: string): unknown
  /** The record of a timed-out partial match (`timeout into`), when the step has one. */
  readonly timeout: ((context: MatchContext, key: string, timedOutAt: number) => unknown) | null
}

/** Events released in event-time order, as parallel columns (the first `length` entries count). */
export interface ReleasedEvents {
  length: number
  /** The operator's dense id of the event's key string. */
  keyIds: Int32Array
  times: Float64Array
  /** Arrival order within the partition (ties of equal time go by it), never reused. */
  seqs: Float64Array
  rows: unknown[]
  /** Bitmasks from CepFunctions.masks, when the engine asked for them (`wantsMasks`). */
  masks: Uint32Array
}

/** A match, or a timed-out partial match. */
export interface EngineMatch {
  readonly keyId: number
  /** Step index of each matched event, in match order (event order). */
  readonly steps: readonly number[]
  readonly rows: readonly unknown[]
  readonly seqs: readonly number[]
  /** The event time it is emitted at: its last event's, or (absence at the end, timeouts) the time it expired. */
  readonly time: number
}

/** Why a partial match ended without a match (explain, metrics). */
export type DropReason = 'timeout' | 'budget' | 'skip' | 'negation' | 'no-continuation'

/** One thing the NFA did with one event (`sluice explain`). */
export type TraceEntry =
  | {
      readonly kind: 'start' | 'take' | 'ignore'
      readonly partial: number
      readonly step: number
      readonly seq: number
    }
  | {
      readonly kind: 'fail'
      readonly partial: number
      readonly step: number
      readonly seq: number
      readonly error?: string
    }
  | {
      readonly kind: 'drop'
      readonly partial: number
      readonly reason: DropReason
      readonly seq: number | null
      /** no-continuation: the steps the partial match could have gone on with (their conditions failed). */
      readonly awaited?: readonly number[]
    }
  | { readonly kind: 'match' | 'timeout'; readonly partial: number; readonly seqs: readonly number[] }

/**
 * One key's partial and held matches in a form both engines write and read (incremental
 * snapshots: runtime/cep/key-snapshots.ts), so a key's state can be taken out of an engine and put
 * into a fresh one. Numbers are in typed arrays (copied as bytes when encoded, no object per
 * event).
 */
export interface KeyMatches {
  /**
   * The matched events, each once however many partial matches share it, a path's older events
   * before its newer ones: per event its step, the index of the event before it in its path (-1:
   * none), its time, seq and row.
   */
  readonly steps: Int32Array
  readonly previous: Int32Array
  readonly times: Float64Array
  readonly seqs: Float64Array
  readonly rows: readonly unknown[]
  /** Partial matches in the key's order, PARTIAL_FIELDS numbers each: NFA state, newest event (index, -1: none), start time, start seq, last event's time. */
  readonly partials: Float64Array
  /** Held matches (waiting for an earlier-started partial match) in emission order, HELD_FIELDS each: the partial's fields, then the match's time. */
  readonly held: Float64Array
}

export const PARTIAL_FIELDS = 5
export const HELD_FIELDS = 6

export interface EngineBudget {
  /** Partial matches one key may hold; when a new one would pass it, the key's oldest is dropped. */
  readonly maxPerKey: number
  /** Partial matches the operator may hold over all keys; past it, the oldest of the key that grows is dropped. */
  readonly maxTotal: number
}

export interface PatternEngine {
  /** Whether step() needs `masks` filled (the kernel) or evaluates conditions on rows itself. */
  readonly wantsMasks: boolean
  /** Partial matches held now, over all keys. */
  readonly partialMatches: number
  /** Partial matches dropped since the start, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>
  /**
   * Steps the released events through the NFA. Each key's events come in (time, seq) order and
   * after any the engine saw before; keys may interleave.
   */
  step(
    events: ReleasedEvents,
    matches: EngineMatch[],
    failures: { seq: number; error: unknown; site: number }[],
  ): void
  /**
   * Steps `events` in `count` segments (segment j: events ends[j-1] … ends[j]-1; an empty one only
   * advances), each as step(its events) then advanceTime(watermarks[j], …, timeouts) would, one
   * after another: the same partial matches, drops, budget checks and outputs in the same order.
   * The operator hands a batch's released events over at once (cep-operator.ts); per segment,
   * `out` gets its matches (the step's, then the advance's), timeouts (found while stepping, then
   * by the advance) and failures, and their lists' lengths after it in the `…Ends` arrays.
   * After a segment's advance, each of its events i with `emptyChecks[i]` not 0 gets keyIsEmpty of
   * its key there, as 2 (emptied and forgotten) or 1 (holds something): the operator asked at
   * each release before (cep-operator.ts frees such keys).
   */
  stepSegments(
    events: ReleasedEvents,
    ends: Int32Array,
    watermarks: Float64Array,
    count: number,
    out: SegmentOutputs,
    emptyChecks: Uint8Array,
  ): void
  /**
   * The watermark passed `watermark`: partial matches whose `within` (or a negated step's span at
   * the end) ran out end now: timeouts (when `timeouts` is given) or, for absence at the end, matches.
   */
  advanceTime(watermark: number, matches: EngineMatch[], timeouts: EngineMatch[] | null): void
  /**
   * The earliest watermark at which advanceTime may end a partial match (its whole or step
   * `within` ran out), +Infinity when none can: a lower bound (the kernel's timers may be stale),
   * never later than a real expiry. The operator asks after each advance, so that it advances at
   * the record whose watermark passes the span (cep-operator.ts), not at the batch's last one.
   */
  nextDue(): number
  /** Forgets a key (it holds no partial match); the operator may reuse its id. */
  keyIsEmpty(keyId: number): boolean
  snapshot(): Uint8Array
  restore(bytes: Uint8Array): void
  /**
   * The keys whose partial or held matches changed (stepped, expired, dropped, emptied) since the
   * last call (or the start or a restore), each at least once; the list starts anew. Call it
   * between an advanceTime and the next step (the operator always advances after stepping, so no
   * timeout found while stepping is waiting then).
   */
  takeChangedKeys(): ArrayLike<number>
  /** The key's partial and held matches, null when it holds none; valid until the next call (the kernel reuses its arrays). */
  exportKey(keyId: number): KeyMatches | null
  /** Gives a key that holds nothing the partial and held matches `matches` (from exportKey of an engine of the same pattern). */
  importKey(keyId: number, matches: KeyMatches): void
  /** Set to record what happens (explain); null to stop. */
  trace: ((entry: TraceEntry) => void) | null
}

/** What stepSegments hands back, segment by segment (segment j's: from ends[j-1] to ends[j] of each list). */
export interface SegmentOutputs {
  readonly matches: EngineMatch[]
  readonly matchEnds: number[]
  readonly timeouts: EngineMatch[]
  readonly timeoutEnds: number[]
  readonly failures: { seq: number; error: unknown; site: number }[]
  readonly failureEnds: number[]
}

export function emptySegmentOutputs(): SegmentOutputs {
  return { matches: [], matchEnds: [], timeouts: [], timeoutEnds: [], failures: [], failureEnds: [] }
}

/**
 * stepSegments by the definition: step and advanceTime per segment (the TypeScript engine, whose
 * calls cost nothing to cross).
 */
export function stepSegmentsOneByOne(
  engine: PatternEngine,
  events: ReleasedEvents,
  ends: Int32Array,
  watermarks: Float64Array,
  count: number,
  out: SegmentOutputs,
  emptyChecks: Uint8Array,
): void {
  let from = 0
  for (let j = 0; j < count; j++) {
    const to = Math.min(ends[j] as number, events.length)
    if (to > from)
      engine.step(
        {
          length: to - from,
          keyIds: events.keyIds.subarray(from, to),
          times: events.times.subarray(from, to),
          seqs: events.seqs.subarray(from, to),
          rows: events.rows.slice(from, to),
          masks: events.masks.length === 0 ? events.masks : events.masks.subarray(from, to),
        },
        out.matches,
        out.failures,
      )
    engine.advanceTime(watermarks[j] as number, out.matches, out.timeouts)
    out.matchEnds.push(out.matches.length)
    out.timeoutEnds.push(out.timeouts.length)
    out.failureEnds.push(out.failures.length)
    for (let i = from; i < to; i++)
      if (emptyChecks[i] !== 0) emptyChecks[i] = engine.keyIsEmpty(events.keyIds[i] as number) ? 2 : 1
    from = Math.max(from, to)
  }
}

export type PatternEngineFactory = (
  spec: PatternSpec,
  functions: CepFunctions,
  budget: EngineBudget,
) => PatternEngine
