import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stdlib } from './index.ts'

const impl = (name: string) => stdlib[name]!.impl as (...args: unknown[]) => unknown

/** Whether a string holds a surrogate that is not half of a pair (what strict JSON parsers refuse). */
function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s)
}

describe('string functions never cut a character in half (issue 17, defect 11)', () => {
  const substr = impl('substr')
  const split = impl('split')

  it('substr leaves out a character its start or end would cut', () => {
    const s = 'a😀b😀c' // 😀 is two code units
    expect(substr(s, 0, 2)).toBe('a') // would end inside the first 😀
    expect(substr(s, 2, 3)).toBe('b') // would start inside it
    expect(substr(s, 1, 2)).toBe('😀')
    expect(substr(s, 2, 1)).toBe('')
  })

  it('split with an empty separator gives characters', () => {
    expect(split('a😀é', '')).toEqual(['a', '😀', 'é'])
  })

  it('property: substr and split of any string hold no lone surrogate, and substr stays within len', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.nat(30), fc.nat(30), (s, start, len) => {
        const out = substr(s, start, len) as string
        expect(hasLoneSurrogate(out)).toBe(false)
        expect(out.length).toBeLessThanOrEqual(len)
        expect(s.includes(out)).toBe(true)
        for (const part of split(s, '') as string[]) expect(hasLoneSurrogate(part)).toBe(false)
      }),
    )
  })
})
