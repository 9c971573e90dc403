/**
 * Golden tests of the front end's user-facing output: for every `specs/diagnostics/<name>.pipe`,
 * what `sluice check` prints (no color) must equal `<name>.expected`. Run with `UPDATE_GOLDEN=1`
 * to rewrite the expected files after an intended change, then review the diff.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import { formatDiagnostics } from './format.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = join(root, 'specs', 'diagnostics')
const update = process.env.UPDATE_GOLDEN === '1'
const cases = readdirSync(dir)
  .filter((f) => f.endsWith('.pipe'))
  .sort()

function renderCase(pipePath: string): string {
  const file = relative(root, pipePath)
  const text = readFileSync(pipePath, 'utf8')
  const result = checkSource(file, text)
  return formatDiagnostics(result.diagnostics, new Map([[file, text]]), { color: false })
}

describe('diagnostics golden files (specs/diagnostics)', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(5)
  })

  for (const name of cases) {
    it(name, () => {
      const actual = renderCase(join(dir, name))
      const expectedPath = join(dir, name.replace(/\.pipe$/, '.expected'))
      if (update) writeFileSync(expectedPath, actual)
      expect(actual).toBe(readFileSync(expectedPath, 'utf8'))
    })
  }
})
