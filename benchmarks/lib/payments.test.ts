import { describe, expect, it } from 'vitest'
import { checkSource } from '../../compiler/frontend.ts'
import { generatePayments, paymentChunks, paymentPipeline } from './payments.ts'

describe('the shared payments workload', () => {
  it('is the same sequence whole or in chunks, and for the same seed', () => {
    const whole = generatePayments(1000, 7)
    expect([...paymentChunks(1000, 7, 64)].flat()).toEqual(whole)
    expect(generatePayments(1000, 7)).toEqual(whole)
    expect(generatePayments(1000, 8)).not.toEqual(whole)
    expect(whole[999]).toMatchObject({ id: 'p-999', ts: Date.UTC(2026, 0, 1) + 9990 })
  })

  it('lets about half the events through the filter', () => {
    const passing = generatePayments(20_000, 42).filter((p) => p.amount > 100 && p.country !== 'US')
    expect(passing.length / 20_000).toBeGreaterThan(0.45)
    expect(passing.length / 20_000).toBeLessThan(0.55)
  })

  it('is a valid pipeline for any topic names', () => {
    expect(checkSource('bench.pipe', paymentPipeline('in-1', 'out-1')).pipeline).not.toBeNull()
  })
})
