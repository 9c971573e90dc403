/**
 * A brute-force reference for joins, written differently from both implementations
 * (compiler/ir/join-semantics.ts and runtime/join/interval-join.ts): no buffers, no expiry, only
 * the watermark after each arrival, then every pair enumerated.
 *
 * 1. The input is one interleaving of the two sides' records. After arrival i, each side's
 *    watermark is the largest time its records so far carried less its delay (a record a `where`
 *    dropped before the join moves it too), or the last watermark its records gave explicitly (a
 *    side over a window's results), and the join's W_i is the smaller of the two.
 * 2. Event i is late when (interval) t < W_i − lateness, or (window) every window holding t has
 *    end + lateness <= W_i. A window join event reaches the windows holding t whose
 *    end + lateness > W_i.
 * 3. Rows: every pair of events of the two sides, neither late nor dropped, with equal non-null
 *    keys, and (interval) r.t − l.t in [lower, upper], timed max(l.t, r.t); or (window) for every
 *    window both reached that closed by the end (end <= W_last), timed end − 1. Outer rows
 *    (interval, an outer side): every event in no pair, neither late nor dropped, whose key is null
 *    or whose last useful time passed by the end (l.t + upper, or r.t − lower, < W_last − lateness),
 *    timed t.
 */

export type JoinRefSide = 'left' | 'right'

export interface JoinRefRecord {
  readonly side: JoinRefSide
  /** An id unique over both sides. */
  readonly id: number
  readonly time: number
  /** The join key string, null when a key value is null. */
  readonly key: string | null
  /** Dropped by a `where` before the join: moves the watermark, reaches no join. */
  readonly dropped: boolean
  /**
   * The side's watermark after this arrival when it is not its source's (max time less the
   * delay): a window's output watermark, for a side that reads its results (composed by the test
   * from test/support/window-reference.ts). Either every record of a side has one or none.
   */
  readonly watermark?: number
}

export interface JoinRefShape {
  readonly joinType: 'inner' | 'left' | 'full'
  readonly bound:
    | { readonly kind: 'interval'; readonly lowerMs: number; readonly upperMs: number }
    | { readonly kind: 'tumbling' | 'hopping'; readonly sizeMs: number; readonly slideMs: number }
  readonly latenessMs: number
  readonly delayMs: { readonly left: number; readonly right: number }
}

export interface JoinRefRow {
  /** Record ids; null for the missing side of an outer row. */
  readonly left: number | null
  readonly right: number | null
  readonly key: string | null
  readonly time: number
}

export interface JoinRefOutcome {
  readonly rows: JoinRefRow[]
  /** Ids of the late events, in arrival order. */
  readonly late: number[]
}

/** The join's watermark after each arrival. */
export function joinWatermarks(records: readonly JoinRefRecord[], shape: JoinRefShape): number[] {
  const max = { left: Number.NEGATIVE_INFINITY, right: Number.NEGATIVE_INFINITY }
  const given = { left: Number.NEGATIVE_INFINITY, right: Number.NEGATIVE_INFINITY }
  const explicit = { left: false, right: false }
  const of = (side: JoinRefSide, isGiven: boolean) =>
    isGiven ? given[side] : max[side] - shape.delayMs[side]
  return records.map((r) => {
    max[r.side] = Math.max(max[r.side], r.time)
    if (r.watermark !== undefined) {
      explicit[r.side] = true
      given[r.side] = r.watermark
    }
    return Math.min(of('left', explicit.left), of('right', explicit.right))
  })
}

/** Every window start s (a multiple of the slide) with s <= time < s + size, by scanning slides. */
function windowsOf(time: number, sizeMs: number, slideMs: number): number[] {
  const starts: number[] = []
  for (let k = Math.ceil((time - sizeMs) / slideMs) - 1; k * slideMs <= time; k++) {
    const s = k * slideMs
    if (s <= time && time < s + sizeMs) starts.push(s)
  }
  return starts
}

export function joinReference(records: readonly JoinRefRecord[], shape: JoinRefShape): JoinRefOutcome {
  const { bound, latenessMs } = shape
  const w = joinWatermarks(records, shape)
  const last = w.length === 0 ? Number.NEGATIVE_INFINITY : w[w.length - 1]!
  const late: number[] = []
  /** The events that reached the join in time, with (window joins) the windows each reached. */
  const kept: { record: JoinRefRecord; windows: number[] }[] = []
  records.forEach((record, i) => {
    if (record.dropped) return
    if (bound.kind === 'interval') {
      if (record.time < w[i]! - latenessMs) late.push(record.id)
      else kept.push({ record, windows: [] })
      return
    }
    const reached = windowsOf(record.time, bound.sizeMs, bound.slideMs).filter(
      (s) => s + bound.sizeMs + latenessMs > w[i]!,
    )
    if (reached.length === 0) late.push(record.id)
    else kept.push({ record, windows: reached })
  })

  const rows: JoinRefRow[] = []
  const matched = new Set<number>()
  for (const l of kept) {
    if (l.record.side !== 'left' || l.record.key === null) continue
    for (const r of kept) {
      if (r.record.side !== 'right' || r.record.key !== l.record.key) continue
      if (bound.kind === 'interval') {
        const d = r.record.time - l.record.time
        if (d < bound.lowerMs || d > bound.upperMs) continue
        matched.add(l.record.id)
        matched.add(r.record.id)
        rows.push({
          left: l.record.id,
          right: r.record.id,
          key: l.record.key,
          time: Math.max(l.record.time, r.record.time),
        })
        continue
      }
      for (const s of l.windows) {
        if (!r.windows.includes(s) || s + bound.sizeMs > last) continue
        rows.push({ left: l.record.id, right: r.record.id, key: l.record.key, time: s + bound.sizeMs - 1 })
      }
    }
  }
  if (bound.kind === 'interval') {
    const outer = (side: JoinRefSide) =>
      shape.joinType === 'full' || (shape.joinType === 'left' && side === 'left')
    for (const { record } of kept) {
      if (!outer(record.side) || matched.has(record.id)) continue
      const lastUseful = record.side === 'left' ? record.time + bound.upperMs : record.time - bound.lowerMs
      if (record.key !== null && !(lastUseful < last - latenessMs)) continue
      rows.push(
        record.side === 'left'
          ? { left: record.id, right: null, key: record.key, time: record.time }
          : { left: null, right: record.id, key: record.key, time: record.time },
      )
    }
  }
  return { rows, late }
}

/** A row as a string, for comparing rows as multisets (sorted lists of these). */
export function rowText(row: JoinRefRow): string {
  return `${row.left ?? '-'}|${row.right ?? '-'}|${row.key ?? '∅'}|${row.time}`
}
