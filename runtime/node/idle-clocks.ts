/**
 * Idle partitions and the clocks of stateful steps (docs/decisions/0028; issue 13).
 *
 * A dedup forgets a key by its step's clock, the newest event time the step has seen on the
 * partition; the runtime drops such keys at checkpoints. On a partition that stops delivering the
 * clock stopped too, so its keys stayed in memory for as long as the partition was quiet. With
 * `--idle-timeout`, an idle partition's windows follow the watermark of the source's partitions
 * that are not idle, on the partition's ticks; the stateful steps that read the same source's
 * events now follow it the same way: on such a tick, their clock takes the largest event time the
 * windows take as seen (PartitionWatermarks.idleMaxTime), as if an event of that time had passed.
 * Their keys then expire as the source's time goes on, and an event the partition delivers later
 * meets the clock it followed, as a window's late event meets the watermark.
 *
 * Only steps that read the source's events themselves follow it (through chains, unions and
 * lookups, which keep an event's time): steps after a window, a join or a `match` read results
 * timed by those operators, whose clocks move when the tick's results reach them.
 */
import { type GraphNode, inputsOf } from '../artifact/manifest.ts'
import type { PartitionState } from './operator-state.ts'

/** Per source node id, the Fused chains (with state) whose events come from it unchanged in time. */
export function chainsFedBySource(nodes: readonly GraphNode[]): ReadonlyMap<string, readonly string[]> {
  const byId = new Map(nodes.map((n) => [n.id, n]))
  const sourcesOf = (id: string, seen: Set<string>): string[] => {
    const node = byId.get(id)
    if (node === undefined || seen.has(id)) return []
    seen.add(id)
    if (node.kind === 'Source') return [node.id]
    if (node.kind !== 'Fused' && node.kind !== 'Union' && node.kind !== 'Lookup') return []
    return inputsOf(node).flatMap((input) => sourcesOf(input, seen))
  }
  const fed = new Map<string, string[]>()
  for (const node of nodes) {
    if (node.kind !== 'Fused' || (node.state ?? []).length === 0) continue
    for (const source of new Set(inputsOf(node).flatMap((input) => sourcesOf(input, new Set())))) {
      const chains = fed.get(source) ?? []
      chains.push(node.id)
      fed.set(source, chains)
    }
  }
  return fed
}

/** Moves the clocks of `chains`' stateful steps on this partition to `maxTime`, never back. */
export function followIdleClock(states: PartitionState, chains: readonly string[], maxTime: number): void {
  for (const chain of chains) {
    for (const step of states.chains.get(chain) ?? []) if (maxTime > step.clock) step.clock = maxTime
  }
}
