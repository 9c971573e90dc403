import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { KeyIndex } from './key-index.ts'

describe('KeyIndex', () => {
  it('property: inserts and removes agree with a Map, through growth, wrap-around and backward shifts', () => {
    // Few distinct keys in a small table: long probe runs that wrap past the end, and many
    // removals from the middle of a run.
    const keys = fc.constantFrom(...Array.from({ length: 11 }, (_, i) => `k${i}`), 'é', '\u{1F600}', '')
    fc.assert(
      fc.property(
        fc.array(fc.record({ remove: fc.boolean(), key: keys, asBytes: fc.boolean() }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 8 }),
        (ops, expected) => {
          const index = new KeyIndex(expected)
          const model = new Map<string, number>()
          const free: number[] = []
          let next = 0
          for (const { remove, key, asBytes } of ops) {
            // A restore indexes ASCII keys as bytes in a snapshot's buffer (here at offset 3).
            const bytes = asBytes && Buffer.byteLength(key) === key.length ? Buffer.from(`xyz${key}!`) : null
            const insert = (slot: number) =>
              bytes === null ? index.insert(key, slot) : index.insertBytes(bytes, 3, 3 + key.length, slot)
            if (remove) {
              const slot = model.get(key)
              if (slot === undefined) continue
              index.remove(slot)
              model.delete(key)
              free.push(slot)
            } else if (!model.has(key)) {
              const slot = free.pop() ?? next++
              expect(insert(slot)).toBe(slot)
              model.set(key, slot)
            } else {
              // Inserting a present key reports the slot it has.
              expect(insert(9999)).toBe(model.get(key))
            }
            expect(index.size).toBe(model.size)
            for (const [present, slot] of model) expect(index.find(present)).toBe(slot)
          }
          for (const key of ['k0', 'k1', 'k10', 'é', '\u{1F600}', '', 'absent']) {
            expect(index.find(key)).toBe(model.get(key) ?? -1)
          }
          for (const [key, slot] of model) {
            expect(index.holds(slot)).toBe(true)
            expect(index.keyAt(slot)).toBe(key)
          }
        },
      ),
      { numRuns: 1500 },
    )
  })

  it('holds a million keys sized at once, and finds each', () => {
    const index = new KeyIndex()
    index.reserve(1_000_000)
    for (let i = 0; i < 1_000_000; i++) index.insert(`card-${i}`, i)
    expect(index.size).toBe(1_000_000)
    for (let i = 0; i < 1_000_000; i += 997) expect(index.find(`card-${i}`)).toBe(i)
    expect(index.find('card-1000000')).toBe(-1)
  })
})
