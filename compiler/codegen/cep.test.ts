/**
 * The generated functions of a match (cep.ts) against the interpreter's evaluation of the same
 * expressions: every condition, `until` and output field on random events and random matched
 * events of the earlier steps; the masks agree with the conditions they stand for; failures carry
 * the site of the expression that failed.
 */
import { existsSync } from 'node:fs'
import fc from 'fast-check'
import { Project } from 'ts-morph'
import { afterAll, describe, expect, it } from 'vitest'
import type { CepFunctions } from '../../runtime/cep/engine.ts'
import { stdlib } from '../../stdlib/index.ts'
import { kernelPath } from '../artifact/kernels.ts'
import { compileSource } from '../compile.ts'
import { compileExpr, STEP_EVENTS } from '../ir/interpret.ts'
import type { Expr, MatchNode } from '../ir/types.ts'
import { GENERATED_FILE } from './generate.ts'
import { compileAndLoad, removeLoadedModules } from './load-generated.ts'

const PIPE = `
schema P { card: string, amount: f64, n: i64?, country: string?, ts: timestamp @event_time }
source payments: P from kafka("payments")
stream alerts = payments
  | match by card within 10m
      pattern small{2,3} followed by large next tail+ not followed by stop within 1m
      define
        small as amount < 1000.0 and (count(small) == 0 or amount >= (max(small.amount) ?? 0.0)),
        large as amount > 50000.0 and country == first(small).country and (n is null or last(small).n != n),
        tail as 100 / (n ?? 1) > 2 until amount > 5.0,
        stop as country == "XX"
      timeout into expired { card: first(small).card, smalls: count(small), total: sum(small.n) }
      { card: large.card, total_small: sum(small.amount), low: min(small.amount), mean: avg(small.n),
        last_small: last(small).amount, second: small[1].n, large_amount: large.amount, tails: count(tail) }
sink alerts -> stdout
sink expired -> stdout
`

const LOCAL = `
schema P { card: string, amount: f64, at: timestamp @event_time }
source payments: P from kafka("payments")
stream s = payments | match within 1m pattern a next b+ define a as amount > 1.0, b as amount < 1.0 until amount == 0.0 { n: count(b), first: a.amount }
sink s -> stdout
`

afterAll(removeLoadedModules)

type Row = { card: string; amount: number; n: number | null; country: string | null; ts: number }

const rowArb: fc.Arbitrary<Row> = fc.record({
  card: fc.constantFrom('a', 'b'),
  amount: fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constantFrom(0, 999, 1000, 60000)),
  n: fc.option(fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constant(Number.MAX_SAFE_INTEGER)), {
    nil: null,
  }),
  country: fc.option(fc.constantFrom('NL', 'XX'), { nil: null }),
  ts: fc.integer({ min: 0, max: 1e9 }),
})

/** The interpreter's value of an expression, or 'error'. */
function interpreted(expr: Expr, row: Row | null, events: readonly (readonly Row[])[]): unknown {
  try {
    const withEvents = { ...row, [STEP_EVENTS]: (step: number) => events[step] ?? [] }
    return compileExpr(expr, stdlib)(withEvents as never)
  } catch {
    return 'error'
  }
}

function generated(run: () => unknown): unknown {
  try {
    return run()
  } catch {
    return 'error'
  }
}

async function load(text: string): Promise<{ node: MatchNode; fns: CepFunctions; typescript: string }> {
  const { operators, pipeline, typescript } = await compileAndLoad(text)
  const node = pipeline.nodes.find((n): n is MatchNode => n.kind === 'Match')!
  const fns = (operators as unknown as { matches: Record<string, CepFunctions> }).matches[node.id]!
  return { node, fns, typescript }
}

describe('generated match functions', () => {
  it('type-check as strict TypeScript', async () => {
    for (const text of [PIPE, LOCAL]) {
      const { typescript } = await load(text)
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

  it('evaluate conditions, untils, the key, the output and the timeout record as the interpreter does', async () => {
    const { node, fns } = await load(PIPE)
    expect(fns.conditions).toHaveLength(4)
    expect(fns.untils.map((u) => u !== null)).toEqual([false, false, true, false])
    // What a partial match can hold when a condition runs, and what a match holds: small 0–3
    // events, large at most one (exactly one in a match), tail any.
    const eventsArb = fc.tuple(
      fc.array(rowArb, { maxLength: 3 }),
      fc.array(rowArb, { minLength: 1, maxLength: 1 }),
      fc.array(rowArb, { maxLength: 3 }),
    )
    fc.assert(
      fc.property(rowArb, eventsArb, (row, events) => {
        const context = { events: (step: number) => events[step as 0 | 1 | 2] ?? [] }
        node.steps.forEach((step, s) => {
          const expected = interpreted(step.condition, row, events)
          expect(generated(() => fns.conditions[s]!(row, context))).toBe(
            expected === 'error' ? 'error' : expected === true,
          )
          if (step.until !== null) {
            const until = interpreted(step.until, row, events)
            expect(generated(() => fns.untils[s]!(row, context))).toBe(
              until === 'error' ? 'error' : until === true,
            )
          }
        })
        expect(generated(() => fns.key(row))).toBe(row.card)
        const output = Object.fromEntries(
          node.fields.map((f) => [f.name, interpreted(f.value, null, events)]),
        )
        const failed = Object.values(output).includes('error')
        expect(generated(() => fns.select(context, 'a'))).toStrictEqual(failed ? 'error' : output)
        const timeout = Object.fromEntries(
          node.timeout!.fields.map((f) => [f.name, interpreted(f.value, null, events)]),
        )
        const timeoutFailed = Object.values(timeout).includes('error')
        expect(generated(() => fns.timeout!(context, 'a', 0))).toStrictEqual(
          timeoutFailed ? 'error' : timeout,
        )
      }),
      { numRuns: 300 },
    )
    // An iterative condition has no mask: the engine evaluates it per partial match.
    expect(fns.masks).toBeDefined()
    expect(node.steps.map((s) => s.reads)).toEqual([[0], [0], [], []])
  })

  it('compute masks of the event-local conditions that agree with the conditions, and report failures with their site', async () => {
    const { node, fns } = await load(PIPE)
    const none = { events: () => [] }
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 20 }), (rows) => {
        const masks = new Uint32Array(rows.length)
        const failed = new Uint8Array(rows.length)
        const errors: { index: number; error: unknown; site: number }[] = []
        fns.masks!(rows, rows.length, masks, failed, errors)
        rows.forEach((row, i) => {
          const tail = generated(() => [fns.conditions[2]!(row, none), fns.untils[2]!(row, none)])
          const stop = generated(() => fns.conditions[3]!(row, none))
          if (tail === 'error' || stop === 'error') {
            expect(failed[i]).toBe(1)
            return
          }
          expect(failed[i]).toBe(0)
          const [tailCondition, tailUntil] = tail as [boolean, boolean]
          expect(Boolean(masks[i]! & (1 << 2))).toBe(tailCondition)
          expect(Boolean(masks[i]! & (1 << 18))).toBe(tailUntil)
          expect(Boolean(masks[i]! & (1 << 3))).toBe(stop)
          expect(masks[i]! & 0b11).toBe(0)
        })
        expect(errors.map((e) => e.index)).toEqual([...failed.keys()].filter((i) => failed[i] === 1))
      }),
      { numRuns: 200 },
    )
    // 100 / 0 fails at the division's site.
    const errors: { index: number; error: unknown; site: number }[] = []
    const zero: Row = { card: 'a', amount: 1, n: 0, country: null, ts: 0 }
    fns.masks!([zero], 1, new Uint32Array(1), new Uint8Array(1), errors)
    expect(errors).toHaveLength(1)
    expect(errors[0]!.site).toBeGreaterThanOrEqual(0)
    let thrown: unknown = null
    try {
      fns.conditions[2]!(zero, none)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toMatchObject({
      name: 'EvaluationError',
      message: 'integer division by zero',
      site: errors[0]!.site,
    })
    expect(node.execution).toBe('typescript')
  })

  it('run a pattern of event-local conditions on the kernel path, with no key for all events', async () => {
    const { node, fns } = await load(LOCAL)
    expect(node.execution === 'wasm' || node.execution === 'typescript').toBe(true)
    expect(node.steps.every((s) => s.reads.length === 0)).toBe(true)
    const rows = [{ amount: 2 }, { amount: 0.5 }, { amount: 0 }]
    const masks = new Uint32Array(3)
    fns.masks!(rows, 3, masks, new Uint8Array(3), [])
    expect([...masks]).toEqual([0b01, 0b10, 0b10 | (1 << 17)])
    expect(fns.key(rows[0])).toBe('')
    const events = [[{ amount: 2 }], [{ amount: 0.5 }, { amount: 0.25 }]]
    expect(fns.select({ events: (s) => events[s] ?? [] }, '')).toStrictEqual({ n: 2, first: 2 })
    expect(fns.timeout).toBeNull()
  })

  it('choose the engine in one place: forced TypeScript, or the kernel refused for iterative conditions', () => {
    const forced = compileSource('t.pipe', LOCAL, { cepExecution: 'typescript' })
    expect(forced.pipeline?.nodes.find((n) => n.kind === 'Match')).toMatchObject({ execution: 'typescript' })
    expect(forced.diagnostics).toEqual([])
    const refused = compileSource('t.pipe', PIPE, { cepExecution: 'wasm' })
    expect(refused.artifact).toBeNull()
    expect(refused.diagnostics.map((d) => d.code)).toContain('E0473')
    const auto = compileSource('t.pipe', LOCAL)
    const built = existsSync(kernelPath('cep'))
    expect(auto.pipeline?.nodes.find((n) => n.kind === 'Match')).toMatchObject({
      execution: built ? 'wasm' : 'typescript',
    })
    expect(auto.diagnostics.map((d) => d.code)).toEqual(built ? [] : ['W0007'])
  })
})
