import { describe, expect, it } from 'vitest'
import { LogSampler } from './log-sampler.ts'

describe('LogSampler', () => {
  it('lets perSecond lines through per second and reports the rest once, when the next second begins', () => {
    let now = 10_000
    const reports: number[] = []
    const sampler = new LogSampler(
      3,
      (n) => reports.push(n),
      () => now,
    )
    const first = Array.from({ length: 10 }, () => sampler.take())
    expect(first).toEqual([true, true, true, false, false, false, false, false, false, false])
    expect(reports).toEqual([])
    now += 999
    expect(sampler.take()).toBe(false)
    now += 1
    expect(sampler.take()).toBe(true)
    expect(reports).toEqual([8])
  })

  it('reports what it held back on flush, and nothing when nothing was held', () => {
    const reports: number[] = []
    const sampler = new LogSampler(
      1,
      (n) => reports.push(n),
      () => 0,
    )
    sampler.flush()
    sampler.take()
    sampler.take()
    sampler.take()
    sampler.flush()
    sampler.flush()
    expect(reports).toEqual([2])
  })
})
