import { describe, expect, it } from 'vitest'
import { MetricsRegistry } from './registry.ts'

describe('MetricsRegistry', () => {
  it('renders counters, gauges and histograms in Prometheus text format', async () => {
    const registry = new MetricsRegistry()
    const events = registry.counter('sluice_events_in_total', 'Events read.')
    events.labels({ source: 'payments' }).inc(3)
    events.labels({ source: 'payments' }).inc()
    events.labels({ source: 'we"ird\\\n' }).inc(2)
    registry
      .gauge('sluice_watermark_seconds', 'Watermark.\nSecond "line".')
      .set(1234.5, { source: 'payments' })
    const latency = registry.histogram('sluice_batch_seconds', 'Batch time.', [0.001, 0.01])
    latency.observe(0.0005)
    latency.observe(0.005)
    latency.observe(1)
    expect(await registry.render()).toBe(
      [
        '# HELP sluice_events_in_total Events read.',
        '# TYPE sluice_events_in_total counter',
        'sluice_events_in_total{source="payments"} 4',
        'sluice_events_in_total{source="we\\"ird\\\\\\n"} 2',
        '# HELP sluice_watermark_seconds Watermark.\\nSecond "line".',
        '# TYPE sluice_watermark_seconds gauge',
        'sluice_watermark_seconds{source="payments"} 1234.5',
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

  it('refuses to decrease a counter, a NaN value or a name registered twice', () => {
    const registry = new MetricsRegistry()
    const counter = registry.counter('c_total', 'c')
    expect(() => counter.labels().inc(-1)).toThrow(/cannot decrease/)
    expect(() => counter.inc(Number.NaN)).toThrow(/c_total: NaN is not a number/)
    expect(() => registry.gauge('g', 'g').set(Number.NaN)).toThrow(/not a number/)
    expect(() => registry.histogram('h_seconds', 'h', [1]).observe(Number.NaN)).toThrow(/not a number/)
    expect(() => registry.counter('c_total', 'again')).toThrow(/registered twice/)
    expect(counter.total()).toBe(0)
  })

  it('refuses names and label names Prometheus cannot parse or reserves', () => {
    const registry = new MetricsRegistry()
    expect(() => registry.counter('sluice-events_total', 'x')).toThrow(/not a valid metric name/)
    expect(() => registry.counter('sluice:events_total', 'x')).toThrow(/colons are reserved/)
    expect(() => registry.counter('1_total', 'x')).toThrow(/not a valid metric name/)
    expect(() => registry.gauge('__g', 'x')).toThrow(/reserved/)
    expect(() => registry.counter('a_total', 'a').labels({ 'sink-name': 'x' })).toThrow(
      /not a valid label name/,
    )
    expect(() => registry.counter('b_total', 'b').labels({ __name__: 'x' })).toThrow(/reserved/)
    expect(() => registry.histogram('h_seconds', 'h', [1]).labels({ le: '1' })).toThrow(/"le"/)
  })

  it('keeps every series of a metric to the same label names, in any key order', async () => {
    const registry = new MetricsRegistry()
    const lag = registry.gauge('sluice_lag_records', 'Lag.')
    lag.set(1, { topic: 't', partition: '0' })
    lag.set(2, { partition: '1', topic: 't' })
    expect(() => lag.set(3, { topic: 't' })).toThrow(
      'metric sluice_lag_records has labels [partition, topic]; got [topic]: every series of a metric needs the same label names',
    )
    expect(() => lag.set(3)).toThrow(/has labels \[partition, topic\]; got \[\]/)
    expect(lag.value({ topic: 't', partition: '1' })).toBe(2)
    expect(await registry.render()).toContain(
      'sluice_lag_records{partition="0",topic="t"} 1\nsluice_lag_records{partition="1",topic="t"} 2\n',
    )
  })

  it('does not confuse label sets whose values contain separators', () => {
    const registry = new MetricsRegistry()
    const c = registry.counter('c_total', 'c')
    c.labels({ a: 'x,b=y', b: '' }).inc(1)
    c.labels({ a: 'x', b: 'y' }).inc(2)
    expect(c.value({ a: 'x,b=y', b: '' })).toBe(1)
    expect(c.value({ a: 'x', b: 'y' })).toBe(2)
  })
})

describe('gauges', () => {
  it('sets, increments and decrements a series resolved once, and removes a series', async () => {
    const registry = new MetricsRegistry()
    const assigned = registry.gauge('sluice_assigned_partitions', 'Partitions.')
    const series = assigned.labels({ topic: 'a' })
    series.set(3)
    series.inc(2)
    series.dec()
    assigned.set(7, { topic: 'b' })
    expect(assigned.value({ topic: 'a' })).toBe(4)
    expect(assigned.total()).toBe(11)
    expect(assigned.remove({ topic: 'b' })).toBe(true)
    expect(assigned.remove({ topic: 'b' })).toBe(false)
    const text = await registry.render()
    expect(text).toContain('sluice_assigned_partitions{topic="a"} 4\n')
    expect(text).not.toContain('topic="b"')
  })

  it('computes a collected gauge at every scrape, replacing its series', async () => {
    const registry = new MetricsRegistry()
    let lags: [string, number][] = [
      ['0', 5],
      ['1', 9],
    ]
    const lag = registry.gauge('sluice_consumer_lag_records', 'Records behind, per partition.', {
      collect: () => lags.map(([partition, value]) => ({ labels: { partition }, value })),
    })
    expect(await registry.render()).toContain(
      'sluice_consumer_lag_records{partition="0"} 5\nsluice_consumer_lag_records{partition="1"} 9\n',
    )
    expect(lag.total()).toBe(14)
    lags = [['1', 2]]
    const text = await registry.render()
    expect(text).toContain('sluice_consumer_lag_records{partition="1"} 2\n')
    expect(text).not.toContain('partition="0"')
    expect(() => lag.set(1, { partition: '1' })).toThrow(/computed by its collect callback/)
  })

  it('still answers a scrape when a collector fails, without that metric, and counts the failure', async () => {
    const failures: string[] = []
    const registry = new MetricsRegistry({ onCollectError: (metric) => failures.push(metric) })
    registry.counter('sluice_events_in_total', 'In.').inc(4)
    let fail = false
    registry.gauge('sluice_consumer_lag_records', 'Lag.', {
      collect: async () => {
        if (fail) throw new Error('broker unreachable')
        return [{ value: 3 }]
      },
    })
    expect(await registry.render()).toContain('sluice_consumer_lag_records 3\n')
    fail = true
    const text = await registry.render()
    expect(text).toContain('sluice_events_in_total 4\n')
    expect(text).toContain('# TYPE sluice_consumer_lag_records gauge\n')
    expect(text).not.toContain('sluice_consumer_lag_records 3')
    expect(text).toContain('sluice_metrics_collect_failures_total{metric="sluice_consumer_lag_records"} 1\n')
    expect(failures).toEqual(['sluice_consumer_lag_records'])
  })
})

describe('histograms', () => {
  it('keeps one set of buckets per label set and removes a series', async () => {
    const registry = new MetricsRegistry()
    const seconds = registry.histogram('sluice_batch_processing_seconds', 'Batch time.', [0.01, 0.1])
    const payments = seconds.labels({ source: 'payments' })
    payments.observe(0.005)
    payments.observe(0.05)
    seconds.labels({ source: 'refunds' }).observe(2)
    expect(seconds.observations).toBe(3)
    expect(await registry.render()).toBe(
      [
        '# HELP sluice_batch_processing_seconds Batch time.',
        '# TYPE sluice_batch_processing_seconds histogram',
        'sluice_batch_processing_seconds_bucket{source="payments",le="0.01"} 1',
        'sluice_batch_processing_seconds_bucket{source="payments",le="0.1"} 2',
        'sluice_batch_processing_seconds_bucket{source="payments",le="+Inf"} 2',
        'sluice_batch_processing_seconds_sum{source="payments"} 0.055',
        'sluice_batch_processing_seconds_count{source="payments"} 2',
        'sluice_batch_processing_seconds_bucket{source="refunds",le="0.01"} 0',
        'sluice_batch_processing_seconds_bucket{source="refunds",le="0.1"} 0',
        'sluice_batch_processing_seconds_bucket{source="refunds",le="+Inf"} 1',
        'sluice_batch_processing_seconds_sum{source="refunds"} 2',
        'sluice_batch_processing_seconds_count{source="refunds"} 1',
        '',
      ].join('\n'),
    )
    expect(seconds.remove({ source: 'refunds' })).toBe(true)
    expect(await registry.render()).not.toContain('refunds')
    expect(registry.findHistogram('sluice_batch_processing_seconds')).toBe(seconds)
  })

  it('refuses bucket bounds that do not increase or are not numbers', () => {
    const registry = new MetricsRegistry()
    expect(() => registry.histogram('a_seconds', 'a', [0.1, 0.1])).toThrow(/must increase/)
    expect(() => registry.histogram('b_seconds', 'b', [])).toThrow(/at least one finite bucket/)
    expect(() => registry.histogram('c_seconds', 'c', [Number.NaN])).toThrow(/not a finite number/)
    expect(registry.histogram('d_seconds', 'd', [1, Number.POSITIVE_INFINITY]).buckets).toEqual([1])
  })
})

describe('lint', () => {
  it('flags names that break Prometheus conventions, in promtool words', () => {
    const registry = new MetricsRegistry()
    registry.gauge('sluice_watermark_ms', 'Watermark.')
    registry.counter('sluice_events', 'Events.')
    registry.gauge('sluice_lag_milliseconds', 'Lag.')
    registry.gauge('sluice_in_flight_total', 'In flight.')
    registry.gauge('sluice_fooBar', '').labels({ sinkName: 'x' })
    registry.gauge('sluice_ok_bytes', 'Fine.')
    expect(registry.lint()).toEqual([
      'sluice_watermark_ms: metric names should not contain abbreviated units',
      'sluice_events: counter metrics should have "_total" suffix',
      'sluice_lag_milliseconds: use base unit "seconds" instead of "milliseconds"',
      'sluice_in_flight_total: non-counter metrics should not have "_total" suffix',
      'sluice_fooBar: no help text',
      "sluice_fooBar: metric names should be written in 'snake_case' not 'camelCase'",
      "sluice_fooBar: label sinkName: label names should be written in 'snake_case' not 'camelCase'",
    ])
  })
})

describe('totals', () => {
  it('sums a metric over its label sets and finds metrics by name', () => {
    const registry = new MetricsRegistry()
    const out = registry.counter('out_total', 'o')
    out.labels({ sink: 'a' }).inc(2)
    out.labels({ sink: 'b' }).inc(5)
    expect(registry.find('out_total')?.total()).toBe(7)
    expect(registry.find('out_total')?.value({ sink: 'b' })).toBe(5)
    expect(registry.find('missing')).toBeUndefined()
  })
})
