/**
 * The gateway's gRPC service (gateway.proto: unary Publish, client-streaming PublishStream) on
 * @grpc/grpc-js, beside the HTTP and WebSocket routes of gateway.ts and through the same
 * Gateway.publish: one event model, one validation, the same limits and acknowledgements.
 */
import * as grpc from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { SluiceError } from '../errors.ts'
import { isUtf8 } from '../text/utf8.ts'
import { type GatewayError, gatewayError, statusOf } from './errors.ts'
import type { IncomingItem } from './events.ts'
import type { Gateway, Outcome } from './gateway.ts'
import { CallGuard } from './grpc-guard.ts'
import type { RequestContext } from './validate.ts'

export const PROTO_FILE = new URL('./gateway.proto', import.meta.url)

/** Route names in handler error logs and the handler errors metric (as gateway.ts names its routes). */
const PUBLISH_ROUTE = 'gRPC Publish'
const STREAM_ROUTE = 'gRPC PublishStream'

interface EventMessage {
  readonly json: Buffer
  readonly key: string
}

interface PublishRequest {
  readonly stream: string
  readonly events: readonly EventMessage[]
}

interface EventResult {
  status: number
  partition: number
  offset: number
  error_code: string
  message: string
  field: string
  rule: string
  index: number
}

interface PublishReply {
  accepted: number
  rejected: number
  results: EventResult[]
}

/** The service definition, from the .proto at run time (proto-loader). */
export function gatewayService(): grpc.ServiceDefinition {
  const definition = loadSync(PROTO_FILE.pathname, { keepCase: true, longs: Number, defaults: true })
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    sluice: { gateway: { v1: { Gateway: { service: grpc.ServiceDefinition } } } }
  }
  return loaded.sluice.gateway.v1.Gateway.service
}

export interface GrpcGateway {
  readonly port: number
  readonly address: string
  /** Refuses new calls, waits up to `timeoutMs` for those in progress, then cuts the rest. */
  close(timeoutMs?: number): Promise<void>
}

/** Serves `gateway` over gRPC on host:port (0: any free port). */
export async function startGrpcGateway(
  gateway: Gateway,
  options: { readonly host: string; readonly port: number; readonly maxRequestBytes: number },
): Promise<GrpcGateway> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxRequestBytes,
  })
  server.addService(gatewayService(), {
    Publish: (
      call: grpc.ServerUnaryCall<PublishRequest, PublishReply>,
      callback: grpc.sendUnaryData<PublishReply>,
    ) => {
      // A failed append is an outcome (APPEND_FAILED, LOG_UNAVAILABLE); any error is INTERNAL (grpc-guard.ts).
      const guard = new CallGuard(gateway, PUBLISH_ROUTE, callback, internalStatus)
      guard.run(() => {
        gateway.faultPoint('grpc.publish')
        const request = call.request
        gateway
          .publish(
            'grpc',
            request.stream,
            items(request.events),
            requestBytes(request),
            metadataOf(call.metadata, 'x-api-key') ?? '',
            context(call.metadata),
          )
          .then((outcome) => {
            gateway.faultPoint('grpc.reply')
            const refusal = callError(outcome)
            if (refusal) guard.answer(refusal)
            else guard.answer(null, reply(outcome, 0, false))
          })
          .catch(guard.fail)
      })
    },
    PublishStream: (
      call: grpc.ServerReadableStream<PublishRequest, PublishReply>,
      callback: grpc.sendUnaryData<PublishReply>,
    ) => {
      const guard = new CallGuard(gateway, STREAM_ROUTE, callback, internalStatus)
      const total: PublishReply = { accepted: 0, rejected: 0, results: [] }
      let index = 0
      let cancelled = false
      // After an answer (a refusal, a handler error) or the client's cancel, nothing more is published.
      const over = () => guard.answered || cancelled
      // One request at a time, in order: pause the stream while a batch is being acknowledged. Each
      // link ends in the guard, so the chain never rejects (an unhandled rejection ends the node).
      let chain = Promise.resolve()
      call.on('data', (request: PublishRequest) =>
        guard.run(() => {
          call.pause()
          const first = index
          index += request.events.length
          chain = chain
            .then(async () => {
              if (over()) return
              gateway.faultPoint('grpc.publish')
              const outcome = await gateway.publish(
                'grpc',
                request.stream,
                items(request.events),
                requestBytes(request),
                metadataOf(call.metadata, 'x-api-key') ?? '',
                context(call.metadata),
              )
              gateway.faultPoint('grpc.reply')
              const refusal = callError(outcome)
              if (refusal) {
                guard.answer(refusal)
                return
              }
              const part = reply(outcome, first, true)
              total.accepted += part.accepted
              total.rejected += part.rejected
              total.results.push(...part.results)
              call.resume()
            })
            .catch(guard.fail)
        }),
      )
      call.on('end', () => {
        void chain.then(() =>
          guard.run(() => {
            if (!over()) guard.answer(null, total)
          }),
        )
      })
      call.on('error', () => {
        cancelled = true
      })
    },
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${options.host}:${options.port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => {
        if (error)
          reject(
            new SluiceError(
              'CONFIG_INVALID',
              `the gRPC gateway cannot listen on ${options.host}:${options.port}: ${error.message}`,
            ),
          )
        else resolve(bound)
      },
    )
  })
  return {
    port,
    address: `${options.host}:${port}`,
    close: (timeoutMs = 30_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown()
          resolve()
        }, timeoutMs)
        server.tryShutdown(() => {
          clearTimeout(timer)
          resolve()
        })
      }),
  }
}

function items(events: readonly EventMessage[]): IncomingItem[] {
  return events.map((event) =>
    isUtf8(event.json)
      ? { value: event.json, parsed: undefined, headers: {}, key: event.key === '' ? undefined : event.key }
      : { error: gatewayError('INVALID_JSON', 'the event is not valid UTF-8') },
  )
}

function requestBytes(request: PublishRequest): number {
  let bytes = request.stream.length
  for (const event of request.events) bytes += event.json.length + event.key.length
  return bytes
}

function metadataOf(metadata: grpc.Metadata, name: string): string | undefined {
  const value = metadata.get(name)[0]
  return value === undefined ? undefined : String(value)
}

function context(metadata: grpc.Metadata): RequestContext {
  const traceparent = metadataOf(metadata, 'traceparent')
  const tracestate = metadataOf(metadata, 'tracestate')
  const tenant = metadataOf(metadata, 'x-sluice-tenant')
  return {
    ...(traceparent === undefined ? {} : { traceparent }),
    ...(tracestate === undefined ? {} : { tracestate }),
    ...(tenant === undefined ? {} : { tenant }),
  }
}

const STATUS_OF: Readonly<Record<number, grpc.status>> = {
  400: grpc.status.INVALID_ARGUMENT,
  404: grpc.status.NOT_FOUND,
  413: grpc.status.RESOURCE_EXHAUSTED,
  429: grpc.status.RESOURCE_EXHAUSTED,
  500: grpc.status.INTERNAL,
  503: grpc.status.UNAVAILABLE,
}

/** A whole-batch refusal as a gRPC error (with retry-after-ms), or null for a batch answer. */
function callError(outcome: Outcome): Partial<grpc.StatusObject> | null {
  if (outcome.status === 200 || outcome.status === 207) return null
  const body = outcome.body as { error_code?: string; message?: string }
  const metadata = new grpc.Metadata()
  if (body.error_code) metadata.set('sluice-error-code', body.error_code)
  if (outcome.retryAfterMs !== undefined) metadata.set('retry-after-ms', String(outcome.retryAfterMs))
  return {
    code: STATUS_OF[outcome.status] ?? grpc.status.UNKNOWN,
    details: body.message ?? `refused (${outcome.status})`,
    metadata,
  }
}

/** A handler error's refusal (INTERNAL_ERROR) as a gRPC status: INTERNAL, named in sluice-error-code. */
function internalStatus(error: GatewayError): Partial<grpc.StatusObject> {
  return callError({ status: statusOf(error), body: error }) ?? { code: grpc.status.INTERNAL }
}

/** The batch answer as a reply; `rejectedOnly` keeps only the rejected events' results (streaming). */
function reply(outcome: Outcome, firstIndex: number, rejectedOnly: boolean): PublishReply {
  const body = outcome.body as {
    accepted: number
    rejected: number
    results: {
      status: number
      partition?: number
      offset?: number
      error_code?: string
      message?: string
      field?: string | null
      rule?: string
    }[]
  }
  const results: EventResult[] = []
  body.results.forEach((r, i) => {
    if (rejectedOnly && r.status === 200) return
    results.push({
      status: r.status,
      partition: r.partition ?? 0,
      offset: r.offset ?? 0,
      error_code: r.error_code ?? '',
      message: r.message ?? '',
      field: r.field ?? '',
      rule: r.rule ?? '',
      index: firstIndex + i,
    })
  })
  return { accepted: body.accepted, rejected: body.rejected, results }
}
