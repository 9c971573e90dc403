/**
 * How deep a stream's records may nest. A schema's records nest at most MAX_RECORD_DEPTH levels
 * (check.ts), but each `select { r: { x: r } }` wraps its input's record in one more, so a chain
 * of such streams nests as deep as it is long, and the generated encoder of 1,300 levels overflowed
 * the compiler's stack ("Maximum call stack size exceeded", issue 17, defect 1). Past
 * MAX_STREAM_RECORD_DEPTH levels the stream is refused (E0216) where the limit is crossed.
 */
import type { Node, Type } from '../ir/types.ts'
import { MAX_RECORD_DEPTH } from './record-depth-limit.ts'

/** The limit of a schema's records (record-depth-limit.ts says why): a source's records are its schema's. */
export const MAX_STREAM_RECORD_DEPTH = MAX_RECORD_DEPTH

/**
 * The first node, in the order given, whose record nests deeper than MAX_STREAM_RECORD_DEPTH, with
 * its depth; null when none does. Nodes are checked in order and the search stops at the first
 * one past the limit, so the depth computed is at most one level past it (no deep recursion).
 */
export function firstTooDeepNode(nodes: readonly Node[]): { node: Node; depth: number } | null {
  const depths = new WeakMap<object, number>()
  const depthOf = (type: Type): number => {
    const known = depths.get(type)
    if (known !== undefined) return known
    let depth = 0
    if (type.kind === 'record') {
      for (const field of type.fields) depth = Math.max(depth, depthOf(field.type))
      depth += 1
    } else if (type.kind === 'list' || type.kind === 'map' || type.kind === 'optional')
      depth = depthOf(type.of)
    depths.set(type, depth)
    return depth
  }
  for (const node of nodes) {
    const depth = depthOf(node.schema)
    if (depth > MAX_STREAM_RECORD_DEPTH) return { node, depth }
  }
  return null
}
