import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import { canFail } from '../ir/expr.ts'
import { inputsOf } from '../ir/graph.ts'
import { createInterpreter } from '../ir/interpret.ts'
import type { Expr, FilterNode, FusedNode, Node, Pipeline } from '../ir/types.ts'
import { fuseStatelessChains } from './fuse-stateless-chains.ts'
import { optimise } from './optimise.ts'
import { pushFiltersTowardSource } from './push-filters-toward-source.ts'

const SCHEMA = `
schema E { id: string, card: string, amount: f64, country: string?, ts: timestamp @event_time }
source events: E from kafka("events")
`

function checked(body: string): Pipeline {
  const result = checkSource('test.pipe', SCHEMA + body)
  if (!result.pipeline) throw new Error(JSON.stringify(result.diagnostics, null, 2))
  return result.pipeline
}

/** The node kinds from the source to the sink, following inputs backwards from `sinkIndex`'s sink. */
function chainTo(pipeline: Pipeline, sinkIndex = 0): string[] {
  const byId = new Map(pipeline.nodes.map((n) => [n.id, n]))
  const sink = pipeline.nodes.filter((n) => n.kind === 'Sink')[sinkIndex]!
  const kinds: string[] = []
  for (let node: Node | undefined = sink; node; node = byId.get(inputsOf(node)[0] ?? '')) {
    kinds.unshift(node.kind)
  }
  return kinds
}

function isTopological(pipeline: Pipeline): boolean {
  const seen = new Set<string>()
  return pipeline.nodes.every((n) => {
    const ok = inputsOf(n).every((input) => seen.has(input))
    seen.add(n.id)
    return ok
  })
}

describe('pushFiltersTowardSource', () => {
  it('moves a filter past key by and a plain projection', () => {
    const before = checked(`
stream s = events | select { id, card, amount } | key by card | where amount > 10.0
sink s -> kafka("out")`)
    expect(chainTo(before)).toEqual(['Source', 'Map', 'KeyBy', 'Filter', 'Sink'])
    const after = pushFiltersTowardSource(before)
    expect(chainTo(after)).toEqual(['Source', 'Filter', 'Map', 'KeyBy', 'Sink'])
    expect(isTopological(after)).toBe(true)
    const filter = after.nodes.find((n) => n.kind === 'Filter')!
    // The predicate now reads the source's column, and the filter emits the source's schema.
    expect(
      filter.kind === 'Filter' && filter.predicate.kind === 'Binary' && filter.predicate.left,
    ).toMatchObject({
      kind: 'Column',
      name: 'amount',
    })
    expect(filter.schema.fields.map((f) => f.name)).toEqual(['id', 'card', 'amount', 'country', 'ts'])
  })

  it('splits conjuncts: moves those over projections, keeps those over computed fields', () => {
    const after = pushFiltersTowardSource(
      checked(`
stream s = events | select { card, big: amount * 2.0, amount } | where amount > 1.0 and big > 5.0
sink s -> kafka("out")`),
    )
    expect(chainTo(after)).toEqual(['Source', 'Filter', 'Map', 'Filter', 'Sink'])
    const filters = after.nodes.filter((n) => n.kind === 'Filter')
    expect(filters).toHaveLength(2)
  })

  it('leaves a filter after a fan-out point alone', () => {
    const before = checked(`
stream keyed = events | key by card
stream a = keyed | where amount > 1.0
sink a -> kafka("a")
sink keyed -> kafka("all")`)
    expect(pushFiltersTowardSource(before)).toEqual(before)
  })

  it('never moves a filter across a stateful step, only up to it', () => {
    const cases: [string, string[], string[]][] = [
      [
        'events | dedup by card within 1m | where amount > 10.0',
        ['Source', 'Dedup', 'Filter', 'Sink'],
        ['Source', 'Dedup', 'Filter', 'Sink'],
      ],
      [
        'events | aggregate by card { n: count() } | key by card | where n > 1',
        ['Source', 'Aggregate', 'KeyBy', 'Filter', 'Sink'],
        ['Source', 'Aggregate', 'Filter', 'KeyBy', 'Sink'],
      ],
      [
        'events | dedup by id within 1m | select { id, amount } | where amount > 1.0',
        ['Source', 'Dedup', 'Map', 'Filter', 'Sink'],
        ['Source', 'Dedup', 'Filter', 'Map', 'Sink'],
      ],
    ]
    for (const [stream, before, after] of cases) {
      const pipeline = checked(`stream s = ${stream}\nsink s -> kafka("out")`)
      expect(chainTo(pipeline), stream).toEqual(before)
      expect(chainTo(pushFiltersTowardSource(pipeline)), stream).toEqual(after)
    }
  })

  it('renames through a projection that renames a field', () => {
    const after = pushFiltersTowardSource(
      checked(`
stream s = events | select { who: card, amount } | where who == "c1"
sink s -> kafka("out")`),
    )
    const filter = after.nodes.find((n) => n.kind === 'Filter')
    expect(filter?.kind === 'Filter' && filter.input).toBe(after.nodes[0]!.id)
    expect(JSON.stringify(filter)).toContain('"name":"card"')
  })
})

/** A schema with integers to divide by zero or overflow, optional fields and wide timestamps. */
const NUMBERS = `
schema P { a: i64, x: i64, y: i64?, f: f64, s: string, c: string?, ts: timestamp }
source p: P from kafka("p")
`

function checkedNumbers(body: string): Pipeline {
  const result = checkSource('numbers.pipe', NUMBERS + body)
  if (!result.pipeline) throw new Error(JSON.stringify(result.diagnostics, null, 2))
  return result.pipeline
}

interface RunResult {
  /** Per sink id, what it received, in order. */
  readonly outputs: Record<string, unknown[]>
  /** `<event index>: <message>` for every evaluation error (one per failing branch), sorted. */
  readonly failures: string[]
}

/** Runs events (a value each, its index as event time) through the reference interpreter. */
function run(pipeline: Pipeline, values: readonly Record<string, unknown>[]): RunResult {
  const outputs: Record<string, unknown[]> = {}
  const failures: string[] = []
  const interpreter = createInterpreter(pipeline, {
    onSink: (output) => {
      outputs[output.sinkId] ??= []
      outputs[output.sinkId]!.push({ value: output.value, key: output.key, timestamp: output.timestamp })
    },
    onError: (failure) => failures.push(`${failure.event.timestamp}: ${failure.error.message}`),
  })
  for (const [index, value] of values.entries()) interpreter.push('p', { value, key: null, timestamp: index })
  return { outputs, failures: failures.sort() }
}

/** The predicates of the filters on the path into the first sink, source first, as their conjuncts' source text. */
function filtersTo(pipeline: Pipeline, text: string): string[][] {
  const byId = new Map(pipeline.nodes.map((n) => [n.id, n]))
  const filters: string[][] = []
  const spanText = (e: Expr): string => text.slice(e.span.start, e.span.end)
  const parts = (e: Expr): string[] =>
    e.kind === 'Binary' && e.op === 'and' ? [...parts(e.left), ...parts(e.right)] : [spanText(e)]
  for (
    let node: Node | undefined = pipeline.nodes.find((n) => n.kind === 'Sink');
    node && node.kind !== 'Source';
    node = byId.get(inputsOf(node)[0] ?? '')
  ) {
    if (node.kind === 'Filter') filters.unshift(parts((node as FilterNode).predicate))
  }
  return filters
}

describe('pushFiltersTowardSource keeps results and dead letters', () => {
  it("the reviewer's case: a division guarded by a computed field is not moved ahead of its guard", () => {
    const text = `
schema E { a: i64, x: i64 }
source e: E from kafka("g")
stream s = e | select { a, x, b: x + 0 } | where b != 0 and a / x > 1
sink s -> kafka("g-out")`
    const result = checkSource('review.pipe', text)
    const before = result.pipeline!
    const after = optimise(before)
    const runOn = (pipeline: Pipeline) => {
      const sunk: unknown[] = []
      const failed: unknown[] = []
      const interpreter = createInterpreter(pipeline, {
        onSink: (output) => sunk.push(output.value),
        onError: (failure) => failed.push(failure.error.message),
      })
      interpreter.push('e', { value: { a: 10, x: 0 }, key: null, timestamp: 0 })
      interpreter.push('e', { value: { a: 10, x: 2 }, key: null, timestamp: 1 })
      return { sunk, failed }
    }
    expect(runOn(before)).toEqual({ sunk: [{ a: 10, x: 2, b: 2 }], failed: [] })
    expect(runOn(after)).toEqual(runOn(before))
    // `x + 0` can fail, so nothing moves past the select (and `a / x > 1` reads no computed field
    // but comes after `b != 0`, which does).
    expect(pushFiltersTowardSource(before)).toEqual(before)
  })

  it('keeps a guard ahead of what it guards: only a prefix of the conjuncts moves', () => {
    const body = `
stream s = p | select { a, x, g: f * 2.0 } | where x != 0 and g > 0.0 and a / x > 1
sink s -> kafka("o")`
    const after = pushFiltersTowardSource(checkedNumbers(body))
    expect(filtersTo(after, NUMBERS + body)).toEqual([['x != 0'], ['g > 0.0', 'a / x > 1']])
    expect(chainTo(after)).toEqual(['Source', 'Filter', 'Map', 'Filter', 'Sink'])

    const guardedByComputed = `
stream s = p | select { a, x, nz: x != 0 } | where nz and a / x > 1
sink s -> kafka("o")`
    const before = checkedNumbers(guardedByComputed)
    expect(pushFiltersTowardSource(before)).toEqual(before)
  })

  it('moves the whole guard idiom when every conjunct reads a projection', () => {
    const body = `
stream s = p | select { a, x } | key by a | where x != 0 and a / x > 1
sink s -> kafka("o")`
    const after = pushFiltersTowardSource(checkedNumbers(body))
    expect(chainTo(after)).toEqual(['Source', 'Filter', 'Map', 'KeyBy', 'Sink'])
    expect(filtersTo(after, NUMBERS + body)).toEqual([['x != 0', 'a / x > 1']])
  })

  it('does not move a filter past a select or key by that can fail', () => {
    for (const body of [
      'stream s = p | select { a, x, q: a / x, c } | where c == "DE"',
      'stream s = p | select { a, x, m: a * x } | where x > 1',
      'stream s = p | select { s, x, t: substr(s, x, 1) } | where x > 1',
      'stream s = p | select { a, ts, later: ts + to_duration_ms(a) } | where a > 0',
      'stream s = p | key by a / x | where c == "DE"',
      'stream s = p | key by to_i64(f) | where c == "DE"',
      'stream s = p | key by ts | where a > 0',
    ]) {
      const before = checkedNumbers(`${body}\nsink s -> kafka("o")`)
      expect(pushFiltersTowardSource(before), body).toEqual(before)
    }
  })

  it('moves a null-able conjunct only when no conjunct left behind can fail', () => {
    // c == "DE" is null for c = null; the original predicate then still evaluates a / x (and
    // fails for x = 0), so moving it alone would drop events that must be dead-lettered.
    const failing = `
stream s = p | select { a, x, c, g: f * 2.0 } | where x != 5 and c == "DE" and g > 0.0 and a / x > 1
sink s -> kafka("o")`
    const after = pushFiltersTowardSource(checkedNumbers(failing))
    expect(filtersTo(after, NUMBERS + failing)).toEqual([['x != 5'], ['c == "DE"', 'g > 0.0', 'a / x > 1']])
    const event = { a: 10, x: 0, y: null, f: 1, s: '', c: null, ts: 0 }
    expect(run(after, [event]).failures).toEqual(['0: integer division by zero'])

    const safe = `
stream s = p | select { a, c, g: f * 2.0 } | where c == "DE" and g > 0.0
sink s -> kafka("o")`
    expect(filtersTo(pushFiltersTowardSource(checkedNumbers(safe)), NUMBERS + safe)).toEqual([
      ['c == "DE"'],
      ['g > 0.0'],
    ])
  })

  it('canFail: checked integer, duration and timestamp arithmetic and mayFail functions, anywhere inside', () => {
    const map = checkedNumbers(`
stream s = p | select {
  sum: a + x, quotient: y / x, later: ts + to_duration_ms(x), gap: ts - ts, nested: (a % x) > 0,
  root: sqrt(f), part: [substr(s, 0, 1)], guarded: if x != 0 then a / x else 0,
  real: f / 0.0, text: s + "!", compare: a > x, flip: -a, size: len(s), keep: c ?? "none"
}
sink s -> kafka("o")`).nodes.find((n) => n.kind === 'Map')!
    if (map.kind !== 'Map') throw new Error('no select')
    const failing = map.fields.filter((field) => canFail(field.value)).map((field) => field.name)
    expect(failing).toEqual(['sum', 'quotient', 'later', 'gap', 'nested', 'root', 'part', 'guarded'])
    const size = map.fields.find((field) => field.name === 'size')!.value
    // A function the table does not know counts as failing.
    expect(canFail(size, {})).toBe(true)
    expect(canFail(size, { len: { mayFail: true } })).toBe(true)
    expect(canFail(size, { len: { mayFail: false } })).toBe(false)
  })

  /**
   * Fixed programs covering the guard idiom, divisions and overflow in selects, stdlib functions
   * that fail, key by (failing, timestamp, safe), optional fields, chains and fan-out.
   * `deadLetters`: whether some events fail unoptimised (a correct guard means none do).
   */
  const PROGRAMS: readonly { readonly body: string; readonly deadLetters: boolean }[] = [
    {
      body: 'stream s = p | select { a, x, c } | where x != 0 and a / x > 1\nsink s -> kafka("o")',
      deadLetters: false,
    },
    {
      body: 'stream s = p | select { a, x, b: x + 0 } | where b != 0 and a / x > 1\nsink s -> kafka("o")',
      deadLetters: false,
    },
    {
      body: 'stream s = p | select { a, x, nz: x != 0 } | where nz and a / x > 1\nsink s -> kafka("o")',
      deadLetters: false,
    },
    {
      body: 'stream s = p | select { a, x, q: a / x, c } | where c == "DE"\nsink s -> kafka("o")',
      deadLetters: true,
    },
    {
      body: 'stream s = p | select { a, x, m: a * x } | where x > 1\nsink s -> kafka("o")',
      deadLetters: true,
    },
    { body: 'stream s = p | key by a / x | where c == "DE"\nsink s -> kafka("o")', deadLetters: true },
    { body: 'stream s = p | key by ts | where a > 0\nsink s -> kafka("o")', deadLetters: true },
    {
      body: 'stream s = p | key by s | where x != 0 and a / x > 1\nsink s -> kafka("o")',
      deadLetters: false,
    },
    {
      body: 'stream s = p | select { a, x, c, g: f * 2.0 } | where c == "DE" and g > 0.0 and a / x > 1\nsink s -> kafka("o")',
      deadLetters: true,
    },
    {
      body: 'stream s = p | select { a, x, y, g: f + 1.0 } | where y > 0 and g > 0.0 and a % x == 0\nsink s -> kafka("o")',
      deadLetters: true,
    },
    {
      body: 'stream s = p | select { a, x, s, f, n: len(s) } | where a > 0 and n > 0 and substr(s, x, 1) == "a" and sqrt(f) > 1.0\nsink s -> kafka("o")',
      deadLetters: true,
    },
    {
      body: 'stream s = p | select { a, f, s } | where s == "a" and to_i64(f) > 3\nsink s -> kafka("o")',
      deadLetters: true,
    },
    {
      body: 'stream s = p | select { a, x, c, ts, g: f * 1.0 } | where c == "DE" and g > 0.0 and ts + to_duration_ms(a / x) > ts\nsink s -> kafka("o")',
      deadLetters: true,
    },
    {
      body: 'stream s = p | select { ts, c, a } | key by c | where c == "DE" and format_ts(ts) != ""\nsink s -> kafka("o")',
      deadLetters: true,
    },
    {
      body: 'stream s = p | select { a, x, c, s, ts } | key by s | select { a, x, c, ts, r: a % 7 } | where c != "US" and x != 0 and a / x > 0 and r > 1\nsink s -> kafka("o")',
      deadLetters: false,
    },
    // Stateful steps: a filter moved ahead of one would change which events its state sees.
    {
      body: 'stream s = p | dedup by c within 5ms | where x != 0 and a / x > 1\nsink s -> kafka("o")',
      deadLetters: false,
    },
    {
      body: 'stream s = p | aggregate by c { n: count(), t: sum(a) } | key by c | where n > 1\nsink s -> kafka("o")',
      deadLetters: true,
    },
    {
      body: 'stream s = p | select { a, x, c } | dedup by c, x > 0 within 3ms | select { a, x, c } | where a > 0\nsink s -> kafka("o")',
      deadLetters: false,
    },
    {
      deadLetters: true,
      body: `stream base = p | select { a, x, c, y }
stream t1 = base | where x != 0 and a / x > 2
stream k = p | key by s
stream w = k | where y > 0 and a % x == 0
sink t1 -> kafka("o1")
sink base -> kafka("o2")
sink w -> kafka("o3")
sink k -> kafka("o4")`,
    },
  ]

  const event = fc.record({
    a: fc.oneof(fc.integer({ min: -20, max: 20 }), fc.constantFrom(Number.MAX_SAFE_INTEGER, -(2 ** 52))),
    x: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constant(2 ** 40)),
    y: fc.option(fc.integer({ min: -3, max: 3 })),
    f: fc.oneof(
      fc.constantFrom(-1, 0, 0.5, 2.5, 16, 1e300),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
    ),
    s: fc.constantFrom('', 'a', 'ab', 'DE'),
    c: fc.option(fc.constantFrom('DE', 'US')),
    ts: fc.oneof(
      fc.integer({ min: 0, max: 2e12 }),
      fc.constantFrom(8.64e15, 9e15, -9e15, Number.MAX_SAFE_INTEGER),
    ),
  })

  const REACHES_EVERY_SINK: (typeof event extends fc.Arbitrary<infer T> ? T : never)[] = [
    { a: 6, x: 2, y: 1, f: 16, s: 'a', c: 'DE', ts: 1000 },
    { a: 6, x: 0, y: 1, f: 16, s: 'a', c: 'DE', ts: 1000 },
    { a: 7, x: 0, y: 1, f: -1, s: 'a', c: 'DE', ts: 1000 },
    { a: Number.MAX_SAFE_INTEGER, x: 2 ** 40, y: 1, f: 1e300, s: 'a', c: 'DE', ts: 9e15 },
  ]

  for (const { body, deadLetters } of PROGRAMS) {
    it(`same outputs and dead letters with and without optimising: ${body.split('\n')[0]}`, () => {
      const checked = checkedNumbers(body)
      const optimised = optimise(checked)
      let sawFailure = false
      let sawOutput = false
      fc.assert(
        fc.property(fc.array(event, { maxLength: 20 }), (values) => {
          const expected = run(checked, values)
          expect(run(optimised, values)).toEqual(expected)
          sawFailure ||= expected.failures.length > 0
          sawOutput ||= Object.keys(expected.outputs).length > 0
        }),
        // One fixed batch that reaches every program's sink and every failure, so the checks below do
        // not depend on the random draw (a program with four conjuncts passes about one event in a hundred).
        { numRuns: 150, examples: [[REACHES_EVERY_SINK]] },
      )
      // The events reach every outcome, so the comparison has something to compare.
      expect(sawFailure).toBe(deadLetters)
      expect(sawOutput).toBe(true)
    })
  }
})

describe('fuseStatelessChains', () => {
  it('fuses where → select → key by into one node', () => {
    const after = fuseStatelessChains(
      checked(`
stream s = events | where amount > 1.0 | select { id, card } | key by card
sink s -> kafka("out")`),
    )
    expect(after.nodes.map((n) => n.kind)).toEqual(['Source', 'Fused', 'Sink'])
    const fused = after.nodes[1] as FusedNode
    expect(fused.steps.map((s) => s.kind)).toEqual(['Filter', 'Map', 'KeyBy'])
    expect(fused.fusedFrom).toHaveLength(3)
    expect(fused.inputSchema.name).toBe('E')
    expect(fused.schema.fields.map((f) => f.name)).toEqual(['id', 'card'])
  })

  it('splits at a fan-out: the shared prefix is computed once, each branch is its own chain', () => {
    const after = fuseStatelessChains(
      checked(`
stream base = events | where amount > 1.0 | key by card
stream a = base | where country == "DE"
stream b = base | select { id }
sink a -> kafka("a")
sink b -> kafka("b")`),
    )
    const fused = after.nodes.filter((n): n is FusedNode => n.kind === 'Fused')
    expect(fused.map((f) => f.steps.map((s) => s.kind))).toEqual([['Filter', 'KeyBy'], ['Filter'], ['Map']])
    const [shared, a, b] = fused
    expect(a!.input).toBe(shared!.id)
    expect(b!.input).toBe(shared!.id)
    expect(isTopological(after)).toBe(true)
  })

  it('makes a lone operator a chain of one, and leaves source → sink alone', () => {
    const after = fuseStatelessChains(
      checked(`
stream s = events | key by card
sink s -> kafka("a")
sink events -> kafka("raw")`),
    )
    expect(after.nodes.map((n) => n.kind).sort()).toEqual(['Fused', 'Sink', 'Sink', 'Source'])
  })
})

describe('fuseStatelessChains with stateful steps', () => {
  it('fuses dedup and aggregate into the chain and lists their state slots in step order', () => {
    const after = fuseStatelessChains(
      checked(`
stream s = events | dedup by id within 10m | where amount > 1.0 | aggregate by card { n: count() } | key by card
sink s -> kafka("out")`),
    )
    expect(after.nodes.map((n) => n.kind)).toEqual(['Source', 'Fused', 'Sink'])
    const fused = after.nodes[1] as FusedNode
    expect(fused.steps.map((s) => s.kind)).toEqual(['Dedup', 'Filter', 'Aggregate', 'KeyBy'])
    expect(fused.state).toEqual([
      { id: expect.stringMatching(/^s\.dedup\.0\.[0-9a-f]{8}$/), step: 'dedup', ttlMs: 600_000 },
      { id: expect.stringMatching(/^s\.aggregate\.0\.[0-9a-f]{8}$/), step: 'aggregate', ttlMs: null },
    ])
    expect(fused.schema.fields.map((f) => f.name)).toEqual(['card', 'n'])
  })

  it('keeps slot ids when other steps change, and computes a shared stateful prefix once', () => {
    const slots = (body: string) =>
      optimise(checked(body))
        .nodes.filter((n): n is FusedNode => n.kind === 'Fused')
        // Without the layout digest, which the checker's tests cover.
        .map((n) => n.state?.map((slot) => slot.id.replace(/\.[0-9a-f]{8}$/, '')) ?? [])
    const before = slots(`
stream s = events | dedup by id within 1m | aggregate by card { n: count() }
sink s -> kafka("out")`)
    const edited = slots(`
stream s = events | where amount > 0.0 | select { id, card } | dedup by id within 1m | key by id | aggregate by card { n: count() }
sink s -> kafka("out")`)
    expect(before).toEqual([['s.dedup.0', 's.aggregate.0']])
    expect(edited).toEqual(before)
    // A fan-out after a dedup: the dedup runs once, in the shared chain, and the branches have no state.
    expect(
      slots(`
stream u = events | dedup by id within 1m
stream a = u | where amount > 1.0
stream b = u | aggregate by card { n: count() }
sink a -> kafka("a")
sink b -> kafka("b")`),
    ).toEqual([['u.dedup.0'], [], ['b.aggregate.0']])
  })
})

describe('optimise', () => {
  it('is deterministic and keeps the IR JSON-serialisable', () => {
    const source = `
stream s = events | select { card, amount } | where amount > 3.0 | key by card
sink s -> kafka("out")`
    const once = optimise(checked(source))
    expect(optimise(checked(source))).toEqual(once)
    expect(JSON.parse(JSON.stringify(once))).toEqual(once)
    expect(once.nodes.map((n) => n.kind)).toEqual(['Source', 'Fused', 'Sink'])
    const fused = once.nodes[1] as FusedNode
    expect(fused.steps.map((s) => s.kind)).toEqual(['Filter', 'Map', 'KeyBy'])
  })
})

describe('joins through the passes', () => {
  const JOINED = `
source others: E from kafka("others")
stream big = events | where amount > 1.0 | select { id, card, amount, ts }
stream j = left join big as x, others as y on x.card == y.card within y between 1m before and 1m after x
  | where x.amount > 5.0 and y.amount is null
  | select { id: x.id, other: y.id }
sink j -> kafka("out")`

  it('never moves a filter across a join, and reads each side through its fused chain', () => {
    const after = optimise(checked(JOINED))
    expect(isTopological(after)).toBe(true)
    expect(after.nodes.map((n) => n.kind)).toEqual(['Source', 'Source', 'Fused', 'Join', 'Fused', 'Sink'])
    const [before, join, afterJoin] = after.nodes.slice(2) as [FusedNode, Node, FusedNode]
    expect(join).toMatchObject({ kind: 'Join', left: before.id, right: 'others' })
    expect(before.steps.map((s) => s.kind)).toEqual(['Filter', 'Map'])
    expect(afterJoin.input).toBe(join.id)
    expect(afterJoin.steps.map((s) => s.kind)).toEqual(['Filter', 'Map'])
  })

  it('gives the same output as the unoptimised pipeline', () => {
    const run = (pipeline: Pipeline) => {
      const out: unknown[] = []
      const interpreter = createInterpreter(pipeline, { onSink: (o) => void out.push(o.value) })
      const minute = 60_000
      const push = (source: string, id: string, card: string, amount: number, ts: number) =>
        interpreter.push(source, {
          value: { id, card, amount, country: null, ts },
          key: null,
          timestamp: ts,
        })
      push('events', 'e1', 'c1', 10, 0)
      push('others', 'o1', 'c1', 3, 0)
      push('events', 'e2', 'c2', 10, minute)
      push('events', 'e3', 'c3', 2, minute)
      push('others', 'o2', 'c9', 3, 10 * minute)
      push('events', 'e4', 'c4', 9, 10 * minute)
      return out
    }
    const plain = checked(JOINED)
    expect(run(optimise(plain))).toEqual(run(plain))
    expect(run(plain)).toEqual([{ id: 'e2', other: null }])
  })
})
