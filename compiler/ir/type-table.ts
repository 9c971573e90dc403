/**
 * Names every record type of a pipeline once, so that what refers to types (the manifest, the
 * generated TypeScript) can say a record type by name instead of spelling it out.
 *
 * Spelled out, a type is as big as everything nested in it: a record wrapped once per stream over
 * N streams is N types of sizes 1..N, and writing each where it is used made the manifest and the
 * generated code grow with N² (N³ with the manifest's indentation; issue 17, defect 1). By name,
 * each record is written once, its fields naming the records nested in it, which is linear.
 *
 * Records are told apart by structure (schema name, field names, field types, `@event_time`), so
 * two equal records built separately by the checker share one name. A declared schema keeps its
 * name; a record without one is `$r<n>`, in the order first met (`$` cannot start a `.pipe`
 * identifier, so these never collide with a schema; they are valid TypeScript identifiers).
 */
import type { FieldType, RecordType, Type } from './types.ts'

/** A type with every record in it replaced by a reference to its entry in the table. */
export type TypeRef =
  | { readonly kind: 'ref'; readonly name: string }
  | { readonly kind: Exclude<Type['kind'], 'record' | 'optional' | 'list' | 'map'> }
  | { readonly kind: 'optional' | 'list' | 'map'; readonly of: TypeRef }

/** A record's entry in the table: its fields, whose records are references. */
export interface RecordDefinition {
  readonly kind: 'record'
  readonly name?: string
  readonly fields: readonly {
    readonly name: string
    readonly type: TypeRef
    readonly eventTime?: boolean
  }[]
}

/** The prefix of the names of records that are no declared schema. */
export const ANONYMOUS_RECORD_PREFIX = '$r'

export class TypeTable {
  /** Record object → its name (a record object is met many times: the checker shares them). */
  private readonly byObject = new WeakMap<RecordType, string>()
  /** Structural key → name. */
  private readonly byKey = new Map<string, string>()
  /** Name → definition, in the order defined: every record after the records nested in it. */
  private readonly definitions = new Map<string, RecordDefinition>()
  private anonymous = 0

  /** The name of a record type, defining it (and the records nested in it) when first met. */
  nameOf(record: RecordType): string {
    const known = this.byObject.get(record)
    if (known !== undefined) return known
    // The records nested in it first, innermost first, without recursion: a chain of hundreds of
    // schemas nests as deep (issue 17, defect 2), and defining one then finds its fields' names.
    const pending = [record]
    for (let top = pending.at(-1); top !== undefined; top = pending.at(-1)) {
      const inner = unnamedRecordsIn(top, this.byObject)
      // The first field's record on top: records are named in the order a recursive walk meets them.
      if (inner.length > 0) pending.push(...inner.reverse())
      else this.define(pending.pop()!)
    }
    return this.byObject.get(record)!
  }

  /** Names a record whose nested records are all named already. */
  private define(record: RecordType): void {
    if (this.byObject.has(record)) return
    const definition: RecordDefinition = {
      kind: 'record',
      ...(record.name === undefined ? {} : { name: record.name }),
      fields: record.fields.map((f: FieldType) => ({
        name: f.name,
        type: this.refOf(f.type),
        ...(f.eventTime === undefined ? {} : { eventTime: f.eventTime }),
      })),
    }
    // The definition's fields hold only references, so its JSON is as small as the record itself.
    const key = JSON.stringify(definition)
    let name = this.byKey.get(key)
    if (name === undefined) {
      name = this.freshName(record.name)
      this.byKey.set(key, name)
      this.definitions.set(name, definition)
    }
    this.byObject.set(record, name)
  }

  /** `type` with its records replaced by references. */
  refOf(type: Type): TypeRef {
    switch (type.kind) {
      case 'record':
        return { kind: 'ref', name: this.nameOf(type) }
      case 'optional':
      case 'list':
      case 'map':
        return { kind: type.kind, of: this.refOf(type.of) }
      default:
        return { kind: type.kind }
    }
  }

  /**
   * A short string that is equal for two types exactly when they are equal (records by name):
   * a key for memo tables, instead of the JSON of the whole type.
   */
  keyOf(type: Type): string {
    switch (type.kind) {
      case 'record':
        return `{${this.nameOf(type)}}`
      case 'optional':
        return `${this.keyOf(type.of)}?`
      case 'list':
        return `[${this.keyOf(type.of)}]`
      case 'map':
        return `<${this.keyOf(type.of)}>`
      default:
        return type.kind
    }
  }

  /** Every record named so far, by name: each after the records its fields refer to. */
  entries(): ReadonlyMap<string, RecordDefinition> {
    return this.definitions
  }

  private freshName(schema: string | undefined): string {
    if (schema !== undefined && !this.definitions.has(schema)) return schema
    // A schema name is taken by another structure only if two different records carry the same
    // schema name (not something the checker makes); number the second one rather than guess.
    for (;;) {
      this.anonymous += 1
      const name = `${schema ?? ANONYMOUS_RECORD_PREFIX}${schema === undefined ? '' : '$'}${this.anonymous}`
      if (!this.definitions.has(name)) return name
    }
  }
}

/**
 * The record types of a table as shared objects again: `resolve(ref)` gives the `Type` a reference
 * stands for. Every record is built once, so a reader's memory stays linear in the table's size.
 * Throws naming the reference when the table has no such entry, or an entry that contains itself.
 */
export function typeResolver(
  definitions: Readonly<Record<string, RecordDefinition>>,
): (ref: TypeRef) => Type {
  const built = new Map<string, RecordType>()
  const building = new Set<string>()
  const record = (name: string): RecordType => {
    const done = built.get(name)
    if (done !== undefined) return done
    if (!Object.hasOwn(definitions, name)) throw new Error(`type ${name} is not defined in the type table`)
    if (building.has(name)) throw new Error(`type ${name} contains itself`)
    building.add(name)
    const definition = definitions[name]!
    const result: RecordType = {
      kind: 'record',
      ...(definition.name === undefined ? {} : { name: definition.name }),
      fields: definition.fields.map((f) => ({
        name: f.name,
        type: resolve(f.type),
        ...(f.eventTime === undefined ? {} : { eventTime: f.eventTime }),
      })),
    }
    building.delete(name)
    built.set(name, result)
    return result
  }
  const resolve = (ref: TypeRef): Type => {
    switch (ref.kind) {
      case 'ref':
        return record(ref.name)
      case 'optional':
      case 'list':
      case 'map':
        return { kind: ref.kind, of: resolve(ref.of) }
      default:
        return { kind: ref.kind }
    }
  }
  return resolve
}

/** The records in a record's fields (through `?`, lists and maps) that have no name yet. */
function unnamedRecordsIn(record: RecordType, named: WeakMap<RecordType, string>): RecordType[] {
  const found: RecordType[] = []
  for (const field of record.fields) {
    let type: Type = field.type
    while (type.kind === 'optional' || type.kind === 'list' || type.kind === 'map') type = type.of
    if (type.kind === 'record' && !named.has(type)) found.push(type)
  }
  return found
}
