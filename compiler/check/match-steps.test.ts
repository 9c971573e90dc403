import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import type { MatchNode, Pipeline, Type } from '../ir/types.ts'

const HEADER = `schema Payment { card: string, amount: f64, country: string, note: string?, ts: timestamp @event_time }
source payments: Payment from kafka("payments") watermark ts - 5s
`

function check(body: string) {
  return checkSource('t.pipe', `${HEADER}${body}\n`)
}

function pipelineOf(body: string): Pipeline {
  const { pipeline, diagnostics } = check(body)
  if (!pipeline) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'))
  return pipeline
}

function matchOf(step: string): MatchNode {
  return pipelineOf(`stream s = payments | ${step}\nsink s -> stdout`).nodes.find(
    (n): n is MatchNode => n.kind === 'Match',
  )!
}

/** The diagnostics of a match step, as `code message`. */
function diagnosticsOf(step: string): string[] {
  return check(`stream s = payments | ${step}\nsink s -> stdout`).diagnostics.map(
    (d) => `${d.code} ${d.message}`,
  )
}

const t = (kind: 'i64' | 'f64' | 'string' | 'timestamp'): Type => ({ kind })
const opt = (of: Type): Type => ({ kind: 'optional', of })
const list = (of: Type): Type => ({ kind: 'list', of })

const FRAUD = `match by card within 10m
      pattern small{2} followed by large
      define
        small as amount < 1000,
        large as amount > 50000 and country == first(small).country
      skip past last event
      late into late_payments
      timeout into expired { card: first(small).card, smalls: count(small) }
      { card: large.card, total_small: sum(small.amount), large_amount: large.amount }`

describe('match steps', () => {
  it('lower to a Match node with the pattern spec, typed step references and the late and timeout streams', () => {
    const pipeline = pipelineOf(`stream alerts = payments | ${FRAUD}
sink alerts -> stdout
sink late_payments -> stdout
sink expired -> stdout`)
    const node = pipeline.nodes.find((n): n is MatchNode => n.kind === 'Match')!
    expect(node).toMatchObject({
      id: 'alerts#1',
      input: 'payments',
      key: { kind: 'Column', name: 'card' },
      withinMs: 600_000,
      skip: { kind: 'pastLastEvent' },
      late: 'alerts#1.late',
      timeout: { stream: 'alerts#1.timeout' },
      latenessMs: 0,
      state: { step: 'match', ttlMs: null },
      execution: 'typescript',
      pattern: {
        kind: 'Sequence',
        elements: [
          {
            connector: 'begin',
            term: { kind: 'Step', step: 0, quantifier: { min: 2, max: 2, mode: 'all' } },
          },
          { connector: 'followedBy', term: { kind: 'Step', step: 1, quantifier: { min: 1, max: 1 } } },
        ],
      },
    })
    expect(node.steps.map((s) => [s.name, s.negated, s.repeated, s.hasUntil, s.reads])).toEqual([
      ['small', false, true, false, []],
      ['large', false, false, false, [0]],
    ])
    expect(node.schema.fields).toEqual([
      { name: 'card', type: t('string') },
      { name: 'total_small', type: opt(t('f64')) },
      { name: 'large_amount', type: t('f64') },
    ])
    expect(node.fields[1]!.value).toMatchObject({
      kind: 'ListFunction',
      fn: 'sum',
      list: { kind: 'Project', name: 'amount', type: list(t('f64')), object: { kind: 'StepRef', step: 0 } },
    })
    expect(pipeline.nodes.find((n) => n.id === 'alerts#1.late')).toMatchObject({
      kind: 'LateEvents',
      input: 'alerts#1',
    })
    expect(pipeline.nodes.find((n) => n.id === 'alerts#1.timeout')).toMatchObject({
      kind: 'MatchTimeouts',
      input: 'alerts#1',
      schema: {
        fields: [
          { name: 'card', type: opt(t('string')) },
          { name: 'smalls', type: t('i64') },
        ],
      },
    })
    expect(pipeline.streams).toMatchObject({ late_payments: 'alerts#1.late', expired: 'alerts#1.timeout' })
  })

  it('types a step as a record, an optional record or a list, and runs event-local patterns on the kernel', () => {
    const node = matchOf(
      'match within 1m pattern a next b? followed by c+ | d define a as amount > 1, b as true, c as true, d as true { x: a.amount, y: b.amount, z: c.amount, w: d.card, n: c[0].amount }',
    )
    expect(node.schema.fields.map((f) => f.type)).toEqual([
      opt(t('f64')),
      opt(t('f64')),
      list(t('f64')),
      opt(t('string')),
      opt(t('f64')),
    ])
    expect(node.execution).toBe('wasm')
    expect(node.pattern.kind).toBe('Alternation')
  })

  it('lets a repeated step read its own events so far, and a later step read earlier ones', () => {
    const node = matchOf(
      'match within 1m pattern a+ next b define a as count(a) < 3 and amount > (avg(a.amount) ?? 0.0), b as amount > (max(a.amount) ?? 0.0) { n: count(a) }',
    )
    expect(node.steps.map((s) => s.reads)).toEqual([[0], [0]])
  })

  it('reads `until` on a step repeated without bound', () => {
    const node = matchOf(
      'match within 1m pattern a+ next b define a as true until amount > 9.0, b as true { n: count(a) }',
    )
    expect(node.steps[0]).toMatchObject({ hasUntil: true, until: { kind: 'Binary' } })
  })

  it('reports steps missing from either side, used twice, or read where they cannot be', () => {
    expect(diagnosticsOf('match within 1m pattern a next b define a as true { x: a.card }')).toEqual([
      'E0460 step `b` is in the pattern but not defined; add `b as <condition>` to `define`',
    ])
    expect(diagnosticsOf('match within 1m pattern a define a as true, b as true { x: a.card }')[0]).toBe(
      'E0461 step `b` is defined but not in the pattern; use it in the pattern or remove its definition',
    )
    expect(diagnosticsOf('match within 1m pattern a next a define a as true { x: a.card }')[0]).toContain(
      'E0462 step `a` is in the pattern twice',
    )
    expect(
      diagnosticsOf(
        'match within 1m pattern a next b define a as b.amount > 1.0, b as true { x: a.card }',
      )[0],
    ).toContain('E0463 the condition of `a` cannot read `b`: it comes later in the pattern')
    expect(
      diagnosticsOf(
        'match within 1m pattern a next b define a as a.amount > 1.0, b as true { x: a.card }',
      )[0],
    ).toContain('E0463 step `a` matches one event, so in its own condition')
    expect(
      diagnosticsOf(
        'match within 1m pattern a | b next c define a as true, b as a.amount > 1.0, c as true { x: c.card }',
      )[0],
    ).toContain('they are in different options of `|`')
    expect(
      diagnosticsOf(
        'match within 1m pattern a not next b next c define a as true, b as true, c as b.amount > 1.0 { x: c.card }',
      )[0],
    ).toContain('E0464 `b` is a negated step')
    expect(
      diagnosticsOf('match within 1m pattern a not next b define a as true, b as true { x: b.card }')[0],
    ).toContain('E0464 `b` is a negated step')
  })

  it('reports Flink’s limits on negation and quantifiers', () => {
    expect(
      diagnosticsOf(
        'match within 1m pattern a? not next b next c define a as true, b as true, c as true { x: c.card }',
      )[0],
    ).toContain('E0465 a negation cannot follow an optional step')
    expect(
      diagnosticsOf('match pattern a not followed by b define a as true, b as true { x: a.card }'),
    ).toContain(
      'E0466 `not followed by` at the end of a pattern needs a span in which the event must not come: add `within <duration>` after `match` or after the step',
    )
    expect(
      diagnosticsOf('match pattern a not followed by b within 5m define a as true, b as true { x: a.card }'),
    ).toEqual([])
    expect(diagnosticsOf('match within 1m pattern a{3,2} define a as true { n: count(a) }')[0]).toContain(
      'E0467 the quantifier `{3,2}` asks for at least 3 but at most 2',
    )
    expect(
      diagnosticsOf('match within 1m pattern a{0} next b define a as true, b as true { x: b.card }')[0],
    ).toContain('E0467 `{0}` matches no event')
    expect(
      diagnosticsOf(
        'match within 1m pattern a not next b+ next c define a as true, b as true, c as true { x: a.card }',
      )[0],
    ).toContain('E0469 a negated step takes no quantifier')
    expect(diagnosticsOf('match within 1m pattern a define a as true until true { x: a.card }')[0]).toContain(
      'E0471 `until` ends the repetitions of a step repeated without bound',
    )
    expect(
      diagnosticsOf('match within 1m pattern a+ define a as true skip to first b { n: count(a) }')[0],
    ).toContain('E0468 `skip to first` names `b`, which is not a step of the pattern')
    expect(diagnosticsOf('match within 0s pattern a define a as true { x: a.card }')[0]).toContain(
      'E0472 the `within` of the match must be positive',
    )
  })

  it('reports conditions that are not bools, and output that is empty', () => {
    expect(diagnosticsOf('match within 1m pattern a define a as amount { x: a.card }')[0]).toBe(
      'E0470 the condition of step `a` must be a `bool`, but this is `f64`',
    )
    expect(diagnosticsOf('match within 1m pattern a define a as true { }')[0]).toContain('E0478')
    expect(diagnosticsOf('match within 1m pattern a define a as true { card }')).toEqual([
      'E0476 `card` is not a step of the pattern: the output of a match has no current event, so a field is read through a step (`a.card`)',
    ])
    expect(diagnosticsOf('match within 1m pattern a+ define a as true { x: sum(a) }')[0]).toContain(
      'E0304 `sum` of a list needs a list of `i64`, `f64`, `duration`',
    )
    expect(diagnosticsOf('match within 1m pattern a define a as true { x: sum(a.amount) }')[0]).toBe(
      'E0304 `sum(l)` takes a list (a repeated step, or a field of one: `sum(small.amount)`), but this is `f64`',
    )
  })

  it('warns of unbounded state and of steps that never match', () => {
    expect(diagnosticsOf('match pattern a+ next b define a as true, b as true { n: count(a) }')[0]).toContain(
      'W0017 this pattern has no `within`',
    )
    expect(
      diagnosticsOf('match pattern a followed by any b define a as true, b as true { x: b.card }')[0],
    ).toContain('W0017')
    expect(diagnosticsOf('match pattern a followed by b define a as true, b as true { x: b.card }')).toEqual(
      [],
    )
    expect(
      diagnosticsOf(
        'match within 1m pattern a next b define a as amount < 10.0 and amount > 20.0, b as 1 > 2 { x: b.card }',
      ),
    ).toEqual([
      'W0018 step `a` can never match: its condition is never true, so the pattern never matches',
      'W0018 step `b` can never match: its condition is never true, so the pattern never matches',
    ])
    expect(
      diagnosticsOf(
        'match within 1m pattern a define a as country == "x" and country == "y" { x: a.card }',
      )[0],
    ).toContain('W0018')
    expect(
      diagnosticsOf(
        'match within 1m pattern a define a as amount < 10.0 and amount >= 10.0 or true { x: a.card }',
      ),
    ).toEqual([])
  })

  it('refuses a match over the results of a window', () => {
    const { diagnostics } = check(`stream w = payments | aggregate by card window tumbling 1m { n: count() }
stream s = w | match within 1m pattern a define a as n > 1 { x: a.card }
sink s -> stdout`)
    expect(diagnostics.map((d) => d.code)).toEqual(['E0475'])
  })

  it('lets windows and joins read the results of a match, unless a skip strategy holds them back without `within`', () => {
    const window =
      check(`stream m = payments | match within 1m pattern a define a as true { card: a.card, ts: a.ts }
stream w = m | aggregate by card window tumbling 1m { n: count() }
sink w -> stdout`)
    expect(window.diagnostics.map((d) => d.code)).toEqual([])
    const joined =
      check(`stream m = payments | match within 1m pattern a define a as true skip past last event { card: a.card, ts: a.ts }
stream j = join m as x, payments as p on x.card == p.card within p between 1m before and 1m after x
sink j -> stdout`)
    expect(joined.diagnostics.map((d) => d.code)).toEqual([])
    const held =
      check(`stream m = payments | match pattern a followed by b define a as true, b as true skip past last event { card: a.card, ts: a.ts }
stream w = m | aggregate by card window tumbling 1m { n: count() }
stream j = join m as x, payments as p on x.card == p.card within p between 1m before and 1m after x
sink w -> stdout
sink j -> stdout`)
    expect(held.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([
      expect.stringMatching(/^E0447 this window carries the results of a match whose skip strategy holds/),
      expect.stringMatching(/^E0447 `m` carries the results of a match whose skip strategy holds/),
    ])
  })
})
