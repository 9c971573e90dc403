import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import { Gateway } from '../../runtime/gateway/gateway.ts'
import { startGrpcGateway } from '../../runtime/gateway/grpc.ts'
import { streamCatalog } from '../../runtime/gateway/streams.ts'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import type { Log } from '../../runtime/log/index.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { type GatewayProtocol, runGatewayLoad } from './gateway-load.ts'

const PIPE = `
schema Payment { id: string, amount: f64 }
source payments: Payment from kafka("payments")
stream large = payments | where amount >= 100.0
sink large -> kafka("large-payments")
`
let artifactDir: string
beforeAll(async () => {
  artifactDir = await compileFixture(PIPE, 'payments', 'payments.pipe')
})
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function gatewayOn(wrap: (log: Log) => Log = (log) => log) {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-load-'))
  const log = await EmbeddedLog.open(dir, { durability: 'none' })
  await log.ensureTopic('payments')
  const gateway = await Gateway.start({
    log: wrap(log),
    streams: streamCatalog([await loadArtifact(artifactDir)]),
    metrics: new MetricsRegistry(),
    port: 0,
  })
  const grpcServer = await startGrpcGateway(gateway, { host: '127.0.0.1', port: 0, maxRequestBytes: 1 << 20 })
  cleanups.push(async () => {
    await grpcServer.close(1000)
    await gateway.drain(1000)
    await log.close()
    await rm(dir, { recursive: true, force: true })
  })
  return { gateway, grpcAddress: grpcServer.address, log }
}

const event = (seq: number) => JSON.stringify({ id: `e${seq}`, amount: seq })

describe('runGatewayLoad', () => {
  for (const [protocol, batch] of [
    ['http', 1],
    ['http', 10],
    ['websocket', 10],
    ['grpc', 10],
  ] as [GatewayProtocol, number][]) {
    it(`${protocol}, ${batch} per request: sends the schedule's requests and counts what the gateway acknowledged`, async () => {
      const { gateway, grpcAddress, log } = await gatewayOn()
      const result = await runGatewayLoad({
        protocol,
        url: gateway.url,
        grpcAddress,
        stream: 'payments',
        rate: 400,
        batch,
        durationMs: 250,
        connections: 2,
        event,
      })
      expect(result.requests).toBe(100 / batch)
      expect(result.acknowledged).toBe(100)
      expect(result.ack.count).toBe(result.requests)
      expect(result.refused).toEqual({})
      const [end] = await log.endOffsets('payments')
      expect(end).toBe(100)
    })
  }

  it('measures from the intended send time: a stall of the log is in the latency of every request due during it', async () => {
    const stallMs = 300
    const { gateway, grpcAddress } = await gatewayOn((log) => {
      const slow = Object.create(log) as Log
      let first = true
      slow.append = async (topic, records, options) => {
        if (first) {
          first = false
          await new Promise((resolve) => setTimeout(resolve, stallMs))
        }
        return log.append(topic, records, options)
      }
      return slow
    })
    const result = await runGatewayLoad({
      protocol: 'websocket',
      url: gateway.url,
      grpcAddress,
      stream: 'payments',
      rate: 200,
      batch: 1,
      durationMs: 200,
      connections: 1,
      event,
    })
    // The first request waited out the stall: at least that long from when it was due.
    expect(result.ack.max).toBeGreaterThanOrEqual(stallMs * 1e6)
    // The requests due during the stall were queued behind it, and each is measured from its own
    // intended time: half of them (at least) waited a good part of the stall.
    expect(result.ack.p50).toBeGreaterThanOrEqual((stallMs / 4) * 1e6)
  })
})
