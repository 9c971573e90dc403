/**
 * Which fields of a source's records the pipeline reads, so the source's decoder materialises
 * only those (the rest are still checked: a record that does not match its schema is
 * dead-lettered whether or not its bad field is read).
 *
 * A field is read when a chain fed by the source refers to it before its first `select` or
 * `aggregate` (which build a new row), or when the source's rows reach anything that uses the whole row: a sink
 * (it writes every field), or a chain without a `select` whose output does. The event-time field
 * is always read (the runtime takes event time from it).
 */
import { childrenOf, columnsRead } from '../ir/expr.ts'
import { consumersOf, nodeById } from '../ir/graph.ts'
import type { Expr, Pipeline, SourceNode } from '../ir/types.ts'

/** The names of the fields read, or null when the whole row is needed. */
export function fieldsRead(pipeline: Pipeline, source: SourceNode): ReadonlySet<string> | null {
  const consumers = consumersOf(pipeline)
  const byId = nodeById(pipeline)
  const read = new Set<string>()
  if (source.eventTimeField !== null) read.add(source.eventTimeField)
  if (source.watermark !== null) read.add(source.watermark.field)

  /** Adds what the readers of `nodeId`, whose rows are the source's rows, read; false: everything. */
  const visit = (nodeId: string): boolean => {
    for (const consumerId of consumers.get(nodeId) ?? []) {
      const node = byId.get(consumerId)
      if (node?.kind === 'WindowAggregate') {
        // Reads its keys, arguments (max_by's `by` too) and a session's computed gap; its late
        // events are the source's rows, read on downstream.
        for (const key of node.keys) columnsRead(key.value, read)
        for (const aggregate of node.aggregates) {
          if (aggregate.arg) columnsRead(aggregate.arg, read)
          if (aggregate.by) columnsRead(aggregate.by, read)
        }
        if (node.window.kind === 'session' && node.window.gap !== null) columnsRead(node.window.gap, read)
        if (node.late !== null && !visit(node.late)) return false
        continue
      }
      if (node?.kind === 'Match') {
        // Conditions and the key read the current event's columns; a step's events are the
        // source's rows too, so reading a step whole (not a field of it) needs the whole row.
        const reads = [
          ...(node.key === null ? [] : [node.key]),
          ...node.steps.flatMap((s) => (s.until === null ? [s.condition] : [s.condition, s.until])),
          ...node.fields.map((f) => f.value),
          ...(node.timeout?.fields.map((f) => f.value) ?? []),
        ]
        for (const expr of reads) if (!stepFieldsRead(expr, read)) return false
        if (node.late !== null && !visit(node.late)) return false
        continue
      }
      if (node?.kind !== 'Fused') return false
      let passesRowOn = true
      for (const step of node.steps) {
        if (step.kind === 'Filter') columnsRead(step.predicate, read)
        else if (step.kind === 'KeyBy') columnsRead(step.key, read)
        else if (step.kind === 'Dedup') for (const key of step.keys) columnsRead(key, read)
        else if (step.kind === 'Explode') columnsRead(step.list, read)
        else if (step.kind === 'Map') {
          for (const field of step.fields) columnsRead(field.value, read)
          passesRowOn = false
          break
        } else {
          for (const key of step.keys) columnsRead(key.value, read)
          for (const aggregate of step.aggregates) if (aggregate.arg) columnsRead(aggregate.arg, read)
          passesRowOn = false
          break
        }
      }
      if (passesRowOn && !visit(node.id)) return false
    }
    return true
  }
  return visit(source.id) ? read : null
}

/**
 * Adds the columns `expr` reads of the current event and the fields it reads of steps' events
 * (`large.card`, `small.amount`, `first(small).country`); false when it reads a step's events whole
 * (`{ e: large }`, `count(small)` aside), which needs every field.
 */
function stepFieldsRead(expr: Expr, read: Set<string>): boolean {
  if (expr.kind === 'Column') {
    read.add(expr.name)
    return true
  }
  if (expr.kind === 'Member' || expr.kind === 'Project') {
    const indexes = stepEvents(expr.object)
    if (indexes !== null) {
      read.add(expr.name)
      return indexes.every((index) => stepFieldsRead(index, read))
    }
  }
  // Counting a step's events reads none of their fields.
  if (expr.kind === 'ListFunction' && expr.fn === 'count' && expr.list.kind === 'StepRef') return true
  if (expr.kind === 'StepRef') return false
  return childrenOf(expr).every((child) => stepFieldsRead(child, read))
}

/**
 * When `expr` is a step's events, one of them (first/last/indexing) or all: the index expressions
 * on the way (they read columns of their own); null when it is something else.
 */
function stepEvents(expr: Expr): Expr[] | null {
  if (expr.kind === 'StepRef') return []
  if (expr.kind === 'ListFunction' && (expr.fn === 'first' || expr.fn === 'last'))
    return stepEvents(expr.list)
  if (expr.kind === 'Index') {
    const inner = stepEvents(expr.object)
    return inner === null ? null : [...inner, expr.index]
  }
  return null
}
