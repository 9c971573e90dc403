/**
 * Test support for OperatorState's tests (runtime/node/operator-state*.test.ts): the fused chain
 * with one keyed running aggregate that they drive, and an OperatorState over it on a given store.
 */
import type { GraphNode } from '../../runtime/artifact/manifest.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { OperatorState, type OperatorStateOptions } from '../../runtime/node/operator-state.ts'
import { silentLogger } from '../../runtime/observability/logger.ts'
import type { SnapshotStore } from '../../runtime/state/index.ts'

/** Chain `c1` on topic `in`: one `aggregate` (totals) with no TTL. */
export const countsChain: GraphNode & { kind: 'Fused' } = {
  kind: 'Fused',
  id: 'c1',
  input: 's',
  state: [{ id: 'totals.aggregate.0', step: 'aggregate', ttlMs: null }],
}

/** Pipeline `p` running countsChain on topic `in` against `store`, silent, with its own metrics. */
export function countsOperatorState(
  store: SnapshotStore,
  overrides: Partial<OperatorStateOptions> = {},
): OperatorState {
  return new OperatorState({
    pipeline: 'p',
    chains: [countsChain],
    chainsOfTopic: new Map([['in', new Set(['c1'])]]),
    store,
    watermarkDelayMs: () => 0,
    metrics: new MetricsRegistry(),
    logger: silentLogger,
    ...overrides,
  })
}
