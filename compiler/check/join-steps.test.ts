import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import type { JoinNode, LateEventsNode, Pipeline, Type } from '../ir/types.ts'

const HEADER = `schema A { id: string, n: i64, ts: timestamp @event_time }
schema B { a_id: string?, m: i64, ts: timestamp @event_time }
source a: A from kafka("a")
source b: B from kafka("b")
`

function pipelineOf(body: string): Pipeline {
  const { pipeline, diagnostics } = checkSource('t.pipe', `${HEADER}${body}\n`)
  if (!pipeline) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'))
  return pipeline
}

function joinOf(body: string): JoinNode {
  return pipelineOf(body).nodes.find((n): n is JoinNode => n.kind === 'Join')!
}

const record = (fields: Record<string, Type>): Type => ({
  kind: 'record',
  fields: Object.entries(fields).map(([name, type]) => ({ name, type })),
})
const t = (kind: 'i64' | 'string' | 'timestamp'): Type => ({ kind })
const opt = (of: Type): Type => ({ kind: 'optional', of })
const A = record({ id: t('string'), n: t('i64'), ts: t('timestamp') })
const B = record({ a_id: opt(t('string')), m: t('i64'), ts: t('timestamp') })

describe('joins', () => {
  it('lower to a Join node of both inputs with the keys over each side and one field per alias', () => {
    const join = joinOf(`stream j = join a as x, b as y on x.id == y.a_id and x.n == y.m
  within y between 5m before and 1m after x
sink j -> stdout`)
    expect(join).toMatchObject({
      id: 'j#join',
      left: 'a',
      right: 'b',
      leftAlias: 'x',
      rightAlias: 'y',
      joinType: 'inner',
      bound: { kind: 'interval', lowerMs: -300_000, upperMs: 60_000 },
      latenessMs: 0,
      late: null,
      state: { step: 'join', ttlMs: null },
    })
    expect(join.leftKeys.map((k) => [k.kind, (k as { name: string }).name])).toEqual([
      ['Column', 'id'],
      ['Column', 'n'],
    ])
    expect(join.rightKeys.map((k) => [k.kind, (k as { name: string }).name])).toEqual([
      ['Column', 'a_id'],
      ['Column', 'm'],
    ])
    expect(join.state.id).toMatch(/^j\.join\.0\.[0-9a-f]{8}$/)
    expect(join.schema.fields.map((f) => [f.name, f.type])).toEqual([
      ['x', A],
      ['y', B],
    ])
  })

  it('make the outer sides optional: the right of a left join, both of a full join', () => {
    const left = joinOf(
      'stream j = left join a as x, b as y on x.id == y.a_id within y between 0ms after and 1m after x\nsink j -> stdout',
    )
    expect(left.schema.fields.map((f) => f.type)).toEqual([A, opt(B)])
    const full = joinOf(
      'stream j = full join a as x, b as y on x.id == y.a_id within y between 0ms after and 1m after x\nsink j -> stdout',
    )
    expect(full.schema.fields.map((f) => f.type)).toEqual([opt(A), opt(B)])
  })

  it('turn a bound written from the left side around, as offsets of the right time from the left', () => {
    const join = joinOf(
      'stream j = join a as x, b as y on x.id == y.a_id within x between 10m before and 2m before y\nsink j -> stdout',
    )
    // x in [y - 10m, y - 2m]  <=>  y in [x + 2m, x + 10m]
    expect(join.bound).toEqual({ kind: 'interval', lowerMs: 120_000, upperMs: 600_000 })
  })

  it('take a window instead of a bound, and give late events a stream of both sides optional', () => {
    const pipeline =
      pipelineOf(`stream j = join a as x, b as y on x.id == y.a_id window hopping 10m every 5m lateness 1m late into late_j
  | select { id: x.id, m: y.m }
sink j -> stdout
sink late_j -> stdout`)
    const join = pipeline.nodes.find((n): n is JoinNode => n.kind === 'Join')!
    expect(join.bound).toEqual({ kind: 'hopping', sizeMs: 600_000, slideMs: 300_000 })
    expect(join.latenessMs).toBe(60_000)
    expect(join.schema.fields.map((f) => [f.name, f.type])).toEqual([
      ['x', A],
      ['y', B],
      ['window_start', t('timestamp')],
      ['window_end', t('timestamp')],
    ])
    const late = pipeline.nodes.find((n): n is LateEventsNode => n.kind === 'LateEvents')!
    expect(late).toMatchObject({ id: 'j#join.late', input: 'j#join' })
    expect(late.schema.fields.map((f) => f.type)).toEqual([opt(A), opt(B)])
    expect(pipeline.streams.late_j).toBe('j#join.late')
  })

  it('read the sides with the steps after the join: a select over both aliases', () => {
    const pipeline =
      pipelineOf(`stream j = left join a as x, b as y on x.id == y.a_id within y between 1m before and 1m after x
  | where x.n > 1
  | select { id: x.id, m: y.m, at: y.ts }
sink j -> stdout`)
    const map = pipeline.nodes.find((n) => n.kind === 'Map')!
    expect(map.schema.fields.map((f) => [f.name, f.type])).toEqual([
      ['id', t('string')],
      ['m', opt(t('i64'))],
      ['at', opt(t('timestamp'))],
    ])
  })

  it('leave `join`, `left` and `full` free as names of sources and streams', () => {
    const { pipeline, diagnostics } = checkSource(
      't.pipe',
      `schema A { id: string, ts: timestamp @event_time }
source join: A from kafka("a")
source left: A from kafka("b")
stream full = join | where id != ""
stream x = left
stream y = join join as l, left as r on l.id == r.id within r between 1m before and 1m after l
sink full -> stdout
sink x -> stdout
sink y -> stdout
`,
    )
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([])
    expect(pipeline!.nodes.find((n) => n.kind === 'Join')).toMatchObject({ left: 'join', right: 'left' })
  })
})
