/**
 * The gateway's metric series that every request touches, each resolved once: `labels(...)` builds
 * a key string from the label set on every call (and a MetricsRelay a new handle object too),
 * which at tens of thousands of requests a second is a measurable part of a request's CPU. The
 * series are never removed, so a handle stays valid for the gateway's life.
 */
import type { CounterSeries, HistogramSeries } from '../metrics/registry.ts'
import type { GatewayMetrics } from './gateway-metrics.ts'

export type Protocol = 'http' | 'websocket' | 'grpc'

export class GatewaySeries {
  /** Per protocol, indexed by HTTP status. */
  private readonly requestsByStatus = new Map<Protocol, CounterSeries[]>()
  private readonly ack = new Map<Protocol, HistogramSeries>()
  private readonly received = new Map<Protocol, CounterSeries>()
  /** Per stream: accepted, rejected. */
  private readonly eventsByStream = new Map<string, { accepted: CounterSeries; rejected: CounterSeries }>()

  constructor(private readonly metrics: GatewayMetrics) {}

  /** Requests answered with `status`. */
  requests(protocol: Protocol, status: number): CounterSeries {
    let byStatus = this.requestsByStatus.get(protocol)
    if (byStatus === undefined) {
      byStatus = []
      this.requestsByStatus.set(protocol, byStatus)
    }
    let series = byStatus[status]
    if (series === undefined) {
      series = this.metrics.requests.labels({ protocol, code: String(status) })
      byStatus[status] = series
    }
    return series
  }

  ackSeconds(protocol: Protocol): HistogramSeries {
    let series = this.ack.get(protocol)
    if (series === undefined) {
      series = this.metrics.ackSeconds.labels({ protocol })
      this.ack.set(protocol, series)
    }
    return series
  }

  bytes(protocol: Protocol): CounterSeries {
    let series = this.received.get(protocol)
    if (series === undefined) {
      series = this.metrics.bytes.labels({ protocol })
      this.received.set(protocol, series)
    }
    return series
  }

  events(stream: string, outcome: 'accepted' | 'rejected'): CounterSeries {
    let both = this.eventsByStream.get(stream)
    if (both === undefined) {
      both = {
        accepted: this.metrics.events.labels({ stream, outcome: 'accepted' }),
        rejected: this.metrics.events.labels({ stream, outcome: 'rejected' }),
      }
      this.eventsByStream.set(stream, both)
    }
    return both[outcome]
  }
}
