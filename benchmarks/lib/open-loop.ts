/**
 * An open-loop load schedule: event `seq` (0, 1, 2, …) is due at `origin + seq ÷ rate`, whatever
 * happened to the events before it. A driver that sends whatever is due on every tick, and
 * measures each event from its intended time rather than from when it was actually sent, cannot
 * hide queueing behind its own slowness (coordinated omission): when the system under test stalls,
 * the events due meanwhile are late from their schedule, and that lateness is in the figures.
 */
import type { OutgoingRecord } from '../../runtime/log/index.ts'

export class OpenLoopSchedule {
  private readonly nsPerEvent: number

  /**
   * @param ratePerSecond events per second offered (> 0)
   * @param originNs clock reading at which event 0 is due
   */
  constructor(
    readonly ratePerSecond: number,
    readonly originNs: number,
  ) {
    if (!(ratePerSecond > 0 && Number.isFinite(ratePerSecond)))
      throw new RangeError(`rate must be a positive number of events per second, got ${ratePerSecond}`)
    this.nsPerEvent = 1e9 / ratePerSecond
  }

  /** When event `seq` is due, on the clock of `originNs`. */
  intendedNs(seq: number): number {
    return this.originNs + seq * this.nsPerEvent
  }

  /** How many events are due at `nowNs`: every seq with intendedNs(seq) ≤ nowNs. */
  dueBy(nowNs: number): number {
    if (nowNs < this.originNs) return 0
    // The epsilon keeps 3 · (1e9 / 3e5) from landing a hair below 1e4 and losing an event.
    return Math.floor((nowNs - this.originNs) / this.nsPerEvent + 1e-9) + 1
  }
}

/** Where the producer appends: the part of the Log contract it uses. */
export interface AppendTarget {
  append(topic: string, records: readonly OutgoingRecord[]): Promise<unknown>
}

/**
 * Sends events `0 … total − 1` to `topic` on an open-loop schedule. Every `tick()` (every 1 ms)
 * appends, as one group, every event due that was not sent yet; a tick while an append is in
 * flight sends nothing, and what fell due meanwhile goes with the next tick after it resolved
 * (like a client's linger: the log's append latency makes the groups larger, never the schedule
 * later, since every event is measured from its intended time). Sending again the moment an
 * append resolves would instead turn the producer into a busy loop of appends of 2 or 3 events.
 */
export class OpenLoopProducer {
  /** Events handed to `append`. */
  sent = 0
  /** Events whose append resolved. */
  acknowledged = 0
  appends = 0
  largestGroup = 0
  private inFlight = false
  private timer: NodeJS.Timeout | null = null
  private failure: unknown = null
  private finish: { resolve: () => void; reject: (error: unknown) => void } | null = null
  /** Resolves once all `total` events are acknowledged; rejects when an append fails. */
  readonly done: Promise<void>

  constructor(
    private readonly target: AppendTarget,
    private readonly topic: string,
    private readonly schedule: OpenLoopSchedule,
    private readonly total: number,
    private readonly makeRecord: (seq: number) => OutgoingRecord,
    private readonly clock: () => number,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.finish = { resolve, reject }
    })
    this.done.catch(() => {})
    if (total === 0) this.finish?.resolve()
  }

  /** Whether an append failed (the producer then stops; `done` rejects with the error). */
  get failed(): boolean {
    return this.failure !== null
  }

  /** Ticks every `intervalMs` (default 1 ms, Node's finest timer) until everything is sent. */
  start(intervalMs = 1): void {
    this.timer = setInterval(() => this.tick(), intervalMs)
    this.tick()
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** Sends what is due now, unless an append is in flight. */
  tick(): void {
    if (this.inFlight || this.failure !== null) return
    const due = Math.min(this.total, this.schedule.dueBy(this.clock()))
    if (due <= this.sent) return
    const records: OutgoingRecord[] = new Array(due - this.sent)
    for (let seq = this.sent; seq < due; seq++) records[seq - this.sent] = this.makeRecord(seq)
    this.sent = due
    this.appends++
    if (records.length > this.largestGroup) this.largestGroup = records.length
    this.inFlight = true
    this.target.append(this.topic, records).then(
      () => {
        this.inFlight = false
        this.acknowledged += records.length
        if (this.acknowledged === this.total) {
          this.stop()
          this.finish?.resolve()
        }
      },
      (error: unknown) => {
        this.inFlight = false
        this.failure = error
        this.stop()
        this.finish?.reject(error)
      },
    )
  }
}
