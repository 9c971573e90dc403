/**
 * The skeleton every A/B benchmark shares (benchmarks/*-ab.bench.ts): its common flags, the
 * rounds in which the variants (commits, kernels, rules) alternate, the paired ratios that
 * compare them, and the JSON report. The trees of other revisions are commit-tree.ts's.
 *
 * Why rounds and paired ratios: on a shared machine the load changes from one minute to the next
 * by more than most differences measured. Each round runs every variant once, in an order that
 * turns by one each round (so none always runs first, or after a given other); the variant is
 * compared with the baseline of the same round, which met nearly the same load, and the rounds'
 * ratios are summarised by their median and range. A ratio of each variant's own median instead
 * pairs a good minute of one with a bad minute of the other.
 */
import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { median } from './percentile.ts'
import { machineInfo } from './report.ts'

// ── flags ─────────────────────────────────────────────────────────────────────────────────────

export interface RoundPlan {
  /** Rounds measured. */
  readonly rounds: number
  /** Rounds run first and left out of every figure (JIT warm-up, first allocations). */
  readonly warmupRounds: number
}

export interface RoundFlags extends RoundPlan {
  /** Where to write the JSON report; none when not given. */
  readonly json: string | undefined
}

/** `--rounds`, `--warmup-rounds` and `--json`, for node:util's parseArgs, with the bench's defaults. */
export function roundOptions(defaults: { readonly rounds: number; readonly warmupRounds?: number }) {
  return {
    rounds: { type: 'string', default: String(defaults.rounds) },
    'warmup-rounds': { type: 'string', default: String(defaults.warmupRounds ?? 0) },
    json: { type: 'string' },
  } as const
}

/** `--commits` (comma-separated revisions, `worktree` for this checkout as it is) and `--trees`. */
export function commitOptions(defaultCommits: string) {
  return {
    commits: { type: 'string', default: defaultCommits },
    // The directory in which the run makes (and at its end removes) its own directory of trees.
    trees: { type: 'string', default: tmpdir() },
  } as const
}

export function readRoundFlags(values: {
  readonly rounds?: string
  readonly 'warmup-rounds'?: string
  readonly json?: string
}): RoundFlags {
  return {
    rounds: wholeNumberFlag('rounds', values.rounds ?? '', 1),
    warmupRounds: wholeNumberFlag('warmup-rounds', values['warmup-rounds'] ?? '', 0),
    json: values.json,
  }
}

/** The revisions of `--commits`: at least one, each once (runs are told apart by it). */
export function readRevisions(text: string): string[] {
  const revisions = text
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '')
  if (revisions.length === 0) throw new RangeError('--commits names at least one revision')
  if (new Set(revisions).size !== revisions.length)
    throw new RangeError(`--commits names each revision once, got ${text}`)
  return revisions
}

/** `--name`'s value as a whole number of at least `min`, or an error that names the flag. */
export function wholeNumberFlag(name: string, text: string, min: number): number {
  const value = Number(text)
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < min)
    throw new RangeError(`--${name} takes a whole number of at least ${min}, got '${text}'`)
  return value
}

// ── alternation ───────────────────────────────────────────────────────────────────────────────

/** The variants in the order a round runs them: turned by one each round, so none always runs first. */
export function roundOrder<T>(variants: readonly T[], round: number): T[] {
  const n = variants.length
  return variants.map((_, i) => variants[(((i + round) % n) + n) % n]!)
}

export interface RoundSlot<G> {
  /** 1, 2, … for measured rounds; 0, −1, … for the warm-up rounds before them. */
  readonly round: number
  readonly warmup: boolean
  readonly group: G
}

export interface AbRun<V, G, R> extends RoundSlot<G> {
  readonly variant: V
  readonly result: R
}

/**
 * Runs the warm-up rounds, then the measured ones; in each round, per group (a protocol, a
 * workload: what is compared within, never across), every variant once in roundOrder. Answers
 * every run in the order run, the warm-ups marked.
 */
export async function alternate<V, R, G = undefined>(
  variants: readonly V[],
  plan: RoundPlan,
  measure: (variant: V, slot: RoundSlot<G>) => R | Promise<R>,
  groups: readonly G[] = [undefined as G],
): Promise<AbRun<V, G, R>[]> {
  if (variants.length === 0) throw new RangeError('no variants to alternate')
  const runs: AbRun<V, G, R>[] = []
  for (let index = 0; index < plan.warmupRounds + plan.rounds; index++) {
    const round = index - plan.warmupRounds + 1
    for (const group of groups) {
      for (const variant of roundOrder(variants, index)) {
        const slot = { round, warmup: round <= 0, group }
        runs.push({ ...slot, variant, result: await measure(variant, slot) })
      }
    }
  }
  return runs
}

// ── paired ratios ─────────────────────────────────────────────────────────────────────────────

/** One figure of one run, by round and variant. */
export interface RoundFigure {
  readonly round: number
  readonly variant: string
  readonly value: number
}

export interface RatioSummary {
  readonly variant: string
  readonly baseline: string
  /** Rounds that measured both the variant and the baseline. */
  readonly rounds: number
  /** Per such round, the variant's value over the baseline's, in round order. */
  readonly ratios: readonly number[]
  /** Median, lowest and highest of `ratios`; NaN when no round pairs. */
  readonly median: number
  readonly min: number
  readonly max: number
}

/**
 * Per variant other than `baseline` (in the order they first appear), its value over the
 * baseline's of the same round. Where a round holds several runs of one variant (several runs in
 * one process), their median stands for it; rounds without both are left out.
 */
export function ratiosByRound(figures: readonly RoundFigure[], baseline: string): RatioSummary[] {
  const byVariant = new Map<string, Map<number, number[]>>()
  for (const { variant, round, value } of figures) {
    const rounds = byVariant.get(variant) ?? new Map<number, number[]>()
    byVariant.set(variant, rounds)
    rounds.set(round, [...(rounds.get(round) ?? []), value])
  }
  const base = byVariant.get(baseline) ?? new Map<number, number[]>()
  return [...byVariant]
    .filter(([variant]) => variant !== baseline)
    .map(([variant, rounds]) => {
      const ratios = [...rounds]
        .filter(([round]) => base.has(round))
        .sort(([a], [b]) => a - b)
        .map(([round, values]) => median(values) / median(base.get(round)!))
      const empty = ratios.length === 0
      return {
        variant,
        baseline,
        rounds: ratios.length,
        ratios,
        median: empty ? Number.NaN : median(ratios),
        min: empty ? Number.NaN : Math.min(...ratios),
        max: empty ? Number.NaN : Math.max(...ratios),
      }
    })
}

/** `B / A (events per CPU-s): ×1.03, range ×0.98–×1.07 over 3 rounds (0.98, 1.03, 1.07)`. */
export function formatRatioSummary(figure: string, s: RatioSummary, digits = 3): string {
  if (s.rounds === 0) return `${s.variant} / ${s.baseline} (${figure}): no round measured both`
  const list = s.ratios.map((r) => r.toFixed(digits)).join(', ')
  return `${s.variant} / ${s.baseline} (${figure}): ×${s.median.toFixed(digits)}, range ×${s.min.toFixed(digits)}–×${s.max.toFixed(digits)} over ${s.rounds} round${s.rounds === 1 ? '' : 's'} (${list})`
}

// ── report ────────────────────────────────────────────────────────────────────────────────────

export interface NamedRatios extends RatioSummary {
  /** What was divided (`CPU-s`, `events per CPU-s`). */
  readonly figure: string
  /** The group compared within (a protocol, a workload), where the bench has groups. */
  readonly group?: string
}

export interface AbReport {
  /** The bench's file name without `.bench.ts`. */
  readonly bench: string
  readonly options: Readonly<Record<string, unknown>>
  readonly plan: RoundPlan
  /** The revisions compared, where the variants are revisions. */
  readonly revisions?: readonly { readonly label: string; readonly sha: string }[]
  /** Every run's figures, warm-ups included and marked. */
  readonly runs: readonly unknown[]
  readonly ratios: readonly NamedRatios[]
}

/** Writes `report` as JSON to `path` with the machine's description (nothing when `path` is undefined). */
export async function writeAbReport(path: string | undefined, report: AbReport): Promise<void> {
  if (path === undefined) return
  await writeFile(path, `${JSON.stringify({ machine: machineInfo(), ...report }, null, 2)}\n`)
  process.stderr.write(`report: ${path}\n`)
}
