import { loadArtifact } from '../../runtime/artifact/load.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { serveMetrics } from '../../runtime/metrics/serve.ts'
import { DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { formatLogRecord } from '../../runtime/observability/logger.ts'
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
import { formatMs } from '../progress.ts'

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
  --metrics-port PORT   serve Prometheus metrics on http://127.0.0.1:PORT/metrics
  -h, --help            show this help`,
  async run(argv, io) {
    const { positionals, values } = parse(argv, {
      ...LOG_OPTIONS,
      group: { type: 'string' },
      partitions: { type: 'string' },
      'dead-letter-topic': { type: 'string' },
      'until-caught-up': { type: 'boolean' },
      'metrics-port': { type: 'string' },
    })
    if (positionals.length !== 1) throw new UsageError('sluice run takes exactly one artifact directory')
    const logging = loggingOptions(values, io)
    const logger = commandLogger(logging, io)
    const artifact = await loadArtifact(positionals[0]!)
    // The client id names the pipeline, like the default group, so brokers' logs and quotas tell
    // pipelines apart.
    const { log, describe } = await openLog(values, {
      logger,
      logLevel: logging.level,
      clientId: `sluice.${artifact.manifest.name}`,
    })
    const metrics = new MetricsRegistry()
    const server =
      values['metrics-port'] === undefined
        ? null
        : await serveMetrics(metrics, integerOption(values['metrics-port'], 'metrics-port', 0))
    const started = performance.now()
    try {
      const runner = await PipelineRunner.start({
        log,
        artifact,
        metrics,
        logger,
        stdout: io.stdout,
        partitions: integerOption(values.partitions, 'partitions', 1),
        ...(values.group ? { group: values.group } : {}),
        ...(values['dead-letter-topic'] ? { deadLetterTopic: values['dead-letter-topic'] } : {}),
      })
      logger.info('running', {
        artifact: artifact.manifest.name,
        log: describe,
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
      await server?.close()
    }
    const count = (name: string) => metrics.find(name)?.total() ?? 0
    const ms = performance.now() - started
    const [eventsIn, eventsOut, deadLetters] = [
      count('sluice_events_in_total'),
      count('sluice_events_out_total'),
      count('sluice_dead_letters_total'),
    ]
    const summary = `processed ${eventsIn} events in ${formatMs(ms)}: ${eventsOut} written, ${deadLetters} dead-lettered`
    // Written whatever the log level (it is the command's result), in the chosen log format.
    io.stderr(
      logging.format === 'json'
        ? formatLogRecord('json', 'info', summary, {
            eventsIn,
            eventsOut,
            deadLetters,
            durationMs: Math.round(ms),
          })
        : `${summary}\n`,
    )
    return 0
  },
}
