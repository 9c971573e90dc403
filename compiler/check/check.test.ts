import { describe, expect, it } from 'vitest'
import type { LibType } from '../../stdlib/types.ts'
import { checkSource } from '../frontend.ts'
import type { MapNode, Type } from '../ir/types.ts'
import { suggest } from './suggest.ts'

// stdlib speaks a structural copy of the IR's Type; these assignments stop compiling if they drift.
const toLib = (t: Type): LibType => t
const toIr = (t: LibType): Type => t

const HEADER = `schema S { s: string, o: string?, n: i64, f: f64, b: bool?, xs: list<i64>, r: { a: i64 }?, ts: timestamp @event_time }
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

const i64: Type = { kind: 'i64' }
const f64: Type = { kind: 'f64' }
const opt = (of: Type): Type => ({ kind: 'optional', of })

describe('expression typing', () => {
  it('promotes, propagates null and keeps integer arithmetic integral', () => {
    expect(typeOf('n + 1')).toEqual(i64)
    expect(typeOf('n + f')).toEqual(f64)
    expect(typeOf('s + o')).toEqual(opt({ kind: 'string' }))
    expect(typeOf('ts - ts')).toEqual({ kind: 'duration' })
    expect(typeOf('ts + 5s * 2')).toEqual({ kind: 'timestamp' })
    expect(typeOf('r.a')).toEqual(opt(i64))
    expect(typeOf('xs[0]')).toEqual(opt(i64))
    expect(typeOf('o ?? "x"')).toEqual({ kind: 'string' })
    expect(typeOf('if n > 1 then n else null')).toEqual(opt(i64))
    expect(typeOf('if b then 1 else 2.5')).toEqual(f64)
    expect(typeOf('b and true')).toEqual(opt({ kind: 'bool' }))
    expect(typeOf('o is null')).toEqual({ kind: 'bool' })
    expect(typeOf('upper(o)')).toEqual(opt({ kind: 'string' }))
    expect(typeOf('coalesce(o, s)')).toEqual({ kind: 'string' })
    expect(typeOf('[n, null]')).toEqual({ kind: 'list', of: opt(i64) })
  })

  it('reports one error per mistake, not a cascade', () => {
    expect(typeOf('nope + 1 + 2')).toEqual(['E0203'])
    expect(typeOf('upper(nope) + s')).toEqual(['E0203'])
    expect(typeOf('s + 1')).toEqual(['E0301'])
    expect(typeOf('n / 0')).toEqual(['E0309'])
    expect(typeOf('f / 0')).toEqual(f64)
  })

  it('lowers literals with their values (durations in milliseconds)', () => {
    const { pipeline } = checkSource(
      't.pipe',
      `${HEADER}stream x = src | where ts > ts - 2m | where s != "a\\n"\nsink x -> stdout\n`,
    )
    const filters = pipeline!.nodes.filter((n) => n.kind === 'Filter')
    expect(filters[0]).toMatchObject({ predicate: { right: { right: { kind: 'Literal', value: 120_000 } } } })
    expect(filters[1]).toMatchObject({ predicate: { right: { kind: 'Literal', value: 'a\n' } } })
  })

  it('marks the event time of a select output only on a bare column of the input event time', () => {
    const { pipeline } = checkSource(
      't.pipe',
      `${HEADER}stream x = src | select { t2: ts + 1s, at: ts, again: ts } | select { at }\nsink x -> stdout\n`,
    )
    const maps = pipeline!.nodes.filter((n): n is MapNode => n.kind === 'Map')
    expect(maps[0]!.schema.fields.map((f) => f.eventTime ?? false)).toEqual([false, true, false])
    expect(maps[1]!.schema.fields[0]!.eventTime).toBe(true)
  })
})

describe('suggest', () => {
  it('finds close names, including transpositions and case, and nothing far away', () => {
    expect(suggest('amout', ['id', 'amount'])).toBe('amount')
    expect(suggest('kafak', ['kafka', 'stdout'])).toBe('kafka')
    expect(suggest('PAYMENT', ['Payment'])).toBe('Payment')
    expect(suggest('xyz', ['amount'])).toBe(null)
    expect(toIr(toLib(i64))).toBe(i64)
  })
})
