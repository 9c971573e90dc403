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
 *
 * The node's state budget (runtime/state/entry-budget.ts) bounds a table as a whole (every node
 * holds all of it): its keys (a versioned table: its versions) and their bytes (the records' values
 * and keys). A record that would add one to a full table is refused with the reason, so it is
 * dead-lettered like a malformed one; one that replaces a row (or a version) of the same key (and
 * time) needs no new key, only room for its bytes in place of the old ones; a tombstone is always
 * applied, so a full table never keeps a row its topic deleted.
 */
import { EvaluationError } from '../../stdlib/eval-error.ts'
import type { LookupTable, TableFunctions } from '../artifact/operators.ts'
import type { LogRecord } from '../log/index.ts'
import {
  EntryBudget,
  type EntryBudgetLimits,
  type StateStats,
  tableFullReason,
} from '../state/entry-budget.ts'
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
  /** With a byte budget: each version's bytes. */
  readonly bytes: number[]
}

export class TableRows implements LookupTable {
  private readonly rows = new Map<string, unknown>()
  /** Null unless the table is versioned. */
  private readonly versions: Map<string, Versions> | null
  private readonly time: ((row: never) => number) | null
  readonly stats: StateStats = { evicted: 0, refused: 0, expired: 0 }
  private readonly budget: EntryBudget | null
  /** Versions held (a versioned table's entries). */
  private versionCount = 0
  /** With a byte budget: each row's bytes (unversioned), and the sum over the entries. */
  private readonly rowBytes = new Map<string, number>()
  private heldBytes = 0

  constructor(
    private readonly functions: TableFunctions,
    options: {
      readonly versioned?: boolean
      /** The node's state budget, and the table's name for the reason a full table gives. */
      readonly budget?: EntryBudgetLimits
      readonly name?: string
    } = {},
  ) {
    const budget = new EntryBudget(options.name ?? 'table', options.budget ?? {}, this.stats)
    this.budget = budget.bounded ? budget : null
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

  /** What the budget bounds: the rows, or a versioned table's versions. */
  get entries(): number {
    return this.versions === null ? this.rows.size : this.versionCount
  }

  /** The entries' bytes (records' values and keys), counted with a byte budget only (else 0). */
  get bytes(): number {
    return this.heldBytes
  }

  private get measuresBytes(): boolean {
    return this.budget !== null && this.budget.maxBytes !== Number.POSITIVE_INFINITY
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
      this.forgetRowBytes(recordKey)
      this.addVersion(recordKey, record.timestamp, null, this.measuresBytes ? recordKey.length : 0)
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
    const bytes = this.measuresBytes ? value.length + Buffer.byteLength(key) : 0
    const time = this.time === null ? 0 : this.time(row as never)
    if (this.budget !== null && !this.fits(key, time, bytes)) {
      this.budget.refuse()
      return { kind: 'refused', reason: tableFullReason(this.budget.step) }
    }
    this.rows.set(key, row)
    if (this.time !== null) this.addVersion(key, time, row, bytes)
    else if (this.measuresBytes) {
      this.forgetRowBytes(key)
      this.rowBytes.set(key, bytes)
      this.heldBytes += bytes
    }
    return { kind: 'set', key }
  }

  /**
   * Whether a row of `key` (a version at `time`) of `bytes` fits: one that replaces a row (a
   * version) needs no new key, only room for its bytes in place of the replaced one's.
   */
  private fits(key: string, time: number, bytes: number): boolean {
    const budget = this.budget!
    if (this.versions === null) {
      const replaces = this.rows.has(key)
      const held = this.heldBytes - (this.rowBytes.get(key) ?? 0)
      return budget.fits(this.rows.size, held, replaces ? 0 : 1, bytes)
    }
    const versions = this.versions.get(key)
    if (versions !== undefined) {
      const at = upperBound(versions.times, time)
      if (at > 0 && versions.times[at - 1] === time)
        return budget.fits(this.versionCount, this.heldBytes - versions.bytes[at - 1]!, 0, bytes)
    }
    return budget.fits(this.versionCount, this.heldBytes, 1, bytes)
  }

  private forgetRowBytes(key: string): void {
    const before = this.rowBytes.get(key)
    if (before === undefined) return
    this.heldBytes -= before
    this.rowBytes.delete(key)
  }

  private addVersion(key: string, time: number, row: unknown, bytes: number): void {
    if (this.versions === null) return
    let versions = this.versions.get(key)
    if (versions === undefined) {
      versions = { times: [], rows: [], bytes: [] }
      this.versions.set(key, versions)
    }
    const at = upperBound(versions.times, time)
    if (at > 0 && versions.times[at - 1] === time) {
      versions.rows[at - 1] = row
      this.heldBytes += bytes - versions.bytes[at - 1]!
      versions.bytes[at - 1] = bytes
    } else {
      versions.times.splice(at, 0, time)
      versions.rows.splice(at, 0, row)
      versions.bytes.splice(at, 0, bytes)
      this.versionCount++
      this.heldBytes += bytes
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
