/**
 * Time zones for the zone-aware time functions: a zone is `"UTC"`, a fixed offset `"+02:00"` /
 * `"-0530"`, or an IANA name (`"Europe/Paris"`) whose rules come from the ICU data of the Node.js
 * runtime (Intl). Local time is computed as epoch milliseconds shifted by the zone's offset at that
 * instant, so the UTC calendar arithmetic of time.ts applies to it.
 */
import { daysFromCivil, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE } from './time.ts'

export interface TimeZone {
  /** The zone's offset from UTC in milliseconds at the instant `utcMs` (positive east of Greenwich). */
  readonly offsetAt: (utcMs: number) => number
}

const FIXED_OFFSET = /^([+-])(\d{2}):?(\d{2})$/

const zones = new Map<string, TimeZone | null>()

/** The zone a name denotes, or null when it is neither UTC, a fixed offset nor an IANA zone. */
export function timeZone(name: string): TimeZone | null {
  let zone = zones.get(name)
  if (zone === undefined) {
    zone = resolve(name)
    // Only names that exist are cached: a stream of distinct invalid names must not grow the map.
    if (zone !== null) zones.set(name, zone)
  }
  return zone
}

/** Why `name` is not a zone, for a diagnostic or an evaluation error; null when it is one. */
export function invalidTimeZone(name: string): string | null {
  return timeZone(name) === null
    ? `${JSON.stringify(name)} is not a time zone: use an IANA name such as "Europe/Paris", "UTC", or an offset such as "+02:00"`
    : null
}

const UTC: TimeZone = { offsetAt: () => 0 }

function resolve(name: string): TimeZone | null {
  if (name === 'UTC' || name === 'Z') return UTC
  const fixed = FIXED_OFFSET.exec(name)
  if (fixed !== null) {
    const hours = Number(fixed[2])
    const minutes = Number(fixed[3])
    if (hours > 23 || minutes > 59) return null
    const offset = (fixed[1] === '-' ? -1 : 1) * (hours * MS_PER_HOUR + minutes * MS_PER_MINUTE)
    return { offsetAt: () => offset }
  }
  // Intl accepts only IANA names (and a few aliases); a name with characters no zone has is
  // refused before asking it, so that odd input never reaches ICU.
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(name)) return null
  let format: Intl.DateTimeFormat
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    })
  } catch {
    return null
  }
  return { offsetAt: hourlyCache((utcMs) => intlOffset(format, utcMs)) }
}

const HOURS_CACHED = 4096

/**
 * Asking Intl costs microseconds, and a stream's timestamps cluster: an hour of UTC whose first
 * and last second have one offset is remembered as having it throughout (no zone changes its
 * offset and back within an hour), so later calls in that hour cost a map lookup. An hour with a
 * change in it is asked about every time.
 */
function hourlyCache(offsetAt: (utcMs: number) => number): (utcMs: number) => number {
  const hours = new Map<number, number>()
  return (utcMs) => {
    const hour = Math.floor(utcMs / MS_PER_HOUR)
    const cached = hours.get(hour)
    if (cached !== undefined) return cached
    const start = offsetAt(hour * MS_PER_HOUR)
    if (offsetAt(hour * MS_PER_HOUR + MS_PER_HOUR - 1000) !== start) return offsetAt(utcMs)
    if (hours.size >= HOURS_CACHED) hours.clear()
    hours.set(hour, start)
    return start
  }
}

/** The offset Intl gives: the local wall-clock fields, read back as if UTC, minus the instant. */
function intlOffset(format: Intl.DateTimeFormat, utcMs: number): number {
  // Whole seconds: zones' offsets have been whole seconds since 1972 and LMT offsets are too.
  const second = Math.floor(utcMs / 1000) * 1000
  const fields: Record<string, string> = {}
  for (const part of format.formatToParts(second)) fields[part.type] = part.value
  let year = Number(fields.year)
  if (fields.era === 'BC' || fields.era === 'B') year = 1 - year
  // Calendar arithmetic, not Date.UTC: it maps years 0–99 to 1900–1999.
  const local =
    daysFromCivil(year, Number(fields.month), Number(fields.day)) * MS_PER_DAY +
    Number(fields.hour) * MS_PER_HOUR +
    Number(fields.minute) * MS_PER_MINUTE +
    Number(fields.second) * 1000
  return local - second
}

/** The local wall-clock time of an instant, as epoch milliseconds of the same fields in UTC. */
export function toLocal(zone: TimeZone, utcMs: number): number {
  return utcMs + zone.offsetAt(utcMs)
}

/**
 * The instant a local wall-clock time denotes in `zone`. A time that occurs twice (clocks turned
 * back) is the earlier instant; a time that does not occur (clocks turned forward) is moved forward
 * by the length of the gap, as java.time does (02:30 on a spring-forward night is 03:30).
 */
export function fromLocal(zone: TimeZone, localMs: number): number {
  // At most one transition is assumed within a day either side, which holds for every zone.
  const before = zone.offsetAt(localMs - MS_PER_DAY)
  const after = zone.offsetAt(localMs + MS_PER_DAY)
  const early = localMs - before
  if (before === after) {
    const offset = zone.offsetAt(early)
    return offset === before ? early : localMs - offset
  }
  const late = localMs - after
  const earlyValid = zone.offsetAt(early) === before
  const lateValid = zone.offsetAt(late) === after
  if (earlyValid && lateValid) return Math.min(early, late)
  if (lateValid) return late
  // In the gap (or only the earlier reading exists): the earlier offset, which moves it forward.
  return early
}
