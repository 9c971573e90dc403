/**
 * A git worktree of one commit, ready to run that commit's runtime (the A/B benchmarks:
 * nexmark-ab, recovery-ab): made once under `treesDir`, named by the commit's sha, with the
 * repository's node_modules linked and the WebAssembly kernels and CLI built.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, realpathSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'

export interface CommitTree {
  readonly sha: string
  readonly tree: string
}

export function commitTree(repo: string, treesDir: string, commit: string): CommitTree {
  const sha = execFileSync('git', ['-C', repo, 'rev-parse', commit], { encoding: 'utf8' }).trim()
  const tree = join(treesDir, sha.slice(0, 12))
  if (!existsSync(tree)) {
    execFileSync('git', ['-C', repo, 'worktree', 'add', '--detach', tree, sha], { stdio: 'ignore' })
    symlinkSync(realpathSync(join(repo, 'node_modules')), join(tree, 'node_modules'))
    runQuietlyIn(tree, ['--import', 'tsx', 'wasm/build.ts'])
    runQuietlyIn(tree, ['scripts/build-cli.mjs'])
  }
  return { sha, tree }
}

/** `node <args>` in `tree`, its output dropped, its errors shown. */
export function runQuietlyIn(tree: string, args: readonly string[]): void {
  execFileSync(process.execPath, args, { cwd: tree, stdio: ['ignore', 'ignore', 'inherit'] })
}
