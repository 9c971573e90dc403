import * as grpc from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { describe, expect, it } from 'vitest'
import { gatewayFixture } from '../../test/support/gateway-fixture.ts'
import type { LogRecord } from '../log/index.ts'
import { PROTO_FILE, startGrpcGateway } from './grpc.ts'
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

async function setup(options: { limits?: RateLimits; maxRequestBytes?: number } = {}) {
  const { gateway, log } = await fixture.startGateway({
    prefix: 'sluice-grpc',
    ...(options.limits ? { limits: options.limits, now: () => 0 } : {}),
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
  return { client, publish, records }
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
