/**
 * Golden tests of the front end's user-facing output: for every `specs/diagnostics/<name>.pipe`,
 * what `sluice check` prints (no color) must equal `<name>.expected`. Run with `UPDATE_GOLDEN=1`
 * to rewrite the expected files after an intended change, then review the diff.
 */
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeGoldenCases } from '../../test/support/golden-cases.ts'
import { checkSource } from '../frontend.ts'
import { formatDiagnostics } from './format.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = join(root, 'specs', 'diagnostics')

function renderCase(pipePath: string): string {
  const file = relative(root, pipePath)
  const text = readFileSync(pipePath, 'utf8')
  const result = checkSource(file, text)
  return formatDiagnostics(result.diagnostics, new Map([[file, text]]), { color: false })
}

describeGoldenCases('diagnostics golden files (specs/diagnostics)', dir, { moreThan: 5 }, renderCase)
