/**
 * The artifact names its `.pipe` by base name only (issue 17): the content hash covers the manifest
 * and the generated code, which both hold spans, so a path as given on the command line
 * (`examples/x.pipe` here, `x.pipe` from inside examples/) would give the same pipeline two ids.
 */
import { basename } from 'node:path'

/** The name an artifact records for the `.pipe` compiled from `path`: its base name. */
export function artifactSourceName(path: string): string {
  return basename(path)
}

/**
 * `value` with every `file` property equal to `from` (the pipeline's and each span's) set to `to`.
 * Objects without such a property below them are kept as they are, and an object reached twice
 * (a record type shared by several fields) is rewritten once, so sharing, and with it the
 * manifest's type references, survives.
 */
export function refileSpans<T>(value: T, from: string, to: string): T {
  if (from === to) return value
  const seen = new Map<object, unknown>()
  const visit = (node: unknown): unknown => {
    if (node === null || typeof node !== 'object') return node
    const done = seen.get(node)
    if (done !== undefined) return done
    seen.set(node, node)
    let result: unknown = node
    if (Array.isArray(node)) {
      const items = node.map(visit)
      if (items.some((item, i) => item !== node[i])) result = items
    } else if (isPlainObject(node)) {
      const entries = Object.entries(node).map(([key, v]): [string, unknown] =>
        key === 'file' && v === from ? [key, to] : [key, visit(v)],
      )
      if (entries.some(([key, v]) => v !== (node as Record<string, unknown>)[key]))
        result = Object.assign(
          Object.create(Object.getPrototypeOf(node)) as object,
          Object.fromEntries(entries),
        )
    }
    seen.set(node, result)
    return result
  }
  return visit(value) as T
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
