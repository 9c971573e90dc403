/**
 * UnionInputsWindow (union-window.ts): what it hands the window it wraps (the union's watermark
 * per source record), what its snapshot keeps (each source's largest event time, before the
 * window's own bytes), and which windows the runner wraps (unionSourcesOf). The wrapped window
 * here records what it is handed; the properties run real windows (union-window.property.test.ts).
 */
import { describe, expect, it } from 'vitest'
import type { GraphNode } from '../artifact/manifest.ts'
import { createEventBatch, type EventBatch } from '../artifact/operators.ts'
import type { Budgeted, EntryBudgetLimits } from '../state/entry-budget.ts'
import { markSourceTimes, UnionInputsWindow, unionSourcesOf } from './union-window.ts'
import type { WindowBatchOutput, WindowedOperator } from './window-operator.ts'

/** A window that keeps the largest watermark handed to it and lists every array it was handed. */
class RecordingWindow implements WindowedOperator, Budgeted {
  maxTime = Number.NEGATIVE_INFINITY
  readonly delayMs = 0
  readonly rows = 0
  readonly approximateBytes = 0
  readonly stats = { evicted: 0, refused: 0, expired: 0 }
  readonly stateEntries = 0
  readonly stateBytes = 0
  handed: number[][] = []
  restored: Buffer | undefined
  bound(_limits: EntryBudgetLimits, _step: string): void {}
  process(_input: EventBatch, watermarks: Float64Array, lastRecord: number): WindowBatchOutput {
    this.handed.push([...watermarks])
    if (lastRecord >= 0) this.maxTime = Math.max(this.maxTime, watermarks[lastRecord]!)
    return { results: createEventBatch(), late: createEventBatch(), lateWatermarks: [], failures: [] }
  }
  takeChanged(): boolean {
    return false
  }
  snapshot(): Buffer {
    return Buffer.from('inner')
  }
  restore(bytes: Buffer | undefined): void {
    this.restored = bytes
  }
}

const SOURCES = [
  { id: 'north', delayMs: 1000 },
  { id: 'south', delayMs: 0 },
]

const batchOf = (source: string, ...maxTimes: number[]) =>
  markSourceTimes(Float64Array.from(maxTimes), source)

describe('UnionInputsWindow', () => {
  it("hands the window the smallest of the sources' watermarks as of each record", () => {
    const inner = new RecordingWindow()
    const union = new UnionInputsWindow(inner, SOURCES)
    union.process(createEventBatch(), batchOf('north', 5000, 9000), 1)
    // south has read nothing: it holds the union back.
    expect(inner.handed.at(-1)).toEqual([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY])
    union.process(createEventBatch(), batchOf('south', 3000, 8500, 12_000), 2)
    // north stays at 9000 − 1000 = 8000 while south passes it.
    expect(inner.handed.at(-1)).toEqual([3000, 8000, 8000])
    union.process(createEventBatch(), batchOf('north', Number.NEGATIVE_INFINITY, 20_000), 1)
    // A record with no event time yet (filtered or failed) keeps north where it was.
    expect(inner.handed.at(-1)).toEqual([8000, 12_000])
    expect(union.maxTime).toBe(12_000)
    expect(union.takeChanged()).toBe(true)
    expect(union.takeChanged()).toBe(false)
  })

  it("restores every source's largest event time from its snapshot, and the window's after them", () => {
    const first = new UnionInputsWindow(new RecordingWindow(), SOURCES)
    first.process(createEventBatch(), batchOf('north', 9000), 0)
    first.process(createEventBatch(), batchOf('south', 4000), 0)
    const bytes = first.snapshot()

    const inner = new RecordingWindow()
    const restored = new UnionInputsWindow(inner, SOURCES)
    restored.restore(bytes)
    expect(inner.restored?.toString()).toBe('inner')
    // Only north delivers after the restart: south's 4000 still counts.
    restored.process(createEventBatch(), batchOf('north', 30_000), 0)
    expect(inner.handed.at(-1)).toEqual([4000])
  })

  it('with an idle timeout, leaves out a source that delivered nothing for it, unless every one is idle', () => {
    let now = 0
    const inner = new RecordingWindow()
    const union = new UnionInputsWindow(inner, SOURCES, { timeoutMs: 1000, now: () => now })
    union.process(createEventBatch(), batchOf('north', 9000), 0)
    expect(inner.handed.at(-1)).toEqual([Number.NEGATIVE_INFINITY])
    // south, heard of since the window was made, has been silent for the timeout.
    now = 1500
    union.process(createEventBatch(), batchOf('north', 9500), 0)
    expect(inner.handed.at(-1)).toEqual([8500])
    // south delivers: it counts again, behind north.
    union.process(createEventBatch(), batchOf('south', 3000), 0)
    expect(inner.handed.at(-1)).toEqual([3000])
    // Both silent for the timeout: a tick of north is no delivery, and with every source idle
    // the smallest of all counts.
    now = 4000
    union.process(createEventBatch(), markSourceTimes(Float64Array.of(12_000), 'north', true), 0)
    expect(inner.handed.at(-1)).toEqual([3000])
  })

  it('starts empty without a snapshot, and refuses a snapshot of another shape or an unmarked array', () => {
    const inner = new RecordingWindow()
    const union = new UnionInputsWindow(inner, SOURCES)
    union.restore(undefined)
    expect(inner.restored).toBeUndefined()
    expect(() => union.restore(Buffer.from('not a union snapshot'))).toThrow(/not the snapshot/)
    const three = new UnionInputsWindow(new RecordingWindow(), [...SOURCES, { id: 'west', delayMs: 0 }])
    expect(() => union.restore(three.snapshot())).toThrow(/has 3 sources but the union has 2/)
    expect(() => union.process(createEventBatch(), Float64Array.of(1), 0)).toThrow(/no source of the union/)
    expect(() => union.process(createEventBatch(), batchOf('west', 1), 0)).toThrow(/no source of the union/)
  })
})

describe('unionSourcesOf', () => {
  const source = (id: string): GraphNode => ({
    kind: 'Source',
    id,
    name: id,
    connector: { kind: 'kafka', topic: id },
  })
  const fused = (id: string, input: string) => ({ kind: 'Fused', id, input }) as unknown as GraphNode
  const window = (id: string, input: string) =>
    ({ kind: 'WindowAggregate', id, input }) as unknown as GraphNode
  const union = (id: string, inputs: string[]) => ({ kind: 'Union', id, inputs }) as unknown as GraphNode
  const graph = (...nodes: GraphNode[]) => {
    const byId = new Map(nodes.map((n) => [n.id, n]))
    return (id: string) => byId.get(id)
  }

  it('finds the sources of a union of several sources through chains, once each', () => {
    const byId = graph(
      source('a'),
      source('b'),
      fused('fa', 'a'),
      union('u', ['fa', 'b', 'a']),
      fused('after', 'u'),
    )
    expect(unionSourcesOf('after', byId)).toEqual(['a', 'b'])
  })

  it("finds none for a union of one source, a union of a window's results, or no union", () => {
    const byId = graph(
      source('a'),
      source('b'),
      fused('fa', 'a'),
      window('wb', 'b'),
      union('one', ['fa', 'a']),
      union('results', ['a', 'wb']),
    )
    expect(unionSourcesOf('one', byId)).toBeNull()
    expect(unionSourcesOf('results', byId)).toBeNull()
    expect(unionSourcesOf('fa', byId)).toBeNull()
  })
})
