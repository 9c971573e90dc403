/**
 * Snapshot entries kept as they lie in the snapshot file format (snapshot-file.ts): one Buffer
 * per file (a layer) and a table of where each entry's key and value lie in it, instead of a
 * string and a Buffer per entry. A million keys then load as a few large buffers and offset
 * tables, and KeyedState.restore reads keys and values straight from them; a full snapshot is
 * encoded into one buffer that the file store writes as it is.
 *
 * A loaded snapshot is a base and the deltas after it: layers applied in order, a later entry of
 * a key replacing an earlier one and a deletion removing it. As a ReadonlyMap it shows the merged
 * result (built on first use, for callers without a fast path: timers, tests, the Redis store).
 */

import { NO_ROOM } from './json-bytes.ts'

/** Entry i's positions in a layer's offsets table: key start/end, value start/end. */
const STRIDE = 4
/** Lookups by key a SnapshotEntries answers by scanning before it builds its merged Map. */
const LOOKUPS_BEFORE_MERGE = 4
/** A value start marking a deletion (deltas only). */
export const DELETED = 0xffffffff

/** Entries in snapshot-file encoding: `u32 keyLength | key | i32 valueLength | value`, back to back. */
export interface EntryLayer {
  readonly bytes: Buffer
  /** 4 per entry: key start, key end, value start (DELETED for a deletion), value end. */
  readonly offsets: Uint32Array
  readonly count: number
  /** Where the encoded entries start and end in `bytes` (they are contiguous). */
  readonly start: number
  readonly end: number
}

export function keyStartOf(layer: EntryLayer, i: number): number {
  return layer.offsets[i * STRIDE]!
}
export function keyEndOf(layer: EntryLayer, i: number): number {
  return layer.offsets[i * STRIDE + 1]!
}
export function valueStartOf(layer: EntryLayer, i: number): number {
  return layer.offsets[i * STRIDE + 2]!
}
export function valueEndOf(layer: EntryLayer, i: number): number {
  return layer.offsets[i * STRIDE + 3]!
}

/** Builds a layer's offsets table as entries are appended (the encoder and the decoder use it). */
export class OffsetsBuilder {
  private table: Uint32Array
  count = 0

  constructor(capacity = 64) {
    this.table = new Uint32Array(Math.max(1, capacity) * STRIDE)
  }

  add(keyStart: number, keyEnd: number, valueStart: number, valueEnd: number): void {
    let t = this.table
    const at = this.count * STRIDE
    if (at + STRIDE > t.length) {
      const grown = new Uint32Array(t.length * 2)
      grown.set(t)
      this.table = t = grown
    }
    t[at] = keyStart
    t[at + 1] = keyEnd
    t[at + 2] = valueStart
    t[at + 3] = valueEnd
    this.count++
  }

  layer(bytes: Buffer, start: number, end: number): EntryLayer {
    return { bytes, offsets: this.table, count: this.count, start, end }
  }
}

/** The entries of a snapshot or of one epoch's puts, as layers; a ReadonlyMap of key → value. */
export class SnapshotEntries implements ReadonlyMap<string, Buffer> {
  private merged: Map<string, Buffer> | null = null
  /** Lookups by key so far: after a few, the merged Map answers them (one scan each is O(n)). */
  private lookups = 0
  /**
   * One layer without deletions: read as it is, without merging (the encoders write a layer from
   * a map or a set of slots, so no key is in it twice, unless `mayRepeat` says otherwise).
   */
  readonly isPlain: boolean

  /**
   * `mayRepeat`: a layer may hold a key twice, the last one counting (a Redis HSCAN can return an
   * entry twice); readers then merge even a single layer.
   */
  constructor(
    readonly layers: readonly EntryLayer[],
    readonly mayRepeat = false,
  ) {
    this.isPlain = !mayRepeat && layers.length <= 1 && !layers.some(hasDeletions)
  }

  get size(): number {
    return this.isPlain ? (this.layers[0]?.count ?? 0) : this.map().size
  }

  get(key: string): Buffer | undefined {
    if (this.merged !== null || ++this.lookups > LOOKUPS_BEFORE_MERGE) return this.map().get(key)
    return this.lookup(key) ?? undefined
  }

  has(key: string): boolean {
    if (this.merged !== null || ++this.lookups > LOOKUPS_BEFORE_MERGE) return this.map().has(key)
    return this.lookup(key) != null
  }

  /**
   * A key's value without merging: the layers newest first, each from its end, comparing bytes
   * (null: deleted, undefined: absent). A restore reads one or two entries of a million-key
   * snapshot by name (a step's clock), where merging would build a million-entry Map first.
   */
  private lookup(key: string): Buffer | null | undefined {
    const wanted = Buffer.from(key, 'utf8')
    const length = wanted.length
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l]!
      const bytes = layer.bytes
      next: for (let i = layer.count - 1; i >= 0; i--) {
        const start = keyStartOf(layer, i)
        if (keyEndOf(layer, i) - start !== length) continue
        for (let j = 0; j < length; j++) if (bytes[start + j] !== wanted[j]) continue next
        return entryValue(layer, i)
      }
    }
    return undefined
  }

  forEach(callback: (value: Buffer, key: string, map: ReadonlyMap<string, Buffer>) => void): void {
    for (const [key, value] of this) callback(value, key, this)
  }

  *entries(): MapIterator<[string, Buffer]> {
    if (this.merged === null && this.isPlain) {
      const layer = this.layers[0]
      if (layer === undefined) return
      for (let i = 0; i < layer.count; i++) yield [entryKey(layer, i), entryValue(layer, i)!]
      return
    }
    yield* this.map()
  }

  *keys(): MapIterator<string> {
    const layer = this.layers[0]
    if (this.merged !== null || !this.isPlain || layer === undefined) {
      yield* this.map().keys()
      return
    }
    for (let i = 0; i < layer.count; i++) yield entryKey(layer, i)
  }

  /**
   * The keys under `prefix`, with the prefix (every layer applied in order). Only keys whose
   * bytes start with the prefix are decoded: a TimerQueue restores its few timers from a scope
   * of a million values without decoding the values' keys.
   */
  keysWithPrefix(prefix: string): string[] {
    const wanted = Buffer.from(prefix, 'utf8')
    const found = new Set<string>()
    for (const layer of this.layers) {
      const bytes = layer.bytes
      next: for (let i = 0; i < layer.count; i++) {
        const start = keyStartOf(layer, i)
        if (keyEndOf(layer, i) - start < wanted.length) continue
        for (let j = 0; j < wanted.length; j++) if (bytes[start + j] !== wanted[j]) continue next
        const key = entryKey(layer, i)
        if (valueStartOf(layer, i) === DELETED) found.delete(key)
        else {
          found.delete(key) // a later copy counts: keep the order of the last change
          found.add(key)
        }
      }
    }
    return [...found]
  }

  *values(): MapIterator<Buffer> {
    const layer = this.layers[0]
    if (this.merged !== null || !this.isPlain || layer === undefined) {
      for (const [, value] of this.entries()) yield value
      return
    }
    // Without decoding the keys: callers sum the bytes of an epoch's puts this way.
    for (let i = 0; i < layer.count; i++) yield entryValue(layer, i)!
  }

  /** The bytes of every value, without a Buffer per value (what a checkpoint's metrics count). */
  get valueBytes(): number {
    let total = 0
    if (this.merged !== null || !this.isPlain) {
      for (const value of this.map().values()) total += value.length
      return total
    }
    const layer = this.layers[0]
    for (let i = 0; layer !== undefined && i < layer.count; i++) {
      total += valueEndOf(layer, i) - valueStartOf(layer, i)
    }
    return total
  }

  [Symbol.iterator](): MapIterator<[string, Buffer]> {
    return this.entries()
  }

  /** The merged view: every layer applied in order. */
  private map(): Map<string, Buffer> {
    if (this.merged !== null) return this.merged
    const merged = new Map<string, Buffer>()
    for (const layer of this.layers) {
      for (let i = 0; i < layer.count; i++) {
        const value = entryValue(layer, i)
        if (value === null) merged.delete(entryKey(layer, i))
        else merged.set(entryKey(layer, i), value)
      }
    }
    this.merged = merged
    return merged
  }
}

export function entryKey(layer: EntryLayer, i: number): string {
  return layer.bytes.toString('utf8', keyStartOf(layer, i), keyEndOf(layer, i))
}

/** Entry i's value as a view into the layer's buffer (no copy), or null for a deletion. */
export function entryValue(layer: EntryLayer, i: number): Buffer | null {
  const start = valueStartOf(layer, i)
  return start === DELETED ? null : layer.bytes.subarray(start, valueEndOf(layer, i))
}

function hasDeletions(layer: EntryLayer): boolean {
  for (let i = 0; i < layer.count; i++) if (valueStartOf(layer, i) === DELETED) return true
  return false
}

/**
 * Appends entries in snapshot-file encoding to one growing buffer and records their offsets:
 * how a full snapshot of a million keys is encoded without a Buffer per key. Keys are written as
 * `prefix + key` without concatenating them.
 */
export class EntryWriter {
  private bytes: Buffer
  /**
   * `bytes` as a DataView, for the lengths and value heads of the hot paths (key, valueInto):
   * V8 compiles its accessors to plain loads and stores, while Buffer's writeUInt32BE and
   * writeDoubleBE are calls with range checks; ~100 k entries a checkpoint (issue 12).
   */
  private view: DataView
  private at: number
  private keyStart = 0
  private keyEnd = 0
  private readonly offsets: OffsetsBuilder
  /** The length of the last value written (its head included). */
  lastValueBytes = 0

  /** `start`: bytes left free in front (a file header), written by the caller afterwards. */
  constructor(
    private readonly start = 0,
    capacity = 4096,
  ) {
    this.bytes = Buffer.allocUnsafe(Math.max(start + 64, capacity))
    this.view = viewOf(this.bytes)
    this.at = start
    this.offsets = new OffsetsBuilder(Math.max(16, capacity >> 6))
  }

  get count(): number {
    return this.offsets.count
  }

  /** Starts an entry with its key; `value` or `deletion` ends it. */
  key(prefix: string, key: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; 8 more for the two lengths.
    this.reserve(4 + 3 * (prefix.length + key.length) + 4)
    const bytes = this.bytes
    let p = this.at + 4
    if (prefix.length > 0) p = writeUtf8(bytes, prefix, p)
    if (key.length > 0) p = writeUtf8(bytes, key, p)
    this.view.setUint32(this.at, p - this.at - 4)
    this.keyStart = this.at + 4
    this.keyEnd = p
    this.at = p
  }

  /** Ends the entry with a value given as the string whose UTF-8 bytes it is (StateCodec.encodeString). */
  valueString(value: string, head?: number): void {
    const headBytes = head === undefined ? 0 : 8
    this.reserve(4 + headBytes + 3 * value.length)
    const bytes = this.bytes
    const start = this.at + 4
    if (head !== undefined) bytes.writeDoubleBE(head, start)
    const end = writeUtf8(bytes, value, start + headBytes)
    bytes.writeInt32BE(end - start, this.at)
    this.at = end
    this.lastValueBytes = end - start
    this.offsets.add(this.keyStart, this.keyEnd, start, end)
  }

  /**
   * Ends the entry with `head` (a float64) and a value a codec writes in place
   * (StateCodec.encodeInto); false, with nothing written, when the codec leaves this value to its
   * other methods.
   */
  valueInto<V>(
    encodeInto: (value: V, bytes: Uint8Array, at: number, limit: number) => number,
    value: V,
    head: number,
  ): boolean {
    // Room for a typical small value first; more (and the encoding again) when it does not fit.
    for (let room = 64; ; ) {
      this.reserve(4 + 8 + room)
      const bytes = this.bytes
      const start = this.at + 4
      const end = encodeInto(value, bytes, start + 8, bytes.length)
      if (end === NO_ROOM) {
        room = 2 * (bytes.length - this.at)
        continue
      }
      if (end < 0) return false
      const view = this.view
      view.setFloat64(start, head)
      view.setInt32(this.at, end - start)
      this.at = end
      this.lastValueBytes = end - start
      this.offsets.add(this.keyStart, this.keyEnd, start, end)
      return true
    }
  }

  /** Ends the entry with a value: `head` (when given, a float64 in front of it) then `value`. */
  value(value: Uint8Array, head?: number): void {
    const headBytes = head === undefined ? 0 : 8
    this.reserve(4 + headBytes + value.length)
    const bytes = this.bytes
    bytes.writeInt32BE(headBytes + value.length, this.at)
    const start = this.at + 4
    if (head !== undefined) bytes.writeDoubleBE(head, start)
    bytes.set(value, start + headBytes)
    this.at = start + headBytes + value.length
    this.lastValueBytes = headBytes + value.length
    this.offsets.add(this.keyStart, this.keyEnd, start, this.at)
  }

  /** Ends the entry as a deletion. */
  deletion(): void {
    this.reserve(4)
    this.bytes.writeInt32BE(-1, this.at)
    this.at += 4
    this.offsets.add(this.keyStart, this.keyEnd, DELETED, DELETED)
  }

  /** One entry from a key's and a value's bytes (as a Redis reply hands them over). */
  pair(key: Uint8Array, value: Uint8Array): void {
    this.reserve(8 + key.length + value.length)
    const bytes = this.bytes
    bytes.writeUInt32BE(key.length, this.at)
    const keyStart = this.at + 4
    bytes.set(key, keyStart)
    const keyEnd = keyStart + key.length
    bytes.writeInt32BE(value.length, keyEnd)
    bytes.set(value, keyEnd + 4)
    this.at = keyEnd + 4 + value.length
    this.offsets.add(keyStart, keyEnd, keyEnd + 4, this.at)
  }

  /** Copies the encoded entries of a layer (offsets shifted to their new place). */
  copy(layer: EntryLayer): void {
    const length = layer.end - layer.start
    this.reserve(length)
    layer.bytes.copy(this.bytes, this.at, layer.start, layer.end)
    const shift = this.at - layer.start
    for (let i = 0; i < layer.count; i++) {
      const valueStart = valueStartOf(layer, i)
      this.offsets.add(
        keyStartOf(layer, i) + shift,
        keyEndOf(layer, i) + shift,
        valueStart === DELETED ? DELETED : valueStart + shift,
        valueStart === DELETED ? DELETED : valueEndOf(layer, i) + shift,
      )
    }
    this.at += length
  }

  /** Copies entry i of a layer as it is encoded there. */
  copyEntry(layer: EntryLayer, i: number): void {
    const keyStart = keyStartOf(layer, i)
    const keyEnd = keyEndOf(layer, i)
    const valueStart = valueStartOf(layer, i)
    const end = valueStart === DELETED ? keyEnd + 4 : valueEndOf(layer, i)
    this.reserve(end - keyStart + 4)
    layer.bytes.copy(this.bytes, this.at, keyStart - 4, end)
    const shift = this.at + 4 - keyStart
    this.offsets.add(
      keyStart + shift,
      keyEnd + shift,
      valueStart === DELETED ? DELETED : valueStart + shift,
      valueStart === DELETED ? DELETED : end + shift,
    )
    this.at += end - keyStart + 4
  }

  /** Makes room for `extra` more bytes at the end; `finish` then gets a buffer of that size. */
  reserve(extra: number): void {
    if (this.at + extra <= this.bytes.length) return
    let capacity = this.bytes.length * 2
    while (capacity < this.at + extra) capacity *= 2
    const grown = Buffer.allocUnsafe(capacity)
    this.bytes.copy(grown, 0, 0, this.at)
    this.bytes = grown
    this.view = viewOf(grown)
  }

  /** The buffer (its first `end` bytes used) and the layer of the entries written. */
  finish(): { bytes: Buffer; end: number; layer: EntryLayer } {
    return { bytes: this.bytes, end: this.at, layer: this.offsets.layer(this.bytes, this.start, this.at) }
  }
}

function viewOf(bytes: Buffer): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** FNV-1a over a key's bytes: a cheap filter before decoding a key to compare it. */
export function hashKeyBytes(layer: EntryLayer, i: number): number {
  const bytes = layer.bytes
  let h = 0x811c9dc5
  for (let p = keyStartOf(layer, i), end = keyEndOf(layer, i); p < end; p++) {
    h = Math.imul(h ^ bytes[p]!, 0x01000193)
  }
  return h >>> 0
}

/**
 * The merged entries of several layers as one layer without deletions (what compaction writes
 * as a new base), copying each surviving entry's bytes. The first `baseLayers` layers are the
 * old base (one file, or the chunks of one Redis snapshot, no key in two of them). No key is
 * decoded: the later layers' keys (the deltas) go into a hash table of where they lie, newest
 * first, so the first copy of a key it meets is the key's last change, and a base entry is
 * looked up there by its bytes. Compaction runs on the node's thread every few checkpoints;
 * with a string and a Map entry per delta entry, folding eight deltas of ~80 k changed keys cost
 * more than one checkpoint's capture (issue 12). Output order: the base's surviving entries, then
 * each later key where its last change lies.
 */
export function mergeLayers(layers: readonly EntryLayer[], writer: EntryWriter, baseLayers = 1): void {
  const bases = layers.slice(0, baseLayers)
  const later = layers.slice(baseLayers)
  const table = new LayerKeyTable(later)
  // Per later entry: whether it is its key's last change.
  const last = later.map((layer) => new Uint8Array(layer.count))
  for (let l = later.length - 1; l >= 0; l--) {
    for (let i = later[l]!.count - 1; i >= 0; i--) if (table.add(l, i)) last[l]![i] = 1
  }
  for (const first of bases) {
    for (let i = 0; i < first.count; i++) {
      if (valueStartOf(first, i) === DELETED || table.has(first, i)) continue
      writer.copyEntry(first, i)
    }
  }
  for (let l = 0; l < later.length; l++) {
    const layer = later[l]!
    const isLast = last[l]!
    for (let i = 0; i < layer.count; i++) {
      if (isLast[i] === 1 && valueStartOf(layer, i) !== DELETED) writer.copyEntry(layer, i)
    }
  }
}

/**
 * The distinct keys of some layers, as (layer, entry) positions in an open-addressing table
 * (linear probing, at most half full) keyed by hashKeyBytes, compared byte by byte on a match.
 */
class LayerKeyTable {
  /** Per position: layer + 1 (0: empty), entry, hash, side by side so a probe reads one cache line. */
  private readonly table: Int32Array
  private readonly mask: number

  constructor(private readonly layers: readonly EntryLayer[]) {
    let count = 0
    for (const layer of layers) count += layer.count
    let size = 16
    while (size < 2 * count) size *= 2
    this.table = new Int32Array(3 * size)
    this.mask = size - 1
  }

  /** Adds entry i of layer l; false when its key is in the table already. */
  add(l: number, i: number): boolean {
    const layer = this.layers[l]!
    const h = hashKeyBytes(layer, i) | 0
    const table = this.table
    const mask = this.mask
    let p = h & mask
    for (; table[3 * p] !== 0; p = (p + 1) & mask) {
      if (table[3 * p + 2] === h && sameKey(this.layers[table[3 * p]! - 1]!, table[3 * p + 1]!, layer, i))
        return false
    }
    table[3 * p] = l + 1
    table[3 * p + 1] = i
    table[3 * p + 2] = h
    return true
  }

  /** Whether the key of entry i of `layer` (any layer) is in the table. */
  has(layer: EntryLayer, i: number): boolean {
    const h = hashKeyBytes(layer, i) | 0
    const table = this.table
    const mask = this.mask
    for (let p = h & mask; table[3 * p] !== 0; p = (p + 1) & mask) {
      if (table[3 * p + 2] === h && sameKey(this.layers[table[3 * p]! - 1]!, table[3 * p + 1]!, layer, i))
        return true
    }
    return false
  }
}

function sameKey(a: EntryLayer, i: number, b: EntryLayer, j: number): boolean {
  const aStart = keyStartOf(a, i)
  const bStart = keyStartOf(b, j)
  const length = keyEndOf(a, i) - aStart
  if (keyEndOf(b, j) - bStart !== length) return false
  const x = a.bytes
  const y = b.bytes
  for (let k = 0; k < length; k++) if (x[aStart + k] !== y[bStart + k]) return false
  return true
}

/**
 * Writes a string's UTF-8 at `at` (room for 3 bytes per UTF-16 unit must be there); returns the
 * end. Keys and JSON values are mostly ASCII and short, where a loop beats Buffer.write's call
 * into C++; the first non-ASCII unit hands the rest to Buffer.write.
 */
function writeUtf8(bytes: Buffer, text: string, at: number): number {
  const length = text.length
  for (let i = 0; i < length; i++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0x80) return at + bytes.write(i === 0 ? text : text.slice(i), at, 'utf8')
    bytes[at++] = unit
  }
  return at
}
