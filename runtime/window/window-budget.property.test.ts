/**
 * Windows under the state budget (runtime/state/entry-budget.ts), as properties on random
 * out-of-order streams with random budgets (keys or bytes), batch cuts, checkpoints and crashes
 * (a crash drops what the operator emitted since the last checkpoint and restores its snapshot,
 * which the budget then bounds again; the batches since are replayed):
 *
 * - time windows (TypeScript store and WebAssembly kernel) and count windows emit exactly the
 *   brute-force reference's emissions (test/support/window-reference.ts) over the events the
 *   budget admitted, the refused ones counting as dropped before the window (they still move the
 *   watermark, as every source record does); session windows, which the brute force does not
 *   model, emit exactly what an unbounded session operator emits over the admitted events;
 * - nothing is lost silently: every event that is not dropped before the window is either in the
 *   windows, late (as the reference says), or refused with the reason of a full state, exactly
 *   once in the committed output, and the refusals counted between checkpoints (what the
 *   `sluice_state_refused_keys_total` counter adds) equal the refused events committed;
 * - the state never holds more entries or bytes than the budget.
 *
 * To replay a failure: SLUICE_PROPERTY_SEED=<seed> SLUICE_PROPERTY_PATH=<path>; to run longer:
 * SLUICE_PROPERTY_RUNS=<runs>.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  batchesOf,
  type CommittedRun,
  checkpointsArb,
  crashesArb,
  cutsArb,
  driveCheckpointed,
  eventBatchOf,
  refusedIds,
} from '../../test/support/budget-drive.ts'
import { propertyRuns } from '../../test/support/property-runs.ts'
import {
  countWindowEmissions,
  finalWindowResults,
  type RefValue,
  type WindowFn,
  type WindowRefEvent,
  type WindowRefResult,
  windowEmissions,
} from '../../test/support/window-reference.ts'
import { loadWindowKernel, type WindowKernel } from '../../wasm/host/window-kernel.ts'
import type { WindowGraphNode } from '../artifact/manifest.ts'
import type { WindowFunctions } from '../artifact/operators.ts'
import type { Budgeted, EntryBudgetLimits } from '../state/entry-budget.ts'
import { CountWindowOperator } from './count-operator.ts'
import { SessionWindowOperator } from './session-operator.ts'
import { createTypedArrayWindowStore } from './typed-array-store.ts'
import { type WindowedOperator, WindowOperator } from './window-operator.ts'

const params = propertyRuns(150)

const STEP = 'w.window.0.test'

interface Ev {
  readonly id: number
  readonly k: string
  readonly t: number
  readonly x: number | null
  /** Dropped by a `where` before the window: its record moves the watermark, its event reaches nothing. */
  readonly drop: boolean
}

/** count() and sum(x), then window_start() (the reference's third aggregate) from the row's start. */
const FNS: WindowFn[] = ['count', 'sum', 'window_start']

/**
 * Generated-code stand-ins: count and sum(x) in the store; an event whose id is in `skip` gets no
 * key (what a session run over the admitted events only needs).
 */
function windowFunctions(skip: ReadonlySet<number> = new Set()): WindowFunctions {
  return {
    accumulators: ['count', 'sum'],
    extract(input, keys, columns) {
      for (let i = 0; i < input.length; i++) {
        const v = input.values[i] as Ev
        keys[i] = skip.has(v.id) ? null : v.k
        columns[1]![i] = v.x ?? Number.NaN
      }
    },
    keyValues: (key) => [key],
    result: (kv, start, _end, values, aux, r) => ({
      k: kv[0],
      values: [values[0]![r]!, aux[1]![r]! > 0 ? values[1]![r]! : null, start],
    }),
  }
}

type Kind = 'tumbling' | 'hopping' | 'session' | 'count'

interface Shape {
  readonly kind: Kind
  /** Window size (ms), session gap (ms) or events per count window. */
  readonly size: number
  /** Slide (ms), or events between count windows' firings; the size for tumbling and sessions. */
  readonly slide: number
  readonly latenessMs: number
  readonly delayMs: number
}

function nodeOf(shape: Shape): WindowGraphNode {
  const window: WindowGraphNode['window'] =
    shape.kind === 'session'
      ? { kind: 'session', gapMs: shape.size }
      : shape.kind === 'count'
        ? { kind: 'count', size: shape.size, slide: shape.slide }
        : { kind: shape.kind, sizeMs: shape.size, slideMs: shape.slide }
  return {
    kind: 'WindowAggregate',
    id: 'w',
    input: 'i',
    window,
    latenessMs: shape.kind === 'count' ? 0 : shape.latenessMs,
    late: null,
    state: { id: STEP, step: 'window', ttlMs: null },
    execution: 'typescript',
  } as WindowGraphNode
}

const timeShapeArb: fc.Arbitrary<Shape> = fc
  .record({
    hopping: fc.boolean(),
    size: fc.integer({ min: 10, max: 200 }),
    divisor: fc.integer({ min: 2, max: 4 }),
    latenessMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 })),
    delayMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
  })
  .map(({ hopping, size, divisor, latenessMs, delayMs }) => ({
    kind: hopping ? ('hopping' as const) : ('tumbling' as const),
    size,
    slide: hopping ? Math.max(1, Math.floor(size / divisor)) : size,
    latenessMs,
    delayMs,
  }))

const sessionShapeArb: fc.Arbitrary<Shape> = fc
  .record({
    gap: fc.integer({ min: 5, max: 60 }),
    latenessMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60 })),
    delayMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
  })
  .map(({ gap, latenessMs, delayMs }) => ({
    kind: 'session' as const,
    size: gap,
    slide: gap,
    latenessMs,
    delayMs,
  }))

const countShapeArb: fc.Arbitrary<Shape> = fc
  .record({
    size: fc.integer({ min: 1, max: 5 }),
    slideBy: fc.integer({ min: 0, max: 4 }),
    delayMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
  })
  .map(({ size, slideBy, delayMs }) => ({
    kind: 'count' as const,
    size,
    slide: Math.max(1, size - slideBy),
    latenessMs: 0,
    delayMs,
  }))

/** Times drift upward with jitter, now and then far back; many keys, so the budget is reached. */
const eventsArb: fc.Arbitrary<Ev[]> = fc
  .array(
    fc.record({
      step: fc.integer({ min: -3, max: 12 }),
      jitter: fc.oneof(
        { arbitrary: fc.constant(0), weight: 3 },
        { arbitrary: fc.integer({ min: -150, max: 20 }), weight: 1 },
      ),
      k: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'),
      x: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constant(null)),
      drop: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    }),
    { maxLength: 90, size: 'large' },
  )
  .map((items) => {
    let clock = -40
    return items.map((item, id) => {
      clock += item.step
      return { id, k: item.k, t: clock + item.jitter, x: item.x, drop: item.drop }
    })
  })

/** A budget in entries, or in bytes (a whole number of entries and a bit: `perEntry` bytes each). */
function budgetArb(): fc.Arbitrary<{ entries: number; inBytes: boolean; slack: number }> {
  return fc.record({
    entries: fc.integer({ min: 1, max: 12 }),
    inBytes: fc.boolean(),
    slack: fc.integer({ min: 0, max: 40 }),
  })
}

function limitsOf(
  budget: { entries: number; inBytes: boolean; slack: number },
  perEntry: number,
): EntryBudgetLimits {
  return budget.inBytes ? { maxBytes: budget.entries * perEntry + budget.slack } : { maxKeys: budget.entries }
}

type Committed = CommittedRun<WindowRefResult>

/**
 * Drives operators over the events, one source record each, batch by batch (`cuts[i]`: a batch
 * ends after event i), with checkpoints and crashes (test/support/budget-drive.ts).
 */
function drive(
  events: readonly Ev[],
  make: () => WindowedOperator & Budgeted,
  limits: EntryBudgetLimits | null,
  cuts: readonly boolean[],
  checkpoints: readonly boolean[],
  crashes: readonly boolean[],
): Committed {
  const batches = batchesOf(events.length, cuts)
  return driveCheckpointed({
    batches: batches.length,
    make,
    limits,
    step: STEP,
    checkpoints,
    crashes,
    process: (operator, b) => {
      const [start, end] = batches[b]!
      const slice = events.slice(start, end)
      const { input, maxTimes } = eventBatchOf(slice, (e) => ({
        value: e,
        key: e.k,
        time: e.t,
        dropped: e.drop,
      }))
      const out = operator.process(input, maxTimes, slice.length - 1)
      const results: WindowRefResult[] = []
      for (let r = 0; r < out.results.length; r++) {
        const { k, values } = out.results.values[r] as { k: string; values: RefValue[] }
        expect(out.results.keys[r]).toBe(k)
        results.push({ key: k, start: values[2] as number, end: out.results.timestamps[r]! + 1, values })
      }
      const late: number[] = []
      for (let r = 0; r < out.late.length; r++) late.push((out.late.values[r] as Ev).id)
      return { results, late, refused: refusedIds(out.failures, slice, STEP) }
    },
  })
}

/** The reference's events: refused ones count as dropped before the window. */
function referenceEvents(events: readonly Ev[], refused: ReadonlySet<number>): WindowRefEvent[] {
  return events.map((e) => ({
    time: e.t,
    key: e.k,
    args: [null, e.x, null],
    dropped: e.drop || refused.has(e.id),
  }))
}

const text = (r: WindowRefResult) => JSON.stringify([r.key, r.start, r.values])

/** Every event reaches the window, is late or is refused, exactly once; the counters agree. */
function expectNothingLost(events: readonly Ev[], run: Committed, late: readonly number[]): void {
  expect(new Set(run.refused).size).toBe(run.refused.length)
  expect(run.counted).toBe(run.refused.length)
  expect([...run.late].sort((a, b) => a - b)).toEqual([...late].sort((a, b) => a - b))
  for (const id of run.refused) {
    expect(events[id]!.drop).toBe(false)
    expect(late).not.toContain(id)
  }
}

let kernel: WindowKernel
beforeAll(async () => {
  kernel = await loadWindowKernel()
})

describe('windows under the state budget (property)', () => {
  for (const store of ['typescript', 'wasm'] as const) {
    it(`time windows (${store} store) emit the reference's results over the events admitted, and refuse the rest with the reason`, () => {
      let refusing = 0
      fc.assert(
        fc.property(
          timeShapeArb,
          eventsArb,
          budgetArb(),
          cutsArb,
          checkpointsArb,
          crashesArb,
          (shape, events, budget, cuts, checkpoints, crashes) => {
            const node = nodeOf(shape)
            const spec = { accumulators: ['count', 'sum'] as const, sizeMs: shape.size, slideMs: shape.slide }
            const make = () =>
              new WindowOperator(
                node,
                windowFunctions(),
                store === 'wasm'
                  ? kernel.createStore({ ...spec, accumulators: [...spec.accumulators] })
                  : createTypedArrayWindowStore({ ...spec, accumulators: [...spec.accumulators] }),
                shape.delayMs,
              )
            // A row as a snapshot encodes it (13 bytes, 16 per accumulator).
            const limits = limitsOf(budget, 13 + 16 * 2)
            const run = drive(events, make, limits, cuts, checkpoints, crashes)
            if (run.refused.length > 0) refusing++
            const reference = referenceEvents(events, new Set(run.refused))
            const refShape = { ...shape, sizeMs: shape.size, slideMs: shape.slide }
            const expected = windowEmissions(reference, refShape, FNS)
            expect(run.results.map(text)).toEqual(expected.map(text))
            expectNothingLost(events, run, finalWindowResults(reference, refShape, FNS).late)
          },
        ),
        params,
      )
      // The budget was reached in many runs: the property is not about unbounded runs only.
      expect(refusing).toBeGreaterThan(params.numRuns / 10)
    })
  }

  it("count windows emit the reference's results over the events admitted, and refuse the rest with the reason", () => {
    let refusing = 0
    fc.assert(
      fc.property(
        countShapeArb,
        eventsArb,
        budgetArb(),
        cutsArb,
        checkpointsArb,
        crashesArb,
        (shape, events, budget, cuts, checkpoints, crashes) => {
          const make = () => new CountWindowOperator(nodeOf(shape), windowFunctions(), shape.delayMs)
          // A waiting event's rough figure (96 bytes, 8 per accumulator, 64 for the key window it may open).
          const run = drive(events, make, limitsOf(budget, 96 + 16 + 64), cuts, checkpoints, crashes)
          if (run.refused.length > 0) refusing++
          const reference = referenceEvents(events, new Set(run.refused))
          const expected = countWindowEmissions(
            reference,
            { size: shape.size, slide: shape.slide, delayMs: shape.delayMs },
            FNS,
          )
          expect(run.results.map(text)).toEqual(expected.emissions.map(text))
          expectNothingLost(events, run, expected.late)
        },
      ),
      params,
    )
    expect(refusing).toBeGreaterThan(params.numRuns / 10)
  })

  it('session windows emit what an unbounded session operator emits over the events admitted', () => {
    let refusing = 0
    fc.assert(
      fc.property(
        sessionShapeArb,
        eventsArb,
        budgetArb(),
        cutsArb,
        checkpointsArb,
        crashesArb,
        (shape, events, budget, cuts, checkpoints, crashes) => {
          const node = nodeOf(shape)
          const make = () => new SessionWindowOperator(node, windowFunctions(), shape.delayMs)
          const run = drive(events, make, limitsOf(budget, 48 + 24 * 2), cuts, checkpoints, crashes)
          if (run.refused.length > 0) refusing++
          const refused = new Set(run.refused)
          const unbounded = drive(
            events,
            () => new SessionWindowOperator(node, windowFunctions(refused), shape.delayMs),
            null,
            [false],
            [false],
            [false],
          )
          expect(unbounded.refused).toEqual([])
          expect(run.results.map(text)).toEqual(unbounded.results.map(text))
          expectNothingLost(events, run, unbounded.late)
        },
      ),
      params,
    )
    expect(refusing).toBeGreaterThan(params.numRuns / 10)
  })
})
