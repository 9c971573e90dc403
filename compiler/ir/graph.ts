import type { Node, Pipeline } from './types.ts'

/** The ids of the nodes a node reads from: none for a source, two for a join, else one. */
export function inputsOf(node: Node): string[] {
  if (node.kind === 'Source') return []
  if (node.kind === 'Join') return [node.left, node.right]
  if (node.kind === 'Union') return [...node.inputs]
  return [node.input]
}

/** The node with every input id mapped through `redirect`. */
export function withInputs(node: Node, redirect: (id: string) => string): Node {
  if (node.kind === 'Source') return node
  if (node.kind === 'Join') return { ...node, left: redirect(node.left), right: redirect(node.right) }
  if (node.kind === 'Union') return { ...node, inputs: node.inputs.map(redirect) }
  return { ...node, input: redirect(node.input) }
}

/** For each node id, the ids of the nodes that read its output, in pipeline order. */
export function consumersOf(pipeline: Pipeline): Map<string, string[]> {
  const consumers = new Map<string, string[]>()
  for (const node of pipeline.nodes) consumers.set(node.id, [])
  for (const node of pipeline.nodes) {
    // A node reading an input twice (a join of a stream with itself, `union s, s`) is listed twice.
    for (const input of inputsOf(node)) consumers.get(input)?.push(node.id)
  }
  return consumers
}

export function nodeById(pipeline: Pipeline): Map<string, Node> {
  return new Map(pipeline.nodes.map((node) => [node.id, node]))
}

/**
 * Orders nodes so that every node comes after its inputs, keeping the given order where it
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
    for (const input of inputsOf(node)) {
      const upstream = byId.get(input)
      if (upstream) place(upstream, path)
    }
    placed.add(node.id)
    ordered.push(node)
  }
  for (const node of nodes) place(node, new Set())
  return ordered
}

/**
 * The ids of the nodes of which one source reaches two input slots or more (a join of two streams
 * split from one source, `union s, s`): the interpreter hands them each source event's copies
 * together, by input slot (runtime/node/same-source.ts does the same per source record).
 */
export function mergedInputNodes(pipeline: Pipeline): Set<string> {
  const sourcesOf = new Map<string, ReadonlySet<string>>()
  const merged = new Set<string>()
  for (const node of pipeline.nodes) {
    if (node.kind === 'Source') {
      sourcesOf.set(node.id, new Set([node.id]))
      continue
    }
    const all = new Set<string>()
    for (const input of inputsOf(node)) {
      for (const source of sourcesOf.get(input) ?? []) {
        if (all.has(source)) merged.add(node.id)
        all.add(source)
      }
    }
    sourcesOf.set(node.id, all)
  }
  return merged
}
