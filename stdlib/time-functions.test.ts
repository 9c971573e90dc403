import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EvaluationError } from './eval-error.ts'
import { stdlib } from './index.ts'
import { compilePattern } from './time-patterns.ts'
import { fromLocal, timeZone } from './time-zones.ts'

function call(name: string, ...args: unknown[]): unknown {
  return (stdlib[name]!.impl as (...a: unknown[]) => unknown)(...args)
}

const ts = (iso: string) => Date.parse(iso)
const iso = (ms: unknown) => new Date(ms as number).toISOString()

describe('time zones', () => {
  it('knows IANA names, UTC and fixed offsets, and nothing else', () => {
    expect(timeZone('Europe/Paris')).not.toBeNull()
    expect(timeZone('UTC')!.offsetAt(0)).toBe(0)
    expect(timeZone('+05:30')!.offsetAt(0)).toBe(5.5 * 3_600_000)
    expect(timeZone('-0800')!.offsetAt(0)).toBe(-8 * 3_600_000)
    for (const bad of ['Mars/Olympus', '', '+25:00', 'Europe/Paris ', '../etc'])
      expect(timeZone(bad), bad).toBeNull()
  })

  it('gives the offsets of summer and winter time', () => {
    const paris = timeZone('Europe/Paris')!
    expect(paris.offsetAt(ts('2024-01-15T12:00:00Z'))).toBe(3_600_000)
    expect(paris.offsetAt(ts('2024-07-15T12:00:00Z'))).toBe(7_200_000)
    // The change happens at 01:00 UTC on the last Sunday of March.
    expect(paris.offsetAt(ts('2024-03-31T00:59:59Z'))).toBe(3_600_000)
    expect(paris.offsetAt(ts('2024-03-31T01:00:00Z'))).toBe(7_200_000)
  })

  it('agrees with the offset Intl names, also in cached hours and around changes', () => {
    const names = ['Europe/Paris', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu']
    const oracles = names.map(
      (name) => new Intl.DateTimeFormat('en-US', { timeZone: name, timeZoneName: 'longOffset' }),
    )
    const oracle = (i: number, t: number) => {
      const text = oracles[i]!.formatToParts(t).find((p) => p.type === 'timeZoneName')!.value
      const m = /^GMT(?:([+-])(\d\d):(\d\d))?$/.exec(text)!
      return m[1] === undefined ? 0 : (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000
    }
    const paris = ts('2024-03-31T01:00:00Z')
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: names.length - 1 }),
        fc.oneof(
          fc.integer({ min: ts('2020-01-01T00:00:00Z'), max: ts('2026-01-01T00:00:00Z') }),
          fc.integer({ min: paris - 7_200_000, max: paris + 7_200_000 }),
        ),
        (i, t) => {
          expect(timeZone(names[i]!)!.offsetAt(t)).toBe(oracle(i, t))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('reads a local time in a gap forward and in an overlap as the earlier instant', () => {
    const paris = timeZone('Europe/Paris')!
    // 02:30 does not exist on 2024-03-31 (02:00 → 03:00): it is 03:30 summer time.
    expect(iso(fromLocal(paris, ts('2024-03-31T02:30:00Z')))).toBe('2024-03-31T01:30:00.000Z')
    // 02:30 happens twice on 2024-10-27: the first, summer time.
    expect(iso(fromLocal(paris, ts('2024-10-27T02:30:00Z')))).toBe('2024-10-27T00:30:00.000Z')
    expect(iso(fromLocal(paris, ts('2024-10-27T03:30:00Z')))).toBe('2024-10-27T02:30:00.000Z')
  })

  it('local time read back gives the instant (outside the overlap hour)', () => {
    const zone = timeZone('America/New_York')!
    fc.assert(
      fc.property(fc.integer({ min: -2e12, max: 4e12 }), (ms) => {
        const local = ms + zone.offsetAt(ms)
        const back = fromLocal(zone, local)
        // In an overlap the earlier instant is chosen: back is then ms or one hour before it.
        expect([ms, ms - 3_600_000]).toContain(back)
        expect(back + zone.offsetAt(back)).toBe(local)
      }),
    )
  })
})

describe('date_trunc', () => {
  it('truncates to ISO weeks (Monday), months and years', () => {
    expect(iso(call('date_trunc', 'week', ts('2024-01-07T23:59:59Z')))).toBe('2024-01-01T00:00:00.000Z')
    expect(iso(call('date_trunc', 'week', ts('2024-01-08T00:00:00Z')))).toBe('2024-01-08T00:00:00.000Z')
    expect(iso(call('date_trunc', 'week', ts('1970-01-01T00:00:00Z')))).toBe('1969-12-29T00:00:00.000Z')
    expect(iso(call('date_trunc', 'month', ts('2024-02-29T12:00:00Z')))).toBe('2024-02-01T00:00:00.000Z')
    expect(iso(call('date_trunc', 'year', ts('1969-06-01T00:00:00Z')))).toBe('1969-01-01T00:00:00.000Z')
  })

  it('truncates in a time zone, at local midnight', () => {
    // 23:30 UTC on Feb 29 is 00:30 on March 1 in Paris.
    const t = ts('2024-02-29T23:30:00Z')
    expect(iso(call('date_trunc', 'day', t, 'Europe/Paris'))).toBe('2024-02-29T23:00:00.000Z')
    expect(iso(call('date_trunc', 'month', t, 'Europe/Paris'))).toBe('2024-02-29T23:00:00.000Z')
    expect(iso(call('date_trunc', 'month', t))).toBe('2024-02-01T00:00:00.000Z')
    // The day of a spring-forward change is 23 hours long, and starts at local midnight.
    expect(iso(call('date_trunc', 'day', ts('2024-03-31T20:00:00Z'), 'Europe/Paris'))).toBe(
      '2024-03-30T23:00:00.000Z',
    )
    expect(iso(call('date_trunc', 'hour', ts('2024-07-01T10:45:00Z'), 'Asia/Kolkata'))).toBe(
      '2024-07-01T10:30:00.000Z',
    )
    expect(() => call('date_trunc', 'day', 0, 'Nowhere')).toThrow(EvaluationError)
  })

  it('agrees with UTC truncation for the zone "UTC"', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -8.64e15, max: 8.64e15 }),
        fc.constantFrom('second', 'minute', 'hour', 'day', 'week', 'month', 'year'),
        (t, unit) => {
          expect(call('date_trunc', unit, t, 'UTC')).toBe(call('date_trunc', unit, t))
        },
      ),
    )
  })
})

describe('calendar fields in a zone', () => {
  it('reads the local hour, day and year', () => {
    const t = ts('2024-12-31T23:30:00Z')
    expect(call('hour', t, 'Asia/Tokyo')).toBe(8)
    expect(call('day_of_month', t, 'Asia/Tokyo')).toBe(1)
    expect(call('year', t, 'Asia/Tokyo')).toBe(2025)
    expect(call('month', t, 'America/Los_Angeles')).toBe(12)
    expect(call('minute', t, '+05:45')).toBe(15)
    expect(call('day_of_week', t, 'Asia/Tokyo')).toBe(3)
    expect(call('hour', t)).toBe(23)
  })
})

describe('patterns', () => {
  it('refuses unknown letters, unsupported counts and unclosed quotes', () => {
    expect(compilePattern('yyyy-MM-dd')).not.toBeTypeOf('string')
    expect(compilePattern("yyyy-MM-dd'T'HH:mm")).not.toBeTypeOf('string')
    expect(compilePattern('yyyy-QQ')).toMatch(/`Q` is not a pattern letter/)
    expect(compilePattern('yyy')).toMatch(/`yyy` is not a pattern field/)
    expect(compilePattern("HH 'o")).toMatch(/quote at position 4 .* not closed/)
  })

  it('formats every field', () => {
    const t = ts('2024-03-05T07:08:09.012Z')
    expect(call('format_time', t, 'yyyy-MM-dd HH:mm:ss.SSS')).toBe('2024-03-05 07:08:09.012')
    expect(call('format_time', t, 'yy M d H m s S')).toBe('24 3 5 7 8 9 0')
    expect(call('format_time', t, 'EEE EEEE MMM MMMM')).toBe('Tue Tuesday Mar March')
    expect(call('format_time', t, "hh:mm a 'at' X XX XXX ''")).toBe("07:08 AM at Z Z Z '")
    expect(call('format_time', t, 'h a XXX', 'America/New_York')).toBe('2 AM -05:00')
    expect(call('format_time', t, 'HH:mm X XX', '+05:30')).toBe('12:38 +0530 +0530')
    expect(call('format_time', t, 'SSSSSS')).toBe('012000')
    expect(() => call('format_time', t, 'yyyy', 'Nowhere')).toThrow(EvaluationError)
  })

  it('formats as toISOString does, and parses its own output back', () => {
    const pattern = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
    fc.assert(
      fc.property(
        fc.integer({ min: ts('0000-01-01T00:00:00Z'), max: ts('9999-12-31T23:59:59.999Z') }),
        (t) => {
          const text = call('format_time', t, pattern) as string
          expect(text.replace('Z', '')).toBe(new Date(t).toISOString().replace('Z', ''))
          expect(call('parse_time', text, pattern)).toBe(t)
          // Before 1911 Paris was 9 min 21 s ahead, which an offset in minutes cannot write; yyyy
          // reads four digits, not the year 10000 the last hours of 9999 are in Paris.
          if (t >= ts('1912-01-01T00:00:00Z') && t < ts('9999-12-31T00:00:00Z')) {
            const paris = call('format_time', t, pattern, 'Europe/Paris') as string
            expect(call('parse_time', paris, pattern)).toBe(t)
          }
        },
      ),
    )
  })

  it('parses with a zone, an offset in the text, or defaults', () => {
    expect(iso(call('parse_time', '2024-07-01 12:00', 'yyyy-MM-dd HH:mm', 'Europe/Paris'))).toBe(
      '2024-07-01T10:00:00.000Z',
    )
    expect(iso(call('parse_time', '10/Oct/2000:13:55:36 -0700', 'dd/MMM/yyyy:HH:mm:ss XX'))).toBe(
      '2000-10-10T20:55:36.000Z',
    )
    expect(iso(call('parse_time', '1:05 pm', 'h:mm a'))).toBe('1970-01-01T13:05:00.000Z')
    expect(iso(call('parse_time', '12:05 AM', 'hh:mm a'))).toBe('1970-01-01T00:05:00.000Z')
    expect(iso(call('parse_time', '5 March 24', 'd MMMM yy'))).toBe('2024-03-05T00:00:00.000Z')
  })

  it('gives null for text that does not match or names no date', () => {
    for (const text of ['2024-02-30', '2024-13-01', '2024-1-01', '2024-01-01 ', 'x2024-01-01', '2024-01-0']) {
      expect(call('parse_time', text, 'yyyy-MM-dd'), text).toBeNull()
    }
    expect(call('parse_time', '24:00', 'HH:mm')).toBeNull()
    expect(call('parse_time', '13 PM', 'h a')).toBeNull()
  })
})

describe('epoch conversions', () => {
  it('converts seconds, milliseconds and microseconds both ways', () => {
    expect(call('from_epoch_seconds', 1_700_000_000)).toBe(1_700_000_000_000)
    expect(call('from_epoch_seconds', 1.001)).toBe(1001)
    expect(call('from_epoch_seconds', -0.0001)).toBe(0)
    expect(Object.is(call('from_epoch_seconds', -0.0001), -0)).toBe(false)
    expect(call('from_epoch_millis', -5)).toBe(-5)
    expect(call('from_epoch_micros', 1_999)).toBe(1)
    expect(call('from_epoch_micros', -1)).toBe(-1)
    expect(call('to_epoch_seconds', 1999)).toBe(1)
    expect(call('to_epoch_seconds', -1)).toBe(-1)
    expect(call('to_epoch_millis', 42)).toBe(42)
    expect(call('to_epoch_micros', -42)).toBe(-42_000)
  })

  it('refuses values outside the timestamp range', () => {
    expect(() => call('from_epoch_seconds', 8.64e12 + 1)).toThrow(/outside the timestamp range/)
    expect(() => call('from_epoch_seconds', Number.POSITIVE_INFINITY)).toThrow(EvaluationError)
    expect(() => call('from_epoch_millis', -8.64e15 - 1)).toThrow(EvaluationError)
    expect(() => call('to_epoch_micros', 9.1e12)).toThrow(/outside the i64 range/)
  })
})
