/**
 * The types of a manifest as the runtime reads them. Format version 2 writes every record type once
 * in `types` and a reference `{ "kind": "ref", "name": … }` wherever a type is used (specs/artifact.md
 * "Types"); version 1 spelled each type out where it was used. The runtime runs the generated module
 * and needs few types itself (the gateway names a source's schema), but it checks that every
 * reference of a version 2 manifest is defined, so a damaged table is refused on load, not met later.
 */

/** A record type as the manifest writes it: spelled out (version 1) or a reference (version 2). */
type ManifestType = { readonly kind: string; readonly name?: unknown }

/**
 * The problem with a version 2 manifest's type references, or null: `types` must be an object of
 * record definitions, every reference anywhere in the manifest must name one, and no definition
 * may contain itself.
 */
export function typeReferenceProblem(manifest: Record<string, unknown>): string | null {
  const types = manifest.types
  if (typeof types !== 'object' || types === null || Array.isArray(types)) return 'missing "types"'
  const table = types as Record<string, unknown>
  for (const [name, definition] of Object.entries(table)) {
    const fields = (definition as { fields?: unknown } | null)?.fields
    if ((definition as { kind?: unknown } | null)?.kind !== 'record' || !Array.isArray(fields)) {
      return `type ${name} is not a record definition`
    }
  }
  // Every reference, anywhere (the definitions' fields included), must be defined.
  const pending: unknown[] = [manifest]
  while (pending.length > 0) {
    const value = pending.pop()
    if (typeof value !== 'object' || value === null) continue
    if (Array.isArray(value)) {
      pending.push(...value)
      continue
    }
    const v = value as Record<string, unknown>
    if (v.kind === 'ref') {
      if (typeof v.name !== 'string' || !Object.hasOwn(table, v.name)) {
        return `a type reference names ${JSON.stringify(v.name)}, which "types" does not define`
      }
      continue
    }
    for (const item of Object.values(v)) pending.push(item)
  }
  return cycleIn(table)
}

/** A definition that contains itself (through its fields' references), which no type can be. */
function cycleIn(table: Record<string, unknown>): string | null {
  const state = new Map<string, 'visiting' | 'done'>()
  const refsOf = (name: string): string[] => {
    const found: string[] = []
    const pending: unknown[] = [(table[name] as { fields: unknown }).fields]
    while (pending.length > 0) {
      const value = pending.pop()
      if (typeof value !== 'object' || value === null) continue
      const v = value as Record<string, unknown>
      if (!Array.isArray(value) && v.kind === 'ref') found.push(v.name as string)
      else pending.push(...(Array.isArray(value) ? value : Object.values(v)))
    }
    return found
  }
  for (const root of Object.keys(table)) {
    if (state.has(root)) continue
    // Depth-first without recursion: the table may be deep.
    const stack: { name: string; refs: string[] }[] = [{ name: root, refs: refsOf(root) }]
    state.set(root, 'visiting')
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!
      const next = top.refs.pop()
      if (next === undefined) {
        state.set(top.name, 'done')
        stack.pop()
      } else if (state.get(next) === 'visiting') {
        return `type ${next} contains itself`
      } else if (!state.has(next)) {
        state.set(next, 'visiting')
        stack.push({ name: next, refs: refsOf(next) })
      }
    }
  }
  return null
}

/** The schema name of a source's record type (a reference's definition in version 2), if any. */
export function schemaNameOf(manifest: { readonly types?: unknown }, schema: unknown): string | null {
  const type = schema as ManifestType | undefined
  if (type === undefined || type === null) return null
  const definition =
    type.kind === 'ref' && typeof type.name === 'string'
      ? Object.hasOwn((manifest.types ?? {}) as object, type.name)
        ? (manifest.types as Record<string, ManifestType>)[type.name]!
        : null
      : type
  return typeof definition?.name === 'string' ? definition.name : null
}
