/**
 * What the window operators (time windows: window-operator.ts; sessions: session-operator.ts)
 * share about event time: the watermark as of each source record, firing record by record, the
 * watermark kept as state, and late events handed out unchanged.
 */
import type { EventBatch } from '../artifact/operators.ts'
import type { WindowBatchOutput } from './window-operator.ts'

export abstract class EventTimeOperator {
  /** The largest event time of the source partition so far (-Infinity before any). */
  maxTime = Number.NEGATIVE_INFINITY
  /** Whether anything changed since the last snapshot. */
  protected changed = false

  constructor(
    /** The source's watermark delay. */
    readonly delayMs: number,
  ) {}

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

  /** The watermark as of source record `o` of the batch. */
  protected watermarkAt(sourceMaxTimes: Float64Array, o: number): number {
    return Math.max(this.maxTime, sourceMaxTimes[o]!) - this.delayMs
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
  out.late.values.push(input.values[i])
  out.late.keys.push(input.keys[i]!)
  out.late.timestamps.push(input.timestamps[i]!)
  out.late.origins.push(input.origins[i]!)
  out.late.length++
  out.lateWatermarks.push(watermark)
}

function emptyBatch(): EventBatch {
  return { values: [], keys: [], timestamps: [], origins: [], length: 0 }
}
