import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { VariantResult } from './measure.ts'
import {
  type BenchmarkReport,
  computeRatios,
  formatNs,
  formatRate,
  machineInfo,
  renderConsoleTable,
  renderMarkdown,
  renderSvg,
  writeReport,
} from './report.ts'

function variant(name: string, eventsPerSecond: number, p99: number): VariantResult {
  return {
    name,
    throughput: {
      eventsPerSecond,
      rmePercent: 1.5,
      iterations: 12,
      meanIterationMs: 1e6 / eventsPerSecond,
      eventsPerIteration: 1_000_000,
      batchSize: 1024,
      outputsPerIteration: 500_000,
    },
    latencyNs: {
      count: 1000,
      min: 10,
      mean: 50,
      p50: 40,
      p99,
      p999: p99 * 2,
      max: p99 * 10,
      batchSize: 64,
      batches: 1000,
    },
    memory: {
      peakRssBytes: 200 * 1024 * 1024,
      peakHeapUsedBytes: 50 * 1024 * 1024,
      startHeapUsedBytes: 10 * 1024 * 1024,
      endHeapUsedBytes: 12 * 1024 * 1024,
    },
  }
}

const machine = {
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
}

function sampleReport(): BenchmarkReport {
  const variants = [variant('interpreted', 1_250_000, 800), variant('fused <fast> & "new"', 6_000_000, 160)]
  return {
    name: 'sample',
    title: 'Sample | bench',
    description: 'A report for the tests.',
    machine,
    parameters: { events: 1_000_000, seed: 42, pipeline: 'line one\nline two' },
    variants,
    baseline: 'interpreted',
    ratios: computeRatios(variants, 'interpreted'),
    targets: [
      { description: 'fused ≥ 5M events/s', actual: '6.00 M', met: true },
      { description: 'fused ≥ 10× interpreted', actual: '4.80×', met: false },
    ],
    method: ['First paragraph.', 'Second paragraph.'],
  }
}

describe('computeRatios', () => {
  it('divides each variant by the baseline, throughput up and p99 down', () => {
    const ratios = computeRatios(
      [variant('a', 2e6, 400), variant('b', 8e6, 100), variant('c', 1e6, 800)],
      'a',
    )
    expect(ratios).toEqual([
      { variant: 'b', baseline: 'a', throughput: 4, p99Latency: 4 },
      { variant: 'c', baseline: 'a', throughput: 0.5, p99Latency: 0.5 },
    ])
  })

  it('rejects an unknown baseline', () => {
    expect(() => computeRatios([variant('a', 1, 1)], 'z')).toThrow("baseline variant 'z'")
  })
})

describe('formatting', () => {
  it('formats rates and durations', () => {
    expect(formatRate(5_234_000)).toBe('5.23 M')
    expect(formatRate(812_345)).toBe('812 k')
    expect(formatRate(950)).toBe('950')
    expect(formatRate(2.5e9)).toBe('2.50 G')
    expect(formatNs(85.4)).toBe('85 ns')
    expect(formatNs(1250)).toBe('1.25 µs')
    expect(formatNs(3_400_000)).toBe('3.40 ms')
  })
})

describe('renderMarkdown', () => {
  it('has a row per variant, the ratios, targets, parameters and method', () => {
    const md = renderMarkdown(sampleReport())
    expect(md).toContain('# Sample | bench')
    expect(md).toContain(
      '| variant | events/s | ± rme | p50 | p99 | p999 | peak RSS | peak heap | heap after GC |',
    )
    expect(md).toContain(
      '| interpreted | 1.25 M | 1.50% | 40 ns | 800 ns | 1.60 µs | 200.0 MiB | 50.0 MiB | 12.0 MiB |',
    )
    expect(md).toContain('| fused <fast> & "new" | 6.00 M |')
    expect(md).toContain('| fused <fast> & "new" | interpreted | 4.80× faster | 5.00× shorter |')
    expect(md).toContain('| fused ≥ 10× interpreted | 4.80× | **no** |')
    expect(md).toContain('| fused ≥ 5M events/s | 6.00 M | yes |')
    expect(md).toContain('Test CPU (2 cores')
    expect(md).toContain('commit abc123')
    expect(md).toContain('```\nline one\nline two\n```')
    expect(md).toContain('- seed: `42`')
    expect(md).toContain('First paragraph.\n\nSecond paragraph.')
    expect(md).toContain('![events/s per variant](./sample.svg)')
  })
})

describe('renderSvg', () => {
  it('draws one bar per variant, proportional to events/s, with escaped labels', () => {
    const svg = renderSvg(sampleReport(), { markerEventsPerSecond: 5e6, markerLabel: 'target 5 M' })
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
    const widths = [...svg.matchAll(/<rect class="bar"[^>]* width="([\d.]+)"/g)].map((m) => Number(m[1]))
    expect(widths).toHaveLength(2)
    expect(widths[1]! / widths[0]!).toBeCloseTo(6_000_000 / 1_250_000, 1)
    expect(svg).toContain('fused &lt;fast&gt; &amp; &quot;new&quot;')
    expect(svg).not.toContain('<fast>')
    expect(svg).toContain('stroke-dasharray')
    expect(svg).toContain('target 5 M')
    // Balanced tags: every opened element is closed or self-closing.
    const opened = (svg.match(/<(svg|text|title)\b/g) ?? []).length
    const closed = (svg.match(/<\/(svg|text|title)>/g) ?? []).length
    expect(opened).toBe(closed)
  })
})

describe('renderConsoleTable', () => {
  it('aligns columns and lists ratios and targets', () => {
    const text = renderConsoleTable(sampleReport())
    const lines = text.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^variant\s+events\/s/)
    expect(new Set(lines.slice(0, 4).map((l) => l.length)).size).toBe(1)
    expect(text).toContain('fused <fast> & "new" vs interpreted: 4.80× throughput, 5.00× shorter p99')
    expect(text).toContain('MISS  fused ≥ 10× interpreted: 4.80×')
    expect(text).toContain('MET   fused ≥ 5M events/s: 6.00 M')
  })
})

describe('writeReport', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-report-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes json, md and svg named after the report', async () => {
    const report = sampleReport()
    const paths = await writeReport(join(dir, 'nested'), report)
    expect(paths.json.endsWith('nested/sample.json')).toBe(true)
    expect(JSON.parse(await readFile(paths.json, 'utf8'))).toEqual(report)
    expect(await readFile(paths.markdown, 'utf8')).toBe(renderMarkdown(report))
    expect(await readFile(paths.svg, 'utf8')).toBe(renderSvg(report))
  })
})

describe('machineInfo', () => {
  it('describes the machine and the git commit of the work tree', () => {
    const info = machineInfo(process.cwd(), new Date('2026-05-06T07:08:09.000Z'))
    expect(info.date).toBe('2026-05-06T07:08:09.000Z')
    expect(info.cores).toBeGreaterThan(0)
    expect(info.nodeVersion).toBe(process.version)
    expect(info.gitCommit).toMatch(/^[0-9a-f]{40}$/)
    expect(typeof info.gitDirty).toBe('boolean')
  })

  it('reports no commit outside a git work tree', () => {
    const info = machineInfo(tmpdir())
    expect(info.gitCommit).toBeNull()
    expect(info.gitDirty).toBeNull()
  })
})
