import { readFile } from 'node:fs/promises'
import { isSluiceError, SluiceError } from '../../errors.ts'
import { isCode } from './fs-util.ts'

/** A file's text, or null when it does not exist; any other failure is ioError naming the file. */
export async function readTextIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if (isCode(error, 'ENOENT')) return null
    throw ioError(error, file, 'reading')
  }
}

/**
 * Turns a failed file operation into a SluiceError that names the file: LOG_DISK_FULL for a full
 * disk or quota (the user frees space and retries), LOG_IO with the system error code otherwise.
 * SluiceErrors pass through unchanged.
 */
export function ioError(
  error: unknown,
  file: string,
  action: string,
  extra: { readonly appended?: number } = {},
): Error {
  if (isSluiceError(error)) return error
  const code = errnoCode(error)
  const detail = error instanceof Error ? error.message : String(error)
  // Not retryable: waiting does not free space, and a writer that retried silently would hide it.
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new SluiceError(
      'LOG_DISK_FULL',
      `disk full while ${action} ${file} (${code}): free space on that file system and try again`,
      { cause: error, ...extra },
    )
  }
  if (code !== null) {
    return new SluiceError('LOG_IO', `${action} ${file} failed: ${code} (${detail})`, {
      cause: error,
      ...extra,
    })
  }
  return error instanceof Error ? error : new Error(detail)
}

export function errnoCode(error: unknown): string | null {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : null
}

/** The same error saying how many of the batch's records the log durably holds (undefined: unknown). */
export function withAppended(error: unknown, appended: number | undefined): unknown {
  if (!isSluiceError(error) || error.appended === appended) return error
  return new SluiceError(error.code, error.message, {
    cause: error.cause,
    retryable: error.retryable,
    ...(appended === undefined ? {} : { appended }),
  })
}

/** Runs `operation`, rethrowing its failure through ioError. */
export async function withFile<T>(file: string, action: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation()
  } catch (error) {
    throw ioError(error, file, action)
  }
}
