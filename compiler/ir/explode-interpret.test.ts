import { describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { checkSource } from '../frontend.ts'
import { optimise } from '../passes/optimise.ts'
import { createInterpreter } from './interpret.ts'
import type { Pipeline } from './types.ts'

const SPEC = `schema S { id: string, xs: list<i64>? }
source src: S from kafka("in")
stream items = src | explode xs as x or null | where (x ?? 1) > 0 | select { id, inverse: 12 / ((x ?? 1) - 1) }
sink items -> stdout
`

function run(pipeline: Pipeline) {
  const outputs: unknown[] = []
  const errors: string[] = []
  const interpreter = createInterpreter(pipeline, {
    functions: stdlib,
    onSink: ({ value }) => void outputs.push(value),
    onError: ({ event, error }) => void errors.push(`${String(event.value.id)}: ${error.message}`),
  })
  for (const value of [
    { id: 'a', xs: [2, 1, 4] },
    { id: 'b', xs: [] },
    { id: 'c', xs: null },
    { id: 'd', xs: [0, 3] },
  ]) {
    interpreter.push('src', { value, key: null, timestamp: 0 })
  }
  return { outputs, errors }
}

describe('explode in the reference interpreter (issue 17)', () => {
  const { pipeline } = checkSource('explode.pipe', SPEC)
  if (pipeline === null) throw new Error('the spec does not check')

  it('emits per item, an outer row for a null or empty list, and fails items one by one', () => {
    expect(run(pipeline)).toEqual({
      outputs: [
        { id: 'a', inverse: 12 },
        { id: 'a', inverse: 4 },
        { id: 'd', inverse: 6 },
      ],
      // b's and c's one outer row has x null: 12 / (1 - 1) fails, once each, as a's item 1 does.
      errors: ['a: integer division by zero', 'b: integer division by zero', 'c: integer division by zero'],
    })
  })

  it('gives the same results when its steps are fused into one chain', () => {
    const fused = optimise(pipeline)
    expect(fused.nodes.some((n) => n.kind === 'Fused' && n.steps.some((s) => s.kind === 'Explode'))).toBe(
      true,
    )
    expect(run(fused)).toEqual(run(pipeline))
  })
})
