import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type CepEvent,
  condition,
  describePattern,
  driftingStreamArb,
  type GeneratedPattern,
  patternArb,
  recordsWithEnd,
  type StreamEvent,
  streamArb,
} from '../../test/support/cep-arbitrary.ts'
import { CEP_ENGINES } from '../../test/support/cep-engines.ts'
import { masksOf } from '../../test/support/cep-nfa-fixtures.ts'
import { type RefMatch, referenceMatch } from '../../test/support/cep-reference.ts'
import { propertyRuns } from '../../test/support/property-runs.ts'
import type { EventBatch } from '../artifact/operators.ts'
import { CepOperator } from './cep-operator.ts'
import type { CepFunctions, MatchContext, PatternEngineFactory } from './engine.ts'

const ENGINES = CEP_ENGINES

const BUDGET = { maxPerKey: 1_000_000, maxTotal: 10_000_000 }
const KEYS = ['k1', 'k2', 'k3']
/** The far-off record's time past the stream's last: more than any span the generators make. */
const FINAL_SLACK = 100

/** One output of the operator: a match or a timeout, with the record that emitted it. */
interface Placed {
  readonly kind: 'match' | 'timeout'
  readonly key: string
  readonly record: number
  readonly match: RefMatch
}

interface Scenario {
  readonly generated: GeneratedPattern
  readonly stream: readonly StreamEvent[]
  readonly delayMs: number
  readonly timeouts: boolean
}

function functionsOf(scenario: Scenario): CepFunctions {
  const { generated } = scenario
  const conditions = generated.conditions.map(condition)
  const untils = generated.untils.map((u) => (u === null ? null : condition(u)))
  // The output record: per step, the arrival numbers of its events.
  const ids = (context: MatchContext) =>
    generated.spec.steps.map((_, s) => context.events(s).map((row) => (row as { i: number }).i))
  return {
    conditions,
    untils,
    masks: masksOf(generated.spec, conditions, untils),
    key: (event) => (event as CepEvent).k,
    select: ids,
    timeout: scenario.timeouts ? ids : null,
  }
}

/** The watermark as of each record: the largest time so far less the delay. */
function watermarksOf(times: readonly number[], delayMs: number): number[] {
  let max = Number.NEGATIVE_INFINITY
  return times.map((t) => {
    max = Math.max(max, t)
    return max - delayMs
  })
}

/**
 * Runs the operator over the records cut after each index in `cuts`; after batch b, plan[b %
 * length] says whether to checkpoint (take the changes into a store) and restore a fresh operator
 * from it. Returns the outputs in emission order (matches, then timeouts, per batch) and the late arrivals.
 */
function run(
  scenario: Scenario,
  engine: PatternEngineFactory,
  cuts: ReadonlySet<number>,
  plan: readonly ('none' | 'checkpoint' | 'restore')[] = ['none'],
): { outputs: Placed[]; late: number[] } {
  const functions = functionsOf(scenario)
  const create = () => new CepOperator(scenario.generated.spec, functions, scenario.delayMs, engine, BUDGET)
  let operator = create()
  const stored = new Map<string, Buffer>()
  const records = recordsWithEnd(scenario.stream, FINAL_SLACK)
  const timeOf = (seq: number) => scenario.stream[seq]!.time
  const toMatch = (byStep: number[][], time: number): RefMatch => {
    const pairs = byStep
      .flatMap((list, step) => list.map((seq) => ({ seq, step })))
      .sort((a, b) => timeOf(a.seq) - timeOf(b.seq) || a.seq - b.seq)
    return { steps: pairs.map((p) => p.step), seqs: pairs.map((p) => p.seq), time }
  }
  const outputs: Placed[] = []
  const late: number[] = []
  let start = 0
  let batchIndex = 0
  while (start < records.length) {
    let end = start
    while (end < records.length - 1 && !cuts.has(end)) end++
    const slice = records.slice(start, end + 1)
    const input: EventBatch = {
      values: slice.map((r) => r.row),
      keys: slice.map((r) => r.row.k),
      timestamps: slice.map((r) => r.time),
      origins: slice.map((_, o) => o),
      length: slice.length,
    }
    const maxTimes = new Float64Array(slice.length)
    let max = Number.NEGATIVE_INFINITY
    slice.forEach((r, o) => {
      max = Math.max(max, r.time)
      maxTimes[o] = max
    })
    const out = operator.process(input, maxTimes, slice.length - 1)
    expect(out.failures).toEqual([])
    for (const row of out.late.values) late.push((row as { i: number }).i)
    const place = (kind: Placed['kind'], batch: EventBatch) => {
      for (let i = 0; i < batch.length; i++)
        // The far-off record's own key is not the stream's (it may match a pattern too).
        if (batch.keys[i] !== 'end')
          outputs.push({
            kind,
            key: batch.keys[i]!,
            record: start + batch.origins[i]!,
            match: toMatch(batch.values[i] as number[][], batch.timestamps[i]!),
          })
    }
    place('match', out.results)
    place('timeout', out.timeouts)
    const step = plan[batchIndex % plan.length]!
    if (step !== 'none') {
      const { puts, deletes } = operator.takeChanges()
      for (const name of deletes) stored.delete(name)
      for (const [name, bytes] of puts) stored.set(name, bytes)
      if (step === 'restore') {
        operator = create()
        operator.restoreEntries(stored)
      }
    }
    start = end + 1
    batchIndex++
  }
  return { outputs, late }
}

/** What the reference says, each output at the record the rule gives (see the file's comment). */
function expected(scenario: Scenario, late: readonly number[]): Placed[] {
  const { generated, stream, delayMs } = scenario
  const records = recordsWithEnd(stream, FINAL_SLACK)
  const watermarks = watermarksOf(
    records.map((r) => r.time),
    delayMs,
  )
  const reaching = (time: number, from = 0) => {
    for (let r = from; r < watermarks.length; r++) if (watermarks[r]! >= time) return r
    throw new Error(`no record's watermark reaches ${time}`)
  }
  const functions = {
    conditions: generated.conditions.map(condition),
    untils: generated.untils.map((u) => (u === null ? null : condition(u))),
  }
  const kept = stream.filter((e) => !late.includes(e.seq))
  const placed: Placed[] = []
  for (const key of KEYS) {
    const events = kept.filter((e) => e.value.k === key)
    const sorted = [...events].sort((a, b) => a.time - b.time || a.seq - b.seq)
    const result = referenceMatch(generated.spec, functions, events, {
      finalWatermark: watermarks[watermarks.length - 1]!,
      advanceTimes: watermarks,
    })
    result.matches.forEach((match, m) => {
      const point = result.points[result.emittedAt[m]!]!
      const record =
        point.kind === 'event'
          ? reaching(sorted[point.index]!.time, sorted[point.index]!.seq)
          : reaching(point.time)
      placed.push({ kind: 'match', key, record, match })
    })
    if (scenario.timeouts)
      for (const timeout of result.timeouts)
        placed.push({ kind: 'timeout', key, record: reaching(timeout.time), match: timeout })
  }
  return placed
}

function lateOf(stream: readonly StreamEvent[], delayMs: number): number[] {
  let max = Number.NEGATIVE_INFINITY
  const late: number[] = []
  for (const e of stream) {
    if (!(e.time >= max - delayMs)) late.push(e.seq)
    max = Math.max(max, e.time)
  }
  return late
}

/** Sorted, with the timeouts made unique (the NFA may report one per automaton state holding it). */
function canonical(list: readonly Placed[]): string[] {
  const text = list.map(
    (p) => `${p.kind} ${p.key} @${p.record} t${p.match.time} [${p.match.seqs}] (${p.match.steps})`,
  )
  const matches = text.filter((t) => t.startsWith('match')).sort()
  const timeouts = [...new Set(text.filter((t) => t.startsWith('timeout')))].sort()
  return [...matches, ...timeouts]
}

/**
 * Streams that move on in time with gaps and some disorder (an event up to 4 ms behind the
 * largest time so far): the watermark then often passes a span at a record whose own event it
 * does not release yet, which is where the batch's last record used to take the output.
 */
const hasWithin = (g: GeneratedPattern) =>
  g.spec.withinMs !== null || JSON.stringify(g.spec.pattern).includes('"withinMs":')

for (const engine of ENGINES) {
  const patterns = patternArb.filter(
    (g) =>
      (!engine.eventLocalOnly || g.spec.steps.every((s) => s.reads.length === 0)) && engine.accepts(g.spec),
  )
  // Mostly patterns with a `within`: those are the ones the watermark can end.
  const scenarios: fc.Arbitrary<Scenario> = fc.record({
    generated: fc.oneof(
      { arbitrary: patterns.filter(hasWithin), weight: 3 },
      { arbitrary: patterns, weight: 1 },
    ),
    stream: fc.oneof(streamArb, driftingStreamArb(['k1', 'k1', 'k2', 'k3'], 16)),
    delayMs: fc.constantFrom(0, 2, 3, 5),
    timeouts: fc.constantFrom(true, true, false),
  })
  const cutsArb = fc.array(fc.nat({ max: 16 }), { maxLength: 5 }).map((list) => new Set(list))
  const plans = fc.array(fc.constantFrom('none' as const, 'checkpoint' as const, 'restore' as const), {
    minLength: 1,
    maxLength: 4,
  })

  describe(`CepOperator (${engine.name}): outputs the watermark ends, record by record`, () => {
    it('places every output at the same record, in the same order, whatever the batch cuts and restores', () => {
      fc.assert(
        fc.property(scenarios, cutsArb, plans, (scenario, cuts, plan) => {
          const single = new Set(scenario.stream.map((_, i) => i))
          const one = run(scenario, engine.create, single)
          const cut = run(scenario, engine.create, cuts, plan)
          const context = `${describePattern(scenario.generated)}\ndelay ${scenario.delayMs}, cuts ${[...cuts]}, plan ${plan}`
          expect(cut.late, context).toEqual(one.late)
          if (plan.includes('restore')) {
            // A restored engine holds its keys in the order it imported them, so the outputs of
            // several keys at one record may come in another order: the same records, as sets.
            expect(canonical(cut.outputs), context).toEqual(canonical(one.outputs))
            return
          }
          // Matches and timeouts go to two streams: each keeps its order.
          for (const kind of ['match', 'timeout'] as const)
            expect(
              cut.outputs.filter((o) => o.kind === kind),
              context,
            ).toEqual(one.outputs.filter((o) => o.kind === kind))
        }),
        propertyRuns(150),
      )
    })

    it("emits the reference's matches and timeouts, each at the record whose watermark passed it", () => {
      fc.assert(
        fc.property(scenarios, cutsArb, (scenario, cuts) => {
          const got = run(scenario, engine.create, cuts)
          const late = lateOf(scenario.stream, scenario.delayMs)
          const context = `${describePattern(scenario.generated)}\ndelay ${scenario.delayMs}, cuts ${[...cuts]}\n${scenario.stream
            .map((e) => `${e.value.k}:${e.value.v}${e.value.n}@${e.time}#${e.seq}`)
            .join(' ')}`
          expect(got.late, context).toEqual(late)
          expect(canonical(got.outputs), context).toEqual(canonical(expected(scenario, late)))
        }),
        propertyRuns(200),
      )
    })
  })
}
