/**
 * Issue 17: a `to_json` of a value JSON cannot hold (a NaN or Infinity) failed with a reason that
 * did not name the field. (A timestamp outside a Date's range cannot reach it: decoding and
 * timestamp arithmetic refuse one first.) It names the path now, as a
 * sink's encoder does (encode-reasons.test.ts), in the generated code and the reference
 * interpreter alike.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { createInterpreter } from '../ir/interpret.ts'
import { compileAndLoad, removeLoadedModules } from './load-generated.ts'

function pipe(argument: string): string {
  return `schema E { id: string, x: f64, z: f64, t: timestamp }
source e: E from kafka("in")
stream s = e | select { id, r: to_json(${argument}) }
sink s -> stdout
`
}

/** x = 1, z = 0: `z / z` is NaN, `x / z` Infinity; t the last time a Date holds. */
const EVENT = { id: 'a', x: 1, z: 0, t: 8.64e15 }

type Outcome = { value: unknown } | { error: string }

/** `to_json(argument)` of EVENT through the generated code and the reference interpreter. */
async function bothPaths(argument: string): Promise<{ generated: Outcome; interpreted: Outcome }> {
  const { operators, pipeline } = await compileAndLoad(pipe(argument))
  const input = { values: [EVENT], keys: [null], timestamps: [0], origins: [0], length: 1 }
  const output = { values: [] as unknown[], keys: [], timestamps: [], origins: [], length: 0 }
  const errors: { index: number; error: unknown; site: number }[] = []
  for (const chain of Object.values(operators.chains)) chain(input, output, errors)
  const generated: Outcome =
    errors.length > 0
      ? { error: (errors[0]!.error as Error).message }
      : { value: (output.values[0] as { r: unknown }).r }
  let interpreted: Outcome = { error: 'no output' }
  createInterpreter(pipeline, {
    functions: stdlib,
    onSink: ({ value }) => {
      interpreted = { value: (value as { r: unknown }).r }
    },
    onError: ({ error }) => {
      interpreted = { error: error.message }
    },
  }).push('e', { value: EVENT, key: null, timestamp: 0 })
  return { generated, interpreted }
}

afterAll(removeLoadedModules)

const NAN =
  'NaN is not a finite number: JSON has no NaN or Infinity; make the field optional (f64?) to write null'

describe('to_json of a value JSON cannot hold', () => {
  it('names the path of the value refused, on both paths: field, list item, map key', async () => {
    const cases: [string, string][] = [
      ['{ a: 1, inner: { ok: "y", r: z / z } }', `to_json: inner.r: ${NAN}`],
      [
        '[1.0, x / z]',
        'to_json: [1]: Infinity is not a finite number: JSON has no NaN or Infinity; make the field optional (f64?) to write null',
      ],
      ['{ "b": z / z, "a": 1.0 }', `to_json: ["b"]: ${NAN}`],
      ['z / z', `to_json: ${NAN}`],
    ]
    for (const [argument, reason] of cases) {
      const { generated, interpreted } = await bothPaths(argument)
      expect(generated).toEqual({ error: reason })
      expect(interpreted).toEqual(generated)
    }
  })

  it('names the first value refused, in the order it writes them (map keys sorted)', async () => {
    const { generated, interpreted } = await bothPaths('{ "b": [z / z], "a": [1.0, x / z] }')
    expect(generated).toEqual({ error: expect.stringMatching(/^to_json: \["a"\]\[1\]: Infinity/) })
    expect(interpreted).toEqual(generated)
  })

  it('writes what it can as before, an optional f64 that is not finite as null', async () => {
    const { generated, interpreted } = await bothPaths(
      '{ a: 1, maybe: if x > 0.0 then x / z else null, at: t, m: { "b": 2, "a": 1 } }',
    )
    expect(generated).toEqual({
      value: '{"a":1,"maybe":null,"at":"+275760-09-13T00:00:00.000Z","m":{"a":1,"b":2}}',
    })
    expect(interpreted).toEqual(generated)
  })
})
