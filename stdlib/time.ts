/**
 * Calendar arithmetic on epoch milliseconds (UTC) without allocating a `Date` per call: the time
 * functions run once per event in fused loops.
 */

export const MS_PER_SECOND = 1000
export const MS_PER_MINUTE = 60_000
export const MS_PER_HOUR = 3_600_000
export const MS_PER_DAY = 86_400_000

export function floorDiv(a: number, b: number): number {
  return Math.floor(a / b)
}

/** Days since 1970-01-01 → proleptic Gregorian year, month (1–12), day (1–31); H. Hinnant's `civil_from_days`. */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  )
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  return { year, month, day }
}

/** The inverse of civilFromDays. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const mp = month > 2 ? month - 3 : month + 9
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146_097 + doe - 719_468
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

const ISO_TIMESTAMP =
  /^(\d{4}|[+-]\d{6})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|([+-])(\d{2}):?(\d{2})))?$/

/**
 * Parses an ISO-8601 / RFC 3339 timestamp to epoch milliseconds, or returns null. Accepted:
 * `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDThh:mm[:ss[.fraction]]` followed by `Z` or `±hh:mm`,
 * where a year outside 0000-9999 is written `±YYYYYY` (ISO 8601 expanded years).
 * A time without a zone is rejected rather than read as local time, which would make results
 * depend on the machine. Fractions beyond milliseconds are truncated. Out-of-range components
 * (month 13, February 30, hour 24) are rejected, unlike `Date.parse`.
 */
export function parseIsoTimestamp(text: string): number | null {
  const canonical = parseCanonicalTimestamp(text)
  return canonical === undefined ? parseIsoTimestampByPattern(text) : canonical
}

/** Digit value of the character at `i`, or -1 when it is not an ASCII digit. */
function digitAt(text: string, i: number): number {
  const d = text.charCodeAt(i) - 48
  return d >= 0 && d <= 9 ? d : -1
}

/**
 * The forms Sluice and JavaScript's toISOString write, `YYYY-MM-DDThh:mm:ss.sssZ` and
 * `YYYY-MM-DDThh:mm:ssZ`, read by character codes: every decoded event with a timestamp field
 * passes here, and the regular expression with its capture strings cost more than the rest of the
 * field's decoding. Undefined when the text is not in one of those forms (parseIsoTimestampByPattern
 * then decides); null when it is but names no instant (month 13, February 30), as the pattern
 * would.
 */
function parseCanonicalTimestamp(text: string): number | null | undefined {
  const length = text.length
  if (length !== 24 && length !== 20) return undefined
  if (
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 || // T
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58 ||
    text.charCodeAt(length - 1) !== 90 || // Z
    (length === 24 && text.charCodeAt(19) !== 46) // .
  )
    return undefined
  const y0 = digitAt(text, 0)
  const y1 = digitAt(text, 1)
  const y2 = digitAt(text, 2)
  const y3 = digitAt(text, 3)
  const mo0 = digitAt(text, 5)
  const mo1 = digitAt(text, 6)
  const d0 = digitAt(text, 8)
  const d1 = digitAt(text, 9)
  const h0 = digitAt(text, 11)
  const h1 = digitAt(text, 12)
  const mi0 = digitAt(text, 14)
  const mi1 = digitAt(text, 15)
  const s0 = digitAt(text, 17)
  const s1 = digitAt(text, 18)
  const f0 = length === 24 ? digitAt(text, 20) : 0
  const f1 = length === 24 ? digitAt(text, 21) : 0
  const f2 = length === 24 ? digitAt(text, 22) : 0
  // A non-digit anywhere is -1, and the OR of the values is negative exactly then.
  if ((y0 | y1 | y2 | y3 | mo0 | mo1 | d0 | d1 | h0 | h1 | mi0 | mi1 | s0 | s1 | f0 | f1 | f2) < 0)
    return undefined
  const year = y0 * 1000 + y1 * 100 + y2 * 10 + y3
  const month = mo0 * 10 + mo1
  const day = d0 * 10 + d1
  const hour = h0 * 10 + h1
  const minute = mi0 * 10 + mi1
  const second = s0 * 10 + s1
  const millis = f0 * 100 + f1 * 10 + f2
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null
  if (hour > 23 || minute > 59 || second > 59) return null
  return (
    daysFromCivil(year, month, day) * MS_PER_DAY +
    hour * MS_PER_HOUR +
    minute * MS_PER_MINUTE +
    second * MS_PER_SECOND +
    millis
  )
}

/** parseIsoTimestamp by its regular expression: every accepted form (exported for the tests). */
export function parseIsoTimestampByPattern(text: string): number | null {
  const m = ISO_TIMESTAMP.exec(text)
  if (m === null) return null
  // Years outside 0000-9999 come as ISO 8601's expanded form, a sign and six digits, which is how
  // Sluice (and JavaScript's toISOString) writes them; `-000000` is not a year.
  if (m[1] === '-000000') return null
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null
  const hour = m[4] === undefined ? 0 : Number(m[4])
  const minute = m[5] === undefined ? 0 : Number(m[5])
  const second = m[6] === undefined ? 0 : Number(m[6])
  if (hour > 23 || minute > 59 || second > 59) return null
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'))
  let offsetMinutes = 0
  if (m[9] !== undefined) {
    const oh = Number(m[10])
    const om = Number(m[11])
    if (oh > 23 || om > 59) return null
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om)
  }
  return (
    daysFromCivil(year, month, day) * MS_PER_DAY +
    hour * MS_PER_HOUR +
    minute * MS_PER_MINUTE +
    second * MS_PER_SECOND +
    millis -
    offsetMinutes * MS_PER_MINUTE
  )
}
