/**
 * Benchmark reports: `<name>.json` (everything, machine-readable), `<name>.md` (a table, ratios
 * between variants computed in the same run, targets, method) and `<name>.svg` (a bar chart of
 * events/s per variant, hand-written SVG), plus a console summary table.
 */
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import type { VariantResult } from './measure.ts'

export interface MachineInfo {
  readonly cpuModel: string
  readonly cores: number
  readonly totalMemoryBytes: number
  readonly platform: string
  readonly arch: string
  readonly nodeVersion: string
  readonly v8Version: string
  /** ISO 8601 time the report was made. */
  readonly date: string
  /** HEAD of the repository the benchmark ran in, or null outside a git work tree. */
  readonly gitCommit: string | null
  /** True when tracked files differed from HEAD. */
  readonly gitDirty: boolean | null
}

/** A ratio of one variant to the baseline, from the same run. */
export interface VariantRatio {
  readonly variant: string
  readonly baseline: string
  /** variant events/s ÷ baseline events/s (> 1: the variant is faster). */
  readonly throughput: number
  /** baseline p99 ÷ variant p99 (> 1: the variant's tail is shorter). */
  readonly p99Latency: number
}

export interface TargetResult {
  readonly description: string
  readonly actual: string
  readonly met: boolean
}

export interface BenchmarkReport {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly machine: MachineInfo
  /** Parameters of the run (event count, batch sizes, seed, the pipeline text, …). */
  readonly parameters: Readonly<Record<string, string | number | boolean>>
  readonly variants: readonly VariantResult[]
  /** The variant the ratios compare against. */
  readonly baseline: string
  readonly ratios: readonly VariantRatio[]
  readonly targets: readonly TargetResult[]
  /** How the figures were measured, one paragraph per entry. */
  readonly method: readonly string[]
  /** What the latency columns measure; by default derived from the variants' latency batch sizes. */
  readonly latencyNote?: string
  /** End-to-end figures of the same workload from another report, quoted beside this one's. */
  readonly endToEnd?: EndToEndFigures
  /** events/s of each round (fresh process) per variant, when the variants were measured in alternation. */
  readonly rounds?: readonly { readonly variant: string; readonly eventsPerSecond: readonly number[] }[]
}

/** End-to-end rates quoted from another (committed) report, with where and when they were measured. */
export interface EndToEndFigures {
  /** The report file they were read from, relative to the repository. */
  readonly source: string
  readonly title: string
  /** When that report was made (its machine.date) and at which commit. */
  readonly date: string
  readonly gitCommit: string | null
  /** The variant of this report each end-to-end rate is divided by (default: the fastest). */
  readonly compareWith?: string
  readonly variants: readonly {
    readonly name: string
    readonly eventsPerSecond: number
    readonly rmePercent: number
    readonly peakRssBytes: number
  }[]
}

/**
 * Reads the end-to-end figures out of a report written by `writeReport` (e.g.
 * `benchmarks/reports/pipeline-throughput.json`). Throws naming the file when it is missing or not
 * such a report, rather than quoting nothing or a stale number.
 */
export async function readEndToEndFigures(path: string, source = path): Promise<EndToEndFigures> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'))
  } catch (error) {
    throw new Error(`cannot read the end-to-end report ${path}: ${(error as Error).message}`)
  }
  const report = parsed as Partial<BenchmarkReport>
  const variants = Array.isArray(report.variants) ? report.variants : []
  const usable = variants.every(
    (v) =>
      typeof v?.name === 'string' &&
      Number.isFinite(v.throughput?.eventsPerSecond) &&
      Number.isFinite(v.memory?.peakRssBytes),
  )
  if (
    typeof report.title !== 'string' ||
    typeof report.machine?.date !== 'string' ||
    variants.length === 0 ||
    !usable
  )
    throw new Error(
      `${path} is not a benchmark report with variants (title, machine.date, variants[].throughput.eventsPerSecond, variants[].memory.peakRssBytes)`,
    )
  return {
    source,
    title: report.title,
    date: report.machine.date,
    gitCommit: report.machine.gitCommit ?? null,
    variants: variants.map((v) => ({
      name: v.name,
      eventsPerSecond: v.throughput.eventsPerSecond,
      rmePercent: v.throughput.rmePercent ?? 0,
      peakRssBytes: v.memory.peakRssBytes,
    })),
  }
}

/** Describes this machine and the repository state at `cwd`. */
export function machineInfo(cwd = process.cwd(), now = new Date()): MachineInfo {
  const git = (args: string[]): string | null => {
    try {
      return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return null
    }
  }
  const commit = git(['rev-parse', 'HEAD'])
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no'])
  const cpuList = cpus()
  return {
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    totalMemoryBytes: totalmem(),
    platform: process.platform,
    arch: process.arch,
    nodeVersion: process.version,
    v8Version: process.versions.v8,
    date: now.toISOString(),
    gitCommit: commit,
    gitDirty: status === null ? null : status.length > 0,
  }
}

/** Ratios of `subject` to each of `baselines` (e.g. the fused chain against every baseline). */
export function computeRatiosOf(
  variants: readonly VariantResult[],
  subject: string,
  baselines: readonly string[],
): VariantRatio[] {
  const find = (name: string) => {
    const found = variants.find((variant) => variant.name === name)
    if (found === undefined) throw new Error(`variant '${name}' is not among the results`)
    return found
  }
  const s = find(subject)
  return baselines.map((name) => {
    const base = find(name)
    return {
      variant: subject,
      baseline: name,
      throughput: s.throughput.eventsPerSecond / base.throughput.eventsPerSecond,
      p99Latency: base.latencyNs.p99 / s.latencyNs.p99,
    }
  })
}

/** Ratios of every other variant to `baseline`. */
export function computeRatios(variants: readonly VariantResult[], baseline: string): VariantRatio[] {
  const base = variants.find((variant) => variant.name === baseline)
  if (base === undefined) throw new Error(`baseline variant '${baseline}' is not among the results`)
  return variants
    .filter((variant) => variant.name !== baseline)
    .map((variant) => ({
      variant: variant.name,
      baseline,
      throughput: variant.throughput.eventsPerSecond / base.throughput.eventsPerSecond,
      p99Latency: base.latencyNs.p99 / variant.latencyNs.p99,
    }))
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** 5234000 → '5.23 M', 812345 → '812 k', 950 → '950'. */
export function formatRate(perSecond: number): string {
  if (perSecond >= 1e9) return `${(perSecond / 1e9).toFixed(2)} G`
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M`
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(0)} k`
  return perSecond.toFixed(0)
}

/** Nanoseconds in a readable unit: '85 ns', '1.25 µs', '3.40 ms'. */
export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`
  return `${ns.toFixed(0)} ns`
}

export function formatBytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`
}

/** 4.8 → '4.80× faster', 0.8 → '0.80× (1.25× slower)': a ratio below 1 is not called faster. */
function formatSpeedup(ratio: number, better: string, worse: string): string {
  return ratio >= 1
    ? `${formatRatio(ratio)} ${better}`
    : `${formatRatio(ratio)} (${formatRatio(1 / ratio)} ${worse})`
}

/** The sentence under the table saying what the latency columns are. */
export function latencyNote(report: BenchmarkReport): string {
  if (report.latencyNote !== undefined) return report.latencyNote
  const sizes = [...new Set(report.variants.map((v) => v.latencyNs.batchSize))]
  return `Latencies are per batch of ${sizes.map((n) => n.toLocaleString('en-US')).join(' / ')} events, not per event (see Method).`
}

function endToEndLines(report: BenchmarkReport): string[] {
  const e2e = report.endToEnd
  if (e2e === undefined) return []
  const fastest = report.variants.reduce((a, b) =>
    b.throughput.eventsPerSecond > a.throughput.eventsPerSecond ? b : a,
  )
  const kernel = report.variants.find((v) => v.name === e2e.compareWith) ?? fastest
  return [
    `## End to end (from \`${e2e.source}\`)`,
    '',
    `The same workload through a whole node, JSON in, through the log, JSON out (“${escapeMarkdown(e2e.title)}”, run ${e2e.date}${e2e.gitCommit === null ? '' : ` at commit ${e2e.gitCommit}`}; a different run, so compare only orders of magnitude):`,
    '',
    `| end to end | events/s | ± rme | peak RSS | ${escapeMarkdown(kernel.name)} ÷ this |`,
    '| --- | ---: | ---: | ---: | ---: |',
    ...e2e.variants.map(
      (v) =>
        `| ${escapeMarkdown(v.name)} | ${formatRate(v.eventsPerSecond)} | ${v.rmePercent.toFixed(2)}% | ${formatBytes(v.peakRssBytes)} | ${(kernel.throughput.eventsPerSecond / v.eventsPerSecond).toFixed(0)}× |`,
    ),
    '',
  ]
}

function roundLines(report: BenchmarkReport): string[] {
  const rounds = report.rounds ?? []
  if (rounds.length === 0) return []
  const count = Math.max(...rounds.map((r) => r.eventsPerSecond.length))
  const numbers = Array.from({ length: count }, (_, i) => `round ${i + 1}`)
  return [
    '## Rounds (events/s of each fresh process; the variants alternate within a round)',
    '',
    `| variant | ${numbers.join(' | ')} |`,
    `| --- | ${numbers.map(() => '---:').join(' | ')} |`,
    ...rounds.map(
      (r) =>
        `| ${escapeMarkdown(r.variant)} | ${numbers.map((_, i) => (r.eventsPerSecond[i] === undefined ? '' : formatRate(r.eventsPerSecond[i]!))).join(' | ')} |`,
    ),
    '',
  ]
}

function outputLines(report: BenchmarkReport): string[] {
  const checked = report.variants.filter((v) => v.outputs !== undefined)
  if (checked.length === 0) return []
  return [
    '## Outputs (checksums of values, keys and timestamps)',
    '',
    '| variant | whole-input pass | latency run |',
    '| --- | --- | --- |',
    ...checked.map(
      (v) =>
        `| ${escapeMarkdown(v.name)} | ${v.outputs!.pass.events.toLocaleString('en-US')} events, \`${v.outputs!.pass.digest}\` | ${v.outputs!.latencyRun.events.toLocaleString('en-US')} events, \`${v.outputs!.latencyRun.digest}\` |`,
    ),
    '',
  ]
}

const HEADERS = [
  'variant',
  'events/s',
  '± rme',
  'p50',
  'p99',
  'p999',
  'peak RSS',
  'peak heap',
  'heap after GC',
] as const

function rows(report: BenchmarkReport): string[][] {
  return report.variants.map((v) => [
    v.name,
    formatRate(v.throughput.eventsPerSecond),
    `${v.throughput.rmePercent.toFixed(2)}%`,
    formatNs(v.latencyNs.p50),
    formatNs(v.latencyNs.p99),
    formatNs(v.latencyNs.p999),
    formatBytes(v.memory.peakRssBytes),
    formatBytes(v.memory.peakHeapUsedBytes),
    formatBytes(v.memory.endHeapUsedBytes),
  ])
}

const escapeMarkdown = (text: string): string => text.replace(/\|/g, '\\|')

export function renderMarkdown(report: BenchmarkReport): string {
  const m = report.machine
  const lines: string[] = [
    `# ${report.title}`,
    '',
    report.description,
    '',
    `Run ${m.date} on ${m.cpuModel} (${m.cores} cores, ${formatBytes(m.totalMemoryBytes)}), Node ${m.nodeVersion} (V8 ${m.v8Version}), ${m.platform}/${m.arch}; commit ${m.gitCommit ?? 'unknown'}${m.gitDirty ? ' (with uncommitted changes)' : ''}.`,
    '',
    `| ${HEADERS.join(' | ')} |`,
    `| ${HEADERS.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows(report).map((cells) => `| ${cells.map(escapeMarkdown).join(' | ')} |`),
    '',
    latencyNote(report),
    '',
    ...endToEndLines(report),
    ...roundLines(report),
    ...outputLines(report),
  ]
  if (report.ratios.length > 0) {
    lines.push(
      '## Ratios (same run)',
      '',
      '| variant | vs | throughput | p99 latency |',
      '| --- | --- | ---: | ---: |',
    )
    for (const r of report.ratios) {
      lines.push(
        `| ${escapeMarkdown(r.variant)} | ${escapeMarkdown(r.baseline)} | ${formatSpeedup(r.throughput, 'faster', 'slower')} | ${formatSpeedup(r.p99Latency, 'shorter', 'longer')} |`,
      )
    }
    lines.push('')
  }
  if (report.targets.length > 0) {
    lines.push('## Targets', '', '| target | measured | met |', '| --- | --- | :---: |')
    for (const t of report.targets) {
      lines.push(
        `| ${escapeMarkdown(t.description)} | ${escapeMarkdown(t.actual)} | ${t.met ? 'yes' : '**no**'} |`,
      )
    }
    lines.push('')
  }
  lines.push('## Parameters', '')
  for (const [key, value] of Object.entries(report.parameters)) {
    const text = String(value)
    lines.push(text.includes('\n') ? `- ${key}:\n\n\`\`\`\n${text}\n\`\`\`\n` : `- ${key}: \`${text}\``)
  }
  lines.push('', '## Method', '', ...report.method.flatMap((paragraph) => [paragraph, '']))
  lines.push(`![events/s per variant](./${report.name}.svg)`, '')
  return lines.join('\n')
}

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

export interface SvgOptions {
  /** Draws a dashed line at this events/s (e.g. a target). */
  readonly markerEventsPerSecond?: number
  readonly markerLabel?: string
}

/**
 * A horizontal bar chart of events/s per variant, with the rme as a whisker; end-to-end figures
 * quoted from another report (`report.endToEnd`) get grey bars under them, on the same scale.
 */
export function renderSvg(report: BenchmarkReport, options: SvgOptions = {}): string {
  const width = 760
  const labelWidth = 260
  const valueWidth = 120
  const barArea = width - labelWidth - valueWidth - 20
  const barHeight = 28
  const gap = 14
  // Room for a second heading line that says what the grey end-to-end bars are.
  const top = report.endToEnd === undefined ? 48 : 66
  const rates = report.variants.map((v) => v.throughput.eventsPerSecond)
  const endToEnd = report.endToEnd?.variants ?? []
  const max = Math.max(
    ...rates,
    ...endToEnd.map((v) => v.eventsPerSecond),
    options.markerEventsPerSecond ?? 0,
    1,
  )
  const height = top + (report.variants.length + endToEnd.length) * (barHeight + gap) + 30
  const x = (rate: number) => labelWidth + (rate / max) * barArea
  const palette = ['#2f6db5', '#d0822b', '#3a9a5b', '#a4475d', '#6f5aa8']
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<title>${escapeXml(report.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="15" font-weight="bold">${escapeXml(report.title)}: events/s per core</text>`,
  ]
  report.variants.forEach((variant, i) => {
    const y = top + i * (barHeight + gap)
    const rate = variant.throughput.eventsPerSecond
    const barWidth = Math.max(1, x(rate) - labelWidth)
    const whisker = (rate * variant.throughput.rmePercent) / 100
    const cy = y + barHeight / 2
    parts.push(
      `<text x="${labelWidth - 8}" y="${cy + 4}" text-anchor="end">${escapeXml(variant.name)}</text>`,
      `<rect class="bar" x="${labelWidth}" y="${y}" width="${barWidth.toFixed(1)}" height="${barHeight}" fill="${palette[i % palette.length]}"/>`,
      // A margin wider than the bar (few noisy rounds) stops at the axis and the chart's edge.
      `<line x1="${x(Math.max(0, rate - whisker)).toFixed(1)}" x2="${x(Math.min(max, rate + whisker)).toFixed(1)}" y1="${cy}" y2="${cy}" stroke="#222" stroke-width="1.5"/>`,
      `<text x="${(labelWidth + barWidth + 8).toFixed(1)}" y="${cy + 4}">${escapeXml(formatRate(rate))} events/s</text>`,
    )
  })
  if (report.endToEnd !== undefined) {
    parts.push(
      `<text x="12" y="44" fill="#555">${escapeXml(`grey: the whole node end to end (JSON in, log, JSON out), from ${report.endToEnd.source}`)}</text>`,
    )
  }
  endToEnd.forEach((variant, j) => {
    const y = top + (report.variants.length + j) * (barHeight + gap)
    const rate = variant.eventsPerSecond
    const barWidth = Math.max(1, x(rate) - labelWidth)
    const cy = y + barHeight / 2
    parts.push(
      `<text x="${labelWidth - 8}" y="${cy + 4}" text-anchor="end">${escapeXml(`end to end: ${variant.name}`)}</text>`,
      `<rect class="bar end-to-end" x="${labelWidth}" y="${y}" width="${barWidth.toFixed(1)}" height="${barHeight}" fill="#9a9a9a"/>`,
      `<text x="${(labelWidth + barWidth + 8).toFixed(1)}" y="${cy + 4}">${escapeXml(`${formatRate(rate)} events/s (${report.endToEnd!.date.slice(0, 10)})`)}</text>`,
    )
  })
  if (options.markerEventsPerSecond !== undefined) {
    const mx = x(options.markerEventsPerSecond).toFixed(1)
    const bottom = height - 24
    parts.push(
      `<line x1="${mx}" x2="${mx}" y1="${top - 8}" y2="${bottom}" stroke="#c0392b" stroke-dasharray="5,4" stroke-width="1.5"/>`,
      `<text x="${mx}" y="${bottom + 16}" text-anchor="middle" fill="#c0392b">${escapeXml(options.markerLabel ?? formatRate(options.markerEventsPerSecond))}</text>`,
    )
  }
  parts.push(
    `<line x1="${labelWidth}" x2="${labelWidth}" y1="${top - 8}" y2="${height - 24}" stroke="#444"/>`,
    '</svg>',
  )
  return `${parts.join('\n')}\n`
}

/** A fixed-width table for the terminal, with the ratios under it. */
export function renderConsoleTable(report: BenchmarkReport): string {
  const table = [Array.from(HEADERS), ...rows(report)]
  const widths = HEADERS.map((_, c) => Math.max(...table.map((row) => row[c]!.length)))
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')
  const out = [line(table[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)]
  out.push(latencyNote(report))
  for (const r of report.ratios) {
    out.push(
      `${r.variant} vs ${r.baseline}: ${formatSpeedup(r.throughput, 'faster', 'slower')} throughput, p99 ${formatSpeedup(r.p99Latency, 'shorter', 'longer')}`,
    )
  }
  for (const v of report.endToEnd?.variants ?? [])
    out.push(
      `end to end (${report.endToEnd!.source}, ${report.endToEnd!.date}): ${v.name} ${formatRate(v.eventsPerSecond)} events/s`,
    )
  for (const t of report.targets) out.push(`${t.met ? 'MET ' : 'MISS'}  ${t.description}: ${t.actual}`)
  return `${out.join('\n')}\n`
}

/** Writes `<name>.json`, `<name>.md` and `<name>.svg` into `dir`; returns their paths. */
export async function writeReport(
  dir: string,
  report: BenchmarkReport,
  svgOptions: SvgOptions = {},
): Promise<{ json: string; markdown: string; svg: string }> {
  return writeReportFiles(dir, report.name, report, renderMarkdown(report), renderSvg(report, svgOptions))
}

/**
 * The three files of any benchmark's report: `<name>.json` (the data), `<name>.md` and
 * `<name>.svg` (as rendered by its benchmark) in `dir`; returns their paths.
 */
export async function writeReportFiles(
  dir: string,
  name: string,
  data: unknown,
  markdown: string,
  svg: string,
): Promise<{ json: string; markdown: string; svg: string }> {
  await mkdir(dir, { recursive: true })
  const paths = {
    json: join(dir, `${name}.json`),
    markdown: join(dir, `${name}.md`),
    svg: join(dir, `${name}.svg`),
  }
  await writeFile(paths.json, `${JSON.stringify(data, null, 2)}\n`)
  await writeFile(paths.markdown, markdown)
  await writeFile(paths.svg, svg)
  return paths
}
