/**
 * The checker on joins and unions of one source with itself (issues 13, 17): allowed, and after a
 * union of one source's streams a stateful step follows that source; after a union of several
 * sources matches and joins are still refused (E0483), and after a union of a window's results all
 * but a window (E0484), while `dedup` and `aggregate` without a window read any union
 * (specs/language.md, "Unions"; after-union.test.ts).
 */
import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'

const HEADER = `schema Payment { id: string, card: string, amount: i64, ts: timestamp @event_time }
source payments: Payment from kafka("payments") watermark ts - 5s
source refunds: Payment from kafka("refunds") watermark ts - 5s
stream big = payments | where amount > 100
stream small = payments | where amount < 10
`

/** The errors' codes (the header's unused streams and source give warnings). */
function codesOf(body: string): string[] {
  return checkSource('t.pipe', `${HEADER}${body}\n`)
    .diagnostics.filter((d) => d.severity === 'error')
    .map((d) => d.code)
}

describe('one source on both sides', () => {
  it('accepts a join of two streams of one source, and of a stream with itself', () => {
    expect(
      codesOf(`stream s = join small as s, big as b on s.card == b.card within b between 0m after and 10m after s
stream t = join payments as a, payments as b on a.card == b.card within b between 0m after and 1m after a
sink s -> stdout
sink t -> stdout`),
    ).toEqual([])
  })

  it('accepts a union of one source twice, and stateful steps, windows, matches and joins after it', () => {
    expect(
      codesOf(`stream u = union big, small, payments
stream w = u | aggregate by card window tumbling 1m { n: count() }
stream d = u | dedup by id within 1h
stream m = u | match by card within 1m pattern a followed by b define a as amount < 10, b as amount > 100 { card: a.card }
stream j = join u as x, refunds as r on x.id == r.id within r between 0m after and 1h after x
sink w -> stdout
sink d -> stdout
sink m -> stdout
sink j -> stdout`),
    ).toEqual([])
  })

  it('still refuses joins after a union of several sources, not a dedup or a window', () => {
    expect(
      codesOf(`stream u = union payments, refunds | dedup by id within 1h
stream v = union big, refunds
stream w = v | aggregate by card window tumbling 1m { n: count() }
stream j = join v as x, payments as p on x.id == p.id within p between 0m after and 1h after x
sink u -> stdout
sink w -> stdout
sink j -> stdout`),
    ).toEqual(['E0483'])
  })

  it("accepts a window over a union of one source's events and its windows' results, and a dedup, not a join", () => {
    expect(
      codesOf(`stream counts = payments | aggregate by card window tumbling 1m { n: count() }
stream plain = big | select { card, n: amount }
stream u = union plain, counts
stream w = u | aggregate by card window tumbling 1h { total: sum(n) }
stream d = u | dedup by card within 1h
stream j = join u as x, refunds as r on x.card == r.card within r between 0m after and 1h after x
sink w -> stdout
sink d -> stdout
sink j -> stdout`),
    ).toEqual(['E0484'])
  })

  it("checks the windows in such a union as windows a window reads, and refuses several sources' windows", () => {
    expect(
      codesOf(`stream late = payments | aggregate by card window tumbling 1m lateness 1m { n: count() }
stream other = refunds | aggregate by card window tumbling 1m { n: count() }
stream counts = payments | aggregate by card window tumbling 1m { n: count() }
stream u = union counts, late
stream v = union counts, other
stream w = u | aggregate by card window tumbling 1h { total: sum(n) }
stream x = v | aggregate by card window tumbling 1h { total: sum(n) }
sink w -> stdout
sink x -> stdout`),
    ).toEqual(['E0430', 'E0483'])
  })
})
