/**
 * The union-state reference finds what it must: an id counted twice or not at all, a row number
 * skipped, and ids only one topic carries out of that topic's order; any interleaving passes.
 */
import { describe, expect, it } from 'vitest'
import { type UnionEvent, unionCountProblems } from './union-state-reference.ts'

const ev = (id: string, card: string, amount: number): UnionEvent => ({ id, card, amount, ts: 0 })
const INPUTS = {
  web: [ev('a', 'x', 1), ev('b', 'x', 2), ev('c', 'x', 4)],
  shop: [ev('b', 'x', 2), ev('d', 'x', 8)],
}
const rows = (...amounts: number[]) => {
  let total = 0
  return amounts.map((amount, i) => {
    total += amount
    return { card: 'x', n: i + 1, total }
  })
}

describe('unionCountProblems', () => {
  it('accepts any interleaving of the topics that counts each id once', () => {
    expect(unionCountProblems(INPUTS, rows(1, 2, 4, 8))).toEqual([])
    expect(unionCountProblems(INPUTS, rows(2, 8, 1, 4))).toEqual([])
  })

  it('reports an id counted twice or never, a skipped row number, and a topic out of order', () => {
    expect(unionCountProblems(INPUTS, rows(1, 2, 2, 4, 8))).toEqual(['id b (card x) counted 2 times'])
    expect(unionCountProblems(INPUTS, rows(1, 2, 4))).toEqual([
      'id d (card x) counted 0 times',
      'card x: the ids only shop carries came as , in shop d',
    ])
    expect(
      unionCountProblems(INPUTS, [
        { card: 'x', n: 1, total: 1 },
        { card: 'x', n: 3, total: 3 },
        { card: 'x', n: 4, total: 7 },
        { card: 'x', n: 5, total: 15 },
      ]),
    ).toEqual(['card x: row 1 has n 3 after 1'])
    expect(unionCountProblems(INPUTS, rows(4, 1, 2, 8))).toEqual([
      'card x: the ids only web carries came as c,a, in web a,c',
    ])
  })
})
