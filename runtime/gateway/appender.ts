/**
 * Group commit for the gateway: the records of concurrent requests for one topic are appended
 * together, one `Log.append` at a time per topic. While an append is in flight, new records queue;
 * when it resolves, everything queued goes out as the next append. Under load that is one append
 * (one fsync on the embedded log under `batch` durability, one produce request on Kafka) for many
 * requests, and no request waits for more than the append in flight plus its own.
 *
 * A request's promise resolves only after the log acknowledged its records (the embedded log's
 * append resolves after its durability policy's sync; Kafka's after acks=all of the idempotent
 * producer), with each record's position, or null where the log refused it (AppendOptions.onRefused).
 *
 * An unavailable log (a broker restart) is retried with back-off for up to `appendTimeoutMs`; the
 * records the log acknowledged before a failure are not sent again (SluiceError.appended), and a
 * request all of whose records were acknowledged that way resolves (their offsets unknown: -1).
 * The others then reject with LOG_UNAVAILABLE: some of their records may be in the log, so a client
 * that sends them again may duplicate them (at-least-once).
 */
import { SluiceError } from '../errors.ts'
import type { AppendOptions, Log, OutgoingRecord, PositionArrays } from '../log/index.ts'
import { type Backoff, backoffDelay, DEFAULT_BACKOFF, isRetryable, sleep } from '../log/retry.ts'
import { AppendResults } from './append-results.ts'

export type { AppendResult } from './append-results.ts'

interface Waiter {
  readonly records: readonly OutgoingRecord[]
  readonly resolve: (results: AppendResults) => void
  readonly reject: (error: unknown) => void
}

export interface GroupAppenderOptions {
  /** Most records in one append. Default 10,000. */
  readonly maxRecordsPerAppend?: number
  /** How long an append may wait out an unavailable log before its requests fail. Default 30 s. */
  readonly appendTimeoutMs?: number
  readonly backoff?: Backoff
  /** Told of each retryable failure and of the append that succeeds after some. */
  readonly onAvailability?: (available: boolean, error?: unknown) => void
}

export class GroupAppender {
  private readonly queues = new Map<string, Waiter[]>()
  private readonly flushing = new Set<string>()
  private readonly idleWaiters: (() => void)[] = []
  private readonly stopWaiting = new AbortController()
  private pending = 0
  /** The last append failed with a retryable error and none has succeeded since. */
  unavailable = false

  constructor(
    private readonly log: Pick<Log, 'append' | 'appendPositions'>,
    private readonly options: GroupAppenderOptions = {},
  ) {}

  /** Appends `records` (in order) with other requests' records; resolves once the log holds them. */
  append(topic: string, records: readonly OutgoingRecord[]): Promise<AppendResults> {
    if (records.length === 0) return Promise.resolve(AppendResults.EMPTY)
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(topic)
      if (queue === undefined) {
        queue = []
        this.queues.set(topic, queue)
      }
      queue.push({ records, resolve, reject })
      this.pending++
      if (!this.flushing.has(topic)) void this.flush(topic)
    })
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Ends back-off waits at once: requests still waiting for an unavailable log fail. */
  abortWaiting(): void {
    this.stopWaiting.abort()
  }

  private async flush(topic: string): Promise<void> {
    this.flushing.add(topic)
    const queue = this.queues.get(topic)!
    const max = this.options.maxRecordsPerAppend ?? 10_000
    try {
      while (queue.length > 0) {
        // Whole requests, up to `max` records (at least one request, however large).
        const group: Waiter[] = []
        let count = 0
        while (queue.length > 0 && (group.length === 0 || count + queue[0]!.records.length <= max)) {
          const waiter = queue.shift()!
          group.push(waiter)
          count += waiter.records.length
        }
        await this.appendGroup(topic, group, count)
        this.pending -= group.length
      }
    } finally {
      this.flushing.delete(topic)
      if (this.pending === 0) for (const wake of this.idleWaiters.splice(0)) wake()
    }
  }

  private async appendGroup(topic: string, group: readonly Waiter[], count: number): Promise<void> {
    // One request's records go to the log as they are; several are concatenated once.
    let records: readonly OutgoingRecord[] = group[0]!.records
    if (group.length > 1) {
      const all: OutgoingRecord[] = []
      for (const waiter of group) for (const record of waiter.records) all.push(record)
      records = all
    }
    // The group's results, cut into one view per request when it settles (no object per record).
    const partitions = new Int32Array(count)
    const offsets = new Float64Array(count)
    // The refusals of the attempt that succeeded (rare: a map only when there are some).
    let refused = null as Map<number, string> | null
    const deadline = performance.now() + (this.options.appendTimeoutMs ?? 30_000)
    const backoff = this.options.backoff ?? DEFAULT_BACKOFF
    // Records [0, done) have their results.
    let done = 0
    let failures = 0
    for (;;) {
      const base = done
      // This attempt's refusals: those of an attempt that failed are not the answer.
      let attemptRefused = null as Map<number, string> | null
      try {
        const positions = await this.appendToLog(topic, done === 0 ? records : records.slice(done), {
          onRefused: (index, reason) => {
            attemptRefused ??= new Map()
            attemptRefused.set(base + index, reason)
          },
        })
        refused = attemptRefused
        let p = 0
        for (let i = base; i < count; i++) {
          if (refused?.has(i)) {
            partitions[i] = -1
            offsets[i] = -1
          } else {
            partitions[i] = positions.partitions[p]!
            offsets[i] = positions.offsets[p++]!
          }
        }
        done = count
        if (this.unavailable) {
          this.unavailable = false
          this.options.onAvailability?.(true)
        }
        break
      } catch (error) {
        if (!isRetryable(error)) {
          this.settle(group, partitions, offsets, refused, done, error)
          return
        }
        const acknowledged = error.appended ?? 0
        partitions.fill(-1, done, done + acknowledged)
        offsets.fill(-1, done, done + acknowledged)
        done += acknowledged
        failures++
        this.unavailable = true
        this.options.onAvailability?.(false, error)
        const wait = backoffDelay(failures, backoff)
        if (performance.now() + wait > deadline || this.stopWaiting.signal.aborted) {
          this.settle(
            group,
            partitions,
            offsets,
            refused,
            done,
            new SluiceError(
              'KAFKA_UNAVAILABLE',
              `the log did not take the events in time: ${error.message}`,
              {
                cause: error,
                retryable: true,
              },
            ),
          )
          return
        }
        await sleep(wait, this.stopWaiting.signal)
      }
    }
    this.settle(group, partitions, offsets, refused, done, null)
  }

  /** The log's append, without an object per record where the log can (Log.appendPositions). */
  private appendToLog(
    topic: string,
    records: readonly OutgoingRecord[],
    options: AppendOptions,
  ): Promise<PositionArrays> {
    if (hasOwnAppendPositions(this.log)) return this.log.appendPositions(topic, records, options)
    return this.log.append(topic, records, options).then((positions) => ({
      partitions: Int32Array.from(positions, (p) => p.partition),
      offsets: Float64Array.from(positions, (p) => p.offset),
    }))
  }

  /**
   * Resolves each request all of whose records have results (those before `done`) with its own
   * view of them; rejects the rest with `error`.
   */
  private settle(
    group: readonly Waiter[],
    partitions: Int32Array,
    offsets: Float64Array,
    refused: ReadonlyMap<number, string> | null,
    done: number,
    error: unknown,
  ): void {
    let start = 0
    for (const waiter of group) {
      const end = start + waiter.records.length
      if (end > done) waiter.reject(error)
      else
        waiter.resolve(
          new AppendResults(
            partitions.subarray(start, end),
            offsets.subarray(start, end),
            refused === null ? undefined : refusalsBetween(refused, start, end),
          ),
        )
      start = end
    }
  }
}

/**
 * Whether `log.appendPositions` is the same log's as `log.append`: a decorator that overrides only
 * `append` (a fault injected in a test, a timing wrapper made with Object.create) still inherits
 * the inner log's appendPositions, which would bypass it; such a log is called through `append`.
 */
function hasOwnAppendPositions(
  log: Pick<Log, 'append' | 'appendPositions'>,
): log is Required<Pick<Log, 'append' | 'appendPositions'>> {
  if (log.appendPositions === undefined) return false
  let holder: object | null = log
  while (holder !== null && !Object.hasOwn(holder, 'appendPositions')) holder = Object.getPrototypeOf(holder)
  return holder !== null && (holder as Pick<Log, 'append'>).append === log.append
}

/** The refusals of records [start, end), indexed from start. */
function refusalsBetween(
  refused: ReadonlyMap<number, string>,
  start: number,
  end: number,
): ReadonlyMap<number, string> | undefined {
  let own: Map<number, string> | undefined
  for (const [i, reason] of refused)
    if (i >= start && i < end) {
      own ??= new Map()
      own.set(i - start, reason)
    }
  return own
}
