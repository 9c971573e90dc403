import { describe, expect, it } from 'vitest'
import { EvaluationError } from './eval-error.ts'
import { parseJson, referenceDecode, referenceEncode, toJson } from './json-functions.ts'
import type { LibType } from './types.ts'

const ORDER: LibType = {
  kind: 'record',
  name: 'Order',
  fields: [
    { name: 'id', type: { kind: 'string' } },
    { name: 'at', type: { kind: 'timestamp' } },
    { name: 'items', type: { kind: 'list', of: { kind: 'i64' } } },
    { name: 'note', type: { kind: 'optional', of: { kind: 'string' } } },
  ],
}
const decodeOrder = (value: unknown, path: string) =>
  referenceDecode({ kind: 'optional', of: ORDER }, value, path)

describe('parse_json with the reference decoder', () => {
  it('decodes as an event is decoded', () => {
    expect(
      parseJson('{"id":"a","at":"2024-01-01T00:00:00Z","items":[1,2],"extra":true}', decodeOrder),
    ).toEqual({
      id: 'a',
      at: Date.parse('2024-01-01T00:00:00Z'),
      items: [1, 2],
      note: null,
    })
    expect(parseJson('null', decodeOrder)).toBeNull()
  })

  it('fails with the path of the first bad value', () => {
    expect(() => parseJson('{"id":"a","at":0,"items":[1,"2"]}', decodeOrder)).toThrow(
      'parse_json: $.items[1]: expected an integer within ±(2^53-1), got the string "2"',
    )
    expect(() => parseJson('[]', decodeOrder)).toThrow('parse_json: $: expected an object, got a list')
    expect(() => parseJson('{"id":', decodeOrder)).toThrow(EvaluationError)
  })
})

describe('to_json with the reference encoder', () => {
  it('writes as a sink writes', () => {
    const value = { id: 'a', at: 0, items: [1], note: null }
    expect(toJson(value, (v) => referenceEncode(ORDER, v))).toBe(
      '{"id":"a","at":"1970-01-01T00:00:00.000Z","items":[1],"note":null}',
    )
    const f64: LibType = { kind: 'optional', of: { kind: 'f64' } }
    expect(referenceEncode(f64, Number.NaN)).toBe('null')
    expect(() => toJson(Number.NaN, (v) => referenceEncode({ kind: 'f64' }, v))).toThrow(EvaluationError)
  })
})
