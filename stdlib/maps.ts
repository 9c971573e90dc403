/**
 * The functions over `map<string, T>` (specs/language.md, "Maps"). A map at run time is an object
 * whose own properties are its entries (decoded maps have no prototype; a map that went through
 * JSON, e.g. in a state snapshot, may have Object.prototype), so every function reads own keys
 * only, and `__proto__` or `constructor` are ordinary keys. Keys come out in ascending order of
 * UTF-16 code units, whatever order the JSON had, as the encoder writes them.
 */
import type { StdlibFunction } from './index.ts'
import { type ArgInfo, type LibType, type SignatureResult, showType, t } from './types.ts'

type Entry = Omit<StdlibFunction, 'mayFail'>
type MapValue = Readonly<Record<string, unknown>>

function mapArgument(
  name: string,
  args: readonly ArgInfo[],
  arity: number,
  usage: string,
): LibType | SignatureResult {
  if (args.length !== arity) {
    return {
      ok: false,
      arity: true,
      message: `\`${name}\` takes ${arity === 1 ? 'one argument' : `${arity} arguments`}: \`${usage}\``,
    }
  }
  const map = args[0]!.type
  if (map.kind !== 'map') {
    return {
      ok: false,
      argIndex: 0,
      message: `argument \`m\` of \`${name}\` must be a map, found \`${showType(map)}\``,
    }
  }
  return map.of
}

function signature(
  name: string,
  usage: string,
  arity: number,
  result: (value: LibType, args: readonly ArgInfo[]) => LibType | SignatureResult,
): (args: readonly ArgInfo[]) => SignatureResult {
  return (args) => {
    const value = mapArgument(name, args, arity, usage)
    if ('ok' in value) return value
    const r = result(value, args)
    return 'ok' in r ? r : { ok: true, type: r }
  }
}

/** The map's keys in ascending order of UTF-16 code units. */
export function mapKeys(map: MapValue): string[] {
  return Object.keys(map).sort()
}

export const MAP_FUNCTIONS: readonly Entry[] = [
  {
    name: 'keys',
    doc: "The map's keys, in ascending order of UTF-16 code units.",
    usage: 'keys(m: map<string, T>) → list<string>',
    signature: signature('keys', 'keys(m)', 1, () => t.list(t.string)),
    nullPropagating: true,
    impl: mapKeys,
  },
  {
    name: 'values',
    doc: "The map's values, in the order of its keys (as `keys` gives them).",
    usage: 'values(m: map<string, T>) → list<T>',
    signature: signature('values', 'values(m)', 1, (value) => t.list(value)),
    nullPropagating: true,
    impl: (map: MapValue) => mapKeys(map).map((key) => map[key]),
  },
  {
    name: 'contains_key',
    doc: 'Whether the map has the key (a key whose value is null counts).',
    usage: 'contains_key(m: map<string, T>, key: string) → bool',
    signature: signature('contains_key', 'contains_key(m, key)', 2, (_, args) =>
      args[1]!.type.kind === 'string'
        ? t.bool
        : {
            ok: false,
            argIndex: 1,
            message: `argument \`key\` of \`contains_key\` must be string, found \`${showType(args[1]!.type)}\``,
          },
    ),
    nullPropagating: true,
    impl: (map: MapValue, key: string) => Object.hasOwn(map, key),
  },
]
