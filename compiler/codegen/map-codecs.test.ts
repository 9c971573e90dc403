/**
 * The generated codecs of `map<string, T>`: any key is an ordinary key (no prototype pollution,
 * nothing inherited), values are checked with the key in the error path, and the encoder writes
 * the keys in ascending order.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { compileAndLoad, removeLoadedModules } from './load-generated.ts'

afterAll(removeLoadedModules)

const PIPE = `
schema E { id: string, m: map<string, map<string, i64?>> }
source e: E from kafka("in")
sink e -> kafka("out")
`

describe('map<string, T> codecs', () => {
  it('decodes __proto__ and constructor as ordinary keys into objects without a prototype', async () => {
    const { operators } = await compileAndLoad(PIPE)
    const decodeJson = operators.sources.e!.decodeJson!
    const text = '{"id":"1","m":{"__proto__":{"polluted":1},"constructor":{"x":null}}}'
    const row = decodeJson(Buffer.from(text) as never) as { m: Record<string, Record<string, unknown>> }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    const proto = Object.getOwnPropertyDescriptor(row.m, '__proto__')?.value as object
    expect(Object.getPrototypeOf(row.m)).toBeNull()
    expect(Object.getPrototypeOf(proto)).toBeNull()
    expect(Object.keys(row.m)).toEqual(['__proto__', 'constructor'])
    expect(proto).toEqual({ polluted: 1 })
    expect(Object.hasOwn(row.m.constructor!, 'x')).toBe(true)
    const encode = operators.sinks['sink#1']!.encode as (value: unknown) => string
    expect(encode(row)).toBe('{"id":"1","m":{"__proto__":{"polluted":1},"constructor":{"x":null}}}')
  })

  it('names the key in the path of a value that does not decode', async () => {
    const { operators } = await compileAndLoad(PIPE)
    expect(() => operators.sources.e!.decode({ id: '1', m: { 'a"b': { n: 1.5 } } })).toThrow(
      'm["a\\"b"]["n"]: expected an integer within ±(2^53-1), got number 1.5',
    )
    expect(() => operators.sources.e!.decode({ id: '1', m: [] })).toThrow(
      'm: expected an object (a map), got a list',
    )
  })

  it('writes keys in ascending order of UTF-16 code units', async () => {
    const { operators } = await compileAndLoad(PIPE)
    const row = operators.sources.e!.decode({ id: '1', m: { b: {}, a: { z: 1, '10': 2, '9': null }, B: {} } })
    const encode = operators.sinks['sink#1']!.encode as (value: unknown) => string
    expect(encode(row)).toBe('{"id":"1","m":{"B":{},"a":{"10":2,"9":null,"z":1},"b":{}}}')
  })
})
