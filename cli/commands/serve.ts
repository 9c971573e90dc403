import { readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { type LoadedArtifact, loadArtifact } from '../../runtime/artifact/load.ts'
import { GATEWAY_DEFAULTS, Gateway, WS_HARD_CAP_FACTOR } from '../../runtime/gateway/gateway.ts'
import { type GrpcGateway, startGrpcGateway } from '../../runtime/gateway/grpc.ts'
import { type RateLimits, validateLimits } from '../../runtime/gateway/rate-limit.ts'
import { streamCatalog } from '../../runtime/gateway/streams.ts'
import { serveMetrics } from '../../runtime/metrics/serve.ts'
import { SharedMetricsRegistry } from '../../runtime/metrics/shared-registry.ts'
import type { PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { DEFAULT_DEAD_LETTER_TOPIC } from '../../runtime/node/pipeline-runner.ts'
import {
  commandLogger,
  integerOption,
  LOG_OPTIONS,
  LOG_OPTIONS_HELP,
  loggingOptions,
  parse,
  UsageError,
} from '../args.ts'
import type { Command } from '../command.ts'
import { openLog } from '../open-log.ts'
import {
  checkGroup,
  consumerTiming,
  nodeIdentity,
  portOption,
  RUNNER_OPTIONS,
  startPipeline,
  writeSummary,
} from '../pipeline-node.ts'
import { STATE_OPTIONS, STATE_OPTIONS_HELP, type StateChoice, stateOptions } from '../state-options.ts'
import { waitForLog } from '../wait-for-log.ts'

const DEFAULT_DRAIN_TIMEOUT_MS = 30_000

/**
 * The bounds of --gateway-worker-heap-mb. Below the minimum a worker cannot load the artifacts and
 * serve (it would fail the node's start, or be ended at its limit again and again); the maximum
 * catches a value given in bytes or KiB instead of MiB.
 */
export const WORKER_HEAP_MB = { min: 32, max: 1_048_576 } as const

export const serve: Command = {
  name: 'serve',
  summary: 'run a long-lived node: the event gateway and pipelines, in one process',
  help: `Usage: sluice serve [--gateway [HOST:]PORT] [--run ARTIFACT_DIR]... [options]

Runs the roles it is given in one process, against one log: the event gateway (--gateway) takes
events over HTTP and WebSocket into the sources of the deployed artifacts, and each --run artifact
is processed as \`sluice run\` would. On the embedded log the gateway and the pipelines share the
one data directory. Stops cleanly on Ctrl-C / SIGTERM: the gateway stops accepting and answers the
requests it holds once the log has their events, then the pipelines finish their batch and commit,
and the log is closed.

Roles:
  --gateway [HOST:]PORT serve the event gateway (HOST default 127.0.0.1; PORT 0: any free port):
                        POST /streams/SOURCE/events, WebSocket /streams/SOURCE/ws, /healthz, /readyz,
                        /metrics, GET|PUT /admin/limits
  --grpc [HOST:]PORT    also serve the gateway over gRPC (runtime/gateway/gateway.proto: Publish,
                        PublishStream); needs --gateway
  --run ARTIFACT_DIR    process this artifact (repeatable); its sources are gateway streams
  --ingest ARTIFACT_DIR take this artifact's sources at the gateway without processing them here
                        (repeatable): a gateway-only node in front of Kafka
  --metrics-port PORT   serve Prometheus metrics on http://HOST:PORT/metrics (0: any free port)
  --metrics-host HOST   address the metrics server listens on (default: 127.0.0.1)
  --config FILE         JSON configuration, flags given as well winning (README, "Serving events")

Gateway:
  --key-field SOURCE=FIELD
                        key (and so partition) SOURCE's records by this top-level field (repeatable;
                        default: no key, round robin; a CloudEvent's partitionkey always keys)
  --max-request-bytes N largest request body or WebSocket message (default: ${GATEWAY_DEFAULTS.maxRequestBytes})
  --max-ws-message-bytes N
                        hard cap on a WebSocket message: one over --max-request-bytes and up to this
                        gets an error ack (REQUEST_TOO_LARGE) and keeps its connection, a longer one
                        closes it (default: ${WS_HARD_CAP_FACTOR} × --max-request-bytes)
  --max-event-bytes N   largest event (default: ${GATEWAY_DEFAULTS.maxEventBytes})
  --max-in-flight-bytes N
                        bytes of requests received and not yet acknowledged, at most; beyond it
                        requests get 503 with Retry-After (default: ${GATEWAY_DEFAULTS.maxInFlightBytes})
  --stream-rate N       events/s per stream, burst N (default: no limit; finer limits: --config)
  --api-key-rate N      events/s per API key (x-api-key), burst N (default: no limit)
  --admin-token-file F  /admin/* needs Authorization: Bearer <the file's first line>
  --drain-timeout MS    how long a stop waits for requests in flight (default: ${DEFAULT_DRAIN_TIMEOUT_MS})
  --gateway-threads N   serve HTTP and WebSocket from N worker threads sharing the port, the log,
                        rate limits and metrics staying in the main thread (1: all in the main
                        thread; default: the cores but one, 1 on two cores or fewer: ${defaultGatewayThreads()} here)
  --gateway-worker-heap-mb N
                        V8 heap limit of each gateway worker thread (old generation, MiB, from
                        ${WORKER_HEAP_MB.min} to ${WORKER_HEAP_MB.max}); a worker that reaches it disconnects its connections and
                        starts again, the node going on (default: Node's, as for the process; needs
                        worker threads)
  The gateway acknowledges an event once the log holds it: on the embedded log its durability
  defaults to batch here (synced before the acknowledgement, concurrent requests sharing one sync);
  --durability 100ms acknowledges sooner, as the interval policy promises.

Pipelines (as sluice run; --group only with one --run):
  --group NAME          consumer group (default: sluice.<artifact name>)
  --partitions N        partitions of topics the node creates (default: 1)
  --dead-letter-topic T dead-letter topic (default: ${DEFAULT_DEAD_LETTER_TOPIC})
${STATE_OPTIONS_HELP}
  --kafka-session-timeout MS, --kafka-heartbeat-interval MS, --commit-interval MS, --node-id ID:
                        as sluice run

Log:
${LOG_OPTIONS_HELP}
  -h, --help            show this help`,
  async run(argv, io) {
    const { positionals, values } = parse(argv, {
      ...LOG_OPTIONS,
      ...STATE_OPTIONS,
      ...RUNNER_OPTIONS,
      config: { type: 'string' },
      gateway: { type: 'string' },
      grpc: { type: 'string' },
      run: { type: 'string', multiple: true },
      ingest: { type: 'string', multiple: true },
      'key-field': { type: 'string', multiple: true },
      'max-request-bytes': { type: 'string' },
      'max-ws-message-bytes': { type: 'string' },
      'max-event-bytes': { type: 'string' },
      'max-in-flight-bytes': { type: 'string' },
      'stream-rate': { type: 'string' },
      'api-key-rate': { type: 'string' },
      'admin-token-file': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'gateway-threads': { type: 'string' },
      'gateway-worker-heap-mb': { type: 'string' },
    })
    if (positionals.length > 0) {
      throw new UsageError(
        `sluice serve takes no positional arguments (got ${positionals.join(' ')}): give artifacts with --run`,
      )
    }
    const config = values.config === undefined ? {} : await readConfig(values.config)
    const settings = serveSettings(values, config)
    const logging = loggingOptions(values, io)
    const logger = commandLogger(logging, io)
    if (settings.gatewayWorkerHeapMb !== undefined && settings.gatewayThreads === 1)
      logger.warn('--gateway-worker-heap-mb has no effect: the gateway serves in the main thread', {
        gatewayThreads: 1,
      })
    const load = async (dir: string) => loadArtifact(dir)
    const processed = await Promise.all(settings.run.map(load))
    const ingested = await Promise.all(settings.ingest.map(load))
    const streams = settings.gateway
      ? streamCatalogOrUsage([...processed, ...ingested], settings.keyFields)
      : null
    const adminToken =
      settings.adminTokenFile === undefined ? undefined : await readToken(settings.adminTokenFile)
    const states: StateChoice[] = []
    const closeStates = async () => {
      for (const state of states) await state.stateStore?.close()
    }
    try {
      for (const artifact of processed)
        states.push(await stateOptions({ ...values, ...settings.log }, artifact))
    } catch (error) {
      await closeStates()
      throw error
    }
    const consumer = { ...consumerTiming(values), ...nodeIdentity(values['node-id'], process.env) }
    const interrupted = new AbortController()
    void io.interrupted.then(() => interrupted.abort())
    const opened = await waitForLog(
      () =>
        openLog(
          { ...values, ...settings.log },
          { logger, logLevel: logging.level, clientId: 'sluice-serve', consumer },
        ),
      logger,
      interrupted.signal,
    ).catch(async (error: unknown) => {
      await closeStates()
      throw error
    })
    if (opened === null) {
      await closeStates()
      return 0
    }
    const { log, describe } = opened
    const metrics = new SharedMetricsRegistry({
      processMetrics: true,
      onCollectError: (metric, error) =>
        logger.warn('metric left out of a scrape', { metric, error: String(error) }),
    })
    const runners: PipelineRunner[] = []
    let gateway: Gateway | null = null
    let grpcGateway: GrpcGateway | null = null
    let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | null = null
    const started = performance.now()
    let failure: unknown = null
    try {
      if (settings.metricsPort !== null) {
        metricsServer = await serveMetrics(metrics, settings.metricsPort, settings.metricsHost, {
          onError: (error, context) => logger.warn('metrics server error', { context, error: String(error) }),
        })
      }
      const partitions = integerOption(values.partitions, 'partitions', 1)
      for (const stream of streams?.values() ?? []) await log.ensureTopic(stream.topic, { partitions })
      for (const [i, artifact] of processed.entries()) {
        runners.push(
          await startPipeline({
            log,
            artifact,
            metrics,
            logger,
            stdout: io.stdout,
            signal: interrupted.signal,
            values,
            state: states[i]!,
          }),
        )
      }
      if (settings.gateway && streams) {
        gateway = await Gateway.start({
          log,
          streams,
          metrics,
          logger,
          host: settings.gateway.host,
          port: settings.gateway.port,
          maxRequestBytes: settings.maxRequestBytes,
          maxWebSocketMessageBytes: settings.maxWebSocketMessageBytes,
          maxEventBytes: settings.maxEventBytes,
          maxInFlightBytes: settings.maxInFlightBytes,
          limits: settings.limits,
          ...(adminToken === undefined ? {} : { adminToken }),
          threads: {
            count: settings.gatewayThreads,
            artifactDirs: [...settings.run, ...settings.ingest],
            keyFields: settings.keyFields,
            ...(settings.gatewayWorkerHeapMb === undefined
              ? {}
              : { maxHeapMb: settings.gatewayWorkerHeapMb }),
          },
        })
        if (settings.grpc) {
          grpcGateway = await startGrpcGateway(gateway, {
            ...settings.grpc,
            maxRequestBytes: settings.maxRequestBytes,
          })
        }
      }
      logger.info('serving', {
        log: describe,
        gateway: gateway?.url ?? null,
        grpc: grpcGateway?.address ?? null,
        streams: streams ? [...streams.keys()] : [],
        pipelines: processed.map((a) => a.manifest.name),
        metrics: metricsServer?.url ?? null,
      })
      // Until asked to stop, or until a pipeline fails (then the node drains and exits 1).
      await Promise.race([io.interrupted, ...runners.map((r) => r.done)])
    } catch (error) {
      failure = error
    }
    logger.info('draining', { gateway: gateway !== null, pipelines: runners.length })
    try {
      await Promise.all([
        gateway?.drain(settings.drainTimeoutMs),
        grpcGateway?.close(settings.drainTimeoutMs),
      ])
      for (const runner of runners) await runner.stop()
      for (const runner of runners) await runner.done.catch((error: unknown) => (failure ??= error))
    } finally {
      await log.close()
      await closeStates()
      await metricsServer?.close()
    }
    if (failure !== null) throw failure
    writeSummary(metrics, performance.now() - started, logging, io)
    return 0
  },
}

/** The JSON configuration file (`--config`): every field optional, flags win. */
export interface ServeConfig {
  readonly gateway?: {
    readonly listen?: string
    readonly grpc?: string
    readonly keyFields?: Readonly<Record<string, string>>
    readonly maxRequestBytes?: number
    readonly maxWebSocketMessageBytes?: number
    readonly maxEventBytes?: number
    readonly maxInFlightBytes?: number
    readonly limits?: RateLimits
    readonly adminTokenFile?: string
    readonly drainTimeoutMs?: number
    readonly threads?: number
    /** As --gateway-worker-heap-mb. */
    readonly workerHeapMb?: number
  }
  readonly run?: readonly string[]
  readonly ingest?: readonly string[]
  readonly metrics?: { readonly port?: number; readonly host?: string }
  readonly log?: {
    readonly dataDir?: string
    readonly durability?: string
    readonly kafka?: string
    /** As --kafka-unknown-topic-wait. */
    readonly unknownTopicWaitMs?: number
  }
}

interface ServeSettings {
  readonly gateway: { readonly host: string; readonly port: number } | null
  readonly grpc: { readonly host: string; readonly port: number } | null
  readonly run: readonly string[]
  readonly ingest: readonly string[]
  readonly keyFields: Readonly<Record<string, string>>
  readonly maxRequestBytes: number
  readonly maxWebSocketMessageBytes: number
  readonly maxEventBytes: number
  readonly maxInFlightBytes: number
  readonly limits: RateLimits
  readonly adminTokenFile: string | undefined
  readonly drainTimeoutMs: number
  readonly gatewayThreads: number
  /** Each worker thread's V8 heap limit (MiB); undefined: Node's. */
  readonly gatewayWorkerHeapMb: number | undefined
  readonly metricsPort: number | null
  readonly metricsHost: string
  readonly log: {
    'data-dir'?: string
    durability?: string
    kafka?: string
    'kafka-unknown-topic-wait'?: string
  }
}

async function readConfig(file: string): Promise<ServeConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new UsageError(
      `cannot read --config ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    )
  }
  try {
    return JSON.parse(text) as ServeConfig
  } catch (error) {
    throw new UsageError(`--config ${file} is not JSON: ${(error as Error).message}`)
  }
}

/**
 * Flags over the configuration file, every value checked; all problems are reported together,
 * one per line, each naming the flag or the configuration field.
 */
export function serveSettings(values: Record<string, unknown>, config: unknown): ServeSettings {
  const problems: string[] = []
  const flag = (name: string) => values[name] as string | undefined
  const object = (value: unknown, path: string, known: readonly string[]): Record<string, unknown> => {
    if (value === undefined) return {}
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`config ${path}: expected a JSON object`)
      return {}
    }
    for (const name of Object.keys(value)) {
      if (!known.includes(name))
        problems.push(`config ${path}.${name}: unknown field (expected ${known.join(', ')})`)
    }
    return value as Record<string, unknown>
  }
  const root = object(config, '(top level)', ['gateway', 'run', 'ingest', 'metrics', 'log'])
  const gw = object(root.gateway, 'gateway', [
    'listen',
    'grpc',
    'keyFields',
    'maxRequestBytes',
    'maxWebSocketMessageBytes',
    'maxEventBytes',
    'maxInFlightBytes',
    'limits',
    'adminTokenFile',
    'drainTimeoutMs',
    'threads',
    'workerHeapMb',
  ])
  const metricsConfig = object(root.metrics, 'metrics', ['port', 'host'])
  const logConfig = object(root.log, 'log', ['dataDir', 'durability', 'kafka', 'unknownTopicWaitMs'])
  const strings = (value: unknown, path: string): string[] => {
    if (value === undefined) return []
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
      problems.push(`config ${path}: expected a list of artifact directories`)
      return []
    }
    return value as string[]
  }
  const string = (value: unknown, path: string): string | undefined => {
    if (value === undefined) return undefined
    if (typeof value !== 'string' || value.trim() === '') {
      problems.push(`config ${path}: expected a non-empty string`)
      return undefined
    }
    return value
  }
  const positive = (flagName: string, configValue: unknown, path: string, fallback: number): number => {
    const given = flag(flagName)
    if (given !== undefined) {
      const n = Number(given)
      if (!Number.isSafeInteger(n) || n < 1)
        problems.push(`--${flagName} must be a positive integer, got "${given}"`)
      return n
    }
    if (configValue === undefined) return fallback
    if (typeof configValue !== 'number' || !Number.isSafeInteger(configValue) || configValue < 1) {
      problems.push(`config ${path}: expected a positive integer, got ${JSON.stringify(configValue)}`)
      return fallback
    }
    return configValue
  }

  const run = [...((values.run as string[] | undefined) ?? []), ...strings(root.run, 'run')]
  const ingest = [...((values.ingest as string[] | undefined) ?? []), ...strings(root.ingest, 'ingest')]
  const address = (flagName: string, path: string): { host: string; port: number } | null => {
    const given = flag(flagName) ?? string(gw[path], `gateway.${path}`)
    if (given === undefined) return null
    const match = /^(?:(.+):)?(\d{1,5})$/.exec(given.trim())
    const port = match ? Number(match[2]) : Number.NaN
    if (!match || port > 65_535) {
      problems.push(
        `${flag(flagName) !== undefined ? `--${flagName}` : `config gateway.${path}`} "${given}": expected [HOST:]PORT, PORT from 0 to 65535`,
      )
      return null
    }
    return { host: match[1] ?? '127.0.0.1', port }
  }
  const listen = flag('gateway') ?? gw.listen
  const gateway = address('gateway', 'listen')
  const grpcAddress = address('grpc', 'grpc')
  if (grpcAddress !== null && listen === undefined)
    problems.push('--grpc serves the gateway over gRPC: give --gateway too')
  if (gateway === null && listen === undefined && run.length === 0) {
    problems.push('nothing to serve: give --gateway [HOST:]PORT, one or more --run ARTIFACT_DIR, or both')
  }
  if (gateway !== null && run.length === 0 && ingest.length === 0) {
    problems.push(
      'the gateway needs streams: give the artifacts whose sources it takes with --run or --ingest',
    )
  }
  if (gateway === null && ingest.length > 0) problems.push('--ingest is for the gateway: give --gateway too')
  if (values.group !== undefined && run.length > 1) {
    problems.push(
      '--group names one consumer group, but there are several --run artifacts (each gets sluice.<name>)',
    )
  }
  try {
    checkGroup(values.group as string | undefined)
  } catch (error) {
    problems.push((error as Error).message)
  }

  const keyFields: Record<string, string> = {}
  const configKeys = object(
    gw.keyFields,
    'gateway.keyFields',
    Object.keys((gw.keyFields as object | undefined) ?? {}),
  )
  for (const [source, field] of Object.entries(configKeys)) {
    if (typeof field !== 'string' || field === '')
      problems.push(`config gateway.keyFields.${source}: expected a field name`)
    else keyFields[source] = field
  }
  for (const pair of (values['key-field'] as string[] | undefined) ?? []) {
    const equals = pair.indexOf('=')
    if (equals <= 0 || equals === pair.length - 1)
      problems.push(`--key-field "${pair}": expected SOURCE=FIELD`)
    else keyFields[pair.slice(0, equals)] = pair.slice(equals + 1)
  }

  let limits: RateLimits = {}
  if (gw.limits !== undefined) {
    try {
      limits = validateLimits(gw.limits, 'config gateway.limits')
    } catch (error) {
      problems.push((error as Error).message)
    }
  }
  const rate = (name: string): { eventsPerSecond: number; burst: number } | undefined => {
    const given = flag(name)
    if (given === undefined) return undefined
    const n = Number(given)
    if (!Number.isSafeInteger(n) || n < 1) {
      problems.push(`--${name} must be a positive integer of events per second, got "${given}"`)
      return undefined
    }
    return { eventsPerSecond: n, burst: n }
  }
  const streamRate = rate('stream-rate')
  const keyRate = rate('api-key-rate')
  limits = {
    ...limits,
    ...(streamRate ? { stream: streamRate } : {}),
    ...(keyRate ? { apiKey: keyRate } : {}),
  }

  let metricsPort: number | null = null
  try {
    metricsPort = portOption(flag('metrics-port'), 'metrics-port')
  } catch (error) {
    problems.push((error as Error).message)
  }
  if (metricsPort === null && metricsConfig.port !== undefined) {
    const port = metricsConfig.port
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) {
      problems.push(`config metrics.port: expected a port from 0 to 65535, got ${JSON.stringify(port)}`)
    } else metricsPort = port
  }
  const metricsHost = flag('metrics-host') ?? string(metricsConfig.host, 'metrics.host') ?? '127.0.0.1'
  if (metricsHost.trim() === '') problems.push('--metrics-host must not be empty')

  const kafka = flag('kafka') ?? string(logConfig.kafka, 'log.kafka')
  const dataDir = flag('data-dir') ?? string(logConfig.dataDir, 'log.dataDir')
  // The flag is checked with the other Kafka options when the log is opened (cli/open-log.ts).
  let unknownTopicWait = flag('kafka-unknown-topic-wait')
  const configWait = logConfig.unknownTopicWaitMs
  if (unknownTopicWait === undefined && configWait !== undefined) {
    if (
      typeof configWait !== 'number' ||
      !Number.isInteger(configWait) ||
      configWait < 0 ||
      configWait > 3_600_000
    )
      problems.push(
        `config log.unknownTopicWaitMs: expected whole milliseconds from 0 to 3600000, got ${JSON.stringify(configWait)}`,
      )
    else unknownTopicWait = String(configWait)
  }
  const usesKafka =
    kafka !== undefined || (dataDir === undefined && Boolean(process.env.SLUICE_KAFKA_BROKERS))
  // With the gateway on the embedded log, an acknowledgement means synced to disk unless asked otherwise.
  const durability =
    flag('durability') ??
    string(logConfig.durability, 'log.durability') ??
    (gateway !== null && !usesKafka && !process.env.SLUICE_DURABILITY ? 'batch' : undefined)

  const maxRequestBytes = positive(
    'max-request-bytes',
    gw.maxRequestBytes,
    'gateway.maxRequestBytes',
    GATEWAY_DEFAULTS.maxRequestBytes,
  )
  const gatewayThreads = positive('gateway-threads', gw.threads, 'gateway.threads', defaultGatewayThreads())
  const settings: ServeSettings = {
    gateway,
    grpc: grpcAddress,
    run,
    ingest,
    keyFields,
    maxRequestBytes,
    maxWebSocketMessageBytes: positive(
      'max-ws-message-bytes',
      gw.maxWebSocketMessageBytes,
      'gateway.maxWebSocketMessageBytes',
      WS_HARD_CAP_FACTOR * maxRequestBytes,
    ),
    maxEventBytes: positive(
      'max-event-bytes',
      gw.maxEventBytes,
      'gateway.maxEventBytes',
      GATEWAY_DEFAULTS.maxEventBytes,
    ),
    maxInFlightBytes: positive(
      'max-in-flight-bytes',
      gw.maxInFlightBytes,
      'gateway.maxInFlightBytes',
      GATEWAY_DEFAULTS.maxInFlightBytes,
    ),
    limits,
    adminTokenFile: flag('admin-token-file') ?? string(gw.adminTokenFile, 'gateway.adminTokenFile'),
    drainTimeoutMs: positive(
      'drain-timeout',
      gw.drainTimeoutMs,
      'gateway.drainTimeoutMs',
      DEFAULT_DRAIN_TIMEOUT_MS,
    ),
    gatewayThreads,
    gatewayWorkerHeapMb: workerHeapMb(flag('gateway-worker-heap-mb'), gw.workerHeapMb, problems),
    metricsPort,
    metricsHost,
    log: {
      ...(kafka === undefined ? {} : { kafka }),
      ...(dataDir === undefined ? {} : { 'data-dir': dataDir }),
      ...(durability === undefined ? {} : { durability }),
      ...(unknownTopicWait === undefined ? {} : { 'kafka-unknown-topic-wait': unknownTopicWait }),
    },
  }
  if (settings.maxEventBytes > settings.maxRequestBytes) {
    problems.push(
      `the largest event (${settings.maxEventBytes} bytes) cannot be larger than the largest request (${settings.maxRequestBytes})`,
    )
  }
  if (settings.maxWebSocketMessageBytes < settings.maxRequestBytes) {
    problems.push(
      `the hard cap on a WebSocket message (${settings.maxWebSocketMessageBytes} bytes) cannot be below the largest request (${settings.maxRequestBytes})`,
    )
  }
  if (settings.maxRequestBytes > settings.maxInFlightBytes) {
    problems.push(
      `the largest request (${settings.maxRequestBytes} bytes) cannot be larger than the bytes in flight (${settings.maxInFlightBytes})`,
    )
  }
  const threadsGiven = flag('gateway-threads') !== undefined || gw.threads !== undefined
  if (settings.gatewayWorkerHeapMb !== undefined && threadsGiven && gatewayThreads === 1)
    problems.push(
      'the worker heap limit (--gateway-worker-heap-mb, gateway.workerHeapMb) limits worker threads, and 1 gateway thread (--gateway-threads, gateway.threads) serves in the main thread: give 2 or more threads, or drop the heap limit',
    )
  if (problems.length === 1) throw new UsageError(problems[0]!)
  if (problems.length > 1) throw new UsageError(`${problems.length} problems:\n  ${problems.join('\n  ')}`)
  return settings
}

/** --gateway-worker-heap-mb over config gateway.workerHeapMb, checked; undefined when neither is given. */
function workerHeapMb(
  given: string | undefined,
  configValue: unknown,
  problems: string[],
): number | undefined {
  const { min, max } = WORKER_HEAP_MB
  const inRange = (n: unknown): n is number =>
    typeof n === 'number' && Number.isSafeInteger(n) && n >= min && n <= max
  if (given !== undefined) {
    const n = /^\s*\d+\s*$/.test(given) ? Number(given) : Number.NaN
    if (inRange(n)) return n
    problems.push(`--gateway-worker-heap-mb must be whole MiB from ${min} to ${max}, got "${given}"`)
    return undefined
  }
  if (configValue === undefined) return undefined
  if (inRange(configValue)) return configValue
  problems.push(
    `config gateway.workerHeapMb: expected whole MiB from ${min} to ${max}, got ${JSON.stringify(configValue)}`,
  )
  return undefined
}

/**
 * Worker threads for the gateway unless told: one per core but one, which the main thread keeps
 * for the log and the pipelines; on two cores or fewer none (1: the gateway in the main thread),
 * because a worker costs more CPU per request than it frees there (docs/decisions/0030-gateway-threads.md).
 */
export function defaultGatewayThreads(cores = availableParallelism()): number {
  return cores > 2 ? cores - 1 : 1
}

function streamCatalogOrUsage(
  artifacts: readonly LoadedArtifact[],
  keyFields: Readonly<Record<string, string>>,
) {
  try {
    return streamCatalog(artifacts, keyFields)
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

async function readToken(file: string): Promise<string> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new UsageError(
      `cannot read the admin token file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    )
  }
  const token = text.split(/\r?\n/, 1)[0]!
  if (token === '') throw new UsageError(`the admin token file ${file}: the first line is empty`)
  return token
}
