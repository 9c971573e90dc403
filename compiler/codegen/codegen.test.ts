import fc from 'fast-check'
import { Project } from 'ts-morph'
import { afterAll, describe, expect, it } from 'vitest'
import { type RowLayout, rowFromValue, rowWidth, valueFromRow } from '../../runtime/state/number-rows.ts'
import { EvaluationError } from '../../stdlib/eval-error.ts'
import { stdlib } from '../../stdlib/index.ts'
import { compileSource } from '../compile.ts'
import { checkSource } from '../frontend.ts'
import { inputsOf } from '../ir/graph.ts'
import { createInterpreter, type SinkOutput } from '../ir/interpret.ts'
import type { Pipeline } from '../ir/types.ts'
import { GENERATED_FILE } from './generate.ts'
import {
  type Batch,
  compileAndLoad,
  type Operators,
  removeLoadedModules,
  type StepState,
} from './load-generated.ts'

afterAll(removeLoadedModules)

/**
 * A StepState over a Map, with no expiry: the runtime's expiry only drops keys idle longer than
 * any event that could still match them (specs/language.md), so results do not depend on it.
 * `maxKeys` makes it refuse new keys beyond a budget, like the runtime's 'refuse' policy.
 */
function mapStepState(
  maxKeys = Number.POSITIVE_INFINITY,
  latenessMs = 0,
): StepState & { values: Map<string, unknown> } {
  const values = new Map<string, unknown>()
  const set = (key: string, value: unknown) => {
    if (!values.has(key) && values.size >= maxKeys) return false
    // Stored as the runtime snapshots it: a value that does not survive JSON would show here.
    values.set(key, JSON.parse(JSON.stringify(value)))
    return true
  }
  // Rows of numbers (a running aggregate of numbers) go through the runtime's conversions from
  // and to the accumulators' JSON, one row at offset 0 at a time.
  let layout: RowLayout = []
  const state = {
    values,
    clock: Number.NEGATIVE_INFINITY,
    latenessMs,
    get: (key: string) => values.get(key),
    set,
    rows: new Float64Array(0),
    rowScratch: new Float64Array(0),
    findRow(key: string, _now: number, rowLayout: RowLayout) {
      if (rowLayout !== layout) {
        layout = rowLayout
        state.rows = new Float64Array(rowWidth(layout))
        state.rowScratch = new Float64Array(rowWidth(layout))
      }
      const value = values.get(key)
      if (value === undefined) return -1
      rowFromValue(value, state.rows, 0, layout, key)
      return 0
    },
    setRow: (key: string) => set(key, valueFromRow(state.rowScratch, 0, layout)),
  }
  return state
}

/** The watermark delay of the source a node reads from (a dedup's lateness, as the runtime sets it). */
function latenessOf(pipeline: Pipeline, nodeId: string): number {
  for (let node = pipeline.nodes.find((n) => n.id === nodeId); node; ) {
    if (node.kind === 'Source') return node.watermark?.delayMs ?? 0
    const input = inputsOf(node)[0]
    node = pipeline.nodes.find((n) => n.id === input)
  }
  return 0
}

/**
 * Runs decoded events through every chain and sink of a (linear or fan-out) pipeline, like the
 * runtime: in batches of `batchSize`, each chain with its own states, kept across batches.
 */
function runFused(
  operators: Operators,
  pipeline: Pipeline,
  sourceName: string,
  events: readonly { value: unknown; key: string | null; timestamp: number }[],
  batchSize = Number.POSITIVE_INFINITY,
): { outputs: SinkOutput[]; errors: number[] } {
  const source = pipeline.nodes.find((n) => n.kind === 'Source' && n.name === sourceName)!
  const outputs: SinkOutput[] = []
  const errors: number[] = []
  const states = new Map<string, StepState[]>()
  const push = (nodeId: string, batch: Batch) => {
    for (const node of pipeline.nodes) {
      if (!inputsOf(node).includes(nodeId)) continue
      if (node.kind === 'Fused') {
        const out: Batch = { values: [], keys: [], timestamps: [], origins: [], length: 0 }
        const failures: { index: number; error: unknown; site: number }[] = []
        if (!states.has(node.id))
          states.set(
            node.id,
            (node.state ?? []).map(() =>
              mapStepState(Number.POSITIVE_INFINITY, latenessOf(pipeline, node.id)),
            ),
          )
        operators.chains[node.id]!(batch, out, failures, states.get(node.id)!)
        for (const f of failures) {
          expect(f.error).toBeInstanceOf(EvaluationError)
          errors.push(batch.origins[f.index]!)
        }
        push(node.id, out)
      } else if (node.kind === 'Sink') {
        for (let i = 0; i < batch.length; i++) {
          outputs.push({
            sinkId: node.id,
            value: batch.values[i] as Record<string, unknown>,
            key: batch.keys[i]!,
            timestamp: batch.timestamps[i]!,
          })
        }
      }
    }
  }
  for (let start = 0; start < events.length; start += Math.min(batchSize, events.length)) {
    const slice = events.slice(start, start + batchSize)
    push(source.id, {
      values: slice.map((e) => e.value),
      keys: slice.map((e) => e.key),
      timestamps: slice.map((e) => e.timestamp),
      origins: slice.map((_, i) => start + i),
      length: slice.length,
    })
  }
  // An event that fails in two streams is one failed event, as the reference counts it.
  return { outputs, errors: [...new Set(errors)].sort((a, b) => a - b) }
}

/** The reference: the same checked pipeline, unoptimised, through the interpreter. */
function runInterpreted(
  text: string,
  sourceName: string,
  events: readonly { value: unknown; key: string | null; timestamp: number }[],
): { outputs: SinkOutput[]; errors: number[] } {
  const pipeline = checkedPipeline(text)
  const outputs: SinkOutput[] = []
  const errors = new Set<number>()
  let current = -1
  const interpreter = createInterpreter(pipeline, {
    functions: stdlib,
    onSink: (output) => outputs.push(output),
    onError: () => errors.add(current),
  })
  events.forEach((event, i) => {
    current = i
    interpreter.push(sourceName, event as never)
  })
  return { outputs, errors: [...errors].sort((a, b) => a - b) }
}

/** The checked, unoptimised IR: the reference runs what the author wrote, not what the optimiser made. */
function checkedPipeline(text: string): Pipeline {
  const { pipeline } = checkSource('test.pipe', text)
  if (!pipeline) throw new Error('does not check')
  return pipeline
}

/** Group outputs per sink, in order: fusion may interleave sinks differently, never reorder one sink. */
function bySink(outputs: readonly SinkOutput[]): Record<string, SinkOutput[]> {
  const groups: Record<string, SinkOutput[]> = {}
  for (const o of outputs) {
    groups[o.sinkId] ??= []
    groups[o.sinkId]!.push(o)
  }
  return groups
}

const RICH = `
schema Merchant { name: string, country: string? }
schema Event {
  id: string,
  n: i64,
  d: i64,
  x: f64,
  s: string?,
  flag: bool?,
  tags: list<string>,
  m: Merchant,
  ts: timestamp @event_time
}
source events: Event from kafka("events")

stream picked = events
  | where n > -50 and (flag ?? true)
  | select {
      id,
      q: if d != 0 then n / d else 0,
      r: n % 7,
      prod: n * 3 + d,
      ratio: x / 2.0 + to_f64(n),
      label: (s ?? "none") + "-" + lower(m.name),
      same: s == m.country,
      either: flag or n > 10,
      both: flag and s is not null,
      first: tags[0],
      nth: tags[d],
      size: len(tags),
      later: ts + 5s,
      hour: hour(ts),
      nested: { a: n, b: [x, 1.5] },
      ts
    }
  | key by id

stream risky = picked | where q > 2 or label == "none-shop" | key by hour
stream divided = events | select { id, z: n / d } | where z > 0
stream ops = events
  | where n not in (1, 2, 3) or s like "D%"
  | select {
      id,
      ranged: n between d and 10,
      listed: s in ("none", m.name, m.country),
      pattern: m.name like s,
      word: regex_extract(m.name, "([a-z]+)", 1),
      marked: regex_replace(m.name, "[A-Z]", "#"),
      matched: regex_match(m.name, if s == "x" then "(" else s ?? "."),
      kind: case when n > 10 then "big" when flag then "flagged" end,
    }

stream listed = events
  | explode tags as tag or null
  | where tag != "c"
  | select {
      id,
      tag,
      marked: map(tags, t -> upper(t) + (tag ?? "-")),
      others: filter(tags, t -> t != tag),
      any_b: any(tags, t -> t == "b" and flag),
      all_short: all(tags, t -> len(t) < d),
      per: map(tags, t -> n / d),
      total: sum(map(tags, t -> d)),
    }

sink picked -> kafka("picked")
sink risky -> kafka("risky")
sink divided -> kafka("divided")
sink ops -> kafka("ops")
sink listed -> kafka("listed")
`

const merchantArb = fc.record({
  name: fc.constantFrom('Shop', 'shop', 'CAFÉ', ''),
  country: fc.option(fc.constantFrom('DE', 'none', 'FR'), { nil: null }),
})
const eventArb = fc.record({
  id: fc.string({ maxLength: 4 }),
  n: fc.integer({ min: -100, max: 100 }),
  d: fc.integer({ min: -3, max: 3 }),
  x: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  s: fc.option(fc.constantFrom('DE', 'none', 'x'), { nil: null }),
  flag: fc.option(fc.boolean(), { nil: null }),
  tags: fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 3 }),
  m: merchantArb,
  ts: fc.integer({ min: 0, max: 4_102_444_800_000 }),
})

// Durations and timestamps (integer arithmetic), field names that live on Object.prototype,
// keys from timestamps, and `is null` on a non-optional expression that can fail.
const TEMPORAL = `
schema Thing { constructor: string?, toString: i64?, default: string, n: i64, ts: timestamp @event_time }
source things: Thing from kafka("things")
stream t = things
  | select {
      default,
      constructor: constructor ?? "none",
      third: millis(to_duration_ms(n) / 3),
      scaled: millis(to_duration_ms(n) * n),
      later: ts + to_duration_ms(n) * 1000,
      gap: millis(ts - (ts - 5s)),
      broken: (n / (n - n)) is null,
      ts
    }
  | key by later
sink t -> kafka("t")
`

const thingArb = fc.record(
  {
    constructor: fc.constantFrom('a', 'b'),
    toString: fc.integer(),
    default: fc.string({ maxLength: 3 }),
    n: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })),
    ts: fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom(8.64e15, -8.64e15, 8.64e15 - 1)),
  },
  { requiredKeys: ['default', 'n', 'ts'] },
)

// Dedup and running aggregates: repeated keys (including the string "null" beside a null key),
// out-of-order event times, i64 sums that overflow, f64 arguments that are not finite, a failing
// step after an aggregate, and a stateful chain read by another stateful chain. `totals` keeps
// its accumulators as an array per key (a max of strings), `after` and `numbers` as rows of numbers
// (docs/decisions/0037), nulls and avg's pairs included.
const STATEFUL = `
schema Txn { id: string, card: string?, n: i64, x: f64?, big: i64, label: string, ts: timestamp @event_time }
source txns: Txn from kafka("txns")
stream unique = txns | dedup by id within 5s
stream pairs = txns | dedup by card, n % 3 within 2s | select { id, card, ts }
stream totals = txns
  | where n > -40
  | aggregate by card, even: n % 2 == 0 {
      c: count(),
      s: sum(n),
      sx: sum(x),
      huge: sum(x * 1e303),
      lo: min(x),
      hi: max(label),
      first: min(ts),
      last: max(ts),
      mean: avg(x),
      m2: avg(n),
      total: sum(big)
    }
  | where c > 1
stream after = unique | aggregate by id { c: count(), q: sum(100 / n) } | select { id, c, q, r: 10 / (c - 2) }
stream numbers = txns
  | aggregate by card {
      c: count(),
      sx: sum(x),
      huge: sum(x * 1e303),
      lo: min(x),
      hi: max(n),
      first: min(ts),
      last: max(ts),
      mean: avg(x),
      m2: avg(n),
      total: sum(big)
    }
sink unique -> kafka("unique")
sink pairs -> kafka("pairs")
sink totals -> kafka("totals")
sink after -> kafka("after")
sink numbers -> kafka("numbers")
`

const txnArb = fc.record({
  id: fc.constantFrom('a', 'b', 'c', 'd'),
  card: fc.option(fc.constantFrom('c1', 'c2', 'null'), { nil: null }),
  n: fc.integer({ min: -50, max: 50 }),
  // No -0: the test's state stores values as JSON, which has no -0, and the interpreter's does not.
  x: fc.option(
    fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((v) => (Object.is(v, -0) ? 0 : v)),
    {
      nil: null,
    },
  ),
  big: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom(2 ** 52, -(2 ** 52), 2 ** 53 - 1)),
  label: fc.constantFrom('x', 'y', 'Z', ''),
  // Close together, in any order: windows of 2 s and 5 s see repeats, early and late; whole
  // seconds often land exactly a window apart (kept: the window is open at its end).
  ts: fc.oneof(
    fc.integer({ min: 0, max: 20 }).map((s) => 1_700_000_000_000 + s * 1000),
    fc.integer({ min: 1_700_000_000_000, max: 1_700_000_020_000 }),
  ),
})

describe('generated code', () => {
  it('type-checks as strict TypeScript', async () => {
    for (const text of [RICH, STATEFUL]) await expectStrictTypeScript(text)
  })

  async function expectStrictTypeScript(text: string): Promise<void> {
    const { typescript } = await compileAndLoad(text)
    const project = new Project({
      useInMemoryFileSystem: true,
      compilerOptions: { strict: true, noUncheckedIndexedAccess: true, target: 99, lib: ['lib.es2022.d.ts'] },
    })
    project.createSourceFile(GENERATED_FILE, typescript)
    const problems = project.getPreEmitDiagnostics().map((d) => {
      const message = d.getMessageText()
      return `${d.getLineNumber()}: ${typeof message === 'string' ? message : message.getMessageText()}`
    })
    expect(problems).toEqual([])
  }

  it('runs dedup and running aggregates as the reference interpreter does, across batches', async () => {
    const { operators, pipeline } = await compileAndLoad(STATEFUL)
    await fc.assert(
      fc.asyncProperty(
        fc.array(txnArb, { maxLength: 40 }),
        fc.integer({ min: 1, max: 8 }),
        async (values, batchSize) => {
          const decoded = values.map((value) => ({
            value: operators.sources.txns!.decode(value),
            key: null,
            timestamp: value.ts,
          }))
          const fused = runFused(operators, pipeline, 'txns', decoded, batchSize)
          const reference = runInterpreted(STATEFUL, 'txns', decoded)
          expect(bySink(fused.outputs)).toEqual(bySink(reference.outputs))
          expect(fused.errors).toEqual(reference.errors)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('drops repeats within the duration, before or after the kept time, and counts per key', async () => {
    const { operators, pipeline } = await compileAndLoad(STATEFUL)
    const event = (id: string, second: number, extra: Record<string, unknown> = {}) => {
      const ts = 1_700_000_000_000 + second * 1000
      const value = { id, card: 'c1', n: 1, x: null, big: 1, label: 'x', ts, ...extra }
      return { value: operators.sources.txns!.decode(value), key: null, timestamp: ts }
    }
    // within 5s: a@0 kept; a@4 dropped; a@-4 (late) dropped; a@5 kept (5 s away) and stored;
    // a@1 (late, 4 s before the stored 5) dropped; a@-1 kept (6 s before 5), the stored time stays 5.
    const events = [
      event('a', 0),
      event('a', 4),
      event('a', -4),
      event('a', 5),
      event('a', 1),
      event('a', -1),
    ]
    const { outputs } = runFused(operators, pipeline, 'txns', events, 2)
    const unique = outputs.filter((o) => o.sinkId === 'sink#1').map((o) => o.timestamp)
    expect(unique).toEqual([0, 5, -1].map((s) => 1_700_000_000_000 + s * 1000))
    // The aggregate after the dedup counts the kept events per id.
    const after = outputs.filter((o) => o.sinkId === 'sink#4').map((o) => o.value)
    expect(after).toEqual([
      { id: 'a', c: 1, q: 100, r: -10 },
      { id: 'a', c: 3, q: 300, r: 10 },
    ])
  })

  it('keys a stateful step by an expression that uses a module constant (the state key variable does not hide it)', async () => {
    // The module's constants are k0, k1, …; a state key named k<step> once hid k0 in the first
    // step, and every event failed with "Cannot access 'k0' before initialization".
    const text = `
schema Txn { id: string, n: i64, ts: timestamp @event_time }
source txns: Txn from kafka("txns")
stream kept = txns | dedup by id in ("a", "b") within 5s
stream counts = txns | aggregate by known: id in ("a", "c") { c: count(), s: sum(n) }
sink kept -> kafka("kept")
sink counts -> kafka("counts")
`
    const { operators, pipeline } = await compileAndLoad(text)
    const events = ['a', 'c', 'a', 'x'].map((id, i) => ({
      value: operators.sources.txns!.decode({ id, n: i, ts: i * 1000 }),
      key: null,
      timestamp: i * 1000,
    }))
    const fused = runFused(operators, pipeline, 'txns', events)
    expect(fused.errors).toEqual([])
    expect(bySink(fused.outputs)).toEqual(bySink(runInterpreted(text, 'txns', events).outputs))
    expect(fused.outputs.length).toBe(6)
  })

  it('fails an event whose new key the state refuses, naming the step, and keeps going', async () => {
    const { operators, pipeline } = await compileAndLoad(STATEFUL)
    const chain = pipeline.nodes.find(
      (n) => n.kind === 'Fused' && n.state?.[0]?.id.startsWith('unique.dedup.0.'),
    )!
    const slot = chain.kind === 'Fused' ? chain.state![0]! : null
    expect(slot).toMatchObject({ step: 'dedup', ttlMs: 5000 })
    const rows = ['a', 'b', 'a'].map((id) =>
      operators.sources.txns!.decode({ id, card: null, n: 1, x: null, big: 0, label: '', ts: 0 }),
    )
    const out: Batch = { values: [], keys: [], timestamps: [], origins: [], length: 0 }
    const errors: { index: number; error: unknown; site: number }[] = []
    operators.chains[chain.id]!(
      {
        values: rows,
        keys: [null, null, null],
        timestamps: [0, 10_000, 20_000],
        origins: [0, 1, 2],
        length: 3,
      },
      out,
      errors,
      [mapStepState(1)],
    )
    expect(out.values.slice(0, out.length)).toEqual([rows[0], rows[2]])
    expect(errors.map((e) => e.index)).toEqual([1])
    expect(errors[0]!.error).toBeInstanceOf(EvaluationError)
    expect((errors[0]!.error as Error).message).toBe(
      `the state of step ${slot!.id} is full: its budget refuses new keys`,
    )
  })

  it('computes exactly what the reference interpreter computes, on random events', async () => {
    const { operators, pipeline } = await compileAndLoad(RICH)
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { maxLength: 40 }), async (values) => {
        const events = values.map((value, i) => ({
          value,
          key: i % 3 === 0 ? null : `k${i}`,
          timestamp: value.ts,
        }))
        // The generated decoder fills absent optionals with null; feed both sides the decoded rows.
        const decoded = events.map((e) => ({ ...e, value: operators.sources.events!.decode(e.value) }))
        const fused = runFused(operators, pipeline, 'events', decoded)
        const reference = runInterpreted(RICH, 'events', decoded)
        expect(bySink(fused.outputs)).toEqual(bySink(reference.outputs))
        expect(fused.errors).toEqual(reference.errors)
      }),
      { numRuns: 200 },
    )
  })

  it('agrees with the interpreter on durations, timestamps, prototype-named fields and timestamp keys', async () => {
    const { operators, pipeline } = await compileAndLoad(TEMPORAL)
    await fc.assert(
      fc.asyncProperty(fc.array(thingArb, { maxLength: 30 }), async (values) => {
        const decoded = values.map((value) => {
          const row = operators.sources.things!.decode(value)
          return { value: row, key: null, timestamp: value.ts }
        })
        const fused = runFused(operators, pipeline, 'things', decoded)
        const reference = runInterpreted(TEMPORAL, 'things', decoded)
        expect(bySink(fused.outputs)).toEqual(bySink(reference.outputs))
        expect(fused.errors).toEqual(reference.errors)
        // `(n / (n - n)) is null` divides by zero on every event: nothing gets through.
        expect(fused.outputs).toEqual([])
      }),
      { numRuns: 100 },
    )
  })

  it('keeps integer rules for durations, keys timestamps safely and reads only own fields', async () => {
    const text = TEMPORAL.replace('      broken: (n / (n - n)) is null,\n', '')
    const { operators, pipeline } = await compileAndLoad(text)
    const decode = operators.sources.things!.decode
    const row = decode({ default: 'd', n: 1, ts: 0 }) as Record<string, unknown>
    expect(row.constructor).toBeNull()
    // No step reads `toString`: it is checked but not materialised, and the row's own fields are
    // only those the pipeline reads.
    expect(Object.keys(row)).toEqual(['constructor', 'default', 'n', 'ts'])
    expect(() => decode({ default: 'd', n: 1, ts: 0, toString: 'x' })).toThrow(
      /^toString: expected an integer/,
    )
    const { outputs, errors } = runFused(operators, pipeline, 'things', [
      { value: row, key: null, timestamp: 0 },
      { value: decode({ default: 'e', n: 2 ** 30, ts: 0 }), key: null, timestamp: 0 },
      { value: decode({ default: 'f', n: 1, ts: 8.64e15 }), key: null, timestamp: 0 },
    ])
    expect(outputs[0]!.value).toMatchObject({
      default: 'd',
      constructor: 'none',
      third: 0,
      scaled: 1,
      later: 1000,
      gap: 5000,
    })
    expect(outputs[0]!.key).toBe('1970-01-01T00:00:01.000Z')
    // 2^30 ms * 2^30 overflows the safe range; a key 1 s past the last Date is out of range.
    expect(errors).toEqual([1, 2])
  })

  it('rejects timestamps a Date cannot hold and impossible calendar dates', async () => {
    const decode = (await compileAndLoad(TEMPORAL)).operators.sources.things!.decode
    for (const ts of [8.64e15 + 1, '2024-02-30T00:00:00Z', '2024-01-01T24:00:00Z', '2023-02-29']) {
      expect(() => decode({ default: 'd', n: 1, ts }), String(ts)).toThrow(/^ts: expected a timestamp/)
    }
    expect(decode({ default: 'd', n: 1, ts: '2024-01-01t10:00:00z' })).toMatchObject({
      ts: Date.UTC(2024, 0, 1, 10),
    })
  })

  it('reports an evaluation error with the site of the failing expression and keeps going', async () => {
    const { operators, pipeline, sites } = await compileAndLoad(RICH)
    const chain = pipeline.nodes.find(
      (n) =>
        n.kind === 'Fused' && n.steps.some((s) => s.kind === 'Map' && s.fields.some((f) => f.name === 'z')),
    )!
    const base = {
      id: 'a',
      n: 10,
      x: 1,
      s: null,
      flag: null,
      tags: [],
      m: { name: 'Shop', country: null },
      ts: 0,
    }
    const rows = [
      { ...base, d: 0 },
      { ...base, d: 5 },
    ].map((v) => operators.sources.events!.decode(v))
    const out: Batch = { values: [], keys: [], timestamps: [], origins: [], length: 0 }
    const errors: { index: number; error: unknown; site: number }[] = []
    operators.chains[chain.id]!(
      { values: rows, keys: [null, null], timestamps: [0, 0], origins: [0, 1], length: 2 },
      out,
      errors,
    )
    expect(out.length).toBe(1)
    expect(out.values[0]).toEqual({ id: 'a', z: 2 })
    expect(errors).toHaveLength(1)
    const error = errors[0]!.error as EvaluationError
    expect(error.message).toBe('integer division by zero')
    const lines = RICH.split('\n')
    const line = lines.findIndex((l) => l.includes('z: n / d')) + 1
    const column = lines[line - 1]!.indexOf('n / d') + 1
    expect(sites[error.site]).toMatchObject({ file: 'test.pipe', line, column })
  })

  it('decodes strictly and names the failing field', async () => {
    const { operators } = await compileAndLoad(RICH)
    const decode = operators.sources.events!.decode
    const good = {
      id: 'a',
      n: 1,
      d: 2,
      x: 1.5,
      tags: ['t'],
      m: { name: 'S' },
      ts: '2024-01-02T03:04:05.678Z',
      extra: 1,
    }
    expect(decode(good)).toEqual({
      id: 'a',
      n: 1,
      d: 2,
      x: 1.5,
      s: null,
      flag: null,
      tags: ['t'],
      m: { name: 'S', country: null },
      ts: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
    })
    const failure = (value: unknown): string => {
      try {
        decode(value)
      } catch (error) {
        expect(operators.isDecodeFailure(error)).toBe(true)
        return (error as Error).message
      }
      throw new Error('decoded')
    }
    expect(failure({ ...good, n: 1.5 })).toMatch(/^n: expected an integer/)
    expect(failure({ ...good, n: 2 ** 60 })).toMatch(/^n: expected an integer/)
    expect(failure({ ...good, tags: ['a', 3] })).toMatch(/^tags\[1\]: expected a string, got number 3/)
    expect(failure({ ...good, m: { country: 'DE' } })).toMatch(
      /^m\.name: expected a string, got nothing \(field missing\)/,
    )
    expect(failure({ ...good, ts: '2024-01-02T03:04:05' })).toMatch(/^ts: expected a timestamp/)
    expect(failure([1])).toMatch(/^event: expected an object, got a list/)
  })

  it('encodes JSON with fields in order, ISO timestamps, null for a non-finite optional f64, and refuses one that may not be null', async () => {
    const { operators, pipeline } = await compileAndLoad(`
schema E { id: string, x: f64, n: i64?, ts: timestamp, tags: list<string> }
source e: E from kafka("e")
stream s = e | select { id, half: x / 0.0, maybe: if x > 0.0 then x / 0.0 else null, n, ts, tags, quote: "a\\"b" }
sink s -> kafka("out")`)
    const sink = pipeline.nodes.find((n) => n.kind === 'Sink')!
    const encode = operators.sinks[sink.id]!.encode as (v: unknown) => string
    const row = {
      id: 'é',
      half: 0.5,
      maybe: Number.POSITIVE_INFINITY,
      n: null,
      ts: 0,
      tags: ['a', 'b'],
      quote: 'a"b',
    }
    const text = encode(row)
    expect(text).toBe(
      '{"id":"é","half":0.5,"maybe":null,"n":null,"ts":"1970-01-01T00:00:00.000Z","tags":["a","b"],"quote":"a\\"b"}',
    )
    expect(() => encode({ ...row, half: Number.NaN })).toThrow(
      'half: NaN is not a finite number: JSON has no NaN or Infinity; make the field optional (f64?) to write null',
    )
    expect(JSON.parse(text)).toMatchObject({ id: 'é', tags: ['a', 'b'] })
  })

  it('is deterministic: the same source gives the same artifact hash', () => {
    const a = compileSource('test.pipe', RICH).artifact!.manifest.contentHash
    const b = compileSource('test.pipe', RICH).artifact!.manifest.contentHash
    expect(a).toBe(b)
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/)
  })
})
