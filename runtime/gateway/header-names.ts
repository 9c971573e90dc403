/**
 * The HTTP header names (and the one constant value) the gateway hands to µWebSockets.js on every
 * request, as bytes made once. uWebSockets.js takes a string or bytes for each; a string it first
 * measures and copies out as UTF-8 (`String::Utf8Length` and `WriteUtf8`, about 2 % of a
 * single-event request's CPU in decision 0034's profile), bytes it reads where they are. Names are
 * lower case: `getHeader` matches them as given.
 */

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'))

export const CONTENT_TYPE = bytes('content-type')
export const CONTENT_LENGTH = bytes('content-length')
export const API_KEY = bytes('x-api-key')
export const TRACEPARENT = bytes('traceparent')
export const TRACESTATE = bytes('tracestate')
export const TENANT = bytes('x-sluice-tenant')
export const CE_SPECVERSION = bytes('ce-specversion')
export const RETRY_AFTER = bytes('retry-after')
export const APPLICATION_JSON = bytes('application/json')
