/**
 * What the log conformance suites (conformance.ts, checkpoint-conformance.ts) share: waiting for a
 * condition and asserting a SluiceError's code.
 */
import { expect } from 'vitest'
import { isSluiceError, type RuntimeErrorCode } from '../errors.ts'

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `condition` until it holds; fails after `timeoutMs` (default 30 s) naming what it awaited. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  { timeoutMs = 30_000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}

/** Asserts that `promise` rejects with a SluiceError of `code`. */
export async function expectCode(promise: Promise<unknown>, code: RuntimeErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, `expected a SluiceError ${code}`).toBeDefined()
  expect(isSluiceError(error, code), `expected a SluiceError ${code}, got ${String(error)}`).toBe(true)
}
