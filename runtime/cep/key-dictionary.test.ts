import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { hashOf, KeyDictionary } from './key-dictionary.ts'

describe('KeyDictionary', () => {
  it('answers as a Map does through random adds, deletes and lookups (small tables: probes wrap, tables grow and shrink)', () => {
    // Few distinct keys in a table of 8 slots at first, so runs of slots wrap around the end and
    // deletions move slots back across it; many keys at times, so it grows past 8 and shrinks.
    const key = fc.oneof(
      fc.integer({ min: 0, max: 40 }).map((n) => `k${n}`),
      fc.string({ maxLength: 6 }),
      fc.constantFrom('', 'é', '\u{1F600}', 'card-1'),
    )
    const op = fc.oneof(
      fc.record({ add: key }),
      fc.record({ delete: key }),
      fc.record({ get: key }),
      fc.record({ burst: fc.integer({ min: 1, max: 60 }) }),
    )
    let deletedPresent = 0
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const dict = new KeyDictionary(8)
        const map = new Map<string, number>()
        let next = 0
        const check = () => {
          expect(dict.size).toBe(map.size)
          for (const [k, id] of map) expect(dict.get(k)).toBe(id)
          const listed = new Map<string, number>()
          dict.forEach((k, id) => {
            listed.set(k, id)
          })
          expect(listed).toEqual(map)
        }
        for (const o of ops) {
          if ('add' in o) {
            if (map.has(o.add)) continue
            dict.add(o.add, next)
            map.set(o.add, next++)
          } else if ('delete' in o) {
            if (map.has(o.delete)) deletedPresent++
            expect(dict.delete(o.delete)).toBe(map.delete(o.delete))
          } else if ('get' in o) {
            expect(dict.get(o.get)).toBe(map.get(o.get) ?? -1)
          } else {
            // Many keys come and (most) go: growth, then deletions down to a shrink.
            const keys = Array.from({ length: o.burst }, (_, i) => `burst-${next}-${i}`)
            for (const k of keys) {
              dict.add(k, next)
              map.set(k, next++)
            }
            check()
            for (const k of keys.slice(0, -1)) expect(dict.delete(k)).toBe(map.delete(k))
          }
          check()
        }
        dict.clear()
        expect(dict.size).toBe(0)
        for (const k of map.keys()) expect(dict.get(k)).toBe(-1)
      }),
      { numRuns: 300 },
    )
    expect(deletedPresent).toBeGreaterThan(0)
  })

  it('tells apart keys of the same hash (found by search), wherever they sit in a run of slots', () => {
    const colliding = [
      ['k6264', 'k101140'],
      ['k6260', 'k101144'],
      ['k6266', 'k101146'],
    ]
    for (const [a, b] of colliding) expect(hashOf(a as string)).toBe(hashOf(b as string))
    const keys = colliding.flat()
    fc.assert(
      fc.property(
        fc.shuffledSubarray(keys, { minLength: 1 }),
        fc.shuffledSubarray(keys),
        (added, deleted) => {
          const dict = new KeyDictionary(8)
          const map = new Map<string, number>()
          added.forEach((k, id) => {
            dict.add(k, id)
            map.set(k, id)
          })
          for (const k of deleted) expect(dict.delete(k)).toBe(map.delete(k))
          for (const k of keys) expect(dict.get(k)).toBe(map.get(k) ?? -1)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('hashes to small non-negative integers, telling keys apart', () => {
    const hashes = new Set<number>()
    for (let i = 0; i < 10_000; i++) {
      const h = hashOf(`card-${i}`)
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 30).toBe(true)
      hashes.add(h)
    }
    expect(hashes.size).toBeGreaterThan(9_990)
  })
})
