/**
 * How late an event may reach each node's stateful steps (a dedup's slack, specs/language.md,
 * "Stateful steps"): the largest watermark delay of the sources whose events reach the node, as
 * the reference interpreter reckons it (compiler/ir/interpret.ts). Not the co-partitioned task's
 * largest: a join elsewhere that puts another topic in the task must not change what a dedup of
 * one source keeps (issue 13).
 */
import { type GraphNode, inputsOf } from '../artifact/manifest.ts'

/** Per node id, its lateness; `delayOf` gives a Source node's watermark delay. */
export function latenessOfNodes(
  nodes: readonly GraphNode[],
  delayOf: (source: GraphNode & { kind: 'Source' }) => number,
): ReadonlyMap<string, number> {
  const byId = new Map(nodes.map((node) => [node.id, node]))
  const lateness = new Map<string, number>()
  // Memoised depth-first, so the order of the manifest's nodes does not matter.
  const of = (id: string): number => {
    const known = lateness.get(id)
    if (known !== undefined) return known
    const node = byId.get(id)
    if (node === undefined) return 0
    const value =
      node.kind === 'Source' ? delayOf(node) : Math.max(0, ...inputsOf(node).map((input) => of(input)))
    lateness.set(id, value)
    return value
  }
  for (const node of nodes) of(node.id)
  return lateness
}
