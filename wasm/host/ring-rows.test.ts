import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RingRows } from './ring-rows.ts'

/**
 * The kernel's ring as a reference: entries [head, tail) live, appended at the tail and dropped at
 * the head, the capacity doubling when the entries from the floor (the head at the call's start)
 * would not fit; indices wrap at 2^32.
 */
describe('RingRows', () => {
  it('finds every live entry’s row after appends, drops and doublings, across the 2^32 wrap', () => {
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('drop' as const), count: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant('call' as const) }),
    )
    fc.assert(
      fc.property(
        fc.constantFrom(0, 2 ** 32 - 20, 2 ** 31 - 5),
        fc.array(opArb, { minLength: 1, maxLength: 60 }),
        (start, ops) => {
          let capacity = 4
          let head = start >>> 0
          let tail = head
          let floor = head
          const expected = new Map<number, string>()
          const rows = new RingRows(capacity, tail)
          let pending: [number, string][] = []
          const endCall = () => {
            rows.follow(capacity, floor)
            for (const [index, row] of pending) rows.set(index, row)
            rows.endAt(tail)
            pending = []
            for (const [index, row] of expected) expect(rows.get(index)).toBe(row)
            floor = head
          }
          for (const op of ops) {
            if (op.kind === 'append') {
              for (let i = 0; i < op.count; i++) {
                while ((tail - floor) >>> 0 >= capacity) capacity *= 2
                const row = `row ${tail}`
                expected.set(tail, row)
                pending.push([tail, row])
                tail = (tail + 1) >>> 0
              }
            } else if (op.kind === 'drop') {
              for (let i = 0; i < op.count && head !== tail; i++) {
                expected.delete(head)
                head = (head + 1) >>> 0
              }
            } else endCall()
          }
          endCall()
          expect(rows.entries(head)).toEqual([...expected])
        },
      ),
      { numRuns: 300 },
    )
  })

  it('refuses a ring that shrank or is not a power of two', () => {
    const rows = new RingRows(8, 0)
    expect(() => rows.follow(4, 0)).toThrow(/went from 8 to 4/)
    expect(() => rows.follow(12, 0)).toThrow(/went from 8 to 12/)
  })
})
