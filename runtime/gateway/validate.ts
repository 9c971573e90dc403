/**
 * Checks one incoming event against its stream (size, then every deployed reader's generated
 * decoder) and makes the log record of an event that passed: its own bytes, keyed by the stream's
 * key field (or a CloudEvent's partitionkey; else no key, round robin), with headers naming the
 * schema and carrying the trace context and tenant of the request.
 */
import type { OutgoingRecord } from '../log/index.ts'
import { type GatewayError, gatewayError } from './errors.ts'
import { type IncomingEvent, NO_HEADERS } from './events.ts'
import { mayHideRounding } from './exact-numbers.ts'
import type { IngestStream } from './streams.ts'

/** Request-level values every record of the request carries as headers. */
export interface RequestContext {
  /** W3C trace context of the request (`traceparent`, `tracestate` headers), passed through. */
  readonly traceparent?: string
  readonly tracestate?: string
  /** `x-sluice-tenant`. */
  readonly tenant?: string
}

/** The context of a request that carries no trace context and no tenant (most): one shared object. */
export const NO_CONTEXT: RequestContext = Object.freeze({})

export const SCHEMA_HEADER = 'sluice.schema'
export const TENANT_HEADER = 'sluice.tenant'

/** The shape of the generated decoders' failure (compiler/codegen/codecs.ts DecodeFailure). */
interface DecodeFailureShape {
  readonly path: string
  readonly expected: string
  readonly message: string
}

/**
 * The record of `event`, or why there is none. `sharedHeaders`, when given, is
 * recordHeaders(stream, context) built once for the request: the headers of each of its records
 * whose event brings none, one frozen object instead of one per event.
 */
export function toRecord(
  stream: IngestStream,
  event: IncomingEvent,
  context: RequestContext,
  maxEventBytes: number,
  sharedHeaders?: Readonly<Record<string, string>>,
): { readonly record: OutgoingRecord } | { readonly error: GatewayError } {
  if (event.value.length > maxEventBytes) {
    return {
      error: gatewayError(
        'EVENT_TOO_LARGE',
        `the event is ${event.value.length} bytes; events of ${stream.name} may have at most ${maxEventBytes}`,
        { field: null, rule: `at most ${maxEventBytes} bytes` },
      ),
    }
  }
  let parsed = event.parsed
  // A number JSON.parse may have rounded is judged from the event's bytes, as the pipeline reads
  // them: an i64 written `100.0000000000000001` is refused here too (exact-numbers.ts).
  const fromBytes = parsed === undefined || mayHideRounding(event.value)
  for (const { decoder, isDecodeFailure } of stream.decoders) {
    try {
      if (!fromBytes) decoder.decode(parsed)
      else if (decoder.decodeJson) decoder.decodeJson(event.value)
      else {
        parsed = JSON.parse(event.value.toString('utf8'))
        decoder.decode(parsed)
      }
    } catch (error) {
      if (error instanceof SyntaxError) {
        return { error: gatewayError('INVALID_JSON', `the event is not JSON: ${error.message}`) }
      }
      if (isDecodeFailure(error)) {
        const failure = error as DecodeFailureShape
        return {
          error: gatewayError('SCHEMA_MISMATCH', `${stream.schema}: ${failure.message}`, {
            field: failure.path === '' ? null : failure.path,
            rule: `expected ${failure.expected}`,
          }),
        }
      }
      return { error: gatewayError('SCHEMA_MISMATCH', `${stream.schema}: ${String(error)}`) }
    }
  }
  let key: string | null = event.key ?? null
  if (key === null && stream.keyField !== null) {
    parsed ??= JSON.parse(event.value.toString('utf8'))
    const row = parsed as Record<string, unknown>
    // Own fields only: a key field named like a member of Object.prototype must not read it.
    key = Object.hasOwn(row, stream.keyField) ? keyString(row[stream.keyField]) : null
  }
  const headers =
    event.headers === NO_HEADERS && sharedHeaders !== undefined
      ? sharedHeaders
      : recordHeaders(stream, context, event.headers)
  return { record: { key, value: event.value, headers } }
}

/** A record's headers: the event's own (a CloudEvent's attributes), the schema, trace context and tenant. */
export function recordHeaders(
  stream: IngestStream,
  context: RequestContext,
  own: Readonly<Record<string, string>> = NO_HEADERS,
): Readonly<Record<string, string>> {
  if (own === NO_HEADERS && context === NO_CONTEXT) return schemaOnlyHeaders(stream)
  const headers: Record<string, string> = { ...own, [SCHEMA_HEADER]: stream.schema }
  if (context.traceparent !== undefined) headers.traceparent = context.traceparent
  if (context.tracestate !== undefined) headers.tracestate = context.tracestate
  if (context.tenant !== undefined) headers[TENANT_HEADER] = context.tenant
  return Object.freeze(headers)
}

/** Per stream, the headers of a record that carries nothing but the schema (frozen, so shared). */
const schemaOnly = new WeakMap<IngestStream, Readonly<Record<string, string>>>()

/** The headers of an event with none of its own in a request with NO_CONTEXT, made once per stream. */
function schemaOnlyHeaders(stream: IngestStream): Readonly<Record<string, string>> {
  let headers = schemaOnly.get(stream)
  if (headers === undefined) {
    headers = Object.freeze({ [SCHEMA_HEADER]: stream.schema })
    schemaOnly.set(stream, headers)
  }
  return headers
}

/** A key field's value as a record key, as `sluice produce --key-field` writes it. */
function keyString(value: unknown): string | null {
  if (value === undefined || value === null) return null
  return typeof value === 'string' ? value : JSON.stringify(value)
}
