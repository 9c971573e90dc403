import { describe, expect, it } from 'vitest'
import { EvaluationError } from './eval-error.ts'
import { type StdlibFunction, stdlib } from './index.ts'
import { parseIsoTimestamp } from './time.ts'
import type { LibType } from './types.ts'

function fn(name: string): StdlibFunction {
  const f = stdlib[name]
  if (!f) throw new Error(`no stdlib function ${name}`)
  return f
}

/** Calls an impl the way generated code does, including the null-propagation rule. */
function call(name: string, ...args: unknown[]): unknown {
  const f = fn(name)
  if (f.nullPropagating && args.some((a) => a === null)) return null
  return (f.impl as (...a: unknown[]) => unknown)(...args)
}

const T = (kind: string): LibType => ({ kind }) as LibType
const sig = (name: string, ...types: LibType[]) => fn(name).signature(types.map((type) => ({ type })))
const ts = (iso: string): number => Date.parse(iso)

describe('strings', () => {
  it('lower, upper, trim, len', () => {
    expect(call('lower', 'ÄbC')).toBe('äbc')
    expect(call('upper', 'straße')).toBe('STRASSE')
    expect(call('trim', '  a b \n')).toBe('a b')
    expect(call('len', 'héllo')).toBe(5)
    expect(call('len', '😀')).toBe(2)
    expect(call('len', ['a', 'b'])).toBe(2)
    expect(call('len', null)).toBe(null)
  })

  it('concat, contains, starts_with, ends_with', () => {
    expect(call('concat', 'a', 'b', 'c')).toBe('abc')
    expect(call('concat', 'a', null)).toBe(null)
    expect(call('contains', 'payment', 'ym')).toBe(true)
    expect(call('contains', ['a', 'b'], 'c')).toBe(false)
    expect(call('contains', [1, 2], 2)).toBe(true)
    expect(call('starts_with', 'abc', 'ab')).toBe(true)
    expect(call('ends_with', 'abc', 'ab')).toBe(false)
  })

  it('substr clamps at the end and rejects negative positions', () => {
    expect(call('substr', 'abcdef', 1, 3)).toBe('bcd')
    expect(call('substr', 'abc', 2, 10)).toBe('c')
    expect(call('substr', 'abc', 5, 1)).toBe('')
    expect(() => call('substr', 'abc', -1, 1)).toThrow(EvaluationError)
    expect(() => call('substr', 'abc', 0, -1)).toThrow(EvaluationError)
  })

  it('replace replaces every occurrence literally; split', () => {
    expect(call('replace', 'a.b.c', '.', '$&')).toBe('a$&b$&c')
    expect(call('replace', 'abc', '', 'x')).toBe('abc')
    expect(call('split', 'a,b,,c', ',')).toEqual(['a', 'b', '', 'c'])
    expect(call('split', 'ab', '')).toEqual(['a', 'b'])
  })
})

describe('numbers', () => {
  it('abs, round (half away from zero), floor, ceil, sqrt', () => {
    expect(call('abs', -3)).toBe(3)
    expect(call('round', 2.5)).toBe(3)
    expect(call('round', -2.5)).toBe(-3)
    expect(call('round', -2.4)).toBe(-2)
    expect(call('floor', -1.5)).toBe(-2)
    expect(call('ceil', 1.2)).toBe(2)
    expect(call('sqrt', 9)).toBe(3)
    expect(() => call('sqrt', -1)).toThrow(EvaluationError)
  })

  it('min, max', () => {
    expect(call('min', 3, 1.5)).toBe(1.5)
    expect(call('max', 3, 1.5)).toBe(3)
    expect(call('max', null, 1)).toBe(null)
  })

  it('to_i64 truncates toward zero and rejects non-finite or unsafe values', () => {
    expect(call('to_i64', 2.9)).toBe(2)
    expect(call('to_i64', -2.9)).toBe(-2)
    expect(Object.is(call('to_i64', -0.5), 0)).toBe(true)
    expect(() => call('to_i64', Number.NaN)).toThrow(EvaluationError)
    expect(() => call('to_i64', Number.POSITIVE_INFINITY)).toThrow(EvaluationError)
    expect(() => call('to_i64', 2 ** 53)).toThrow(EvaluationError)
    expect(call('to_f64', 3)).toBe(3)
  })

  it('to_string, parse_i64, parse_f64', () => {
    expect(call('to_string', 1.5)).toBe('1.5')
    expect(call('to_string', true)).toBe('true')
    expect(call('parse_i64', '-42')).toBe(-42)
    expect(call('parse_i64', '4.2')).toBe(null)
    expect(call('parse_i64', ' 1')).toBe(null)
    expect(call('parse_i64', '9007199254740993')).toBe(null)
    expect(call('parse_f64', '-1.5e3')).toBe(-1500)
    expect(call('parse_f64', '.5')).toBe(0.5)
    expect(call('parse_f64', 'NaN')).toBe(null)
    expect(call('parse_f64', '')).toBe(null)
  })
})

describe('time (UTC)', () => {
  const t = ts('2024-03-10T17:45:30.123Z') // a Sunday

  it('hour, minute, day_of_week, day_of_month, month, year', () => {
    expect(call('hour', t)).toBe(17)
    expect(call('minute', t)).toBe(45)
    expect(call('day_of_week', t)).toBe(7)
    expect(call('day_of_week', ts('2024-03-11T00:00:00Z'))).toBe(1)
    expect(call('day_of_week', 0)).toBe(4)
    expect(call('day_of_month', t)).toBe(10)
    expect(call('month', t)).toBe(3)
    expect(call('year', t)).toBe(2024)
  })

  it('agrees with Date for times before the epoch and on leap days', () => {
    for (const iso of [
      '1969-12-31T23:59:59.999Z',
      '1900-02-28T01:02:03Z',
      '2000-02-29T12:00:00Z',
      '2100-12-31T23:00:00Z',
    ]) {
      const d = new Date(iso)
      const ms = d.getTime()
      expect(call('year', ms), iso).toBe(d.getUTCFullYear())
      expect(call('month', ms), iso).toBe(d.getUTCMonth() + 1)
      expect(call('day_of_month', ms), iso).toBe(d.getUTCDate())
      expect(call('hour', ms), iso).toBe(d.getUTCHours())
      expect(call('minute', ms), iso).toBe(d.getUTCMinutes())
      expect(call('day_of_week', ms), iso).toBe(((d.getUTCDay() + 6) % 7) + 1)
    }
  })

  it('date_trunc, format_ts, millis, to_duration_ms', () => {
    expect(call('date_trunc', 'hour', t)).toBe(ts('2024-03-10T17:00:00Z'))
    expect(call('date_trunc', 'day', t)).toBe(ts('2024-03-10T00:00:00Z'))
    expect(call('date_trunc', 'minute', -1)).toBe(-60_000)
    expect(() => call('date_trunc', 'fortnight', t)).toThrow(EvaluationError)
    expect(call('format_ts', t)).toBe('2024-03-10T17:45:30.123Z')
    expect(() => call('format_ts', 1e20)).toThrow(EvaluationError)
    expect(call('millis', 5000)).toBe(5000)
    expect(call('to_duration_ms', 250)).toBe(250)
  })

  it('parse_ts accepts ISO-8601 with a zone or a bare date, and rejects the rest', () => {
    expect(call('parse_ts', '2024-03-10T17:45:30.123Z')).toBe(t)
    expect(call('parse_ts', '2024-03-10T19:45:30.123456+02:00')).toBe(t)
    expect(call('parse_ts', '2024-03-10')).toBe(ts('2024-03-10T00:00:00Z'))
    expect(call('parse_ts', '2024-03-10T17:45:30')).toBe(null)
    expect(call('parse_ts', '2024-02-30')).toBe(null)
    expect(call('parse_ts', '2023-02-29')).toBe(null)
    expect(call('parse_ts', '2024-01-01T24:00:00Z')).toBe(null)
    expect(call('parse_ts', 'yesterday')).toBe(null)
    expect(parseIsoTimestamp('1969-12-31T23:59:59.999Z')).toBe(-1)
  })
})

describe('coalesce', () => {
  it('returns the first non-null argument and is not null-propagating', () => {
    expect(fn('coalesce').nullPropagating).toBe(false)
    expect(call('coalesce', null, null, 3)).toBe(3)
    expect(call('coalesce', null, null)).toBe(null)
    expect(call('coalesce', 0, 1)).toBe(0)
  })
})

describe('signatures', () => {
  const opt = (of: LibType): LibType => ({ kind: 'optional', of })

  it('type results, keep integer results integral and report arity and argument errors', () => {
    expect(sig('abs', T('i64'))).toEqual({ ok: true, type: T('i64') })
    expect(sig('min', T('i64'), T('f64'))).toEqual({ ok: true, type: T('f64') })
    expect(sig('split', T('string'), T('string'))).toEqual({
      ok: true,
      type: { kind: 'list', of: T('string') },
    })
    expect(sig('parse_ts', T('string'))).toEqual({ ok: true, type: opt(T('timestamp')) })
    expect(sig('len', { kind: 'list', of: T('i64') })).toEqual({ ok: true, type: T('i64') })
    expect(sig('hour', T('string'))).toMatchObject({ ok: false, argIndex: 0 })
    expect(sig('substr', T('string'))).toMatchObject({ ok: false, arity: true })
    expect(sig('contains', { kind: 'list', of: T('string') }, T('i64'))).toMatchObject({
      ok: false,
      argIndex: 1,
    })
    expect(sig('to_string', T('timestamp'))).toMatchObject({ ok: false })
  })

  it('date_trunc needs a literal unit', () => {
    const f = fn('date_trunc')
    expect(f.signature([{ type: T('string'), literal: 'hour' }, { type: T('timestamp') }]).ok).toBe(true)
    expect(f.signature([{ type: T('string') }, { type: T('timestamp') }]).ok).toBe(false)
    expect(f.signature([{ type: T('string'), literal: 'fortnight' }, { type: T('timestamp') }]).ok).toBe(
      false,
    )
  })

  it('coalesce unifies its arguments and is non-null when any argument is', () => {
    expect(sig('coalesce', opt(T('string')), T('string'))).toEqual({ ok: true, type: T('string') })
    expect(sig('coalesce', opt(T('i64')), opt(T('f64')))).toEqual({ ok: true, type: opt(T('f64')) })
    expect(sig('coalesce', T('null'), T('i64'))).toEqual({ ok: true, type: T('i64') })
    expect(sig('coalesce', opt(T('string')), T('i64'))).toMatchObject({ ok: false, argIndex: 1 })
    expect(sig('coalesce', T('i64'))).toMatchObject({ ok: false, arity: true })
  })

  it('every function has a name matching its key, a doc and a usage line', () => {
    for (const [key, f] of Object.entries(stdlib)) {
      expect(f.name).toBe(key)
      expect(f.doc.length).toBeGreaterThan(10)
      expect(f.usage.startsWith(`${key}(`)).toBe(true)
    }
  })
})

describe('mayFail', () => {
  /** One failing call of each function marked mayFail: the mark is never a guess. */
  const FAILING_CALLS: Readonly<Record<string, readonly unknown[]>> = {
    substr: ['abc', -1, 1],
    regex_match: ['a', '('],
    regex_extract: ['a', 'a', 1],
    regex_replace: ['a', '[', ''],
    sqrt: [-1],
    to_i64: [Number.NaN],
    date_trunc: ['fortnight', 0],
    format_ts: [9e15],
    hour: [0, 'Mars/Olympus'],
    minute: [0, 'Mars/Olympus'],
    day_of_week: [0, 'Mars/Olympus'],
    day_of_month: [0, 'Mars/Olympus'],
    month: [0, 'Mars/Olympus'],
    year: [0, 'Mars/Olympus'],
    format_time: [0, 'yyyy Q'],
    parse_time: ['2024', 'yyyy', 'Nowhere/City'],
    from_epoch_seconds: [Number.NaN],
    from_epoch_millis: [9e15],
    from_epoch_micros: [9e18],
    to_epoch_micros: [8.64e15],
    lpad: ['a', 2_000_000, ' '],
    rpad: ['a', 2_000_000, ' '],
    sha256: ['\ud800'],
    hash: ['\ud800'],
    base64_encode: ['\udc00'],
    base64_decode: ['not base64!'],
    url_encode: ['\ud800'],
    url_decode: ['%zz'],
    uuid_v5: ['not-a-uuid', 'x'],
    parse_json: ['{', (value: unknown) => value],
    to_json: [
      1,
      () => {
        throw new RangeError('no')
      },
    ],
  }

  it('is set on every function whose impl calls fail(…)', () => {
    for (const f of Object.values(stdlib)) {
      const source = Function.prototype.toString.call(f.impl)
      if (/\bfail\(/.test(source)) expect(f.mayFail, `${f.name}: ${source}`).toBe(true)
    }
  })

  it('is set exactly on the functions with a failing example, and each of them does fail', () => {
    const marked = Object.values(stdlib)
      .filter((f) => f.mayFail)
      .map((f) => f.name)
    expect(marked.sort()).toEqual(Object.keys(FAILING_CALLS).sort())
    for (const [name, args] of Object.entries(FAILING_CALLS)) {
      expect(() => call(name, ...args), name).toThrow(EvaluationError)
    }
  })
})
