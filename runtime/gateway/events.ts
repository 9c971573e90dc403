/**
 * One event model behind every protocol: a request body (or a WebSocket message) becomes a list of
 * IncomingEvents, each the event's JSON bytes as they will be written to the log plus the record
 * headers it brings, or a per-event error. Validation against the stream's schema comes after
 * (validate.ts), so every protocol is checked by the same generated decoder.
 *
 * Bodies by Content-Type:
 *   application/json (or none)          one event (a JSON object), or a JSON array of events (a batch)
 *   application/x-ndjson                one event per line (blank lines skipped); a batch
 *   application/cloudevents+json        one CloudEvent, structured mode (attributes and `data` in the body)
 *   application/cloudevents-batch+json  a JSON array of structured CloudEvents; a batch
 *   any JSON type with ce-specversion   one CloudEvent, binary mode: attributes in `ce-*` headers, the body is `data`
 *
 * A CloudEvent's `data` is the event; its attributes travel as record headers in the CloudEvents
 * Kafka binding's binary mode (`ce_id`, `ce_source`, …, `content-type`), and its `partitionkey`
 * extension becomes the record key.
 */
import { isUtf8 } from '../text/utf8.ts'
import { type GatewayError, gatewayError } from './errors.ts'
import { arrayItems, mayHideRounding, memberValue } from './exact-numbers.ts'

export interface IncomingEvent {
  /** The event's JSON bytes, as the log will hold them. */
  readonly value: Buffer
  /** The event as JSON.parse gives it, when the body was parsed already; undefined otherwise. */
  readonly parsed: unknown
  /** Record headers the event brings (a CloudEvent's attributes). */
  readonly headers: Readonly<Record<string, string>>
  /** An explicit record key (a CloudEvent's partitionkey); undefined: the stream decides. */
  readonly key: string | undefined
}

export type IncomingItem = IncomingEvent | { readonly error: GatewayError }

export interface ParsedBody {
  /** A batch answers with per-event results, even of one event; a single event with its own status. */
  readonly batch: boolean
  readonly items: readonly IncomingItem[]
}

/** The headers of an event that brings none (all but CloudEvents): one object, so records can share theirs. */
export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})

/** The media type of a Content-Type header: lower case, without parameters. */
export function mediaType(contentType: string): string {
  const semicolon = contentType.indexOf(';')
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase()
}

/**
 * Parses a request body by its Content-Type; `ceHeaders` are the request's `ce-*` headers (names
 * lower case, without the prefix), binary mode when they hold `specversion`. A body that cannot be
 * read at all (not JSON, an unknown media type) is an error for the whole request.
 */
export function parseBody(
  contentType: string,
  body: Buffer,
  ceHeaders: Readonly<Record<string, string>>,
): ParsedBody | { readonly error: GatewayError } {
  const type = mediaType(contentType)
  if (ceHeaders.specversion !== undefined) {
    if (type !== '' && !isJsonType(type)) return { error: unsupported(type, 'a binary-mode CloudEvent') }
    const event = binaryCloudEvent(ceHeaders, body, type)
    return 'error' in event ? { error: event.error } : { batch: false, items: [event] }
  }
  switch (type) {
    case '':
    case 'application/json': {
      const parsed = parseJson(body)
      if ('error' in parsed) return parsed
      if (!Array.isArray(parsed.value)) {
        return {
          batch: false,
          items: [{ value: body, parsed: parsed.value, headers: NO_HEADERS, key: undefined }],
        }
      }
      if (parsed.value.length === 0) return { error: emptyBatch() }
      // Each item's bytes as written, cut out of the body (views, no copies), as a single event's
      // are the body itself: cheaper than writing each parsed item again (JSON.stringify and
      // Buffer.from cost about twice the scan), and exact where JSON.parse rounded a number
      // (exact-numbers.ts).
      const written = arrayItems(body)
      const items: IncomingItem[] = new Array(written.length)
      for (let i = 0; i < written.length; i++)
        items[i] = { value: written[i]!, parsed: parsed.value[i], headers: NO_HEADERS, key: undefined }
      return { batch: true, items }
    }
    case 'application/x-ndjson':
    case 'application/ndjson':
    case 'application/jsonl': {
      const items: IncomingItem[] = []
      let start = 0
      while (start <= body.length) {
        let end = body.indexOf(0x0a, start)
        if (end === -1) end = body.length
        let line = body.subarray(start, end)
        if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1)
        start = end + 1
        if (isBlank(line)) continue
        items.push(
          isUtf8(line)
            ? { value: line, parsed: undefined, headers: NO_HEADERS, key: undefined }
            : { error: gatewayError('INVALID_JSON', 'the line is not valid UTF-8') },
        )
      }
      if (items.length === 0) return { error: emptyBatch() }
      return { batch: true, items }
    }
    case 'application/cloudevents+json': {
      const parsed = parseJson(body)
      if ('error' in parsed) return parsed
      const event = structuredCloudEvent(parsed.value, body)
      return 'error' in event ? { error: event.error } : { batch: false, items: [event] }
    }
    case 'application/cloudevents-batch+json': {
      const parsed = parseJson(body)
      if ('error' in parsed) return parsed
      if (!Array.isArray(parsed.value)) {
        return {
          error: gatewayError('INVALID_CLOUDEVENT', 'a CloudEvents batch is a JSON array of CloudEvents', {
            field: null,
            rule: 'a JSON array',
          }),
        }
      }
      if (parsed.value.length === 0) return { error: emptyBatch() }
      const written = mayHideRounding(body) ? arrayItems(body) : null
      return { batch: true, items: parsed.value.map((event, i) => structuredCloudEvent(event, written?.[i])) }
    }
    default:
      return { error: unsupported(type, 'events') }
  }
}

function parseJson(body: Buffer): { value: unknown } | { error: GatewayError } {
  if (!isUtf8(body)) return { error: gatewayError('INVALID_JSON', 'the body is not valid UTF-8') }
  try {
    return { value: JSON.parse(body.toString('utf8')) }
  } catch (error) {
    return { error: gatewayError('INVALID_JSON', `the body is not JSON: ${(error as Error).message}`) }
  }
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return false
  return true
}

function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json') || type === 'text/json'
}

function unsupported(type: string, what: string): GatewayError {
  return gatewayError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Type ${type} is not accepted for ${what}: use application/json (one event or an array), application/x-ndjson, application/cloudevents+json, application/cloudevents-batch+json, or ce-* headers with a JSON body`,
  )
}

function emptyBatch(): GatewayError {
  return gatewayError('EMPTY_BATCH', 'the batch holds no event')
}

const REQUIRED_ATTRIBUTES = ['id', 'source', 'type'] as const
const OPTIONAL_STRING_ATTRIBUTES = ['subject', 'dataschema', 'datacontenttype', 'time'] as const
/** CloudEvents 1.0: attribute names are lower-case ASCII letters and digits. */
const ATTRIBUTE_NAME = /^[a-z0-9]{1,20}$/
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i

function invalid(field: string | null, rule: string, message: string): { error: GatewayError } {
  return { error: gatewayError('INVALID_CLOUDEVENT', message, { field, rule }) }
}

/**
 * Checks a CloudEvent's context attributes (CloudEvents 1.0 core) and returns them as Kafka
 * binary-mode headers: `ce_<name>` per attribute, `content-type` for datacontenttype.
 */
function attributes(
  attrs: Readonly<Record<string, unknown>>,
): { headers: Record<string, string> } | { error: GatewayError } {
  if (attrs.specversion !== '1.0') {
    return invalid(
      'specversion',
      'must be "1.0"',
      `specversion is ${JSON.stringify(attrs.specversion) ?? 'missing'}; this gateway speaks CloudEvents 1.0`,
    )
  }
  for (const name of REQUIRED_ATTRIBUTES) {
    const value = attrs[name]
    if (typeof value !== 'string' || value === '') {
      return invalid(
        name,
        'required, a non-empty string',
        `the CloudEvent has no ${name} (a required attribute)`,
      )
    }
  }
  for (const name of OPTIONAL_STRING_ATTRIBUTES) {
    const value = attrs[name]
    if (value !== undefined && typeof value !== 'string') {
      return invalid(name, 'a string', `the CloudEvent's ${name} is not a string`)
    }
  }
  if (
    typeof attrs.time === 'string' &&
    !(RFC3339.test(attrs.time) && !Number.isNaN(Date.parse(attrs.time)))
  ) {
    return invalid(
      'time',
      'an RFC 3339 timestamp',
      `the CloudEvent's time ${JSON.stringify(attrs.time)} is not an RFC 3339 timestamp`,
    )
  }
  const contentType = attrs.datacontenttype
  if (typeof contentType === 'string' && !isJsonType(mediaType(contentType))) {
    return invalid(
      'datacontenttype',
      'a JSON media type',
      `the CloudEvent's data is ${contentType}; this stream takes JSON events (application/json)`,
    )
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'data' || name === 'data_base64') continue
    if (!ATTRIBUTE_NAME.test(name)) {
      return invalid(
        name,
        'lower-case letters and digits, at most 20',
        `CloudEvents attribute name ${JSON.stringify(name)} is not valid`,
      )
    }
    if (value === null || value === undefined) continue
    if (typeof value === 'object') {
      return invalid(
        name,
        'a string, number or boolean',
        `the CloudEvent's attribute ${name} is not a string, number or boolean`,
      )
    }
    if (name === 'datacontenttype') headers['content-type'] = String(value)
    else headers[`ce_${name}`] = String(value)
  }
  return { headers }
}

/**
 * A structured-mode CloudEvent: a JSON object with its attributes and `data` (or `data_base64`).
 * `text`, the CloudEvent's bytes, gives `data` as written when JSON.parse may have rounded it.
 */
export function structuredCloudEvent(value: unknown, text?: Buffer): IncomingItem {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return invalid(null, 'a JSON object', 'a CloudEvent is a JSON object')
  }
  const attrs = value as Record<string, unknown>
  const checked = attributes(attrs)
  if ('error' in checked) return checked
  let data: unknown
  let bytes: Buffer
  if (attrs.data !== undefined) {
    data = attrs.data
    const written = text !== undefined && mayHideRounding(text) ? memberValue(text, 'data') : undefined
    bytes = written ?? Buffer.from(JSON.stringify(data))
  } else if (typeof attrs.data_base64 === 'string') {
    bytes = Buffer.from(attrs.data_base64, 'base64')
    if (!isUtf8(bytes))
      return {
        error: gatewayError('INVALID_JSON', 'data_base64 is not UTF-8 JSON', { field: 'data_base64' }),
      }
    try {
      data = JSON.parse(bytes.toString('utf8'))
    } catch (error) {
      return {
        error: gatewayError('INVALID_JSON', `data_base64 is not JSON: ${(error as Error).message}`, {
          field: 'data_base64',
        }),
      }
    }
  } else {
    return invalid('data', 'required: the event', 'the CloudEvent has no data: the event itself goes there')
  }
  const key = attrs.partitionkey
  return {
    value: bytes,
    parsed: data,
    headers: checked.headers,
    key: key === undefined || key === null ? undefined : String(key),
  }
}

/** A binary-mode CloudEvent: attributes from the `ce-*` headers (percent-decoded), the body is `data`. */
export function binaryCloudEvent(
  ceHeaders: Readonly<Record<string, string>>,
  body: Buffer,
  contentType: string,
): IncomingItem {
  const attrs: Record<string, string> = {}
  for (const [name, raw] of Object.entries(ceHeaders)) {
    try {
      attrs[name] = decodeURIComponent(raw)
    } catch {
      attrs[name] = raw
    }
  }
  if (contentType !== '') attrs.datacontenttype = contentType
  const checked = attributes(attrs)
  if ('error' in checked) return checked
  if (!isUtf8(body)) return { error: gatewayError('INVALID_JSON', 'the body is not valid UTF-8') }
  if (body.length === 0)
    return invalid('data', 'required: the event', 'the CloudEvent has no data (the body is empty)')
  return { value: body, parsed: undefined, headers: checked.headers, key: attrs.partitionkey }
}
