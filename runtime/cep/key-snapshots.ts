/**
 * Incremental snapshots of a `match` step (issue 14 item 5): a checkpoint writes the keys whose
 * partial matches or buffered events changed since the last one, not the whole state, and a
 * restore composes the store's base and deltas (the snapshot store does that per entry, as for
 * keyed state: docs/decisions/0029-state-snapshot-layout.md).
 *
 * The entries of a match step's scope:
 *
 *   match-meta   the operator's scalars (format, largest event time, watermark advanced to, next seq)
 *   b:<n>        bucket n: every key that holds something and hashes to n, with its buffered
 *                events and its partial and held matches (KeyMatches), in one node:v8 value
 *
 * Why buckets of keys rather than one entry per key: rows are arbitrary values (records, maps,
 * exact i64 as bigint), so they are encoded with node:v8, whose cost is mostly per call: one
 * serialize per key cost 7–12 µs against about 2 µs per key in one call for the benchmark's
 * 100,000 keys of two or three events each (measured on a loaded machine). A bucket holds
 * 1/BUCKETS of the keys, so a checkpoint after one key changed writes that key and its bucket's
 * neighbours, and one after most keys changed costs about what a full snapshot does. The bucket of
 * a key is a hash of its string, so it does not depend on the dense ids, which a restore assigns
 * anew.
 */
import { deserialize, serialize } from 'node:v8'
import type { KeyMatches } from './engine.ts'

/** Buckets of keys. A power of two. */
export const KEY_BUCKETS = 4096
export const META_ENTRY = 'match-meta'
export const BUCKET_PREFIX = 'b:'
const FORMAT = 1

/** The operator's scalars, written with every checkpoint that changed anything. */
export interface MatchMeta {
  readonly format: number
  readonly maxTime: number
  readonly advancedTo: number
  readonly seq: number
}

/** One key as a bucket holds it: its buffered events ([time, seq, row] flat) and its matches. */
export interface KeyEntry {
  readonly key: string
  readonly buffered: unknown[]
  readonly matches: KeyMatches | null
}

/** The bucket of a key string (FNV-1a over its UTF-16 code units). */
export function bucketOf(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) & (KEY_BUCKETS - 1)
}

/**
 * Which dense key ids each bucket holds, and which buckets changed since the last take. The
 * operator tells it when an id is given to a key, when a key changes and when its id is freed;
 * all three are a few array writes.
 */
export class KeyBuckets {
  /** Per key id: its bucket, -1 when the id is free. */
  private bucketOfId = new Int32Array(1024).fill(-1)
  private readonly members: Set<number>[] = Array.from({ length: KEY_BUCKETS }, () => new Set())
  private dirty = new Uint8Array(KEY_BUCKETS)
  private dirtyList: number[] = []

  assign(id: number, key: string): void {
    if (id >= this.bucketOfId.length) {
      const grown = new Int32Array(Math.max(id + 1, this.bucketOfId.length * 2)).fill(-1)
      grown.set(this.bucketOfId)
      this.bucketOfId = grown
    }
    const bucket = bucketOf(key)
    this.bucketOfId[id] = bucket
    ;(this.members[bucket] as Set<number>).add(id)
    this.markBucket(bucket)
  }

  /** The key of id changed (an event buffered or released, its matches changed). */
  mark(id: number): void {
    const bucket = id < this.bucketOfId.length ? (this.bucketOfId[id] as number) : -1
    if (bucket >= 0 && this.dirty[bucket] === 0) {
      this.dirty[bucket] = 1
      this.dirtyList.push(bucket)
    }
  }

  free(id: number): void {
    const bucket = this.bucketOfId[id] as number
    if (bucket < 0) return
    ;(this.members[bucket] as Set<number>).delete(id)
    this.bucketOfId[id] = -1
    this.markBucket(bucket)
  }

  /** Every bucket that holds a key changed (after a restore from a full snapshot). */
  markAll(): void {
    for (let b = 0; b < KEY_BUCKETS; b++) if ((this.members[b] as Set<number>).size > 0) this.markBucket(b)
  }

  /** The buckets changed since the last call, and a fresh start. */
  take(): number[] {
    const list = this.dirtyList
    for (const b of list) this.dirty[b] = 0
    this.dirtyList = []
    return list
  }

  membersOf(bucket: number): ReadonlySet<number> {
    return this.members[bucket] as Set<number>
  }

  clear(): void {
    this.bucketOfId.fill(-1)
    for (const set of this.members) set.clear()
    this.dirty.fill(0)
    this.dirtyList = []
  }

  private markBucket(bucket: number): void {
    if (this.dirty[bucket] === 0) {
      this.dirty[bucket] = 1
      this.dirtyList.push(bucket)
    }
  }
}

export function bucketEntry(bucket: number): string {
  return `${BUCKET_PREFIX}${bucket}`
}

export function encodeBucket(keys: readonly KeyEntry[]): Buffer {
  return serialize(keys)
}

export function decodeBucket(bytes: Uint8Array): KeyEntry[] {
  return deserialize(bytes) as KeyEntry[]
}

export function encodeMeta(meta: Omit<MatchMeta, 'format'>): Buffer {
  return serialize({ format: FORMAT, ...meta })
}

export function decodeMeta(bytes: Uint8Array): MatchMeta {
  const meta = deserialize(bytes) as MatchMeta
  if (meta?.format !== FORMAT)
    throw new Error('the match step snapshot is of a format this runtime does not read')
  return meta
}
