/**
 * `now()` and `uuid()` have no fixed output, so no conformance case can hold it
 * (specs/language.md §12, "Non-deterministic functions"). Here both paths run with the same fixed
 * clock and seeded random source (stdlib/environment.ts), and must agree value for value; the
 * codec functions `parse_json`/`to_json`, whose generated path uses the module's codecs and whose
 * interpreted path the reference codecs, are compared on the same pipeline.
 */
import { Project } from 'ts-morph'
import { afterAll, describe, expect, it } from 'vitest'
import { type Environment, seededRandom, withEnvironment } from '../../stdlib/environment.ts'
import { EvaluationError } from '../../stdlib/eval-error.ts'
import { stdlib } from '../../stdlib/index.ts'
import { checkSource } from '../frontend.ts'
import { isNondeterministic } from '../ir/expr.ts'
import { inputsOf } from '../ir/graph.ts'
import { createInterpreter } from '../ir/interpret.ts'
import type { Pipeline } from '../ir/types.ts'
import { GENERATED_FILE } from './generate.ts'
import { type Batch, compileAndLoad, type Operators, removeLoadedModules } from './load-generated.ts'

afterAll(removeLoadedModules)

const PIPE = `
schema Line { sku: string, qty: i64 }
schema Order { id: string, at: timestamp, lines: list<Line>, note: string? }
schema Raw { n: i64, body: string, ts: timestamp }
source raws: Raw from kafka("raws")
stream out = raws
  | select {
      n,
      seen: now(),
      age_ms: millis(now() - ts),
      id: uuid(),
      other: uuid(),
      order: parse_json(body, Order),
      back: to_json(parse_json(body, Order)),
      stamp: to_json(ts),
      local: format_time(now(), "yyyy-MM-dd HH:mm:ss.SSS XXX", "Europe/Paris"),
    }
sink out -> stdout
`

/** A clock that advances 1 ms per reading, so two calls differ as they could in production. */
function testEnvironment(): Environment {
  let clock = Date.parse('2024-06-30T21:59:59.998Z')
  return { now: () => clock++, fillRandom: seededRandom(42) }
}

const EVENTS = [
  { n: 1, body: '{"id":"a","at":"2024-01-01T00:00:00Z","lines":[{"sku":"x","qty":2}]}', ts: 0 },
  { n: 2, body: 'null', ts: 1000 },
  { n: 3, body: '{"id":"b","at":5,"lines":[{"sku":7,"qty":2}]}', ts: 0 },
  { n: 4, body: '{"id":', ts: 0 },
  { n: 5, body: '{"id":"c","at":1,"lines":[],"note":"hi","extra":[1]}', ts: 0 },
]

function runGenerated(operators: Operators, pipeline: Pipeline) {
  const outputs: unknown[] = []
  const errors: { n: number; message: string }[] = []
  const source = pipeline.nodes.find((n) => n.kind === 'Source')!
  const values = EVENTS.map((e) => operators.sources.raws!.decode(e))
  const push = (nodeId: string, batch: Batch) => {
    for (const node of pipeline.nodes) {
      if (!inputsOf(node).includes(nodeId)) continue
      if (node.kind === 'Fused') {
        const out: Batch = { values: [], keys: [], timestamps: [], origins: [], length: 0 }
        const failures: { index: number; error: unknown; site: number }[] = []
        operators.chains[node.id]!(batch, out, failures)
        for (const f of failures) {
          expect(f.error).toBeInstanceOf(EvaluationError)
          errors.push({ n: EVENTS[batch.origins[f.index]!]!.n, message: (f.error as Error).message })
        }
        push(node.id, out)
      } else if (node.kind === 'Sink') {
        outputs.push(...batch.values.slice(0, batch.length))
      }
    }
  }
  // One event a batch: the interpreter evaluates event by event, so the clock is read in one order.
  values.forEach((value, i) => {
    push(source.id, { values: [value], keys: [null], timestamps: [0], origins: [i], length: 1 })
  })
  return { outputs, errors }
}

function runInterpreted(operators: Operators) {
  const { pipeline } = checkSource('test.pipe', PIPE)
  if (!pipeline) throw new Error('does not check')
  const outputs: unknown[] = []
  const errors: { n: number; message: string }[] = []
  let current = 0
  const interpreter = createInterpreter(pipeline, {
    functions: stdlib,
    onSink: (output) => outputs.push(output.value),
    onError: (failure) => errors.push({ n: current, message: failure.error.message }),
  })
  for (const event of EVENTS) {
    current = event.n
    interpreter.push('raws', {
      value: operators.sources.raws!.decode(event) as Record<string, unknown>,
      key: null,
      timestamp: 0,
    })
  }
  return { outputs, errors }
}

describe('non-deterministic and codec functions, compiled and interpreted', () => {
  it('give the same values under the same clock and random source', async () => {
    const { operators, pipeline } = await compileAndLoad(PIPE)
    const generated = await withEnvironment(testEnvironment(), () => runGenerated(operators, pipeline))
    const interpreted = await withEnvironment(testEnvironment(), () => runInterpreted(operators))
    expect(generated).toEqual(interpreted)

    const [first, second] = generated.outputs as Record<string, unknown>[]
    expect(first!.seen).toBe(Date.parse('2024-06-30T21:59:59.998Z'))
    expect(first!.age_ms).toBe(Date.parse('2024-06-30T21:59:59.999Z'))
    expect(first!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(first!.id).not.toBe(first!.other)
    expect(first!.order).toEqual({
      id: 'a',
      at: Date.parse('2024-01-01T00:00:00Z'),
      lines: [{ sku: 'x', qty: 2 }],
      note: null,
    })
    expect(first!.back).toBe(
      '{"id":"a","at":"2024-01-01T00:00:00.000Z","lines":[{"sku":"x","qty":2}],"note":null}',
    )
    expect(first!.stamp).toBe('"1970-01-01T00:00:00.000Z"')
    // The third clock reading, 22:00:00.000 UTC, is midnight in Paris (summer time).
    expect(first!.local).toBe('2024-07-01 00:00:00.000 +02:00')
    expect(second!.order).toBeNull()
    expect(second!.back).toBe('null')

    expect(generated.errors.map((e) => e.n)).toEqual([3, 4])
    expect(generated.errors[0]!.message).toBe('parse_json: $.lines[0].sku: expected a string, got number 7')
    expect(generated.errors[1]!.message).toMatch(/^parse_json: "\{\\"id\\":" is not JSON$/)
  })

  it('read the system clock and random source without a test environment', async () => {
    const { operators, pipeline } = await compileAndLoad(PIPE)
    const before = Date.now()
    const { outputs } = runGenerated(operators, pipeline)
    const seen = (outputs[0] as { seen: number }).seen
    expect(seen).toBeGreaterThanOrEqual(before)
    expect(seen).toBeLessThanOrEqual(Date.now())
    const ids = outputs.map((o) => (o as { id: string }).id)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('generate TypeScript that type-checks strictly', async () => {
    const { typescript } = await compileAndLoad(PIPE)
    const project = new Project({
      useInMemoryFileSystem: true,
      compilerOptions: { strict: true, noUncheckedIndexedAccess: true, target: 99, lib: ['lib.es2022.d.ts'] },
    })
    project.createSourceFile(GENERATED_FILE, typescript)
    expect(project.getPreEmitDiagnostics().map((d) => d.getMessageText())).toEqual([])
  })

  it('are marked for the optimiser: an expression holding now() or uuid() is non-deterministic', () => {
    const { pipeline } = checkSource('test.pipe', PIPE)
    const map = pipeline!.nodes.find((n) => n.kind === 'Map')!
    const marked = map.fields.filter((f) => isNondeterministic(f.value)).map((f) => f.name)
    expect(marked).toEqual(['seen', 'age_ms', 'id', 'other', 'local'])
  })
})
