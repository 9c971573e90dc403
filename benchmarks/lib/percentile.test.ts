import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { median, percentileOfSorted, summarize } from './percentile.ts'

describe('percentileOfSorted (nearest rank)', () => {
  it('picks the sample at rank ⌈p·n⌉', () => {
    const hundred = Float64Array.from({ length: 100 }, (_, i) => i + 1) // 1 … 100
    expect(percentileOfSorted(hundred, 0.5)).toBe(50)
    expect(percentileOfSorted(hundred, 0.99)).toBe(99)
    expect(percentileOfSorted(hundred, 0.999)).toBe(100)
    expect(percentileOfSorted(hundred, 1)).toBe(100)
    expect(percentileOfSorted(hundred, 0.001)).toBe(1)
    const thousand = Float64Array.from({ length: 1000 }, (_, i) => i + 1)
    expect(percentileOfSorted(thousand, 0.999)).toBe(999)
    expect(percentileOfSorted(thousand, 0.99)).toBe(990)
    expect(percentileOfSorted([7], 0.5)).toBe(7)
    expect(percentileOfSorted([1, 2], 0.5)).toBe(1)
    expect(percentileOfSorted([1, 2, 3], 0.5)).toBe(2)
  })

  it('rejects empty samples and ranks outside (0, 1]', () => {
    expect(() => percentileOfSorted([], 0.5)).toThrow(RangeError)
    expect(() => percentileOfSorted([1], 0)).toThrow(RangeError)
    expect(() => percentileOfSorted([1], 1.5)).toThrow(RangeError)
    expect(() => percentileOfSorted([1], Number.NaN)).toThrow(RangeError)
  })

  it('satisfies the definition: at least p·n samples ≤ it, and fewer than p·n strictly below it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 300 }),
        fc.double({ min: 0.0001, max: 1, noNaN: true }),
        (raw, p) => {
          const sorted = Float64Array.from(raw).sort()
          const value = percentileOfSorted(sorted, p)
          expect(raw).toContain(value)
          const atMost = raw.filter((x) => x <= value).length
          const below = raw.filter((x) => x < value).length
          expect(atMost).toBeGreaterThanOrEqual(p * raw.length - 1e-9)
          expect(below).toBeLessThan(p * raw.length)
        },
      ),
    )
  })
})

describe('summarize', () => {
  it('sorts a copy and reports min/mean/percentiles/max', () => {
    const samples = [5, 1, 4, 2, 3]
    expect(summarize(samples)).toEqual({ count: 5, min: 1, mean: 3, p50: 3, p99: 5, p999: 5, max: 5 })
    expect(samples).toEqual([5, 1, 4, 2, 3])
  })

  it('orders p50 ≤ p99 ≤ p999 ≤ max on any input', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ noNaN: true, min: 0, max: 1e9 }), { minLength: 1, maxLength: 500 }),
        (raw) => {
          const s = summarize(raw)
          expect(s.min).toBeLessThanOrEqual(s.p50)
          expect(s.p50).toBeLessThanOrEqual(s.p99)
          expect(s.p99).toBeLessThanOrEqual(s.p999)
          expect(s.p999).toBeLessThanOrEqual(s.max)
        },
      ),
    )
  })

  it('rejects an empty sample', () => {
    expect(() => summarize([])).toThrow(RangeError)
  })
})

describe('median', () => {
  it('is the middle value, or the mean of the middle two, whatever the order', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([7])).toBe(7)
  })
})
