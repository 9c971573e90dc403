import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { KeyBytes } from './key-bytes.ts'

const text = (kept: KeyBytes, slot: number) =>
  kept.bytes.toString('utf8', kept.startOf(slot), kept.endOf(slot))

describe('KeyBytes', () => {
  it('keeps a slot’s bytes from where they were written, until forgotten', () => {
    const kept = new KeyBytes()
    const source = Buffer.from('xxv:card-1yy')
    kept.keep(3, source, 2, 10)
    expect(kept.has(3)).toBe(true)
    expect(kept.has(2)).toBe(false)
    expect(kept.has(1000)).toBe(false)
    // A copy: the source may be reused right after.
    source.fill(0)
    expect(text(kept, 3)).toBe('v:card-1')
    kept.forget(3)
    expect(kept.has(3)).toBe(false)
    kept.keep(3, Buffer.from('v:é'), 0, 4)
    expect(text(kept, 3)).toBe('v:é')
    kept.clear()
    expect(kept.has(3)).toBe(false)
  })

  it('property: after any keeps, forgets and clears, every slot holds what a plain map says', () => {
    // Mostly a few slots, so replaced and forgotten spans pile up and the buffer compacts; now and
    // then a high one, so the per-slot table grows.
    const slot = fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 0, max: 12 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 200 }) },
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(
          fc.oneof(
            {
              weight: 6,
              arbitrary: fc.record({
                op: fc.constant('keep' as const),
                slot,
                bytes: fc.uint8Array({ maxLength: 40 }),
              }),
            },
            { weight: 3, arbitrary: fc.record({ op: fc.constant('forget' as const), slot }) },
            { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
          ),
          { maxLength: 300 },
        ),
        (initialBytes, ops) => {
          // A small first buffer: growing and compacting happen within a few operations.
          const kept = new KeyBytes(initialBytes)
          const model = new Map<number, Uint8Array>()
          for (const op of ops) {
            if (op.op === 'keep') {
              // Written at an offset of a larger buffer, as an EntryWriter holds it.
              const source = new Uint8Array(op.bytes.length + 7)
              source.set(op.bytes, 3)
              kept.keep(op.slot, source, 3, 3 + op.bytes.length)
              if (op.bytes.length > 0) model.set(op.slot, op.bytes)
              else model.delete(op.slot)
            } else if (op.op === 'forget') {
              kept.forget(op.slot)
              model.delete(op.slot)
            } else {
              kept.clear()
              model.clear()
            }
            for (let s = 0; s <= 200; s++) {
              const expected = model.get(s)
              expect(kept.has(s)).toBe(expected !== undefined)
              if (expected !== undefined)
                expect(kept.bytes.subarray(kept.startOf(s), kept.endOf(s))).toEqual(Buffer.from(expected))
            }
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})
