/**
 * Fuses each maximal chain of per-event operators (where, select, key by, explode, and the stateful dedup
 * and aggregate, which work event by event on keyed state) into one `Fused` node,
 * which code generation turns into a single function with one loop over the batch: no
 * intermediate batches, no per-operator calls, the record stays in registers between steps.
 *
 * Before: source → where → select → key by → sink
 * After:  source → fused[where, select, key by] → sink
 *
 * A chain continues from a node to its consumer only when that consumer is the node's one
 * reader; at a fan-out each branch becomes its own chain (the shared prefix is its own chain
 * too, so it is computed once). A lone operator becomes a chain of one, so code generation only
 * ever sees `Fused` nodes. A chain's stateful steps are listed, in order, in its `state`: the
 * runtime passes their keyed state to the chain in that order.
 */
import { consumersOf, nodeById, topologicalOrder, withInputs } from '../ir/graph.ts'
import type {
  AggregateNode,
  DedupNode,
  ExplodeNode,
  FilterNode,
  FusedNode,
  FusedStep,
  KeyByNode,
  MapNode,
  Node,
  Pipeline,
  StateSlot,
} from '../ir/types.ts'

type ChainableNode = FilterNode | MapNode | KeyByNode | ExplodeNode | DedupNode | AggregateNode

const CHAINABLE: ReadonlySet<Node['kind']> = new Set([
  'Filter',
  'Map',
  'KeyBy',
  'Explode',
  'Dedup',
  'Aggregate',
])

function isChainable(node: Node | undefined): node is ChainableNode {
  return node !== undefined && CHAINABLE.has(node.kind)
}

const TO_STEP: {
  readonly [K in ChainableNode['kind']]: (node: Extract<ChainableNode, { kind: K }>) => FusedStep
} = {
  Filter: (node) => ({ kind: 'Filter', predicate: node.predicate, span: node.span }),
  Map: (node) => ({ kind: 'Map', fields: node.fields, schema: node.schema, span: node.span }),
  KeyBy: (node) => ({ kind: 'KeyBy', key: node.key, span: node.span }),
  Explode: (node) => ({
    kind: 'Explode',
    list: node.list,
    alias: node.alias,
    outer: node.outer,
    schema: node.schema,
    span: node.span,
  }),
  Dedup: (node) => ({
    kind: 'Dedup',
    keys: node.keys,
    withinMs: node.withinMs,
    state: node.state,
    span: node.span,
  }),
  Aggregate: (node) => ({
    kind: 'Aggregate',
    keys: node.keys,
    aggregates: node.aggregates,
    schema: node.schema,
    state: node.state,
    span: node.span,
  }),
}

function toStep(node: ChainableNode): FusedStep {
  return (TO_STEP[node.kind] as (n: ChainableNode) => FusedStep)(node)
}

/** Chains of up to this many nodes have all their members in their id. */
const MAX_LISTED_MEMBERS = 4

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
    if (!isChainable(node) || replacedBy.has(node.id)) continue
    // A chain starts where the upstream is not a chainable node that this node alone reads.
    const upstream = byId.get(node.input)
    if (isChainable(upstream) && soleReaderOf(upstream.id) === node) continue
    const chain: ChainableNode[] = [node]
    for (let next = soleReaderOf(node.id); isChainable(next); next = soleReaderOf(next.id)) chain.push(next)
    const last = chain[chain.length - 1]!
    // Unique because a node is in one chain only. A long chain is named by its ends (`fusedFrom`
    // lists every member): its id is copied into `streams` once per member, and a list of all
    // of them there made the manifest quadratic in the chain's length (issue 17, defect 1).
    const id =
      chain.length <= MAX_LISTED_MEMBERS
        ? `fused(${chain.map((n) => n.id).join(',')})`
        : `fused(${node.id}..${last.id})`
    const state: StateSlot[] = []
    for (const member of chain)
      if (member.kind === 'Dedup' || member.kind === 'Aggregate') state.push(member.state)
    fused.push({
      kind: 'Fused',
      id,
      input: node.input,
      inputSchema: upstream?.schema ?? node.schema,
      steps: chain.map(toStep),
      fusedFrom: chain.map((n) => n.id),
      ...(state.length > 0 ? { state } : {}),
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
    nodes.push(withInputs(node, redirect))
  }
  for (const chain of fused) nodes.push({ ...chain, input: redirect(chain.input) })
  const streams = Object.fromEntries(
    Object.entries(pipeline.streams).map(([name, id]) => [name, redirect(id)]),
  )
  return { ...pipeline, streams, nodes: topologicalOrder(nodes) }
}
