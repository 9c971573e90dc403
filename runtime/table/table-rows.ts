/**
 * The rows of one table: the latest row per key string, changed one changelog record at a time
 * (specs/language.md, "Tables and lookups").
 *
 * - A record whose value is empty or JSON `null` (a tombstone) deletes the row whose key string is
 *   the record's key; a tombstone without a record key is refused.
 * - Any other record is decoded against the table's schema by the generated decoder, and stored
 *   under the key string of its key expression (the generated `key`), replacing the row before it.
 *   The record's own key is not used: the row says what its key is.
 * - A record that is not UTF-8, not JSON, does not match the schema, or whose key is null or fails
 *   is refused with the reason, and changes nothing.
 *
 * A versioned table (one that a lookup `as of` a time reads) also keeps every version of each key,
 * sorted by version time: a row's is its `@event_time` field (TableFunctions.time), a tombstone's
 * the record's timestamp, from which the key has no row. A version with the time of an earlier
 * one replaces it (the last read wins). Versions are never dropped: the table holds every version
 * its topic holds.
 */
import { EvaluationError } from '../../stdlib/eval-error.ts'
import type { LookupTable, TableFunctions } from '../artifact/operators.ts'
import type { LogRecord } from '../log/index.ts'
import { firstInvalidUtf8, isUtf8 } from '../text/utf8.ts'

/** What applying a record did: `set` or `deleted` a row, or `refused` it with a reason. */
export type TableChange =
  | { readonly kind: 'set' | 'deleted'; readonly key: string }
  /** `site`: where in the `.pipe` the key expression failed (a manifest site), when it did. */
  | { readonly kind: 'refused'; readonly reason: string; readonly site?: number }

/** A value longer than this is not a tombstone even if it is white space around `null`. */
const LONGEST_TOMBSTONE = 64

/** Whether a record's value is a tombstone: empty, or the JSON `null` (white space allowed). */
export function isTombstone(value: Buffer): boolean {
  if (value.length === 0) return true
  if (value.length > LONGEST_TOMBSTONE) return false
  return value.toString('latin1').trim() === 'null'
}

/** A key's versions, sorted by time; a null row is a tombstone. */
interface Versions {
  readonly times: number[]
  readonly rows: unknown[]
}

export class TableRows implements LookupTable {
  private readonly rows = new Map<string, unknown>()
  /** Null unless the table is versioned. */
  private readonly versions: Map<string, Versions> | null
  private readonly time: ((row: never) => number) | null

  constructor(
    private readonly functions: TableFunctions,
    options: { readonly versioned?: boolean } = {},
  ) {
    this.time = options.versioned ? (functions.time ?? null) : null
    if (options.versioned && this.time === null) {
      throw new Error('a versioned table needs the time of its rows (the schema has no @event_time field)')
    }
    this.versions = options.versioned ? new Map() : null
  }

  get(key: string): unknown {
    return this.rows.get(key)
  }

  getAsOf(key: string, at: number): unknown {
    const versions = this.versions?.get(key)
    if (versions === undefined) return undefined
    const index = upperBound(versions.times, at) - 1
    return index < 0 ? undefined : (versions.rows[index] ?? undefined)
  }

  get size(): number {
    return this.rows.size
  }

  apply(record: Pick<LogRecord, 'key' | 'value' | 'timestamp'>): TableChange {
    const { key: recordKey, value } = record
    if (isTombstone(value)) {
      if (recordKey === null) {
        return {
          kind: 'refused',
          reason:
            'a tombstone (an empty or null value) needs a record key: the key string of the row it deletes',
        }
      }
      this.rows.delete(recordKey)
      this.addVersion(recordKey, record.timestamp, null)
      return { kind: 'deleted', key: recordKey }
    }
    if (!isUtf8(value)) {
      return {
        kind: 'refused',
        reason: `the record is not valid UTF-8 (first bad byte at ${firstInvalidUtf8(value)})`,
      }
    }
    let row: unknown
    try {
      row = this.functions.decodeJson(value)
    } catch (error) {
      const reason = error instanceof SyntaxError ? `invalid JSON: ${error.message}` : errorMessage(error)
      return { kind: 'refused', reason }
    }
    let key: string | null
    try {
      key = this.functions.key(row as never)
    } catch (error) {
      const reason = `the row's key cannot be computed: ${errorMessage(error)}`
      return error instanceof EvaluationError && error.site >= 0
        ? { kind: 'refused', reason, site: error.site }
        : { kind: 'refused', reason }
    }
    if (key === null) return { kind: 'refused', reason: "the row's key is null, so no lookup could find it" }
    this.rows.set(key, row)
    if (this.time !== null) this.addVersion(key, this.time(row as never), row)
    return { kind: 'set', key }
  }

  private addVersion(key: string, time: number, row: unknown): void {
    if (this.versions === null) return
    let versions = this.versions.get(key)
    if (versions === undefined) {
      versions = { times: [], rows: [] }
      this.versions.set(key, versions)
    }
    const at = upperBound(versions.times, time)
    if (at > 0 && versions.times[at - 1] === time) versions.rows[at - 1] = row
    else {
      versions.times.splice(at, 0, time)
      versions.rows.splice(at, 0, row)
    }
  }
}

/** The number of entries of the ascending `times` that are not after `time`. */
function upperBound(times: readonly number[], time: number): number {
  let low = 0
  let high = times.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (times[mid]! <= time) low = mid + 1
    else high = mid
  }
  return low
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
