/**
 * The gateway's answers to refused requests and events: one catalogue of codes, each with its HTTP
 * status. Every refusal is a JSON body `{error_code, message}`, plus `field` and `rule` when an
 * event broke its schema, and `retryAfterMs` when trying later helps.
 */
export const GATEWAY_ERRORS = {
  /** The body (or an event of a batch) is not JSON, or not UTF-8. */
  INVALID_JSON: 400,
  /** A CloudEvent lacks a required attribute or has a malformed one (`field` names it). */
  INVALID_CLOUDEVENT: 400,
  /** A JSON array, NDJSON or CloudEvents batch with no event in it. */
  EMPTY_BATCH: 400,
  /** The event does not match its stream's schema (`field` and `rule` say where and why). */
  SCHEMA_MISMATCH: 422,
  /** The log will never take the record (over its size limit, say). */
  LOG_REFUSED: 422,
  /** `PUT /admin/limits` with limits that are not valid. */
  INVALID_LIMITS: 400,
  UNAUTHORIZED: 401,
  UNKNOWN_STREAM: 404,
  NOT_FOUND: 404,
  EVENT_TOO_LARGE: 413,
  REQUEST_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  /** The log could not take the events (an error retrying cannot fix). */
  APPEND_FAILED: 500,
  /** A gateway handler failed (a bug, logged and counted): nothing of the request is acknowledged. */
  INTERNAL_ERROR: 500,
  /** Too many bytes in flight: try again after `retryAfterMs`. */
  OVERLOADED: 503,
  /** The node is shutting down. */
  DRAINING: 503,
  /** The log did not take the events in time (a broker outage): try again later. */
  LOG_UNAVAILABLE: 503,
} as const

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS

/** A refusal, as the JSON body (or the per-event result of a batch) carries it. */
export interface GatewayError {
  readonly error_code: GatewayErrorCode
  readonly message: string
  /** The event's field that broke the schema (`merchant.name`, `tags[2]`); null: the event itself. */
  readonly field?: string | null
  /** What the schema or the protocol asks of it (`expected a finite number`). */
  readonly rule?: string
  readonly retryAfterMs?: number
}

export function gatewayError(
  code: GatewayErrorCode,
  message: string,
  extra: Omit<GatewayError, 'error_code' | 'message'> = {},
): GatewayError {
  return { error_code: code, message, ...extra }
}

export function statusOf(error: GatewayError): number {
  return GATEWAY_ERRORS[error.error_code]
}
