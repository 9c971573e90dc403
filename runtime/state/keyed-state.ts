import { SluiceError } from '../errors.ts'
import type { SnapshotChanges, StateCodec } from './index.ts'
import { NO_ROOM } from './json-bytes.ts'
import { KeyIndex } from './key-index.ts'
import { type RowLayout, rowFromValue, rowWidth, valueFromRow, writeRowJson } from './number-rows.ts'
import {
  DELETED,
  type EntryLayer,
  EntryWriter,
  keyEndOf,
  keyStartOf,
  SnapshotEntries,
  valueEndOf,
  valueStartOf,
} from './snapshot-entries.ts'
import { SNAPSHOT_HEADER_BYTES, SNAPSHOT_TRAILER_BYTES } from './snapshot-file.ts'

/** What a full KeyedState does with a new key (docs/decisions/0015). */
export type OverBudgetPolicy =
  /** Drop the least recently used key to make room (counted in `stats.evicted`). */
  | 'evict-lru'
  /** Keep what is there: `set` returns false, and the caller dead-letters the event with a reason. */
  | 'refuse'

export interface KeyedStateOptions<V> {
  readonly codec: StateCodec<V>
  /** Keys neither read nor written for this long (in the operator's clock) are dropped by expire(). */
  readonly ttlMs?: number
  /** Most keys kept. Default: no limit. */
  readonly maxKeys?: number
  /**
   * Most bytes kept, as encoded in snapshots. With a byte budget each written value is encoded
   * when set, to count it; without one, sizes are known from the last snapshot and estimated in
   * between. Default: no limit.
   */
  readonly maxBytes?: number
  /** Default: 'refuse', so nothing is forgotten silently. */
  readonly overBudget?: OverBudgetPolicy
  /** Prefix of this state's keys in its scope's snapshot (several states share a scope). Default 'v:'. */
  readonly prefix?: string
}

/**
 * A key is moved to the newest end of the recency order at most once per this many ms of its
 * clock: hot keys are used many times a second, and a move touches two neighbours' links.
 */
const REORDER_GRANULARITY_MS = 1000

const TOUCHED_BYTES = 8

/** Per-slot numbers in `meta`: last use, the epoch of changes it was last written in, encoded size. */
const STRIDE = 3
const TOUCHED = 0
const WRITTEN = 1
const SIZE = 2

/** A value restored from a snapshot and not decoded yet: its bytes are in `raw[slot]`. */
const RAW: unique symbol = Symbol('raw')
/** A value kept as a row of numbers: its columns are in `rows` at slot × width (number-rows.ts). */
const ROW: unique symbol = Symbol('row')

/**
 * Values per key for one operator and source partition, in memory, with what a checkpoint needs:
 * the changes since the last epoch (takeChanges), restore from a snapshot, idle-key expiry (TTL)
 * and a budget in keys and bytes with a declared policy. Reads and writes are synchronous;
 * encoding happens once per changed key per epoch, not per event.
 *
 * The layout is for a million keys read and written at random by the hot path: a hash table from
 * key to a slot number (key-index.ts), and per slot a value in a plain array and its numbers (last
 * use, epoch of its last write, encoded size) side by side in one Float64Array, so there is no
 * object per key beyond the key and the value, nothing for the collector to trace per entry, and
 * one cache line for a key's bookkeeping. `set` right after `get` of the same key (the usual
 * read-modify-write) finds the slot without a second lookup. Changed keys are a list of slots
 * per epoch; a slot counts as changed while its WRITTEN number equals the current epoch.
 *
 * Under 'evict-lru' with a budget, slots are also linked in least-recently-used order (a key moves
 * to the newest end when used, at most once a second of its clock), so eviction takes the oldest
 * first without searching; other states keep no order, which costs nothing per event. Values
 * restored from a snapshot are decoded when first used, read in place from the snapshot's
 * buffers, and so are ASCII keys (key-index.ts), so a restore of a million keys decodes no value,
 * makes no key string and allocates no Buffer per key.
 *
 * A running aggregate of numbers keeps no value object at all: its accumulators are a row of
 * float64 columns per slot in `rows` (findRow and setRow, number-rows.ts, docs/decisions/0037),
 * read and written in place by the generated code, and a checkpoint writes a changed row's JSON
 * straight from the columns. Its snapshot is the JSON the accumulators' array would have, so a
 * state restores rows from a snapshot of arrays and the other way round.
 */
export class KeyedState<V> {
  /** Key → slot, and per slot its key (a restored one kept as bytes until used). */
  private index = new KeyIndex()
  /** Per slot: the value, RAW while still encoded in `raw`, or ROW when it is a row in `rows`. */
  private values: unknown[] = []
  private meta = new Float64Array(16 * STRIDE)
  /** Per RAW slot: the buffer holding its encoding, and where (`rawAt`: start, end) it lies. */
  private raw: (Buffer | undefined)[] = []
  private rawAt = new Uint32Array(16 * 2)
  private capacity = 16
  /** Slots handed out so far; free ones below it are in `free`. */
  private used = 0
  private free: number[] = []
  /** The current epoch of changes (starts at 1: WRITTEN 0 means unchanged). */
  private epoch = 1
  /**
   * Slots written in this epoch (a slot freed and reused may be listed twice; WRITTEN decides),
   * while they are few: once more than an eighth of the slots changed, takeChanges walks every
   * slot in order anyway, so the list stops growing (`walkAll`) and the hot path's first write
   * of a key in an epoch no longer appends to it (issue 12).
   */
  private written: number[] = []
  private walkAll = false
  /** First writes of a key in this epoch (what takeChanges sizes its buffer by). */
  private changed = 0
  /** Keys deleted in this epoch and not written since. */
  private readonly deleted = new Set<string>()
  /** The slot of the last get or set: a following set of the same key skips the lookup. */
  private lastSlot = -1
  /** Keys with a known encoded size (SIZE ≥ 0), and the sum of those sizes. */
  private knownKeys = 0
  private knownBytes = 0
  /** Recency links (evict-lru with a budget only): previous/next slot, -1 at the ends. */
  private readonly lru: boolean
  private prev = new Int32Array(0)
  private next = new Int32Array(0)
  private head = -1
  private tail = -1
  private readonly codec: StateCodec<V>
  private readonly prefix: string
  private readonly prefixBytes: Buffer
  private readonly policy: OverBudgetPolicy
  private readonly maxKeys: number | undefined
  private readonly maxBytes: number | undefined
  readonly stats = { evicted: 0, refused: 0, expired: 0 }
  /**
   * Rows of numbers (number-rows.ts), once a caller used findRow: the layout, its width in
   * columns, per slot a row of `width` columns, and the row a caller fills for setRow. Read and
   * written in place by the generated code of a running aggregate; `rows` is replaced when the
   * state grows, so a caller reads it again after findRow and setRow.
   */
  private rowLayout: RowLayout | null = null
  private width = 0
  rows = new Float64Array(0)
  rowScratch = new Float64Array(0)
  /** Where rowScratchBytes writes a row to learn its size (under a byte budget), reused per write. */
  private rowSizeBytes = new Uint8Array(0)
  /** writeRowJson over this state's rows, as a checkpoint's EntryWriter.valueInto takes it. */
  private readonly encodeRow = (offset: number, bytes: Uint8Array, at: number, limit: number): number =>
    writeRowJson(this.rows, offset, this.rowLayout!, bytes, at, limit)

  constructor(private readonly options: KeyedStateOptions<V>) {
    this.codec = options.codec
    this.prefix = options.prefix ?? 'v:'
    this.prefixBytes = Buffer.from(this.prefix, 'utf8')
    this.policy = options.overBudget ?? 'refuse'
    this.maxKeys = options.maxKeys
    this.maxBytes = options.maxBytes
    this.lru = this.policy === 'evict-lru' && (this.maxKeys !== undefined || this.maxBytes !== undefined)
    if (this.lru) {
      this.prev = new Int32Array(this.capacity)
      this.next = new Int32Array(this.capacity)
    }
  }

  get size(): number {
    return this.index.size
  }

  /** Bytes as encoded in snapshots: exact for keys snapshotted since their last write, else estimated. */
  get approximateBytes(): number {
    const unknown = this.index.size - this.knownKeys
    if (unknown <= 0) return this.knownBytes
    const average = this.knownKeys > 0 ? this.knownBytes / this.knownKeys : 64
    return this.knownBytes + unknown * average
  }

  has(key: string): boolean {
    return this.index.find(key) >= 0
  }

  /** The key's value, marking it used at `now`. */
  get(key: string, now: number): V | undefined {
    const slot = this.index.find(key)
    if (slot < 0) return undefined
    this.lastSlot = slot
    this.touch(slot, now)
    return this.valueAt(slot)
  }

  /**
   * Sets the key's value at `now`. A new key beyond the budget is refused (returns false) or
   * makes room by evicting the least recently used keys, as the policy says.
   */
  set(key: string, value: V, now: number): boolean {
    const size = this.maxBytes === undefined ? -1 : TOUCHED_BYTES + this.codec.encode(value).length
    return this.put(key, value, now, size) >= 0
  }

  /**
   * The offset in `rows` of the key's row of `layout` (a value kept otherwise becomes one now),
   * marking it used at `now`; -1 when the key has no value. The read half of a running
   * aggregate's read-modify-write; setRow is the write. Every call for one state passes the same
   * layout (the step's, fixed by its state slot id).
   */
  findRow(key: string, now: number, layout: RowLayout): number {
    if (layout !== this.rowLayout) this.useRows(layout)
    const slot = this.index.find(key)
    if (slot < 0) return -1
    this.lastSlot = slot
    this.touch(slot, now)
    if (this.values[slot] !== ROW) this.toRow(slot)
    return slot * this.width
  }

  /**
   * Sets the key's value to the row in `rowScratch` (copied), at `now`, as `set` sets a value: a
   * new key beyond the budget is refused (false) or evicts, as the policy says. Call findRow
   * first (for the layout, and to find the slot without a second lookup).
   */
  setRow(key: string, now: number): boolean {
    const size = this.maxBytes === undefined ? -1 : TOUCHED_BYTES + this.rowScratchBytes()
    const slot = this.put(key, ROW, now, size)
    if (slot < 0) return false
    this.rows.set(this.rowScratch, slot * this.width)
    return true
  }

  /** Sets a key's value (ROW: its row is written by the caller); the slot, or -1 when refused. */
  private put(key: string, value: unknown, now: number, size: number): number {
    let slot = this.lastSlot
    if (slot < 0 || this.index.keys[slot] !== key) slot = this.index.find(key)
    if (slot >= 0) {
      if (this.values[slot] === RAW) this.raw[slot] = undefined
      this.values[slot] = value
      this.touch(slot, now)
      this.markWritten(slot)
      if (size >= 0) this.countSize(slot, size)
      return slot
    }
    if (this.overBudget(size)) {
      if (this.policy === 'refuse') {
        this.stats.refused++
        return -1
      }
      while (this.index.size > 0 && this.overBudget(size)) {
        this.remove(this.head, true)
        this.stats.evicted++
      }
    }
    slot = this.claim()
    this.index.insert(key, slot)
    this.fill(slot, value, now)
    if (this.deleted.size > 0) this.deleted.delete(key)
    this.markWritten(slot)
    if (size >= 0) this.countSize(slot, size)
    this.lastSlot = slot
    return slot
  }

  /** Takes up rows of `layout` (at the first findRow): columns for every slot there is room for. */
  private useRows(layout: RowLayout): void {
    if (this.rowLayout !== null && JSON.stringify(this.rowLayout) !== JSON.stringify(layout)) {
      throw new SluiceError(
        'STATE_CORRUPT',
        `a state of rows ${JSON.stringify(this.rowLayout)} was asked for rows ${JSON.stringify(layout)}`,
      )
    }
    if (this.rowLayout === null) {
      this.width = rowWidth(layout)
      this.rows = new Float64Array(this.capacity * this.width)
      this.rowScratch = new Float64Array(this.width)
      this.rowSizeBytes = new Uint8Array(32 * this.width + 16)
    }
    this.rowLayout = layout
  }

  /** Turns a slot's value (an object, or RAW bytes) into its row. */
  private toRow(slot: number): void {
    const value = this.valueAt(slot)
    rowFromValue(value, this.rows, slot * this.width, this.rowLayout!, this.index.keyAt(slot)!)
    this.values[slot] = ROW
  }

  /** The encoded length of the row in rowScratch (for a byte budget). */
  private rowScratchBytes(): number {
    for (;;) {
      const bytes = this.rowSizeBytes
      const end = writeRowJson(this.rowScratch, 0, this.rowLayout!, bytes, 0, bytes.length)
      if (end !== NO_ROOM) return end
      this.rowSizeBytes = new Uint8Array(2 * bytes.length)
    }
  }

  delete(key: string): void {
    const slot = this.index.find(key)
    if (slot >= 0) this.remove(slot, true)
  }

  /**
   * Drops every key idle for longer than the TTL as of `now`; returns how many. It looks at every
   * key (clocks of event time go back and forth, so no order says which are idle), so call it once
   * per checkpoint, not per event: a pass over a Float64Array, about a millisecond per million keys.
   */
  expire(now: number): number {
    const ttl = this.options.ttlMs
    if (ttl === undefined) return 0
    const meta = this.meta
    let removed = 0
    const index = this.index
    for (let slot = 0; slot < this.used; slot++) {
      if (!index.holds(slot) || now - meta[slot * STRIDE + TOUCHED]! <= ttl) continue
      this.remove(slot, true)
      removed++
    }
    this.stats.expired += removed
    return removed
  }

  /**
   * Every key and value: least recently used first when the state evicts by recency
   * ('evict-lru' with a budget), else in slot order (the order keys were added, freed slots
   * reused). For firing and inspection, not the hot path: it decodes every restored value.
   */
  *[Symbol.iterator](): IterableIterator<[string, V]> {
    if (this.lru) {
      for (let slot = this.head; slot >= 0; ) {
        const following = this.next[slot]!
        yield [this.index.keyAt(slot)!, this.valueAt(slot)]
        slot = following
      }
      return
    }
    for (let slot = 0; slot < this.used; slot++) {
      const key = this.index.keyAt(slot)
      if (key !== undefined) yield [key, this.valueAt(slot)]
    }
  }

  /**
   * The changes since the last call, encoded for a snapshot; starts a new epoch of changes. The
   * puts are encoded into one buffer (snapshot-entries.ts), values straight into it when the codec
   * can (StateCodec.encodeInto), with room around them that makes the buffer the delta file the
   * file store writes (snapshot-file.ts encodeSnapshotFile).
   */
  takeChanges(): SnapshotChanges {
    // Room for a snapshot file's header in front (and its deletions and CRC behind, below), so
    // the file store writes this buffer as the delta file without copying it (snapshot-file.ts).
    const writer = new EntryWriter(
      SNAPSHOT_HEADER_BYTES,
      SNAPSHOT_HEADER_BYTES + this.changed * (48 + this.prefix.length) + 256,
    )
    const written = this.written
    if (this.walkAll) {
      // Most slots changed: in slot order, so the per-slot arrays are read front to back rather
      // than at random (a cache miss each); encodeChange skips the slots not written this epoch.
      for (let slot = 0; slot < this.used; slot++) this.encodeChange(writer, slot)
    } else {
      for (let i = 0; i < written.length; i++) this.encodeChange(writer, written[i]!)
    }
    const deletes: string[] = []
    let deletesBytes = 0
    for (const key of this.deleted) {
      const stored = this.prefix + key
      deletes.push(stored)
      deletesBytes += 8 + 3 * stored.length
    }
    this.deleted.clear()
    written.length = 0
    this.walkAll = false
    this.changed = 0
    this.epoch++
    writer.reserve(deletesBytes + SNAPSHOT_TRAILER_BYTES)
    // No puts as a plain empty Map: what callers compare against.
    const puts = writer.count === 0 ? new Map<string, Buffer>() : new SnapshotEntries([writer.finish().layer])
    return { puts, deletes }
  }

  /**
   * Appends a slot written in this epoch to a checkpoint's changes. A method of its own, called
   * per key, so V8 optimises it as an ordinary hot function: the loop of takeChanges runs once a
   * checkpoint, and V8's trace showed it optimised on the stack and thrown back again and again.
   */
  private encodeChange(writer: EntryWriter, slot: number): void {
    const meta = this.meta
    const m = slot * STRIDE
    // Freed since it was written, or listed twice: WRITTEN no longer names this epoch.
    if (meta[m + WRITTEN] !== this.epoch) return
    meta[m + WRITTEN] = 0
    writer.key(this.prefix, this.index.keyAt(slot)!)
    const value = this.values[slot]
    const touched = meta[m + TOUCHED]!
    const { encodeInto, encodeString } = this.codec
    if (value === ROW) writer.valueInto(this.encodeRow, slot * this.width, touched)
    else if (value === RAW) {
      writer.value(this.raw[slot]!.subarray(this.rawAt[2 * slot], this.rawAt[2 * slot + 1]), touched)
    } else if (encodeInto === undefined || !writer.valueInto(encodeInto, value as V, touched)) {
      if (encodeString !== undefined) writer.valueString(encodeString(value as V), touched)
      else writer.value(this.codec.encode(value as V), touched)
    }
    this.countSize(slot, writer.lastValueBytes)
  }

  /**
   * Replaces everything with a snapshot's entries (those under this state's prefix). Entries a
   * file store loaded are read in place, layer by layer (base, then deltas): a key string and a
   * few numbers per key, the values left encoded until used.
   */
  restore(snapshot: ReadonlyMap<string, Buffer>): void {
    this.reset()
    if (snapshot instanceof SnapshotEntries) {
      let total = 0
      for (const layer of snapshot.layers) total += layer.count
      this.reserve(total)
      for (const layer of snapshot.layers) this.restoreLayer(layer)
      return
    }
    this.reserve(snapshot.size)
    const length = this.prefix.length
    for (const [stored, bytes] of snapshot) {
      if (!stored.startsWith(this.prefix)) continue
      this.restoreEntry(stored.slice(length), bytes, 0, bytes.length)
    }
  }

  private restoreLayer(layer: EntryLayer): void {
    const { bytes } = layer
    const prefix = this.prefixBytes
    const prefixLength = prefix.length
    next: for (let i = 0; i < layer.count; i++) {
      const keyStart = keyStartOf(layer, i)
      const keyEnd = keyEndOf(layer, i)
      if (keyEnd - keyStart < prefixLength) continue
      for (let j = 0; j < prefixLength; j++) if (bytes[keyStart + j] !== prefix[j]) continue next
      const from = keyStart + prefixLength
      const valueStart = valueStartOf(layer, i)
      if (valueStart === DELETED) {
        const slot = this.index.find(bytes.toString('utf8', from, keyEnd))
        if (slot >= 0) this.remove(slot, false)
        continue
      }
      const valueEnd = valueEndOf(layer, i)
      if (valueEnd - valueStart < TOUCHED_BYTES)
        this.tooShort(bytes.toString('utf8', from, keyEnd), valueStart, valueEnd)
      let ascii = true
      for (let p = from; p < keyEnd; p++) {
        if (bytes[p]! >= 0x80) {
          ascii = false
          break
        }
      }
      // An ASCII key stays bytes in the index until used; others become strings now.
      const claimed = this.claim()
      const slot = ascii
        ? this.index.insertBytes(bytes, from, keyEnd, claimed)
        : this.index.insert(bytes.toString('utf8', from, keyEnd), claimed)
      this.restoreValue(slot, claimed, bytes, valueStart, valueEnd)
    }
  }

  private restoreEntry(key: string, bytes: Buffer, start: number, end: number): void {
    if (end - start < TOUCHED_BYTES) this.tooShort(key, start, end)
    const claimed = this.claim()
    this.restoreValue(this.index.insert(key, claimed), claimed, bytes, start, end)
  }

  /**
   * A restored value into `slot`: the claimed one, or the key's slot when an earlier layer (or an
   * earlier copy in the same layer: a Redis HSCAN may repeat an entry) had it, found by the same
   * probe that would have added it.
   */
  private restoreValue(slot: number, claimed: number, bytes: Buffer, start: number, end: number): void {
    if (slot === claimed) this.fill(slot, RAW, bytes.readDoubleBE(start))
    else {
      this.free.push(claimed)
      this.values[slot] = RAW
      this.meta[slot * STRIDE + TOUCHED] = bytes.readDoubleBE(start)
    }
    this.raw[slot] = bytes
    this.rawAt[2 * slot] = start + TOUCHED_BYTES
    this.rawAt[2 * slot + 1] = end
    this.countSize(slot, end - start)
  }

  private tooShort(key: string, start: number, end: number): never {
    throw new SluiceError(
      'STATE_CORRUPT',
      `the snapshot value of ${JSON.stringify(key)} has ${end - start} bytes, less than its last-use time`,
    )
  }

  private valueAt(slot: number): V {
    const value = this.values[slot]
    if (value === RAW) return this.decodeRaw(slot)
    return (value === ROW ? valueFromRow(this.rows, slot * this.width, this.rowLayout!) : value) as V
  }

  private decodeRaw(slot: number): V {
    const value = this.codec.decode(this.raw[slot]!.subarray(this.rawAt[2 * slot], this.rawAt[2 * slot + 1]))
    this.values[slot] = value
    this.raw[slot] = undefined
    return value
  }

  /** A free slot number (its key is not in the index yet). */
  private claim(): number {
    const free = this.free.pop()
    if (free !== undefined) return free
    const slot = this.used++
    if (slot >= this.capacity) this.grow(slot + 1)
    this.values.push(undefined)
    this.raw.push(undefined)
    return slot
  }

  /** Fills a slot just given a key (the newest in the recency order). */
  private fill(slot: number, value: unknown, touched: number): void {
    this.values[slot] = value
    const m = slot * STRIDE
    this.meta[m + TOUCHED] = touched
    this.meta[m + WRITTEN] = 0
    this.meta[m + SIZE] = -1
    if (this.lru) this.link(slot)
  }

  /** Frees a slot; `recorded`: a deletion to write in the next snapshot (not during a restore). */
  private remove(slot: number, recorded: boolean): void {
    const key = this.index.keyAt(slot)!
    this.index.remove(slot)
    this.values[slot] = undefined
    this.raw[slot] = undefined
    const m = slot * STRIDE
    this.meta[m + WRITTEN] = 0
    this.forgetSize(slot)
    if (this.lru) this.unlink(slot)
    this.free.push(slot)
    if (recorded) this.deleted.add(key)
  }

  private markWritten(slot: number): void {
    const m = slot * STRIDE + WRITTEN
    if (this.meta[m] === this.epoch) return
    this.meta[m] = this.epoch
    this.changed++
    if (this.walkAll) return
    if (this.written.length < this.used >> 3) this.written.push(slot)
    else {
      this.walkAll = true
      this.written.length = 0
    }
  }

  private touch(slot: number, now: number): void {
    const m = slot * STRIDE + TOUCHED
    const touched = this.meta[m]!
    if (this.lru && now - touched > REORDER_GRANULARITY_MS && this.tail !== slot) {
      this.unlink(slot)
      this.link(slot)
    }
    if (now > touched) this.meta[m] = now
  }

  private countSize(slot: number, size: number): void {
    this.forgetSize(slot)
    this.meta[slot * STRIDE + SIZE] = size
    this.knownKeys++
    this.knownBytes += size
  }

  private forgetSize(slot: number): void {
    const m = slot * STRIDE + SIZE
    const size = this.meta[m]!
    if (size < 0) return
    this.knownKeys--
    this.knownBytes -= size
    this.meta[m] = -1
  }

  /** Appends a slot at the newest end of the recency order. */
  private link(slot: number): void {
    this.prev[slot] = this.tail
    this.next[slot] = -1
    if (this.tail >= 0) this.next[this.tail] = slot
    else this.head = slot
    this.tail = slot
  }

  private unlink(slot: number): void {
    const before = this.prev[slot]!
    const after = this.next[slot]!
    if (before >= 0) this.next[before] = after
    else this.head = after
    if (after >= 0) this.prev[after] = before
    else this.tail = before
  }

  /** Makes room for at least `slots` slots in the typed arrays (doubling). */
  private grow(slots: number): void {
    if (slots <= this.capacity) return
    let capacity = this.capacity
    while (capacity < slots) capacity *= 2
    const meta = new Float64Array(capacity * STRIDE)
    meta.set(this.meta)
    this.meta = meta
    const rawAt = new Uint32Array(capacity * 2)
    rawAt.set(this.rawAt)
    this.rawAt = rawAt
    if (this.width > 0) {
      const rows = new Float64Array(capacity * this.width)
      rows.set(this.rows)
      this.rows = rows
    }
    if (this.lru) {
      const prev = new Int32Array(capacity)
      prev.set(this.prev)
      this.prev = prev
      const next = new Int32Array(capacity)
      next.set(this.next)
      this.next = next
    }
    this.capacity = capacity
  }

  /** Room for `slots` keys at once (a restore): the index and the arrays are sized once. */
  private reserve(slots: number): void {
    this.index.reserve(slots)
    this.grow(slots)
  }

  private reset(): void {
    this.index = new KeyIndex()
    this.values = []
    this.raw = []
    this.free = []
    this.used = 0
    this.written = []
    this.walkAll = false
    this.changed = 0
    this.deleted.clear()
    this.lastSlot = -1
    this.knownKeys = 0
    this.knownBytes = 0
    this.head = -1
    this.tail = -1
  }

  /** Whether one more key (of `bytes`, when a byte budget counts them) would exceed the budget. */
  private overBudget(bytes: number): boolean {
    if (this.maxKeys !== undefined && this.index.size + 1 > this.maxKeys) return true
    return this.maxBytes !== undefined && bytes >= 0 && this.approximateBytes + bytes > this.maxBytes
  }
}
