import { isSluiceError, SluiceError } from '../../errors.ts'

/**
 * Turns a failed file operation into a SluiceError that names the file: LOG_DISK_FULL for a full
 * disk or quota (the user frees space and retries), LOG_IO with the system error code otherwise.
 * SluiceErrors pass through unchanged.
 */
export function ioError(error: unknown, file: string, action: string): Error {
  if (isSluiceError(error)) return error
  const code = errnoCode(error)
  const detail = error instanceof Error ? error.message : String(error)
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new SluiceError(
      'LOG_DISK_FULL',
      `disk full while ${action} ${file} (${code}): free space on that file system and try again`,
      { cause: error, retryable: true },
    )
  }
  if (code !== null) {
    return new SluiceError('LOG_IO', `${action} ${file} failed: ${code} (${detail})`, { cause: error })
  }
  return error instanceof Error ? error : new Error(detail)
}

export function errnoCode(error: unknown): string | null {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : null
}

/** Runs `operation`, rethrowing its failure through ioError. */
export async function withFile<T>(file: string, action: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation()
  } catch (error) {
    throw ioError(error, file, action)
  }
}
