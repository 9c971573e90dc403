/**
 * The generated functions of a join (join.ts) against the interpreter's: the same join key
 * string for every event of either side (null when a key value is null), the same failures, and
 * the output record `{ <left alias>: left, <right alias>: right }`.
 */
import fc from 'fast-check'
import { Project } from 'ts-morph'
import { afterAll, describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { joinKeyFunction } from '../ir/interpret.ts'
import type { JoinNode } from '../ir/types.ts'
import { GENERATED_FILE } from './generate.ts'
import { type Batch, compileAndLoad, removeLoadedModules } from './load-generated.ts'

interface JoinFunctions {
  leftKeys(
    input: Batch,
    keys: (string | null)[],
    errors: { index: number; error: unknown; site: number }[],
  ): void
  rightKeys(
    input: Batch,
    keys: (string | null)[],
    errors: { index: number; error: unknown; site: number }[],
  ): void
  output(left: unknown, right: unknown, start: number, end: number): unknown
  late(left: unknown, right: unknown): unknown
}

const PIPE = `
schema L { s: string?, n: i64, b: bool?, ts: timestamp @event_time, d: i64 }
schema R { s: string, n: i64?, b: bool, ts: timestamp @event_time }
source left: L from kafka("l")
source right: R from kafka("r")
stream j = full join left as x, right as y
  on lower(x.s) == y.s and x.n * x.d == y.n and x.b == y.b and x.ts + to_duration_ms(x.d) == y.ts
  within y between 1m before and 1m after x
sink j -> stdout
`

const SINGLE = `
schema E { id: i64, at: timestamp @event_time }
source a: E from kafka("a")
source b: E from kafka("b")
stream j = join a as p, b as q on p.at == q.at window tumbling 1m
sink j -> stdout
`

afterAll(removeLoadedModules)

function batchOf(values: unknown[]): Batch {
  return {
    values,
    keys: values.map(() => null),
    timestamps: values.map(() => 0),
    origins: values.map((_, i) => i),
    length: values.length,
  }
}

/** The interpreter's key of each value, or 'error' where it throws. */
function interpretedKeys(keys: JoinNode['leftKeys'], values: unknown[]): (string | null | 'error')[] {
  const keyOf = joinKeyFunction(keys, stdlib)
  return values.map((value) => {
    try {
      return keyOf(value as Record<string, unknown>)
    } catch {
      return 'error'
    }
  })
}

function generatedKeys(fn: JoinFunctions['leftKeys'], values: unknown[]): (string | null | 'error')[] {
  const keys: (string | null)[] = []
  const errors: { index: number; error: unknown; site: number }[] = []
  fn(batchOf(values), keys, errors)
  const failed = new Set(errors.map((e) => e.index))
  return values.map((_, i) => (failed.has(i) ? 'error' : keys[i]!))
}

const timeArb = fc.oneof(fc.integer({ min: -8.64e15, max: 8.64e15 }), fc.constantFrom(0, 8.64e15, -8.64e15))

describe('generated join functions', () => {
  it('type-check as strict TypeScript', async () => {
    for (const text of [PIPE, SINGLE]) {
      const { typescript } = await compileAndLoad(text)
      const project = new Project({
        useInMemoryFileSystem: true,
        compilerOptions: {
          strict: true,
          noUncheckedIndexedAccess: true,
          target: 99,
          lib: ['lib.es2022.d.ts'],
        },
      })
      project.createSourceFile(GENERATED_FILE, typescript)
      const problems = project.getPreEmitDiagnostics().map((d) => {
        const message = d.getMessageText()
        return `${d.getLineNumber()}: ${typeof message === 'string' ? message : message.getMessageText()}`
      })
      expect(problems).toEqual([])
    }
  })

  it('give each side the join key string the interpreter gives, and fail where it fails', async () => {
    const { operators, pipeline } = await compileAndLoad(PIPE)
    const join = pipeline.nodes.find((n): n is JoinNode => n.kind === 'Join')!
    const fns = (operators as unknown as { joins: Record<string, JoinFunctions> }).joins[join.id]!
    const leftArb = fc.record({
      s: fc.option(fc.string({ maxLength: 4 }), { nil: null }),
      n: fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
      b: fc.option(fc.boolean(), { nil: null }),
      ts: timeArb,
      d: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constant(8.64e15)),
    })
    const rightArb = fc.record({
      s: fc.string({ maxLength: 4 }),
      n: fc.option(fc.integer({ min: -1000, max: 1000 }), { nil: null }),
      b: fc.boolean(),
      ts: timeArb,
    })
    fc.assert(
      fc.property(fc.array(leftArb, { maxLength: 20 }), fc.array(rightArb, { maxLength: 20 }), (ls, rs) => {
        expect(generatedKeys(fns.leftKeys, ls)).toEqual(interpretedKeys(join.leftKeys, ls))
        expect(generatedKeys(fns.rightKeys, rs)).toEqual(interpretedKeys(join.rightKeys, rs))
      }),
      { numRuns: 200 },
    )
    // Both outcomes happen: keys, nulls and failures (i64 overflow, timestamps out of range).
    const sample = [
      { s: 'A', n: 2, b: true, ts: 0, d: 3 },
      { s: null, n: 2, b: true, ts: 0, d: 3 },
      { s: 'A', n: Number.MAX_SAFE_INTEGER, b: true, ts: 0, d: 8.64e15 },
    ]
    expect(generatedKeys(fns.leftKeys, sample)).toEqual([
      JSON.stringify(['a', '6', 'true', '1970-01-01T00:00:00.003Z']),
      null,
      'error',
    ])
    expect(fns.output({ s: 'x' }, null, Number.NaN, Number.NaN)).toStrictEqual({ x: { s: 'x' }, y: null })
    expect(fns.late(null, { s: 'y' })).toStrictEqual({ x: null, y: { s: 'y' } })
  })

  it('key one timestamp as `key by` does, and give a window join its window', async () => {
    const { operators, pipeline } = await compileAndLoad(SINGLE)
    const join = pipeline.nodes.find((n): n is JoinNode => n.kind === 'Join')!
    const fns = (operators as unknown as { joins: Record<string, JoinFunctions> }).joins[join.id]!
    const values = [{ id: 1, at: 60_000 }]
    expect(generatedKeys(fns.leftKeys, values)).toEqual(['1970-01-01T00:01:00.000Z'])
    expect(generatedKeys(fns.rightKeys, values)).toEqual(interpretedKeys(join.rightKeys, values))
    expect(fns.output(1, 2, 0, 60_000)).toStrictEqual({ p: 1, q: 2, window_start: 0, window_end: 60_000 })
    expect(fns.late(1, null)).toStrictEqual({ p: 1, q: null })
  })
})
