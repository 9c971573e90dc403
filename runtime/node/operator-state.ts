/**
 * The operator state of a running pipeline and its checkpoints (docs/decisions/0015 and 0016).
 *
 * Each stateful step (a Fused node's state slot) keeps one KeyedState per source partition the node
 * owns. The log drives checkpoints through the hooks of CheckpointOptions, one source partition at a
 * time and never concurrently with that partition's handler, except that prepare takes everything
 * before its first await (capturesOnPrepare), so under at-least-once the embedded log runs the next
 * batches while the epoch is written and committed:
 *
 *   assigned   restore each slot's state as of the epoch the log committed last (its offsets' metadata)
 *   prepare    expire idle keys, stage each slot's changes since the last epoch as epoch e + 1, and
 *              hand the log `{"epoch": e + 1}` to commit with the offsets (and, exactly-once, the outputs)
 *   committed  make the staged epoch visible in the store
 *   revoked    drop the partition's state: another node may change it before it comes back
 *
 * So the state loaded after any crash is the one that belongs to the committed offsets: records after
 * them are replayed into it (at-least-once: their outputs appear again; exactly-once: their earlier
 * outputs were never committed).
 */
import type {
  GraphNode,
  JoinGraphNode,
  MatchGraphNode,
  StateSlot,
  WindowGraphNode,
} from '../artifact/manifest.ts'
import type { StepState } from '../artifact/operators.ts'
import type { CepOperator } from '../cep/cep-operator.ts'
import { isSluiceError, SluiceError } from '../errors.ts'
import type { JoinOperator } from '../join/interval-join.ts'
import type { CheckpointOptions } from '../log/index.ts'
import type { Counter, Histogram, MetricsRegistry } from '../metrics/registry.ts'
import type { Logger } from '../observability/logger.ts'
import { type Budgeted, isBudgeted, type StateStats } from '../state/entry-budget.ts'
import {
  jsonCodec,
  type PreloadedSnapshot,
  type Snapshot,
  type SnapshotStore,
  type StateScope,
} from '../state/index.ts'
import { KeyedState, type OverBudgetPolicy } from '../state/keyed-state.ts'
import type { RowLayout } from '../state/number-rows.ts'
import { EntryWriter, SnapshotEntries } from '../state/snapshot-entries.ts'
import { mergeChanges } from '../state/timers.ts'
import type { WindowedOperator } from '../window/window-operator.ts'

/**
 * A budget for each stateful step's state, per source partition (docs/decisions/0015): a dedup's
 * or aggregate's keys, a window's or join's entries (runtime/state/entry-budget.ts).
 */
export interface StateBudget {
  readonly maxKeys?: number
  readonly maxBytes?: number
  /** Default 'refuse': the event that needs a new key is dead-lettered with the reason. */
  readonly overBudget?: OverBudgetPolicy
}

export interface OperatorStateOptions {
  /** The pipeline (artifact name): the first part of every state scope. */
  readonly pipeline: string
  /** The chains with stateful steps, and for each source topic the chains its batches reach. */
  readonly chains: readonly (GraphNode & { kind: 'Fused' })[]
  readonly chainsOfTopic: ReadonlyMap<string, ReadonlySet<string>>
  /** The windowed aggregates, and for each source topic the ones its batches reach. */
  readonly windows?: readonly WindowGraphNode[]
  readonly windowsOfTopic?: ReadonlyMap<string, ReadonlySet<string>>
  /** Creates a window's operator (with an empty store) for one source partition of `topic`. */
  readonly createWindow?: (node: WindowGraphNode, topic: string) => Promise<WindowedOperator>
  /** The joins, and for each task's first topic the ones its batches reach (decision 0020). */
  readonly joins?: readonly JoinGraphNode[]
  readonly joinsOfTopic?: ReadonlyMap<string, ReadonlySet<string>>
  /** Creates a join's operator (empty) for one task. */
  readonly createJoin?: (node: JoinGraphNode) => JoinOperator
  /** The `match` steps, and for each source topic the ones its batches reach. */
  readonly matches?: readonly MatchGraphNode[]
  readonly matchesOfTopic?: ReadonlyMap<string, ReadonlySet<string>>
  /** Creates a match's operator (no partial match) for one source partition of `topic`. */
  readonly createMatch?: (node: MatchGraphNode, topic: string) => Promise<CepOperator>
  /**
   * What a window's watermark follows, for the watermark gauge's `upstream` label: its source's
   * name, or the id of the window or join whose results it reads (window-over-join.ts). Default:
   * the source.
   */
  readonly windowUpstream?: (node: WindowGraphNode) => string
  /** Where snapshots go; null only when no chain has state (epochs then number the commits alone). */
  readonly store: SnapshotStore | null
  readonly budget?: StateBudget
  /**
   * How late an event may reach the steps of chain `chain` (each step's `latenessMs`): the largest
   * watermark delay of the sources that reach it (runtime/node/step-lateness.ts).
   */
  readonly watermarkDelayMs: (chain: string) => number
  readonly metrics: MetricsRegistry
  readonly logger: Logger
}

/** One source partition's operator state. */
export interface PartitionState {
  /** The epoch committed last (0: none). */
  epoch: number
  /** Per chain id, each of its slots' state, in slot order (the chain's `states` argument). */
  readonly chains: ReadonlyMap<string, readonly StepState[]>
  /** Per WindowAggregate node id, its operator on this partition. */
  readonly windows: ReadonlyMap<string, WindowedOperator>
  /** Per Join node id, its operator on this task. */
  readonly joins: ReadonlyMap<string, JoinOperator>
  /** Per Match node id, its operator on this partition. */
  readonly matches: ReadonlyMap<string, CepOperator>
}

interface WindowSlot {
  readonly operator: WindowedOperator
  readonly scope: StateScope
  /** The gauge's `upstream` label (OperatorStateOptions.windowUpstream). */
  readonly upstream: string
}

interface JoinSlot {
  readonly operator: JoinOperator
  readonly scope: StateScope
}

interface MatchSlot {
  readonly operator: CepOperator
  readonly scope: StateScope
}

/** A chain slot's state restored ahead of its partition's assignment (OperatorState.preload). */
interface PreloadedSlot {
  readonly state: KeyedState<unknown>
  readonly snapshot: PreloadedSnapshot
  readonly readMs: number
  readonly restoreMs: number
}

/** The entry of a window's snapshot in its scope. */
const WINDOW_ENTRY = 'window'
/** The entry of a join's snapshot (both sides' buffers) in its scope. */
const JOIN_ENTRY = 'join'

interface SlotState {
  readonly chain: string
  readonly slot: StateSlot
  readonly step: Step
  readonly scope: StateScope
}

/** Where a step's clock is kept in its scope's snapshot, beside the state's `v:` keys. */
const CLOCK_ENTRY = 'clock'

/** A stateful step's state for one source partition, as the generated code sees it. */
class Step implements StepState {
  clock = Number.NEGATIVE_INFINITY
  /** The clock as last staged: a checkpoint writes it only when it moved. */
  stagedClock = Number.NEGATIVE_INFINITY

  constructor(
    readonly state: KeyedState<unknown>,
    readonly latenessMs: number,
  ) {}

  get(key: string, now: number): unknown {
    return this.state.get(key, now)
  }

  set(key: string, value: unknown, now: number): boolean {
    return this.state.set(key, value, now)
  }

  findRow(key: string, now: number, layout: RowLayout): number {
    return this.state.findRow(key, now, layout)
  }

  setRow(key: string, now: number): boolean {
    return this.state.setRow(key, now)
  }

  get rows(): Float64Array {
    return this.state.rows
  }

  get rowScratch(): Float64Array {
    return this.state.rowScratch
  }
}

interface OpenPartition extends PartitionState {
  readonly topic: string
  readonly partition: number
  readonly slots: readonly SlotState[]
  readonly windowSlots: readonly WindowSlot[]
  readonly joinSlots: readonly JoinSlot[]
  readonly matchSlots: readonly MatchSlot[]
  /** The epoch prepare() staged and the log is committing. */
  preparing: number | null
  prepareStarted: number
  stagedBytes: number
  /**
   * What the store's commit of the last epoch failed with, if it did: the next prepare throws it.
   * That commit runs after the `committed` hook returned (see committed()).
   */
  storeFailure: { error: unknown } | null
}

const CHECKPOINT_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30]

/**
 * A stage the store refused because another node took the partition over while this one stalled
 * (a zombie woken mid-checkpoint, before its state was staged): the store either holds a committed
 * epoch at least as new as the one staged (STATE_EPOCH_MISMATCH), or fences this node's writes
 * because the new owner has taken the scope over (STATE_FENCED). Its log commit would be fenced
 * too, so this is LOG_FENCED, which the runner answers by joining the group again; as a store
 * error it ended the node. Other failures pass unchanged.
 */
function lostToNewerOwner(error: unknown, topic: string, partition: number, epoch: number): unknown {
  if (!isSluiceError(error, 'STATE_EPOCH_MISMATCH') && !isSluiceError(error, 'STATE_FENCED')) return error
  return new SluiceError(
    'LOG_FENCED',
    `epoch ${epoch} of ${topic}/${partition} cannot be staged: a newer owner of the partition took its state over meanwhile (${error.message})`,
    { cause: error },
  )
}

/** What the log's offset metadata says about the epoch; a commit without Sluice's metadata is epoch 0. */
export function epochOfMetadata(metadata: string | null): number {
  if (metadata === null || metadata === '') return 0
  let parsed: unknown
  try {
    parsed = JSON.parse(metadata)
  } catch {
    return 0
  }
  const epoch = (parsed as { epoch?: unknown } | null)?.epoch
  return typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch >= 0 ? epoch : 0
}

export function metadataOfEpoch(epoch: number): string {
  return JSON.stringify({ epoch })
}

export class OperatorState {
  private readonly partitions = new Map<string, OpenPartition>()
  /** The store's commits of epochs the log committed, still running (committed()). */
  private readonly storeCommits = new Set<Promise<void>>()
  /**
   * Partitions whose chain state is being read ahead of their assignment (the log's `preload`
   * hook): the epoch read, and per state slot id the state restored from the store's preload.
   * `assigned` takes its partition's entry; `retainPreloaded` drops those not assigned after all.
   */
  private readonly preloaded = new Map<
    string,
    {
      topic: string
      partition: number
      epoch: number
      dropped: boolean
      slots: Promise<Map<string, PreloadedSlot>>
    }
  >()
  private readonly checkpointSeconds: Histogram
  private readonly checkpointBytes: Histogram
  private readonly lastCommitted = new Map<
    string,
    { epoch: number; at: number; topic: string; partition: number }
  >()
  private readonly evicted: Counter
  private readonly refused: Counter
  private readonly expired: Counter
  /** Each state's stats as last added to the counters (KeyedState.stats are cumulative). */
  private readonly counted = new WeakMap<{ readonly stats: StateStats }, StateStats>()

  constructor(private readonly options: OperatorStateOptions) {
    const m = options.metrics
    this.checkpointSeconds = m.histogram(
      'sluice_checkpoint_seconds',
      'Time from preparing a source partition’s checkpoint (staging its state) to the log committing it (its commit point; the state store then marks it committed in the background).',
      CHECKPOINT_BUCKETS,
    )
    this.checkpointBytes = m.histogram(
      'sluice_checkpoint_bytes',
      'Bytes of operator state one checkpoint of one source partition staged (the keys changed since the last).',
      [0, 1024, 16_384, 262_144, 4_194_304, 67_108_864],
    )
    m.gauge('sluice_checkpoint_epoch', 'The last committed checkpoint epoch, per source partition.', {
      collect: () =>
        [...this.lastCommitted.values()].map((c) => ({
          labels: { topic: c.topic, partition: String(c.partition) },
          value: c.epoch,
        })),
    })
    m.gauge(
      'sluice_checkpoint_age_seconds',
      'Seconds since the last committed checkpoint, per source partition (what a crash now would replay).',
      {
        collect: () =>
          [...this.lastCommitted.values()].map((c) => ({
            labels: { topic: c.topic, partition: String(c.partition) },
            value: (Date.now() - c.at) / 1000,
          })),
      },
    )
    m.gauge(
      'sluice_state_keys',
      'Keys held by each stateful step (a window’s rows or sessions, a join’s buffered events: what the state budget bounds), over the partitions this node owns.',
      {
        collect: () =>
          this.perOperator(
            (s) => s.step.state.size,
            (b) => b.stateEntries,
          ),
      },
    )
    m.gauge(
      'sluice_state_bytes',
      'Approximate bytes of state (as encoded in snapshots) held by each stateful step, over the partitions this node owns.',
      {
        collect: () =>
          this.perOperator(
            (s) => s.step.state.approximateBytes,
            (b) => b.stateBytes,
          ),
      },
    )
    m.gauge(
      'sluice_window_rows',
      'Open windows (one per key and window) held by each windowed aggregate, over the partitions this node owns.',
      {
        collect: () => this.perWindow((w) => w.operator.rows),
      },
    )
    m.gauge(
      'sluice_window_watermark_seconds',
      'The watermark each windowed aggregate runs on, per source partition: the largest event time read less the source’s delay (an idle partition’s: the one it follows, with --idle-timeout; a processing-time window’s: the clock); `upstream` is the source, or for a window over another window’s or a join’s results that window or join (its output watermark).',
      {
        collect: () =>
          [...this.partitions.values()].flatMap((open) =>
            open.windowSlots
              .filter((w) => Number.isFinite(w.operator.maxTime))
              .map((w) => ({
                labels: {
                  operator: w.scope.operator,
                  upstream: w.upstream,
                  topic: open.topic,
                  partition: String(open.partition),
                },
                value: (w.operator.maxTime - w.operator.delayMs) / 1000,
              })),
          ),
      },
    )
    m.gauge(
      'sluice_cep_partial_matches',
      'Partial matches each `match` step holds (over the partitions this node owns), waiting for their next events.',
      {
        collect: () => {
          const sums = new Map<string, number>()
          for (const open of this.partitions.values())
            for (const { operator, scope } of open.matchSlots)
              sums.set(scope.operator, (sums.get(scope.operator) ?? 0) + operator.partialMatches)
          return [...sums].map(([operator, value]) => ({ labels: { operator }, value }))
        },
      },
    )
    m.gauge(
      'sluice_join_rows',
      'Events each join holds (both sides, over the tasks this node owns) while they may still find a match.',
      {
        collect: () => {
          const sums = new Map<string, number>()
          for (const open of this.partitions.values())
            for (const { operator, scope } of open.joinSlots)
              sums.set(scope.operator, (sums.get(scope.operator) ?? 0) + operator.size)
          return [...sums].map(([operator, value]) => ({ labels: { operator }, value }))
        },
      },
    )
    m.gauge(
      'sluice_join_watermark_seconds',
      'The watermark each join runs on, per task (named by its first topic and partition): the smaller of its two inputs’ watermarks.',
      {
        collect: () =>
          [...this.partitions.values()].flatMap((open) =>
            open.joinSlots
              .filter((j) => Number.isFinite(j.operator.watermark))
              .map((j) => ({
                labels: { operator: j.scope.operator, topic: open.topic, partition: String(open.partition) },
                value: j.operator.watermark / 1000,
              })),
          ),
      },
    )
    this.evicted = m.counter(
      'sluice_state_evicted_keys_total',
      'Keys dropped to stay within the state budget (policy evict-lru), per stateful step.',
    )
    this.refused = m.counter(
      'sluice_state_refused_keys_total',
      'New keys the full state refused (policy refuse; windows and joins always), per stateful step; their events were dead-lettered.',
    )
    this.expired = m.counter(
      'sluice_state_expired_keys_total',
      'Keys dropped after idling longer than the step’s TTL in event time, per stateful step.',
    )
  }

  /** The hooks of the log's checkpointed subscription. */
  hooks(): Pick<
    CheckpointOptions,
    'assigned' | 'prepare' | 'committed' | 'revoked' | 'capturesOnPrepare' | 'preload' | 'retainPreloaded'
  > {
    return {
      // prepare() takes every slot's changes (and windows', joins' and matches' snapshots) before
      // its first await, so the log may go on with the next batches while the epoch is written.
      capturesOnPrepare: true,
      assigned: (topic, partition, metadata) => this.assigned(topic, partition, metadata),
      prepare: (topic, partition) => this.prepare(topic, partition),
      committed: (topic, partition, metadata) => this.committed(topic, partition, metadata),
      revoked: (topic, partition) => this.revoked(topic, partition),
      preload: (topic, partition, metadata) => this.preload(topic, partition, metadata),
      retainPreloaded: (assigned) => this.retainPreloaded(assigned),
    }
  }

  /** Partitions whose state was preloaded and is not assigned yet (for tests and diagnostics). */
  preloadedPartitions(): { topic: string; partition: number }[] {
    return [...this.preloaded.values()].map(({ topic, partition }) => ({ topic, partition }))
  }

  /**
   * Starts reading and restoring the chains' state of a partition this node is likely to be
   * assigned, as of the epoch committed now (`metadata`), while the log joins its group. Only
   * chain state (dedup, aggregates: the keyed states that can hold millions of keys); windows,
   * joins and matches load at `assigned`. Nothing is changed in the store: `assigned` adopts the
   * read only if the log committed the same epoch by then and the store still holds it as read
   * (SnapshotStore.preload), else it loads afresh. A failed preload is forgotten the same way.
   */
  private preload(topic: string, partition: number, metadata: string | null): void {
    const epoch = epochOfMetadata(metadata)
    const store = this.options.store
    const key = partitionKey(topic, partition)
    if (epoch === 0 || store?.preload === undefined || this.partitions.has(key) || this.preloaded.has(key))
      return
    const reached = this.options.chainsOfTopic.get(topic) ?? new Set<string>()
    const entry = {
      topic,
      partition,
      epoch,
      dropped: false,
      slots: Promise.resolve(new Map<string, PreloadedSlot>()),
    }
    this.preloaded.set(key, entry)
    entry.slots = (async () => {
      const out = new Map<string, PreloadedSlot>()
      for (const chain of this.options.chains) {
        if (!reached.has(chain.id)) continue
        for (const slot of chain.state ?? []) {
          const scope: StateScope = { pipeline: this.options.pipeline, operator: slot.id, topic, partition }
          const reading = performance.now()
          const snapshot = await store.preload!(scope, epoch)
          const restoring = performance.now()
          // Dropped meanwhile (not assigned after all, or closed): no restore for nothing.
          if (entry.dropped) return out
          const state = this.keyedState(slot)
          state.restore(snapshot.entries)
          out.set(slot.id, {
            state,
            snapshot,
            readMs: restoring - reading,
            restoreMs: performance.now() - restoring,
          })
        }
      }
      return out
    })()
    // A failed preload only means `assigned` loads afresh (and meets the failure itself, if lasting).
    entry.slots.catch(() => {})
  }

  /** Forgets preloaded partitions that `assigned` (the group's assignment) does not include. */
  private retainPreloaded(assigned: (topic: string, partition: number) => boolean): void {
    for (const [key, entry] of this.preloaded) {
      if (assigned(entry.topic, entry.partition)) continue
      entry.dropped = true
      this.preloaded.delete(key)
    }
  }

  /** An empty keyed state for one of a chain's state slots. */
  private keyedState(slot: StateSlot): KeyedState<unknown> {
    return new KeyedState<unknown>({
      codec: jsonCodec,
      ...(slot.ttlMs !== null ? { ttlMs: slot.ttlMs } : {}),
      ...this.options.budget,
    })
  }

  /** The state of a partition the log assigned; undefined before its `assigned` hook ran. */
  of(topic: string, partition: number): PartitionState | undefined {
    return this.partitions.get(partitionKey(topic, partition))
  }

  async close(): Promise<void> {
    this.partitions.clear()
    for (const entry of this.preloaded.values()) entry.dropped = true
    this.preloaded.clear()
    // Store commits still running (committed()); a failed one is logged, and harmless to a
    // restart, which loads the epoch the log committed, staged or not.
    await Promise.all([...this.storeCommits])
    await this.options.store?.close()
  }

  private async assigned(topic: string, partition: number, metadata: string | null): Promise<void> {
    const epoch = epochOfMetadata(metadata)
    // Where a restore's time goes (the 'operator state restored' line): the store's read, and
    // rebuilding the keyed states from it.
    const timing = { readMs: 0, restoreMs: 0, preloaded: 0 }
    const key = partitionKey(topic, partition)
    const ahead = this.preloaded.get(key)
    this.preloaded.delete(key)
    // Read as of another epoch (the group committed more since): of no use, and not finished.
    if (ahead !== undefined && ahead.epoch !== epoch) ahead.dropped = true
    const preloaded = ahead?.epoch === epoch ? await ahead.slots.catch(() => null) : null
    const slots: SlotState[] = []
    const chains = new Map<string, StepState[]>()
    const reached = this.options.chainsOfTopic.get(topic) ?? new Set<string>()
    for (const chain of this.options.chains) {
      if (!reached.has(chain.id)) continue
      const states: StepState[] = []
      for (const slot of chain.state ?? []) {
        const scope: StateScope = { pipeline: this.options.pipeline, operator: slot.id, topic, partition }
        const early = preloaded?.get(slot.id)
        let state: KeyedState<unknown>
        let snapshot: Snapshot
        if (early !== undefined && (await early.snapshot.adopt())) {
          ;({ state, snapshot } = early)
          timing.readMs += early.readMs
          timing.restoreMs += early.restoreMs
          timing.preloaded++
        } else {
          state = this.keyedState(slot)
          const reading = performance.now()
          snapshot = await this.requireStore().load(scope, epoch)
          const restoring = performance.now()
          state.restore(snapshot.entries)
          timing.readMs += restoring - reading
          timing.restoreMs += performance.now() - restoring
        }
        const step = new Step(state, this.options.watermarkDelayMs(chain.id))
        const clock = snapshot.entries.get(CLOCK_ENTRY)
        if (clock?.length === 8) step.clock = step.stagedClock = clock.readDoubleBE(0)
        states.push(step)
        slots.push({ chain: chain.id, slot, step, scope })
      }
      chains.set(chain.id, states)
    }
    const windows = new Map<string, WindowedOperator>()
    const windowSlots: WindowSlot[] = []
    const reachedWindows = this.options.windowsOfTopic?.get(topic) ?? new Set<string>()
    for (const node of this.options.windows ?? []) {
      if (!reachedWindows.has(node.id)) continue
      const operator = await this.options.createWindow!(node, topic)
      const scope: StateScope = { pipeline: this.options.pipeline, operator: node.state.id, topic, partition }
      if (this.options.budget !== undefined && isBudgeted(operator))
        operator.bound(this.options.budget, scope.operator)
      const snapshot = await this.requireStore().load(scope, epoch)
      operator.restore(snapshot.entries.get(WINDOW_ENTRY))
      windows.set(node.id, operator)
      windowSlots.push({ operator, scope, upstream: this.options.windowUpstream?.(node) ?? 'source' })
    }
    const joins = new Map<string, JoinOperator>()
    const joinSlots: JoinSlot[] = []
    const reachedJoins = this.options.joinsOfTopic?.get(topic) ?? new Set<string>()
    for (const node of this.options.joins ?? []) {
      if (!reachedJoins.has(node.id)) continue
      const operator = this.options.createJoin!(node)
      const scope: StateScope = { pipeline: this.options.pipeline, operator: node.state.id, topic, partition }
      if (this.options.budget !== undefined) operator.bound(this.options.budget, scope.operator)
      const snapshot = await this.requireStore().load(scope, epoch)
      operator.restore(snapshot.entries.get(JOIN_ENTRY))
      joins.set(node.id, operator)
      joinSlots.push({ operator, scope })
    }
    const matches = new Map<string, CepOperator>()
    const matchSlots: MatchSlot[] = []
    const reachedMatches = this.options.matchesOfTopic?.get(topic) ?? new Set<string>()
    for (const node of this.options.matches ?? []) {
      if (!reachedMatches.has(node.id)) continue
      const operator = await this.options.createMatch!(node, topic)
      const scope: StateScope = { pipeline: this.options.pipeline, operator: node.state.id, topic, partition }
      const snapshot = await this.requireStore().load(scope, epoch)
      // Incremental: a bucket of keys per entry (runtime/cep/key-snapshots.ts).
      operator.restoreEntries(snapshot.entries)
      matches.set(node.id, operator)
      matchSlots.push({ operator, scope })
    }
    this.partitions.set(partitionKey(topic, partition), {
      topic,
      partition,
      epoch,
      chains,
      windows,
      windowSlots,
      joins,
      joinSlots,
      matches,
      matchSlots,
      slots,
      preparing: null,
      prepareStarted: 0,
      stagedBytes: 0,
      storeFailure: null,
    })
    this.lastCommitted.set(partitionKey(topic, partition), { epoch, at: Date.now(), topic, partition })
    if (slots.length > 0 || windowSlots.length > 0 || joinSlots.length > 0 || matchSlots.length > 0) {
      this.options.logger.info('operator state restored', {
        topic,
        partition,
        epoch,
        keys: slots.reduce((n, s) => n + s.step.state.size, 0),
        readMs: Math.round(timing.readMs),
        restoreMs: Math.round(timing.restoreMs),
        // Slots read and restored ahead, while the log joined its group (preload).
        preloadedSlots: timing.preloaded,
        atMs: Math.round(performance.now()),
        ...(windowSlots.length > 0
          ? { windowRows: windowSlots.reduce((n, w) => n + w.operator.rows, 0) }
          : {}),
        ...(joinSlots.length > 0 ? { joinRows: joinSlots.reduce((n, j) => n + j.operator.size, 0) } : {}),
        ...(matchSlots.length > 0
          ? { partialMatches: matchSlots.reduce((n, m) => n + m.operator.partialMatches, 0) }
          : {}),
      })
    }
  }

  private async prepare(topic: string, partition: number): Promise<string> {
    const open = this.open(topic, partition)
    if (open.storeFailure !== null) throw open.storeFailure.error
    const epoch = open.epoch + 1
    open.prepareStarted = performance.now()
    open.stagedBytes = 0
    const staging: Promise<void>[] = []
    for (const { step, scope } of open.slots) {
      const { state } = step
      // By the step's own clock, which the generated code advanced per event: a key idle for
      // longer than its TTL behind it is one the step already treats as gone (a dedup's kept time
      // is at most its last use), so dropping it now changes no result, whenever the checkpoint falls.
      const clock = step.clock - step.latenessMs
      if (Number.isFinite(clock)) state.expire(clock)
      this.countStats(scope.operator, state)
      let changes = state.takeChanges()
      if (step.clock !== step.stagedClock) {
        // As a layer of its own, so a million changed keys are not copied to add one entry.
        const clock = new EntryWriter(0, 64)
        clock.key('', CLOCK_ENTRY)
        const bytes = Buffer.allocUnsafe(8)
        bytes.writeDoubleBE(step.clock, 0)
        clock.value(bytes)
        changes = mergeChanges(changes, { puts: new SnapshotEntries([clock.finish().layer]), deletes: [] })
        step.stagedClock = step.clock
      }
      const { puts, deletes } = changes
      if (puts.size === 0 && deletes.length === 0) continue
      open.stagedBytes += stagedBytes(puts)
      staging.push(this.requireStore().stage(scope, epoch, changes))
    }
    for (const { operator, scope } of [...open.windowSlots, ...open.joinSlots])
      if (isBudgeted(operator)) this.countStats(scope.operator, operator)
    for (const { operator, scope } of open.windowSlots) {
      if (!operator.takeChanged()) continue
      const bytes = operator.snapshot()
      open.stagedBytes += bytes.length
      staging.push(
        this.requireStore().stage(scope, epoch, { puts: new Map([[WINDOW_ENTRY, bytes]]), deletes: [] }),
      )
    }
    for (const { operator, scope } of open.joinSlots) {
      if (!operator.takeChanged()) continue
      const bytes = operator.snapshot()
      open.stagedBytes += bytes.length
      staging.push(
        this.requireStore().stage(scope, epoch, { puts: new Map([[JOIN_ENTRY, bytes]]), deletes: [] }),
      )
    }
    for (const { operator, scope } of open.matchSlots) {
      // Only the keys whose buffered events or matches changed (runtime/cep/key-snapshots.ts).
      const changes = operator.takeChanges()
      if (changes.puts.size === 0 && changes.deletes.length === 0) continue
      open.stagedBytes += stagedBytes(changes.puts)
      staging.push(this.requireStore().stage(scope, epoch, changes))
    }
    try {
      await Promise.all(staging)
    } catch (error) {
      throw lostToNewerOwner(error, topic, partition, epoch)
    }
    open.preparing = epoch
    return metadataOfEpoch(epoch)
  }

  private async committed(topic: string, partition: number, metadata: string): Promise<void> {
    const open = this.open(topic, partition)
    const epoch = epochOfMetadata(metadata)
    if (open.preparing !== epoch) {
      throw new SluiceError(
        'STATE_EPOCH_MISMATCH',
        `the log committed epoch ${epoch} of ${topic}/${partition} but epoch ${open.preparing ?? 'none'} was prepared`,
      )
    }
    // The log's commit was the epoch's commit point: its offsets' metadata names the epoch, and a
    // restore loads exactly that epoch, staged or committed in the store (SnapshotStore.load). So
    // the store's commit, which only makes the staged epoch the newest for plain reads, runs
    // without holding up the partition's next batches (under exactly-once the log waits for this
    // hook; issue 12). The store orders it before the next epoch's staging (the file store
    // serialises per scope; Redis keeps the larger epoch), close() waits for it, and a failure
    // fails the partition's next checkpoint.
    open.epoch = epoch
    open.preparing = null
    this.checkpointSeconds.observe((performance.now() - open.prepareStarted) / 1000)
    this.checkpointBytes.observe(open.stagedBytes)
    this.lastCommitted.set(partitionKey(topic, partition), { epoch, at: Date.now(), topic, partition })
    // Every slot, also those without changes this epoch: commit is idempotent and keeps the
    // store's committed epoch equal to the log's.
    const commit = Promise.all(
      [...open.slots, ...open.windowSlots, ...open.joinSlots, ...open.matchSlots].map(({ scope }) =>
        this.requireStore().commit(scope, epoch),
      ),
    ).then(
      () => {},
      (error: unknown) => {
        open.storeFailure = { error }
        this.options.logger.warn('the state store could not commit a checkpoint the log committed', {
          topic,
          partition,
          epoch,
          error: error instanceof Error ? error.message : String(error),
        })
      },
    )
    this.storeCommits.add(commit)
    void commit.finally(() => this.storeCommits.delete(commit))
  }

  private revoked(topic: string, partition: number): void {
    const key = partitionKey(topic, partition)
    const open = this.partitions.get(key)
    if (open) {
      for (const { scope, step } of open.slots) this.countStats(scope.operator, step.state)
      for (const { operator, scope } of [...open.windowSlots, ...open.joinSlots])
        if (isBudgeted(operator)) this.countStats(scope.operator, operator)
    }
    this.partitions.delete(key)
    this.lastCommitted.delete(key)
  }

  private open(topic: string, partition: number): OpenPartition {
    const open = this.partitions.get(partitionKey(topic, partition))
    if (!open) throw new Error(`no operator state for ${topic}/${partition}: the log did not assign it`)
    return open
  }

  private requireStore(): SnapshotStore {
    if (this.options.store === null) throw new Error('a stateful pipeline needs a snapshot store')
    return this.options.store
  }

  /** Adds what a state (a KeyedState, a window's, a join's) evicted, refused and expired since the last call to the counters. */
  private countStats(operator: string, state: { readonly stats: StateStats }): void {
    const seen = this.counted.get(state) ?? { evicted: 0, refused: 0, expired: 0 }
    const { evicted, refused, expired } = state.stats
    this.evicted.labels({ operator }).inc(evicted - seen.evicted)
    this.refused.labels({ operator }).inc(refused - seen.refused)
    this.expired.labels({ operator }).inc(expired - seen.expired)
    this.counted.set(state, { evicted, refused, expired })
  }

  private perWindow(value: (slot: WindowSlot) => number): { labels: { operator: string }; value: number }[] {
    const sums = new Map<string, number>()
    for (const open of this.partitions.values()) {
      for (const slot of open.windowSlots)
        sums.set(slot.scope.operator, (sums.get(slot.scope.operator) ?? 0) + value(slot))
    }
    return [...sums].map(([operator, total]) => ({ labels: { operator }, value: total }))
  }

  /** Per operator, a figure of the stateful steps' slots and of the budgeted windows and joins. */
  private perOperator(
    value: (slot: SlotState) => number,
    budgeted: (operator: Budgeted) => number,
  ): { labels: { operator: string }; value: number }[] {
    const sums = new Map<string, number>()
    for (const open of this.partitions.values()) {
      for (const slot of open.slots)
        sums.set(slot.scope.operator, (sums.get(slot.scope.operator) ?? 0) + value(slot))
      for (const { operator, scope } of [...open.windowSlots, ...open.joinSlots]) {
        if (isBudgeted(operator))
          sums.set(scope.operator, (sums.get(scope.operator) ?? 0) + budgeted(operator))
      }
    }
    return [...sums].map(([operator, total]) => ({ labels: { operator }, value: total }))
  }
}

/** Bytes of the values staged, without a Buffer view per value when they are snapshot entries. */
function stagedBytes(puts: ReadonlyMap<string, Buffer>): number {
  if (puts instanceof SnapshotEntries) return puts.valueBytes
  let total = 0
  for (const bytes of puts.values()) total += bytes.length
  return total
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}
