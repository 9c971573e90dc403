import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type AppendResult, AppendResults } from './append-results.ts'

const result: fc.Arbitrary<AppendResult> = fc.oneof(
  fc.record({
    partition: fc.integer({ min: -1, max: 1000 }),
    offset: fc.oneof(fc.constant(-1), fc.maxSafeNat()),
  }),
  fc.record({ refused: fc.string() }),
)

describe('AppendResults', () => {
  it('gives back each record as the object it was made from', () => {
    fc.assert(
      fc.property(fc.array(result, { maxLength: 30 }), (results) => {
        const compact = AppendResults.of(results)
        expect(compact.length).toBe(results.length)
        expect(compact.toArray()).toEqual(results)
        expect(compact.refusedCount).toBe(results.filter((r) => 'refused' in r).length)
        results.forEach((r, i) => {
          if ('refused' in r) expect(compact.refused.get(i)).toBe(r.refused)
          else expect([compact.partitions[i], compact.offsets[i]]).toEqual([r.partition, r.offset])
        })
      }),
    )
  })
})
