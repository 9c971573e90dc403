/**
 * Joins over another join's results (specs/language.md, "Joins"; docs/decisions/0020, second
 * addendum): `stream j1 = join a as x, b as y …`, then `join j1 as p, c as z …`.
 *
 * A join's rows are timed by the later of a pair's events, or by the event of an outer row
 * (Flink's interval join: max(left, right)), or at a window's end - 1 ms. Its watermark W is the
 * smaller of its sides'; a pair is emitted when its second event arrives, not late, so it is timed
 * at or after W - lateness; an outer row only once W - lateness has passed the event's last useful
 * time (t + upper for a left event, t - lower for a right one), so it is timed up to
 * lateness + max(upper, -lower) behind W. As Flink SQL's row-time interval join does
 * (KeyedCoProcessOperatorWithWatermarkDelay), the join's *output* watermark is held back by that
 * much: W - outputHoldMs. A reading join takes it as a side's watermark, per source record of the
 * batch (JoinBatchOutput.watermarks), and meets it as of the record before (as for a window's
 * results, join-over-window.ts): nothing the upstream join emitted is late there.
 */
import { type GraphNode, inputsOf, type JoinGraphNode } from '../artifact/manifest.ts'
import type { JoinSpec } from './interval-join.ts'

/** How far behind the join's watermark its rows may be timed (compiler/ir/join-semantics.ts too). */
export function outputHoldMs(spec: Pick<JoinSpec, 'bound' | 'latenessMs'>): number {
  const { bound, latenessMs } = spec
  return latenessMs + (bound.kind === 'interval' ? Math.max(0, bound.upperMs, -bound.lowerMs) : 0)
}

/**
 * The join whose results the events of `node` are, directly or through stateless steps; null for
 * a source's events or a window's results.
 */
export function upstreamJoinOf(
  node: GraphNode | undefined,
  byId: (id: string) => GraphNode | undefined,
): JoinGraphNode | null {
  for (let at = node; at !== undefined && at.kind !== 'Source'; ) {
    if (at.kind === 'Join') return at
    if (
      at.kind === 'WindowAggregate' ||
      at.kind === 'Union' ||
      at.kind === 'Match' ||
      at.kind === 'LateEvents'
    )
      return null
    at = byId(inputsOf(at)[0] ?? '')
  }
  return null
}
