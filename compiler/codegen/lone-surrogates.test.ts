/**
 * A lone surrogate escaped in JSON (`"a\ud800b"`, repro case G of issue 17) was accepted and
 * written back escaped, which strict JSON parsers refuse. Decoding refuses it, naming the field
 * (specs/language.md §9): the generated decoders (scanner, reader, explaining decoder) and the
 * reference interpreter's decoder alike; an escaped pair is one character and decodes.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { LONE_SURROGATE_REASON, referenceDecode, referenceEncode } from '../../stdlib/json-functions.ts'
import type { RecordType } from '../ir/types.ts'
import { compileAndLoad, removeLoadedModules } from './load-generated.ts'

afterAll(removeLoadedModules)

const PIPE = `
schema Inner { name: string }
schema E { id: string, s: string?, tags: list<string>?, m: map<string, i64>?, inner: Inner? }
source e: E from kafka("in")
sink e -> kafka("out")
`

/** Each event as JSON text, and the reason it must be refused with (null: it decodes). */
const CASES: readonly (readonly [string, string | null])[] = [
  ['{"id":"a\\ud800b"}', 'id: expected a string without lone surrogates, got the string "a\\ud800b"'],
  ['{"id":"x","s":"\\udc00"}', 's: expected a string without lone surrogates, got the string "\\udc00"'],
  [
    '{"id":"x","s":"\\ude00\\ud83d"}',
    's: expected a string without lone surrogates, got the string "\\ude00\\ud83d"',
  ],
  [
    '{"id":"x","tags":["ok","\\ud83d"]}',
    'tags[1]: expected a string without lone surrogates, got the string "\\ud83d"',
  ],
  [
    '{"id":"x","m":{"\\udfff":1}}',
    'm["\\udfff"]: expected a key without lone surrogates, got the string "\\udfff"',
  ],
  [
    '{"id":"x","inner":{"name":"z\\udbff"}}',
    'inner.name: expected a string without lone surrogates, got the string "z\\udbff"',
  ],
  ['{"id":"\\ud83d\\ude00","s":"\\u00e9","tags":["\\ud800\\udc00"],"m":{"\\ud83d\\ude00":1}}', null],
]

function reasonOf(decode: () => unknown): string | null {
  try {
    decode()
    return null
  } catch (error) {
    return (error as Error).message
  }
}

describe('lone surrogates in decoded strings', () => {
  it('are refused by the generated decoder, from bytes and from a parsed value, naming the field', async () => {
    const { operators } = await compileAndLoad(PIPE)
    const source = operators.sources.e!
    for (const [text, reason] of CASES) {
      expect(
        reasonOf(() => source.decodeJson!(Buffer.from(text) as never)),
        text,
      ).toBe(reason)
      expect(
        reasonOf(() => source.decode(JSON.parse(text))),
        text,
      ).toBe(reason)
    }
  })

  it('are refused by the reference decoder with the same reasons', async () => {
    const { pipeline } = await compileAndLoad(PIPE)
    const type = pipeline.schemas.E as RecordType
    for (const [text, reason] of CASES) {
      expect(
        reasonOf(() => referenceDecode(type, JSON.parse(text), '')),
        text,
      ).toBe(reason)
    }
  })

  it('keep an escaped pair as one character', async () => {
    const { operators } = await compileAndLoad(PIPE)
    const row = operators.sources.e!.decodeJson!(Buffer.from(CASES.at(-1)![0]) as never) as { id: string }
    expect(row.id).toBe('😀')
  })
})

describe('lone surrogates in written strings', () => {
  const REASON = LONE_SURROGATE_REASON
  /** Values of E a pipeline could compute (a user-defined function cutting a pair), and the refusal. */
  const WRITTEN: readonly (readonly [Record<string, unknown>, string | null])[] = [
    [{ id: 'a\ud83d', s: null, tags: null, m: null, inner: null }, `id: ${REASON}`],
    [{ id: 'x', s: '\ude00', tags: null, m: null, inner: null }, `s: ${REASON}`],
    [{ id: 'x', s: null, tags: ['ok', 'b\ud800'], m: null, inner: null }, `tags[1]: ${REASON}`],
    [{ id: 'x', s: null, tags: null, m: { a: 1, '\udfff': 2 }, inner: null }, `m["\\udfff"]: ${REASON}`],
    [{ id: 'x', s: null, tags: null, m: null, inner: { name: '\udbff' } }, `inner.name: ${REASON}`],
    // A pair is one character; a backslash followed by `ud83d` is text, written as `\\ud83d`.
    [{ id: '😀', s: '\\ud83d', tags: ['\\\\ud800', '😀'], m: { '\\ude00': 1 }, inner: { name: 'é' } }, null],
  ]

  it('are refused by the generated sink encoder and the reference encoder alike, naming the field', async () => {
    const { operators, pipeline } = await compileAndLoad(PIPE)
    const encode = Object.values(operators.sinks)[0]!.encode as (value: unknown) => string
    const type = pipeline.schemas.E as RecordType
    for (const [value, reason] of WRITTEN) {
      expect(
        reasonOf(() => encode(value)),
        JSON.stringify(value),
      ).toBe(reason)
      expect(
        reasonOf(() => referenceEncode(type, value)),
        JSON.stringify(value),
      ).toBe(reason)
    }
    const written = encode(WRITTEN.at(-1)![0])
    expect(JSON.parse(written)).toEqual(WRITTEN.at(-1)![0])
    expect(referenceEncode(type, WRITTEN.at(-1)![0])).toBe(written)
  })
})
