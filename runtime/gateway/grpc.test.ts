import * as grpc from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { describe, expect, it } from 'vitest'
import { failingFirstAppend, gatewayFixture } from '../../test/support/gateway-fixture.ts'
import type { EmbeddedLog } from '../log/embedded.ts'
import type { Log, LogRecord } from '../log/index.ts'
import { createLogger, type Logger } from '../observability/logger.ts'
import { PROTO_FILE, startGrpcGateway } from './grpc.ts'
import type { FaultInjector, FaultPoint } from './handler-guard.ts'
import type { RateLimits } from './rate-limit.ts'

const PIPE = `
schema Payment { id: string, amount: f64 }
source payments: Payment from kafka("payments")
stream large = payments | where amount >= 100.0
sink large -> kafka("large-payments")
`

const fixture = gatewayFixture(PIPE)

interface Reply {
  accepted: number
  rejected: number
  results: {
    status: number
    partition: number
    offset: number
    error_code: string
    field: string
    index: number
  }[]
}

type Client = grpc.Client & {
  Publish(
    request: unknown,
    metadata: grpc.Metadata,
    callback: (error: grpc.ServiceError | null, reply: Reply) => void,
  ): void
  PublishStream(
    metadata: grpc.Metadata,
    callback: (error: grpc.ServiceError | null, reply: Reply) => void,
  ): grpc.ClientWritableStream<unknown>
}

async function setup(
  options: {
    limits?: RateLimits
    maxRequestBytes?: number
    faults?: FaultInjector
    logger?: Logger
    wrap?: (log: EmbeddedLog) => Log
  } = {},
) {
  const { gateway, log, metrics } = await fixture.startGateway({
    prefix: 'sluice-grpc',
    ...(options.limits ? { limits: options.limits, now: () => 0 } : {}),
    ...(options.faults ? { faults: options.faults } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.wrap ? { wrap: options.wrap } : {}),
  })
  const server = await startGrpcGateway(gateway, {
    host: '127.0.0.1',
    port: 0,
    maxRequestBytes: options.maxRequestBytes ?? 1 << 20,
  })
  const definition = grpc.loadPackageDefinition(
    loadSync(PROTO_FILE.pathname, { keepCase: true, longs: Number, defaults: true }),
  ) as unknown as {
    sluice: {
      gateway: { v1: { Gateway: new (address: string, credentials: grpc.ChannelCredentials) => Client } }
    }
  }
  const client = new definition.sluice.gateway.v1.Gateway(server.address, grpc.credentials.createInsecure())
  fixture.onCleanup(async () => {
    client.close()
    await server.close(1000)
  })
  const publish = (request: unknown, metadata = new grpc.Metadata()) =>
    new Promise<Reply>((resolve, reject) =>
      client.Publish(request, metadata, (error, reply) => (error ? reject(error) : resolve(reply))),
    )
  const records = async (): Promise<LogRecord[]> => log.read('payments', 0, 0, 10_000)
  return { client, publish, records, metrics, gateway }
}

const event = (id: string, amount: number | string = 150) => ({
  json: Buffer.from(JSON.stringify({ id, amount })),
})

describe('gRPC gateway', () => {
  it('Publish: a result per event with offsets, invalid events named, metadata as headers', async () => {
    const { publish, records } = await setup()
    const metadata = new grpc.Metadata()
    metadata.set('x-sluice-tenant', 'acme')
    const reply = await publish(
      {
        stream: 'payments',
        events: [event('a'), event('b', 'much'), { json: Buffer.from('{') }, event('c')],
      },
      metadata,
    )
    expect(reply).toMatchObject({ accepted: 2, rejected: 2 })
    expect(reply.results.map((r) => r.status)).toEqual([200, 422, 400, 200])
    expect(reply.results[0]).toMatchObject({ partition: 0, offset: 0 })
    expect(reply.results[1]).toMatchObject({ error_code: 'SCHEMA_MISMATCH', field: 'amount' })
    expect(reply.results[3]).toMatchObject({ offset: 1 })
    const stored = await records()
    expect(stored.map((r) => JSON.parse(r.value.toString()).id)).toEqual(['a', 'c'])
    expect(stored[0]!.headers).toMatchObject({ 'sluice.schema': 'Payment', 'sluice.tenant': 'acme' })
  })

  it('PublishStream: every batch appended as it comes, one reply with totals and the rejected events by index', async () => {
    const { client, records } = await setup()
    const reply = await new Promise<Reply>((resolve, reject) => {
      const call = client.PublishStream(new grpc.Metadata(), (error, r) =>
        error ? reject(error) : resolve(r),
      )
      call.write({ stream: 'payments', events: [event('a'), event('b')] })
      call.write({ stream: 'payments', events: [event('c', 'x'), event('d')] })
      call.write({ stream: 'payments', events: [event('e')] })
      call.end()
    })
    expect(reply).toMatchObject({ accepted: 4, rejected: 1 })
    expect(reply.results).toHaveLength(1)
    expect(reply.results[0]).toMatchObject({ index: 2, status: 422, field: 'amount' })
    expect((await records()).map((r) => JSON.parse(r.value.toString()).id)).toEqual(['a', 'b', 'd', 'e'])
  })

  it('refuses an unknown stream (NOT_FOUND), a rate-limited batch (RESOURCE_EXHAUSTED with retry-after-ms) and an oversized message', async () => {
    const { publish } = await setup({
      limits: { stream: { eventsPerSecond: 1, burst: 1 } },
      maxRequestBytes: 500,
    })
    const unknown = await publish({ stream: 'refunds', events: [event('a')] }).catch(
      (e: grpc.ServiceError) => e,
    )
    expect((unknown as grpc.ServiceError).code).toBe(grpc.status.NOT_FOUND)
    expect(await publish({ stream: 'payments', events: [event('a')] })).toMatchObject({ accepted: 1 })
    const limited = (await publish({ stream: 'payments', events: [event('b')] }).catch(
      (e: grpc.ServiceError) => e,
    )) as grpc.ServiceError
    expect(limited.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
    expect(limited.metadata.get('retry-after-ms')).toEqual(['1000'])
    expect(limited.metadata.get('sluice-error-code')).toEqual(['RATE_LIMITED'])
    const big = (await publish({
      stream: 'payments',
      events: Array.from({ length: 30 }, (_, i) => event(`e${i}`)),
    }).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError
    expect(big.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
  })
})

/**
 * A handler error inside a gRPC call (issue 16): without the guard (grpc-guard.ts) an error in a
 * promise callback of a handler is an unhandled rejection (the end of the node; here the test run
 * reports it), and one in validation or the append's caller was answered UNKNOWN or APPEND_FAILED.
 */
describe('gRPC gateway: a handler error', () => {
  /** A gateway whose handler throws at the `nth` pass of `point` once armed, with its log lines and metrics. */
  async function faulty(wrap?: (log: EmbeddedLog) => Log) {
    let armed: { point: FaultPoint; left: number } | null = null
    const lines: { msg: string; route?: string; error?: string }[] = []
    const g = await setup({
      logger: createLogger({ level: 'warn', write: (line) => lines.push(JSON.parse(line)) }),
      faults: (point) => {
        if (armed === null || point !== armed.point || --armed.left > 0) return
        armed = null
        throw new Error(`injected fault at ${point}`)
      },
      ...(wrap ? { wrap } : {}),
    })
    const stream = (batches: unknown[][]) =>
      new Promise<Reply>((resolve, reject) => {
        const call = g.client.PublishStream(new grpc.Metadata(), (error, r) =>
          error ? reject(error) : resolve(r),
        )
        for (const events of batches) call.write({ stream: 'payments', events })
        call.end()
      })
    const counted = async (name: string, label: string) => {
      const line = (await g.metrics.render()).split('\n').find((l) => l.startsWith(`${name}{${label}}`))
      return line === undefined ? 0 : Number(line.split(' ').at(-1))
    }
    const ids = async () => (await g.records()).map((r) => JSON.parse(r.value.toString()).id as string)
    /** The node serves on: an event acknowledged after the failure is in the log at its offset. */
    const servesOn = async (id: string) => {
      const answered = await g.publish({ stream: 'payments', events: [event(id)] })
      expect(answered).toMatchObject({ accepted: 1, rejected: 0 })
      const stored = await g.records()
      expect(JSON.parse(stored[answered.results[0]!.offset]!.value.toString()).id).toBe(id)
    }
    return {
      ...g,
      stream,
      counted,
      ids,
      servesOn,
      failures: () => lines.filter((line) => line.msg === 'gateway handler failed'),
      arm: (point: FaultPoint, nth = 1) => {
        armed = { point, left: nth }
      },
    }
  }

  const internal = (error: unknown) => {
    const e = error as grpc.ServiceError
    expect(e.code).toBe(grpc.status.INTERNAL)
    expect(e.metadata.get('sluice-error-code')).toEqual(['INTERNAL_ERROR'])
    expect(e.details).toMatch(/internal error/)
  }

  for (const point of ['grpc.publish', 'validate'] as const) {
    it(`Publish, at ${point}: INTERNAL naming INTERNAL_ERROR, logged and counted, nothing in the log`, async () => {
      const g = await faulty()
      g.arm(point)
      internal(await g.publish({ stream: 'payments', events: [event('a'), event('b')] }).catch((e) => e))
      expect(g.failures()).toEqual([
        expect.objectContaining({ route: 'gRPC Publish', error: `injected fault at ${point}` }),
      ])
      expect(await g.counted('sluice_gateway_handler_errors_total', 'route="gRPC Publish"')).toBe(1)
      expect(await g.counted('sluice_gateway_rejections_total', 'reason="INTERNAL_ERROR"')).toBe(1)
      await g.servesOn('after')
      expect(await g.ids()).toEqual(['after'])
      expect(g.gateway.bytesInFlight).toBe(0)
    })
  }

  it('Publish, answering after the append: INTERNAL (not acknowledged), the events in the log', async () => {
    const g = await faulty()
    g.arm('grpc.reply')
    internal(await g.publish({ stream: 'payments', events: [event('a'), event('b')] }).catch((e) => e))
    expect(await g.counted('sluice_gateway_handler_errors_total', 'route="gRPC Publish"')).toBe(1)
    await g.servesOn('after')
    // At least once: the client, told nothing was acknowledged, may send them again.
    expect(await g.ids()).toEqual(['a', 'b', 'after'])
  })

  it('a failed append is APPEND_FAILED (INTERNAL status), not a handler error, and never acknowledged', async () => {
    const g = await faulty(failingFirstAppend)
    const failed = (await g
      .publish({ stream: 'payments', events: [event('a')] })
      .catch((e) => e)) as grpc.ServiceError
    expect(failed.code).toBe(grpc.status.INTERNAL)
    expect(failed.metadata.get('sluice-error-code')).toEqual(['APPEND_FAILED'])
    expect(g.failures()).toEqual([])
    expect(await g.counted('sluice_gateway_handler_errors_total', 'route="gRPC Publish"')).toBe(0)
    await g.servesOn('after')
    expect(await g.ids()).toEqual(['after'])
  })

  for (const point of ['validate', 'grpc.reply'] as const) {
    it(`PublishStream, at ${point} of the second message: INTERNAL, no reply, and the call ends`, async () => {
      const g = await faulty()
      g.arm(point, 2)
      internal(await g.stream([[event('a')], [event('b')], [event('c')]]).catch((e) => e))
      expect(g.failures()).toEqual([
        expect.objectContaining({ route: 'gRPC PublishStream', error: `injected fault at ${point}` }),
      ])
      expect(await g.counted('sluice_gateway_handler_errors_total', 'route="gRPC PublishStream"')).toBe(1)
      await g.servesOn('after')
      // The first message is in the log (unacknowledged: the call failed), the second only when it
      // failed after its append, the third never (nothing after a failure is published).
      expect(await g.ids()).toEqual(point === 'validate' ? ['a', 'after'] : ['a', 'b', 'after'])
      expect(g.gateway.bytesInFlight).toBe(0)
      // A stream after it is answered whole.
      expect(await g.stream([[event('d')], [event('e')]])).toMatchObject({ accepted: 2, rejected: 0 })
    })
  }
})
