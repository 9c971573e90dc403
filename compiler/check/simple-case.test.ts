import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { checkSource } from '../frontend.ts'
import { compileExpr, createInterpreter } from '../ir/interpret.ts'
import type { BinaryOp, Expr, MapNode, Span, Type } from '../ir/types.ts'
import { parse } from '../parse/parser.ts'
import { printExpression } from '../parse/print.ts'

const HEADER = `schema S { s: string, o: string?, n: i64, f: f64, b: bool?, case: i64, when: i64 }
source src: S from kafka("t")
`

function check(expr: string) {
  return checkSource('t.pipe', `${HEADER}stream x = src | select { v: ${expr} }\nsink x -> stdout\n`)
}

/** The type of `select { v: <expr> }` over S, or the error codes. */
function typeOf(expr: string): Type | string[] {
  const { pipeline, diagnostics } = check(expr)
  if (!pipeline) return diagnostics.map((d) => d.code)
  return (pipeline.nodes.find((n) => n.kind === 'Map') as MapNode).schema.fields[0]!.type
}

function whereExpression(text: string) {
  const result = parse('t.pipe', `stream s = x | where ${text}`)
  const stream = result.ast.statements[0]
  const step = stream?.kind === 'Stream' ? stream.steps[0] : undefined
  return { expr: step?.kind === 'Where' ? step.predicate : undefined, errors: result.diagnostics }
}

const opt = (of: Type): Type => ({ kind: 'optional', of })

describe('the simple case `case x when v then … end` (issue 17)', () => {
  it('parses an operand, and leaves `case` a name where no `when` follows one', () => {
    expect(whereExpression('case n when 1 then true end').expr).toMatchObject({
      kind: 'Case',
      operand: { kind: 'Name', name: 'n' },
      branches: [{ condition: { kind: 'IntLiteral', value: 1 } }],
    })
    expect(whereExpression('case (a + 1) * 2 when 4 then true end').expr).toMatchObject({
      kind: 'Case',
      operand: { kind: 'Binary', op: '*' },
    })
    // A field named `case`: subtraction, indexing, `in` and a call read it as a name.
    expect(whereExpression('case - 1 > 0').expr).toMatchObject({ kind: 'Binary', op: '>' })
    expect(whereExpression('case in (1, 2)').expr).toMatchObject({ kind: 'In', operand: { name: 'case' } })
    expect(whereExpression('case == when').expr).toMatchObject({ kind: 'Binary', op: '==' })
    expect(whereExpression('case when b then true end').expr).toMatchObject({ kind: 'Case', operand: null })
  })

  it('prints an operand the parser could read another way in parentheses', () => {
    for (const text of [
      'case (case) when 1 then 2 end',
      'case (when) when 1 then 2 end',
      'case (-1) when 1 then 2 end',
      'case (a.b) when 1 then 2 end',
      'case (case x when 1 then case end) when 1 then 2 end',
    ]) {
      const { expr, errors } = whereExpression(text)
      expect(errors).toEqual([])
      expect(printExpression(expr!)).toBe(text)
    }
    expect(printExpression(whereExpression('case x when 1 then 2 end').expr!)).toBe(
      'case x when 1 then 2 end',
    )
  })

  it('types like the searched case: the results unify, optional without else', () => {
    expect(typeOf('case n when 1 then "a" when 2 then "b" else "c" end')).toEqual({ kind: 'string' })
    expect(typeOf('case n when 1 then 1 when 2 then 2.5 end')).toEqual(opt({ kind: 'f64' }))
    expect(typeOf('case o when s then 1 else 0 end')).toEqual({ kind: 'i64' })
    expect(typeOf('case n when 1.5 then true else false end')).toEqual({ kind: 'bool' })
    expect(typeOf('case (case) when when then 1 else 0 end')).toEqual({ kind: 'i64' })
  })

  it('refuses values of another type, null, and operands that are not scalars', () => {
    expect(typeOf('case n when "1" then 1 end')).toEqual(['E0301'])
    expect(typeOf('case s when null then 1 end')).toEqual(['E0311'])
    expect(typeOf('case null when 1 then 1 end')).toEqual(['E0311'])
    expect(typeOf('case ([n]) when [1] then 1 end')).toEqual(['E0301'])
    expect(typeOf('case n when 1 then 1 when 2 then "x" end')).toEqual(['E0307'])
  })

  it('evaluates the operand once, compares in order, and never matches a null', () => {
    const { pipeline, diagnostics } = checkSource(
      't.pipe',
      `schema E { x: i64?, w: i64?, d: i64 }
source e: E from kafka("in")
stream out = e | select { r: case x when w then "w" when 100 / d then "q" when 1 then "one" else "none" end }
sink out -> stdout
`,
    )
    expect(diagnostics).toEqual([])
    const run = (events: Record<string, unknown>[]) => {
      const out: string[] = []
      let dead = 0
      const interpreter = createInterpreter(pipeline!, {
        onSink: (o) => out.push((o.value as { r: string }).r),
        onError: () => {
          dead++
        },
      })
      for (const value of events) interpreter.push('e', { value, key: null, timestamp: 0 })
      return { out, dead }
    }
    expect(
      run([
        { x: 5, w: 5, d: 0 }, // matched before the division by zero is reached
        { x: null, w: null, d: 1 }, // null never equals null
        { x: 100, w: null, d: 1 },
        { x: 1, w: 2, d: 3 },
        { x: 7, w: 8, d: 9 },
      ]),
    ).toEqual({ out: ['w', 'none', 'q', 'one', 'none'], dead: 0 })
    expect(run([{ x: 1, w: 2, d: 0 }]).dead).toBe(1)
  })

  it('is, in the interpreter, the searched case of `x == w` conditions when x has no effects', () => {
    const span: Span = { file: 't.pipe', start: 0, end: 0 }
    const I64: Type = { kind: 'optional', of: { kind: 'i64' } }
    const col = (name: string): Expr => ({ kind: 'Column', name, type: I64, span })
    const lit = (value: string | null): Expr => ({
      kind: 'Literal',
      value,
      type: opt({ kind: 'string' }),
      span,
    })
    const eq = (left: Expr, right: Expr): Expr => ({
      kind: 'Binary',
      op: '==' as BinaryOp,
      left,
      right,
      type: opt({ kind: 'bool' }),
      span,
    })
    const names = ['a', 'b', 'c']
    const simple = compileExpr(
      {
        kind: 'SimpleCase',
        operand: col('x'),
        branches: names.map((n) => ({ match: col(n), result: lit(n) })),
        otherwise: lit(null),
        type: opt({ kind: 'string' }),
        span,
      },
      stdlib,
    )
    const searched = compileExpr(
      names.reduceRight<Expr>(
        (otherwise, n) => ({
          kind: 'Conditional',
          condition: eq(col('x'), col(n)),
          whenTrue: lit(n),
          whenFalse: otherwise,
          type: opt({ kind: 'string' }),
          span,
        }),
        lit(null),
      ),
      stdlib,
    )
    const valueArb = fc.option(fc.integer({ min: -2, max: 2 }), { nil: null })
    fc.assert(
      fc.property(fc.record({ x: valueArb, a: valueArb, b: valueArb, c: valueArb }), (row) => {
        expect(simple(row)).toBe(searched(row))
      }),
    )
  })
})
