// Prints one closing line, `N passed, N failed`, summed over the vitest JSON reports that the
// unit and integration runs wrote to .cache/test-results/ (CI reads that line).
import { existsSync, readFileSync } from 'node:fs'

let passed = 0
let failed = 0
let skipped = 0
for (const name of ['unit', 'integration']) {
  const file = `.cache/test-results/${name}.json`
  if (!existsSync(file)) continue
  const report = JSON.parse(readFileSync(file, 'utf8'))
  passed += report.numPassedTests
  failed += report.numFailedTests
  skipped += report.numPendingTests + report.numTodoTests
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
