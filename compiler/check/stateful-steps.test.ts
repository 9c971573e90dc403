import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import type { AggregateNode, DedupNode, Type } from '../ir/types.ts'

const HEADER = `schema S { s: string, o: string?, n: i64, m: i64?, f: f64, g: f64?, ts: timestamp @event_time }
source src: S from kafka("t")
`

function nodesOf(body: string): (DedupNode | AggregateNode)[] {
  const { pipeline, diagnostics } = checkSource('t.pipe', `${HEADER}${body}\n`)
  if (!pipeline) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'))
  return pipeline.nodes.filter(
    (n): n is DedupNode | AggregateNode => n.kind === 'Dedup' || n.kind === 'Aggregate',
  )
}

const t = (kind: 'i64' | 'f64' | 'string' | 'timestamp'): Type => ({ kind })
const opt = (of: Type): Type => ({ kind: 'optional', of })

describe('aggregate typing', () => {
  it('types each aggregate from its argument: optional exactly when the argument is', () => {
    const [node] = nodesOf(`stream x = src | aggregate by s, k: o ?? "none" {
  c: count(), a: sum(n), b: sum(m), c2: sum(f), d: avg(n), e: avg(g), lo: min(ts), hi: max(o), z: min(f)
}
sink x -> stdout`)
    expect(node!.kind).toBe('Aggregate')
    expect(node!.schema.fields.map((f) => [f.name, f.type])).toEqual([
      ['s', t('string')],
      ['k', t('string')],
      ['c', t('i64')],
      ['a', t('i64')],
      ['b', opt(t('i64'))],
      ['c2', t('f64')],
      ['d', t('f64')],
      ['e', opt(t('f64'))],
      ['lo', t('timestamp')],
      ['hi', opt(t('string'))],
      ['z', t('f64')],
    ])
  })

  it('lets later steps read the aggregate record, and a select read its fields', () => {
    const { pipeline, diagnostics } = checkSource(
      't.pipe',
      `${HEADER}stream x = src | aggregate by s { c: count() } | where c > 1 | select { s, twice: c * 2 }\nsink x -> stdout\n`,
    )
    expect(diagnostics).toEqual([])
    expect(pipeline!.nodes.map((n) => n.kind)).toEqual(['Source', 'Aggregate', 'Filter', 'Map', 'Sink'])
  })

  it('gives a missing field of the aggregate record an unknown-field error naming its fields', () => {
    const { diagnostics } = checkSource(
      't.pipe',
      `${HEADER}stream x = src | aggregate by s { c: count() } | where n > 1\nsink x -> stdout\n`,
    )
    expect(diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['E0203', 'unknown field `n` on `{ s, c }`'],
    ])
  })
})

describe('state slots', () => {
  it('are named by stream, step kind and position among the steps of that kind', () => {
    const nodes =
      nodesOf(`stream a = src | dedup by s within 1s | aggregate by s { c: count() } | dedup by c within 2m
stream b = src | where n > 0 | dedup by o, n within 1d
sink a -> stdout
sink b -> stdout`)
    expect(nodes.map((n) => n.state)).toEqual([
      { id: 'a.dedup.0', step: 'dedup', ttlMs: 1000 },
      { id: 'a.aggregate.0', step: 'aggregate', ttlMs: null },
      { id: 'a.dedup.1', step: 'dedup', ttlMs: 120_000 },
      { id: 'b.dedup.0', step: 'dedup', ttlMs: 86_400_000 },
    ])
    expect(nodes.map((n) => n.id)).toEqual(['a#1', 'a#2', 'a#3', 'b#2'])
  })
})
