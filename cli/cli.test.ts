import { execFile, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../test/support/capture-io.ts'
import { loggingOptions, type TerminalAwareIO } from './args.ts'
import type { CommandIO } from './command.ts'
import { COMMANDS } from './main.ts'

const ROOT = join(import.meta.dirname, '..')
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const sluice = runCli

const THREE_TYPE_ERRORS = `schema Payment { id: string, amount: f64, country: string }
source payments: Payment from kafka("payments")
stream s = payments
  | where amount > "1000"
  | select { id, cents: amount * 100.0, upper_country: upper(countri) }
  | key by id
stream t = s | where cents and true
sink s -> kafka("out")
sink t -> kafka("t")
`

describe('sluice CLI', () => {
  it('prints usage and per-command help', async () => {
    const top = await sluice('--help')
    expect(top.code).toBe(0)
    for (const command of COMMANDS) expect(top.stdout).toContain(command.name)
    for (const command of COMMANDS) {
      const help = await sluice(command.name, '--help')
      expect(help.code).toBe(0)
      expect(help.stdout).toMatch(new RegExp(`^Usage: sluice ${command.name}`))
    }
  })

  it('rejects unknown commands and options with exit code 2 and says why', async () => {
    const unknown = await sluice('frobnicate')
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('unknown command "frobnicate"')
    const option = await sluice('check', '--frob', 'x.pipe')
    expect(option.code).toBe(2)
    expect(option.stderr).toMatch(/Unknown option '--frob'/)
    expect(option.stderr).toContain('sluice check --help')
  })

  it('check prints all three type errors with file:line:col, the source line and a caret', async () => {
    const file = join(dir, 'three.pipe')
    await writeFile(file, THREE_TYPE_ERRORS)
    const { code, stderr } = await sluice('check', file)
    expect(code).toBe(1)
    const locations = [...stderr.matchAll(/--> (.+):(\d+):(\d+)/g)].map((m) => `${m[2]}:${m[3]}`)
    expect(locations).toEqual(['4:18', '5:62', '7:28'])
    expect(stderr).toContain('  | where amount > "1000"')
    expect(stderr).toMatch(/\n\s+\|\s+\^+/)
    expect(stderr).toMatch(/did you mean `country`/)
    expect(stderr).toMatch(/3 errors/)
    expect(stderr).not.toMatch(/\n\s+at /) // no stack trace
  })

  it('check says ok for a valid file, and explains a missing one', async () => {
    const ok = await sluice('check', join(ROOT, 'examples/payments/payments.pipe'))
    expect(ok.code).toBe(0)
    expect(ok.stderr).toContain('ok')
    const missing = await sluice('check', join(dir, 'missing.pipe'))
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('cannot read')
  })

  it('compile refuses to replace a directory that is not an artifact, and leaves it alone', async () => {
    const project = join(dir, 'project')
    const pipe = join(project, 'e.pipe')
    await mkdir(project)
    await writeFile(pipe, 'schema E { id: string }\nsource e: E from kafka("in")\nsink e -> kafka("out")\n')
    await writeFile(join(project, 'notes.txt'), 'precious')

    const occupied = await sluice('compile', pipe, '-o', project)
    expect(occupied.code).toBe(2)
    expect(occupied.stderr).toMatch(
      /sluice compile: refusing to replace .*project: it contains the source file/,
    )
    expect(occupied.stderr).not.toMatch(/\n\s+at /)

    await rm(pipe)
    const other = join(dir, 'other.pipe')
    await writeFile(other, 'schema E { id: string }\nsource e: E from kafka("in")\nsink e -> kafka("out")\n')
    const notArtifact = await sluice('compile', other, '-o', project)
    expect(notArtifact.code).toBe(2)
    expect(notArtifact.stderr).toMatch(/it is not empty and is not a Sluice artifact/)
    expect(notArtifact.stderr).toContain('choose a new or empty directory')
    expect(await readdir(project)).toEqual(['notes.txt'])

    // In a child process whose working directory is a scratch one: never risk the repository.
    const scratch = join(dir, 'scratch')
    await mkdir(scratch)
    const here = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'bin/sluice.js'), 'compile', other, '-o', '.'],
      {
        cwd: scratch,
      },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    )
    expect(here.code).toBe(2)
    expect(here.stderr).toMatch(/refusing to replace .*scratch: it is the current directory/)
    expect(here.stderr).not.toMatch(/\n\s+at /)

    const artifact = join(dir, 'artifact-twice')
    expect((await sluice('compile', other, '-o', artifact)).code).toBe(0)
    expect((await sluice('compile', other, '-o', artifact)).code).toBe(0) // an earlier artifact: replaced
  })

  it('compiles, produces, runs until caught up and consumes on the embedded log', async () => {
    const artifact = join(dir, 'artifact')
    const data = join(dir, 'data')
    const compiled = await sluice('compile', join(ROOT, 'examples/payments/payments.pipe'), '-o', artifact)
    expect(compiled.code).toBe(0)
    expect(compiled.stderr).toMatch(/compiled .* sha256:[0-9a-f]{64}/s)

    const events = join(dir, 'events.jsonl')
    const ts = '2026-01-01T02:00:00.000Z'
    const merchant = { name: 'Shop', country: 'DE' }
    await writeFile(
      events,
      [
        JSON.stringify({
          id: 'a',
          card: 'c1',
          amount: 2000,
          currency: 'EUR',
          country: 'FR',
          merchant,
          tags: ['x'],
          ts,
        }),
        JSON.stringify({ id: 'b', card: 'c2', amount: 10, currency: 'EUR', merchant, tags: [], ts }),
        'garbage',
        '',
      ].join('\n'),
    )
    const produced = await sluice(
      'produce',
      'payments',
      '--file',
      events,
      '--key-field',
      'card',
      '--data-dir',
      data,
    )
    expect(produced.code).toBe(0)
    expect(produced.stderr).toContain('3 records appended')

    const ran = await sluice('run', artifact, '--data-dir', data, '--until-caught-up', '--log-level', 'error')
    expect(ran.code).toBe(0)
    expect(ran.stdout).toBe(
      '{"id":"a","card":"c1","cents":200000,"country":"FR","reason":"foreign payment at 2h"}\n',
    )
    // large-payments, the risky stdout line and the card total
    expect(ran.stderr).toMatch(/processed 3 events .*: 3 written, 1 dead-lettered/)

    const consumed = await sluice('consume', 'large-payments', '--data-dir', data)
    expect(consumed.code).toBe(0)
    expect(JSON.parse(consumed.stdout)).toMatchObject({
      id: 'a',
      cents: 200000,
      merchant: 'SHOP',
      foreign: true,
      hour: 2,
    })
    const dead = await sluice('consume', 'sluice.dead-letter', '--data-dir', data, '--meta')
    expect(JSON.parse(dead.stdout)).toMatchObject({
      value: 'garbage',
      headers: { 'sluice.error.stage': 'decode' },
    })
  })

  it('shuts down cleanly on SIGTERM: in-flight work committed, lock released, exit 0', async () => {
    const artifact = join(dir, 'artifact-sigterm')
    const data = join(dir, 'data-sigterm')
    expect(
      (await sluice('compile', join(ROOT, 'examples/payments/payments.pipe'), '-o', artifact)).code,
    ).toBe(0)
    expect(
      (
        await sluice(
          'produce',
          'payments',
          '--file',
          join(ROOT, 'examples/payments/events.jsonl'),
          '--data-dir',
          data,
        )
      ).code,
    ).toBe(0)

    const { spawn } = await import('node:child_process')
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin/sluice.js'), 'run', artifact, '--data-dir', data, '--log-level', 'info'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    // Wait until the node has processed the backlog (it logs at start; poll the committed offsets).
    const { EmbeddedLog } = await import('../runtime/log/embedded.ts')
    const deadline = Date.now() + 30_000
    for (;;) {
      const reader = await EmbeddedLog.openReadOnly(data)
      const committed = await reader.committedOffsets('sluice.payments', 'payments').catch(() => [-1])
      await reader.close()
      if (committed[0] === 43) break
      if (Date.now() > deadline) throw new Error(`node did not catch up:\n${stderr}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(stderr).toMatch(/processed 43 events/)
    const { existsSync } = await import('node:fs')
    expect(existsSync(join(data, 'LOCK'))).toBe(false)
  })

  it('produce explains a missing or unreadable --file as a usage error, before opening the log', async () => {
    const data = join(dir, 'data-missing-file')
    const missing = await sluice('produce', 't', '--file', join(dir, 'missing.jsonl'), '--data-dir', data)
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain(`sluice produce: cannot read ${join(dir, 'missing.jsonl')}: ENOENT`)
    expect(missing.stderr).not.toMatch(/\n\s+at /)
    const directory = await sluice('produce', 't', '--file', dir, '--data-dir', data)
    expect(directory.code).toBe(2)
    expect(directory.stderr).toContain(`cannot read ${dir}: EISDIR`)
    const { existsSync } = await import('node:fs')
    expect(existsSync(data)).toBe(false)
  })

  it('consume into a reader that closes early (| head -2) exits 0 without a stack trace', async () => {
    const data = join(dir, 'data-epipe')
    const lines = join(dir, 'many.jsonl')
    await writeFile(
      lines,
      Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ id: `e${i}` })).join('\n'),
    )
    expect((await sluice('produce', 'many', '--file', lines, '--data-dir', data)).code).toBe(0)

    const { spawn } = await import('node:child_process')
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin/sluice.js'), 'consume', 'many', '--data-dir', data],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    // Like `head -2`: read two lines, then close the pipe while the consumer is still writing.
    let head = ''
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        head += chunk.toString()
        if (head.split('\n').length > 2) {
          child.stdout.destroy()
          resolve()
        }
      })
    })
    expect(head.split('\n').slice(0, 2)).toEqual(['{"id":"e0"}', '{"id":"e1"}'])
    expect(await exited).toBe(0)
    expect(stderr).not.toMatch(/EPIPE|\n\s+at /)
    expect(stderr).toBe('')
  })

  it('runs as a real process through bin/sluice.js', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      join(ROOT, 'bin/sluice.js'),
      'compile',
      '--help',
    ])
    expect(stdout).toMatch(/^Usage: sluice compile/)
  })
})

describe('sluice --version', () => {
  it('prints the version of package.json and the Node.js version, with --version and -V', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    for (const flag of ['--version', '-V']) {
      const { code, stdout } = await sluice(flag)
      expect(code).toBe(0)
      expect(stdout).toBe(`sluice ${version} (Node.js ${process.version})\n`)
    }
  })
})

/** `sluice ARGV` as a real process with `input` on its standard input. */
function sluiceWithInput(
  argv: string[],
  input: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/sluice.js'), ...argv], {
      cwd: dir,
      env: { ...process.env, SLUICE_KAFKA_BROKERS: '' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    child.stdin.end(input)
  })
}

describe('- reads standard input', () => {
  const VALID = `schema A { x: i64 }
source a: A from kafka("stdin-in")
sink a -> kafka("stdin-out")
`

  it('check - checks the piped text, named <stdin> in diagnostics', async () => {
    const good = await sluiceWithInput(['check', '-'], VALID)
    expect(good).toMatchObject({ code: 0 })
    expect(good.stderr).toContain('<stdin>: ok')
    const bad = await sluiceWithInput(['check', '-'], THREE_TYPE_ERRORS)
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/--> <stdin>:4:/)
    expect((await sluice('check', '-', '-')).stderr).toContain('- (standard input) can be given only once')
  })

  it('compile - --name writes the artifact; without --name it is a usage error', async () => {
    const out = join(dir, 'from-stdin')
    const compiled = await sluiceWithInput(['compile', '-', '--name', 'piped', '-o', out], VALID)
    expect(compiled.code, compiled.stderr).toBe(0)
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {
      name: string
      source: { file: string }
    }
    expect(manifest).toMatchObject({ name: 'piped', source: { file: '<stdin>' } })
    const unnamed = await sluice('compile', '-')
    expect(unnamed.code).toBe(2)
    expect(unnamed.stderr).toContain('give --name NAME')
  })

  it('produce --file - appends the piped lines', async () => {
    const data = join(dir, 'stdin-data')
    const produced = await sluiceWithInput(
      ['produce', 'piped', '--file', '-', '--data-dir', data, '--log-format', 'text'],
      '{"n":1}\n{"n":2}\n',
    )
    expect(produced.code, produced.stderr).toBe(0)
    expect(produced.stderr).toContain('2 records appended')
    expect((await sluice('consume', 'piped', '--data-dir', data)).stdout).toBe('{"n":1}\n{"n":2}\n')
  })
})

describe('log format', () => {
  const PIPE = `schema E { id: string, n: i64 }
source e: E from kafka("events")
stream big = e | where n > 1
sink big -> kafka("big")
`
  let artifact: string

  beforeAll(async () => {
    const file = join(dir, 'logs.pipe')
    await writeFile(file, PIPE)
    artifact = join(dir, 'logs-artifact')
    expect((await sluice('compile', file, '-o', artifact)).code).toBe(0)
  })

  async function runOnFreshLog(...flags: string[]): Promise<string> {
    const data = await mkdtemp(join(dir, 'log-format-'))
    const input = `${data}.jsonl`
    await writeFile(input, '{"id":"a","n":1}\n{"id":"b","n":2}\nnot json\n')
    expect((await sluice('produce', 'events', '--file', input, '--data-dir', data)).code).toBe(0)
    const ran = await sluice('run', artifact, '--data-dir', data, '--until-caught-up', ...flags)
    expect(ran.code, ran.stderr).toBe(0)
    return ran.stderr
  }

  it('json: every stderr line of run is one JSON object, the closing summary too', async () => {
    const stderr = await runOnFreshLog('--log-format', 'json')
    const records = stderr
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(records.map((r) => r.msg)).toContain('event dead-lettered')
    expect(records.at(-1)).toMatchObject({
      level: 'info',
      msg: expect.stringMatching(/^processed 3 events in .*: 1 written, 1 dead-lettered$/),
      eventsIn: 3,
      eventsOut: 1,
      deadLetters: 1,
    })
  })

  it('text: readable lines, no JSON; $SLUICE_LOG_FORMAT chooses when the flag does not', async () => {
    const check = (stderr: string) => {
      const lines = stderr.trimEnd().split('\n')
      for (const line of lines) expect(line.startsWith('{'), line).toBe(false)
      expect(lines.some((l) => /^\S+Z WARN {2}event dead-lettered /.test(l))).toBe(true)
      expect(lines.at(-1)).toMatch(/^processed 3 events in .*: 1 written, 1 dead-lettered$/)
    }
    check(await runOnFreshLog('--log-format', 'text'))
    process.env.SLUICE_LOG_FORMAT = 'text'
    try {
      check(await runOnFreshLog())
    } finally {
      delete process.env.SLUICE_LOG_FORMAT
    }
  })

  it('defaults to text when stderr is a terminal and to JSON otherwise; the variables choose too', () => {
    const io: CommandIO = {
      stdout: () => {},
      stderr: () => {},
      color: false,
      interrupted: new Promise(() => {}),
    }
    const terminal: TerminalAwareIO = { ...io, stderrIsTerminal: true }
    expect(loggingOptions({}, io, {})).toEqual({ level: 'info', format: 'json' })
    expect(loggingOptions({}, terminal, {})).toEqual({ level: 'info', format: 'text' })
    expect(loggingOptions({}, terminal, { SLUICE_LOG_FORMAT: 'json', SLUICE_LOG_LEVEL: 'warn' })).toEqual({
      level: 'warn',
      format: 'json',
    })
    expect(
      loggingOptions({ 'log-format': 'text', 'log-level': 'debug' }, io, { SLUICE_LOG_FORMAT: 'json' }),
    ).toEqual({
      level: 'debug',
      format: 'text',
    })
  })

  it('refuses an unknown format or level; in JSON format even a usage error is a JSON line', async () => {
    const format = await sluice('run', artifact, '--log-format', 'yaml')
    expect(format.code).toBe(2)
    expect(format.stderr).toContain('unknown log format "yaml" (expected json or text)')
    const level = await sluice('consume', 'x', '--log-level', 'loud', '--log-format', 'json')
    expect(level.code).toBe(2)
    expect(JSON.parse(level.stderr)).toMatchObject({
      level: 'error',
      msg: 'sluice consume: unknown log level "loud" (expected debug, info, warn, error)',
      code: 'USAGE',
    })
  })
})
