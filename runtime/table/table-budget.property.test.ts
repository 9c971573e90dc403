/**
 * Tables under the state budget (runtime/table/table-rows.ts), as a property on random
 * histories of changelog records (rows of a few keys, tombstones, versions at random times) and
 * lookups, with random budgets in keys (versions) or bytes, for plain and versioned tables:
 *
 * - every lookup finds what the brute-force reference (test/support/lookup-reference.ts) finds
 *   when the records the table refused count as refused (malformed) records, which change nothing;
 * - every refusal is given with the reason and counted; under a key budget it is a record that
 *   would have added a key (a version) to a full table, never one that replaces a row (a version
 *   of the same time), and a tombstone is never refused;
 * - beyond tombstones (always applied, so a full table keeps no deleted row), the table never
 *   holds more entries or bytes than the budget.
 *
 * To replay a failure: SLUICE_PROPERTY_SEED=<seed> SLUICE_PROPERTY_PATH=<path>; to run longer:
 * SLUICE_PROPERTY_RUNS=<runs>.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type LookupHistoryEntry,
  type Row,
  referenceLookup,
  referenceLookupAsOf,
} from '../../test/support/lookup-reference.ts'
import { propertyRuns } from '../../test/support/property-runs.ts'
import type { TableFunctions } from '../artifact/operators.ts'
import { type EntryBudgetLimits, tableFullReason } from '../state/entry-budget.ts'
import { TableRows } from './table-rows.ts'

const params = propertyRuns(200)

const FUNCTIONS: TableFunctions = {
  decode: (value) => value,
  decodeJson: (bytes) => JSON.parse(bytes.toString('utf8')),
  key: (row) => (row as { k: string }).k,
  time: (row) => (row as { t: number }).t,
}

type Step =
  | { readonly kind: 'set'; readonly k: string; readonly t: number; readonly v: number }
  | { readonly kind: 'delete'; readonly k: string; readonly t: number }
  | { readonly kind: 'event'; readonly k: string; readonly t: number }

const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f')
const time = fc.integer({ min: 0, max: 12 })
const stepsArb: fc.Arbitrary<Step[]> = fc.array(
  fc.oneof(
    {
      arbitrary: fc.record({ kind: fc.constant('set' as const), k: key, t: time, v: fc.integer() }),
      weight: 4,
    },
    { arbitrary: fc.record({ kind: fc.constant('delete' as const), k: key, t: time }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('event' as const), k: key, t: time }), weight: 3 },
  ),
  { maxLength: 60 },
)

const limitsArb: fc.Arbitrary<EntryBudgetLimits> = fc.oneof(
  fc.integer({ min: 1, max: 6 }).map((maxKeys) => ({ maxKeys })),
  fc.integer({ min: 20, max: 200 }).map((maxBytes) => ({ maxBytes })),
)

describe('tables under the state budget (property)', () => {
  for (const versioned of [false, true]) {
    it(`${versioned ? 'versioned' : 'plain'} tables look up what the reference finds without the refused records`, () => {
      let refusing = 0
      fc.assert(
        fc.property(stepsArb, limitsArb, (steps, limits) => {
          const rows = new TableRows(FUNCTIONS, { versioned, budget: limits, name: 'cards' })
          const history: LookupHistoryEntry[] = []
          const found: Row[] = []
          let refused = 0
          let tombstones = 0
          for (const step of steps) {
            if (step.kind === 'event') {
              const row = (versioned ? rows.getAsOf(step.k, step.t) : rows.get(step.k)) ?? null
              found.push({ id: history.length, c: row as Row | null })
              history.push({ kind: 'event', event: { id: history.length }, key: step.k, time: step.t })
              continue
            }
            if (step.kind === 'delete') {
              const change = rows.apply({ key: step.k, value: Buffer.alloc(0), timestamp: step.t })
              expect(change).toEqual({ kind: 'deleted', key: step.k })
              tombstones++
              history.push({ kind: 'delete', key: step.k, time: step.t })
              continue
            }
            const row = { k: step.k, t: step.t, v: step.v }
            const entriesBefore = rows.entries
            const change = rows.apply({ key: null, value: Buffer.from(JSON.stringify(row)), timestamp: 0 })
            if (change.kind === 'refused') {
              expect(change.reason).toBe(tableFullReason('cards'))
              // Keys bound entries only: a record that replaces one is refused for its bytes alone.
              const replaces = versioned
                ? history.some(
                    (h) => (h.kind === 'set' || h.kind === 'delete') && h.key === step.k && h.time === step.t,
                  )
                : rows.get(step.k) !== undefined
              if (limits.maxKeys !== undefined) expect(replaces).toBe(false)
              expect(entriesBefore).toBe(rows.entries)
              refused++
              history.push({ kind: 'refused' })
            } else {
              expect(change).toEqual({ kind: 'set', key: step.k })
              history.push({ kind: 'set', key: step.k, row, time: step.t })
            }
            if (limits.maxKeys !== undefined)
              expect(rows.entries).toBeLessThanOrEqual(limits.maxKeys + tombstones)
            if (limits.maxBytes !== undefined)
              expect(rows.bytes).toBeLessThanOrEqual(limits.maxBytes + tombstones)
          }
          expect(rows.stats.refused).toBe(refused)
          if (refused > 0) refusing++
          const expected = (versioned ? referenceLookupAsOf : referenceLookup)(history, 'left', 'c')
          expect(found).toEqual(expected)
        }),
        params,
      )
      expect(refusing).toBeGreaterThan(params.numRuns / 10)
    })
  }
})
