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
 * letters). An event that reaches a window that has fired makes it fire again at once, with the
 * event included (an update). Results are emitted in order of window end, then start, then key.
 */
import { EvaluationError } from '../../stdlib/eval-error.ts'
import type { Type, WindowAggregateField, WindowSpec } from './types.ts'

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
  | { fn: 'first' | 'last'; value: number | null; time: number }
  | { fn: 'window_start' | 'window_end' }

interface WindowEntry {
  readonly keyValues: readonly unknown[]
  readonly key: string
  readonly start: number
  readonly accumulators: Accumulator[]
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
  readonly window: WindowSpec
  readonly latenessMs: number
  readonly keyNames: readonly string[]
  readonly aggregates: readonly WindowAggregateField[]
}

/**
 * The windows of one operator on one source partition. The caller evaluates keys and arguments;
 * `fire` returns the results due at the given watermark, and `add` tells whether an event was late.
 */
export class ReferenceWindows {
  private readonly entries = new Map<string, WindowEntry>()

  constructor(private readonly options: ReferenceWindowOptions) {}

  /** Results of every window that fired and changed since: end <= watermark; then drops gone ones. */
  fire(watermark: number): { results: WindowResult[]; failures: EvaluationError[] } {
    const { sizeMs } = this.options.window
    const due = [...this.entries.values()]
      .filter((e) => e.dirty && e.start + sizeMs <= watermark)
      .sort((a, b) => a.start - b.start || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    const results: WindowResult[] = []
    const failures: EvaluationError[] = []
    for (const entry of due) {
      entry.dirty = false
      try {
        results.push({
          start: entry.start,
          end: entry.start + sizeMs,
          key: entry.key,
          record: this.record(entry),
        })
      } catch (error) {
        if (!(error instanceof EvaluationError)) throw error
        failures.push(error)
      }
    }
    for (const [id, entry] of this.entries) {
      if (entry.start + sizeMs + this.options.latenessMs <= watermark) this.entries.delete(id)
    }
    return { results, failures }
  }

  /**
   * Adds an event at `time` to its windows that are not gone at `watermark`. Returns 'late' when
   * they are all gone (nothing changed), 'update' when it reached a window that already fired
   * (fire again now), else 'added'.
   */
  add(
    key: string,
    keyValues: readonly unknown[],
    time: number,
    args: readonly unknown[],
    watermark: number,
  ): 'late' | 'update' | 'added' {
    const { window, latenessMs } = this.options
    const open = windowStarts(time, window).filter((s) => s + window.sizeMs + latenessMs > watermark)
    if (open.length === 0) return 'late'
    let update = false
    for (const start of open) {
      const id = `${start}|${key}`
      let entry = this.entries.get(id)
      if (entry === undefined) {
        entry = { keyValues, key, start, accumulators: this.options.aggregates.map(initial), dirty: true }
        this.entries.set(id, entry)
      }
      entry.dirty = true
      if (start + window.sizeMs <= watermark) update = true
      entry.accumulators.forEach((acc, i) => {
        fold(acc, args[i], time)
      })
    }
    return update ? 'update' : 'added'
  }

  private record(entry: WindowEntry): Record<string, unknown> {
    const record: Record<string, unknown> = {}
    this.options.keyNames.forEach((name, i) => {
      record[name] = entry.keyValues[i]
    })
    const end = entry.start + this.options.window.sizeMs
    this.options.aggregates.forEach((field, i) => {
      record[field.name] = resultOf(field, entry.accumulators[i]!, entry.start, end)
    })
    return record
  }
}

function initial(field: WindowAggregateField): Accumulator {
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
      return { fn: field.fn, value: null, time: 0 }
    default:
      return { fn: field.fn }
  }
}

/** Folds one argument in; null arguments are skipped (SQL). */
function fold(acc: Accumulator, arg: unknown, time: number): void {
  if (acc.fn === 'count') {
    acc.n++
    return
  }
  if (acc.fn === 'window_start' || acc.fn === 'window_end' || arg === null) return
  const value = arg as number
  switch (acc.fn) {
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
      }
      return
    case 'last':
      if (acc.value === null || time >= acc.time) {
        acc.value = value
        acc.time = time
      }
  }
}

/**
 * A field's value from its accumulator. An i64 sum outside ±(2^53−1), or an f64 sum or average
 * that overflowed, fails the result (it is dead-lettered): JSON has no Infinity.
 */
function resultOf(field: WindowAggregateField, acc: Accumulator, start: number, end: number): unknown {
  switch (acc.fn) {
    case 'count':
      return acc.n
    case 'window_start':
      return start
    case 'window_end':
      return end
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

/** The reason a late event gives in the dead letters (the runtime words it the same). */
export function lateReason(time: number, watermark: number, latenessMs: number): string {
  return `late event: its event time ${new Date(time).toISOString()} is in windows that closed for good (watermark ${new Date(watermark).toISOString()}, lateness ${latenessMs} ms)`
}
