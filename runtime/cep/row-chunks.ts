/**
 * The rows of a match step's matched events, written to the store once (issue 14: incremental
 * snapshots of pattern state; docs/decisions/0032, addendum of the session of 2026-12-03 13:15).
 *
 * A key's version in a chunk (key-snapshots.ts) holds its partial matches as numbers and, per
 * event, a reference to the event's row instead of the row: an event is immutable once matched,
 * but its key changes with nearly every event of the key, and with 100,000 keys paying about once
 * a second each, every checkpoint rewrote nearly every key, and with it each event's row (the
 * node:v8 encoding of rows was most of a checkpoint's cost: about 1 µs per row against a
 * byte copy for the numbers). Now a checkpoint encodes only the rows of events that no stored
 * version refers to yet, in one row chunk `r:<n>` (n: the checkpoint's chunk number), and a key's
 * new version refers to the rows its previous version referred to.
 *
 * A reference is the row chunk and the row's index in it, packed in one number. Per key id the
 * references of its newest stored version ([seq, reference] pairs, in one arena of doubles) say
 * which of an exported key's events are stored already (events are found by seq, which is unique
 * in a partition and the same for the same row); per row chunk the references to it from newest
 * versions are counted, and a row chunk no newest version refers to is removed. When the stored
 * rows outnumber the referenced ones by more than the referenced ones plus DEAD_SLACK, the row
 * chunk with the fewest references per row is relocated: the keys that refer to it are written
 * again with those rows in the next chunk, after which it goes. So the store holds about twice
 * the live rows at most, and a checkpoint encodes about as many rows as events were matched since
 * the last one.
 */
import { deserialize, serialize } from 'node:v8'

export const ROW_CHUNK_PREFIX = 'r:'
/** References are chunk × INDEX_SPAN + index: exact in a double for chunks below 2^21. */
const INDEX_SPAN = 2 ** 31
/** Stored rows no newest version refers to, beyond which a row chunk is relocated. */
const DEAD_SLACK = 4096

export function rowChunkEntry(chunk: number): string {
  return `${ROW_CHUNK_PREFIX}${chunk}`
}

/** The row chunk number of an entry name, or -1 when it is not a row chunk. */
export function rowChunkOfEntry(name: string): number {
  return name.startsWith(ROW_CHUNK_PREFIX) ? Number(name.slice(ROW_CHUNK_PREFIX.length)) : -1
}

export function rowReference(chunk: number, index: number): number {
  return chunk * INDEX_SPAN + index
}

export function chunkOfReference(reference: number): number {
  return Math.floor(reference / INDEX_SPAN)
}

export function indexOfReference(reference: number): number {
  return reference % INDEX_SPAN
}

export function encodeRowChunk(rows: readonly unknown[]): Buffer {
  return serialize(rows)
}

export function decodeRowChunk(bytes: Uint8Array): unknown[] {
  const rows = deserialize(bytes)
  if (!Array.isArray(rows)) throw new Error('a row chunk of the match step snapshot is not a list of rows')
  return rows
}

interface RowChunkInfo {
  /** Rows the chunk holds. */
  rows: number
  /** References to it from the newest versions of keys. */
  references: number
}

export class RowChunks {
  /** `deadSlack`: dead rows tolerated beyond the live ones (DEAD_SLACK; tests make it small). */
  constructor(private readonly deadSlack = DEAD_SLACK) {}

  /** Per key id: where its [seq, reference] pairs start in the arena, and how many events. */
  private at = new Int32Array(1024)
  private events = new Int32Array(1024)
  private arena = new Float64Array(1 << 14)
  /** Per key id: the room (in events) of its place in the arena. */
  private lengths = new Int32Array(1024)
  /** The arena's end: a list that outgrows its place goes here; a full arena is compacted. */
  private top = 0
  private chunks = new Map<number, RowChunkInfo>()
  /** Rows held by the stored row chunks, and references to them (a row may be referred to twice). */
  private rowsStored = 0
  private referencesLive = 0
  private current = -1
  private pending: unknown[] = []
  /** The row chunk whose rows the keys written in this checkpoint write again (-1: none). */
  private relocating = -1
  private out = new Float64Array(64)
  /** write's marks of the previous version's events the new one keeps. */
  private kept = new Uint8Array(64)
  private currentInfo: RowChunkInfo | null = null

  /** Starts a checkpoint's row chunk (numbered as its key chunk). */
  begin(chunk: number): void {
    this.current = chunk
    this.pending = []
    this.currentInfo = { rows: 0, references: 0 }
    this.chunks.set(chunk, this.currentInfo)
  }

  /**
   * The references of key id's events (`seqs`, `rows`: exportKey's) for the version of it being
   * written now, which replaces its previous one: an event its previous version stored keeps its
   * row (unless that row's chunk is relocating); the others' rows go into this checkpoint's row
   * chunk. Valid until the next call.
   */
  write(id: number, seqs: ArrayLike<number>, rows: readonly unknown[]): Float64Array {
    this.ensure(id)
    const n = seqs.length
    if (this.out.length < n) this.out = new Float64Array(Math.max(n, 2 * this.out.length))
    const out = this.out
    const arena = this.arena
    const from = this.at[id] as number
    const old = this.events[id] as number
    if (this.kept.length < old) this.kept = new Uint8Array(Math.max(old, 2 * this.kept.length))
    const kept = this.kept
    kept.fill(0, 0, old)
    const current = this.currentInfo as RowChunkInfo
    // Only what changes is counted: a kept reference stays counted, a new one is added, a
    // dropped one taken off (most events of a changed key are kept).
    for (let i = 0; i < n; i++) {
      const seq = seqs[i] as number
      let reference = -1
      for (let j = 0; j < old; j++) {
        if (kept[j] === 1 || arena[from + 2 * j] !== seq) continue
        const stored = arena[from + 2 * j + 1] as number
        if (chunkOfReference(stored) !== this.relocating) {
          reference = stored
          kept[j] = 1
        }
        break
      }
      if (reference < 0) {
        // The same event in two nodes of the key (taken by two steps): one row.
        for (let j = 0; j < i; j++)
          if (seqs[j] === seq) {
            reference = out[j] as number
            this.count(reference, 1)
            break
          }
      }
      if (reference < 0) {
        reference = rowReference(this.current, this.pending.length)
        this.pending.push(rows[i])
        current.references++
        this.referencesLive++
      }
      out[i] = reference
    }
    for (let j = 0; j < old; j++) if (kept[j] === 0) this.count(arena[from + 2 * j + 1] as number, -1)
    this.place(id, seqs, out, n)
    return out.subarray(0, n)
  }

  /** Key id's newest version is gone (or has no events): its references go. */
  release(id: number): void {
    if (id >= this.events.length) return
    const from = this.at[id] as number
    const old = this.events[id] as number
    for (let j = 0; j < old; j++) this.count(this.arena[from + 2 * j + 1] as number, -1)
    this.events[id] = 0
  }

  /**
   * Ends a checkpoint: the row chunk to put (null when no new row), the row chunks to remove (no
   * newest version refers to them) and, when too many stored rows are dead, the row chunk to
   * relocate in the next checkpoint (the caller marks the keys `keysReferring` names changed).
   */
  finish(): { put: Buffer | null; removed: number[]; relocate: number } {
    const current = this.chunks.get(this.current) as RowChunkInfo
    current.rows = this.pending.length
    this.rowsStored += current.rows
    const put = this.pending.length > 0 ? encodeRowChunk(this.pending) : null
    this.pending = []
    const removed: number[] = []
    for (const [chunk, info] of this.chunks) {
      if (info.references > 0) continue
      this.chunks.delete(chunk)
      this.rowsStored -= info.rows
      if (info.rows > 0 && chunk !== this.current) removed.push(chunk)
    }
    this.relocating = -1
    if (this.rowsStored - this.referencesLive > this.referencesLive + this.deadSlack) {
      let fewest = Number.POSITIVE_INFINITY
      for (const [chunk, info] of this.chunks) {
        const share = info.references / info.rows
        if (chunk !== this.current && share < fewest) {
          fewest = share
          this.relocating = chunk
        }
      }
    }
    return { put, removed, relocate: this.relocating }
  }

  /** The key ids whose newest version refers to a row of `chunk`. */
  keysReferring(chunk: number): number[] {
    const ids: number[] = []
    for (let id = 0; id < this.events.length; id++) {
      const from = this.at[id] as number
      const n = this.events[id] as number
      for (let j = 0; j < n; j++)
        if (chunkOfReference(this.arena[from + 2 * j + 1] as number) === chunk) {
          ids.push(id)
          break
        }
    }
    return ids
  }

  /** After a restore: a row chunk in the store and how many rows it holds. */
  restoredChunk(chunk: number, rows: number): void {
    this.chunks.set(chunk, { rows, references: 0 })
    this.rowsStored += rows
  }

  /** After a restore: key id's newest version and the references of its events. */
  restoredKey(id: number, seqs: ArrayLike<number>, references: ArrayLike<number>): void {
    this.ensure(id)
    this.release(id)
    this.place(id, seqs, references, seqs.length)
    for (let i = 0; i < seqs.length; i++) this.count(references[i] as number, 1)
  }

  clear(): void {
    this.at.fill(0)
    this.events.fill(0)
    this.lengths.fill(0)
    this.top = 0
    this.chunks = new Map()
    this.rowsStored = 0
    this.referencesLive = 0
    this.current = -1
    this.currentInfo = null
    this.pending = []
    this.relocating = -1
  }

  private place(id: number, seqs: ArrayLike<number>, references: ArrayLike<number>, n: number): void {
    // The new list takes the old one's place when it fits (release emptied it).
    let from = this.at[id] as number
    if (n > (this.lengths[id] as number)) {
      const room = roomFor(n)
      from = this.allocate(2 * room)
      this.at[id] = from
      this.lengths[id] = room
    }
    const arena = this.arena
    for (let i = 0; i < n; i++) {
      arena[from + 2 * i] = seqs[i] as number
      arena[from + 2 * i + 1] = references[i] as number
    }
    this.events[id] = n
  }

  private allocate(doubles: number): number {
    if (this.top + doubles > this.arena.length) this.compact(doubles)
    const from = this.top
    this.top += doubles
    return from
  }

  /**
   * Copies every key's list to the front of a new arena, each with room to grow (roomFor), the
   * arena twice that and `more`.
   */
  private compact(more: number): void {
    let live = 0
    for (let id = 0; id < this.events.length; id++) live += 2 * roomFor(this.events[id] as number)
    const arena = new Float64Array(Math.max(1 << 14, 2 * (live + more)))
    const old = this.arena
    let top = 0
    for (let id = 0; id < this.events.length; id++) {
      const from = this.at[id] as number
      const n = this.events[id] as number
      const end = from + 2 * n
      this.at[id] = top
      for (let d = from; d < end; d++) arena[top + d - from] = old[d] as number
      this.lengths[id] = roomFor(n)
      top += 2 * roomFor(n)
    }
    this.arena = arena
    this.top = top
  }

  private count(reference: number, delta: number): void {
    const info = this.chunks.get(chunkOfReference(reference))
    if (info !== undefined) info.references += delta
    this.referencesLive += delta
  }

  private ensure(id: number): void {
    if (id < this.events.length) return
    const size = Math.max(id + 1, 2 * this.events.length)
    for (const name of ['at', 'events', 'lengths'] as const) {
      const grown = new Int32Array(size)
      grown.set(this[name])
      this[name] = grown
    }
  }
}

/** The place a list of n events gets in the arena: room to grow, as a key gains an event at a time. */
function roomFor(n: number): number {
  return n === 0 ? 0 : n < 4 ? 4 : n + (n >> 1)
}
