/**
 * Count windows on one source partition (specs/language.md, "Windows"; the reference is
 * compiler/ir/window-semantics.ts, `ReferenceWindows` with a count spec).
 *
 * Counting events in arrival order would make results depend on how the log interleaved them;
 * counting them in event-time order makes them exact. So an event waits in `pending` (ordered by
 * time, then arrival) until the watermark has passed it (W > t), and is then released: it becomes
 * the next event of its key. An event already behind the watermark when it arrives (t < W) is
 * late: it could no longer take its place in that order. Every `slide`-th released event of a key
 * fires a window over the key's last `size` released events (fewer at the start, as Flink's
 * countWindow(size, slide)); tumbling windows (`slide === size`) start afresh after each.
 *
 * Watermarks, firing record by record and late events follow the other window operators
 * (event-time.ts). A window is recomputed from its events when it fires (the sliding ones overlap,
 * and a key keeps its last `size` released events anyway), so there is no columnar store here and no
 * WebAssembly kernel: the compiler always runs count windows in TypeScript.
 */
import { createRich, type RichAccumulator, type RichSpec } from '../../stdlib/sketches/index.ts'
import type { WindowGraphNode } from '../artifact/manifest.ts'
import { type EventBatch, pushEvent, type WindowFunctions } from '../artifact/operators.ts'
import { type Budgeted, EntryBudget, type EntryBudgetLimits, type StateStats } from '../state/entry-budget.ts'
import type { AccumulatorKind } from './accumulator-store.ts'
import { EventTimeOperator, emptyOutput, refuseLate } from './event-time.ts'
import { columnsOf, foldRow, initialRow } from './row-accumulators.ts'
import { argumentColumns, type WindowBatchOutput, type WindowedOperator } from './window-operator.ts'

/** An event kept by a count window: waiting for the watermark, or released into its key's window. */
interface CountedEvent {
  readonly key: string
  readonly time: number
  /** Arrival number in the partition: it orders events of the same time. */
  readonly seq: number
  /** Each accumulator's argument (NaN: null). */
  readonly args: Float64Array
  /** Each rich aggregate's argument as it is. */
  readonly rich: readonly unknown[]
}

/**
 * A key's released events (its last `size` are its window under way; older ones are dropped in
 * bulk) and how many it released in all.
 */
interface KeyWindow {
  events: CountedEvent[]
  released: number
}

const SNAPSHOT_MAGIC = 0x534c4331 // "SLC1"
const NO_GAPS = new Float64Array(0)

export class CountWindowOperator extends EventTimeOperator implements WindowedOperator, Budgeted {
  private arrivals = 0
  /** Events the watermark has not passed yet, by time then arrival. */
  private pending: CountedEvent[] = []
  private readonly windows = new Map<string, KeyWindow>()
  private heldEvents = 0
  private readonly kinds: readonly AccumulatorKind[]
  private readonly size: number
  private readonly slide: number
  /**
   * The state budget (runtime/state/entry-budget.ts): its entries are the rows, waiting events and
   * keys with a window under way; only an arriving event adds one (a released one takes its
   * key's row or becomes it).
   */
  readonly stats: StateStats = { evicted: 0, refused: 0, expired: 0 }
  private budget: EntryBudget | null = null

  private capacity = 0
  private argColumns: Float64Array[] = []
  private readonly keysOfBatch: (string | null)[] = []
  private readonly richSpecs: readonly RichSpec[]
  private readonly richArgs: unknown[][]

  constructor(
    readonly node: WindowGraphNode,
    private readonly functions: WindowFunctions,
    delayMs: number,
    /** Whether its input is another window's results (see EventTimeOperator). */
    readsWindowResults = false,
  ) {
    super(delayMs, readsWindowResults)
    if (node.window.kind !== 'count') throw new Error(`window ${node.id} is not a count window`)
    this.kinds = functions.accumulators
    this.size = node.window.size
    this.slide = node.window.slide
    this.richSpecs = functions.rich ?? []
    this.richArgs = this.richSpecs.map(() => [])
  }

  /** Keys with a window under way, and events waiting for the watermark. */
  get rows(): number {
    return this.windows.size + this.pending.length
  }

  get approximateBytes(): number {
    // A waiting event counts for the key window it may open when released (64 bytes), so that its
    // release never adds bytes: the budget is checked when events arrive, not when they move.
    return (
      this.pending.length * (this.bytesPerEvent + 64) +
      this.heldEvents * this.bytesPerEvent +
      this.windows.size * 64
    )
  }

  /** A rough figure: an event object, its argument array, its rich arguments. */
  private get bytesPerEvent(): number {
    return 96 + 8 * this.kinds.length + 16 * this.richSpecs.length
  }

  get stateEntries(): number {
    return this.rows
  }

  get stateBytes(): number {
    return this.approximateBytes
  }

  bound(limits: EntryBudgetLimits, step: string): void {
    const budget = new EntryBudget(step, limits, this.stats)
    this.budget = budget.bounded ? budget : null
  }

  process(input: EventBatch, sourceMaxTimes: Float64Array, lastRecord: number): WindowBatchOutput {
    const out = emptyOutput()
    const n = input.length
    this.ensureCapacity(n)
    const errors: { index: number; error: unknown; site: number }[] = []
    this.functions.extract(input, this.keysOfBatch, this.argColumns, errors, NO_GAPS, this.richArgs)
    for (const e of errors)
      out.failures.push({ origin: input.origins[e.index]!, error: e.error, site: e.site })

    const k = this.kinds.length
    /** The first source record whose watermark has not been fired through yet. */
    let next = 0
    for (let i = 0; i < n; i++) {
      const key = this.keysOfBatch[i]
      if (key === null || key === undefined) continue
      const origin = input.origins[i]!
      // A window's results meet the watermark of the record before their origin (event-time.ts).
      const seen = this.recordSeenBy(origin)
      const watermark = this.watermarkAt(sourceMaxTimes, seen)
      if (watermark >= this.dueAt()) this.fireThrough(next, seen, sourceMaxTimes, out)
      next = seen + 1
      const time = input.timestamps[i]!
      const seq = this.arrivals++
      if (time < watermark) {
        refuseLate(out, input, i, watermark)
        continue
      }
      if (
        this.budget !== null &&
        !this.budget.fits(this.rows, this.approximateBytes, 1, this.bytesPerEvent + 64)
      ) {
        out.failures.push({ origin, error: this.budget.refuse(), site: -1 })
        continue
      }
      const args = new Float64Array(k)
      for (let j = 0; j < k; j++) args[j] = this.argColumns[j]![i]!
      this.insertPending({ key, time, seq, args, rich: this.richArgs.map((column) => column[i]) })
      this.changed = true
    }
    this.finishBatch(next, lastRecord, sourceMaxTimes, out)
    return out
  }

  /** The first waiting event is released once the watermark passes it (times are whole ms). */
  protected dueAt(): number {
    return this.pending.length === 0 ? Number.POSITIVE_INFINITY : this.pending[0]!.time + 1
  }

  /** Keeps `pending` ordered by time, then arrival (a new event comes after those of its time). */
  private insertPending(event: CountedEvent): void {
    const { pending } = this
    if (pending.length === 0 || pending[pending.length - 1]!.time <= event.time) {
      pending.push(event)
      return
    }
    let lo = 0
    let hi = pending.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (pending[mid]!.time <= event.time) lo = mid + 1
      else hi = mid
    }
    pending.splice(lo, 0, event)
  }

  /** Releases the waiting events the watermark passed, in order, firing the windows they complete. */
  protected collect(watermark: number, origin: number, out: WindowBatchOutput): void {
    let released = 0
    while (released < this.pending.length && this.pending[released]!.time < watermark) released++
    if (released === 0) return
    this.changed = true
    for (const event of this.pending.splice(0, released)) {
      let window = this.windows.get(event.key)
      if (window === undefined) {
        window = { events: [], released: 0 }
        this.windows.set(event.key, window)
      }
      window.events.push(event)
      this.heldEvents++
      window.released++
      if (window.events.length >= 2 * this.size) {
        // Only the last `size` events matter; dropping the older ones in bulk keeps this O(1) an event.
        const dropped = window.events.length - this.size
        window.events.splice(0, dropped)
        this.heldEvents -= dropped
      }
      if (window.released % this.slide !== 0) continue
      this.emit(event.key, this.lastEvents(window), origin, out)
      if (this.slide === this.size) {
        // Tumbling: the next window starts afresh, and a key between windows holds nothing.
        this.heldEvents -= window.events.length
        this.windows.delete(event.key)
      }
    }
  }

  /** A key's last `size` released events: its window. */
  private lastEvents(window: KeyWindow): CountedEvent[] {
    const { events } = window
    return events.length > this.size ? events.slice(events.length - this.size) : events
  }

  /** The result of one window over `events` (in event-time order), timed at its last event. */
  private emit(key: string, events: readonly CountedEvent[], origin: number, out: WindowBatchOutput): void {
    const row = initialRow(this.kinds)
    const rich: RichAccumulator[] = this.richSpecs.map(createRich)
    for (const e of events) {
      foldRow(row, this.kinds, (j) => e.args[j]!, e.time, e.seq)
      for (let r = 0; r < rich.length; r++) rich[r]!.add(e.rich[r])
    }
    const start = events[0]!.time
    const end = events[events.length - 1]!.time + 1
    let record: unknown
    try {
      record = this.functions.result(
        this.functions.keyValues(key),
        start,
        end,
        columnsOf(row.values),
        columnsOf(row.aux),
        0,
        rich.map((acc) => acc.result()),
      )
    } catch (error) {
      out.failures.push({ origin, error, site: -1 })
      return
    }
    pushEvent(out.results, record, key, end - 1, origin)
  }

  private ensureCapacity(n: number): void {
    if (n <= this.capacity) return
    const capacity = Math.max(n, this.capacity * 2, 256)
    this.argColumns = argumentColumns(this.functions, capacity).columns
    this.capacity = capacity
  }

  /**
   * The whole state: the watermark, the arrival counter, the waiting events, and per key its
   * released count and the events of its window under way. An event is its key (u32 length,
   * UTF-8), time and arrival number (f64), its arguments (f64 each) and its rich arguments as
   * JSON (u32 length, UTF-8): they are strings, numbers, booleans or null.
   */
  snapshot(): Buffer {
    const parts: Buffer[] = []
    const head = Buffer.allocUnsafe(32)
    let at = head.writeUInt32BE(SNAPSHOT_MAGIC, 0)
    at = head.writeDoubleBE(this.maxTime, at)
    at = head.writeDoubleBE(this.arrivals, at)
    at = head.writeUInt32BE(this.kinds.length, at)
    at = head.writeUInt32BE(this.richSpecs.length, at)
    head.writeUInt32BE(this.pending.length, at)
    parts.push(head)
    for (const event of this.pending) parts.push(this.eventBytes(event))
    const count = Buffer.allocUnsafe(4)
    count.writeUInt32BE(this.windows.size, 0)
    parts.push(count)
    for (const [key, window] of this.windows) {
      const events = this.lastEvents(window)
      const keyBytes = Buffer.from(key, 'utf8')
      const entry = Buffer.allocUnsafe(16 + keyBytes.length)
      let o = entry.writeUInt32BE(keyBytes.length, 0)
      o += keyBytes.copy(entry, o)
      o = entry.writeDoubleBE(window.released, o)
      entry.writeUInt32BE(events.length, o)
      parts.push(entry)
      for (const event of events) parts.push(this.eventBytes(event))
    }
    return Buffer.concat(parts)
  }

  private eventBytes(event: CountedEvent): Buffer {
    const key = Buffer.from(event.key, 'utf8')
    const rich = Buffer.from(JSON.stringify(event.rich), 'utf8')
    const bytes = Buffer.allocUnsafe(4 + key.length + 16 + 8 * event.args.length + 4 + rich.length)
    let at = bytes.writeUInt32BE(key.length, 0)
    at += key.copy(bytes, at)
    at = bytes.writeDoubleBE(event.time, at)
    at = bytes.writeDoubleBE(event.seq, at)
    for (const x of event.args) at = bytes.writeDoubleBE(x, at)
    at = bytes.writeUInt32BE(rich.length, at)
    rich.copy(bytes, at)
    return bytes
  }

  restore(bytes: Buffer | undefined): void {
    this.pending = []
    this.windows.clear()
    this.heldEvents = 0
    this.maxTime = Number.NEGATIVE_INFINITY
    this.arrivals = 0
    this.changed = false
    if (bytes === undefined || bytes.length === 0) return
    if (bytes.readUInt32BE(0) !== SNAPSHOT_MAGIC) throw new Error('not a count window snapshot')
    this.maxTime = bytes.readDoubleBE(4)
    this.arrivals = bytes.readDoubleBE(12)
    const k = bytes.readUInt32BE(20)
    const richCount = bytes.readUInt32BE(24)
    if (k !== this.kinds.length || richCount !== this.richSpecs.length) {
      throw new Error(
        `the count window snapshot has ${k} accumulators and ${richCount} rich aggregates but the step has ${this.kinds.length} and ${this.richSpecs.length}`,
      )
    }
    const reader = { at: 28 }
    const pendingCount = bytes.readUInt32BE(reader.at)
    reader.at += 4
    for (let e = 0; e < pendingCount; e++) this.pending.push(this.readEvent(bytes, reader))
    const keyCount = bytes.readUInt32BE(reader.at)
    reader.at += 4
    for (let n = 0; n < keyCount; n++) {
      const length = bytes.readUInt32BE(reader.at)
      const key = bytes.toString('utf8', reader.at + 4, reader.at + 4 + length)
      reader.at += 4 + length
      const released = bytes.readDoubleBE(reader.at)
      const count = bytes.readUInt32BE(reader.at + 8)
      reader.at += 12
      const events: CountedEvent[] = []
      for (let e = 0; e < count; e++) events.push(this.readEvent(bytes, reader))
      this.windows.set(key, { events, released })
      this.heldEvents += events.length
    }
  }

  private readEvent(bytes: Buffer, reader: { at: number }): CountedEvent {
    let at = reader.at
    const keyLength = bytes.readUInt32BE(at)
    const key = bytes.toString('utf8', at + 4, at + 4 + keyLength)
    at += 4 + keyLength
    const time = bytes.readDoubleBE(at)
    const seq = bytes.readDoubleBE(at + 8)
    at += 16
    const args = new Float64Array(this.kinds.length)
    for (let j = 0; j < args.length; j++) {
      args[j] = bytes.readDoubleBE(at)
      at += 8
    }
    const richLength = bytes.readUInt32BE(at)
    const rich = JSON.parse(bytes.toString('utf8', at + 4, at + 4 + richLength)) as unknown[]
    reader.at = at + 4 + richLength
    return { key, time, seq, args, rich }
  }
}
