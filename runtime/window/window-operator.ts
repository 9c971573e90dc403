/**
 * A windowed aggregate on one source partition (specs/language.md, "Windows"; the reference is
 * compiler/ir/window-semantics.ts, which the property tests compare this with).
 *
 * Per batch: the generated `extract` evaluates every event's key and aggregate arguments into
 * columns; then one pass in event order keeps the watermark (the source partition's largest event
 * time so far, less its delay, as of each event's source record), refuses late events, and packs
 * the others into a segment of columns (dense key ids from a dictionary, times, horizons,
 * arguments) that the accumulator store adds in one call: the WebAssembly kernel's hot loop. The
 * segment is cut wherever a window must fire before the next event, so results do not depend on
 * how the log cut the batches:
 *
 *   before an event, if the watermark reached the earliest due window end: add the segment, collect
 *   an event that reached a window which had fired (within the lateness): add, collect at once
 *   after the batch, with the watermark of its last source record: add, collect
 *
 * Collected rows are emitted in order of window start, then key string, each timed at its
 * window's last millisecond (end - 1) and keyed by its key string.
 *
 * Rich aggregates (count_distinct, approx_count_distinct, quantile, top_k: stdlib/sketches) are not
 * store columns: their accumulators live beside the store, per window start and key string, are
 * added to as each event is packed into the segment (they do not depend on the order of events),
 * read when the store emits the row, and dropped when the store purges it.
 *
 * State for checkpoints: the store's rows with their keys as strings, the rich accumulators, the
 * largest event time and nothing else (a snapshot is the whole state: open windows are bounded by
 * keys × windows open).
 */
import {
  createRich,
  deserializeRich,
  type RichAccumulator,
  type RichSpec,
} from '../../stdlib/sketches/index.ts'
import type { WindowGraphNode } from '../artifact/manifest.ts'
import { type EventBatch, pushEvent, type WindowFunctions } from '../artifact/operators.ts'
import { type Budgeted, EntryBudget, type EntryBudgetLimits, type StateStats } from '../state/entry-budget.ts'
import type { WindowAccumulatorStore, WindowRows } from './accumulator-store.ts'
import { EventTimeOperator, emptyOutput, refuseLate } from './event-time.ts'
import { lastWindowStart } from './typed-array-store.ts'

/** What a batch produced besides the results and late events: events or results that failed. */
export interface WindowFailure {
  /** Index into the batch's source records of the event that failed or whose watermark fired the result. */
  readonly origin: number
  readonly error: unknown
  readonly site: number
}

export interface WindowBatchOutput {
  /** Results; `origins` name the source record whose watermark fired them. */
  readonly results: EventBatch
  /** Events whose windows had all closed for good (origins as in the input). */
  readonly late: EventBatch
  /** The watermark each late event met, parallel to `late`. */
  readonly lateWatermarks: number[]
  readonly failures: WindowFailure[]
}

/** What the runner and the checkpoints need of a window operator (time windows or sessions). */
export interface WindowedOperator {
  /** The largest event time of the source partition so far (-Infinity before any). */
  readonly maxTime: number
  /** The source's watermark delay. */
  readonly delayMs: number
  /** Windows (or sessions) held. */
  readonly rows: number
  readonly approximateBytes: number
  process(input: EventBatch, sourceMaxTimes: Float64Array, lastRecord: number): WindowBatchOutput
  /** True when the state changed since the last call (a checkpoint then stages a snapshot). */
  takeChanged(): boolean
  snapshot(): Buffer
  restore(bytes: Buffer | undefined): void
}

/** Snapshots before rich aggregates: the same without the rich section (still restored). */
const SNAPSHOT_MAGIC_V1 = 0x534c5731 // "SLW1"
const SNAPSHOT_MAGIC = 0x534c5732 // "SLW2"
/** Time windows have no per-event gap (only session windows with a computed gap write one). */
const NO_GAPS = new Float64Array(0)
const NO_RICH: unknown[] = []

export class WindowOperator extends EventTimeOperator implements WindowedOperator, Budgeted {
  private readonly keyIds = new Map<string, number>()
  private keyStrings: string[] = []
  private keyValuesById: (readonly unknown[] | undefined)[] = []
  /** The smallest window end among events added to the pending segment. */
  private pendingMinEnd = Number.POSITIVE_INFINITY

  // Columns reused across batches; they grow to the largest batch.
  private capacity = 0
  private segKeyIds = new Int32Array(0)
  private segTimes = new Float64Array(0)
  private segHorizons = new Float64Array(0)
  private argColumns: Float64Array[] = []
  /** The distinct columns `extract` writes (accumulators of one argument share one). */
  private writtenColumns: Float64Array[] = []
  /** The store's earliest due watermark, as of its last change (see refreshStoreDue). */
  private storeDue = Number.POSITIVE_INFINITY
  private readonly keysOfBatch: (string | null)[] = []
  /** The rich aggregates' arguments of the batch, one array per rich aggregate. */
  private readonly richArgs: unknown[][]
  private readonly richSpecs: readonly RichSpec[]
  /** Rich accumulators by window start, then key string (rows of the store that have them). */
  private readonly rich = new Map<number, Map<string, RichAccumulator[]>>()
  private richEntries = 0

  private readonly sizeMs: number
  private readonly slideMs: number
  private readonly latenessMs: number

  // The state budget (runtime/state/entry-budget.ts): its entries are the store's rows.
  readonly stats: StateStats = { evicted: 0, refused: 0, expired: 0 }
  private budget: EntryBudget | null = null
  /** The store's rows as of its last change (refreshStoreDue): a getter the kernel answers. */
  private storeRows = 0
  /** With a budget: at most how many rows the events of the unflushed segment create. */
  private segmentRows = 0
  /** A row's bytes as a snapshot encodes it, with a rough figure for its rich accumulators. */
  private readonly rowBytes: number

  // Early results (`emit every P`, `emit on update`; specs/language.md, "Early results").
  /** `emit every P`: P, else 0. */
  private readonly everyMs: number
  private readonly onUpdate: boolean
  /** `emit every`: the starts of windows that have rows and are still open. */
  private readonly openStarts = new Set<number>()
  /** `emit every`: the watermark through which early results were given. */
  private earlyThrough = Number.NEGATIVE_INFINITY
  /** `emit every`: the earliest watermark at which an open window crosses a multiple of P. */
  private earlyDue = Number.POSITIVE_INFINITY

  constructor(
    readonly node: WindowGraphNode,
    private readonly functions: WindowFunctions,
    readonly store: WindowAccumulatorStore,
    /** The source's watermark delay. */
    delayMs: number,
    /** Whether its input is another window's results (see EventTimeOperator). */
    readsWindowResults = false,
  ) {
    super(delayMs, readsWindowResults)
    if (node.window.kind === 'session' || node.window.kind === 'count')
      throw new Error(`window ${node.id} is a ${node.window.kind} window`)
    this.sizeMs = node.window.sizeMs
    this.slideMs = node.window.slideMs
    this.latenessMs = node.latenessMs
    this.richSpecs = functions.rich ?? []
    this.richArgs = this.richSpecs.map(() => [])
    this.rowBytes = 13 + 16 * functions.accumulators.length + 256 * this.richSpecs.length
    const emit = node.emit ?? { kind: 'close' }
    this.everyMs = emit.kind === 'every' ? emit.everyMs : 0
    this.onUpdate = emit.kind === 'update'
    if (this.onUpdate && store.peek === undefined) {
      throw new Error(`window ${node.id} emits on update, which its store (a kernel built before it) cannot`)
    }
  }

  get keys(): number {
    return this.keyIds.size
  }

  get rows(): number {
    return this.store.size
  }

  get approximateBytes(): number {
    // A rough figure for the sketches (a HyperLogLog alone is 16 KiB).
    return this.store.approximateBytes + this.richEntries * this.richSpecs.length * 256
  }

  get stateEntries(): number {
    return this.store.size
  }

  get stateBytes(): number {
    return this.store.size * this.rowBytes
  }

  bound(limits: EntryBudgetLimits, step: string): void {
    const budget = new EntryBudget(step, limits, this.stats)
    this.budget = budget.bounded ? budget : null
    this.storeRows = this.store.size
  }

  /**
   * Processes one batch of the window's input. `sourceMaxTimes[o]` is the largest event time among
   * the batch's source records 0…o (-Infinity while none decoded); `lastRecord` is the index of the
   * batch's last source record.
   */
  process(input: EventBatch, sourceMaxTimes: Float64Array, lastRecord: number): WindowBatchOutput {
    const out = emptyOutput()
    const n = input.length
    this.ensureCapacity(n)
    const errors: { index: number; error: unknown; site: number }[] = []
    this.functions.extract(input, this.keysOfBatch, this.argColumns, errors, NO_GAPS, this.richArgs)
    for (const e of errors)
      out.failures.push({ origin: input.origins[e.index]!, error: e.error, site: e.site })

    const { sizeMs, slideMs, latenessMs, keysOfBatch, keyIds, richSpecs } = this
    const tumbling = slideMs === sizeMs
    const { timestamps, origins } = input
    let seg = 0
    let added = false
    /** The first source record whose watermark has not been fired through yet. */
    let next = 0
    for (let i = 0; i < n; i++) {
      const key = keysOfBatch[i]
      if (key === null || key === undefined) continue
      const origin = origins[i]!
      const seen = this.recordSeenBy(origin)
      const watermark = this.watermarkAt(sourceMaxTimes, seen)
      if (watermark >= this.dueAt()) {
        this.flush(seg)
        seg = 0
        this.fireThrough(next, seen, sourceMaxTimes, out)
      }
      next = seen + 1
      // Nothing was due up to this record's watermark: no open window crossed a multiple of P.
      if (this.everyMs > 0) this.earlyThrough = watermark
      const time = timestamps[i]!
      const lastStart = lastWindowStart(time, slideMs)
      const horizon = watermark - latenessMs
      if (lastStart + sizeMs <= horizon) {
        refuseLate(out, input, i, watermark)
        continue
      }
      if (this.budget !== null) {
        // At most one new row per window it reaches: when even that fits, no need to look.
        let created = this.windowsReached(time, lastStart, horizon)
        if (!this.hasRoomFor(created)) {
          // Perhaps the rows are there already: only the store knows, once it has the segment.
          // (So a full state adds events one by one, which costs speed, not results.)
          this.flush(seg)
          seg = 0
          created = this.newRows(key, time, lastStart, horizon)
          if (!this.hasRoomFor(created)) {
            out.failures.push({ origin, error: this.budget.refuse(), site: -1 })
            continue
          }
        }
        this.segmentRows += created
      }
      let id = keyIds.get(key)
      if (id === undefined) id = this.idOf(key)
      this.segKeyIds[seg] = id
      this.segTimes[seg] = time
      this.segHorizons[seg] = horizon
      // Packed in place: only once an event was left out do the columns need moving.
      if (seg !== i) for (const column of this.writtenColumns) column[seg] = column[i]!
      if (richSpecs.length > 0) this.addRich(key, i, time, horizon)
      seg++
      added = true
      // The earliest window of this event that is still kept: its end is when it (next) fires.
      let firstStart = lastStart
      if (!tumbling) {
        while (firstStart - slideMs > time - sizeMs && firstStart - slideMs + sizeMs > horizon)
          firstStart -= slideMs
      }
      const firstEnd = firstStart + sizeMs
      if (this.everyMs > 0) this.noteOpenStarts(firstStart, lastStart, watermark)
      if (firstEnd <= watermark) {
        // It reached a window that has fired: the update is emitted now.
        this.flush(seg)
        seg = 0
        this.collect(watermark, origin, out)
      } else if (firstEnd < this.pendingMinEnd) {
        this.pendingMinEnd = firstEnd
      }
      if (this.onUpdate) {
        // Its open windows emit their new results now, after the updates of fired ones.
        this.flush(seg)
        seg = 0
        this.emitUpdated(id, key, firstStart, lastStart, watermark, origin, out)
      }
    }
    if (added) this.changed = true
    this.flush(seg)
    this.finishBatch(next, lastRecord, sourceMaxTimes, out)
    // Nothing is due through the batch's last watermark: early results are given through it.
    if (this.everyMs > 0 && lastRecord >= 0) this.earlyThrough = this.maxTime - this.delayMs
    return out
  }

  /** The earliest watermark at which something fires, is dropped or gives an early result. */
  protected dueAt(): number {
    return Math.min(this.pendingMinEnd, this.storeDue, this.earlyDue)
  }

  /** `emit every`: windows first…last (starts) of an event are open; when do they next emit? */
  private noteOpenStarts(first: number, last: number, watermark: number): void {
    for (let start = first; start <= last; start += this.slideMs) {
      if (start + this.sizeMs <= watermark || this.openStarts.has(start)) continue
      this.openStarts.add(start)
      this.earlyDue = Math.min(this.earlyDue, this.nextBoundary(start))
    }
  }

  /** The first start + k·P (k >= 1) after `earlyThrough` and before the window's end, or +Infinity. */
  private nextBoundary(start: number): number {
    const k = Math.max(1, Math.floor((this.earlyThrough - start) / this.everyMs) + 1)
    const boundary = start + k * this.everyMs
    return boundary < start + this.sizeMs ? boundary : Number.POSITIVE_INFINITY
  }

  /**
   * `emit every`: the windows open at `watermark` that crossed a multiple of P since
   * `earlyThrough` emit their current results (early: window_final() is false).
   */
  private emitEarly(watermark: number, origin: number, out: WindowBatchOutput): void {
    const { sizeMs, everyMs } = this
    const due = new Set<number>()
    for (const start of this.openStarts) {
      if (start + sizeMs <= watermark) {
        this.openStarts.delete(start)
        continue
      }
      const k = Math.floor((watermark - start) / everyMs)
      const boundary = start + k * everyMs
      if (k >= 1 && boundary > this.earlyThrough && boundary < start + sizeMs) due.add(start)
    }
    this.earlyThrough = watermark
    let next = Number.POSITIVE_INFINITY
    for (const start of this.openStarts) next = Math.min(next, this.nextBoundary(start))
    this.earlyDue = next
    if (due.size === 0) return
    const rows = this.store.export()
    const picked: number[] = []
    for (let r = 0; r < rows.length; r++) if (due.has(rows.starts[r]!)) picked.push(r)
    this.emitRows(rows, picked, origin, out, false)
  }

  /** `emit on update`: the rows of key `id` in windows from…to (starts) open at `watermark`. */
  private emitUpdated(
    id: number,
    key: string,
    from: number,
    to: number,
    watermark: number,
    origin: number,
    out: WindowBatchOutput,
  ): void {
    for (let start = from; start <= to; start += this.slideMs) {
      if (start + this.sizeMs <= watermark) continue
      const rows = this.store.peek!(id, start)
      if (rows.length === 0) continue
      this.emitRow(rows, 0, key, origin, out, false)
    }
  }

  /**
   * Reads the store's due times again after it changed (add, collect, import): they are getters,
   * calls into WebAssembly for the kernel, too dear to make for every event.
   */
  private refreshStoreDue(): void {
    this.storeDue = Math.min(this.store.nextEmitEnd, this.store.minEnd + this.latenessMs)
    if (this.budget !== null) this.storeRows = this.store.size
  }

  /** With a budget: whether `rows` more rows fit beside the store's and the segment's. */
  private hasRoomFor(rows: number): boolean {
    const held = this.storeRows + this.segmentRows
    return this.budget!.fits(held, held * this.rowBytes, rows, rows * this.rowBytes)
  }

  /** How many windows an event at `time` reaches: those ending after `horizon` (as addRich). */
  private windowsReached(time: number, lastStart: number, horizon: number): number {
    let n = 0
    for (
      let start = lastStart;
      start > time - this.sizeMs && start + this.sizeMs > horizon;
      start -= this.slideMs
    )
      n++
    return n
  }

  /**
   * How many rows an event would create, the segment being in the store: its windows without a
   * row of its key. A store that cannot peek (a kernel built before it) counts them all.
   */
  private newRows(key: string, time: number, lastStart: number, horizon: number): number {
    const id = this.keyIds.get(key)
    const reached = this.windowsReached(time, lastStart, horizon)
    if (id === undefined || this.store.peek === undefined) return reached
    let n = 0
    for (
      let start = lastStart;
      start > time - this.sizeMs && start + this.sizeMs > horizon;
      start -= this.slideMs
    )
      if (this.store.peek(id, start).length === 0) n++
    return n
  }

  private flush(length: number): void {
    this.segmentRows = 0
    if (length === 0) return
    this.store.add(this.segKeyIds, this.segTimes, this.segHorizons, this.argColumns, length)
    this.pendingMinEnd = Number.POSITIVE_INFINITY
    this.refreshStoreDue()
  }

  /** Adds event i's rich arguments to its windows that end after `horizon` (as the store does). */
  private addRich(key: string, i: number, time: number, horizon: number): void {
    const { sizeMs, slideMs } = this
    for (
      let start = lastWindowStart(time, slideMs);
      start > time - sizeMs && start + sizeMs > horizon;
      start -= slideMs
    ) {
      let byKey = this.rich.get(start)
      if (byKey === undefined) {
        byKey = new Map()
        this.rich.set(start, byKey)
      }
      let accumulators = byKey.get(key)
      if (accumulators === undefined) {
        accumulators = this.richSpecs.map(createRich)
        byKey.set(key, accumulators)
        this.richEntries++
      }
      for (let r = 0; r < accumulators.length; r++) accumulators[r]!.add(this.richArgs[r]![i])
    }
  }

  /** The rich values of a window (fresh accumulators' values when it has none). */
  private richResults(start: number, key: string): unknown[] {
    if (this.richSpecs.length === 0) return NO_RICH
    const accumulators = this.rich.get(start)?.get(key) ?? this.richSpecs.map(createRich)
    return accumulators.map((acc) => acc.result())
  }

  /** Drops the rich accumulators of windows ending at or before `purgeUpTo` (the store's purge). */
  private purgeRich(purgeUpTo: number): void {
    for (const [start, byKey] of this.rich) {
      if (start + this.sizeMs <= purgeUpTo) {
        this.richEntries -= byKey.size
        this.rich.delete(start)
      }
    }
  }

  protected collect(watermark: number, origin: number, out: WindowBatchOutput): void {
    const rows = this.store.collect(watermark, watermark - this.latenessMs)
    this.refreshStoreDue()
    this.changed = true
    if (rows.length > 0) {
      const all = Array.from({ length: rows.length }, (_, r) => r)
      this.emitRows(rows, all, origin, out, true)
    }
    if (this.richSpecs.length > 0) this.purgeRich(watermark - this.latenessMs)
    // Early results after the final ones: they are of windows that start later.
    if (this.everyMs > 0) this.emitEarly(watermark, origin, out)
  }

  /** Emits rows `picked` of `rows` in order of window start, then key string. */
  private emitRows(
    rows: WindowRows,
    picked: number[],
    origin: number,
    out: WindowBatchOutput,
    final: boolean,
  ): void {
    const keyOf = (r: number) => this.keyStrings[rows.keyIds[r]!]!
    picked.sort((a, b) => {
      const byStart = rows.starts[a]! - rows.starts[b]!
      if (byStart !== 0) return byStart
      const ka = keyOf(a)
      const kb = keyOf(b)
      return ka < kb ? -1 : ka > kb ? 1 : 0
    })
    for (const r of picked) this.emitRow(rows, r, keyOf(r), origin, out, final)
  }

  /** The result of row r (a failure goes to the dead letters with `origin`). */
  private emitRow(
    rows: WindowRows,
    r: number,
    key: string,
    origin: number,
    out: WindowBatchOutput,
    final: boolean,
  ): void {
    const start = rows.starts[r]!
    const end = start + this.sizeMs
    let record: unknown
    try {
      record = this.functions.result(
        this.keyValuesOf(rows.keyIds[r]!),
        start,
        end,
        rows.values,
        rows.aux,
        r,
        this.richResults(start, key),
        final,
      )
    } catch (error) {
      out.failures.push({ origin, error, site: -1 })
      return
    }
    pushEvent(out.results, record, key, end - 1, origin)
  }

  private idOf(key: string): number {
    let id = this.keyIds.get(key)
    if (id === undefined) {
      id = this.keyStrings.length
      this.keyIds.set(key, id)
      this.keyStrings.push(key)
      this.keyValuesById.push(undefined)
    }
    return id
  }

  private keyValuesOf(id: number): readonly unknown[] {
    let values = this.keyValuesById[id]
    if (values === undefined) {
      values = this.functions.keyValues(this.keyStrings[id]!)
      this.keyValuesById[id] = values
    }
    return values
  }

  private ensureCapacity(n: number): void {
    if (n <= this.capacity && this.argColumns.length === this.functions.accumulators.length) return
    const capacity = Math.max(n, this.capacity * 2, 256)
    this.segKeyIds = new Int32Array(capacity)
    this.segTimes = new Float64Array(capacity)
    this.segHorizons = new Float64Array(capacity)
    const { columns, written } = argumentColumns(this.functions, capacity)
    this.argColumns = columns
    this.writtenColumns = written
    this.capacity = capacity
  }

  /**
   * The whole state as bytes. Keys without rows are left out, and the dictionary is rebuilt from
   * the rows when it has grown well past them, so it does not grow with every key ever seen.
   */
  snapshot(): Buffer {
    const rows = this.store.export()
    const live = new Map<number, number>()
    const liveKeys: Buffer[] = []
    for (let r = 0; r < rows.length; r++) {
      const id = rows.keyIds[r]!
      if (!live.has(id)) {
        live.set(id, liveKeys.length)
        liveKeys.push(Buffer.from(this.keyStrings[id]!, 'utf8'))
      }
    }
    const accumulators = rows.values.length
    const keyBytes = liveKeys.reduce((sum, k) => sum + 4 + k.length, 0)
    const rowBytes = 4 + 8 + 1 + 16 * accumulators
    const buffer = Buffer.allocUnsafe(24 + keyBytes + rows.length * rowBytes)
    let at = buffer.writeUInt32BE(SNAPSHOT_MAGIC, 0)
    at = buffer.writeDoubleBE(this.maxTime, at)
    at = buffer.writeUInt32BE(accumulators, at)
    at = buffer.writeUInt32BE(liveKeys.length, at)
    at = buffer.writeUInt32BE(rows.length, at)
    for (const key of liveKeys) {
      at = buffer.writeUInt32BE(key.length, at)
      at += key.copy(buffer, at)
    }
    for (let r = 0; r < rows.length; r++) {
      at = buffer.writeInt32BE(live.get(rows.keyIds[r]!)!, at)
      at = buffer.writeDoubleBE(rows.starts[r]!, at)
      at = buffer.writeUInt8(rows.dirty[r]!, at)
      for (let j = 0; j < accumulators; j++) {
        at = buffer.writeDoubleBE(rows.values[j]![r]!, at)
        at = buffer.writeDoubleBE(rows.aux[j]![r]!, at)
      }
    }
    if (this.keyIds.size > 2 * liveKeys.length + 4096) this.restoreRows(liveKeys, rows, live)
    return Buffer.concat([buffer, this.richSnapshot()])
  }

  /**
   * The rich section of a snapshot: the number of rich aggregates (u32) and of windows that have
   * rich accumulators (u32), then per window its start (f64), its key (u32 length, UTF-8) and
   * each accumulator's bytes (u32 length, bytes).
   */
  private richSnapshot(): Buffer {
    const parts: Buffer[] = []
    const head = Buffer.allocUnsafe(8)
    head.writeUInt32BE(this.richSpecs.length, 0)
    head.writeUInt32BE(this.richEntries, 4)
    parts.push(head)
    for (const [start, byKey] of this.rich) {
      for (const [key, accumulators] of byKey) {
        const keyBytes = Buffer.from(key, 'utf8')
        const entry = Buffer.allocUnsafe(12)
        entry.writeDoubleBE(start, 0)
        entry.writeUInt32BE(keyBytes.length, 8)
        parts.push(entry, keyBytes)
        for (const acc of accumulators) {
          const bytes = acc.serialize()
          const length = Buffer.allocUnsafe(4)
          length.writeUInt32BE(bytes.length, 0)
          parts.push(length, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
        }
      }
    }
    return Buffer.concat(parts)
  }

  /** Reads the rich section at `at` (see richSnapshot). */
  private restoreRich(bytes: Buffer, at: number): void {
    const count = bytes.readUInt32BE(at)
    const entries = bytes.readUInt32BE(at + 4)
    at += 8
    if (count !== this.richSpecs.length) {
      throw new Error(
        `the window snapshot has ${count} rich aggregates but the step has ${this.richSpecs.length}`,
      )
    }
    for (let e = 0; e < entries; e++) {
      const start = bytes.readDoubleBE(at)
      const keyLength = bytes.readUInt32BE(at + 8)
      const key = bytes.toString('utf8', at + 12, at + 12 + keyLength)
      at += 12 + keyLength
      const accumulators = this.richSpecs.map((spec) => {
        const length = bytes.readUInt32BE(at)
        const acc = deserializeRich(spec, bytes.subarray(at + 4, at + 4 + length))
        at += 4 + length
        return acc
      })
      let byKey = this.rich.get(start)
      if (byKey === undefined) {
        byKey = new Map()
        this.rich.set(start, byKey)
      }
      byKey.set(key, accumulators)
      this.richEntries++
    }
  }

  /** Restores a snapshot (an empty or absent one: no state). */
  restore(bytes: Buffer | undefined): void {
    this.store.clear()
    this.storeDue = Number.POSITIVE_INFINITY
    this.storeRows = 0
    this.segmentRows = 0
    this.keyIds.clear()
    this.keyStrings = []
    this.keyValuesById = []
    this.maxTime = Number.NEGATIVE_INFINITY
    this.pendingMinEnd = Number.POSITIVE_INFINITY
    this.changed = false
    this.rich.clear()
    this.richEntries = 0
    this.openStarts.clear()
    this.earlyThrough = Number.NEGATIVE_INFINITY
    this.earlyDue = Number.POSITIVE_INFINITY
    if (bytes === undefined || bytes.length === 0) return
    const magic = bytes.readUInt32BE(0)
    if (magic !== SNAPSHOT_MAGIC && magic !== SNAPSHOT_MAGIC_V1) throw new Error('not a window snapshot')
    if (magic === SNAPSHOT_MAGIC_V1 && this.richSpecs.length > 0) {
      throw new Error(`the window snapshot has no rich aggregates but the step has ${this.richSpecs.length}`)
    }
    let at = 4
    this.maxTime = bytes.readDoubleBE(at)
    at += 8
    const accumulators = bytes.readUInt32BE(at)
    const keyCount = bytes.readUInt32BE(at + 4)
    const rowCount = bytes.readUInt32BE(at + 8)
    at += 12
    if (accumulators !== this.functions.accumulators.length) {
      throw new Error(
        `the window snapshot has ${accumulators} accumulators but the step has ${this.functions.accumulators.length}`,
      )
    }
    for (let k = 0; k < keyCount; k++) {
      const length = bytes.readUInt32BE(at)
      this.idOf(bytes.toString('utf8', at + 4, at + 4 + length))
      at += 4 + length
    }
    const rows = {
      length: rowCount,
      keyIds: new Int32Array(rowCount),
      starts: new Float64Array(rowCount),
      dirty: new Uint8Array(rowCount),
      values: Array.from({ length: accumulators }, () => new Float64Array(rowCount)),
      aux: Array.from({ length: accumulators }, () => new Float64Array(rowCount)),
    }
    for (let r = 0; r < rowCount; r++) {
      rows.keyIds[r] = bytes.readInt32BE(at)
      rows.starts[r] = bytes.readDoubleBE(at + 4)
      rows.dirty[r] = bytes.readUInt8(at + 12)
      at += 13
      for (let j = 0; j < accumulators; j++) {
        rows.values[j]![r] = bytes.readDoubleBE(at)
        rows.aux[j]![r] = bytes.readDoubleBE(at + 8)
        at += 16
      }
    }
    this.store.import(rows)
    this.refreshStoreDue()
    if (magic === SNAPSHOT_MAGIC) this.restoreRich(bytes, at)
    if (this.everyMs > 0) {
      // Snapshots are taken between batches, when early results are given through the watermark.
      const watermark = this.maxTime - this.delayMs
      this.earlyThrough = watermark
      for (let r = 0; r < rowCount; r++) this.noteOpenStarts(rows.starts[r]!, rows.starts[r]!, watermark)
    }
  }

  /** Renumbers keys densely (live ones only) and reloads the store's rows under the new ids. */
  private restoreRows(
    liveKeys: readonly Buffer[],
    rows: WindowRows,
    live: ReadonlyMap<number, number>,
  ): void {
    const keyIds = new Int32Array(rows.length)
    for (let r = 0; r < rows.length; r++) keyIds[r] = live.get(rows.keyIds[r]!)!
    this.keyIds.clear()
    this.keyStrings = []
    this.keyValuesById = []
    for (const key of liveKeys) this.idOf(key.toString('utf8'))
    this.store.clear()
    this.store.import({ ...rows, keyIds })
    this.refreshStoreDue()
  }
}

/**
 * One argument column per accumulator, as the store takes them; accumulators whose arguments the
 * generated code puts in one column get the same array (artifacts without `argColumns`: one each).
 */
export function argumentColumns(
  functions: WindowFunctions,
  capacity: number,
): { columns: Float64Array[]; written: Float64Array[] } {
  const layout = functions.argColumns ?? functions.accumulators.map((kind, j) => (kind === 'count' ? -1 : j))
  const own = functions.accumulators.map(() => new Float64Array(capacity))
  const columns = layout.map((c, j) => own[c >= 0 ? c : j]!)
  const written = [...new Set(layout.filter((c) => c >= 0))].map((c) => own[c]!)
  return { columns, written }
}

/** The reason a late event of a count window gives in the dead letters (the reference's words). */
export function countLateReason(time: number, watermark: number): string {
  return `late event: its event time ${new Date(time).toISOString()} is behind the watermark ${new Date(watermark).toISOString()}, and count windows count events in event-time order`
}

/** The reason a late event gives in the dead letters (the same words as the reference's). */
export function lateReason(time: number, watermark: number, latenessMs: number): string {
  return `late event: its event time ${new Date(time).toISOString()} is in windows that closed for good (watermark ${new Date(watermark).toISOString()}, lateness ${latenessMs} ms)`
}
