/**
 * A brute-force reference for stream-table lookups (specs/language.md, "Tables and lookups"),
 * written differently from both implementations (the interpreter's lookupOperator over a Map, and
 * runtime/table/ with the generated lookup): no table is kept at all. The changelog and the events
 * are one history, in the order they happened; for each event, the history before it is scanned
 * backwards for the last change of the event's key:
 *
 * - a `set` of that key: the row found is that change's row;
 * - a `delete` of that key, or no change of it at all, or a null event key: no row. An inner
 *   lookup then emits nothing for the event, a left one emits it with the alias null.
 *
 * The output record is the event's fields, then the row under the alias.
 *
 * `referenceLookupAsOf` is the temporal lookup (`as of` the event's time t): of the changes of the
 * key before the event whose time is not after t, the one with the latest time wins (among equal
 * times, the later change); a `set` gives its row, a `delete` or nothing none.
 */

export type Row = Record<string, unknown>

export type LookupHistoryEntry =
  /** A changelog record that set the row of `key` (the key string of the row). */
  | { readonly kind: 'set'; readonly key: string; readonly row: Row; readonly time: number }
  /** A tombstone of `key` (its record key), from `time` (its record's timestamp) on. */
  | { readonly kind: 'delete'; readonly key: string; readonly time: number }
  /** A changelog record the table refuses (malformed): it changes nothing. */
  | { readonly kind: 'refused' }
  /** A stream event, the key string the lookup computes for it (null: a null key), and its time. */
  | { readonly kind: 'event'; readonly event: Row; readonly key: string | null; readonly time: number }

export function referenceLookup(
  history: readonly LookupHistoryEntry[],
  mode: 'inner' | 'left',
  alias: string,
): Row[] {
  const out: Row[] = []
  history.forEach((entry, i) => {
    if (entry.kind !== 'event') return
    let row: Row | null = null
    if (entry.key !== null) {
      for (let j = i - 1; j >= 0; j--) {
        const earlier = history[j]!
        if ((earlier.kind === 'set' || earlier.kind === 'delete') && earlier.key === entry.key) {
          row = earlier.kind === 'set' ? earlier.row : null
          break
        }
      }
    }
    if (row === null && mode === 'inner') return
    out.push({ ...entry.event, [alias]: row })
  })
  return out
}

export function referenceLookupAsOf(
  history: readonly LookupHistoryEntry[],
  mode: 'inner' | 'left',
  alias: string,
): Row[] {
  const out: Row[] = []
  history.forEach((entry, i) => {
    if (entry.kind !== 'event') return
    let best: Extract<LookupHistoryEntry, { kind: 'set' | 'delete' }> | null = null
    if (entry.key !== null) {
      for (const earlier of history.slice(0, i)) {
        if (earlier.kind !== 'set' && earlier.kind !== 'delete') continue
        if (earlier.key !== entry.key || earlier.time > entry.time) continue
        if (best === null || earlier.time >= best.time) best = earlier
      }
    }
    const row = best?.kind === 'set' ? best.row : null
    if (row === null && mode === 'inner') return
    out.push({ ...entry.event, [alias]: row })
  })
  return out
}
