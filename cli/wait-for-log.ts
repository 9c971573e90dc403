/**
 * Commands that write to a log (`run`, `produce`) wait out an unavailable one (a broker restarting,
 * a node started before its broker) instead of failing: they try again with back-off, say so once
 * per outage, and stop waiting when the user interrupts.
 */

import type { Log, OutgoingRecord } from '../runtime/log/index.ts'
import { appendRetrying, backoffDelay, DEFAULT_BACKOFF, isRetryable, sleep } from '../runtime/log/retry.ts'
import type { Logger } from '../runtime/observability/logger.ts'

/**
 * Opens the log, waiting with back-off while it is unavailable; null when interrupted first.
 * Errors retrying cannot fix are thrown.
 */
export async function waitForLog<T>(
  open: () => Promise<T>,
  logger: Logger,
  signal: AbortSignal,
): Promise<T | null> {
  let failures = 0
  for (;;) {
    try {
      return await open()
    } catch (error) {
      if (!isRetryable(error)) throw error
      failures++
      if (failures === 1) {
        logger.warn('log unavailable at start; retrying with back-off until it answers', {
          error: error.message,
          code: error.code,
        })
      }
      await sleep(backoffDelay(failures, DEFAULT_BACKOFF), signal)
      if (signal.aborted) return null
    }
  }
}

/**
 * Appends `records`, waiting out an unavailable log with one warning when the outage starts and
 * one line when it ends. Rejects with LOG_CLOSED when interrupted while waiting (with `appended`
 * saying how many of `records` the log holds).
 */
export async function appendWaiting(
  log: Log,
  topic: string,
  records: readonly OutgoingRecord[],
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const started = Date.now()
  const failures = await appendRetrying(log, topic, records, {
    signal,
    onRetry: (error, n) => {
      if (n === 1) {
        logger.warn('log unavailable; retrying the append with back-off until it answers', {
          topic,
          error: error.message,
          code: error.code,
        })
      }
    },
  })
  if (failures > 0)
    logger.info('log available again; the append went through', { topic, waitedMs: Date.now() - started })
}
