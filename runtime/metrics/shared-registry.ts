/**
 * A registry several components of one process register the same metrics in: `sluice serve` runs
 * a pipeline runner per artifact, and each registers `sluice_events_in_total` and the rest. Here a
 * second registration of a name returns the metric already registered (of the same kind, or it
 * throws), so the series of every runner land in one metric, told apart by their labels (source,
 * sink, topic, step). A gauge computed at scrape time gets every registrant's collector, their
 * samples together. A plain MetricsRegistry refuses a name registered twice, which catches typos
 * where one component owns its metrics.
 */
import {
  Counter,
  Gauge,
  type GaugeCollector,
  type GaugeSample,
  type Histogram,
  MetricsRegistry,
} from './registry.ts'

export class SharedMetricsRegistry extends MetricsRegistry {
  private readonly collectors = new Map<string, GaugeCollector[]>()

  override counter(name: string, help: string): Counter {
    const existing = this.find(name)
    if (existing instanceof Counter) return existing
    return super.counter(name, help)
  }

  override histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.findHistogram(name) ?? super.histogram(name, help, buckets)
  }

  override gauge(name: string, help: string, options: { collect?: GaugeCollector } = {}): Gauge {
    const existing = this.find(name)
    const collect = options.collect
    if (collect === undefined)
      return existing instanceof Gauge && !existing.collected ? existing : super.gauge(name, help)
    const list = this.collectors.get(name)
    if (list !== undefined && existing instanceof Gauge) {
      list.push(collect)
      return existing
    }
    const all: GaugeCollector[] = [collect]
    this.collectors.set(name, all)
    return super.gauge(name, help, {
      collect: async () => {
        const samples: GaugeSample[] = []
        for (const collector of all) samples.push(...(await collector()))
        return samples
      },
    })
  }
}
