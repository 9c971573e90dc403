import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import type { FusedNode, Node, Pipeline } from '../ir/types.ts'
import { fuseStatelessChains } from './fuse-stateless-chains.ts'
import { optimise } from './optimise.ts'
import { pushFiltersTowardSource } from './push-filters-toward-source.ts'

const SCHEMA = `
schema E { id: string, card: string, amount: f64, country: string?, ts: timestamp @event_time }
source events: E from kafka("events")
`

function checked(body: string): Pipeline {
  const result = checkSource('test.pipe', SCHEMA + body)
  if (!result.pipeline) throw new Error(JSON.stringify(result.diagnostics, null, 2))
  return result.pipeline
}

/** The node kinds from the source to the sink, following inputs backwards from `sinkIndex`'s sink. */
function chainTo(pipeline: Pipeline, sinkIndex = 0): string[] {
  const byId = new Map(pipeline.nodes.map((n) => [n.id, n]))
  const sink = pipeline.nodes.filter((n) => n.kind === 'Sink')[sinkIndex]!
  const kinds: string[] = []
  for (
    let node: Node | undefined = sink;
    node;
    node = node.kind === 'Source' ? undefined : byId.get(node.input)
  ) {
    kinds.unshift(node.kind)
  }
  return kinds
}

function isTopological(pipeline: Pipeline): boolean {
  const seen = new Set<string>()
  return pipeline.nodes.every((n) => {
    const ok = n.kind === 'Source' || seen.has(n.input)
    seen.add(n.id)
    return ok
  })
}

describe('pushFiltersTowardSource', () => {
  it('moves a filter past key by and a plain projection', () => {
    const before = checked(`
stream s = events | select { id, card, amount } | key by card | where amount > 10.0
sink s -> kafka("out")`)
    expect(chainTo(before)).toEqual(['Source', 'Map', 'KeyBy', 'Filter', 'Sink'])
    const after = pushFiltersTowardSource(before)
    expect(chainTo(after)).toEqual(['Source', 'Filter', 'Map', 'KeyBy', 'Sink'])
    expect(isTopological(after)).toBe(true)
    const filter = after.nodes.find((n) => n.kind === 'Filter')!
    // The predicate now reads the source's column, and the filter emits the source's schema.
    expect(
      filter.kind === 'Filter' && filter.predicate.kind === 'Binary' && filter.predicate.left,
    ).toMatchObject({
      kind: 'Column',
      name: 'amount',
    })
    expect(filter.schema.fields.map((f) => f.name)).toEqual(['id', 'card', 'amount', 'country', 'ts'])
  })

  it('splits conjuncts: moves those over projections, keeps those over computed fields', () => {
    const after = pushFiltersTowardSource(
      checked(`
stream s = events | select { card, big: amount * 2.0, amount } | where amount > 1.0 and big > 5.0
sink s -> kafka("out")`),
    )
    expect(chainTo(after)).toEqual(['Source', 'Filter', 'Map', 'Filter', 'Sink'])
    const filters = after.nodes.filter((n) => n.kind === 'Filter')
    expect(filters).toHaveLength(2)
  })

  it('leaves a filter after a fan-out point alone', () => {
    const before = checked(`
stream keyed = events | key by card
stream a = keyed | where amount > 1.0
sink a -> kafka("a")
sink keyed -> kafka("all")`)
    expect(pushFiltersTowardSource(before)).toEqual(before)
  })

  it('renames through a projection that renames a field', () => {
    const after = pushFiltersTowardSource(
      checked(`
stream s = events | select { who: card, amount } | where who == "c1"
sink s -> kafka("out")`),
    )
    const filter = after.nodes.find((n) => n.kind === 'Filter')
    expect(filter?.kind === 'Filter' && filter.input).toBe(after.nodes[0]!.id)
    expect(JSON.stringify(filter)).toContain('"name":"card"')
  })
})

describe('fuseStatelessChains', () => {
  it('fuses where → select → key by into one node', () => {
    const after = fuseStatelessChains(
      checked(`
stream s = events | where amount > 1.0 | select { id, card } | key by card
sink s -> kafka("out")`),
    )
    expect(after.nodes.map((n) => n.kind)).toEqual(['Source', 'Fused', 'Sink'])
    const fused = after.nodes[1] as FusedNode
    expect(fused.steps.map((s) => s.kind)).toEqual(['Filter', 'Map', 'KeyBy'])
    expect(fused.fusedFrom).toHaveLength(3)
    expect(fused.inputSchema.name).toBe('E')
    expect(fused.schema.fields.map((f) => f.name)).toEqual(['id', 'card'])
  })

  it('splits at a fan-out: the shared prefix is computed once, each branch is its own chain', () => {
    const after = fuseStatelessChains(
      checked(`
stream base = events | where amount > 1.0 | key by card
stream a = base | where country == "DE"
stream b = base | select { id }
sink a -> kafka("a")
sink b -> kafka("b")`),
    )
    const fused = after.nodes.filter((n): n is FusedNode => n.kind === 'Fused')
    expect(fused.map((f) => f.steps.map((s) => s.kind))).toEqual([['Filter', 'KeyBy'], ['Filter'], ['Map']])
    const [shared, a, b] = fused
    expect(a!.input).toBe(shared!.id)
    expect(b!.input).toBe(shared!.id)
    expect(isTopological(after)).toBe(true)
  })

  it('makes a lone operator a chain of one, and leaves source → sink alone', () => {
    const after = fuseStatelessChains(
      checked(`
stream s = events | key by card
sink s -> kafka("a")
sink events -> kafka("raw")`),
    )
    expect(after.nodes.map((n) => n.kind).sort()).toEqual(['Fused', 'Sink', 'Sink', 'Source'])
  })
})

describe('optimise', () => {
  it('is deterministic and keeps the IR JSON-serialisable', () => {
    const source = `
stream s = events | select { card, amount } | where amount > 3.0 | key by card
sink s -> kafka("out")`
    const once = optimise(checked(source))
    expect(optimise(checked(source))).toEqual(once)
    expect(JSON.parse(JSON.stringify(once))).toEqual(once)
    expect(once.nodes.map((n) => n.kind)).toEqual(['Source', 'Fused', 'Sink'])
    const fused = once.nodes[1] as FusedNode
    expect(fused.steps.map((s) => s.kind)).toEqual(['Filter', 'Map', 'KeyBy'])
  })
})
