/**
 * Flat chains of `+` and `??` (issue 17): long ones are read as balanced trees where that means
 * the same (string concatenation, `??`), kept as written where it would not (numbers: overflow
 * checks and f64 rounding follow the order written), and a `??` chain gets one W0004, not one per
 * term. The shape must not change results, errors, or which terms are evaluated.
 */
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { compileAndLoad, removeLoadedModules } from '../codegen/load-generated.ts'
import { checkSource } from '../frontend.ts'
import { createInterpreter } from '../ir/interpret.ts'
import type { Expr } from '../ir/types.ts'
import { stripSpans } from '../parse/arbitrary.ts'
import { LONG_LOGICAL_CHAIN, MAX_NESTING, parse } from '../parse/parser.ts'
import { printFile } from '../parse/print.ts'

const SCHEMA = `schema E { id: string, a: string, b: string, u: string?, n: string, z: i64, big: i64, one: i64, neg: i64, zero: i64, f: f64, g: f64 }
source e: E from kafka("in")
`
const EVENT = {
  id: 'x',
  a: 'a',
  b: 'bc',
  u: null,
  n: 'n',
  z: 0,
  big: 2 ** 53 - 1,
  one: 1,
  neg: -1,
  zero: 0,
  f: 1e16,
  g: 1,
}

function spec(expr: string): string {
  return `${SCHEMA}stream s = e | select { id, r: ${expr} }
sink s -> stdout
`
}

type Outcome = { value: unknown } | { error: string }

/** The select's `r` for EVENT by the reference interpreter, and the IR of `r`. */
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

/** The same through the generated code. */
async function generated(expr: string): Promise<Outcome> {
  const { operators } = await compileAndLoad(spec(expr))
  const input = { values: [EVENT], keys: [null], timestamps: [0], origins: [0], length: 1 }
  const output = { values: [] as unknown[], keys: [], timestamps: [], origins: [], length: 0 }
  const errors: { index: number; error: unknown; site: number }[] = []
  for (const chain of Object.values(operators.chains)) chain(input, output, errors)
  if (errors.length > 0) return { error: (errors[0]!.error as Error).message }
  return { value: (output.values[0] as { r: unknown }).r }
}

function depth(e: Expr): number {
  if (e.kind === 'Binary' || e.kind === 'Coalesce') return 1 + Math.max(depth(e.left), depth(e.right))
  if (e.kind === 'ArithmeticChain')
    return 1 + Math.max(depth(e.first), ...e.steps.map((s) => depth(s.operand)))
  return 1
}

/** `((t0 + t1) + t2) …`: the chain as written, grouped by hand so the parser cannot regroup it. */
function leftDeep(terms: readonly string[], op: string): string {
  return terms.slice(1).reduce((acc, t) => `(${acc} ${op} ${t})`, terms[0]!)
}

afterAll(removeLoadedModules)

describe('long string + chains', () => {
  // s a string, u null, e an evaluation error (a negative substr start).
  const STRING_TERMS: Record<string, string> = {
    a: 'a',
    b: 'b',
    lit: '"-"',
    u: 'u',
    e: 'substr(a, z - 1, 1)',
  }
  const term = fc.constantFrom('a', 'b', 'lit', 'u', 'e')

  it('mean what the chain as written means, regrouped or not', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(term, { minLength: 1, maxLength: 10 }),
          fc.array(term, { minLength: 33, maxLength: 90 }),
        ),
        (names) => {
          const terms = names.map((n) => STRING_TERMS[n]!)
          expect(interpret(terms.join(' + ')).outcome).toEqual(interpret(leftDeep(terms, '+')).outcome)
        },
      ),
      { seed: 17, numRuns: 120 },
    )
  })

  it('run the same through the generated code, with the terms evaluated up to the first null', async () => {
    const chains = [
      Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? 'a' : 'b')),
      Array.from({ length: 60 }, (_, i) => (i === 45 ? 'u' : i === 50 ? 'e' : 'a')),
      Array.from({ length: 60 }, (_, i) => (i === 45 ? 'e' : i === 50 ? 'u' : 'a')),
    ]
    for (const names of chains) {
      const terms = names.map((n) => STRING_TERMS[n]!)
      const regrouped = await generated(terms.join(' + '))
      expect(regrouped).toEqual(await generated(leftDeep(terms, '+')))
      expect(regrouped).toEqual(interpret(terms.join(' + ')).outcome)
    }
    expect(await generated(Array(60).fill('b').join(' + '))).toEqual({ value: 'bc'.repeat(60) })
  })

  it('nest by the logarithm of their length, so 2,000 terms compile and run', async () => {
    const terms = Array.from({ length: 2000 }, (_, i) => (i % 2 === 0 ? 'a' : 'b'))
    const { outcome, ir } = interpret(terms.join(' + '))
    expect(outcome).toEqual({ value: 'abc'.repeat(1000) })
    expect(depth(ir)).toBeLessThanOrEqual(Math.ceil(Math.log2(terms.length)) + 1)
    expect(await generated(terms.join(' + '))).toEqual({ value: 'abc'.repeat(1000) })
    expect(depth(interpret(Array(LONG_LOGICAL_CHAIN).fill('a').join(' + ')).ir)).toBe(LONG_LOGICAL_CHAIN)
  })

  it('print flat and parse back to the same tree', () => {
    const text = spec(Array(100).fill('a').join(' + '))
    const first = parse('p.pipe', text)
    const printed = printFile(first.ast)
    expect(printed).toContain(`r: ${Array(100).fill('a').join(' + ')} }`)
    expect(stripSpans(parse('p.pipe', printed).ast.statements)).toEqual(stripSpans(first.ast.statements))
  })
})

describe('long numeric + chains', () => {
  it('keep the order written: an i64 step that overflows fails even if a regrouping would not', async () => {
    // Left to right, big + 0 … + one leaves ±(2^53−1); as (big + 0 …) + (one + neg + 0 …) it would not.
    const terms = Array.from({ length: 40 }, (_, i) =>
      i === 0 ? 'big' : i === 20 ? 'one' : i === 21 ? 'neg' : 'zero',
    )
    const { outcome, ir } = interpret(terms.join(' + '))
    expect(outcome).toEqual({ error: 'i64 overflow' })
    // Flat, one level above its terms (arithmetic-chains.test.ts tests such chains further).
    expect(depth(ir)).toBe(2)
    expect(await generated(terms.join(' + '))).toEqual({ error: 'i64 overflow' })
  })

  it('keep the order written for f64 rounding', async () => {
    // 1e16 + 1.0 rounds back to 1e16 at every step; the ones summed first would add 39.
    const terms = ['f', ...Array(39).fill('g')]
    expect(interpret(terms.join(' + ')).outcome).toEqual({ value: 1e16 })
    expect(await generated(terms.join(' + '))).toEqual({ value: 1e16 })
  })

  it('have no length limit: more than MAX_NESTING terms of +, * or - type-check (they were E0104)', () => {
    for (const op of ['+', '*', '-']) {
      const { diagnostics } = checkSource(
        'long.pipe',
        spec(
          Array(MAX_NESTING + 1)
            .fill('z')
            .join(` ${op} `),
        ),
      )
      expect(diagnostics).toEqual([])
    }
  })

  it('still report a type error at the operator where it happens', () => {
    const terms = [...Array(39).fill('a'), 'z']
    const { diagnostics } = checkSource('mixed.pipe', spec(terms.join(' + ')))
    expect(diagnostics.map((d) => d.code)).toEqual(['E0301'])
    const text = spec(terms.join(' + '))
    expect(diagnostics[0]!.span.start).toBe(text.lastIndexOf('+'))
  })
})

describe('?? chains', () => {
  it('print flat and parse back to the same tree', () => {
    const text = spec(Array(100).fill('u').join(' ?? '))
    const first = parse('p.pipe', text)
    const printed = printFile(first.ast)
    expect(printed).toContain(`r: ${Array(100).fill('u').join(' ?? ')} }`)
    expect(stripSpans(parse('p.pipe', printed).ast.statements)).toEqual(stripSpans(first.ast.statements))
  })

  // u null, a a value, e an evaluation error.
  const COALESCE_TERMS: Record<string, string> = { u: 'u', a: 'a', e: 'substr(a, z - 1, 1)' }

  /** Left to right, each term only while all before it are null. */
  function reference(names: readonly string[]): Outcome {
    for (const name of names) {
      if (name === 'e') return { error: 'substr: -1 is not a valid start (negative)' }
      if (name === 'a') return { value: 'a' }
    }
    return { value: null }
  }

  it('evaluate the terms left to right up to the first non-null one, whatever their length', () => {
    const term = fc.constantFrom('u', 'u', 'u', 'a', 'e')
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(term, { minLength: 2, maxLength: 10 }),
          fc.array(term, { minLength: 33, maxLength: 90 }),
        ),
        (names) => {
          const terms = names.map((n) => COALESCE_TERMS[n]!)
          // The last term non-optional would make the whole chain never null.
          const { outcome, ir } = interpret([...terms, 'u'].join(' ?? '))
          expect(outcome).toEqual(reference([...names, 'u']))
          expect(depth(ir)).toBeLessThanOrEqual(
            Math.max(LONG_LOGICAL_CHAIN, Math.ceil(Math.log2(terms.length + 1)) + 1),
          )
        },
      ),
      { seed: 17, numRuns: 120 },
    )
  })

  it('compile and run with 2,000 terms', async () => {
    const terms = Array.from({ length: 2000 }, (_, i) => (i === 1500 ? 'b' : 'u'))
    expect(await generated(terms.join(' ?? '))).toEqual({ value: 'bc' })
    const args = Array.from({ length: 2000 }, (_, i) => (i === 1700 ? 'a' : 'u'))
    expect(await generated(`coalesce(${args.join(', ')})`)).toEqual({ value: 'a' })
  })

  it('give one W0004 per chain, at the first term that is never null', () => {
    const warnings = (expr: string) =>
      checkSource('w.pipe', spec(expr)).diagnostics.map((d) => ({
        code: d.code,
        at: d.span.start,
        message: d.message,
      }))
    const text = (expr: string) => spec(expr)
    const three = 'u ?? n ?? n ?? n'
    expect(warnings(three)).toEqual([
      {
        code: 'W0004',
        at: text(three).indexOf('n ??'),
        message:
          'this term of the `??` chain is never null (its type is `string`), so the 2 terms after it are never used',
      },
    ])
    const long = Array(40).fill('n').join(' ?? ')
    expect(warnings(long).map((w) => [w.code, w.at])).toEqual([['W0004', text(long).indexOf('r: n') + 3]])
    expect(warnings('n ?? u')).toEqual([
      {
        code: 'W0004',
        at: text('n ?? u').indexOf('n ?? u'),
        message:
          'the left side of `??` is never null (its type is `string`), so the right side is never used',
      },
    ])
    expect(warnings('u ?? u ?? n')).toEqual([])
  })
})
