/**
 * Joins under the state budget (runtime/state/entry-budget.ts), as a property on random
 * interleavings of two out-of-order streams (interval joins inner, left and full; tumbling and
 * hopping window joins), with random budgets in buffered events or bytes, batch cuts, checkpoints
 * and crashes (a crash drops what the join emitted since the last checkpoint, restores its snapshot
 * into a new operator, which the budget bounds again, and replays the batches since):
 *
 * - the join emits exactly the rows and late events of the brute-force reference
 *   (test/support/join-reference.ts) over the events the budget admitted, the refused ones counting
 *   as dropped before the join (their records still move the watermark);
 * - nothing is lost silently: each event is paired or outer, late, or refused with the reason of a
 *   full state, refused exactly once in the committed output, and the refusals counted between
 *   checkpoints (what `sluice_state_refused_keys_total` adds) equal those committed;
 * - the join never holds more buffered events or bytes than the budget.
 *
 * To replay a failure: SLUICE_PROPERTY_SEED=<seed> SLUICE_PROPERTY_PATH=<path>; to run longer:
 * SLUICE_PROPERTY_RUNS=<runs>.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
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
import { joinRecordsArb, joinShapeArb } from '../../test/support/join-arbitrary.ts'
import {
  type JoinRefRecord,
  type JoinRefRow,
  type JoinRefShape,
  joinReference,
  rowText,
} from '../../test/support/join-reference.ts'
import { propertyRuns } from '../../test/support/property-runs.ts'
import type { JoinFunctions } from '../artifact/operators.ts'
import type { EntryBudgetLimits } from '../state/entry-budget.ts'
import { JoinOperator } from './interval-join.ts'

const params = propertyRuns(200)

const STEP = 'j.join.0.test'

interface Value {
  readonly id: number
  readonly k: string | null
  readonly t: number
}

const shapeArb = joinShapeArb(fc.integer({ min: 0, max: 60 }))

const recordsArb = joinRecordsArb({ keys: ['a', 'b', 'c'], keyWeight: 6, droppedBelow: 1 })

const limitsArb: fc.Arbitrary<EntryBudgetLimits> = fc.oneof(
  fc.integer({ min: 1, max: 12 }).map((maxKeys) => ({ maxKeys })),
  fc.integer({ min: 60, max: 1500 }).map((maxBytes) => ({ maxBytes })),
)

const FUNCTIONS: JoinFunctions = {
  leftKeys: (input, keys) => {
    for (let i = 0; i < input.length; i++) keys[i] = (input.values[i] as Value).k
  },
  rightKeys: (input, keys) => {
    for (let i = 0; i < input.length; i++) keys[i] = (input.values[i] as Value).k
  },
  output: (left, right) => ({ l: left, r: right }),
  late: (left, right) => ({ l: left, r: right }),
}

/**
 * Drives a budgeted JoinOperator, batches of one side cut at random, with checkpoints and crashes
 * (test/support/budget-drive.ts).
 */
function drive(
  records: readonly JoinRefRecord[],
  shape: JoinRefShape,
  limits: EntryBudgetLimits,
  cuts: readonly boolean[],
  checkpoints: readonly boolean[],
  crashes: readonly boolean[],
): CommittedRun<JoinRefRow> {
  const spec = { id: 'j#join', joinType: shape.joinType, bound: shape.bound, latenessMs: shape.latenessMs }
  const batches = batchesOf(records.length, cuts, (i) => records[i + 1]?.side !== records[i]!.side)
  return driveCheckpointed({
    batches: batches.length,
    make: () => new JoinOperator(spec, FUNCTIONS, shape.delayMs),
    limits,
    step: STEP,
    checkpoints,
    crashes,
    process: (operator, b) => {
      const [start, end] = batches[b]!
      const slice = records.slice(start, end)
      const { input, maxTimes } = eventBatchOf(slice, (record) => ({
        value: { id: record.id, k: record.key, t: record.time } satisfies Value,
        key: record.key,
        time: record.time,
        dropped: record.dropped,
      }))
      const out = operator.process(slice[0]!.side, input, maxTimes, slice.length - 1)
      const refused = refusedIds(out.failures, slice, STEP)
      const results: JoinRefRow[] = []
      for (let r = 0; r < out.results.length; r++) {
        const { l, r: right } = out.results.values[r] as { l: Value | null; r: Value | null }
        results.push({
          left: l?.id ?? null,
          right: right?.id ?? null,
          key: out.results.keys[r]!,
          time: out.results.timestamps[r]!,
        })
      }
      const late: number[] = []
      for (let r = 0; r < out.late.length; r++) {
        const { l, r: right } = out.late.values[r] as { l: Value | null; r: Value | null }
        late.push((l ?? right)!.id)
      }
      return { results, late, refused }
    },
  })
}

const sorted = (rows: readonly JoinRefRow[]) => rows.map(rowText).sort()
const ascending = (ids: readonly number[]) => [...ids].sort((a, b) => a - b)

describe('joins under the state budget (property)', () => {
  it("emit the reference's rows over the events admitted, and refuse the rest with the reason", () => {
    let refusing = 0
    fc.assert(
      fc.property(
        shapeArb,
        recordsArb,
        limitsArb,
        cutsArb,
        checkpointsArb,
        crashesArb,
        (shape, records, limits, cuts, checkpoints, crashes) => {
          const run = drive(records, shape, limits, cuts, checkpoints, crashes)
          if (run.refused.length > 0) refusing++
          const refused = new Set(run.refused)
          expect(refused.size).toBe(run.refused.length)
          expect(run.counted).toBe(run.refused.length)
          const admitted = records.map((r) => (refused.has(r.id) ? { ...r, dropped: true } : r))
          const expected = joinReference(admitted, shape)
          expect(sorted(run.results)).toEqual(sorted(expected.rows))
          expect(ascending(run.late)).toEqual(ascending(expected.late))
          for (const id of run.refused) {
            expect(records[id]!.dropped).toBe(false)
            expect(expected.late).not.toContain(id)
          }
        },
      ),
      params,
    )
    expect(refusing).toBeGreaterThan(params.numRuns / 10)
  })
})
