/**
 * `sluice serve` as a real process stopped by a real SIGTERM while producers keep posting: it
 * exits 0, every event it acknowledged is in the log, and requests after the signal are refused
 * (503 or connection refused), never acknowledged and then lost.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../runtime/log/embedded.ts'
import { compileFixture } from '../test/support/compile-fixture.ts'

const ROOT = join(import.meta.dirname, '..')
const PIPE = `
schema Payment { id: string, amount: f64 }
source payments: Payment from kafka("payments")
stream large = payments | where amount >= 100.0
sink large -> kafka("large-payments")
`

const scratch: string[] = []
afterAll(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true })
})

describe('sluice serve and SIGTERM', () => {
  it('drains: exits 0 and every acknowledged event is in the log', async () => {
    const artifact = await compileFixture(PIPE, 'payments', 'payments.pipe')
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-serve-signal-'))
    scratch.push(dataDir)
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/sluice.js'),
        'serve',
        '--gateway',
        '127.0.0.1:0',
        '--run',
        artifact,
        '--data-dir',
        dataDir,
        '--log-format',
        'json',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        const line = stderr.split('\n').find((l) => l.includes('"msg":"serving"'))
        if (line) resolve(JSON.parse(line).gateway as string)
      })
      child.on('exit', (code) => reject(new Error(`serve exited ${code} before serving:\n${stderr}`)))
    })
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const acknowledged: string[] = []
    const refusals: string[] = []
    let signalled = false
    const producer = async (name: string) => {
      for (let n = 0; ; n++) {
        const id = `${name}-${n}`
        const answer = await fetch(`${url}/streams/payments/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id, amount: n }),
        }).catch(() => null)
        if (answer === null) {
          refusals.push('refused')
          return
        }
        if (answer.status === 200) acknowledged.push(id)
        else {
          expect(answer.status).toBe(503)
          expect(signalled).toBe(true)
          refusals.push(String(answer.status))
          return
        }
      }
    }
    const producers = Array.from({ length: 8 }, (_, i) => producer(`p${i}`))
    while (acknowledged.length < 200) await new Promise((resolve) => setTimeout(resolve, 10))
    signalled = true
    child.kill('SIGTERM')
    await Promise.all(producers)
    expect(await exit).toBe(0)
    expect(stderr).toMatch(/"msg":"draining"/)
    expect(refusals).toHaveLength(8)

    const log = await EmbeddedLog.openReadOnly(dataDir)
    try {
      const [end] = await log.endOffsets('payments')
      const stored = new Set(
        (await log.read('payments', 0, 0, end!)).map((r) => JSON.parse(r.value.toString()).id),
      )
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([])
    } finally {
      await log.close()
    }
  })
})
