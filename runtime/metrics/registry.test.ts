import { describe, expect, it } from 'vitest'
import { MetricsRegistry } from './registry.ts'

describe('MetricsRegistry', () => {
  it('renders counters, gauges and histograms in Prometheus text format', () => {
    const registry = new MetricsRegistry()
    const events = registry.counter('sluice_events_in_total', 'Events read.')
    events.labels({ source: 'payments' }).inc(3)
    events.labels({ source: 'payments' }).inc()
    events.labels({ source: 'we"ird\n' }).inc(2)
    registry.gauge('sluice_watermark_ms', 'Watermark.').set(1234, { source: 'payments' })
    const latency = registry.histogram('sluice_batch_seconds', 'Batch time.', [0.001, 0.01])
    latency.observe(0.0005)
    latency.observe(0.005)
    latency.observe(1)
    expect(registry.render()).toBe(
      [
        '# HELP sluice_events_in_total Events read.',
        '# TYPE sluice_events_in_total counter',
        'sluice_events_in_total{source="payments"} 4',
        'sluice_events_in_total{source="we\\"ird\\n"} 2',
        '# HELP sluice_watermark_ms Watermark.',
        '# TYPE sluice_watermark_ms gauge',
        'sluice_watermark_ms{source="payments"} 1234',
        '# HELP sluice_batch_seconds Batch time.',
        '# TYPE sluice_batch_seconds histogram',
        'sluice_batch_seconds_bucket{le="0.001"} 1',
        'sluice_batch_seconds_bucket{le="0.01"} 2',
        'sluice_batch_seconds_bucket{le="+Inf"} 3',
        'sluice_batch_seconds_sum 1.0055',
        'sluice_batch_seconds_count 3',
        '',
      ].join('\n'),
    )
  })

  it('refuses to decrease a counter or register a name twice', () => {
    const registry = new MetricsRegistry()
    const counter = registry.counter('c_total', 'c')
    expect(() => counter.labels().inc(-1)).toThrow(/cannot decrease/)
    expect(() => registry.counter('c_total', 'again')).toThrow(/registered twice/)
  })
})

describe('totals', () => {
  it('sums a metric over its label sets and finds metrics by name', () => {
    const registry = new MetricsRegistry()
    const out = registry.counter('out_total', 'o')
    out.labels({ sink: 'a' }).inc(2)
    out.labels({ sink: 'b' }).inc(5)
    expect(registry.find('out_total')?.total()).toBe(7)
    expect(registry.find('missing')).toBeUndefined()
  })
})
