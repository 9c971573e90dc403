/**
 * Which offered rate the latency benchmark tries next: up the given rates until the node falls
 * clearly behind (higher rates would only fall further behind); if none of them was held, down
 * from the lowest tried by halves to a floor, so every variant reports the highest rate it holds
 * rather than "none" when the whole list starts too high for it (a slow log, a busy machine).
 */
export interface RateOutcome {
  readonly offered: number
  readonly held: boolean
  /** Fell clearly behind the offered rate (or never caught up). */
  readonly overloaded: boolean
}

/** The next rate to try after `tried` (in the order tried), or null when the search is over. */
export function nextRate(
  tried: readonly RateOutcome[],
  rates: readonly number[],
  floor: number,
): number | null {
  const last = tried.at(-1)
  const upward =
    last === undefined ||
    (!last.overloaded && tried.length < rates.length && tried.every((t, i) => t.offered === rates[i]))
  if (upward) return rates[tried.length] ?? null
  if (tried.some((t) => t.held)) return null
  const lowest = Math.min(...tried.map((t) => t.offered))
  const half = Math.floor(lowest / 2)
  return half >= floor ? half : null
}
