import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main, processIO } from './main.ts'

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

describe('which commands catch Ctrl-C and SIGTERM (issue 17, defect 4)', () => {
  const listeners = () => process.listenerCount('SIGINT') + process.listenerCount('SIGTERM')
  const spec = join(ROOT, 'examples/payments/payments.pipe')

  // Caught signals wait for a command to look at them; check and compile never do, so catching
  // them at all made Ctrl-C do nothing until they finished (the spawned compile above shows the effect).
  for (const argv of [
    ['check', spec],
    ['compile', spec, '-o', 'ARTIFACT'],
  ]) {
    it(`${argv[0]} leaves both signals to Node's default handling`, async () => {
      const before = listeners()
      const command = argv.map((a) => (a === 'ARTIFACT' ? join(scratch, `${argv[0]}-artifact`) : a))
      expect(await main(command, processIO())).toBe(0)
      expect(listeners()).toBe(before)
    })
  }

  it('a command that asks for interruption catches both until the first arrives', async () => {
    const before = listeners()
    const io = processIO()
    const interrupted = io.interrupted
    expect(listeners()).toBe(before + 2)
    process.emit('SIGTERM', 'SIGTERM')
    await interrupted
    expect(listeners()).toBe(before)
  })
})
