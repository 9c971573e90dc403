import { describe, expect, it } from 'vitest'
import type { HistogramSummary } from './latency-histogram.ts'
import {
  formatRate,
  heldRate,
  type LatencyReport,
  type RateResult,
  renderLatencyMarkdown,
  renderLatencySvg,
} from './latency-report.ts'

const summary = (p99: number): HistogramSummary => ({
  count: 1000,
  mean: p99 / 2,
  p50: p99 / 4,
  p99,
  p999: p99 * 2,
  max: p99 * 3,
  clamped: 0,
})

function rate(offered: number, achieved: number, p99: number, caughtUp = true): RateResult {
  const r = {
    offered,
    achieved,
    caughtUp,
    measuredEvents: offered * 5,
    measuredOutputs: offered * 2,
    expectedOutputs: offered * 2,
    windowSeconds: 5,
    readToHandoff: summary(p99),
    readToDurable: summary(p99 * 2),
    offeredToDurable: summary(p99 * 4),
    gc: { count: 3, totalMs: 4.5, maxMs: 2 },
    cpu: { userSeconds: 3, systemSeconds: 1, utilisation: 0.8 },
    peakRssBytes: 150 * 1024 * 1024,
    batches: 1000,
    recordsPerBatch: 42,
    producer: { appends: 5000, largestGroup: 300 },
    held: false,
  }
  return { ...r, held: heldRate(r, 1e6, 0.97) }
}

describe('heldRate', () => {
  it('holds only with every output in, the offered rate achieved and p99 read → handoff under the limit', () => {
    expect(rate(100_000, 99_000, 900_000).held).toBe(true)
    expect(rate(100_000, 99_000, 1_000_000).held).toBe(false) // p99 must be under, not at, 1 ms
    expect(rate(100_000, 96_000, 500_000).held).toBe(false) // fell behind the offered rate
    expect(rate(100_000, 99_000, 500_000, false).held).toBe(false) // outputs missing at the end
  })
})

const report: LatencyReport = {
  name: 'latency',
  title: 'Latency <test> & co',
  description: 'A report for the tests.',
  machine: {
    cpuModel: 'Test CPU',
    cores: 2,
    totalMemoryBytes: 4 * 1024 ** 3,
    platform: 'linux',
    arch: 'x64',
    nodeVersion: 'v20.0.0',
    v8Version: '11.3',
    date: '2026-01-02T03:04:05.000Z',
    gitCommit: 'abc123',
    gitDirty: false,
  },
  parameters: { warmupSeconds: 2, pipeline: 'line one\nline two' },
  variants: [
    {
      key: 'a',
      label: 'embedded | never',
      rates: [rate(20_000, 20_000, 300_000), rate(100_000, 99_000, 800_000), rate(200_000, 150_000, 4e6)],
      highestHeld: 100_000,
    },
    { key: 'b', label: 'kafka', rates: [rate(20_000, 19_000, 2e6)], highestHeld: null },
  ],
  p99LimitNs: 1e6,
  heldShare: 0.97,
  method: ['First.', 'Second.'],
}

describe('formatRate', () => {
  it('keeps the digits that tell rates apart', () => {
    expect(formatRate(2500)).toBe('2.5 k')
    expect(formatRate(2497.3)).toBe('2.5 k')
    expect(formatRate(20_000)).toBe('20 k')
    expect(formatRate(99_000)).toBe('99 k')
    expect(formatRate(150_000)).toBe('150 k')
    expect(formatRate(1_250_000)).toBe('1.25 M')
    expect(formatRate(950)).toBe('950')
  })
})

describe('renderLatencyMarkdown', () => {
  it('gives the highest rate held per variant and a row per rate', () => {
    const md = renderLatencyMarkdown(report)
    expect(md).toContain('| embedded \\| never | 100 k events/s | 20 k, 100 k, 200 k |')
    expect(md).toContain('| kafka | none | 20 k |')
    expect(md).toContain(
      '| 100 k | 99 k | yes | 200.00 µs / 800.00 µs / 1.60 ms / 2.40 ms | 400.00 µs / 1.60 ms / 3.20 ms / 4.80 ms |',
    )
    expect(md).toContain('| 200 k | 150 k | **no** |')
    expect(md).toContain('| 42 | 3: 4.5 ms, 2.0 ms | 4.00 s (80 %) | 150.0 MiB |')
    expect(md).toContain('| kafka | 20 k | 0.15× | 0.15× | 0.15× |')
    expect(md).toContain('```\nline one\nline two\n```')
    expect(md).toContain('First.\n\nSecond.')
    expect(md).toContain('![latency percentiles against offered rate](./latency.svg)')
  })
})

describe('renderLatencySvg', () => {
  it('draws four series per variant with one point per rate, higher latency higher up, labels escaped', () => {
    const svg = renderLatencySvg(report)
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg).toContain('Latency &lt;test&gt; &amp; co')
    const series = [...svg.matchAll(/<polyline class="series"[^>]* points="([^"]*)"/g)].map((m) =>
      m[1]!.split(' ').map((pt) => pt.split(',').map(Number) as [number, number]),
    )
    expect(series).toHaveLength(8)
    expect(series.slice(0, 4).every((points) => points.length === 3)).toBe(true)
    // p99 read → handoff of the first variant: rates go right, the rising latency goes up (smaller y).
    const p99 = series[1]!
    expect(p99[0]![0]).toBeLessThan(p99[1]![0])
    expect(p99[1]![0]).toBeLessThan(p99[2]![0])
    expect(p99[0]![1]).toBeGreaterThan(p99[1]![1])
    expect(p99[1]![1]).toBeGreaterThan(p99[2]![1])
    for (const points of series)
      for (const [x, y] of points) expect(Number.isFinite(x) && Number.isFinite(y)).toBe(true)
  })
})
