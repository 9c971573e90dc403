/**
 * Waiting out an unavailable log (a broker restart, a network blip): what the pipeline runner and
 * `sluice produce` share. Only errors the log marks retryable (SluiceError.retryable, such as
 * KAFKA_UNAVAILABLE) are tried again; anything else is final and thrown at once.
 */
import { SluiceError } from '../errors.ts'
import type { AppendOptions, Log, OutgoingRecord } from './index.ts'

/** Exponential back-off between tries, in ms. */
export interface Backoff {
  readonly initialMs: number
  readonly maxMs: number
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 200, maxMs: 5000 }

export function isRetryable(error: unknown): error is SluiceError {
  return error instanceof SluiceError && error.retryable
}

/**
 * The wait before the next try after `failures` failures in a row: doubling from initialMs up to
 * maxMs, with ±20 % jitter so the nodes of a group do not hammer a returning broker in step.
 */
export function backoffDelay(failures: number, backoff: Backoff): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30)
  const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** exponent)
  return delay * (0.8 + Math.random() * 0.4)
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', wake)
      resolve()
    }
    const timer = setTimeout(wake, ms)
    signal?.addEventListener('abort', wake, { once: true })
  })
}

export interface AppendRetryOptions {
  readonly backoff?: Backoff
  /** Aborting it ends the waiting: the append then rejects with LOG_CLOSED (nothing more is sent). */
  readonly signal?: AbortSignal
  /** As in Log.append; indexes are into the `records` given here. */
  readonly onRefused?: AppendOptions['onRefused']
  /** Told of each retryable failure, before the wait; `failures` counts them in a row. */
  readonly onRetry?: (error: SluiceError, failures: number) => void
}

/**
 * Appends `records`, trying again after retryable failures until the log takes them. After a
 * failure only the records the log did not acknowledge (SluiceError.appended) are sent again, so
 * a retry adds no duplicates where the log can tell; where it cannot, the whole rest is sent again
 * (at-least-once). Resolves with the number of failures it waited out.
 */
export async function appendRetrying(
  log: Pick<Log, 'append'>,
  topic: string,
  records: readonly OutgoingRecord[],
  options: AppendRetryOptions = {},
): Promise<number> {
  const backoff = options.backoff ?? DEFAULT_BACKOFF
  const { onRefused } = options
  let done = 0
  let failures = 0
  for (;;) {
    const base = done
    try {
      await log.append(
        topic,
        done === 0 ? records : records.slice(done),
        onRefused ? { onRefused: (index, reason) => onRefused(base + index, reason) } : {},
      )
      return failures
    } catch (error) {
      if (!isRetryable(error)) throw error
      done += error.appended ?? 0
      failures++
      options.onRetry?.(error, failures)
      if (options.signal?.aborted !== true) await sleep(backoffDelay(failures, backoff), options.signal)
      if (options.signal?.aborted === true) {
        throw new SluiceError(
          'LOG_CLOSED',
          `stopped while waiting for the log to take ${records.length - done} records for ${topic}`,
          { cause: error, appended: done },
        )
      }
    }
  }
}
