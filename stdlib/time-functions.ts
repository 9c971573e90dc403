/**
 * Implementations of the time functions added for issue 17: zone-aware truncation and calendar
 * fields, patterns, epoch conversions and the processing-time clock. Registered in index.ts.
 */
import { environment } from './environment.ts'
import { EvaluationError } from './eval-error.ts'
import {
  civilFromDays,
  daysFromCivil,
  floorDiv,
  MS_PER_DAY,
  MS_PER_HOUR,
  MS_PER_MINUTE,
  MS_PER_SECOND,
} from './time.ts'
import { compilePattern, formatWithPattern, parseWithPattern } from './time-patterns.ts'
import { fromLocal, invalidTimeZone, type TimeZone, timeZone } from './time-zones.ts'

const MAX_TIMESTAMP_MS = 8.64e15

function fail(message: string): never {
  throw new EvaluationError(message)
}

/** The zone a run-time argument names; a name that is none is an evaluation error of `fn`. */
export function zoneArgument(fn: string, name: string | undefined): TimeZone | null {
  if (name === undefined) return null
  const zone = timeZone(name)
  if (zone === null) fail(`${fn}: ${invalidTimeZone(name)}`)
  return zone
}

/** The local wall-clock time of `ts` in the named zone (UTC without one), as epoch milliseconds. */
export function localTime(fn: string, ts: number, zoneName: string | undefined): number {
  if (zoneName === undefined) return ts
  const zone = zoneArgument(fn, zoneName)!
  return ts + zone.offsetAt(ts)
}

export const TRUNC_UNITS = ['second', 'minute', 'hour', 'day', 'week', 'month', 'year'] as const

const FIXED_UNITS: Readonly<Record<string, number>> = {
  second: MS_PER_SECOND,
  minute: MS_PER_MINUTE,
  hour: MS_PER_HOUR,
  day: MS_PER_DAY,
}

/** `local` (epoch milliseconds read as local wall-clock time) rounded down to the start of `unit`. */
function truncateLocal(unit: string, local: number): number {
  const size = FIXED_UNITS[unit]
  if (size !== undefined) return floorDiv(local, size) * size
  const days = floorDiv(local, MS_PER_DAY)
  if (unit === 'week') {
    // ISO weeks start on Monday; 1970-01-01 was a Thursday (3 days after a Monday).
    const sinceMonday = (((days + 3) % 7) + 7) % 7
    return (days - sinceMonday) * MS_PER_DAY
  }
  const { year, month } = civilFromDays(days)
  if (unit === 'month') return daysFromCivil(year, month, 1) * MS_PER_DAY
  if (unit === 'year') return daysFromCivil(year, 1, 1) * MS_PER_DAY
  return fail(
    `date_trunc: ${JSON.stringify(unit)} is not a unit: use ${TRUNC_UNITS.map((u) => `"${u}"`).join(', ')}`,
  )
}

export function dateTrunc(unit: string, ts: number, zoneName?: string): number {
  const zone = zoneArgument('date_trunc', zoneName)
  if (zone === null) return truncateLocal(unit, ts)
  return fromLocal(zone, truncateLocal(unit, ts + zone.offsetAt(ts)))
}

function patternArgument(fn: string, pattern: string) {
  const compiled = compilePattern(pattern)
  if (typeof compiled === 'string') fail(`${fn}: ${JSON.stringify(pattern)} is not a pattern: ${compiled}`)
  return compiled
}

const UTC: TimeZone = { offsetAt: () => 0 }

export function formatTime(ts: number, pattern: string, zoneName?: string): string {
  const compiled = patternArgument('format_time', pattern)
  return formatWithPattern(ts, compiled, zoneArgument('format_time', zoneName) ?? UTC)
}

export function parseTime(text: string, pattern: string, zoneName?: string): number | null {
  const compiled = patternArgument('parse_time', pattern)
  return parseWithPattern(text, compiled, zoneArgument('parse_time', zoneName) ?? UTC)
}

function checkedTimestamp(fn: string, value: unknown, ms: number): number {
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIMESTAMP_MS)
    fail(`${fn}: ${String(value)} is outside the timestamp range (±8.64e15 ms from 1970)`)
  // `+ 0` turns -0 into 0.
  return ms + 0
}

/** Seconds since the epoch (an f64 may have a fraction) to the nearest millisecond. */
export function fromEpochSeconds(seconds: number): number {
  return checkedTimestamp('from_epoch_seconds', seconds, Math.round(seconds * 1000))
}

export function fromEpochMillis(millis: number): number {
  return checkedTimestamp('from_epoch_millis', millis, millis)
}

/** Microseconds since the epoch, rounded down to the millisecond (as date_trunc rounds). */
export function fromEpochMicros(micros: number): number {
  return checkedTimestamp('from_epoch_micros', micros, Math.floor(micros / 1000))
}

export function toEpochSeconds(ts: number): number {
  return floorDiv(ts, MS_PER_SECOND)
}

export function toEpochMicros(ts: number): number {
  const micros = ts * 1000
  if (!Number.isSafeInteger(micros))
    fail(`to_epoch_micros: ${new Date(ts).toISOString()} in microseconds is outside the i64 range ±(2^53−1)`)
  return micros + 0
}

/** Processing time: the clock of the environment (environment.ts), in whole milliseconds. */
export function now(): number {
  return Math.floor(environment().now())
}
