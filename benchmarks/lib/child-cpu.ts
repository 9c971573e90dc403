/**
 * The CPU time of a child process, for benchmarks that spawn one per measurement (cli-startup):
 * `withCpuReport(env)` makes the child preload report-cpu-at-exit.cjs, which writes the process's
 * user + system CPU time as one marked stderr line when it exits; `takeCpuReport(stderr)` reads
 * that line and gives the stderr back without it. Node reports no CPU time of children, and
 * /usr/bin/time rounds to 10 ms, too coarse for a 100 ms command.
 */
import { fileURLToPath } from 'node:url'

const PRELOAD = fileURLToPath(new URL('./report-cpu-at-exit.cjs', import.meta.url))
const MARKER = /\n?@@sluice-bench-cpu (\{[^\n]*\})\n?/

/** `env` with NODE_OPTIONS extended so that the child reports its CPU time at exit. */
export function withCpuReport(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const options = [env.NODE_OPTIONS, `--require ${JSON.stringify(PRELOAD)}`].filter(Boolean).join(' ')
  return { ...env, NODE_OPTIONS: options }
}

/** The child's user + system CPU time in ms, and its stderr without the report. */
export function takeCpuReport(stderr: string): { cpuMs: number; stderr: string } {
  const match = MARKER.exec(stderr)
  if (match === null)
    throw new Error(`the child wrote no CPU report (did it exit normally?): ${stderr.slice(-500)}`)
  const { userUs, systemUs } = JSON.parse(match[1]!) as { userUs: number; systemUs: number }
  return { cpuMs: (userUs + systemUs) / 1000, stderr: stderr.replace(MARKER, '') }
}
