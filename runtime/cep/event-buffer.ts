/**
 * The match step's events waiting for the watermark (cep-operator.ts), released in (time, seq)
 * order as columns for the engine (ReleasedEvents).
 *
 * Most input comes in event-time order: such an event (after the last one queued in (time, seq)
 * order) goes to a queue of columns (key ids, times, seqs, rows), with no object per event, and a
 * release of in-order events copies column slices. Only an event earlier than that goes to a
 * binary min-heap of objects; a release then merges the two (both are in (time, seq) order, and
 * seqs grow with arrival, so the queue's order is (time, seq) order).
 */
import type { BatchReleases } from './batch-releases.ts'
import type { ReleasedEvents } from './engine.ts'

/** Releases of more events than this copy their columns with TypedArray.set, fewer in a loop. */
const SET_FROM = 16

interface Buffered {
  readonly keyId: number
  readonly time: number
  readonly seq: number
  readonly row: unknown
}

export class EventBuffer {
  // The in-order queue: entries head … tail-1.
  private keyIds = new Int32Array(1024)
  private times = new Float64Array(1024)
  private seqs = new Float64Array(1024)
  private rows: unknown[] = []
  private head = 0
  private tail = 0
  /** (time, seq) of the last event queued in order: events after it join the queue. */
  private lastTime = Number.NEGATIVE_INFINITY
  private lastSeq = Number.NEGATIVE_INFINITY
  /** Events that came out of order: a binary min-heap on (time, seq). */
  private heap: Buffered[] = []

  get length(): number {
    return this.tail - this.head + this.heap.length
  }

  /** The earliest buffered time (+Infinity when empty). */
  get dueAt(): number {
    const queued = this.head < this.tail ? (this.times[this.head] as number) : Number.POSITIVE_INFINITY
    const heaped = this.heap.length > 0 ? (this.heap[0] as Buffered).time : Number.POSITIVE_INFINITY
    return Math.min(queued, heaped)
  }

  push(keyId: number, time: number, seq: number, row: unknown): void {
    if (!(time > this.lastTime || (time === this.lastTime && seq > this.lastSeq))) {
      heapPush(this.heap, { keyId, time, seq, row })
      return
    }
    if (this.tail === this.keyIds.length) this.makeRoom()
    const t = this.tail++
    this.keyIds[t] = keyId
    this.times[t] = time
    this.seqs[t] = seq
    this.rows[t] = row
    this.lastTime = time
    this.lastSeq = seq
  }

  /** The events at or before the watermark, in (time, seq) order; `masks` sized when wanted. */
  release(watermark: number, wantsMasks: boolean): ReleasedEvents {
    let queued = 0
    while (this.head + queued < this.tail && (this.times[this.head + queued] as number) <= watermark) queued++
    if (this.heap.length === 0 || (this.heap[0] as Buffered).time > watermark) {
      // In order only: column slices.
      const from = this.head
      const to = from + queued
      const released: ReleasedEvents = {
        length: queued,
        keyIds: this.keyIds.slice(from, to),
        times: this.times.slice(from, to),
        seqs: this.seqs.slice(from, to),
        rows: this.rows.slice(from, to),
        masks: new Uint32Array(wantsMasks ? queued : 0),
      }
      this.drop(queued)
      return released
    }
    const out: Buffered[] = []
    this.mergeInOrder(watermark, this.head + queued, (keyId, time, seq, row) =>
      out.push({ keyId, time, seq, row }),
    )
    this.drop(queued)
    const n = out.length
    const released: ReleasedEvents = {
      length: n,
      keyIds: new Int32Array(n),
      times: new Float64Array(n),
      seqs: new Float64Array(n),
      rows: new Array(n),
      masks: new Uint32Array(wantsMasks ? n : 0),
    }
    for (let i = 0; i < n; i++) {
      const e = out[i] as Buffered
      released.keyIds[i] = e.keyId
      released.times[i] = e.time
      released.seqs[i] = e.seq
      released.rows[i] = e.row
    }
    return released
  }

  /**
   * As release, appending the events to a batch's releases (batch-releases.ts) instead of new
   * columns; returns how many it appended.
   */
  releaseInto(watermark: number, into: BatchReleases): number {
    const start = into.length
    let q = this.head
    while (q < this.tail && (this.times[q] as number) <= watermark) q++
    const end = q
    q = this.head
    if (this.heap.length === 0 || (this.heap[0] as Buffered).time > watermark) {
      // In order only: column copies. Without a delay a record releases the one event before it,
      // and three subarray views and TypedArray.set calls per event cost more than the copy.
      const at = into.reserve(end - q)
      if (end - q > SET_FROM) {
        into.keyIds.set(this.keyIds.subarray(q, end), at)
        into.times.set(this.times.subarray(q, end), at)
        into.seqs.set(this.seqs.subarray(q, end), at)
      } else {
        for (let i = q; i < end; i++) {
          into.keyIds[at + i - q] = this.keyIds[i] as number
          into.times[at + i - q] = this.times[i] as number
          into.seqs[at + i - q] = this.seqs[i] as number
        }
      }
      for (let i = q; i < end; i++) into.rows[at + i - q] = this.rows[i]
      into.length = at + end - q
    } else {
      this.mergeInOrder(watermark, end, (keyId, time, seq, row) => into.push(keyId, time, seq, row))
    }
    this.drop(end - this.head)
    return into.length - start
  }

  /**
   * Visits the queued events before `end` and the heap's events at or before the watermark,
   * merged in (time, seq) order, taking them off the heap (the caller drops the queued ones).
   */
  private mergeInOrder(
    watermark: number,
    end: number,
    visit: (keyId: number, time: number, seq: number, row: unknown) => void,
  ): void {
    let q = this.head
    while (q < end || (this.heap.length > 0 && (this.heap[0] as Buffered).time <= watermark)) {
      const top = this.heap.length > 0 ? (this.heap[0] as Buffered) : null
      const heapFirst =
        top !== null &&
        top.time <= watermark &&
        (q >= end ||
          top.time < (this.times[q] as number) ||
          (top.time === this.times[q] && top.seq < (this.seqs[q] as number)))
      if (heapFirst) {
        const e = heapPop(this.heap)
        visit(e.keyId, e.time, e.seq, e.row)
      } else {
        visit(this.keyIds[q] as number, this.times[q] as number, this.seqs[q] as number, this.rows[q])
        q++
      }
    }
  }

  /** Every buffered event (snapshots), in no particular order. */
  forEach(visit: (keyId: number, time: number, seq: number, row: unknown) => void): void {
    for (let q = this.head; q < this.tail; q++)
      visit(this.keyIds[q] as number, this.times[q] as number, this.seqs[q] as number, this.rows[q])
    for (const e of this.heap) visit(e.keyId, e.time, e.seq, e.row)
  }

  clear(): void {
    this.head = 0
    this.tail = 0
    this.rows = []
    this.heap = []
    this.lastTime = Number.NEGATIVE_INFINITY
    this.lastSeq = Number.NEGATIVE_INFINITY
  }

  /**
   * Drops the first n queued events (their rows too, for the collector). An emptied queue starts
   * again at the front and keeps its rows array: emptying it (length 0) gave its storage back, and
   * without a delay the queue empties at every record, so each event allocated a new one.
   */
  private drop(n: number): void {
    for (let q = this.head; q < this.head + n; q++) this.rows[q] = undefined
    this.head += n
    if (this.head === this.tail) {
      this.head = 0
      this.tail = 0
    }
  }

  /** Moves the queue to the front, or doubles its columns when it fills more than half. */
  private makeRoom(): void {
    const count = this.tail - this.head
    if (count * 2 > this.keyIds.length) {
      const size = this.keyIds.length * 2
      const keyIds = new Int32Array(size)
      const times = new Float64Array(size)
      const seqs = new Float64Array(size)
      keyIds.set(this.keyIds.subarray(this.head, this.tail))
      times.set(this.times.subarray(this.head, this.tail))
      seqs.set(this.seqs.subarray(this.head, this.tail))
      this.keyIds = keyIds
      this.times = times
      this.seqs = seqs
    } else {
      this.keyIds.copyWithin(0, this.head, this.tail)
      this.times.copyWithin(0, this.head, this.tail)
      this.seqs.copyWithin(0, this.head, this.tail)
    }
    this.rows = this.rows.slice(this.head, this.tail)
    this.head = 0
    this.tail = count
  }
}

function before(a: Buffered, b: Buffered): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}

function heapPush(heap: Buffered[], item: Buffered): void {
  heap.push(item)
  let i = heap.length - 1
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (!before(heap[i] as Buffered, heap[parent] as Buffered)) break
    ;[heap[i], heap[parent]] = [heap[parent] as Buffered, heap[i] as Buffered]
    i = parent
  }
}

function heapPop(heap: Buffered[]): Buffered {
  const top = heap[0] as Buffered
  const last = heap.pop() as Buffered
  if (heap.length > 0) {
    heap[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < heap.length && before(heap[l] as Buffered, heap[m] as Buffered)) m = l
      if (r < heap.length && before(heap[r] as Buffered, heap[m] as Buffered)) m = r
      if (m === i) break
      ;[heap[i], heap[m]] = [heap[m] as Buffered, heap[i] as Buffered]
      i = m
    }
  }
  return top
}
