/**
 * Issue 17 (a fast CLI): no overflow or division check where none can happen, and the results
 * those checks would have given everywhere else.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { compileExpr } from '../ir/interpret.ts'
import { compileAndLoad, removeLoadedModules } from './load-generated.ts'

afterAll(removeLoadedModules)

const PIPE = `schema E { id: string, n: i64, tags: list<string>? }
source e: E from kafka("e")
stream s = e | select {
  rem: n % 7, neg_rem: n % -3, quot: n / 3, size: len(id) + 1, total: len(id) - len(tags),
  big: n + 1, div: n / n, near: len(id) + 4503599627370496
}
sink s -> kafka("out")
`

describe('integer operations that cannot overflow', () => {
  it('compile to plain arithmetic, and the rest keep their checks', async () => {
    const { typescript } = await compileAndLoad(PIPE)
    const field = (name: string) => new RegExp(`const r\\d_${name} = (.*)`).exec(typescript)?.[1]
    expect(field('rem')).toBe('(r0.n % 7)')
    expect(field('neg_rem')).toBe('(r0.n % (-3))')
    expect(field('quot')).toBe('Math.trunc(r0.n / 3)')
    // len(id), used three times, is computed once (common-subexpressions.ts).
    expect(field('c0')).toBe('r0.id.length')
    expect(field('size')).toBe('(r1_c0 + 1)')
    expect(field('total')).toContain('r1_c0 - ')
    expect(field('total')).not.toMatch(/checkI64|fn_len/)
    // n may be anything up to 2^53-1; n / n may divide by zero; 2^52 is not below 2^52.
    expect(field('big')).toMatch(/^checkI64\(/)
    expect(field('div')).toMatch(/^idiv\(/)
    expect(field('near')).toMatch(/^checkI64\(/)
  })

  it('give what the interpreter gives', async () => {
    const { operators, pipeline } = await compileAndLoad(PIPE)
    const chain = pipeline.nodes.find((n) => n.kind === 'Fused')!
    const rows = [
      { id: 'abc', n: -20, tags: ['x'] },
      { id: '', n: 9_007_199_254_740_991, tags: null },
      { id: 'é😀', n: -9_007_199_254_740_991, tags: [] },
    ]
    const output = { values: [] as unknown[], keys: [], timestamps: [], origins: [], length: 0 }
    const errors: unknown[] = []
    operators.chains[chain.id]!(
      {
        values: rows,
        keys: rows.map(() => null),
        timestamps: rows.map(() => 0),
        origins: [0, 1, 2],
        length: 3,
      },
      output,
      errors as never,
    )
    expect(errors.length).toBe(1) // n + 1 overflows at 2^53-1
    const map = chain.kind === 'Fused' ? chain.steps[0]! : null
    if (map?.kind !== 'Map') throw new Error('expected a Map step')
    const expected = [rows[0]!, rows[2]!].map((row) =>
      Object.fromEntries(map.fields.map((f) => [f.name, compileExpr(f.value, stdlib)(row)])),
    )
    expect(output.values.slice(0, output.length)).toEqual(expected)
  })
})
