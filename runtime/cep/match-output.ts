/**
 * The output watermark of a `match` step for the runner (the compiler states the same rule in
 * compiler/ir/match-output.ts, which explains it; docs/decisions/0020, fourth addendum): the
 * source's watermark held back by nothing without a skip strategy, by the pattern's `within` with
 * one (a held match comes at most that far behind); +Infinity for a skip strategy without a
 * `within`, which the compiler refuses to read (E0447).
 */
import { type GraphNode, inputsOf } from '../artifact/manifest.ts'
import type { PatternSpec } from './pattern-spec.ts'

export function matchOutputHoldMs(match: Pick<PatternSpec, 'skip' | 'withinMs'>): number {
  if (match.skip.kind === 'noSkip') return 0
  return match.withinMs ?? Number.POSITIVE_INFINITY
}

/**
 * Whether the events of `node` are a match's results (or its timeouts), directly or through
 * stateless steps: a join side over them takes a tick's batch, since what the tick's watermark
 * ended (absence at the end, timeouts) must be joined (pipeline-runner.ts).
 */
export function readsMatchResults(
  node: GraphNode | undefined,
  byId: (id: string) => GraphNode | undefined,
): boolean {
  for (let at = node; at !== undefined && at.kind !== 'Source'; ) {
    if (at.kind === 'Match' || at.kind === 'MatchTimeouts') return true
    // A union's events are results when any input's are (specs/language.md, "Unions").
    if (at.kind === 'Union') return at.inputs.some((input) => readsMatchResults(byId(input), byId))
    if (at.kind === 'Join' || at.kind === 'WindowAggregate' || at.kind === 'LateEvents') return false
    at = byId(inputsOf(at)[0] ?? '')
  }
  return false
}
