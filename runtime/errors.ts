/**
 * Every error the runtime raises on purpose is a SluiceError with a `code` from this one list.
 * Callers branch on `code`, never on the message; `retryable` says whether trying again may help.
 */
export const RUNTIME_ERROR_CODES = [
  'LOG_UNKNOWN_TOPIC',
  'LOG_BAD_PARTITION',
  'LOG_CORRUPT_SEGMENT',
  'LOG_CLOSED',
  'LOG_LOCKED',
  'LOG_READ_ONLY',
  'LOG_GROUP_BUSY',
  'LOG_INVALID_ARGUMENT',
  /** A record the log will never accept as it is (the broker's reason in the message). */
  'LOG_RECORD_REFUSED',
  /** The disk (or quota) is full: ENOSPC / EDQUOT, with the file in the message. */
  'LOG_DISK_FULL',
  /** A consumer group's committed-offsets file is damaged and no backup generation could replace it. */
  'LOG_CORRUPT_OFFSETS',
  /** Another I/O failure of the embedded log, with the file and the system error code. */
  'LOG_IO',
  /**
   * Another subscriber took this source partition's transactional id over (exactly-once): this one is
   * a zombie, and what it appended since its last commit is discarded. Not retryable by this owner.
   */
  'LOG_FENCED',
  'KAFKA_UNAVAILABLE',
  /** The brokers refused our credentials (SASL) or the TLS handshake failed (certificate, CA, host name). */
  'KAFKA_AUTH',
  'ARTIFACT_NOT_FOUND',
  'ARTIFACT_INVALID',
  'ARTIFACT_HASH_MISMATCH',
  /** A state snapshot (file or Redis entry) is damaged; the message names it. */
  'STATE_CORRUPT',
  /** The state store cannot give the state of the epoch the log committed (history compacted away, or ahead of it). */
  'STATE_EPOCH_MISMATCH',
  /** Another node took the state's scope over since this one did (a zombie's write is refused). */
  'STATE_FENCED',
  /** The state store (Redis) cannot be reached; retryable. */
  'STATE_UNAVAILABLE',
  'EVENT_DECODE',
  'EVENT_EVAL',
  'CONFIG_INVALID',
] as const

export type RuntimeErrorCode = (typeof RUNTIME_ERROR_CODES)[number]

export class SluiceError extends Error {
  readonly code: RuntimeErrorCode
  readonly retryable: boolean
  /**
   * For a failed append: how many of its leading records (in input order) were durably appended
   * before the failure, so a caller that tries again sends only the rest. Absent: unknown.
   */
  readonly appended: number | undefined

  constructor(
    code: RuntimeErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; appended?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SluiceError'
    this.code = code
    this.retryable = options.retryable ?? false
    this.appended = options.appended
  }
}

export function isSluiceError(error: unknown, code?: RuntimeErrorCode): error is SluiceError {
  return error instanceof SluiceError && (code === undefined || error.code === code)
}
