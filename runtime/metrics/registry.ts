/**
 * The pipeline's metrics: counters, gauges and histograms with labels, rendered in the Prometheus
 * text exposition format (version 0.0.4), plus, when asked, the Node.js process metrics and a
 * build-info gauge (`process-metrics.ts`). Why this is hand-written and the process metrics come
 * from prom-client: docs/decisions/0009-metrics-registry.md.
 *
 * API (every metric belongs to one registry; a name can be registered once):
 *
 *   const registry = new MetricsRegistry({ processMetrics: true })   // option: process_*, nodejs_*, sluice_build_info
 *
 *   const events = registry.counter('sluice_events_in_total', 'Records read.')
 *   const series = events.labels({ source: 'payments' })   // resolve a label set once, outside the hot path
 *   series.inc(batch.length)                                // then only adds to a number
 *   events.inc()                                            // the series without labels
 *
 *   const lag = registry.gauge('sluice_partition_lag_records', 'Records behind.')
 *   lag.set(12, { topic: 't', partition: '0' })             // one series per label set
 *   lag.labels({ topic: 't', partition: '1' }).set(3)       // or resolved once; also inc(n), dec(n)
 *   lag.remove({ topic: 't', partition: '1' })              // drop a series (partition revoked)
 *
 *   registry.gauge('sluice_consumer_lag_records', 'Records behind, per partition.', {
 *     collect: () => [{ labels: { partition: '0' }, value: 12 }],   // computed at every scrape;
 *   })                                                               // may be async; replaces all series
 *
 *   const seconds = registry.histogram('sluice_batch_processing_seconds', 'Batch time.', [0.001, 0.01, 0.1])
 *   seconds.observe(0.004)                                  // the series without labels
 *   seconds.labels({ source: 'payments' }).observe(0.004)   // or per label set; remove(labels) too
 *
 *   registry.find('sluice_events_in_total')?.total()       // sum over label sets (counters, gauges)
 *   registry.find('sluice_partition_lag_records')?.value({ topic: 't', partition: '0' })
 *   await registry.render()                                 // the exposition text (async: collectors)
 *   registry.lint()                                         // names that break Prometheus conventions
 *
 * Rules the registry enforces, with an Error naming the metric: a name or label name Prometheus
 * cannot parse is refused; every series of one metric has the same label names (so sums and
 * rates across them mean something); counters only go up; values and observations are numbers,
 * never NaN. Names that parse but break promtool's conventions (`_ms` instead of `_seconds`,
 * a counter without `_total`, ...) are recorded and listed by `lint()`; tests fail on them.
 */
import {
  labelNameProblems,
  labelNameSyntaxError,
  type MetricType,
  metricNameProblems,
  metricNameSyntaxError,
} from './naming.ts'
import { buildInfoLabels, isProcessMetricName, renderProcessMetrics } from './process-metrics.ts'

export type Labels = Readonly<Record<string, string>>

const NO_LABELS: Labels = Object.freeze({})

/** One sample of a gauge computed at scrape time. */
export interface GaugeSample {
  readonly labels?: Labels
  readonly value: number
}

export type GaugeCollector = () => Iterable<GaugeSample> | Promise<Iterable<GaugeSample>>

export interface CounterSeries {
  inc(by?: number): void
}

export interface GaugeSeries {
  set(value: number): void
  inc(by?: number): void
  dec(by?: number): void
}

export interface HistogramSeries {
  observe(value: number): void
}

/** Kept for callers that typed the result of `counter.labels()` as `Series`. */
export type Series = CounterSeries

interface Entry<S> {
  readonly labels: Labels
  readonly state: S
}

/** A metric's series by label set. The first series fixes the label names of every other one. */
abstract class Metric<S> {
  protected readonly series = new Map<string, Entry<S>>()
  private labelNames: readonly string[] | null = null

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
  ) {}

  /** Removes the series with these labels (a revoked partition); true if it existed. */
  remove(labels: Labels = {}): boolean {
    const key = this.key(labels, false)
    return key !== null && this.series.delete(key)
  }

  /** Removes every series. */
  clear(): void {
    this.series.clear()
  }

  /** Label-name problems by promtool's conventions (recorded, not refused; see lint()). */
  labelProblems(): string[] {
    return (this.labelNames ?? []).flatMap((label) =>
      labelNameProblems(label, this.type).map((problem) => `label ${label}: ${problem}`),
    )
  }

  protected abstract initial(): S

  /** The series' state, created on first use. The state object is also the series handle. */
  protected state(labels: Labels): S {
    const key = this.key(labels, true)!
    let entry = this.series.get(key)
    if (!entry) {
      // Stored in label-name order, so every series renders its labels in the same order.
      const ordered = Object.fromEntries(this.labelNames!.map((name) => [name, labels[name]!]))
      entry = { labels: ordered, state: this.initial() }
      this.series.set(key, entry)
    }
    return entry.state
  }

  /** The series with these labels, if it exists (a lookup never fixes the label names). */
  protected find(labels: Labels): S | undefined {
    const key = this.key(labels, false)
    return key === null ? undefined : this.series.get(key)?.state
  }

  /**
   * The series' identity: its label values in the metric's label-name order, checked. The first
   * series created fixes the label names; before that a lookup (`create` false) answers null.
   * Runs on every `labels(...)` call, so it allocates nothing but the key string.
   */
  private key(labels: Labels, create: boolean): string | null {
    if (this.labelNames === null) {
      if (!create) return null
      const names = Object.keys(labels).sort()
      for (const name of names) {
        const error = labelNameSyntaxError(name, this.type)
        if (error) throw new Error(`metric ${this.name}: ${error}`)
      }
      this.labelNames = names
    }
    const expected = this.labelNames
    let given = 0
    for (const _ in labels) given++
    if (given !== expected.length) this.labelMismatch(labels)
    if (given === 0) return ''
    if (given === 1) {
      const value = labels[expected[0]!]
      if (typeof value !== 'string') this.labelMismatch(labels)
      return value
    }
    let key = ''
    for (const name of expected) {
      const value = labels[name]
      if (typeof value !== 'string') this.labelMismatch(labels)
      // Length-prefixed, so no label value can make two label sets collide.
      key += `${value.length}:${value}`
    }
    return key
  }

  private labelMismatch(labels: Labels): never {
    const expected = this.labelNames ?? []
    for (const name of expected) {
      const value = labels[name]
      if (value !== undefined && typeof value !== 'string')
        throw new Error(`metric ${this.name}: label ${name} must be a string, got ${typeof value}`)
    }
    throw new Error(
      `metric ${this.name} has labels [${expected.join(', ')}]; got [${Object.keys(labels).sort().join(', ')}]: every series of a metric needs the same label names`,
    )
  }

  protected header(): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`
  }

  /** Called before render; a collected gauge refreshes its series here. */
  async collect(): Promise<void> {}

  abstract render(): string
}

/** Counter or gauge: one number per series. */
abstract class ScalarMetric<S extends { value: number }> extends Metric<S> {
  value(labels: Labels = {}): number {
    return this.find(labels)?.value ?? 0
  }

  /** The sum over every label set. */
  total(): number {
    let sum = 0
    for (const entry of this.series.values()) sum += entry.state.value
    return sum
  }

  render(): string {
    let text = this.header()
    for (const { labels, state } of this.series.values())
      text += `${this.name}${labelText(labels)} ${formatNumber(state.value)}\n`
    return text
  }
}

class CounterCell implements CounterSeries {
  value = 0

  constructor(private readonly name: string) {}

  inc(by = 1): void {
    checkIncrement(this.name, by)
    this.value += by
  }
}

export class Counter extends ScalarMetric<CounterCell> {
  constructor(name: string, help: string) {
    super(name, help, 'counter')
  }

  protected initial(): CounterCell {
    return new CounterCell(this.name)
  }

  labels(labels: Labels = {}): CounterSeries {
    return this.state(labels)
  }

  /** Adds to the series without labels. */
  inc(by = 1): void {
    this.state(NO_LABELS).inc(by)
  }
}

class GaugeCell implements GaugeSeries {
  value = 0

  constructor(private readonly name: string) {}

  set(value: number): void {
    checkNumber(this.name, value)
    this.value = value
  }

  inc(by = 1): void {
    checkNumber(this.name, by)
    this.value += by
  }

  dec(by = 1): void {
    checkNumber(this.name, by)
    this.value -= by
  }
}

export class Gauge extends ScalarMetric<GaugeCell> {
  constructor(
    name: string,
    help: string,
    private readonly collector: GaugeCollector | null = null,
  ) {
    super(name, help, 'gauge')
  }

  get collected(): boolean {
    return this.collector !== null
  }

  protected initial(): GaugeCell {
    return new GaugeCell(this.name)
  }

  set(value: number, labels: Labels = NO_LABELS): void {
    this.labels(labels).set(value)
  }

  labels(labels: Labels = NO_LABELS): GaugeSeries {
    if (this.collector)
      throw new Error(
        `gauge ${this.name} is computed by its collect callback at scrape time; it cannot be set`,
      )
    return this.state(labels)
  }

  /** Replaces every series with what the collect callback returns now. */
  override async collect(): Promise<void> {
    if (!this.collector) return
    const samples = [...(await this.collector())]
    this.series.clear()
    for (const sample of samples) this.state(sample.labels ?? NO_LABELS).set(sample.value)
  }
}

/** One histogram series. `counts[i]` holds observations in (bound[i-1], bound[i]]; render sums them. */
class HistogramCell implements HistogramSeries {
  readonly counts: number[]
  sum = 0
  count = 0

  constructor(
    private readonly name: string,
    private readonly bounds: readonly number[],
  ) {
    this.counts = bounds.map(() => 0)
  }

  observe(value: number): void {
    checkNumber(this.name, value)
    this.sum += value
    this.count++
    const bounds = this.bounds
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++
        return
      }
    }
    // Above every bound: only the +Inf bucket, which is `count`.
  }
}

/** Cumulative-bucket histogram, as Prometheus expects (`le` buckets, `_sum`, `_count`). */
export class Histogram extends Metric<HistogramCell> {
  readonly buckets: readonly number[]

  constructor(name: string, help: string, buckets: readonly number[]) {
    super(name, help, 'histogram')
    // +Inf is always the last bucket; listing it is allowed and changes nothing.
    const bounds = buckets.filter((b) => b !== Number.POSITIVE_INFINITY)
    if (bounds.length === 0) throw new Error(`histogram ${name} needs at least one finite bucket bound`)
    for (const [i, bound] of bounds.entries()) {
      if (!Number.isFinite(bound))
        throw new Error(`histogram ${name}: bucket bound ${bound} is not a finite number`)
      if (i > 0 && bound <= bounds[i - 1]!)
        throw new Error(`histogram ${name}: bucket bounds must increase, got ${bounds.join(', ')}`)
    }
    this.buckets = bounds
  }

  protected initial(): HistogramCell {
    return new HistogramCell(this.name, this.buckets)
  }

  labels(labels: Labels = NO_LABELS): HistogramSeries {
    return this.state(labels)
  }

  /** Observes into the series without labels. */
  observe(value: number): void {
    this.state(NO_LABELS).observe(value)
  }

  /** Observations over every label set. */
  get observations(): number {
    let count = 0
    for (const entry of this.series.values()) count += entry.state.count
    return count
  }

  render(): string {
    let text = this.header()
    for (const { labels, state } of this.series.values()) {
      let cumulative = 0
      for (const [i, le] of this.buckets.entries()) {
        cumulative += state.counts[i]!
        text += `${this.name}_bucket${labelText({ ...labels, le: formatNumber(le) })} ${cumulative}\n`
      }
      text += `${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${state.count}\n`
      text += `${this.name}_sum${labelText(labels)} ${formatNumber(state.sum)}\n`
      text += `${this.name}_count${labelText(labels)} ${state.count}\n`
    }
    return text
  }
}

export interface MetricsRegistryOptions {
  /**
   * Also export the Node.js process metrics (CPU, memory, heap, event-loop lag, GC, open file
   * descriptors; prom-client's default metrics) and `sluice_build_info`. These describe the whole
   * process, so a process serves them from one registry: the one `sluice run` scrapes.
   */
  readonly processMetrics?: boolean
  /** Told when a collect callback fails; the scrape still answers, without that metric's samples. */
  readonly onCollectError?: (metric: string, error: unknown) => void
}

export class MetricsRegistry {
  private readonly metrics: (Counter | Gauge | Histogram)[] = []
  private readonly problems: string[] = []
  private collectFailures: Counter | null = null

  constructor(private readonly options: MetricsRegistryOptions = {}) {
    if (options.processMetrics)
      this.gauge(
        'sluice_build_info',
        'Sluice build: the version and the Node.js that runs it; always 1.',
      ).set(1, buildInfoLabels())
  }

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help))
  }

  /** A gauge; with `collect`, its series are computed at every scrape instead of set. */
  gauge(name: string, help: string, options: { collect?: GaugeCollector } = {}): Gauge {
    const gauge = this.add(new Gauge(name, help, options.collect ?? null))
    if (options.collect && !this.collectFailures)
      this.collectFailures = this.counter(
        'sluice_metrics_collect_failures_total',
        'Scrapes in which a metric computed at scrape time failed and was left out, by metric.',
      )
    return gauge
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets))
  }

  /** The counter or gauge registered under `name`, for summaries and tests. */
  find(name: string): Counter | Gauge | undefined {
    return this.metrics.find((m): m is Counter | Gauge => m.name === name && !(m instanceof Histogram))
  }

  /** The histogram registered under `name`. */
  findHistogram(name: string): Histogram | undefined {
    return this.metrics.find((m): m is Histogram => m.name === name && m instanceof Histogram)
  }

  /**
   * Every registered name (and label name) that breaks Prometheus naming conventions, as
   * `name: problem` lines in promtool's words; empty when all is well.
   */
  lint(): string[] {
    return [
      ...this.problems,
      ...this.metrics.flatMap((m) => m.labelProblems().map((problem) => `${m.name}: ${problem}`)),
    ]
  }

  /**
   * The whole registry in Prometheus text format: collected gauges are computed first, and the
   * process metrics follow when enabled. Never rejects because of one failing collector.
   */
  async render(): Promise<string> {
    const parts: string[] = []
    for (const metric of this.metrics) {
      try {
        await metric.collect()
      } catch (error) {
        metric.clear()
        this.collectFailures?.labels({ metric: metric.name }).inc()
        this.options.onCollectError?.(metric.name, error)
      }
    }
    for (const metric of this.metrics) parts.push(metric.render())
    if (this.options.processMetrics) {
      try {
        parts.push(await renderProcessMetrics())
      } catch (error) {
        this.options.onCollectError?.('process metrics', error)
      }
    }
    return parts.join('')
  }

  private add<M extends Counter | Gauge | Histogram>(metric: M): M {
    const error = metricNameSyntaxError(metric.name)
    if (error) throw new Error(error)
    if (this.metrics.some((m) => m.name === metric.name))
      throw new Error(`metric ${metric.name} registered twice`)
    if (this.options.processMetrics && isProcessMetricName(metric.name))
      throw new Error(`metric ${metric.name} is already exported by the process metrics`)
    for (const problem of metricNameProblems(metric.name, metric.type, metric.help))
      this.problems.push(`${metric.name}: ${problem}`)
    this.metrics.push(metric)
    return metric
  }
}

function checkIncrement(name: string, by: number): void {
  checkNumber(name, by)
  if (by < 0) throw new Error(`counter ${name} cannot decrease (inc by ${by})`)
}

function checkNumber(name: string, value: number): void {
  if (typeof value !== 'number' || Number.isNaN(value))
    throw new Error(`metric ${name}: ${String(value)} is not a number`)
}

function labelText(labels: Labels): string {
  const names = Object.keys(labels)
  if (names.length === 0) return ''
  return `{${names.map((name) => `${name}="${escapeLabelValue(labels[name]!)}"`).join(',')}}`
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** HELP text escapes only backslash and newline (a quote is literal there). */
function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}
