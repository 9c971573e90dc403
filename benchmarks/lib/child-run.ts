/**
 * Runs a benchmark script again in a fresh node process (same node flags and arguments, plus
 * `extra`), so each variant is measured without the others' JIT state or heap; the child prints
 * its result as JSON on its last stdout line.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export function runScriptChild<T>(scriptUrl: string, extra: string[], nodeFlags: string[] = []): T {
  const stdout = execFileSync(
    process.execPath,
    [...nodeFlags, ...process.execArgv, fileURLToPath(scriptUrl), ...process.argv.slice(2), ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 },
  )
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1]!) as T
}
