import { describe, expect, it } from 'vitest'
import { nextRate, type RateOutcome } from './rate-search.ts'

const RATES = [20_000, 50_000, 100_000, 200_000]
const held = (offered: number): RateOutcome => ({ offered, held: true, overloaded: false })
const slow = (offered: number): RateOutcome => ({ offered, held: false, overloaded: false })
const behind = (offered: number): RateOutcome => ({ offered, held: false, overloaded: true })

/** Runs the search against a node that holds up to `holds` and falls behind above `keepsUp`. */
function search(holds: number, keepsUp: number, floor = 1000): number[] {
  const tried: RateOutcome[] = []
  for (let rate = nextRate(tried, RATES, floor); rate !== null; rate = nextRate(tried, RATES, floor)) {
    tried.push(rate <= holds ? held(rate) : rate <= keepsUp ? slow(rate) : behind(rate))
    if (tried.length > 50) throw new Error('the search does not end')
  }
  return tried.map((t) => t.offered)
}

describe('nextRate', () => {
  it('goes up the rates until the node falls behind', () => {
    expect(search(50_000, 100_000)).toEqual([20_000, 50_000, 100_000, 200_000])
    expect(search(50_000, 60_000)).toEqual([20_000, 50_000, 100_000])
    expect(search(1e9, 1e9)).toEqual(RATES)
  })

  it('keeps going up past a rate that is not held but not behind either (a p99 over the limit)', () => {
    expect(nextRate([slow(20_000)], RATES, 1000)).toBe(50_000)
  })

  it('halves below the lowest rate when none was held, down to the floor', () => {
    expect(search(6_000, 6_000)).toEqual([20_000, 10_000, 5_000])
    expect(search(0, 0, 4_000)).toEqual([20_000, 10_000, 5_000])
    expect(search(12_000, 30_000)).toEqual([20_000, 50_000, 10_000])
  })

  it('ends at once with no rates and nothing tried only if the list is empty', () => {
    expect(nextRate([], [], 1000)).toBeNull()
    expect(nextRate([], RATES, 1000)).toBe(20_000)
  })
})
