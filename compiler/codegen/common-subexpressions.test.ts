/**
 * Issue 17 (a fast CLI): an expression repeated in a step's output fields is computed once when
 * that cannot change a result or an error; the values are the interpreter's.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { compileExpr } from '../ir/interpret.ts'
import { compileAndLoad, removeLoadedModules } from './load-generated.ts'

afterAll(removeLoadedModules)

const PIPE = `schema E { name: string, x: f64, y: f64?, n: i64 }
source e: E from kafka("e")
stream s = e | select {
  a: upper(name) + "!", b: upper(name),
  c: x * 2.0 + 1.0, d: if x * 2.0 > 3.0 then x * 2.0 else 0.0,
  e: n + 1, f: n + 1,
  g: (y ?? 1.0) / 2.0, h: (y ?? 1.0) / 2.0,
  i: sqrt(x), j: sqrt(x)
}
sink s -> kafka("out")
`

const count = (text: string, part: string) => text.split(part).length - 1

describe('common subexpressions of a select', () => {
  it('are computed once when they cannot fail; checked arithmetic and failing calls are not shared', async () => {
    const { typescript } = await compileAndLoad(PIPE)
    const chain = typescript.slice(typescript.indexOf('function chain0'))
    expect(count(chain, 'fn_upper(')).toBe(1)
    expect(count(chain, 'r0.x * 2')).toBe(1)
    expect(count(chain, 'r0.y')).toBe(1)
    // May overflow, may fail (sqrt of a negative): each evaluated where it was written.
    expect(count(chain, 'checkI64(r0.n + 1')).toBe(2)
    expect(count(chain, 'fn_sqrt(')).toBe(2)
  })

  it('give the values the interpreter gives', async () => {
    const { operators, pipeline } = await compileAndLoad(PIPE)
    const chain = pipeline.nodes.find((n) => n.kind === 'Fused')!
    const rows = [
      { name: 'ab', x: 1, y: null, n: 1 },
      { name: 'é', x: 2.5, y: 4, n: -7 },
      { name: '', x: 0, y: -3, n: 0 },
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
    expect(errors).toEqual([])
    const map = chain.kind === 'Fused' ? chain.steps[0]! : null
    if (map?.kind !== 'Map') throw new Error('expected a Map step')
    const expected = rows.map((row) =>
      Object.fromEntries(map.fields.map((f) => [f.name, compileExpr(f.value, stdlib)(row)])),
    )
    expect(output.values.slice(0, output.length)).toEqual(expected)
  })
})

describe('common subexpressions of long arithmetic chains (issue 17)', () => {
  const f64Chain = ['x', ...Array(40).fill('2.0')].join(' * ')
  const i64Chain = ['n', ...Array(40).fill('abs(n)')].join(' - ')
  const LONG = `schema E { name: string, x: f64, n: i64 }
source e: E from kafka("e")
stream s = e | select { a: ${f64Chain}, b: ${f64Chain} + 1.0, c: ${i64Chain}, d: ${i64Chain}, e: abs(n) }
sink s -> kafka("out")
`

  it('share an f64 chain and the shareable terms of any chain, never a checked one', async () => {
    const { typescript, operators, pipeline } = await compileAndLoad(LONG)
    const chain = typescript.slice(typescript.indexOf('function chain0'))
    // The f64 chain once (its 40 steps), abs(n) once; the i64 chain's 40 checked steps per field.
    expect(count(chain, '* 2)')).toBe(40)
    expect(count(chain, 'fn_abs(')).toBe(1)
    expect(count(chain, 'checkI64(')).toBe(80)
    const fused = pipeline.nodes.find((n) => n.kind === 'Fused')!
    const map = fused.kind === 'Fused' ? fused.steps[0]! : null
    if (map?.kind !== 'Map') throw new Error('expected a Map step')
    const rows = [
      { name: 'a', x: 1.5, n: 3 },
      { name: 'b', x: -0.25, n: -2 },
    ]
    const output = { values: [] as unknown[], keys: [], timestamps: [], origins: [], length: 0 }
    const errors: unknown[] = []
    operators.chains[fused.id]!(
      { values: rows, keys: [null, null], timestamps: [0, 0], origins: [0, 1], length: 2 },
      output,
      errors as never,
    )
    expect(errors).toEqual([])
    expect(output.values).toEqual(
      rows.map((row) =>
        Object.fromEntries(map.fields.map((f) => [f.name, compileExpr(f.value, stdlib)(row)])),
      ),
    )
    expect((output.values[0] as { c: number }).c).toBe(3 - 40 * 3)
  })
})
