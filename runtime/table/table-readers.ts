/**
 * The tables of one running artifact: a TableReader per table its lookups read, and the lookups
 * themselves. The runner (runtime/node/pipeline-runner.ts) makes one, catches every table up
 * before it subscribes to its sources, lets them follow their topics while it runs, runs its
 * `Lookup` nodes through `lookup()`, and stops them when it stops.
 */
import type { LoadedArtifact } from '../artifact/load.ts'
import type { LookupGraphNode } from '../artifact/manifest.ts'
import type { ChainError, EventBatch } from '../artifact/operators.ts'
import { SluiceError } from '../errors.ts'
import type { Log, LogRecord } from '../log/index.ts'
import type { Backoff } from '../log/retry.ts'
import type { Counter, MetricsRegistry } from '../metrics/registry.ts'
import type { Logger } from '../observability/logger.ts'
import type { EntryBudgetLimits } from '../state/entry-budget.ts'
import { TableReader, type TableReaderMetrics } from './table-reader.ts'

export interface TableReadersOptions {
  readonly log: Pick<Log, 'ensureTopic' | 'endOffsets' | 'read'>
  readonly artifact: LoadedArtifact
  readonly metrics: MetricsRegistry
  /** Called (and awaited) for each table record that no row can be made of (see TableReader). */
  readonly onMalformed: (record: LogRecord, reason: string, site?: number) => Promise<void>
  /** Partitions of a table topic the node creates because it does not exist yet. */
  readonly partitions?: number
  readonly pollIntervalMs?: number
  /** The node's state budget, which bounds each table as a whole (runtime/table/table-rows.ts). */
  readonly budget?: EntryBudgetLimits
  readonly backoff?: Backoff
  readonly logger?: Logger
}

export class TableReaders {
  private readonly readers = new Map<string, TableReader>()
  private readonly topics = new Map<string, string>()
  /** Null when the artifact looks nothing up (then no table metric is registered either). */
  private readonly misses: Counter | null = null

  constructor(private readonly options: TableReadersOptions) {
    const { manifest, operators } = options.artifact
    const lookups = manifest.graph.nodes.filter((n) => n.kind === 'Lookup')
    if (lookups.length === 0) return
    const m = options.metrics
    const rows = m.gauge('sluice_table_rows', 'Rows a table holds (the latest row per key), by table.')
    const lag = m.gauge(
      'sluice_table_lag_records',
      "Records of a table's topic not read yet, by table, as of its last read.",
    )
    const updates = m.counter(
      'sluice_table_updates_total',
      'Table records applied (a row set or deleted), by table; refused ones are dead-lettered.',
    )
    this.misses = m.counter(
      'sluice_lookup_misses_total',
      'Events a lookup found no row for (an inner lookup drops them, a left one adds null), by lookup.',
    )
    const metrics: TableReaderMetrics = {
      applied: (table) => updates.labels({ table }).inc(),
      held: (table, count, behind) => {
        rows.set(count, { table })
        lag.set(behind, { table })
      },
    }
    for (const node of lookups) {
      const table = manifest.graph.tables?.[node.table]
      const functions = operators.tables?.[node.table]
      if (table === undefined || functions === undefined || operators.lookups?.[node.id] === undefined) {
        throw new SluiceError(
          'ARTIFACT_INVALID',
          `the artifact's module has no functions for lookup ${node.id} or its table ${node.table}`,
        )
      }
      if (this.readers.has(node.table)) continue
      this.topics.set(node.table, table.connector.topic)
      this.readers.set(
        node.table,
        new TableReader({
          log: options.log,
          name: node.table,
          topic: table.connector.topic,
          functions,
          // A lookup `as of` a time reads versions, which only then are kept.
          versioned: lookups.some((n) => n.table === node.table && n.asOf != null),
          onMalformed: options.onMalformed,
          metrics,
          ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
          ...(options.budget ? { budget: options.budget } : {}),
          ...(options.backoff ? { backoff: options.backoff } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
        }),
      )
    }
  }

  /** Whether the artifact looks anything up. */
  get empty(): boolean {
    return this.readers.size === 0
  }

  /**
   * Creates missing table topics and reads every table up to its end offsets at the first call;
   * a call after a failure (an unavailable log) goes on where it stopped.
   */
  async catchUp(): Promise<void> {
    for (const [name, reader] of this.readers) {
      await this.options.log.ensureTopic(this.topics.get(name)!, { partitions: this.options.partitions ?? 1 })
      await reader.catchUp()
    }
  }

  /** Lets every table follow its topic in the background. */
  follow(): void {
    for (const reader of this.readers.values()) reader.follow()
  }

  async stop(): Promise<void> {
    await Promise.all([...this.readers.values()].map((reader) => reader.stop()))
  }

  /** Runs lookup `node` on `input` against its table's rows as they are now. */
  lookup(node: LookupGraphNode, input: EventBatch, output: EventBatch, errors: ChainError[]): void {
    const reader = this.readers.get(node.table)!
    const misses = this.options.artifact.operators.lookups![node.id]!(input, output, errors, reader.rows)
    if (misses > 0) this.misses?.labels({ lookup: node.id }).inc(misses)
  }
}
