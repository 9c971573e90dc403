import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { compileExpr } from './interpret.ts'
import type { BinaryOp, Expr, Span, Type } from './types.ts'

// `in` and `between` mean what SQL's rewrites of them mean, in three-valued logic: the
// interpreter's InExpr and BetweenExpr against the `or`/`and` of comparisons they stand for.

const span: Span = { file: 'test.pipe', start: 0, end: 0 }
const BOOL: Type = { kind: 'optional', of: { kind: 'bool' } }
const I64: Type = { kind: 'optional', of: { kind: 'i64' } }
const col = (name: string): Expr => ({ kind: 'Column', name, type: I64, span })
const bin = (op: BinaryOp, left: Expr, right: Expr): Expr => ({
  kind: 'Binary',
  op,
  left,
  right,
  type: BOOL,
  span,
})

const valueArb = fc.option(fc.integer({ min: -3, max: 3 }), { nil: null })

describe('in and between in the reference interpreter (issue 17)', () => {
  it('x in (a, b, c) is x == a or x == b or x == c', () => {
    const names = ['a', 'b', 'c']
    const inExpr = compileExpr(
      { kind: 'In', operand: col('x'), items: names.map(col), type: BOOL, span },
      stdlib,
    )
    const rewrite = compileExpr(
      names.map((n) => bin('==', col('x'), col(n))).reduce((l, r) => bin('or', l, r)),
      stdlib,
    )
    fc.assert(
      fc.property(fc.record({ x: valueArb, a: valueArb, b: valueArb, c: valueArb }), (row) => {
        expect(inExpr(row)).toBe(rewrite(row))
      }),
    )
  })

  it('x between lo and hi is lo <= x and x <= hi', () => {
    const between = compileExpr(
      { kind: 'Between', operand: col('x'), low: col('lo'), high: col('hi'), type: BOOL, span },
      stdlib,
    )
    const rewrite = compileExpr(
      bin('and', bin('<=', col('lo'), col('x')), bin('<=', col('x'), col('hi'))),
      stdlib,
    )
    fc.assert(
      fc.property(fc.record({ x: valueArb, lo: valueArb, hi: valueArb }), (row) => {
        expect(between(row)).toBe(rewrite(row))
      }),
    )
  })
})
