/**
 * Long `and`/`or` chains are built balanced (issue 17, defect 17: a flat chain was "nested too
 * deeply"). The shape must not change the meaning: three-valued results, and which terms are
 * evaluated (a term after the deciding one is not, so its error does not fail the event).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { checkSource } from '../frontend.ts'
import { createInterpreter } from '../ir/interpret.ts'
import type { Expr } from '../ir/types.ts'
import { LONG_LOGICAL_CHAIN, MAX_NESTING } from './parser.ts'

/** t true, f false, u null, e an error when evaluated. */
type Atom = 't' | 'f' | 'u' | 'e'
const ATOM_TEXT: Record<Atom, string> = { t: 't', f: 'f', u: 'u', e: '1 / z > 0' }

/** An `or` of terms, each an `and` of atoms. */
type Chain = Atom[][]

function text(chain: Chain): string {
  return chain.map((term) => term.map((atom) => ATOM_TEXT[atom]).join(' and ')).join(' or ')
}

/** Left to right, each term only while the result is undecided, in three-valued logic. */
function reference(chain: Chain): boolean | null | 'error' {
  const atom = (a: Atom): boolean | null => {
    if (a === 'e') throw new Error('error')
    return a === 't' ? true : a === 'f' ? false : null
  }
  try {
    let or: boolean | null = false
    for (const term of chain) {
      if (or === true) break
      let and: boolean | null = true
      for (const a of term) {
        if (and === false) break
        const v = atom(a)
        and = v === false ? false : and === null || v === null ? null : true
      }
      or = and === true ? true : or === null || and === null ? null : false
    }
    return or
  } catch {
    return 'error'
  }
}

function interpret(chain: Chain): { result: boolean | null | 'error'; depth: number } {
  const spec = `schema E { id: string, t: bool, f: bool, u: bool?, z: i64 }
source e: E from kafka("in")
stream s = e | select { id, r: ${text(chain)} }
sink s -> stdout
`
  const { pipeline, diagnostics } = checkSource('chain.pipe', spec)
  if (pipeline === null) throw new Error(diagnostics.map((d) => d.message).join('\n'))
  let result: boolean | null | 'error' = 'error'
  let got = false
  const interpreter = createInterpreter(pipeline, {
    functions: stdlib,
    onSink: ({ value }) => {
      result = (value as { r: boolean | null }).r
      got = true
    },
    onError: () => {
      got = true
    },
  })
  interpreter.push('e', { value: { id: 'x', t: true, f: false, u: null, z: 0 }, key: null, timestamp: 0 })
  if (!got) throw new Error('no output and no error')
  const select = pipeline.nodes.find((n) => n.kind === 'Map')
  if (select?.kind !== 'Map') throw new Error('no select')
  return { result, depth: depthOf(select.fields[1]!.value) }
}

function depthOf(e: Expr): number {
  if (e.kind !== 'Binary') return 1
  return 1 + Math.max(depthOf(e.left), depthOf(e.right))
}

describe('long and/or chains (issue 17, defect 17)', () => {
  it('mean what the chain as written means, balanced or not', () => {
    const atom = fc.constantFrom<Atom>('t', 'f', 'u', 'e')
    const term = fc.oneof(
      fc.array(atom, { minLength: 1, maxLength: 3 }),
      fc.array(atom, { minLength: 30, maxLength: 45 }),
    )
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 80 }), (chain) => {
        expect(interpret(chain).result).toBe(reference(chain))
      }),
      { seed: 17, numRuns: 150 },
    )
  })

  it('nest by the logarithm of their length past the threshold, so any length is accepted', () => {
    const long: Chain = Array.from({ length: 4 * MAX_NESTING }, (_, i) => [i === 3 * MAX_NESTING ? 't' : 'f'])
    const { result, depth } = interpret(long)
    expect(result).toBe(true)
    expect(depth).toBeLessThanOrEqual(Math.ceil(Math.log2(long.length)) + 1)
    const short: Chain = Array.from({ length: LONG_LOGICAL_CHAIN }, () => ['f'])
    expect(interpret(short).depth).toBe(LONG_LOGICAL_CHAIN)
  })
})
