import { describe, expect, it } from 'vitest'
import { chaosEvents, compareCounts, expectedCounts } from './stateful-reference.ts'

describe('the stateful reference', () => {
  it('drops repeats within the window, keeps them after it, and counts per card in order', () => {
    const t = Date.UTC(2026, 0, 1)
    const expected = expectedCounts(
      [
        { id: 'a', card: 'x', amount: 5, ts: t },
        { id: 'a', card: 'x', amount: 5, ts: t + 59_999 },
        { id: 'b', card: 'x', amount: 7, ts: t + 10 },
        { id: 'a', card: 'x', amount: 5, ts: t + 120_000 },
        { id: 'c', card: 'y', amount: 1, ts: t },
      ],
      60_000,
    )
    expect(expected.get('x')).toEqual([
      { card: 'x', n: 1, total: 5 },
      { card: 'x', n: 2, total: 12 },
      { card: 'x', n: 3, total: 17 },
    ])
    expect(expected.get('y')).toEqual([{ card: 'y', n: 1, total: 1 }])
  })

  it('finds missing, duplicated and reordered rows', () => {
    const events = chaosEvents(20_000, 20, 60_000, 7)
    const expected = expectedCounts(events, 60_000)
    const rows = [...expected.values()].flat()
    expect(compareCounts(expected, rows)).toEqual([])
    expect(compareCounts(expected, rows.slice(1))).not.toEqual([])
    expect(compareCounts(expected, [...rows, rows[0]!])).not.toEqual([])
    const swapped = [...rows]
    ;[swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!]
    const sameCard = swapped[0]!.card === swapped[1]!.card
    expect(compareCounts(expected, swapped).length > 0).toBe(sameCard)
    // The generator makes repeats the dedup drops (about 8 %), and some it keeps.
    expect(rows.length).toBeLessThan(events.length * 0.95)
  })
})
