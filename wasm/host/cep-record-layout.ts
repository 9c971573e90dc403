/**
 * Which partial-match record the CEP kernel (wasm/kernels/cep.ts) keeps for a pattern: the compact
 * one (16 bytes: NFA state, path node, start time) or the full one (40 bytes: and start seq, last
 * event's time, expiry). Decision 0032, addendum.
 *
 * A compact record derives the other three, which is exact when:
 * - no NFA state has a step window (a step's `within`): then a partial match expires at its start
 *   plus the pattern's `within` (its last event's time does not count), and the decision graph
 *   never reads the last event's time;
 * - there is no skip strategy: then the start seq is read only to order matches that started at
 *   the same time (and for snapshots), rare enough to be read from the path (its oldest node),
 *   where it is (a partial match's path starts at its first event, and its newest node is its last
 *   event, whose time is the last event's time).
 * Every other pattern keeps the full record; both step the same NFA by the same rules.
 */
import type { Nfa } from '../../runtime/cep/nfa-types.ts'
import type { PatternSpec } from '../../runtime/cep/pattern-spec.ts'

export type RecordLayout = 'compact' | 'full'

export function recordLayout(nfa: Nfa, skip: PatternSpec['skip']): RecordLayout {
  if (skip.kind !== 'noSkip') return 'full'
  return nfa.states.every((state) => state.windowMs === null) ? 'compact' : 'full'
}

/** The record's size in the kernel, bytes. */
export const RECORD_BYTES: Readonly<Record<RecordLayout, number>> = { compact: 16, full: 40 }
