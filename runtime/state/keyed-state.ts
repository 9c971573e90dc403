import type { SnapshotChanges, StateCodec } from './index.ts'

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

interface Entry<V> {
  /** The value; undefined until first used after a restore (then `raw` holds its encoding). */
  value: V | undefined
  /** The encoded value from a snapshot, decoded on first use: a restore decodes nothing. */
  raw: Buffer | null
  /** When the key was last read or written (ms, the operator's clock: event or processing time). */
  touched: number
}

/**
 * A key is moved to the newest end of the recency order at most once per this many ms of its
 * clock: hot keys are used many times a second, and moving one costs a Map delete and insert.
 */
const REORDER_GRANULARITY_MS = 1000

const TOUCHED_BYTES = 8

/**
 * Values per key for one operator and source partition, in memory, with what a checkpoint needs:
 * the changes since the last epoch (takeChanges), restore from a snapshot, idle-key expiry (TTL)
 * and a budget in keys and bytes with a declared policy. Reads and writes are synchronous Map
 * operations; encoding happens once per changed key per epoch, not per event.
 *
 * Entries are kept in approximately least-recently-used order (a Map, a key re-inserted when used
 * and last moved more than a second of its clock ago), so eviction takes the oldest first without
 * searching. After a restore, keys not used since come first, in snapshot order. Values restored
 * from a snapshot are decoded when first used, so a restore of a million keys decodes none.
 */
export class KeyedState<V> {
  private readonly entries = new Map<string, Entry<V>>()
  /** Keys changed since the last takeChanges: true when written, false when deleted. */
  private readonly dirty = new Map<string, boolean>()
  /** Encoded size of each key as of the last snapshot it was in. */
  private readonly encodedSizes = new Map<string, number>()
  private knownBytes = 0
  private readonly codec: StateCodec<V>
  private readonly prefix: string
  private readonly policy: OverBudgetPolicy
  readonly stats = { evicted: 0, refused: 0, expired: 0 }

  constructor(private readonly options: KeyedStateOptions<V>) {
    this.codec = options.codec
    this.prefix = options.prefix ?? 'v:'
    this.policy = options.overBudget ?? 'refuse'
  }

  get size(): number {
    return this.entries.size
  }

  /** Bytes as encoded in snapshots: exact for keys snapshotted since their last write, else estimated. */
  get approximateBytes(): number {
    const known = this.encodedSizes.size
    const unknown = this.entries.size - known
    if (unknown <= 0) return this.knownBytes
    const average = known > 0 ? this.knownBytes / known : 64
    return this.knownBytes + unknown * average
  }

  has(key: string): boolean {
    return this.entries.has(key)
  }

  /** The key's value, marking it used at `now`. */
  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.touch(key, entry, now)
    if (entry.raw !== null) {
      entry.value = this.codec.decode(entry.raw)
      entry.raw = null
    }
    return entry.value
  }

  /**
   * Sets the key's value at `now`. A new key beyond the budget is refused (returns false) or
   * makes room by evicting the least recently used keys, as the policy says.
   */
  set(key: string, value: V, now: number): boolean {
    const size =
      this.options.maxBytes === undefined ? undefined : TOUCHED_BYTES + this.codec.encode(value).length
    const entry = this.entries.get(key)
    if (entry !== undefined) {
      entry.value = value
      entry.raw = null
      this.touch(key, entry, now)
      this.dirty.set(key, true)
      if (size !== undefined) this.countSize(key, size)
      return true
    }
    if (this.overBudget(size)) {
      if (this.policy === 'refuse') {
        this.stats.refused++
        return false
      }
      while (this.entries.size > 0 && this.overBudget(size)) {
        this.remove(this.entries.keys().next().value as string)
        this.stats.evicted++
      }
    }
    this.entries.set(key, { value, raw: null, touched: now })
    this.dirty.set(key, true)
    if (size !== undefined) this.countSize(key, size)
    return true
  }

  delete(key: string): void {
    if (this.entries.has(key)) this.remove(key)
  }

  /**
   * Drops every key idle for longer than the TTL as of `now`; returns how many. It looks at every
   * key (the recency order is only approximate), so call it once per checkpoint, not per event.
   */
  expire(now: number): number {
    const ttl = this.options.ttlMs
    if (ttl === undefined) return 0
    let removed = 0
    for (const [key, entry] of this.entries) {
      if (now - entry.touched <= ttl) continue
      this.remove(key)
      removed++
    }
    this.stats.expired += removed
    return removed
  }

  /** Every key and value, least recently used first (for firing and inspection). */
  *[Symbol.iterator](): IterableIterator<[string, V]> {
    for (const [key, entry] of this.entries) {
      if (entry.raw !== null) {
        entry.value = this.codec.decode(entry.raw)
        entry.raw = null
      }
      yield [key, entry.value as V]
    }
  }

  /** The changes since the last call, encoded for a snapshot; starts a new epoch of changes. */
  takeChanges(): SnapshotChanges {
    const puts = new Map<string, Buffer>()
    const deletes: string[] = []
    for (const [key, written] of this.dirty) {
      if (!written) {
        deletes.push(this.prefix + key)
        continue
      }
      const entry = this.entries.get(key)!
      const bytes = this.encode(entry)
      puts.set(this.prefix + key, bytes)
      this.countSize(key, bytes.length)
    }
    this.dirty.clear()
    return { puts, deletes }
  }

  /** Replaces everything with a snapshot's entries (those under this state's prefix). */
  restore(snapshot: ReadonlyMap<string, Buffer>): void {
    this.entries.clear()
    this.dirty.clear()
    this.encodedSizes.clear()
    this.knownBytes = 0
    for (const [stored, bytes] of snapshot) {
      if (!stored.startsWith(this.prefix)) continue
      const key = stored.slice(this.prefix.length)
      this.entries.set(key, {
        value: undefined,
        raw: bytes.subarray(TOUCHED_BYTES),
        touched: bytes.readDoubleBE(0),
      })
      this.encodedSizes.set(key, bytes.length)
      this.knownBytes += bytes.length
    }
  }

  private encode(entry: Entry<V>): Buffer {
    const value = entry.raw ?? this.codec.encode(entry.value as V)
    const bytes = Buffer.allocUnsafe(TOUCHED_BYTES + value.length)
    bytes.writeDoubleBE(entry.touched, 0)
    value.copy(bytes, TOUCHED_BYTES)
    return bytes
  }

  private touch(key: string, entry: Entry<V>, now: number): void {
    if (now - entry.touched > REORDER_GRANULARITY_MS) {
      this.entries.delete(key)
      this.entries.set(key, entry)
    }
    if (now > entry.touched) entry.touched = now
  }

  private remove(key: string): void {
    this.entries.delete(key)
    this.dirty.set(key, false)
    const size = this.encodedSizes.get(key)
    if (size !== undefined) {
      this.knownBytes -= size
      this.encodedSizes.delete(key)
    }
  }

  private countSize(key: string, size: number): void {
    this.knownBytes += size - (this.encodedSizes.get(key) ?? 0)
    this.encodedSizes.set(key, size)
  }

  /** Whether one more key (of `bytes`, when a byte budget counts them) would exceed the budget. */
  private overBudget(bytes: number | undefined): boolean {
    const { maxKeys, maxBytes } = this.options
    if (maxKeys !== undefined && this.entries.size + 1 > maxKeys) return true
    return maxBytes !== undefined && bytes !== undefined && this.approximateBytes + bytes > maxBytes
  }
}
