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
import { columnsRead } from '../ir/expr.ts'
import { consumersOf, nodeById } from '../ir/graph.ts'
import type { Pipeline, SourceNode } from '../ir/types.ts'

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
      if (node?.kind !== 'Fused') return false
      let passesRowOn = true
      for (const step of node.steps) {
        if (step.kind === 'Filter') columnsRead(step.predicate, read)
        else if (step.kind === 'KeyBy') columnsRead(step.key, read)
        else if (step.kind === 'Dedup') for (const key of step.keys) columnsRead(key, read)
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
