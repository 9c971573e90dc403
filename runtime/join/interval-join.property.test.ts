/**
 * Joins as properties, on random interleavings of two random out-of-order streams (random keys,
 * null keys, records a `where` drops before the join, random watermark delays per side, random
 * lateness, interval bounds on either side of zero, empty-width bounds, tumbling and hopping
 * windows, times before 1970):
 *
 * - the runtime's JoinOperator, fed the interleaving as batches of one side at a time cut at
 *   random, snapshotted and restored into a new operator at random points, emits exactly the rows
 *   of the brute-force reference (test/support/join-reference.ts) as a multiset, and refuses
 *   exactly its late events (none lost, none made up);
 * - the reference interpreter, running a `.pipe` join over the same interleaving, does the same;
 * - both emit in the same order, whatever the batch cuts and restores, also with the key and
 *   output functions the compiler generates for the same `.pipe`.
 *
 * To replay a failure: SLUICE_PROPERTY_SEED=<seed> SLUICE_PROPERTY_PATH=<path>; to run longer:
 * SLUICE_PROPERTY_RUNS=<runs>.
 */
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { compileAndLoad, removeLoadedModules } from '../../compiler/codegen/load-generated.ts'
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter } from '../../compiler/ir/interpret.ts'
import { stdlib } from '../../stdlib/index.ts'
import { joinRecordsArb, joinShapeArb } from '../../test/support/join-arbitrary.ts'
import {
  type JoinRefRecord,
  type JoinRefRow,
  type JoinRefShape,
  joinReference,
  rowText,
} from '../../test/support/join-reference.ts'
import { propertyRuns } from '../../test/support/property-runs.ts'
import type { EventBatch, JoinFunctions } from '../artifact/operators.ts'
import { JoinOperator } from './interval-join.ts'

const params = propertyRuns(200)

interface Value {
  readonly id: number
  readonly k: string | null
  readonly t: number
  readonly drop: boolean
}

const shapeArb = joinShapeArb(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 })))

/** An interleaving of both sides' records: times drift upward with jitter, now and then far back. */
const recordsArb = joinRecordsArb({ keys: ['a', 'b'], keyWeight: 4, droppedBelow: 3 })

const FUNCTIONS: JoinFunctions = {
  leftKeys: (input, keys) => {
    for (let i = 0; i < input.length; i++) keys[i] = (input.values[i] as Value).k
  },
  rightKeys: (input, keys) => {
    for (let i = 0; i < input.length; i++) keys[i] = (input.values[i] as Value).k
  },
  // Named as the generated functions name a window join's bounds, so one rowOf reads all outputs.
  output: (left, right, start, end) =>
    Number.isNaN(start) ? { l: left, r: right } : { l: left, r: right, window_start: start, window_end: end },
  late: (left, right) => ({ l: left, r: right }),
}

function eventValue(record: JoinRefRecord): Value {
  return { id: record.id, k: record.key, t: record.time, drop: record.dropped }
}

/** A row of the output; a window join's must be timed at its window's last millisecond. */
function rowOf(value: unknown, key: string | null, time: number, shape: JoinRefShape): JoinRefRow {
  const { l, r, window_start, window_end } = value as {
    l: Value | null
    r: Value | null
    window_start?: number
    window_end?: number
  }
  if (shape.bound.kind === 'interval') expect(window_end).toBeUndefined()
  else expect([window_start, window_end]).toEqual([time + 1 - shape.bound.sizeMs, time + 1])
  return { left: l?.id ?? null, right: r?.id ?? null, key, time }
}

function lateIdOf(value: unknown): number {
  const { l, r } = value as { l: Value | null; r: Value | null }
  return (l ?? r)!.id
}

/** Drives a JoinOperator over the records, batch by batch; `cuts[i]` ends a batch after record i. */
function runOperator(
  records: readonly JoinRefRecord[],
  shape: JoinRefShape,
  cuts: readonly boolean[],
  restores: readonly boolean[],
  functions: JoinFunctions = FUNCTIONS,
): { rows: JoinRefRow[]; late: number[] } {
  const spec = { id: 'j#join', joinType: shape.joinType, bound: shape.bound, latenessMs: shape.latenessMs }
  let operator = new JoinOperator(spec, functions, shape.delayMs)
  const rows: JoinRefRow[] = []
  const late: number[] = []
  let start = 0
  let batchNo = 0
  for (let i = 0; i < records.length; i++) {
    const last = i === records.length - 1 || records[i + 1]!.side !== records[i]!.side || cuts[i]
    if (!last) continue
    const slice = records.slice(start, i + 1)
    start = i + 1
    const side = slice[0]!.side
    const batch: EventBatch = { values: [], keys: [], timestamps: [], origins: [], length: 0 }
    const maxTimes = new Float64Array(slice.length)
    let max = Number.NEGATIVE_INFINITY
    slice.forEach((record, o) => {
      max = Math.max(max, record.time)
      maxTimes[o] = max
      if (record.dropped) return
      batch.values.push(eventValue(record))
      batch.keys.push(record.key)
      batch.timestamps.push(record.time)
      batch.origins.push(o)
      batch.length++
    })
    const out = operator.process(side, batch, maxTimes, slice.length - 1)
    expect(out.failures).toEqual([])
    for (let r = 0; r < out.results.length; r++) {
      expect(out.results.origins[r]).toBeGreaterThanOrEqual(0)
      expect(out.results.origins[r]).toBeLessThan(slice.length)
      rows.push(rowOf(out.results.values[r], out.results.keys[r]!, out.results.timestamps[r]!, shape))
    }
    expect(out.lateWatermarks.length).toBe(out.late.length)
    for (let r = 0; r < out.late.length; r++) late.push(lateIdOf(out.late.values[r]))
    if (restores[batchNo++ % restores.length]) {
      const snapshot = operator.snapshot()
      operator = new JoinOperator(spec, functions, shape.delayMs)
      operator.restore(snapshot)
    }
  }
  return { rows, late }
}

function pipeOf(shape: JoinRefShape): string {
  const ms = (n: number) => `${Math.abs(n)}ms ${n < 0 ? 'before' : 'after'}`
  const { bound } = shape
  const clause =
    bound.kind === 'interval'
      ? `within r between ${ms(bound.lowerMs)} and ${ms(bound.upperMs)} l lateness ${shape.latenessMs}ms late into late_j`
      : `window ${bound.kind === 'tumbling' ? `tumbling ${bound.sizeMs}ms` : `hopping ${bound.sizeMs}ms every ${bound.slideMs}ms`} lateness ${shape.latenessMs}ms late into late_j`
  const type = shape.joinType === 'inner' ? 'join' : `${shape.joinType} join`
  return `
schema Ev { id: i64, k: string?, t: timestamp @event_time, drop: bool }
source L: Ev from kafka("l") watermark t - ${shape.delayMs.left}ms
source R: Ev from kafka("r") watermark t - ${shape.delayMs.right}ms
stream lf = L | where not drop
stream rf = R | where not drop
stream j = ${type} lf as l, rf as r on l.k == r.k ${clause}
sink j -> kafka("out")
sink late_j -> kafka("late")
`
}

function runInterpreter(
  records: readonly JoinRefRecord[],
  shape: JoinRefShape,
): { rows: JoinRefRow[]; late: number[] } {
  const checked = checkSource('join.pipe', pipeOf(shape))
  if (!checked.pipeline) throw new Error(checked.diagnostics.map((d) => d.message).join('\n'))
  const rows: JoinRefRow[] = []
  const late: number[] = []
  const interpreter = createInterpreter(checked.pipeline, {
    functions: stdlib,
    onSink: ({ sinkId, value, key, timestamp }) => {
      if (sinkId === 'sink#1') rows.push(rowOf(value, key, timestamp, shape))
      else late.push(lateIdOf(value))
    },
  })
  for (const record of records) {
    interpreter.push(record.side === 'left' ? 'L' : 'R', {
      value: eventValue(record) as unknown as Record<string, unknown>,
      key: null,
      timestamp: record.time,
    })
  }
  return { rows, late }
}

const sorted = (rows: readonly JoinRefRow[]) => rows.map(rowText).sort()

afterAll(removeLoadedModules)

describe('joins (property)', () => {
  it('the runtime operator (random batches, snapshots and restores) emits the brute-force rows and late events', () => {
    fc.assert(
      fc.property(
        shapeArb,
        recordsArb,
        fc.array(fc.boolean(), { minLength: 80, maxLength: 80 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        (shape, records, cuts, restores) => {
          const expected = joinReference(records, shape)
          const actual = runOperator(records, shape, cuts, restores)
          expect(sorted(actual.rows)).toEqual(sorted(expected.rows))
          expect([...actual.late].sort((a, b) => a - b)).toEqual([...expected.late].sort((a, b) => a - b))
        },
      ),
      params,
    )
  })

  it('the reference interpreter runs a .pipe join to the brute-force rows and late events', () => {
    fc.assert(
      fc.property(shapeArb, recordsArb, (shape, records) => {
        const expected = joinReference(records, shape)
        const actual = runInterpreter(records, shape)
        expect(sorted(actual.rows)).toEqual(sorted(expected.rows))
        expect(actual.late).toEqual(expected.late)
      }),
      { ...params, numRuns: Math.max(1, Math.floor(params.numRuns / 2)) },
    )
  })

  it("with the compiled pipeline's generated functions, the operator emits what the interpreter does, in order", async () => {
    // Compiling is slow (ts-morph), so few shapes, each with several interleavings.
    const cases = fc.sample(fc.tuple(shapeArb, fc.array(recordsArb, { minLength: 4, maxLength: 4 })), {
      numRuns: 6,
      ...(params.seed === undefined ? {} : { seed: params.seed }),
    })
    for (const [shape, interleavings] of cases) {
      const { operators, pipeline } = await compileAndLoad(pipeOf(shape))
      const join = pipeline.nodes.find((n) => n.kind === 'Join')!
      const functions = (operators as unknown as { joins: Record<string, JoinFunctions> }).joins[join.id]!
      for (const records of interleavings) {
        const everyRecord = records.map(() => true)
        const actual = runOperator(records, shape, everyRecord, [true, false], functions)
        const interpreted = runInterpreter(records, shape)
        expect(actual.rows.map(rowText)).toEqual(interpreted.rows.map(rowText))
        expect(actual.late).toEqual(interpreted.late)
      }
    }
  })

  it('the operator emits in the order the interpreter does, whatever the batch cuts and restores', () => {
    fc.assert(
      fc.property(
        shapeArb,
        recordsArb,
        fc.array(fc.boolean(), { minLength: 80, maxLength: 80 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        (shape, records, cuts, restores) => {
          const actual = runOperator(records, shape, cuts, restores)
          const interpreted = runInterpreter(records, shape)
          expect(actual.rows.map(rowText)).toEqual(interpreted.rows.map(rowText))
          expect(actual.late).toEqual(interpreted.late)
        },
      ),
      { ...params, numRuns: Math.max(1, Math.floor(params.numRuns / 2)) },
    )
  })
})
