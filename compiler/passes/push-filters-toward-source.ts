/**
 * Moves filters upstream, past `key by` and past `select`s, so events are dropped before work is
 * spent on them.
 *
 * Before: source → select { id, c: lower(country), amount } → key by id → where amount > 10 and c != "us"
 * After:  source → where amount > 10 → select {...} → key by id → where c != "us"
 *
 * - Past a `key by`, a filter moves whole (key by does not change the record).
 * - Past a `select`, each conjunct of the predicate moves when every field it reads is a plain
 *   projection (a column, a member/index path or a literal), rewritten onto the select's input.
 *   Conjuncts that read computed fields stay, so no expression is evaluated twice.
 * - Only when the operator being passed has the filter as its one consumer: with fan-out, the
 *   other consumers must still see every event.
 * Expressions are pure, so reordering never changes an output; an event that a moved filter
 * drops no longer reaches an evaluation error in an operator it skipped (see specs/language.md).
 */
import { columnsRead, conjoin, conjuncts, transformExpr } from '../ir/expr.ts'
import { consumersOf, nodeById, topologicalOrder } from '../ir/graph.ts'
import type { Expr, FilterNode, MapNode, Node, Pipeline } from '../ir/types.ts'

export function pushFiltersTowardSource(pipeline: Pipeline): Pipeline {
  let current = pipeline
  // Each rewrite moves a filter strictly upstream, so this terminates; the bound guards the invariant.
  for (let round = 0; round < 10_000; round++) {
    const next = pushOneFilter(current)
    if (next === null) return current
    current = next
  }
  throw new Error('pushFiltersTowardSource did not converge')
}

function pushOneFilter(pipeline: Pipeline): Pipeline | null {
  const byId = nodeById(pipeline)
  const consumers = consumersOf(pipeline)
  for (const filter of pipeline.nodes) {
    if (filter.kind !== 'Filter') continue
    const upstream = byId.get(filter.input)
    if (!upstream || consumers.get(upstream.id)?.length !== 1) continue
    if (upstream.kind === 'KeyBy') return swapPastKeyBy(pipeline, filter, upstream)
    if (upstream.kind === 'Map') {
      const rewritten = pushPastMap(pipeline, filter, upstream, byId)
      if (rewritten) return rewritten
    }
  }
  return null
}

function swapPastKeyBy(
  pipeline: Pipeline,
  filter: FilterNode,
  keyBy: Extract<Node, { kind: 'KeyBy' }>,
): Pipeline {
  const movedFilter: FilterNode = { ...filter, input: keyBy.input }
  const movedKeyBy = { ...keyBy, input: filter.id }
  return replaceNodes(pipeline, [movedFilter, movedKeyBy], new Map([[filter.id, keyBy.id]]))
}

function pushPastMap(
  pipeline: Pipeline,
  filter: FilterNode,
  map: MapNode,
  byId: Map<string, Node>,
): Pipeline | null {
  const projections = new Map<string, Expr>()
  for (const field of map.fields) if (isProjection(field.value)) projections.set(field.name, field.value)
  const parts = conjuncts(filter.predicate)
  const movable = parts.filter((part) => [...columnsRead(part)].every((name) => projections.has(name)))
  if (movable.length === 0) return null
  const staying = parts.filter((part) => !movable.includes(part))
  const mapInput = byId.get(map.input)
  if (!mapInput) return null

  const pushedPredicate = transformExpr(conjoin(movable), (expr) =>
    expr.kind === 'Column' ? (projections.get(expr.name) ?? expr) : expr,
  )
  const pushed: FilterNode = {
    kind: 'Filter',
    id: `${filter.id}^`,
    input: map.input,
    predicate: pushedPredicate,
    schema: mapInput.schema,
    span: filter.span,
  }
  const rewiredMap: MapNode = { ...map, input: pushed.id }
  if (staying.length > 0) {
    const remaining: FilterNode = { ...filter, predicate: conjoin(staying) }
    return replaceNodes(pipeline, [pushed, rewiredMap, remaining], new Map())
  }
  const withoutFilter = { ...pipeline, nodes: pipeline.nodes.filter((node) => node.id !== filter.id) }
  return replaceNodes(withoutFilter, [pushed, rewiredMap], new Map([[filter.id, map.id]]))
}

/** A column, a literal, or a member/index path over them: cheap to evaluate twice, safe to copy. */
function isProjection(expr: Expr): boolean {
  switch (expr.kind) {
    case 'Column':
    case 'Literal':
      return true
    case 'Member':
      return isProjection(expr.object)
    case 'Index':
      return isProjection(expr.object) && isProjection(expr.index)
    default:
      return false
  }
}

/**
 * Puts `updated` nodes in place of the nodes with the same ids (adding new ids), points every
 * reader of a key of `redirect` at its value, and restores topological order.
 */
function replaceNodes(pipeline: Pipeline, updated: readonly Node[], redirect: Map<string, string>): Pipeline {
  const updatedById = new Map(updated.map((node) => [node.id, node]))
  const kept = pipeline.nodes.map((node) => updatedById.get(node.id) ?? node)
  const added = updated.filter((node) => !pipeline.nodes.some((old) => old.id === node.id))
  const changedIds = new Set(updated.map((node) => node.id))
  const rewired = [...added, ...kept].map((node) => {
    if (node.kind === 'Source' || changedIds.has(node.id)) return node
    const target = redirect.get(node.input)
    return target === undefined ? node : { ...node, input: target }
  })
  const streams = Object.fromEntries(
    Object.entries(pipeline.streams).map(([name, id]) => [name, redirect.get(id) ?? id]),
  )
  return { ...pipeline, streams, nodes: topologicalOrder(rewired) }
}
