/**
 * The slack of each chain's dedup (step-lateness.ts): the largest delay of the sources that reach
 * the chain, through joins and unions, and not that of a topic a join elsewhere puts in its task.
 */
import { describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'
import type { GraphNode } from '../artifact/manifest.ts'
import { latenessOfNodes } from './step-lateness.ts'

const PIPE = `
schema Ev { id: string, ts: timestamp @event_time }
source a: Ev from kafka("a") watermark ts - 1m
source b: Ev from kafka("b") watermark ts - 10m
source c: Ev from kafka("c")
stream own = a | dedup by id within 5m
stream joined = join a as x, b as y on x.id == y.id within y between 0m before and 1h after x
  | select { id: x.id, ts: x.ts }
  | dedup by id within 5m
stream merged = union a, c | dedup by id within 5m
sink own -> kafka("own")
sink joined -> kafka("joined")
sink merged -> kafka("merged")
`

const DELAYS: Record<string, number> = { a: 60_000, b: 600_000, c: 0 }

/** The lateness of the chain (Fused node) that feeds the sink `name`. */
async function latenessBySink(): Promise<Record<string, number>> {
  const { manifest } = await loadArtifact(await compileFixture(PIPE, 'step-lateness'))
  const nodes = manifest.graph.nodes
  const lateness = latenessOfNodes(nodes, (source) => DELAYS[source.name]!)
  const byId = new Map(nodes.map((n) => [n.id, n]))
  const chainOf = (id: string): GraphNode => {
    const node = byId.get(id)!
    return node.kind === 'Fused' && (node.state ?? []).length > 0
      ? node
      : chainOf((node as { input: string }).input)
  }
  return Object.fromEntries(
    nodes.flatMap((n) => (n.kind === 'Sink' ? [[n.name, lateness.get(chainOf(n.input).id)!]] : [])),
  )
}

describe('latenessOfNodes', () => {
  it("gives a dedup its own sources' largest delay, through a join and a union", async () => {
    expect(await latenessBySink()).toEqual({ own: 60_000, joined: 600_000, merged: 60_000 })
  })

  it('takes nodes in any order and a node that reads nothing known as 0', () => {
    const nodes = [
      { kind: 'Fused', id: 'f', input: 'u' },
      { kind: 'Union', id: 'u', inputs: ['s1', 's2'] },
      { kind: 'Source', id: 's2', name: 's2', connector: { kind: 'stdout' } },
      { kind: 'Source', id: 's1', name: 's1', connector: { kind: 'stdout' } },
      { kind: 'Fused', id: 'g', input: 'missing' },
    ] as GraphNode[]
    const lateness = latenessOfNodes(nodes, (s) => (s.name === 's1' ? 5 : 7))
    expect(Object.fromEntries(lateness)).toEqual({ f: 7, u: 7, s1: 5, s2: 7, g: 0 })
  })
})
