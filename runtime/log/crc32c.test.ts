import { createRequire } from 'node:module'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crc32c } from './crc32c.ts'

/** kafkajs's byte-at-a-time CRC32C: the reference. */
const referenceCrc32c = createRequire(import.meta.url)(
  'kafkajs/src/protocol/recordBatch/crc32C/crc32C.js',
) as (buffer: Buffer) => number

describe('crc32c', () => {
  it('gives the standard check value of "123456789" (0xe3069283)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
  })

  it('is 0 for no bytes', () => {
    expect(crc32c(Buffer.alloc(0))).toBe(0)
  })

  it('agrees with kafkajs’s CRC32C on any bytes and any range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1)
        const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1))
        const slice = Buffer.from(bytes.subarray(start, end))
        expect(crc32c(bytes, start, end)).toBe(referenceCrc32c(slice))
      }),
      { numRuns: 500 },
    )
  })
})
