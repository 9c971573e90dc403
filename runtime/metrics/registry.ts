/**
 * Counters, gauges and histograms with labels, rendered in the Prometheus text exposition format
 * (version 0.0.4). Label sets are resolved to a series once (`counter.labels(...)`) so the hot path
 * only adds to a number.
 */

export interface Series {
  inc(by?: number): void
}

abstract class Metric {
  protected readonly series = new Map<string, { labels: Readonly<Record<string, string>>; value: number }>()

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  protected entry(labels: Readonly<Record<string, string>>) {
    const id = labelText(labels)
    let entry = this.series.get(id)
    if (!entry) {
      entry = { labels, value: 0 }
      this.series.set(id, entry)
    }
    return entry
  }

  value(labels: Readonly<Record<string, string>> = {}): number {
    return this.series.get(labelText(labels))?.value ?? 0
  }

  /** The sum over every label set. */
  total(): number {
    let sum = 0
    for (const entry of this.series.values()) sum += entry.value
    return sum
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`]
    for (const { labels, value } of this.series.values())
      lines.push(`${this.name}${labelText(labels)} ${formatNumber(value)}`)
    return lines.join('\n')
  }
}

export class Counter extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'counter')
  }

  labels(labels: Readonly<Record<string, string>> = {}): Series {
    const entry = this.entry(labels)
    return {
      inc: (by = 1) => {
        if (by < 0) throw new Error(`counter ${this.name} cannot decrease`)
        entry.value += by
      },
    }
  }
}

export class Gauge extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'gauge')
  }

  set(value: number, labels: Readonly<Record<string, string>> = {}): void {
    this.entry(labels).value = value
  }
}

/** Cumulative-bucket histogram, as Prometheus expects (`le` buckets, `_sum`, `_count`). */
export class Histogram {
  private readonly counts: number[]
  private sum = 0
  private count = 0

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0)
  }

  observe(value: number): void {
    this.sum += value
    this.count++
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]!++
  }

  get observations(): number {
    return this.count
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    for (const [i, le] of this.buckets.entries())
      lines.push(`${this.name}_bucket{le="${le}"} ${this.counts[i]}`)
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`)
    lines.push(`${this.name}_sum ${formatNumber(this.sum)}`, `${this.name}_count ${this.count}`)
    return lines.join('\n')
  }
}

export class MetricsRegistry {
  private readonly metrics: (Metric | Histogram)[] = []

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help))
  }

  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help))
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets))
  }

  /** The counter or gauge registered under `name`, for summaries and tests. */
  find(name: string): Counter | Gauge | undefined {
    return this.metrics.find((m): m is Counter | Gauge => m.name === name && !(m instanceof Histogram))
  }

  /** The whole registry in Prometheus text format. */
  render(): string {
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`
  }

  private add<M extends Metric | Histogram>(metric: M): M {
    if (this.metrics.some((m) => m.name === metric.name))
      throw new Error(`metric ${metric.name} registered twice`)
    this.metrics.push(metric)
    return metric
  }
}

function labelText(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels)
  if (keys.length === 0) return ''
  return `{${keys.map((k) => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}
