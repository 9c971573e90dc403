/**
 * `sluice run`'s options for delivery, checkpoints and operator state, turned into runner options.
 */
import path from 'node:path'
import type { LoadedArtifact } from '../runtime/artifact/load.ts'
import type { EngineBudget } from '../runtime/cep/engine.ts'
import type { Delivery } from '../runtime/log/index.ts'
import type { StateBudget } from '../runtime/node/operator-state.ts'
import { DEFAULT_CEP_BUDGET } from '../runtime/node/pipeline-runner.ts'
import { FileSnapshotStore } from '../runtime/state/file-snapshot-store.ts'
import type { SnapshotStore } from '../runtime/state/index.ts'
import type { OverBudgetPolicy } from '../runtime/state/keyed-state.ts'
import { integerOption, UsageError } from './args.ts'

export const STATE_OPTIONS = {
  delivery: { type: 'string' },
  'checkpoint-interval': { type: 'string' },
  'idle-timeout': { type: 'string' },
  state: { type: 'string' },
  'state-max-keys': { type: 'string' },
  'state-max-bytes': { type: 'string' },
  'state-over-budget': { type: 'string' },
  'cep-max-partial-per-key': { type: 'string' },
  'cep-max-partial': { type: 'string' },
} as const

export const STATE_OPTIONS_HELP = `  --delivery MODE       at-least-once (default): a crash replays the records since the last
                        checkpoint and their outputs appear again; exactly-once: each source
                        partition's outputs, dead letters, offsets and state commit together
                        per checkpoint (Kafka transactions, or the embedded log's commit
                        markers), and readers see committed outputs only
  --checkpoint-interval MS
                        how often each source partition checkpoints its state (and, exactly-once,
                        commits its outputs) (default: 1000)
  --idle-timeout MS     a source partition that delivers nothing for MS is idle: its windows follow
                        the watermark of the source's other partitions and fire without a record,
                        its dedup keys expire by that time too,
                        and a join input stops holding back the join's watermark; its events
                        behind it when it delivers again are late (default: it holds its windows
                        and the join's watermark back until it delivers)
  --state DIR|URL       where stateful steps (dedup, aggregate, windows) keep snapshots: a directory, or
                        redis://host:port for Redis (default: DATA_DIR/state in embedded mode;
                        with Kafka a stateful pipeline needs Redis, or a directory on one node)
  --state-max-keys N    most keys each stateful step keeps per source partition (default: no
                        limit); a window's rows or sessions and a join's buffered events count as keys
  --state-max-bytes N   most bytes of state each stateful step keeps per source partition
  --state-over-budget P what a full state does with a new key: refuse (default; the event is
                        dead-lettered with the reason) or evict-lru (forget the least recently
                        used key; windows and joins refuse under both)
  --cep-max-partial-per-key N
                        most partial matches a \`match\` step holds per key (default: 10000); a new
                        one past it drops the key's oldest, counted in sluice_cep_dropped_total
  --cep-max-partial N   most partial matches a \`match\` step holds per source partition over all
                        keys (default: 1000000); past it the oldest of the key that grows is dropped`

export interface StateSelection {
  readonly delivery?: string | undefined
  readonly 'checkpoint-interval'?: string | undefined
  readonly 'idle-timeout'?: string | undefined
  readonly state?: string | undefined
  readonly 'state-max-keys'?: string | undefined
  readonly 'state-max-bytes'?: string | undefined
  readonly 'state-over-budget'?: string | undefined
  readonly 'cep-max-partial-per-key'?: string | undefined
  readonly 'cep-max-partial'?: string | undefined
  readonly 'data-dir'?: string | undefined
  readonly kafka?: string | undefined
}

export interface StateChoice {
  readonly delivery: Delivery
  readonly checkpointIntervalMs: number
  /** Undefined: idle join inputs hold the watermark back. */
  readonly idleTimeoutMs: number | undefined
  readonly stateBudget: StateBudget
  /** The partial-match budget of each `match` step per source partition. */
  readonly cepBudget: EngineBudget
  /** The snapshot store, opened; null when the pipeline has no stateful step. */
  readonly stateStore: SnapshotStore | null
  readonly describe: string | null
}

/** Checks every option first (usage errors before anything is opened), then opens the store. */
export async function stateOptions(
  values: StateSelection,
  artifact: LoadedArtifact,
  env = process.env,
): Promise<StateChoice> {
  const delivery = values.delivery ?? 'at-least-once'
  if (delivery !== 'at-least-once' && delivery !== 'exactly-once') {
    throw new UsageError(`--delivery must be at-least-once or exactly-once, got "${delivery}"`)
  }
  const checkpointIntervalMs = integerOption(values['checkpoint-interval'], 'checkpoint-interval', 1000)
  if (checkpointIntervalMs < 1) throw new UsageError('--checkpoint-interval must be at least 1 ms')
  const idleTimeoutMs =
    values['idle-timeout'] === undefined ? undefined : positive(values['idle-timeout'], 'idle-timeout')
  const overBudget = values['state-over-budget'] ?? 'refuse'
  if (overBudget !== 'refuse' && overBudget !== 'evict-lru') {
    throw new UsageError(`--state-over-budget must be refuse or evict-lru, got "${overBudget}"`)
  }
  const stateBudget: StateBudget = {
    overBudget: overBudget as OverBudgetPolicy,
    ...(values['state-max-keys'] !== undefined
      ? { maxKeys: positive(values['state-max-keys'], 'state-max-keys') }
      : {}),
    ...(values['state-max-bytes'] !== undefined
      ? { maxBytes: positive(values['state-max-bytes'], 'state-max-bytes') }
      : {}),
  }
  const cepBudget: EngineBudget = {
    maxPerKey:
      values['cep-max-partial-per-key'] === undefined
        ? DEFAULT_CEP_BUDGET.maxPerKey
        : positive(values['cep-max-partial-per-key'], 'cep-max-partial-per-key'),
    maxTotal:
      values['cep-max-partial'] === undefined
        ? DEFAULT_CEP_BUDGET.maxTotal
        : positive(values['cep-max-partial'], 'cep-max-partial'),
  }
  const stateful = artifact.manifest.graph.nodes.some(
    (n) =>
      (n.kind === 'Fused' && (n.state?.length ?? 0) > 0) ||
      n.kind === 'WindowAggregate' ||
      n.kind === 'Join' ||
      n.kind === 'Match',
  )
  const kafka = values.kafka ?? env.SLUICE_KAFKA_BROKERS
  const given = values.state?.trim()
  if (given === '') throw new UsageError('--state names no directory or URL')
  if (!stateful)
    return {
      delivery,
      checkpointIntervalMs,
      idleTimeoutMs,
      stateBudget,
      cepBudget,
      stateStore: null,
      describe: null,
    }
  if (given === undefined && kafka) {
    throw new UsageError(
      `pipeline ${artifact.manifest.name} keeps state, and with Kafka its state must move with the partitions between nodes: give --state redis://HOST:PORT (or --state DIR to keep it on this node only)`,
    )
  }
  const target = given ?? path.join(values['data-dir'] ?? env.SLUICE_DATA_DIR ?? '.sluice', 'state')
  if (/^rediss?:\/\//.test(target)) {
    // ioredis is loaded only when Redis is asked for (a restarted node's start-up counts).
    const { RedisSnapshotStore } = await import('../runtime/state/redis-snapshot-store.ts')
    const stateStore = await RedisSnapshotStore.connect({ url: target })
    return {
      delivery,
      checkpointIntervalMs,
      idleTimeoutMs,
      stateBudget,
      cepBudget,
      stateStore,
      describe: `Redis at ${redactUrl(target)}`,
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    throw new UsageError(`--state ${target}: only redis:// and rediss:// URLs, or a directory`)
  }
  return {
    delivery,
    checkpointIntervalMs,
    idleTimeoutMs,
    stateBudget,
    cepBudget,
    stateStore: new FileSnapshotStore(target),
    describe: `files in ${target}`,
  }
}

function positive(value: string, name: string): number {
  const n = integerOption(value, name, 0)
  if (n < 1) throw new UsageError(`--${name} must be at least 1, got "${value}"`)
  return n
}

/** A Redis URL without its password, for logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
}
