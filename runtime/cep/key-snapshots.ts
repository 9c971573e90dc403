/**
 * Incremental snapshots of a `match` step (issue 14 item 5): a checkpoint writes the keys whose
 * partial matches or buffered events changed since the last one, not the whole state, and a
 * restore composes the store's base and deltas (the snapshot store composes entries, as for keyed
 * state: docs/decisions/0029-state-snapshot-layout.md).
 *
 * The entries of a match step's scope:
 *
 *   match-meta   the operator's scalars (format, largest event time, watermark advanced to, next
 *                seq, next chunk number)
 *   c:<n>        chunk n, written by one checkpoint: the keys that changed then (each with its
 *                buffered events and its partial and held matches, KeyMatches, whose events' rows
 *                are references into row chunks) and the keys that went, in one node:v8 value
 *   r:<n>        the rows of the events first written by checkpoint n (row-chunks.ts: a row is
 *                written once, however often its key changes after)
 *
 * Format 2 (before row chunks) held each event's row in the key's version; a restore reads its
 * chunks (a store written by format 2 and then by format 3 holds both kinds until its format 2
 * chunks are rewritten).
 *
 * A restore reads the chunks oldest first: a key's newest version wins, and a deletion hides the
 * versions before it. A chunk goes once no key's newest version is in it (its deletions that still
 * hide something move into the next chunk); when the store holds more replaced versions and
 * deletions than live keys (plus DEAD_SLACK), the oldest chunk's keys are written again so that
 * it can go. So a checkpoint costs what its changed keys cost, and the store holds at most about
 * twice the state.
 *
 * Why chunks of keys rather than one entry per key: rows are arbitrary values (records, maps,
 * exact i64 as bigint), so they are encoded with node:v8, whose cost is mostly per call: one
 * serialize per key cost 7–12 µs against about 2 µs per key in one call for the benchmark's
 * 100,000 keys of two or three events each (measured on a loaded machine). Why not buckets of
 * keys by hash (tried first): with keys active at random, a checkpoint after 20,000 events found
 * nearly every bucket changed and rewrote the whole state.
 */
import { deserialize, serialize } from 'node:v8'
import type { KeyMatches } from './engine.ts'

/** A row reference's row (row-chunks.ts), as a restore resolves it. */
export type RowOf = (reference: number) => unknown

export const META_ENTRY = 'match-meta'
export const CHUNK_PREFIX = 'c:'
const FORMAT = 3
/** Meta of stores written before row chunks: their chunks hold rows in place (still read). */
const FORMAT_ROWS_IN_PLACE = 2
/** A chunk of format 3 starts with this number (a format 2 chunk starts with its key list). */
const CHUNK_FORMAT = 3
/**
 * Versions of keys kept in the store that newer chunks replaced, beyond which a checkpoint also
 * rewrites the oldest chunk's live keys (so that chunk can go): the store then holds at most about
 * twice the state plus this.
 */
const DEAD_SLACK = 1024

/** The operator's scalars, written with every checkpoint that changed anything. */
export interface MatchMeta {
  readonly format: number
  readonly maxTime: number
  readonly advancedTo: number
  readonly seq: number
  /** The number the next chunk gets. */
  readonly nextChunk: number
}

/** One key as a chunk holds it: its buffered events ([time, seq, row] flat) and its matches. */
export interface KeyEntry {
  readonly key: string
  readonly buffered: unknown[]
  readonly matches: KeyMatches | null
  /** Per event of `matches`: its row's reference (row-chunks.ts); null in a format 2 chunk. */
  readonly references: Float64Array | null
}

/** A chunk in the store: how many of its keys are still their newest version, and its deletions. */
export interface ChunkInfo {
  live: number
  written: number
  /**
   * Keys this chunk deletes → the chunk the deletion was first written in: it hides every version
   * of the key in chunks older than that.
   */
  readonly tombstones: Map<string, number>
}

/**
 * Which chunk of the store holds each key's newest version (by dense key id), which keys changed
 * since the last checkpoint, and how many live versions each chunk still has. The operator tells
 * it when an id is given to a key, when a key changes and when its id is freed (a few array
 * writes each); takeChanges asks it for the plan of a checkpoint.
 */
export class KeyChunks {
  /** Per key id: the chunk of its newest version, -1 when none. */
  private chunkOfId = new Int32Array(1024).fill(-1)
  private dirty = new Uint8Array(1024)
  private dirtyList: number[] = []
  /** Keys freed since the last checkpoint whose version is in a chunk. */
  private freed: [string, number][] = []
  private chunks = new Map<number, ChunkInfo>()
  private dead = 0
  private live = 0
  /** Deletions the stored chunks hold. */
  private tombstones = 0
  next = 0

  assign(id: number): void {
    if (id >= this.chunkOfId.length) {
      const size = Math.max(id + 1, this.chunkOfId.length * 2)
      const chunkOf = new Int32Array(size).fill(-1)
      chunkOf.set(this.chunkOfId)
      this.chunkOfId = chunkOf
      const dirty = new Uint8Array(size)
      dirty.set(this.dirty)
      this.dirty = dirty
    }
    this.chunkOfId[id] = -1
    this.mark(id)
  }

  /** The key of id changed (an event buffered or released, its matches changed). */
  mark(id: number): void {
    if (this.dirty[id] === 0) {
      this.dirty[id] = 1
      this.dirtyList.push(id)
    }
  }

  free(id: number, key: string): void {
    const chunk = this.chunkOfId[id] as number
    if (chunk >= 0) this.freed.push([key, chunk])
    this.chunkOfId[id] = -1
    this.dirty[id] = 0
  }

  /** The ids changed since the last call (each once). */
  takeDirty(): number[] {
    const ids: number[] = []
    for (const id of this.dirtyList) {
      if (this.dirty[id] === 0) continue // freed since
      this.dirty[id] = 0
      ids.push(id)
    }
    this.dirtyList = []
    return ids
  }

  /** Starts a checkpoint's chunk: the keys freed since the last one are its deletions. */
  begin(): { chunk: number; tombstones: Map<string, number> } {
    const tombstones = new Map<string, number>()
    const chunk = this.next++
    for (const [key, old] of this.freed) {
      this.release(old)
      tombstones.set(key, chunk)
    }
    this.freed = []
    this.chunks.set(chunk, { live: 0, written: 0, tombstones })
    return { chunk, tombstones }
  }

  chunkOf(id: number): number {
    return this.chunkOfId[id] as number
  }

  /** Key id's newest version moves to `chunk` (-1: it has none any more). */
  move(id: number, chunk: number): void {
    const old = this.chunkOfId[id] as number
    if (old >= 0) this.release(old)
    this.chunkOfId[id] = chunk
    if (chunk >= 0) {
      this.live++
      const info = this.chunks.get(chunk) as ChunkInfo
      info.live++
      info.written++
    }
  }

  /**
   * Ends a checkpoint: plans the removal of the chunks no key's newest version is in any more. A
   * deletion is kept while the key has no newer version and a chunk older than the deletion's
   * first one stays (it may hold an old version); a removed chunk's deletions that are still kept
   * move into the new chunk's, which the caller writes after this. Returns whether the new chunk
   * holds anything (else it is dropped) and the chunks to remove.
   */
  finish(chunk: number, isLive: (key: string) => boolean): { write: boolean; deletedChunks: number[] } {
    const current = this.chunks.get(chunk) as ChunkInfo
    const { tombstones } = current
    const gone: number[] = []
    for (const [c, info] of this.chunks) if (c !== chunk && info.live === 0) gone.push(c)
    const carried: [string, number][] = []
    for (const c of gone) {
      const info = this.chunks.get(c) as ChunkInfo
      for (const entry of info.tombstones) carried.push(entry)
      this.dead -= info.written
      this.tombstones -= info.tombstones.size
      this.chunks.delete(c)
    }
    let oldest = Number.POSITIVE_INFINITY
    for (const c of this.chunks.keys()) if (c !== chunk && c < oldest) oldest = c
    for (const [key, birth] of carried) if (!tombstones.has(key)) tombstones.set(key, birth)
    for (const [key, birth] of tombstones) if (!(oldest < birth) || isLive(key)) tombstones.delete(key)
    this.tombstones += tombstones.size
    const write = current.written > 0 || tombstones.size > 0
    if (!write) this.chunks.delete(chunk)
    return { write, deletedChunks: gone }
  }

  /**
   * When the store holds too many replaced versions: the oldest chunk that still has live keys,
   * whose keys the caller then marks changed (rewritten into the next chunk, after which it goes).
   */
  chunkToRewrite(): number | null {
    if (this.dead + this.tombstones <= this.live + DEAD_SLACK) return null
    for (const [c, info] of this.chunks) if (info.live > 0) return c
    return null
  }

  /** After a restore: the chunks in the store, oldest first, with their live keys and deletions. */
  restored(chunks: Map<number, ChunkInfo>, next: number): void {
    this.chunks = chunks
    this.next = next
    this.live = 0
    this.dead = 0
    this.tombstones = 0
    for (const info of chunks.values()) {
      this.live += info.live
      this.dead += info.written - info.live
      this.tombstones += info.tombstones.size
    }
    this.dirtyList = []
    this.freed = []
  }

  /** Sets id's chunk after a restore (no counting: restored() has the counts). */
  placeRestored(id: number, chunk: number): void {
    this.chunkOfId[id] = chunk
    this.dirty[id] = 0
  }

  clear(): void {
    this.chunkOfId.fill(-1)
    this.dirty.fill(0)
    this.dirtyList = []
    this.freed = []
    this.chunks = new Map()
    this.dead = 0
    this.live = 0
    this.tombstones = 0
    this.next = 0
  }

  private release(chunk: number): void {
    const info = this.chunks.get(chunk)
    this.live--
    this.dead++
    if (info !== undefined) info.live--
  }
}

export function chunkEntry(chunk: number): string {
  return `${CHUNK_PREFIX}${chunk}`
}

/** The chunk number of an entry name, or -1 when it is not a chunk. */
export function chunkOfEntry(name: string): number {
  return name.startsWith(CHUNK_PREFIX) ? Number(name.slice(CHUNK_PREFIX.length)) : -1
}

/**
 * A chunk as one node:v8 value of seven parts: the format (CHUNK_FORMAT); the key strings; an
 * Int32Array with, per key, its counts (events, partial-match numbers, held-match numbers,
 * buffered events) then its events' steps and previous links; a Float64Array with, per key, its
 * events' times, seqs and row references, its partial and held match numbers and its buffered
 * events' times and seqs; the buffered events' rows; the deleted keys and the chunks their
 * deletions were first written in. Numbers go as bytes: only the buffered rows are encoded value
 * by value (matched events' rows are in row chunks). Keys are copied in as they are added, so an
 * engine's exportKey may hand out views it reuses.
 */
export class ChunkWriter {
  private ints = new Int32Array(4096)
  private nums = new Float64Array(4096)
  private intCount = 0
  private numCount = 0
  private readonly rows: unknown[] = []
  private readonly names: string[] = []

  get keys(): number {
    return this.names.length
  }

  /**
   * Adds a key: its buffered events ([time, seq, row] flat), its matches and, per matched event,
   * its row's reference (row-chunks.ts; the matches' rows are not written here).
   */
  add(
    key: string,
    buffered: readonly unknown[],
    matches: KeyMatches | null,
    references: Float64Array | null,
  ): void {
    const events = matches?.steps.length ?? 0
    const partials = matches?.partials.length ?? 0
    const held = matches?.held.length ?? 0
    const bufferedCount = buffered.length / 3
    if (events > 0 && (references === null || references.length !== events))
      throw new Error('every matched event of a key needs its row reference')
    this.reserve(4 + 2 * events, 3 * events + partials + held + 2 * bufferedCount)
    this.names.push(key)
    const ints = this.ints
    let i = this.intCount
    ints[i++] = events
    ints[i++] = partials
    ints[i++] = held
    ints[i++] = bufferedCount
    const nums = this.nums
    let n = this.numCount
    if (matches !== null) {
      // Loops, not TypedArray.set: a key's arrays are short, and set's fixed cost dominated.
      const { steps, previous, times, seqs } = matches
      const refs = references as Float64Array
      for (let e = 0; e < events; e++) {
        ints[i + e] = steps[e] as number
        ints[i + events + e] = previous[e] as number
        nums[n + e] = times[e] as number
        nums[n + events + e] = seqs[e] as number
        nums[n + 2 * events + e] = refs[e] as number
      }
      i += 2 * events
      n += 3 * events
      for (let p = 0; p < partials; p++) nums[n + p] = matches.partials[p] as number
      n += partials
      for (let h = 0; h < held; h++) nums[n + h] = matches.held[h] as number
      n += held
    }
    for (let b = 0; b < buffered.length; b += 3) {
      nums[n++] = buffered[b] as number
      nums[n++] = buffered[b + 1] as number
      this.rows.push(buffered[b + 2])
    }
    this.intCount = i
    this.numCount = n
  }

  /** The chunk's bytes, with the keys it deletes (key → chunk the deletion was first written in). */
  finish(tombstones: ReadonlyMap<string, number>): Buffer {
    return serialize([
      CHUNK_FORMAT,
      this.names,
      this.ints.subarray(0, this.intCount),
      this.nums.subarray(0, this.numCount),
      this.rows,
      [...tombstones.keys()],
      Float64Array.from(tombstones.values()),
    ])
  }

  private reserve(ints: number, nums: number): void {
    if (this.intCount + ints > this.ints.length) {
      const grown = new Int32Array(Math.max(this.intCount + ints, this.ints.length * 2))
      grown.set(this.ints.subarray(0, this.intCount))
      this.ints = grown
    }
    if (this.numCount + nums > this.nums.length) {
      const grown = new Float64Array(Math.max(this.numCount + nums, this.nums.length * 2))
      grown.set(this.nums.subarray(0, this.numCount))
      this.nums = grown
    }
  }
}

/** A chunk of the given keys (tests; takeChanges adds keys to a ChunkWriter as it goes). */
export function encodeChunk(keys: readonly KeyEntry[], tombstones: ReadonlyMap<string, number>): Buffer {
  const writer = new ChunkWriter()
  for (const { key, buffered, matches, references } of keys) writer.add(key, buffered, matches, references)
  return writer.finish(tombstones)
}

/**
 * A chunk's keys and deletions, of format 3 or 2. In a format 3 chunk the rows of matched events
 * are references (`references`; the rows are left undefined): withRows resolves those of the
 * versions a restore keeps (an older version may refer to a row chunk that is gone).
 */
export function decodeChunk(bytes: Uint8Array): { keys: KeyEntry[]; tombstones: Map<string, number> } {
  const value = deserialize(bytes) as unknown[]
  const referenced = value[0] === CHUNK_FORMAT
  const [names, ints, nums, rows, deleted, births] = (referenced ? value.slice(1) : value) as [
    string[],
    Int32Array,
    Float64Array,
    unknown[],
    string[],
    Float64Array,
  ]
  const tombstones = new Map<string, number>()
  deleted.forEach((key, i) => {
    tombstones.set(key, births[i] as number)
  })
  const out: KeyEntry[] = new Array(names.length)
  let i = 0
  let n = 0
  let r = 0
  names.forEach((key, k) => {
    const events = ints[i] as number
    const partialNumbers = ints[i + 1] as number
    const heldNumbers = ints[i + 2] as number
    const bufferedCount = ints[i + 3] as number
    i += 4
    let matches: KeyMatches | null = null
    let references: Float64Array | null = null
    if (events > 0 || partialNumbers > 0 || heldNumbers > 0) {
      const steps = ints.subarray(i, i + events)
      const previous = ints.subarray(i + events, i + 2 * events)
      const times = nums.subarray(n, n + events)
      const seqs = nums.subarray(n + events, n + 2 * events)
      n += 2 * events
      let matchedRows: unknown[]
      if (referenced) {
        references = nums.subarray(n, n + events)
        n += events
        matchedRows = new Array(events)
      } else {
        matchedRows = rows.slice(r, r + events)
        r += events
      }
      matches = {
        steps,
        previous,
        times,
        seqs,
        partials: nums.subarray(n, n + partialNumbers),
        held: nums.subarray(n + partialNumbers, n + partialNumbers + heldNumbers),
        rows: matchedRows,
      }
      i += 2 * events
      n += partialNumbers + heldNumbers
    }
    const buffered: unknown[] = []
    for (let b = 0; b < bufferedCount; b++) buffered.push(nums[n++], nums[n++], rows[r++])
    out[k] = { key, buffered, matches, references }
  })
  return { keys: out, tombstones }
}

/** A key's matches with the rows of its events' references (a format 3 entry; as is otherwise). */
export function withRows(entry: KeyEntry, rowOf: RowOf): KeyMatches | null {
  const { matches, references } = entry
  if (matches === null || references === null) return matches
  return { ...matches, rows: Array.from(references, rowOf) }
}

export function encodeMeta(meta: Omit<MatchMeta, 'format'>): Buffer {
  return serialize({ format: FORMAT, ...meta })
}

export function decodeMeta(bytes: Uint8Array): MatchMeta {
  const meta = deserialize(bytes) as MatchMeta
  if (meta?.format !== FORMAT && meta?.format !== FORMAT_ROWS_IN_PLACE)
    throw new Error('the match step snapshot is of a format this runtime does not read')
  return meta
}
