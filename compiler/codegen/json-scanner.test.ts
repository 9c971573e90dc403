/**
 * The byte-level scanner against JSON.parse: a source's `decodeJson(bytes)` must give what
 * `decode(JSON.parse(text))` gives, the same row or the same error (class and message: the
 * dead-letter reason), on JSON written every way JSON allows and on broken bytes.
 */
import fc from 'fast-check'
import { Project } from 'ts-morph'
import { afterAll, describe, expect, it } from 'vitest'
import { GENERATED_FILE } from './generate.ts'
import { compileAndLoad, type Operators, removeLoadedModules } from './load-generated.ts'

afterAll(removeLoadedModules)

const SCHEMA = `
schema Flat {
  s: string, n: i64, x: f64, b: bool, t: timestamp @event_time,
  os: string?, on: i64?, ox: f64?, ob: bool?, ot: timestamp?, constructor: string?,
  tags: list<string>, scores: list<i64?>, stamps: list<timestamp>?
}
source flat: Flat from kafka("flat")
`
const NARROW = `${SCHEMA}
stream picked = flat | where x > 0.0 | select { s, ob, scores }
sink picked -> kafka("picked")
`
const WHOLE = `${SCHEMA}
sink flat -> kafka("all")
`
const FIELDS = [
  's',
  'n',
  'x',
  'b',
  't',
  'os',
  'on',
  'ox',
  'ob',
  'ot',
  'constructor',
  'tags',
  'scores',
  'stamps',
]

type Outcome =
  | { readonly row: Record<string, unknown> }
  | { readonly error: string; readonly message: string }

function outcome(decode: () => unknown): Outcome {
  try {
    return { row: decode() as Record<string, unknown> }
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message }
  }
}

/**
 * Row values compared with Object.is (so -0 and 0 differ). Errors are the same error with the
 * same message, except that a reason from the bytes quotes a number as written (`got number
 * 1e400`) where the parsed value's says what JSON.parse made of it (`Infinity`): the same number.
 */
function same(a: Outcome, b: Outcome): boolean {
  if ('row' in a && 'row' in b) {
    const keys = Object.keys(a.row)
    return (
      JSON.stringify(keys) === JSON.stringify(Object.keys(b.row)) &&
      keys.every((k) => Object.is(a.row[k], b.row[k]))
    )
  }
  if ('error' in a && 'error' in b && a.error === b.error && a.message !== b.message) {
    const quoted = /^(.*got number )(\S+)$/s
    const [, aHead, aNumber] = quoted.exec(a.message) ?? []
    const [, bHead, bNumber] = quoted.exec(b.message) ?? []
    return aHead !== undefined && aHead === bHead && Number(aNumber) === Number(bNumber)
  }
  return JSON.stringify(a) === JSON.stringify(b)
}

// ---------------------------------------------------------------------------------------------
// JSON text, written every way JSON allows

const space = fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n  ')
const text = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.constantFrom('', 'a"b', 'back\\slash', 'tab\there', 'nul\u0000', 'é', '😀', '\u2028', '\u001f'),
)
/** A number as JSON text, in any of the forms that denote it. */
const numberText = (value: number): fc.Arbitrary<string> => {
  const forms = [JSON.stringify(value)]
  if (Number.isInteger(value) && Math.abs(value) < 1e15) forms.push(`${value}.0`, `${value}.000`)
  if (Number.isFinite(value) && value !== 0)
    forms.push(value.toExponential().replace('e+', 'e'), value.toExponential())
  if (Object.is(value, -0)) forms.push('-0', '-0.0')
  return fc.constantFrom(...forms)
}
const stringText = (value: string): fc.Arbitrary<string> =>
  fc.constantFrom(
    JSON.stringify(value),
    // Unescaped: invalid JSON when it holds a control character, a quote or a backslash.
    `"${value}"`,
    // The same string with its first character as a \u escape.
    value.length === 0
      ? '""'
      : `"\\u${value.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(value.slice(1)).slice(1)}`,
  )
const numberArb = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 0.1, 123.45, 1e15, 1e15 + 1, 2 ** 53, 2 ** 53 + 2, 1767225600000, 8.64e15, 1.5e-7),
  fc.integer({ min: -8.64e15, max: 8.64e15 }),
)
/** A JSON array of the items' texts, with some whitespace. */
const listText = (item: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc
    .tuple(fc.array(item, { maxLength: 4 }), space, space)
    .map(([items, a, b]) => `[${a}${items.join(`${b},${a}`)}${b}]`)
/**
 * Timestamps as encoders write them (the scanner reads these from the bytes), and text of that
 * shape that names no instant or is cut short.
 */
const isoText = fc.oneof(
  fc
    .integer({
      min: -62_167_219_200_000, // 0000-01-01T00:00:00.000Z
      max: Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    })
    .map((ms) => JSON.stringify(new Date(ms).toISOString())),
  fc.constantFrom(
    '"2023-02-29T00:00:00.000Z"',
    '"2024-02-29T23:59:59.999Z"',
    '"2024-13-01T00:00:00.000Z"',
    '"2024-01-01T24:00:00.000Z"',
    '"2024-01-01T00:00:00.00aZ"',
    '"2024-01-01T00:00:00.000z"',
    '"1969-12-31T23:59:59.999Z"',
    '"2024-01-01T00:00:00.000Z',
  ),
)
/** JSON text of a value a field may hold: mostly its type, sometimes anything. */
const valueText: fc.Arbitrary<string> = fc.oneof(
  numberArb.chain(numberText),
  text.chain(stringText),
  fc.constantFrom('true', 'false', 'null'),
  fc.constantFrom('"2024-01-02T03:04:05.678Z"', '"2024-02-30"', '"2024-01-01T10:00:00+02:00"'),
  isoText,
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc.constantFrom('[1, {"a": [true, null, "x\\n"]}]', '{ }', '[ ]', '{"deep": [[[[]]]]}'),
)
const keyText = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...FIELDS).map((k) => JSON.stringify(k)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('"\\u0073"', '"x"', '"__proto__"', '"toString"', '""', '"s\\u0000"'),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 3 }).map((k) => JSON.stringify(k)) },
)
const member = fc
  .tuple(keyText, space, space, valueText, space)
  .map(([k, a, b, v, c]) => `${k}${a}:${b}${v}${c}`)
/** A well-formed event: every field once, in some order, formatted some way. */
const eventText = fc
  .record({
    s: text.chain(stringText),
    n: fc.integer().chain(numberText),
    x: numberArb.chain(numberText),
    b: fc.boolean().map(String),
    t: fc.oneof(
      fc.integer({ min: 0, max: 4e12 }).map(String),
      fc.constant('"2024-01-02T03:04:05Z"'),
      isoText,
    ),
    os: fc.oneof(text.chain(stringText), fc.constant('null')),
    on: fc.oneof(fc.integer().map(String), fc.constant('null')),
    ox: fc.oneof(numberArb.chain(numberText), fc.constant('null')),
    ob: fc.constantFrom('true', 'false', 'null'),
    ot: fc.oneof(fc.constantFrom('null', '0', '"2024-01-02"'), isoText),
    constructor: fc.constantFrom('null', '"c"'),
    tags: listText(text.chain(stringText)),
    scores: listText(fc.oneof(fc.integer().chain(numberText), fc.constant('null'))),
    stamps: fc.oneof(
      fc.constant('null'),
      listText(fc.constantFrom('0', '-1', '"2024-01-02"', '1767225600000')),
    ),
  })
  .chain((fields) => {
    const entries = Object.entries(fields)
    const isRequired = ([k]: [string, string]) => ['s', 'n', 'x', 'b', 't', 'tags', 'scores'].includes(k)
    const required = entries.filter(isRequired)
    return fc
      .tuple(
        fc.subarray(entries.filter((e) => !isRequired(e))),
        fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: member }),
        fc.array(space, { minLength: 6, maxLength: 6 }),
      )
      .chain(([optional, extra, spaces]) => {
        const members = [...required, ...optional].map(
          ([k, v]) => `${JSON.stringify(k)}${spaces[0]}:${spaces[1]}${v}`,
        )
        if (extra !== null) members.push(extra)
        return fc
          .shuffledSubarray(members, { minLength: members.length })
          .map(
            (shuffled) =>
              `${spaces[2]}{${spaces[3]}${shuffled.join(`${spaces[4]},${spaces[5]}`)}${spaces[4]}}${spaces[2]}`,
          )
      })
  })
/** `t` with one of the characters `where` matches replaced by another structural character. */
const swapped = (t: string, where: RegExp): fc.Arbitrary<string> =>
  fc.tuple(fc.nat(), fc.constantFrom(',', '"', '}', '{', ']', '[', ':')).map(([n, c]) => {
    const at = [...t.matchAll(where)].map((m) => m.index)
    const i = at.length === 0 ? 0 : at[n % at.length]!
    return t.slice(0, i) + c + t.slice(i + 1)
  })

const brokenEvent = eventText.chain((t) => {
  // Chosen by index: fc.oneof inside chain leans towards its first option.
  const mutations = [
    fc.nat({ max: t.length }).map((n) => t.slice(0, n)),
    fc
      .tuple(
        fc.nat({ max: t.length }),
        fc.constantFrom(',', '"', '}', '{', ' ', '\\', '0', 'x', '\u0001', ':'),
      )
      .map(([n, c]) => t.slice(0, n) + c + t.slice(n)),
    fc.nat({ max: t.length }).map((n) => t.slice(0, n) + t.slice(n + 1)),
    // A bracket, brace, quote or separator swapped for another, and a bracket or brace.
    swapped(t, /[[\]{},:"]/g),
    swapped(t, /[[\]{}]/g),
  ]
  return fc.nat({ max: mutations.length - 1 }).chain((k) => mutations[k]!)
})
/** Anything: objects of random members, values, or broken events. */
const messyText = fc.oneof(
  { weight: 1, arbitrary: fc.array(member, { maxLength: 8 }).map((m) => `{${m.join(',')}}`) },
  { weight: 1, arbitrary: valueText },
  { weight: 3, arbitrary: brokenEvent },
)
/** Bytes: the UTF-8 of the text, sometimes with a byte that is not valid UTF-8. */
const bytesArb = fc
  .tuple(
    fc.oneof(eventText, messyText),
    fc.oneof(
      { weight: 3, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.constantFrom(0x80, 0xc3, 0xe2, 0xff)) },
    ),
  )
  .map(([t, broken]) => {
    const bytes = Buffer.from(t)
    if (broken === null || bytes.length === 0) return bytes
    const [at, byte] = broken
    const i = at % bytes.length
    return Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)])
  })

async function load(text: string): Promise<Operators> {
  return (await compileAndLoad(text)).operators
}

describe('the generated JSON scanner', () => {
  it('decodes bytes exactly as JSON.parse and the decoder do: same rows, same errors', async () => {
    for (const operators of [await load(NARROW), await load(WHOLE)]) {
      const source = operators.sources.flat!
      const seen = { rows: 0, errors: 0 }
      fc.assert(
        fc.property(bytesArb, (bytes) => {
          const expected = outcome(() => source.decode(JSON.parse(bytes.toString('utf8'))))
          const actual = outcome(() => source.decodeJson(bytes))
          seen['row' in expected ? 'rows' : 'errors']++
          if (!same(actual, expected)) {
            expect({ text: bytes.toString('utf8'), actual }).toEqual({
              text: bytes.toString('utf8'),
              actual: expected,
            })
          }
        }),
        { numRuns: 5000 },
      )
      expect(seen.rows).toBeGreaterThan(800)
      expect(seen.errors).toBeGreaterThan(800)
    }
  })

  it('agrees with JSON.parse on the edges of JSON, one by one', async () => {
    const base = '"s":"a","n":1,"x":2.5,"b":true,"t":0,"tags":["p","q"],"scores":[1,null]'
    const texts = [
      `{${base}}`,
      ` \t\r\n{ ${base.replaceAll(',', ' ,\n ')} }\n`,
      `{${base.replace('["p","q"]', '["p","q"}')}}`,
      `{${base.replace('["p","q"]', '["p","q",]')}}`,
      `{${base.replace('["p","q"]', '["p" "q"]')}}`,
      `{${base.replace('["p","q"]', '[,"p"]')}}`,
      `{${base.replace('[1,null]', '[1,null}')}}`,
      `{${base},}`,
      `{${base}`,
      `{${base}]`,
      `{${base}}}`,
      `{${base}} x`,
      `\ufeff{${base}}`,
      `{${base},"s":"b"}`,
      `{${base},"s":1}`,
      `{${base},"\u0073":"b"}`,
      `{${base},"extra":${'['.repeat(70)}${']'.repeat(70)}}`,
      `{${base},"extra":{"a":[1,2,{"b":"\\u00e9\\n"}],"c":-1.5e-3}}`,
      `{${base},"extra":"\\x"}`,
      `{${base},"extra":"\\u12G4"}`,
      `{${base},"extra":tru}`,
      `{${base},"extra":nul}`,
      ...[
        '01',
        '-',
        '1.',
        '.5',
        '+1',
        '1e5',
        '1E+2',
        '-0',
        '-0.0',
        '0.1',
        '123456789012345',
        '1234567890123456',
        '9007199254740993',
        '1.0',
      ].map((n) => `{${base.replace('"n":1', `"n":${n}`).replace('"x":2.5', `"x":${n}`)}}`),
      `{${base.replace('"a"', '"a\tb"')}}`,
      `{${base.replace('"a"', '"a\\"b"')}}`,
      `{${base.replace('"a"', '"é😀"')}}`,
      `{${base.replace('"t":0', '"t":"2024-02-30"')}}`,
      `{${base.replace('"t":0', '"t":8640000000000001')}}`,
      `{${base.replace('"t":0', '"t":1.5')}}`,
      '',
      ' ',
      'null',
      '[]',
      '{}',
      '"s"',
    ]
    const { sources } = await load(WHOLE)
    const source = sources.flat!
    for (const text of texts) {
      for (const bytes of [Buffer.from(text), Buffer.concat([Buffer.from(text), Buffer.from([0xff])])]) {
        const expected = outcome(() => source.decode(JSON.parse(bytes.toString('utf8'))))
        const actual = outcome(() => source.decodeJson(bytes))
        expect({ text, actual: same(actual, expected) ? expected : actual }).toEqual({
          text,
          actual: expected,
        })
      }
    }
  })

  it('type-checks as strict TypeScript', async () => {
    for (const text of [NARROW, WHOLE]) {
      const { typescript } = await compileAndLoad(text)
      expect(typescript).toMatch(/function scan\d+\(bytes: JsonBytes\)/)
      const project = new Project({
        useInMemoryFileSystem: true,
        compilerOptions: {
          strict: true,
          noUncheckedIndexedAccess: true,
          target: 99,
          lib: ['lib.es2022.d.ts'],
        },
      })
      project.createSourceFile(GENERATED_FILE, typescript)
      const problems = project.getPreEmitDiagnostics().map((d) => {
        const message = d.getMessageText()
        return `${d.getLineNumber()}: ${typeof message === 'string' ? message : message.getMessageText()}`
      })
      expect(problems).toEqual([])
    }
  })

  it('takes ordinary events without JSON.parse', async () => {
    const source = (await load(NARROW)).sources.flat!
    // Bytes that count whole-record decodes (what JSON.parse needs) beside the scanner's slices.
    let wholeRecordTexts = 0
    const instrumented = (text: string) => {
      const bytes = Buffer.from(text)
      return new Proxy(bytes, {
        get(target, property) {
          if (property === 'toString') {
            return (encoding: BufferEncoding, start: number, end: number) => {
              if (start === 0 && end === target.length) wholeRecordTexts++
              return target.toString(encoding, start, end)
            }
          }
          const value = Reflect.get(target, property)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
    }
    const lines = [
      '{"s":"a","n":1,"x":2.5,"b":true,"t":1767225600000,"tags":[],"scores":[1,null, -2]}',
      '{ "t": "2024-01-02T03:04:05Z", "x": -0.25, "s": "ünïcode 😀", "extra": {"nested": [1, 2e3, "\\u00e9"]}, "b": false, "n": -7, "ob": null, "tags": ["a", "b"], "scores": [], "stamps": [0, "2024-01-02"] }',
    ]
    for (const line of lines) {
      expect(source.decodeJson(instrumented(line))).toEqual(source.decode(JSON.parse(line)))
    }
    expect(wholeRecordTexts).toBe(0)
    // An escaped string is left to JSON.parse.
    source.decodeJson(instrumented('{"s":"a\\nb","n":1,"x":2.5,"b":true,"t":0,"tags":[],"scores":[]}'))
    expect(wholeRecordTexts).toBe(1)
  })
})
