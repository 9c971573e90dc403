/**
 * A handler error in single-thread mode (the default: the gateway's µWebSockets.js callbacks run in
 * the node's main thread) must not end the node. Without the guard (handler-guard.ts) each of
 * these faults is an uncaught exception or unhandled rejection that ends the process (here: the
 * test worker), or µWebSockets.js's std::terminate for a handler that returns unanswered.
 */
import { describe, expect, it } from 'vitest'
import { failingFirstAppend, gatewayFixture } from '../../test/support/gateway-fixture.ts'
import { connectWebSocket, UpgradeRefused } from '../../test/support/ws-client.ts'
import type { EmbeddedLog } from '../log/embedded.ts'
import type { Log, RecordPosition } from '../log/index.ts'
import { createLogger } from '../observability/logger.ts'
import type { FaultPoint } from './handler-guard.ts'

const PIPE = `
schema Payment { id: string, amount: f64 }
source payments: Payment from kafka("payments")
sink payments -> kafka("out")
`

const fixture = gatewayFixture(PIPE)

const event = (id: string) => JSON.stringify({ id, amount: 1.5 })

interface LogLine {
  level: string
  msg: string
  route?: string
  error?: string
}

/** A single-thread gateway whose handler throws once at `point` when `arm()` is called. */
async function faultyGateway(wrap?: (log: EmbeddedLog) => Log) {
  let armed: FaultPoint | null = null
  const lines: LogLine[] = []
  const { gateway, log, metrics } = await fixture.startGateway({
    prefix: 'sluice-handler-guard',
    ...(wrap === undefined ? {} : { wrap }),
    logger: createLogger({ level: 'warn', write: (line) => lines.push(JSON.parse(line)) }),
    faults: (point) => {
      if (point !== armed) return
      armed = null
      throw new Error(`injected fault at ${point}`)
    },
  })
  const url = gateway.url
  const post = async (body: string, path = '/streams/payments/events', method = 'POST') => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body,
    })
    const text = await response.text()
    return { status: response.status, text }
  }
  const ids = async () => {
    const records = await log.read('payments', 0, 0, 1000)
    return records.map((r) => JSON.parse(r.value.toString('utf8')).id as string)
  }
  /** The node still serves: liveness, and an event taken and acknowledged after it is in the log. */
  const stillServes = async (id: string) => {
    const health = await fetch(`${url}/healthz`)
    expect(health.status).toBe(200)
    const accepted = await post(event(id))
    expect(accepted.status).toBe(200)
    const { offset } = JSON.parse(accepted.text)
    const records = await log.read('payments', 0, offset, 1)
    expect(JSON.parse(records[0]!.value.toString('utf8')).id).toBe(id)
  }
  const handlerErrors = async (route: string) => {
    const match = (await metrics.render())
      .split('\n')
      .find((line) => line.startsWith(`sluice_gateway_handler_errors_total{route="${route}"}`))
    return match === undefined ? 0 : Number(match.split(' ').at(-1))
  }
  const failures = () => lines.filter((line) => line.msg === 'gateway handler failed')
  /** Drains, and says whether it had to cut requests off (a request the error left counted as active). */
  const drainCutOff = async () => {
    await gateway.drain(5000)
    return lines.some((line) => line.msg.startsWith('drain timed out'))
  }
  return {
    gateway,
    url,
    post,
    ids,
    stillServes,
    handlerErrors,
    failures,
    drainCutOff,
    arm: (point: FaultPoint) => {
      armed = point
    },
  }
}

const INTERNAL = { error_code: 'INTERNAL_ERROR' }

describe('a handler error in single-thread mode', () => {
  const http: [FaultPoint, string, () => [string, string, string]][] = [
    ['events', 'POST /streams/:source/events', () => [event('bad'), '/streams/payments/events', 'POST']],
    ['events.data', 'POST /streams/:source/events', () => [event('bad'), '/streams/payments/events', 'POST']],
    ['healthz', 'GET /healthz', () => ['', '/healthz', 'GET']],
    ['readyz', 'GET /readyz', () => ['', '/readyz', 'GET']],
    ['metrics', 'GET /metrics', () => ['', '/metrics', 'GET']],
    ['admin', 'GET /admin/limits', () => ['', '/admin/limits', 'GET']],
    ['admin.data', 'PUT /admin/limits', () => ['{}', '/admin/limits', 'PUT']],
    ['not-found', '* /*', () => ['', '/nowhere', 'GET']],
  ]
  for (const [point, route, request] of http) {
    it(`at ${point}: answers 500 INTERNAL_ERROR, logs and counts it, and the node serves on`, async () => {
      const g = await faultyGateway()
      g.arm(point)
      const [body, path, method] = request()
      const failed = await g.post(method === 'GET' ? (undefined as unknown as string) : body, path, method)
      expect(failed.status).toBe(500)
      expect(JSON.parse(failed.text)).toMatchObject(INTERNAL)
      expect(g.failures()).toEqual([
        expect.objectContaining({ level: 'error', route, error: `injected fault at ${point}` }),
      ])
      expect(await g.handlerErrors(route)).toBe(1)
      await g.stillServes('after')
      // A request refused before its append leaves nothing in the log.
      expect(await g.ids()).toEqual(['after'])
      expect(g.gateway.bytesInFlight).toBe(0)
      expect(await g.drainCutOff()).toBe(false)
    })
  }

  it('after the append (answering): 500, so not acknowledged, though the log holds the event', async () => {
    const g = await faultyGateway()
    g.arm('events.answer')
    const failed = await g.post(event('unacked'))
    expect(failed.status).toBe(500)
    expect(JSON.parse(failed.text)).toMatchObject(INTERNAL)
    expect(await g.handlerErrors('POST /streams/:source/events')).toBe(1)
    await g.stillServes('after')
    // At least once: the client, told nothing was acknowledged, may send it again.
    expect(await g.ids()).toEqual(['unacked', 'after'])
    expect(g.gateway.bytesInFlight).toBe(0)
    expect(await g.drainCutOff()).toBe(false)
  })

  it('when the log hands back a position no answer can hold: 500 (not a 200), the event in the log', async () => {
    // A real fault, not an injected one: a log whose position is not a number (a BigInt), once.
    // The group appender keeps positions in typed arrays (append-results.ts), which refuse it: the
    // append fails as a whole (APPEND_FAILED, 500), though the log holds the event (at-least-once:
    // a client that sends it again duplicates it), and the node serves on.
    let corrupt = true
    const g = await faultyGateway((inner) => {
      const wrapper = Object.create(inner) as Log
      wrapper.append = async (topic, records, options) => {
        const positions = await inner.append(topic, records, options)
        if (!corrupt) return positions
        corrupt = false
        return positions.map((p) => ({ ...p, offset: BigInt(p.offset) }) as unknown as RecordPosition)
      }
      wrapper.partitions = (topic) => inner.partitions(topic)
      return wrapper
    })
    const failed = await g.post(event('unencodable'))
    expect(failed.status).toBe(500)
    expect(JSON.parse(failed.text)).toMatchObject({ error_code: 'APPEND_FAILED' })
    expect(failed.text).toMatch(/BigInt/)
    await g.stillServes('after')
    expect(await g.ids()).toEqual(['unencodable', 'after'])
    expect(g.gateway.bytesInFlight).toBe(0)
    expect(await g.drainCutOff()).toBe(false)
  })

  it('in validation (inside ingest): 500 INTERNAL_ERROR, not APPEND_FAILED, and nothing in the log', async () => {
    const g = await faultyGateway()
    g.arm('validate')
    const failed = await g.post(JSON.stringify([JSON.parse(event('v1')), JSON.parse(event('v2'))]))
    expect(failed.status).toBe(500)
    expect(JSON.parse(failed.text)).toMatchObject(INTERNAL)
    expect(g.failures()).toEqual([
      expect.objectContaining({ route: 'POST /streams/:source/events', error: 'injected fault at validate' }),
    ])
    expect(await g.handlerErrors('POST /streams/:source/events')).toBe(1)
    await g.stillServes('after')
    expect(await g.ids()).toEqual(['after'])
    expect(g.gateway.bytesInFlight).toBe(0)
    expect(await g.drainCutOff()).toBe(false)
  })

  it('in validation of a WebSocket message: closed with 1011, no ack, nothing in the log', async () => {
    const g = await faultyGateway()
    const ws = await connectWebSocket(`${g.url}/streams/payments/ws`)
    g.arm('validate')
    ws.send(event('ws-failed'))
    expect(await ws.closed).toBe(1011)
    expect(await g.handlerErrors('WS /streams/:source/ws')).toBe(1)
    await g.stillServes('after')
    expect(await g.ids()).toEqual(['after'])
    expect(g.gateway.bytesInFlight).toBe(0)
    expect(await g.drainCutOff()).toBe(false)
  })

  it('a failed append is still APPEND_FAILED (not a handler error), and the event is not in the log', async () => {
    const g = await faultyGateway(failingFirstAppend)
    const failed = await g.post(event('refused'))
    expect(failed.status).toBe(500)
    expect(JSON.parse(failed.text)).toMatchObject({ error_code: 'APPEND_FAILED' })
    expect(g.failures()).toEqual([])
    expect(await g.handlerErrors('POST /streams/:source/events')).toBe(0)
    await g.stillServes('after')
    expect(await g.ids()).toEqual(['after'])
  })

  it('in the WebSocket upgrade: the upgrade gets 500', async () => {
    const g = await faultyGateway()
    g.arm('ws.upgrade')
    const refused = await connectWebSocket(`${g.url}/streams/payments/ws`).then(
      () => null,
      (error: unknown) => error,
    )
    expect(refused).toBeInstanceOf(UpgradeRefused)
    expect((refused as UpgradeRefused).status).toBe(500)
    expect(JSON.parse((refused as UpgradeRefused).body)).toMatchObject(INTERNAL)
    expect(await g.handlerErrors('WS /streams/:source/ws')).toBe(1)
    await g.stillServes('after')
  })

  for (const point of ['ws.open', 'ws.message', 'ws.ack'] as const) {
    it(`at ${point}: the socket is closed with 1011, no ack, and other connections go on`, async () => {
      const g = await faultyGateway()
      const before = await connectWebSocket(`${g.url}/streams/payments/ws`)
      g.arm(point)
      const ws = await connectWebSocket(`${g.url}/streams/payments/ws`)
      if (point !== 'ws.open') ws.send(event('ws-failed'))
      expect(await ws.closed).toBe(1011)
      expect(g.failures()).toEqual([
        expect.objectContaining({ route: 'WS /streams/:source/ws', error: `injected fault at ${point}` }),
      ])
      expect(await g.handlerErrors('WS /streams/:source/ws')).toBe(1)
      // The connection opened before is not affected.
      before.send(event('ws-ok'))
      expect(JSON.parse(await before.next())).toMatchObject({ seq: 1, accepted: 1 })
      await g.stillServes('after')
      // Failing before the append: not in the log; failing after it (acking): in it, unacknowledged.
      expect(await g.ids()).toEqual(point === 'ws.ack' ? ['ws-failed', 'ws-ok', 'after'] : ['ws-ok', 'after'])
      expect(g.gateway.bytesInFlight).toBe(0)
      before.close()
      expect(await g.drainCutOff()).toBe(false)
    })
  }

  it('in the WebSocket close handler: logged and counted, the node serves on', async () => {
    const g = await faultyGateway()
    g.arm('ws.close')
    const ws = await connectWebSocket(`${g.url}/streams/payments/ws`)
    ws.send(event('before-close'))
    expect(JSON.parse(await ws.next())).toMatchObject({ seq: 1, accepted: 1 })
    ws.close()
    await ws.closed
    await expect.poll(() => g.handlerErrors('WS /streams/:source/ws')).toBe(1)
    await g.stillServes('after')
    expect(await g.ids()).toEqual(['before-close', 'after'])
  })
})
