/**
 * The reference semantics of windowed aggregates (specs/language.md, "Windows"), in the plainest
 * form, for the reference interpreter (interpret.ts). The runtime's window operator
 * (runtime/window/window-operator.ts) implements the same rules over columnar stores and is
 * compared with this on random streams.
 *
 * Event time and the watermark: the watermark W of a source partition is the largest event time
 * it has read so far less the source's watermark delay, and it only moves forward. It moves with
 * every source event, also one that a `where` before the window drops.
 *
 * An event at time t belongs to every window [s, s + size) with s a multiple of the slide and
 * s <= t < s + size. A window is open while W < end; it fires (its result is emitted) once
 * W >= end; it then stays, so that late events change it, until W >= end + lateness, when it is
 * gone. An event whose windows are all gone is late: it goes to the late stream (or the dead
 * letters). max_by(x, by) / min_by(x, by) take x of the event with the largest / smallest
 * non-null `by`, ties going to the earliest event time, then the earliest arrival. An event that reaches a window that has fired makes it fire again at once, with the
 * event included (an update). Results are emitted in order of window end, then start, then key.
 *
 * Count windows (`count N every S`): an event at time t is late when t < W (the watermark has
 * passed it); otherwise it waits until W > t, and is then released: events are released in order
 * of time, then arrival (each watermark releases every waiting event it passed, across keys, in that
 * order). Each released event is the next of its key: when a key's number of released events c
 * becomes a multiple of S, a window fires with the key's last min(N, c) released events (Flink's
 * countWindow(N, S) fires with fewer at the start); tumbling windows (S = N) start afresh after
 * each. A count window's bounds are its first event's time and its last event's time + 1 ms, so
 * its result is timed at its last event. Count windows take no lateness.
 *
 * Early results (time windows): with `emit every P`, a window that is open after the watermark
 * moved from W' to W (end > W) emits its current result when some start + k·P (k >= 1) is in
 * (W', W] and before its end; with `emit on update`, each event that reaches open windows makes
 * them emit at once (after the updates of fired windows it reached). Early results come after the
 * final ones that fire at the same time, each group in order of start, then key.
 * `window_final()` is false in an early result, true in the others (the result when the window
 * closes, and the updates of late events after it).
 */
import { EvaluationError } from '../../stdlib/eval-error.ts'
import {
  createRich,
  isRichFunction,
  mergedRich,
  type RichAccumulator,
  type RichSpec,
} from '../../stdlib/sketches/index.ts'
import type { CountSpec, SessionSpec, Type, WindowAggregateField, WindowEmit, WindowSpec } from './types.ts'

/** The starts of the windows an event at `time` belongs to, earliest first. */
export function windowStarts(time: number, window: WindowSpec): number[] {
  // Floor division can round up for times near ±2^53; one correction step makes it exact.
  let last = Math.floor(time / window.slideMs) * window.slideMs
  if (last > time) last -= window.slideMs
  else if (last + window.slideMs <= time) last += window.slideMs
  const starts: number[] = []
  for (let start = last; start > time - window.sizeMs; start -= window.slideMs) starts.unshift(start)
  return starts
}

/** An accumulator per function, as plain JSON-like values. */
type Accumulator =
  | { fn: 'count'; n: number }
  | { fn: 'sum' | 'avg'; sum: number; n: number }
  | { fn: 'min' | 'max'; value: number | null }
  /** `seq` is the arrival number of the event whose value it is: it breaks ties of time. */
  | { fn: 'first' | 'last'; value: number | null; time: number; seq: number }
  /** The chosen event's `by` (null before any), its x (`value`), time and arrival number. */
  | { fn: 'max_by' | 'min_by'; by: number | null; value: number | null; time: number; seq: number }
  | { fn: 'window_start' | 'window_end' | 'window_final' }
  /** count_distinct, approx_count_distinct, quantile, top_k: the sketches of stdlib/sketches. */
  | { fn: 'rich'; spec: RichSpec; acc: RichAccumulator }

/** An event of a count window, as added. */
interface CountEvent {
  readonly key: string
  readonly keyValues: readonly unknown[]
  readonly time: number
  readonly seq: number
  readonly args: readonly unknown[]
}

interface WindowEntry {
  readonly keyValues: readonly unknown[]
  readonly key: string
  start: number
  end: number
  accumulators: Accumulator[]
  /** Changed since it last fired (or never fired). */
  dirty: boolean
}

/** One emitted result: the window and the record of key fields then aggregates. */
export interface WindowResult {
  readonly start: number
  readonly end: number
  /** The state key string of the key values. */
  readonly key: string
  readonly record: Record<string, unknown>
}

export interface ReferenceWindowOptions {
  readonly window: WindowSpec | SessionSpec | CountSpec
  readonly latenessMs: number
  readonly keyNames: readonly string[]
  readonly aggregates: readonly WindowAggregateField[]
  /** Early results (time windows only); default: on close only. */
  readonly emit?: WindowEmit
}

/**
 * The windows of one operator on one source partition. The caller evaluates keys and arguments;
 * `fire` returns the results due at the given watermark, and `add` tells whether an event was late.
 *
 * Session windows: an event at t with gap g opens [t, t + g); it merges with every session of its
 * key that is still kept and overlaps or touches it (start <= t + g and end >= t), into one
 * session from the smallest start to the largest end, whose accumulators are combined. An event
 * that merges with nothing and whose own window has end + lateness <= watermark is late.
 */
export class ReferenceWindows {
  private readonly entries = new Map<string, WindowEntry>()
  /** Sessions per key (session windows only). */
  private readonly sessions = new Map<string, WindowEntry[]>()
  private arrivals = 0
  /** Count windows: events waiting for the watermark to pass them, in arrival order. */
  private pending: CountEvent[] = []
  /** Count windows: per key, its released events still in a window, and how many it released. */
  private readonly counted = new Map<string, { events: CountEvent[]; released: number }>()
  /** The watermark through which early results (`emit every`) were given. */
  private through = Number.NEGATIVE_INFINITY
  /** `emit on update`: the open windows the last event reached. */
  private touched: WindowEntry[] = []

  constructor(private readonly options: ReferenceWindowOptions) {}

  /** Results of every window that fired and changed since: end <= watermark; then drops gone ones. */
  fire(watermark: number): { results: WindowResult[]; failures: EvaluationError[] } {
    if (this.options.window.kind === 'count') return this.fireCounts(watermark, this.options.window)
    const due = this.all()
      .filter((e) => e.dirty && e.end <= watermark)
      .sort((a, b) => a.start - b.start || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    const results: WindowResult[] = []
    const failures: EvaluationError[] = []
    for (const entry of due) {
      entry.dirty = false
      this.emitTo(results, failures, entry, true)
    }
    const { emit } = this.options
    if (emit?.kind === 'every') {
      const early = [...this.entries.values()]
        .filter((e) => e.end > watermark && crossed(e.start, emit.everyMs, e.end, this.through, watermark))
        .sort(byStartThenKey)
      for (const entry of early) this.emitTo(results, failures, entry, false)
    }
    this.through = Math.max(this.through, watermark)
    const gone = (e: WindowEntry) => e.end + this.options.latenessMs <= watermark
    for (const [id, entry] of this.entries) if (gone(entry)) this.entries.delete(id)
    for (const [key, list] of this.sessions) {
      const kept = list.filter((e) => !gone(e))
      if (kept.length === 0) this.sessions.delete(key)
      else this.sessions.set(key, kept)
    }
    return { results, failures }
  }

  /** `emit on update`: the results of the open windows the last event reached (early results). */
  updates(): { results: WindowResult[]; failures: EvaluationError[] } {
    const results: WindowResult[] = []
    const failures: EvaluationError[] = []
    for (const entry of this.touched.sort(byStartThenKey)) this.emitTo(results, failures, entry, false)
    this.touched = []
    return { results, failures }
  }

  private emitTo(
    results: WindowResult[],
    failures: EvaluationError[],
    entry: WindowEntry,
    final: boolean,
  ): void {
    try {
      results.push({ start: entry.start, end: entry.end, key: entry.key, record: this.record(entry, final) })
    } catch (error) {
      if (!(error instanceof EvaluationError)) throw error
      failures.push(error)
    }
  }

  /**
   * Adds an event at `time` to its windows that are not gone at `watermark` (`gapMs`: its session
   * gap). Returns 'late' when there is none (nothing changed), 'update' when it reached a window
   * that already fired (fire again now), else 'added'.
   */
  add(
    key: string,
    keyValues: readonly unknown[],
    time: number,
    args: readonly unknown[],
    watermark: number,
    gapMs = 0,
  ): 'late' | 'update' | 'added' {
    const seq = this.arrivals++
    const { window, latenessMs } = this.options
    if (window.kind === 'count') {
      if (time < watermark) return 'late'
      this.pending.push({ key, keyValues, time, seq, args })
      return 'added'
    }
    if (window.kind === 'session') return this.addToSession(key, keyValues, time, args, watermark, gapMs, seq)
    const open = windowStarts(time, window).filter((s) => s + window.sizeMs + latenessMs > watermark)
    if (open.length === 0) return 'late'
    let update = false
    for (const start of open) {
      const id = `${start}|${key}`
      let entry = this.entries.get(id)
      if (entry === undefined) {
        entry = {
          keyValues,
          key,
          start,
          end: start + window.sizeMs,
          accumulators: this.options.aggregates.map(initial),
          dirty: true,
        }
        this.entries.set(id, entry)
      }
      entry.dirty = true
      if (entry.end <= watermark) update = true
      else if (this.options.emit?.kind === 'update') this.touched.push(entry)
      entry.accumulators.forEach((acc, i) => {
        fold(acc, args[i], time, seq)
      })
    }
    return update ? 'update' : 'added'
  }

  private addToSession(
    key: string,
    keyValues: readonly unknown[],
    time: number,
    args: readonly unknown[],
    watermark: number,
    gapMs: number,
    seq: number,
  ): 'late' | 'update' | 'added' {
    const list = (this.sessions.get(key) ?? []).filter((e) => e.end + this.options.latenessMs > watermark)
    const overlapping = list.filter((e) => e.start <= time + gapMs && e.end >= time)
    if (overlapping.length === 0 && time + gapMs + this.options.latenessMs <= watermark) return 'late'
    const merged: WindowEntry = {
      keyValues,
      key,
      start: Math.min(time, ...overlapping.map((e) => e.start)),
      end: Math.max(time + gapMs, ...overlapping.map((e) => e.end)),
      accumulators: this.options.aggregates.map(initial),
      dirty: true,
    }
    for (const e of overlapping) {
      merged.accumulators = merged.accumulators.map((acc, i) => combine(acc, e.accumulators[i]!))
    }
    merged.accumulators.forEach((acc, i) => {
      fold(acc, args[i], time, seq)
    })
    this.sessions.set(key, [...list.filter((e) => !overlapping.includes(e)), merged])
    return merged.end <= watermark ? 'update' : 'added'
  }

  /** Releases the waiting events the watermark passed, in order of time then arrival; fires windows. */
  private fireCounts(
    watermark: number,
    window: CountSpec,
  ): { results: WindowResult[]; failures: EvaluationError[] } {
    const released = this.pending
      .filter((e) => e.time < watermark)
      .sort((a, b) => a.time - b.time || a.seq - b.seq)
    this.pending = this.pending.filter((e) => e.time >= watermark)
    const results: WindowResult[] = []
    const failures: EvaluationError[] = []
    for (const event of released) {
      const state = this.counted.get(event.key) ?? { events: [], released: 0 }
      this.counted.set(event.key, state)
      state.events.push(event)
      state.released++
      if (state.events.length > window.size) state.events.shift()
      if (state.released % window.slide !== 0) continue
      const events = state.events
      if (window.slide === window.size) state.events = []
      const entry: WindowEntry = {
        keyValues: event.keyValues,
        key: event.key,
        start: events[0]!.time,
        end: event.time + 1,
        accumulators: this.options.aggregates.map(initial),
        dirty: false,
      }
      for (const e of events) {
        entry.accumulators.forEach((acc, i) => {
          fold(acc, e.args[i], e.time, e.seq)
        })
      }
      this.emitTo(results, failures, entry, true)
    }
    return { results, failures }
  }

  private all(): WindowEntry[] {
    return [...this.entries.values(), ...[...this.sessions.values()].flat()]
  }

  private record(entry: WindowEntry, final: boolean): Record<string, unknown> {
    const record: Record<string, unknown> = {}
    this.options.keyNames.forEach((name, i) => {
      record[name] = entry.keyValues[i]
    })
    this.options.aggregates.forEach((field, i) => {
      record[field.name] = resultOf(field, entry.accumulators[i]!, entry.start, entry.end, final)
    })
    return record
  }
}

/** Whether some start + k·period (k >= 1) before `end` is in (from, to]: an early result is due. */
export function crossed(start: number, period: number, end: number, from: number, to: number): boolean {
  const k = Math.floor((to - start) / period)
  const boundary = start + k * period
  return k >= 1 && boundary > from && boundary < end
}

function byStartThenKey(a: WindowEntry, b: WindowEntry): number {
  return a.start - b.start || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
}

/** Two sessions' accumulators as one (sessions merge). */
function combine(a: Accumulator, b: Accumulator): Accumulator {
  switch (a.fn) {
    case 'rich':
      return { fn: 'rich', spec: a.spec, acc: mergedRich(a.spec, a.acc, (b as typeof a).acc) }
    case 'count':
      return { fn: 'count', n: a.n + (b as typeof a).n }
    case 'sum':
    case 'avg': {
      const other = b as typeof a
      return { fn: a.fn, sum: a.sum + other.sum, n: a.n + other.n }
    }
    case 'min':
    case 'max': {
      const other = b as typeof a
      if (a.value === null) return other
      if (other.value === null) return a
      const pick = a.fn === 'min' ? other.value < a.value : other.value > a.value
      return pick ? other : a
    }
    case 'max_by':
    case 'min_by': {
      const other = b as typeof a
      if (other.by === null) return a
      if (a.by === null || chooses(a.fn, other.by, other.time, other.seq, a)) return other
      return a
    }
    case 'first':
    case 'last': {
      const other = b as typeof a
      if (a.value === null) return other
      if (other.value === null) return a
      const earlier = other.time < a.time || (other.time === a.time && other.seq < a.seq)
      return (a.fn === 'first') === earlier ? other : a
    }
    default:
      return a
  }
}

function initial(field: WindowAggregateField): Accumulator {
  if (isRichFunction(field.fn)) {
    const spec: RichSpec = { fn: field.fn, k: field.k, q: field.q }
    return { fn: 'rich', spec, acc: createRich(spec) }
  }
  switch (field.fn) {
    case 'count':
      return { fn: 'count', n: 0 }
    case 'sum':
    case 'avg':
      return { fn: field.fn, sum: 0, n: 0 }
    case 'min':
    case 'max':
      return { fn: field.fn, value: null }
    case 'first':
    case 'last':
      return { fn: field.fn, value: null, time: 0, seq: 0 }
    case 'max_by':
    case 'min_by':
      return { fn: field.fn, by: null, value: null, time: 0, seq: 0 }
    default:
      return { fn: field.fn }
  }
}

/** Folds one argument in; null arguments are skipped (SQL). */
function fold(acc: Accumulator, arg: unknown, time: number, seq: number): void {
  if (acc.fn === 'count') {
    acc.n++
    return
  }
  if (acc.fn === 'window_start' || acc.fn === 'window_end' || acc.fn === 'window_final' || arg === null)
    return
  if (acc.fn === 'max_by' || acc.fn === 'min_by') {
    // The argument is [x, by]: an event with a null `by` is skipped; x may be null.
    const [x, by] = arg as [number | null, number | null]
    if (by === null) return
    if (acc.by === null || chooses(acc.fn, by, time, seq, acc)) {
      acc.by = by
      acc.value = x
      acc.time = time
      acc.seq = seq
    }
    return
  }
  const value = arg as number
  switch (acc.fn) {
    case 'rich':
      acc.acc.add(arg)
      return
    case 'sum':
    case 'avg':
      acc.sum += value
      acc.n++
      return
    case 'min':
      if (acc.value === null || value < acc.value) acc.value = value
      return
    case 'max':
      if (acc.value === null || value > acc.value) acc.value = value
      return
    case 'first':
      if (acc.value === null || time < acc.time) {
        acc.value = value
        acc.time = time
        acc.seq = seq
      }
      return
    case 'last':
      if (acc.value === null || time >= acc.time) {
        acc.value = value
        acc.time = time
        acc.seq = seq
      }
  }
}

/**
 * Whether an event with `by` at `time` (arrival `seq`) replaces the current choice `acc` (which has
 * one): a larger `by` for max_by, smaller for min_by; on equal `by`, the earlier event time, then
 * the earlier arrival (so the choice is the first in event-time order).
 */
function chooses(
  fn: 'max_by' | 'min_by',
  by: number,
  time: number,
  seq: number,
  acc: { by: number | null; time: number; seq: number },
): boolean {
  const best = acc.by!
  if (by !== best) return fn === 'max_by' ? by > best : by < best
  return time < acc.time || (time === acc.time && seq < acc.seq)
}

/**
 * A field's value from its accumulator. An i64 sum outside ±(2^53−1), or an f64 sum or average
 * that overflowed, fails the result (it is dead-lettered): JSON has no Infinity.
 */
function resultOf(
  field: WindowAggregateField,
  acc: Accumulator,
  start: number,
  end: number,
  final: boolean,
): unknown {
  switch (acc.fn) {
    case 'window_final':
      return final
    case 'count':
      return acc.n
    case 'window_start':
      return start
    case 'window_end':
      return end
    case 'rich':
      return acc.acc.result()
    case 'sum':
      if (acc.n === 0) return null
      checkSum(field, acc.sum)
      return acc.sum
    case 'avg':
      if (acc.n === 0) return null
      checkSum(field, acc.sum)
      return acc.sum / acc.n
    default:
      return acc.value
  }
}

function checkSum(field: WindowAggregateField, sum: number): void {
  const i64 = baseKind(field.arg!.type) === 'i64' && field.fn === 'sum'
  if (i64 ? Math.abs(sum) > Number.MAX_SAFE_INTEGER : !Number.isFinite(sum)) {
    throw new EvaluationError(`${i64 ? 'i64' : 'f64'} overflow in ${field.fn} \`${field.name}\` of a window`)
  }
}

function baseKind(type: Type): Type['kind'] {
  return type.kind === 'optional' ? baseKind(type.of) : type.kind
}

/** The reason a late event of a count window gives in the dead letters (the runtime's too). */
export function countLateReason(time: number, watermark: number): string {
  return `late event: its event time ${new Date(time).toISOString()} is behind the watermark ${new Date(watermark).toISOString()}, and count windows count events in event-time order`
}

/** The reason a late event gives in the dead letters (the runtime words it the same). */
export function lateReason(time: number, watermark: number, latenessMs: number): string {
  return `late event: its event time ${new Date(time).toISOString()} is in windows that closed for good (watermark ${new Date(watermark).toISOString()}, lateness ${latenessMs} ms)`
}
