/**
 * Prometheus naming rules, checked when a metric is registered so that a name promtool rejects
 * cannot reach a release. Two kinds of rule:
 * - syntax (`metricNameSyntaxError`, `labelNameSyntaxError`): a name Prometheus cannot parse or
 *   reserves for itself; the registry refuses it.
 * - conventions (`metricNameProblems`): what `promtool check metrics` lints (base units, `_total`
 *   only on counters, snake_case, no abbreviated units, no type in the name, no reserved
 *   suffixes). The registry records these and `MetricsRegistry.lint()` lists them; the tests lint
 *   a registry holding every metric the runtime defines, with this code and with promtool.
 * The convention rules and their messages follow promtool's linter (prometheus/client_golang
 * `testutil/promlint`, as shipped in promtool 2.42) so a failure here reads like promtool's.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram'

const METRIC_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** Why `name` cannot be a metric name at all, or null. Colons are reserved for recording rules. */
export function metricNameSyntaxError(name: string): string | null {
  if (!METRIC_NAME.test(name))
    return `"${name}" is not a valid metric name: use letters, digits and underscores, not starting with a digit (colons are reserved for recording rules)`
  if (name.startsWith('__'))
    return `"${name}" is not a valid metric name: names starting with "__" are reserved`
  return null
}

/** Why `name` cannot be a label name of a metric of `type`, or null. */
export function labelNameSyntaxError(name: string, type: MetricType): string | null {
  if (!LABEL_NAME.test(name))
    return `"${name}" is not a valid label name: use letters, digits and underscores, not starting with a digit`
  if (name.startsWith('__'))
    return `"${name}" is not a valid label name: names starting with "__" are reserved`
  if (type === 'histogram' && name === 'le')
    return '"le" is not a valid label name for a histogram: Prometheus uses it for the bucket bound'
  if (name === 'quantile') return '"quantile" is reserved for summaries'
  return null
}

/** Problems promtool's linter reports for the label name `name`, in its words. */
export function labelNameProblems(name: string, type: MetricType): string[] {
  const problems: string[] = []
  if (CAMEL_CASE.test(name)) problems.push("label names should be written in 'snake_case' not 'camelCase'")
  if (type !== 'histogram' && name === 'le') problems.push('non-histogram metrics should not have "le" label')
  return problems
}

// promlint's units, each with the base unit to use instead (a base unit maps to itself).
const UNITS: Readonly<Record<string, string>> = {
  amperes: 'amperes',
  bytes: 'bytes',
  celsius: 'celsius',
  grams: 'grams',
  joules: 'joules',
  kelvin: 'kelvin',
  meters: 'meters',
  metres: 'metres',
  seconds: 'seconds',
  volts: 'volts',
  minutes: 'seconds',
  hours: 'seconds',
  days: 'seconds',
  weeks: 'seconds',
  bits: 'bytes',
  kilobytes: 'bytes',
  megabytes: 'bytes',
  gigabytes: 'bytes',
  terabytes: 'bytes',
  petabytes: 'bytes',
  fahrenheit: 'celsius',
  kilograms: 'grams',
}
const UNIT_PREFIXES = [
  'pico',
  'nano',
  'micro',
  'milli',
  'centi',
  'deci',
  'deca',
  'hecto',
  'kilo',
  'kibi',
  'mega',
  'mibi',
  'giga',
  'gibi',
  'tera',
  'tebi',
  'peta',
  'pebi',
]
const UNIT_ABBREVIATIONS = new Set([
  's',
  'ms',
  'us',
  'ns',
  'sec',
  'b',
  'kb',
  'mb',
  'gb',
  'tb',
  'pb',
  'm',
  'h',
  'd',
])

/** Problems promtool's linter reports for a metric `name` of `type` with help `help`, in its words. */
export function metricNameProblems(name: string, type: MetricType, help: string): string[] {
  const problems: string[] = []
  if (help.trim() === '') problems.push('no help text')
  const unit = firstUnit(name)
  if (unit && unit.word !== unit.base) problems.push(`use base unit "${unit.base}" instead of "${unit.word}"`)
  if (type === 'counter' && !name.endsWith('_total'))
    problems.push('counter metrics should have "_total" suffix')
  if (type !== 'counter' && name.endsWith('_total'))
    problems.push('non-counter metrics should not have "_total" suffix')
  if (type !== 'histogram') {
    if (name.endsWith('_bucket')) problems.push('non-histogram metrics should not have "_bucket" suffix')
    if (name.endsWith('_count'))
      problems.push('non-histogram and non-summary metrics should not have "_count" suffix')
    if (name.endsWith('_sum'))
      problems.push('non-histogram and non-summary metrics should not have "_sum" suffix')
  }
  const lower = name.toLowerCase()
  if (hasWord(lower, type)) problems.push(`metric name should not include type '${type}'`)
  if (CAMEL_CASE.test(name)) problems.push("metric names should be written in 'snake_case' not 'camelCase'")
  if ([...UNIT_ABBREVIATIONS].some((abbreviation) => hasWord(lower, abbreviation)))
    problems.push('metric names should not contain abbreviated units')
  return problems
}

const CAMEL_CASE = /[a-z][A-Z]/

/** Whether `word` is a `_`-separated word of `name` after its first (promlint's test). */
function hasWord(name: string, word: string): boolean {
  return name.includes(`_${word}_`) || name.endsWith(`_${word}`)
}

/** The first word of `name` that is a unit, possibly with an SI prefix, and its base unit. */
function firstUnit(name: string): { word: string; base: string } | null {
  for (const word of name.split('_')) {
    const base = UNITS[word]
    if (base) return { word, base }
    for (const prefix of UNIT_PREFIXES) {
      const prefixed = word.startsWith(prefix) ? UNITS[word.slice(prefix.length)] : undefined
      if (prefixed) return { word, base: prefixed }
    }
  }
  return null
}
