/**
 * A brute-force reference for windowed aggregates on one source partition, written differently
 * from both implementations (compiler/ir/window-semantics.ts and runtime/window/): no accumulators,
 * no state carried from event to event except the watermark.
 *
 * 1. The watermark after arrival i is W_i = max(time_0 … time_i) − delay (every source event moves
 *    it, also one a `where` drops). Event i reaches window w = [s, s + size) when its time is in
 *    w and w is not gone at W_i (s + size + lateness > W_i). An event that reaches none of its
 *    windows is late.
 * 2. A window's value is recomputed from scratch over the events that reached it, sorted by event
 *    time (stable by arrival): count, sum, min, max, avg over the non-null arguments, first/last
 *    the argument of the first/last such event in that order, max_by/min_by the argument of the
 *    first event in that order whose `by` is the largest/smallest non-null one.
 *
 * A window over another window's results (chained windows): its events are the first window's
 * emissions, each with the watermark it meets given explicitly (`watermark`: the source's as of
 * the arrival before the one that fired it), followed by a dropped event per source arrival
 * carrying the watermark after it; see `chainedEvents`.
 * 3. Emissions (`windowEmissions`), straight from the rules: after arrival i, first every window
 *    whose end the watermark passed with this arrival (W_{i−1} < end <= W_i) and that some earlier
 *    event reached, in order of start then key string, with the events before i; then, when event
 *    i reached windows that had already fired (end <= W_i), those windows, with event i included.
 *    The last emission of a window is therefore its final value (`finalWindowResults`).
 *    Early results (`emit`) come after the first group (window_final() false in them, true in all
 *    others): with `every P`, every window some earlier event reached that is still open
 *    (end > W_i) and has a start + k·P (k >= 1, before its end) in (W_{i−1}, W_i], with the events
 *    before i; and with `on update`, after the updates, every open window event i reached, with
 *    event i included.
 *
 * Count windows (`countWindowEmissions`), by enumeration instead of a running count:
 *
 * 1. Event i is late when time_i < W_i. The others, sorted by (time, arrival), are numbered per
 *    key 1, 2, 3, …; the event numbered j (a multiple of the slide S) closes the window of the
 *    key's events numbered max(1, j − N + 1) … j.
 * 2. A window is emitted at the first arrival r after its last event's arrival whose watermark
 *    passed that event (W_r > time); windows never passed are not emitted. Emissions are ordered by
 *    r, then by their last event's (time, arrival).
 */

export type WindowFn =
  | 'count'
  | 'sum'
  | 'min'
  | 'max'
  | 'avg'
  | 'first'
  | 'last'
  | 'window_start'
  | 'window_end'
  | 'max_by'
  | 'min_by'
  | 'window_final'

/** An argument or result value: a number, or the string or bool `x` of max_by/min_by. */
export type RefValue = number | string | boolean | null

/** Early results (`emit every P`, `emit on update`); absent: on close only. */
export type WindowRefEmit = { readonly kind: 'every'; readonly everyMs: number } | { readonly kind: 'update' }

export interface WindowRefEvent {
  /** Event time, ms. */
  readonly time: number
  /** The state key string (what the operator sorts and keys results by). */
  readonly key: string
  /** One argument per aggregate (ignored for count, window_start, window_end); null is skipped. */
  readonly args: readonly RefValue[]
  /** Dropped by a `where` before the window: moves the watermark, reaches no window. */
  readonly dropped: boolean
  /** Per aggregate, the `by` of max_by/min_by (ignored for the others; null is skipped). */
  readonly by?: readonly (number | null)[]
  /**
   * The watermark after this arrival, when it is not the source's (max time less the delay): a
   * chained window's, given by `chainedEvents`. Either every event has one or none.
   */
  readonly watermark?: number
}

export interface WindowRefShape {
  readonly sizeMs: number
  readonly slideMs: number
  readonly latenessMs: number
  /** The source's watermark delay. */
  readonly delayMs: number
}

export interface WindowRefResult {
  readonly key: string
  readonly start: number
  readonly end: number
  /** One value per aggregate, in the order of `fns` (window_final: a boolean). */
  readonly values: readonly RefValue[]
}

export interface WindowRefOutcome {
  /** The final value of every (key, window) that fired by the end of the stream, by start then key. */
  readonly results: WindowRefResult[]
  /** Indexes (into the events) of the late events, in arrival order. */
  readonly late: number[]
}

/** The watermark after each arrival. */
export function watermarks(events: readonly WindowRefEvent[], delayMs: number): number[] {
  let max = Number.NEGATIVE_INFINITY
  return events.map((e) => {
    max = Math.max(max, e.time)
    return e.watermark ?? max - delayMs
  })
}

/**
 * Idle partitions (docs/decisions/0028): the partition's events with a tick after arrival
 * `after` (-1: before any) at which the partition, idle, takes `watermark` (the smallest of the
 * source's partitions that are not idle), as a dropped event. Every event then carries its
 * watermark explicitly: the largest of its own (max time so far less the delay) and the tick's,
 * once passed, since a watermark never goes back; an event behind it is late like any other.
 */
export function withIdleTick(
  events: readonly WindowRefEvent[],
  delayMs: number,
  after: number,
  watermark: number,
): WindowRefEvent[] {
  const tick: WindowRefEvent = { time: watermark, key: '', args: [], dropped: true, watermark }
  const own = watermarks(events, delayMs)
  const out: WindowRefEvent[] = after < 0 ? [tick] : []
  events.forEach((e, i) => {
    const floor = i > after ? watermark : Number.NEGATIVE_INFINITY
    out.push({ ...e, watermark: Math.max(own[i]!, floor) })
    if (i === after) out.push({ ...tick, watermark: Math.max(own[i]!, watermark) })
  })
  return out
}

/**
 * The events of a window over `emissions` of a first window (lateness 0) over `events`: for each
 * source arrival i, the emissions it fired (those whose end W_{i−1} < end <= W_i), as events at
 * end − 1 that meet the watermark W_{i−1}, then a dropped event that moves it to W_i. `toEvent`
 * makes the second window's key and arguments of an emission.
 */
export function chainedEvents(
  events: readonly WindowRefEvent[],
  shape: WindowRefShape,
  emissions: readonly WindowRefResult[],
  toEvent: (emission: WindowRefResult) => Pick<WindowRefEvent, 'key' | 'args' | 'by' | 'dropped'>,
): WindowRefEvent[] {
  if (shape.latenessMs !== 0) throw new Error('a window over a window with lateness is refused (E0430)')
  const w = watermarks(events, shape.delayMs)
  const out: WindowRefEvent[] = []
  let next = 0
  events.forEach((_, i) => {
    const before = i === 0 ? Number.NEGATIVE_INFINITY : w[i - 1]!
    // Emissions come in arrival order of the firing; with no lateness each window fires once.
    while (next < emissions.length && emissions[next]!.end <= w[i]!) {
      const emission = emissions[next++]!
      out.push({ ...toEvent(emission), time: emission.end - 1, watermark: before })
    }
    out.push({ time: Number.NEGATIVE_INFINITY, key: '', args: [], dropped: true, watermark: w[i]! })
  })
  if (next !== emissions.length) throw new Error('an emission that no arrival fired')
  return out
}

/** Every window start s (a multiple of the slide) with s <= time < s + size, by counting slides. */
function startsOf(time: number, sizeMs: number, slideMs: number): number[] {
  const starts: number[] = []
  // Scan every multiple of the slide from well below to time: slow, obviously right.
  let k = Math.ceil((time - sizeMs) / slideMs) - 1
  for (; k * slideMs <= time; k++) {
    const s = k * slideMs
    if (s <= time && time < s + sizeMs) starts.push(s)
  }
  return starts
}

interface Reach {
  /** Arrival index of the event. */
  readonly index: number
  readonly key: string
  readonly start: number
}

/** Which (event, window) pairs happened, and which events were late. */
function reaches(
  events: readonly WindowRefEvent[],
  shape: WindowRefShape,
): { reach: Reach[]; late: number[] } {
  const w = watermarks(events, shape.delayMs)
  const reach: Reach[] = []
  const late: number[] = []
  events.forEach((e, index) => {
    if (e.dropped) return
    const kept = startsOf(e.time, shape.sizeMs, shape.slideMs).filter(
      (s) => s + shape.sizeMs + shape.latenessMs > w[index]!,
    )
    if (kept.length === 0) late.push(index)
    for (const start of kept) reach.push({ index, key: e.key, start })
  })
  return { reach, late }
}

/** The values of one window from the events that reached it (arrival indexes), from scratch. */
function valuesOf(
  events: readonly WindowRefEvent[],
  indexes: readonly number[],
  fns: readonly WindowFn[],
  start: number,
  end: number,
  final = true,
): RefValue[] {
  const sorted = [...indexes].sort((a, b) => events[a]!.time - events[b]!.time || a - b)
  return fns.map((fn, f) => {
    if (fn === 'count') return sorted.length
    if (fn === 'window_final') return final
    if (fn === 'window_start') return start
    if (fn === 'window_end') return end
    if (fn === 'max_by' || fn === 'min_by') {
      let chosen: number | null = null
      for (const i of sorted) {
        const by = events[i]!.by?.[f] ?? null
        if (by === null) continue
        const best = chosen === null ? null : events[chosen]!.by![f]!
        if (best === null || (fn === 'max_by' ? by > best : by < best)) chosen = i
      }
      return chosen === null ? null : events[chosen]!.args[f]!
    }
    const args = sorted.map((i) => events[i]!.args[f]!).filter((v): v is number => typeof v === 'number')
    if (args.length === 0) return null
    switch (fn) {
      case 'sum':
        return args.reduce((a, b) => a + b, 0)
      case 'avg':
        return args.reduce((a, b) => a + b, 0) / args.length
      case 'min':
        return Math.min(...args)
      case 'max':
        return Math.max(...args)
      case 'first':
        return args[0]!
      default: // last
        return args.at(-1)!
    }
  })
}

function byStartThenKey(a: { start: number; key: string }, b: { start: number; key: string }): number {
  return a.start - b.start || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
}

/** Final results and late events of one source partition's events in arrival order. */
export function finalWindowResults(
  events: readonly WindowRefEvent[],
  shape: WindowRefShape,
  fns: readonly WindowFn[],
): WindowRefOutcome {
  const { reach, late } = reaches(events, shape)
  const finalW = events.length === 0 ? Number.NEGATIVE_INFINITY : watermarks(events, shape.delayMs).at(-1)!
  const groups = new Map<string, { key: string; start: number; indexes: number[] }>()
  for (const r of reach) {
    const id = `${r.start}|${r.key}`
    const group = groups.get(id) ?? { key: r.key, start: r.start, indexes: [] }
    group.indexes.push(r.index)
    groups.set(id, group)
  }
  const results = [...groups.values()]
    .filter((g) => g.start + shape.sizeMs <= finalW)
    .sort(byStartThenKey)
    .map((g) => ({
      key: g.key,
      start: g.start,
      end: g.start + shape.sizeMs,
      values: valuesOf(events, g.indexes, fns, g.start, g.start + shape.sizeMs),
    }))
  return { results, late }
}

/** Every emission (updates and early results included) in order, by the rules in the header (point 3). */
export function windowEmissions(
  events: readonly WindowRefEvent[],
  shape: WindowRefShape,
  fns: readonly WindowFn[],
  emit?: WindowRefEmit,
): WindowRefResult[] {
  const { reach } = reaches(events, shape)
  const w = watermarks(events, shape.delayMs)
  const { sizeMs } = shape
  const out: WindowRefResult[] = []
  const result = (key: string, start: number, upTo: number, final: boolean): WindowRefResult => {
    const indexes = reach
      .filter((r) => r.key === key && r.start === start && r.index <= upTo)
      .map((r) => r.index)
    const end = start + sizeMs
    return { key, start, end, values: valuesOf(events, indexes, fns, start, end, final) }
  }
  /** Whether a multiple of the period after `start` (and before its end) is in (from, to]. */
  const crossed = (start: number, period: number, from: number, to: number) => {
    for (let b = start + period; b < start + sizeMs && b <= to; b += period) if (b > from) return true
    return false
  }
  events.forEach((_, i) => {
    const before = i === 0 ? Number.NEGATIVE_INFINITY : w[i - 1]!
    const passed = new Map<string, { key: string; start: number }>()
    const early = new Map<string, { key: string; start: number }>()
    for (const r of reach) {
      if (r.index >= i) continue
      const end = r.start + sizeMs
      if (before < end && end <= w[i]!) passed.set(`${r.start}|${r.key}`, r)
      if (emit?.kind === 'every' && end > w[i]! && crossed(r.start, emit.everyMs, before, w[i]!))
        early.set(`${r.start}|${r.key}`, r)
    }
    for (const p of [...passed.values()].sort(byStartThenKey)) out.push(result(p.key, p.start, i - 1, true))
    for (const e of [...early.values()].sort(byStartThenKey)) out.push(result(e.key, e.start, i - 1, false))
    const reached = reach.filter((r) => r.index === i).sort(byStartThenKey)
    for (const u of reached) if (u.start + sizeMs <= w[i]!) out.push(result(u.key, u.start, i, true))
    if (emit?.kind === 'update') {
      for (const u of reached) if (u.start + sizeMs > w[i]!) out.push(result(u.key, u.start, i, false))
    }
  })
  return out
}

export interface CountRefShape {
  /** Events per window (N). */
  readonly size: number
  /** Events between firings (S). */
  readonly slide: number
  /** The source's watermark delay. */
  readonly delayMs: number
}

/** Every emission of count windows and the late events, by the rules in the header. */
export function countWindowEmissions(
  events: readonly WindowRefEvent[],
  shape: CountRefShape,
  fns: readonly WindowFn[],
): { emissions: WindowRefResult[]; late: number[] } {
  const w = watermarks(events, shape.delayMs)
  const late: number[] = []
  const kept: number[] = []
  events.forEach((e, i) => {
    if (e.dropped) return
    if (e.time < w[i]!) late.push(i)
    else kept.push(i)
  })
  const ordered = [...kept].sort((a, b) => events[a]!.time - events[b]!.time || a - b)
  const fired: { release: number; last: number; result: WindowRefResult }[] = []
  const keys = new Set(ordered.map((i) => events[i]!.key))
  for (const key of keys) {
    const ofKey = ordered.filter((i) => events[i]!.key === key)
    for (let j = shape.slide; j <= ofKey.length; j += shape.slide) {
      const indexes = ofKey.slice(Math.max(0, j - shape.size), j)
      const last = indexes.at(-1)!
      const release = w.findIndex((wm, r) => r > last && wm > events[last]!.time)
      if (release < 0) continue
      const start = events[indexes[0]!]!.time
      const end = events[last]!.time + 1
      fired.push({
        release,
        last,
        result: { key, start, end, values: valuesOf(events, indexes, fns, start, end) },
      })
    }
  }
  fired.sort(
    (a, b) => a.release - b.release || events[a.last]!.time - events[b.last]!.time || a.last - b.last,
  )
  return { emissions: fired.map((f) => f.result), late }
}
