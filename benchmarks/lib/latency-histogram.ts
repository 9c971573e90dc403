/**
 * Latency samples in an HDR histogram (hdr-histogram-js, pinned in package.json): constant memory
 * however many events are recorded, 3 significant digits (a recorded value is reported within
 * 0.1 % above its true value), values from 1 ns to 10 minutes in nanoseconds. Percentiles are the
 * histogram's: the value at rank ⌈p·n⌉, given as the highest value equivalent to it at that
 * precision (capped at the largest value recorded, which is the max), so a reported p99 is never
 * below the true one.
 */
import { build, type Histogram } from 'hdr-histogram-js'

/** Largest recordable latency, ns: 10 minutes. A larger value is clamped to it and counted. */
export const MAX_TRACKABLE_NS = 600e9

export interface HistogramSummary {
  readonly count: number
  readonly mean: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  /** Values above MAX_TRACKABLE_NS, recorded as MAX_TRACKABLE_NS. */
  readonly clamped: number
}

export class LatencyHistogram {
  private readonly histogram: Histogram = build({
    bitBucketSize: 64,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_NS,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  })
  private clamped = 0

  /** Records one latency, ns. Negative values are clock errors and throw (they would hide as 0). */
  record(ns: number): void {
    if (!(ns >= 0)) throw new RangeError(`latency must be ≥ 0 ns, got ${ns}`)
    if (ns > MAX_TRACKABLE_NS) {
      this.clamped++
      this.histogram.recordValue(MAX_TRACKABLE_NS)
      return
    }
    this.histogram.recordValue(Math.round(ns))
  }

  get count(): number {
    return this.histogram.totalCount
  }

  /**
   * The value at percentile `p` (0 < p ≤ 100), ns; 0 for an empty histogram. Never above the
   * largest value recorded (the bucket's upper end can be, by up to 0.1 %).
   */
  percentile(p: number): number {
    if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`)
    const h = this.histogram
    return h.totalCount === 0 ? 0 : Math.min(h.getValueAtPercentile(p), h.maxValue)
  }

  summary(): HistogramSummary {
    const h = this.histogram
    return {
      count: h.totalCount,
      mean: h.totalCount === 0 ? 0 : h.mean,
      p50: this.percentile(50),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: h.totalCount === 0 ? 0 : h.maxValue,
      clamped: this.clamped,
    }
  }

  reset(): void {
    this.histogram.reset()
    this.clamped = 0
  }
}
