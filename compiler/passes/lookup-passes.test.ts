/**
 * The optimiser keeps lookups correct: a `Lookup` node is never fused (the table is the runtime's,
 * not a chain's keyed state), so chains end before it and start again after it; no filter moves
 * across it; the pipeline's tables survive every pass; and the optimised pipeline emits what the
 * unoptimised one does, whatever the table holds.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import { inputsOf } from '../ir/graph.ts'
import { createInterpreter } from '../ir/interpret.ts'
import type { Node, Pipeline } from '../ir/types.ts'
import { optimise, PASSES } from './optimise.ts'

const PIPE = `
schema E { id: string, card: string, amount: i64, ts: timestamp @event_time }
schema Card { number: string, limit: i64 }
source events: E from kafka("events")
table cards: Card from kafka("cards") key by number
stream s = events
  | where amount > 0
  | key by card
  | lookup cards as c on card
  | where amount > 10 and amount <= c.limit
  | select { id, headroom: c.limit - amount }
sink s -> stdout
`

function checked(): Pipeline {
  const result = checkSource('lookup.pipe', PIPE)
  if (!result.pipeline) throw new Error(JSON.stringify(result.diagnostics, null, 2))
  return result.pipeline
}

function kindsToSink(pipeline: Pipeline): string[] {
  const byId = new Map(pipeline.nodes.map((n) => [n.id, n]))
  const kinds: string[] = []
  let node: Node | undefined = pipeline.nodes.find((n) => n.kind === 'Sink')
  while (node) {
    kinds.unshift(node.kind)
    node = byId.get(inputsOf(node)[0] ?? '')
  }
  return kinds
}

describe('passes with lookups', () => {
  it('never fuse a lookup, move no filter across it, and keep the tables', () => {
    const before = checked()
    for (const pass of PASSES) expect(pass.run(before).tables, pass.name).toEqual(before.tables)
    const after = optimise(before)
    expect(kindsToSink(after)).toEqual(['Source', 'Fused', 'Lookup', 'Fused', 'Sink'])
    const [first, , second] = after.nodes.filter((n) => n.kind !== 'Source' && n.kind !== 'Sink')
    expect(first?.kind === 'Fused' && first.steps.map((s) => s.kind)).toEqual(['Filter', 'KeyBy'])
    expect(second?.kind === 'Fused' && second.steps.map((s) => s.kind)).toEqual(['Filter', 'Map'])
  })

  it('emit what the unoptimised pipeline emits, for any table and events', () => {
    const before = checked()
    const after = optimise(before)
    const run = (pipeline: Pipeline, rows: { number: string; limit: number }[], events: unknown[]) => {
      const out: unknown[] = []
      const interpreter = createInterpreter(pipeline, { onSink: (o) => out.push([o.value, o.key]) })
      for (const value of rows) interpreter.updateTable('cards', { kind: 'row', value })
      for (const value of events)
        interpreter.push('events', { value: value as Record<string, unknown>, key: null, timestamp: 0 })
      return out
    }
    const card = fc.constantFrom('a', 'b', 'c')
    fc.assert(
      fc.property(
        fc.array(fc.record({ number: card, limit: fc.integer({ min: -50, max: 50 }) }), { maxLength: 5 }),
        fc.array(
          fc.record({
            id: fc.string({ maxLength: 3 }),
            card,
            amount: fc.integer({ min: -20, max: 60 }),
            ts: fc.constant(0),
          }),
          {
            maxLength: 10,
          },
        ),
        (rows, events) => {
          expect(run(after, rows, events)).toEqual(run(before, rows, events))
        },
      ),
      { numRuns: 200 },
    )
  })
})
