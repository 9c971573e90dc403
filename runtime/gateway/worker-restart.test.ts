/**
 * A gateway worker thread that ends on its own is started again (worker-pool.ts): the other
 * workers go on serving meanwhile, readiness fails until every worker listens again, restarts are
 * counted, and what the ended worker held of the node's in-flight budget is given back.
 */
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { gatewayFixture } from '../../test/support/gateway-fixture.ts'
import type { MetricsRegistry } from '../metrics/registry.ts'
import type { Logger } from '../observability/logger.ts'
import type { Gateway } from './gateway.ts'

const PIPE = `
schema Payment { id: string, card: string, amount: f64, ts: timestamp @event_time }
source payments: Payment from kafka("payments")
stream big = payments | where amount > 10.0 | select { id, card, amount }
sink big -> kafka("big-payments")
`

const fixture = gatewayFixture(PIPE)

interface LogLine {
  readonly level: string
  readonly msg: string
  readonly fields: Record<string, unknown> | undefined
}

function recordingLogger(lines: LogLine[], base: Record<string, unknown> = {}): Logger {
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push({ level, msg, fields: { ...base, ...fields } })
  }
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => recordingLogger(lines, { ...base, ...more }),
  }
}

async function startGateway(restartMs: number) {
  const lines: LogLine[] = []
  const { gateway, log, metrics } = await fixture.startGateway({
    prefix: 'sluice-gateway-restart',
    partitions: 2,
    keyFields: { payments: 'card' },
    logger: recordingLogger(lines),
    threads: {
      count: 2,
      artifactDirs: [fixture.artifact().dir],
      keyFields: { payments: 'card' },
      restartBackoff: { initialMs: restartMs, maxMs: restartMs },
    },
  })
  return { gateway, log, metrics, lines }
}

/**
 * One HTTP exchange on a connection of its own: a kept-alive connection to a worker that ended
 * would fail the request, and the kernel gives a new connection to a worker that listens.
 */
function exchange(
  url: string,
  method: 'GET' | 'POST',
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const payment = (id: string) => JSON.stringify({ id, card: `c${id}`, amount: 20, ts: 1_700_000_000_000 })

async function metricValue(gateway: Gateway, metrics: MetricsRegistry, name: string): Promise<number> {
  await gateway.flushMetrics()
  await metrics.render()
  return metrics.find(name)?.total() ?? Number.NaN
}

describe('gateway worker restart', () => {
  it('starts a worker that ended again: the other serves meanwhile, readiness fails until both listen, restarts are counted and logged', async () => {
    // A back-off long enough to look at the gap, even on a loaded machine (±20 % jitter: 4 to 6 s).
    const { gateway, log, metrics, lines } = await startGateway(5000)
    const events = `${gateway.url}/streams/payments/events`
    expect((await exchange(events, 'POST', payment('before'))).status).toBe(200)
    expect((await exchange(`${gateway.url}/readyz`, 'GET')).status).toBe(200)
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_threads')).toBe(2)

    await gateway.workers!.crashWorker(0)
    expect(gateway.workers!.listening).toBe(1)
    const notReady = await exchange(`${gateway.url}/readyz`, 'GET')
    expect(notReady.status).toBe(503)
    expect(JSON.parse(notReady.body).reason).toMatch(/1 of 2 gateway worker threads/)
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_threads')).toBe(1)
    // The other worker takes every new connection meanwhile.
    const during = await Promise.all(
      Array.from({ length: 10 }, (_, i) => exchange(events, 'POST', payment(`during-${i}`))),
    )
    expect(during.map((answer) => answer.status)).toEqual(Array(10).fill(200))

    await until('readiness again', async () =>
      (await exchange(`${gateway.url}/readyz`, 'GET')).status === 200 ? true : undefined,
    )
    expect(gateway.workers!.listening).toBe(2)
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(1)
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_threads')).toBe(2)
    const crashed = lines.find((line) => line.msg === 'gateway worker thread crashed')
    expect(crashed?.fields).toMatchObject({ worker: 0 })
    expect(String(crashed?.fields?.error)).toMatch(/crash drill of gateway worker 0/)
    const ended = lines.find((line) => line.msg === 'gateway worker thread ended; starting it again')
    expect(ended?.level).toBe('error')
    expect(ended?.fields).toMatchObject({ component: 'gateway', worker: 0, crashesInARow: 1 })
    expect(ended?.fields?.restartInMs).toBeGreaterThanOrEqual(4000)
    expect(lines.some((line) => line.msg === 'gateway worker thread started again')).toBe(true)

    // Both workers again: end the other one; the restarted one serves.
    await gateway.workers!.crashWorker(1)
    const after = await Promise.all(
      Array.from({ length: 10 }, (_, i) => exchange(events, 'POST', payment(`after-${i}`))),
    )
    expect(after.map((answer) => answer.status)).toEqual(Array(10).fill(200))
    await until('worker 1 again', async () => (gateway.workers!.listening === 2 ? true : undefined))
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(2)

    // Every acknowledged event is in the log.
    const ids: string[] = []
    for (let p = 0; p < 2; p++)
      for (const r of await log.read('payments', p, 0, 1000)) ids.push(JSON.parse(r.value.toString()).id)
    expect(ids.sort()).toEqual(
      [
        'before',
        ...Array.from({ length: 10 }, (_, i) => `during-${i}`),
        ...Array.from({ length: 10 }, (_, i) => `after-${i}`),
      ].sort(),
    )
  })

  it('gets back the in-flight bytes of requests a crashed worker held', async () => {
    const { gateway } = await startGateway(200)
    const port = gateway.port
    // Requests that announce 1,000 bytes and send 10: each worker holds what it took for them.
    const sockets: Socket[] = []
    fixture.onCleanup(async () => {
      for (const socket of sockets) socket.destroy()
    })
    for (let i = 0; i < 6; i++) {
      const socket = connect({ host: '127.0.0.1', port })
      socket.on('error', () => {})
      socket.write(
        'POST /streams/payments/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[{"id":"x"',
      )
      sockets.push(socket)
    }
    await until('6 requests in flight', async () => (gateway.bytesInFlight === 6000 ? true : undefined))
    await Promise.all([gateway.workers!.crashWorker(0), gateway.workers!.crashWorker(1)])
    // Their clients still hold the connections open; the bytes come back all the same (the worker
    // closes its connections as it crashes; what it still held then, the pool gives back).
    expect(gateway.bytesInFlight).toBe(0)
    await until('both workers again', async () => (gateway.workers!.listening === 2 ? true : undefined))
    const answer = await exchange(`${gateway.url}/streams/payments/events`, 'POST', payment('again'))
    expect(answer.status).toBe(200)
  })
})
