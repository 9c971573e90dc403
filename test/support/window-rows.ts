/**
 * Test support: an accumulator store's rows (runtime/window/accumulator-store.ts) as plain
 * objects in a fixed order, so two stores, or a store and a model, compare with toEqual.
 */
import type { WindowRows } from '../../runtime/window/accumulator-store.ts'

export interface Row {
  key: number
  start: number
  dirty: number
  values: number[]
  aux: number[]
}

/** Rows as objects sorted by (start, key id). */
export function rowsOf(rows: WindowRows): Row[] {
  const out: Row[] = []
  for (let i = 0; i < rows.length; i++) {
    out.push({
      key: rows.keyIds[i]!,
      start: rows.starts[i]!,
      dirty: rows.dirty[i]!,
      values: rows.values.map((column) => column[i]!),
      aux: rows.aux.map((column) => column[i]!),
    })
  }
  return out.sort((a, b) => a.start - b.start || a.key - b.key)
}
