import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../test/support/capture-io.ts'
import { notText } from './commands/check.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-source-text-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('a .pipe file that is not UTF-8 text', () => {
  it('is one usage error naming the first bad byte, not thousands of diagnostics', async () => {
    const binary = join(dir, 'ls.pipe')
    const bytes = Buffer.alloc(200_000)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256
    await writeFile(binary, bytes)
    for (const command of ['check', 'compile']) {
      const { code, stderr } = await runCli(
        command,
        binary,
        ...(command === 'compile' ? ['-o', join(dir, 'out')] : []),
      )
      expect(code).toBe(2)
      expect(stderr).toContain(
        `${binary} is not a .pipe text file: it holds a NUL byte at byte 0 (a binary file?)`,
      )
      expect(stderr.length).toBeLessThan(500)
    }
  })

  it('names where invalid UTF-8 starts', () => {
    expect(notText(Buffer.from('schema E { id: string }\n// caf\xe9\n', 'latin1'))).toBe(
      'it is not valid UTF-8 (first bad byte at 30); save it as UTF-8',
    )
    expect(notText(Buffer.from('schema E { nom: string } // café, 日本語, 😀\n'))).toBeNull()
  })
})
