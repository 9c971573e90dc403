/**
 * Operators of several inputs that one source reaches through two or more of them (specs/language.md,
 * "Joins" and "Unions"; docs/decisions/0020, addendum): a join of two streams split from one source
 * (`stream big = p | where …; stream small = p | where …; join big as b, small as s …`), a join of
 * a stream with itself, a union of two streams of one source or of one input twice.
 *
 * The runner pushes a source batch through the graph depth first, so such an operator would get one
 * input's whole batch before the other's: a record's event would meet the other input's events of
 * later records, and a join's two watermarks (one source's) would be out of step. Instead each
 * input's batch is held here until the source batch has gone through everything upstream, and the
 * operator then takes its inputs merged record by record: by source record, and for one record in
 * the order of the operator's inputs (a join's left before its right), then as they came. That is
 * how the reference interpreter (compiler/ir/interpret.ts) sees them, one source event at a time.
 */
import { createEventBatch, type EventBatch, pushEvent } from '../artifact/operators.ts'

export interface GraphOfInputs<N> {
  readonly nodes: readonly N[]
  readonly id: (node: N) => string
  /** The ids of the nodes `node` reads, one per input slot (an id twice for an input read twice). */
  readonly inputsOf: (node: N) => readonly string[]
  readonly isSource: (node: N) => boolean
}

/** The ids of the nodes of which one source reaches two input slots or more. */
export function mergedInputNodes<N>(graph: GraphOfInputs<N>): Set<string> {
  const sourcesOf = new Map<string, ReadonlySet<string>>()
  const merged = new Set<string>()
  // Nodes are in topological order: each node's inputs are known before it.
  for (const node of graph.nodes) {
    const id = graph.id(node)
    const inputs = graph.inputsOf(node)
    if (graph.isSource(node)) {
      sourcesOf.set(id, new Set([id]))
      continue
    }
    const all = new Set<string>()
    let shared = false
    for (const input of inputs) {
      for (const source of sourcesOf.get(input) ?? []) {
        if (all.has(source)) shared = true
        all.add(source)
      }
    }
    if (shared && inputs.length >= 2) merged.add(id)
    sourcesOf.set(id, all)
  }
  return merged
}

/** What one input slot of a held node received from the current source batch. */
export interface HeldInput {
  readonly input: number
  readonly batch: EventBatch
}

/**
 * The batches held for merged nodes during one source batch. Batches are copied: a chain reuses
 * its output batch, and may run again (after a union) before the held node takes it.
 */
export class HeldInputs {
  private readonly held = new Map<string, Map<number, EventBatch>>()

  hold(nodeId: string, input: number, batch: EventBatch): void {
    let inputs = this.held.get(nodeId)
    if (inputs === undefined) {
      inputs = new Map()
      this.held.set(nodeId, inputs)
    }
    let copy = inputs.get(input)
    if (copy === undefined) {
      copy = createEventBatch()
      inputs.set(input, copy)
    }
    for (let i = 0; i < batch.length; i++) {
      pushEvent(copy, batch.values[i], batch.keys[i]!, batch.timestamps[i]!, batch.origins[i]!)
    }
  }

  /**
   * Takes the held inputs of the first node of `order` that has any (a node downstream of another
   * comes later in `order`, so it has everything once those before it were taken), or null.
   */
  takeFirst(order: readonly string[]): { nodeId: string; inputs: HeldInput[] } | null {
    if (this.held.size === 0) return null
    for (const nodeId of order) {
      const inputs = this.held.get(nodeId)
      if (inputs === undefined) continue
      this.held.delete(nodeId)
      return {
        nodeId,
        inputs: [...inputs]
          .sort(([a], [b]) => a - b)
          .map(([input, batch]) => ({ input, batch: byOrigin(batch) })),
      }
    }
    return null
  }
}

/** The events of `inputs` by source record, then input slot, then arrival: what a union emits. */
export function mergeByRecord(inputs: readonly HeldInput[]): EventBatch {
  const out = createEventBatch()
  const at = inputs.map(() => 0)
  for (;;) {
    let best = -1
    for (let k = 0; k < inputs.length; k++) {
      const batch = inputs[k]!.batch
      if (at[k]! >= batch.length) continue
      // Inputs are in slot order, so the first with the smallest origin wins ties.
      if (best < 0 || batch.origins[at[k]!]! < inputs[best]!.batch.origins[at[best]!]!) best = k
    }
    if (best < 0) return out
    const batch = inputs[best]!.batch
    const i = at[best]!++
    pushEvent(out, batch.values[i], batch.keys[i]!, batch.timestamps[i]!, batch.origins[i]!)
  }
}

/** The batch with its events in source-record order, stable (it was held in pieces). */
function byOrigin(batch: EventBatch): EventBatch {
  let sorted = true
  for (let i = 1; i < batch.length && sorted; i++) sorted = batch.origins[i - 1]! <= batch.origins[i]!
  if (sorted) return batch
  const order = Array.from({ length: batch.length }, (_, i) => i).sort(
    (a, b) => batch.origins[a]! - batch.origins[b]! || a - b,
  )
  const out = createEventBatch()
  for (const i of order)
    pushEvent(out, batch.values[i], batch.keys[i]!, batch.timestamps[i]!, batch.origins[i]!)
  return out
}
