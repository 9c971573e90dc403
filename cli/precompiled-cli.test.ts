import { execFile } from 'node:child_process'
import { cp, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// @ts-expect-error: plain JavaScript (it runs before any TypeScript loader) without declarations.
import { buildCli, rewriteImportMeta } from '../scripts/build-cli.mjs'
import { COMMANDS } from './main.ts'

const ROOT = join(import.meta.dirname, '..')
const PIPE = 'examples/payments/payments.pipe'
const HEAVY = ['ts-morph', 'typescript', 'kafkajs', 'ioredis', 'prom-client', 'assemblyscript', 'tsx']

/**
 * A copy of the tree the CLI is built from, so the bundle can be built, made stale and checked
 * without touching dist/ or the sources that other processes run (node_modules is linked).
 */
let tree: string
let version: string

beforeAll(async () => {
  tree = await mkdtemp(join(tmpdir(), 'sluice-bundle-'))
  for (const dir of ['bin', 'cli', 'compiler', 'runtime', 'stdlib', 'wasm', 'examples/payments']) {
    await cp(join(ROOT, dir), join(tree, dir), { recursive: true })
  }
  await cp(join(ROOT, 'scripts/build-cli.mjs'), join(tree, 'scripts/build-cli.mjs'))
  await cp(join(ROOT, 'package.json'), join(tree, 'package.json'))
  await symlink(join(ROOT, 'node_modules'), join(tree, 'node_modules'))
  // Records every module a process resolves (a module.register hook; it runs in its own thread).
  await writeFile(
    join(tree, 'record-hooks.mjs'),
    `import { appendFileSync } from 'node:fs'
let file
export function initialize(data) { file = data.file }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context)
  appendFileSync(file, result.url + '\\n')
  return result
}
`,
  )
  await writeFile(
    join(tree, 'record.mjs'),
    `import { register } from 'node:module'
register('./record-hooks.mjs', import.meta.url, { data: { file: process.env.RECORD_MODULES } })
`,
  )
  version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
  await buildCli({ root: tree })
}, 60_000)

afterAll(async () => {
  await rm(tree, { recursive: true, force: true })
})

interface Ran {
  code: number
  stdout: string
  stderr: string
  /** The packages under node_modules the process resolved, when recorded. */
  packages: string[]
}

async function sluice(argv: string[], env: Record<string, string> = {}, record = false): Promise<Ran> {
  const recordFile = join(tree, `modules-${Math.random().toString(36).slice(2)}.txt`)
  const args = [...(record ? ['--import', pathToFileURL(join(tree, 'record.mjs')).href] : [])]
  args.push(join(tree, 'bin/sluice.js'), ...argv)
  const result = await promisify(execFile)(process.execPath, args, {
    cwd: tree,
    env: { ...process.env, NO_COLOR: '1', SLUICE_DEBUG: '1', RECORD_MODULES: recordFile, ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  )
  let packages: string[] = []
  if (record) {
    const urls = (await readFile(recordFile, 'utf8')).split('\n')
    packages = [
      ...new Set(urls.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? [])),
    ]
    await rm(recordFile)
  }
  return { ...result, packages }
}

const RUNS_BUNDLE = 'sluice: running the bundle'
const RUNS_SOURCES = 'sluice: running the sources through tsx'

describe('the precompiled CLI', () => {
  it('is what bin/sluice.js runs while every source is as it was built', async () => {
    const ran = await sluice(['--version'], {}, true)
    expect(ran.stderr).toContain(RUNS_BUNDLE)
    expect(ran.stdout).toBe(`sluice ${version} (Node.js ${process.version})\n`)
    // No TypeScript loader, no transpiling: the bundle is plain JavaScript.
    expect(ran.packages).not.toContain('tsx')
  })

  it('loads a command and its dependencies only when that command runs', async () => {
    for (const argv of [['--help'], ['--version'], ['check', PIPE]]) {
      const ran = await sluice(argv, { SLUICE_CLI: 'bundle' }, true)
      expect(ran.code, ran.stderr).toBe(0)
      expect(ran.packages.filter((name) => HEAVY.includes(name))).toEqual([])
    }
    // The recording sees packages at all: compile loads esbuild, which strips the generated
    // module's types; not TypeScript, whose loading was half of compile's time (issue 17).
    const compiled = await sluice(
      ['compile', PIPE, '-o', join(tree, 'out/payments')],
      { SLUICE_CLI: 'bundle' },
      true,
    )
    expect(compiled.code, compiled.stderr).toBe(0)
    expect(compiled.packages).toContain('esbuild')
    expect(compiled.packages.filter((name) => name === 'ts-morph' || name === 'typescript')).toEqual([])
  })

  it('finds files beside the sources from inside the bundle (package.json, the artifact runtime)', async () => {
    const out = join(tree, 'out/found')
    const compiled = await sluice(['compile', PIPE, '-o', out], { SLUICE_CLI: 'bundle' })
    expect(compiled.code, compiled.stderr).toBe(0)
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as Record<string, unknown>
    expect(JSON.stringify(manifest)).toContain(version)
    const data = join(tree, 'out/data')
    const produced = await sluice(
      ['produce', 'payments', '--file', 'examples/payments/events.jsonl', '--data-dir', data],
      {
        SLUICE_CLI: 'bundle',
      },
    )
    expect(produced.code, produced.stderr).toBe(0)
    // The generated operators.mjs is imported by the bundle's artifact loader.
    const run = await sluice(
      ['run', out, '--until-caught-up', '--data-dir', data, '--log-format', 'text'],
      { SLUICE_CLI: 'bundle', SLUICE_KAFKA_BROKERS: '' },
      true,
    )
    expect(run.code, run.stderr).toBe(0)
    // A node on the embedded log with state in files loads neither the Kafka nor the Redis client:
    // a restarted node's start-up is part of its recovery time.
    expect(run.packages.filter((name) => name === 'kafkajs' || name === 'ioredis')).toEqual([])
    const consumed = await sluice(['consume', 'large-payments', '--data-dir', data], { SLUICE_CLI: 'bundle' })
    expect(consumed.code, consumed.stderr).toBe(0)
    expect(consumed.stdout.trim().split('\n').length).toBeGreaterThan(0)
    expect(consumed.stdout).toContain('"cents"')
  })

  it('is not used once a source changed: the sources run, edits included', async () => {
    const main = join(tree, 'cli/main.ts')
    const before = await readFile(main, 'utf8')
    const summary = COMMANDS.find((c) => c.name === 'check')!.summary
    try {
      await writeFile(main, before.replace(summary, 'EDITED after the build'))
      const ran = await sluice(['--help'])
      expect(ran.stderr).toContain(`${RUNS_SOURCES} (cli/main.ts changed since the build)`)
      expect(ran.stdout).toContain('EDITED after the build')
      const demanded = await sluice(['--help'], { SLUICE_CLI: 'bundle' })
      expect(demanded.code).toBe(2)
      expect(demanded.stderr).toContain('cli/main.ts changed since the build')
    } finally {
      await writeFile(main, before)
    }
    // The same bytes again (a new mtime): fresh once more, by content.
    expect((await sluice(['--version'])).stderr).toContain(RUNS_BUNDLE)
  })

  it('is not used when a source it was built from is gone, or without a stamp', async () => {
    const file = join(tree, 'runtime/errors.ts')
    const saved = await readFile(file)
    await rm(file)
    try {
      expect((await sluice(['--version'], { SLUICE_CLI: 'bundle' })).stderr).toContain(
        'runtime/errors.ts is gone',
      )
    } finally {
      await writeFile(file, saved)
    }
    const stamp = join(tree, 'dist/.sluice-cli/stamp.json')
    const kept = await readFile(stamp)
    await rm(stamp)
    try {
      const ran = await sluice(['--version'])
      expect(ran.stderr).toContain(`${RUNS_SOURCES} (no bundle`)
      expect(ran.stdout).toContain(`sluice ${version}`)
    } finally {
      await writeFile(stamp, kept)
    }
  })

  it('stays fresh when a source is only touched', async () => {
    const file = join(tree, 'compiler/compile.ts')
    const later = new Date((await stat(file)).mtimeMs + 60_000)
    await utimes(file, later, later)
    expect((await sluice(['--version'])).stderr).toContain(RUNS_BUNDLE)
  })

  it('runs the sources when asked to', async () => {
    const ran = await sluice(['--version'], { SLUICE_CLI: 'source' })
    expect(ran.stderr).toContain(`${RUNS_SOURCES} (SLUICE_CLI=source)`)
    expect(ran.stdout).toBe(`sluice ${version} (Node.js ${process.version})\n`)
    expect((await sluice(['--version'], { SLUICE_CLI: 'fast' })).code).toBe(2)
  })
})

describe('rebuilding', () => {
  it('keeps the files of the build it replaced and removes older ones', async () => {
    const outDir = join(tree, 'rebuilt')
    const file = join(tree, 'cli/main.ts')
    const original = await readFile(file, 'utf8')
    const summary = COMMANDS.find((c) => c.name === 'check')!.summary
    const builds: { entry: string; files: string[] }[] = []
    try {
      for (const edit of ['one', 'two', 'three']) {
        await writeFile(file, original.replace(summary, `build ${edit}`))
        builds.push(await buildCli({ root: tree, outDir }))
        // Every file so far is older than the minute a concurrent build's files are spared.
        const old = new Date(Date.now() - 120_000)
        for (const name of await readdir(outDir)) await utimes(join(outDir, name), old, old)
      }
    } finally {
      await writeFile(file, original)
    }
    const left = new Set(await readdir(outDir))
    const [first, second, third] = builds
    for (const name of [...second!.files, ...third!.files]) expect(left).toContain(name)
    expect(first!.files.filter((name) => !left.has(name))).toContain(first!.entry)
    const stamp = JSON.parse(await readFile(join(outDir, 'stamp.json'), 'utf8')) as { entry: string }
    expect(stamp.entry).toBe(third!.entry)
  })
})

describe('the command registry', () => {
  it('lists each command under the name and summary of the module it loads', async () => {
    for (const entry of COMMANDS) {
      const command = await entry.load()
      expect(command.name).toBe(entry.name)
      expect(command.summary).toBe(entry.summary)
    }
  })
})

describe('rewriteImportMeta', () => {
  it('points import.meta at the source file, relative to the chunk', () => {
    expect(rewriteImportMeta("new URL('../package.json', import.meta.url)", '../../cli/main.ts')).toBe(
      `new URL('../package.json', new URL("../../cli/main.ts", import.meta.url).href)`,
    )
    const withPaths = rewriteImportMeta(
      'const a = import.meta.dirname\nconst b = import.meta.filename',
      '../../x/y.ts',
    )
    expect(withPaths.split('\n')).toHaveLength(2)
    expect(withPaths).toContain(
      'const a = __sluiceDirname(__sluiceFileURLToPath(new URL("../../x/y.ts", import.meta.url)))',
    )
    expect(withPaths).toContain('const b = __sluiceFileURLToPath(new URL("../../x/y.ts", import.meta.url))')
  })
})
