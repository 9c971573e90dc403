/**
 * Issue 17, defects 8 and 9: a value JSON cannot hold fails the event at encode time, and the
 * dead-letter reason said only `NaN is not a finite number`, not which field. A sink's encoder
 * names the field's path, found only when it refuses a value, as decode failures name theirs.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'

const PIPE = `
schema In { id: string, x: f64, n: i64 }
source ins: In from kafka("in")
stream out = ins | select {
  id,
  maybe: if x > 0.0 then x / 0.0 else null,
  inner: { r: x / x, n },
  xs: [1.0, x / x],
  m: { "b": x / x, "a": 1.0 },
  ok: n,
}
sink out -> kafka("out")
`

let encode: (value: unknown) => string
beforeAll(async () => {
  const artifact = await loadArtifact(await compileFixture(PIPE, 'encode-reasons', 'encode-reasons.pipe'))
  encode = Object.values(artifact.operators.sinks)[0]!.encode as (value: unknown) => string
})

const row = (over: Record<string, unknown> = {}) => ({
  id: 'a',
  maybe: null,
  inner: { r: 1, n: 2 },
  xs: [1, 2],
  m: { a: 1, b: 2 },
  ok: 3,
  ...over,
})

describe('a value a sink cannot write', () => {
  it('is refused with a reason naming its path: record field, list item, map key', () => {
    expect(() => encode(row({ inner: { r: Number.NaN, n: 2 } }))).toThrow(
      /^inner\.r: NaN is not a finite number/,
    )
    expect(() => encode(row({ xs: [1, Number.POSITIVE_INFINITY] }))).toThrow(
      /^xs\[1\]: Infinity is not a finite/,
    )
    expect(() => encode(row({ m: { a: 1, b: Number.NaN } }))).toThrow(/^m\["b"\]: NaN is not a finite number/)
    expect(() => encode(row({ ok: 2 ** 60 }))).toThrow(/^ok: \d+ is not an integer within/)
  })

  it('names the first field the encoder meets, in the order it writes them', () => {
    expect(() => encode(row({ inner: { r: Number.NaN, n: 2 }, xs: [Number.NaN] }))).toThrow(/^inner\.r: /)
    expect(() => encode(row({ m: { b: Number.NaN, a: Number.NaN } }))).toThrow(/^m\["a"\]: /)
  })

  it('writes an optional f64 that is not finite as null, and a good row as before', () => {
    expect(JSON.parse(encode(row({ maybe: Number.POSITIVE_INFINITY })))).toMatchObject({ maybe: null })
    expect(encode(row())).toBe(
      '{"id":"a","maybe":null,"inner":{"r":1,"n":2},"xs":[1,2],"m":{"a":1,"b":2},"ok":3}',
    )
  })
})
