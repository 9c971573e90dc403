/**
 * One batch's releases of the match step (issue 14; cep-operator.ts): the events each source
 * record's watermark released from the EventBuffer, appended in release order, and the segments
 * they form (one per release: the watermark, the source record, where the batch's failures stood).
 * The operator steps them through the engine in one call (PatternEngine.stepSegments), which
 * advances to each segment's watermark after its events, as a release at every record did.
 *
 * Releases concatenate in (time, seq) order: a release takes every buffered event at or before its
 * watermark, and an event buffered after it is at or after that watermark (else it was late) with
 * a larger seq; so the batch's released events are the columns of one (time, seq)-ordered run.
 */
import type { ReleasedEvents } from './engine.ts'

export class BatchReleases {
  keyIds = new Int32Array(256)
  times = new Float64Array(256)
  seqs = new Float64Array(256)
  rows: unknown[] = []
  /**
   * Per event: 1 when its key had no buffered event left after its release, so that the engine is
   * asked after the segment whether the key holds anything (stepSegments writes 2: emptied, 1: not).
   */
  emptyChecks = new Uint8Array(256)
  length = 0
  /** Per segment: the events released before its end (its events are from the previous end). */
  ends = new Int32Array(64)
  watermarks = new Float64Array(64)
  /** Per segment: the source record whose watermark released it (its outputs' origin). */
  origins: number[] = []
  /** Per segment: how many failures the batch had reported when it was released. */
  failuresAt: number[] = []
  segments = 0
  /** keysEmptiedAtLastCheck's scratch, per key id (all 0 between calls): flagged, and the last answer. */
  private flagged = new Uint8Array(1024)
  private lastChecks = new Uint8Array(1024)

  /** Makes room for `more` events; returns where they go. */
  reserve(more: number): number {
    const need = this.length + more
    if (need > this.keyIds.length) {
      let size = this.keyIds.length * 2
      while (size < need) size *= 2
      this.keyIds = grow(this.keyIds, new Int32Array(size), this.length)
      this.times = grow(this.times, new Float64Array(size), this.length)
      this.seqs = grow(this.seqs, new Float64Array(size), this.length)
      this.emptyChecks = grow(this.emptyChecks, new Uint8Array(size), this.length)
    }
    return this.length
  }

  push(keyId: number, time: number, seq: number, row: unknown): void {
    const at = this.reserve(1)
    this.keyIds[at] = keyId
    this.times[at] = time
    this.seqs[at] = seq
    this.rows[at] = row
    this.length = at + 1
  }

  /** Ends a segment: the events pushed since the last one were released at `watermark` by record `origin`. */
  endSegment(watermark: number, origin: number, failuresAt: number): void {
    const j = this.segments++
    if (j === this.ends.length) {
      this.ends = grow(this.ends, new Int32Array(2 * j), j)
      this.watermarks = grow(this.watermarks, new Float64Array(2 * j), j)
    }
    this.ends[j] = this.length
    this.watermarks[j] = watermark
    this.origins[j] = origin
    this.failuresAt[j] = failuresAt
  }

  /** The released events as the engine takes them (views: valid until the next push or clear). */
  events(wantsMasks: boolean): ReleasedEvents {
    const n = this.length
    return {
      length: n,
      keyIds: this.keyIds.subarray(0, n),
      times: this.times.subarray(0, n),
      seqs: this.seqs.subarray(0, n),
      rows: this.rows,
      masks: new Uint32Array(wantsMasks ? n : 0),
    }
  }

  /**
   * The keys whose last event of the batch got "emptied" (2) from stepSegments, in the order of
   * their first event in the batch: the keys the operator frees after the batch. A first pass
   * flags each key and keeps its last answer, a second takes each flagged key once (clearing its
   * flag), in typed arrays by key id kept across batches (a Map per batch of its 4,096 events'
   * keys cost an allocation and a hash per event).
   */
  keysEmptiedAtLastCheck(): number[] {
    const n = this.length
    const keyIds = this.keyIds
    for (let i = 0; i < n; i++) {
      const id = keyIds[i] as number
      if (id >= this.flagged.length) this.growPerKey(id)
      this.flagged[id] = 1
      this.lastChecks[id] = this.emptyChecks[i] as number
    }
    const emptied: number[] = []
    for (let i = 0; i < n; i++) {
      const id = keyIds[i] as number
      if (this.flagged[id] === 0) continue
      this.flagged[id] = 0
      if (this.lastChecks[id] === 2) emptied.push(id)
    }
    return emptied
  }

  /** Empties it for the next batch (rows let go for the collector). */
  clear(): void {
    this.length = 0
    this.rows = []
    this.origins.length = 0
    this.failuresAt.length = 0
    this.segments = 0
  }

  private growPerKey(id: number): void {
    const size = Math.max(id + 1, 2 * this.flagged.length)
    this.flagged = grow(this.flagged, new Uint8Array(size), this.flagged.length)
    this.lastChecks = grow(this.lastChecks, new Uint8Array(size), this.lastChecks.length)
  }
}

function grow<T extends Int32Array | Float64Array | Uint8Array>(from: T, to: T, used: number): T {
  to.set(from.subarray(0, used))
  return to
}
