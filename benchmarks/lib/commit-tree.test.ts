import { spawn } from 'node:child_process'
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { alternate } from './ab-run.ts'
import { openCommitTrees, revParse, withCommitTrees } from './commit-tree.ts'

const REPO = resolve(import.meta.dirname, '../..')
const MODULE = join(import.meta.dirname, 'commit-tree.ts')
// Building kernels and CLI takes half a minute; these tests are about making and removing trees.
const prepare = () => {}

let parent: string
beforeEach(() => {
  parent = mkdtempSync(join(tmpdir(), 'sluice-commit-tree-test-'))
})
afterEach(() => rmSync(parent, { recursive: true, force: true }))

describe('openCommitTrees', () => {
  it('unpacks the commit with node_modules linked, takes `worktree` as the repository, and removes all on close', () => {
    const { trees, close } = openCommitTrees({ repo: REPO, revisions: ['HEAD', 'worktree'], parent, prepare })
    const [head, worktree] = trees
    expect(head!.sha).toBe(revParse(REPO, 'HEAD'))
    expect(head!.tree.startsWith(parent)).toBe(true)
    expect(readFileSync(join(head!.tree, 'package.json'), 'utf8')).toContain('"name"')
    expect(lstatSync(join(head!.tree, 'node_modules')).isSymbolicLink()).toBe(true)
    expect(worktree).toMatchObject({ label: 'worktree', tree: REPO, sha: head!.sha })
    expect(existsSync(worktree!.scratch)).toBe(true)
    close()
    close()
    expect(readdirSync(parent)).toEqual([])
  })

  it('refuses a revision that is not a commit, leaving nothing behind', () => {
    expect(() =>
      openCommitTrees({ repo: REPO, revisions: ['HEAD', 'no-such-rev'], parent, prepare }),
    ).toThrow(/'no-such-rev' is not a commit/)
    expect(readdirSync(parent)).toEqual([])
    expect(() => openCommitTrees({ repo: REPO, revisions: ['HEAD', 'HEAD'], parent, prepare })).toThrow(
      /each revision once/,
    )
  })

  it('removes the trees when preparing one fails', () => {
    const failing = () => {
      throw new Error('build failed')
    }
    expect(() => openCommitTrees({ repo: REPO, revisions: ['HEAD'], parent, prepare: failing })).toThrow(
      'build failed',
    )
    expect(readdirSync(parent)).toEqual([])
  })
})

describe('withCommitTrees', () => {
  it('removes the trees when a variant throws, and passes the error on', async () => {
    let seen: string[] = []
    const run = withCommitTrees({ repo: REPO, revisions: ['HEAD', 'worktree'], parent, prepare }, (trees) => {
      seen = trees.map((t) => t.tree)
      return alternate(trees, { rounds: 2, warmupRounds: 0 }, (tree) => {
        if (tree.label === 'worktree') throw new Error('variant failed')
      })
    })
    await expect(run).rejects.toThrow('variant failed')
    expect(existsSync(seen[0]!)).toBe(false)
    expect(readdirSync(parent)).toEqual([])
  })
})

/** Runs `code` (an ES module importing commit-tree.ts as `trees`) in a node process; resolves on its exit. */
function runScript(code: string, onStdout?: (text: string, child: ReturnType<typeof spawn>) => void) {
  const script = `import * as trees from ${JSON.stringify(MODULE)}\n${code}`
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.on('data', (chunk: Buffer) => onStdout?.(chunk.toString(), child))
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('close', (code, signal) => done({ code, signal })),
  )
}

describe('trees of a process that is stopped', () => {
  const open = (parentDir: string) =>
    `trees.openCommitTrees({ repo: ${JSON.stringify(REPO)}, revisions: ['HEAD'], parent: ${JSON.stringify(parentDir)}, prepare: () => {} })`

  it('are removed on Ctrl-C (SIGINT) while the bench runs, and the process ends as interrupted', async () => {
    const ended = runScript(
      `${open(parent)}\nconsole.log('ready')\nsetInterval(() => {}, 1000)`,
      (text, child) => {
        if (text.includes('ready')) child.kill('SIGINT')
      },
    )
    expect(await ended).toEqual({ code: 130, signal: null })
    expect(readdirSync(parent)).toEqual([])
  }, 30_000)

  it('are removed when the bench dies of an uncaught error without closing them', async () => {
    const ended = await runScript(`${open(parent)}\nthrow new Error('bench failed')`)
    expect(ended.code).toBe(1)
    expect(readdirSync(parent)).toEqual([])
  }, 30_000)
})
