/**
 * Key → slot for KeyedState: an open-addressing hash table (linear probing, at most half full)
 * in an Int32Array, each position holding a slot and its key's hash, instead of a Map.
 *
 * Why not a Map: restoring a million keys is a million inserts, and a Map cannot be sized in
 * advance, so it rehashes everything at every doubling; this table is sized once for the
 * snapshot and inserts about three times faster. A lookup also costs fewer cache misses (the
 * probe compares stored hashes in a typed array before it touches a key string), and the table is
 * no object graph for the collector to trace. Deletion shifts the following entries back (no
 * tombstones), so lookups never slow down as keys come and go.
 *
 * The hash is FNV-1a over the UTF-16 code units with a per-table random basis and a final mix
 * (the table uses its low bits), so keys chosen to collide in one process do not collide in
 * another.
 *
 * Restored keys can stay bytes: `insertBytes` indexes an ASCII key where it lies in a snapshot's
 * buffer (its hash over the bytes equals the string's), and the key becomes a string only when
 * first looked up (taking the caller's string) or asked for. A restore of a million keys then
 * makes no string and leaves the collector nothing new to trace per key.
 */

const EMPTY = -1

export class KeyIndex {
  /**
   * Two Int32s per position: a slot (or EMPTY) and its key's hash, side by side so a probe reads
   * one cache line and touches a key string only when the hashes match. Positions: a power of
   * two, at least twice the number of keys.
   */
  private table: Int32Array
  private mask: number
  private count = 0
  private readonly seed = (Math.random() * 0x1_0000_0000) | 0

  /**
   * Per slot: its key, undefined while free or while the key is still bytes (`raw`). Read by
   * KeyedState for the cheap check of `set` after `get`; `keyAt` for everything else.
   */
  keys: (string | undefined)[] = []
  /** Per slot whose key is still bytes: the buffer, and where (`rawAt`: start, end) it lies. */
  private raw: (Buffer | undefined)[] = []
  private rawAt = new Uint32Array(16)

  constructor(expected = 8) {
    const positions = tableSize(expected)
    this.table = new Int32Array(2 * positions).fill(EMPTY)
    this.mask = positions - 1
  }

  get size(): number {
    return this.count
  }

  /** The key's slot, or -1. */
  find(key: string): number {
    const h = this.hash(key)
    const table = this.table
    const keys = this.keys
    const mask = this.mask
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = table[2 * i]!
      if (slot === EMPTY) return -1
      if (table[2 * i + 1] !== h) continue
      const stored = keys[slot]
      if (stored === key) return slot
      if (stored === undefined && this.rawEquals(slot, key)) {
        // The first lookup of a restored key: keep the caller's string, drop the bytes.
        keys[slot] = key
        this.raw[slot] = undefined
        return slot
      }
    }
  }

  /** The slot's key, or undefined for a free slot (a key still in bytes is decoded now). */
  keyAt(slot: number): string | undefined {
    const key = this.keys[slot]
    if (key !== undefined) return key
    const bytes = this.raw[slot]
    if (bytes === undefined) return undefined
    const decoded = bytes.toString('latin1', this.rawAt[2 * slot], this.rawAt[2 * slot + 1])
    this.keys[slot] = decoded
    this.raw[slot] = undefined
    return decoded
  }

  /** Whether the slot holds a key. */
  holds(slot: number): boolean {
    return this.keys[slot] !== undefined || this.raw[slot] !== undefined
  }

  /**
   * Like insert, for a key of ASCII bytes (every byte below 0x80: the caller checks) at
   * bytes[start, end), indexed without making a string of it.
   */
  insertBytes(bytes: Buffer, start: number, end: number, slot: number): number {
    if ((this.count + 1) * 2 > this.mask + 1) this.rehash((this.mask + 1) * 2)
    let h = this.seed ^ 0x811c9dc5
    for (let p = start; p < end; p++) h = Math.imul(h ^ bytes[p]!, 0x01000193)
    h = finish(h)
    const table = this.table
    const mask = this.mask
    let i = h & mask
    for (; table[2 * i] !== EMPTY; i = (i + 1) & mask) {
      const other = table[2 * i]!
      if (table[2 * i + 1] === h && this.equalsBytes(other, bytes, start, end)) return other
    }
    table[2 * i] = slot
    table[2 * i + 1] = h
    this.ensureSlot(slot)
    this.raw[slot] = bytes
    this.rawAt[2 * slot] = start
    this.rawAt[2 * slot + 1] = end
    this.count++
    return slot
  }

  /**
   * Maps a key that is not in the index to `slot` (which must be free). Returns the slot the key
   * had instead when it was there after all (the caller then decides which one to keep).
   */
  insert(key: string, slot: number): number {
    if ((this.count + 1) * 2 > this.mask + 1) this.rehash((this.mask + 1) * 2)
    const h = this.hash(key)
    const table = this.table
    const mask = this.mask
    let i = h & mask
    for (; table[2 * i] !== EMPTY; i = (i + 1) & mask) {
      const other = table[2 * i]!
      if (table[2 * i + 1] !== h) continue
      if (this.keys[other] === key || (this.keys[other] === undefined && this.rawEquals(other, key)))
        return other
    }
    table[2 * i] = slot
    table[2 * i + 1] = h
    this.ensureSlot(slot)
    this.keys[slot] = key
    this.count++
    return slot
  }

  /** Removes the slot's key; a no-op for a free slot. */
  remove(slot: number): void {
    const key = this.keyAt(slot)
    if (key === undefined) return
    const table = this.table
    const mask = this.mask
    let i = this.hash(key) & mask
    while (table[2 * i] !== slot) i = (i + 1) & mask
    // Backward shift: move each following entry of the run into the gap unless its home
    // position lies cyclically after the gap (then it is already as close to home as it can be).
    for (let j = (i + 1) & mask; table[2 * j] !== EMPTY; j = (j + 1) & mask) {
      const home = table[2 * j + 1]! & mask
      const stays = i <= j ? i < home && home <= j : i < home || home <= j
      if (stays) continue
      table[2 * i] = table[2 * j]!
      table[2 * i + 1] = table[2 * j + 1]!
      i = j
    }
    table[2 * i] = EMPTY
    this.keys[slot] = undefined
    this.raw[slot] = undefined
    this.count--
  }

  /** Sizes the table for `expected` keys at once (a restore), so it never rehashes on the way. */
  reserve(expected: number): void {
    const positions = tableSize(expected)
    if (positions > this.mask + 1) this.rehash(positions)
    if (2 * expected > this.rawAt.length) {
      const rawAt = new Uint32Array(2 * expected)
      rawAt.set(this.rawAt)
      this.rawAt = rawAt
    }
  }

  private rehash(positions: number): void {
    const old = this.table
    const table = new Int32Array(2 * positions).fill(EMPTY)
    const mask = positions - 1
    for (let p = 0; p < old.length; p += 2) {
      if (old[p] === EMPTY) continue
      let i = old[p + 1]! & mask
      while (table[2 * i] !== EMPTY) i = (i + 1) & mask
      table[2 * i] = old[p]!
      table[2 * i + 1] = old[p + 1]!
    }
    this.table = table
    this.mask = mask
  }

  private hash(key: string): number {
    let h = this.seed ^ 0x811c9dc5
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
    return finish(h)
  }

  /** Whether the slot's key, still in bytes (ASCII), is `key`. */
  private rawEquals(slot: number, key: string): boolean {
    const bytes = this.raw[slot]
    if (bytes === undefined) return false
    const start = this.rawAt[2 * slot]!
    if (this.rawAt[2 * slot + 1]! - start !== key.length) return false
    for (let i = 0; i < key.length; i++) if (bytes[start + i] !== key.charCodeAt(i)) return false
    return true
  }

  /** Whether the slot's key (a string or bytes) is the ASCII key at bytes[start, end). */
  private equalsBytes(slot: number, bytes: Buffer, start: number, end: number): boolean {
    const key = this.keys[slot]
    if (key !== undefined) {
      if (key.length !== end - start) return false
      for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) !== bytes[start + i]) return false
      return true
    }
    const other = this.raw[slot]
    if (other === undefined) return false
    const from = this.rawAt[2 * slot]!
    return (
      this.rawAt[2 * slot + 1]! - from === end - start &&
      other.compare(bytes, start, end, from, from + end - start) === 0
    )
  }

  private ensureSlot(slot: number): void {
    while (this.keys.length <= slot) {
      this.keys.push(undefined)
      this.raw.push(undefined)
    }
    if (2 * slot + 2 > this.rawAt.length) {
      let length = this.rawAt.length
      while (length < 2 * slot + 2) length *= 2
      const rawAt = new Uint32Array(length)
      rawAt.set(this.rawAt)
      this.rawAt = rawAt
    }
  }
}

/**
 * murmur3's finaliser (every input bit reaches the low bits the table indexes by), as a
 * non-negative int32 so it compares equal to the table's copy.
 */
function finish(hash: number): number {
  let h = hash
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h & 0x7fffffff
}

/** The smallest power of two at least twice `keys` (and at least 16). */
function tableSize(keys: number): number {
  let size = 16
  while (size < keys * 2) size *= 2
  return size
}
