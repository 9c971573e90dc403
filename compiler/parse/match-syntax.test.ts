import { describe, expect, it } from 'vitest'
import type { MatchStep } from './ast.ts'
import { parse } from './parser.ts'
import { printFile } from './print.ts'

const FRAUD = `stream alerts = payments
  | match by card within 10m
      pattern small{2} followed by large
      define
        small as amount < 1000,
        large as amount > 50000 and country == first(small).country
      skip past last event
      late into late_payments
      timeout into expired { card: first(small).card, smalls: count(small) }
      { card: large.card, total_small: sum(small.amount), large_amount: large.amount }
`

function matchOf(text: string): MatchStep {
  const result = parse('t.pipe', text)
  expect(result.diagnostics).toEqual([])
  const stream = result.ast.statements[0]!
  if (stream.kind !== 'Stream' || stream.steps[0]?.kind !== 'Match') throw new Error('not a match')
  return stream.steps[0]
}

function errorsOf(text: string): string[] {
  return parse('t.pipe', text).diagnostics.map((d) => `${d.code} ${d.message}`)
}

describe('match steps, as written', () => {
  it("parses the brief's example with every clause", () => {
    const step = matchOf(FRAUD)
    expect(step.key).toMatchObject({ kind: 'Name', name: 'card' })
    expect(step.within).toMatchObject({ amount: 10, unit: 'm' })
    expect(step.pattern).toMatchObject({
      kind: 'PatternSequence',
      elements: [
        {
          connector: 'begin',
          term: { step: { name: 'small' }, quantifier: { form: 'exact', min: 2, max: 2 } },
        },
        { connector: 'followedBy', term: { step: { name: 'large' }, quantifier: null } },
      ],
    })
    expect(step.defines.map((d) => d.name.name)).toEqual(['small', 'large'])
    expect(step.skip).toMatchObject({ strategy: 'pastLastEvent', step: null })
    expect(step.lateInto?.name).toBe('late_payments')
    expect(step.timeout?.into.name).toBe('expired')
    expect(step.fields.map((f) => f.name?.name)).toEqual(['card', 'total_small', 'large_amount'])
  })

  it('reads every connector, quantifier form, mode and inner contiguity', () => {
    const step = matchOf(
      'stream s = x | match pattern a+ greedy consecutive next b* reluctant any followed by any c? not next d not followed by e within 5m | (f next g){1,3} followed by h{2,} define a as true { }',
    )
    const pattern = step.pattern
    if (pattern.kind !== 'PatternAlternation') throw new Error('not an alternation')
    expect(pattern.options[0]!.elements.map((e) => e.connector)).toEqual([
      'begin',
      'next',
      'followedByAny',
      'notNext',
      'notFollowedBy',
    ])
    expect(pattern.options[0]!.elements.map((e) => e.term.quantifier?.form ?? null)).toEqual([
      '+',
      '*',
      '?',
      null,
      null,
    ])
    expect(pattern.options[0]!.elements[0]!.term.quantifier).toMatchObject({
      mode: 'greedy',
      inner: 'strict',
    })
    expect(pattern.options[0]!.elements[1]!.term.quantifier).toMatchObject({
      mode: 'reluctant',
      inner: 'any',
    })
    expect(pattern.options[0]!.elements[4]!.term.within).toMatchObject({ amount: 5, unit: 'm' })
    expect(pattern.options[1]!.elements[0]!.term).toMatchObject({
      step: null,
      group: { kind: 'PatternSequence' },
      quantifier: { form: 'range', min: 1, max: 3 },
    })
    expect(pattern.options[1]!.elements[1]!.term.quantifier).toMatchObject({
      form: 'atLeast',
      min: 2,
      max: null,
    })
  })

  it('reads `until` and the skip strategies that name a step', () => {
    const step = matchOf(
      'stream s = x | match pattern a+ next b define a as v > 1 until v > 9, b as true skip to last a { }',
    )
    expect(step.defines[0]!.until).toMatchObject({ kind: 'Binary', op: '>' })
    expect(step.skip).toMatchObject({ strategy: 'toLast', step: { name: 'a' } })
    expect(matchOf('stream s = x | match pattern a define a as true skip to first a {}').skip?.strategy).toBe(
      'toFirst',
    )
    expect(matchOf('stream s = x | match pattern a define a as true skip to next {}').skip?.strategy).toBe(
      'toNext',
    )
  })

  it('prints what it parsed', () => {
    const first = parse('t.pipe', FRAUD)
    const again = parse('t.pipe', printFile(first.ast))
    expect(again.diagnostics).toEqual([])
    expect(printFile(again.ast)).toBe(printFile(first.ast))
  })

  it('says what is missing, where', () => {
    expect(errorsOf('stream s = x | match by k define a as true {}')).toEqual([
      'E0101 expected `pattern` and the steps to match (`pattern a followed by b`), found identifier `define`',
    ])
    expect(errorsOf('stream s = x | match pattern a followed b define a as true {}')[0]).toContain(
      'expected `by` after `followed`',
    )
    expect(errorsOf('stream s = x | match pattern a next define a as true {}')[0]).toContain(
      'found `define`, a word of patterns',
    )
    expect(errorsOf('stream s = x | match pattern a not b define a as true {}')[0]).toContain(
      'expected `next` or `followed by` after `not`',
    )
    expect(errorsOf('stream s = x | match pattern not next a define a as true {}')[0]).toContain(
      'cannot start with `not …`',
    )
    expect(errorsOf('stream s = x | match pattern a{2 define a as true {}')[0]).toContain(
      'expected `}` or `,` in the quantifier',
    )
    expect(errorsOf('stream s = x | match pattern a define a true {}')[0]).toContain(
      'expected `as` and the condition of step `a`',
    )
    expect(errorsOf('stream s = x | match pattern a define a as true skip past last {}')[0]).toContain(
      'expected `event` after `skip past last`',
    )
    expect(errorsOf('stream s = x | match pattern a define a as true timeout expired {}')[0]).toContain(
      'expected `into`, a stream name and its record after `timeout`',
    )
    expect(errorsOf('stream s = x | match pattern a define a as true')[0]).toContain(
      'expected `,` and another step definition, `skip …`, `late into …`, `timeout into …`, or `{`',
    )
  })

  it('points the error at the offending token', () => {
    const [d] = parse(
      't.pipe',
      'stream s = x\n  | match pattern a followed b define a as true {}',
    ).diagnostics
    const text = 'stream s = x\n  | match pattern a followed b define a as true {}'
    expect(text.slice(d!.span.start, d!.span.end)).toBe('b')
  })
})
