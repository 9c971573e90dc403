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
  const ids = (body: string) => nodesOf(`${body}\nsink a -> stdout`).map((n) => n.state.id)

  it('are named by stream, step kind, position among the steps of that kind and state layout', () => {
    const nodes =
      nodesOf(`stream a = src | dedup by s within 1s | aggregate by s { c: count() } | dedup by c within 2m
stream b = src | where n > 0 | dedup by o, n within 1d
sink a -> stdout
sink b -> stdout`)
    expect(nodes.map((n) => [n.state.id.replace(/\.[0-9a-f]{8}$/, ''), n.state.step, n.state.ttlMs])).toEqual(
      [
        ['a.dedup.0', 'dedup', 1000],
        ['a.aggregate.0', 'aggregate', null],
        ['a.dedup.1', 'dedup', 120_000],
        ['b.dedup.0', 'dedup', 86_400_000],
      ],
    )
    for (const node of nodes) expect(node.state.id).toMatch(/^[a-z]\.(dedup|aggregate)\.\d\.[0-9a-f]{8}$/)
    expect(nodes.map((n) => n.id)).toEqual(['a#1', 'a#2', 'a#3', 'b#2'])
  })

  it('keep their id through edits that keep the meaning of the stored values', () => {
    const base = ids('stream a = src | dedup by s within 1s | aggregate by s { c: count(), t: sum(n) }')
    for (const edited of [
      'stream a = src | where n > 1 | key by s | dedup by s within 1h | aggregate by s { c: count(), t: sum(n) }',
      'stream a = src | dedup by s within 1s | aggregate by card: s { count: count(), total: sum(n * 2) }',
      'stream a = src | dedup by lower(s) within 1s | aggregate by s { c: count(), t: sum(m) }',
    ]) {
      expect(ids(edited), edited).toEqual(base)
    }
  })

  it('change id when the stored values would mean something else, so old state is not misread', () => {
    const [dedup, aggregate] = ids(
      'stream a = src | dedup by s within 1s | aggregate by s { c: count(), t: sum(n) }',
    )
    const changed = [
      'stream a = src | dedup by o within 1s | aggregate by s { t: sum(n), c: count() }',
      'stream a = src | dedup by s, n within 1s | aggregate by s, n { c: count(), t: sum(n) }',
      'stream a = src | dedup by n within 1s | aggregate by s { c: count(), t: sum(f) }',
      'stream a = src | dedup by s, s within 1s | aggregate by s { c: count(), t: sum(n), l: max(s) }',
    ]
    for (const edited of changed) {
      const [d, g] = ids(edited)
      expect(d, edited).not.toBe(dedup)
      expect(g, edited).not.toBe(aggregate)
    }
  })
})
