import { describe, expect, it } from 'vitest'
import { runStatistics, tQuantile975 } from './runs.ts'

describe('runStatistics', () => {
  it('gives mean, sample sd and the t-based relative margin of error', () => {
    const s = runStatistics([90, 100, 110])
    expect(s.count).toBe(3)
    expect(s.mean).toBe(100)
    expect(s.sd).toBeCloseTo(10, 12)
    // t(0.975, 2) = 4.303; sem = 10 / √3
    expect(s.rmePercent).toBeCloseTo((4.303 * 10) / Math.sqrt(3), 9)
  })

  it('reports no spread for one run and rejects none', () => {
    expect(runStatistics([5])).toEqual({ count: 1, mean: 5, sd: 0, rmePercent: 0 })
    expect(() => runStatistics([])).toThrow(RangeError)
  })

  it('uses the t table up to 30 degrees of freedom and 1.96 beyond', () => {
    expect(tQuantile975(1)).toBe(12.706)
    expect(tQuantile975(30)).toBe(2.042)
    expect(tQuantile975(31)).toBe(1.96)
    expect(() => tQuantile975(0)).toThrow(RangeError)
  })
})
