/**
 * Lookups on random histories of table changes and stream events, three ways: the runtime (the
 * rows a TableReader keeps, table-rows.ts, with the artifact's generated table decoder and lookup
 * function, the table changing only between batches as it does in the runner), the reference
 * interpreter (compiler/ir/interpret.ts, one event at a time), and a brute-force reference that
 * keeps no table (test/support/lookup-reference.ts). All three must emit the same records, for
 * inner and left lookups, with updates, tombstones, malformed records, null keys and events of keys
 * the table never held. Event times are random and out of order: a processing-time lookup ignores
 * them (it reads the table as it is when the event is processed), a temporal one (`as of ts`)
 * reads the version of the row valid at the event's time (referenceLookupAsOf), whatever order the
 * versions arrived in; a tombstone's version time is its record's timestamp.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter } from '../../compiler/ir/interpret.ts'
import type { Pipeline } from '../../compiler/ir/types.ts'
import { stdlib } from '../../stdlib/index.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import {
  type LookupHistoryEntry,
  type Row,
  referenceLookup,
  referenceLookupAsOf,
} from '../../test/support/lookup-reference.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'
import { type ChainError, createEventBatch, type EventBatch } from '../artifact/operators.ts'
import { TableRows } from './table-rows.ts'

const PIPE = `
schema Event { id: i64, card: string?, ts: timestamp @event_time }
schema Card { number: string, holder: string, n: i64, valid_from: timestamp @event_time }
source events: Event from kafka("events")
table cards: Card from kafka("cards") key by number
stream inner_out = events | lookup cards as c on card
stream left_out = events | lookup cards as c on card or null
stream inner_as_of = events | lookup cards as c on card as of ts
stream left_as_of = events | lookup cards as c on card as of ts or null
sink inner_out -> stdout
sink left_out -> stdout
sink inner_as_of -> stdout
sink left_as_of -> stdout
`
type Mode = 'inner' | 'left' | 'inner as of' | 'left as of'
const LOOKUPS: Record<Mode, string> = {
  inner: 'inner_out#1',
  left: 'left_out#1',
  'inner as of': 'inner_as_of#1',
  'left as of': 'left_as_of#1',
}
const SINKS: Record<Mode, string> = {
  inner: 'sink#1',
  left: 'sink#2',
  'inner as of': 'sink#3',
  'left as of': 'sink#4',
}
const KEYS = ['a', 'b', 'c', 'd', 'é', '']

let artifact: LoadedArtifact
let pipeline: Pipeline

beforeAll(async () => {
  artifact = await loadArtifact(await compileFixture(PIPE, 'lookup-property'))
  const checked = checkSource('lookup-property.pipe', PIPE)
  if (!checked.pipeline) throw new Error('the property pipeline does not check')
  pipeline = checked.pipeline
})

interface CardRow {
  number: string
  holder: string
  n: number
  valid_from: number
}

/** One step of a history: a changelog record, or a batch of events the runner processes at once. */
type Step =
  | { readonly kind: 'row'; readonly row: CardRow }
  | { readonly kind: 'tombstone'; readonly key: string | null; readonly timestamp: number }
  | { readonly kind: 'garbage'; readonly bytes: string }
  | { readonly kind: 'batch'; readonly events: readonly { id: number; card: string | null; ts: number }[] }

const keyArb = fc.constantFrom(...KEYS)
// A small range of times, so versions and events often share one (ties are where as-of rules differ).
const timeArb = fc.integer({ min: 0, max: 20 })
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({ number: keyArb, holder: fc.string({ maxLength: 4 }), n: fc.integer(), valid_from: timeArb })
      .map((row) => ({ kind: 'row' as const, row })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ key: fc.option(keyArb, { nil: null }), timestamp: timeArb })
      .map((r) => ({ kind: 'tombstone' as const, ...r })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('not json', '{"number": 3}', '{"number": "a", "holder": "x"}', '[]')
      .map((bytes) => ({ kind: 'garbage' as const, bytes })),
  },
  {
    weight: 4,
    arbitrary: fc
      .array(
        fc.record({
          id: fc.integer({ min: 0, max: 1000 }),
          card: fc.option(fc.oneof(keyArb, fc.constant('zz')), { nil: null, freq: 5 }),
          ts: timeArb,
        }),
        { maxLength: 6 },
      )
      .map((events) => ({ kind: 'batch' as const, events })),
  },
)

/** The events of the history with ids made unique (the position), so outputs are told apart. */
function numbered(steps: readonly Step[]): Step[] {
  let next = 0
  return steps.map((step) =>
    step.kind === 'batch' ? { ...step, events: step.events.map((e) => ({ ...e, id: next++ })) } : step,
  )
}

function runtimeOutputs(steps: readonly Step[], mode: Mode): Row[] {
  const rows = new TableRows(artifact.operators.tables!.cards!, { versioned: true })
  const lookup = artifact.operators.lookups![LOOKUPS[mode]]!
  const out: Row[] = []
  for (const step of steps) {
    if (step.kind === 'row') {
      // The record's own timestamp means nothing for a row: its version time is `valid_from`.
      rows.apply({ key: null, value: Buffer.from(JSON.stringify(step.row)), timestamp: 99_999 })
    } else if (step.kind === 'tombstone') {
      rows.apply({ key: step.key, value: Buffer.from('null'), timestamp: step.timestamp })
    } else if (step.kind === 'garbage') {
      rows.apply({ key: 'a', value: Buffer.from(step.bytes), timestamp: 0 })
    } else {
      const input: EventBatch = createEventBatch()
      step.events.forEach((event, i) => {
        input.values[i] = event
        input.keys[i] = null
        input.timestamps[i] = event.ts
        input.origins[i] = i
      })
      input.length = step.events.length
      const output = createEventBatch()
      const errors: ChainError[] = []
      lookup(input, output, errors, rows)
      expect(errors).toEqual([])
      for (let i = 0; i < output.length; i++) {
        // Key and time travel with the event unchanged.
        expect(output.timestamps[i]).toBe(input.timestamps[output.origins[i]!])
        out.push(output.values[i] as Row)
      }
    }
  }
  return out
}

function interpreterOutputs(steps: readonly Step[], mode: Mode): Row[] {
  const out: Row[] = []
  const interpreter = createInterpreter(pipeline, {
    functions: stdlib,
    onSink: (o) => {
      if (o.sinkId === SINKS[mode]) out.push(o.value)
    },
    onError: () => {},
  })
  const functions = artifact.operators.tables!.cards!
  for (const step of steps) {
    if (step.kind === 'row') interpreter.updateTable('cards', { kind: 'row', value: { ...step.row } })
    else if (step.kind === 'tombstone') {
      interpreter.updateTable('cards', { kind: 'tombstone', key: step.key, timestamp: step.timestamp })
    } else if (step.kind === 'garbage') {
      let value: unknown
      try {
        value = functions.decode(JSON.parse(step.bytes))
      } catch {
        continue // refused by the decoder: the interpreter never sees it
      }
      interpreter.updateTable('cards', { kind: 'row', value: value as Row })
    } else {
      for (const event of step.events) {
        interpreter.push('events', { value: event, key: null, timestamp: event.ts })
      }
    }
  }
  return out
}

function history(steps: readonly Step[]): LookupHistoryEntry[] {
  return steps.flatMap((step): LookupHistoryEntry[] => {
    if (step.kind === 'row') {
      return [{ kind: 'set', key: step.row.number, row: { ...step.row }, time: step.row.valid_from }]
    }
    if (step.kind === 'tombstone') {
      return step.key === null
        ? [{ kind: 'refused' }]
        : [{ kind: 'delete', key: step.key, time: step.timestamp }]
    }
    if (step.kind === 'garbage') return [{ kind: 'refused' }]
    return step.events.map((event) => ({ kind: 'event', event, key: event.card, time: event.ts }))
  })
}

describe('lookups against a brute-force reference', () => {
  for (const mode of ['inner', 'left', 'inner as of', 'left as of'] as const) {
    it(`${mode}: runtime, interpreter and reference emit the same records`, () => {
      fc.assert(
        fc.property(fc.array(stepArb, { maxLength: 40 }), (generated) => {
          const steps = numbered(generated)
          const join = mode.startsWith('inner') ? 'inner' : 'left'
          const expected = mode.endsWith('as of')
            ? referenceLookupAsOf(history(steps), join, 'c')
            : referenceLookup(history(steps), join, 'c')
          expect(runtimeOutputs(steps, mode)).toEqual(expected)
          expect(interpreterOutputs(steps, mode)).toEqual(expected)
        }),
        { numRuns: Number(process.env.SLUICE_PROPERTY_RUNS ?? 300) },
      )
    })
  }
})
