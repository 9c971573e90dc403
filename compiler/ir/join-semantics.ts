/**
 * The reference semantics of joins (specs/language.md, "Joins"), in the plainest form, for the
 * reference interpreter (interpret.ts). The runtime's join operator (runtime/join/interval-join.ts)
 * implements the same rules with keyed buffers and is compared with this, and both with the
 * brute-force enumeration of test/support/join-reference.ts, on random streams.
 *
 * The join sees an interleaving of its two inputs' records, one at a time. Each side has a
 * watermark, the largest event time its source has read less the source's delay; the join's
 * watermark W is the smaller of the two (-Infinity until both sides have read something). For each
 * record: `advance(W)` emits what W made due, then the record's event (if it reached the join) is
 * added with `add`, then `advance(W)` again (an event may be due the moment it is added).
 *
 * Interval join (bound [lower, upper]): left l and right r pair when their keys are equal (no key
 * value null) and l.t + lower <= r.t <= l.t + upper. An event is late when t < W - lateness: its
 * partners may be gone. Otherwise it pairs at once with every buffered partner (each pair is
 * emitted once, when its second event arrives, timed max(l.t, r.t)), and is buffered while a
 * partner may still come: a left event until l.t + upper < W - lateness, a right event until
 * r.t - lower < W - lateness. An event of an outer side that leaves the buffer unmatched is
 * emitted then with the other side null (timed by its own time); one with a null key at once.
 *
 * Window join (tumbling or hopping, inner): l and r pair in every window holding both whose keys
 * are equal. A window fires (emits its pairs, timed end - 1) once W >= end and is gone once
 * W >= end + lateness; an event reaching a window that has fired pairs at once with that window's
 * other side. An event all of whose windows are gone is late.
 *
 * Output order: within one `advance`, interval outer rows by time, then left before right, then
 * arrival; window pairs by window start, then key, then the left event's arrival, then the right's.
 * Pairs made by `add` come in order of the buffered partner's time, then arrival (interval), or of
 * window start, then the partner's arrival (window).
 */

import type { IntervalJoinBound, WindowSpec } from './types.ts'
import { windowStarts } from './window-semantics.ts'

export type JoinSide = 'left' | 'right'

export interface JoinSemanticsOptions {
  readonly joinType: 'inner' | 'left' | 'full'
  readonly bound: IntervalJoinBound | WindowSpec
  readonly latenessMs: number
}

/** One output row: the two sides' records (null for the missing side of an outer row). */
export interface JoinRow {
  readonly left: unknown
  readonly right: unknown
  /** The join key's string (null for an outer row of an event whose key was null). */
  readonly key: string | null
  readonly timestamp: number
  /** The window that paired them (window joins). */
  readonly window: { readonly start: number; readonly end: number } | null
}

interface Buffered {
  readonly value: unknown
  readonly key: string
  readonly time: number
  readonly seq: number
  matched: boolean
}

interface WindowEntry {
  readonly start: number
  readonly end: number
  readonly left: Buffered[]
  readonly right: Buffered[]
  fired: boolean
}

/** Whether a side's unmatched events are emitted (with the other side null). */
export function isOuterSide(joinType: JoinSemanticsOptions['joinType'], side: JoinSide): boolean {
  return joinType === 'full' || (joinType === 'left' && side === 'left')
}

/**
 * How far behind the join's watermark its rows may be timed: a pair is timed at or after
 * W - lateness, an outer row up to lateness + max(upper, -lower) behind W. A join reading this
 * one's results follows W less this (runtime/join/join-over-join.ts says why; Flink SQL holds its
 * interval join's output watermark back the same way).
 */
export function joinOutputHoldMs(options: Pick<JoinSemanticsOptions, 'bound' | 'latenessMs'>): number {
  const { bound, latenessMs } = options
  return latenessMs + (bound.kind === 'interval' ? Math.max(0, bound.upperMs, -bound.lowerMs) : 0)
}

/** The dead-letter reason of an event the join refused as late. */
export function joinLateReason(time: number, watermark: number, latenessMs: number): string {
  return `late event: its event time ${new Date(time).toISOString()} is behind the join's watermark ${new Date(watermark).toISOString()} by more than the lateness (${latenessMs} ms), so its partners may be gone`
}

/** The earliest window end + lateness of an event at `time`, i.e. when its last window is gone. */
function lastWindowGoneAt(time: number, window: WindowSpec, latenessMs: number): number {
  const starts = windowStarts(time, window)
  return starts[starts.length - 1]! + window.sizeMs + latenessMs
}

export class ReferenceJoin {
  private readonly buffers: Record<JoinSide, Buffered[]> = { left: [], right: [] }
  private readonly windows: WindowEntry[] = []
  private seq = 0

  constructor(private readonly options: JoinSemanticsOptions) {}

  /** Events and windows held (for tests). */
  get size(): number {
    return this.buffers.left.length + this.buffers.right.length + this.windows.length
  }

  /** Whether an event at `time` is late at join watermark `watermark`. */
  isLate(time: number, watermark: number): boolean {
    const { bound, latenessMs } = this.options
    if (bound.kind === 'interval') return time < watermark - latenessMs
    return lastWindowGoneAt(time, bound, latenessMs) <= watermark
  }

  /**
   * Adds an event that is not late (check `isLate` first): returns the rows it makes at once.
   * `key` is the join key's string, null when any key value is null.
   */
  add(side: JoinSide, key: string | null, value: unknown, time: number, watermark: number): JoinRow[] {
    const { bound, joinType } = this.options
    const seq = this.seq++
    if (key === null) {
      if (bound.kind !== 'interval' || !isOuterSide(joinType, side)) return []
      return [outerRow(side, value, null, time)]
    }
    const event: Buffered = { value, key, time, seq, matched: false }
    const rows: JoinRow[] = []
    if (bound.kind === 'interval') {
      const other = side === 'left' ? 'right' : 'left'
      const partners = [...this.buffers[other]].sort((a, b) => a.time - b.time || a.seq - b.seq)
      for (const partner of partners) {
        if (partner.key !== key) continue
        const [l, r] = side === 'left' ? [event, partner] : [partner, event]
        if (r.time < l.time + bound.lowerMs || r.time > l.time + bound.upperMs) continue
        partner.matched = true
        event.matched = true
        rows.push({ left: l.value, right: r.value, key, timestamp: Math.max(l.time, r.time), window: null })
      }
      this.buffers[side].push(event)
      return rows
    }
    for (const start of windowStarts(time, bound)) {
      const end = start + bound.sizeMs
      if (end + this.options.latenessMs <= watermark) continue
      let entry = this.windows.find((w) => w.start === start)
      if (entry === undefined) {
        entry = { start, end, left: [], right: [], fired: false }
        this.windows.push(entry)
      }
      entry[side].push(event)
      if (!entry.fired) continue
      const partners = entry[side === 'left' ? 'right' : 'left']
      for (const partner of partners) {
        if (partner.key !== key) continue
        const [l, r] = side === 'left' ? [event, partner] : [partner, event]
        rows.push({ left: l.value, right: r.value, key, timestamp: end - 1, window: { start, end } })
      }
    }
    return rows
  }

  /** Emits what join watermark `watermark` made due and forgets what can match no more. */
  advance(watermark: number): JoinRow[] {
    const { bound, latenessMs, joinType } = this.options
    const horizon = watermark - latenessMs
    if (bound.kind === 'interval') {
      const expired: { side: JoinSide; event: Buffered }[] = []
      for (const side of ['left', 'right'] as const) {
        // A left event waits for right events up to l.t + upper; a right one for left events from r.t - lower.
        const lastUseful = (e: Buffered) =>
          side === 'left' ? e.time + bound.upperMs : e.time - bound.lowerMs
        const keep: Buffered[] = []
        for (const event of this.buffers[side]) {
          if (lastUseful(event) < horizon) expired.push({ side, event })
          else keep.push(event)
        }
        this.buffers[side] = keep
      }
      expired.sort(
        (a, b) =>
          a.event.time - b.event.time ||
          (a.side === b.side ? 0 : a.side === 'left' ? -1 : 1) ||
          a.event.seq - b.event.seq,
      )
      return expired
        .filter(({ side, event }) => !event.matched && isOuterSide(joinType, side))
        .map(({ side, event }) => outerRow(side, event.value, event.key, event.time))
    }
    const rows: JoinRow[] = []
    this.windows.sort((a, b) => a.start - b.start)
    for (const entry of this.windows) {
      if (entry.fired || entry.end > watermark) continue
      entry.fired = true
      const keys = [...new Set(entry.left.map((e) => e.key))].sort(compareStrings)
      for (const key of keys) {
        for (const l of entry.left) {
          if (l.key !== key) continue
          for (const r of entry.right) {
            if (r.key !== key) continue
            const window = { start: entry.start, end: entry.end }
            rows.push({ left: l.value, right: r.value, key, timestamp: entry.end - 1, window })
          }
        }
      }
    }
    for (let i = this.windows.length - 1; i >= 0; i--) {
      if (this.windows[i]!.end + latenessMs <= watermark) this.windows.splice(i, 1)
    }
    return rows
  }
}

function outerRow(side: JoinSide, value: unknown, key: string | null, time: number): JoinRow {
  return side === 'left'
    ? { left: value, right: null, key, timestamp: time, window: null }
    : { left: null, right: value, key, timestamp: time, window: null }
}

/** Strings by UTF-16 code units, as the language compares them. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
