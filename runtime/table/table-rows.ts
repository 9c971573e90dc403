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
 */
import type { LookupTable, TableFunctions } from '../artifact/operators.ts'
import type { LogRecord } from '../log/index.ts'
import { firstInvalidUtf8, isUtf8 } from '../text/utf8.ts'

/** What applying a record did: `set` or `deleted` a row, or `refused` it with a reason. */
export type TableChange =
  | { readonly kind: 'set' | 'deleted'; readonly key: string }
  | { readonly kind: 'refused'; readonly reason: string }

/** A value longer than this is not a tombstone even if it is white space around `null`. */
const LONGEST_TOMBSTONE = 64

/** Whether a record's value is a tombstone: empty, or the JSON `null` (white space allowed). */
export function isTombstone(value: Buffer): boolean {
  if (value.length === 0) return true
  if (value.length > LONGEST_TOMBSTONE) return false
  return value.toString('latin1').trim() === 'null'
}

export class TableRows implements LookupTable {
  private readonly rows = new Map<string, unknown>()

  constructor(private readonly functions: TableFunctions) {}

  get(key: string): unknown {
    return this.rows.get(key)
  }

  get size(): number {
    return this.rows.size
  }

  apply(record: Pick<LogRecord, 'key' | 'value'>): TableChange {
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
      return { kind: 'refused', reason: `the row's key cannot be computed: ${errorMessage(error)}` }
    }
    if (key === null) return { kind: 'refused', reason: "the row's key is null, so no lookup could find it" }
    this.rows.set(key, row)
    return { kind: 'set', key }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
