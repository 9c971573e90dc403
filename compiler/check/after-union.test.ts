/**
 * The checker on the steps after a union (after-union.ts, issue 13): `dedup` and `aggregate`
 * without a window read any union, of several sources or with timed results in it, and a window a
 * union of several sources' events; matches and joins after a union of several sources (and
 * windows over their results) get E0483, naming the sources, and after a union of one source's
 * events and timed results E0484, naming what the results are.
 */
import { describe, expect, it } from 'vitest'
import type { Diagnostic } from '../diagnostics/diagnostic.ts'
import { checkSource } from '../frontend.ts'

const HEADER = `schema Payment { id: string, card: string, amount: i64, ts: timestamp @event_time }
source payments: Payment from kafka("payments") watermark ts - 5s
source refunds: Payment from kafka("refunds") watermark ts - 5s
stream both = union payments, refunds
stream big = payments | where amount > 100
`

function errorsOf(body: string): Diagnostic[] {
  return checkSource('t.pipe', `${HEADER}${body}\n`).diagnostics.filter((d) => d.severity === 'error')
}

describe('steps after a union', () => {
  it('accepts dedup and aggregate without a window after a union of several sources, also chained', () => {
    expect(
      errorsOf(`stream d = both | dedup by id within 1h
stream a = both | where amount > 0 | aggregate by card { n: count(), total: sum(amount) }
stream da = d | aggregate by card { n: count() }
sink a -> stdout
sink da -> stdout`),
    ).toEqual([])
  })

  it("accepts dedup and aggregate after a union of a window's or a match's results with events", () => {
    expect(
      errorsOf(`stream counts = payments | aggregate by card window tumbling 1m { n: count() }
stream plain = payments | select { card, n: amount }
stream matched = payments | match by card within 1m pattern a followed by b define a as amount < 10, b as amount > 100 { card: b.card, n: b.amount }
stream u = union plain, matched, counts
stream d = u | dedup by card within 1h
stream a = u | aggregate by card { total: sum(n) }
sink d -> stdout
sink a -> stdout`).map((d) => d.code),
    ).toEqual([])
  })

  it('accepts a window over a union of several sources, processing time too, but not over their windows', () => {
    expect(
      errorsOf(`stream w = both | where amount > 0 | aggregate by card window tumbling 1m { n: count() }
stream p = both | aggregate by card window tumbling 1m processing time { n: count() }
stream counts = both | aggregate by card window tumbling 1m { n: count() }
stream again = counts | aggregate by card window tumbling 1h { total: sum(n) }
sink w -> stdout
sink p -> stdout
sink again -> stdout`).map((d) => d.code),
    ).toEqual(['E0483'])
  })

  it('refuses matches and joins after a union of several sources with E0483, naming them', () => {
    const errors =
      errorsOf(`stream m = both | match by card within 1m pattern a followed by b define a as amount < 10, b as amount > 100 { card: a.card }
stream j = join both as x, big as b on x.id == b.id within b between 0m after and 1h after x
sink m -> stdout
sink j -> stdout`)
    expect(errors.map((d) => d.code)).toEqual(['E0483', 'E0483'])
    expect(errors[0]!.message).toContain('this match follows one watermark')
    expect(errors[0]!.message).toContain('a union of several sources (`payments`, `refunds`)')
    expect(errors[1]!.message).toContain('this join follows one watermark')
    expect(errors[0]!.related?.[0]?.message).toBe('the union')
  })

  it("refuses a match and a join after a union of one source's events and results with E0484, saying what", () => {
    const errors = errorsOf(`stream counts = payments | aggregate by card window tumbling 1m { n: count() }
stream plain = payments | select { card, n: amount }
stream u = union plain, counts
stream m = u | match by card within 1m pattern a followed by b define a as n < 10, b as n > 100 { card: a.card }
stream j = join u as x, big as b on x.card == b.card within b between 0m after and 1h after x
sink m -> stdout
sink j -> stdout`)
    expect(errors.map((d) => d.code)).toEqual(['E0484', 'E0484'])
    expect(errors[0]!.message).toContain(
      "this match reads a union of `payments`'s events and a window's results",
    )
    expect(errors[1]!.message).toContain(
      "this join reads a union of `payments`'s events and a window's results",
    )
    expect(errors[1]!.related?.map((r) => r.message)).toEqual(['the union', 'the window'])
  })

  it("refuses a window over a union of one source's events and a match's results with E0484", () => {
    const errors =
      errorsOf(`stream matched = payments | match by card within 1m pattern a followed by b define a as amount < 10, b as amount > 100 { card: b.card, n: b.amount }
stream plain = big | select { card, n: amount }
stream u = union plain, matched
stream w = u | aggregate by card window tumbling 1m { n: count() }
sink w -> stdout`)
    expect(errors.map((d) => d.code)).toEqual(['E0484'])
    expect(errors[0]!.message).toContain(
      "this window reads a union of `payments`'s events and a match's results",
    )
  })
})
