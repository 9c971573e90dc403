/**
 * The generated codecs against independent references: decoding against a schema walker written
 * from specs/language.md ("Event decoding") with the messages the dead-letter reasons carry, on
 * random and malformed JSON; encoding against JSON.stringify and Date.prototype.toISOString.
 */
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import type { RecordType, Type } from '../ir/types.ts'
import { type Batch, compileAndLoad, removeLoadedModules } from './load-generated.ts'

afterAll(removeLoadedModules)

const SCHEMAS = `
schema Inner { name: string, country: string?, at: timestamp? }
schema Wide {
  id: string,
  n: i64,
  x: f64,
  flag: bool?,
  s: string?,
  tags: list<string>,
  scores: list<i64?>,
  stamps: list<timestamp>,
  grid: list<list<f64>>,
  inner: Inner,
  inners: list<Inner>,
  maybe: Inner?,
  constructor: string?,
  ts: timestamp @event_time
}
source wide: Wide from kafka("wide")
`
/** Reads n, id, x (and ts, the event time): the decoder materialises only those. */
const NARROW = `${SCHEMAS}
stream picked = wide | where n > 0 | select { id, x }
sink picked -> kafka("picked")
`
/** The source's rows go to a sink as they are: every field is materialised. */
const WHOLE = `${SCHEMAS}
sink wide -> kafka("all")
`

// ---------------------------------------------------------------------------------------------
// The reference decoder: the rules of specs/language.md, written plainly.

const parseTs = stdlib.parse_ts!.impl as (text: string) => number | null

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (field missing)'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${String(value)}`
}

class Rejected extends Error {}

function reject(path: string, expected: string, value: unknown): never {
  throw new Rejected(`${path || 'event'}: expected ${expected}, got ${describeValue(value)}`)
}

/** A high surrogate not followed by a low one, or a low one not after a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

function referenceDecode(type: Type, value: unknown, path: string): unknown {
  switch (type.kind) {
    case 'string':
      if (typeof value !== 'string') return reject(path, 'a string', value)
      // A lone surrogate, which JSON can escape, would be written back escaped (language.md §9).
      return LONE_SURROGATE.test(value) ? reject(path, 'a string without lone surrogates', value) : value
    case 'bool':
      return typeof value === 'boolean' ? value : reject(path, 'a boolean', value)
    case 'f64':
      // JSON.parse reads 1e400 as Infinity, which an f64 field could not write back.
      return Number.isFinite(value) ? value : reject(path, 'a finite number', value)
    case 'i64':
      return Number.isSafeInteger(value) ? value : reject(path, 'an integer within ±(2^53-1)', value)
    case 'duration':
      return Number.isSafeInteger(value) ? value : reject(path, 'a duration in milliseconds', value)
    case 'timestamp': {
      const ms =
        typeof value === 'number' && Number.isSafeInteger(value)
          ? value
          : typeof value === 'string'
            ? parseTs(value)
            : null
      if (ms !== null && Math.abs(ms) <= 8.64e15) return ms
      return reject(path, 'a timestamp (epoch milliseconds or ISO-8601 with a zone)', value)
    }
    case 'null':
      return value === null || value === undefined ? null : reject(path, 'null', value)
    case 'optional':
      return value === null || value === undefined ? null : referenceDecode(type.of, value, path)
    case 'list':
      if (!Array.isArray(value)) reject(path, 'a list', value)
      return value.map((item, i) => referenceDecode(type.of, item, `${path}[${i}]`))
    case 'record': {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        reject(path, 'an object', value)
      const out: Record<string, unknown> = {}
      for (const f of type.fields) {
        const field = Object.hasOwn(value, f.name) ? (value as Record<string, unknown>)[f.name] : undefined
        out[f.name] = referenceDecode(f.type, field, path === '' ? f.name : `${path}.${f.name}`)
      }
      return out
    }
  }
}

/** What decoding gives: the row, or the message of the failure. */
type Outcome = { readonly row: Record<string, unknown> } | { readonly message: string }

function outcome(decode: () => unknown, isFailure: (error: unknown) => boolean): Outcome {
  try {
    return { row: decode() as Record<string, unknown> }
  } catch (error) {
    if (!(error instanceof Rejected) && !isFailure(error)) throw error
    return { message: (error as Error).message }
  }
}

// ---------------------------------------------------------------------------------------------
// Random events: mostly well-formed, with any field sometimes missing or any JSON value.

const junk = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined), fc.constant(null))

/**
 * UTF-16 units where surrogates are common, so strings hold pairs and lone halves (which JSON
 * escapes and JSON.parse reads back; decoding refuses the lone ones).
 */
const surrogateUnit = fc.oneof(
  fc.constantFrom('a', '\u00e9'),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit)),
)

/**
 * Events of the Wide schema. `messy`: any field (or list item) is sometimes missing or any JSON
 * value, and timestamps include ones the rules reject; otherwise every event is well-formed.
 */
function wideArb(messy: boolean): fc.Arbitrary<unknown> {
  const maybeBad = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
    messy
      ? fc.oneof({ weight: 8, arbitrary: good as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: junk })
      : good
  const timestamp = fc.oneof(
    fc.integer({ min: -8.64e15, max: 8.64e15 }),
    fc.constantFrom(
      8.64e15,
      -8.64e15,
      -0,
      '2024-01-02T03:04:05.678Z',
      '2024-01-01T10:00:00+02:00',
      '2023-02-28',
    ),
    // parse_ts reads four-digit years; the six-digit ones toISOString writes beyond are rejected.
    fc
      .date({
        min: new Date(messy ? -8.64e15 : Date.parse('0000-01-01T00:00:00Z')),
        max: new Date(messy ? 8.64e15 : Date.parse('9999-12-31T23:59:59.999Z')),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString()),
    ...(messy
      ? [fc.constantFrom(8.64e15 + 1, 1.5, '2024-02-30T00:00:00Z', '2023-02-29', '2024-01-01T10:00')]
      : []),
  )
  const integer = fc.oneof(
    fc.integer(),
    fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
    ...(messy ? [fc.constantFrom(2 ** 53, -(2 ** 53), 1.5)] : []),
  )
  const inner = fc.record(
    {
      name: maybeBad(fc.string({ maxLength: 3, unit: messy ? surrogateUnit : 'grapheme-ascii' })),
      country: maybeBad(fc.option(fc.constantFrom('DE', 'FR'), { nil: null })),
      at: maybeBad(fc.option(timestamp, { nil: null })),
    },
    { requiredKeys: messy ? [] : ['name'] },
  )
  return fc.record(
    {
      id: maybeBad(fc.string({ maxLength: 4 })),
      n: maybeBad(integer),
      x: maybeBad(fc.double({ noNaN: true, noDefaultInfinity: true })),
      flag: maybeBad(fc.option(fc.boolean(), { nil: null })),
      s: maybeBad(
        fc.option(fc.string({ maxLength: 2, unit: messy ? surrogateUnit : 'grapheme-ascii' }), { nil: null }),
      ),
      tags: maybeBad(fc.array(maybeBad(fc.string({ maxLength: 2 })), { maxLength: 4 })),
      scores: maybeBad(fc.array(maybeBad(fc.option(integer, { nil: null })), { maxLength: 4 })),
      stamps: maybeBad(fc.array(maybeBad(timestamp), { maxLength: 3 })),
      grid: maybeBad(
        fc.array(fc.array(maybeBad(fc.double({ noNaN: true, noDefaultInfinity: true })), { maxLength: 3 }), {
          maxLength: 3,
        }),
      ),
      inner: maybeBad(inner),
      inners: maybeBad(fc.array(inner, { maxLength: 3 })),
      maybe: maybeBad(fc.option(inner, { nil: null })),
      constructor: maybeBad(fc.option(fc.string({ maxLength: 2 }), { nil: null })),
      ts: maybeBad(timestamp),
      extra: fc.jsonValue({ maxDepth: 1 }),
    },
    {
      requiredKeys: messy
        ? []
        : ['id', 'n', 'x', 'tags', 'scores', 'stamps', 'grid', 'inner', 'inners', 'ts'],
    },
  )
}
/** Events as the runtime sees them: the value of JSON.parse (so no undefined inside lists). */
const eventArb = fc
  .oneof(
    { weight: 4, arbitrary: wideArb(false) },
    { weight: 4, arbitrary: wideArb(true) },
    { weight: 1, arbitrary: junk },
  )
  .map((value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value) ?? 'null')))

describe('generated decoders', () => {
  const wide = (pipeline: { schemas: Readonly<Record<string, RecordType>> }) => pipeline.schemas.Wide!

  it('accept and reject exactly what the language rules do, with the same reasons, materialising what the pipeline reads', async () => {
    const narrow = await compileAndLoad(NARROW)
    const whole = await compileAndLoad(WHOLE)
    const schema = wide(narrow.pipeline)
    const seen = { accepted: 0, rejected: 0 }
    await fc.assert(
      fc.asyncProperty(eventArb, async (value) => {
        const expected = outcome(
          () => referenceDecode(schema, value, ''),
          () => false,
        )
        seen['message' in expected ? 'rejected' : 'accepted']++
        for (const { operators, read } of [
          { operators: narrow.operators, read: ['id', 'n', 'x', 'ts'] },
          { operators: whole.operators, read: schema.fields.map((f) => f.name) },
        ]) {
          const actual = outcome(() => operators.sources.wide!.decode(value), operators.isDecodeFailure)
          if ('message' in expected) {
            expect(actual).toEqual(expected)
          } else {
            if (!('row' in actual)) throw new Error(`rejected a valid event: ${actual.message}`)
            expect(Object.keys(actual.row)).toEqual(read)
            for (const name of read) expect(actual.row[name]).toEqual(expected.row[name])
          }
        }
      }),
      { numRuns: 1500 },
    )
    // Both sides of the rules were exercised, not only one.
    expect(seen.accepted).toBeGreaterThan(300)
    expect(seen.rejected).toBeGreaterThan(300)
  })

  it('keep the rows of one source in one shape whatever their input looked like', async () => {
    const { operators } = await compileAndLoad(NARROW)
    const base = {
      id: 'a',
      n: 1,
      x: 1.5,
      tags: [],
      scores: [],
      stamps: [],
      grid: [],
      inner: { name: 'i' },
      inners: [],
    }
    const rows = [
      operators.sources.wide!.decode({ ...base, ts: 0 }),
      operators.sources.wide!.decode({
        extra: 1,
        ts: '2024-01-01',
        ...base,
        flag: true,
        maybe: { name: 'm' },
      }),
    ]
    expect(rows.map((r) => Object.keys(r as object))).toEqual([
      ['id', 'n', 'x', 'ts'],
      ['id', 'n', 'x', 'ts'],
    ])
  })

  it('build no path or message on the success path', async () => {
    const typescript = [(await compileAndLoad(NARROW)).typescript, (await compileAndLoad(WHOLE)).typescript]
    // The success-path functions (readN, fastN, validN) are the ones taking only the value.
    const successPath = typescript.flatMap((text) => [
      ...text.matchAll(/function (read|fast|valid)\d+\(value: unknown\)[^{]*\{[\s\S]*?\n {2}\}/g),
    ])
    expect(new Set(successPath.map((m) => m[1]))).toEqual(new Set(['fast', 'read', 'valid']))
    for (const [text] of successPath) {
      expect(text).not.toMatch(/path|DecodeFailure|\+ '|`/)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Encoders

const ENCODED = `
schema In { id: string, t: timestamp }
source ins: In from kafka("in")
stream out = ins | select {
  s: id, b: len(id) > 1, n: len(id), x: to_f64(len(id)) / 3.0, ts: t,
  o: if len(id) > 2 then id else null, l: [to_f64(len(id))], r: { t, m: [id] }
}
sink out -> kafka("out")
`
const FIRST_YEAR_0000 = -62_167_219_200_000
const FIRST_YEAR_10000 = 253_402_300_800_000

describe('generated encoders', () => {
  async function timestampEncoder(): Promise<(ms: number) => string> {
    const { operators, pipeline } = await compileAndLoad(`
schema T { ts: timestamp }
source ts: T from kafka("t")
sink ts -> kafka("out")`)
    const sink = pipeline.nodes.find((n) => n.kind === 'Sink')!
    const encode = operators.sinks[sink.id]!.encode as (value: unknown) => string
    return (ms) => encode({ ts: ms })
  }

  it('write timestamps exactly as Date.prototype.toISOString does, over the whole range of a Date', async () => {
    const encode = await timestampEncoder()
    const viaDate = (ms: number) => `{"ts":"${new Date(ms).toISOString()}"}`
    const edges = [0, -1, 1, FIRST_YEAR_0000, FIRST_YEAR_0000 - 1, FIRST_YEAR_10000, FIRST_YEAR_10000 - 1]
    const ms = fc.oneof(
      fc.integer({ min: -8.64e15, max: 8.64e15 }),
      fc.integer({ min: FIRST_YEAR_0000 - 86_400_000, max: FIRST_YEAR_10000 + 86_400_000 }),
      fc.constantFrom(...edges, 8.64e15, -8.64e15, 951_782_400_000 /* 2000-02-29 */, -0),
      fc.integer({ min: -3, max: 3 }).chain((d) => fc.constantFrom(...edges.map((e) => e + d * 86_400_000))),
      fc.double({ min: -8.64e15, max: 8.64e15, noNaN: true }),
    )
    // Sequences, so the day kept between calls is exercised by neighbours on other days.
    await fc.assert(
      fc.asyncProperty(fc.array(ms, { minLength: 1, maxLength: 8 }), async (values) => {
        for (const value of values) expect(encode(value)).toBe(viaDate(value))
      }),
      { numRuns: 3000 },
    )
    for (const year of [0, 1, 9, 99, 999, 1000, 1969, 1970, 2000, 2400, 9999]) {
      const start = new Date(0)
      start.setUTCFullYear(year, 0, 1)
      for (const value of [start.getTime(), start.getTime() - 1, start.getTime() + 59 * 86_400_000])
        expect(encode(value)).toBe(viaDate(value))
    }
  })

  it('refuse timestamps a Date cannot hold with the error toISOString gives, naming the field', async () => {
    const encode = await timestampEncoder()
    for (const value of [8.64e15 + 1, -8.64e15 - 1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new Date(value).toISOString()).toThrow(RangeError)
      expect(() => encode(value)).toThrow(new RangeError('ts: Invalid time value'))
    }
  })

  it('write what JSON.stringify writes for the same values (timestamps as ISO text), refusing a non-finite f64 that may not be null', async () => {
    const { operators, pipeline } = await compileAndLoad(ENCODED)
    const sink = pipeline.nodes.find((n) => n.kind === 'Sink')!
    const encode = operators.sinks[sink.id]!.encode as (value: unknown) => string
    const iso = (ms: number) => new Date(ms).toISOString()
    const number = fc.oneof(
      fc.double(),
      fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, 1e21, 5e-324),
    )
    const ts = fc.integer({ min: -8.64e15, max: 8.64e15 })
    const text = fc.string({ unit: 'binary', maxLength: 6 })
    await fc.assert(
      fc.property(
        fc.record({
          s: text,
          b: fc.boolean(),
          n: fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
          x: number,
          ts,
          o: fc.option(text, { nil: null }),
          l: fc.array(number, { maxLength: 3 }),
          r: fc.record({ t: ts, m: fc.array(text, { maxLength: 3 }) }),
        }),
        (row) => {
          // JSON has no NaN or Infinity: a field that may not be null cannot carry them.
          if (![row.x, ...row.l].every(Number.isFinite)) {
            expect(() => encode(row)).toThrow(/is not a finite number: JSON has no NaN or Infinity/)
            return
          }
          const expected = JSON.stringify({ ...row, ts: iso(row.ts), r: { ...row.r, t: iso(row.r.t) } })
          expect(encode(row)).toBe(expected)
        },
      ),
      { numRuns: 1000 },
    )
  })

  it("write rows a chain built, in the schema's field order, also where JSON.stringify writes them", async () => {
    // No timestamps in the output: the encoder hands the row to JSON.stringify, which keeps the
    // row's own key order; the reference below writes the sink schema's order by name.
    const { operators, pipeline } = await compileAndLoad(`
schema In { s: string, n: i64, m: i64?, x: f64, flag: bool? }
source ins: In from kafka("in")
stream out = ins | select { x2: x * 2.0, flag, m, s, n, l: [x, x], r: { s, flag } }
sink out -> kafka("out")`)
    const chain = pipeline.nodes.find((n) => n.kind === 'Fused')!
    const sink = pipeline.nodes.find((n) => n.kind === 'Sink')!
    const encode = operators.sinks[sink.id]!.encode as (value: unknown) => string
    const reference = (row: Record<string, unknown>) =>
      `{${sink.schema.fields.map((f) => `${JSON.stringify(f.name)}:${JSON.stringify(row[f.name])}`).join(',')}}`
    const value = fc.record({
      s: fc.string({ unit: 'binary', maxLength: 5 }),
      n: fc.integer(),
      m: fc.option(fc.integer(), { nil: null }),
      x: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(-0, 1e308)),
      flag: fc.option(fc.boolean(), { nil: null }),
    })
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 5 }), (values) => {
        const rows = values.map((v) => operators.sources.ins!.decode(v))
        const out: Batch = { values: [], keys: [], timestamps: [], origins: [], length: 0 }
        operators.chains[chain.id]!(
          {
            values: rows,
            keys: rows.map(() => null),
            timestamps: rows.map(() => 0),
            origins: rows.map((_, i) => i),
            length: rows.length,
          },
          out,
          [],
        )
        expect(out.length).toBe(values.length)
        for (let i = 0; i < out.length; i++) {
          const row = out.values[i] as Record<string, unknown>
          // 1e308 * 2.0 is Infinity, which the non-optional x2 cannot carry in JSON.
          if (!Number.isFinite(row.x2)) expect(() => encode(row)).toThrow(/is not a finite number/)
          else expect(encode(row)).toBe(reference(row))
        }
      }),
      { numRuns: 300 },
    )
    const row = { x2: 1, flag: null, m: 2 ** 53, s: '', n: 1, l: [], r: { s: '', flag: null } }
    // The sink's reason names the field (issue 17).
    expect(() => encode(row)).toThrow(/^m: 9007199254740992 is not an integer within ±\(2\^53-1\)$/)
    expect(() => encode({ ...row, m: null, n: 1.5 })).toThrow(/^n: 1.5 is not an integer/)
    expect(encode({ ...row, m: null })).toBe(reference({ ...row, m: null }))
  })

  it('refuse an i64 outside the safe range instead of writing a rounded number', async () => {
    const { operators, pipeline } = await compileAndLoad(ENCODED)
    const sink = pipeline.nodes.find((n) => n.kind === 'Sink')!
    const encode = operators.sinks[sink.id]!.encode as (value: unknown) => string
    const row = { s: 'a', b: true, n: 2 ** 53, x: 1, ts: 0, o: null, l: [], r: { t: 0, m: [] } }
    expect(() => encode(row)).toThrow(/^n: 9007199254740992 is not an integer within ±\(2\^53-1\)$/)
  })
})
