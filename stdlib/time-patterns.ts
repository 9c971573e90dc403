/**
 * Date-time patterns of `format_time` and `parse_time`: a documented subset of the java.time /
 * Unicode letters (specs/language.md §12, "Date-time patterns"). A pattern is compiled once into
 * fields and literal text and cached, since calls mostly pass a literal.
 */
import {
  civilFromDays,
  daysFromCivil,
  daysInMonth,
  floorDiv,
  MS_PER_DAY,
  MS_PER_HOUR,
  MS_PER_MINUTE,
} from './time.ts'
import { fromLocal, type TimeZone } from './time-zones.ts'

type Field =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'field'; readonly letter: string; readonly count: number }

export type CompiledPattern = readonly Field[]

/** The counts each letter allows (the field `yy` is two `y`s). */
const LETTERS: Readonly<Record<string, readonly number[]>> = {
  y: [2, 4],
  M: [1, 2, 3, 4],
  d: [1, 2],
  H: [1, 2],
  h: [1, 2],
  m: [1, 2],
  s: [1, 2],
  S: [1, 2, 3, 4, 5, 6, 7, 8, 9],
  a: [1],
  E: [3, 4],
  X: [1, 2, 3],
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
]
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']

const MAX_TIMESTAMP_MS = 8.64e15
const CACHE_LIMIT = 256
const cache = new Map<string, CompiledPattern | string>()

/** The compiled pattern, or the reason it is not one (a message naming the fault). */
export function compilePattern(pattern: string): CompiledPattern | string {
  let compiled = cache.get(pattern)
  if (compiled === undefined) {
    compiled = compile(pattern)
    // Patterns built at run time could be endless; the cache only remembers a few.
    if (cache.size >= CACHE_LIMIT) cache.clear()
    cache.set(pattern, compiled)
  }
  return compiled
}

function compile(pattern: string): CompiledPattern | string {
  const fields: Field[] = []
  let literal = ''
  let i = 0
  while (i < pattern.length) {
    const c = pattern[i]!
    if (c === "'") {
      // `''` is a quote; `'text'` is literal text, in which `''` is a quote too.
      if (pattern[i + 1] === "'") {
        literal += "'"
        i += 2
        continue
      }
      let j = i + 1
      for (;;) {
        if (j >= pattern.length) return `the quote at position ${i + 1} of the pattern is not closed`
        if (pattern[j] === "'") {
          if (pattern[j + 1] === "'") {
            literal += "'"
            j += 2
            continue
          }
          break
        }
        literal += pattern[j]
        j++
      }
      i = j + 1
      continue
    }
    if (!/[A-Za-z]/.test(c)) {
      literal += c
      i++
      continue
    }
    let count = 1
    while (pattern[i + count] === c) count++
    const allowed = LETTERS[c]
    if (allowed === undefined) {
      return `\`${c}\` is not a pattern letter (letters: y M d H h m s S a E X; quote other text: '…')`
    }
    if (!allowed.includes(count)) {
      return `\`${c.repeat(count)}\` is not a pattern field: \`${c}\` comes as ${allowed.map((n) => c.repeat(n)).join(', ')}`
    }
    if (literal !== '') fields.push({ kind: 'literal', text: literal })
    literal = ''
    fields.push({ kind: 'field', letter: c, count })
    i += count
  }
  if (literal !== '') fields.push({ kind: 'literal', text: literal })
  return fields
}

function pad(value: number, width: number): string {
  return value < 0 ? `-${String(-value).padStart(width, '0')}` : String(value).padStart(width, '0')
}

function formatOffset(offsetMs: number, count: number): string {
  if (offsetMs === 0) return 'Z'
  const sign = offsetMs < 0 ? '-' : '+'
  const minutes = Math.floor(Math.abs(offsetMs) / MS_PER_MINUTE)
  const hh = pad(Math.floor(minutes / 60), 2)
  const mm = pad(minutes % 60, 2)
  return count === 1
    ? `${sign}${hh}${mm === '00' ? '' : mm}`
    : count === 2
      ? `${sign}${hh}${mm}`
      : `${sign}${hh}:${mm}`
}

/** The instant `ts` written with `pattern` in `zone`. */
export function formatWithPattern(ts: number, pattern: CompiledPattern, zone: TimeZone): string {
  const offset = zone.offsetAt(ts)
  const local = ts + offset
  const days = floorDiv(local, MS_PER_DAY)
  const { year, month, day } = civilFromDays(days)
  const msOfDay = local - days * MS_PER_DAY
  const hour = Math.floor(msOfDay / MS_PER_HOUR)
  const minute = Math.floor((msOfDay % MS_PER_HOUR) / MS_PER_MINUTE)
  const second = Math.floor((msOfDay % MS_PER_MINUTE) / 1000)
  const millis = msOfDay % 1000
  let out = ''
  for (const field of pattern) {
    if (field.kind === 'literal') {
      out += field.text
      continue
    }
    const n = field.count
    switch (field.letter) {
      case 'y':
        out += n === 2 ? pad(((year % 100) + 100) % 100, 2) : pad(year, 4)
        break
      case 'M':
        out += n >= 3 ? (n === 3 ? MONTHS[month - 1]!.slice(0, 3) : MONTHS[month - 1]!) : pad(month, n)
        break
      case 'd':
        out += pad(day, n)
        break
      case 'H':
        out += pad(hour, n)
        break
      case 'h':
        out += pad(hour % 12 === 0 ? 12 : hour % 12, n)
        break
      case 'm':
        out += pad(minute, n)
        break
      case 's':
        out += pad(second, n)
        break
      case 'S':
        out += pad(millis, 3).padEnd(n, '0').slice(0, n)
        break
      case 'a':
        out += hour < 12 ? 'AM' : 'PM'
        break
      case 'E': {
        const name = DAYS[(((days + 3) % 7) + 7) % 7]!
        out += n === 3 ? name.slice(0, 3) : name
        break
      }
      case 'X':
        out += formatOffset(offset, n)
        break
    }
  }
  return out
}

/** Reads `text` with `pattern`; null when it does not match the whole text or names no instant. */
export function parseWithPattern(text: string, pattern: CompiledPattern, zone: TimeZone): number | null {
  let year = 1970
  let month = 1
  let day = 1
  let hour = 0
  let hour12: number | null = null
  let pm: boolean | null = null
  let minute = 0
  let second = 0
  let millis = 0
  let offset: number | null = null
  let at = 0
  const digits = (min: number, max: number): number | null => {
    let end = at
    while (end < text.length && end - at < max && text.charCodeAt(end) >= 48 && text.charCodeAt(end) <= 57)
      end++
    if (end - at < min) return null
    const value = Number(text.slice(at, end))
    at = end
    return value
  }
  const word = (names: readonly string[]): number | null => {
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      if (text.slice(at, at + name.length).toLowerCase() === name.toLowerCase()) {
        at += name.length
        return i
      }
    }
    return null
  }
  for (const field of pattern) {
    if (field.kind === 'literal') {
      if (!text.startsWith(field.text, at)) return null
      at += field.text.length
      continue
    }
    const n = field.count
    let value: number | null
    switch (field.letter) {
      case 'y':
        value = digits(n, n)
        if (value !== null) year = n === 2 ? 2000 + value : value
        break
      case 'M':
        value = n >= 3 ? word(n === 3 ? MONTHS.map((m) => m.slice(0, 3)) : MONTHS) : digits(n, 2)
        if (value !== null) month = n >= 3 ? value + 1 : value
        break
      case 'd':
        value = digits(n, 2)
        if (value !== null) day = value
        break
      case 'H':
        value = digits(n, 2)
        if (value !== null) hour = value
        break
      case 'h':
        value = digits(n, 2)
        if (value !== null) hour12 = value
        break
      case 'm':
        value = digits(n, 2)
        if (value !== null) minute = value
        break
      case 's':
        value = digits(n, 2)
        if (value !== null) second = value
        break
      case 'S': {
        const start = at
        value = digits(n, n)
        if (value !== null) millis = Number(text.slice(start, start + 3).padEnd(3, '0'))
        break
      }
      case 'a':
        value = word(['AM', 'PM'])
        if (value !== null) pm = value === 1
        break
      case 'E':
        // The day's name is read and not checked against the date.
        value = word(n === 3 ? DAYS.map((d) => d.slice(0, 3)) : DAYS)
        break
      case 'X':
        value = readOffset(n)
        if (value !== null) offset = value
        break
      default:
        value = null
    }
    if (value === null) return null
  }
  if (at !== text.length) return null
  if (hour12 !== null) {
    if (hour12 < 1 || hour12 > 12) return null
    hour = (hour12 % 12) + (pm === true ? 12 : 0)
  } else if (pm !== null && hour < 12 && pm) {
    hour += 12
  }
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null
  if (hour > 23 || minute > 59 || second > 59) return null
  const local =
    daysFromCivil(year, month, day) * MS_PER_DAY +
    hour * MS_PER_HOUR +
    minute * MS_PER_MINUTE +
    second * 1000 +
    millis
  const result = offset === null ? fromLocal(zone, local) : local - offset
  return Math.abs(result) <= MAX_TIMESTAMP_MS ? result : null

  function readOffset(count: number): number | null {
    if (text[at] === 'Z') {
      at++
      return 0
    }
    const sign = text[at] === '+' ? 1 : text[at] === '-' ? -1 : 0
    if (sign === 0) return null
    at++
    const hh = digits(2, 2)
    if (hh === null || hh > 23) return null
    let mm = 0
    if (count === 3) {
      if (text[at] !== ':') return null
      at++
      const m = digits(2, 2)
      if (m === null) return null
      mm = m
    } else if (count === 2 || (count === 1 && /^\d\d/.test(text.slice(at, at + 2)))) {
      const m = digits(2, 2)
      if (m === null) return null
      mm = m
    }
    if (mm > 59) return null
    return sign * (hh * MS_PER_HOUR + mm * MS_PER_MINUTE)
  }
}
