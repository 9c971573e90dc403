import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { expressionArb, pipeFileArb, stripSpans } from './arbitrary.ts'
import type { Expression } from './ast.ts'
import { parse } from './parser.ts'
import { printExpression, printFile } from './print.ts'

function parseExpression(text: string): { expr: Expression | undefined; errors: number } {
  const result = parse('t.pipe', `stream s = x | where ${text}`)
  const stream = result.ast.statements[0]
  const step = stream?.kind === 'Stream' ? stream.steps[0] : undefined
  return {
    expr: step?.kind === 'Where' ? step.predicate : undefined,
    errors: result.diagnostics.length,
  }
}

describe('printer', () => {
  it('round-trips every generated file: parse(print(ast)) equals ast modulo spans', () => {
    fc.assert(
      fc.property(pipeFileArb, (ast) => {
        const text = printFile(ast)
        const reparsed = parse('t.pipe', text)
        expect(reparsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
        expect(stripSpans(reparsed.ast.statements)).toEqual(stripSpans(ast.statements))
      }),
      { numRuns: 400 },
    )
  })

  it('round-trips generated expressions, adding only the parentheses precedence needs', () => {
    fc.assert(
      fc.property(expressionArb, (expr) => {
        const { expr: reparsed, errors } = parseExpression(printExpression(expr))
        expect(errors).toBe(0)
        expect(stripSpans(reparsed)).toEqual(stripSpans(expr))
      }),
      { numRuns: 1000 },
    )
  })

  it('prints minimal parentheses', () => {
    const cases: [string, string][] = [
      ['(a + b) * c', '(a + b) * c'],
      ['a + (b * c)', 'a + b * c'],
      ['a - (b - c)', 'a - (b - c)'],
      ['(a - b) - c', 'a - b - c'],
      ['(a ?? b) ?? c', '(a ?? b) ?? c'],
      ['a ?? (b ?? c)', 'a ?? b ?? c'],
      ['not (a and b)', 'not (a and b)'],
      ['(a < b) == c', '(a < b) == c'],
      ['(a + b) is null', 'a + b is null'],
      ['(if a then b else c) + 1', '(if a then b else c) + 1'],
      ['- (-x)', '- -x'],
      ['(a + b).c', '(a + b).c'],
      ['1.0 + 1e3', '1.0 + 1000.0'],
      ['(x in (1, 2)) == c', '(x in (1, 2)) == c'],
      ['(a + b) not in (1)', 'a + b not in (1)'],
      ['x between (a + 1) and (b * 2)', 'x between a + 1 and b * 2'],
      ['x between (a and b) and c', 'x between (a and b) and c'],
      ['(x between 1 and 2) and y', 'x between 1 and 2 and y'],
      ['not (s like "a%")', 'not s like "a%"'],
      ['s not like (p ?? "%")', 's not like (p ?? "%")'],
      ['case when a then 1 when b then 2 else 3 end + 1', 'case when a then 1 when b then 2 else 3 end + 1'],
      ['case when a then (case) when b then case end', 'case when a then (case) when b then case end'],
      ['case when case then end end', 'case when case then end end'],
    ]
    for (const [input, printed] of cases) {
      const { expr, errors } = parseExpression(input)
      expect(errors, input).toBe(0)
      expect(printExpression(expr!), input).toBe(printed)
    }
  })

  it('escapes strings so they read back unchanged', () => {
    const { expr } = parseExpression('"a\\"b\\\\c\\n\\t\\u{1F600}\\u{7}"')
    expect(expr).toMatchObject({ kind: 'StringLiteral', value: 'a"b\\c\n\t😀\u0007' })
    expect(printExpression(expr!)).toBe('"a\\"b\\\\c\\n\\t😀\\u{7}"')
  })
})
