/**
 * The type aliases of the generated module's records that are no declared schema (`$r<n>`, named
 * by the TypeTable): each written once, its fields naming the records nested in it, so the module
 * grows with the pipeline and not with the depth of its records (issue 17, defect 1).
 */
import type { TypeRef, TypeTable } from '../ir/type-table.ts'
import { propertyKey } from './property.ts'

/** `type $r1 = { x: number; y: $r0 | null }` for every record the table named but `declared` does not hold. */
export function recordTypeAliases(table: TypeTable, declared: ReadonlySet<string>): string[] {
  const aliases: string[] = []
  for (const [name, definition] of table.entries()) {
    if (declared.has(name)) continue
    const fields = definition.fields.map((f) => `${propertyKey(f.name)}: ${refText(f.type)}`)
    aliases.push(`type ${name} = { ${fields.join('; ')} }`)
  }
  return aliases.length === 0
    ? []
    : ['// Record types without a schema of their own, referred to by name above.', ...aliases]
}

/** The TypeScript text of a type whose records are references (as tsType writes an IR type). */
function refText(type: TypeRef): string {
  switch (type.kind) {
    case 'ref':
      return type.name
    case 'string':
      return 'string'
    case 'bool':
      return 'boolean'
    case 'null':
      return 'null'
    case 'optional':
      return `${refText(type.of)} | null`
    case 'list': {
      const item = refText(type.of)
      return item.includes('|') ? `(${item})[]` : `${item}[]`
    }
    case 'map':
      return `{ [key: string]: ${refText(type.of)} }`
    default:
      return 'number'
  }
}
