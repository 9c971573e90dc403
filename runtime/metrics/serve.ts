/**
 * Serves a registry at GET /metrics for Prometheus to scrape (loopback by default). Anything else
 * answers 404 with a JSON body naming the problem.
 *
 * The server shares the pipeline's process, so it must never take the pipeline down (issue 10:
 * 1,100 idle connections used up the file descriptors and the pipeline died of EMFILE):
 * - at most `maxConnections` sockets are open at once; Node closes any beyond that on accept
 *   (counted in `sluice_metrics_connections_dropped_total`), so the endpoint can hold only a
 *   small, fixed number of file descriptors however many clients connect;
 * - a connection idle for `idleTimeoutMs` is closed, whether it never sent a byte or sits between
 *   keep-alive requests; a request whose headers are not complete within `headersTimeoutMs`
 *   (a slow drip) or that is not done within `requestTimeoutMs` is closed too;
 * - malformed requests ('clientError') answer 400 or are dropped, server and socket 'error'
 *   events are reported to `onError`, and a failing render answers 500: nothing the server does
 *   throws into the process.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SluiceError } from '../errors.ts'
import { Counter, type MetricsRegistry } from './registry.ts'

export interface ServeMetricsOptions {
  /** Open connections at most; more are closed as they arrive. Default 32 (a scraper needs one). */
  readonly maxConnections?: number
  /** A connection with no traffic for this long is closed. Default 15 s. */
  readonly idleTimeoutMs?: number
  /** The request headers must arrive within this time. Default 10 s. */
  readonly headersTimeoutMs?: number
  /** The whole request must arrive within this time. Default 30 s. */
  readonly requestTimeoutMs?: number
  /** Told about errors the server survived (a failed render, a socket error); default: ignored. */
  readonly onError?: (error: unknown, context: string) => void
}

export interface MetricsServer {
  /** `http://host:port/metrics`. */
  readonly url: string
  /** Connections open now. */
  connections(): Promise<number>
  /** Stops accepting and closes every open connection. */
  close(): Promise<void>
}

const DROPPED_CONNECTIONS = 'sluice_metrics_connections_dropped_total'

export const DEFAULT_SERVE_OPTIONS = {
  maxConnections: 32,
  idleTimeoutMs: 15_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
} as const

export async function serveMetrics(
  registry: MetricsRegistry,
  port: number,
  host = '127.0.0.1',
  options: ServeMetricsOptions = {},
): Promise<MetricsServer> {
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new SluiceError('CONFIG_INVALID', `metrics port must be an integer from 0 to 65535, got ${port}`)
  const settings = { ...DEFAULT_SERVE_OPTIONS, ...definedOnly(options) }
  for (const [name, value] of Object.entries(settings))
    if (typeof value === 'number' && !(Number.isInteger(value) && value > 0))
      throw new SluiceError(
        'CONFIG_INVALID',
        `metrics server ${name} must be a positive integer, got ${value}`,
      )
  const onError = options.onError ?? (() => {})
  const existing = registry.find(DROPPED_CONNECTIONS)
  const dropped =
    existing instanceof Counter
      ? existing
      : registry.counter(
          DROPPED_CONNECTIONS,
          'Connections to the metrics endpoint closed on arrival because the connection limit was reached.',
        )

  const server = createServer(
    {
      headersTimeout: settings.headersTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      keepAliveTimeout: settings.idleTimeoutMs,
      // How often Node checks the headers and request timeouts; its default (30 s) would let a
      // slow client outlive a shorter timeout by that much.
      connectionsCheckingInterval: Math.max(
        10,
        Math.min(1_000, Math.floor(Math.min(settings.headersTimeoutMs, settings.requestTimeoutMs) / 4)),
      ),
    },
    (request, response) => {
      respond(registry, request, response, onError).catch((error) => {
        onError(error, 'responding')
        response.destroy()
      })
    },
  )
  server.maxConnections = settings.maxConnections
  // A socket with no traffic for idleTimeoutMs gets 'timeout'; with no listener of ours, Node's
  // http server destroys it. This covers connections that never send a request.
  server.timeout = settings.idleTimeoutMs
  server.on('drop', () => dropped.inc())
  // Node's http server turns socket errors into 'clientError' too, so this one handler covers them.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // Malformed or timed-out requests: answer 400 or 408 when the socket can still take it, else
    // drop. A client hanging up (ECONNRESET, EPIPE) is normal and not worth reporting.
    if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') onError(error, 'client')
    // A response already under way cannot be followed by a status line: then only drop.
    const response = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage
    if (socket.writable && !socket.destroyed && !response?.headersSent) {
      const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request'
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
    } else {
      socket.destroy()
    }
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new SluiceError(
          'CONFIG_INVALID',
          `cannot serve metrics on ${host}:${port}: ${error.code ?? error.message}`,
          {
            cause: error,
          },
        ),
      ),
    )
    server.listen(port, host, () => resolve())
  })
  // From here on a server error (e.g. EMFILE on accept) is reported, never thrown.
  server.removeAllListeners('error')
  server.on('error', (error) => onError(error, 'server'))

  const address = server.address() as AddressInfo
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${urlHost}:${address.port}/metrics`,
    connections: () =>
      new Promise((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      ),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

async function respond(
  registry: MetricsRegistry,
  request: IncomingMessage,
  response: ServerResponse,
  onError: (error: unknown, context: string) => void,
): Promise<void> {
  const path = (request.url ?? '').split('?')[0]
  if ((request.method === 'GET' || request.method === 'HEAD') && path === '/metrics') {
    let body: string
    try {
      body = await registry.render()
    } catch (error) {
      sendJson(response, 500, {
        error_code: 'METRICS_RENDER_FAILED',
        message: `rendering the metrics failed: ${error instanceof Error ? error.message : String(error)}`,
      })
      onError(error, 'rendering')
      return
    }
    response.writeHead(200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    })
    response.end(request.method === 'HEAD' ? undefined : body)
    return
  }
  sendJson(response, 404, {
    error_code: 'NOT_FOUND',
    message: `no route ${request.method} ${request.url}; metrics are at GET /metrics`,
  })
}

function sendJson(response: ServerResponse, status: number, body: object): void {
  if (response.headersSent) return
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(JSON.stringify(body))
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>
}
