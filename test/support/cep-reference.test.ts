/**
 * The reference matcher on its own: the examples of Flink CEP's documentation
 * (https://nightlies.apache.org/flink/flink-docs-stable/docs/libs/cep/) with the results the
 * documentation gives, and small cases worked out by hand from Flink's NFACompiler where the
 * documentation says nothing or says something its code does not do (each such case says why).
 */
import { describe, expect, it } from 'vitest'
import type { Contiguity, PatternSpec, Quantifier, SkipStrategy } from '../../compiler/ir/pattern.ts'
import { alt, group, quantifier, seq as sequence, specOf, step } from './cep-arbitrary.ts'
import { type RefCondition, type RefEvent, referenceMatch } from './cep-reference.ts'

type Token = { readonly name: string }

/** Events named like the documentation's (`a1`, `C`); time = position unless given as `name@time`. */
function tokens(text: string): RefEvent[] {
  return text
    .split(/\s+/)
    .filter(Boolean)
    .map((word, seq) => {
      const [name, time] = word.split('@')
      return {
        value: { name: name!.toLowerCase() } satisfies Token,
        time: time === undefined ? seq : Number(time),
        seq,
      }
    })
}

/** A condition: the event's name starts with one of the letters. */
const is =
  (letters: string): RefCondition =>
  (e) =>
    letters.includes((e as Token).name[0]!)

interface Run {
  readonly conditions: readonly RefCondition[]
  readonly untils?: readonly (RefCondition | null)[]
  readonly finalWatermark?: number | null
}

/** The matches as the documentation writes them, `a b1`, in emission order. */
function run(spec: PatternSpec, input: string, options: Run): string[] {
  const events = tokens(input)
  const { matches } = referenceMatch(
    spec,
    { conditions: options.conditions, untils: options.untils ?? options.conditions.map(() => null) },
    events,
    { finalWatermark: options.finalWatermark ?? null },
  )
  return matches.map((m) => m.seqs.map((s) => (events[s]!.value as Token).name).join(' '))
}

const sorted = (xs: readonly string[]) => [...xs].sort()

describe('contiguity (Flink docs: pattern "a b", events a c b1 b2)', () => {
  const pattern = (connector: 'next' | 'followedBy' | 'followedByAny') =>
    specOf(sequence(step(0), [connector, step(1)]))
  const conditions = [is('a'), is('b')]

  it('strict: no match, c after a discards a', () => {
    expect(run(pattern('next'), 'a c b1 b2', { conditions })).toEqual([])
  })
  it('relaxed: {a b1}', () => {
    expect(run(pattern('followedBy'), 'a c b1 b2', { conditions })).toEqual(['a b1'])
  })
  it('non-deterministic relaxed: {a b1}, {a b2}', () => {
    expect(run(pattern('followedByAny'), 'a c b1 b2', { conditions })).toEqual(['a b1', 'a b2'])
  })
})

describe('contiguity within a looping step (Flink docs: "C D A1 A2 A3 D A4 B")', () => {
  // start: c, followed by middle: a+ (inner contiguity varies), followed by end1: b.
  const pattern = (inner: Contiguity, into: 'followedBy' | 'followedByAny' = 'followedBy') =>
    specOf(sequence(step(0), [into, step(1, quantifier(1, null, 'all', inner))], ['followedBy', step(2)]))
  const conditions = [is('c'), is('a'), is('b')]
  const input = 'C D A1 A2 A3 D A4 B'

  it('consecutive: {C A1 B}, {C A1 A2 B}, {C A1 A2 A3 B}', () => {
    expect(sorted(run(pattern('strict'), input, { conditions }))).toEqual(
      sorted(['c a1 b', 'c a1 a2 b', 'c a1 a2 a3 b']),
    )
  })
  it('relaxed (default): adds {C A1 A2 A3 A4 B}', () => {
    expect(sorted(run(pattern('relaxed'), input, { conditions }))).toEqual(
      sorted(['c a1 b', 'c a1 a2 b', 'c a1 a2 a3 b', 'c a1 a2 a3 a4 b']),
    )
  })
  it('allowCombinations behind followedBy: every subset that starts with A1 (NFACompiler)', () => {
    // The documentation also lists matches starting at A2, A3, A4 here; Flink's NFACompiler gives
    // the first state of `middle` the ignore condition of followedBy (not a), so A1 cannot be
    // skipped. Those 7 further matches are the followedByAny case below.
    expect(sorted(run(pattern('any'), input, { conditions }))).toEqual(
      sorted([
        'c a1 b',
        'c a1 a2 b',
        'c a1 a3 b',
        'c a1 a4 b',
        'c a1 a2 a3 b',
        'c a1 a2 a4 b',
        'c a1 a3 a4 b',
        'c a1 a2 a3 a4 b',
      ]),
    )
  })
  it('allowCombinations behind followedByAny: the documentation’s 15 matches', () => {
    expect(sorted(run(pattern('any', 'followedByAny'), input, { conditions }))).toEqual(
      sorted([
        'c a1 b',
        'c a1 a2 b',
        'c a1 a3 b',
        'c a1 a4 b',
        'c a1 a2 a3 b',
        'c a1 a2 a4 b',
        'c a1 a3 a4 b',
        'c a1 a2 a3 a4 b',
        'c a2 b',
        'c a2 a3 b',
        'c a2 a4 b',
        'c a2 a3 a4 b',
        'c a3 b',
        'c a3 a4 b',
        'c a4 b',
      ]),
    )
  })
})

describe('contiguity within a looping step (Flink docs: "a b+ c", events a b1 d1 b2 d2 b3 c)', () => {
  // a followed by any b+, followed by c.
  const pattern = (inner: Contiguity) =>
    specOf(
      sequence(
        step(0),
        ['followedByAny', step(1, quantifier(1, null, 'all', inner))],
        ['followedBy', step(2)],
      ),
    )
  const conditions = [is('a'), is('b'), is('c')]
  const input = 'a b1 d1 b2 d2 b3 c'

  it('relaxed: the documentation’s six matches', () => {
    expect(sorted(run(pattern('relaxed'), input, { conditions }))).toEqual(
      sorted(['a b1 c', 'a b1 b2 c', 'a b1 b2 b3 c', 'a b2 c', 'a b2 b3 c', 'a b3 c']),
    )
  })
  it('non-deterministic relaxed: adds {a b1 b3 c}', () => {
    expect(sorted(run(pattern('any'), input, { conditions }))).toEqual(
      sorted(['a b1 c', 'a b1 b2 c', 'a b1 b3 c', 'a b1 b2 b3 c', 'a b2 c', 'a b2 b3 c', 'a b3 c']),
    )
  })
  it('strict: one b per match here (the documentation says {a b3 c} alone; c is followedBy, so each b reaches it)', () => {
    expect(sorted(run(pattern('strict'), input, { conditions }))).toEqual(
      sorted(['a b1 c', 'a b2 c', 'a b3 c']),
    )
  })
})

describe('after-match skip strategies (Flink docs: pattern "b+ c", events b1 b2 b3 c)', () => {
  // b+ consecutive, next c: with a relaxed b+ the partial match b1… would stay alive after c
  // (its loop skips c), and with a skip strategy Flink holds the later matches until it ends.
  const pattern = (skip: SkipStrategy) =>
    specOf(sequence(step(0, quantifier(1, null, 'all', 'strict')), ['next', step(1)]), { skip })
  const conditions = [is('b'), is('c')]
  const input = 'b1 b2 b3 c'

  it('no skip', () => {
    expect(run(pattern({ kind: 'noSkip' }), input, { conditions })).toEqual(['b1 b2 b3 c', 'b2 b3 c', 'b3 c'])
  })
  it('skip to next', () => {
    expect(run(pattern({ kind: 'toNext' }), input, { conditions })).toEqual(['b1 b2 b3 c', 'b2 b3 c', 'b3 c'])
  })
  it('skip past last event', () => {
    expect(run(pattern({ kind: 'pastLastEvent' }), input, { conditions })).toEqual(['b1 b2 b3 c'])
  })
  it('skip to first b', () => {
    expect(run(pattern({ kind: 'toFirst', step: 0 }), input, { conditions })).toEqual([
      'b1 b2 b3 c',
      'b2 b3 c',
      'b3 c',
    ])
  })
  it('a relaxed b+ holds later matches while the partial match from b1 lives (Flink)', () => {
    const relaxed = specOf(sequence(step(0, quantifier(1, null)), ['next', step(1)]), {
      skip: { kind: 'toFirst', step: 0 },
    })
    expect(run(relaxed, input, { conditions })).toEqual(['b1 b2 b3 c'])
  })
  it('skip to last b', () => {
    expect(run(pattern({ kind: 'toLast', step: 0 }), input, { conditions })).toEqual(['b1 b2 b3 c', 'b3 c'])
  })
})

describe('skip to first (Flink docs: "(a | b | c) (b | c) c+ greedy d", events a b c1 c2 c3 d)', () => {
  const pattern = (skip: SkipStrategy) =>
    specOf(
      sequence(
        step(0),
        ['next', step(1)],
        ['next', step(2, quantifier(1, null, 'greedy'))],
        ['next', step(3)],
      ),
      { skip },
    )
  const conditions = [is('abc'), is('bc'), is('c'), is('d')]
  const input = 'a b c1 c2 c3 d'

  it('no skip', () => {
    expect(run(pattern({ kind: 'noSkip' }), input, { conditions })).toEqual([
      'a b c1 c2 c3 d',
      'b c1 c2 c3 d',
      'c1 c2 c3 d',
    ])
  })
  it('skip to first c', () => {
    expect(run(pattern({ kind: 'toFirst', step: 2 }), input, { conditions })).toEqual([
      'a b c1 c2 c3 d',
      'c1 c2 c3 d',
    ])
  })
})

describe('skip to next (Flink docs: "a b+", events a b1 b2 b3)', () => {
  const pattern = (skip: SkipStrategy) =>
    specOf(sequence(step(0), ['followedBy', step(1, quantifier(1, null))]), { skip })
  const conditions = [is('a'), is('b')]

  it('no skip', () => {
    expect(run(pattern({ kind: 'noSkip' }), 'a b1 b2 b3', { conditions })).toEqual([
      'a b1',
      'a b1 b2',
      'a b1 b2 b3',
    ])
  })
  it('skip to next', () => {
    expect(run(pattern({ kind: 'toNext' }), 'a b1 b2 b3', { conditions })).toEqual(['a b1'])
  })
})

describe('until (Flink docs: "(a+ until b)", events a1 c a2 b a3)', () => {
  it('gives {a1 a2} {a1} {a2} {a3}', () => {
    const spec = specOf(sequence(step(0, quantifier(1, null))), { untils: [0] })
    expect(sorted(run(spec, 'a1 c a2 b a3', { conditions: [is('a')], untils: [is('b')] }))).toEqual(
      sorted(['a1 a2', 'a1', 'a2', 'a3']),
    )
  })
  it('the until event itself may start the next step', () => {
    const spec = specOf(sequence(step(0, quantifier(1, null)), ['followedBy', step(1)]), { untils: [0] })
    // a1 b too: the b-state skips a2 (not b or c).
    expect(run(spec, 'a1 a2 b a3 c', { conditions: [is('a'), is('bc')], untils: [is('b'), null] })).toEqual([
      'a1 a2 b',
      'a1 b',
      'a2 b',
      'a3 c',
    ])
  })
})

describe('quantifiers', () => {
  const conditions = [is('a'), is('b'), is('c')]
  const q = (
    min: number,
    max: number | null,
    mode: Quantifier['mode'] = 'all',
    inner: Contiguity = 'relaxed',
  ) => quantifier(min, max, mode, inner)

  it('{2}: two repetitions, each start its own match', () => {
    const spec = specOf(sequence(step(0, q(2, 2)), ['followedBy', step(1)]))
    expect(run(spec, 'a1 a2 a3 b', { conditions })).toEqual(['a1 a2 b', 'a2 a3 b'])
  })
  it('{1,2}: every admissible count makes a match', () => {
    const spec = specOf(sequence(step(0, q(1, 2)), ['next', step(1)]))
    expect(run(spec, 'a1 a2 b', { conditions })).toEqual(['a1 a2 b', 'a2 b'])
  })
  it('{2,}: two or more', () => {
    const spec = specOf(sequence(step(0, q(2, null)), ['followedBy', step(1)]))
    expect(sorted(run(spec, 'a1 a2 a3 b', { conditions }))).toEqual(
      sorted(['a1 a2 a3 b', 'a1 a2 b', 'a2 a3 b']),
    )
  })
  it('?: an optional middle step is taken or left out', () => {
    const spec = specOf(sequence(step(0), ['followedBy', step(1, q(0, 1))], ['followedBy', step(2)]))
    expect(sorted(run(spec, 'a b c', { conditions }))).toEqual(sorted(['a b c', 'a c']))
  })
  it('*: zero or more', () => {
    const spec = specOf(sequence(step(0), ['followedBy', step(1, q(0, null))], ['followedBy', step(2)]))
    expect(sorted(run(spec, 'a b1 b2 c', { conditions }))).toEqual(sorted(['a c', 'a b1 c', 'a b1 b2 c']))
  })
  it('optional at the end completes at once', () => {
    const spec = specOf(sequence(step(0), ['followedBy', step(1, q(0, 1))]))
    expect(run(spec, 'a b', { conditions })).toEqual(['a', 'a b'])
  })
  it('greedy: leaves the loop only at an event it cannot take', () => {
    const spec = specOf(sequence(step(0, q(1, null, 'greedy')), ['followedBy', step(1)]))
    // Non-greedy would also give {a1 b} from a1 (b-state skipping a2, a3).
    expect(sorted(run(spec, 'a1 a2 a3 b', { conditions: [is('a'), is('ab')] }))).toEqual(
      sorted(['a1 a2 a3 b', 'a2 a3 b', 'a3 b']),
    )
    const lazy = specOf(sequence(step(0, q(1, null)), ['followedBy', step(1)]))
    expect(run(lazy, 'a1 a2 b', { conditions: [is('a'), is('ab')] })).toContain('a1 a2')
  })
  it('greedy left out: the step after it takes no event the greedy step could take (updateWithGreedyCondition)', () => {
    const spec = specOf(
      sequence(step(0), ['next', step(1, q(0, null, 'greedy', 'strict'))], ['next', step(2)]),
    )
    // a1 is a b-candidate too: s2 cannot take it while the greedy b* could.
    expect(run(spec, 'x a1', { conditions: [is('x'), is('a'), is('a')] })).toEqual([])
    expect(run(spec, 'x a1 c', { conditions: [is('x'), is('a'), is('ac')] })).toEqual(['x a1 c'])
  })
  it('reluctant: the following step wins every tie', () => {
    const spec = specOf(sequence(step(0, q(1, null, 'reluctant')), ['followedBy', step(1)]))
    // a2 meets both: with all it may repeat (a1 a2 …); reluctant hands it to the next step.
    expect(sorted(run(spec, 'a1 a2 b', { conditions: [is('a'), is('ab')] }))).toEqual(
      sorted(['a1 a2', 'a2 b']),
    )
  })
  it('reluctant at the end repeats exactly its minimum', () => {
    const spec = specOf(sequence(step(0, q(2, null, 'reluctant'))))
    expect(run(spec, 'a1 a2 a3', { conditions })).toEqual(['a1 a2', 'a2 a3'])
  })
})

describe('negation', () => {
  const conditions = [is('a'), is('b'), is('c')]
  it('not next: the event right after a must not be b', () => {
    const spec = specOf(sequence(step(0), ['notNext', step(1)], ['followedBy', step(2)]))
    expect(run(spec, 'a1 b a2 d c', { conditions })).toEqual(['a2 c'])
  })
  it('not followed by: no b between a and c', () => {
    const spec = specOf(sequence(step(0), ['notFollowedBy', step(1)], ['followedBy', step(2)]))
    expect(run(spec, 'a1 d b a2 d c', { conditions })).toEqual(['a2 c'])
  })
  it('not followed by after a loop: a b anywhere after the first a stops it (Flink addStopStateToLooping)', () => {
    const spec = specOf(
      sequence(step(0, quantifier(1, null)), ['notFollowedBy', step(1)], ['followedBy', step(2)]),
    )
    expect(sorted(run(spec, 'a1 b a2 a3 c', { conditions }))).toEqual(sorted(['a2 c', 'a2 a3 c', 'a3 c']))
  })
  it('an event that meets not followed by still completes a match it ends (Flink doProcess keeps final states)', () => {
    const spec = specOf(sequence(step(0), ['notFollowedBy', step(1)], ['next', step(2)]))
    // b2 meets both the negation (b) and c's condition: the path stops, but the match a b2 is emitted.
    expect(run(spec, 'a b2', { conditions: [is('a'), is('b'), is('b')] })).toEqual(['a b2'])
    // When the event only continues the match, the stop ends it.
    const longer = specOf(sequence(step(0), ['notFollowedBy', step(1)], ['next', step(2)], ['next', step(3)]))
    expect(run(longer, 'a b2 c', { conditions: [is('a'), is('b'), is('b'), is('c')] })).toEqual([])
  })
  it('not next lets the match on only past an event that does not meet it', () => {
    const spec = specOf(sequence(step(0), ['notNext', step(1)], ['next', step(2)]))
    expect(run(spec, 'a b2', { conditions: [is('a'), is('b'), is('b')] })).toEqual([])
  })
  it('not next at the end: decided by the next event, which is not in the match', () => {
    const spec = specOf(sequence(step(0), ['notNext', step(1)]))
    expect(run(spec, 'a1 b a2 c a3', { conditions })).toEqual(['a2'])
  })
  it('not followed by at the end (Flink docs: a not followed by b within 10 s): emitted when the span runs out', () => {
    const spec = specOf(sequence(step(0), ['notFollowedBy', step(1)]), { withinMs: 10 })
    const events = tokens('a1@0 a2@3 b@8 c@20')
    const result = referenceMatch(spec, { conditions, untils: [null, null, null] }, events, {
      finalWatermark: 30,
    })
    // a1's span [0, 10) holds b (at 8); a2's [3, 13) does too; a new one would need an a.
    expect(result.matches).toEqual([])
    const quiet = tokens('a1@0 c@4 a2@12 c@30')
    const later = referenceMatch(spec, { conditions, untils: [null, null, null] }, quiet, {
      finalWatermark: 40,
    })
    expect(later.matches).toEqual([
      { steps: [0], seqs: [0], time: 10 },
      { steps: [0], seqs: [2], time: 22 },
    ])
  })
})

describe('within, timeouts and alternation', () => {
  const conditions = [is('a'), is('b'), is('c')]
  it('within: last − first < d', () => {
    const spec = specOf(sequence(step(0), ['followedBy', step(1)]), { withinMs: 5 })
    expect(run(spec, 'a1@0 a2@1 b@5', { conditions, finalWatermark: 5 })).toEqual(['a2 b'])
  })
  it('a step within: from the previous step’s event', () => {
    const spec = specOf(sequence(step(0), ['followedBy', step(1, quantifier(1, 1), 3)]))
    expect(run(spec, 'a1@0 a2@2 b@4', { conditions })).toEqual(['a2 b'])
  })
  it('timeouts: partial matches whose within ran out, at first + d', () => {
    const spec = specOf(sequence(step(0), ['followedBy', step(1)], ['followedBy', step(2)]), { withinMs: 5 })
    const events = tokens('a1@0 b@2 a2@3 c@9')
    const result = referenceMatch(spec, { conditions, untils: [null, null, null] }, events, {
      finalWatermark: 20,
    })
    expect(result.matches).toEqual([])
    expect(result.timeouts).toEqual([
      { steps: [0, 1], seqs: [0, 1], time: 5 },
      { steps: [0], seqs: [2], time: 8 },
    ])
  })
  it('alternation: every option that matches makes its own match', () => {
    const spec = specOf(alt(sequence(step(0), ['followedBy', step(1)]), sequence(step(2), ['next', step(3)])))
    expect(sorted(run(spec, 'a c b b2', { conditions: [is('a'), is('b'), is('c'), is('b')] }))).toEqual(
      sorted(['a b', 'c b']),
    )
  })
  it('a group repeats as a whole', () => {
    const spec = specOf(sequence(group(sequence(step(0), ['next', step(1)]), quantifier(2, 2))))
    expect(run(spec, 'a1 b1 c a2 b2', { conditions })).toEqual(['a1 b1 a2 b2'])
  })
})
