/**
 * The ISO-8601 text of a timestamp, as `new Date(ms).toISOString()` writes it, computed by
 * arithmetic: encoders format every timestamp they write, and a Date per timestamp was the
 * largest cost of encoding a record with one. TypeScript text, emitted once per generated module
 * (inside `instantiate`, after MAX_TIMESTAMP_MS); codegen.test.ts checks it against toISOString
 * over the whole range of a Date.
 *
 * The calendar date comes from the day number by Howard Hinnant's `civil_from_days` (proleptic
 * Gregorian, exact for every day a Date can hold); the last day's date text is kept, since the
 * timestamps of one batch mostly fall on the same day. Years 0000-9999 have four digits, the rest
 * a sign and six, as toISOString writes them.
 */
export const ISO_TIMESTAMP = `
  const TWO_DIGITS: string[] = []
  for (let i = 0; i < 100; i++) TWO_DIGITS.push(i < 10 ? '0' + i : '' + i)
  const THREE_DIGITS: string[] = []
  for (let i = 0; i < 1000; i++) THREE_DIGITS.push(i < 10 ? '00' + i : i < 100 ? '0' + i : '' + i)
  const MS_PER_DAY = 86_400_000
  let cachedDay = Number.NaN
  let cachedDate = ''
  /** 'YYYY-MM-DDT' of a day number (days since 1970-01-01). */
  function isoDate(day: number): string {
    const z = day + 719_468
    const era = Math.floor(z / 146_097)
    const dayOfEra = z - era * 146_097
    const yearOfEra = Math.floor(
      (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
    )
    const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100))
    const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153) // 0 = March
    const dayOfMonth = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1
    const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
    const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    const yearText =
      year >= 0 && year <= 9999
        ? THREE_DIGITS[Math.floor(year / 10)]! + (year % 10)
        : (year < 0 ? '-' : '+') + ('00000' + Math.abs(year)).slice(-6)
    return yearText + '-' + TWO_DIGITS[month]! + '-' + TWO_DIGITS[dayOfMonth]! + 'T'
  }
  function isoTimestamp(ms: number): string {
    // What a Date does with its time value: out of range (or NaN) is invalid, fractions are cut.
    if (!(Math.abs(ms) <= MAX_TIMESTAMP_MS)) throw new RangeError('Invalid time value')
    const time = Math.trunc(ms)
    const day = Math.floor(time / MS_PER_DAY)
    if (day !== cachedDay) {
      cachedDate = isoDate(day)
      cachedDay = day
    }
    let rest = time - day * MS_PER_DAY
    const hour = Math.floor(rest / 3_600_000)
    rest -= hour * 3_600_000
    const minute = Math.floor(rest / 60_000)
    rest -= minute * 60_000
    const second = Math.floor(rest / 1000)
    return (
      cachedDate + TWO_DIGITS[hour]! + ':' + TWO_DIGITS[minute]! + ':' + TWO_DIGITS[second]! + '.' +
      THREE_DIGITS[rest - second * 1000]! + 'Z'
    )
  }
`
