/**
 * A source's decoder keeps the fields the pipeline reads: also those only a window reads outside
 * its arguments (max_by's `by`, a session's computed gap), or a window would compute from
 * `undefined`.
 */
import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import { fieldsRead } from './fields-read.ts'

function readOf(body: string): ReadonlySet<string> | null {
  const text = `schema Click { user: string, vip: bool, price: f64, page: string, ts: timestamp @event_time }
source clicks: Click from kafka("clicks")
${body}`
  const { pipeline, diagnostics } = checkSource('fields.pipe', text)
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([])
  const source = pipeline!.nodes.find((n) => n.kind === 'Source')!
  return fieldsRead(pipeline!, source as never)
}

describe('fieldsRead', () => {
  it("keeps a field only a session's computed gap reads", () => {
    const read = readOf(
      'stream s = clicks | aggregate by user window session (if vip then 5m else 30s) { n: count() }\nsink s -> stdout',
    )
    expect(read).toEqual(new Set(['ts', 'user', 'vip']))
  })

  it("keeps a field only max_by's `by` reads", () => {
    const read = readOf(
      'stream s = clicks | aggregate by user window tumbling 1m { top: max_by(page, price) }\nsink s -> stdout',
    )
    expect(read).toEqual(new Set(['ts', 'user', 'page', 'price']))
  })

  it("keeps what a match reads of the current event and of its steps' events, all of it for a whole step", () => {
    const read = readOf(`stream s = clicks | match by user within 1m
  pattern a{2} followed by b
  define a as price < 1.0, b as page == first(a).page
  timeout into t { n: count(a), p: a[0].price }
  { user: b.user, total: sum(a.price) }
sink s -> stdout
sink t -> stdout`)
    expect(read).toEqual(new Set(['ts', 'user', 'price', 'page']))
    const whole = readOf(
      'stream s = clicks | match within 1m pattern a define a as price < 1.0 { event: a }\nsink s -> stdout',
    )
    expect(whole).toBeNull()
  })
})
