import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crc32, crc32Table } from './crc32.ts'

describe('crc32', () => {
  it('matches the standard check value', () => {
    // "123456789" → 0xCBF43926 is the published check value of CRC-32/ISO-HDLC.
    expect(crc32Table(Buffer.from('123456789'))).toBe(0xcbf43926)
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
    expect(crc32Table(Buffer.alloc(0))).toBe(0)
  })

  it('table fallback agrees with the exported implementation on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(crc32Table(bytes)).toBe(crc32(bytes))
      }),
    )
  })

  it('matches a second published vector', () => {
    const data = Buffer.from('The quick brown fox jumps over the lazy dog')
    expect(crc32Table(data)).toBe(0x414fa339)
    expect(crc32(data)).toBe(0x414fa339)
  })
})
