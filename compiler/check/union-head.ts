/**
 * Checking of `stream s = union a, b, …` (specs/language.md, "Unions"): a stream of the events of
 * several sources or streams of one record type, for the checker (check.ts), which resolves the
 * names and lends what it knows of each input.
 *
 * Refused: inputs of different record types (E0334, naming the first field that differs) and an
 * input that reads a join or another union (E0335). The same input twice, or two inputs of one
 * source, are allowed: an event reaching n inputs is in the union n times, in source-record order
 * and for one record in the order of the inputs (runtime/node/same-source.ts).
 */

import { sameType } from '../../stdlib/types.ts'
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import type { Node, SourceNode, Span, Type, UnionNode } from '../ir/types.ts'
import type { Identifier } from '../parse/ast.ts'
import { baseType, ERROR_TYPE, isError, show } from './types.ts'

export interface UnionInput {
  readonly name: Identifier
  readonly record: Type
  readonly lastId: string
  readonly eventTimeField: string | null
  /** The source its events come from; null after a join or a union (then `through` says which). */
  readonly source: string | null
  readonly through: { readonly kind: 'Join' | 'Union'; readonly span: Span } | null
}

export interface UnionContext {
  readonly id: string
  readonly span: Span
  report(code: DiagnosticCode, message: string, span: Span, related?: readonly RelatedInformation[]): void
}

/** The node, with the record type and event-time field its output has (null inputs were reported). */
export function checkUnion(
  inputs: readonly (UnionInput | null)[],
  ctx: UnionContext,
): { node: UnionNode; record: Type; eventTimeField: string | null } {
  const known = inputs.filter((i): i is UnionInput => i !== null)
  let ok = known.length === inputs.length
  const first = known[0]
  for (const input of known) {
    if (input.through !== null) {
      ctx.report(
        'E0335',
        `\`${input.name.name}\` reads the results of a ${input.through.kind === 'Join' ? 'join' : 'union'}; a union of those is not supported yet: union the streams before it`,
        input.name.span,
        [{ message: `the ${input.through.kind === 'Join' ? 'join' : 'union'}`, span: input.through.span }],
      )
      ok = false
    }
  }
  if (first !== undefined && !isError(first.record)) {
    for (const input of known.slice(1)) {
      if (isError(input.record) || sameType(first.record, input.record)) continue
      ctx.report(
        'E0334',
        `a union's inputs must have one record type, but ${difference(first, input)}`,
        input.name.span,
        [{ message: `\`${first.name.name}\` is \`${show(first.record)}\``, span: first.name.span }],
      )
      ok = false
    }
  }
  const times = new Set(known.map((i) => i.eventTimeField))
  const eventTimeField = times.size === 1 ? (first?.eventTimeField ?? null) : null
  const record = ok && first !== undefined ? first.record : ERROR_TYPE
  return {
    node: {
      kind: 'Union',
      id: ctx.id,
      span: ctx.span,
      schema: record as UnionNode['schema'],
      inputs: known.map((i) => i.lastId),
    },
    record,
    eventTimeField,
  }
}

/** What tells the two record types apart, for the message: the first field that differs. */
function difference(a: UnionInput, b: UnionInput): string {
  const ra = baseType(a.record)
  const rb = baseType(b.record)
  if (ra.kind !== 'record' || rb.kind !== 'record') {
    return `\`${a.name.name}\` is \`${show(a.record)}\` and \`${b.name.name}\` is \`${show(b.record)}\``
  }
  const n = Math.max(ra.fields.length, rb.fields.length)
  for (let i = 0; i < n; i++) {
    const fa = ra.fields[i]
    const fb = rb.fields[i]
    if (fa === undefined) return `\`${b.name.name}\` has a field \`${fb!.name}\` more than \`${a.name.name}\``
    if (fb === undefined) return `\`${b.name.name}\` lacks the field \`${fa.name}\` of \`${a.name.name}\``
    if (fa.name !== fb.name) {
      return `field ${i + 1} is \`${fa.name}\` in \`${a.name.name}\` and \`${fb.name}\` in \`${b.name.name}\` (fields are compared in order)`
    }
    if (!sameType(fa.type, fb.type)) {
      return `field \`${fa.name}\` is \`${show(fa.type)}\` in \`${a.name.name}\` and \`${show(fb.type)}\` in \`${b.name.name}\``
    }
  }
  return `\`${a.name.name}\` is \`${show(a.record)}\` and \`${b.name.name}\` is \`${show(b.record)}\``
}

/**
 * The source every input of `union` reads through steps that keep its events' times and order
 * (not a window, match, join or union, nor late events or timeouts), or null when there are
 * several or such a step is on the way. After a union of one source, stateful steps, windows,
 * matches and joins follow that source's watermark as after the source itself: the runner hands
 * the union its inputs merged record by record (runtime/node/same-source.ts).
 *
 * `throughWindows`: for a window reading the union, an input may also be that source's windows'
 * results (a union's events are results when any input's are: the window meets them one record
 * late, specs/language.md, "Unions"); the checker checks those windows as a window over a window.
 */
export function oneSourceOfUnion(
  union: UnionNode,
  byId: ReadonlyMap<string, Node>,
  throughWindows = false,
): SourceNode | null {
  let found: SourceNode | null = null
  for (const input of union.inputs) {
    let node = byId.get(input)
    while (node !== undefined && node.kind !== 'Source') {
      if (
        (node.kind === 'WindowAggregate' && !throughWindows) ||
        node.kind === 'Match' ||
        node.kind === 'Join' ||
        node.kind === 'Union' ||
        node.kind === 'LateEvents' ||
        node.kind === 'MatchTimeouts'
      )
        return null
      node = byId.get(node.input)
    }
    if (node === undefined || (found !== null && found.id !== node.id)) return null
    found = node
  }
  return found
}
