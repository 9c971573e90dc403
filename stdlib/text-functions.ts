/**
 * Implementations of the string, encoding, hash and id functions added for issue 17. Registered
 * in index.ts. Strings are hashed and encoded as their UTF-8 bytes.
 */
import { createHash } from 'node:crypto'
import { environment } from './environment.ts'
import { EvaluationError } from './eval-error.ts'

function fail(fn: string, value: string, problem: string): never {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value
  throw new EvaluationError(`${fn}: ${JSON.stringify(shown)} ${problem}`)
}

const encoder = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff
}

/** In `u` mode a pair is one code point, so only a surrogate without its partner matches. */
const LONE_SURROGATE = /\p{Cs}/u

/** A string with a lone surrogate has no UTF-8 form; encoding it would silently write U+FFFD. */
function checkWellFormed(fn: string, s: string): void {
  if (LONE_SURROGATE.test(s)) fail(fn, s, 'holds a lone surrogate, which has no UTF-8 encoding')
}

function utf8(fn: string, s: string): Uint8Array {
  checkWellFormed(fn, s)
  return encoder.encode(s)
}

export function indexOf(s: string, sub: string): number {
  return s.indexOf(sub)
}

/** The longest result `lpad`/`rpad` build: a bigger width is an evaluation error, not an out-of-memory crash. */
export const MAX_PAD_WIDTH = 1_048_576

/** `width - s.length` code units of `fill` repeated, never ending in half a character. */
function padding(fn: string, s: string, width: number, fill: string): string {
  if (width > MAX_PAD_WIDTH) fail(fn, String(width), `is wider than ${MAX_PAD_WIDTH} code units`)
  const missing = width - s.length
  if (missing <= 0 || fill === '') return ''
  let out = fill.repeat(Math.ceil(missing / fill.length)).slice(0, missing)
  if (
    isHighSurrogate(out.charCodeAt(out.length - 1)) &&
    isLowSurrogate(fill.charCodeAt(missing % fill.length))
  )
    out = out.slice(0, -1)
  return out
}

export function lpad(s: string, width: number, fill: string): string {
  return padding('lpad', s, width, fill) + s
}

export function rpad(s: string, width: number, fill: string): string {
  return s + padding('rpad', s, width, fill)
}

export function sha256(s: string): string {
  return createHash('sha256').update(utf8('sha256', s)).digest('hex')
}

/**
 * FNV-1a 64 of the UTF-8 bytes, its top 53 bits as a non-negative i64. Specified by the algorithm
 * alone (offset basis 0xcbf29ce484222325, prime 0x100000001b3), so it is stable across versions
 * and machines: `hash(user) % 16` puts a user in the same bucket forever.
 */
export function hash(s: string): number {
  const bytes = utf8('hash', s)
  // The 64-bit state as two unsigned 32-bit halves; multiplying by the prime 2^40 + 0x1b3 is
  // h * 0x1b3 + (h << 40), modulo 2^64.
  let hi = 0xcbf29ce4
  let lo = 0x84222325
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]!) >>> 0
    const low = lo * 0x1b3
    const carry = Math.floor(low / 0x1_0000_0000)
    hi = (Math.imul(hi, 0x1b3) + carry + (lo << 8)) >>> 0
    lo = low >>> 0
  }
  return hi * 0x20_0000 + (lo >>> 11)
}

export function base64Encode(s: string): string {
  return Buffer.from(utf8('base64_encode', s)).toString('base64')
}

/** Standard or URL-safe alphabet, padding optional but correct when present, nothing else. */
const BASE64 = /^(?:[A-Za-z0-9+/\-_]{4})*(?:[A-Za-z0-9+/\-_]{2}(?:==)?|[A-Za-z0-9+/\-_]{3}=?)?$/

export function base64Decode(s: string): string {
  if (!BASE64.test(s)) fail('base64_decode', s, 'is not base64')
  const bytes = Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64')
  return decodeUtf8('base64_decode', s, bytes)
}

function decodeUtf8(fn: string, s: string, bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return fail(fn, s, 'does not decode to UTF-8 text')
  }
}

/** Percent-encoding of RFC 3986: everything but the unreserved `A-Z a-z 0-9 - . _ ~`. */
export function urlEncode(s: string): string {
  checkWellFormed('url_encode', s)
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** `%XX` escapes decoded as UTF-8; `+` stays `+` (form decoding is `url_decode(replace(s, "+", " "))`). */
export function urlDecode(s: string): string {
  if (!s.includes('%')) return s
  const bytes: number[] = []
  let out = ''
  const flush = () => {
    if (bytes.length === 0) return
    out += decodeUtf8('url_decode', s, Uint8Array.from(bytes))
    bytes.length = 0
  }
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c !== '%') {
      flush()
      out += c
      continue
    }
    const hex = s.slice(i + 1, i + 3)
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) fail('url_decode', s, `has \`%\` without two hex digits at ${i}`)
    bytes.push(Number.parseInt(hex, 16))
    i += 2
  }
  flush()
  return out
}

function uuidText(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** A random (version 4) UUID from the environment's random source. */
export function uuid(): string {
  const bytes = new Uint8Array(16)
  environment().fillRandom(bytes)
  bytes[6] = (bytes[6]! & 0x0f) | 0x40
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  return uuidText(bytes)
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

/** Why `namespace` cannot be a UUID namespace, or null when it can. */
export function invalidUuid(namespace: string): string | null {
  return UUID.test(namespace) ? null : `${JSON.stringify(namespace)} is not a UUID (8-4-4-4-12 hex digits)`
}

/** The name-based (version 5, SHA-1) UUID of `name` in `namespace` (RFC 9562): the same inputs give the same id. */
export function uuidV5(namespace: string, name: string): string {
  const problem = invalidUuid(namespace)
  if (problem !== null) throw new EvaluationError(`uuid_v5: ${problem}`)
  const digest = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(utf8('uuid_v5', name))
    .digest()
  const bytes = new Uint8Array(digest.subarray(0, 16))
  bytes[6] = (bytes[6]! & 0x0f) | 0x50
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  return uuidText(bytes)
}

const TRUE_WORDS = new Set(['true', 't', 'yes', 'y', 'on', '1'])
const FALSE_WORDS = new Set(['false', 'f', 'no', 'n', 'off', '0'])

/** `true`/`false` for the spellings PostgreSQL accepts (any case, white space around ignored), else null. */
export function parseBool(s: string): boolean | null {
  const word = s.trim().toLowerCase()
  if (TRUE_WORDS.has(word)) return true
  if (FALSE_WORDS.has(word)) return false
  return null
}
