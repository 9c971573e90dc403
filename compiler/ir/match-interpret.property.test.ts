/**
 * The reference interpreter's `match` against the runtime's CepOperator (TypeScript NFA, the
 * artifact's generated functions) on random keyed, out-of-order streams. Each source record its
 * own batch, as the interpreter ticks after every record: the same matches and timeouts in the
 * same order, with the same keys and times, and the same late events (the timeouts of one key and
 * time as a set, see canonical). Many records a batch, as the runner feeds it: the same outputs
 * stream by stream. The conformance cases pin the semantics on chosen inputs; this checks the
 * operator's plumbing (release order across keys, timeouts, late events) where they do not reach.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { CepOperator } from '../../runtime/cep/cep-operator.ts'
import type { CepFunctions } from '../../runtime/cep/engine.ts'
import { createNfaEngine } from '../../runtime/cep/nfa.ts'
import { EvaluationError } from '../../stdlib/eval-error.ts'
import { stdlib } from '../../stdlib/index.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { checkSource } from '../frontend.ts'
import { createInterpreter } from './interpret.ts'
import type { MatchNode, Pipeline } from './types.ts'

const HEAD = `schema E { id: string, k: string, kind: string, ts: timestamp @event_time }
source e: E from kafka("e") watermark ts - 3s
`
const TAIL = `sink out -> kafka("out")
sink expired -> kafka("expired")
sink late -> kafka("late")
`

/** Patterns with timeouts, absence at the end, a skip strategy and repetition. */
const CASES: Record<string, string> = {
  sequence: `stream out = e
  | match by k within 4s
      pattern a followed by b+ followed by c
      define a as kind == "a", b as kind == "b", c as kind == "c"
      late into late
      timeout into expired { a: a.id, n: count(b) }
      { a: a.id, b: first(b).id, n: count(b), c: c.id }
`,
  absence: `stream out = e
  | match by k within 3s
      pattern a followed by b not followed by x
      define a as kind == "a", b as kind == "b", x as kind == "x"
      late into late
      timeout into expired { a: a.id }
      { a: a.id, b: b.id }
`,
  skip: `stream out = e
  | match by k within 5s
      pattern a{1,3} followed by c
      define a as kind == "a", c as kind == "c"
      skip past last event
      late into late
      timeout into expired { a: first(a).id }
      { a: first(a).id, n: count(a), c: c.id }
`,
}

interface Built {
  readonly pipeline: Pipeline
  readonly match: MatchNode
  readonly functions: CepFunctions
}

const built = new Map<string, Built>()

beforeAll(async () => {
  for (const [name, body] of Object.entries(CASES)) {
    const text = HEAD + body + TAIL
    const { pipeline, diagnostics } = checkSource(`${name}.pipe`, text)
    if (!pipeline) throw new Error(JSON.stringify(diagnostics))
    const match = pipeline.nodes.find((n): n is MatchNode => n.kind === 'Match')!
    const dir = await compileFixture(text, name, `${name}.pipe`)
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      files: { module: string }
    }
    const module = (await import(pathToFileURL(join(dir, manifest.files.module)).href)) as {
      instantiate(deps: unknown): { matches: Record<string, CepFunctions> }
    }
    const functions = module.instantiate({ stdlib, EvaluationError }).matches[match.id]!
    built.set(name, { pipeline, match, functions })
  }
}, 60_000)

interface Row {
  readonly id: string
  readonly k: string
  readonly kind: string
  readonly ts: number
}

const rows = fc
  .array(
    fc.record({
      k: fc.constantFrom('k1', 'k2', 'k3'),
      kind: fc.constantFrom('a', 'b', 'c', 'x'),
      seconds: fc.integer({ min: 0, max: 15 }),
    }),
    { maxLength: 24 },
  )
  .map((events) => events.map((e, i): Row => ({ id: `e${i}`, k: e.k, kind: e.kind, ts: e.seconds * 1000 })))

/** Every output as `stream key@time json`, in order, per input record. */
function interpreted({ pipeline }: Built, input: readonly Row[]): string[][] {
  const chunks: string[][] = []
  let out: string[] = []
  const interpreter = createInterpreter(pipeline, {
    onSink: ({ sinkId, value, key, timestamp }) => {
      const sink = pipeline.nodes.find((n) => n.id === sinkId)
      const topic = sink?.kind === 'Sink' && sink.connector.kind === 'kafka' ? sink.connector.topic : ''
      out.push(`${topic} ${topic === 'late' ? 'none' : key}@${timestamp} ${JSON.stringify(value)}`)
    },
    onError: (failure) => {
      throw failure.error
    },
  })
  for (const row of input) {
    out = []
    interpreter.push('e', { value: { ...row }, key: null, timestamp: row.ts })
    chunks.push(out)
  }
  return chunks
}

/**
 * The operator's outputs per batch, each batch `size` source records (1: as the interpreter ticks;
 * more: as the runner batches, which fires record by record all the same).
 */
function operated({ match, functions }: Built, input: readonly Row[], size = 1): string[][] {
  const operator = new CepOperator(match, functions, 3000, createNfaEngine, {
    maxPerKey: 10_000,
    maxTotal: 100_000,
  })
  const chunks: string[][] = []
  for (let from = 0; from < input.length; from += size) {
    const batch = input.slice(from, from + size)
    let max = Number.NEGATIVE_INFINITY
    const out: string[] = []
    const result = operator.process(
      {
        values: batch.map((row) => ({ ...row })),
        keys: batch.map(() => null),
        timestamps: batch.map((row) => row.ts),
        origins: batch.map((_, i) => i),
        length: batch.length,
      },
      Float64Array.from(batch, (row) => {
        max = Math.max(max, row.ts)
        return max
      }),
      batch.length - 1,
    )
    expect(result.failures).toEqual([])
    const take = (stream: string, events: typeof result.results) => {
      for (let i = 0; i < events.length; i++)
        out.push(
          `${stream} ${stream === 'late' ? 'none' : events.keys[i]}@${events.timestamps[i]} ${JSON.stringify(events.values[i])}`,
        )
    }
    take('late', result.late)
    take('out', result.results)
    take('expired', result.timeouts)
    chunks.push(out)
  }
  return chunks
}

/**
 * One record's outputs with the timeouts of one key that ran out at one time as a set: the NFA
 * times a prefix out once per automaton state that holds it (as Flink does), in the order of its
 * states, the reference once each, ordered by their events (cep-semantics.ts, rule 5).
 */
function canonical(lines: readonly string[]): string[] {
  const out: string[] = []
  let run: string[] = []
  const flush = () => {
    out.push(...[...new Set(run)].sort())
    run = []
  }
  for (const line of lines) {
    const at = line.split(' ', 2).join(' ')
    if (run.length > 0 && run[0]!.split(' ', 2).join(' ') !== at) flush()
    if (line.startsWith('expired ')) run.push(line)
    else {
      flush()
      out.push(line)
    }
  }
  flush()
  return out
}

describe('match in the reference interpreter and the runtime operator', () => {
  for (const name of Object.keys(CASES)) {
    it(`${name}: the same outputs in the same order`, () => {
      const b = built.get(name)!
      fc.assert(
        fc.property(rows, (input) => {
          expect(interpreted(b, input).map(canonical)).toEqual(operated(b, input).map(canonical))
        }),
        { numRuns: 2000 },
      )
    })
    it(`${name}: the same outputs per stream when the runtime takes many records a batch`, () => {
      const b = built.get(name)!
      // A batch's outputs come stream by stream, and one batch moves the watermark once where the
      // interpreter moves it per record: what a watermark step releases for several keys comes in
      // time order across keys, so only each key's own order within a stream is comparable (the
      // order Sluice, like Flink, keeps). The lines are `stream key@time …`: a stable sort by key.
      const keyOf = (line: string) => line.slice(line.indexOf(' ') + 1, line.indexOf('@'))
      const stream = (lines: readonly string[], which: string) =>
        canonical(
          lines
            .filter((line) => line.startsWith(`${which} `))
            .map((line, i) => ({ line, i, key: keyOf(line) }))
            .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.i - b.i))
            .map((entry) => entry.line),
        )
      fc.assert(
        fc.property(rows, fc.integer({ min: 2, max: 12 }), (input, size) => {
          const expected = interpreted(b, input).flat()
          const actual = operated(b, input, size).flat()
          for (const which of ['late', 'out', 'expired'])
            expect(stream(expected, which)).toEqual(stream(actual, which))
        }),
        { numRuns: 1000 },
      )
    })
  }
})
