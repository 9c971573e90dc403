/**
 * Type helpers for the checker. The checker works on IR `Type`s directly, plus one sentinel,
 * `ERROR_TYPE`, given to an expression whose error was already reported: every rule treats it as
 * "anything", which stops one mistake from producing a cascade of follow-on errors. The sentinel
 * never reaches a `Pipeline`, because a pipeline is only built when there are no errors.
 */
import { showType, unifyTypes } from '../../stdlib/types.ts'
import type { RecordType, ScalarTypeKind, Type } from '../ir/types.ts'

export const ERROR_TYPE: Type = Object.freeze({ kind: 'record', name: '<error>', fields: Object.freeze([]) })

export function isError(type: Type): boolean {
  return type === ERROR_TYPE
}

export const scalar = (kind: ScalarTypeKind): Type => ({ kind })
export const BOOL = scalar('bool')
export const NULL: Type = { kind: 'null' }

export function optional(type: Type): Type {
  if (isError(type) || type.kind === 'optional' || type.kind === 'null') return type
  return { kind: 'optional', of: type }
}

export function listOf(type: Type): Type {
  return isError(type) ? ERROR_TYPE : { kind: 'list', of: type }
}

/** The type without its `?`. */
export function baseType(type: Type): Type {
  return type.kind === 'optional' ? type.of : type
}

/** Whether a value of this type may be null. */
export function isNullable(type: Type): boolean {
  return type.kind === 'optional' || type.kind === 'null'
}

export function withNullability(type: Type, nullable: boolean): Type {
  return nullable ? optional(type) : type
}

export function isNumericType(type: Type): boolean {
  return type.kind === 'i64' || type.kind === 'f64'
}

export function show(type: Type): string {
  return isError(type) ? '<error>' : showType(type)
}

export function unify(a: Type, b: Type): Type | null {
  if (isError(a) || isError(b)) return ERROR_TYPE
  return unifyTypes(a, b)
}

/** Whether a `null` type hides anywhere inside (a field or list item whose type is only `null`). */
export function containsBareNull(type: Type): boolean {
  switch (type.kind) {
    case 'null':
      return true
    case 'optional':
    case 'list':
    case 'map':
      return containsBareNull(type.of)
    case 'record':
      return type.fields.some((f) => containsBareNull(f.type))
    default:
      return false
  }
}

/** How a record is named in messages: its schema name, or its field names. */
export function describeRecord(record: RecordType): string {
  if (record.name !== undefined) return `\`${record.name}\``
  const names = record.fields.map((f) => f.name)
  const shown = names.length > 6 ? [...names.slice(0, 6), '…'] : names
  return `\`{ ${shown.join(', ')} }\``
}

type Arith = '+' | '-' | '*' | '/' | '%'

/**
 * The result type of an arithmetic operator on two non-null operand types, or null when the
 * operator does not apply. Rules (specs/language.md, "Typing"): numbers (i64 op i64 → i64, any
 * f64 → f64), string + string, timestamp ± duration, timestamp − timestamp, duration ± duration,
 * duration * i64, i64 * duration, duration / i64.
 */
export function arithmeticResult(op: Arith, a: Type, b: Type): Type | null {
  if (isNumericType(a) && isNumericType(b)) {
    return a.kind === 'i64' && b.kind === 'i64' ? scalar('i64') : scalar('f64')
  }
  const pair = `${a.kind} ${op} ${b.kind}`
  switch (pair) {
    case 'string + string':
      return scalar('string')
    case 'timestamp + duration':
    case 'duration + timestamp':
    case 'timestamp - duration':
      return scalar('timestamp')
    case 'timestamp - timestamp':
    case 'duration + duration':
    case 'duration - duration':
    case 'duration * i64':
    case 'i64 * duration':
    case 'duration / i64':
      return scalar('duration')
    default:
      return null
  }
}

const EQUATABLE: ReadonlySet<string> = new Set(['string', 'bool', 'i64', 'f64', 'timestamp', 'duration'])
const ORDERED: ReadonlySet<string> = new Set(['string', 'i64', 'f64', 'timestamp', 'duration'])

/** Whether `==`/`!=` (ordered = false) or `<`… (ordered = true) apply to two non-null operand types. */
export function comparable(a: Type, b: Type, ordered: boolean): boolean {
  // Maps of scalars are equal when they have the same keys with equal values (language.md, Maps).
  if (!ordered && a.kind === 'map' && b.kind === 'map') {
    const [x, y] = [baseType(a.of), baseType(b.of)]
    return comparable(x, y, false)
  }
  const allowed = ordered ? ORDERED : EQUATABLE
  if (!allowed.has(a.kind) || !allowed.has(b.kind)) return false
  return a.kind === b.kind || (isNumericType(a) && isNumericType(b))
}

const KEY_KINDS: ReadonlySet<string> = new Set(['string', 'i64', 'bool', 'timestamp'])

export function isKeyType(type: Type): boolean {
  return KEY_KINDS.has(baseType(type).kind)
}
