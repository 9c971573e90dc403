import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { environment, seededRandom, withEnvironment } from './environment.ts'
import { EvaluationError } from './eval-error.ts'
import { stdlib } from './index.ts'

function call(name: string, ...args: unknown[]): unknown {
  return (stdlib[name]!.impl as (...a: unknown[]) => unknown)(...args)
}

describe('index_of, lpad, rpad', () => {
  it('finds the first occurrence in code units', () => {
    expect(call('index_of', 'banana', 'na')).toBe(2)
    expect(call('index_of', 'banana', 'x')).toBe(-1)
    expect(call('index_of', 'banana', '')).toBe(0)
    expect(call('index_of', '😀a', 'a')).toBe(2)
  })

  it('pads to a width, never cuts the string or a character of the fill', () => {
    expect(call('lpad', '7', 3, '0')).toBe('007')
    expect(call('rpad', 'ab', 5, 'xy')).toBe('abxyx')
    expect(call('lpad', 'abcd', 2, '0')).toBe('abcd')
    expect(call('lpad', 'a', -3, '0')).toBe('a')
    expect(call('lpad', 'a', 5, '')).toBe('a')
    expect(call('lpad', 'a', 2, '😀')).toBe('a')
    expect(call('rpad', 'a', 3, '😀')).toBe('a😀')
    expect(() => call('lpad', 'a', 1_048_577, ' ')).toThrow(EvaluationError)
  })
})

describe('hashes', () => {
  it('sha256 is the hex digest of the UTF-8 bytes', () => {
    expect(call('sha256', 'abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(call('sha256', '')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  })

  it('hash is the top 53 bits of FNV-1a 64 (published test vectors)', () => {
    const top53 = (fnv: bigint) => Number(fnv >> 11n)
    expect(call('hash', '')).toBe(top53(0xcbf29ce484222325n))
    expect(call('hash', 'a')).toBe(top53(0xaf63dc4c8601ec8cn))
    expect(call('hash', 'foobar')).toBe(top53(0x85944171f73967e8n))
  })

  it('hash agrees with FNV-1a 64 in BigInt arithmetic and is a non-negative safe integer', () => {
    const reference = (s: string) => {
      let h = 0xcbf29ce484222325n
      for (const byte of new TextEncoder().encode(s))
        h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn
      return Number(h >> 11n)
    }
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const h = call('hash', s) as number
        expect(h).toBe(reference(s))
        expect(Number.isSafeInteger(h) && h >= 0).toBe(true)
      }),
    )
  })

  it('refuses a lone surrogate (it has no UTF-8 bytes)', () => {
    expect(() => call('hash', 'a\ud800')).toThrow(/lone surrogate/)
    expect(() => call('sha256', '\udc00')).toThrow(EvaluationError)
  })
})

describe('base64 and URL encoding', () => {
  it('base64 round-trips UTF-8 text', () => {
    expect(call('base64_encode', 'héllo')).toBe('aMOpbGxv')
    expect(call('base64_decode', 'aMOpbGxv')).toBe('héllo')
    expect(call('base64_decode', 'YQ==')).toBe('a')
    expect(call('base64_decode', 'YQ')).toBe('a')
    expect(call('base64_decode', 'Pz8-')).toBe('??>')
    expect(call('base64_decode', 'Pz8_')).toBe('???')
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(call('base64_decode', call('base64_encode', s))).toBe(s)
      }),
    )
  })

  it('base64_decode refuses what is not base64 or not UTF-8', () => {
    for (const bad of ['YQ=', 'Y', 'YQ===', 'Y Q=', 'YQ==YQ==', '*', '_w']) {
      expect(() => call('base64_decode', bad), bad).toThrow(EvaluationError)
    }
  })

  it('url_encode escapes all but the unreserved characters, url_decode reads it back', () => {
    expect(call('url_encode', "a b&c/é!'~")).toBe('a%20b%26c%2F%C3%A9%21%27~')
    expect(call('url_decode', 'a%20b%26c%2F%C3%A9')).toBe('a b&c/é')
    expect(call('url_decode', 'a+b')).toBe('a+b')
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(call('url_decode', call('url_encode', s))).toBe(s)
      }),
    )
  })

  it('url_decode refuses a broken escape or bytes that are not UTF-8', () => {
    for (const bad of ['%', '%2', '%zz', '%C3', '%FF']) {
      expect(() => call('url_decode', bad), bad).toThrow(EvaluationError)
    }
  })
})

describe('uuid', () => {
  it('uuid is a version 4 UUID from the random source', async () => {
    expect(call('uuid')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    const fixed = { now: () => 0, fillRandom: (bytes: Uint8Array) => bytes.fill(0xff) }
    await withEnvironment(fixed, () => {
      expect(call('uuid')).toBe('ffffffff-ffff-4fff-bfff-ffffffffffff')
    })
    expect(environment().now).toBe(Date.now)
  })

  it('a seeded source repeats its values', async () => {
    const run = () =>
      withEnvironment({ now: () => 0, fillRandom: seededRandom(7) }, () => [call('uuid'), call('uuid')])
    const [first, second] = [await run(), await run()]
    expect(first).toEqual(second)
    expect(first[0]).not.toBe(first[1])
  })

  it('uuid_v5 is the RFC 9562 name-based UUID', () => {
    // RFC 9562's example: the DNS namespace and "www.example.com".
    expect(call('uuid_v5', '6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    )
    expect(() => call('uuid_v5', 'dns', 'x')).toThrow(/not a UUID/)
  })
})

describe('parse_bool', () => {
  it('reads the PostgreSQL spellings in any case, else null', () => {
    for (const s of ['true', 'TRUE', ' t', 'Yes', 'y', 'on', '1']) expect(call('parse_bool', s), s).toBe(true)
    for (const s of ['false', 'F', 'no', 'N ', 'off', '0']) expect(call('parse_bool', s), s).toBe(false)
    for (const s of ['', 'tru', '2', 'yes please', 'null']) expect(call('parse_bool', s), s).toBeNull()
  })
})
