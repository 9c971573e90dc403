/**
 * Moves filters upstream, past `key by` and past `select`s, so events are dropped before work is
 * spent on them, without changing any output or which events go to the dead-letter topic
 * (specs/language.md §6).
 *
 * Before: source → select { id, n, c: lower(country), amount } → key by id
 *           → where n != 0 and amount / n > 10 and c != "us"
 * After:  source → where n != 0 and amount / n > 10 → select {...} → where c != "us" → key by id
 * Kept:   select { a, x, b: x + 0 } → where b != 0 and a / x > 1 stays as it is: `x + 0` can fail
 *         (i64 overflow), and `a / x > 1` may not run ahead of its guard `b != 0` (a computed field).
 *
 * Rules (an event a moved filter drops never reaches the operators it was moved past, and the
 * conjuncts of a predicate are evaluated left to right, stopping at the first false one):
 * - Only past an operator that cannot fail on any event: no select field and no key expression
 *   that `canFail`, and no timestamp key (its string form fails out of the Date range).
 *   Otherwise an event the moved filter drops would no longer be dead-lettered by that operator.
 * - Never past a stateful step (`dedup`, `aggregate`): its state would see other events, so it
 *   would keep, drop or count differently. Only `key by` and `select` are ever passed.
 * - Only when the operator being passed has the filter as its one consumer: with fan-out, the
 *   other consumers must still see every event.
 * - Past a `key by`, a filter moves whole (key by does not change the record).
 * - Past a `select`, a prefix of the predicate's conjuncts moves, up to the first conjunct that
 *   reads a computed field (only plain projections — a column, a member/index path or a literal —
 *   are rewritten onto the select's input, so no expression is evaluated twice). A prefix keeps
 *   the conjuncts' order, so a guard (`x != 0 and a / x > 1`) still runs before what it guards.
 * - When a staying conjunct can fail, only conjuncts that are never null move: with a null one
 *   (and none false) the whole predicate still evaluates the staying conjuncts, which may fail,
 *   while a moved filter would drop the event first.
 */
import {
  canFail,
  columnsRead,
  conjoin,
  conjuncts,
  isOptional,
  transformExpr,
  unwrapOptional,
} from '../ir/expr.ts'
import { consumersOf, nodeById, topologicalOrder, withInputs } from '../ir/graph.ts'
import type { Expr, FilterNode, KeyByNode, MapNode, Node, Pipeline } from '../ir/types.ts'

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
    if (upstream.kind === 'KeyBy') {
      if (!keyByCanFail(upstream)) return swapPastKeyBy(pipeline, filter, upstream)
    } else if (upstream.kind === 'Map' && !upstream.fields.some((field) => canFail(field.value))) {
      const rewritten = pushPastMap(pipeline, filter, upstream, byId)
      if (rewritten) return rewritten
    }
  }
  return null
}

/** A timestamp key fails outside the Date range (see `keyString` in ir/interpret.ts). */
function keyByCanFail(keyBy: KeyByNode): boolean {
  return canFail(keyBy.key) || unwrapOptional(keyBy.key.type).kind === 'timestamp'
}

function swapPastKeyBy(pipeline: Pipeline, filter: FilterNode, keyBy: KeyByNode): Pipeline {
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
  const readsProjections = (part: Expr): boolean =>
    [...columnsRead(part)].every((name) => projections.has(name))
  let count = 0
  while (count < parts.length && readsProjections(parts[count]!)) count++
  if (parts.slice(count).some((part) => canFail(part))) {
    // A null moved conjunct would drop the event before a staying conjunct that fails on it.
    let neverNull = 0
    while (neverNull < count && !isOptional(parts[neverNull]!.type)) neverNull++
    count = neverNull
  }
  if (count === 0) return null
  const movable = parts.slice(0, count)
  const staying = parts.slice(count)
  const mapInput = byId.get(map.input)
  if (!mapInput) return null

  const pushedPredicate = transformExpr(conjoin(movable), (expr) =>
    expr.kind === 'Column' ? (projections.get(expr.name) ?? expr) : expr,
  )
  const pushed: FilterNode = {
    kind: 'Filter',
    id: freshId(pipeline, `${filter.id}^`),
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

/** `base`, or `base` with more `^` appended until no node has that id. */
function freshId(pipeline: Pipeline, base: string): string {
  const ids = new Set(pipeline.nodes.map((node) => node.id))
  let id = base
  while (ids.has(id)) id += '^'
  return id
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
    if (changedIds.has(node.id)) return node
    return withInputs(node, (input) => redirect.get(input) ?? input)
  })
  const streams = Object.fromEntries(
    Object.entries(pipeline.streams).map(([name, id]) => [name, redirect.get(id) ?? id]),
  )
  return { ...pipeline, streams, nodes: topologicalOrder(rewired) }
}
