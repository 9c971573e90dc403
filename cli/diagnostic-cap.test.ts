/**
 * Issue 17, defect 3: a text file with thousands of errors printed every one of them (a binary
 * file gave 74,143 errors and 403 MB). `check` and `compile` print the first
 * MAX_SHOWN_DIAGNOSTICS, say how many more there are, and still count them all.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_SHOWN_DIAGNOSTICS } from '../compiler/diagnostics/index.ts'
import { runCli } from '../test/support/capture-io.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-diagnostic-cap-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('a file with more errors than are worth printing', () => {
  it.each(['check', 'compile'])(
    '%s prints the first ones, then how many more, and counts all',
    async (command) => {
      const count = 3 * MAX_SHOWN_DIAGNOSTICS
      const file = join(dir, `${command}.pipe`)
      await writeFile(file, Array.from({ length: count }, (_, i) => `schema S${i} { x: nope }`).join('\n'))
      const args = command === 'compile' ? [file, '-o', join(dir, 'out')] : [file]
      const { code, stderr } = await runCli(command, ...args, '--no-color')
      expect(code).toBe(1)
      expect(stderr.match(/^error\[E0201\]/gm)).toHaveLength(MAX_SHOWN_DIAGNOSTICS)
      expect(stderr).toContain(`schema S${MAX_SHOWN_DIAGNOSTICS - 1} {`)
      expect(stderr).not.toContain(`schema S${MAX_SHOWN_DIAGNOSTICS} {`)
      // Every line is an error, and so is the missing source and sink (E0214).
      const total = count + 1
      expect(stderr).toContain(
        `… and ${total - MAX_SHOWN_DIAGNOSTICS} more diagnostics not shown (the first ${MAX_SHOWN_DIAGNOSTICS} are)`,
      )
      expect(stderr).toContain(`\n${total} errors\n`)
    },
  )
})
