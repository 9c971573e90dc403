import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LatencyHistogram, MAX_TRACKABLE_NS } from './latency-histogram.ts'
import { percentileOfSorted } from './percentile.ts'

describe('LatencyHistogram', () => {
  it('reports the nearest-rank percentiles of 1 … 100,000 ns within 0.1 % above', () => {
    const h = new LatencyHistogram()
    for (let v = 1; v <= 100_000; v++) h.record(v)
    const s = h.summary()
    expect(s.count).toBe(100_000)
    for (const [got, exact] of [
      [s.p50, 50_000],
      [s.p99, 99_000],
      [s.p999, 99_900],
      [s.max, 100_000],
    ] as const) {
      expect(got).toBeGreaterThanOrEqual(exact)
      expect(got).toBeLessThanOrEqual(exact * 1.001)
    }
    expect(s.mean).toBeCloseTo(50_000.5, -2)
  })

  it('keeps small values exact and puts a single outlier only in the tail', () => {
    const h = new LatencyHistogram()
    for (let i = 0; i < 999; i++) h.record(700)
    h.record(5_000_000)
    const s = h.summary()
    expect([s.p50, s.p99, s.p999]).toEqual([700, 700, 700])
    expect(s.max).toBe(5_000_000) // the largest value recorded, exactly
    // The top bucket reaches past 5,000,000; no percentile is reported above the max.
    expect(h.percentile(100)).toBe(5_000_000)
    expect(h.percentile(99.95)).toBe(5_000_000)
  })

  it('agrees with the exact nearest-rank percentile on any sample, within the precision', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 50_000_000 }), { minLength: 1, maxLength: 400 }),
        fc.constantFrom(50, 90, 99, 99.9),
        (values, p) => {
          const h = new LatencyHistogram()
          for (const v of values) h.record(v)
          const exact = percentileOfSorted(Float64Array.from(values).sort(), p / 100)
          const got = h.percentile(p)
          expect(got).toBeGreaterThanOrEqual(exact)
          expect(got).toBeLessThanOrEqual(exact * 1.001 + 1)
        },
      ),
    )
  })

  it('rounds fractional nanoseconds, clamps and counts values past the range, refuses negative ones', () => {
    const h = new LatencyHistogram()
    h.record(1.4)
    h.record(MAX_TRACKABLE_NS * 2)
    expect(h.summary()).toMatchObject({ count: 2, clamped: 1 })
    expect(h.percentile(50)).toBe(1)
    expect(() => h.record(-1)).toThrow(RangeError)
    expect(() => h.record(Number.NaN)).toThrow(RangeError)
    expect(() => h.percentile(0)).toThrow(RangeError)
  })

  it('summarises an empty histogram as zeros and forgets everything on reset', () => {
    const h = new LatencyHistogram()
    expect(h.summary()).toEqual({ count: 0, mean: 0, p50: 0, p99: 0, p999: 0, max: 0, clamped: 0 })
    h.record(MAX_TRACKABLE_NS + 1)
    h.reset()
    expect(h.summary()).toEqual({ count: 0, mean: 0, p50: 0, p99: 0, p999: 0, max: 0, clamped: 0 })
  })
})
