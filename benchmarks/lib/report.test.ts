import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { VariantResult } from './measure.ts'
import {
  type BenchmarkReport,
  computeRatios,
  computeRatiosOf,
  formatNs,
  formatRate,
  machineInfo,
  readEndToEndFigures,
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

describe('computeRatiosOf', () => {
  it('divides one variant by each baseline, and says when it is slower', () => {
    const variants = [variant('fused', 40e6, 100), variant('hand', 50e6, 80), variant('interp', 8e6, 400)]
    const ratios = computeRatiosOf(variants, 'fused', ['hand', 'interp'])
    expect(ratios).toEqual([
      { variant: 'fused', baseline: 'hand', throughput: 0.8, p99Latency: 0.8 },
      { variant: 'fused', baseline: 'interp', throughput: 5, p99Latency: 4 },
    ])
    const md = renderMarkdown({ ...sampleReport(), variants, ratios })
    expect(md).toContain('| fused | hand | 0.80× (1.25× slower) | 0.80× (1.25× longer) |')
    expect(md).toContain('| fused | interp | 5.00× faster | 4.00× shorter |')
    expect(() => computeRatiosOf(variants, 'fused', ['nope'])).toThrow("variant 'nope'")
  })
})

describe('per-batch latency, outputs and end-to-end figures', () => {
  const endToEnd = {
    source: 'benchmarks/reports/pipeline-throughput.json',
    title: 'Pipeline throughput',
    date: '2026-11-25T15:27:29.704Z',
    gitCommit: 'def456',
    variants: [
      {
        name: "embedded, fsync 'always'",
        eventsPerSecond: 160_000,
        rmePercent: 30,
        peakRssBytes: 280 * 1024 ** 2,
      },
    ],
  }

  it('says the latencies are per batch of the measured size, never per event', () => {
    const md = renderMarkdown(sampleReport())
    expect(md).toContain('Latencies are per batch of 64 events, not per event (see Method).')
    expect(md).not.toContain('Latencies are per event')
    expect(renderConsoleTable(sampleReport())).toContain('per batch of 64 events')
    expect(renderMarkdown({ ...sampleReport(), latencyNote: 'Per handler call.' })).toContain(
      '\nPer handler call.\n',
    )
  })

  it('lists the events/s of every round when variants were measured in alternation', () => {
    const md = renderMarkdown({
      ...sampleReport(),
      rounds: [
        { variant: 'interpreted', eventsPerSecond: [1_200_000, 1_300_000] },
        { variant: 'fused', eventsPerSecond: [6_100_000, 5_900_000] },
      ],
    })
    expect(md).toContain('| variant | round 1 | round 2 |')
    expect(md).toContain('| interpreted | 1.20 M | 1.30 M |')
    expect(md).toContain('| fused | 6.10 M | 5.90 M |')
    expect(renderMarkdown(sampleReport())).not.toContain('## Rounds')
  })

  it('lists each variant’s output checksums', () => {
    const report = sampleReport()
    const withOutputs = {
      ...report,
      variants: report.variants.map((v) => ({
        ...v,
        outputs: {
          pass: { events: 499_165, digest: '0123456789abcdef' },
          latencyRun: { events: 3_194_000, digest: 'fedcba9876543210' },
        },
      })),
    }
    const md = renderMarkdown(withOutputs)
    expect(md).toContain(
      '| interpreted | 499,165 events, `0123456789abcdef` | 3,194,000 events, `fedcba9876543210` |',
    )
    expect(renderMarkdown(report)).not.toContain('## Outputs')
  })

  it('quotes end-to-end figures beside the kernel figures, with their source and date', () => {
    const report = { ...sampleReport(), endToEnd }
    const md = renderMarkdown(report)
    expect(md).toContain('## End to end (from `benchmarks/reports/pipeline-throughput.json`)')
    expect(md).toContain('run 2026-11-25T15:27:29.704Z at commit def456')
    // 6,000,000 (the fastest variant) ÷ 160,000 = 37.5 → 38×.
    expect(md).toContain('| end to end | events/s | ± rme | peak RSS | fused <fast> & "new" ÷ this |')
    expect(md).toContain("| embedded, fsync 'always' | 160 k | 30.00% | 280.0 MiB | 38× |")
    // Or divided by a named variant: 1,250,000 ÷ 160,000 ≈ 8×.
    const named = renderMarkdown({ ...report, endToEnd: { ...endToEnd, compareWith: 'interpreted' } })
    expect(named).toContain('| end to end | events/s | ± rme | peak RSS | interpreted ÷ this |')
    expect(named).toContain('| 280.0 MiB | 8× |')
    expect(md.indexOf('## End to end')).toBeLessThan(md.indexOf('## Ratios'))
    const svg = renderSvg(report)
    expect(svg).toContain("end to end: embedded, fsync 'always'")
    expect(svg).toContain('160 k events/s (2026-11-25)')
    expect(svg).toContain(
      'grey: the whole node end to end (JSON in, log, JSON out), from benchmarks/reports/pipeline-throughput.json',
    )
    const widths = [...svg.matchAll(/<rect class="bar[^"]*"[^>]* width="([\d.]+)"/g)].map((m) => Number(m[1]))
    expect(widths).toHaveLength(3)
    expect(widths[1]! / widths[2]!).toBeCloseTo(6_000_000 / 160_000, 0)
    expect(renderConsoleTable(report)).toContain(
      "end to end (benchmarks/reports/pipeline-throughput.json, 2026-11-25T15:27:29.704Z): embedded, fsync 'always' 160 k events/s",
    )
  })

  it('keeps a margin of error wider than the bar inside the chart', () => {
    const report = sampleReport()
    const noisy = {
      ...report,
      variants: report.variants.map((v) => ({ ...v, throughput: { ...v.throughput, rmePercent: 400 } })),
    }
    const svg = renderSvg(noisy)
    const ends = [...svg.matchAll(/<line x1="([\d.-]+)" x2="([\d.-]+)" y1="(\d+)" y2="\3"/g)].flatMap((m) => [
      Number(m[1]),
      Number(m[2]),
    ])
    expect(ends.length).toBe(4)
    for (const end of ends) {
      expect(end).toBeGreaterThanOrEqual(260)
      expect(end).toBeLessThanOrEqual(760)
    }
  })

  it('reads end-to-end figures from a written report and refuses anything else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-e2e-'))
    try {
      const paths = await writeReport(dir, sampleReport())
      const figures = await readEndToEndFigures(paths.json, 'reports/sample.json')
      expect(figures).toEqual({
        source: 'reports/sample.json',
        title: 'Sample | bench',
        date: machine.date,
        gitCommit: 'abc123',
        variants: [
          { name: 'interpreted', eventsPerSecond: 1_250_000, rmePercent: 1.5, peakRssBytes: 200 * 1024 ** 2 },
          {
            name: 'fused <fast> & "new"',
            eventsPerSecond: 6_000_000,
            rmePercent: 1.5,
            peakRssBytes: 200 * 1024 ** 2,
          },
        ],
      })
      await expect(readEndToEndFigures(join(dir, 'missing.json'))).rejects.toThrow(
        /cannot read the end-to-end report .*missing\.json/,
      )
      const bad = join(dir, 'bad.json')
      await writeFile(bad, JSON.stringify({ title: 'x', machine: { date: 'd' }, variants: [{ name: 'v' }] }))
      await expect(readEndToEndFigures(bad)).rejects.toThrow(/bad\.json is not a benchmark report/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
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
    expect(text).toContain('fused <fast> & "new" vs interpreted: 4.80× faster throughput, p99 5.00× shorter')
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
