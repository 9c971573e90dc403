import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BatchReleases } from './batch-releases.ts'

describe('BatchReleases', () => {
  it('keysEmptiedAtLastCheck: the keys whose last check of the batch was "emptied", in first-event order (random batches into one BatchReleases)', () => {
    // Key ids up to 3,000 (its arrays per key grow from 1,024), often few of them (repeated in a
    // batch); answers 0 (not asked), 1 (not empty) and 2 (emptied); batches one after another, as
    // the operator clears and refills it.
    const keyId = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 3000 }))
    const event = fc.record({ keyId, check: fc.constantFrom(0, 1, 2) })
    const batches = fc.array(fc.array(event, { maxLength: 60 }), {
      minLength: 1,
      maxLength: 8,
    })
    let repeated = 0
    fc.assert(
      fc.property(batches, (list) => {
        const batch = new BatchReleases()
        for (const events of list) {
          // The reference: the Map of each key's last answer, in first-insertion order.
          const last = new Map<number, number>()
          for (const e of events) {
            const at = batch.reserve(1)
            batch.push(e.keyId, at, at, null)
            batch.emptyChecks[at] = e.check
            last.set(e.keyId, e.check)
          }
          if (last.size < events.length) repeated++
          const want = [...last].filter(([, check]) => check === 2).map(([id]) => id)
          expect(batch.keysEmptiedAtLastCheck()).toEqual(want)
          batch.clear()
        }
      }),
      { numRuns: 300 },
    )
    expect(repeated).toBeGreaterThan(0)
  })
})
