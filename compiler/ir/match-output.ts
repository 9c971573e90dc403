/**
 * The output watermark of a `match` step, which a join side or a window over its results follows
 * (specs/language.md, "Joins and windows over matches"; docs/decisions/0020, fourth addendum).
 * runtime/cep/match-output.ts states the same rule for the runner (the compiler and the runtime
 * share no code).
 *
 * A match completed by an event is emitted at the record that released that event, timed by it;
 * what the watermark alone ends (absence at the end, a timeout) at the record whose watermark
 * passed its span, timed by the span's end (runtime/cep/cep-operator.ts). Met as of the record
 * before, as a window's result is, neither is behind the source's watermark. A skip strategy may
 * hold a match back until no partial match that started earlier remains: such a partial match
 * ends by the pattern's `within` after its start, which is before the held match's last event, so
 * the match comes at most `within` behind. The output watermark is therefore the source's
 * watermark held back by nothing without a skip strategy, by the pattern's `within` with one; a
 * skip strategy with no `within` on the whole pattern holds matches back without bound (+Infinity:
 * the checker refuses reading it, E0447).
 */
export function matchOutputHoldMs(match: {
  readonly skip: { readonly kind: string }
  readonly withinMs: number | null
}): number {
  if (match.skip.kind === 'noSkip') return 0
  return match.withinMs ?? Number.POSITIVE_INFINITY
}
