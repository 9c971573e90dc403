import { loadArtifact } from '../../runtime/artifact/load.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { serveMetrics } from '../../runtime/metrics/serve.ts'
import { DEFAULT_DEAD_LETTER_TOPIC } from '../../runtime/node/pipeline-runner.ts'
import { commandLogger, LOG_OPTIONS, LOG_OPTIONS_HELP, loggingOptions, parse, UsageError } from '../args.ts'
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
import { STATE_OPTIONS, STATE_OPTIONS_HELP, stateOptions } from '../state-options.ts'
import { waitForLog } from '../wait-for-log.ts'

export const run: Command = {
  name: 'run',
  summary: 'run a compiled artifact against the embedded log or Kafka',
  help: `Usage: sluice run ARTIFACT_DIR [options]

Runs the artifact's pipeline: consumes its source topics in a consumer group, writes its sinks,
and sends events that cannot be decoded or evaluated to the dead-letter topic with the reason.
Stops cleanly on Ctrl-C / SIGTERM: the batch in flight is finished and its offsets committed.

Options:
${LOG_OPTIONS_HELP}
  --group NAME          consumer group (default: sluice.<artifact name>)
  --partitions N        partitions of topics the node creates (default: 1)
  --dead-letter-topic T dead-letter topic (default: ${DEFAULT_DEAD_LETTER_TOPIC})
  --until-caught-up     stop once everything already in the source topics is processed
${STATE_OPTIONS_HELP}
  --metrics-port PORT   serve Prometheus metrics on http://HOST:PORT/metrics (0: any free port)
  --metrics-host HOST   address the metrics server listens on (default: 127.0.0.1; 0.0.0.0: all)
  --kafka-session-timeout MS
                        Kafka: how long the group waits for a member that stopped heartbeating
                        (killed, cut off) before its partitions move to the others (default: 6000,
                        the broker's minimum unless group.min.session.timeout.ms is lowered)
  --kafka-heartbeat-interval MS
                        Kafka: heartbeat interval, under a third of the session timeout (default: 1000)
  --commit-interval MS  Kafka, at-least-once without state: longest a processed batch waits for
                        its offset commit (default: 250; 0: after every batch). A crash replays
                        at most this much; a clean stop or a rebalance commits everything first
  --node-id ID          Kafka: this node's stable identity (also $SLUICE_NODE_ID): restarted under
                        the same id, it takes its partitions back at once instead of after the
                        session timeout, and reads their state (--state redis://) while it
                        rejoins. Two running nodes must never share one.
  -h, --help            show this help

While the log is unavailable (a broker restart, a network blip) the node keeps trying with
back-off, reports sluice_ready 0 and logs one warning per outage, and goes on where it stopped.`,
  async run(argv, io) {
    const { positionals, values } = parse(argv, {
      ...LOG_OPTIONS,
      ...STATE_OPTIONS,
      ...RUNNER_OPTIONS,
      'until-caught-up': { type: 'boolean' },
    })
    if (positionals.length !== 1) throw new UsageError('sluice run takes exactly one artifact directory')
    checkGroup(values.group)
    const metricsPort = portOption(values['metrics-port'], 'metrics-port')
    const metricsHost = values['metrics-host'] ?? '127.0.0.1'
    if (metricsHost.trim() === '') throw new UsageError('--metrics-host must not be empty')
    const logging = loggingOptions(values, io)
    const logger = commandLogger(logging, io)
    const artifact = await loadArtifact(positionals[0]!)
    const state = await stateOptions(values, artifact)
    // Start-up phases with the time since the process started: where a restart's time goes.
    if (state.stateStore) logger.info('state store connected', { state: state.describe, atMs: sinceStart() })
    const consumer = { ...consumerTiming(values), ...nodeIdentity(values['node-id'], process.env) }
    // Stops the waiting for an unavailable log (at start-up or later) on Ctrl-C / SIGTERM.
    const interrupted = new AbortController()
    void io.interrupted.then(() => interrupted.abort())
    const opened = await waitForLog(
      () =>
        openLog(values, {
          logger,
          logLevel: logging.level,
          // The client id names the pipeline, like the default group, so brokers' logs and quotas
          // tell pipelines apart.
          clientId: `sluice.${artifact.manifest.name}`,
          consumer,
        }),
      logger,
      interrupted.signal,
    )
    if (opened === null) {
      await state.stateStore?.close()
      return 0
    }
    const { log, describe } = opened
    logger.info('log connected', { log: describe, atMs: sinceStart() })
    // Process metrics and sluice_build_info too: this registry is the one the process serves.
    const metrics = new MetricsRegistry({
      processMetrics: true,
      onCollectError: (metric, error) =>
        logger.warn('metric left out of a scrape', { metric, error: String(error) }),
    })
    const server =
      metricsPort === null
        ? null
        : await serveMetrics(metrics, metricsPort, metricsHost, {
            onError: (error, context) =>
              logger.warn('metrics server error', { context, error: String(error) }),
          }).catch(async (error: unknown) => {
            await log.close()
            await state.stateStore?.close()
            throw error
          })
    const started = performance.now()
    try {
      const runner = await startPipeline({
        log,
        artifact,
        metrics,
        logger,
        stdout: io.stdout,
        signal: interrupted.signal,
        values,
        state,
      })
      logger.info('running', {
        artifact: artifact.manifest.name,
        log: describe,
        delivery: state.delivery,
        state: state.describe,
        metrics: server?.url ?? null,
      })
      if (values['until-caught-up']) {
        await Promise.race([runner.waitUntilCaughtUp(10 * 60_000), io.interrupted])
      } else {
        await Promise.race([runner.done, io.interrupted])
      }
      await runner.stop()
      await runner.done
    } finally {
      await log.close()
      await state.stateStore?.close()
      await server?.close()
    }
    writeSummary(metrics, performance.now() - started, logging, io)
    return 0
  },
}

/** Milliseconds since the process started (performance's time origin), for start-up phase lines. */
function sinceStart(): number {
  return Math.round(performance.now())
}

// Kept importable from here: tests and other commands named it before it moved.
export { nodeIdentity }
