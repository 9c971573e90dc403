/**
 * A session window over a union of several sources, as the runner builds it (UnionInputsWindow
 * around a SessionWindowOperator, union-window.ts, issue 13), driven batch by batch with an
 * injected wall clock: random interleavings of the two sources' batches, events far out of order
 * (late ones included), pauses that make a source idle under the idle timeout, and restarts from a
 * snapshot (a new operator restored from the old one's bytes, its idle timeouts counted afresh,
 * as after a crash). What it emits, in order, and the events it refuses as late must equal a
 * brute-force model of the spec's rules, written from them:
 *
 * - the union's watermark as of a record of source s: the smallest over the sources counted of
 *   (largest event time so far − delay), s's including the record; a source that delivered
 *   nothing for the timeout is not counted (unless none is), and never goes back (running max);
 * - sessions (specs/language.md, "Sessions"), at each record: first every session whose end the
 *   watermark reached fires (by start, then key) and is gone (no lateness); then the event merges
 *   with its key's sessions that overlap or touch [t, t + gap), or is late when there is none and
 *   t + gap ≤ the watermark.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { replayableRuns } from '../../test/support/crash-run.ts'
import { loadArtifact } from '../artifact/load.ts'
import type { WindowGraphNode } from '../artifact/manifest.ts'
import type { EventBatch } from '../artifact/operators.ts'
import { SessionWindowOperator } from './session-operator.ts'
import { markSourceTimes, UnionInputsWindow } from './union-window.ts'

const PIPE = `
schema E { id: i64, k: string, ts: timestamp @event_time }
source north: E from kafka("north") watermark ts - 1s
source south: E from kafka("south") watermark ts - 3s
stream u = union north, south
stream w = u | aggregate by k window session 1500ms late into late_events { start: window_start(), end: window_end(), n: count(), ids: sum(id) }
sink w -> kafka("out")
sink late_events -> kafka("late")
`
const TOPICS = ['north', 'south'] as const
type Topic = (typeof TOPICS)[number]
const DELAY: Record<Topic, number> = { north: 1000, south: 3000 }
const GAP_MS = 1500
const IDLE_TIMEOUT_MS = 1000
const T0 = Date.UTC(2026, 0, 1)

interface Ev {
  readonly id: number
  readonly k: string
  readonly ts: number
}
type Step =
  | {
      readonly kind: 'batch'
      readonly topic: Topic
      readonly pauseMs: number
      readonly events: readonly Ev[]
    }
  | { readonly kind: 'restart' }

/** Batches of random events (times anywhere in half a minute), pauses, and restarts. */
const stepsArb = fc
  .array(
    fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          kind: fc.constant('batch' as const),
          topic: fc.constantFrom(...TOPICS),
          pauseMs: fc.constantFrom(0, 0, 0, 400, 1200),
          events: fc.array(
            fc.record({ k: fc.constantFrom('a', 'b'), ts: fc.integer({ min: 0, max: 30_000 }) }),
            { minLength: 1, maxLength: 5 },
          ),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
    ),
    { minLength: 1, maxLength: 40 },
  )
  .map((steps): Step[] => {
    let id = 0
    return steps.map((s) =>
      s.kind === 'restart' ? s : { ...s, events: s.events.map((e) => ({ id: id++, k: e.k, ts: T0 + e.ts })) },
    )
  })

const result = (k: string, start: number, end: number, n: number, ids: number) =>
  `${k}|${start}|${end}|${n}|${ids}`

/** The brute-force model: emitted results in order, and the late events' ids. */
function model(steps: readonly Step[]): { emitted: string[]; late: number[] } {
  let now = 0
  const max: Record<Topic, number> = { north: -Infinity, south: -Infinity }
  const last: Record<Topic, number> = { north: 0, south: 0 }
  let watermark = -Infinity
  const sessions = new Map<string, { start: number; end: number; ids: number[] }[]>()
  const emitted: string[] = []
  const late: number[] = []
  for (const step of steps) {
    if (step.kind === 'restart') {
      // A new operator: every source's idle timeout runs afresh from now.
      for (const t of TOPICS) last[t] = now
      continue
    }
    now += step.pauseMs
    last[step.topic] = now
    const idle = TOPICS.filter((t) => now - last[t] >= IDLE_TIMEOUT_MS)
    const counted = idle.length === TOPICS.length ? TOPICS : TOPICS.filter((t) => !idle.includes(t))
    for (const e of step.events) {
      max[step.topic] = Math.max(max[step.topic], e.ts)
      watermark = Math.max(watermark, Math.min(...counted.map((t) => max[t] - DELAY[t])))
      const due: { key: string; start: number; end: number; ids: number[] }[] = []
      for (const [key, list] of sessions) {
        for (const s of list) if (s.end <= watermark) due.push({ key, ...s })
        sessions.set(
          key,
          list.filter((s) => s.end > watermark),
        )
      }
      due.sort((a, b) => a.start - b.start || (a.key < b.key ? -1 : 1))
      for (const s of due)
        emitted.push(
          result(
            s.key,
            s.start,
            s.end,
            s.ids.length,
            s.ids.reduce((a, b) => a + b, 0),
          ),
        )
      const list = sessions.get(e.k) ?? []
      const overlapping = list.filter((s) => s.start <= e.ts + GAP_MS && s.end >= e.ts)
      if (overlapping.length === 0 && e.ts + GAP_MS <= watermark) {
        late.push(e.id)
        continue
      }
      const merged = {
        start: Math.min(e.ts, ...overlapping.map((s) => s.start)),
        end: Math.max(e.ts + GAP_MS, ...overlapping.map((s) => s.end)),
        ids: [...overlapping.flatMap((s) => s.ids), e.id],
      }
      sessions.set(e.k, [...list.filter((s) => !overlapping.includes(s)), merged])
    }
  }
  return { emitted, late }
}

const artifact = loadArtifact(await compileFixture(PIPE, 'union-session-idle'))

/** The operator under test, run over the steps: what it emitted in order, and its late events' ids. */
async function operatorRun(steps: readonly Step[]): Promise<{ emitted: string[]; late: number[] }> {
  const { manifest, operators } = await artifact
  const node = manifest.graph.nodes.find((n): n is WindowGraphNode => n.kind === 'WindowAggregate')!
  const functions = operators.windows![node.id]!
  const sourceId = (name: string) =>
    manifest.graph.nodes.find((n) => n.kind === 'Source' && n.name === name)!.id
  const sources = TOPICS.map((t) => ({ id: sourceId(t), delayMs: DELAY[t] }))
  let now = 0
  const make = () =>
    new UnionInputsWindow(new SessionWindowOperator(node, functions, 0), sources, {
      timeoutMs: IDLE_TIMEOUT_MS,
      now: () => now,
    })
  let window = make()
  const emitted: string[] = []
  const late: number[] = []
  for (const step of steps) {
    if (step.kind === 'restart') {
      const bytes = window.snapshot()
      window = make()
      window.restore(bytes)
      continue
    }
    now += step.pauseMs
    const decoder = operators.sources[step.topic]!
    const batch: EventBatch = {
      values: step.events.map((e) => decoder.decode({ id: e.id, k: e.k, ts: new Date(e.ts).toISOString() })),
      keys: step.events.map((e) => e.k),
      timestamps: step.events.map((e) => e.ts),
      origins: step.events.map((_, i) => i),
      length: step.events.length,
    }
    // The batch's own largest event times so far, as the runner hands them (the wrapper keeps
    // the source's largest across batches and restarts).
    let running = -Infinity
    const times = Float64Array.from(step.events, (e) => (running = Math.max(running, e.ts)))
    const out = window.process(batch, markSourceTimes(times, sourceId(step.topic)), step.events.length - 1)
    expect(out.failures).toEqual([])
    for (let i = 0; i < out.results.length; i++) {
      const row = out.results.values[i] as {
        k: string
        start: number
        end: number
        n: number | bigint
        ids: number | bigint
      }
      emitted.push(result(row.k, Number(row.start), Number(row.end), Number(row.n), Number(row.ids)))
    }
    for (let i = 0; i < out.late.length; i++)
      late.push(Number((out.late.values[i] as { id: number | bigint }).id))
  }
  return { emitted, late }
}

describe('a session window over a union of several sources, idle sources and restarts included (property)', () => {
  it("emits the model's sessions in order and refuses its late events", async () => {
    let emittedSeen = 0
    let lateSeen = 0
    let idleSeen = 0
    await fc.assert(
      fc.asyncProperty(stepsArb, async (steps) => {
        const want = model(steps)
        expect(await operatorRun(steps)).toEqual(want)
        emittedSeen += want.emitted.length
        lateSeen += want.late.length
        idleSeen += steps.some((s) => s.kind === 'batch' && s.pauseMs >= IDLE_TIMEOUT_MS) ? 1 : 0
      }),
      replayableRuns(300),
    )
    expect(emittedSeen, 'sessions emitted').toBeGreaterThan(0)
    expect(lateSeen, 'late events').toBeGreaterThan(0)
    expect(idleSeen, 'examples with an idle source').toBeGreaterThan(0)
  })
})
