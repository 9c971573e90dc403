/**
 * Test support for the embedded log's tests: temporary data directories and the logs opened on
 * them, closed and removed after each test, and an assertion on a SluiceError's code.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, expect } from 'vitest'
import { isSluiceError, type RuntimeErrorCode } from '../../runtime/errors.ts'
import { EmbeddedLog, type EmbeddedLogOptions } from '../../runtime/log/embedded.ts'

/** Registers the clean-up with the calling test file; `prefix` names its temporary directories. */
export function logScratch(prefix: string) {
  const dirs: string[] = []
  const logs: EmbeddedLog[] = []
  /** Closes every log opened so far (errors ignored); the clean-up after each test does this too. */
  const closeLogs = async (): Promise<void> => {
    await Promise.allSettled(logs.splice(0).map((l) => l.close()))
  }
  afterEach(async () => {
    await closeLogs()
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  })
  /** A log the clean-up closes (also one opened some other way). */
  const track = (log: EmbeddedLog): EmbeddedLog => {
    logs.push(log)
    return log
  }
  return {
    async newDir(): Promise<string> {
      const dir = await mkdtemp(path.join(os.tmpdir(), `${prefix}-`))
      dirs.push(dir)
      return dir
    },
    track,
    closeLogs,
    async openLog(dir: string, options?: EmbeddedLogOptions): Promise<EmbeddedLog> {
      return track(await EmbeddedLog.open(dir, options))
    },
  }
}

/** Awaits `promise`, expects it to reject with a SluiceError of `code` (and `message`), returns the error. */
export async function expectCode(
  promise: Promise<unknown>,
  code: RuntimeErrorCode,
  message?: RegExp | string,
): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isSluiceError(error, code), `expected SluiceError ${code}, got ${String(error)}`).toBe(true)
  if (message !== undefined) expect((error as Error).message).toMatch(message)
  return error as Error
}
