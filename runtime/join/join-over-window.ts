/**
 * Joins over a window's results (specs/language.md, "Joins"; docs/decisions/0020, second
 * addendum): a side may read the results of a window (Nexmark q7: the highest bid per window joined
 * back to the bids), directly or through stateless steps.
 *
 * A window's result is timed at its last millisecond (end - 1 ms, as Flink times a window's
 * result) and emitted when the source's watermark reaches end, so against that watermark every
 * result would be late. As for windows over windows (decision 0023), the side's watermark is the
 * window's output watermark, the source partition's, and a result meets it as of the source record
 * *before* the one that fired it: the join's watermark when such an event arrives is the smaller of
 * the other side's and that one, and after the record, once all its results are in, the side moves
 * to the record's own watermark. A result timed end - 1 >= W(o - 1) is then never late, with no
 * lateness needed (the window fired at o because end > W(o - 1)).
 *
 * JoinOperator (interval-join.ts) applies it per side (`readsWindowResults`); the reference
 * interpreter (compiler/ir/interpret.ts) keeps such a side's watermark at its last tick.
 */
import { type GraphNode, inputsOf } from '../artifact/manifest.ts'

/**
 * Whether the events of `node` are a window's results, or derived from them by stateless steps
 * (a join over late events is refused, E0481; over another join's results is join-over-join.ts's,
 * over a match's results window-over-join.ts's inputTiming).
 */
export function readsWindowResults(
  node: GraphNode | undefined,
  byId: (id: string) => GraphNode | undefined,
): boolean {
  for (let at = node; at !== undefined && at.kind !== 'Source'; ) {
    if (at.kind === 'WindowAggregate') return true
    // A union's events are results when any input's are (specs/language.md, "Unions").
    if (at.kind === 'Union') return at.inputs.some((input) => readsWindowResults(byId(input), byId))
    if (at.kind === 'Join' || at.kind === 'Match') return false
    at = byId(inputsOf(at)[0] ?? '')
  }
  return false
}
