import { describe, expect, it } from 'vitest'
import { type LookupHistoryEntry, referenceLookup, referenceLookupAsOf } from './lookup-reference.ts'

describe('referenceLookup', () => {
  const history: LookupHistoryEntry[] = [
    { kind: 'event', event: { id: 0 }, key: 'a', time: 50 },
    { kind: 'set', key: 'a', row: { v: 1 }, time: 10 },
    { kind: 'event', event: { id: 1 }, key: 'a', time: 15 },
    { kind: 'set', key: 'a', row: { v: 2 }, time: 30 },
    { kind: 'refused' },
    { kind: 'event', event: { id: 2 }, key: 'a', time: 20 },
    { kind: 'event', event: { id: 3 }, key: null, time: 40 },
    { kind: 'delete', key: 'a', time: 40 },
    { kind: 'event', event: { id: 4 }, key: 'a', time: 35 },
    { kind: 'event', event: { id: 5 }, key: 'a', time: 5 },
  ]

  it('finds the row of the last change of the key before each event; inner drops the rest', () => {
    expect(referenceLookup(history, 'inner', 'r')).toEqual([
      { id: 1, r: { v: 1 } },
      { id: 2, r: { v: 2 } },
    ])
  })

  it('a left lookup keeps every event, with null where no row was found', () => {
    expect(referenceLookup(history, 'left', 'r').map((o) => o.r)).toEqual([
      null,
      { v: 1 },
      { v: 2 },
      null,
      null,
      null,
    ])
  })

  it('as of the event time: the change of the key with the latest time not after it', () => {
    expect(referenceLookupAsOf(history, 'left', 'r').map((o) => o.r)).toEqual([
      null,
      { v: 1 },
      { v: 1 },
      null,
      { v: 2 },
      null,
    ])
    expect(referenceLookupAsOf(history, 'inner', 'r').map((o) => o.id)).toEqual([1, 2, 4])
  })
})
