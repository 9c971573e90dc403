/**
 * Runs one loaded artifact against a log: subscribes to the source topics, and for every batch of
 * log records decodes them, pushes the decoded batch through the fused chains of the operator
 * graph, appends the sinks' output and the dead letters, and only then lets the log commit the
 * batch's offsets. A crash between the appends and the commit replays the batch (at-least-once;
 * exactly-once arrives with transactional epochs, docs/architecture.md).
 *
 * Bad input never stops the pipeline and is never lost: a record that is not JSON, does not match
 * its schema, or fails while evaluating an expression goes to the dead-letter topic with the
 * original bytes and headers naming the reason, the `.pipe` location and where it came from.
 */
import { EvaluationError } from '../../stdlib/eval-error.ts'
import type { LoadedArtifact } from '../artifact/load.ts'
import type { Connector, GraphNode } from '../artifact/manifest.ts'
import { type ChainError, createEventBatch, type EventBatch } from '../artifact/operators.ts'
import { SluiceError } from '../errors.ts'
import type { Log, LogRecord, OutgoingRecord, RecordBatch, Subscription } from '../log/index.ts'
import type { Counter, Gauge, Histogram, MetricsRegistry } from '../metrics/registry.ts'
import { type Logger, silentLogger } from '../observability/logger.ts'

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
}

interface RunnerMetrics {
  readonly eventsIn: Counter
  readonly eventsOut: Counter
  readonly deadLetters: Counter
  readonly batchSeconds: Histogram
  readonly watermark: Gauge
}

type Stage = 'decode' | 'evaluate' | 'encode'

/** A dead letter on its way out: the original record and why it failed. */
interface DeadLetter {
  readonly record: LogRecord
  readonly stage: Stage
  readonly reason: string
  readonly location: string | null
}

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
  private readonly maxEventTime = new Map<string, number>()
  private readonly metrics: RunnerMetrics
  private readonly logger: Logger
  private readonly write: (text: string) => void

  private constructor(private readonly options: PipelineRunnerOptions) {
    const { manifest } = options.artifact
    this.group = options.group ?? `sluice.${manifest.name}`
    this.deadLetterTopic = options.deadLetterTopic ?? DEFAULT_DEAD_LETTER_TOPIC
    this.logger = (options.logger ?? silentLogger).child({ artifact: manifest.name })
    this.write = options.stdout ?? ((text) => process.stdout.write(text))
    for (const node of manifest.graph.nodes) {
      this.consumers.set(node.id, [])
      if (node.kind !== 'Source') {
        this.consumers.get(node.input)!.push(node)
        this.buffers.set(node.id, createEventBatch())
      }
    }
    for (const node of manifest.graph.nodes) {
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
    const m = options.metrics
    this.metrics = {
      eventsIn: m.counter('sluice_events_in_total', 'Records read from source topics.'),
      eventsOut: m.counter('sluice_events_out_total', 'Events written by sinks.'),
      deadLetters: m.counter('sluice_dead_letters_total', 'Records sent to the dead-letter topic, by stage.'),
      batchSeconds: m.histogram(
        'sluice_batch_processing_seconds',
        'Time to decode, process and write one batch of records.',
        [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      ),
      watermark: m.gauge(
        'sluice_watermark_ms',
        'Watermark per source: largest event time seen minus the declared delay.',
      ),
    }
  }

  /** Creates the topics the artifact uses and starts consuming. */
  static async start(options: PipelineRunnerOptions): Promise<PipelineRunner> {
    const runner = new PipelineRunner(options)
    await runner.subscribe()
    return runner
  }

  /** The source topics, in manifest order. */
  get sourceTopics(): string[] {
    return [...this.sourcesByTopic.keys()]
  }

  /** Resolves when the subscription ends (after stop), rejects if processing failed. */
  get done(): Promise<void> {
    return this.subscription?.done ?? Promise.resolve()
  }

  /** Stops consuming after the batch in flight, whose output and offsets are then written. */
  async stop(): Promise<void> {
    await this.subscription?.stop()
  }

  /**
   * Resolves once the group's committed offsets reached the end of every source partition, i.e.
   * everything appended so far has been processed and its output written.
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
    for (const topic of this.sourceTopics) {
      const [ends, committed] = await Promise.all([
        this.options.log.endOffsets(topic),
        this.options.log.committedOffsets(this.group, topic),
      ])
      if (ends.some((end, p) => end > 0 && (committed[p] ?? -1) < end)) return false
    }
    return true
  }

  private async subscribe(): Promise<void> {
    const { log, artifact } = this.options
    const config = { partitions: this.options.partitions ?? 1 }
    const topics = new Set<string>([...this.sourcesByTopic.keys(), this.deadLetterTopic])
    for (const node of artifact.manifest.graph.nodes) {
      if (node.kind === 'Sink' && node.connector.kind === 'kafka') topics.add(node.connector.topic)
    }
    for (const topic of topics) await log.ensureTopic(topic, config)
    this.subscription = await log.subscribe(
      {
        group: this.group,
        topics: this.sourceTopics,
        fromBeginning: true,
        ...(this.options.maxBatchRecords ? { maxBatchRecords: this.options.maxBatchRecords } : {}),
      },
      (batch) => this.processBatch(batch),
    )
    this.logger.info('pipeline started', {
      group: this.group,
      topics: this.sourceTopics,
      hash: artifact.manifest.contentHash,
    })
  }

  /** Decode → chains → sinks for one batch of log records; resolves once all output is appended. */
  private async processBatch(batch: RecordBatch): Promise<void> {
    const started = performance.now()
    const outputs = new Map<string, OutgoingRecord[]>()
    const deadLetters: DeadLetter[] = []
    for (const { node, delayMs } of this.sourcesByTopic.get(batch.topic) ?? []) {
      const decoded = this.decode(node, batch.records, deadLetters)
      this.trackWatermark(node.name, decoded, delayMs)
      this.push(node.id, decoded, batch.records, outputs, deadLetters)
    }
    const appends: Promise<unknown>[] = []
    for (const [topic, records] of outputs) {
      if (records.length > 0) appends.push(this.options.log.append(topic, records))
    }
    if (deadLetters.length > 0) {
      // Decode failures are found before evaluation failures; write them in source order.
      deadLetters.sort((a, b) => a.record.offset - b.record.offset)
      appends.push(
        this.options.log.append(
          this.deadLetterTopic,
          deadLetters.map((d) => this.deadLetterRecord(d)),
        ),
      )
    }
    await Promise.all(appends)
    this.metrics.batchSeconds.observe((performance.now() - started) / 1000)
  }

  private decode(
    node: GraphNode & { kind: 'Source' },
    records: readonly LogRecord[],
    deadLetters: DeadLetter[],
  ): EventBatch {
    const source = this.options.artifact.operators.sources[node.name]!
    const out = createEventBatch(records.length)
    let n = 0
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!
      let row: unknown
      try {
        row = source.decode(JSON.parse(record.value.toString('utf8')))
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
    this.metrics.watermark.set(max - delayMs, { source })
  }

  private push(
    nodeId: string,
    batch: EventBatch,
    records: readonly LogRecord[],
    outputs: Map<string, OutgoingRecord[]>,
    deadLetters: DeadLetter[],
  ): void {
    for (const consumer of this.consumers.get(nodeId) ?? []) {
      if (consumer.kind === 'Fused') {
        const output = this.buffers.get(consumer.id)!
        const errors: ChainError[] = []
        this.options.artifact.operators.chains[consumer.id]!(batch, output, errors)
        for (const failure of errors) {
          deadLetters.push({
            record: records[batch.origins[failure.index]!]!,
            stage: 'evaluate',
            reason: errorMessage(failure.error),
            location: this.location(
              failure.error instanceof EvaluationError && failure.error.site >= 0
                ? failure.error.site
                : failure.site,
            ),
          })
        }
        this.push(consumer.id, output, records, outputs, deadLetters)
      } else if (consumer.kind === 'Sink') {
        this.sink(consumer, batch, records, outputs, deadLetters)
      }
    }
  }

  private sink(
    node: GraphNode & { kind: 'Sink' },
    batch: EventBatch,
    records: readonly LogRecord[],
    outputs: Map<string, OutgoingRecord[]>,
    deadLetters: DeadLetter[],
  ): void {
    const { encode } = this.options.artifact.operators.sinks[node.id]!
    // One headers object for every output record of the batch (headers are read-only).
    const headers = { [ARTIFACT_HEADER]: this.options.artifact.manifest.contentHash }
    const toStdout = node.connector.kind === 'stdout'
    const topic = node.connector.kind === 'kafka' ? node.connector.topic : ''
    const out = toStdout ? [] : (outputs.get(topic) ?? [])
    let text = ''
    let written = 0
    for (let i = 0; i < batch.length; i++) {
      let json: string
      try {
        json = encode(batch.values[i] as never)
      } catch (error) {
        deadLetters.push({
          record: records[batch.origins[i]!]!,
          stage: 'encode',
          reason: errorMessage(error),
          location: null,
        })
        continue
      }
      written++
      if (toStdout) text += `${json}\n`
      else {
        out.push({
          key: batch.keys[i]!,
          value: Buffer.from(json),
          timestamp: batch.timestamps[i]!,
          headers,
        })
      }
    }
    if (toStdout && text.length > 0) this.write(text)
    if (!toStdout) outputs.set(topic, out)
    this.metrics.eventsOut.labels({ sink: node.id }).inc(written)
  }

  private location(site: number): string | null {
    const s = this.options.artifact.manifest.sites[site]
    return s ? `${s.file}:${s.line}:${s.column}` : null
  }

  private deadLetterRecord(dead: DeadLetter): OutgoingRecord {
    this.metrics.deadLetters.labels({ stage: dead.stage }).inc()
    const { record } = dead
    const reason = dead.location ? `${dead.reason} (at ${dead.location})` : dead.reason
    this.logger.warn('event dead-lettered', {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      reason,
    })
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

function topicOf(connector: Connector, what: string): string {
  if (connector.kind !== 'kafka') throw new Error(`${what}: a source must read a kafka("topic") connector`)
  return connector.topic
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
