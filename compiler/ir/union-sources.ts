/**
 * Windows over a union of several sources (specs/language.md, "Unions"; docs/decisions/0036):
 * such a window runs on the smallest of the sources' watermarks. This finds the sources, for the
 * checker (which allows such a window) and the reference interpreter (which gives it that
 * watermark); the runtime has its own walk over the artifact's graph
 * (runtime/window/union-window.ts).
 */
import { inputsOf } from './graph.ts'
import type { Node, SourceNode } from './types.ts'

/** Steps that keep their events' times and source order: what may stand between a source, the union and the window. */
function keepsSourceTime(node: Node): boolean {
  return (
    node.kind === 'Filter' ||
    node.kind === 'Map' ||
    node.kind === 'KeyBy' ||
    node.kind === 'Explode' ||
    node.kind === 'Dedup' ||
    node.kind === 'Aggregate' ||
    node.kind === 'Lookup' ||
    node.kind === 'Fused'
  )
}

/**
 * The sources of the union that `input` (a window's input) reads through steps that keep event
 * times, when that union has two or more sources and each of its inputs reads one source through
 * such steps; else null (no union on the way, a union of one source, or timed results in it).
 */
export function severalSourcesOfUnion(
  input: string,
  byId: ReadonlyMap<string, Node>,
): readonly SourceNode[] | null {
  let node = byId.get(input)
  while (node !== undefined && keepsSourceTime(node)) node = byId.get(inputsOf(node)[0]!)
  if (node?.kind !== 'Union') return null
  const sources: SourceNode[] = []
  for (const each of node.inputs) {
    let at = byId.get(each)
    while (at !== undefined && keepsSourceTime(at)) at = byId.get(inputsOf(at)[0]!)
    if (at?.kind !== 'Source') return null
    if (!sources.some((s) => s.id === at.id)) sources.push(at)
  }
  return sources.length >= 2 ? sources : null
}
