/**
 * The type vocabulary stdlib signatures speak. stdlib may not import the compiler, so this is a
 * structural copy of the IR's `Type` (compiler/ir/types.ts): an IR type is a `LibType` and a
 * `LibType` is an IR type, and the checker passes its types straight through (a type-level test in
 * compiler/check keeps the two in step).
 */
export type LibScalarKind = 'string' | 'bool' | 'i64' | 'f64' | 'timestamp' | 'duration'

export type LibType =
  | { readonly kind: LibScalarKind }
  | { readonly kind: 'null' }
  | { readonly kind: 'optional'; readonly of: LibType }
  | { readonly kind: 'list'; readonly of: LibType }
  | LibRecordType

export interface LibRecordType {
  readonly kind: 'record'
  readonly name?: string
  readonly fields: readonly { readonly name: string; readonly type: LibType; readonly eventTime?: boolean }[]
}

/** What a signature sees of one argument: its type and, when the argument is a literal, its value. */
export interface ArgInfo {
  readonly type: LibType
  readonly literal?: string | number | boolean | null
}

export type SignatureResult =
  | { readonly ok: true; readonly type: LibType }
  /** `arity` marks a wrong argument count; `argIndex` points the message at one argument. */
  | {
      readonly ok: false
      readonly message: string
      readonly argIndex?: number
      readonly arity?: boolean
      /** The diagnostic code when it is not E0303 (arity) or E0304 (argument type). */
      readonly code?: 'E0320' | 'E0321'
    }

export const t = {
  string: { kind: 'string' },
  bool: { kind: 'bool' },
  i64: { kind: 'i64' },
  f64: { kind: 'f64' },
  timestamp: { kind: 'timestamp' },
  duration: { kind: 'duration' },
  null: { kind: 'null' },
  optional: (of: LibType): LibType =>
    of.kind === 'optional' || of.kind === 'null' ? of : { kind: 'optional', of },
  list: (of: LibType): LibType => ({ kind: 'list', of }),
} as const satisfies Record<string, LibType | ((of: LibType) => LibType)>

export function isNumeric(type: LibType): boolean {
  return type.kind === 'i64' || type.kind === 'f64'
}

export function isScalar(type: LibType): boolean {
  return (
    type.kind === 'string' ||
    type.kind === 'bool' ||
    type.kind === 'i64' ||
    type.kind === 'f64' ||
    type.kind === 'timestamp' ||
    type.kind === 'duration'
  )
}

/** Renders a type as the `.pipe` source would spell it, for messages. */
export function showType(type: LibType): string {
  switch (type.kind) {
    case 'optional':
      return `${showType(type.of)}?`
    case 'list':
      return `list<${showType(type.of)}>`
    case 'record':
      return type.name ?? `{ ${type.fields.map((f) => `${f.name}: ${showType(f.type)}`).join(', ')} }`
    default:
      return type.kind
  }
}

/** Structural equality; record names and event-time marks do not matter, field order does. */
export function sameType(a: LibType, b: LibType): boolean {
  if (a.kind !== b.kind) return false
  if ((a.kind === 'optional' || a.kind === 'list') && (b.kind === 'optional' || b.kind === 'list')) {
    return sameType(a.of, b.of)
  }
  if (a.kind === 'record' && b.kind === 'record') {
    return (
      a.fields.length === b.fields.length &&
      a.fields.every((f, i) => {
        const g = b.fields[i]
        return g !== undefined && f.name === g.name && sameType(f.type, g.type)
      })
    )
  }
  return true
}

function baseOf(type: LibType): LibType {
  return type.kind === 'optional' ? type.of : type
}

/**
 * The one type both values fit, or null: equal types; i64 with f64 is f64 (numbers are one JS
 * number at run time); `null` with T is T?; T with T? is T?.
 */
export function unifyTypes(a: LibType, b: LibType): LibType | null {
  if (a.kind === 'null') return t.optional(b)
  if (b.kind === 'null') return t.optional(a)
  const optional = a.kind === 'optional' || b.kind === 'optional'
  const ba = baseOf(a)
  const bb = baseOf(b)
  let base: LibType | null = null
  if (sameType(ba, bb)) base = ba
  else if (isNumeric(ba) && isNumeric(bb)) base = t.f64
  else if (ba.kind === 'list' && bb.kind === 'list') {
    const item = unifyTypes(ba.of, bb.of)
    base = item === null ? null : t.list(item)
  }
  if (base === null) return null
  return optional ? t.optional(base) : base
}
