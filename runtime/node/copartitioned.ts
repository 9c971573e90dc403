/**
 * Which source topics a pipeline must read as co-partitioned tasks (docs/decisions/0020): an
 * operator fed by two inputs (a join) keeps one state for partition p of every topic upstream of
 * either input, so those topics' partitions p must be assigned, processed and checkpointed together
 * (SubscribeOptions.copartitioned). Topics joined through a chain of joins form one group.
 */

export interface GraphShape<N> {
  readonly nodes: readonly N[]
  readonly id: (node: N) => string
  /** The ids of the nodes `node` reads (none for a source). */
  readonly inputsOf: (node: N) => readonly string[]
  /** The topic a source node reads; null for any other node. */
  readonly topicOf: (node: N) => string | null
}

/** Groups of two or more topics, each in the order its topics' sources are declared. */
export function copartitionedTopics<N>(graph: GraphShape<N>): string[][] {
  const byId = new Map(graph.nodes.map((n) => [graph.id(n), n]))
  const upstream = new Map<string, ReadonlySet<string>>()
  const topicsUpstreamOf = (id: string): ReadonlySet<string> => {
    const known = upstream.get(id)
    if (known !== undefined) return known
    const node = byId.get(id)
    const topics = new Set<string>()
    if (node !== undefined) {
      const topic = graph.topicOf(node)
      if (topic !== null) topics.add(topic)
      for (const input of graph.inputsOf(node)) for (const t of topicsUpstreamOf(input)) topics.add(t)
    }
    upstream.set(id, topics)
    return topics
  }

  // Union-find over topics: every multi-input node merges the topics upstream of its inputs.
  const parent = new Map<string, string>()
  const find = (t: string): string => {
    let root = t
    while (parent.get(root) !== root) root = parent.get(root)!
    parent.set(t, root)
    return root
  }
  const order: string[] = []
  for (const node of graph.nodes) {
    const topic = graph.topicOf(node)
    if (topic !== null && !parent.has(topic)) {
      parent.set(topic, topic)
      order.push(topic)
    }
  }
  for (const node of graph.nodes) {
    const inputs = graph.inputsOf(node)
    if (inputs.length < 2) continue
    const topics = [...topicsUpstreamOf(graph.id(node))]
    for (const t of topics.slice(1)) {
      const a = find(topics[0]!)
      const b = find(t)
      if (a !== b) parent.set(b, a)
    }
  }
  const groups = new Map<string, string[]>()
  for (const topic of order) {
    const root = find(topic)
    const group = groups.get(root) ?? []
    group.push(topic)
    groups.set(root, group)
  }
  return [...groups.values()].filter((g) => g.length >= 2)
}
