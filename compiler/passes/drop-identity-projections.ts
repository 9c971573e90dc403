/**
 * Drops a `select` that keeps every field of its input as it is (`select { * }`, or every field
 * named in order), so a source flowing through one into a sink still gets the pass-through of
 * canonical record bytes (runtime/node/pass-through.ts, compiler/codegen/canonical-json.ts; issue
 * 17). Such a select reads plain fields, which cannot fail, and emits a record equal to its input
 * (same names, order and types; the key and event time are carried unchanged by any select), so
 * its consumers read its input instead without any output or dead letter changing.
 */
import { topologicalOrder, withInputs } from '../ir/graph.ts'
import type { MapNode, Node, Pipeline, Type } from '../ir/types.ts'

export function dropIdentityProjections(pipeline: Pipeline): Pipeline {
  const byId = new Map(pipeline.nodes.map((node) => [node.id, node]))
  const dropped = new Map<string, string>()
  for (const node of pipeline.nodes) {
    if (node.kind === 'Map' && isIdentity(node, byId.get(node.input))) dropped.set(node.id, node.input)
  }
  if (dropped.size === 0) return pipeline
  // A chain of identity selects collapses onto the first node that is not one.
  const redirect = (id: string): string => {
    let current = id
    while (dropped.has(current)) current = dropped.get(current)!
    return current
  }
  const nodes = pipeline.nodes
    .filter((node) => !dropped.has(node.id))
    .map((node) => withInputs(node, redirect))
  const streams = Object.fromEntries(
    Object.entries(pipeline.streams).map(([name, id]) => [name, redirect(id)]),
  )
  return { ...pipeline, streams, nodes: topologicalOrder(nodes) }
}

function isIdentity(map: MapNode, input: Node | undefined): boolean {
  if (input === undefined) return false
  const fields = input.schema.fields
  if (map.fields.length !== fields.length || map.schema.fields.length !== fields.length) return false
  return map.fields.every((field, i) => {
    const original = fields[i]!
    return (
      field.name === original.name &&
      field.value.kind === 'Column' &&
      field.value.name === original.name &&
      sameType(field.value.type, original.type) &&
      sameType(map.schema.fields[i]!.type, original.type) &&
      (map.schema.fields[i]!.eventTime ?? false) === (original.eventTime ?? false)
    )
  })
}

/** Structural equality of types (record type names aside: a select's record has none of its own). */
function sameType(a: Type, b: Type): boolean {
  return JSON.stringify(shape(a)) === JSON.stringify(shape(b))
}

function shape(type: Type): unknown {
  switch (type.kind) {
    case 'record':
      return { kind: 'record', fields: type.fields.map((f) => [f.name, shape(f.type)]) }
    case 'optional':
    case 'list':
    case 'map':
      return { kind: type.kind, of: shape(type.of) }
    default:
      return type
  }
}
