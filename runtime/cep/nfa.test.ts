import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  type FixtureRow,
  fixtureFunctions,
  idsOf,
  readPattern,
  rowsOf,
  runRows,
} from '../../test/support/cep-nfa-fixtures.ts'
import type { EngineBudget, StepCondition, TraceEntry } from './engine.ts'
import { createNfaEngine, type NfaEngine } from './nfa.ts'

const ROOMY: EngineBudget = { maxPerKey: 10_000, maxTotal: 100_000 }

interface Case {
  skip?: string
  iterative?: string[]
  withinMs?: number | null
  untils?: string[]
  conditions?: Record<string, StepCondition>
  untilConditions?: Record<string, StepCondition>
  budget?: EngineBudget
}

function engineFor(pattern: string, c: Case = {}): NfaEngine {
  const spec = readPattern(pattern, {
    skip: c.skip ?? 'noSkip',
    withinMs: c.withinMs ?? null,
    untils: c.untils ?? Object.keys(c.untilConditions ?? {}),
    iterative: c.iterative ?? [],
  })
  return createNfaEngine(spec, fixtureFunctions(spec, c.conditions, c.untilConditions), c.budget ?? ROOMY)
}

/** The matches of a pattern on rows `a b1 b2` (times 1, 2, …), as sorted strings. */
function matchesOf(pattern: string, input: string, c: Case = {}): string[] {
  const { matches } = runRows(engineFor(pattern, c), rowsOf(input), { until: 1_000 })
  return matches.map(idsOf).sort()
}

const valueIn =
  (...values: string[]): StepCondition =>
  (row) =>
    values.includes((row as FixtureRow).v)

describe('contiguity (Flink documentation, "Combining Patterns")', () => {
  test('pattern "a b" on "a c b1 b2": strict none, relaxed {a b1}, non-deterministic relaxed {a b1} {a b2}', () => {
    expect(matchesOf('a next b', 'a c b1 b2')).toEqual([])
    expect(matchesOf('a followed by b', 'a c b1 b2')).toEqual(['a b1'])
    expect(matchesOf('a followed by any b', 'a c b1 b2')).toEqual(['a b1', 'a b2'])
  })

  const input = 'c d a1 a2 a3 d a4 b'
  test('consecutive(): {C A1 B}, {C A1 A2 B}, {C A1 A2 A3 B}', () => {
    expect(matchesOf('c followed by a+ consecutive followed by b', input)).toEqual(
      ['c a1 b', 'c a1 a2 b', 'c a1 a2 a3 b'].sort(),
    )
  })

  test('relaxed (default): also {C A1 A2 A3 A4 B}', () => {
    expect(matchesOf('c followed by a+ followed by b', input)).toEqual(
      ['c a1 b', 'c a1 a2 b', 'c a1 a2 a3 b', 'c a1 a2 a3 a4 b'].sort(),
    )
  })

  test('allowCombinations(): every combination of the As', () => {
    expect(matchesOf('c followed by a+ any followed by b', input)).toEqual(
      [
        'c a1 b',
        'c a1 a2 b',
        'c a1 a3 b',
        'c a1 a4 b',
        'c a1 a2 a3 b',
        'c a1 a2 a4 b',
        'c a1 a3 a4 b',
        'c a1 a2 a3 a4 b',
      ].sort(),
    )
  })

  test('times: a{2} takes exactly two, {2,3} each admissible count', () => {
    expect(matchesOf('x next a{2}', 'x a1 a2 a3')).toEqual(['x a1 a2'])
    expect(matchesOf('x next a{2,3}', 'x a1 a2 a3')).toEqual(['x a1 a2', 'x a1 a2 a3'])
    expect(matchesOf('x next a{2,}', 'x a1 a2 a3 a4')).toEqual(['x a1 a2', 'x a1 a2 a3', 'x a1 a2 a3 a4'])
  })
})

describe('after match skip strategies (Flink documentation tables)', () => {
  // The table's `b+ c`: only the whole run of bs before c makes a match for each start, so the bs
  // are consecutive and c comes next (with relaxed bs, the partial match from b1 would keep waiting
  // for more bs after c and, as in Flink, hold back the later-started matches under a skip strategy).
  const pattern = 'b+ consecutive next c'
  const input = 'b1 b2 b3 c'
  test.each([
    ['noSkip', ['b1 b2 b3 c', 'b2 b3 c', 'b3 c']],
    ['toNext', ['b1 b2 b3 c', 'b2 b3 c', 'b3 c']],
    ['pastLastEvent', ['b1 b2 b3 c']],
    ['toFirst b', ['b1 b2 b3 c', 'b2 b3 c', 'b3 c']],
    ['toLast b', ['b1 b2 b3 c', 'b3 c']],
  ])('b+ c on b1 b2 b3 c, %s', (skip, expected) => {
    expect(matchesOf(pattern, input, { skip })).toEqual([...expected].sort())
  })

  const conditions = { a: valueIn('a', 'b', 'c'), b: valueIn('b', 'c') }
  test('(a | b | c) (b | c) c+.greedy d on a b c1 c2 c3 d: no skip', () => {
    expect(
      matchesOf('a followed by b followed by c+ greedy followed by d', 'a b c1 c2 c3 d', { conditions }),
    ).toEqual(['a b c1 c2 c3 d', 'b c1 c2 c3 d', 'c1 c2 c3 d'].sort())
  })

  test('(a | b | c) (b | c) c+.greedy d on a b c1 c2 c3 d: skip to first c', () => {
    expect(
      matchesOf('a followed by b followed by c+ greedy followed by d', 'a b c1 c2 c3 d', {
        conditions,
        skip: 'toFirst c',
      }),
    ).toEqual(['a b c1 c2 c3 d', 'c1 c2 c3 d'])
  })

  test('a b+ on a b1 b2 b3: no skip gives every length, skip to next only a b1', () => {
    expect(matchesOf('a followed by b+', 'a b1 b2 b3')).toEqual(['a b1', 'a b1 b2', 'a b1 b2 b3'])
    expect(matchesOf('a followed by b+', 'a b1 b2 b3', { skip: 'toNext' })).toEqual(['a b1'])
  })

  test('with a skip strategy a match waits until no earlier-started partial match remains', () => {
    const pattern = 'a followed by b followed by c | d followed by e'
    const engine = engineFor(pattern, { skip: 'pastLastEvent' })
    const early = runRows(engine, rowsOf('a1 d1 e1'))
    expect(early.matches).toEqual([]) // d1 e1 is held: a1 started earlier and may still match
    const late = runRows(engine, rowsOf('b1 c1'))
    // a1 b1 c1 comes first and skips past c1, which discards the held d1 e1.
    expect(late.matches.map(idsOf)).toEqual(['a1 b1 c1'])
    expect(engine.dropped.skip).toBe(1)
    expect(engine.keyIsEmpty(0)).toBe(true)
    expect(matchesOf(pattern, 'a1 d1 e1 b1 c1')).toEqual(['a1 b1 c1', 'd1 e1'])
  })

  test('a held match is released once the earlier partial match times out', () => {
    const engine = engineFor('a followed by b followed by c | d followed by e', {
      skip: 'pastLastEvent',
      withinMs: 10,
    })
    const first = runRows(engine, rowsOf('a1 d1 e1'), { times: [1, 2, 3], until: 5 })
    expect(first.matches).toEqual([])
    const second = runRows(engine, [], { until: 11 })
    expect(second.matches.map(idsOf)).toEqual(['d1 e1'])
    expect(second.timeouts.map(idsOf)).toEqual(['a1'])
    expect(second.timeouts[0]?.time).toBe(11)
  })
})

describe('quantifier modes', () => {
  const conditions = { b: valueIn('x'), c: valueIn('x', 'c') }
  test('default: every count, also handing the last x to c', () => {
    expect(matchesOf('a followed by b+ followed by c', 'a x1 x2 c', { conditions })).toEqual(
      ['a x1 x2', 'a x1 x2 c'].sort(),
    )
  })

  test('greedy: an x that b can take never goes to c', () => {
    expect(matchesOf('a followed by b+ greedy followed by c', 'a x1 x2 c', { conditions })).toEqual([
      'a x1 x2 c',
    ])
  })

  test('greedy at the end changes nothing: the final state has no edges to narrow (as in Flink)', () => {
    expect(matchesOf('a followed by b+ greedy', 'a b1 b2')).toEqual(matchesOf('a followed by b+', 'a b1 b2'))
  })

  test('greedy times: {1,3} greedy keeps taking while it can', () => {
    expect(matchesOf('a followed by b{1,3} greedy followed by c', 'a x1 x2 x3 c', { conditions })).toEqual([
      'a x1 x2 x3 c',
    ])
    expect(matchesOf('a followed by b{1,3} followed by c', 'a x1 x2 x3 c', { conditions })).toEqual(
      ['a x1 x2', 'a x1 x2 x3', 'a x1 x2 x3 c'].sort(),
    )
  })

  test('reluctant: an x that c can take is never repeated by b', () => {
    expect(matchesOf('a followed by b+ reluctant followed by c', 'a x1 x2 c', { conditions })).toEqual([
      'a x1 x2',
    ])
  })

  test('optional: with and without the optional event', () => {
    expect(matchesOf('a followed by b? followed by c', 'a b c')).toEqual(['a b c', 'a c'])
    expect(matchesOf('a followed by b* followed by c', 'a b1 b2 c')).toEqual(['a b1 b2 c', 'a b1 c', 'a c'])
  })

  test('until stops the repetitions at the first event that meets it', () => {
    const untilConditions = { b: valueIn('u') }
    expect(matchesOf('a followed by b+ followed by c', 'a b1 b2 u b3 c', { untilConditions })).toEqual(
      ['a b1 b2 c', 'a b1 c'].sort(),
    )
    expect(matchesOf('a followed by b+ followed by c', 'a b1 b2 u b3 c')).toEqual(
      ['a b1 b2 b3 c', 'a b1 b2 c', 'a b1 c'].sort(),
    )
  })

  test('a group repeats as a whole', () => {
    expect(matchesOf('(a next b){2}', 'a1 b1 a2 b2')).toEqual(['a1 b1 a2 b2'])
    expect(matchesOf('x next (a next b)+', 'x a1 b1 a2 b2')).toEqual(['x a1 b1', 'x a1 b1 a2 b2'])
  })

  test('an optional or starred group may be left out', () => {
    expect(matchesOf('(a followed by b)? next c', 'a b c')).toEqual(['a b c', 'c'])
    expect(matchesOf('x followed by (a next b)* followed by c', 'x a b a b c')).toEqual(
      ['x a b a b c', 'x a b c', 'x c'].sort(),
    )
  })

  test('alternation: every option that matches makes its own match', () => {
    expect(matchesOf('a | b', 'a b')).toEqual(['a', 'b'])
    expect(matchesOf('x next (a | b next c)', 'x b c x a')).toEqual(['x a', 'x b c'])
  })

  test('a condition reads the events its own step matched so far (not the current one)', () => {
    const seen: number[] = []
    const conditions: Record<string, StepCondition> = {
      b: (row, context) => {
        seen.push(context.events(1).length)
        return (row as FixtureRow).v === 'b' && context.events(1).length < 2 && context.events(0).length === 1
      },
    }
    expect(matchesOf('a next b+ consecutive', 'a b1 b2 b3', { conditions, iterative: ['b'] })).toEqual([
      'a b1',
      'a b1 b2',
    ])
    expect(seen).toContain(0)
    expect(seen).toContain(2)
  })
})

describe('negation', () => {
  test('not followed by: a b c has no match, a d c has one', () => {
    expect(matchesOf('a not followed by b followed by c', 'a b c')).toEqual([])
    expect(matchesOf('a not followed by b followed by c', 'a d c')).toEqual(['a c'])
  })

  test('an optional step taken lifts the negation before it (Flink NFACompiler: {a c b d} matches, {a b d} not)', () => {
    const pattern = 'a not followed by b followed by any c? followed by any d'
    expect(matchesOf(pattern, 'a c b d')).toEqual(['a c d'])
    expect(matchesOf(pattern, 'a b d')).toEqual([])
  })

  test('not followed by after a loop: the negated event ends the loop and everything waiting after it', () => {
    expect(matchesOf('a+ not followed by b followed by c', 'a1 a2 b c')).toEqual([])
    expect(matchesOf('a+ not followed by b followed by c', 'a1 a2 c')).toEqual(['a1 a2 c', 'a1 c', 'a2 c'])
    expect(matchesOf('a not next b followed by c', 'a x b c')).toEqual(['a c'])
  })

  test('not next: the next event decides, and completes the match', () => {
    expect(matchesOf('a not next b', 'a b')).toEqual([])
    const { matches } = runRows(engineFor('a not next b'), rowsOf('a c'))
    expect(matches.map(idsOf)).toEqual(['a'])
    expect(matches[0]?.time).toBe(1)
  })

  test('not followed by at the end: a match when the window runs out with no b', () => {
    const engine = engineFor('a not followed by b', { withinMs: 5 })
    const quiet = runRows(engine, rowsOf('a1 x'), { times: [1, 2], until: 5 })
    expect(quiet.matches).toEqual([]) // 5 - 1 < 5: the span is still open
    const ran = runRows(engine, [], { until: 6 })
    expect(ran.matches.map(idsOf)).toEqual(['a1'])
    expect(ran.matches[0]?.time).toBe(6)
    expect(engine.partialMatches).toBe(0)
    expect(engine.keyIsEmpty(0)).toBe(true)

    const stopped = engineFor('a not followed by b', { withinMs: 5 })
    expect(runRows(stopped, rowsOf('a1 b1'), { times: [1, 3], until: 100 }).matches).toEqual([])
    expect(stopped.dropped.negation).toBeGreaterThan(0)
  })

  test('an absence that ran out waits for earlier partial matches only under a skip strategy', () => {
    const pattern = 'a followed by c | d not followed by b within 3'
    const free = runRows(engineFor(pattern, { withinMs: 100 }), rowsOf('a d'), { times: [1, 2], until: 5 })
    expect(free.matches.map((m) => [idsOf(m), m.time])).toEqual([['d', 5]])
    const skipping = engineFor(pattern, { withinMs: 100, skip: 'pastLastEvent' })
    expect(runRows(skipping, rowsOf('a d'), { times: [1, 2], until: 5 }).matches).toEqual([])
    const released = runRows(skipping, [], { until: 101 })
    expect(released.matches.map((m) => [idsOf(m), m.time])).toEqual([['d', 5]])
    expect(released.timeouts.map(idsOf)).toEqual(['a'])
  })

  test('absence under the negated step window ends at its previous event plus that window', () => {
    const engine = engineFor('a followed by c not followed by b within 4', { withinMs: 100 })
    const { matches } = runRows(engine, rowsOf('a c x'), { times: [1, 2, 3], until: 50 })
    expect(matches.map(idsOf)).toEqual(['a c'])
    expect(matches[0]?.time).toBe(6)
  })
})

describe('time', () => {
  test('whole-pattern within: last - first < d, else a timeout at start + d', () => {
    expect(
      runRows(engineFor('a followed by b', { withinMs: 5 }), rowsOf('a b'), { times: [1, 5] }).matches.map(
        idsOf,
      ),
    ).toEqual(['a b'])
    const engine = engineFor('a followed by b', { withinMs: 5 })
    const late = runRows(engine, rowsOf('a b'), { times: [1, 6], until: 6 })
    expect(late.matches).toEqual([])
    expect(late.timeouts.map((t) => [idsOf(t), t.time])).toEqual([['a', 6]])
    expect(engine.dropped.timeout).toBe(1)
  })

  test('step within: b must come less than d after a', () => {
    expect(
      runRows(engineFor('a followed by b within 3'), rowsOf('a b'), { times: [1, 3] }).matches.map(idsOf),
    ).toEqual(['a b'])
    const r = runRows(engineFor('a followed by b within 3'), rowsOf('a b'), { times: [1, 4], until: 10 })
    expect(r.matches).toEqual([])
    expect(r.timeouts.map((t) => [idsOf(t), t.time])).toEqual([['a', 4]])
  })

  test('timeouts are handed out only when asked for', () => {
    const engine = engineFor('a followed by b', { withinMs: 5 })
    runRows(engine, rowsOf('a'), { times: [1] })
    const matches: never[] = []
    engine.advanceTime(10, matches, null)
    expect(engine.dropped.timeout).toBe(1)
    expect(engine.partialMatches).toBe(0)
  })
})

describe('budgets, failures, keys, traces, snapshots', () => {
  test('past maxPerKey the key drops its oldest partial match', () => {
    const engine = engineFor('a followed by any b', { budget: { maxPerKey: 2, maxTotal: 100 } })
    const { matches } = runRows(engine, rowsOf('a1 a2 a3 b'))
    expect(matches.map(idsOf).sort()).toEqual(['a2 b', 'a3 b'])
    expect(engine.dropped.budget).toBe(1)
  })

  test('past maxTotal the key that grows drops its oldest, other keys keep theirs', () => {
    const engine = engineFor('a followed by any b', { budget: { maxPerKey: 10, maxTotal: 3 } })
    runRows(engine, rowsOf('a1 a2 a3 a4'), { keyIds: [0, 0, 1, 1] })
    expect(engine.partialMatches).toBe(3)
    const { matches } = runRows(engine, rowsOf('b1 b2'), { keyIds: [0, 1] })
    expect(matches.map(idsOf).sort()).toEqual(['a1 b1', 'a2 b1', 'a4 b2'])
    expect(engine.dropped.budget).toBe(1)
  })

  test('an event-local condition is evaluated once per event, however many partial matches ask', () => {
    let calls = 0
    const conditions: Record<string, StepCondition> = {
      b: (row) => {
        calls++
        return (row as FixtureRow).v === 'b'
      },
    }
    const { matches } = runRows(engineFor('a followed by any b', { conditions }), rowsOf('a1 a2 a3 b1 x'))
    expect(matches).toHaveLength(3)
    expect(calls).toBe(4) // a2, a3, b1, x: each once (a1 had no partial match waiting for b)
  })

  test('a failing condition counts false and is reported once per event', () => {
    const conditions: Record<string, StepCondition> = {
      b: (row) => {
        if ((row as FixtureRow).id === 'b1') throw new Error('boom')
        return (row as FixtureRow).v === 'b'
      },
    }
    const engine = engineFor('a followed by any b', { conditions })
    const { matches, failures } = runRows(engine, rowsOf('a1 a2 b1 b2'))
    expect(matches.map(idsOf).sort()).toEqual(['a1 b2', 'a2 b2'])
    expect(failures.map((f) => [f.seq, (f.error as Error).message, f.site])).toEqual([[2, 'boom', 1]])
  })

  test('keys are independent and a key with nothing left holds nothing', () => {
    const engine = engineFor('a next b')
    const { matches } = runRows(engine, rowsOf('a1 a2 b1 b2'), { keyIds: [0, 1, 1, 0] })
    expect(matches.map((m) => [m.keyId, idsOf(m)])).toEqual([
      [1, 'a2 b1'],
      [0, 'a1 b2'],
    ])
    expect(engine.keyIsEmpty(0)).toBe(true)
    expect(engine.keyIsEmpty(1)).toBe(true)
    expect(engine.partialMatches).toBe(0)
  })

  test('a trace tells what happened to each partial match', () => {
    const engine = engineFor('a next b')
    const trace: TraceEntry[] = []
    engine.trace = (entry) => trace.push(entry)
    runRows(engine, rowsOf('a1 b1 c'))
    expect(trace.map((e) => e.kind)).toEqual(['start', 'take', 'match'])
    const kinds = new Set<string>()
    engine.trace = (entry) => kinds.add(entry.kind)
    runRows(engine, rowsOf('a2 c'))
    expect([...kinds].sort()).toEqual(['drop', 'start'])
  })

  test('a snapshot of another pattern is refused', () => {
    const first = engineFor('a next b')
    runRows(first, rowsOf('a'))
    expect(() => engineFor('a followed by b{2,}').restore(first.snapshot())).toThrow(/another pattern/)
  })

  test('restoring a snapshot mid-stream continues identically', () => {
    const pattern = 'a followed by b+ followed by c'
    const input = rowsOf('a1 b1 a2 b2 b3 x a3 b4 c1 b5 c2')
    for (const skip of ['noSkip', 'toNext', 'toLast b'])
      for (const cut of [1, 3, 5, 8]) {
        const whole = runRows(engineFor(pattern, { withinMs: 8, skip }), input, { until: 100 })
        const first = engineFor(pattern, { withinMs: 8, skip })
        const before = runRows(first, input.slice(0, cut), {
          times: input.slice(0, cut).map((_, i) => i + 1),
        })
        const second = engineFor(pattern, { withinMs: 8, skip })
        second.restore(first.snapshot())
        expect(second.partialMatches).toBe(first.partialMatches)
        const rest = input.slice(cut)
        const after = runRows(second, rest, { times: rest.map((_, i) => cut + i + 1), until: 100 })
        const ids = [...before.matches, ...after.matches].map(idsOf).sort()
        expect(ids).toEqual(whole.matches.map(idsOf).sort())
        expect([...before.timeouts, ...after.timeouts].map(idsOf).sort()).toEqual(
          whole.timeouts.map(idsOf).sort(),
        )
      }
  })
})

describe('properties over many patterns', () => {
  const patterns: [string, Case][] = [
    ['a followed by b+ followed by c', {}],
    ['a next b{2,3} consecutive followed by any c', { skip: 'toNext' }],
    ['a followed by b* greedy followed by c', { skip: 'pastLastEvent' }],
    ['a followed by b? followed by c', { skip: 'toFirst b' }],
    ['a not followed by b followed by c', { skip: 'toLast c' }],
    ['a followed by b+ any not next c', {}],
    ['(a next b)+ followed by c', {}],
    ['a | b followed by c', { skip: 'toNext' }],
    ['a followed by b+ reluctant followed by c', {}],
    ['a followed by b not followed by c within 4', {}],
    ['a followed by b+ followed by c', { untils: ['b'], untilConditions: { b: valueIn('x') } }],
  ]
  const input = fc.array(fc.constantFrom('a', 'b', 'c', 'x'), { maxLength: 24 })

  test.each(patterns)('%s: a snapshot at any point continues identically and nothing leaks', (pattern, c) => {
    fc.assert(
      fc.property(input, fc.nat(), fc.array(fc.nat(2), { maxLength: 24 }), (values, cutAt, keys) => {
        const rows = values.map((v, i) => ({ id: `${v}${i}`, v }))
        const keyIds = rows.map((_, i) => keys[i] ?? 0)
        const times = rows.map((_, i) => i + 1)
        const options = { ...c, withinMs: 6 }
        const whole = engineFor(pattern, options)
        const all = runRows(whole, rows, { times, keyIds, until: 1_000 })
        expect(whole.partialMatches).toBe(0)
        for (const k of [0, 1, 2]) expect(whole.keyIsEmpty(k)).toBe(true)

        const cut = rows.length === 0 ? 0 : cutAt % rows.length
        const first = engineFor(pattern, options)
        const before = runRows(first, rows.slice(0, cut), {
          times: times.slice(0, cut),
          keyIds: keyIds.slice(0, cut),
        })
        const second = engineFor(pattern, options)
        second.restore(first.snapshot())
        const after = runRows(second, rows.slice(cut), {
          times: times.slice(cut),
          keyIds: keyIds.slice(cut),
          until: 1_000,
        })
        const render = (ms: { keyId: number; time: number; rows: readonly unknown[] }[]) =>
          ms.map((m) => `${m.keyId}@${m.time}:${m.rows.map((r) => (r as FixtureRow).id).join(' ')}`)
        expect(render([...before.matches, ...after.matches])).toEqual(render(all.matches))
        expect(render([...before.timeouts, ...after.timeouts]).sort()).toEqual(render(all.timeouts).sort())
        expect(whole.dropped.budget).toBe(0)
      }),
      { numRuns: 40 },
    )
  })
})
