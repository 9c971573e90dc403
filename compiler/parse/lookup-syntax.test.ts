import { describe, expect, it } from 'vitest'
import type { LookupStep, TableDecl } from './ast.ts'
import { parse } from './parser.ts'
import { printFile } from './print.ts'

function parsed(text: string) {
  const result = parse('t.pipe', text)
  expect(result.diagnostics).toEqual([])
  return result.ast
}

function lookupOf(step: string): LookupStep {
  const ast = parsed(`stream s = x | ${step}`)
  const stream = ast.statements[0]!
  if (stream.kind !== 'Stream' || stream.steps[0]?.kind !== 'Lookup') throw new Error('not a lookup')
  return stream.steps[0]
}

describe('tables and lookups, as written', () => {
  it('parses a table statement; `table` is a word only where a statement starts', () => {
    const ast = parsed(
      'schema A { table: string, id: i64 }\ntable accounts: A from kafka("accounts") key by id * 2\nstream s = x | select { table }\nsink s -> stdout\ntable t: A from kafka("t") key by table',
    )
    const tables = ast.statements.filter((s): s is TableDecl => s.kind === 'Table')
    expect(tables.map((t) => [t.name.name, t.schema.name, t.key.kind])).toEqual([
      ['accounts', 'A', 'Binary'],
      ['t', 'A', 'Name'],
    ])
  })

  it('ends the key at `or null`, which makes the lookup a left one', () => {
    expect(lookupOf('lookup t as a on k')).toMatchObject({ orNull: false, key: { kind: 'Name', name: 'k' } })
    expect(lookupOf('lookup t as a on k or null')).toMatchObject({ orNull: true, key: { kind: 'Name' } })
    expect(lookupOf('lookup t as a on x or y or null')).toMatchObject({
      orNull: true,
      key: { kind: 'Binary', op: 'or' },
    })
    expect(lookupOf('lookup t as a on (k or null)')).toMatchObject({
      orNull: false,
      key: { kind: 'Binary', op: 'or', right: { kind: 'NullLiteral' } },
    })
    expect(lookupOf('lookup t as a on lower(k) or null').key).toMatchObject({ kind: 'Call' })
  })

  it('reads `as of` after the key, which `or null` ends too', () => {
    expect(lookupOf('lookup t as a on k as of ts')).toMatchObject({
      key: { kind: 'Name', name: 'k' },
      asOf: { kind: 'Name', name: 'ts' },
      orNull: false,
    })
    expect(lookupOf('lookup t as a on k as of ts - 5s or null')).toMatchObject({
      asOf: { kind: 'Binary', op: '-' },
      orNull: true,
    })
    expect(lookupOf('lookup t as a on k').asOf).toBeNull()
  })

  it('prints lookups and tables back to text that parses to the same tree', () => {
    const text =
      'table t: A from kafka("t") key by id\n\nstream s = x\n  | lookup t as a on (k ?? "x") or null\n  | lookup t as b on (p or q) as of (if c then t1 else t2) or null\n'
    expect(printFile(parsed(text))).toBe(text)
  })

  it('recovers at the next statement after a broken table statement', () => {
    const result = parse('t.pipe', 'table t: A from kafka("t") by id\ntable u: A from kafka("u") key by id')
    expect(result.diagnostics.map((d) => d.code)).toEqual(['E0101'])
    expect(result.ast.statements.map((s) => s.kind)).toEqual(['Table'])
    expect([...result.incomplete]).toEqual(['t'])
  })
})
