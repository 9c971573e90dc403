import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { deserialize, serialize } from 'node:v8'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import type { PatternSpec } from '../../compiler/ir/pattern.ts'
import type {
  CepFunctions,
  EngineBudget,
  EngineMatch,
  KeyMatches,
  PatternEngine,
  ReleasedEvents,
} from '../../runtime/cep/engine.ts'
import { HELD_FIELDS, PARTIAL_FIELDS } from '../../runtime/cep/engine.ts'
import { NfaEngine } from '../../runtime/cep/nfa.ts'
import { compileNfa } from '../../runtime/cep/nfa-compile.ts'
import type { Nfa, NfaCondition } from '../../runtime/cep/nfa-types.ts'
import {
  type FixtureRow,
  fixtureFunctions,
  idsOf,
  readPattern,
  rowsOf,
} from '../../test/support/cep-nfa-fixtures.ts'
import { buildKernel, KERNELS_DIR } from '../build.ts'
import {
  type CepKernel,
  CepKernelUnsupportedError,
  conditionTerms,
  type EngineTuning,
  kernelRefusal,
  loadCepKernel,
  termsHold,
  type WasmPatternEngine,
} from './cep-kernel.ts'
import { mostEventsTaken, recordLayout } from './cep-record-layout.ts'

let kernel: CepKernel

beforeAll(async () => {
  const built = await buildKernel(join(KERNELS_DIR, 'cep.ts'))
  kernel = await loadCepKernel(built.wasmPath)
}, 60_000)

const UNBOUNDED: EngineBudget = { maxPerKey: Number.POSITIVE_INFINITY, maxTotal: Number.POSITIVE_INFINITY }
const NO_CONTEXT = { events: () => [] }

/** What the operator does for an engine that wants masks: every step's condition and until, per row. */
function fillMasks(functions: CepFunctions, rows: readonly unknown[], masks: Uint32Array): void {
  rows.forEach((row, i) => {
    let mask = 0
    functions.conditions.forEach((condition, s) => {
      if (condition(row, NO_CONTEXT)) mask |= 1 << s
    })
    functions.untils.forEach((until, s) => {
      if (until?.(row, NO_CONTEXT) === true) mask |= 1 << (16 + s)
    })
    masks[i] = mask >>> 0
  })
}

interface Round {
  readonly rows: readonly unknown[]
  readonly keyIds: readonly number[]
  readonly times: readonly number[]
  /** advanceTime to this after the round's events (null: none). */
  readonly watermark: number | null
}

interface Output {
  /** Per key id: its matches and timeouts in emission order, as `m|t time seqs…`. */
  readonly byKey: Map<number, string[]>
  readonly partials: number[]
  readonly dropped: string[]
}

function describeMatch(kind: 'm' | 't', match: EngineMatch): string {
  return `${kind} @${match.time} ${match.seqs.map((s, i) => `${s}:${match.steps[i]}`).join(' ')}`
}

/** Runs rounds through an engine (one step per round, then advanceTime), seqs numbering rows from 0. */
function run(
  engine: PatternEngine,
  functions: CepFunctions,
  rounds: readonly Round[],
  restoreAfter: ((engine: PatternEngine) => PatternEngine) | null = null,
): Output {
  const byKey = new Map<number, string[]>()
  const rowBySeq: unknown[] = rounds.flatMap((round) => round.rows)
  const note = (kind: 'm' | 't', list: EngineMatch[]) => {
    for (const m of list) {
      const entries = byKey.get(m.keyId) ?? []
      // Each event of a match must come with its own row (the kernel's host keeps them by node).
      // (Deep equality: rows restored from a snapshot are copies.)
      const rowsRight = m.seqs.every((seq, i) => isDeepStrictEqual(m.rows[i], rowBySeq[seq]))
      entries.push(`${describeMatch(kind, m)}${rowsRight ? '' : ' WRONG ROWS'}`)
      byKey.set(m.keyId, entries)
    }
  }
  const partials: number[] = []
  const dropped: string[] = []
  let seq = 0
  let current = engine
  for (const round of rounds) {
    const n = round.rows.length
    const events: ReleasedEvents = {
      length: n,
      keyIds: Int32Array.from(round.keyIds),
      times: Float64Array.from(round.times),
      seqs: Float64Array.from(round.rows, () => seq++),
      rows: [...round.rows],
      masks: new Uint32Array(n),
    }
    if (current.wantsMasks) fillMasks(functions, round.rows, events.masks)
    const matches: EngineMatch[] = []
    current.step(events, matches, [])
    note('m', matches)
    if (round.watermark !== null) {
      const late: EngineMatch[] = []
      const timeouts: EngineMatch[] = []
      current.advanceTime(round.watermark, late, timeouts)
      note('m', late)
      note('t', timeouts)
    }
    partials.push(current.partialMatches)
    dropped.push(JSON.stringify(current.dropped))
    if (restoreAfter !== null) current = restoreAfter(current)
  }
  return { byKey, partials, dropped }
}

function bothEngines(
  spec: PatternSpec,
  functions: CepFunctions,
  budget: EngineBudget = UNBOUNDED,
  tuning?: EngineTuning,
) {
  const nfa = compileNfa(spec)
  return {
    typescript: new NfaEngine(nfa, spec.skip, functions, budget),
    wasm: kernel.createEngine(nfa, spec, budget, { tuning }),
  }
}

describe('conditionTerms', () => {
  const conditionArb = fc.letrec<{ c: NfaCondition }>((tie) => ({
    c: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant<NfaCondition>({ kind: 'true' }),
      fc.integer({ min: 0, max: 3 }).map<NfaCondition>((step) => ({ kind: 'step', step })),
      fc.integer({ min: 0, max: 2 }).map<NfaCondition>((step) => ({ kind: 'until', step })),
      tie('c').map<NfaCondition>((of) => ({ kind: 'not', of })),
      fc.array(tie('c'), { maxLength: 3 }).map<NfaCondition>((of) => ({ kind: 'and', of })),
      fc.array(tie('c'), { maxLength: 3 }).map<NfaCondition>((of) => ({ kind: 'or', of })),
    ),
  })).c

  const evaluate = (c: NfaCondition, mask: number): boolean => {
    switch (c.kind) {
      case 'true':
        return true
      case 'step':
        return ((mask >>> c.step) & 1) === 1
      case 'until':
        return ((mask >>> (16 + c.step)) & 1) === 1
      case 'not':
        return !evaluate(c.of, mask)
      case 'and':
        return c.of.every((x) => evaluate(x, mask))
      case 'or':
        return c.of.some((x) => evaluate(x, mask))
    }
  }

  it('flattens a condition tree into terms that hold on exactly the masks it holds on', () => {
    fc.assert(
      fc.property(conditionArb, (condition) => {
        const terms = conditionTerms(condition)
        for (let bits = 0; bits < 128; bits++) {
          const mask = ((bits & 15) | ((bits >> 4) << 16)) >>> 0
          expect(termsHold(terms, mask)).toBe(evaluate(condition, mask))
        }
      }),
      { numRuns: 300 },
    )
  })

  it('refuses iterative conditions and steps past the mask', () => {
    const spec = readPattern('a followed by b')
    expect(kernelRefusal(spec)).toBeNull()
    const iterative: PatternSpec = {
      ...spec,
      steps: spec.steps.map((s, i) => (i === 1 ? { ...s, reads: [0] } : s)),
    }
    expect(kernelRefusal(iterative)).toMatch(/reads earlier events/)
    expect(() => kernel.createEngine(compileNfa(spec), iterative, UNBOUNDED)).toThrow(
      CepKernelUnsupportedError,
    )
  })
})

/** Rows of one key at times 1, 2, …, stepped in one batch, then time advanced to `until`. */
function compareOnRows(
  pattern: string,
  input: string,
  options: Parameters<typeof readPattern>[1] & { until?: number; budget?: EngineBudget } = {},
): string[] {
  const spec = readPattern(pattern, options)
  const functions = fixtureFunctions(spec)
  const rows = rowsOf(input)
  const rounds: Round[] = [
    {
      rows,
      keyIds: rows.map(() => 0),
      times: rows.map((_, i) => i + 1),
      watermark: options.until ?? null,
    },
  ]
  const engines = bothEngines(spec, functions, options.budget)
  const expected = run(engines.typescript, functions, rounds)
  const actual = run(engines.wasm, functions, rounds)
  expect(actual).toEqual(expected)
  // The same matches as ids, for the reader.
  const matches: EngineMatch[] = []
  const wasm = bothEngines(spec, functions, options.budget).wasm
  const events: ReleasedEvents = {
    length: rows.length,
    keyIds: new Int32Array(rows.length),
    times: Float64Array.from(rows, (_, i) => i + 1),
    seqs: Float64Array.from(rows, (_, i) => i),
    rows,
    masks: new Uint32Array(rows.length),
  }
  fillMasks(functions, rows, events.masks)
  wasm.step(events, matches, [])
  if (options.until !== undefined) wasm.advanceTime(options.until, matches, [])
  return matches.map(idsOf)
}

describe('the kernel matches what the TypeScript engine matches (Flink documentation examples)', () => {
  it('quantifiers: b+ followed by c over b1 b2 b3 c, every admissible count', () => {
    // Relaxed: a partial match may also wait for c past a b (the c state's IGNORE).
    expect(compareOnRows('b+ followed by c', 'b1 b2 b3 c')).toEqual([
      'b1 b2 b3 c',
      'b1 b2 c',
      'b1 c',
      'b2 b3 c',
      'b2 c',
      'b3 c',
    ])
    expect(compareOnRows('b+ consecutive next c', 'b1 b2 b3 c')).toEqual(['b1 b2 b3 c', 'b2 b3 c', 'b3 c'])
  })

  it('contiguity: strict, relaxed and non-deterministic relaxed over a c1 b c2', () => {
    compareOnRows('a next c', 'a c1 b c2')
    compareOnRows('a followed by c', 'a c1 b c2')
    compareOnRows('a followed by any c', 'a c1 b c2')
  })

  it('inner contiguity of a loop: relaxed, consecutive and any over c d a1 a2 a3 d a4 b', () => {
    for (const inner of ['', ' consecutive', ' any']) {
      compareOnRows(`c followed by a+${inner} followed by b`, 'c d a1 a2 a3 d a4 b')
      compareOnRows(`c followed by a{2,3}${inner} followed by b`, 'c d a1 a2 a3 d a4 b')
    }
  })

  it('optional, greedy and reluctant quantifiers', () => {
    compareOnRows('c followed by a* followed by b', 'c a1 a2 b')
    compareOnRows('c followed by a? followed by b', 'c a1 a2 b')
    compareOnRows('c followed by a+ greedy followed by b', 'c a1 a2 b')
    compareOnRows('c followed by a+ reluctant followed by b', 'c a1 a2 b')
  })

  it('skip strategies over a1 a2 a3 b (pattern a+ followed by b)', () => {
    for (const skip of ['noSkip', 'toNext', 'pastLastEvent', 'toFirst a', 'toLast a'])
      compareOnRows('a+ followed by b', 'a1 a2 a3 b', { skip })
    compareOnRows('a followed by b+', 'a b1 b2 b3 a b4', { skip: 'toLast b' })
  })

  it('negation: not next, not followed by, absence at the end under within', () => {
    compareOnRows('a not next b followed by c', 'a b c a d c')
    compareOnRows('a not followed by b followed by c', 'a d b c a d c')
    compareOnRows('a not followed by b', 'a d a b a', { withinMs: 3, until: 20 })
  })

  it('within: timeouts, step windows and until', () => {
    compareOnRows('a followed by b followed by c', 'a x b x x x c a b', { withinMs: 4, until: 30 })
    compareOnRows('a followed by b within 2 followed by c', 'a x b c a x x b c', { until: 30 })
    compareOnRows('a+ followed by b', 'a1 a2 u a3 b', {
      untils: ['a'],
    })
  })

  it('groups and alternation', () => {
    compareOnRows('(a followed by b){2} followed by c', 'a b a b a b c')
    compareOnRows('a followed by b | a followed by c', 'a b c a c')
  })

  it('budgets drop the oldest partial match of the key', () => {
    compareOnRows('a followed by b', 'a1 a2 a3 a4 b', { budget: { maxPerKey: 2, maxTotal: 10 } })
    compareOnRows('a followed by b', 'a1 a2 a3 a4 b', { budget: { maxPerKey: 10, maxTotal: 3 } })
  })
})

// ---- random patterns of event-local conditions ----

const STEP_NAMES = ['a', 'b', 'c', 'd'] as const

const quantifierArb = fc.constantFrom(
  '',
  '',
  '+',
  '*',
  '?',
  '{2}',
  '{1,2}',
  '{2,}',
  '+ consecutive',
  '+ any',
  '{1,3} greedy',
  '+ reluctant',
)
const connectorArb = fc.constantFrom(
  'next',
  'followed by',
  'followed by',
  'followed by any',
  'not next',
  'not followed by',
)

/** Pattern text over steps a, b, c, d (each at most once), or null for a shape the compiler refuses. */
const patternArb = fc
  .record({
    count: fc.integer({ min: 1, max: 4 }),
    quantifiers: fc.array(quantifierArb, { minLength: 4, maxLength: 4 }),
    connectors: fc.array(connectorArb, { minLength: 3, maxLength: 3 }),
    group: fc.boolean(),
    stepWithin: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
  })
  .map(({ count, quantifiers, connectors, group, stepWithin }) => {
    const parts: string[] = []
    for (let i = 0; i < count; i++) {
      const negated = i > 0 && connectors[i - 1]!.startsWith('not')
      const within = i === count - 1 && stepWithin !== null ? ` within ${stepWithin}` : ''
      const term = `${STEP_NAMES[i]}${negated ? '' : quantifiers[i]}${within}`
      parts.push(i === 0 ? term : `${connectors[i - 1]} ${term}`)
    }
    if (group && count >= 2) return `(${parts[0]} ${parts[1]}){1,2} ${parts.slice(2).join(' ')}`.trim()
    return parts.join(' ')
  })

const optionsArb = fc.record({
  withinMs: fc.option(fc.integer({ min: 1, max: 8 }), { nil: null }),
  skip: fc.constantFrom('noSkip', 'toNext', 'pastLastEvent', 'toFirst a', 'toLast a', 'toLast b'),
  untils: fc.subarray(['a', 'b']),
  maxPerKey: fc.constantFrom(2, 5, Number.POSITIVE_INFINITY),
  maxTotal: fc.constantFrom(4, Number.POSITIVE_INFINITY),
})

type OptionsValue = typeof optionsArb extends fc.Arbitrary<infer T> ? T : never

interface BitRow {
  readonly bits: number
  /** Its place in the input: rows differ, so a match with another event's row shows. */
  readonly at: number
}

/** Events: condition bits per row, key, time step (0: a tie), and the rounds' lengths. */
const inputArb = fc.record({
  events: fc.array(
    fc.record({
      bits: fc.integer({ min: 0, max: 0xff }),
      key: fc.integer({ min: 0, max: 2 }),
      gap: fc.constantFrom(0, 1, 1, 1, 2, 3),
    }),
    { minLength: 1, maxLength: 40 },
  ),
  cuts: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 }),
  watermarkLag: fc.constantFrom(0, 1, 3),
})

/** Step s holds on bit s of a row, its until on bit 4 + s (so they overlap at random). */
function bitFunctions(spec: PatternSpec): CepFunctions {
  return {
    ...fixtureFunctions(spec),
    conditions: spec.steps.map((_, s) => (row: unknown) => (((row as BitRow).bits >> s) & 1) === 1),
    untils: spec.steps.map((step, s) =>
      step.hasUntil ? (row: unknown) => (((row as BitRow).bits >> (4 + s)) & 1) === 1 : null,
    ),
  }
}

function roundsOf(input: {
  events: { bits: number; key: number; gap: number }[]
  cuts: number[]
  watermarkLag: number
}): Round[] {
  let time = 0
  const all = input.events.map((e, at) => {
    time += e.gap
    return { row: { bits: e.bits, at } satisfies BitRow, key: e.key, time }
  })
  const rounds: Round[] = []
  let at = 0
  let cut = 0
  while (at < all.length) {
    const size = input.cuts[cut++ % input.cuts.length]!
    const part = all.slice(at, at + size)
    at += size
    const last = part[part.length - 1]!.time
    // The operator releases events the watermark passed; the next round's come after it.
    const next = all[at]?.time ?? Number.POSITIVE_INFINITY
    const watermark = Math.min(last + input.watermarkLag, next - 1)
    rounds.push({
      rows: part.map((p) => p.row),
      keyIds: part.map((p) => p.key),
      times: part.map((p) => p.time),
      watermark: watermark >= last ? watermark : null,
    })
  }
  rounds.push({ rows: [], keyIds: [], times: [], watermark: time + 100 })
  return rounds
}

function specOrNull(pattern: string, options: OptionsValue): { spec: PatternSpec; nfa: Nfa } | null {
  try {
    const spec = readPattern(pattern, {
      withinMs: options.withinMs,
      skip: options.skip,
      untils: options.untils,
    })
    return { spec, nfa: compileNfa(spec) }
  } catch {
    return null
  }
}

/** A random case's pattern, conditions, budget and rounds (null: the pattern does not compile). */
function randomCase(pattern: string, options: OptionsValue, input: Parameters<typeof roundsOf>[0]) {
  const compiled = specOrNull(pattern, options)
  if (compiled === null) return null
  return {
    ...compiled,
    functions: bitFunctions(compiled.spec),
    budget: { maxPerKey: options.maxPerKey, maxTotal: options.maxTotal },
    rounds: roundsOf(input),
  }
}

type RandomCase = NonNullable<ReturnType<typeof randomCase>>

/** Runs `check` on `numRuns` random cases whose pattern compiles. */
function forRandomCases(numRuns: number, check: (random: RandomCase) => void): void {
  fc.assert(
    fc.property(patternArb, optionsArb, inputArb, (pattern, options, input) => {
      const random = randomCase(pattern, options, input)
      fc.pre(random !== null)
      check(random!)
    }),
    { numRuns },
  )
}

/**
 * What a key's exchange form says, without how it shares nodes: per partial and held match its
 * fields but the path's node, and its path as (step, time, seq, row) from the oldest event.
 */
function exchangePaths(matches: KeyMatches): { fields: number[]; path: unknown[] }[] {
  const pathOf = (node: number): unknown[] => {
    const path: unknown[] = []
    for (let x = node; x >= 0; x = matches.previous[x]!)
      path.unshift([matches.steps[x], matches.times[x], matches.seqs[x], matches.rows[x]])
    return path
  }
  const states = (numbers: Float64Array, fields: number) =>
    Array.from({ length: numbers.length / fields }, (_, i) => {
      const own = Array.from(numbers.subarray(i * fields, (i + 1) * fields))
      return { fields: own.filter((_, f) => f !== 1), path: pathOf(own[1]!) }
    })
  return [...states(matches.partials, PARTIAL_FIELDS), ...states(matches.held, HELD_FIELDS)]
}

/**
 * Engines from `create` give `expected` on the case straight, restored from a snapshot into a new
 * one after every round, and with their keys exchanged through the TypeScript engine and back after
 * every advance (the exchange form carries what records derive).
 */
function expectEveryWay(random: RandomCase, create: () => PatternEngine, expected: Output): void {
  const { spec, nfa, functions, budget, rounds } = random
  expect(run(create(), functions, rounds)).toEqual(expected)
  const restored = run(create(), functions, rounds, (current) => {
    const next = create()
    next.restore(current.snapshot())
    return next
  })
  expect(restored).toEqual(expected)
  let round = 0
  let hop = 0
  const exchanged = run(create(), functions, rounds, (current) => {
    if (rounds[round++]!.watermark === null) return current
    const next: PatternEngine = hop++ % 2 === 0 ? new NfaEngine(nfa, spec.skip, functions, budget) : create()
    for (let keyId = 0; keyId < 3; keyId++) {
      const matches = current.exportKey(keyId)
      if (matches !== null) next.importKey(keyId, deserialize(serialize(matches)) as KeyMatches)
    }
    return next
  })
  expect(exchanged.byKey).toEqual(expected.byKey)
  expect(exchanged.partials).toEqual(expected.partials)
}

describe('the kernel against the TypeScript engine on random patterns', () => {
  it('same matches, timeouts, partial matches and drops, batch by batch', () => {
    let compared = 0
    forRandomCases(400, ({ spec, nfa, functions, budget, rounds }) => {
      compared++
      const expected = run(new NfaEngine(nfa, spec.skip, functions, budget), functions, rounds)
      const actual = run(kernel.createEngine(nfa, spec, budget), functions, rounds)
      expect(actual).toEqual(expected)
    })
    expect(compared).toBeGreaterThan(100)
  })

  it('the decision cache and its stays shortcut step as the general path and the TypeScript engine', () => {
    let cached = 0
    forRandomCases(300, ({ spec, nfa, functions, budget, rounds }) => {
      if (nfa.states.every((s) => s.windowMs === null)) cached++
      const expected = run(new NfaEngine(nfa, spec.skip, functions, budget), functions, rounds)
      const general = kernel.createEngine(nfa, spec, budget, { tuning: { decisionCache: false } })
      const fast = kernel.createEngine(nfa, spec, budget, { tuning: { readAheadFromBytes: 0 } })
      expect(run(general, functions, rounds)).toEqual(expected)
      expect(run(fast, functions, rounds)).toEqual(expected)
    })
    // Patterns without step windows are the ones the cache serves.
    expect(cached).toBeGreaterThan(50)
  })

  it('a snapshot restored into a new engine after every round goes on as the original', () => {
    forRandomCases(150, ({ spec, nfa, functions, budget, rounds }) => {
      const straight = run(kernel.createEngine(nfa, spec, budget), functions, rounds)
      const restored = run(kernel.createEngine(nfa, spec, budget), functions, rounds, (engine) => {
        const next = kernel.createEngine(nfa, spec, budget)
        next.restore(engine.snapshot())
        return next
      })
      expect(restored).toEqual(straight)
    })
  })
})

describe('incremental snapshots: changed keys out, into a fresh engine', () => {
  it('keys taken after every round (base and deltas composed) go on as the original, in either engine', () => {
    let imported = 0
    fc.assert(
      fc.property(patternArb, optionsArb, inputArb, fc.boolean(), (pattern, options, input, crossOver) => {
        const random = randomCase(pattern, options, input)
        fc.pre(random !== null)
        const { spec, nfa, functions, budget, rounds } = random!
        const straight = run(kernel.createEngine(nfa, spec, budget), functions, rounds)
        const stored = new Map<number, Buffer>()
        let round = 0
        let crossed = 0
        const restored = run(kernel.createEngine(nfa, spec, budget), functions, rounds, (engine) => {
          // As the operator does, only after an advanceTime (timeouts found while stepping wait for one).
          if (rounds[round++]!.watermark === null) return engine
          for (const keyId of Array.from(engine.takeChangedKeys())) {
            const matches = engine.exportKey(keyId)
            if (matches === null) stored.delete(keyId)
            else stored.set(keyId, serialize(matches))
          }
          // Every other round into the TypeScript engine when crossing over: the form is the engines' common one.
          const next: PatternEngine =
            crossOver && crossed++ % 2 === 0
              ? new NfaEngine(nfa, spec.skip, functions, budget)
              : kernel.createEngine(nfa, spec, budget)
          for (const [keyId, bytes] of stored) {
            next.importKey(keyId, deserialize(bytes) as KeyMatches)
            imported++
          }
          return next
        })
        // Drop counts start anew in a restored engine; matches, timeouts and partial matches go on.
        expect(restored.byKey).toEqual(straight.byKey)
        expect(restored.partials).toEqual(straight.partials)
      }),
      { numRuns: 200 },
    )
    expect(imported).toBeGreaterThan(0)
  })
})

describe('memory', () => {
  it('grows through many keys and partial matches and frees every event once they end', () => {
    const spec = readPattern('a{2} followed by b', { withinMs: 50 })
    const functions = fixtureFunctions(spec)
    const nfa = compileNfa(spec)
    const wasm = kernel.createEngine(nfa, spec, UNBOUNDED)
    const typescript = new NfaEngine(nfa, spec.skip, functions, UNBOUNDED)
    const rounds: Round[] = []
    for (let r = 0; r < 20; r++) {
      const rows: FixtureRow[] = []
      const keyIds: number[] = []
      const times: number[] = []
      for (let i = 0; i < 2000; i++) {
        rows.push({ id: `${r}.${i}`, v: i % 7 === 6 ? 'b' : 'a' })
        keyIds.push((i * 7919 + r) % 5000)
        times.push(r * 10 + 1)
      }
      rounds.push({ rows, keyIds, times, watermark: r * 10 + 1 })
    }
    rounds.push({ rows: [], keyIds: [], times: [], watermark: 1000 })
    expect(run(wasm, functions, rounds)).toEqual(run(typescript, functions, rounds))
    expect(wasm.partialMatches).toBe(0)
    expect(wasm.pathNodes).toBe(0)
    for (let k = 0; k < 5000; k++) expect(wasm.keyIsEmpty(k)).toBe(true)
  })

  // A key's block grows as its partial matches do and moves back to a smaller one once most have
  // expired (decision 0032): a key that grows, shrinks and grows again, beside keys that do not,
  // must step as the TypeScript engine does, restored from a snapshot between rounds or not.
  it('moves a key to larger and smaller blocks as its partial matches come and go', () => {
    const spec = readPattern('a followed by b', { withinMs: 40 })
    const functions = fixtureFunctions(spec)
    const nfa = compileNfa(spec)
    const rounds: Round[] = []
    let time = 1
    // Bursts of 30 a's on key 0 (a block of class 4), a's on keys 1–3 between them, and pauses
    // after which all of key 0's expire but the last few.
    for (let r = 0; r < 6; r++) {
      const rows: FixtureRow[] = []
      const keyIds: number[] = []
      const times: number[] = []
      const burst = r % 2 === 0 ? 30 : 3
      for (let i = 0; i < burst; i++) {
        rows.push({ id: `${r}.${i}`, v: i === 8 && r === 2 ? 'b' : 'a' })
        keyIds.push(i % 4 === 3 ? 1 + (i % 3) : 0)
        times.push(time++)
      }
      time += 38
      rounds.push({ rows, keyIds, times, watermark: time - 3 })
    }
    rounds.push({ rows: [], keyIds: [], times: [], watermark: time + 100 })
    const typescript = run(new NfaEngine(nfa, spec.skip, functions, UNBOUNDED), functions, rounds)
    expect(run(kernel.createEngine(nfa, spec, UNBOUNDED), functions, rounds)).toEqual(typescript)
    const restored = run(kernel.createEngine(nfa, spec, UNBOUNDED), functions, rounds, (engine) => {
      const next = kernel.createEngine(nfa, spec, UNBOUNDED)
      next.restore(engine.snapshot())
      return next
    })
    expect(restored).toEqual(typescript)
    expect(typescript.byKey.get(0)!.some((e) => e.startsWith('m'))).toBe(true)
  })

  // The kernel reads the key records, partial matches and path nodes of the events (and of the
  // timers) a few dozen ahead: only batches and timer queues longer than that reach that code,
  // and a restore lays the regions out anew under the walks it may have begun.
  it('reads ahead over long batches of many keys as the TypeScript engine steps, restored or not', () => {
    const patternArb = fc.constantFrom(
      'a{2} followed by b',
      'a followed by any b',
      'a+ followed by b',
      'a next b followed by c',
    )
    const roundArb = fc.array(
      fc.record({
        v: fc.constantFrom('a', 'a', 'b', 'c', 'x'),
        key: fc.nat(150),
        gap: fc.constantFrom(0, 1, 2),
      }),
      { minLength: 40, maxLength: 300 },
    )
    fc.assert(
      fc.property(
        patternArb,
        fc.integer({ min: 5, max: 60 }),
        fc.array(roundArb, { minLength: 2, maxLength: 5 }),
        fc.boolean(),
        (pattern, withinMs, events, restore) => {
          const spec = readPattern(pattern, { withinMs })
          const functions = fixtureFunctions(spec)
          let time = 0
          const rounds: Round[] = events.map((round, r) => {
            const times = round.map((e) => (time += e.gap))
            return {
              rows: round.map((e, i) => ({ id: `${r}.${i}`, v: e.v }) satisfies FixtureRow),
              keyIds: round.map((e) => e.key),
              times,
              watermark: time,
            }
          })
          rounds.push({ rows: [], keyIds: [], times: [], watermark: time + 1000 })
          // These states are far below the size from which the kernel reads ahead by default.
          const { typescript, wasm } = bothEngines(spec, functions, UNBOUNDED, { readAheadFromBytes: 0 })
          const expected = run(typescript, functions, rounds)
          const actual = run(
            wasm,
            functions,
            rounds,
            restore
              ? (engine) => {
                  engine.restore(engine.snapshot())
                  return engine
                }
              : null,
          )
          expect(actual.byKey).toEqual(expected.byKey)
          expect(actual.partials).toEqual(expected.partials)
          // Reading ahead only reads: once everything ended, every path node is free again.
          expect(wasm.pathNodes).toBe(0)
        },
      ),
      { numRuns: 40 },
    )
  })

  it('without timeouts to report (no `timeout into`) it counts them and matches the same', () => {
    const spec = readPattern('a{2} followed by b', { withinMs: 4 })
    const functions = fixtureFunctions(spec)
    const rows = rowsOf('a1 a2 x a3 b a4 a5 x x x x a6')
    const rounds: Round[] = [
      { rows, keyIds: rows.map(() => 0), times: rows.map((_, i) => i + 1), watermark: 100 },
    ]
    const reported = run(kernel.createEngine(compileNfa(spec), spec, UNBOUNDED), functions, rounds)
    const silent = kernel.factory(compileNfa)(spec, { ...functions, timeout: null }, UNBOUNDED)
    const quiet = run(silent, functions, rounds)
    const timeouts = reported.byKey.get(0)!.filter((e) => e.startsWith('t'))
    expect(timeouts.length).toBeGreaterThan(0)
    expect(quiet.byKey.get(0)).toEqual(reported.byKey.get(0)!.filter((e) => e.startsWith('m')))
    expect(quiet.byKey.get(0)!.length).toBeGreaterThan(0)
    expect(quiet.dropped).toEqual(reported.dropped)
    expect(JSON.parse(quiet.dropped.at(-1)!).timeout).toBe(timeouts.length)
  })

  it('refuses a snapshot of the TypeScript engine', () => {
    const spec = readPattern('a followed by b')
    const functions = fixtureFunctions(spec)
    const typescript = new NfaEngine(compileNfa(spec), spec.skip, functions, UNBOUNDED)
    const wasm = kernel.createEngine(compileNfa(spec), spec, UNBOUNDED)
    expect(() => wasm.restore(typescript.snapshot())).toThrow(/not a snapshot of the WebAssembly CEP engine/)
  })

  // Version 4 keeps each key's partial matches in a block of its own (decision 0032): the memory
  // image of a version 3 kernel (pooled states) must not be read as one.
  it('refuses a snapshot of the kernel layout before key blocks (version 3)', () => {
    const spec = readPattern('a followed by b')
    const functions = fixtureFunctions(spec)
    const rows = rowsOf('a1 x a2')
    const wasm = kernel.createEngine(compileNfa(spec), spec, UNBOUNDED)
    run(wasm, functions, [
      { rows, keyIds: rows.map(() => 0), times: rows.map((_, i) => i + 1), watermark: 1 },
    ])
    const old = deserialize(wasm.snapshot()) as { version: number }
    expect(old.version).toBe(7)
    old.version = 3
    const fresh = kernel.createEngine(compileNfa(spec), spec, UNBOUNDED)
    expect(() => fresh.restore(serialize(old))).toThrow(
      /not a snapshot of the WebAssembly CEP engine of a version/,
    )
  })

  it('refuses to trace (explain runs the TypeScript engine)', () => {
    const spec = readPattern('a followed by b')
    const wasm = kernel.createEngine(compileNfa(spec), spec, UNBOUNDED)
    expect(() => {
      wasm.trace = () => {}
    }).toThrow(/does not trace/)
    wasm.trace = null
  })
})

// Decision 0032, addendum: without step windows and skip strategies a partial match record is
// state, path node and start time (16 bytes); the start seq and last time come from its path.
describe('compact partial match records', () => {
  it('are chosen for patterns without step windows and skip strategies, full records otherwise', () => {
    const layoutOf = (pattern: string, options: Parameters<typeof readPattern>[1] = {}) => {
      const spec = readPattern(pattern, options)
      const engine = kernel.createEngine(compileNfa(spec), spec, UNBOUNDED)
      return [recordLayout(compileNfa(spec), spec.skip), engine.recordLayout, engine.recordBytes]
    }
    // (Bounded with a whole-pattern within: the inline class, below.)
    expect(layoutOf('a{2} followed by b', { withinMs: 600_000 })).toEqual(['inline', 'inline', 24])
    expect(layoutOf('a{2} followed by b')).toEqual(['compact', 'compact', 16])
    expect(layoutOf('a+ followed by any b not followed by c', { withinMs: 5 })).toEqual([
      'compact',
      'compact',
      16,
    ])
    expect(layoutOf('a followed by b within 3')).toEqual(['full', 'full', 40])
    expect(layoutOf('a{2} followed by b', { skip: 'pastLastEvent' })).toEqual(['full', 'full', 40])
  })

  const compactPatternArb = patternArb.filter((pattern) => !pattern.includes('within'))
  const compactOptionsArb = optionsArb.map((options) => ({ ...options, skip: 'noSkip' as const }))

  it('step as the TypeScript engine does, straight, restored after every round and exchanged key by key', () => {
    let compared = 0
    fc.assert(
      fc.property(compactPatternArb, compactOptionsArb, inputArb, (pattern, options, input) => {
        const random = randomCase(pattern, options, input)
        fc.pre(random !== null)
        const { spec, nfa, functions, budget, rounds } = random!
        compared++
        const expected = run(new NfaEngine(nfa, spec.skip, functions, budget), functions, rounds)
        // (Patterns of the inline class too, told to keep path nodes.)
        const compact = () => kernel.createEngine(nfa, spec, budget, { tuning: { inlineEvents: false } })
        expect(compact().recordBytes).toBe(16)
        expectEveryWay(random!, compact, expected)
      }),
      { numRuns: 250 },
    )
    expect(compared).toBeGreaterThan(100)
  })

  it('are not used under a skip strategy or a step window, which step as before', () => {
    let compared = 0
    fc.assert(
      fc.property(patternArb, optionsArb, inputArb, (pattern, options, input) => {
        const compiled = specOrNull(pattern, options)
        fc.pre(compiled !== null)
        const { spec, nfa } = compiled!
        fc.pre(spec.skip.kind !== 'noSkip' || nfa.states.some((s) => s.windowMs !== null))
        compared++
        const functions = bitFunctions(spec)
        const budget = { maxPerKey: options.maxPerKey, maxTotal: options.maxTotal }
        const rounds = roundsOf(input)
        const engine = kernel.createEngine(nfa, spec, budget)
        expect(engine.recordLayout).toBe('full')
        expect(engine.recordBytes).toBe(40)
        expect(run(engine, functions, rounds)).toEqual(
          run(new NfaEngine(nfa, spec.skip, functions, budget), functions, rounds),
        )
      }),
      { numRuns: 150 },
    )
    expect(compared).toBeGreaterThan(50)
  })
})

/**
 * A snapshot fixture: engines of an earlier kernel and host after the first rounds of a seeded
 * input, as [{ pattern, withinMs, rounds, snapshotAfter, snapshot, partials }] (rows are
 * FixtureRows; seqs number the rounds' rows from 0).
 */
interface SnapshotFixture {
  readonly pattern: string
  readonly withinMs: number
  readonly rounds: Round[]
  readonly snapshotAfter: number
  readonly snapshot: Uint8Array
  readonly partials: number
}

/**
 * Runs each case of fixture `file` (of snapshot version `version`) in the TypeScript engine until
 * its snapshot, restores it into a kernel engine there (`check` sees it) and goes on with
 * `afterRestore` (round by round, after the restore), which must give what the TypeScript engine
 * gives.
 */
function expectFixtureGoesOn(
  file: string,
  version: number,
  check: (restored: WasmPatternEngine, c: SnapshotFixture) => void,
  afterRestore: (current: PatternEngine, make: () => WasmPatternEngine) => PatternEngine = (current) =>
    current,
): void {
  const cases = deserialize(readFileSync(join(import.meta.dirname, 'fixtures', file))) as SnapshotFixture[]
  expect(cases.length).toBe(2)
  for (const c of cases) {
    expect((deserialize(c.snapshot) as { version: number }).version).toBe(version)
    const spec = readPattern(c.pattern, { withinMs: c.withinMs })
    const functions = fixtureFunctions(spec)
    const nfa = compileNfa(spec)
    const make = () => kernel.createEngine(nfa, spec, UNBOUNDED)
    const expected = run(new NfaEngine(nfa, spec.skip, functions, UNBOUNDED), functions, c.rounds)
    let round = 0
    const actual = run(
      new NfaEngine(nfa, spec.skip, functions, UNBOUNDED),
      functions,
      c.rounds,
      (current) => {
        round++
        if (round > c.snapshotAfter) return afterRestore(current, make)
        if (round < c.snapshotAfter) return current
        const restored = make()
        restored.restore(c.snapshot)
        check(restored, c)
        return restored
      },
    )
    expect(actual.partials[c.snapshotAfter - 1]).toBe(c.partials)
    expect(c.partials).toBeGreaterThan(0)
    expect(actual.byKey).toEqual(expected.byKey)
    expect(actual.partials).toEqual(expected.partials)
    expect([...expected.byKey.values()].flat().some((m) => m.startsWith('m'))).toBe(true)
  }
}

describe('version 4 snapshots (full records only)', () => {
  // wasm/host/fixtures/cep-snapshot-v4.bin: the kernel and host at 4936dbc (before compact records).
  it('restore into compact records and go on as the TypeScript engine does', () => {
    expectFixtureGoesOn('cep-snapshot-v4.bin', 4, (restored) => expect(restored.recordBytes).toBe(16))
  })
})

// wasm/host/fixtures/cep-snapshot-v5.bin: the kernel and host at 686105c (timers without
// generations); cep-snapshot-v6.bin: at 4bd57a4 (with generations); both before inline records,
// after the first rounds of the version 4 fixture's inputs.
describe.each([
  { version: 5, file: 'cep-snapshot-v5.bin' },
  { version: 6, file: 'cep-snapshot-v6.bin' },
])('version $version snapshots (path nodes)', ({ version, file }) => {
  it('restore into path nodes (also for a pattern now of the inline class) and go on as the TypeScript engine does', () => {
    const layouts: string[] = []
    expectFixtureGoesOn(
      file,
      version,
      (restored, c) => {
        const spec = readPattern(c.pattern, { withinMs: c.withinMs })
        layouts.push(`${recordLayout(compileNfa(spec), spec.skip)} as ${restored.recordLayout}`)
      },
      // Then through a version 7 snapshot of the restored engine after every round: still path nodes.
      (current, make) => {
        const again = make()
        again.restore(current.snapshot())
        expect(again.recordLayout).toBe('compact')
        return again
      },
    )
    expect(layouts).toEqual(['inline as compact', 'compact as compact'])
  })
})

// Decision 0032, addendum of 19:40: bounded patterns with a whole-pattern `within` keep each partial
// match's events in its record (ring indices), with no path nodes.
describe('inline partial match records', () => {
  it('are chosen for bounded patterns with a within, compact records for unbounded ones', () => {
    const layoutOf = (pattern: string, withinMs: number | null) => {
      const spec = readPattern(pattern, { withinMs })
      const engine = kernel.createEngine(compileNfa(spec), spec, UNBOUNDED)
      return [mostEventsTaken(compileNfa(spec)), engine.recordLayout, engine.recordBytes]
    }
    expect(layoutOf('a{2} followed by b', 10)).toEqual([{ any: 3, stored: 2 }, 'inline', 24])
    expect(layoutOf('a followed by b{3}', 10)).toEqual([{ any: 4, stored: 3 }, 'inline', 32])
    expect(layoutOf('a{2} followed by b{3}', 10)).toEqual([{ any: 5, stored: 4 }, 'compact', 16])
    expect(layoutOf('a+ followed by b', 10)).toEqual([null, 'compact', 16])
    expect(layoutOf('a followed by b', null)).toEqual([{ any: 2, stored: 1 }, 'compact', 16])
  })

  const inlinePatternArb = patternArb.filter((pattern) => !pattern.includes('within'))
  const inlineOptionsArb = optionsArb.map((options) => ({
    ...options,
    skip: 'noSkip' as const,
    withinMs: options.withinMs ?? 6,
  }))

  it('step as the TypeScript engine and as path nodes do, straight, restored after every round and exchanged key by key', () => {
    let compared = 0
    fc.assert(
      fc.property(inlinePatternArb, inlineOptionsArb, inputArb, (pattern, options, input) => {
        const random = randomCase(pattern, options, input)
        fc.pre(random !== null && recordLayout(random.nfa, random.spec.skip) === 'inline')
        const { spec, nfa, functions, budget, rounds } = random!
        compared++
        const expected = run(new NfaEngine(nfa, spec.skip, functions, budget), functions, rounds)
        const inline = () => kernel.createEngine(nfa, spec, budget, { tuning: { readAheadFromBytes: 0 } })
        expect(inline().recordLayout).toBe('inline')
        // Path nodes step the same, and after every round a key's exchange form says the same
        // (paths, fields) in no more nodes: the inline export shares the prefixes branches share.
        const exportsOf = (engine: PatternEngine) => {
          const exports: (ReturnType<typeof exchangePaths> | null)[] = []
          let nodeCount = 0
          const output = run(engine, functions, rounds, (current) => {
            for (let keyId = 0; keyId < 3; keyId++) {
              const matches = current.exportKey(keyId)
              nodeCount += matches?.steps.length ?? 0
              exports.push(matches === null ? null : exchangePaths(matches))
            }
            return current
          })
          return { output, exports, nodeCount }
        }
        const viaNodes = exportsOf(
          kernel.createEngine(nfa, spec, budget, { tuning: { inlineEvents: false } }),
        )
        const viaInline = exportsOf(inline())
        expect(viaNodes.output).toEqual(expected)
        expect(viaInline.exports).toEqual(viaNodes.exports)
        expect(viaInline.nodeCount).toBeLessThanOrEqual(viaNodes.nodeCount)
        expectEveryWay(random!, inline, expected)
      }),
      { numRuns: 400 },
    )
    expect(compared).toBeGreaterThan(100)
  })

  // A record whose one successor is a take into a waiting state advances in place, and a take from
  // the start appends a record directly; both must land where the general path puts them when a
  // record before them changed first (here the pairs an `ab` event completes) and when not.
  it('advance in place and start records directly, behind records that changed or not', () => {
    const spec = readPattern('a{2} followed by b', { withinMs: 100 })
    const holds = (letter: string) => (row: unknown) => (row as FixtureRow).v.includes(letter)
    const functions = fixtureFunctions(spec, { a: holds('a'), b: holds('b') })
    const nfa = compileNfa(spec)
    const rows = rowsOf('a1 a2 a3 ab4 a5 c6 b7 a8 ab9 ab10 b11')
    const round = (from: number, to: number, watermark: number | null): Round => ({
      rows: rows.slice(from, to),
      keyIds: rows.slice(from, to).map(() => 0),
      times: rows.slice(from, to).map((_, i) => from + i + 1),
      watermark,
    })
    const rounds = [round(0, 5, 5), round(5, 11, 11), round(11, 11, 500)]
    const expected = run(new NfaEngine(nfa, spec.skip, functions, UNBOUNDED), functions, rounds)
    const fast = kernel.createEngine(nfa, spec, UNBOUNDED)
    expect(fast.recordLayout).toBe('inline')
    expect(run(fast, functions, rounds)).toEqual(expected)
    const general = kernel.createEngine(nfa, spec, UNBOUNDED, { tuning: { decisionCache: false } })
    expect(run(general, functions, rounds)).toEqual(expected)
    // ab4 completes a1 a2 and a2 a3 before a3's record advances to the pair a3 ab4 (b7 completes
    // it); ab9 completes a5 a8 before advancing a8; ab10 completes a8 ab9 before advancing ab9;
    // ab10 waits for a second a until it times out.
    expect(expected.byKey.get(0)).toEqual([
      'm @4 0:0 1:0 3:1',
      'm @4 1:0 2:0 3:1',
      'm @7 2:0 3:0 6:1',
      'm @7 3:0 4:0 6:1',
      'm @9 4:0 7:0 8:1',
      'm @10 7:0 8:0 9:1',
      'm @11 8:0 9:0 10:1',
      't @110 9:0',
    ])
  })

  it('drops ring entries by time: after an advance only events within `within` of the watermark stay', () => {
    const withinMs = 10
    const spec = readPattern('a{2} followed by b', { withinMs })
    const functions = fixtureFunctions(spec)
    const nfa = compileNfa(spec)
    const wasm = kernel.createEngine(nfa, spec, UNBOUNDED)
    expect(wasm.recordLayout).toBe('inline')
    const typescript = new NfaEngine(nfa, spec.skip, functions, UNBOUNDED)
    const rounds: Round[] = []
    for (let r = 0; r < 60; r++) {
      const rows: FixtureRow[] = []
      for (let i = 0; i < 300; i++) rows.push({ id: `${r}.${i}`, v: i % 11 === 10 ? 'b' : 'a' })
      rounds.push({
        rows,
        keyIds: rows.map((_, i) => (i * 31 + r) % 400),
        times: rows.map(() => r + 1),
        watermark: r + 1,
      })
    }
    rounds.push({ rows: [], keyIds: [], times: [], watermark: 1000 })
    const live: number[] = []
    const actual = run(wasm, functions, rounds, (engine) => {
      live.push((engine as WasmPatternEngine).pathNodes)
      return engine
    })
    expect(actual).toEqual(run(typescript, functions, rounds))
    // A round's events are taken at most once each (300 per round): after the advance to r + 1,
    // those of rounds r + 1 - within + 1 … r + 1 may stay, no older ones.
    for (const [r, n] of live.entries()) expect(n).toBeLessThanOrEqual(300 * Math.min(r + 1, withinMs))
    expect(Math.max(...live)).toBeGreaterThan(300 * (withinMs - 1))
    expect(live.at(-1)).toBe(0)
  })

  it('imports a key whose events are older than the ring front (out of order), and drops them once expired', () => {
    const spec = readPattern('a{2} followed by b', { withinMs: 20 })
    const functions = fixtureFunctions(spec)
    const nfa = compileNfa(spec)
    const events = (
      keyIds: number[],
      times: number[],
      values: string[],
      firstSeq: number,
    ): ReleasedEvents => {
      const rows = values.map((v, i) => ({ id: `${firstSeq + i}`, v }) satisfies FixtureRow)
      const masks = new Uint32Array(rows.length)
      fillMasks(functions, rows, masks)
      return {
        length: rows.length,
        keyIds: Int32Array.from(keyIds),
        times: Float64Array.from(times),
        seqs: Float64Array.from(rows, (_, i) => firstSeq + i),
        rows,
        masks,
      }
    }
    const describe = (list: EngineMatch[]) =>
      list.map(
        (m) => `${m.keyId} ${describeMatch('m', m)} ${m.rows.map((r) => (r as FixtureRow).id).join(',')}`,
      )
    // The reference steps everything in time order: key 1 at 90–92, key 0 at 100–103.
    const reference = new NfaEngine(nfa, spec.skip, functions, UNBOUNDED)
    const ignore: EngineMatch[] = []
    reference.step(events([1, 1], [90, 91], ['a', 'a'], 0), ignore, [])
    reference.step(events([0, 0, 0], [100, 101, 102], ['a', 'a', 'a'], 2), ignore, [])
    reference.advanceTime(104, ignore, [])
    // The kernel: key 0 first; key 1 stepped elsewhere and imported after.
    const wasm = kernel.createEngine(nfa, spec, UNBOUNDED)
    wasm.step(events([0, 0, 0], [100, 101, 102], ['a', 'a', 'a'], 2), ignore, [])
    wasm.advanceTime(104, ignore, [])
    const elsewhere = kernel.createEngine(nfa, spec, UNBOUNDED)
    elsewhere.step(events([1, 1], [90, 91], ['a', 'a'], 0), ignore, [])
    elsewhere.advanceTime(104, ignore, [])
    wasm.importKey(1, deserialize(serialize(elsewhere.exportKey(1))) as KeyMatches)
    expect(wasm.partialMatches).toBe(reference.partialMatches)
    const front = wasm.pathNodes
    for (const engine of [reference, wasm]) engine.step(events([1, 0], [105, 105], ['b', 'b'], 5), ignore, [])
    const later = (engine: PatternEngine, watermark: number) => {
      const matches: EngineMatch[] = []
      const timeouts: EngineMatch[] = []
      engine.advanceTime(watermark, matches, timeouts)
      return [describe(matches), describe(timeouts)]
    }
    // Key 1's partial match from 91 times out at 111, but its entries (imported after key 0's, which
    // are still live) stay behind the ring's front: only the two b's came since.
    expect(later(wasm, 112)).toEqual(later(reference, 112))
    expect(wasm.exportKey(1)).toBeNull()
    expect(wasm.pathNodes).toBe(front + 2)
    expect(later(wasm, 1000)).toEqual(later(reference, 1000))
    expect(wasm.pathNodes).toBe(0)
    expect(describe(ignore.filter((m) => m.keyId === 1)).length).toBeGreaterThan(0)
  })

  it('refuses an import whose path holds more events than its records', () => {
    const spec = readPattern('a{2} followed by b', { withinMs: 20 })
    const wasm = kernel.createEngine(compileNfa(spec), spec, UNBOUNDED)
    const matches: KeyMatches = {
      steps: Int32Array.from([0, 0, 1]),
      previous: Int32Array.from([-1, 0, 1]),
      times: Float64Array.from([1, 2, 3]),
      seqs: Float64Array.from([0, 1, 2]),
      rows: [{}, {}, {}],
      partials: Float64Array.from([2, 2, 1, 0, 3]),
      held: new Float64Array(0),
    }
    expect(() => wasm.importKey(0, matches)).toThrow(/more events than an inline record holds/)
  })
})

// Decision 0032, addendum of 20:00: a key id the host forgot (keyIsEmpty) and gave to another key
// must not bring the forgotten key's timers along.
describe('timers of a forgotten key', () => {
  it('do not order the expiry of the next key with its id', () => {
    const spec = readPattern('a next b', { withinMs: 10 })
    const functions = fixtureFunctions(spec)
    const timeoutsOf = (engine: PatternEngine): string[] => {
      let seq = 0
      const stepRows = (rows: FixtureRow[], keyIds: number[], times: number[]) => {
        const events: ReleasedEvents = {
          length: rows.length,
          keyIds: Int32Array.from(keyIds),
          times: Float64Array.from(times),
          seqs: Float64Array.from(rows, () => seq++),
          rows,
          masks: new Uint32Array(rows.length),
        }
        if (engine.wantsMasks) fillMasks(functions, rows, events.masks)
        engine.step(events, [], [])
      }
      const timeouts: EngineMatch[] = []
      // Key 0's partial match (timer at 11) ends at once (strict contiguity), and the host forgets it.
      stepRows(rowsOf('a1 x1'), [0, 0], [1, 2])
      engine.advanceTime(2, [], timeouts)
      expect(engine.keyIsEmpty(0)).toBe(true)
      // Key 1 begins at 3 (expires at 13), then a new key on id 0 at 4 (expires at 14).
      stepRows(rowsOf('a2 a3'), [1, 0], [3, 4])
      engine.advanceTime(20, [], timeouts)
      return timeouts.map((t) => `key ${t.keyId} @${t.time} ${t.seqs.join(' ')}`)
    }
    const { typescript, wasm } = bothEngines(spec, functions)
    const expected = ['key 1 @13 2', 'key 0 @14 3']
    expect(timeoutsOf(typescript)).toEqual(expected)
    // Without generations the stale entry (11, key 0) came first and took the new key 0 along.
    expect(timeoutsOf(wasm)).toEqual(expected)
  })
})
