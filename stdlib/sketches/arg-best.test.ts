import { describe, expect, it } from 'vitest'
import { ArgBest } from './arg-best.ts'
import { createRich, deserializeRich } from './index.ts'

describe('ArgBest (max_by / min_by of strings and bools)', () => {
  it('takes x of the largest / smallest non-null by; ties to the earlier time, then the first added', () => {
    const max = new ArgBest('max_by')
    const min = new ArgBest('min_by')
    const events: [unknown, number | null, number][] = [
      ['a', 5, 50],
      ['b', 5, 40], // ties on 5, earlier: taken by max_by
      ['c', 5, 40], // same time, added later: not taken
      ['d', null, 10], // a null `by` is skipped
      [null, 1, 60], // the smallest `by`, with a null x: min_by gives null
      ['e', 1, 70], // ties min_by's 1 at a later time: not taken
    ]
    for (const e of events) {
      max.add(e)
      min.add(e)
    }
    expect(max.result()).toBe('b')
    expect(min.result()).toBe(null)
    expect(new ArgBest('max_by').result()).toBe(null)
  })

  it('merges by the same rule, arrival numbers breaking ties of time', () => {
    const a = new ArgBest('max_by')
    const b = new ArgBest('max_by')
    a.add([true, 3, 10], 7)
    b.add([false, 3, 10], 2)
    a.merge(b)
    expect(a.result()).toBe(false)
    const c = new ArgBest('max_by')
    c.add(['late', 3, 10], 9)
    a.merge(c)
    expect(a.result()).toBe(false)
  })

  it('round-trips through its bytes, as a rich accumulator', () => {
    const acc = createRich({ fn: 'min_by' })
    acc.add(['x', 2.5, 100])
    acc.add(['y', 1.5, 200])
    const copy = deserializeRich({ fn: 'min_by' }, acc.serialize())
    expect(copy.result()).toBe('y')
    copy.add(['z', 1.5, 150])
    expect(copy.result()).toBe('z')
    expect(deserializeRich({ fn: 'max_by' }, createRich({ fn: 'max_by' }).serialize()).result()).toBe(null)
  })
})
