/**
 * What a join may read besides a source's events (docs/decisions/0020, second addendum;
 * runtime/join/join-over-window.ts): a window's results, each emitted once (event time, `emit` on
 * close, no `lateness`), whose side follows the window's output watermark. Refused: a window that
 * emits a window more than once or by the wall clock (E0480), late events (E0481), the results of
 * a match whose skip strategy holds matches back with no `within` to bound how long (E0447), and
 * a join over a join one of whose sources the other side reads (E0482). Another join's results may
 * be read (runtime/join/join-over-join.ts), and a match's (fourth addendum: its output watermark,
 * compiler/ir/match-output.ts).
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import { inputsOf } from '../ir/graph.ts'
import { matchOutputHoldMs } from '../ir/match-output.ts'
import type { Node, Span } from '../ir/types.ts'
import type { Identifier } from '../parse/ast.ts'

/** What a join side carries when it is not (derived from) a source's events. */
export type TimedInput =
  | { readonly kind: 'Join'; readonly span: Span }
  | {
      readonly kind: 'Match'
      readonly span: Span
      /** Its skip strategy holds matches back with no `within` to bound it (E0447). */
      readonly unbounded: boolean
    }
  | { readonly kind: 'LateEvents'; readonly span: Span }
  | {
      readonly kind: 'WindowAggregate'
      readonly span: Span
      /** Why its results cannot be joined (each window emitted once, by event time), or null. */
      readonly refused: 'processing' | 'early' | 'lateness' | null
    }

/** What the walk from a join side up to its source found at `node`; undefined: walk on. */
export function timedInputAt(node: Node, byId: ReadonlyMap<string, Node>): TimedInput | undefined {
  if (node.kind === 'LateEvents') return { kind: 'LateEvents', span: byId.get(node.input)?.span ?? node.span }
  if (node.kind === 'Join') return { kind: 'Join', span: byId.get(node.id)?.span ?? node.span }
  if (node.kind === 'Match' || node.kind === 'MatchTimeouts') {
    const match = node.kind === 'Match' ? node : byId.get(node.input)
    const unbounded = match?.kind === 'Match' && matchOutputHoldMs(match) === Number.POSITIVE_INFINITY
    return { kind: 'Match', span: match?.span ?? node.span, unbounded }
  }
  if (node.kind === 'WindowAggregate') {
    const refused =
      node.time === 'processing'
        ? 'processing'
        : node.emit.kind !== 'close'
          ? 'early'
          : node.latenessMs > 0
            ? 'lateness'
            : null
    return { kind: 'WindowAggregate', span: node.span, refused }
  }
  return undefined
}

export interface TimedSideContext {
  report(code: DiagnosticCode, message: string, span: Span, related?: readonly RelatedInformation[]): void
}

/** Reports a join side whose timed input the join cannot read. */
export function checkTimedSide(name: Identifier, input: TimedInput, ctx: TimedSideContext): void {
  const side = `\`${name.name}\``
  if (input.kind === 'LateEvents') {
    ctx.report(
      'E0481',
      `${side} carries late events, which are behind the watermark already, so the join would find every one late too; join the stream they were refused from, with a \`lateness\` there`,
      name.span,
      [{ message: 'the step whose late events these are', span: input.span }],
    )
    return
  }
  if (input.kind === 'WindowAggregate') {
    if (input.refused === null) return
    const why =
      input.refused === 'processing'
        ? "a processing-time window, timed by the node's wall clock, which the join's event-time watermark does not follow; window it by event time"
        : input.refused === 'early'
          ? 'a window with early results (`emit every …` or `emit on update`), which emits a window several times: each result would be joined again; let the window emit on close only'
          : 'a window with `lateness`, which emits a window again for each late event: each update would be joined again; remove the `lateness` of the window'
    ctx.report('E0480', `${side} carries the results of ${why}`, name.span, [
      { message: 'the window', span: input.span },
    ])
    return
  }
  if (input.kind === 'Join' || !input.unbounded) return
  ctx.report(
    'E0447',
    `${side} ${UNBOUNDED_MATCH} and be late at the join; ${UNBOUNDED_MATCH_FIX}`,
    name.span,
    [{ message: 'the match', span: input.span }],
  )
}

/** Why a join or window cannot read a match's results (E0447), after "`x` " or "this window ". */
export const UNBOUNDED_MATCH =
  'carries the results of a match whose skip strategy holds a match back until no partial match that started earlier remains, with no `within` on the pattern to bound how long, so a match may come any time behind the watermark'
/** How to make it readable (E0447). */
export const UNBOUNDED_MATCH_FIX =
  'give the pattern a `within` (its output watermark is then held back by that much), or drop the skip strategy'

/** The sources whose events reach node `id`, through every input. */
export function sourcesUpstream(id: string, byId: ReadonlyMap<string, Node>): Set<string> {
  const sources = new Set<string>()
  const seen = new Set<string>()
  const visit = (at: string) => {
    if (seen.has(at)) return
    seen.add(at)
    const node = byId.get(at)
    if (node === undefined) return
    if (node.kind === 'Source') sources.add(node.name)
    else for (const input of inputsOf(node)) visit(input)
  }
  visit(id)
  return sources
}

/**
 * The join whose watermark the events of node `id` follow: its results', directly, through
 * stateless steps or through windows over them (a window passes its input's watermark on:
 * runtime/window/window-over-join.ts); null for a source's events.
 */
export function joinUpstream(id: string, byId: ReadonlyMap<string, Node>): Node | null {
  for (let node = byId.get(id); node !== undefined; ) {
    if (node.kind === 'Join') return node
    if (node.kind === 'Source' || node.kind === 'LateEvents') return null
    node = byId.get(inputsOf(node)[0] ?? '')
  }
  return null
}

/**
 * A join over another join (or over a window over one) whose two sides share a source is refused
 * (E0482): the runner would merge the shared source's records into both sides record by record
 * (runtime/node/same-source.ts), but one side follows the upstream join's watermark, not the
 * source's.
 */
export function checkSharedSourceOverJoin(
  sides: readonly { readonly name: Identifier; readonly lastId: string; readonly timed: TimedInput | null }[],
  byId: ReadonlyMap<string, Node>,
  ctx: TimedSideContext,
): void {
  if (sides.length !== 2) return
  const joins = sides.map((side) =>
    side.timed?.kind === 'Join' || side.timed?.kind === 'WindowAggregate'
      ? joinUpstream(side.lastId, byId)
      : null,
  )
  const at = joins.findIndex((join) => join !== null)
  if (at < 0) return
  const [a, b] = sides.map((side) => sourcesUpstream(side.lastId, byId)) as [Set<string>, Set<string>]
  const shared = [...a].filter((source) => b.has(source))
  if (shared.length === 0) return
  const over = sides[at]!
  const through = over.timed?.kind === 'WindowAggregate' ? ' (through a window)' : ''
  ctx.report(
    'E0482',
    `\`${over.name.name}\` carries the results of a join${through} that reads \`${shared[0]}\`, which the other side reads too; a join over a join and one of that join's sources is not supported yet (join a third source, or join the sources in one join)`,
    over.name.span,
    [{ message: 'the join', span: joins[at]!.span }],
  )
}
