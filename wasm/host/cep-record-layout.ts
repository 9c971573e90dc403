/**
 * Which partial-match record the CEP kernel (wasm/kernels/cep.ts) keeps for a pattern: the inline
 * one (NFA state, start time and the events themselves: 24 or 32 bytes), the compact one (16
 * bytes: NFA state, path node, start time) or the full one (40 bytes: and start seq, last event's
 * time, expiry). Decision 0032 and its addenda.
 *
 * A compact record derives the other three, which is exact when:
 * - no NFA state has a step window (a step's `within`): then a partial match expires at its start
 *   plus the pattern's `within` (its last event's time does not count), and the decision graph
 *   never reads the last event's time;
 * - there is no skip strategy: then the start seq is read only to order matches that started at
 *   the same time (and for snapshots), rare enough to be read from the path (its oldest node),
 *   where it is (a partial match's path starts at its first event, and its newest node is its last
 *   event, whose time is the last event's time).
 * An inline record is a compact one whose events are kept in the record (their step and the index
 * of the event in the kernel's ring of taken events) instead of a path of nodes; it needs, besides:
 * - a whole-pattern `within`: a ring entry is dropped once the watermark is past the latest start
 *   of a partial match that took it plus the `within` (no reference counting);
 * - a bound on the events of a computation state, at most INLINE_MAX_EVENTS: no cycle of the NFA
 *   takes an event (an unbounded quantifier such as `a+` has one), and no path from the start
 *   takes more.
 * Every other pattern keeps the full record; all step the same NFA by the same rules.
 */
import type { Nfa } from '../../runtime/cep/nfa-types.ts'
import type { PatternSpec } from '../../runtime/cep/pattern-spec.ts'

export type RecordLayout = 'inline' | 'compact' | 'full'

/** The most events an inline computation state holds (the kernel's INLINE_MAX_EVENTS). */
export const INLINE_MAX_EVENTS = 4

export function recordLayout(nfa: Nfa, skip: PatternSpec['skip']): RecordLayout {
  if (skip.kind !== 'noSkip') return 'full'
  if (!nfa.states.every((state) => state.windowMs === null)) return 'full'
  if (nfa.windowMs === null || !Number.isFinite(nfa.windowMs)) return 'compact'
  const most = mostEventsTaken(nfa)
  return most !== null && most.any <= INLINE_MAX_EVENTS ? 'inline' : 'compact'
}

/**
 * Events an inline record holds for the pattern (2 or 4: the kernel's record is 24 or 32 bytes):
 * enough for the most a stored partial match (a state that is not final or stop) takes.
 */
export function inlineSlots(nfa: Nfa): 2 | 4 {
  const most = mostEventsTaken(nfa)
  if (most === null) throw new RangeError('the pattern takes unboundedly many events: no inline records')
  return most.stored <= 2 ? 2 : 4
}

/**
 * The most events a computation state can hold in each state, as the maximum over every state
 * (`any`) and over the states a partial match is stored in (`stored`: not final, not stop); null
 * when a cycle takes an event. The kernel's stepping as a graph of "at rest in s" (a computation
 * state at s) and "passing s" (s in an event's PROCEED closure): rest goes on to passing unless s
 * is final or stop (those end: a negated step's STOP state takes its event, but nothing follows),
 * TAKE leads to rest with one event more, IGNORE to rest, PROCEED to passing, and passing a final
 * state is a match at rest there. Longest paths by Bellman–Ford (weights 0 and 1): still growing
 * after as many rounds as there are nodes means a cycle with a take.
 */
export function mostEventsTaken(nfa: Nfa): { any: number; stored: number } | null {
  const n = nfa.states.length
  const rest = new Array<number>(n).fill(-1)
  const passing = new Array<number>(n).fill(-1)
  passing[nfa.start] = 0
  const raise = (list: number[], s: number, to: number): boolean => {
    if (to <= list[s]!) return false
    list[s] = to
    return true
  }
  for (let round = 0; round <= 2 * n; round++) {
    let changed = false
    nfa.states.forEach((state, s) => {
      const ends = state.kind === 'final' || state.kind === 'stop'
      if (rest[s]! >= 0 && !ends) changed = raise(passing, s, rest[s]!) || changed
      const here = passing[s]!
      if (here < 0) return
      if (state.kind === 'final') changed = raise(rest, s, here) || changed
      for (const edge of state.edges) {
        if (edge.action === 'proceed') changed = raise(passing, edge.target, here) || changed
        else changed = raise(rest, edge.target, here + (edge.action === 'take' ? 1 : 0)) || changed
      }
    })
    if (!changed) {
      let any = 0
      let stored = 0
      nfa.states.forEach((state, s) => {
        any = Math.max(any, rest[s]!)
        if (state.kind !== 'final' && state.kind !== 'stop') stored = Math.max(stored, rest[s]!)
      })
      return { any, stored }
    }
  }
  return null
}

/** The record's size in the kernel, bytes (inline records: 16 plus 4 per slot). */
export const RECORD_BYTES: Readonly<Record<Exclude<RecordLayout, 'inline'>, number>> = {
  compact: 16,
  full: 40,
}
