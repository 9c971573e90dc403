/**
 * The `match` step's operator (complex event processing; docs/cep.md): event time, keys, late
 * events, checkpoints and metrics around a PatternEngine (engine.ts) that steps partial matches.
 *
 * Event time as Flink's CepOperator keeps it: an event is buffered until the watermark passes it
 * and released in (time, arrival) order, so out-of-order input matches as sorted input does; an
 * event before the watermark when it arrives (as of the source record before its own) is late.
 * Flink keeps `timestamp > currentWatermark`, but Flink's watermarks trail the largest time by the
 * delay and one millisecond more (BoundedOutOfOrdernessWatermarks): in Sluice's terms, where the
 * watermark is the largest time less the delay, an event at the watermark is on time, so events of
 * one millisecond that arrive in order under `watermark ts` are all matched, as in Flink.
 * The watermark is the window operators' (event-time.ts: the source's largest event time minus its
 * delay, as of each source record), so the runner wires a `match` like a window: results name the
 * source record whose watermark released them. What the watermark alone ends (absence at the end,
 * timeouts, matches a skip strategy held back: watermark-ended.ts) is due at the engine's next
 * expiry, so fireThrough advances the engine at the record whose watermark passes the span, as it
 * fires windows, and such outputs land there whatever the batch cuts (docs/decisions/0020, fourth
 * addendum).
 *
 * Keys (`match by`) get dense ids for the engine; an id is freed once its key holds nothing (no
 * buffered event, no partial match) so that a stream of distinct keys does not grow the tables.
 * An event whose key is null (or fails) is left out, as windows leave such events out.
 */
import { deserialize, serialize } from 'node:v8'
import { type EventBatch, pushEvent } from '../artifact/operators.ts'
import type { SnapshotChanges } from '../state/index.ts'
import { EventTimeOperator, emptyOutput, refuseLate } from '../window/event-time.ts'
import type { WindowBatchOutput, WindowedOperator } from '../window/window-operator.ts'
import { BatchReleases } from './batch-releases.ts'
import type {
  CepFunctions,
  DropReason,
  EngineBudget,
  EngineMatch,
  PatternEngine,
  PatternEngineFactory,
  ReleasedEvents,
  SegmentOutputs,
} from './engine.ts'
import { emptySegmentOutputs } from './engine.ts'
import { EventBuffer } from './event-buffer.ts'
import {
  type ChunkInfo,
  ChunkWriter,
  chunkEntry,
  chunkOfEntry,
  decodeChunk,
  decodeMeta,
  encodeMeta,
  KeyChunks,
  type KeyEntry,
  META_ENTRY,
  withRows,
} from './key-snapshots.ts'
import { matchContext } from './nfa.ts'
import { compileNfa } from './nfa-compile.ts'
import type { PatternSpec } from './pattern-spec.ts'
import {
  chunkOfReference,
  decodeRowChunk,
  indexOfReference,
  RowChunks,
  rowChunkEntry,
  rowChunkOfEntry,
} from './row-chunks.ts'
import { endsByWatermark } from './watermark-ended.ts'

/** A batch's output: a window's, plus the timed-out partial matches (`timeout into`). */
export interface CepBatchOutput extends WindowBatchOutput {
  /** Records of timed-out partial matches (empty without `timeout into`); origins as results'. */
  readonly timeouts: EventBatch
}

/** What `sluice explain` watches besides the engine's trace: events as they enter the operator. */
export interface CepObserver {
  /** An event was buffered under arrival number `seq` (the engine's trace names events by it). */
  buffered(seq: number, key: string, time: number, row: unknown): void
  /** An event arrived before the watermark; `key` is null when its key is null or fails. */
  late(key: string | null, time: number, watermark: number, row: unknown): void
}

const SNAPSHOT_MAGIC = 0x534c4331 // "SLC1"
/** The one entry a match step's scope held before incremental snapshots (a full snapshot()). */
export const FULL_SNAPSHOT_ENTRY = 'match'

export class CepOperator extends EventTimeOperator implements WindowedOperator {
  private engine: PatternEngine
  private readonly keyIds = new Map<string, number>()
  private keyStrings: (string | undefined)[] = []
  private freeIds: number[] = []
  private bufferedPerKey: number[] = []
  /** Buffered events, released in (time, seq) order (event-buffer.ts). */
  private readonly waiting = new EventBuffer()
  private seq = 0
  /** The watermark the engine's time was last advanced to. */
  private advancedTo = Number.NEGATIVE_INFINITY
  /** Set by explain (runtime/cep/explain.ts); null in normal running. */
  observer: CepObserver | null = null
  /** Where each key's newest version is in the store, and the keys changed since the last checkpoint (key-snapshots.ts). */
  private readonly chunks = new KeyChunks()
  /** Which stored row each key's matched events refer to, and the row chunks' references (row-chunks.ts). */
  private readonly rowChunks = new RowChunks()
  /** Restored from a full snapshot: the next changes replace its entry with chunks. */
  private fullEntryToDrop = false
  /**
   * Whether the watermark alone can end a partial match with output (watermark-ended.ts): then the
   * engine's next expiry is a due time like a buffered event's, and the time advances at the
   * record whose watermark passes it.
   */
  private readonly endsByWatermark: boolean
  /** The engine's nextDue() as of the last advance; +Infinity when endsByWatermark is false. */
  private engineDue = Number.POSITIVE_INFINITY
  /**
   * Whether a checkpoint leaves out the keys the watermark alone changed (when endsByWatermark is
   * false, it only drops partial matches whose `within` ran out, with no output): their stored
   * version drops the same partial matches when restoreEntries advances the engine to the stored
   * watermark, and with 100,000 keys about half of those a checkpoint wrote were such.
   */
  private readonly expiryStaysImplicit: boolean
  /** The watermark advanced to as of the scalars last written (takeChanges writes them again when it moved). */
  private writtenAdvancedTo = Number.NEGATIVE_INFINITY
  /**
   * Whether a batch's releases are stepped in one engine call at its end (stepSegments: the
   * engine advances to each segment's watermark after its events, as per record; issue 14,
   * decision 0032's addenda), rather than stepped and advanced at each record. The engine's state
   * is only read (keys freed, outputs emitted) after the batch. When the watermark alone ends
   * something with output (endsByWatermark), whether a record's watermark ends anything is only
   * known after stepping what came before, so every record that moves the watermark gets a
   * segment (dueAt); otherwise segments are the releases. Tests set it false to compare the two;
   * explain (an observer, a trace) steps per record.
   */
  stepsPerBatch: boolean
  /** The batch being processed's largest source times (collect reads the watermark of the record before). */
  private sourceMaxTimes: Float64Array = new Float64Array(0)
  /** The current batch's releases while stepsPerBatch (null otherwise). */
  private batch: BatchReleases | null = null
  private readonly batchReleases = new BatchReleases()

  constructor(
    readonly spec: PatternSpec,
    private readonly functions: CepFunctions,
    delayMs: number,
    private readonly engineFactory: PatternEngineFactory,
    readonly budget: EngineBudget,
  ) {
    super(delayMs)
    this.engine = engineFactory(spec, functions, budget)
    const nfa = compileNfa(spec)
    this.endsByWatermark = endsByWatermark(nfa, spec.skip, functions.timeout !== null)
    this.expiryStaysImplicit = !this.endsByWatermark
    // Per batch for every pattern and both engines: ids are freed after the batch instead of at a
    // release, which no output order depends on (the kernel passes over the timers of a key it
    // forgot, so a reused id does not bring them along; decision 0032, addendum of 20:00).
    this.stepsPerBatch = true
  }

  /** Partial matches held over all keys. */
  get partialMatches(): number {
    return this.engine.partialMatches
  }

  /** Events waiting for the watermark. */
  get buffered(): number {
    return this.waiting.length
  }

  /** Partial matches dropped since the start (or the restore), by reason. */
  get dropped(): Readonly<Record<DropReason, number>> {
    return this.engine.dropped
  }

  /** Keys that hold something. */
  get keys(): number {
    return this.keyIds.size
  }

  get rows(): number {
    return this.engine.partialMatches + this.waiting.length
  }

  get approximateBytes(): number {
    // A rough figure: a buffered event or a partial match with its share of the events it holds.
    return (this.engine.partialMatches + this.waiting.length) * 128
  }

  /** The engine (explain sets its trace). */
  get patternEngine(): PatternEngine {
    return this.engine
  }

  /**
   * Processes one batch of the step's input. `sourceMaxTimes[o]` is the largest event time among
   * the batch's source records 0…o; `lastRecord` is the index of the batch's last source record.
   */
  process(input: EventBatch, sourceMaxTimes: Float64Array, lastRecord: number): CepBatchOutput {
    const out: CepBatchOutput = { ...emptyOutput(), timeouts: emptyBatch() }
    const perBatch = this.stepsPerBatch && this.observer === null && this.engine.trace === null
    this.batch = perBatch ? this.batchReleases : null
    this.sourceMaxTimes = sourceMaxTimes
    try {
      this.processRecords(input, sourceMaxTimes, lastRecord, out)
      if (this.batch !== null) this.stepBatch(this.batch, out)
    } finally {
      this.batch?.clear()
      this.batch = null
    }
    return out
  }

  private processRecords(
    input: EventBatch,
    sourceMaxTimes: Float64Array,
    lastRecord: number,
    out: CepBatchOutput,
  ): void {
    let next = 0
    for (let i = 0; i < input.length; i++) {
      const origin = input.origins[i] as number
      // The watermark the event meets is the one before its own record moved it (Flink's
      // current watermark when the element arrives): with no delay, an in-order event is on time.
      const before = this.recordSeenBy(origin) - 1
      const watermark = this.watermarkAt(sourceMaxTimes, before)
      if (watermark >= this.dueAt()) this.fireThrough(next, before, sourceMaxTimes, out)
      next = Math.max(next, before + 1)
      const time = input.timestamps[i] as number
      if (!(time >= watermark)) {
        if (this.observer !== null) this.observeLate(input.values[i], time, watermark)
        refuseLate(out, input, i, watermark)
        continue
      }
      const key = this.keyOf(input.values[i], origin, out)
      if (key === null) continue
      this.buffer(this.idOf(key), time, input.values[i])
    }
    this.finishBatch(next, lastRecord, sourceMaxTimes, out)
    if (lastRecord >= 0) {
      const watermark = this.maxTime - this.delayMs
      // Partial matches may time out with no event to release: the watermark alone moves them.
      // When that emits something, fireThrough advanced at each record that passed an expiry
      // (dueAt), and nothing is left due here; otherwise this ends what expired silently.
      if (watermark > this.advancedTo) {
        if (this.batch !== null) this.releaseLater(this.batch, watermark, lastRecord, out)
        else this.advance(watermark, lastRecord, [], out)
      }
    }
  }

  protected dueAt(): number {
    // Stepping per batch, the engine's next expiry is not known before the batch's end: every
    // record that moves the watermark may end something, so each gets a segment.
    if (this.batch !== null && this.endsByWatermark)
      return Math.min(this.waiting.dueAt, justAbove(this.advancedTo))
    return Math.min(this.waiting.dueAt, this.engineDue)
  }

  protected collect(watermark: number, origin: number, out: WindowBatchOutput): void {
    // The engine's time advances at every record, as if each were a batch of its own: a budget
    // check of the released events counts what the record before's watermark left (decision 0032,
    // addendum of 16:25). Without this, a record that moved the watermark but released nothing
    // would leave partial matches it ended counted, and `maxTotal` would depend on batch cuts.
    // (Only the time: an event that came with record `origin` may be at that watermark, on time.)
    const before = origin > 0 ? this.watermarkAt(this.sourceMaxTimes, origin - 1) : Number.NEGATIVE_INFINITY
    if (this.batch !== null) {
      if (before > this.advancedTo) {
        this.batch.endSegment(before, origin - 1, out.failures.length)
        this.advancedTo = before
      }
      this.releaseLater(this.batch, watermark, origin, out)
      return
    }
    if (before > this.advancedTo) this.advance(before, origin - 1, [], out)
    const released = this.release(watermark)
    const matches: EngineMatch[] = []
    const failures: { seq: number; error: unknown; site: number }[] = []
    if (this.engine.wantsMasks) this.fillMasks(released, origin, out)
    this.engine.step(released, matches, failures)
    for (const f of failures) out.failures.push({ origin, error: f.error, site: f.site })
    this.emitMatches(matches, origin, out)
    const touched: number[] = []
    for (let i = 0; i < released.length; i++) touched.push(released.keyIds[i] as number)
    for (const m of matches) touched.push(m.keyId)
    this.advance(watermark, origin, touched, out as CepBatchOutput)
  }

  /**
   * A release while stepping per batch: the buffered events at or before the watermark join the
   * batch's releases as one segment, stepped at the batch's end (stepBatch). What the engine would
   * do here waits for it; what the buffer does (the events leave it, their keys are marked) is done.
   */
  private releaseLater(
    batch: BatchReleases,
    watermark: number,
    origin: number,
    out: WindowBatchOutput,
  ): void {
    const from = batch.length
    const n = this.waiting.releaseInto(watermark, batch)
    const keyIds = batch.keyIds
    for (let i = from; i < from + n; i++) {
      const id = keyIds[i] as number
      this.bufferedPerKey[id] = (this.bufferedPerKey[id] ?? 1) - 1
      this.chunks.mark(id)
    }
    // As at a release stepped at once: a key with nothing buffered is freed if the engine's
    // advance leaves it empty (freeIfEmpty), which the engine answers after the segment.
    for (let i = from; i < from + n; i++)
      batch.emptyChecks[i] = (this.bufferedPerKey[keyIds[i] as number] ?? 0) === 0 ? 1 : 0
    if (n > 0) this.changed = true
    batch.endSegment(watermark, origin, out.failures.length)
    this.advancedTo = watermark
  }

  /**
   * Steps the batch's releases through the engine in one call and hands out what each segment
   * ended as collect and advance did at its record: its failures where the batch's stood at its
   * release (after the failures of records before it), then its matches and timeouts, with its
   * record as their origin. A key the engine found empty after its last release in the batch
   * (and with nothing buffered since) is freed after the batch, where stepping per record freed it
   * at that release: the same keys are held after the batch, only their ids (which nothing
   * outside the operator sees) may differ from a per-record run's. Without endsByWatermark an
   * advance ends nothing with output, so released events' keys are all the keys a release touches.
   */
  private stepBatch(batch: BatchReleases, out: CepBatchOutput): void {
    const count = batch.segments
    if (count === 0) return
    const n = batch.length
    const released = batch.events(this.engine.wantsMasks)
    const maskErrors: { index: number; error: unknown; site: number }[] = []
    const masks = this.functions.masks
    if (this.engine.wantsMasks && masks !== undefined && n > 0)
      masks(released.rows, n, released.masks, new Uint8Array(n), maskErrors)
    const timedOut = this.engine.dropped.timeout
    const results: SegmentOutputs = emptySegmentOutputs()
    this.engine.stepSegments(released, batch.ends, batch.watermarks, count, results, batch.emptyChecks)
    // Keys that expiry changed (partial matches of keys with no event in the batch may have run
    // out silently): marked unless expiry stays implicit, and freed below if left empty.
    const expired = this.engine.dropped.timeout !== timedOut ? this.takeExpiredKeys() : []
    const earlier = out.failures.splice(0)
    let e = 0
    let maskAt = 0
    let from = 0
    let matchFrom = 0
    let timeoutFrom = 0
    let failureFrom = 0
    for (let j = 0; j < count; j++) {
      const origin = batch.origins[j] as number
      const to = batch.ends[j] as number
      const failuresAt = batch.failuresAt[j] as number
      while (e < failuresAt) out.failures.push(earlier[e++] as WindowBatchOutput['failures'][number])
      while (maskAt < maskErrors.length && (maskErrors[maskAt]?.index as number) < to) {
        const m = maskErrors[maskAt++] as (typeof maskErrors)[number]
        out.failures.push({ origin, error: m.error, site: m.site })
      }
      const failureTo = results.failureEnds[j] as number
      for (let f = failureFrom; f < failureTo; f++) {
        const failure = results.failures[f] as (typeof results.failures)[number]
        out.failures.push({ origin, error: failure.error, site: failure.site })
      }
      // By index, not slices: nearly every segment has no match (two arrays per record otherwise).
      const matchTo = results.matchEnds[j] as number
      for (let m = matchFrom; m < matchTo; m++) this.emitMatch(results.matches[m] as EngineMatch, origin, out)
      const timeoutTo = results.timeoutEnds[j] as number
      if (timeoutTo > timeoutFrom) this.emitTimeouts(results.timeouts, origin, out, timeoutFrom, timeoutTo)
      from = to
      matchFrom = matchTo
      timeoutFrom = timeoutTo
      failureFrom = failureTo
    }
    while (e < earlier.length) out.failures.push(earlier[e++] as WindowBatchOutput['failures'][number])
    if (from < n) throw new Error(`the match step's batch released ${n - from} events after its last segment`)
    for (const m of results.matches) this.markIfLive(m.keyId)
    if (results.matches.length > 0 || results.timeouts.length > 0 || n > 0) this.changed = true
    if (this.endsByWatermark) this.engineDue = this.engine.nextDue()
    for (const id of batch.keysEmptiedAtLastCheck()) this.freeIfEmpty(id)
    // Per record, a key emptied by an advance was freed there (its match, timeout or silent
    // expiry touched it); after the batch the same keys go, so the keys held are those that
    // hold something, as at the end of a per-record batch.
    for (const m of results.matches) this.freeIfEmpty(m.keyId)
    for (const t of results.timeouts) this.freeIfEmpty(t.keyId)
    for (let i = 0; i < expired.length; i++) this.freeIfEmpty(expired[i] as number)
  }

  /**
   * The keys the engine changed since the last take, after an expiry: marked for the next
   * checkpoint unless expiry stays implicit (a restore drops what ran out by itself). The caller
   * frees those left empty: a key whose partial matches all ran out silently (no timeout or match
   * to name it) would otherwise stay in the key table and the engine for ever (issue 14).
   */
  private takeExpiredKeys(): ArrayLike<number> {
    const ids = this.engine.takeChangedKeys()
    if (!this.expiryStaysImplicit) for (let i = 0; i < ids.length; i++) this.markIfLive(ids[i] as number)
    return ids
  }

  /** Advances the engine's time to `watermark`; emits what ended and frees keys left with nothing. */
  private advance(
    watermark: number,
    origin: number,
    touched: number[],
    out: CepBatchOutput | WindowBatchOutput,
  ): void {
    const matches: EngineMatch[] = []
    const timeouts: EngineMatch[] = []
    // The engine changes, when stepping, only the keys of the released events (release marked
    // them); when advancing, only by expiry. Its list is taken only when something could have
    // expired (the list costs an allocation per advance), for the keys expiry emptied.
    const expires = this.engine.nextDue() <= watermark
    this.engine.advanceTime(watermark, matches, timeouts)
    const expired = expires ? this.takeExpiredKeys() : []
    if (this.expiryStaysImplicit) for (const m of matches) this.markIfLive(m.keyId)
    this.advancedTo = watermark
    if (this.endsByWatermark) this.engineDue = this.engine.nextDue()
    this.emitMatches(matches, origin, out)
    this.emitTimeouts(timeouts, origin, out as CepBatchOutput)
    for (const m of matches) touched.push(m.keyId)
    for (const t of timeouts) touched.push(t.keyId)
    if (matches.length > 0 || timeouts.length > 0 || touched.length > 0) this.changed = true
    for (const id of touched) this.freeIfEmpty(id)
    for (let i = 0; i < expired.length; i++) this.freeIfEmpty(expired[i] as number)
  }

  private markEngineChanges(): void {
    for (const id of Array.from(this.engine.takeChangedKeys())) this.markIfLive(id)
  }

  private markIfLive(id: number): void {
    if (this.keyStrings[id] !== undefined) this.chunks.mark(id)
  }

  /** The buffered events at or before the watermark, in (time, seq) order. */
  private release(watermark: number): ReleasedEvents {
    const released = this.waiting.release(watermark, this.engine.wantsMasks)
    const keyIds = released.keyIds
    for (let i = 0; i < released.length; i++) {
      const id = keyIds[i] as number
      this.bufferedPerKey[id] = (this.bufferedPerKey[id] ?? 1) - 1
      this.chunks.mark(id)
    }
    if (released.length > 0) this.changed = true
    return released
  }

  /** The kernel's event-local conditions, evaluated over the released rows. */
  private fillMasks(released: ReleasedEvents, origin: number, out: WindowBatchOutput): void {
    const masks = this.functions.masks
    if (masks === undefined) return
    const errors: { index: number; error: unknown; site: number }[] = []
    masks(released.rows, released.length, released.masks, new Uint8Array(released.length), errors)
    for (const e of errors) out.failures.push({ origin, error: e.error, site: e.site })
  }

  private emitMatches(matches: readonly EngineMatch[], origin: number, out: WindowBatchOutput): void {
    for (const match of matches) this.emitMatch(match, origin, out)
  }

  /** A match's result, as of record `origin`. */
  private emitMatch(match: EngineMatch, origin: number, out: WindowBatchOutput): void {
    const key = this.keyStrings[match.keyId] as string
    try {
      pushEvent(out.results, this.functions.select(matchContext(match), key), key, match.time, origin)
    } catch (error) {
      out.failures.push({ origin, error, site: siteOf(error) })
    }
  }

  /** Timeouts from … to-1 (default all) as of record `origin`. */
  private emitTimeouts(
    timeouts: readonly EngineMatch[],
    origin: number,
    out: CepBatchOutput,
    from = 0,
    to = timeouts.length,
  ): void {
    const timeout = this.functions.timeout
    if (timeout === null) return
    // The NFA may hold one partial match in several states (a{1,3}: after one a, both "take
    // another" and "go on"); when it times out, Flink reports it once per state. The timeout
    // stream gets it once: the same events of the same key at the same time (decision 0024).
    const seen = new Set<string>()
    for (let t = from; t < to; t++) {
      const match = timeouts[t] as EngineMatch
      const identity = `${match.keyId}|${match.time}|${match.seqs.join(',')}|${match.steps.join(',')}`
      if (seen.has(identity)) continue
      seen.add(identity)
      const key = this.keyStrings[match.keyId] as string
      try {
        pushEvent(out.timeouts, timeout(matchContext(match), key, match.time), key, match.time, origin)
      } catch (error) {
        out.failures.push({ origin, error, site: siteOf(error) })
      }
    }
  }

  private keyOf(event: unknown, origin: number, out: WindowBatchOutput): string | null {
    try {
      return this.functions.key(event)
    } catch (error) {
      out.failures.push({ origin, error, site: siteOf(error) })
      return null
    }
  }

  private observeLate(row: unknown, time: number, watermark: number): void {
    let key: string | null = null
    try {
      key = this.functions.key(row)
    } catch {
      // Its key fails: late all the same, and explain says so without one.
    }
    this.observer?.late(key, time, watermark, row)
  }

  private buffer(keyId: number, time: number, row: unknown): void {
    this.observer?.buffered(this.seq, this.keyStrings[keyId] as string, time, row)
    this.waiting.push(keyId, time, this.seq++, row)
    this.bufferedPerKey[keyId] = (this.bufferedPerKey[keyId] ?? 0) + 1
    this.chunks.mark(keyId)
    this.changed = true
  }

  private idOf(key: string): number {
    const known = this.keyIds.get(key)
    if (known !== undefined) return known
    const id = this.freeIds.pop() ?? this.keyStrings.length
    this.keyIds.set(key, id)
    this.keyStrings[id] = key
    this.bufferedPerKey[id] = 0
    this.chunks.assign(id)
    return id
  }

  private freeIfEmpty(id: number): void {
    const key = this.keyStrings[id]
    if (key === undefined || (this.bufferedPerKey[id] ?? 0) > 0 || !this.engine.keyIsEmpty(id)) return
    this.keyIds.delete(key)
    this.keyStrings[id] = undefined
    this.freeIds.push(id)
    this.chunks.free(id, key)
    this.rowChunks.release(id)
  }

  // ---- checkpoints -----------------------------------------------------------------------------

  /** The watermark, the buffered events, the live keys and the engine's partial matches. */
  snapshot(): Buffer {
    const keys: [number, string][] = []
    for (const [key, id] of this.keyIds) keys.push([id, key])
    const body = serialize({
      maxTime: this.maxTime,
      advancedTo: this.advancedTo,
      seq: this.seq,
      keys,
      buffered: bufferedList(this.waiting),
      engine: this.engine.snapshot(),
    })
    const header = Buffer.alloc(4)
    header.writeUInt32BE(SNAPSHOT_MAGIC, 0)
    return Buffer.concat([header, body])
  }

  restore(bytes: Buffer | Uint8Array | undefined): void {
    this.keyIds.clear()
    this.keyStrings = []
    this.freeIds = []
    this.bufferedPerKey = []
    this.waiting.clear()
    this.seq = 0
    this.maxTime = Number.NEGATIVE_INFINITY
    this.advancedTo = Number.NEGATIVE_INFINITY
    this.changed = false
    this.chunks.clear()
    this.rowChunks.clear()
    this.fullEntryToDrop = false
    this.engineDue = Number.POSITIVE_INFINITY
    this.writtenAdvancedTo = Number.NEGATIVE_INFINITY
    if (bytes === undefined || bytes.length === 0) {
      // Nothing to restore: a fresh engine (its trace, if any, carries over).
      const trace = this.engine.trace
      this.engine = this.engineFactory(this.spec, this.functions, this.budget)
      this.engine.trace = trace
      return
    }
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    if (buffer.length < 4 || buffer.readUInt32BE(0) !== SNAPSHOT_MAGIC)
      throw new Error('the snapshot is not a match step snapshot of a version this runtime reads')
    const state = deserialize(buffer.subarray(4)) as {
      maxTime: number
      advancedTo: number
      seq: number
      keys: [number, string][]
      buffered: [number, number, number, unknown][]
      engine: Uint8Array
    }
    this.maxTime = state.maxTime
    this.advancedTo = state.advancedTo
    this.seq = state.seq
    for (const [id, key] of state.keys) {
      this.keyIds.set(key, id)
      this.keyStrings[id] = key
      this.bufferedPerKey[id] = 0
      this.chunks.assign(id)
    }
    for (let id = 0; id < this.keyStrings.length; id++)
      if (this.keyStrings[id] === undefined) this.freeIds.push(id)
    this.freeIds.reverse()
    for (const [keyId, time, seq, row] of state.buffered) {
      this.waiting.push(keyId, time, seq, row)
      this.bufferedPerKey[keyId] = (this.bufferedPerKey[keyId] ?? 0) + 1
    }
    this.engine.restore(state.engine)
    this.engine.takeChangedKeys()
    if (this.endsByWatermark) this.engineDue = this.engine.nextDue()
  }

  // ---- incremental checkpoints (key-snapshots.ts) ------------------------------------------------

  /**
   * The entries to stage for the changes since the last call: a new chunk with the keys whose
   * buffered events or matches changed and the keys that went, the removal of chunks left with no
   * key's newest version, and the scalars. Empty when nothing changed.
   */
  takeChanges(): SnapshotChanges {
    // With expiry left implicit, release marked every key the engine changed otherwise.
    if (this.expiryStaysImplicit) this.engine.takeChangedKeys()
    else this.markEngineChanges()
    const ids = this.chunks.takeDirty()
    const puts = new Map<string, Buffer>()
    const deletes: string[] = []
    if (this.fullEntryToDrop) {
      deletes.push(FULL_SNAPSHOT_ENTRY)
      this.fullEntryToDrop = false
    }
    const { chunk, tombstones } = this.chunks.begin()
    this.rowChunks.begin(chunk)
    // The buffered events of the changed keys (the buffer is what the watermark has not passed
    // yet: usually little).
    const bufferedOf = new Map<number, unknown[]>()
    if (this.waiting.length > 0 && ids.length > 0) {
      const wanted = new Set(ids)
      this.waiting.forEach((keyId, time, seq, row) => {
        if (!wanted.has(keyId)) return
        let list = bufferedOf.get(keyId)
        if (list === undefined) {
          list = []
          bufferedOf.set(keyId, list)
        }
        list.push(time, seq, row)
      })
    }
    const writer = new ChunkWriter()
    for (const id of ids) {
      const key = this.keyStrings[id] as string
      const buffered = bufferedOf.get(id) ?? []
      const matches = this.engine.exportKey(id)
      if (matches === null) this.rowChunks.release(id)
      if (buffered.length === 0 && matches === null) {
        if (this.chunks.chunkOf(id) >= 0) tombstones.set(key, chunk)
        this.chunks.move(id, -1)
        continue
      }
      tombstones.delete(key)
      const references = matches === null ? null : this.rowChunks.write(id, matches.seqs, matches.rows)
      writer.add(key, buffered, matches, references)
      this.chunks.move(id, chunk)
    }
    const isLive = (key: string) => {
      const id = this.keyIds.get(key)
      return id !== undefined && this.chunks.chunkOf(id) >= 0
    }
    const { write, deletedChunks } = this.chunks.finish(chunk, isLive)
    for (const c of deletedChunks) deletes.push(chunkEntry(c))
    if (write) puts.set(chunkEntry(chunk), writer.finish(tombstones))
    const rows = this.rowChunks.finish()
    if (rows.put !== null) puts.set(rowChunkEntry(chunk), rows.put)
    for (const c of rows.removed) deletes.push(rowChunkEntry(c))
    // Too many dead rows in the store: the keys referring to the sparsest row chunk write its rows again.
    if (rows.relocate >= 0) for (const id of this.rowChunks.keysReferring(rows.relocate)) this.chunks.mark(id)
    const moved = this.advancedTo !== this.writtenAdvancedTo
    if (!write && deletes.length === 0 && !this.changed && !moved) return { puts, deletes }
    // Too many replaced versions in the store: the oldest chunk's keys go into the next chunk.
    const rewrite = this.chunks.chunkToRewrite()
    if (rewrite !== null)
      for (let id = 0; id < this.keyStrings.length; id++)
        if (this.keyStrings[id] !== undefined && this.chunks.chunkOf(id) === rewrite) this.chunks.mark(id)
    puts.set(
      META_ENTRY,
      encodeMeta({
        maxTime: this.maxTime,
        advancedTo: this.advancedTo,
        seq: this.seq,
        nextChunk: this.chunks.next,
      }),
    )
    this.writtenAdvancedTo = this.advancedTo
    this.changed = false
    return { puts, deletes }
  }

  /**
   * Restores from a scope's entries: chunks and scalars (takeChanges, composed by the store), or
   * the one full snapshot of an older checkpoint, whose entry the next changes then replace.
   */
  restoreEntries(entries: ReadonlyMap<string, Buffer>): void {
    const meta = entries.get(META_ENTRY)
    if (meta === undefined) {
      const full = entries.get(FULL_SNAPSHOT_ENTRY)
      this.restore(full)
      if (full !== undefined && full.length > 0) {
        this.fullEntryToDrop = true
        this.changed = true
      }
      return
    }
    this.restore(undefined)
    const scalars = decodeMeta(meta)
    this.maxTime = scalars.maxTime
    this.advancedTo = scalars.advancedTo
    this.seq = scalars.seq
    // Chunks oldest first: a key's newest version wins, a deletion hides the versions before it.
    const names: [number, string][] = []
    const rowsOfChunk = new Map<number, unknown[]>()
    for (const [name, bytes] of entries) {
      const chunk = chunkOfEntry(name)
      if (chunk >= 0) names.push([chunk, name])
      const rowChunk = rowChunkOfEntry(name)
      if (rowChunk >= 0) {
        const rows = decodeRowChunk(bytes)
        rowsOfChunk.set(rowChunk, rows)
        this.rowChunks.restoredChunk(rowChunk, rows.length)
      }
    }
    const rowOf = (reference: number): unknown => {
      const rows = rowsOfChunk.get(chunkOfReference(reference))
      const index = indexOfReference(reference)
      if (rows === undefined || index >= rows.length)
        throw new Error(
          `the match step snapshot lacks row ${index} of row chunk ${chunkOfReference(reference)}`,
        )
      return rows[index]
    }
    names.sort((a, b) => a[0] - b[0])
    const newest = new Map<string, { chunk: number; entry: KeyEntry }>()
    const infos = new Map<number, ChunkInfo>()
    for (const [chunk, name] of names) {
      const { keys, tombstones } = decodeChunk(entries.get(name) as Buffer)
      const info: ChunkInfo = { live: 0, written: keys.length, tombstones: new Map() }
      infos.set(chunk, info)
      for (const [key, birth] of tombstones) {
        newest.delete(key)
        info.tombstones.set(key, birth)
      }
      for (const entry of keys) newest.set(entry.key, { chunk, entry })
    }
    for (const [key, { chunk, entry }] of newest) {
      const id = this.idOf(key)
      ;(infos.get(chunk) as ChunkInfo).live++
      const matches = withRows(entry, rowOf)
      if (matches !== null) this.engine.importKey(id, matches)
      if (matches !== null && entry.references !== null)
        this.rowChunks.restoredKey(id, matches.seqs, entry.references)
      const b = entry.buffered
      for (let i = 0; i < b.length; i += 3) {
        this.waiting.push(id, b[i] as number, b[i + 1] as number, b[i + 2])
        this.bufferedPerKey[id] = (this.bufferedPerKey[id] ?? 0) + 1
      }
      this.chunks.placeRestored(id, chunk)
    }
    this.chunks.restored(infos, scalars.nextChunk)
    this.writtenAdvancedTo = scalars.advancedTo
    if (this.expiryStaysImplicit && this.advancedTo > Number.NEGATIVE_INFINITY) {
      // Keys changed by the watermark alone were not written again: drop what ran out by it.
      const matches: EngineMatch[] = []
      this.engine.advanceTime(this.advancedTo, matches, null)
      if (matches.length > 0)
        throw new Error('a pattern whose watermark alone ends nothing ended a match on restore')
      // Keys whose partial matches all ran out go, as they went where they were written.
      const changed = this.engine.takeChangedKeys()
      for (let i = 0; i < changed.length; i++) this.freeIfEmpty(changed[i] as number)
    }
    this.engine.takeChangedKeys()
    if (this.endsByWatermark) this.engineDue = this.engine.nextDue()
    this.changed = false
  }
}

/** Scratch for justAbove (a watermark's bits, big-endian: no allocation per call). */
const BITS = new DataView(new ArrayBuffer(8))

/** The smallest number above `x` (a watermark reaches it when it is above `x`). */
function justAbove(x: number): number {
  if (x === Number.NEGATIVE_INFINITY) return -Number.MAX_VALUE
  if (x === 0) return Number.MIN_VALUE
  if (!Number.isFinite(x)) return x
  BITS.setFloat64(0, x)
  const high = BITS.getUint32(0)
  const low = BITS.getUint32(4)
  // One step up in value: the magnitude one ulp up when positive, down when negative.
  if (x > 0) {
    BITS.setUint32(4, low + 1)
    if (low === 0xffffffff) BITS.setUint32(0, high + 1)
  } else {
    BITS.setUint32(4, low - 1)
    if (low === 0) BITS.setUint32(0, high - 1)
  }
  return BITS.getFloat64(0)
}

function siteOf(error: unknown): number {
  const site = (error as { site?: unknown } | null)?.site
  return typeof site === 'number' ? site : 0
}

function emptyBatch(): EventBatch {
  return { values: [], keys: [], timestamps: [], origins: [], length: 0 }
}

/** The buffered events as a full snapshot lists them: [key id, time, seq, row], in (time, seq) order. */
function bufferedList(waiting: EventBuffer): [number, number, number, unknown][] {
  const list: [number, number, number, unknown][] = []
  waiting.forEach((keyId, time, seq, row) => {
    list.push([keyId, time, seq, row])
  })
  return list.sort((a, b) => a[1] - b[1] || a[2] - b[2])
}
