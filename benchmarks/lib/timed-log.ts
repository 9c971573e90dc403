/**
 * A Log decorator that times every call of a subscription's handler, for end-to-end benchmarks:
 * the pipeline runner's per-batch work (decode, chains, encode, append of the output) runs inside
 * the handler the log calls, so timing that call from the outside gives one latency sample per
 * batch without touching runtime code. The log's own work around the handler (fetching or reading
 * the batch, committing its offsets) is not inside the sample; an end-to-end clock covers it.
 *
 * Every other Log method is passed through unchanged (ForwardingLog).
 */
import { ForwardingLog } from '../../runtime/log/forwarding-log.ts'
import type { Log, RecordBatch, SubscribeOptions, Subscription } from '../../runtime/log/index.ts'

/** Nanoseconds from an arbitrary origin (process.hrtime.bigint by default). */
export type Clock = () => bigint

export class TimedLog extends ForwardingLog {
  /** Duration of every handler call that resolved, ns, in completion order. */
  readonly durationsNs: number[] = []
  /** Records in the batches of `durationsNs`, same order. */
  readonly batchRecords: number[] = []
  /** Handler calls that rejected (not in `durationsNs`). */
  failures = 0
  /** Clock reading when the first handler call began; null before any. */
  firstCallStartNs: bigint | null = null
  /** Clock reading when the last handler call (resolved or not) ended; null before any. */
  lastCallEndNs: bigint | null = null
  /** Called after every handler call that resolved (e.g. to sample memory). Keep it cheap. */
  onBatch: ((durationNs: number, records: number) => void) | null = null

  constructor(
    inner: Log,
    private readonly clock: Clock = process.hrtime.bigint,
  ) {
    super(inner)
  }

  /** Total records in the batches whose handler resolved. */
  get records(): number {
    let total = 0
    for (const n of this.batchRecords) total += n
    return total
  }

  /** Sum of the resolved handler calls' durations, ns. */
  get handlerNs(): number {
    let total = 0
    for (const d of this.durationsNs) total += d
    return total
  }

  /** Forgets every sample (between runs that reuse the decorator). */
  reset(): void {
    this.durationsNs.length = 0
    this.batchRecords.length = 0
    this.failures = 0
    this.firstCallStartNs = null
    this.lastCallEndNs = null
  }

  override subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    return this.inner.subscribe(options, async (batch) => {
      const start = this.clock()
      this.firstCallStartNs ??= start
      try {
        await handler(batch)
      } catch (error) {
        this.failures++
        this.lastCallEndNs = this.clock()
        throw error
      }
      const end = this.clock()
      this.lastCallEndNs = end
      const duration = Number(end - start)
      this.durationsNs.push(duration)
      this.batchRecords.push(batch.records.length)
      this.onBatch?.(duration, batch.records.length)
    })
  }
}
