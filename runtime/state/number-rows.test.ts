import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '../errors.ts'
import { NO_ROOM } from './json-bytes.ts'
import { type RowLayout, rowFromValue, rowWidth, valueFromRow, writeRowJson } from './number-rows.ts'

/** A finite number as an accumulator can be (no -0: JSON has none, so it never comes back). */
const finite = fc.oneof(
  fc.integer(),
  fc.constantFrom(2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 31, -(2 ** 31), 1e21, 1e-7, 1e300),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
)

/** A layout and a value of the accumulators' JSON shape for it. */
const rowArb = fc
  .array(fc.constantFrom<'number' | 'pair'>('number', 'pair'), { minLength: 1, maxLength: 6 })
  .chain((layout) =>
    fc
      .tuple(
        ...layout.map((cell) =>
          cell === 'pair' ? fc.tuple(finite, finite) : fc.option(finite, { nil: null }),
        ),
      )
      .map((value) => ({ layout: layout as RowLayout, value: value as unknown[] })),
  )

describe('rows of numbers', () => {
  it('property: a value goes into a row and back unchanged, and the row writes what JSON.stringify writes', () => {
    fc.assert(
      fc.property(rowArb, fc.integer({ min: 0, max: 3 }), ({ layout, value }, row) => {
        const width = rowWidth(layout)
        const rows = new Float64Array(4 * width).fill(7)
        rowFromValue(value, rows, row * width, layout, 'k')
        expect(valueFromRow(rows, row * width, layout)).toEqual(value)
        const json = JSON.stringify(value)
        const bytes = new Uint8Array(json.length + 10)
        const end = writeRowJson(rows, row * width, layout, bytes, 3, bytes.length)
        expect(Buffer.from(bytes.subarray(3, end)).toString()).toBe(json)
        // One byte short anywhere: NO_ROOM, never a wrong end.
        expect(writeRowJson(rows, row * width, layout, bytes, 3, 3 + json.length - 1)).toBe(NO_ROOM)
      }),
      { numRuns: 500 },
    )
  })

  it('refuses a value of another shape as a corrupt state, naming the key, and leaves the row as it was', () => {
    const layout: RowLayout = ['number', 'pair']
    const rows = new Float64Array([1, 2, 3])
    for (const value of [[1], [1, [2, 3], 4], ['1', [2, 3]], [1, [2]], [1, 2], { 0: 1, 1: [2, 3] }, null]) {
      let error: unknown
      try {
        rowFromValue(value, rows, 0, layout, 'card-7')
      } catch (e) {
        error = e
      }
      expect(isSluiceError(error, 'STATE_CORRUPT')).toBe(true)
      expect((error as Error).message).toContain('"card-7"')
      expect([...rows]).toEqual([1, 2, 3])
    }
  })
})
