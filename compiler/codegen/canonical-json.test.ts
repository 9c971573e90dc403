/**
 * The canonical-bytes check (canonical-json.ts) against the decoder and encoder it stands in for:
 * whatever bytes it accepts must decode without failure and encode back to the same bytes, with
 * the event time it returns; and bytes the encoder wrote must be accepted (else the pass-through
 * path would never be taken).
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compileAndLoad, type LoadedModule, removeLoadedModules } from './load-generated.ts'

afterAll(removeLoadedModules)

const SCHEMA = `
schema Row {
  n: i64, s: string, t: timestamp @event_time, b: bool,
  on: i64?, os: string?, ot: timestamp?, ob: bool?
}
source rows: Row from kafka("rows")
`

interface Source {
  decodeJson(bytes: Buffer): unknown
  eventTime: ((row: never) => number) | null
  passThrough?: (bytes: Buffer) => number
}

let module: LoadedModule
let source: Source
let encode: (value: never) => string

beforeAll(async () => {
  module = await compileAndLoad(`${SCHEMA}sink rows -> kafka("out")\n`)
  source = module.operators.sources.rows as Source
  encode = Object.values(module.operators.sinks)[0]!.encode
})

const FIELDS = ['n', 's', 't', 'b', 'on', 'os', 'ot', 'ob'] as const

const isoAt = (ms: number) => JSON.stringify(new Date(ms).toISOString())
// Each value mostly in the encoder's form, so that whole records often are.
const integerText = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -1000, max: 1000 }).map(String) },
  fc.integer({ min: -(2 ** 53 - 1), max: 2 ** 53 - 1 }).map(String),
  fc.constantFrom('-0', '007', '1.0', '1e3', '9007199254740993', '12345678901234567890', '1.5', '0', '-1'),
)
const stringText = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)) },
  fc.string({ unit: 'grapheme', maxLength: 4 }).map((s) => JSON.stringify(s)),
  fc.constantFrom('"\\u0041"', '"a\\"b"', '"tab\there"', '"é😀"', '"\u2028"', '"unterminated', '""'),
)
const timestampText = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .integer({ min: -62_167_219_200_000, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) })
      .map(isoAt),
  },
  fc.integer({ min: 0, max: 2e12 }).map(String),
  fc.constantFrom(
    '"2024-02-30T00:00:00.000Z"',
    '"2024-01-01T00:00:00Z"',
    '"2024-01-01T00:00:00.000+00:00"',
    '"+010000-01-01T00:00:00.000Z"',
    '"2024-01-01"',
  ),
)
const boolText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('true', 'false') },
  fc.constantFrom('null', '1', '"true"'),
)
const valueText = { n: integerText, s: stringText, t: timestampText, b: boolText } as const
const optional = (a: fc.Arbitrary<string>) => fc.oneof(a, fc.constant('null'))
const fieldText = (name: (typeof FIELDS)[number]): fc.Arbitrary<string> =>
  name.startsWith('o')
    ? optional(valueText[name.slice(1) as keyof typeof valueText])
    : valueText[name as keyof typeof valueText]

/** A record's JSON text: mostly the fields in order without whitespace, sometimes not. */
const recordText = fc
  .record({
    values: fc.tuple(...FIELDS.map(fieldText)),
    order: fc.oneof(
      { weight: 4, arbitrary: fc.constant([...FIELDS]) },
      fc.shuffledSubarray([...FIELDS], { minLength: 0, maxLength: FIELDS.length }),
    ),
    space: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, fc.constantFrom(' ', '\n', '\t')),
    extra: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, fc.constantFrom(',"x":1', ',"n":2')),
    tail: fc.oneof({ weight: 6, arbitrary: fc.constant('') }, fc.constantFrom(' ', '}', 'x', ',')),
  })
  .map(({ values, order, space, extra, tail }) => {
    const byName = Object.fromEntries(FIELDS.map((f, i) => [f, values[i]!]))
    const members = (order as readonly string[]).map((f) => `"${f}":${space}${byName[f]}`)
    return `{${members.join(`,${space}`)}${extra}}${tail}`
  })

describe('the canonical-bytes check (issue 13, q0 pass-through)', () => {
  it('is generated for a source a sink reads directly, not for one only a chain reads, nor for f64', async () => {
    expect(source.passThrough).toBeTypeOf('function')
    const chained = await compileAndLoad(
      `${SCHEMA}stream big = rows | where n > 0\nsink big -> kafka("out")\n`,
    )
    expect((chained.operators.sources.rows as Source).passThrough).toBeUndefined()
    const float = await compileAndLoad(
      'schema F { x: f64, n: i64 }\nsource fs: F from kafka("f")\nsink fs -> kafka("out")\n',
    )
    expect((float.operators.sources.fs as Source).passThrough).toBeUndefined()
  })

  it('accepts only bytes that decode and encode back to themselves, returning the event time', () => {
    let accepted = 0
    fc.assert(
      fc.property(recordText, (text) => {
        const bytes = Buffer.from(text)
        const time = source.passThrough!(bytes)
        if (Number.isNaN(time)) return
        accepted++
        const row = source.decodeJson(bytes)
        expect(Buffer.from(encode(row as never)).equals(bytes)).toBe(true)
        expect(time).toBe(source.eventTime!(row as never))
      }),
      { numRuns: 2000 },
    )
    // Not a vacuous property: the generator writes canonical records often enough.
    expect(accepted).toBeGreaterThan(100)
  })

  it('accepts what the encoder writes for a row whose strings need no escape', () => {
    // The encoder escapes quotes, backslashes and control characters; the check refuses escapes.
    const plain = (s: string) => JSON.stringify(s) === `"${s}"`
    const row = fc.record({
      n: fc.integer({ min: -(10 ** 15 - 1), max: 10 ** 15 - 1 }),
      s: fc.string({ unit: 'grapheme', maxLength: 10 }).filter(plain),
      t: fc.integer({ min: -62_167_219_200_000, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }),
      b: fc.boolean(),
      on: fc.option(fc.integer()),
      os: fc.option(fc.string({ maxLength: 5 }).filter(plain)),
      ot: fc.option(fc.integer({ min: 0, max: 2e12 })),
      ob: fc.option(fc.boolean()),
    })
    fc.assert(
      fc.property(row, (r) => {
        const bytes = Buffer.from(encode(r as never))
        expect(source.passThrough!(bytes)).toBe(r.t)
      }),
    )
  })

  it('refuses the forms that decode to the same row but are written differently', () => {
    const canonical =
      '{"n":1,"s":"a","t":"2026-01-01T00:00:00.000Z","b":true,"on":null,"os":null,"ot":null,"ob":null}'
    expect(source.passThrough!(Buffer.from(canonical))).toBe(Date.UTC(2026, 0, 1))
    for (const variant of [
      canonical.replace('"n":1', '"n":1.0'),
      canonical.replace('"n":1', '"n":-0'),
      canonical.replace('"s":"a"', '"s":"\\u0061"'),
      canonical.replace('"t":"2026-01-01T00:00:00.000Z"', `"t":${Date.UTC(2026, 0, 1)}`),
      canonical.replace(',"b"', ', "b"'),
      canonical.replace(',"ob":null', ''),
      `${canonical}\n`,
      canonical.replace('"b":true', '"b":1'),
    ]) {
      expect(source.passThrough!(Buffer.from(variant)), variant).toBeNaN()
    }
  })
})
