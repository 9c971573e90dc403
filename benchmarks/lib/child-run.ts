/**
 * Runs a benchmark script again in a fresh node process (same node flags and arguments, plus
 * `extra`), so each variant is measured without the others' JIT state or heap; the child prints
 * its result as JSON on its last stdout line.
 */
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { killOnInterrupt } from './interrupt.ts'

export function runScriptChild<T>(scriptUrl: string, extra: string[], nodeFlags: string[] = []): T {
  const stdout = execFileSync(
    process.execPath,
    [...nodeFlags, ...process.execArgv, fileURLToPath(scriptUrl), ...process.argv.slice(2), ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 },
  )
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1]!) as T
}

export interface ChildJsonRun {
  /** The script (a file URL or path) and its arguments. */
  readonly script: string
  readonly args: readonly string[]
  /** Node flags before the script (`--expose-gc`); `--import tsx` is always given. */
  readonly nodeFlags?: readonly string[]
  readonly cwd: string
}

/**
 * Runs a benchmark's child mode in a fresh node process (stderr shown as it comes) and answers
 * the JSON of each line it printed on stdout. Asynchronous, so that Ctrl-C reaches the parent's
 * clean-up while the child runs (interrupt.ts stops the child); a child that fails rejects with
 * its exit status.
 */
export async function runChildJsonLines<T>(run: ChildJsonRun): Promise<T[]> {
  const lines = (await runChildStdout(run)).split('\n').filter((line) => line.trim() !== '')
  return lines.map((line) => parseJsonLine<T>(run, line))
}

/** As runChildJsonLines, for a child whose result is the JSON of its last stdout line (what comes before is its own). */
export async function runChildJsonLast<T>(run: ChildJsonRun): Promise<T> {
  const last = (await runChildStdout(run)).trimEnd().split('\n').pop() ?? ''
  return parseJsonLine<T>(run, last)
}

function parseJsonLine<T>(run: ChildJsonRun, line: string): T {
  try {
    return JSON.parse(line) as T
  } catch {
    throw new Error(`${run.script} in ${run.cwd} printed a line that is not JSON: ${line.slice(0, 200)}`)
  }
}

function runChildStdout(run: ChildJsonRun): Promise<string> {
  const script = run.script.startsWith('file:') ? fileURLToPath(run.script) : run.script
  const child = spawn(process.execPath, [...(run.nodeFlags ?? []), '--import', 'tsx', script, ...run.args], {
    cwd: run.cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  killOnInterrupt(child)
  const chunks: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(chunks).toString('utf8'))
      else reject(new Error(`${script} in ${run.cwd} ended with ${signal ?? `exit status ${code}`}`))
    })
  })
}
