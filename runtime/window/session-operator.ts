/**
 * Session windows on one source partition (specs/language.md, "Windows"; the reference is
 * compiler/ir/window-semantics.ts, `ReferenceWindows` with a session spec).
 *
 * An event at t with gap g opens [t, t + g); it merges with every kept session of its key that
 * overlaps or touches it (start <= t + g and end >= t) into one session spanning them all, whose
 * accumulators are combined. Watermark, firing, lateness and the order of results follow the same
 * rules as the time windows of window-operator.ts, event by event (sessions merge, so there is no
 * columnar kernel for them: the compiler always runs them here, in TypeScript).
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
import type { AccumulatorKind } from './accumulator-store.ts'
import { EventTimeOperator, emptyOutput, refuseLate } from './event-time.ts'
import { type AccumulatorRow, columnsOf, foldRow, initialRow } from './row-accumulators.ts'
import { argumentColumns, type WindowBatchOutput, type WindowedOperator } from './window-operator.ts'

interface Session extends AccumulatorRow {
  start: number
  end: number
  dirty: boolean
  /** The rich aggregates' accumulators (stdlib/sketches); merged when sessions merge. */
  readonly rich: RichAccumulator[]
}

/** Snapshots before rich aggregates: sessions without their rich section (still restored). */
const SNAPSHOT_MAGIC_V1 = 0x534c5331 // "SLS1"
const SNAPSHOT_MAGIC = 0x534c5332 // "SLS2"

export class SessionWindowOperator extends EventTimeOperator implements WindowedOperator, Budgeted {
  private arrivals = 0
  private readonly sessions = new Map<string, Session[]>()
  private readonly keyValues = new Map<string, readonly unknown[]>()
  private sessionCount = 0
  /** The earliest watermark at which a session fires or is dropped (exact after each collect). */
  private due = Number.POSITIVE_INFINITY
  private readonly kinds: readonly AccumulatorKind[]
  private readonly latenessMs: number
  private readonly fixedGapMs: number | null
  /** The state budget (runtime/state/entry-budget.ts): its entries are the sessions. */
  readonly stats: StateStats = { evicted: 0, refused: 0, expired: 0 }
  private budget: EntryBudget | null = null

  private capacity = 0
  private argColumns: Float64Array[] = []
  private gaps = new Float64Array(0)
  private readonly keysOfBatch: (string | null)[] = []
  private readonly richSpecs: readonly RichSpec[]
  /** The rich aggregates' arguments of the batch, one array per rich aggregate. */
  private readonly richArgs: unknown[][]

  constructor(
    readonly node: WindowGraphNode,
    private readonly functions: WindowFunctions,
    delayMs: number,
    /** Whether its input is another window's results (see EventTimeOperator). */
    readsWindowResults = false,
  ) {
    super(delayMs, readsWindowResults)
    if (node.window.kind !== 'session') throw new Error(`window ${node.id} is not a session window`)
    this.kinds = functions.accumulators
    this.latenessMs = node.latenessMs
    this.fixedGapMs = node.window.gapMs
    this.richSpecs = functions.rich ?? []
    this.richArgs = this.richSpecs.map(() => [])
  }

  get rows(): number {
    return this.sessionCount
  }

  get approximateBytes(): number {
    return this.sessionCount * this.sessionBytes
  }

  /** A rough figure for one session (a HyperLogLog alone is 16 KiB, so the sketches' is rougher). */
  private get sessionBytes(): number {
    return 48 + 24 * this.kinds.length + 256 * this.richSpecs.length
  }

  get stateEntries(): number {
    return this.sessionCount
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
    this.functions.extract(input, this.keysOfBatch, this.argColumns, errors, this.gaps, this.richArgs)
    for (const e of errors)
      out.failures.push({ origin: input.origins[e.index]!, error: e.error, site: e.site })

    /** The first source record whose watermark has not been fired through yet. */
    let next = 0
    for (let i = 0; i < n; i++) {
      const key = this.keysOfBatch[i]
      if (key === null || key === undefined) continue
      const origin = input.origins[i]!
      const seen = this.recordSeenBy(origin)
      const watermark = this.watermarkAt(sourceMaxTimes, seen)
      if (watermark >= this.due) this.fireThrough(next, seen, sourceMaxTimes, out)
      next = seen + 1
      const time = input.timestamps[i]!
      const gap = this.fixedGapMs ?? this.gaps[i]!
      const seq = this.arrivals++
      const list = this.sessions.get(key) ?? []
      const overlapping = list.filter((s) => s.start <= time + gap && s.end >= time)
      if (overlapping.length === 0 && time + gap + this.latenessMs <= watermark) {
        refuseLate(out, input, i, watermark)
        continue
      }
      // Only an event that merges with no session of its key needs a new one.
      if (overlapping.length === 0 && this.budget !== null) {
        const held = this.sessionCount
        if (!this.budget.fits(held, held * this.sessionBytes, 1, this.sessionBytes)) {
          out.failures.push({ origin, error: this.budget.refuse(), site: -1 })
          continue
        }
      }
      const merged = this.newSession(time, time + gap)
      for (const s of overlapping) this.combine(merged, s)
      this.fold(merged, i, time, seq)
      if (overlapping.length === 0) {
        list.push(merged)
        this.sessions.set(key, list)
      } else {
        const kept = list.filter((s) => !overlapping.includes(s))
        kept.push(merged)
        this.sessions.set(key, kept)
      }
      this.sessionCount += 1 - overlapping.length
      if (!this.keyValues.has(key)) this.keyValues.set(key, this.functions.keyValues(key))
      this.changed = true
      if (merged.end <= watermark) this.collect(watermark, origin, out)
      else if (merged.end < this.due) this.due = merged.end
    }
    this.finishBatch(next, lastRecord, sourceMaxTimes, out)
    return out
  }

  /** Emits the dirty sessions that ended by `watermark` (by start, then key), drops the gone ones. */
  protected dueAt(): number {
    return this.due
  }

  protected collect(watermark: number, origin: number, out: WindowBatchOutput): void {
    this.changed = true
    const emit: { key: string; session: Session }[] = []
    let due = Number.POSITIVE_INFINITY
    for (const [key, list] of this.sessions) {
      for (const session of list) {
        if (session.dirty && session.end <= watermark) {
          session.dirty = false
          emit.push({ key, session })
        }
      }
      const kept = list.filter((s) => s.end + this.latenessMs > watermark)
      this.sessionCount -= list.length - kept.length
      if (kept.length === 0) {
        this.sessions.delete(key)
        this.keyValues.delete(key)
        continue
      }
      if (kept.length !== list.length) this.sessions.set(key, kept)
      for (const s of kept) due = Math.min(due, s.dirty ? s.end : s.end + this.latenessMs)
    }
    this.due = due
    emit.sort((a, b) => a.session.start - b.session.start || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    const { results } = out
    for (const { key, session } of emit) {
      let record: unknown
      try {
        record = this.functions.result(
          this.keyValues.get(key) ?? this.functions.keyValues(key),
          session.start,
          session.end,
          columnsOf(session.values),
          columnsOf(session.aux),
          0,
          session.rich.map((acc) => acc.result()),
        )
      } catch (error) {
        out.failures.push({ origin, error, site: -1 })
        continue
      }
      pushEvent(results, record, key, session.end - 1, origin)
    }
  }

  private newSession(start: number, end: number): Session {
    return { start, end, dirty: true, ...initialRow(this.kinds), rich: this.richSpecs.map(createRich) }
  }

  /** Folds event i (argument columns at index i) into `s`, by the rules of accumulator-store.ts. */
  private fold(s: Session, i: number, time: number, seq: number): void {
    for (let r = 0; r < s.rich.length; r++) s.rich[r]!.add(this.richArgs[r]![i], seq)
    const columns = this.argColumns
    foldRow(s, this.kinds, (j) => columns[j]![i]!, time, seq)
  }

  /** Combines session `b` into `a` (they merge); `a`'s bounds grow to cover `b`. */
  private combine(a: Session, b: Session): void {
    a.start = Math.min(a.start, b.start)
    a.end = Math.max(a.end, b.end)
    for (let r = 0; r < a.rich.length; r++) a.rich[r]!.merge(b.rich[r]!)
    for (let j = 0; j < this.kinds.length; j++) {
      switch (this.kinds[j]!) {
        case 'count':
          a.values[j]! += b.values[j]!
          break
        case 'sum':
          a.values[j]! += b.values[j]!
          a.aux[j]! += b.aux[j]!
          break
        case 'min':
          if (b.values[j]! < a.values[j]!) a.values[j] = b.values[j]!
          a.aux[j]! += b.aux[j]!
          break
        case 'max':
          if (b.values[j]! > a.values[j]!) a.values[j] = b.values[j]!
          a.aux[j]! += b.aux[j]!
          break
        case 'max_by':
        case 'min_by': {
          // b's choice wins by the fold's order: the better `by`, then the earlier time, then seq.
          if (!Number.isFinite(b.aux[j]!)) break
          const better =
            this.kinds[j] === 'max_by' ? b.values[j]! > a.values[j]! : b.values[j]! < a.values[j]!
          const tie =
            b.values[j] === a.values[j] &&
            (b.aux[j]! < a.aux[j]! || (b.aux[j] === a.aux[j] && b.seqs[j]! < a.seqs[j]!))
          if (better || tie) {
            a.values[j] = b.values[j]!
            a.aux[j] = b.aux[j]!
            a.seqs[j] = b.seqs[j]!
            // The `taken` that follows moves with the choice.
            a.values[j + 1] = b.values[j + 1]!
          }
          break
        }
        case 'first':
        case 'last': {
          if (!Number.isFinite(b.aux[j]!)) break
          const earlier =
            !Number.isFinite(a.aux[j]!) ||
            b.aux[j]! < a.aux[j]! ||
            (b.aux[j] === a.aux[j] && b.seqs[j]! < a.seqs[j]!)
          const later =
            !Number.isFinite(a.aux[j]!) ||
            b.aux[j]! > a.aux[j]! ||
            (b.aux[j] === a.aux[j] && b.seqs[j]! > a.seqs[j]!)
          if (this.kinds[j] === 'first' ? earlier : later) {
            a.values[j] = b.values[j]!
            a.aux[j] = b.aux[j]!
            a.seqs[j] = b.seqs[j]!
          }
          break
        }
      }
    }
  }

  private ensureCapacity(n: number): void {
    if (n <= this.capacity) return
    const capacity = Math.max(n, this.capacity * 2, 256)
    this.argColumns = argumentColumns(this.functions, capacity).columns
    this.gaps = new Float64Array(capacity)
    this.capacity = capacity
  }

  /**
   * The whole state: watermark, arrival counter, every session with its key; after each session's
   * accumulators, each rich accumulator's bytes (u32 length, bytes).
   */
  snapshot(): Buffer {
    const k = this.kinds.length
    const keys = [...this.sessions].map(([key, list]) => ({
      key: Buffer.from(key, 'utf8'),
      list: list.map((s) => ({ s, rich: s.rich.map((acc) => acc.serialize()) })),
    }))
    const size =
      32 +
      keys.reduce(
        (sum, { key, list }) =>
          sum +
          8 +
          key.length +
          list.reduce(
            (bytes, { rich }) => bytes + 17 + 24 * k + rich.reduce((n, b) => n + 4 + b.length, 0),
            0,
          ),
        0,
      )
    const buffer = Buffer.allocUnsafe(size)
    let at = buffer.writeUInt32BE(SNAPSHOT_MAGIC, 0)
    at = buffer.writeDoubleBE(this.maxTime, at)
    at = buffer.writeDoubleBE(this.arrivals, at)
    at = buffer.writeUInt32BE(k, at)
    at = buffer.writeUInt32BE(this.richSpecs.length, at)
    at = buffer.writeUInt32BE(keys.length, at)
    for (const { key, list } of keys) {
      at = buffer.writeUInt32BE(key.length, at)
      at += key.copy(buffer, at)
      at = buffer.writeUInt32BE(list.length, at)
      for (const { s, rich } of list) {
        at = buffer.writeDoubleBE(s.start, at)
        at = buffer.writeDoubleBE(s.end, at)
        at = buffer.writeUInt8(s.dirty ? 1 : 0, at)
        for (let j = 0; j < k; j++) {
          at = buffer.writeDoubleBE(s.values[j]!, at)
          at = buffer.writeDoubleBE(s.aux[j]!, at)
          at = buffer.writeDoubleBE(s.seqs[j]!, at)
        }
        for (const bytes of rich) {
          at = buffer.writeUInt32BE(bytes.length, at)
          buffer.set(bytes, at)
          at += bytes.length
        }
      }
    }
    return buffer
  }

  restore(bytes: Buffer | undefined): void {
    this.sessions.clear()
    this.keyValues.clear()
    this.sessionCount = 0
    this.maxTime = Number.NEGATIVE_INFINITY
    this.arrivals = 0
    this.changed = false
    this.due = Number.POSITIVE_INFINITY
    if (bytes === undefined || bytes.length === 0) return
    const magic = bytes.readUInt32BE(0)
    if (magic !== SNAPSHOT_MAGIC && magic !== SNAPSHOT_MAGIC_V1)
      throw new Error('not a session window snapshot')
    this.maxTime = bytes.readDoubleBE(4)
    this.arrivals = bytes.readDoubleBE(12)
    const k = bytes.readUInt32BE(20)
    if (k !== this.kinds.length) {
      throw new Error(`the session snapshot has ${k} accumulators but the step has ${this.kinds.length}`)
    }
    let at = 24
    const richCount = magic === SNAPSHOT_MAGIC ? bytes.readUInt32BE(at) : 0
    if (magic === SNAPSHOT_MAGIC) at += 4
    if (richCount !== this.richSpecs.length) {
      throw new Error(
        `the session snapshot has ${richCount} rich aggregates but the step has ${this.richSpecs.length}`,
      )
    }
    const keyCount = bytes.readUInt32BE(at)
    at += 4
    for (let n = 0; n < keyCount; n++) {
      const length = bytes.readUInt32BE(at)
      const key = bytes.toString('utf8', at + 4, at + 4 + length)
      at += 4 + length
      const count = bytes.readUInt32BE(at)
      at += 4
      const list: Session[] = []
      for (let c = 0; c < count; c++) {
        const s = this.newSession(bytes.readDoubleBE(at), bytes.readDoubleBE(at + 8))
        s.dirty = bytes.readUInt8(at + 16) === 1
        at += 17
        for (let j = 0; j < k; j++) {
          s.values[j] = bytes.readDoubleBE(at)
          s.aux[j] = bytes.readDoubleBE(at + 8)
          s.seqs[j] = bytes.readDoubleBE(at + 16)
          at += 24
        }
        for (let r = 0; r < richCount; r++) {
          const size = bytes.readUInt32BE(at)
          s.rich[r] = deserializeRich(this.richSpecs[r]!, bytes.subarray(at + 4, at + 4 + size))
          at += 4 + size
        }
        list.push(s)
        this.due = Math.min(this.due, s.dirty ? s.end : s.end + this.latenessMs)
      }
      this.sessions.set(key, list)
      this.keyValues.set(key, this.functions.keyValues(key))
      this.sessionCount += list.length
    }
  }
}
