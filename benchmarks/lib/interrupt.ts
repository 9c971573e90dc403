/**
 * Clean-ups that must run however a benchmark ends: when it returns, throws (the process's `exit`
 * event comes after an uncaught error too), or is stopped with Ctrl-C, SIGTERM or SIGHUP. On a
 * signal the children registered here are sent SIGTERM first (a child started with `kill -INT
 * <bench>` would not get the terminal's signal), then every clean-up runs and the process exits
 * with 128 + the signal's number, as it would have without a handler.
 *
 * The listeners are installed while something is registered and removed after, so a benchmark
 * that no longer holds anything gets the default handling of its signals back.
 */
import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

const cleanups = new Set<() => void>()
const children = new Set<ChildProcess>()

function runAll(): void {
  for (const child of children) child.kill('SIGTERM')
  for (const cleanup of [...cleanups]) {
    try {
      cleanup()
    } catch (error) {
      // One failed clean-up must not keep the others from running.
      process.stderr.write(`clean-up failed: ${(error as Error).message}\n`)
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runAll()
  process.exit(128 + (constants.signals[signal] ?? 0))
}

function install(): void {
  if (cleanups.size + children.size > 0) return
  for (const signal of SIGNALS) process.on(signal, onSignal)
  process.on('exit', runAll)
}

function uninstallIfIdle(): void {
  if (cleanups.size + children.size > 0) return
  for (const signal of SIGNALS) process.off(signal, onSignal)
  process.off('exit', runAll)
}

/** Runs `cleanup` (synchronous) if the process ends before the returned release is called. */
export function onInterrupt(cleanup: () => void): () => void {
  install()
  cleanups.add(cleanup)
  return () => {
    cleanups.delete(cleanup)
    uninstallIfIdle()
  }
}

/** Sends `child` SIGTERM if the process ends while it runs. */
export function killOnInterrupt(child: ChildProcess): void {
  install()
  children.add(child)
  const done = () => {
    children.delete(child)
    uninstallIfIdle()
  }
  // A child that never started emits `error` and no `exit`.
  child.once('exit', done)
  child.once('error', done)
}

/**
 * Runs `body` with a fresh directory under the system temp dir (named `prefix` + random), removed
 * after `body` however it ends, and on the signals above while it runs (a child the parent stops
 * with SIGTERM leaves no directory behind either).
 */
export async function withTempDir<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  const release = onInterrupt(() => rmSync(dir, { recursive: true, force: true }))
  try {
    return await body(dir)
  } finally {
    release()
    await rm(dir, { recursive: true, force: true })
  }
}
