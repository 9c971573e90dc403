/**
 * A join of two inputs on one task (specs/language.md, "Joins"; docs/decisions/0020): an interval
 * join (inner, left, full) or, in the same class (they share the sides' watermarks, the record by
 * record driving, late events and snapshots), a window join (inner, tumbling or hopping). The reference is
 * compiler/ir/join-semantics.ts, which the property tests compare this with, and both with the
 * brute-force enumeration of test/support/join-reference.ts.
 *
 * The runner hands it batches of either side, in the order the task's log delivers them:
 * `process(side, batch, maxTimes, lastRecord)`, `maxTimes[o]` being the largest event time among
 * that side's source records 0…o of the batch. Each side's watermark is the largest event time its
 * source has read less the source's delay; the join's watermark W is the smaller of the two. Record
 * by record, as the reference does: what W made due is emitted (outer rows, windows that close),
 * attributed to the record whose arrival moved W; then the record's event, if it reached the join,
 * is refused as late, or matched with the other side's buffered events and buffered itself. A side
 * that reads a window's results meets the watermark of the record before its event's (join-over-
 * window.ts); the record's own is applied once its events are in.
 *
 * State: per side, each key's buffered events sorted by time (interval) or, per window start, each
 * key's events of both sides (window); a heap of the interval events by the watermark at which no
 * partner can come any more; both sides' largest event times. A snapshot is all of it (v8
 * serialisation, which keeps NaN, ±Infinity and -0 of f64 fields that JSON would lose).
 */
import { deserialize, serialize } from 'node:v8'
import type { JoinGraphNode } from '../artifact/manifest.ts'
import { type ChainError, type EventBatch, type JoinFunctions, pushEvent } from '../artifact/operators.ts'
import { type Budgeted, EntryBudget, type EntryBudgetLimits, type StateStats } from '../state/entry-budget.ts'
import { type IdleClock, IdleInputs } from '../window/idle-inputs.ts'

export type JoinSide = 'left' | 'right'

export interface JoinFailure {
  /** Index into the batch's source records of the event that failed. */
  readonly origin: number
  readonly error: unknown
  readonly site: number
}

export interface JoinBatchOutput {
  /** Pairs and outer rows; `origins` name the source record of the batch that made each. */
  readonly results: EventBatch
  /** Events refused as late, as the late stream's records (`{ left alias, right alias }`, the other side null). */
  readonly late: EventBatch
  /** The join watermark each late event met, parallel to `late`. */
  readonly lateWatermarks: number[]
  readonly failures: JoinFailure[]
  /**
   * The join's watermark after each source record of the batch (0…lastRecord; one entry for a
   * tick): a join reading this one's results follows it, less outputHoldMs (join-over-join.ts).
   */
  readonly watermarks: Float64Array
}

/** What a join needs of its graph node. */
export type JoinSpec = Pick<JoinGraphNode, 'id' | 'joinType' | 'bound' | 'latenessMs'>

interface Buffered {
  readonly value: unknown
  readonly key: string
  readonly time: number
  readonly seq: number
  matched: boolean
  /** Interval joins: the horizon (W - lateness) from which no partner can come: the event is gone when it passes this. */
  readonly lastUseful: number
  readonly side: JoinSide
  /** With a byte budget: the bytes it counts for (not in snapshots: measured again on restore). */
  bytes: number
}

interface WindowState {
  readonly start: number
  readonly end: number
  fired: boolean
  /** Per key, each side's events in arrival order. */
  readonly keys: Map<string, { left: Buffered[]; right: Buffered[] }>
}

const SNAPSHOT_MAGIC = 0x534c4a31 // "SLJ1"
/** A buffered event's bytes before any snapshot measured them: a small JSON object and its key. */
const DEFAULT_EVENT_BYTES = 128

export class JoinOperator implements Budgeted {
  /** Each side's largest event time so far (-Infinity before any). */
  readonly maxTime: Record<JoinSide, number> = {
    left: Number.NEGATIVE_INFINITY,
    right: Number.NEGATIVE_INFINITY,
  }
  private changed = false
  private seq = 0
  /** Interval joins: per side, per key, the buffered events sorted by (time, seq). */
  private buffers: Record<JoinSide, Map<string, Buffered[]>> = { left: new Map(), right: new Map() }
  /** Interval joins: every buffered event, a min-heap by `lastUseful`. */
  private heap: Buffered[] = []
  /** Window joins: by window start. */
  private windows = new Map<number, WindowState>()
  /** Window joins: the earliest watermark at which a window fires or is gone. */
  private windowsDue = Number.POSITIVE_INFINITY
  private readonly keysOfBatch: (string | null)[] = []

  // The state budget (runtime/state/entry-budget.ts): its entries are the buffered events (an
  // event in several windows of a window join counts once per window).
  readonly stats: StateStats = { evicted: 0, refused: 0, expired: 0 }
  private budget: EntryBudget | null = null
  /** Window joins: events held over all windows (the interval joins' figure is the heap's length). */
  private windowEvents = 0
  /** With a byte budget: the sum of the held entries' `bytes`. */
  private heldBytes = 0
  /** Without one: bytes per entry, as the last snapshot encoded them. */
  private bytesPerEvent = DEFAULT_EVENT_BYTES

  /**
   * The watermark applied so far: it never goes back, also when a side that was idle (below)
   * delivers again behind it; its events are then late.
   */
  private floor = Number.NEGATIVE_INFINITY
  /** When each side last delivered a batch (the shared withIdleness rule); null without a timeout. */
  private readonly arrivals: IdleInputs<JoinSide> | null
  /** Whether the other side counts as idle during the current process() call. */
  private otherIdle = false
  /**
   * Per side, 1 when it reads a window's results (join-over-window.ts): its events meet its
   * watermark as of the source record before their own, so a result timed end - 1, emitted as the
   * watermark reaches end, is not late here.
   */
  private readonly lag: Readonly<Record<JoinSide, 0 | 1>>

  constructor(
    readonly spec: JoinSpec,
    private readonly functions: JoinFunctions,
    /** Each side's source watermark delay. */
    readonly delayMs: Readonly<Record<JoinSide, number>>,
    /**
     * A side that has delivered nothing for `timeoutMs` of processing time stops holding the
     * join's watermark back (Flink's withIdleness): the other side's watermark alone moves it.
     * Without it, an idle side holds it back until it delivers again.
     */
    idle?: IdleClock,
    /** The sides that read a window's results (docs/decisions/0020, second addendum). */
    readsWindowResults: Readonly<Record<JoinSide, boolean>> = { left: false, right: false },
  ) {
    this.lag = { left: readsWindowResults.left ? 1 : 0, right: readsWindowResults.right ? 1 : 0 }
    this.arrivals = idle === undefined ? null : new IdleInputs<JoinSide>(idle)
    this.arrivals?.arrived('left')
    this.arrivals?.arrived('right')
  }

  /** The join's watermark: the smaller of its inputs' (less an idle one's), never going back. */
  get watermark(): number {
    return this.floor
  }

  /** Events buffered (interval) or windows held (window): the figure for metrics. */
  get rows(): number {
    return this.spec.bound.kind === 'interval' ? this.heap.length : this.windows.size
  }

  /** Events held in all. */
  get size(): number {
    return this.spec.bound.kind === 'interval' ? this.heap.length : this.windowEvents
  }

  get stateEntries(): number {
    return this.size
  }

  get stateBytes(): number {
    return this.measuresBytes ? this.heldBytes : this.size * this.bytesPerEvent
  }

  private get measuresBytes(): boolean {
    return this.budget !== null && this.budget.maxBytes !== Number.POSITIVE_INFINITY
  }

  bound(limits: EntryBudgetLimits, step: string): void {
    const budget = new EntryBudget(step, limits, this.stats)
    this.budget = budget.bounded ? budget : null
    this.remeasure()
  }

  /** With a byte budget: every held entry's bytes, measured again (after a restore or a new budget). */
  private remeasure(): void {
    this.heldBytes = 0
    if (!this.measuresBytes) return
    const measure = (event: Buffered) => {
      event.bytes = eventBytes(event.value, event.key)
      this.heldBytes += event.bytes
    }
    for (const event of this.heap) measure(event)
    for (const window of this.windows.values()) {
      for (const entry of window.keys.values()) {
        entry.left.forEach(measure)
        entry.right.forEach(measure)
      }
    }
  }

  /** True when the state changed since the last call (a checkpoint then stages a snapshot). */
  takeChanged(): boolean {
    const changed = this.changed
    this.changed = false
    return changed
  }

  /** The join's watermark with `side`'s largest event time taken as `sideMax`. */
  private watermarkWith(side: JoinSide, sideMax: number): number {
    const other: JoinSide = side === 'left' ? 'right' : 'left'
    const own = Math.max(this.maxTime[side], sideMax) - this.delayMs[side]
    const combined = this.otherIdle ? own : Math.min(own, this.maxTime[other] - this.delayMs[other])
    if (combined > this.floor) {
      this.floor = combined
      this.changed = true
    }
    return this.floor
  }

  process(side: JoinSide, input: EventBatch, maxTimes: Float64Array, lastRecord: number): JoinBatchOutput {
    if (this.arrivals !== null) {
      this.arrivals.arrived(side)
      this.otherIdle = this.arrivals.isIdle(side === 'left' ? 'right' : 'left')
    }
    const out = emptyJoinOutput(lastRecord + 1)
    const n = input.length
    const keys = this.keysOfBatch
    keys.length = n
    const failed = this.computeKeys(side, input, keys, out)
    /** The first source record whose whole watermark has not been applied yet. */
    let next = 0
    for (let i = 0; i < n; i++) {
      const origin = input.origins[i]!
      for (; next < origin; next++) this.advanceRecord(this.watermarkWith(side, maxTimes[next]!), next, out)
      if (failed.has(i)) continue
      // The record's own watermark, or for a window's results the one before (seenMax).
      const watermark = this.watermarkWith(side, seenMax(maxTimes, origin - this.lag[side]))
      this.advance(watermark, origin, out)
      this.addEvent(side, input, i, keys[i]!, watermark, out)
      this.advance(watermark, origin, out)
    }
    for (; next <= lastRecord; next++)
      this.advanceRecord(this.watermarkWith(side, maxTimes[next]!), next, out)
    if (lastRecord >= 0) {
      const max = Math.max(this.maxTime[side], maxTimes[lastRecord]!)
      if (max !== this.maxTime[side]) this.changed = true
      this.maxTime[side] = max
    }
    return out
  }

  /**
   * A tick (no batch from either side): when one side is idle and the other is not, the join's
   * watermark moves to the active side's, and whatever that makes due is emitted (outer rows,
   * window joins) without waiting for a batch. The results' origin is source record 0 of the tick.
   */
  tick(): JoinBatchOutput {
    const out = emptyJoinOutput(1)
    out.watermarks[0] = this.floor
    if (this.arrivals === null) return out
    for (const side of ['left', 'right'] as const) {
      const other: JoinSide = side === 'left' ? 'right' : 'left'
      if (this.arrivals.isIdle(side) || !this.arrivals.isIdle(other)) continue
      this.otherIdle = true
      this.advance(this.watermarkWith(side, this.maxTime[side]), 0, out)
    }
    this.otherIdle = false
    out.watermarks[0] = this.floor
    return out
  }

  /**
   * Both sides' events of one source batch, when both sides read that source (a join of two
   * streams split from one source, or of a stream with itself; runtime/node/same-source.ts):
   * record by record, a record's left events before its right ones, and each record moves both
   * sides' largest event time, as one source's records do. An event on both sides pairs with
   * itself when its key and the bound allow (a right event meets the left one already buffered).
   */
  processTogether(
    left: EventBatch,
    right: EventBatch,
    maxTimes: Float64Array,
    lastRecord: number,
  ): JoinBatchOutput {
    this.arrivals?.arrived('left')
    this.arrivals?.arrived('right')
    this.otherIdle = false
    const out = emptyJoinOutput(lastRecord + 1)
    const sides = (['left', 'right'] as const).map((side) => {
      const input = side === 'left' ? left : right
      const keys: (string | null)[] = new Array(input.length)
      const failed = this.computeKeys(side, input, keys, out)
      return { side, input, keys, failed, at: 0 }
    })
    const [l, r] = sides as [(typeof sides)[0], (typeof sides)[0]]
    let next = 0
    for (;;) {
      const lOrigin = l.at < l.input.length ? l.input.origins[l.at]! : Number.POSITIVE_INFINITY
      const rOrigin = r.at < r.input.length ? r.input.origins[r.at]! : Number.POSITIVE_INFINITY
      if (lOrigin === Number.POSITIVE_INFINITY && rOrigin === Number.POSITIVE_INFINITY) break
      const s = lOrigin <= rOrigin ? l : r
      const i = s.at++
      const origin = s.input.origins[i]!
      for (; next < origin; next++) this.advanceRecord(this.watermarkOfBoth(maxTimes, next, 0), next, out)
      if (s.failed.has(i)) continue
      // A side reading a window's results still has the watermark of the record before.
      const watermark = this.watermarkOfBoth(maxTimes, origin, 1)
      this.advance(watermark, origin, out)
      this.addEvent(s.side, s.input, i, s.keys[i]!, watermark, out)
      this.advance(watermark, origin, out)
    }
    for (; next <= lastRecord; next++) this.advanceRecord(this.watermarkOfBoth(maxTimes, next, 0), next, out)
    if (lastRecord >= 0) {
      for (const side of ['left', 'right'] as const) {
        const max = Math.max(this.maxTime[side], maxTimes[lastRecord]!)
        if (max !== this.maxTime[side]) this.changed = true
        this.maxTime[side] = max
      }
    }
    return out
  }

  /** `side`'s join keys of `input` into `keys`; events whose key failed go to `out.failures`. */
  private computeKeys(
    side: JoinSide,
    input: EventBatch,
    keys: (string | null)[],
    out: JoinBatchOutput,
  ): Set<number> {
    const errors: ChainError[] = []
    if (side === 'left') this.functions.leftKeys(input, keys, errors)
    else this.functions.rightKeys(input, keys, errors)
    const failed = new Set<number>()
    for (const e of errors) {
      failed.add(e.index)
      out.failures.push({ origin: input.origins[e.index]!, error: e.error, site: e.site })
    }
    return failed
  }

  /**
   * The join's watermark as of source record `o` of a batch both sides read (one source): each
   * side's largest event time is at least the source's through `o`, or with `lagged` 1, through
   * o - 1 for a side that reads a window's results (its events of record o are still to come).
   */
  private watermarkOfBoth(maxTimes: Float64Array, o: number, lagged: 0 | 1): number {
    const left = seenMax(maxTimes, o - this.lag.left * lagged)
    const right = seenMax(maxTimes, o - this.lag.right * lagged)
    const combined = Math.min(
      Math.max(this.maxTime.left, left) - this.delayMs.left,
      Math.max(this.maxTime.right, right) - this.delayMs.right,
    )
    if (combined > this.floor) {
      this.floor = combined
      this.changed = true
    }
    return this.floor
  }

  private isLate(time: number, watermark: number): boolean {
    const { bound, latenessMs } = this.spec
    if (bound.kind === 'interval') return time < watermark - latenessMs
    return lastWindowStart(time, bound.slideMs) + bound.sizeMs + latenessMs <= watermark
  }

  private addEvent(
    side: JoinSide,
    input: EventBatch,
    i: number,
    key: string | null,
    watermark: number,
    out: JoinBatchOutput,
  ): void {
    const value = input.values[i]
    const time = input.timestamps[i]!
    const origin = input.origins[i]!
    if (this.isLate(time, watermark)) {
      const row = side === 'left' ? this.functions.late(value, null) : this.functions.late(null, value)
      pushEvent(out.late, row, input.keys[i]!, time, origin)
      out.lateWatermarks.push(watermark)
      return
    }
    const { bound, joinType } = this.spec
    const seq = this.seq++
    this.changed = true
    if (key === null) {
      if (bound.kind === 'interval' && isOuterSide(joinType, side)) {
        pushEvent(out.results, this.sideRow(side, value), null, time, origin)
      }
      return
    }
    const lastUseful =
      bound.kind !== 'interval' ? 0 : side === 'left' ? time + bound.upperMs : time - bound.lowerMs
    const bytes = this.measuresBytes ? eventBytes(value, key) : 0
    if (this.budget !== null) {
      const entries = bound.kind === 'interval' ? 1 : this.windowsReached(time, watermark)
      const held = this.size
      const heldBytes = this.measuresBytes ? this.heldBytes : 0
      if (!this.budget.fits(held, heldBytes, entries, entries * bytes)) {
        // Refused before it meets a partner: as if a `where` had dropped it before the join.
        out.failures.push({ origin, error: this.budget.refuse(), site: -1 })
        return
      }
    }
    const event: Buffered = {
      value,
      key,
      time,
      seq,
      matched: false,
      lastUseful,
      side,
      bytes,
    }
    if (bound.kind === 'interval') {
      const other: JoinSide = side === 'left' ? 'right' : 'left'
      const partners = this.buffers[other].get(key)
      if (partners !== undefined) {
        // Partners' times: r in [l + lower, l + upper], or l in [r - upper, r - lower].
        const from = side === 'left' ? time + bound.lowerMs : time - bound.upperMs
        const to = side === 'left' ? time + bound.upperMs : time - bound.lowerMs
        for (let p = firstAtOrAfter(partners, from); p < partners.length && partners[p]!.time <= to; p++) {
          const partner = partners[p]!
          partner.matched = true
          event.matched = true
          const [l, r] = side === 'left' ? [event, partner] : [partner, event]
          const row = this.functions.output(l.value, r.value, Number.NaN, Number.NaN)
          pushEvent(out.results, row, key, Math.max(l.time, r.time), origin)
        }
      }
      let list = this.buffers[side].get(key)
      if (list === undefined) {
        list = []
        this.buffers[side].set(key, list)
      }
      // After every event of the same time: sorted by (time, seq).
      list.splice(firstAfter(list, time), 0, event)
      heapPush(this.heap, event)
      this.heldBytes += bytes
      return
    }
    const starts: number[] = []
    for (
      let start = lastWindowStart(time, bound.slideMs);
      start > time - bound.sizeMs;
      start -= bound.slideMs
    )
      starts.unshift(start)
    for (const start of starts) {
      const end = start + bound.sizeMs
      if (end + this.spec.latenessMs <= watermark) continue
      let window = this.windows.get(start)
      if (window === undefined) {
        window = { start, end, fired: false, keys: new Map() }
        this.windows.set(start, window)
        this.noteWindowDue(window)
      }
      let entry = window.keys.get(key)
      if (entry === undefined) {
        entry = { left: [], right: [] }
        window.keys.set(key, entry)
      }
      entry[side].push(event)
      this.windowEvents++
      this.heldBytes += bytes
      if (!window.fired) continue
      for (const partner of entry[side === 'left' ? 'right' : 'left']) {
        const [l, r] = side === 'left' ? [event, partner] : [partner, event]
        pushEvent(out.results, this.functions.output(l.value, r.value, start, end), key, end - 1, origin)
      }
    }
  }

  /** Window joins: how many windows an event at `time` reaches at `watermark` (as addEvent adds it to). */
  private windowsReached(time: number, watermark: number): number {
    const { bound } = this.spec
    if (bound.kind === 'interval') return 1
    let n = 0
    for (
      let start = lastWindowStart(time, bound.slideMs);
      start > time - bound.sizeMs;
      start -= bound.slideMs
    )
      if (start + bound.sizeMs + this.spec.latenessMs > watermark) n++
    return n
  }

  /** Counts a window's next due watermark (its end until it fired, then end + lateness) in windowsDue. */
  private noteWindowDue(window: WindowState): void {
    const due = window.fired ? window.end + this.spec.latenessMs : window.end
    if (due < this.windowsDue) this.windowsDue = due
  }

  /** The outer row of one side's event alone (interval joins): the other side null. */
  private sideRow(side: JoinSide, value: unknown): unknown {
    return side === 'left'
      ? this.functions.output(value, null, Number.NaN, Number.NaN)
      : this.functions.output(null, value, Number.NaN, Number.NaN)
  }

  /** Applies source record `origin`'s whole watermark, and notes it as the join's after that record. */
  private advanceRecord(watermark: number, origin: number, out: JoinBatchOutput): void {
    this.advance(watermark, origin, out)
    out.watermarks[origin] = this.floor
  }

  /** Emits what join watermark `watermark` made due, as made by source record `origin`. */
  private advance(watermark: number, origin: number, out: JoinBatchOutput): void {
    const { bound, latenessMs, joinType } = this.spec
    const horizon = watermark - latenessMs
    if (bound.kind === 'interval') {
      const heap = this.heap
      if (heap.length === 0 || !(heap[0]!.lastUseful < horizon)) return
      const expired: Buffered[] = []
      while (heap.length > 0 && heap[0]!.lastUseful < horizon) {
        const event = heapPop(heap)
        this.heldBytes -= event.bytes
        const list = this.buffers[event.side].get(event.key)!
        list.splice(list.indexOf(event), 1)
        if (list.length === 0) this.buffers[event.side].delete(event.key)
        if (!event.matched && isOuterSide(joinType, event.side)) expired.push(event)
      }
      this.changed = true
      expired.sort(
        (a, b) => a.time - b.time || (a.side === b.side ? 0 : a.side === 'left' ? -1 : 1) || a.seq - b.seq,
      )
      for (const event of expired) {
        pushEvent(out.results, this.sideRow(event.side, event.value), event.key, event.time, origin)
      }
      return
    }
    if (!(this.windowsDue <= watermark)) return
    this.changed = true
    const starts = [...this.windows.keys()].sort((a, b) => a - b)
    for (const start of starts) {
      const window = this.windows.get(start)!
      if (!window.fired && window.end <= watermark) {
        window.fired = true
        for (const key of [...window.keys.keys()].sort(compareStrings)) {
          const entry = window.keys.get(key)!
          for (const l of entry.left) {
            for (const r of entry.right) {
              const row = this.functions.output(l.value, r.value, window.start, window.end)
              pushEvent(out.results, row, key, window.end - 1, origin)
            }
          }
        }
      }
      if (window.end + latenessMs <= watermark) {
        this.windows.delete(start)
        for (const entry of window.keys.values()) {
          this.windowEvents -= entry.left.length + entry.right.length
          for (const event of entry.left) this.heldBytes -= event.bytes
          for (const event of entry.right) this.heldBytes -= event.bytes
        }
      }
    }
    this.windowsDue = Number.POSITIVE_INFINITY
    for (const window of this.windows.values()) this.noteWindowDue(window)
  }

  snapshot(): Buffer {
    const events: unknown[] = []
    for (const event of this.heap) events.push(plainEvent(event))
    const windows: unknown[] = []
    for (const window of this.windows.values()) {
      const keys: unknown[] = []
      for (const [key, entry] of window.keys)
        keys.push([key, entry.left.map(plainEvent), entry.right.map(plainEvent)])
      windows.push([window.start, window.end, window.fired, keys])
    }
    const body = serialize({
      maxLeft: this.maxTime.left,
      maxRight: this.maxTime.right,
      floor: this.floor,
      seq: this.seq,
      events,
      windows,
    })
    const header = Buffer.alloc(4)
    header.writeUInt32BE(SNAPSHOT_MAGIC, 0)
    const held = this.size
    if (held > 0) this.bytesPerEvent = body.length / held
    return Buffer.concat([header, body])
  }

  restore(bytes: Buffer | Uint8Array | undefined): void {
    this.maxTime.left = Number.NEGATIVE_INFINITY
    this.maxTime.right = Number.NEGATIVE_INFINITY
    this.floor = Number.NEGATIVE_INFINITY
    // Idleness is counted from the restore: a side gets the whole timeout to deliver again.
    this.arrivals?.arrived('left')
    this.arrivals?.arrived('right')
    this.seq = 0
    this.buffers = { left: new Map(), right: new Map() }
    this.heap = []
    this.windows = new Map()
    this.windowsDue = Number.POSITIVE_INFINITY
    this.changed = false
    this.windowEvents = 0
    this.heldBytes = 0
    if (bytes === undefined || bytes.length === 0) return
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    if (buffer.length < 4 || buffer.readUInt32BE(0) !== SNAPSHOT_MAGIC) {
      throw new Error(
        `join ${this.spec.id}: the snapshot is not a join snapshot of a version this runtime reads`,
      )
    }
    const state = deserialize(buffer.subarray(4)) as {
      maxLeft: number
      maxRight: number
      /** Absent in snapshots written before idle timeouts: the watermark of the two maxima. */
      floor?: number
      seq: number
      events: PlainEvent[]
      windows: [number, number, boolean, [string, PlainEvent[], PlainEvent[]][]][]
    }
    this.maxTime.left = state.maxLeft
    this.maxTime.right = state.maxRight
    this.floor =
      state.floor ?? Math.min(state.maxLeft - this.delayMs.left, state.maxRight - this.delayMs.right)
    this.seq = state.seq
    for (const plain of state.events) {
      const event = fromPlain(plain)
      let list = this.buffers[event.side].get(event.key)
      if (list === undefined) {
        list = []
        this.buffers[event.side].set(event.key, list)
      }
      list.push(event)
      heapPush(this.heap, event)
    }
    for (const side of ['left', 'right'] as const) {
      for (const list of this.buffers[side].values()) list.sort((a, b) => a.time - b.time || a.seq - b.seq)
    }
    for (const [start, end, fired, keys] of state.windows) {
      const window: WindowState = { start, end, fired, keys: new Map() }
      for (const [key, left, right] of keys) {
        window.keys.set(key, { left: left.map(fromPlain), right: right.map(fromPlain) })
        this.windowEvents += left.length + right.length
      }
      this.windows.set(start, window)
      this.noteWindowDue(window)
    }
    this.remeasure()
    const held = this.size
    if (held > 0) this.bytesPerEvent = buffer.length / held
  }
}

type PlainEvent = [unknown, string, number, number, boolean, number, JoinSide]

function plainEvent(e: Buffered): PlainEvent {
  return [e.value, e.key, e.time, e.seq, e.matched, e.lastUseful, e.side]
}

function fromPlain(p: PlainEvent): Buffered {
  const [value, key, time, seq, matched, lastUseful, side] = p
  return { value, key, time, seq, matched, lastUseful, side, bytes: 0 }
}

/** A buffered event's bytes for a byte budget: its value as a snapshot encodes it, its key, its fields. */
function eventBytes(value: unknown, key: string): number {
  return serialize(value).length + Buffer.byteLength(key) + 48
}

/** The source's largest event time through record `o` of the batch (-Infinity before record 0). */
function seenMax(maxTimes: Float64Array, o: number): number {
  return o < 0 ? Number.NEGATIVE_INFINITY : maxTimes[o]!
}

/** Whether a side's unmatched events are emitted (with the other side null). */
export function isOuterSide(joinType: JoinSpec['joinType'], side: JoinSide): boolean {
  return joinType === 'full' || (joinType === 'left' && side === 'left')
}

/** The start of the last window holding time t (windows start at multiples of `slide`). */
function lastWindowStart(t: number, slide: number): number {
  let s = Math.floor(t / slide) * slide
  if (s > t) s -= slide
  else if (s + slide <= t) s += slide
  return s + 0
}

/** The first index of a (time, seq)-sorted list whose time is at least `time`. */
function firstAtOrAfter(list: readonly Buffered[], time: number): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (list[mid]!.time < time) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The first index whose time is after `time`. */
function firstAfter(list: readonly Buffered[], time: number): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (list[mid]!.time <= time) lo = mid + 1
    else hi = mid
  }
  return lo
}

function heapPush(heap: Buffered[], event: Buffered): void {
  heap.push(event)
  let i = heap.length - 1
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (heap[parent]!.lastUseful <= event.lastUseful) break
    heap[i] = heap[parent]!
    i = parent
  }
  heap[i] = event
}

function heapPop(heap: Buffered[]): Buffered {
  const top = heap[0]!
  const last = heap.pop()!
  if (heap.length > 0) {
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let smallest = i
      let value = last.lastUseful
      if (l < heap.length && heap[l]!.lastUseful < value) {
        smallest = l
        value = heap[l]!.lastUseful
      }
      if (r < heap.length && heap[r]!.lastUseful < value) smallest = r
      if (smallest === i) break
      heap[i] = heap[smallest]!
      i = smallest
    }
    heap[i] = last
  }
  return top
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function emptyJoinOutput(records: number): JoinBatchOutput {
  return {
    results: emptyBatch(),
    late: emptyBatch(),
    lateWatermarks: [],
    failures: [],
    watermarks: new Float64Array(Math.max(0, records)),
  }
}

function emptyBatch(): EventBatch {
  return { values: [], keys: [], timestamps: [], origins: [], length: 0 }
}

/** The dead-letter reason of an event the join refused as late (compiler/ir/join-semantics.ts says the same). */
export function joinLateReason(time: number, watermark: number, latenessMs: number): string {
  return `late event: its event time ${new Date(time).toISOString()} is behind the join's watermark ${new Date(watermark).toISOString()} by more than the lateness (${latenessMs} ms), so its partners may be gone`
}
