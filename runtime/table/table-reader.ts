/**
 * Reads one table's changelog topic into its rows (table-rows.ts), as Kafka Streams reads a
 * GlobalKTable: every node reads every partition of the topic in full, whatever source partitions
 * it owns, so a lookup never depends on partitioning (docs/decisions/0021-stream-table-lookup.md).
 *
 * - `catchUp()` reads every partition from offset 0 up to the end offsets the log gave when it was
 *   first called (from where it stopped, if called again after a failure), and resolves once all
 *   are read. The runner calls it before it subscribes to its sources, so no event is processed
 *   before the table holds the whole topic as it was at start.
 * - `follow()` then polls for new records every `pollIntervalMs` in the background; a failing
 *   poll (an unavailable log) is logged and tried again with back-off, never a crash.
 * - `stop()` ends the polling and waits for the poll in flight.
 *
 * A record the table refuses goes to `onMalformed` with the reason (the runner dead-letters it);
 * since the table is read from the start at every start, such a record is reported again each
 * time a node starts.
 *
 * Offsets may have gaps (compaction, aborted transactions): a read that returns nothing below the
 * end offset means the rest up to it holds no record, and the reader moves on to that offset.
 */
import type { TableFunctions } from '../artifact/operators.ts'
import type { Log, LogRecord } from '../log/index.ts'
import { type Backoff, backoffDelay, DEFAULT_BACKOFF, sleep } from '../log/retry.ts'
import { type Logger, silentLogger } from '../observability/logger.ts'
import type { EntryBudgetLimits } from '../state/entry-budget.ts'
import { type TableChange, TableRows } from './table-rows.ts'

/** How the reader reports what it does; table-readers.ts binds it to the node's metrics. */
export interface TableReaderMetrics {
  /** A record changed the rows (set or deleted one). */
  applied(table: string): void
  /** The rows held, and the records of the topic not read yet as of the last read. */
  held(table: string, rows: number, lagRecords: number): void
}

export interface TableReaderOptions {
  readonly log: Pick<Log, 'endOffsets' | 'read'>
  /** The table's name in the `.pipe`, for metrics and logs. */
  readonly name: string
  readonly topic: string
  readonly functions: TableFunctions
  /**
   * Called (and awaited) for each record the table refuses; `site` is the manifest site of the key
   * expression when evaluating it failed.
   */
  readonly onMalformed: (record: LogRecord, reason: string, site?: number) => Promise<void>
  /** How often `follow()` looks for new records. Default 1000 ms. */
  readonly pollIntervalMs?: number
  /** Records per read. Default 1000. */
  readonly maxBatchRecords?: number
  /** Whether to keep every version of each key (a lookup `as of` a time reads the table). */
  readonly versioned?: boolean
  /** The node's state budget: a record that would add a key (a version) to a full table is refused. */
  readonly budget?: EntryBudgetLimits
  /** Back-off after a failed poll. Default: 200 ms doubling up to 5 s. */
  readonly backoff?: Backoff
  readonly metrics?: TableReaderMetrics
  readonly logger?: Logger
}

export const DEFAULT_TABLE_POLL_INTERVAL_MS = 1000

export class TableReader {
  readonly rows: TableRows
  /** The next offset to read, per partition. */
  private readonly next: number[] = []
  /** The end offsets of the catch-up, fixed by its first call. */
  private startEnds: number[] | null = null
  private readonly stopping = new AbortController()
  private following: Promise<void> | null = null
  private readonly logger: Logger

  constructor(private readonly options: TableReaderOptions) {
    this.rows = new TableRows(options.functions, {
      versioned: options.versioned ?? false,
      name: options.name,
      ...(options.budget ? { budget: options.budget } : {}),
    })
    this.logger = (options.logger ?? silentLogger).child({ table: options.name, topic: options.topic })
  }

  /** Reads the topic up to its end offsets at the first call; resumes where a failed call stopped. */
  async catchUp(): Promise<void> {
    this.startEnds ??= await this.options.log.endOffsets(this.options.topic)
    await this.readUpTo(this.startEnds)
    this.logger.info('table loaded', { rows: this.rows.size })
  }

  /** Starts polling for new records in the background (after `catchUp`). */
  follow(): void {
    if (this.following !== null || this.stopping.signal.aborted) return
    this.following = this.pollLoop()
  }

  /** Stops polling; resolves once the poll in flight has ended. Idempotent. */
  async stop(): Promise<void> {
    this.stopping.abort()
    await this.following
  }

  /** Reads every partition up to `ends` (partitions beyond `ends` are left for later). */
  private async readUpTo(ends: readonly number[]): Promise<void> {
    const { log, topic } = this.options
    const max = this.options.maxBatchRecords ?? 1000
    for (let partition = 0; partition < ends.length; partition++) {
      const end = ends[partition]!
      while ((this.next[partition] ?? 0) < end) {
        if (this.stopping.signal.aborted) return
        const from = this.next[partition] ?? 0
        const records = await log.read(topic, partition, from, Math.min(max, end - from))
        if (records.length === 0) {
          // Nothing readable below the end: a gap (compaction, an aborted transaction).
          this.next[partition] = end
          break
        }
        for (const record of records) await this.apply(record)
        this.next[partition] = records.at(-1)!.offset + 1
      }
    }
    this.report(ends)
  }

  private async apply(record: LogRecord): Promise<void> {
    const change: TableChange = this.rows.apply(record)
    if (change.kind === 'refused') await this.options.onMalformed(record, change.reason, change.site)
    else this.options.metrics?.applied(this.options.name)
  }

  private report(ends: readonly number[]): void {
    let lag = 0
    ends.forEach((end, p) => {
      lag += Math.max(0, end - (this.next[p] ?? 0))
    })
    this.options.metrics?.held(this.options.name, this.rows.size, lag)
  }

  private async pollLoop(): Promise<void> {
    const { signal } = this.stopping
    const interval = this.options.pollIntervalMs ?? DEFAULT_TABLE_POLL_INTERVAL_MS
    let failures = 0
    while (!signal.aborted) {
      await sleep(
        failures === 0 ? interval : backoffDelay(failures, this.options.backoff ?? DEFAULT_BACKOFF),
        signal,
      )
      if (signal.aborted) return
      try {
        await this.readUpTo(await this.options.log.endOffsets(this.options.topic))
        if (failures > 0) this.logger.info('table updates readable again', { failures })
        failures = 0
      } catch (error) {
        if (signal.aborted) return
        failures++
        // Reported once per outage; the rows stay as they were (the lag gauge shows how stale).
        if (failures === 1) {
          this.logger.warn('cannot read table updates; retrying with back-off', {
            error: error instanceof Error ? error.message : String(error),
          })
        }
      }
    }
  }
}
