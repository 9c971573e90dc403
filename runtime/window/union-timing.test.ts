/**
 * The runtime's input timing through a union (issue 13; specs/language.md, "Unions": timing): a
 * union's events are results when any input's are, with the largest of the inputs' delays, as the
 * reference interpreter has it (compiler/ir/union-timing-interpret.test.ts), whatever the order of
 * the union's inputs (the walk once followed the first input only); likewise which nodes carry a
 * tick's window results on to a join (join-over-window.ts, readsWindowResults).
 */
import { describe, expect, it } from 'vitest'
import type { GraphNode } from '../artifact/manifest.ts'
import { readsMatchResults } from '../cep/match-output.ts'
import { readsWindowResults } from '../join/join-over-window.ts'
import { inputTiming } from './window-over-join.ts'

const window = (id: string, input: string) => ({
  kind: 'WindowAggregate',
  id,
  input,
  window: { kind: 'tumbling', sizeMs: 10_000, slideMs: 10_000 },
  latenessMs: 0,
  late: null,
  state: { id, step: 'window', ttlMs: null },
  execution: 'typescript',
})

/** evs → plain (a chain) and counts (a window); both → a union of them, in the order given. */
function graph(unionInputs: readonly string[]): Map<string, GraphNode> {
  const nodes = [
    { kind: 'Source', id: 'evs', name: 'evs', connector: { kind: 'kafka', topic: 'in' } },
    { kind: 'Fused', id: 'plain', input: 'evs' },
    window('counts', 'evs'),
    { kind: 'Union', id: 'both', inputs: unionInputs },
    { kind: 'Fused', id: 'after', input: 'both' },
  ] as unknown as GraphNode[]
  return new Map(nodes.map((n) => [n.id, n]))
}

const timingOf = (nodes: Map<string, GraphNode>, id: string) =>
  inputTiming(
    nodes.get(id),
    (at) => nodes.get(at),
    (source) => (source === 'evs' ? 1_000 : -1),
  )

describe('input timing through a union', () => {
  it('reads results when any input does, in either order, on the source delay', () => {
    for (const inputs of [
      ['plain', 'counts'],
      ['counts', 'plain'],
    ]) {
      expect(timingOf(graph(inputs), 'after')).toEqual({
        readsResults: true,
        delayMs: 1_000,
        upstream: 'counts',
      })
    }
  })

  it("reads a source's events when no input is results", () => {
    expect(timingOf(graph(['plain', 'evs']), 'after')).toEqual({
      readsResults: false,
      delayMs: 1_000,
      upstream: null,
    })
  })

  it("passes a tick's window results on through the union to a join, in either order, and no match's", () => {
    for (const inputs of [
      ['plain', 'counts'],
      ['counts', 'plain'],
    ]) {
      const nodes = graph(inputs)
      expect(readsWindowResults(nodes.get('after'), (at) => nodes.get(at))).toBe(true)
      expect(readsMatchResults(nodes.get('after'), (at) => nodes.get(at))).toBe(false)
    }
    const plain = graph(['plain', 'evs'])
    expect(readsWindowResults(plain.get('after'), (at) => plain.get(at))).toBe(false)
  })
})
