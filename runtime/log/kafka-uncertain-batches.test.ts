import { describe, expect, it } from 'vitest'
import type { OutgoingRecord } from './index.ts'
import { batchesByPartition, UncertainBatches } from './kafka-uncertain-batches.ts'

const record = (value: string, extra: Partial<OutgoingRecord> = {}): OutgoingRecord => ({
  key: null,
  value: Buffer.from(value),
  ...extra,
})

const batches = (entries: [number, OutgoingRecord[]][]) => new Map(entries)

describe('UncertainBatches', () => {
  it('lets only the same records follow a batch whose answer was lost', () => {
    const uncertain = new UncertainBatches()
    const lost = [record('a'), record('b')]
    uncertain.failed('t', batches([[0, lost]]))
    expect(uncertain.conflicts('t', batches([[0, lost]]))).toBe(false)
    // Equal content in new objects is the same data: the broker's keeping one copy loses nothing.
    expect(uncertain.conflicts('t', batches([[0, [record('a'), record('b')]]]))).toBe(false)
    // Same count, other records: the case the broker would drop as a duplicate.
    expect(uncertain.conflicts('t', batches([[0, [record('c'), record('d')]]]))).toBe(true)
    expect(uncertain.conflicts('t', batches([[0, [record('a')]]]))).toBe(true)
    expect(uncertain.conflicts('t', batches([[0, [record('a', { key: 'k' }), record('b')]]]))).toBe(true)
    expect(uncertain.conflicts('t', batches([[0, [record('a', { timestamp: 1 }), record('b')]]]))).toBe(true)
    expect(
      uncertain.conflicts('t', batches([[0, [record('a', { headers: { h: '1' } }), record('b')]]])),
    ).toBe(true)
  })

  it('tracks partitions and topics apart, and forgets what was answered or cleared', () => {
    const uncertain = new UncertainBatches()
    expect(uncertain.empty).toBe(true)
    uncertain.failed(
      't',
      batches([
        [0, [record('a')]],
        [1, [record('b')]],
      ]),
    )
    expect(uncertain.conflicts('t', batches([[2, [record('x')]]]))).toBe(false)
    expect(uncertain.conflicts('u', batches([[0, [record('x')]]]))).toBe(false)
    expect(uncertain.conflicts('t', batches([[1, [record('x')]]]))).toBe(true)
    uncertain.settled('t', [1])
    expect(uncertain.conflicts('t', batches([[1, [record('x')]]]))).toBe(false)
    expect(uncertain.conflicts('t', batches([[0, [record('x')]]]))).toBe(true)
    uncertain.clear()
    expect(uncertain.empty).toBe(true)
    expect(uncertain.conflicts('t', batches([[0, [record('x')]]]))).toBe(false)
  })
})

describe('batchesByPartition', () => {
  it('groups records per partition in their order', () => {
    const [a, b, c] = [record('a'), record('b'), record('c')]
    const grouped = batchesByPartition([
      { record: a, partition: 1 },
      { record: b, partition: 0 },
      { record: c, partition: 1 },
    ])
    expect([...grouped.entries()]).toEqual([
      [1, [a, c]],
      [0, [b]],
    ])
  })
})
