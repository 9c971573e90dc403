import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import type { MapNode, Type } from '../ir/types.ts'
import { MAX_NESTING } from '../parse/parser.ts'

const HEADER = `schema S { s: string, o: string?, n: i64, f: f64, b: bool?, ts: timestamp @event_time }
source src: S from kafka("t")
`

/** The type of `select { v: <expr> }` over S, or the error codes. */
function typeOf(expr: string): Type | string[] {
  const { pipeline, diagnostics } = checkSource(
    't.pipe',
    `${HEADER}stream x = src | select { v: ${expr} }\nsink x -> stdout\n`,
  )
  if (!pipeline) return diagnostics.map((d) => d.code)
  return (pipeline.nodes.find((n) => n.kind === 'Map') as MapNode).schema.fields[0]!.type
}

const bool: Type = { kind: 'bool' }
const opt = (of: Type): Type => ({ kind: 'optional', of })

describe('in, between, like and case (issue 17)', () => {
  it('type as bool, optional when any part is', () => {
    expect(typeOf('n in (1, 2.5)')).toEqual(bool)
    expect(typeOf('o not in ("a", s)')).toEqual(opt(bool))
    expect(typeOf('n between 1 and f')).toEqual(bool)
    expect(typeOf('ts between ts - 1h and ts')).toEqual(bool)
    expect(typeOf('s not like "a%"')).toEqual(bool)
    expect(typeOf('o like s')).toEqual(opt(bool))
  })

  it('case unifies its values like if, and is optional without else', () => {
    expect(typeOf('case when b then 1 else 2.5 end')).toEqual({ kind: 'f64' })
    expect(typeOf('case when n > 1 then "a" when b then "b" end')).toEqual(opt({ kind: 'string' }))
    expect(typeOf('case when b then o else "x" end')).toEqual(opt({ kind: 'string' }))
    expect(typeOf('case when b then 1 when true then "x" end')).toEqual(['E0307'])
  })

  it('binds between tighter than and, and not looser than the comparison', () => {
    expect(typeOf('n between 1 and 2 and b')).toEqual(opt(bool))
    expect(typeOf('not n between 1 and 2')).toEqual(bool)
    expect(typeOf('n between 1 and 2 == true')).toEqual(['E0102'])
  })

  it('leaves the words free as field names', () => {
    const { diagnostics } = checkSource(
      't.pipe',
      `schema W { in: i64, between: i64, like: string, case: string, when: bool, end: i64 }
source w: W from kafka("t")
stream x = w
  | where in in (1, 2) and between between in and end and like like "a%" and when
  | select { in, between, like, case, when, end, c: case when when then case else like end }
sink x -> stdout
`,
    )
    expect(diagnostics).toEqual([])
  })

  it('counts a case of n branches as n levels of nesting', () => {
    const branches = (n: number) => `case ${'when b then 1 '.repeat(n)}end`
    expect(typeOf(branches(MAX_NESTING - 5))).toEqual(opt({ kind: 'i64' }))
    expect(typeOf(branches(MAX_NESTING + 1))).toEqual(['E0104'])
  })

  it('reports an invalid literal pattern at the literal, and accepts a valid one', () => {
    const { diagnostics } = checkSource(
      't.pipe',
      `${HEADER}stream x = src | where regex_match(s, "a(") | select { s }\nsink x -> stdout\n`,
    )
    expect(diagnostics.map((d) => [d.code, d.span.start, d.span.end])).toEqual([
      ['E0320', HEADER.length + 38, HEADER.length + 42],
    ])
    expect(typeOf('regex_extract(s, "(a)", 1)')).toEqual(opt({ kind: 'string' }))
  })
})
