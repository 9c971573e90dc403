/**
 * A brute-force reference for session windows (specs/language.md, "Sessions") when no event is
 * late: a key's sessions are found from all its events at once, sorted by time, instead of merged
 * as events arrive. An event at t opens [t, t + gap); windows that overlap or touch merge, so in
 * time order an event joins the session before it when its time is at most that session's end.
 * A session is emitted once the watermark reaches its end (end ≤ watermark).
 */

/** An event of a session window: its key, time and the argument of the aggregates. */
export interface SessionRefEvent {
  readonly key: string
  readonly time: number
  readonly value: number
}

/** A session: its key, start (first event), end (last event + gap) and its events' values. */
export interface SessionRefResult {
  readonly key: string
  readonly start: number
  readonly end: number
  readonly values: readonly number[]
}

/** The sessions of `events` with a fixed `gapMs` that the final `watermark` closed. */
export function closedSessions(
  events: readonly SessionRefEvent[],
  gapMs: number,
  watermark: number,
): SessionRefResult[] {
  const keys = [...new Set(events.map((e) => e.key))]
  const sessions: SessionRefResult[] = []
  for (const key of keys) {
    const own = events.filter((e) => e.key === key).sort((a, b) => a.time - b.time)
    let current: { start: number; end: number; values: number[] } | null = null
    for (const e of own) {
      if (current !== null && e.time <= current.end) {
        current.end = Math.max(current.end, e.time + gapMs)
        current.values.push(e.value)
        continue
      }
      if (current !== null) sessions.push({ key, ...current })
      current = { start: e.time, end: e.time + gapMs, values: [e.value] }
    }
    if (current !== null) sessions.push({ key, ...current })
  }
  return sessions.filter((s) => s.end <= watermark)
}
