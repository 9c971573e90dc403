/**
 * A gateway worker thread that ends on its own, or is stopped from outside (Worker.terminate()), is
 * started again (worker-pool.ts): the process goes on, the other workers serve meanwhile,
 * readiness fails until every worker listens again, restarts are counted, what the ended worker
 * held of the node's in-flight budget is given back, and every acknowledged event is in the log
 * exactly once.
 */
import { Agent, request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { gatewayFixture } from '../../test/support/gateway-fixture.ts'
import { pipelinedPosts, type RawAnswer, rawExchange, statusesIn } from '../../test/support/raw-http.ts'
import type { MetricsRegistry } from '../metrics/registry.ts'
import type { Logger } from '../observability/logger.ts'
import type { Gateway, GatewayThreads } from './gateway.ts'
import { kernelMigrates } from './loop-sockets.ts'
import { STOPPED_EXIT_CODE } from './thread-protocol.ts'

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

async function startGateway(
  restartMs: number,
  livenessTimeoutMs?: number,
  more: Partial<GatewayThreads> = {},
) {
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
      ...(livenessTimeoutMs === undefined ? {} : { livenessTimeoutMs }),
      ...more,
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
  agent: Agent | false = false,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
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

/** The ids of the events in the `payments` topic (both partitions), in no particular order. */
async function idsInLog(log: Awaited<ReturnType<typeof startGateway>>['log']): Promise<string[]> {
  const ids: string[] = []
  for (let p = 0; p < 2; p++)
    for (const r of await log.read('payments', p, 0, 100_000)) ids.push(JSON.parse(r.value.toString()).id)
  return ids
}

/**
 * Producers (eight unless told), each POSTing one event after the other to `events` until stop(),
 * on kept-alive connections or (`connectionEach`) on a new connection per request: what they
 * sent, what was acknowledged, how the others failed (`503 DRAINING`, or a connection error's
 * code), and when each request started and ended (performance.now()).
 */
function producersUnderLoad(events: string, { producers = 8, connectionEach = false, prefix = 'p' } = {}) {
  const agent = connectionEach ? false : new Agent({ keepAlive: true, maxSockets: producers })
  if (agent) fixture.onCleanup(async () => agent.destroy())
  const sent: string[] = []
  const acknowledged: string[] = []
  const failures: string[] = []
  const spans: { readonly start: number; readonly end: number }[] = []
  let stopping = false
  const producer = async (p: number) => {
    for (let i = 0; !stopping; i++) {
      const id = `${prefix}${p}-${i}`
      sent.push(id)
      const start = performance.now()
      try {
        const answer = await exchange(events, 'POST', payment(id), agent)
        if (answer.status === 200) acknowledged.push(id)
        else failures.push(`${answer.status} ${JSON.parse(answer.body).error_code}`)
      } catch (error) {
        failures.push((error as NodeJS.ErrnoException).code ?? String(error))
      }
      spans.push({ start, end: performance.now() })
    }
  }
  const running = Promise.all(Array.from({ length: producers }, (_, p) => producer(p)))
  return {
    sent,
    acknowledged,
    failures,
    spans,
    /** Waits until `count` more events than now are acknowledged. */
    more(count: number, what = `${count} more acknowledged`): Promise<true> {
      const from = acknowledged.length
      return until(what, async () => (acknowledged.length >= from + count ? true : undefined))
    },
    /** Lets each producer finish the request it is in, and sends no more. */
    async stop(): Promise<void> {
      stopping = true
      await running
    },
  }
}

/** Every acknowledged event is in the log, none twice, and nothing is there that was not sent. */
async function expectAcknowledgedOnce(
  log: Awaited<ReturnType<typeof startGateway>>['log'],
  load: ReturnType<typeof producersUnderLoad>,
): Promise<void> {
  const inLog = await idsInLog(log)
  expect(new Set(inLog).size).toBe(inLog.length)
  const sent = new Set(load.sent)
  expect(inLog.filter((id) => !sent.has(id))).toEqual([])
  const logged = new Set(inLog)
  expect(load.acknowledged.filter((id) => !logged.has(id))).toEqual([])
}

/** Requests that announce 1,000 bytes and send 10: the worker that took each holds it, unanswered. */
function holdRequests(port: number, count: number): { sockets: Socket[]; closed: Promise<void>[] } {
  const sockets: Socket[] = []
  const closed: Promise<void>[] = []
  for (let i = 0; i < count; i++) {
    const socket = connect({ host: '127.0.0.1', port })
    socket.on('error', () => {})
    // Flowing, so the end of the connection is seen.
    socket.resume()
    closed.push(new Promise((resolve) => socket.once('close', () => resolve())))
    socket.write(
      'POST /streams/payments/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[{"id":"x"',
    )
    sockets.push(socket)
  }
  return { sockets, closed }
}

/** The HTTP/1.1 requests that reach each fault point in a handler before (without the fix) onAborted. */
const BEFORE_ON_ABORTED = [
  // Closed once answered, so that the client sees the end at once.
  { at: 'healthz', request: 'GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n' },
  { at: 'not-found', request: 'GET /no/such/route HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n' },
  {
    at: 'ws.upgrade',
    request:
      'GET /streams/payments/ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  },
] as const

/**
 * Three requests written at once on one connection (pipelined), and what a worker that is not
 * stuck answers them: event POSTs wait for the log, so µWebSockets.js closes the connection at the
 * second (no answer); health checks are answered at once, in order.
 */
const PIPELINED = [
  {
    at: 'validate',
    what: 'event POSTs',
    bundle: (ids: readonly string[]) => pipelinedPosts('payments', ids.map(payment)),
    answeredElsewhere: [],
  },
  {
    at: 'healthz',
    what: 'health checks',
    // The last asks to close the connection once answered, so that the client sees the end.
    bundle: (ids: readonly string[]) =>
      ids
        .map(
          (_, i) =>
            `GET /healthz HTTP/1.1\r\nhost: x\r\n${i === ids.length - 1 ? 'connection: close\r\n' : ''}\r\n`,
        )
        .join(''),
    answeredElsewhere: [200, 200, 200],
  },
] as const

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

  it('survives a worker that crashes under load: requests in flight on it fail at the connection, acknowledged events are in the log exactly once, the other worker serves, the crashed one starts again', async () => {
    // A back-off long enough to look at the gap, even on a loaded machine (as in the first test).
    const { gateway, log, metrics, lines } = await startGateway(5000)
    const pool = gateway.workers!
    const events = `${gateway.url}/streams/payments/events`

    const load = producersUnderLoad(events)
    await load.more(100)

    await pool.crashWorker(0)
    expect(pool.listening).toBe(1)
    expect((await exchange(`${gateway.url}/readyz`, 'GET')).status).toBe(503)
    await load.more(100, 'more acknowledged while one worker listens')
    await until('worker 0 again', async () => (pool.listening === 2 ? true : undefined))
    expect((await exchange(`${gateway.url}/readyz`, 'GET')).status).toBe(200)
    await load.more(100, 'more acknowledged after the restart')
    await load.stop()

    // A request cut off by the crash failed at the connection, never with another answer.
    for (const failure of load.failures) expect(failure).toMatch(/^(ECONNRESET|EPIPE|socket hang up)$/)
    await expectAcknowledgedOnce(log, load)
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(1)
    expect(
      lines.find((line) => line.msg === 'gateway worker thread ended; starting it again')?.fields,
    ).toMatchObject({
      worker: 0,
      exitCode: 1,
    })
  })

  it('stops a busy worker safely (stopWorker), again and again under load: the process survives, /healthz answers, every acknowledged event is in the log exactly once', async () => {
    // Worker.terminate() in the same place ends the process: µWebSockets.js reads a request as
    // the thread stops and calls std::terminate when its handler cannot answer (decision 0030).
    const { gateway, log, metrics, lines } = await startGateway(200)
    const pool = gateway.workers!
    const load = producersUnderLoad(`${gateway.url}/streams/payments/events`)
    const rounds = 4
    for (let round = 0; round < rounds; round++) {
      await load.more(100)
      const stopped = pool.stopWorker(round % 2)
      expect(pool.listening).toBe(1)
      await stopped
      // The other worker answers meanwhile. (Connections queued on the stopping worker's listen
      // socket as it closes move to the other one: the next describe block.)
      expect((await exchange(`${gateway.url}/healthz`, 'GET')).status).toBe(200)
      await until('both workers again', async () => (pool.listening === 2 ? true : undefined))
    }
    await load.more(100)
    await load.stop()

    // A request on the stopping worker is answered 503 DRAINING or fails at the connection, never otherwise.
    for (const failure of load.failures)
      expect(failure).toMatch(/^(503 DRAINING|ECONNRESET|EPIPE|socket hang up)$/)
    await expectAcknowledgedOnce(log, load)
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(rounds)
    // Each ended itself (the stop's exit code), none had to be terminated.
    const ended = lines.filter((line) => line.msg === 'gateway worker thread ended; starting it again')
    expect(ended.map((line) => line.fields?.exitCode)).toEqual(Array(rounds).fill(STOPPED_EXIT_CODE))
    expect(lines.some((line) => line.msg === 'gateway worker thread did not stop; terminating it')).toBe(
      false,
    )
    expect(gateway.bytesInFlight).toBe(0)
  })

  it('drains under load: the process survives, every acknowledged event is in the log exactly once', async () => {
    const { gateway, log, lines } = await startGateway(200)
    const load = producersUnderLoad(`${gateway.url}/streams/payments/events`)
    await load.more(100)
    // Requests in flight meet the drain; nothing listens after it.
    const stopped = load.stop()
    await gateway.drain(2000)
    await stopped
    expect(gateway.workers!.listening).toBe(0)
    for (const failure of load.failures)
      expect(failure).toMatch(/^(503 DRAINING|ECONNREFUSED|ECONNRESET|EPIPE|socket hang up)$/)
    await expectAcknowledgedOnce(log, load)
    // The workers drained on their own: none had to be stopped.
    expect(
      lines.some((line) => line.msg === 'gateway worker thread did not drain in time; stopping it'),
    ).toBe(false)
  })

  it('survives a worker stopped from outside (Worker.terminate) with connections open: they close, the bytes they held come back, the worker starts again', async () => {
    const { gateway, log, metrics, lines } = await startGateway(5000)
    const pool = gateway.workers!
    expect(pool.stoppableFromOutside).toBe(true)
    const events = `${gateway.url}/streams/payments/events`
    // Kept-alive connections that were answered and wait for more, on both workers (likely).
    const agent = new Agent({ keepAlive: true, maxSockets: 8 })
    fixture.onCleanup(async () => agent.destroy())
    const before = await Promise.all(
      Array.from({ length: 8 }, (_, i) => exchange(events, 'POST', payment(`before-${i}`), agent)),
    )
    expect(before.map((answer) => answer.status)).toEqual(Array(8).fill(200))
    // Requests the workers hold unanswered (16 connections: both workers hold some, save with odds of 2^-15).
    const held = holdRequests(gateway.port, 16)
    fixture.onCleanup(async () => {
      for (const socket of held.sockets) socket.destroy()
    })
    await until('16 requests in flight', async () => (gateway.bytesInFlight === 16_000 ? true : undefined))

    // Without the native clean-up hook (socket-teardown.ts) this aborts the test process.
    await pool.terminateWorker(0)
    expect(pool.listening).toBe(1)
    await Promise.race(held.closed)
    const closedCount = held.sockets.filter((socket) => socket.closed).length
    expect(closedCount).toBeLessThan(16)
    expect(gateway.bytesInFlight).toBe((16 - closedCount) * 1000)
    expect((await exchange(`${gateway.url}/readyz`, 'GET')).status).toBe(503)
    const during = await Promise.all(
      Array.from({ length: 10 }, (_, i) => exchange(events, 'POST', payment(`during-${i}`))),
    )
    expect(during.map((answer) => answer.status)).toEqual(Array(10).fill(200))

    await until('worker 0 again', async () => (pool.listening === 2 ? true : undefined))
    const after = await Promise.all(
      Array.from({ length: 10 }, (_, i) => exchange(events, 'POST', payment(`after-${i}`))),
    )
    expect(after.map((answer) => answer.status)).toEqual(Array(10).fill(200))
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(1)
    expect(
      lines.find((line) => line.msg === 'gateway worker thread ended; starting it again')?.fields,
    ).toMatchObject({
      worker: 0,
      exitCode: 1,
    })
    const inLog = await idsInLog(log)
    expect(inLog.sort()).toEqual(
      [
        ...Array.from({ length: 8 }, (_, i) => `before-${i}`),
        ...Array.from({ length: 10 }, (_, i) => `during-${i}`),
        ...Array.from({ length: 10 }, (_, i) => `after-${i}`),
      ].sort(),
    )
  })

  it('stops a worker whose thread is stuck and starts it again; the other serves meanwhile', async () => {
    const { gateway, metrics, lines } = await startGateway(200, 1000)
    const pool = gateway.workers!
    pool.wedgeWorker(1)
    await until('the stuck worker stopped', async () =>
      lines.some((line) => line.msg === 'gateway worker thread unresponsive; stopping it') ? true : undefined,
    )
    const unresponsive = lines.find((line) => line.msg === 'gateway worker thread unresponsive; stopping it')
    expect(unresponsive?.fields).toMatchObject({ worker: 1, stoppable: true })
    await until('worker 1 again', async () => (pool.listening === 2 ? true : undefined))
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(1)
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        exchange(`${gateway.url}/streams/payments/events`, 'POST', payment(`${i}`)),
      ),
    )
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200))
  })

  it('a worker unresponsive for a while under load is asked to stop and ends itself once it turns again, not terminated', async () => {
    const { gateway, log, lines } = await startGateway(200, 500)
    const pool = gateway.workers!
    const load = producersUnderLoad(`${gateway.url}/streams/payments/events`)
    await load.more(100)
    // Past the liveness timeout (0.5 s) and the check after it, but ending before the stop's
    // grace (1 s) and its wait (2 s) would have it terminated.
    pool.wedgeWorker(0, 1500)
    await until('the worker started again', async () =>
      lines.some((line) => line.msg === 'gateway worker thread started again') ? true : undefined,
    )
    await load.stop()
    expect(
      lines.find((line) => line.msg === 'gateway worker thread unresponsive; stopping it')?.fields,
    ).toMatchObject({ worker: 0 })
    expect(
      lines.find((line) => line.msg === 'gateway worker thread ended; starting it again')?.fields,
    ).toMatchObject({ worker: 0, exitCode: STOPPED_EXIT_CODE })
    expect(lines.some((line) => line.msg === 'gateway worker thread did not stop; terminating it')).toBe(
      false,
    )
    for (const failure of load.failures)
      expect(failure).toMatch(/^(503 DRAINING|ECONNRESET|EPIPE|socket hang up)$/)
    await expectAcknowledgedOnce(log, load)
  })

  it('ends a drain with a worker stuck in a loop by stopping it from outside', async () => {
    const { gateway } = await startGateway(200)
    gateway.workers!.wedgeWorker(1)
    await gateway.drain(200)
    expect(gateway.workers!.listening).toBe(0)
  })
})

describe('gateway worker stop: queued connections and a stuck worker (decision 0030, last addendum)', () => {
  it('resets no connection the kernel queued on a stopping worker: they move to the other worker', async () => {
    const { gateway, log, lines } = await startGateway(200)
    const pool = gateway.workers!
    // This machine's kernel and privileges allow it; where they do not, the pool says so and this fails.
    expect(pool.queuedConnections).not.toBe('reset')
    // Sixteen producers, a new connection per request: connections keep arriving on both workers.
    const load = producersUnderLoad(`${gateway.url}/streams/payments/events`, {
      producers: 16,
      connectionEach: true,
    })
    await load.more(100)
    // Worker 0 does not turn for 0.5 s (its share of new connections waits in its accept queue),
    // then reads the stop, which closes its listen socket with that queue full.
    const wedgedAt = performance.now()
    pool.wedgeWorker(0, 500)
    const stopped = pool.stopWorker(0)
    await stopped
    await until('worker 0 again', async () => (pool.listening === 2 ? true : undefined))
    await load.more(100, 'more acknowledged after the restart')
    await load.stop()

    // Connections were waiting on worker 0 through its pause (else nothing was queued to lose).
    expect(
      load.spans.filter((span) => span.start < wedgedAt + 100 && span.end > wedgedAt + 500).length,
    ).toBeGreaterThan(0)
    // None was reset: each got an answer (a request worker 0 had read before it stopped may be 503 DRAINING).
    for (const failure of load.failures) expect(failure).toBe('503 DRAINING')
    await expectAcknowledgedOnce(log, load)
    expect(lines.some((line) => line.msg === 'gateway worker thread did not stop; terminating it')).toBe(
      false,
    )
  })

  it('without the migration, connections queued on a stopping worker are reset (what the kernel does unless net.ipv4.tcp_migrate_req is 1)', async () => {
    const { gateway, log } = await startGateway(200, undefined, { migrateQueuedConnections: false })
    const pool = gateway.workers!
    const load = producersUnderLoad(`${gateway.url}/streams/payments/events`, {
      producers: 16,
      connectionEach: true,
    })
    await load.more(100)
    pool.wedgeWorker(0, 500)
    await pool.stopWorker(0)
    await until('worker 0 again', async () => (pool.listening === 2 ? true : undefined))
    await load.more(100, 'more acknowledged after the restart')
    await load.stop()
    const resets = load.failures.filter((failure) => failure !== '503 DRAINING')
    for (const failure of resets) expect(failure).toMatch(/^(ECONNRESET|EPIPE|socket hang up)$/)
    expect(resets.length > 0).toBe(!kernelMigrates())
    await expectAcknowledgedOnce(log, load)
  })

  it('stops a worker stuck inside a request handler under load from outside: the process survives, the worker starts again, every acknowledged event is in the log exactly once', async () => {
    const { gateway, log, metrics, lines } = await startGateway(200, 500)
    const pool = gateway.workers!
    const load = producersUnderLoad(`${gateway.url}/streams/payments/events`)
    await load.more(100)
    // The next request worker 0 validates never returns: pings go unanswered (0.5 s), the stop it
    // is asked for is never read (1 s grace, 2 s more), so it is terminated, its sockets cut first.
    pool.wedgeWorkerAt(0, 'validate')
    await until('the stuck worker terminated', async () =>
      lines.some((line) => line.msg === 'gateway worker thread did not stop; terminating it')
        ? true
        : undefined,
    )
    await until('worker 0 again', async () => (pool.listening === 2 ? true : undefined))
    await load.more(100, 'more acknowledged after the restart')
    await load.stop()

    const cut = lines.find(
      (line) => line.msg === 'gateway worker thread sockets disconnected before it is stopped from outside',
    )
    expect(cut?.fields).toMatchObject({ worker: 0, listeners: 1 })
    expect(cut?.fields?.connections).toBeGreaterThan(0)
    // Requests on the stuck worker's connections failed at the connection; nothing else failed.
    for (const failure of load.failures) expect(failure).toMatch(/^(ECONNRESET|EPIPE|socket hang up)$/)
    expect(load.failures.length).toBeGreaterThan(0)
    await expectAcknowledgedOnce(log, load)
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(1)
    expect((await exchange(`${gateway.url}/healthz`, 'GET')).status).toBe(200)
  })

  it.each(BEFORE_ON_ABORTED)(
    'stops a worker stuck in a handler that answers without waiting ($at) under load: the process survives, the connection of the stuck request is cut, every acknowledged event is in the log exactly once',
    async ({ at, request: text }) => {
      const { gateway, log, metrics, lines } = await startGateway(200, 500)
      const pool = gateway.workers!
      const load = producersUnderLoad(`${gateway.url}/streams/payments/events`)
      await load.more(100)
      // The next such request worker 0 takes sticks in its handler for good; until then these
      // requests (on connections of their own, spread by the kernel) are answered by either worker.
      pool.wedgeWorkerAt(0, at)
      const probes: Promise<RawAnswer>[] = []
      const terminated = () =>
        lines.some((line) => line.msg === 'gateway worker thread did not stop; terminating it')
      await until('the stuck worker terminated', async () => {
        if (probes.length < 200) probes.push(rawExchange(gateway.port, text))
        return terminated() ? true : undefined
      })
      await until('worker 0 again', async () => (pool.listening === 2 ? true : undefined))
      await load.more(100, 'more acknowledged after the restart')
      await load.stop()

      const answers = await Promise.all(probes)
      // The stuck request got no answer (its connection was cut); the others got their answer.
      const unanswered = answers.filter((answer) => answer.received === '')
      expect(unanswered.length).toBeGreaterThanOrEqual(1)
      for (const answer of unanswered) expect(answer.error ?? 'closed').toMatch(/^(ECONNRESET|EPIPE|closed)$/)
      for (const answer of answers.filter((a) => a.received !== ''))
        expect(answer.received).toMatch(/^HTTP\/1\.1 (200|101|404) /)
      for (const failure of load.failures) expect(failure).toMatch(/^(ECONNRESET|EPIPE|socket hang up)$/)
      await expectAcknowledgedOnce(log, load)
      expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(1)
      expect((await exchange(`${gateway.url}/healthz`, 'GET')).status).toBe(200)
    },
  )

  it.each(PIPELINED)(
    'stops a worker stuck in a request with $what pipelined behind it on its connection (stuck at $at): the process survives, none behind it is read, nothing is appended twice, the worker starts again',
    async ({ at, bundle, answeredElsewhere }) => {
      const { gateway, log, metrics, lines } = await startGateway(200, 500)
      const pool = gateway.workers!
      const url = `${gateway.url}/streams/payments/events`
      const before = producersUnderLoad(url)
      await before.more(100)
      await before.stop()
      // The next request of worker 0 that reaches `at` sticks for good, with the two pipelined
      // behind it (written at once) in µWebSockets.js's buffer. No producers meanwhile, so that the
      // request that sticks is the first of a pipelined three.
      pool.wedgeWorkerAt(0, at)
      const bundles: { ids: string[]; answer: Promise<RawAnswer> }[] = []
      await until('the stuck worker terminated', async () => {
        if (bundles.length < 200) {
          const ids = [0, 1, 2].map((i) => `pipe${bundles.length}-${i}`)
          bundles.push({ ids, answer: rawExchange(gateway.port, bundle(ids)) })
        }
        return lines.some((line) => line.msg === 'gateway worker thread did not stop; terminating it')
          ? true
          : undefined
      })
      await until('worker 0 again', async () => (pool.listening === 2 ? true : undefined))
      const after = producersUnderLoad(url, { prefix: 'q' })
      await after.more(100, 'more acknowledged after the restart')
      await after.stop()

      const answers = await Promise.all(bundles.map((b) => b.answer))
      // The stuck one's connection was cut by the pool (a reset), with nothing answered; the other
      // worker answered its bundles as a healthy gateway does (gateway.test.ts, "HTTP/1.1 pipelining").
      expect(answers.some((answer) => answer.error === 'ECONNRESET' && answer.received === '')).toBe(true)
      for (const answer of answers)
        expect([[], answeredElsewhere]).toContainEqual(statusesIn(answer.received))
      const logged = await idsInLog(log)
      const inLog = new Set(logged)
      // What was pipelined behind a first request never reached the log.
      for (const { ids } of bundles) expect([ids[1], ids[2]].filter((id) => inLog.has(id!))).toEqual([])
      // Nothing twice, nothing that was not sent, every acknowledged event there (of the two loads).
      expect(inLog.size).toBe(logged.length)
      const sent = new Set([...before.sent, ...after.sent, ...bundles.map(({ ids }) => ids[0]!)])
      expect(logged.filter((id) => !sent.has(id))).toEqual([])
      for (const load of [before, after]) {
        for (const failure of load.failures) expect(failure).toMatch(/^(ECONNRESET|EPIPE|socket hang up)$/)
        expect(load.acknowledged.filter((id) => !inLog.has(id))).toEqual([])
      }
      expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(1)
      expect(gateway.bytesInFlight).toBe(0)
    },
  )

  it('terminates a busy worker (Worker.terminate) under load without ending the process, its sockets cut first', async () => {
    const { gateway, log, metrics } = await startGateway(200)
    const pool = gateway.workers!
    const load = producersUnderLoad(`${gateway.url}/streams/payments/events`)
    for (let round = 0; round < 4; round++) {
      await load.more(100)
      await pool.terminateWorker(round % 2)
      expect((await exchange(`${gateway.url}/healthz`, 'GET')).status).toBe(200)
      await until('both workers again', async () => (pool.listening === 2 ? true : undefined))
    }
    await load.more(100)
    await load.stop()
    for (const failure of load.failures) expect(failure).toMatch(/^(ECONNRESET|EPIPE|socket hang up)$/)
    await expectAcknowledgedOnce(log, load)
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(4)
  })

  it('survives a worker that reaches its heap limit inside a request handler under load: its sockets are cut first, it starts again, every acknowledged event is in the log exactly once', async () => {
    const { gateway, log, metrics, lines } = await startGateway(200, undefined, { maxHeapMb: 64 })
    const pool = gateway.workers!
    const load = producersUnderLoad(`${gateway.url}/streams/payments/events`)
    await load.more(100)
    // The next request worker 0 validates allocates until V8 ends the thread at 64 MiB.
    pool.exhaustWorkerAt(0, 'validate')
    await until('worker 0 ended', async () =>
      lines.some((line) => line.msg === 'gateway worker thread ended; starting it again') ? true : undefined,
    )
    await until('worker 0 again', async () => (pool.listening === 2 ? true : undefined))
    await load.more(100, 'more acknowledged after the restart')
    await load.stop()

    expect(
      lines.find((line) => line.msg === 'gateway worker thread ended; starting it again')?.fields,
    ).toMatchObject({ worker: 0, reason: 'heap limit reached' })
    for (const failure of load.failures) expect(failure).toMatch(/^(ECONNRESET|EPIPE|socket hang up)$/)
    await expectAcknowledgedOnce(log, load)
    expect(await metricValue(gateway, metrics, 'sluice_gateway_worker_restarts_total')).toBe(1)
  })
})
