/**
 * Whether the key and the header values of a record a sink writes can be written as text. Both
 * are written as UTF-8 bytes, and a string holding a lone surrogate (half of a UTF-16 pair, which
 * a user-defined function can return: `s.slice(0, 1)` of `"😀"`) has no UTF-8 form: Buffer.from
 * and TextEncoder would silently write U+FFFD instead. As for such a string in the value (the sink
 * encoder's walkers, compiler/codegen/codecs.ts), the record is not written and the event is
 * dead-lettered, the reason naming the key or the header (specs/language.md §9, issue 17).
 *
 * Header names need no check: the sink's are literals (an escape in a `.pipe` string names a
 * Unicode scalar value, never a surrogate), the source record's were decoded from bytes.
 */

/** The end of a reason, after what names the key or header. */
export const LONE_SURROGATE_TEXT_REASON =
  'a lone surrogate (half of a UTF-16 surrogate pair) has no UTF-8 form, so it cannot be written'

/**
 * Why a record with this key and these headers cannot be written (`record key: …`,
 * `header "trace-id": …`, the key first, then the headers in their order), or null when it can.
 */
export function unwritableRecordText(
  key: string | null,
  headers: Readonly<Record<string, string>> | undefined,
): string | null {
  if (key !== null && !wellFormed(key)) return `record key: ${LONE_SURROGATE_TEXT_REASON}`
  if (headers !== undefined) {
    for (const name of Object.keys(headers)) {
      if (!wellFormed(headers[name]!)) return `header ${JSON.stringify(name)}: ${LONE_SURROGATE_TEXT_REASON}`
    }
  }
  return null
}

/** String.prototype.isWellFormed (ES2024), typed here: false when `text` holds a lone surrogate. */
export function wellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed()
}
