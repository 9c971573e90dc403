/**
 * Which steps may read a union (specs/language.md, "Unions"; docs/decisions/0036): the checker
 * asks before a `dedup`, an `aggregate` (windowed or not), a `match` or a join whose input is a
 * union, directly or through stateless steps.
 *
 * - `dedup` and `aggregate` without a window may read any union: their state is the task's, as a
 *   two-source join's is (the runner reads the topics upstream of a union as co-partitioned tasks,
 *   runtime/node/copartitioned.ts), and they follow no watermark (a dedup's clock is the newest
 *   event time it has seen, from whichever input).
 * - Windows, matches and joins follow one watermark: after a union of one source's streams that
 *   source's (oneSourceOfUnion; a window may also read that source's windows' results). A window
 *   may read a union of several sources' events (severalSourcesOfUnion): it runs on the smallest
 *   of their watermarks. Matches and joins do not follow such a watermark yet, nor a window over
 *   such a union with timed results in it (E0483); a union of one source's events and a match's
 *   results or late events (or, for a match or a join, a window's results) is refused as such
 *   (E0484), not as one of several sources.
 */

import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import type { Node, UnionNode } from '../ir/types.ts'
import { severalSourcesOfUnion } from '../ir/union-sources.ts'
import { oneSourceOfUnion } from './union-head.ts'

/** The step that reads the union: a window, match or join follows a watermark, the others not. */
export type UnionReader = 'dedup' | 'aggregate' | 'window' | 'match' | 'join'

export interface UnionRefusal {
  readonly code: DiagnosticCode
  readonly message: string
  readonly related: readonly RelatedInformation[]
}

const STEP_NAMES: Record<UnionReader, string> = {
  dedup: 'dedup',
  aggregate: 'aggregate',
  window: 'window',
  match: 'match',
  join: 'join',
}

/** Why `reader` may not read `input` (a node id), or null when it may (or no union is on the way). */
export function unionRefusal(
  input: string,
  byId: ReadonlyMap<string, Node>,
  reader: UnionReader,
): UnionRefusal | null {
  let node = byId.get(input)
  while (node !== undefined && node.kind !== 'Union') {
    if (node.kind === 'Source' || node.kind === 'Join') return null
    node = byId.get(node.input)
  }
  if (node === undefined) return null
  if (reader === 'dedup' || reader === 'aggregate') return null
  if (oneSourceOfUnion(node, byId, reader === 'window') !== null) return null
  // A window runs on the smallest of the sources' watermarks (docs/decisions/0036).
  if (reader === 'window' && severalSourcesOfUnion(input, byId) !== null) return null
  const related = [{ message: 'the union', span: node.span }]
  const what = `this ${STEP_NAMES[reader]}`
  const sources = sourcesOfUnion(node, byId)
  if (sources.length > 1) {
    return {
      code: 'E0483',
      message: `${what} follows one watermark, but it reads a union of several sources (${sources.map((s) => `\`${s}\``).join(', ')}), whose watermark is the smallest of theirs; ${reader === 'window' ? "a window may read a union of several sources' events, but not of their windows', matches' or joins' results or late events" : 'matches and joins after a union of several sources are not supported yet'} (\`dedup\` and \`aggregate\` without a window may read any union, and windows, matches and joins a union of streams of one source)`,
      related,
    }
  }
  const results = resultsInUnion(node, byId, reader === 'window')
  return {
    code: 'E0484',
    message: `${what} reads a union of \`${sources[0] ?? 'a source'}\`'s events and ${results.what}, which come when a watermark fires them, not in source order; ${reader === 'window' ? 'a window over such a union is' : `${reader === 'match' ? 'matches' : 'joins'} over such a union are`} not supported yet (\`dedup\` and \`aggregate\` without a window may read it${reader === 'window' ? ", and a window may read a union of one source's events and its windows' results" : ''})`,
    related: results.span === null ? related : [...related, { message: results.label, span: results.span }],
  }
}

/** The sources whose events reach the union, through anything, in the order first met. */
function sourcesOfUnion(union: UnionNode, byId: ReadonlyMap<string, Node>): string[] {
  const found: string[] = []
  const visit = (id: string) => {
    const node = byId.get(id)
    if (node === undefined) return
    if (node.kind === 'Source') {
      if (!found.includes(node.name)) found.push(node.name)
      return
    }
    if (node.kind === 'Join') {
      visit(node.left)
      visit(node.right)
    } else if (node.kind === 'Union') for (const each of node.inputs) visit(each)
    else visit(node.input)
  }
  for (const input of union.inputs) visit(input)
  return found
}

/** The first timed results (or late events) among the union's inputs, for the message. */
function resultsInUnion(
  union: UnionNode,
  byId: ReadonlyMap<string, Node>,
  throughWindows: boolean,
): { what: string; label: string; span: Node['span'] | null } {
  for (const input of union.inputs) {
    for (let node = byId.get(input); node !== undefined && node.kind !== 'Source'; ) {
      if (node.kind === 'WindowAggregate' && !throughWindows)
        return { what: "a window's results", label: 'the window', span: node.span }
      if (node.kind === 'Match' || node.kind === 'MatchTimeouts')
        return {
          what: node.kind === 'Match' ? "a match's results" : "a match's timeouts",
          label: 'the match',
          span: node.span,
        }
      if (node.kind === 'LateEvents')
        return { what: 'late events', label: 'the step whose late events these are', span: node.span }
      if (node.kind === 'Join' || node.kind === 'Union') break
      node = byId.get(node.input)
    }
  }
  return { what: 'timed results', label: '', span: null }
}
