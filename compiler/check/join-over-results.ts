/**
 * What a join may read besides a source's events (docs/decisions/0020, second addendum;
 * runtime/join/join-over-window.ts): a window's results, each emitted once (event time, `emit` on
 * close, no `lateness`), whose side follows the window's output watermark. Refused: a window that
 * emits a window more than once or by the wall clock (E0480), late events (E0481), and the
 * results of another join or a match (E0447).
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import type { Node, Span } from '../ir/types.ts'
import type { Identifier } from '../parse/ast.ts'

/** What a join side carries when it is not (derived from) a source's events. */
export type TimedInput =
  | { readonly kind: 'Join' | 'Match'; readonly span: Span }
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
  if (node.kind === 'Join' || node.kind === 'Match' || node.kind === 'MatchTimeouts') {
    return { kind: node.kind === 'Join' ? 'Join' : 'Match', span: byId.get(node.id)?.span ?? node.span }
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
  const what = input.kind === 'Join' ? 'another join' : 'a match'
  ctx.report(
    'E0447',
    `${side} carries the results of ${what}, timed behind the watermark, so the join would find them late; joins over joins or matches are not supported yet (join the streams they read instead)`,
    name.span,
    [{ message: `the ${input.kind === 'Join' ? 'join' : 'match'}`, span: input.span }],
  )
}
