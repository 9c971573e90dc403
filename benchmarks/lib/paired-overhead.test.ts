import { describe, expect, it } from 'vitest'
import { type OverheadRun, pairedRatios } from './paired-overhead.ts'

const run = (round: number, variant: string, eventsPerSecond: number, cpuSeconds = 1, mainCpuSeconds = 1) =>
  ({ round, variant, eventsPerSecond, cpuSeconds, mainCpuSeconds }) satisfies OverheadRun

describe('pairedRatios', () => {
  it('divides each round by the baseline of the same round, not by the baseline’s median', () => {
    // A busy round 2 slows both; the variant costs 10 % in every round.
    const runs = [
      run(1, 'none', 200, 5, 4),
      run(1, 'every', 180, 5.5, 4.4),
      run(2, 'none', 100, 5, 4),
      run(2, 'every', 90, 6, 4.2),
      run(3, 'none', 190, 5, 4),
      run(3, 'every', 171, 5.25, 4.8),
    ]
    const [every] = pairedRatios(runs, 'none')
    expect(every!.variant).toBe('every')
    expect(every!.rounds).toBe(3)
    expect(every!.throughputRatios.map((r) => r.toFixed(3))).toEqual(['0.900', '0.900', '0.900'])
    expect(every!.throughputRatio).toBeCloseTo(0.9, 12)
    // Medians of 1.1, 1.2, 1.05 and of 1.1, 1.05, 1.2.
    expect(every!.cpuRatio).toBeCloseTo(1.1, 12)
    expect(every!.mainCpuRatio).toBeCloseTo(1.1, 12)
    // The ratio of the medians would pair round 3's baseline with round 1's variant: 180 / 190.
    expect(180 / 190).not.toBeCloseTo(every!.throughputRatio, 3)
  })

  it('leaves out rounds without a baseline run and answers NaN when none pairs', () => {
    const [every] = pairedRatios([run(1, 'every', 100), run(2, 'every', 90), run(2, 'none', 100)], 'none')
    expect(every!.rounds).toBe(1)
    expect(every!.throughputRatio).toBeCloseTo(0.9, 12)
    const [alone] = pairedRatios([run(1, 'every', 100)], 'none')
    expect(alone!.rounds).toBe(0)
    expect(alone!.throughputRatio).toBeNaN()
  })
})
