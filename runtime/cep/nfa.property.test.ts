/**
 * Properties of the pattern engines (PatternEngine, runtime/cep/engine.ts) against the brute-force
 * reference (compiler/ir/cep-semantics.ts) on random patterns and random keyed streams
 * (test/support/cep-arbitrary.ts): the same matches in the same order per key, the same timed-out
 * partial matches, whether the events come one at a time or a time's worth at once, and across a
 * snapshot and restore into a fresh engine halfway through.
 *
 * The engines step released events: each key's in (time, seq) order, as the operator releases
 * them on the watermark. The harness does what the operator does with a stream whose watermark
 * passes every event: it sorts the arrivals by (time, seq) and, per distinct time, first advances
 * the time (Flink's CepOperator.onEventTime: advanceTime before the events of a timestamp), then
 * steps that time's events; a final advance to past the last event ends what can end. Times are
 * random and often equal, so the seq tie-break matters.
 *
 * Out-of-order arrival goes through the CepOperator (cep-operator.ts) with a random watermark
 * delay: each arrival its own source record, then a far-off event of another key that releases
 * everything. Events before the watermark when they arrive must come out as late, and the
 * matches and timeouts of the others must be the reference's over them, as sets (the operator
 * releases a watermark's worth of events at once, so its batches are not the reference's points;
 * the reference advances where the operator does: a key at each of its own events' times, every key
 * at each watermark).
 *
 * Each engine is one line in ENGINES; an engine that takes only event-local conditions (the
 * WebAssembly kernel) says so and gets only such patterns.
 */
import { deserialize, serialize } from 'node:v8'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type CepEvent,
  condition,
  describePattern,
  type GeneratedPattern,
  patternArb,
  type StreamEvent,
  streamArb,
} from '../../test/support/cep-arbitrary.ts'
import { CEP_ENGINES, type EngineUnderTest } from '../../test/support/cep-engines.ts'
import { type RefMatch, referenceMatch } from '../../test/support/cep-reference.ts'
import { CepOperator } from './cep-operator.ts'
import type {
  CepFunctions,
  EngineMatch,
  KeyMatches,
  MatchContext,
  PatternEngine,
  ReleasedEvents,
} from './engine.ts'

const ENGINES = CEP_ENGINES

/** What runEngine does after a call: nothing, take the changed keys, or take them and restore from them. */
type Plan = 'none' | 'checkpoint' | 'restore'

const BUDGET = { maxPerKey: 1_000_000, maxTotal: 10_000_000 }
/** The final time advance: past every span the generators make. */
const FINAL_SLACK = 100

function functionsOf(generated: GeneratedPattern): CepFunctions {
  const conditions = generated.conditions.map(condition)
  const untils = generated.untils.map((u) => (u === null ? null : condition(u)))
  const local = generated.spec.steps.map((s) => s.reads.length === 0)
  return {
    conditions: conditions.map((c) => (event: unknown, context: MatchContext) => c(event, context)),
    untils: untils.map((u) =>
      u === null ? null : (event: unknown, context: MatchContext) => u(event, context),
    ),
    masks: (rows, n, masks, failed) => {
      const none: MatchContext = { events: () => [] }
      for (let i = 0; i < n; i++) {
        let bits = 0
        conditions.forEach((c, s) => {
          if (local[s] && c(rows[i], none)) bits |= 1 << s
        })
        untils.forEach((u, s) => {
          if (u !== null && local[s] && u(rows[i], none)) bits |= 1 << (16 + s)
        })
        masks[i] = bits >>> 0
        failed[i] = 0
      }
    },
    key: (event) => (event as CepEvent).k,
    select: (context) => context,
    timeout: (context) => context,
  }
}

/** One engine output, with its key. */
interface Output {
  readonly key: string
  readonly match: RefMatch
}

interface EngineRun {
  readonly matches: Output[]
  readonly timeouts: Output[]
}

const KEYS = ['k1', 'k2', 'k3']

function released(
  events: readonly StreamEvent[],
  wantsMasks: boolean,
  functions: CepFunctions,
): ReleasedEvents {
  const n = events.length
  const batch: ReleasedEvents = {
    length: n,
    keyIds: new Int32Array(n),
    times: new Float64Array(n),
    seqs: new Float64Array(n),
    rows: events.map((e) => e.value),
    masks: new Uint32Array(n),
  }
  events.forEach((e, i) => {
    batch.keyIds[i] = KEYS.indexOf(e.value.k)
    batch.times[i] = e.time
    batch.seqs[i] = e.seq
  })
  if (wantsMasks) functions.masks?.(batch.rows, n, batch.masks, new Uint8Array(n), [])
  return batch
}

/**
 * Runs the engine over the stream: per distinct time an advance then the events (one step each,
 * or all of the time at once); with `restartAt`, a snapshot after that many calls restored into a
 * fresh engine that carries on.
 */
function runEngine(
  engine: EngineUnderTest,
  generated: GeneratedPattern,
  stream: readonly StreamEvent[],
  options: {
    perTime: boolean
    restartAt: number | null
    /**
     * Incremental snapshots: after call c, plan[c % length] says whether to take the changed keys
     * into a store of keys (as a checkpoint does), and whether to go on in a fresh engine given
     * every key of that store (base and deltas composed).
     */
    plan?: readonly Plan[]
  },
): EngineRun {
  const functions = functionsOf(generated)
  const create = () => {
    try {
      return engine.create(generated.spec, functions, BUDGET)
    } catch (error) {
      throw new Error(`${describePattern(generated)}: ${(error as Error).message}`)
    }
  }
  let nfa: PatternEngine = create()
  const sorted = [...stream].sort((a, b) => a.time - b.time || a.seq - b.seq)
  const result: EngineRun = { matches: [], timeouts: [] }
  const failures: { seq: number; error: unknown; site: number }[] = []
  let call = 0
  const collect = (into: Output[], found: EngineMatch[]) => {
    for (const m of found)
      into.push({
        key: KEYS[m.keyId]!,
        match: { steps: [...m.steps], seqs: [...m.seqs], time: m.time },
      })
  }
  const stored = new Map<number, Buffer>()
  const next = () => {
    call++
    if (options.restartAt !== null && call === options.restartAt) {
      const bytes = nfa.snapshot()
      nfa = create()
      nfa.restore(bytes)
    }
    const plan = options.plan === undefined ? 'none' : options.plan[call % options.plan.length]!
    if (plan === 'none') return
    for (const keyId of Array.from(nfa.takeChangedKeys())) {
      const matches = nfa.exportKey(keyId)
      if (matches === null) stored.delete(keyId)
      else stored.set(keyId, serialize(matches))
    }
    if (plan === 'restore') {
      nfa = create()
      for (const [keyId, bytes] of stored) nfa.importKey(keyId, deserialize(bytes) as KeyMatches)
    }
  }
  const advance = (time: number) => {
    const matches: EngineMatch[] = []
    const timeouts: EngineMatch[] = []
    nfa.advanceTime(time, matches, timeouts)
    collect(result.matches, matches)
    collect(result.timeouts, timeouts)
    next()
  }
  const stepEvents = (events: readonly StreamEvent[]) => {
    const matches: EngineMatch[] = []
    nfa.step(released(events, nfa.wantsMasks, functions), matches, failures)
    collect(result.matches, matches)
    next()
  }
  let i = 0
  while (i < sorted.length) {
    const time = sorted[i]!.time
    let j = i
    while (j < sorted.length && sorted[j]!.time === time) j++
    advance(time)
    if (options.perTime) stepEvents(sorted.slice(i, j))
    else for (let k = i; k < j; k++) stepEvents([sorted[k]!])
    i = j
  }
  advance(finalWatermark(stream))
  expect(failures).toEqual([])
  return result
}

function finalWatermark(stream: readonly StreamEvent[]): number {
  return stream.reduce((most, e) => Math.max(most, e.time), 0) + FINAL_SLACK
}

function compareSeqs(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

function uniqueSorted(list: readonly RefMatch[]): RefMatch[] {
  const seen = new Map<string, RefMatch>()
  for (const m of list) seen.set(`${m.time}|${m.seqs.join(',')}|${m.steps.join(',')}`, m)
  return [...seen.values()].sort(
    (a, b) => a.time - b.time || compareSeqs(a.seqs, b.seqs) || compareSeqs(a.steps, b.steps),
  )
}

/** What the reference says, per key. */
function expected(generated: GeneratedPattern, stream: readonly StreamEvent[]) {
  const functions = {
    conditions: generated.conditions.map(condition),
    untils: generated.untils.map((u) => (u === null ? null : condition(u))),
  }
  const perKey = new Map<string, { matches: RefMatch[]; timeouts: RefMatch[] }>()
  for (const key of KEYS) {
    const events = stream.filter((e) => e.value.k === key)
    const result = referenceMatch(generated.spec, functions, events, {
      finalWatermark: finalWatermark(stream),
      advanceTimes: stream.map((e) => e.time),
    })
    perKey.set(key, {
      matches: [...result.matches],
      timeouts: uniqueSorted(result.timeouts),
    })
  }
  return perKey
}

function actual(run: EngineRun) {
  const perKey = new Map<string, { matches: RefMatch[]; timeouts: RefMatch[] }>()
  for (const key of KEYS) {
    perKey.set(key, {
      matches: run.matches.filter((o) => o.key === key).map((o) => o.match),
      timeouts: uniqueSorted(run.timeouts.filter((o) => o.key === key).map((o) => o.match)),
    })
  }
  return perKey
}

const hasWithin = (g: GeneratedPattern) =>
  g.spec.withinMs !== null || JSON.stringify(g.spec.pattern).includes('"withinMs":')

/** Through the operator: the late events, and per key the matches and timeouts as sorted lists. */
function runOperator(
  engine: EngineUnderTest,
  generated: GeneratedPattern,
  stream: readonly StreamEvent[],
  delayMs: number,
  /** After arrival i, plan[i % length]: take the changes into a store of entries, and restore a fresh operator from it. */
  plan: readonly Plan[] = ['none'],
) {
  const functions = functionsOf(generated)
  const ids = (context: MatchContext) =>
    generated.spec.steps.map((_, s) => context.events(s).map((row) => (row as { i: number }).i))
  const create = () =>
    new CepOperator(
      generated.spec,
      { ...functions, select: ids, timeout: ids },
      delayMs,
      engine.create,
      BUDGET,
    )
  let operator = create()
  const stored = new Map<string, Buffer>()
  const farOff = finalWatermark(stream) + delayMs
  const arrivals = [
    ...stream.map((e) => ({ row: { ...e.value, i: e.seq }, time: e.time })),
    { row: { k: 'end', v: 'z', n: -1, i: -1 }, time: farOff },
  ]
  const late: number[] = []
  const matches = new Map<string, RefMatch[]>()
  const timeouts = new Map<string, RefMatch[]>()
  const toMatch = (byStep: number[][], time: number): RefMatch => {
    const timeOf = (seq: number) => stream[seq]!.time
    const pairs = byStep
      .flatMap((list, step) => list.map((seq) => ({ seq, step })))
      .sort((a, b) => timeOf(a.seq) - timeOf(b.seq) || a.seq - b.seq)
    return { steps: pairs.map((p) => p.step), seqs: pairs.map((p) => p.seq), time }
  }
  let max = Number.NEGATIVE_INFINITY
  for (const [index, a] of arrivals.entries()) {
    const step = plan[index % plan.length]!
    if (step !== 'none') {
      const { puts, deletes } = operator.takeChanges()
      for (const name of deletes) stored.delete(name)
      for (const [name, bytes] of puts) stored.set(name, bytes)
      if (step === 'restore') {
        operator = create()
        operator.restoreEntries(stored)
      }
    }
    max = Math.max(max, a.time)
    const out = operator.process(
      { values: [a.row], keys: [a.row.k], timestamps: [a.time], origins: [0], length: 1 },
      new Float64Array([max]),
      0,
    )
    expect(out.failures).toEqual([])
    for (const row of out.late.values) late.push((row as { i: number }).i)
    const collect = (into: Map<string, RefMatch[]>, batch: typeof out.results) => {
      for (let i = 0; i < batch.length; i++) {
        const key = batch.keys[i]!
        into.set(key, [
          ...(into.get(key) ?? []),
          toMatch(batch.values[i] as number[][], batch.timestamps[i]!),
        ])
      }
    }
    collect(matches, out.results)
    collect(timeouts, out.timeouts)
  }
  return { late, matches, timeouts }
}

/** Arrivals before the watermark of the arrivals before them (largest time − delay). */
function lateOf(stream: readonly StreamEvent[], delayMs: number): number[] {
  let max = Number.NEGATIVE_INFINITY
  const late: number[] = []
  for (const e of stream) {
    if (!(e.time >= max - delayMs)) late.push(e.seq)
    max = Math.max(max, e.time)
  }
  return late
}

const bySeqs = (list: readonly RefMatch[]) =>
  [...list].sort((a, b) => compareSeqs(a.seqs, b.seqs) || compareSeqs(a.steps, b.steps) || a.time - b.time)

for (const engine of ENGINES) {
  describe(`${engine.name} against the reference matcher`, () => {
    const patterns = patternArb.filter(
      (g) =>
        (!engine.eventLocalOnly || g.spec.steps.every((s) => s.reads.length === 0)) && engine.accepts(g.spec),
    )
    const check = (options: { restart: boolean }) =>
      fc.property(patterns, streamArb, fc.nat(), (generated, stream, cut) => {
        const calls = new Set(stream.map((e) => e.time)).size * 2 + 1
        const run = runEngine(engine, generated, stream, {
          perTime: false,
          restartAt: options.restart ? 1 + (cut % calls) : null,
        })
        const want = expected(generated, stream)
        const got = actual(run)
        for (const key of KEYS) {
          const events = stream
            .filter((e) => e.value.k === key)
            .map((e) => `${e.value.v}${e.value.n}@${e.time}#${e.seq}`)
            .join(' ')
          const all = stream.map((e) => `${e.value.k}:${e.value.v}${e.value.n}@${e.time}#${e.seq}`).join(' ')
          const context = `${describePattern(generated)}\nkey ${key}: ${events}\nall: ${all}`
          expect(got.get(key)!.matches, context).toEqual(want.get(key)!.matches)
          if (hasWithin(generated))
            expect(got.get(key)!.timeouts, `${context} (timeouts)`).toEqual(want.get(key)!.timeouts)
        }
      })

    it('emits the same matches in the same order, event by event', () => {
      fc.assert(check({ restart: false }), { numRuns: 300 })
    })
    it('emits the same matches across a snapshot restored into a fresh engine', () => {
      fc.assert(check({ restart: true }), { numRuns: 150 })
    })
    it('emits the same matches across incremental snapshots (changed keys only) restored at random points', () => {
      const plans = fc.array(fc.constantFrom<Plan>('none', 'none', 'checkpoint', 'restore'), {
        minLength: 1,
        maxLength: 12,
      })
      let restored = 0
      fc.assert(
        fc.property(patterns, streamArb, plans, (generated, stream, plan) => {
          const run = runEngine(engine, generated, stream, { perTime: false, restartAt: null, plan })
          if (plan.includes('restore')) restored++
          const want = expected(generated, stream)
          const got = actual(run)
          for (const key of KEYS) {
            const context = `${describePattern(generated)}\nplan ${plan.join(',')}\nkey ${key}`
            expect(got.get(key)!.matches, context).toEqual(want.get(key)!.matches)
            if (hasWithin(generated))
              expect(got.get(key)!.timeouts, `${context} (timeouts)`).toEqual(want.get(key)!.timeouts)
          }
        }),
        { numRuns: 200 },
      )
      expect(restored).toBeGreaterThan(0)
    })
    it('through the operator, out of order: late events apart, the same matches and timeouts', () => {
      fc.assert(
        fc.property(patterns, streamArb, fc.constantFrom(0, 2, 5), (generated, stream, delayMs) => {
          const got = runOperator(engine, generated, stream, delayMs)
          const late = lateOf(stream, delayMs)
          expect(got.late).toEqual(late)
          const kept = stream.filter((e) => !late.includes(e.seq))
          // The operator advances a key to each of its events' times as it steps it (the reference's
          // own points) and every key to each watermark; not to other keys' event times: a batch
          // released at one watermark advances the other keys only to that watermark.
          let max = Number.NEGATIVE_INFINITY
          const watermarks = stream.map((e) => {
            max = Math.max(max, e.time)
            return max - delayMs
          })
          const functions = {
            conditions: generated.conditions.map(condition),
            untils: generated.untils.map((u) => (u === null ? null : condition(u))),
          }
          for (const key of KEYS) {
            const result = referenceMatch(
              generated.spec,
              functions,
              kept.filter((e) => e.value.k === key),
              {
                finalWatermark: finalWatermark(stream),
                advanceTimes: watermarks,
              },
            )
            const context = `${describePattern(generated)}\ndelay ${delayMs}, key ${key}: ${stream
              .map((e) => `${e.value.k}:${e.value.v}${e.value.n}@${e.time}#${e.seq}`)
              .join(' ')}`
            expect(bySeqs(got.matches.get(key) ?? []), context).toEqual(bySeqs(result.matches))
            if (hasWithin(generated))
              expect(uniqueSorted(got.timeouts.get(key) ?? []), `${context} (timeouts)`).toEqual(
                uniqueSorted(result.timeouts),
              )
          }
        }),
        { numRuns: 200 },
      )
    })
    it('through the operator, with incremental checkpoints restored at random points: the outputs of a run without', () => {
      const plans = fc.array(fc.constantFrom<Plan>('none', 'checkpoint', 'restore'), {
        minLength: 1,
        maxLength: 8,
      })
      fc.assert(
        fc.property(patterns, streamArb, fc.constantFrom(0, 3), plans, (generated, stream, delayMs, plan) => {
          const whole = runOperator(engine, generated, stream, delayMs)
          const cut = runOperator(engine, generated, stream, delayMs, plan)
          const context = `${describePattern(generated)}\ndelay ${delayMs}, plan ${plan.join(',')}`
          expect(cut.late, context).toEqual(whole.late)
          for (const key of KEYS) {
            expect(bySeqs(cut.matches.get(key) ?? []), context).toEqual(bySeqs(whole.matches.get(key) ?? []))
            // Not made unique: a partial match that timed out before a checkpoint must not time out again after a restore.
            expect(bySeqs(cut.timeouts.get(key) ?? []), context).toEqual(
              bySeqs(whole.timeouts.get(key) ?? []),
            )
          }
        }),
        { numRuns: 150 },
      )
    })
    it('emits the same outputs whether a time’s events come one by one or in one batch', () => {
      fc.assert(
        fc.property(patterns, streamArb, (generated, stream) => {
          const single = runEngine(engine, generated, stream, { perTime: false, restartAt: null })
          const batched = runEngine(engine, generated, stream, { perTime: true, restartAt: null })
          expect(batched.matches, describePattern(generated)).toEqual(single.matches)
          expect(batched.timeouts, describePattern(generated)).toEqual(single.timeouts)
        }),
        { numRuns: 150 },
      )
    })
  })
}
