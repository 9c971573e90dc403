/**
 * The gateway's metrics, registered once in the thread that owns the registry. A worker thread
 * records into a MetricsRelay instead: the same calls, kept as increments that the worker sends
 * to the owning thread (with its appends, on a short timer, and before every scrape), which adds
 * them to the registered metrics. So /metrics shows the node's totals whichever thread answered.
 */
import type { CounterSeries, HistogramSeries, Labels, MetricsRegistry } from '../metrics/registry.ts'

const ACK_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5]

export type CounterName = 'requests' | 'events' | 'bytes' | 'rejections' | 'handlerErrors'

export interface GatewayMetrics {
  readonly requests: { labels(labels: Labels): CounterSeries }
  readonly events: { labels(labels: Labels): CounterSeries }
  readonly bytes: { labels(labels: Labels): CounterSeries }
  readonly rejections: { labels(labels: Labels): CounterSeries }
  readonly handlerErrors: { labels(labels: Labels): CounterSeries }
  readonly ackSeconds: { labels(labels: Labels): HistogramSeries }
  readonly inFlight: { set(value: number): void }
}

/**
 * Registers the gateway's metrics in `m`. With `inFlightBytes`, the in-flight gauge is read from it
 * at scrape time (the shared budget of worker threads); without, the gateway sets it.
 */
export function registerGatewayMetrics(m: MetricsRegistry, inFlightBytes?: () => number): GatewayMetrics {
  const inFlightHelp =
    'Bytes of requests being received or waiting for the log; bounded by the gateway’s maxInFlightBytes.'
  const inFlight =
    inFlightBytes === undefined
      ? m.gauge('sluice_gateway_in_flight_bytes', inFlightHelp)
      : m.gauge('sluice_gateway_in_flight_bytes', inFlightHelp, {
          collect: () => [{ value: inFlightBytes() }],
        })
  if (inFlightBytes === undefined) inFlight.set(0)
  return {
    requests: m.counter(
      'sluice_gateway_requests_total',
      'Gateway requests (HTTP requests and WebSocket messages) answered, by protocol and HTTP status.',
    ),
    events: m.counter(
      'sluice_gateway_events_total',
      'Events the gateway received, by stream and outcome (accepted: the log holds them; rejected).',
    ),
    bytes: m.counter(
      'sluice_gateway_received_bytes_total',
      'Bytes of request bodies and WebSocket messages received, by protocol.',
    ),
    rejections: m.counter(
      'sluice_gateway_rejections_total',
      'Events or whole requests the gateway refused, by reason (the error code of its answer).',
    ),
    handlerErrors: m.counter(
      'sluice_gateway_handler_errors_total',
      'Errors thrown inside a gateway request or WebSocket handler (answered 500 or closed with 1011), by route.',
    ),
    ackSeconds: m.histogram(
      'sluice_gateway_ack_seconds',
      'Time from a request or message fully received to its answer (for accepted events: until the log held them), by protocol.',
      ACK_BUCKETS,
    ),
    inFlight: inFlightBytes === undefined ? inFlight : { set: () => {} },
  }
}

/** Increments recorded in a worker since the last take(): counters by name and labels, and ack latencies. */
export interface MetricDeltas {
  readonly counters: [CounterName, Labels, number][]
  readonly ackSeconds: [Labels, number[]][]
}

/** A worker's GatewayMetrics: records increments for the owning thread to apply. */
export class MetricsRelay {
  private counters = new Map<string, [CounterName, Labels, number]>()
  private observations = new Map<string, [Labels, number[]]>()
  readonly metrics: GatewayMetrics

  constructor() {
    // The key is built when a series is resolved (once each: gateway-series.ts), not per increment.
    const counter = (name: CounterName) => ({
      labels: (labels: Labels): CounterSeries => {
        const key = `${name}\u0000${seriesKey(labels)}`
        return {
          inc: (by = 1) => {
            const entry = this.counters.get(key)
            if (entry) entry[2] += by
            else this.counters.set(key, [name, labels, by])
          },
        }
      },
    })
    this.metrics = {
      requests: counter('requests'),
      events: counter('events'),
      bytes: counter('bytes'),
      rejections: counter('rejections'),
      handlerErrors: counter('handlerErrors'),
      ackSeconds: {
        labels: (labels: Labels): HistogramSeries => {
          const key = seriesKey(labels)
          return {
            observe: (value: number) => {
              const entry = this.observations.get(key)
              if (entry) entry[1].push(value)
              else this.observations.set(key, [labels, [value]])
            },
          }
        },
      },
      // The owning thread reads the shared budget at scrape time.
      inFlight: { set: () => {} },
    }
  }

  get empty(): boolean {
    return this.counters.size === 0 && this.observations.size === 0
  }

  /** The increments since the last take (null: none), forgetting them. */
  take(): MetricDeltas | null {
    if (this.empty) return null
    const deltas = { counters: [...this.counters.values()], ackSeconds: [...this.observations.values()] }
    this.counters = new Map()
    this.observations = new Map()
    return deltas
  }
}

/** Adds a worker's increments to the registered metrics. */
export function applyDeltas(metrics: GatewayMetrics, deltas: MetricDeltas): void {
  for (const [name, labels, value] of deltas.counters) metrics[name].labels(labels).inc(value)
  for (const [labels, values] of deltas.ackSeconds) {
    const series = metrics.ackSeconds.labels(labels)
    for (const value of values) series.observe(value)
  }
}

function seriesKey(labels: Labels): string {
  let key = ''
  for (const name in labels) key += `${name}=${labels[name]}\u0000`
  return key
}
