import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { isSluiceError } from '../errors.ts'
import { MetricsRegistry } from './registry.ts'
import { type MetricsServer, type ServeMetricsOptions, serveMetrics } from './serve.ts'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function serve(
  registry = new MetricsRegistry(),
  options: ServeMetricsOptions = {},
): Promise<MetricsServer> {
  const server = await serveMetrics(registry, 0, '127.0.0.1', options)
  cleanups.push(() => server.close())
  return server
}

/** A raw TCP client: what it received, and a promise that settles when the server closes it. */
interface RawClient {
  readonly socket: Socket
  readonly received: () => string
  readonly closed: Promise<void>
}

async function rawClient(server: MetricsServer): Promise<RawClient> {
  const { port } = new URL(server.url)
  const socket = connect(Number(port), '127.0.0.1')
  cleanups.push(() => socket.destroy())
  let text = ''
  socket.on('data', (chunk) => {
    text += chunk.toString()
  })
  // A reset is one way the server closes a socket; the test only cares that it is closed.
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('close', () => reject(new Error('closed before connecting')))
  })
  return { socket, received: () => text, closed }
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10))
}

/** A request on its own connection, so no keep-alive socket outlives the test. */
function scrape(server: MetricsServer, init: RequestInit = {}): Promise<Response> {
  return fetch(server.url, { ...init, headers: { connection: 'close' } })
}

describe('serveMetrics', () => {
  it('serves the registry at GET /metrics in the Prometheus text format', async () => {
    const registry = new MetricsRegistry()
    registry.counter('sluice_events_in_total', 'Records read.').labels({ source: 'a' }).inc(5)
    const server = await serve(registry)
    const response = await scrape(server)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(await response.text()).toContain('sluice_events_in_total{source="a"} 5')
    const head = await scrape(server, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
  })

  it('answers any other route with 404 and a JSON body naming the problem', async () => {
    const server = await serve()
    const response = await fetch(server.url.replace('/metrics', '/nope'), {
      headers: { connection: 'close' },
    })
    expect(response.status).toBe(404)
    expect(await response.json()).toEqual({
      error_code: 'NOT_FOUND',
      message: 'no route GET /nope; metrics are at GET /metrics',
    })
  })

  it('answers 500 when rendering fails, reports the error and keeps serving', async () => {
    const registry = new MetricsRegistry()
    const errors: string[] = []
    const server = await serve(registry, { onError: (error, context) => errors.push(`${context}: ${error}`) })
    const render = vi.spyOn(registry, 'render').mockRejectedValueOnce(new Error('boom'))
    const failed = await scrape(server)
    expect(failed.status).toBe(500)
    expect(await failed.json()).toEqual({
      error_code: 'METRICS_RENDER_FAILED',
      message: 'rendering the metrics failed: boom',
    })
    expect(errors).toEqual(['rendering: Error: boom'])
    expect((await scrape(server)).status).toBe(200)
    render.mockRestore()
  })

  it('answers a malformed request with 400 and keeps serving', async () => {
    const server = await serve()
    const client = await rawClient(server)
    client.socket.write('NOT HTTP AT ALL\r\n\r\n')
    await client.closed
    expect(client.received()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    expect((await scrape(server)).status).toBe(200)
  })

  it('refuses a port out of range or in use with a CONFIG_INVALID error', async () => {
    await expect(serveMetrics(new MetricsRegistry(), 65_536)).rejects.toThrow(
      'metrics port must be an integer from 0 to 65535, got 65536',
    )
    const server = await serve()
    const port = Number(new URL(server.url).port)
    const error = await serveMetrics(new MetricsRegistry(), port).catch((e: unknown) => e)
    expect(isSluiceError(error, 'CONFIG_INVALID')).toBe(true)
    expect((error as Error).message).toBe(`cannot serve metrics on 127.0.0.1:${port}: EADDRINUSE`)
    await expect(serveMetrics(new MetricsRegistry(), 0, '127.0.0.1', { maxConnections: 0 })).rejects.toThrow(
      'metrics server maxConnections must be a positive integer, got 0',
    )
  })
})

describe('serveMetrics never lets clients use up the process (issue 10)', () => {
  it('closes connections beyond maxConnections on arrival and counts them', async () => {
    const registry = new MetricsRegistry()
    const server = await serve(registry, { maxConnections: 2 })
    const idle = [await rawClient(server), await rawClient(server)]
    await until(async () => (await server.connections()) === 2)
    const third = await rawClient(server)
    await third.closed
    expect(third.received()).toBe('')
    expect(await server.connections()).toBe(2)
    expect(registry.find('sluice_metrics_connections_dropped_total')?.total()).toBe(1)
    // One idle client leaves: there is room for a scrape again.
    idle[0]!.socket.destroy()
    await until(async () => (await server.connections()) === 1)
    const response = await scrape(server)
    expect(await response.text()).toContain('sluice_metrics_connections_dropped_total 1\n')
  })

  it('closes a connection that never sends a request once it has been idle for idleTimeoutMs', async () => {
    const server = await serve(new MetricsRegistry(), { idleTimeoutMs: 100 })
    const client = await rawClient(server)
    await client.closed
    expect(client.received()).toBe('')
    expect(await server.connections()).toBe(0)
  })

  it('closes a keep-alive connection left idle after a response', async () => {
    const server = await serve(new MetricsRegistry(), { idleTimeoutMs: 100 })
    const client = await rawClient(server)
    client.socket.write('GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n')
    await client.closed
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
  })

  it('answers 408 and closes a request whose headers drip in slower than headersTimeoutMs', async () => {
    const server = await serve(new MetricsRegistry(), { headersTimeoutMs: 200, idleTimeoutMs: 60_000 })
    const client = await rawClient(server)
    client.socket.write('GET /metrics HTTP/1.1\r\nhost: x\r\n')
    // One header line at a time keeps the socket from ever being idle; only the headers timeout ends it.
    const drip = setInterval(() => client.socket.writable && client.socket.write('x-slow: 1\r\n'), 20)
    cleanups.push(() => clearInterval(drip))
    await client.closed
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
  })
})
