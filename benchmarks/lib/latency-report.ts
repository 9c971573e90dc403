/**
 * The latency benchmark's report: `latency.json` (everything), `latency.md` (a table per variant:
 * latency percentiles per offered rate, GC, CPU, memory; the highest rate held) and `latency.svg`
 * (p50/p99/p999 read → handoff and p99 offered → durable against offered rate, log scale).
 */
import type { HistogramSummary } from './latency-histogram.ts'
import { formatBytes, formatNs, type MachineInfo, writeReportFiles } from './report.ts'

export interface RateResult {
  readonly offered: number
  readonly achieved: number
  /** Every measured output became durable before the time limit. */
  readonly caughtUp: boolean
  readonly measuredEvents: number
  readonly measuredOutputs: number
  readonly expectedOutputs: number
  readonly windowSeconds: number
  readonly readToHandoff: HistogramSummary
  readonly readToDurable: HistogramSummary
  readonly offeredToDurable: HistogramSummary
  readonly gc: { readonly count: number; readonly totalMs: number; readonly maxMs: number }
  readonly cpu: { readonly userSeconds: number; readonly systemSeconds: number; readonly utilisation: number }
  readonly peakRssBytes: number
  /** Batches the log handed to the runner in the window, and their mean size. */
  readonly batches: number
  readonly recordsPerBatch: number
  readonly producer: { readonly appends: number; readonly largestGroup: number }
  readonly held: boolean
}

export interface VariantLatency {
  readonly key: string
  readonly label: string
  readonly rates: readonly RateResult[]
  /** Highest offered rate held, or null if none was. */
  readonly highestHeld: number | null
}

export interface LatencyReport {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly machine: MachineInfo
  readonly parameters: Readonly<Record<string, string | number>>
  readonly variants: readonly VariantLatency[]
  readonly p99LimitNs: number
  readonly heldShare: number
  readonly method: readonly string[]
}

/** A rate is held when every output arrived, achieved ≥ share × offered, and p99 read → handoff < limit. */
export function heldRate(
  r: Pick<RateResult, 'offered' | 'achieved' | 'caughtUp' | 'readToHandoff'>,
  p99LimitNs: number,
  share: number,
): boolean {
  return r.caughtUp && r.achieved >= share * r.offered && r.readToHandoff.p99 < p99LimitNs
}

/** Events/s with the digits a rate needs: 2500 → '2.5 k' (not '3 k'), 150000 → '150 k'. */
export function formatRate(perSecond: number): string {
  const trim = (x: number) => String(Number(x.toPrecision(3)))
  if (perSecond >= 1e6) return `${trim(perSecond / 1e6)} M`
  if (perSecond >= 1e3) return `${trim(perSecond / 1e3)} k`
  return perSecond.toFixed(0)
}

const escapeMarkdown = (text: string): string => text.replace(/\|/g, '\\|')
const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const percentiles = (s: HistogramSummary) =>
  `${formatNs(s.p50)} / ${formatNs(s.p99)} / ${formatNs(s.p999)} / ${formatNs(s.max)}`

export function renderLatencyMarkdown(report: LatencyReport): string {
  const m = report.machine
  const lines = [
    `# ${report.title}`,
    '',
    report.description,
    '',
    `Run ${m.date} on ${m.cpuModel} (${m.cores} cores, ${formatBytes(m.totalMemoryBytes)}), Node ${m.nodeVersion} (V8 ${m.v8Version}), ${m.platform}/${m.arch}; commit ${m.gitCommit ?? 'unknown'}${m.gitDirty ? ' (with uncommitted changes)' : ''}.`,
    '',
    '## Highest rate held',
    '',
    `p99 read → handoff under ${formatNs(report.p99LimitNs)} and achieved ≥ ${Math.round(report.heldShare * 100)} % of offered.`,
    '',
    '| variant | highest rate held | rates tried |',
    '| --- | ---: | --- |',
    ...report.variants.map(
      (v) =>
        `| ${escapeMarkdown(v.label)} | ${v.highestHeld === null ? 'none' : `${formatRate(v.highestHeld)} events/s`} | ${v.rates.map((r) => formatRate(r.offered)).join(', ')} |`,
    ),
    '',
  ]
  for (const v of report.variants) {
    lines.push(
      `## ${v.label}`,
      '',
      'Latencies p50 / p99 / p999 / max, per output event.',
      '',
      '| offered/s | achieved/s | held | read → handoff | read → durable | offered → durable | records/batch | GC pauses (total, max) | CPU | peak RSS |',
      '| ---: | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    )
    for (const r of v.rates) {
      lines.push(
        `| ${formatRate(r.offered)} | ${formatRate(r.achieved)}${r.caughtUp ? '' : ' (fell behind)'} | ${r.held ? 'yes' : '**no**'} | ${percentiles(r.readToHandoff)} | ${percentiles(r.readToDurable)} | ${percentiles(r.offeredToDurable)} | ${r.recordsPerBatch.toFixed(0)} | ${r.gc.count}: ${r.gc.totalMs.toFixed(1)} ms, ${r.gc.maxMs.toFixed(1)} ms | ${(r.cpu.userSeconds + r.cpu.systemSeconds).toFixed(2)} s (${(r.cpu.utilisation * 100).toFixed(0)} %) | ${formatBytes(r.peakRssBytes)} |`,
      )
    }
    lines.push('')
  }
  lines.push(...ratioSection(report))
  lines.push('## Parameters', '')
  for (const [key, value] of Object.entries(report.parameters)) {
    const text = String(value)
    lines.push(text.includes('\n') ? `- ${key}:\n\n\`\`\`\n${text}\n\`\`\`\n` : `- ${key}: \`${text}\``)
  }
  lines.push('', '## Method', '', ...report.method.flatMap((p) => [p, '']))
  lines.push(`![latency percentiles against offered rate](./${report.name}.svg)`, '')
  return lines.join('\n')
}

/**
 * Each variant against the first, at the rates both ran (same run, same machine state): p99 of
 * each measure, baseline ÷ variant (> 1: the variant's tail is shorter).
 */
export function latencyRatios(report: LatencyReport): {
  variant: string
  baseline: string
  offered: number
  readToHandoff: number
  readToDurable: number
  offeredToDurable: number
}[] {
  const [base, ...others] = report.variants
  if (base === undefined) return []
  const ratio = (a: number, b: number) => (b > 0 ? a / b : Number.NaN)
  return others.flatMap((v) =>
    v.rates.flatMap((r) => {
      const b = base.rates.find((x) => x.offered === r.offered)
      if (b === undefined) return []
      return [
        {
          variant: v.label,
          baseline: base.label,
          offered: r.offered,
          readToHandoff: ratio(b.readToHandoff.p99, r.readToHandoff.p99),
          readToDurable: ratio(b.readToDurable.p99, r.readToDurable.p99),
          offeredToDurable: ratio(b.offeredToDurable.p99, r.offeredToDurable.p99),
        },
      ]
    }),
  )
}

function ratioSection(report: LatencyReport): string[] {
  const ratios = latencyRatios(report)
  if (ratios.length === 0) return []
  const f = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a')
  return [
    '## Ratios (same run)',
    '',
    `p99 of ${escapeMarkdown(ratios[0]!.baseline)} ÷ p99 of the variant, at the same offered rate (> 1: the variant's tail is shorter).`,
    '',
    '| variant | offered/s | read → handoff | read → durable | offered → durable |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...ratios.map(
      (r) =>
        `| ${escapeMarkdown(r.variant)} | ${formatRate(r.offered)} | ${f(r.readToHandoff)} | ${f(r.readToDurable)} | ${f(r.offeredToDurable)} |`,
    ),
    '',
  ]
}

const PALETTE = ['#2f6db5', '#d0822b', '#3a9a5b', '#a4475d', '#6f5aa8']
const SERIES = [
  { name: 'p50 read → handoff', pick: (r: RateResult) => r.readToHandoff.p50, dash: '2,3' },
  { name: 'p99 read → handoff', pick: (r: RateResult) => r.readToHandoff.p99, dash: '' },
  { name: 'p999 read → handoff', pick: (r: RateResult) => r.readToHandoff.p999, dash: '8,4' },
  { name: 'p99 offered → durable', pick: (r: RateResult) => r.offeredToDurable.p99, dash: '1,5' },
] as const

/** Latency (log scale, ns) against offered rate (linear): one colour per variant, one dash per series. */
export function renderLatencySvg(report: LatencyReport): string {
  const width = 820
  const height = 460
  const left = 70
  const right = 230
  const top = 40
  const bottom = 50
  const plotW = width - left - right
  const plotH = height - top - bottom
  const all = report.variants.flatMap((v) => v.rates)
  const maxRate = Math.max(1, ...all.map((r) => r.offered))
  const values = all.flatMap((r) => SERIES.map((s) => s.pick(r))).filter((v) => v > 0)
  const lo = Math.floor(Math.log10(Math.min(report.p99LimitNs, ...values)))
  const hi = Math.ceil(Math.log10(Math.max(report.p99LimitNs, ...values)))
  const span = Math.max(1, hi - lo)
  const x = (rate: number) => left + (rate / maxRate) * plotW
  const y = (ns: number) => top + plotH - ((Math.log10(Math.max(ns, 10 ** lo)) - lo) / span) * plotH
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(report.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${escapeXml(report.title)}: latency against offered rate</text>`,
  ]
  for (let d = lo; d <= hi; d++) {
    const gy = y(10 ** d).toFixed(1)
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${gy}" y2="${gy}" stroke="#e4e4e4"/>`,
      `<text x="${left - 6}" y="${Number(gy) + 4}" text-anchor="end">${escapeXml(formatNs(10 ** d))}</text>`,
    )
  }
  const rates = [...new Set(all.map((r) => r.offered))].sort((a, b) => a - b)
  for (const rate of rates) {
    parts.push(
      `<text x="${x(rate).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${escapeXml(formatRate(rate))}</text>`,
    )
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${height - 12}" text-anchor="middle">offered events/s</text>`,
    `<line x1="${left}" x2="${left + plotW}" y1="${y(report.p99LimitNs).toFixed(1)}" y2="${y(report.p99LimitNs).toFixed(1)}" stroke="#c0392b" stroke-dasharray="5,4" stroke-width="1.5"/>`,
    `<text x="${left + plotW - 4}" y="${(y(report.p99LimitNs) - 5).toFixed(1)}" text-anchor="end" fill="#c0392b">${escapeXml(formatNs(report.p99LimitNs))} p99 limit</text>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#444"/>`,
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#444"/>`,
  )
  let legendY = top
  report.variants.forEach((v, i) => {
    const colour = PALETTE[i % PALETTE.length]!
    parts.push(
      `<text x="${left + plotW + 14}" y="${legendY + 4}" font-weight="bold" fill="${colour}">${escapeXml(v.label)}</text>`,
    )
    legendY += 16
    for (const s of SERIES) {
      const points = v.rates.map((r) => `${x(r.offered).toFixed(1)},${y(s.pick(r)).toFixed(1)}`).join(' ')
      const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : ''
      parts.push(
        `<polyline class="series" fill="none" stroke="${colour}" stroke-width="2"${dash} points="${points}"/>`,
        `<line x1="${left + plotW + 14}" x2="${left + plotW + 40}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="2"${dash}/>`,
        `<text x="${left + plotW + 46}" y="${legendY + 4}">${escapeXml(s.name)}</text>`,
      )
      legendY += 15
    }
    legendY += 8
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}

/** Writes `<name>.json`, `<name>.md` and `<name>.svg` into `dir`. */
export function writeLatencyReport(
  dir: string,
  report: LatencyReport,
): Promise<{ json: string; markdown: string; svg: string }> {
  return writeReportFiles(dir, report.name, report, renderLatencyMarkdown(report), renderLatencySvg(report))
}
