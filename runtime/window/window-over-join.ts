/**
 * Windows over a join's results (specs/language.md, "Windows over joins"; docs/decisions/0020,
 * third addendum), and the one rule every window and join side shares for the watermark it runs
 * on: its input's *timing*.
 *
 * A join's row is timed by the later of a pair's events (Flink's interval join: max(left, right)),
 * by the event of an outer row, or at a window join's end - 1 ms. The join emits it no earlier
 * than its output watermark less nothing: the join's watermark W (the smaller of its sides') held
 * back by `lateness + max(upper, -lower, 0)` (join-over-join.ts, Flink SQL's held-back watermark).
 * A window over the join runs on that output watermark, which JoinOperator returns per source
 * record of the batch (JoinBatchOutput.watermarks) and the runner hands on in place of the
 * source's running maxima, and the hold is the window's delay. Like a window's results (decision
 * 0023), a row meets the watermark as of the record *before* the one that emitted it, so no row
 * of the join is late at the window, and the window's own firings for a record follow the rows
 * that record emitted.
 *
 * Windows are transparent to timing: a window passes its input's watermark on (its results carry
 * the same per-record maxima), so a window over a window over a join, or a join over a window over
 * a join, follows the first join's output watermark too.
 *
 * A match's results (and its timeouts) are results too, met one record late, on the match's output
 * watermark: its source's held back by the match's hold (runtime/cep/match-output.ts: 0 without a
 * skip strategy, the pattern's `within` with one), which adds to the source's delay. The walk goes
 * on through the match to its source (a match reads a source's events, E0475).
 *
 * A union's events are results when any of its inputs' are, and its delay is the largest of its
 * inputs' (specs/language.md, "Unions"): the walk takes every input, as the reference interpreter
 * does (compiler/ir/interpret.ts, `afterWindow`), not the first only.
 */
import { type GraphNode, inputsOf } from '../artifact/manifest.ts'
import { matchOutputHoldMs } from '../cep/match-output.ts'
import { outputHoldMs } from '../join/join-over-join.ts'

export interface InputTiming {
  /**
   * Whether the events are a window's, a join's or a match's results (directly or through
   * stateless steps): they then meet the watermark as of the source record before their own.
   */
  readonly readsResults: boolean
  /**
   * What the operator subtracts from the per-record maxima it is handed: the source's watermark
   * delay (plus a match's hold, over a match), or the hold of the join whose output watermark
   * those maxima are.
   */
  readonly delayMs: number
  /** The nearest join, window or match whose results these are (null: a source's events), for metrics. */
  readonly upstream: string | null
}

/**
 * The timing of the events of `node` (a window's or a join side's input), found by walking up to
 * the first join or source. `sourceDelayMs` gives a Source node's watermark delay.
 */
export function inputTiming(
  node: GraphNode | undefined,
  byId: (id: string) => GraphNode | undefined,
  sourceDelayMs: (sourceId: string) => number,
): InputTiming {
  let readsResults = false
  let upstream: string | null = null
  let matchHoldMs = 0
  for (let at = node; at !== undefined; at = byId(inputsOf(at)[0] ?? '')) {
    if (at.kind === 'Source') return { readsResults, delayMs: sourceDelayMs(at.id) + matchHoldMs, upstream }
    if (at.kind === 'Match' || at.kind === 'MatchTimeouts') {
      // (A MatchTimeouts node reads its Match node, next on the walk, which adds the hold once.)
      readsResults = true
      upstream ??= at.kind === 'Match' ? at.id : (inputsOf(at)[0] ?? at.id)
      if (at.kind === 'Match') matchHoldMs += matchOutputHoldMs(at)
      continue
    }
    if (at.kind === 'Join')
      return { readsResults: true, delayMs: outputHoldMs(at), upstream: upstream ?? at.id }
    if (at.kind === 'Union') {
      // Every input counts, not the first only (specs/language.md, "Unions": timing).
      const union = unionTiming(at, byId, sourceDelayMs)
      return {
        readsResults: readsResults || union.readsResults,
        delayMs: union.delayMs + matchHoldMs,
        upstream: upstream ?? union.upstream,
      }
    }
    if (at.kind === 'WindowAggregate') {
      readsResults = true
      upstream ??= at.id
    }
  }
  return { readsResults, delayMs: 0, upstream }
}

/**
 * The timing of a union's events: results when any input's are (a window's results among a
 * source's events must meet the watermark one record late, and the source's own events are no later
 * for it: a record that raises the watermark is at or above it), the largest of the inputs' delays
 * (the inputs of a union of one source share one delay; a window over a union of several sources
 * runs on their smallest watermark instead, union-window.ts, and matches and joins may not read
 * one, E0483), and the first input's upstream that has one.
 */
function unionTiming(
  union: GraphNode & { readonly kind: 'Union' },
  byId: (id: string) => GraphNode | undefined,
  sourceDelayMs: (sourceId: string) => number,
): InputTiming {
  const inputs = union.inputs.map((id) => inputTiming(byId(id), byId, sourceDelayMs))
  return {
    readsResults: inputs.some((t) => t.readsResults),
    delayMs: Math.max(0, ...inputs.map((t) => t.delayMs)),
    upstream: inputs.find((t) => t.upstream !== null)?.upstream ?? null,
  }
}
