/**
 * What a metric update costs on the pipeline's hot path, this registry against prom-client 15
 * (the measurements behind docs/decisions/0009-metrics-registry.md). Run:
 *
 *   node --import tsx runtime/metrics/hot-path.bench.ts
 *
 * "per batch" is what the runner does once per batch of records: a labelled counter inc for the
 * records read, one for the events written, a gauge set per partition and source, two histogram
 * observations; label objects are built per call, as the runner's code does.
 */
import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from 'prom-client'
import { Bench } from 'tinybench'
import { MetricsRegistry } from './registry.ts'

const BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1]

const ours = new MetricsRegistry()
const oursIn = ours.counter('sluice_events_in_total', 'In.')
const oursOut = ours.counter('sluice_events_out_total', 'Out.')
const oursLag = ours.gauge('sluice_consumer_lag_records', 'Lag.')
const oursWatermark = ours.gauge('sluice_watermark_seconds', 'Watermark.')
const oursBatch = ours.histogram('sluice_batch_processing_seconds', 'Batch.', BUCKETS)
const oursAppend = ours.histogram('sluice_append_seconds', 'Append.', BUCKETS)
const oursResolved = oursIn.labels({ source: 'payments' })

const prom = new Registry()
const promIn = new PromCounter({
  name: 'sluice_events_in_total',
  help: 'In.',
  labelNames: ['source'],
  registers: [prom],
})
const promOut = new PromCounter({
  name: 'sluice_events_out_total',
  help: 'Out.',
  labelNames: ['sink', 'topic'],
  registers: [prom],
})
const promLag = new PromGauge({
  name: 'sluice_consumer_lag_records',
  help: 'Lag.',
  labelNames: ['topic', 'partition'],
  registers: [prom],
})
const promWatermark = new PromGauge({
  name: 'sluice_watermark_seconds',
  help: 'Watermark.',
  labelNames: ['source'],
  registers: [prom],
})
const promBatch = new PromHistogram({
  name: 'sluice_batch_processing_seconds',
  help: 'Batch.',
  buckets: BUCKETS,
  registers: [prom],
})
const promAppend = new PromHistogram({
  name: 'sluice_append_seconds',
  help: 'Append.',
  buckets: BUCKETS,
  registers: [prom],
})
const promResolved = promIn.labels({ source: 'payments' })

const bench = new Bench({ time: 1_000 })
bench
  .add('ours: counter.labels({source}).inc(n)', () => oursIn.labels({ source: 'payments' }).inc(500))
  .add('prom-client: counter.labels({source}).inc(n)', () => promIn.labels({ source: 'payments' }).inc(500))
  .add('prom-client: counter.inc({source}, n)', () => promIn.inc({ source: 'payments' }, 500))
  .add('ours: series resolved once, .inc(n)', () => oursResolved.inc(500))
  .add('prom-client: child resolved once, .inc(n)', () => promResolved.inc(500))
  .add('ours: histogram.observe', () => oursBatch.observe(0.003))
  .add('prom-client: histogram.observe', () => promBatch.observe(0.003))
  .add('ours: one batch of runner updates', () => {
    oursIn.labels({ source: 'payments' }).inc(500)
    oursOut.labels({ sink: 'large', topic: 'large-payments' }).inc(40)
    oursLag.set(1200, { topic: 'payments', partition: '3' })
    oursWatermark.set(1_700_000_000.5, { source: 'payments' })
    oursBatch.observe(0.003)
    oursAppend.observe(0.001)
  })
  .add('prom-client: one batch of runner updates', () => {
    promIn.inc({ source: 'payments' }, 500)
    promOut.inc({ sink: 'large', topic: 'large-payments' }, 40)
    promLag.set({ topic: 'payments', partition: '3' }, 1200)
    promWatermark.set({ source: 'payments' }, 1_700_000_000.5)
    promBatch.observe(0.003)
    promAppend.observe(0.001)
  })
  .add('ours: render (scrape)', async () => {
    await ours.render()
  })
  .add('prom-client: metrics() (scrape)', async () => {
    await prom.metrics()
  })

await bench.run()
console.table(
  bench.tasks.map((task) => ({
    task: task.name,
    'mean ns': task.result && 'latency' in task.result ? Math.round(task.result.latency.mean * 1e6) : null,
    'p99 ns': task.result && 'latency' in task.result ? Math.round(task.result.latency.p99 * 1e6) : null,
  })),
)
