/**
 * What `sluice run` and `sluice serve` share to run an artifact on a node: the options (consumer
 * group, partitions, dead letters, Kafka group timing, node identity, metrics address), the start
 * of the pipeline runner with them, and the summary line a node writes when it stops.
 */
import type { LoadedArtifact } from '../runtime/artifact/load.ts'
import type { Log } from '../runtime/log/index.ts'
import type { MetricsRegistry } from '../runtime/metrics/registry.ts'
import { PipelineRunner } from '../runtime/node/pipeline-runner.ts'
import { formatLogRecord, type Logger } from '../runtime/observability/logger.ts'
import { integerOption, type LoggingChoice, UsageError } from './args.ts'
import type { CommandIO } from './command.ts'
import { formatMs } from './progress.ts'
import type { StateChoice } from './state-options.ts'

/** The runner's options as flags (with STATE_OPTIONS beside them). */
export const RUNNER_OPTIONS = {
  group: { type: 'string' },
  partitions: { type: 'string' },
  'dead-letter-topic': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  'kafka-session-timeout': { type: 'string' },
  'kafka-heartbeat-interval': { type: 'string' },
  'commit-interval': { type: 'string' },
  'node-id': { type: 'string' },
} as const

export interface RunnerValues {
  readonly group?: string | undefined
  readonly partitions?: string | undefined
  readonly 'dead-letter-topic'?: string | undefined
  readonly 'kafka-session-timeout'?: string | undefined
  readonly 'kafka-heartbeat-interval'?: string | undefined
  readonly 'commit-interval'?: string | undefined
  readonly 'node-id'?: string | undefined
}

/** Checks --group before anything is opened. */
export function checkGroup(group: string | undefined): void {
  if (group !== undefined && group.trim() === '') {
    throw new UsageError(
      '--group names no consumer group; leave it out for the default sluice.<artifact name>',
    )
  }
}

/** Starts the runner of one artifact with the command's options. */
export function startPipeline(options: {
  readonly log: Log
  readonly artifact: LoadedArtifact
  readonly metrics: MetricsRegistry
  readonly logger: Logger
  readonly stdout: (text: string) => void
  readonly signal: AbortSignal
  readonly values: RunnerValues
  readonly state: StateChoice
}): Promise<PipelineRunner> {
  const { values, state } = options
  return PipelineRunner.start({
    log: options.log,
    artifact: options.artifact,
    metrics: options.metrics,
    logger: options.logger,
    stdout: options.stdout,
    partitions: integerOption(values.partitions, 'partitions', 1),
    signal: options.signal,
    ...(values.group ? { group: values.group } : {}),
    ...(values['dead-letter-topic'] ? { deadLetterTopic: values['dead-letter-topic'] } : {}),
    delivery: state.delivery,
    checkpointIntervalMs: state.checkpointIntervalMs,
    ...(state.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: state.idleTimeoutMs }),
    stateBudget: state.stateBudget,
    cepBudget: state.cepBudget,
    ...(state.stateStore ? { stateStore: state.stateStore } : {}),
  })
}

/**
 * `processed N events in T: …`, written whatever the log level (it is the command's result), in
 * the chosen log format.
 */
export function writeSummary(
  metrics: MetricsRegistry,
  ms: number,
  logging: LoggingChoice,
  io: CommandIO,
): void {
  const count = (name: string) => metrics.find(name)?.total() ?? 0
  const [eventsIn, eventsOut, deadLetters, eventsDeadLettered] = [
    count('sluice_events_in_total'),
    count('sluice_events_out_total'),
    count('sluice_dead_letters_total'),
    count('sluice_events_dead_lettered_total'),
  ]
  // Events, not dead letters: one event failing in two streams has two dead letters.
  const perStream =
    deadLetters === eventsDeadLettered ? '' : ` (${deadLetters} dead letters: some failed in several streams)`
  const summary = `processed ${eventsIn} events in ${formatMs(ms)}: ${eventsOut} written, ${eventsDeadLettered} dead-lettered${perStream}`
  io.stderr(
    logging.format === 'json'
      ? formatLogRecord('json', 'info', summary, {
          eventsIn,
          eventsOut,
          eventsDeadLettered,
          deadLetters,
          durationMs: Math.round(ms),
        })
      : `${summary}\n`,
  )
}

export function consumerTiming(values: {
  'kafka-session-timeout'?: string | undefined
  'kafka-heartbeat-interval'?: string | undefined
  'commit-interval'?: string | undefined
}): { sessionTimeoutMs?: number; heartbeatIntervalMs?: number; commitIntervalMs?: number } {
  const commit = values['commit-interval']
  // Whole milliseconds (Number('') would be 0); 0 commits after every batch.
  if (commit !== undefined && !/^[0-9]+$/.test(commit)) {
    throw new UsageError(`--commit-interval must be a whole number of milliseconds, got "${commit}"`)
  }
  const commitIntervalMs = commit === undefined ? undefined : integerOption(commit, 'commit-interval', 0)
  const session = values['kafka-session-timeout']
  const heartbeat = values['kafka-heartbeat-interval']
  const sessionTimeoutMs =
    session === undefined ? undefined : integerOption(session, 'kafka-session-timeout', 0)
  const heartbeatIntervalMs =
    heartbeat === undefined ? undefined : integerOption(heartbeat, 'kafka-heartbeat-interval', 0)
  if (sessionTimeoutMs !== undefined && sessionTimeoutMs < 1000) {
    throw new UsageError(`--kafka-session-timeout must be at least 1000 ms, got ${sessionTimeoutMs}`)
  }
  if (heartbeatIntervalMs !== undefined && heartbeatIntervalMs < 100) {
    throw new UsageError(`--kafka-heartbeat-interval must be at least 100 ms, got ${heartbeatIntervalMs}`)
  }
  if (heartbeatIntervalMs !== undefined && heartbeatIntervalMs * 3 > (sessionTimeoutMs ?? 6000)) {
    throw new UsageError(
      `--kafka-heartbeat-interval ${heartbeatIntervalMs} must be under a third of the session timeout (${sessionTimeoutMs ?? 6000} ms), or a slow heartbeat evicts a healthy member`,
    )
  }
  return {
    ...(sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs }),
    ...(heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs }),
    ...(commitIntervalMs === undefined ? {} : { commitIntervalMs }),
  }
}

/** --node-id, else $SLUICE_NODE_ID: the Kafka instance id (runtime/log/kafka-handover.ts). */
export function nodeIdentity(flag: string | undefined, env: NodeJS.ProcessEnv): { instanceId?: string } {
  const value = flag ?? env.SLUICE_NODE_ID
  if (value === undefined || (flag === undefined && value === '')) return {}
  const source = flag !== undefined ? '--node-id' : '$SLUICE_NODE_ID'
  // It becomes part of a Kafka client id: the same characters (cli/open-log.ts).
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(value))
    throw new UsageError(`${source} "${value}": a node id is 1 to 100 letters, digits, '.', '_' or '-'`)
  return { instanceId: value }
}

/** A TCP port from the command line, or null when the option is absent; anything else is a usage error. */
export function portOption(value: string | undefined, name: string): number | null {
  if (value === undefined) return null
  const port = integerOption(value, name, 0)
  if (port > 65_535) throw new UsageError(`--${name} must be a port from 0 to 65535, got "${value}"`)
  return port
}
