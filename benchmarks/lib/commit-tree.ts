/**
 * Trees of other git revisions, ready to run that revision's runtime (the A/B benchmarks): the
 * commit's files unpacked with `git archive` (so no worktree is registered in the repository and
 * a killed bench leaves no dangling worktree behind), the repository's node_modules linked, and
 * the WebAssembly kernels and CLI built.
 *
 * `openCommitTrees` makes them in a fresh directory of their own and removes that directory when
 * closed, when the process exits (an uncaught error included) and on SIGINT, SIGTERM or SIGHUP:
 * a bench leaves nothing under /tmp, and two benches running at once never share (or remove) each
 * other's trees. The revision `worktree` is the repository as it is, uncommitted changes included.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { onInterrupt } from './interrupt.ts'

export interface CommitTree {
  /** The revision as given (`HEAD~1`, `8982eee`, `worktree`). */
  readonly label: string
  /** The full commit sha; for `worktree`, the sha of HEAD. */
  readonly sha: string
  /** Where the revision's files are. */
  readonly tree: string
  /** A directory of this tree's own for what a bench derives from it (compiled artifacts), removed with the trees. */
  readonly scratch: string
}

/** The name of the revision that stands for the repository as it is. */
export const WORKTREE = 'worktree'

export interface CommitTreesRequest {
  readonly repo: string
  readonly revisions: readonly string[]
  /** The directory the run's own directory is made in (the system temp dir by default). */
  readonly parent: string
  /** Makes a checked-out commit runnable; by default builds its kernels and CLI (buildTree). */
  readonly prepare?: (tree: string) => void
}

export interface CommitTrees {
  readonly trees: readonly CommitTree[]
  /** Removes every tree (idempotent). */
  close(): void
}

/** The trees of `revisions`, each made and prepared in turn; on a failure, those made so far are removed. */
export function openCommitTrees(request: CommitTreesRequest): CommitTrees {
  const labels = request.revisions
  if (labels.length === 0) throw new RangeError('no revisions to check out')
  if (new Set(labels).size !== labels.length)
    throw new RangeError(`each revision once, got ${labels.join(',')} (runs are told apart by it)`)
  mkdirSync(request.parent, { recursive: true })
  const root = mkdtempSync(join(request.parent, 'sluice-ab-'))
  let closed = false
  const release = onInterrupt(() => remove())
  function remove(): void {
    if (closed) return
    closed = true
    release()
    rmSync(root, { recursive: true, force: true })
  }
  try {
    const trees = labels.map((label, i) => {
      const sha = revParse(request.repo, label === WORKTREE ? 'HEAD' : label)
      const scratch = join(root, `scratch-${i}`)
      mkdirSync(scratch)
      if (label === WORKTREE) return { label, sha, tree: request.repo, scratch }
      const tree = join(root, `tree-${i}-${sha.slice(0, 12)}`)
      checkoutCommit(request.repo, sha, tree)
      ;(request.prepare ?? buildTree)(tree)
      return { label, sha, tree, scratch }
    })
    return { trees, close: remove }
  } catch (error) {
    remove()
    throw error
  }
}

/** Runs `body` with the trees of `request.revisions`, removing them after, whether it returns or throws. */
export async function withCommitTrees<T>(
  request: CommitTreesRequest,
  body: (trees: readonly CommitTree[]) => Promise<T>,
): Promise<T> {
  const { trees, close } = openCommitTrees(request)
  try {
    return await body(trees)
  } finally {
    close()
  }
}

/** The full sha of `revision` in `repo`, or a clear error naming the revision. */
export function revParse(repo: string, revision: string): string {
  try {
    return execFileSync('git', ['-C', repo, 'rev-parse', '--verify', `${revision}^{commit}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    throw new RangeError(`'${revision}' is not a commit of ${repo}`)
  }
}

/** `sha`'s tracked files into `dir` (made here), with `repo`'s node_modules linked. */
function checkoutCommit(repo: string, sha: string, dir: string): void {
  const tar = execFileSync('git', ['-C', repo, 'archive', '--format=tar', sha], { maxBuffer: 2 ** 30 })
  mkdirSync(dir)
  execFileSync('tar', ['-x', '-C', dir], { input: tar })
  symlinkSync(realpathSync(join(repo, 'node_modules')), join(dir, 'node_modules'))
}

/** Builds a checked-out commit's WebAssembly kernels and CLI, as the repository's set-up does. */
export function buildTree(tree: string): void {
  runQuietlyIn(tree, ['--import', 'tsx', 'wasm/build.ts'])
  runQuietlyIn(tree, ['scripts/build-cli.mjs'])
}

/** Compiles `pipe` (a path, relative to `tree` or absolute) to the artifact `out` with `tree`'s own compiler (its built CLI). */
export function compileWithTreeCli(tree: string, pipe: string, out: string): void {
  runQuietlyIn(tree, ['bin/sluice.js', 'compile', pipe, '-o', out])
}

/** `node <args>` in `tree`, its output dropped, its errors shown. */
export function runQuietlyIn(tree: string, args: readonly string[]): void {
  execFileSync(process.execPath, args, { cwd: tree, stdio: ['ignore', 'ignore', 'inherit'] })
}
