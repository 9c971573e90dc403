import { describe, expect, it } from 'vitest'
import { referenceLookup } from './lookup-reference.ts'

describe('referenceLookup', () => {
  const history = [
    { kind: 'event', event: { id: 0 }, key: 'a' },
    { kind: 'set', key: 'a', row: { v: 1 } },
    { kind: 'event', event: { id: 1 }, key: 'a' },
    { kind: 'set', key: 'a', row: { v: 2 } },
    { kind: 'refused' },
    { kind: 'event', event: { id: 2 }, key: 'a' },
    { kind: 'event', event: { id: 3 }, key: null },
    { kind: 'delete', key: 'a' },
    { kind: 'event', event: { id: 4 }, key: 'a' },
  ] as const

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
    ])
  })
})
