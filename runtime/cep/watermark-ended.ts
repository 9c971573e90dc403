/**
 * Which patterns emit something when the watermark alone ends a partial match (issues 13/14;
 * docs/decisions/0020, fourth addendum). The CepOperator then advances the engine's time record by
 * record, at the first source record whose watermark passes a partial match's span, as windows
 * fire (EventTimeOperator.fireThrough), instead of at the batch's last record: so where such an
 * output lands does not depend on batch cuts, and it is never behind the watermark it is met at
 * downstream.
 *
 * An expiry emits something when the partial match is at a pending state (absence at the end: it
 * becomes a match), when the step has a `timeout into` stream, or when a skip strategy holds a
 * match back until no earlier-started partial match remains (the expiry of that one releases it).
 * Without a `within` (whole or on a step) nothing expires. Other patterns expire partial matches
 * silently: the operator advances their engine at each record's watermark before it steps what the
 * next record releases, with no bisection for the engine's expiry (decision 0032, addendum of 16:25).
 */
import type { Nfa } from './nfa-types.ts'
import type { SkipStrategy } from './pattern-spec.ts'

export function endsByWatermark(nfa: Nfa, skip: SkipStrategy, reportsTimeouts: boolean): boolean {
  const expires = nfa.windowMs !== null || nfa.states.some((state) => state.windowMs !== null)
  if (!expires) return false
  return reportsTimeouts || skip.kind !== 'noSkip' || nfa.states.some((state) => state.kind === 'pending')
}
