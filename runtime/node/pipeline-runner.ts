/**
 * Runs one loaded artifact against a log: subscribes to the source topics, and for every batch of
 * log records decodes them, pushes the decoded batch through the fused chains of the operator
 * graph, appends the sinks' output and the dead letters, and only then lets the log commit the
 * batch's offsets. A crash between the appends and the commit replays the batch (at-least-once).
 * Stateful steps and exactly-once delivery commit per checkpoint instead: the log drives them per
 * source partition and this runner's OperatorState stages and restores the steps' state
 * (operator-state.ts, docs/decisions/0016-exactly-once.md).
 *
 * Bad input never stops the pipeline and is never lost: a record that is not JSON, does not match
 * its schema, fails while evaluating an expression, or whose output the log refuses (a timestamp
 * the broker will not take, a record over its size limit) goes to the dead-letter topic with the
 * original bytes and headers naming the reason, the `.pipe` location and where it came from.
 *
 * An unavailable log never stops it either (a broker restart, a network blip of any length): every
 * call that fails with a retryable error is tried again with exponential back-off, the node reports
 * itself not ready (`sluice_ready` 0, a warning in the log) until the log answers again, and a
 * subscription that the log gave up on is made again. Appends resume after the records the log
 * acknowledged (SluiceError.appended), so a retry adds no duplicates where the log can tell.
 */
import { setMaxListeners } from 'node:events'
import { EvaluationError } from '../../stdlib/eval-error.ts'
import { type CepKernel, CepKernelUnsupportedError, loadCepKernel } from '../../wasm/host/cep-kernel.ts'
import { loadWindowKernel, type WindowKernel } from '../../wasm/host/window-kernel.ts'
import type { LoadedArtifact } from '../artifact/load.ts'
import {
  type Connector,
  type GraphNode,
  inputsOf,
  type JoinGraphNode,
  type MatchGraphNode,
  type SinkGraphNode,
  type WindowGraphNode,
} from '../artifact/manifest.ts'
import { type ChainError, createEventBatch, type EventBatch } from '../artifact/operators.ts'
import { type CepBatchOutput, CepOperator } from '../cep/cep-operator.ts'
import type { DropReason, EngineBudget, PatternEngineFactory } from '../cep/engine.ts'
import { readsMatchResults } from '../cep/match-output.ts'
import { createNfaEngine } from '../cep/nfa.ts'
import { compileNfa } from '../cep/nfa-compile.ts'
import { isSluiceError, SluiceError } from '../errors.ts'
import { JoinOperator, type JoinSide, joinLateReason } from '../join/interval-join.ts'
import { upstreamJoinOf } from '../join/join-over-join.ts'
import { readsWindowResults } from '../join/join-over-window.ts'
import type {
  Delivery,
  Log,
  LogRecord,
  OutgoingRecord,
  PartitionTransaction,
  RecordBatch,
  Subscription,
} from '../log/index.ts'
import {
  appendRetrying,
  type Backoff,
  backoffDelay,
  DEFAULT_BACKOFF,
  isRetryable,
  sleep,
} from '../log/retry.ts'
import type { Counter, Gauge, Histogram, MetricsRegistry, Series } from '../metrics/registry.ts'
import { LogSampler } from '../observability/log-sampler.ts'
import { type Logger, silentLogger } from '../observability/logger.ts'
import type { SnapshotStore } from '../state/index.ts'
import { TableReaders } from '../table/table-readers.ts'
import { unwritableRecordText } from '../text/record-text.ts'
import { firstInvalidUtf8, isUtf8 } from '../text/utf8.ts'
import { CountWindowOperator } from '../window/count-operator.ts'
import { PartitionWatermarks } from '../window/idle-inputs.ts'
import { SessionWindowOperator } from '../window/session-operator.ts'
import { createTypedArrayWindowStore } from '../window/typed-array-store.ts'
import { markSourceTimes, type UnionSource, unionSourcesOf, windowOverUnion } from '../window/union-window.ts'
import { countLateReason, lateReason, WindowOperator } from '../window/window-operator.ts'
import { type InputTiming, inputTiming } from '../window/window-over-join.ts'
import { copartitionedTopics } from './copartitioned.ts'
import { chainsFedBySource, followIdleClock } from './idle-clocks.ts'
import { OperatorState, type PartitionState, type StateBudget } from './operator-state.ts'
import { isPassedThrough, passThroughSources } from './pass-through.ts'
import { HeldInputs, mergeByRecord, mergedInputNodes } from './same-source.ts'
import { latenessOfNodes } from './step-lateness.ts'
import { atProcessingTime, tickRecord, ticksOf } from './ticks.ts'

export const DEFAULT_DEAD_LETTER_TOPIC = 'sluice.dead-letter'

/** Headers of a dead-lettered record (the value and key are the original record's). */
export const DEAD_LETTER_HEADERS = {
  reason: 'sluice.error',
  stage: 'sluice.error.stage',
  location: 'sluice.error.location',
  topic: 'sluice.source.topic',
  partition: 'sluice.source.partition',
  offset: 'sluice.source.offset',
  artifact: 'sluice.artifact',
  /** Set when the dead-letter topic itself refused the original value: why it was left out. */
  valueDropped: 'sluice.error.value-dropped',
} as const

/** Header on every output record: the content hash of the artifact that produced it. */
export const ARTIFACT_HEADER = 'sluice.artifact'

export interface PipelineRunnerOptions {
  readonly log: Log
  readonly artifact: LoadedArtifact
  readonly metrics: MetricsRegistry
  /** Consumer group; default `sluice.<artifact name>`, so a restart resumes where it stopped. */
  readonly group?: string
  readonly deadLetterTopic?: string
  /** Partitions of topics the runner creates; default 1. */
  readonly partitions?: number
  readonly maxBatchRecords?: number
  /** Where the `stdout` sink writes; default process.stdout. */
  readonly stdout?: (text: string) => void
  readonly logger?: Logger
  /** Back-off while the log is unavailable. Default: 200 ms doubling up to 5 s. */
  readonly retryBackoff?: Backoff
  /**
   * Aborting it stops the runner, also while start() still waits for an unavailable log; start()
   * then resolves with a runner that has already stopped.
   */
  readonly signal?: AbortSignal
  /**
   * Default at-least-once. Exactly-once commits each source partition's outputs, dead letters,
   * offsets and operator state together per checkpoint (docs/decisions/0016-exactly-once.md).
   */
  readonly delivery?: Delivery
  /** How often each source partition checkpoints (stateful or exactly-once pipelines). Default 1000 ms. */
  readonly checkpointIntervalMs?: number
  /**
   * A join input that has delivered nothing for this long (processing time) stops holding the
   * join's watermark back, so outer rows and window joins go on with the other input alone; its
   * events behind the watermark when it delivers again are late. Default: never (it waits).
   */
  readonly idleTimeoutMs?: number
  /**
   * The wall clock, ms since the epoch (default Date.now): what idle timeouts and processing-time
   * windows go by. Tests inject one to make both deterministic.
   */
  readonly clock?: () => number
  /**
   * How often a quiet source partition (task) is ticked, so that windows an idle partition or the
   * wall clock made due fire without a record (CheckpointOptions.tickIntervalMs). Default: half the
   * idle timeout, at most 1000 ms; no ticks when nothing needs them.
   */
  readonly tickIntervalMs?: number
  /** Names the transactions (exactly-once); default: the group. */
  readonly transactionalId?: string
  /** Where operator state is snapshotted; required when the artifact has stateful steps. */
  readonly stateStore?: SnapshotStore
  /** Budget of each stateful step's state per source partition, and what happens beyond it. */
  readonly stateBudget?: StateBudget
  /** How often the tables of lookups look for updates of their topics. Default 1000 ms. */
  readonly tablePollIntervalMs?: number
  /**
   * Partial matches a `match` step may hold per key and in all (per source partition); past
   * either the oldest partial match of the key that grows is dropped, counted in
   * sluice_cep_dropped_total{reason="budget"}. Default DEFAULT_CEP_BUDGET.
   */
  readonly cepBudget?: EngineBudget
  /** Called with each `match` step's operator as it is created (explain, benchmarks). */
  readonly onMatchOperator?: (nodeId: string, operator: CepOperator) => void
  /**
   * `sluice explain`: every `match` step runs the TypeScript engine whatever the artifact chose,
   * since only it traces.
   */
  readonly traceMatches?: boolean
}

/** The partial-match budget of each `match` step per source partition, unless the node is told otherwise. */
export const DEFAULT_CEP_BUDGET: EngineBudget = { maxPerKey: 10_000, maxTotal: 1_000_000 }

/** The `states` argument of a stateless chain. */
const NO_STATES: readonly never[] = []
const NO_TIMES = new Float64Array(0)

/**
 * For each source record index o, the largest event time among the decoded records 0…o
 * (-Infinity before the first): what a window's watermark is as of that record.
 */
function sourceMaxTimes(decoded: EventBatch, records: number): Float64Array {
  const times = new Float64Array(records)
  let max = Number.NEGATIVE_INFINITY
  let next = 0
  for (let i = 0; i < decoded.length; i++) {
    const origin = decoded.origins[i]!
    times.fill(max, next, origin)
    if (decoded.timestamps[i]! > max) max = decoded.timestamps[i]!
    times[origin] = max
    next = origin + 1
  }
  times.fill(max, next, records)
  return times
}

interface RunnerMetrics {
  readonly eventsIn: Counter
  readonly eventsOut: Counter
  readonly eventsFiltered: Counter
  readonly deadLetters: Counter
  readonly eventsDeadLettered: Series
  readonly appendErrors: Counter
  readonly batchSeconds: Histogram
  readonly appendSeconds: Histogram
  readonly commitSeconds: Histogram
  readonly watermark: Gauge
  readonly idlePartitions: Gauge
  readonly eventTimeLag: Gauge
  readonly consumerLag: Gauge
  readonly ready: Gauge
  readonly eventsLate: Counter
  readonly windowResults: Counter
  readonly joinResults: Counter
  readonly cepMatches: Counter
  readonly cepTimeouts: Counter
  readonly cepDropped: Counter
}

type Stage = 'decode' | 'evaluate' | 'late' | 'encode' | 'sink'

/** A dead letter on its way out: the original record and why it failed. */
interface DeadLetter {
  readonly record: LogRecord
  readonly stage: Stage
  readonly reason: string
  readonly location: string | null
}

/** What a batch writes to one topic, with the source record of each output (for dead-lettering). */
interface TopicOutput {
  readonly records: OutgoingRecord[]
  /** Index into the batch's source records, per output record. */
  readonly origins: number[]
}

/**
 * What every step of one batch's walk through the graph shares: made once per batch (processBatch),
 * so the hot path hands on one reference instead of four values and allocates nothing per record.
 * The source watermarks (maxTimes) stay a parameter of their own: they change along the walk (a
 * join hands on its own watermarks, a processing-time window none).
 */
interface BatchContext {
  /** The batch's source records (a tick's stand-in record); output origins index into them. */
  readonly records: readonly LogRecord[]
  /** What the batch writes, by topic; appended once the walk is done. */
  readonly outputs: Map<string, TopicOutput>
  readonly deadLetters: DeadLetter[]
  /** The operator state of the batch's task; undefined when the pipeline keeps none. */
  readonly states: PartitionState | undefined
}

const DEAD_LETTER_LINES_PER_SECOND = 10
const LATENCY_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]

export class PipelineRunner {
  readonly group: string
  private subscription: Subscription | null = null
  private readonly deadLetterTopic: string
  private readonly consumers = new Map<string, GraphNode[]>()
  private readonly buffers = new Map<string, EventBatch>()
  private readonly sourcesByTopic = new Map<
    string,
    { node: GraphNode & { kind: 'Source' }; delayMs: number }[]
  >()
  /** The source each chain's input comes from, for the filtered-events metric. */
  private readonly sourceOf = new Map<string, string>()
  private readonly maxEventTime = new Map<string, number>()
  /** Per source partition: its event time and whether it is idle (with --idle-timeout). */
  private readonly partitionWatermarks: PartitionWatermarks | null
  /** Set while a tick runs through the graph: joins take ticks by JoinOperator.tick() instead. */
  private ticking = false
  /** Per source, the stateful chains whose clocks follow it when its partition is idle (idle-clocks.ts). */
  private idleClockChains: ReadonlyMap<string, readonly string[]> | null = null
  private readonly metrics: RunnerMetrics
  private readonly logger: Logger
  private readonly write: (text: string) => void
  private readonly backoff: Backoff
  /** Aborted by stop(): ends back-off waits at once. */
  private readonly stopSignal = abortControllerForWaiters()
  /** When the log became unavailable (ms since the epoch), null while it answers. */
  private unavailableSince: number | null = null
  private failures = 0
  private finished: Promise<void> = Promise.resolve()
  /** Keyed state and checkpoints; null for a stateless at-least-once pipeline (commits per batch). */
  private readonly operatorState: OperatorState | null
  /** Windows or joins: they need each record's running maximum event time (sourceMaxTimes). */
  private readonly hasEventTimeOperators: boolean
  /** Sources whose canonical records are written as their own bytes (pass-through.ts). */
  private readonly passThrough: Set<string>
  /** Source topics read as co-partitioned tasks: those feeding an operator of two inputs. */
  private readonly copartitioned: string[][]
  /** The tables the artifact's lookups read (runtime/table/); empty without lookups. */
  private readonly tables: TableReaders
  /** Joins and unions one source reaches through two inputs: they take a source batch merged (same-source.ts). */
  private readonly mergedInputs: ReadonlySet<string>
  private readonly held = new HeldInputs()
  /** Nodes whose events are a window's results: a join reading one takes the window's ticks too. */
  private readonly windowResults: ReadonlySet<string>
  /** Nodes whose events are a match's results or timeouts (a tick's watermark may end matches). */
  private readonly matchResults: ReadonlySet<string>
  /** Nodes whose events are a join's results, and that join (join-over-join.ts). */
  private readonly joinResults: ReadonlyMap<string, JoinGraphNode>
  private readonly nodeOrder: readonly string[]
  /** At most 10 'event dead-lettered' lines a second; the metric counts every one. */
  private readonly deadLetterLines = new LogSampler(DEAD_LETTER_LINES_PER_SECOND, (count) =>
    this.logger.warn('more events dead-lettered than logged one by one', {
      count,
      linesPerSecond: DEAD_LETTER_LINES_PER_SECOND,
    }),
  )

  private constructor(private readonly options: PipelineRunnerOptions) {
    const { manifest } = options.artifact
    this.group = options.group ?? `sluice.${manifest.name}`
    this.deadLetterTopic = options.deadLetterTopic ?? DEFAULT_DEAD_LETTER_TOPIC
    this.logger = (options.logger ?? silentLogger).child({ artifact: manifest.name })
    this.write = options.stdout ?? ((text) => process.stdout.write(text))
    this.backoff = options.retryBackoff ?? DEFAULT_BACKOFF
    for (const node of manifest.graph.nodes) {
      this.consumers.set(node.id, [])
      if (node.kind === 'Source') this.sourceOf.set(node.id, node.name)
      else {
        const inputs = inputsOf(node)
        for (const input of inputs) {
          // An input read twice (`join s as a, s as b`, `union s, s`) is one consumer, held per slot.
          const readers = this.consumers.get(input)!
          if (!readers.includes(node)) readers.push(node)
        }
        this.buffers.set(node.id, createEventBatch())
        // After a join, events come from both sides' sources (named once when they are one).
        this.sourceOf.set(
          node.id,
          [...new Set(inputs.map((input) => this.sourceOf.get(input) ?? input))].join('+'),
        )
      }
    }
    for (const node of manifest.graph.nodes) {
      if (
        node.kind === 'Sink' &&
        node.connector.kind === 'kafka' &&
        node.connector.topic === this.deadLetterTopic
      ) {
        // The compiler refuses the default name (E0408); another --dead-letter-topic is checked here.
        throw new SluiceError(
          'CONFIG_INVALID',
          `sink \`${node.name}\` writes \`${this.deadLetterTopic}\`, the dead-letter topic, so its output would be mixed with the dead letters; pass another --dead-letter-topic`,
        )
      }
      if (node.kind !== 'Source') continue
      const topic = topicOf(node.connector, `source ${node.name}`)
      const input = manifest.inputs.find((i) => i.source === node.name)
      const list = this.sourcesByTopic.get(topic) ?? []
      list.push({ node, delayMs: input?.watermark?.delayMs ?? 0 })
      this.sourcesByTopic.set(topic, list)
      if (topic === this.deadLetterTopic) {
        // Failed records would be read back, fail again and be dead-lettered again, forever.
        throw new SluiceError(
          'CONFIG_INVALID',
          `source \`${node.name}\` reads \`${topic}\`, the dead-letter topic, so every failed record would be read and fail again forever; pass another --dead-letter-topic`,
        )
      }
    }
    const operators = options.artifact.operators
    this.passThrough = passThroughSources(
      manifest.graph.nodes,
      (id) => this.consumers.get(id) ?? [],
      (name) => operators.sources[name]?.passThrough !== undefined,
      (id) => operators.sinks[id]?.headers !== undefined,
    )
    this.nodeOrder = manifest.graph.nodes.map((n) => n.id)
    this.mergedInputs = mergedInputNodes({
      nodes: manifest.graph.nodes,
      id: (n) => n.id,
      inputsOf,
      isSource: (n) => n.kind === 'Source',
    })
    const byId = new Map(manifest.graph.nodes.map((n) => [n.id, n]))
    this.windowResults = new Set(
      manifest.graph.nodes.filter((n) => readsWindowResults(n, (id) => byId.get(id))).map((n) => n.id),
    )
    this.matchResults = new Set(
      manifest.graph.nodes.filter((n) => readsMatchResults(n, (id) => byId.get(id))).map((n) => n.id),
    )
    this.joinResults = new Map(
      manifest.graph.nodes.flatMap((n) => {
        const join = upstreamJoinOf(n, (id) => byId.get(id))
        return join === null ? [] : [[n.id, join] as const]
      }),
    )
    this.hasEventTimeOperators = manifest.graph.nodes.some(
      (n) =>
        n.kind === 'WindowAggregate' ||
        n.kind === 'Join' ||
        n.kind === 'Match' ||
        // Stateful steps follow idle partitions by the times their sources read (idle-clocks.ts).
        (options.idleTimeoutMs !== undefined && n.kind === 'Fused' && (n.state ?? []).length > 0),
    )
    this.copartitioned = copartitionedTopics({
      nodes: manifest.graph.nodes,
      id: (n) => n.id,
      inputsOf,
      topicOf: (n) => (n.kind === 'Source' && n.connector.kind === 'kafka' ? n.connector.topic : null),
    })
    this.partitionWatermarks =
      options.idleTimeoutMs === undefined
        ? null
        : new PartitionWatermarks({ timeoutMs: options.idleTimeoutMs, now: this.clock })
    this.operatorState = this.createOperatorState()
    const m = options.metrics
    this.metrics = {
      eventsIn: m.counter('sluice_events_in_total', 'Records read from source topics, by source.'),
      eventsOut: m.counter('sluice_events_out_total', 'Events written by sinks, by sink (stream) and topic.'),
      eventsFiltered: m.counter(
        'sluice_events_filtered_total',
        'Events a `where` step dropped, by the source they came from.',
      ),
      deadLetters: m.counter('sluice_dead_letters_total', 'Records sent to the dead-letter topic, by stage.'),
      eventsDeadLettered: m
        .counter(
          'sluice_events_dead_lettered_total',
          'Source events with at least one dead letter (an event failing in two streams has two dead letters, counted once here).',
        )
        .labels(),
      appendErrors: m.counter(
        'sluice_append_errors_total',
        'Appends (produce requests) to the log that failed, by topic and error code; retryable ones are tried again.',
      ),
      batchSeconds: m.histogram(
        'sluice_batch_processing_seconds',
        'Time to decode, process and write one batch of records.',
        LATENCY_BUCKETS,
      ),
      appendSeconds: m.histogram(
        'sluice_append_seconds',
        'Time of one successful append of a batch’s records to one topic (acks=all on Kafka).',
        LATENCY_BUCKETS,
      ),
      commitSeconds: m.histogram(
        'sluice_commit_seconds',
        'Time to commit a batch’s consumer offsets.',
        LATENCY_BUCKETS,
      ),
      watermark: m.gauge(
        'sluice_watermark_seconds',
        'Watermark per source, seconds since the epoch: largest event time seen minus the declared delay.',
      ),
      eventTimeLag: m.gauge(
        'sluice_event_time_lag_seconds',
        'How far the watermark trails the wall clock, per source, as of the last batch.',
      ),
      consumerLag: m.gauge(
        'sluice_consumer_lag_records',
        'Records in a source partition not yet processed, as of the last batch fetched from it.',
      ),
      eventsLate: m.counter(
        'sluice_events_late_total',
        'Events a window refused as later than its lateness allows and handed to its late stream, by window (those dead-lettered count in sluice_dead_letters_total{stage="late"}).',
      ),
      windowResults: m.counter(
        'sluice_window_results_total',
        'Results windows emitted (updates of a window that had fired included), by window.',
      ),
      joinResults: m.counter(
        'sluice_join_results_total',
        'Records joins emitted (pairs, and outer rows without a match), by join.',
      ),
      cepMatches: m.counter('sluice_cep_matches_total', 'Matches each `match` step emitted, by operator.'),
      cepTimeouts: m.counter(
        'sluice_cep_timeouts_total',
        'Partial matches whose `within` ran out, by operator (with `timeout into`, each also emitted a record).',
      ),
      cepDropped: m.counter(
        'sluice_cep_dropped_total',
        'Partial matches each `match` step dropped without a match, by operator and reason (timeout, budget, skip, negation, no-continuation).',
      ),
      idlePartitions: m.gauge(
        'sluice_idle_partitions',
        'Source partitions this node reads that delivered nothing for the idle timeout, per source: they no longer hold their windows back (--idle-timeout).',
      ),
      ready: m.gauge(
        'sluice_ready',
        '1 while the node reads and writes its log; 0 while it waits for an unavailable log.',
      ),
    }
    this.metrics.ready.set(0)
    this.tables = new TableReaders({
      log: options.log,
      artifact: options.artifact,
      metrics: options.metrics,
      // A table record no row can be made of is dead-lettered like a source record that fails to decode.
      onMalformed: (record, reason, site) =>
        this.appendDeadLetters(options.log, [
          this.deadLetterRecord({
            record,
            stage: 'decode',
            reason,
            location: site === undefined ? null : this.location(site),
          }),
        ]),
      ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
      ...(options.tablePollIntervalMs === undefined ? {} : { pollIntervalMs: options.tablePollIntervalMs }),
      ...(options.stateBudget ? { budget: options.stateBudget } : {}),
      backoff: this.backoff,
      logger: this.logger,
    })
  }

  /**
   * Operator state and checkpoints when the artifact has stateful steps or exactly-once is asked
   * for; null otherwise, so a stateless at-least-once pipeline keeps committing after every batch.
   */
  private createOperatorState(): OperatorState | null {
    const { artifact, delivery, stateStore } = this.options
    const chains = artifact.manifest.graph.nodes.filter(
      (n): n is GraphNode & { kind: 'Fused' } => n.kind === 'Fused',
    )
    const stateful = chains.filter((c) => (c.state?.length ?? 0) > 0)
    const windows = artifact.manifest.graph.nodes.filter(
      (n): n is WindowGraphNode => n.kind === 'WindowAggregate',
    )
    const joins = artifact.manifest.graph.nodes.filter((n): n is JoinGraphNode => n.kind === 'Join')
    const matches = artifact.manifest.graph.nodes.filter((n): n is MatchGraphNode => n.kind === 'Match')
    const operators = [...windows, ...joins, ...matches]
    if (stateful.length === 0 && operators.length === 0 && delivery !== 'exactly-once') return null
    if ((stateful.length > 0 || operators.length > 0) && stateStore === undefined) {
      const slots = [
        ...stateful.flatMap((c) => c.state!.map((s) => s.id)),
        ...operators.map((o) => o.state.id),
      ]
      throw new SluiceError(
        'CONFIG_INVALID',
        `pipeline ${artifact.manifest.name} has stateful steps (${slots.join(', ')}) but no state store was given`,
      )
    }
    // The chains and windows a batch of each source topic reaches: only their state exists per partition.
    const chainsOfTopic = new Map<string, Set<string>>()
    const windowsOfTopic = new Map<string, Set<string>>()
    const joinsOfTopic = new Map<string, Set<string>>()
    const matchesOfTopic = new Map<string, Set<string>>()
    for (const [topic, sources] of this.sourcesByTopic) {
      const reached = new Set<string>()
      const reachedWindows = new Set<string>()
      const reachedJoins = new Set<string>()
      const reachedMatches = new Set<string>()
      const seen = new Set<string>()
      const visit = (id: string) => {
        for (const consumer of this.consumers.get(id) ?? []) {
          if (consumer.kind === 'Sink' || seen.has(consumer.id)) continue
          seen.add(consumer.id)
          if (consumer.kind === 'WindowAggregate') reachedWindows.add(consumer.id)
          else if (consumer.kind === 'Join') reachedJoins.add(consumer.id)
          else if (consumer.kind === 'Match') reachedMatches.add(consumer.id)
          else if (consumer.kind === 'Fused') reached.add(consumer.id)
          visit(consumer.id)
        }
      }
      for (const { node } of sources) visit(node.id)
      chainsOfTopic.set(topic, reached)
      windowsOfTopic.set(topic, reachedWindows)
      joinsOfTopic.set(topic, reachedJoins)
      matchesOfTopic.set(topic, reachedMatches)
    }
    // A task's state (named by its first topic) holds what the batches of any of its topics reach.
    for (const [lead, ...others] of this.copartitioned) {
      for (const topic of others) {
        for (const id of chainsOfTopic.get(topic) ?? []) chainsOfTopic.get(lead!)!.add(id)
        for (const id of windowsOfTopic.get(topic) ?? []) windowsOfTopic.get(lead!)!.add(id)
        for (const id of joinsOfTopic.get(topic) ?? []) joinsOfTopic.get(lead!)!.add(id)
        for (const id of matchesOfTopic.get(topic) ?? []) matchesOfTopic.get(lead!)!.add(id)
      }
    }
    const kernel = windows.some(
      (w) => w.execution === 'wasm' && w.window.kind !== 'session' && w.window.kind !== 'count',
    )
      ? this.windowKernel()
      : null
    const cepKernel = matches.some((m) => m.execution === 'wasm') ? this.cepKernel() : null
    const chainLateness = latenessOfNodes(artifact.manifest.graph.nodes, (source) =>
      this.sourceDelayMs(source.id),
    )
    return new OperatorState({
      pipeline: artifact.manifest.name,
      chains: stateful,
      chainsOfTopic,
      windows,
      windowsOfTopic,
      createWindow: async (node) => {
        const functions = generatedFunctions(artifact.operators.windows, 'window', node.id)
        // By the window's own source: under a co-partitioned task `topic` is the task's first topic.
        // A processing-time window's watermark is the clock itself, with no delay.
        // A window over another window's or a join's results follows its output watermark, met one
        // record later (runtime/window/event-time.ts, runtime/window/window-over-join.ts).
        const timing = this.inputTimingOf(inputsOf(node)[0]!)
        // Over a union of several sources: the smallest of their watermarks (union-window.ts).
        const union = node.time === 'processing' ? null : this.unionSourcesOf(node)
        const delayMs = node.time === 'processing' || union !== null ? 0 : timing.delayMs
        const readsResults = timing.readsResults
        const { idleTimeoutMs } = this.options
        const idle = idleTimeoutMs === undefined ? undefined : { timeoutMs: idleTimeoutMs, now: this.clock }
        const over = (window: Parameters<typeof windowOverUnion>[0]) => windowOverUnion(window, union, idle)
        if (node.window.kind === 'session')
          return over(new SessionWindowOperator(node, functions, delayMs, readsResults))
        if (node.window.kind === 'count')
          return over(new CountWindowOperator(node, functions, delayMs, readsResults))
        const spec = {
          accumulators: functions.accumulators,
          sizeMs: node.window.sizeMs,
          slideMs: node.window.slideMs,
        }
        const store =
          node.execution === 'wasm' ? (await kernel!).createStore(spec) : createTypedArrayWindowStore(spec)
        return over(new WindowOperator(node, functions, store, delayMs, readsResults))
      },
      joins,
      joinsOfTopic,
      createJoin: (node) => {
        const functions = generatedFunctions(artifact.operators.joins, 'join', node.id)
        // A side over another join's results follows that join's watermark less its hold, also
        // through a window over it; a side over a window's or a join's results meets the watermark
        // one record later (join-over-window.ts, join-over-join.ts, window-over-join.ts).
        const left = this.inputTimingOf(node.left)
        const right = this.inputTimingOf(node.right)
        const delays = { left: left.delayMs, right: right.delayMs }
        const { idleTimeoutMs } = this.options
        const readsResults = { left: left.readsResults, right: right.readsResults }
        const idle = idleTimeoutMs === undefined ? undefined : { timeoutMs: idleTimeoutMs, now: this.clock }
        return new JoinOperator(node, functions, delays, idle, readsResults)
      },
      matches,
      matchesOfTopic,
      createMatch: async (node) => {
        const functions = generatedFunctions(artifact.operators.matches, 'match', node.id)
        // By the match's own source, as a window's (the compiler refuses a match over timed results, E0475).
        const delayMs = this.sourceDelayMs(this.sourceNodeOf(node.id))
        const operator = new CepOperator(
          node,
          functions,
          delayMs,
          this.options.traceMatches === true
            ? createNfaEngine
            : patternEngineFactory(node, node.execution === 'wasm' ? await cepKernel! : null),
          this.options.cepBudget ?? DEFAULT_CEP_BUDGET,
        )
        this.options.onMatchOperator?.(node.id, operator)
        return operator
      },
      windowUpstream: (node) =>
        this.inputTimingOf(inputsOf(node)[0]!).upstream ??
        // Over a union of several sources: all of them (`web+shop`).
        (this.unionSourcesOf(node) === null ? undefined : this.sourceOf.get(node.input)) ??
        this.sourceOf.get(this.sourceNodeOf(node.id)) ??
        'source',
      store: stateStore ?? null,
      ...(this.options.stateBudget ? { budget: this.options.stateBudget } : {}),
      // Of the sources that reach the chain, not of its whole task (step-lateness.ts).
      watermarkDelayMs: (chain) => chainLateness.get(chain) ?? 0,
      metrics: this.options.metrics,
      logger: this.logger,
    })
  }

  /** The sources (with their delays) of the union of several sources a window reads, or null. */
  private unionSourcesOf(node: WindowGraphNode): UnionSource[] | null {
    const byId = new Map(this.options.artifact.manifest.graph.nodes.map((n) => [n.id, n]))
    const sources = unionSourcesOf(node.input, (id) => byId.get(id))
    return sources?.map((id) => ({ id, delayMs: this.sourceDelayMs(id) })) ?? null
  }

  /** The watermark delay of the Source node `id`. */
  private sourceDelayMs(id: string): number {
    for (const sources of this.sourcesByTopic.values()) {
      for (const { node, delayMs } of sources) if (node.id === id) return delayMs
    }
    return 0
  }

  /** The id of the Source node whose events reach node `id`. */
  private sourceNodeOf(id: string): string {
    const byId = new Map(this.options.artifact.manifest.graph.nodes.map((n) => [n.id, n]))
    let node = byId.get(id)
    // A match reads one source's events (the compiler refuses it over results, E0475, and after a
    // union of several sources, E0483): a union's first input leads to its one source. (Windows and
    // joins, which may read a join's results, go by inputTimingOf.)
    while (node !== undefined && node.kind !== 'Source') node = byId.get(inputsOf(node)[0]!)
    return node?.id ?? ''
  }

  /** What the watermark of the events of node `id` is: a source's, or a window's or join's output's. */
  private inputTimingOf(id: string): InputTiming {
    const byId = new Map(this.options.artifact.manifest.graph.nodes.map((n) => [n.id, n]))
    return inputTiming(
      byId.get(id),
      (at) => byId.get(at),
      (source) => this.sourceDelayMs(source),
    )
  }

  /** The artifact's pattern kernel, compiled once (each match and partition gets an instance). */
  private cepKernel(): Promise<CepKernel> {
    return this.kernelBytes('cep', 'patterns').then(loadCepKernel)
  }

  /** The artifact's window kernel, compiled once (each window and partition gets an instance). */
  private windowKernel(): Promise<WindowKernel> {
    return this.kernelBytes('window', 'windows').then(loadWindowKernel)
  }

  /** A kernel the artifact ships; an artifact that runs `what` in WebAssembly without it is invalid. */
  private async kernelBytes(name: 'cep' | 'window', what: string): Promise<Uint8Array> {
    const bytes = this.options.artifact.wasm.get(name)
    if (bytes === undefined)
      throw new SluiceError(
        'ARTIFACT_INVALID',
        `the artifact runs ${what} in WebAssembly but ships no ${name} kernel`,
      )
    return bytes
  }

  /**
   * Creates the topics the artifact uses and starts consuming. Waits (with back-off, reporting
   * itself not ready) while the log is unavailable; rejects only on errors that retrying cannot
   * fix (a bad configuration, a closed log).
   */
  static async start(options: PipelineRunnerOptions): Promise<PipelineRunner> {
    const runner = new PipelineRunner(options)
    const onAbort = () => void runner.stop()
    options.signal?.addEventListener('abort', onAbort, { once: true })
    if (options.signal?.aborted) runner.stopSignal.abort()
    try {
      await runner.retrying(() => runner.ensureTopics())
      // Every table holds its whole topic (as of now) before the first event is processed.
      await runner.retrying(() => runner.tables.catchUp())
      runner.tables.follow()
      await runner.retrying(() => runner.subscribe())
    } catch (error) {
      if (!runner.stopping) throw error
      // Stopped while waiting for the log: a runner that has stopped, not a failure.
      return runner
    }
    runner.finished = runner.supervise()
    // `done` may never be awaited (callers that only stop()); awaiting it still sees a rejection.
    runner.finished.catch(() => {})
    return runner
  }

  /** The source topics, in manifest order. */
  get sourceTopics(): string[] {
    return [...this.sourcesByTopic.keys()]
  }

  private get stopping(): boolean {
    return this.stopSignal.signal.aborted
  }

  /** Whether the log answered the last call (false while waiting out an outage). */
  get ready(): boolean {
    return this.unavailableSince === null && !this.stopping
  }

  /** Resolves when the runner ends (after stop), rejects if processing failed for good. */
  get done(): Promise<void> {
    return this.finished
  }

  /** Stops consuming after the batch in flight, whose output and offsets are then written. */
  async stop(): Promise<void> {
    this.stopSignal.abort()
    this.metrics.ready.set(0)
    await this.subscription?.stop()
    await this.finished.catch(() => {})
    await this.tables.stop()
    this.deadLetterLines.flush()
  }

  /**
   * Resolves once the group's committed offsets reached the end of every source partition, i.e.
   * everything appended so far has been processed and its output written. An unavailable log
   * only delays it.
   */
  async waitUntilCaughtUp(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (await this.caughtUp()) return
      if (Date.now() > deadline) throw new Error(`pipeline did not catch up within ${timeoutMs} ms`)
      await Promise.race([new Promise((r) => setTimeout(r, 25)), this.done])
    }
  }

  private async caughtUp(): Promise<boolean> {
    try {
      for (const topic of this.sourceTopics) {
        const [ends, committed] = await Promise.all([
          this.options.log.endOffsets(topic),
          this.options.log.committedOffsets(this.group, topic),
        ])
        if (ends.some((end, p) => end > 0 && (committed[p] ?? -1) < end)) return false
      }
      return true
    } catch (error) {
      if (isRetryable(error)) return false
      throw error
    }
  }

  private async ensureTopics(): Promise<void> {
    const { log, artifact } = this.options
    const config = { partitions: this.options.partitions ?? 1 }
    const topics = new Set<string>([...this.sourcesByTopic.keys(), this.deadLetterTopic])
    for (const node of artifact.manifest.graph.nodes) {
      if (node.kind === 'Sink' && node.connector.kind === 'kafka') topics.add(node.connector.topic)
    }
    for (const topic of topics) await log.ensureTopic(topic, config)
  }

  private async subscribe(): Promise<void> {
    const { log, artifact } = this.options
    this.subscription = await log.subscribe(
      {
        group: this.group,
        topics: this.sourceTopics,
        fromBeginning: true,
        ...(this.copartitioned.length > 0 ? { copartitioned: this.copartitioned } : {}),
        ...(this.options.maxBatchRecords ? { maxBatchRecords: this.options.maxBatchRecords } : {}),
        delivery: this.options.delivery ?? 'at-least-once',
        ...(this.operatorState
          ? {
              checkpoint: {
                intervalMs: this.options.checkpointIntervalMs ?? 1000,
                ...this.tickOptions(),
                transactionalId: this.options.transactionalId ?? this.group,
                ...this.operatorState.hooks(),
              },
            }
          : {}),
        onCommitted: ({ seconds }) => this.metrics.commitSeconds.observe(seconds),
        onAvailability: (available, error) => {
          if (available) this.available()
          else this.unavailable(error)
        },
      },
      (batch) => this.processBatch(batch),
    )
    this.available()
    this.logger.info('pipeline started', {
      group: this.group,
      topics: this.sourceTopics,
      hash: artifact.manifest.contentHash,
    })
  }

  /**
   * Keeps a subscription running until stop(): one that the log ends with a retryable error (a
   * consumer the client gave up on while the broker was away) is made again once the log answers.
   */
  private async supervise(): Promise<void> {
    for (;;) {
      let ended: unknown = new SluiceError('KAFKA_UNAVAILABLE', 'the subscription ended by itself', {
        retryable: true,
      })
      try {
        await this.subscription!.done
      } catch (error) {
        ended = error
      }
      // A handler stopped mid-outage by stop(): its batch is not committed and comes again later.
      if (this.stopping) return
      if (isSluiceError(ended, 'LOG_FENCED')) {
        // Another node took a partition over while this one stalled (a long pause past the session
        // timeout): what this one appended since its last checkpoint is discarded, so it joins the
        // group again as a new member and restores whatever state its new partitions committed.
        this.logger.warn('fenced by a newer owner of a partition; joining the group again', {
          error: errorMessage(ended),
        })
        await this.subscription!.stop().catch(() => {})
        try {
          await this.retrying(() => this.subscribe())
        } catch (retryError) {
          if (this.stopping) return
          throw retryError
        }
        continue
      }
      if (!isRetryable(ended)) {
        this.metrics.ready.set(0)
        throw ended
      }
      this.unavailable(ended)
      // Releases what the ended subscription still holds (the embedded log's claim on the group).
      await this.subscription!.stop().catch(() => {})
      await this.pause()
      try {
        await this.retrying(() => this.subscribe())
      } catch (retryError) {
        if (this.stopping) return
        throw retryError
      }
    }
  }

  /** Calls `call` until it succeeds or fails with an error retrying cannot fix (or the runner stops). */
  private async retrying<T>(call: () => Promise<T>): Promise<T> {
    for (;;) {
      if (this.stopping) throw new SluiceError('LOG_CLOSED', 'the pipeline runner is stopping')
      try {
        const result = await call()
        this.available()
        return result
      } catch (error) {
        if (!isRetryable(error) || this.stopping) throw error
        this.unavailable(error)
        await this.pause()
      }
    }
  }

  /** Notes that the log failed with a retryable error: not ready, one warning per outage. */
  private unavailable(error: unknown): void {
    this.failures++
    this.metrics.ready.set(0)
    if (this.unavailableSince !== null) return
    this.unavailableSince = Date.now()
    this.logger.warn('log unavailable; retrying with back-off until it answers', {
      error: errorMessage(error),
      code: isSluiceError(error) ? error.code : undefined,
    })
  }

  /** Notes that the log answered: ready again, with how long the outage lasted. */
  private available(): void {
    this.failures = 0
    if (this.stopping) return
    this.metrics.ready.set(1)
    if (this.unavailableSince === null) return
    this.logger.info('log available again', { unavailableMs: Date.now() - this.unavailableSince })
    this.unavailableSince = null
  }

  /** Waits the back-off for the current run of failures; returns early when the runner stops. */
  private pause(): Promise<void> {
    return sleep(backoffDelay(this.failures, this.backoff), this.stopSignal.signal)
  }

  /** The wall clock idle timeouts and processing time go by. */
  private readonly clock = (): number => (this.options.clock ?? Date.now)()

  /**
   * Ticks when something acts on time alone: idle partitions (--idle-timeout) and processing-time
   * windows. Often enough that a window fires within a fraction of its step, at most every 10 ms.
   */
  private tickOptions(): { tickIntervalMs?: number } {
    const { idleTimeoutMs, tickIntervalMs } = this.options
    const due = [
      ...(idleTimeoutMs === undefined ? [] : [idleTimeoutMs / 2]),
      ...this.processingTimeWindows.map((w) =>
        w.window.kind === 'tumbling' || w.window.kind === 'hopping' ? w.window.slideMs / 4 : 1000,
      ),
    ]
    if (due.length === 0) return {}
    return { tickIntervalMs: tickIntervalMs ?? Math.max(10, Math.min(1000, ...due)) }
  }

  /** The artifact's processing-time windows: the clock fires them (runWindow, tick). */
  private get processingTimeWindows(): WindowGraphNode[] {
    return this.options.artifact.manifest.graph.nodes.filter(
      (n): n is WindowGraphNode => n.kind === 'WindowAggregate' && n.time === 'processing',
    )
  }

  /**
   * A tick of a quiet task (RecordBatch.tick): each of its source partitions that is idle takes
   * the watermark of the source's partitions that are not, through its windows, sessions, count
   * windows and `match` steps; each join whose other input is idle moves on with one input. What
   * fires is written like a batch's output, in the task's transaction. Results carry the tick's
   * stand-in record as their origin (tickRecord).
   */
  private tick(batch: RecordBatch, context: BatchContext): void {
    const { states } = context
    const task = batch.task ?? { topic: batch.topic, partition: batch.partition }
    const topics = this.copartitioned.find((group) => group[0] === task.topic) ?? [task.topic]
    this.ticking = true
    try {
      for (const { node, maxTime } of ticksOf(
        topics,
        task.partition,
        this.sourcesByTopic,
        this.partitionWatermarks,
      )) {
        this.idleClockChains ??= chainsFedBySource(this.options.artifact.manifest.graph.nodes)
        if (states) followIdleClock(states, this.idleClockChains.get(node.id) ?? [], maxTime)
        const maxTimes = markSourceTimes(Float64Array.of(maxTime), node.id, true)
        this.push(node.id, createEventBatch(), context, maxTimes)
        // What the tick fired into a join of one source (a window's results) is joined now.
        this.releaseHeld(context, maxTimes)
      }
    } finally {
      this.ticking = false
    }
    // Processing-time windows fire by the clock, whatever their partition's event time does.
    for (const node of this.processingTimeWindows) {
      if (states?.windows.has(node.id)) this.window(node, createEventBatch(), context, NO_TIMES)
    }
    for (const [id, operator] of states?.joins ?? []) {
      const node = this.options.artifact.manifest.graph.nodes.find((n) => n.id === id) as JoinGraphNode
      const output = operator.tick()
      this.metrics.joinResults.labels({ operator: id }).inc(output.results.length)
      this.emitTimed(node, output, context, NO_TIMES)
    }
    for (const topic of topics)
      for (const { node } of this.sourcesByTopic.get(topic) ?? [])
        this.metrics.idlePartitions.set(this.partitionWatermarks?.idleCount(node.name) ?? 0, {
          source: node.name,
        })
  }

  /** Decode → chains → sinks for one batch of log records; resolves once all output is appended. */
  private async processBatch(batch: RecordBatch): Promise<void> {
    const started = performance.now()
    const outputs = new Map<string, TopicOutput>()
    const deadLetters: DeadLetter[] = []
    // A batch of a co-partitioned topic shares the state of its task (decision 0020).
    const states = this.operatorState?.of(batch.task?.topic ?? batch.topic, batch.partition)
    // Under exactly-once, part of the partition's transaction; else plain appends.
    const target = batch.transaction ?? this.options.log
    // A tick has no records: what it fires names a stand-in record of the task.
    const records = batch.tick === true ? [tickRecord(batch, this.clock())] : batch.records
    const context: BatchContext = { records, outputs, deadLetters, states }
    if (batch.tick === true) this.tick(batch, context)
    for (const { node, delayMs } of batch.tick === true ? [] : (this.sourcesByTopic.get(batch.topic) ?? [])) {
      const decoded = this.decode(node, batch.records, deadLetters)
      this.trackWatermark(node.name, decoded, delayMs)
      const maxTimes = this.hasEventTimeOperators
        ? markSourceTimes(sourceMaxTimes(decoded, batch.records.length), node.id)
        : NO_TIMES
      if (this.partitionWatermarks !== null) {
        this.partitionWatermarks.arrived(
          node.name,
          batch.partition,
          maxTimes.at(-1) ?? Number.NEGATIVE_INFINITY,
        )
        this.metrics.idlePartitions.set(this.partitionWatermarks.idleCount(node.name), { source: node.name })
      }
      this.push(node.id, decoded, context, maxTimes)
      this.releaseHeld(context, maxTimes)
    }
    await Promise.all(
      [...outputs].map(([topic, output]) =>
        output.records.length === 0
          ? undefined
          : this.appendRetrying(target, topic, output.records, (index, reason) => {
              deadLetters.push({
                record: records[output.origins[index]!]!,
                stage: 'sink',
                reason: `${topic} refused the output record: ${reason}`,
                location: null,
              })
            }),
      ),
    )
    if (deadLetters.length > 0) {
      // One dead letter per failing stream; an event failing in two streams counts once here.
      this.metrics.eventsDeadLettered.inc(new Set(deadLetters.map((d) => d.record)).size)
      // Decode failures are found before evaluation failures; write them in source order.
      deadLetters.sort((a, b) => a.record.offset - b.record.offset)
      await this.appendDeadLetters(
        target,
        deadLetters.map((d) => this.deadLetterRecord(d)),
      )
    }
    const last = batch.records.at(-1)
    if (last !== undefined) {
      this.metrics.consumerLag.set(Math.max(0, batch.endOffset - (last.offset + 1)), {
        topic: batch.topic,
        partition: String(batch.partition),
      })
    }
    this.metrics.batchSeconds.observe((performance.now() - started) / 1000)
  }

  /**
   * Appends `records` to `topic`, waiting out an unavailable log (runtime/log/retry.ts). Refused
   * records go to `onRefused` with their index in `records`.
   */
  private async appendRetrying(
    target: Pick<Log, 'append'> | PartitionTransaction,
    topic: string,
    records: readonly OutgoingRecord[],
    onRefused?: (index: number, reason: string) => void,
  ): Promise<void> {
    const started = performance.now()
    const countError = (error: unknown) =>
      this.metrics.appendErrors.labels({ topic, code: isSluiceError(error) ? error.code : 'UNKNOWN' }).inc()
    let failures: number
    try {
      failures = await appendRetrying(target, topic, records, {
        backoff: this.backoff,
        signal: this.stopSignal.signal,
        ...(onRefused ? { onRefused } : {}),
        onRetry: (error) => {
          countError(error)
          this.unavailable(error)
        },
      })
    } catch (error) {
      if (!isSluiceError(error, 'LOG_CLOSED') || !this.stopping) countError(error)
      throw error
    }
    this.metrics.appendSeconds.observe((performance.now() - started) / 1000)
    // Only the call that saw the outage ends it: another topic's append may succeed meanwhile.
    if (failures > 0) this.available()
  }

  /**
   * Dead letters must not be refused in turn: one the dead-letter topic will not take as it is is
   * written again with the log's own timestamp (the source's may be too far off for this topic),
   * and if that is refused too, without its value (the headers say where the original still is).
   */
  private async appendDeadLetters(
    target: Pick<Log, 'append'> | PartitionTransaction,
    records: OutgoingRecord[],
  ): Promise<void> {
    let pending = records
    for (const attempt of ['as is', 'with the append time', 'without the value'] as const) {
      const refused: [number, string][] = []
      await this.appendRetrying(
        target,
        this.deadLetterTopic,
        pending,
        attempt === 'without the value' ? undefined : (index, reason) => refused.push([index, reason]),
      )
      if (refused.length === 0) return
      pending = refused.map(([index, reason]) => {
        const { timestamp: _timestamp, ...record } = pending[index]!
        this.logger.error('the dead-letter topic refused a dead letter; writing it again', {
          topic: this.deadLetterTopic,
          reason,
          retry: attempt === 'as is' ? 'with the append time' : 'without the value',
        })
        if (attempt === 'as is') return record
        return {
          ...record,
          value: Buffer.alloc(0),
          headers: { ...record.headers, [DEAD_LETTER_HEADERS.valueDropped]: reason },
        }
      })
    }
  }

  private decode(
    node: GraphNode & { kind: 'Source' },
    records: readonly LogRecord[],
    deadLetters: DeadLetter[],
  ): EventBatch {
    const source = this.options.artifact.operators.sources[node.name]!
    // The generated decoder from the record's bytes; an artifact compiled before it existed
    // decodes through JSON.parse and the decoder of the parsed value.
    const decodeJson =
      source.decodeJson ?? ((bytes: Buffer) => source.decode(JSON.parse(bytes.toString('utf8'))))
    const out = createEventBatch(records.length)
    const passThrough = this.passThrough.has(node.id) ? source.passThrough : undefined
    let n = 0
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!
      // Decoding would replace invalid bytes with U+FFFD and lose them; the event keeps its bytes
      // in the dead-letter topic instead.
      if (!isUtf8(record.value)) {
        const reason = `the record is not valid UTF-8 (first bad byte at ${firstInvalidUtf8(record.value)})`
        deadLetters.push({ record, stage: 'decode', reason, location: null })
        continue
      }
      if (passThrough !== undefined) {
        // Bytes the sink would write as they are: the event is those bytes (no row to decode).
        const time = passThrough(record.value)
        if (!Number.isNaN(time)) {
          out.values[n] = record.value
          out.keys[n] = record.key
          out.timestamps[n] = source.eventTime ? time : record.timestamp
          out.origins[n] = i
          n++
          continue
        }
      }
      let row: unknown
      try {
        row = decodeJson(record.value)
      } catch (error) {
        const reason = error instanceof SyntaxError ? `invalid JSON: ${error.message}` : errorMessage(error)
        deadLetters.push({ record, stage: 'decode', reason, location: null })
        continue
      }
      out.values[n] = row
      out.keys[n] = record.key
      out.timestamps[n] = source.eventTime ? source.eventTime(row as never) : record.timestamp
      out.origins[n] = i
      n++
    }
    out.length = n
    this.metrics.eventsIn.labels({ source: node.name }).inc(records.length)
    return out
  }

  private trackWatermark(source: string, batch: EventBatch, delayMs: number): void {
    let max = this.maxEventTime.get(source) ?? Number.NEGATIVE_INFINITY
    for (let i = 0; i < batch.length; i++) if (batch.timestamps[i]! > max) max = batch.timestamps[i]!
    if (max === Number.NEGATIVE_INFINITY) return
    this.maxEventTime.set(source, max)
    const watermarkMs = max - delayMs
    this.metrics.watermark.set(watermarkMs / 1000, { source })
    this.metrics.eventTimeLag.set((Date.now() - watermarkMs) / 1000, { source })
  }

  private push(nodeId: string, batch: EventBatch, context: BatchContext, maxTimes: Float64Array): void {
    const { records, deadLetters, states } = context
    for (const consumer of this.consumers.get(nodeId) ?? []) {
      if ((consumer.kind === 'Join' || consumer.kind === 'Union') && this.mergedInputs.has(consumer.id)) {
        // Taken once the source batch has reached all its inputs (releaseHeld).
        inputsOf(consumer).forEach((input, slot) => {
          if (input === nodeId) this.held.hold(consumer.id, slot, batch)
        })
      } else if (consumer.kind === 'WindowAggregate') {
        this.window(consumer, batch, context, maxTimes)
      } else if (consumer.kind === 'Match') {
        this.match(consumer, batch, context, maxTimes)
      } else if (consumer.kind === 'Join') {
        // A tick's empty batch moves no join side (JoinOperator.tick does), but a window's output
        // watermark moved with the tick, and what the tick fired (or a match ended) must be joined.
        if (
          this.ticking &&
          !this.windowResults.has(nodeId) &&
          !this.joinResults.has(nodeId) &&
          !this.matchResults.has(nodeId)
        )
          continue
        const side = consumer.left === nodeId ? 'left' : 'right'
        this.join(consumer, side, batch, context, maxTimes)
      } else if (consumer.kind === 'Fused') {
        const output = this.buffers.get(consumer.id)!
        const errors: ChainError[] = []
        const chainStates = states?.chains.get(consumer.id) ?? NO_STATES
        const dropped = this.options.artifact.operators.chains[consumer.id]!(
          batch,
          output,
          errors,
          chainStates,
          records,
        )
        for (const failure of errors) {
          deadLetters.push(this.evaluationFailure(records[batch.origins[failure.index]!]!, failure))
        }
        // An explode emits several outputs per input, so a chain counts what it dropped itself.
        const filtered = dropped ?? batch.length - output.length - errors.length
        if (filtered > 0) {
          this.metrics.eventsFiltered.labels({ source: this.sourceOf.get(consumer.id)! }).inc(filtered)
        }
        this.push(consumer.id, output, context, maxTimes)
      } else if (consumer.kind === 'Lookup') {
        const output = this.buffers.get(consumer.id)!
        const errors: ChainError[] = []
        this.tables.lookup(consumer, batch, output, errors)
        for (const failure of errors) {
          deadLetters.push(this.evaluationFailure(records[batch.origins[failure.index]!]!, failure))
        }
        this.push(consumer.id, output, context, maxTimes)
      } else if (consumer.kind === 'Sink') {
        this.sink(consumer, batch, context)
      } else if (consumer.kind === 'Union') {
        // A batch holds one source partition's events in order: the union's readers take each
        // input's batches as they come, so each input keeps its order.
        this.push(consumer.id, batch, context, maxTimes)
      }
    }
  }

  /**
   * Runs the joins and unions that one source reaches through several inputs on what the source
   * batch brought each input, merged record by record (same-source.ts), first node first.
   */
  private releaseHeld(context: BatchContext, maxTimes: Float64Array): void {
    const byId = this.options.artifact.manifest.graph.nodes
    for (
      let next = this.held.takeFirst(this.nodeOrder);
      next !== null;
      next = this.held.takeFirst(this.nodeOrder)
    ) {
      const node = byId.find((n) => n.id === next!.nodeId)!
      if (node.kind !== 'Join') {
        this.push(node.id, mergeByRecord(next.inputs), context, maxTimes)
        continue
      }
      const operator = context.states?.joins.get(node.id)
      if (operator === undefined)
        throw new Error(`no state for join ${node.id}: the log did not assign the partition`)
      const side = (slot: number) => next!.inputs.find((i) => i.input === slot)?.batch ?? createEventBatch()
      const output = operator.processTogether(side(0), side(1), maxTimes, context.records.length - 1)
      this.metrics.joinResults.labels({ operator: node.id }).inc(output.results.length)
      this.emitTimed(node, output, context, maxTimes)
    }
  }

  /** Runs a window on a batch (what it emits: emitTimed). */
  private window(
    node: WindowGraphNode,
    batch: EventBatch,
    context: BatchContext,
    maxTimes: Float64Array,
  ): void {
    const { records, states } = context
    const operator = states?.windows.get(node.id)
    if (operator === undefined)
      throw new Error(`no state for window ${node.id}: the log did not assign the partition`)
    const timed = node.time === 'processing' ? atProcessingTime(batch, records.length, this.clock()) : null
    const output = operator.process(timed?.batch ?? batch, timed?.maxTimes ?? maxTimes, records.length - 1)
    this.metrics.windowResults.labels({ operator: node.id }).inc(output.results.length)
    this.emitTimed(node, output, context, maxTimes)
  }

  /**
   * Runs a `match` step on a batch: its matches to its readers and its timed-out partial matches
   * to the readers of its `timeout into` stream (what else it emits: emitTimed).
   */
  private match(
    node: MatchGraphNode,
    batch: EventBatch,
    context: BatchContext,
    maxTimes: Float64Array,
  ): void {
    const operator = context.states?.matches.get(node.id)
    if (operator === undefined)
      throw new Error(`no state for match ${node.id}: the log did not assign the partition`)
    const dropped = { ...operator.dropped }
    const output = operator.process(batch, maxTimes, context.records.length - 1)
    if (node.key === null) {
      // Without `match by` every event has one key, which names nothing: the outputs carry none.
      output.results.keys.fill(null, 0, output.results.length)
      output.timeouts.keys.fill(null, 0, output.timeouts.length)
    }
    this.metrics.cepMatches.labels({ operator: node.id }).inc(output.results.length)
    const after = operator.dropped
    for (const reason of Object.keys(after) as DropReason[]) {
      const n = after[reason] - (dropped[reason] ?? 0)
      if (n > 0) this.metrics.cepDropped.labels({ operator: node.id, reason }).inc(n)
    }
    const timedOut = after.timeout - (dropped.timeout ?? 0)
    if (timedOut > 0) this.metrics.cepTimeouts.labels({ operator: node.id }).inc(timedOut)
    this.emitTimed(node, output, context, maxTimes)
    const timeouts = (output as CepBatchOutput).timeouts
    // Even when empty, as results are: a window or join over the timeouts follows the batch's
    // watermarks (what they close does not wait for the next timeout).
    if (node.timeout !== null) this.push(node.timeout.stream, timeouts, context, maxTimes)
  }

  /** Runs one side's batch through a join (its state is the task's: decision 0020). */
  private join(
    node: JoinGraphNode,
    side: JoinSide,
    batch: EventBatch,
    context: BatchContext,
    maxTimes: Float64Array,
  ): void {
    const operator = context.states?.joins.get(node.id)
    if (operator === undefined)
      throw new Error(`no state for join ${node.id}: the log did not assign the task`)
    const output = operator.process(side, batch, maxTimes, context.records.length - 1)
    this.metrics.joinResults.labels({ operator: node.id }).inc(output.results.length)
    this.emitTimed(node, output, context, maxTimes)
  }

  /**
   * What a window or a join emitted: results to its readers, late events to the readers of its
   * late stream (dead letters with the reason when it has none), failures to the dead letters.
   */
  private emitTimed(
    node: WindowGraphNode | JoinGraphNode | MatchGraphNode,
    output: {
      readonly results: EventBatch
      readonly late: EventBatch
      readonly lateWatermarks: readonly number[]
      readonly failures: readonly { origin: number; error: unknown; site: number }[]
      /** A join's watermark after each record: what a join reading its results follows. */
      readonly watermarks?: Float64Array
    },
    context: BatchContext,
    maxTimes: Float64Array,
  ): void {
    const { results, late, lateWatermarks, failures } = output
    const { records, deadLetters } = context
    for (const failure of failures)
      deadLetters.push(this.evaluationFailure(records[failure.origin]!, failure))
    const lateReaders = node.late === null ? [] : (this.consumers.get(node.late) ?? [])
    if (late.length > 0 && lateReaders.length === 0) {
      const reason =
        node.kind === 'Join'
          ? joinLateReason
          : node.kind === 'Match'
            ? cepLateReason
            : node.window.kind === 'count'
              ? (time: number, watermark: number) => countLateReason(time, watermark)
              : lateReason
      for (let i = 0; i < late.length; i++) {
        deadLetters.push({
          record: records[late.origins[i]!]!,
          stage: 'late',
          reason: reason(late.timestamps[i]!, lateWatermarks[i]!, node.latenessMs),
          location: null,
        })
      }
    } else if (late.length > 0) {
      this.metrics.eventsLate.labels({ operator: node.id }).inc(late.length)
      this.push(node.late!, late, context, maxTimes)
    }
    this.push(node.id, results, context, output.watermarks ?? maxTimes)
  }

  private sink(node: SinkGraphNode, batch: EventBatch, context: BatchContext): void {
    const { records, outputs, deadLetters } = context
    const { encode, headers: sinkHeaders } = this.options.artifact.operators.sinks[node.id]!
    // One headers object for every output record whose source record has no headers of its own;
    // a source record's headers (a W3C traceparent, say) travel on with its outputs.
    const shared = { [ARTIFACT_HEADER]: this.options.artifact.manifest.contentHash }
    const withSourceHeaders: (Readonly<Record<string, string>> | undefined)[] = []
    const toStdout = node.connector.kind === 'stdout'
    const topic = node.connector.kind === 'kafka' ? node.connector.topic : ''
    const eventTime = node.recordTimestamp === 'event'
    let out = outputs.get(topic)
    if (!toStdout && out === undefined) {
      out = { records: [], origins: [] }
      outputs.set(topic, out)
    }
    let text = ''
    let written = 0
    for (let i = 0; i < batch.length; i++) {
      const origin = batch.origins[i]!
      let json: string | undefined
      // The headers the sink sets (`headers { … }`), over those of the source record.
      let own: Record<string, string> | undefined
      if (sinkHeaders !== undefined && !toStdout) {
        try {
          own = sinkHeaders(batch.values[i] as never, records[origin]!)
        } catch (error) {
          deadLetters.push(this.evaluationFailure(records[origin]!, { error, site: -1 }))
          continue
        }
      }
      // The key and headers are written as UTF-8: one with a lone surrogate is not written at all.
      const unwritable = toStdout ? null : unwritableRecordText(batch.keys[i]!, own)
      if (unwritable !== null) {
        deadLetters.push({ record: records[origin]!, stage: 'encode', reason: unwritable, location: null })
        continue
      }
      const value = batch.values[i]
      let bytes: Buffer | undefined
      try {
        if (isPassedThrough(value)) bytes = value
        else json = encode(value as never)
      } catch (error) {
        deadLetters.push({
          record: records[origin]!,
          stage: 'encode',
          reason: errorMessage(error),
          location: null,
        })
        continue
      }
      written++
      if (toStdout) {
        text += `${json!}\n`
        continue
      }
      let headers = withSourceHeaders[origin]
      if (headers === undefined) {
        headers = mergeHeaders(records[origin]!.headers, shared)
        withSourceHeaders[origin] = headers
      }
      if (own !== undefined) headers = { ...headers, ...own, ...shared }
      bytes ??= Buffer.from(json!)
      out!.records.push(
        eventTime
          ? { key: batch.keys[i]!, value: bytes, timestamp: batch.timestamps[i]!, headers }
          : { key: batch.keys[i]!, value: bytes, headers },
      )
      out!.origins.push(origin)
    }
    if (toStdout && text.length > 0) this.write(text)
    this.metrics.eventsOut.labels({ sink: node.name, topic: toStdout ? 'stdout' : topic }).inc(written)
  }

  /** The dead letter of an event (or window result) whose evaluation failed at `site`. */
  private evaluationFailure(record: LogRecord, failure: { error: unknown; site: number }): DeadLetter {
    const { error, site } = failure
    return {
      record,
      stage: 'evaluate',
      reason: errorMessage(error),
      location: this.location(error instanceof EvaluationError && error.site >= 0 ? error.site : site),
    }
  }

  private location(site: number): string | null {
    const s = this.options.artifact.manifest.sites[site]
    return s ? `${s.file}:${s.line}:${s.column}` : null
  }

  private deadLetterRecord(dead: DeadLetter): OutgoingRecord {
    this.metrics.deadLetters.labels({ stage: dead.stage }).inc()
    const { record } = dead
    const reason = headerSafe(dead.location ? `${dead.reason} (at ${dead.location})` : dead.reason)
    if (this.deadLetterLines.take()) {
      this.logger.warn('event dead-lettered', {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        reason,
      })
    }
    return {
      key: record.key,
      value: record.value,
      timestamp: record.timestamp,
      headers: {
        ...record.headers,
        [DEAD_LETTER_HEADERS.reason]: reason,
        [DEAD_LETTER_HEADERS.stage]: dead.stage,
        ...(dead.location ? { [DEAD_LETTER_HEADERS.location]: dead.location } : {}),
        [DEAD_LETTER_HEADERS.topic]: record.topic,
        [DEAD_LETTER_HEADERS.partition]: String(record.partition),
        [DEAD_LETTER_HEADERS.offset]: String(record.offset),
        [DEAD_LETTER_HEADERS.artifact]: this.options.artifact.manifest.contentHash,
      },
    }
  }
}

/** The source record's headers with the runner's own on top; `shared` itself when there are none. */
function mergeHeaders(
  source: Readonly<Record<string, string>>,
  shared: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  for (const _ in source) return { ...source, ...shared }
  return shared
}

/** Longest reason a dead letter carries; the event's own bytes are in its value anyway. */
const MAX_REASON_LENGTH = 1000

/**
 * A reason as a header value tools can show: control characters (a NUL quoted from the event)
 * escaped as \uXXXX, lone surrogates replaced, and at most MAX_REASON_LENGTH characters.
 */
export function headerSafe(reason: string): string {
  let out = ''
  let i = 0
  for (; i < reason.length && out.length < MAX_REASON_LENGTH; i++) {
    const c = reason.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < reason.length && isLow(reason.charCodeAt(i + 1))) {
      out += reason.slice(i, i + 2)
      i++
    } else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd'
    else out += reason[i]
  }
  return i < reason.length || out.length > MAX_REASON_LENGTH ? `${out.slice(0, MAX_REASON_LENGTH - 1)}…` : out
}

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff
}

function topicOf(connector: Connector, what: string): string {
  if (connector.kind !== 'kafka') throw new Error(`${what}: a source must read a kafka("topic") connector`)
  return connector.topic
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * The one place where a `match` step's engine is chosen (compiler/compile.ts sets
 * `node.execution`): the WebAssembly pattern kernel (wasm/host/cep-kernel.ts) for a `wasm` match,
 * the TypeScript NFA (runtime/cep/nfa.ts) otherwise. Both step the NFA runtime/cep/nfa-compile.ts
 * builds, with the same rules, so they give the same matches; a pattern the kernel refuses (one
 * edge's guard with too many terms) falls back to the TypeScript NFA, every time alike, so a
 * snapshot is always restored by the engine that wrote it.
 */
function patternEngineFactory(node: MatchGraphNode, kernel: CepKernel | null): PatternEngineFactory {
  if (node.execution !== 'wasm' || kernel === null) return createNfaEngine
  const onKernel = kernel.factory(compileNfa)
  return (spec, functions, budget) => {
    try {
      return onKernel(spec, functions, budget)
    } catch (error) {
      if (error instanceof CepKernelUnsupportedError) return createNfaEngine(spec, functions, budget)
      throw error
    }
  }
}

/** The generated functions of a stateful operator; an artifact without them is invalid. */
function generatedFunctions<T>(
  table: Readonly<Record<string, T>> | undefined,
  kind: 'window' | 'join' | 'match',
  id: string,
): T {
  const functions = table?.[id]
  if (functions === undefined)
    throw new SluiceError('ARTIFACT_INVALID', `the artifact's module has no functions for ${kind} ${id}`)
  return functions
}

/** The reason a late event of a `match` gives in the dead letters. */
function cepLateReason(time: number, watermark: number): string {
  return `late event: its event time ${new Date(time).toISOString()} is before the watermark ${new Date(watermark).toISOString()}, and a match takes each key's events in event-time order`
}

/**
 * The runner's stop signal: every append waiting out an unavailable log listens on it, and with
 * the batches of several partitions in flight at once (KafkaLogOptions.partitionsInParallel) times
 * the sinks of each, more than Node's default of 10 wait together during an outage, which would
 * print a MaxListenersExceededWarning into a JSON log.
 */
function abortControllerForWaiters(): AbortController {
  const controller = new AbortController()
  setMaxListeners(1000, controller.signal)
  return controller
}
