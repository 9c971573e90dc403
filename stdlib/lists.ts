/**
 * The stdlib's list functions of one list (specs/language.md, "Lists"): `flatten`, `distinct` and
 * `sort`, with their signatures. The functions over items that take a lambda (`map`, `filter`,
 * `any`, `all`) and the SQL-like aggregates (`count`, `sum`, …) are expressions of the IR, not
 * stdlib calls: they need the checker (a lambda's scope) or skip nulls in ways a signature cannot say.
 */
import { isScalar, type LibType, type SignatureResult, showType } from './types.ts'

function listArgument(name: string, args: readonly { readonly type: LibType }[]): LibType | SignatureResult {
  if (args.length !== 1) {
    return {
      ok: false,
      arity: true,
      message: `\`${name}\` takes 1 argument (list), but ${args.length} ${args.length === 1 ? 'was' : 'were'} given`,
    }
  }
  const list = args[0]!.type
  if (list.kind !== 'list') {
    return {
      ok: false,
      argIndex: 0,
      message: `argument \`list\` of \`${name}\` must be a list, found \`${showType(list)}\``,
    }
  }
  return list
}

function itemOf(list: LibType): LibType {
  const item = list.kind === 'list' ? list.of : list
  return item.kind === 'optional' ? item.of : item
}

export function flattenSignature(args: readonly { readonly type: LibType }[]): SignatureResult {
  const list = listArgument('flatten', args)
  if ('ok' in list) return list
  const inner = list.kind === 'list' ? list.of : list
  const base = inner.kind === 'optional' ? inner.of : inner
  if (base.kind !== 'list') {
    return {
      ok: false,
      argIndex: 0,
      message: `\`flatten\` needs a list of lists, found \`${showType(list)}\``,
    }
  }
  return { ok: true, type: base }
}

/** `distinct` and `sort` take lists of scalars (sort: ordered ones, not bools). */
export function scalarListSignature(name: 'distinct' | 'sort') {
  return (args: readonly { readonly type: LibType }[]): SignatureResult => {
    const list = listArgument(name, args)
    if ('ok' in list) return list
    const item = itemOf(list)
    const ok = name === 'sort' ? isScalar(item) && item.kind !== 'bool' : isScalar(item)
    if (!ok) {
      return {
        ok: false,
        argIndex: 0,
        message: `\`${name}\` needs a list of ${name === 'sort' ? 'numbers, strings, timestamps or durations' : 'scalars'}, found \`${showType(list)}\``,
      }
    }
    return { ok: true, type: list }
  }
}

/** The items of the inner lists in order; a null inner list adds nothing. */
export function flatten(lists: readonly (readonly unknown[] | null)[]): unknown[] {
  const out: unknown[] = []
  for (const inner of lists) if (inner !== null) for (const item of inner) out.push(item)
  return out
}

/** The first occurrence of each item, in order (nulls are one item; NaN equals NaN). */
export function distinct(list: readonly unknown[]): unknown[] {
  return [...new Set(list)]
}

/**
 * The items in ascending order (strings by UTF-16 code units, as `<`), equal items in their
 * order (a stable sort); NaN after the numbers, nulls last.
 */
export function sort(list: readonly (number | string | null)[]): (number | string | null)[] {
  const rank = (v: number | string | null) =>
    v === null ? 2 : typeof v === 'number' && Number.isNaN(v) ? 1 : 0
  return [...list].sort((a, b) => {
    const ra = rank(a)
    const rb = rank(b)
    if (ra !== rb || ra !== 0) return ra - rb
    return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0
  })
}
