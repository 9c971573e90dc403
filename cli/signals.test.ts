import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..')
let scratch: string
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'sluice-signals-'))
})
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true })
})

/** Starts `sluice compile` on a large spec, sends `signal` once it is under way, reports how it ended. */
function interruptCompile(
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin/sluice.js'),
      'compile',
      join(ROOT, 'examples/payments/payments.pipe'),
      '-o',
      join(scratch, signal),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let sent = false
  child.stderr.on('data', () => {
    // The first progress line: the command runs and would go on to write the artifact.
    if (!sent) {
      sent = true
      child.kill(signal)
    }
  })
  return new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })))
}

describe('check and compile on Ctrl-C and SIGTERM (issue 17, defect 4)', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`compile ends at once on ${signal} instead of finishing`, async () => {
      const ended = await interruptCompile(signal)
      expect(ended).toEqual({ code: null, signal })
    })
  }
})
