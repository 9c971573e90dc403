import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { NO_ROOM, UNSUPPORTED, writeJson } from './json-bytes.ts'

/** What writeJson gives with ample room: the bytes, or UNSUPPORTED. */
function written(value: unknown): string | typeof UNSUPPORTED {
  const bytes = Buffer.alloc(1 << 16)
  const end = writeJson(value, bytes, 3, bytes.length)
  expect(end).not.toBe(NO_ROOM)
  return end === UNSUPPORTED ? UNSUPPORTED : bytes.toString('utf8', 3, end)
}

/** Values as running state holds them, and the odd ones around them. */
const values = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double(),
    fc.constantFrom(0, -0, 2 ** 53, -(2 ** 53), 1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY),
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
    fc.dictionary(fc.constantFrom('1', '0', 'b', 'a', '__proto__', 'toJSON'), tie('value'), { maxKeys: 3 }),
  ),
})).value

describe('writeJson', () => {
  it('property: writes JSON.stringify’s UTF-8 bytes, or leaves the value to it', () => {
    let supported = 0
    fc.assert(
      fc.property(values, (value) => {
        const result = written(value)
        if (result === UNSUPPORTED) return
        supported++
        expect(result).toBe(JSON.stringify(value))
      }),
      { numRuns: 2000 },
    )
    // Most random values are of the written shapes: the comparison above is not vacuous.
    expect(supported).toBeGreaterThan(1000)
  })

  it('writes the shapes of running state itself', () => {
    for (const value of [
      [3, 1742],
      [-12, 0, 9007199254740991],
      { n: 2, total: 15, card: 'card-17', seen: true, last: null },
      [[1, 2], { a: [] }, {}],
      -0,
      1.5,
      'plain ascii',
    ]) {
      expect(written(value)).toBe(JSON.stringify(value))
    }
  })

  it('writes integers at the edges of the int32 fast path and of each digit count', () => {
    const edges = [0, -0, 2 ** 31 - 1, -(2 ** 31), -(2 ** 31) + 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32]
    for (let power = 1; power <= 1e10; power *= 10) edges.push(power - 1, power, -power, -(power - 1))
    for (const value of [...edges, edges]) expect(written(value)).toBe(JSON.stringify(value))
  })

  it('leaves to JSON.stringify what needs escapes, a toJSON, another prototype, a BigInt or a cycle', () => {
    const cycle: unknown[] = []
    cycle.push(cycle)
    for (const value of [
      'quote "',
      'back\\slash',
      'line\n',
      'é',
      new Date(0),
      { toJSON: () => 1 },
      new Map(),
      new Number(3),
      1n,
      undefined,
      cycle,
    ]) {
      expect(written(value)).toBe(UNSUPPORTED)
    }
  })

  it('property: with too little room it answers NO_ROOM, never writes past the limit', () => {
    fc.assert(
      fc.property(values, fc.nat(64), (value, room) => {
        const bytes = Buffer.alloc(room + 8, 0xee)
        const end = writeJson(value, bytes, 0, room)
        expect(bytes.subarray(room).every((b) => b === 0xee)).toBe(true)
        if (end >= 0) expect(bytes.toString('utf8', 0, end)).toBe(JSON.stringify(value))
        else if (end === NO_ROOM) expect(Buffer.byteLength(JSON.stringify(value) ?? '')).toBeGreaterThan(room)
      }),
      { numRuns: 2000 },
    )
  })
})
