import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { withTempDir } from './interrupt.ts'

const MODULE = join(import.meta.dirname, 'interrupt.ts')

/** Runs `code` (an ES module with interrupt.ts as `interrupt`), sends `signal` once it printed a line; its lines and end. */
function runAndSignal(code: string, signal: NodeJS.Signals) {
  const script = `import * as interrupt from ${JSON.stringify(MODULE)}\n${code}`
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => {
    if (stdout === '') setTimeout(() => child.kill(signal), 200)
    stdout += chunk.toString()
  })
  return new Promise<{ lines: string[]; code: number | null }>((done) =>
    child.on('close', (code) => done({ lines: stdout.trim().split('\n'), code })),
  )
}

/** Whether `pid` runs (a zombie, ended but not yet reaped, does not). */
function isRunning(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z'
  } catch {
    return false
  }
}

describe('withTempDir', () => {
  it('removes the directory when the body throws, and passes the error on', async () => {
    let dir = ''
    const failing = withTempDir('sluice-interrupt-test-', async (d) => {
      dir = d
      expect(existsSync(d)).toBe(true)
      throw new Error('body failed')
    })
    await expect(failing).rejects.toThrow('body failed')
    expect(existsSync(dir)).toBe(false)
  })

  it('removes the directory when the process is sent SIGTERM while the body runs, ending as terminated', async () => {
    const { lines, code } = await runAndSignal(
      `await interrupt.withTempDir('sluice-interrupt-test-', async (dir) => { console.log(dir); await new Promise(() => setInterval(() => {}, 1000)) })`,
      'SIGTERM',
    )
    expect(code).toBe(143)
    expect(existsSync(lines[0]!)).toBe(false)
  }, 30_000)
})

describe('killOnInterrupt', () => {
  it('stops a registered child when the parent is interrupted', async () => {
    const { lines, code } = await runAndSignal(
      [
        `import { spawn } from 'node:child_process'`,
        `const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })`,
        'interrupt.killOnInterrupt(child)',
        'console.log(child.pid)',
      ].join('\n'),
      'SIGINT',
    )
    expect(code).toBe(130)
    // The child got SIGTERM before the parent exited: it goes within moments.
    const pid = Number(lines[0])
    for (let i = 0; i < 100 && isRunning(pid); i++) await new Promise((r) => setTimeout(r, 100))
    expect(isRunning(pid)).toBe(false)
  }, 30_000)
})
