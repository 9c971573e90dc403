import type { Node, Pipeline } from './types.ts'

/** The id of the node a node reads from, or null for a source. */
export function inputOf(node: Node): string | null {
  return node.kind === 'Source' ? null : node.input
}

/** For each node id, the ids of the nodes that read its output, in pipeline order. */
export function consumersOf(pipeline: Pipeline): Map<string, string[]> {
  const consumers = new Map<string, string[]>()
  for (const node of pipeline.nodes) consumers.set(node.id, [])
  for (const node of pipeline.nodes) {
    const input = inputOf(node)
    if (input !== null) consumers.get(input)?.push(node.id)
  }
  return consumers
}

export function nodeById(pipeline: Pipeline): Map<string, Node> {
  return new Map(pipeline.nodes.map((node) => [node.id, node]))
}

/**
 * Orders nodes so that every node comes after its input, keeping the given order where it
 * already satisfies that (passes rewrite inputs, and this restores the IR's invariant).
 */
export function topologicalOrder(nodes: readonly Node[]): Node[] {
  const byId = new Map(nodes.map((node) => [node.id, node]))
  const placed = new Set<string>()
  const ordered: Node[] = []
  const place = (node: Node, path: Set<string>): void => {
    if (placed.has(node.id)) return
    if (path.has(node.id)) throw new Error(`IR cycle through ${node.id}`)
    path.add(node.id)
    const input = inputOf(node)
    const upstream = input === null ? undefined : byId.get(input)
    if (upstream) place(upstream, path)
    placed.add(node.id)
    ordered.push(node)
  }
  for (const node of nodes) place(node, new Set())
  return ordered
}
