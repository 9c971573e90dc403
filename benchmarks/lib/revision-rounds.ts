/**
 * The A/B benchmarks that run each commit in fresh processes (cep-e2e-ab, nexmark-ab,
 * recovery-ab): the commits' trees (commit-tree.ts, removed at the end however the run ends), and
 * per round one child process per commit, in the round's turning order (ab-run.ts). The child is
 * the bench's own script in child mode (`--tree`, `--label`, `--round`: REVISION_CHILD_OPTIONS),
 * run in the commit's tree, printing one JSON line per measured run.
 */
import { resolve } from 'node:path'
import { type AbRun, alternate, type RoundFlags, readRevisions, readRoundFlags } from './ab-run.ts'
import { runChildJsonLines } from './child-run.ts'
import { type CommitTree, withCommitTrees } from './commit-tree.ts'

/** The child mode's flags, for node:util's parseArgs. */
export const REVISION_CHILD_OPTIONS = {
  tree: { type: 'string' },
  label: { type: 'string' },
  round: { type: 'string' },
  // The commit's compiled artifact, where the bench compiles one per commit.
  artifact: { type: 'string' },
} as const

/** The flags a revision bench parses (ab-run.ts's commitOptions and roundOptions). */
export interface RevisionFlags {
  readonly commits: string
  readonly trees: string
  readonly rounds?: string
  readonly 'warmup-rounds'?: string
  readonly json?: string
}

export interface RevisionRounds<F> {
  /** The bench's script (`import.meta.url`); its child runs with `--expose-gc`. */
  readonly script: string
  /** The bench's own flags, passed to every child. */
  readonly childArgs: readonly string[]
  /** Per tree, once before the rounds (compiling an artifact): more flags for its children. */
  readonly prepare?: (tree: CommitTree) => readonly string[]
  /** Called with each child's runs as they come (the bench prints them). */
  readonly onRuns?: (runs: readonly F[]) => void
}

export interface RevisionRoundsResult<F> {
  readonly plan: RoundFlags
  readonly revisions: readonly { readonly label: string; readonly sha: string }[]
  readonly runs: readonly AbRun<string, undefined, readonly F[]>[]
}

const REPO = resolve(import.meta.dirname, '../..')

export function runRevisionRounds<F>(
  flags: RevisionFlags,
  request: RevisionRounds<F>,
): Promise<RevisionRoundsResult<F>> {
  const plan = readRoundFlags(flags)
  const revisions = readRevisions(flags.commits)
  return withCommitTrees({ repo: REPO, revisions, parent: flags.trees }, async (trees) => {
    const extra = new Map(trees.map((t) => [t.label, request.prepare?.(t) ?? []]))
    const byLabel = new Map(trees.map((t) => [t.label, t]))
    const runs = await alternate(revisions, plan, async (label, { round, warmup }) => {
      const { tree } = byLabel.get(label)!
      process.stderr.write(`round ${round}${warmup ? ' (warm-up)' : ''}: ${label} …\n`)
      const figures = await runChildJsonLines<F>({
        script: request.script,
        cwd: tree,
        nodeFlags: ['--expose-gc'],
        args: [
          ...['--tree', tree, '--label', label, '--round', String(round)],
          ...request.childArgs,
          ...extra.get(label)!,
        ],
      })
      request.onRuns?.(figures)
      return figures
    })
    return { plan, revisions: trees.map(({ label, sha }) => ({ label, sha })), runs }
  })
}
