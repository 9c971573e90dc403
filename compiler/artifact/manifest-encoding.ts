/**
 * How a manifest is written to manifest.json (format version 2, specs/artifact.md "Types"): every
 * record type once in `types`, by name, and a reference `{ "kind": "ref", "name": … }` wherever the
 * manifest has a type (inputs, outputs, schemas, every node and expression of the graph). The
 * in-memory manifest keeps whole types (shared objects); only the file is by reference, so its size
 * grows with the pipeline, not with the nesting of its records times the number of their uses.
 *
 * The text is indented only down to the graph's nodes, each of which is one line below that:
 * indentation at every level of a deep expression or type was most of the file (issue 17, defect 1).
 */
import { type RecordDefinition, type TypeRef, TypeTable, typeResolver } from '../ir/type-table.ts'

/** Whether a JSON value is a record type of the IR (only types have the lowercase kind `record`). */
function isRecordType(value: object): boolean {
  return (
    (value as { kind?: unknown }).kind === 'record' && Array.isArray((value as { fields?: unknown }).fields)
  )
}

function isTypeRef(value: object): value is { kind: 'ref'; name: string } {
  return (
    (value as { kind?: unknown }).kind === 'ref' && typeof (value as { name?: unknown }).name === 'string'
  )
}

/**
 * `manifest` with every record type replaced by a reference, and `types`: the table of their
 * definitions, inserted after `schemas` (each record after the records it refers to).
 */
export function encodeManifestTypes<M extends object>(
  manifest: M,
): M & { types: Record<string, RecordDefinition> } {
  const table = new TypeTable()
  const encode = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) return value
    if (Array.isArray(value)) return value.map(encode)
    if (isRecordType(value)) return { kind: 'ref', name: table.nameOf(value as never) } satisfies TypeRef
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) out[key] = encode(item)
    return out
  }
  const encoded = encode(manifest) as Record<string, unknown>
  const result: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(encoded)) {
    result[key] = item
    if (key === 'schemas') result.types = Object.fromEntries(table.entries())
  }
  if (!('types' in result)) result.types = Object.fromEntries(table.entries())
  return result as M & { types: Record<string, RecordDefinition> }
}

/**
 * The inverse of encodeManifestTypes, for tools that read manifest.json and want whole types:
 * every reference replaced by its record (one shared object per name), `types` dropped. Throws
 * naming a reference that `types` does not define.
 */
export function decodeManifestTypes(file: Record<string, unknown>): Record<string, unknown> {
  const { types, ...rest } = file
  const resolve = typeResolver((types ?? {}) as Record<string, RecordDefinition>)
  const decode = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) return value
    if (Array.isArray(value)) return value.map(decode)
    if (isTypeRef(value)) return resolve(value)
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) out[key] = decode(item)
    return out
  }
  return decode(rest) as Record<string, unknown>
}

/**
 * JSON text indented down to `depth` levels (the manifest's sections, their entries, and the
 * graph's nodes), each value below that on one line.
 */
export function formatManifestJson(value: unknown, depth = 3): string {
  const write = (item: unknown, level: number, indent: string): string => {
    if (level >= depth || typeof item !== 'object' || item === null) return JSON.stringify(item)
    const inner = `${indent}  `
    if (Array.isArray(item)) {
      if (item.length === 0) return '[]'
      return `[\n${item.map((v) => inner + write(v ?? null, level + 1, inner)).join(',\n')}\n${indent}]`
    }
    const entries = Object.entries(item).filter(([, v]) => v !== undefined)
    if (entries.length === 0) return '{}'
    return `{\n${entries
      .map(([k, v]) => `${inner}${JSON.stringify(k)}: ${write(v, level + 1, inner)}`)
      .join(',\n')}\n${indent}}`
  }
  return `${write(value, 0, '')}\n`
}
