/**
 * A Log decorator that measures, per output event of a pipeline runner, how long the node took,
 * without any hook in runtime code:
 *
 * - read → handoff: the log handed the source record's batch to the runner (the subscription's
 *   handler was called) → the runner handed the output to `log.append` on the output topic;
 * - read → durable: → that append resolved (the log holds the output as its durability policy
 *   promises);
 * - offered → durable: the source event's intended send time on the open-loop schedule → durable.
 *   This one includes queueing in the producer, the log and the runner's backlog.
 *
 * Which source event an output came from travels in the record timestamp: the driver stamps
 * source record `seq` with `seqOf⁻¹(seq)`, and the runner writes the event time (the source
 * `@event_time` field, same value) on its outputs. So the runner carries nothing extra per event.
 * Only events with seq ≥ `measureFromSeq` are recorded (the ones before are the warm-up).
 */
import { ForwardingLog } from '../../runtime/log/forwarding-log.ts'
import type {
  AppendOptions,
  Log,
  OutgoingRecord,
  RecordBatch,
  RecordPosition,
  SubscribeOptions,
  Subscription,
} from '../../runtime/log/index.ts'
import { LatencyHistogram } from './latency-histogram.ts'

export interface LatencyProbeOptions {
  /** The topic whose appends are the runner's output. */
  readonly outputTopic: string
  /** Source events the run sends (seq 0 … events − 1). */
  readonly events: number
  /** First seq that is recorded. */
  readonly measureFromSeq: number
  /** Record timestamp (ms) → seq of the source event. */
  readonly seqOf: (timestampMs: number) => number
  /** Intended send time of `seq`, on `clock`'s scale (ns). */
  readonly intendedNs: (seq: number) => number
  /** Nanoseconds from an arbitrary origin. */
  readonly clock: () => number
}

export class LatencyProbeLog extends ForwardingLog {
  readonly readToHandoff = new LatencyHistogram()
  readonly readToDurable = new LatencyHistogram()
  readonly offeredToDurable = new LatencyHistogram()
  /** Source records handed to the runner (all of them, warm-up included). */
  recordsRead = 0
  /** Batches handed to the runner (handler calls). */
  batches = 0
  /** Measured outputs that became durable. */
  outputsDurable = 0
  /** Clock reading when the last measured output became durable; null before. */
  lastDurableNs: number | null = null
  /** Appends to the output topic that rejected. */
  failedAppends = 0
  /** When each source record was handed to the runner, by seq (NaN: not yet). */
  private readonly readAt: Float64Array

  constructor(
    inner: Log,
    private readonly options: LatencyProbeOptions,
  ) {
    super(inner)
    this.readAt = new Float64Array(options.events).fill(Number.NaN)
  }

  override subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    return this.inner.subscribe(options, (batch) => {
      const now = this.options.clock()
      const { records } = batch
      for (let i = 0; i < records.length; i++) this.readAt[this.seq(records[i]!.timestamp)] = now
      this.recordsRead += records.length
      this.batches++
      return handler(batch)
    })
  }

  override async append(
    topic: string,
    records: readonly OutgoingRecord[],
    options?: AppendOptions,
  ): Promise<RecordPosition[]> {
    if (topic !== this.options.outputTopic) return this.inner.append(topic, records, options)
    const handedOff = this.options.clock()
    const { measureFromSeq } = this.options
    const seqs = new Int32Array(records.length)
    for (let i = 0; i < records.length; i++) {
      const timestamp = records[i]!.timestamp
      if (timestamp === undefined)
        throw new Error(`output for ${topic} has no timestamp: the probe needs event-time sink timestamps`)
      const seq = this.seq(timestamp)
      seqs[i] = seq
      if (seq >= measureFromSeq) this.readToHandoff.record(handedOff - this.readTime(seq))
    }
    let positions: RecordPosition[]
    try {
      positions = await this.inner.append(topic, records, options)
    } catch (error) {
      this.failedAppends++
      throw error
    }
    const durable = this.options.clock()
    for (const seq of seqs) {
      if (seq < measureFromSeq) continue
      this.readToDurable.record(durable - this.readTime(seq))
      this.offeredToDurable.record(Math.max(0, durable - this.options.intendedNs(seq)))
      this.outputsDurable++
      this.lastDurableNs = durable
    }
    return positions
  }

  private seq(timestampMs: number): number {
    const seq = this.options.seqOf(timestampMs)
    if (!(seq >= 0 && seq < this.readAt.length))
      throw new Error(
        `record timestamp ${timestampMs} maps to seq ${seq}, outside 0..${this.readAt.length - 1}`,
      )
    return seq
  }

  private readTime(seq: number): number {
    const at = this.readAt[seq]!
    if (Number.isNaN(at)) throw new Error(`output of seq ${seq} appended before its source record was read`)
    return at
  }
}
