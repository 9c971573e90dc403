import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SharedBudget } from './in-flight.ts'

describe('shared in-flight budget with holders', () => {
  it('gives back exactly what a holder still held when its thread ended, and keeps the bound', () => {
    const HOLDERS = 3
    fc.assert(
      fc.property(
        fc.nat(2000),
        fc.array(fc.record({ holder: fc.nat(HOLDERS - 1), size: fc.nat(300), release: fc.boolean() }), {
          maxLength: 60,
        }),
        fc.nat(HOLDERS - 1),
        (max, steps, ended) => {
          const owner = SharedBudget.create(max, HOLDERS)
          const views = Array.from({ length: HOLDERS }, (_, h) => new SharedBudget(owner.buffer, max, h))
          // The reference: what each holder holds, by reservation.
          const held: number[][] = Array.from({ length: HOLDERS }, () => [])
          const total = () => held.flat().reduce((a, b) => a + b, 0)
          for (const { holder, size, release } of steps) {
            if (release && held[holder]!.length > 0) views[holder]!.release(held[holder]!.shift()!)
            else {
              const fits = total() + size <= max
              expect(views[holder]!.reserve(size)).toBe(fits)
              if (fits) held[holder]!.push(size)
            }
            expect(owner.bytes).toBe(total())
          }
          const expectedBack = held[ended]!.reduce((a, b) => a + b, 0)
          expect(owner.releaseHolder(ended)).toBe(expectedBack)
          held[ended] = []
          expect(owner.bytes).toBe(total())
          // The slot starts at zero for the thread that takes its place.
          expect(owner.releaseHolder(ended)).toBe(0)
          expect(owner.bytes).toBe(total())
        },
      ),
    )
  })

  it('refuses a holder the buffer has no slot for', () => {
    const budget = SharedBudget.create(100, 2)
    expect(() => new SharedBudget(budget.buffer, 100, 2)).toThrow(RangeError)
    expect(() => new SharedBudget(SharedBudget.create(100).buffer, 100, 0)).toThrow(RangeError)
  })
})
