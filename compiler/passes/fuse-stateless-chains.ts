/**
 * Fuses each maximal chain of stateless operators (where, select, key by) into one `Fused` node,
 * which code generation turns into a single function with one loop over the batch: no
 * intermediate batches, no per-operator calls, the record stays in registers between steps.
 *
 * Before: source → where → select → key by → sink
 * After:  source → fused[where, select, key by] → sink
 *
 * A chain continues from a node to its consumer only when that consumer is the node's one
 * reader; at a fan-out each branch becomes its own chain (the shared prefix is its own chain
 * too, so it is computed once). A lone stateless operator becomes a chain of one, so code
 * generation only ever sees `Fused` nodes.
 */
import { consumersOf, nodeById, topologicalOrder } from '../ir/graph.ts'
import type { FilterNode, FusedNode, FusedStep, KeyByNode, MapNode, Node, Pipeline } from '../ir/types.ts'

type StatelessNode = FilterNode | MapNode | KeyByNode

function isStateless(node: Node | undefined): node is StatelessNode {
  return node !== undefined && (node.kind === 'Filter' || node.kind === 'Map' || node.kind === 'KeyBy')
}

const TO_STEP: {
  readonly [K in StatelessNode['kind']]: (node: Extract<StatelessNode, { kind: K }>) => FusedStep
} = {
  Filter: (node) => ({ kind: 'Filter', predicate: node.predicate, span: node.span }),
  Map: (node) => ({ kind: 'Map', fields: node.fields, schema: node.schema, span: node.span }),
  KeyBy: (node) => ({ kind: 'KeyBy', key: node.key, span: node.span }),
}

function toStep(node: StatelessNode): FusedStep {
  return (TO_STEP[node.kind] as (n: StatelessNode) => FusedStep)(node)
}

export function fuseStatelessChains(pipeline: Pipeline): Pipeline {
  const byId = nodeById(pipeline)
  const consumers = consumersOf(pipeline)
  const soleReaderOf = (id: string): Node | undefined => {
    const readers = consumers.get(id) ?? []
    return readers.length === 1 ? byId.get(readers[0]!) : undefined
  }

  const replacedBy = new Map<string, string>()
  const fused: FusedNode[] = []
  for (const node of pipeline.nodes) {
    if (!isStateless(node) || replacedBy.has(node.id)) continue
    // A chain starts where the upstream is not a stateless node that this node alone reads.
    const upstream = byId.get(node.input)
    if (isStateless(upstream) && soleReaderOf(upstream.id) === node) continue
    const chain: StatelessNode[] = [node]
    for (let next = soleReaderOf(node.id); isStateless(next); next = soleReaderOf(next.id)) chain.push(next)
    const last = chain[chain.length - 1]!
    const id = `fused(${chain.map((n) => n.id).join(',')})`
    fused.push({
      kind: 'Fused',
      id,
      input: node.input,
      inputSchema: upstream?.schema ?? node.schema,
      steps: chain.map(toStep),
      fusedFrom: chain.map((n) => n.id),
      schema: last.schema,
      span: { file: node.span.file, start: node.span.start, end: last.span.end },
    })
    for (const member of chain) replacedBy.set(member.id, id)
  }

  // Readers of a chain's last node now read the fused node; chains start after any replaced
  // node only at a fan-out, where the whole upstream chain was replaced, so mapping every
  // member id to its chain is correct.
  const redirect = (id: string): string => replacedBy.get(id) ?? id
  const nodes: Node[] = []
  for (const node of pipeline.nodes) {
    if (replacedBy.has(node.id)) continue
    nodes.push(node.kind === 'Source' ? node : { ...node, input: redirect(node.input) })
  }
  for (const chain of fused) nodes.push({ ...chain, input: redirect(chain.input) })
  const streams = Object.fromEntries(
    Object.entries(pipeline.streams).map(([name, id]) => [name, redirect(id)]),
  )
  return { ...pipeline, streams, nodes: topologicalOrder(nodes) }
}
