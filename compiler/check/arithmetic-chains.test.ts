/**
 * Long flat arithmetic chains (issue 17): `a + b - c …` and `a * b / c …` of any length compile,
 * type-check, interpret and run through the generated code, held flat (ArithmeticChainExpr) so no
 * pass recurses once per term. They mean exactly the left-deep chain as written: each step is
 * checked (i64 overflow, division by zero) in that order, null propagates, every operand is
 * evaluated. A brute-force reference here evaluates the chain as written, term by term.
 */
import fc from 'fast-check'
import { Project } from 'ts-morph'
import { afterAll, describe, expect, it } from 'vitest'
import type { EvaluationError } from '../../stdlib/eval-error.ts'
import { stdlib } from '../../stdlib/index.ts'
import { propertyRuns } from '../../test/support/property-runs.ts'
import { GENERATED_FILE } from '../codegen/generate.ts'
import { compileAndLoad, removeLoadedModules } from '../codegen/load-generated.ts'
import { checkSource } from '../frontend.ts'
import { createInterpreter } from '../ir/interpret.ts'
import type { Expr } from '../ir/types.ts'
import { stripSpans } from '../parse/arbitrary.ts'
import { LONG_LOGICAL_CHAIN, parse } from '../parse/parser.ts'
import { printFile } from '../parse/print.ts'

const SCHEMA = `schema E { id: string, big: i64, one: i64, neg: i64, zero: i64, two: i64, seven: i64, u: i64?, f: f64, g: f64, t: timestamp, far: i64 }
source e: E from kafka("in")
`
const EVENT = {
  id: 'x',
  big: 2 ** 53 - 1,
  one: 1,
  neg: -1,
  zero: 0,
  two: 2,
  seven: 7,
  u: null,
  f: 1e16,
  g: 1,
  t: 0,
  far: 8.64e15,
}

/** The i64 terms and their values; `e` fails when evaluated (a division by a zero field). */
const TERMS = {
  big: 2 ** 53 - 1,
  one: 1,
  neg: -1,
  zero: 0,
  two: 2,
  seven: 7,
  u: null,
  e: 'fail',
} as const
type TermName = keyof typeof TERMS
const TERM_CODE: Record<TermName, string> = {
  big: 'big',
  one: 'one',
  neg: 'neg',
  zero: 'zero',
  two: 'two',
  seven: 'seven',
  u: 'u',
  e: '(one / zero)',
}

function spec(expr: string): string {
  return `${SCHEMA}stream s = e | select { id, r: ${expr} }
sink s -> stdout
`
}

type Outcome = { value: unknown } | { error: string }

/** `r` for EVENT by the reference interpreter, and its IR. */
function interpret(expr: string): { outcome: Outcome; ir: Expr } {
  const { pipeline, diagnostics } = checkSource('chain.pipe', spec(expr))
  if (pipeline === null) throw new Error(diagnostics.map((d) => d.message).join('\n'))
  let outcome: Outcome | null = null
  const interpreter = createInterpreter(pipeline, {
    functions: stdlib,
    onSink: ({ value }) => {
      outcome = { value: (value as { r: unknown }).r }
    },
    onError: ({ error }) => {
      outcome = { error: error.message }
    },
  })
  interpreter.push('e', { value: EVENT, key: null, timestamp: 0 })
  if (outcome === null) throw new Error('no output and no error')
  const select = pipeline.nodes.find((n) => n.kind === 'Map')
  if (select?.kind !== 'Map') throw new Error('no select')
  return { outcome, ir: select.fields[1]!.value }
}

/** `r` for EVENT through the generated code, and the site of its error. */
async function generated(expr: string): Promise<{ value?: unknown; error?: string; at?: Site }> {
  const { operators, sites } = await compileAndLoad(spec(expr))
  const input = { values: [EVENT], keys: [null], timestamps: [0], origins: [0], length: 1 }
  const output = { values: [] as unknown[], keys: [], timestamps: [], origins: [], length: 0 }
  const errors: { index: number; error: unknown; site: number }[] = []
  for (const chain of Object.values(operators.chains)) chain(input, output, errors)
  if (errors.length > 0) {
    // An evaluation error carries the site of the operation that raised it.
    const error = errors[0]!.error as EvaluationError
    return { error: error.message, at: sites[error.site ?? errors[0]!.site] as Site }
  }
  return { value: (output.values[0] as { r: unknown }).r }
}

interface Site {
  readonly file: string
  readonly line: number
  readonly column: number
  readonly endLine: number
  readonly endColumn: number
}

/** The site of the text from `start` up to the end of `end` (first occurrences) in `source`, on one line. */
function at(source: string, start: string, end: string): Site {
  const from = source.indexOf(start)
  const to = source.indexOf(end, from) + end.length
  const lineStart = source.lastIndexOf('\n', from) + 1
  const line = source.slice(0, from).split('\n').length
  return {
    file: 'test.pipe',
    line,
    column: from - lineStart + 1,
    endLine: line,
    endColumn: to - lineStart + 1,
  }
}

type Op = '+' | '-' | '*' | '/' | '%'

class Failure extends Error {}

/** `a op b` on i64 values, checked as specs/language.md §5 says. */
function apply(op: Op, a: number, b: number): number {
  if ((op === '/' || op === '%') && b === 0) throw new Failure('integer division by zero')
  const result =
    op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : op === '/' ? Math.trunc(a / b) : a % b
  if (Math.abs(result) > Number.MAX_SAFE_INTEGER) throw new Failure('i64 overflow')
  return result
}

/** A sum of products: the terms of each product, and the additive operators between the products. */
interface Sum {
  readonly products: readonly { readonly terms: readonly TermName[]; readonly ops: readonly Op[] }[]
  readonly ops: readonly Op[]
}

/** Left to right as written: each product, then the step that adds it in; the first failure wins. */
function reference(sum: Sum): Outcome {
  const term = (name: TermName): number | null => {
    const value = TERMS[name]
    if (value === 'fail') throw new Failure('integer division by zero')
    return value
  }
  const fold = (values: () => Iterable<[Op | null, () => number | null]>): number | null => {
    let acc: number | null = null
    for (const [op, next] of values()) {
      const value = next()
      acc = op === null ? value : acc === null || value === null ? null : apply(op, acc, value)
    }
    return acc
  }
  try {
    const value = fold(function* () {
      for (const [i, product] of sum.products.entries())
        yield [
          i === 0 ? null : sum.ops[i - 1]!,
          () =>
            fold(function* () {
              for (const [j, name] of product.terms.entries())
                yield [j === 0 ? null : product.ops[j - 1]!, () => term(name)]
            }),
        ]
    })
    return { value }
  } catch (error) {
    if (error instanceof Failure) return { error: error.message }
    throw error
  }
}

function text(sum: Sum): string {
  return sum.products
    .map((p, i) => {
      const product = p.terms.map((t, j) => (j === 0 ? '' : ` ${p.ops[j - 1]} `) + TERM_CODE[t]).join('')
      return (i === 0 ? '' : ` ${sum.ops[i - 1]} `) + product
    })
    .join('')
}

/** The same chain with every step in parentheses, so the parser builds the left-deep tree. */
function leftDeep(sum: Sum): string {
  const group = (parts: readonly string[], ops: readonly Op[]) =>
    parts.slice(1).reduce((acc, part, i) => `(${acc} ${ops[i]} ${part})`, parts[0]!)
  return group(
    sum.products.map(
      (p) =>
        `(${group(
          p.terms.map((t) => TERM_CODE[t]),
          p.ops,
        )})`,
    ),
    sum.ops,
  )
}

function depth(e: Expr): number {
  if (e.kind === 'Binary') return 1 + Math.max(depth(e.left), depth(e.right))
  if (e.kind === 'ArithmeticChain')
    return 1 + Math.max(depth(e.first), ...e.steps.map((s) => depth(s.operand)))
  return 1
}

const termArb = fc.constantFrom<TermName>(
  'big',
  'one',
  'neg',
  'zero',
  'two',
  'seven',
  'seven',
  'one',
  'u',
  'e',
)
const additive = fc.constantFrom<Op>('+', '-')
const multiplicative = fc.constantFrom<Op>('*', '*', '/', '%')

function productArb(maxTerms: number): fc.Arbitrary<Sum['products'][number]> {
  return fc.integer({ min: 1, max: maxTerms }).chain((n) =>
    fc.record({
      terms: fc.array(termArb, { minLength: n, maxLength: n }),
      ops: fc.array(multiplicative, { minLength: n - 1, maxLength: n - 1 }),
    }),
  )
}

/** Sums of 1 to 90 products of 1 to 40 factors: short chains (left-deep trees) and long ones (flat). */
const sumArb: fc.Arbitrary<Sum> = fc
  .tuple(fc.integer({ min: 1, max: 90 }), fc.constantFrom(3, 40))
  .chain(([n, factors]) =>
    fc.record({
      products: fc.array(productArb(factors), { minLength: n, maxLength: n }),
      ops: fc.array(additive, { minLength: n - 1, maxLength: n - 1 }),
    }),
  )

afterAll(removeLoadedModules)

describe('long arithmetic chains', () => {
  it('mean the chain as written, by the reference interpreter: the same as the left-deep tree', () => {
    fc.assert(
      fc.property(sumArb, (sum) => {
        const { outcome } = interpret(text(sum))
        expect(outcome).toEqual(reference(sum))
        if (sum.products.length < 200) expect(interpret(leftDeep(sum)).outcome).toEqual(outcome)
      }),
      { seed: 17, ...propertyRuns(150) },
    )
  })

  it('run the same through the generated code', async () => {
    await fc.assert(
      fc.asyncProperty(sumArb, async (sum) => {
        const { at: _, ...outcome } = await generated(text(sum))
        expect(outcome).toEqual(reference(sum))
      }),
      { seed: 17, ...propertyRuns(12) },
    )
  })

  it('compile and run 2,000 and 10,000 terms with mixed + and -, nested one level', async () => {
    for (const length of [2000, 10_000]) {
      // big − 1 + 1 − 1 … stays in range; with the first − and + swapped, one step overflows
      // (big + 1), though the chain ends in range again.
      const terms: TermName[] = Array.from({ length }, (_, i) => (i === 0 ? 'big' : 'one'))
      const ops: Op[] = Array.from({ length: length - 1 }, (_, i) => (i % 2 === 0 ? '-' : '+'))
      const sum: Sum = { products: terms.map((t) => ({ terms: [t], ops: [] })), ops }
      const expected = reference(sum)
      expect(expected).toEqual({ value: 2 ** 53 - 1 - (((length - 1) % 2) as number) })
      const { outcome, ir } = interpret(text(sum))
      expect(outcome).toEqual(expected)
      expect(ir.kind).toBe('ArithmeticChain')
      expect(depth(ir)).toBe(2)
      expect(await generated(text(sum))).toEqual(expected)

      const swapped: Sum = { ...sum, ops: ['+', '-', ...ops.slice(2)] }
      expect(reference(swapped)).toEqual({ error: 'i64 overflow' })
      expect(interpret(text(swapped)).outcome).toEqual({ error: 'i64 overflow' })
      const failed = await generated(text(swapped))
      expect(failed.error).toBe('i64 overflow')
      // Located at the failing step, `big + one`: its span runs from the chain's start to its operand.
      expect(failed.at).toEqual(at(spec(text(swapped)), 'big + one', 'big + one'))
    }
  })

  it('keep * and / above + and -, and null and errors as written, at 10,000 terms', async () => {
    // seven * two / two % seven … products, summed and subtracted; a null product half way.
    const products = Array.from({ length: 2500 }, (_, i) => ({
      terms: (i === 1250 ? ['seven', 'u', 'two'] : ['seven', 'two', 'two', 'seven']) as TermName[],
      ops: (i === 1250 ? ['*', '/'] : ['*', '/', '%']) as Op[],
    }))
    const sum: Sum = { products, ops: Array.from({ length: 2499 }, (_, i) => (i % 3 === 0 ? '-' : '+')) }
    expect(reference(sum)).toEqual({ value: null })
    expect(interpret(text(sum)).outcome).toEqual({ value: null })
    expect(await generated(text(sum))).toEqual({ value: null })
    // Without the null, 7 * 2 / 2 % 7 is 0 for every product.
    const nonNull: Sum = { ...sum, products: products.map((p, i) => (i === 1250 ? products[0]! : p)) }
    expect(reference(nonNull)).toEqual({ value: 0 })
    expect(interpret(text(nonNull)).outcome).toEqual({ value: 0 })
    expect(await generated(text(nonNull))).toEqual({ value: 0 })
    // An error in the operand after a null is still raised: every operand is evaluated.
    const late: Sum = {
      ...sum,
      products: products.map((p, i) => (i === 2000 ? { terms: ['e'] as TermName[], ops: [] } : p)),
    }
    expect(reference(late)).toEqual({ error: 'integer division by zero' })
    expect(interpret(text(late)).outcome).toEqual({ error: 'integer division by zero' })
    expect((await generated(text(late))).error).toBe('integer division by zero')
  })

  it('a long * chain of 10,000 factors: division by zero at the step where it happens', async () => {
    const terms: TermName[] = Array.from({ length: 10_000 }, (_, i) => (i === 0 ? 'seven' : 'one'))
    const ops: Op[] = Array.from({ length: 9999 }, (_, i) => (i === 7000 ? '%' : i % 2 === 0 ? '*' : '/'))
    const product = { terms, ops }
    expect(interpret(text({ products: [product], ops: [] })).outcome).toEqual({ value: 0 })
    expect(await generated(text({ products: [product], ops: [] }))).toEqual({ value: 0 })
    // ops[5001] is `/`.
    const zero = { terms: terms.map((t, i) => (i === 5002 ? ('zero' as const) : t)), ops }
    expect(interpret(text({ products: [zero], ops: [] })).outcome).toEqual({
      error: 'integer division by zero',
    })
    const failed = await generated(text({ products: [zero], ops: [] }))
    expect(failed.error).toBe('integer division by zero')
    expect(failed.at).toEqual(at(spec(text({ products: [zero], ops: [] })), 'seven * one', '/ zero'))
  })

  it('keep f64 rounding and timestamp checks in the order written', async () => {
    // 1e16 + 1.0 rounds back to 1e16 at every step; the ones summed first would add 2,999.
    const floats = ['f', ...Array(2999).fill('g')].join(' + ')
    expect(interpret(floats).outcome).toEqual({ value: 1e16 })
    expect(await generated(floats)).toEqual({ value: 1e16 })
    // t + 1s … − 1s …: a timestamp stepping outside the range fails there, even if it comes back.
    const inRange = `t ${'+ 1s '.repeat(1000)}${'- 1s '.repeat(1000)}`
    expect(interpret(inRange).outcome).toEqual({ value: 0 })
    expect(await generated(inRange)).toEqual({ value: 0 })
    const outside = `t + to_duration_ms(far) ${'+ 1s '.repeat(40)}${'- 1s '.repeat(40)}`
    const message = /^timestamp arithmetic gave 8640000000001000 ms, outside the range/
    expect(interpret(outside).outcome).toEqual({ error: expect.stringMatching(message) })
    expect((await generated(outside)).error).toMatch(message)
  })

  it('generate strict TypeScript, with optional and required steps', async () => {
    const chains = [
      `${Array(40).fill('one').join(' - ')} + u * two`,
      `u ${'+ one '.repeat(40)}`,
      `big ${'- one '.repeat(20)}${'+ u '.repeat(20)}`,
      `f ${'* g '.repeat(40)}`,
      `t ${'+ 1s '.repeat(40)}`,
    ]
    const { typescript } = await compileAndLoad(spec(`0, ${chains.map((c, i) => `c${i}: ${c}`).join(', ')}`))
    const project = new Project({
      useInMemoryFileSystem: true,
      compilerOptions: { strict: true, noUncheckedIndexedAccess: true, target: 99, lib: ['lib.es2022.d.ts'] },
    })
    project.createSourceFile(GENERATED_FILE, typescript)
    expect(project.getPreEmitDiagnostics().map((d) => d.getMessageText())).toEqual([])
  })

  it('report a type error at the operator where it happens, once', () => {
    const expr = `${Array(40).fill('one').join(' - ')} + "s" - one + one`
    const { diagnostics } = checkSource('mixed.pipe', spec(expr))
    expect(diagnostics.map((d) => d.code)).toEqual(['E0301'])
    expect(diagnostics[0]!.span.start).toBe(spec(expr).indexOf('+ "s"'))
  })

  it('print flat and parse back to the same tree', () => {
    const expr = `${Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 'one * two / seven' : '(two - one)')).join(' - ')} + -one`
    const first = parse('p.pipe', spec(expr))
    expect(first.diagnostics).toEqual([])
    const printed = printFile(first.ast)
    expect(printed).toContain(`r: ${expr} }`)
    expect(stripSpans(parse('p.pipe', printed).ast.statements)).toEqual(stripSpans(first.ast.statements))
    // Up to LONG_LOGICAL_CHAIN terms a chain is the left-deep tree.
    expect(interpret(Array(LONG_LOGICAL_CHAIN).fill('one').join(' - ')).ir.kind).toBe('Binary')
    expect(
      interpret(
        Array(LONG_LOGICAL_CHAIN + 1)
          .fill('one')
          .join(' - '),
      ).ir.kind,
    ).toBe('ArithmeticChain')
  })
})
