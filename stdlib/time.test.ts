import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseIsoTimestamp, parseIsoTimestampByPattern } from './time.ts'

/** Years 0000-9999: the ones the canonical forms write with four digits. */
const FOUR_DIGIT_YEARS = fc.integer({
  min: -62_167_219_200_000, // 0000-01-01T00:00:00.000Z
  max: Date.UTC(9999, 11, 31, 23, 59, 59, 999),
})

describe('parseIsoTimestamp', () => {
  it('reads what toISOString writes, with or without milliseconds, to the millisecond it wrote', () => {
    fc.assert(
      fc.property(FOUR_DIGIT_YEARS, (ms) => {
        const text = new Date(ms).toISOString()
        expect(parseIsoTimestamp(text)).toBe(ms)
        expect(parseIsoTimestamp(`${text.slice(0, 19)}Z`)).toBe(ms - (((ms % 1000) + 1000) % 1000))
      }),
      { numRuns: 2000 },
    )
  })

  it('agrees with the regular expression on canonical-looking text with any character changed', () => {
    const alphabet = '0123456789-T:.Zz+ t/'
    fc.assert(
      fc.property(
        FOUR_DIGIT_YEARS,
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(23), fc.nat(alphabet.length - 1)), { maxLength: 3 }),
        (ms, withMillis, edits) => {
          const iso = new Date(ms).toISOString()
          const chars = [...(withMillis ? iso : `${iso.slice(0, 19)}Z`)]
          for (const [at, c] of edits) if (at < chars.length) chars[at] = alphabet[c]!
          const text = chars.join('')
          expect(parseIsoTimestamp(text)).toBe(parseIsoTimestampByPattern(text))
        },
      ),
      { numRuns: 5000 },
    )
  })

  it('refuses canonical-shaped text that names no instant, as the pattern does', () => {
    for (const text of [
      '2023-02-29T00:00:00.000Z',
      '2024-13-01T00:00:00Z',
      '2024-01-01T24:00:00.000Z',
      '2024-01-01T23:60:00Z',
      '2024-01-00T00:00:00Z',
    ]) {
      expect(parseIsoTimestamp(text), text).toBe(null)
      expect(parseIsoTimestampByPattern(text), text).toBe(null)
    }
  })
})
