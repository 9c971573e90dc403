/**
 * Rows of numbers: how a running aggregate whose accumulators are all numbers keeps them in
 * KeyedState (docs/decisions/0037). Each key's accumulators are a row of float64 columns in one
 * Float64Array, written in place by the generated code, instead of an array object per key that
 * the hot path replaces at every event and a checkpoint has to find again in the heap.
 *
 * A row is still snapshotted as the JSON its accumulators always were, so snapshots written
 * before rows (or by a state holding objects) restore into rows and back, byte for byte:
 *
 *   layout ['number', 'number', 'pair']   row [3, NaN, 12.5, 2]   JSON [3,null,[12.5,2]]
 *
 * A 'number' cell is one column: a count, or a sum, min or max of numbers, null (nothing summed
 * yet) kept as NaN, which no accumulator can be (the aggregates take finite numbers only). A
 * 'pair' cell is avg's [sum, n], two columns.
 */
import { SluiceError } from '../errors.ts'
import { NO_ROOM, writeNumber } from './json-bytes.ts'

export type RowCell = 'number' | 'pair'

/** The cells of a row, in the order of its JSON array. */
export type RowLayout = readonly RowCell[]

/** Columns a row of `layout` takes. */
export function rowWidth(layout: RowLayout): number {
  let width = 0
  for (const cell of layout) width += cell === 'pair' ? 2 : 1
  return width
}

/**
 * Writes the JSON of the row at rows[offset…] into bytes[at, limit), as JSON.stringify writes the
 * accumulators' array (json-bytes.ts's numbers; NaN as null); returns the end or NO_ROOM.
 */
export function writeRowJson(
  rows: Float64Array,
  offset: number,
  layout: RowLayout,
  bytes: Uint8Array,
  at: number,
  limit: number,
): number {
  if (at >= limit) return NO_ROOM
  bytes[at++] = 0x5b // [
  let column = offset
  for (let i = 0; i < layout.length; i++) {
    if (i > 0) {
      if (at >= limit) return NO_ROOM
      bytes[at++] = 0x2c // ,
    }
    if (layout[i] === 'number') {
      at = writeNumber(rows[column++]!, bytes, at, limit)
      if (at < 0) return at
      continue
    }
    if (at + 2 >= limit) return NO_ROOM
    bytes[at++] = 0x5b
    at = writeNumber(rows[column++]!, bytes, at, limit)
    if (at < 0 || at >= limit) return NO_ROOM
    bytes[at++] = 0x2c
    at = writeNumber(rows[column++]!, bytes, at, limit)
    if (at < 0 || at >= limit) return NO_ROOM
    bytes[at++] = 0x5d
  }
  if (at >= limit) return NO_ROOM
  bytes[at++] = 0x5d // ]
  return at
}

/**
 * Puts a value of the accumulators' JSON shape (decoded from a snapshot, or set as an object) into
 * the row at rows[offset…]. A value of another shape is a corrupt snapshot or a wrong layout:
 * STATE_CORRUPT, naming the key, and the row is left as it was.
 */
export function rowFromValue(
  value: unknown,
  rows: Float64Array,
  offset: number,
  layout: RowLayout,
  key: string,
): void {
  if (!Array.isArray(value) || value.length !== layout.length) notARow(value, layout, key)
  for (let i = 0; i < layout.length; i++) {
    const cell = value[i]
    const fits =
      layout[i] === 'number'
        ? cell === null || typeof cell === 'number'
        : Array.isArray(cell) &&
          cell.length === 2 &&
          typeof cell[0] === 'number' &&
          typeof cell[1] === 'number'
    if (!fits) notARow(value, layout, key)
  }
  let column = offset
  for (let i = 0; i < layout.length; i++) {
    const cell = value[i] as number | null | [number, number]
    if (layout[i] === 'number') rows[column++] = cell === null ? Number.NaN : (cell as number)
    else {
      rows[column++] = (cell as [number, number])[0]
      rows[column++] = (cell as [number, number])[1]
    }
  }
}

/** The row at rows[offset…] as the accumulators' array (a new one: for reads off the hot path). */
export function valueFromRow(rows: Float64Array, offset: number, layout: RowLayout): unknown[] {
  const value: unknown[] = []
  let column = offset
  for (const cell of layout) {
    if (cell === 'number') {
      const number = rows[column++]!
      value.push(Number.isNaN(number) ? null : number)
    } else {
      value.push([rows[column], rows[column + 1]])
      column += 2
    }
  }
  return value
}

function notARow(value: unknown, layout: RowLayout, key: string): never {
  throw new SluiceError(
    'STATE_CORRUPT',
    `the state value of ${JSON.stringify(key)} is ${JSON.stringify(value)}, not a row of ${JSON.stringify(layout)}`,
  )
}
