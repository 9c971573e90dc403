/**
 * What the window operators (time windows: window-operator.ts; sessions: session-operator.ts)
 * share about event time: the watermark as of each source record, firing record by record, the
 * watermark kept as state, and late events handed out unchanged.
 */
import { type EventBatch, pushEvent } from '../artifact/operators.ts'
import type { WindowBatchOutput } from './window-operator.ts'

export abstract class EventTimeOperator {
  /** The largest event time of the source partition so far (-Infinity before any). */
  maxTime = Number.NEGATIVE_INFINITY
  /** Whether anything changed since the last snapshot. */
  protected changed = false

  /** 1 when an input event meets the watermark of the record before its own (a window's results). */
  private readonly lag: 0 | 1

  constructor(
    /** The source's watermark delay. */
    readonly delayMs: number,
    /**
     * Whether the input is another window's results (docs/decisions/0023-windows-over-windows.md).
     * The watermark here is then that window's output watermark, which is the same source
     * partition's watermark, but a result comes *before* the watermark that fired it: it meets the
     * watermark as of the record before its origin, so a result timed end - 1 is never late here,
     * and this window's own firings for a record follow the results that record fired upstream.
     */
    readsWindowResults = false,
  ) {
    this.lag = readsWindowResults ? 1 : 0
  }

  /** The earliest watermark at which something fires or is dropped. */
  protected abstract dueAt(): number
  /** Emits what is due at `watermark` (as fired by source record `origin`) and drops what is gone. */
  protected abstract collect(watermark: number, origin: number, out: WindowBatchOutput): void

  /** True when the state changed since the last call (a checkpoint then stages a snapshot). */
  takeChanged(): boolean {
    const changed = this.changed
    this.changed = false
    return changed
  }

  /** The watermark as of source record `o` of the batch (-1: as of the batch's start). */
  protected watermarkAt(sourceMaxTimes: Float64Array, o: number): number {
    return (o < 0 ? this.maxTime : Math.max(this.maxTime, sourceMaxTimes[o]!)) - this.delayMs
  }

  /**
   * The source record whose watermark an input event from record `origin` meets: that record, or
   * for a window's results the one before (-1: the watermark the batch started with).
   */
  protected recordSeenBy(origin: number): number {
    return origin - this.lag
  }

  /**
   * Fires, record by record, what the watermarks of source records from…to make due: each time at
   * the first record whose watermark reaches the earliest due time, with that record as the
   * results' origin, as if the windows were ticked after every record (the reference does that).
   * Watermarks only grow along the records, so the record is found by bisection; a collect moves
   * the due time past the watermark it collected at.
   */
  protected fireThrough(
    from: number,
    to: number,
    sourceMaxTimes: Float64Array,
    out: WindowBatchOutput,
  ): void {
    let first = from
    while (first <= to && this.watermarkAt(sourceMaxTimes, to) >= this.dueAt()) {
      const due = this.dueAt()
      let lo = first
      let hi = to
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (this.watermarkAt(sourceMaxTimes, mid) >= due) hi = mid
        else lo = mid + 1
      }
      this.collect(this.watermarkAt(sourceMaxTimes, lo), lo, out)
      first = lo + 1
    }
  }

  /** After a batch: fires what its last records made due and keeps the watermark they moved. */
  protected finishBatch(
    next: number,
    lastRecord: number,
    sourceMaxTimes: Float64Array,
    out: WindowBatchOutput,
  ): void {
    if (lastRecord < 0) return
    this.fireThrough(next, lastRecord, sourceMaxTimes, out)
    const max = Math.max(this.maxTime, sourceMaxTimes[lastRecord]!)
    // The watermark is state too: a batch whose records all were filtered out before the window
    // still moved it, and a restart must not move it back.
    if (max !== this.maxTime) this.changed = true
    this.maxTime = max
  }
}

/** An empty output of one batch. */
export function emptyOutput(): WindowBatchOutput {
  return { results: emptyBatch(), late: emptyBatch(), lateWatermarks: [], failures: [] }
}

/** Hands event i of `input` out unchanged as late, with the watermark it met. */
export function refuseLate(out: WindowBatchOutput, input: EventBatch, i: number, watermark: number): void {
  pushEvent(out.late, input.values[i], input.keys[i]!, input.timestamps[i]!, input.origins[i]!)
  out.lateWatermarks.push(watermark)
}

function emptyBatch(): EventBatch {
  return { values: [], keys: [], timestamps: [], origins: [], length: 0 }
}
