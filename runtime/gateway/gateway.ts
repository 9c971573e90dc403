/**
 * The event gateway: producers POST events over HTTP or send them over a WebSocket, and get an
 * acknowledgement once the log holds them. This file is the only one that touches µWebSockets.js
 * (docs/decisions/0026-uwebsockets-provenance.md); parsing (events.ts), validation (validate.ts),
 * rate limits (rate-limit.ts) and group commit (appender.ts) know nothing of it.
 *
 * Routes:
 *   POST /streams/:source/events   one event, a JSON array, NDJSON or CloudEvents (events.ts)
 *   GET  /streams/:source/ws       WebSocket: each message one event or a JSON array; one ack per message
 *   GET  /healthz, /readyz         liveness; readiness (503 while draining or the log is unreachable)
 *   GET  /metrics                  the registry in Prometheus text format
 *   GET|PUT /admin/limits          the rate limits in force; PUT replaces them (rate-limit.ts)
 *
 * Answers: a single event 200 `{partition, offset}` or its error; a batch 200 (all accepted) or 207
 * with `{accepted, rejected, results}`, one result per event in order: `{status: 200, partition,
 * offset}` or `{status, error_code, message, field?, rule?}`. Nothing valid in a batch is held back
 * by an invalid neighbour. Refusals of a whole request: 404 unknown stream, 413 over the request
 * size, 415 media type, 429 rate limit and 503 overload or draining, with Retry-After (seconds).
 * A WebSocket ack is `{seq, accepted, rejected, results}` (seq counts the connection's messages
 * from 1), or `{seq, error_code, message, retryAfterMs?}` for a message refused whole.
 *
 * A WebSocket message over `maxRequestBytes` gets an error ack, `{seq, error_code:
 * "REQUEST_TOO_LARGE", message, rule}` naming the limit as HTTP's 413 body does, and the connection
 * stays open. Up to `maxWebSocketMessageBytes` (the hard cap, default 4 × maxRequestBytes) is read
 * for that; a longer message closes the connection: µWebSockets.js checks the cap at the frame
 * header and drops the connection without reading further (so a client cannot make the gateway
 * buffer without bound). 1009 (Message Too Big) is the right close code for that, but uWebSockets.js
 * closes the socket without a close frame, so clients report 1006; the gateway counts it as a
 * REQUEST_TOO_LARGE rejection.
 *
 * Memory stays bounded: a request may have at most `maxRequestBytes`, and the bytes of all requests
 * being received or waiting for the log at most `maxInFlightBytes`; beyond that a request is
 * answered 503 at once (it is never buffered), so under overload the gateway sheds load.
 */

import type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  us_listen_socket,
  us_socket_context_t,
  WebSocket,
} from 'uWebSockets.js'
import { createRequire } from 'node:module'
import { SluiceError } from '../errors.ts'
import type { Log, OutgoingRecord } from '../log/index.ts'
import type { Backoff } from '../log/retry.ts'
import type { MetricsRegistry } from '../metrics/registry.ts'
import { type Logger, silentLogger } from '../observability/logger.ts'
import { type GatewayBackend, LocalBackend, type Submission } from './backend.ts'
import { BatchAnswer, type Position } from './batch-answer.ts'
import { validBatchRecords } from './batch-bytes.ts'
import { type GatewayError, gatewayError, statusOf } from './errors.ts'
import { type IncomingItem, NO_HEADERS, parseBody } from './events.ts'
import { type GatewayMetrics, registerGatewayMetrics } from './gateway-metrics.ts'
import { GatewaySeries, type Protocol } from './gateway-series.ts'
import { type FaultInjector, type FaultPoint, HandlerGuard, INTERNAL_ERROR } from './handler-guard.ts'
import { type InFlightBudget, LocalBudget, SHARED_BUDGET_MAX, SharedBudget } from './in-flight.ts'
import { RateLimiter, type RateLimits, validateLimits } from './rate-limit.ts'
import { readsFromBytes, unparsedSingleEvent } from './single-event.ts'
import type { IngestStream } from './streams.ts'
import { NO_CONTEXT, type RequestContext, recordHeaders, toRecord } from './validate.ts'
import { WorkerPool } from './worker-pool.ts'

// Through require: the package is CommonJS whose exports Node cannot detect statically, so a named
// ESM import of it fails outside a bundler.
const uws = createRequire(import.meta.url)('uWebSockets.js') as typeof import('uWebSockets.js')

export interface GatewayOptions {
  readonly log: Log
  readonly streams: ReadonlyMap<string, IngestStream>
  readonly metrics: MetricsRegistry
  readonly logger?: Logger
  /** Default 127.0.0.1. */
  readonly host?: string
  /** 0: any free port (see Gateway.port). */
  readonly port: number
  /** Largest request body (and WebSocket message taken). Default 4 MiB. */
  readonly maxRequestBytes?: number
  /**
   * Largest WebSocket message read at all (the hard cap): one over `maxRequestBytes` and up to this
   * gets an error ack and keeps its connection; a longer one closes the connection. Default 4 ×
   * maxRequestBytes; at least maxRequestBytes.
   */
  readonly maxWebSocketMessageBytes?: number
  /** Largest event. Default 256 KiB. */
  readonly maxEventBytes?: number
  /** Bytes of requests being received or waiting for the log, at most. Default 64 MiB. */
  readonly maxInFlightBytes?: number
  /** Default: no limits. */
  readonly limits?: RateLimits
  /** When set, /admin/* needs `Authorization: Bearer <token>`. */
  readonly adminToken?: string
  /** How long an append may wait out an unavailable log before its requests get 503. Default 30 s. */
  readonly appendTimeoutMs?: number
  /** How long /readyz waits for the log to answer. Default 2 s. */
  readonly readyTimeoutMs?: number
  /** Test seam: the rate limiter's clock (ms). */
  readonly now?: () => number
  /**
   * Test seam: called at every handler's fault point (handler-guard.ts); what it throws there is a
   * handler error, which the gateway must survive. Served in this thread only (not in workers).
   */
  readonly faults?: FaultInjector
  /**
   * Serve HTTP and WebSocket from this many worker threads (docs/decisions/0030-gateway-threads.md)
   * sharing the port; this thread keeps the log, the rate limits and the metrics, and gRPC. 1 (the
   * default): everything in this thread.
   */
  readonly threads?: GatewayThreads
}

/** Worker threads for the gateway: how many, and what they load to validate as this thread does. */
export interface GatewayThreads {
  readonly count: number
  /** The artifacts whose sources are the streams (a worker builds `streams` from them again). */
  readonly artifactDirs: readonly string[]
  /** As given to streamCatalog. */
  readonly keyFields?: Readonly<Record<string, string>>
  /** Wait before a crashed worker starts again (worker-pool.ts). Default 100 ms doubling up to 10 s. */
  readonly restartBackoff?: Backoff
  /** A worker whose event loop answers no ping for this long is stopped and started again (worker-pool.ts). Default 30 s. */
  readonly livenessTimeoutMs?: number
  /** Connections queued on a closing worker's listen socket move to another worker (worker-pool.ts). Default true; false only to see them reset. */
  readonly migrateQueuedConnections?: boolean
  /** Each worker thread's V8 heap limit (old generation, MiB); past it the thread ends and starts again. Default: Node's. */
  readonly maxHeapMb?: number
}

/** The settings a gateway's request handling runs with, in whichever thread serves. */
export type GatewaySettings = Required<
  Pick<
    GatewayOptions,
    | 'host'
    | 'maxRequestBytes'
    | 'maxWebSocketMessageBytes'
    | 'maxEventBytes'
    | 'maxInFlightBytes'
    | 'appendTimeoutMs'
    | 'readyTimeoutMs'
  >
>

/** What a worker thread's gateway is built from (gateway-worker.ts). */
export interface ServingWiring {
  readonly streams: ReadonlyMap<string, IngestStream>
  readonly settings: GatewaySettings
  readonly backend: GatewayBackend
  readonly metrics: GatewayMetrics
  readonly budget: InFlightBudget
  readonly logger: Logger
  readonly adminToken?: string
  readonly faults?: FaultInjector
}

export const GATEWAY_DEFAULTS = {
  host: '127.0.0.1',
  maxRequestBytes: 4 * 1024 * 1024,
  maxEventBytes: 256 * 1024,
  maxInFlightBytes: 64 * 1024 * 1024,
  appendTimeoutMs: 30_000,
  readyTimeoutMs: 2_000,
} as const

/** The hard cap on a WebSocket message, as a multiple of `maxRequestBytes`, unless set. */
export const WS_HARD_CAP_FACTOR = 4
/** uWebSockets.js's reason when it drops a connection whose message is over maxPayloadLength. */
const UWS_TOO_BIG = 'Received too big message'

/** Route names in handler error logs and the handler errors metric. */
const EVENTS_ROUTE = 'POST /streams/:source/events'
const WS_ROUTE = 'WS /streams/:source/ws'

/** Retry-After for overload and draining: the client should come back soon, not at once. */
const OVERLOAD_RETRY_MS = 1000
const ADMIN_BODY_BYTES = 64 * 1024
/**
 * How long a drain goes on reading after its listen socket closed before it may close connections:
 * a connection accepted just before (from the queue the kernel had filled, or moved there from a
 * worker that stopped) may hold a request not read yet, which this answers (503 DRAINING) instead
 * of closing the connection on it unread (the client would see a reset).
 */
const DRAIN_READ_MS = 50

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  207: 'Multi-Status',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** HTTP status lines by status, built once. */
const STATUS_LINES: string[] = []
const statusLine = (status: number): string => (STATUS_LINES[status] ??= `${status} ${REASONS[status] ?? ''}`)

interface SocketData {
  readonly stream: IngestStream
  readonly apiKey: string
  readonly context: RequestContext
  seq: number
  closed: boolean
}

/** What a handled request or message comes to: one status and JSON body. */
export interface Outcome {
  readonly status: number
  readonly body: unknown
  readonly retryAfterMs?: number
}

export class Gateway {
  private readonly app: TemplatedApp | null
  private listenSocket: us_listen_socket | null = null
  private listenPort = 0
  /** Requests and WebSocket messages being handled. */
  private active = 0
  private readonly activeWaiters: (() => void)[] = []
  private readonly sockets = new Set<WebSocket<SocketData>>()
  private draining = false
  private drained: Promise<void> | null = null
  private readonly streams: ReadonlyMap<string, IngestStream>
  private readonly settings: GatewaySettings
  private readonly backend: GatewayBackend
  private readonly metrics: GatewayMetrics
  /** The series every request touches, resolved once. */
  private readonly series: GatewaySeries
  private readonly budget: InFlightBudget
  private readonly logger: Logger
  /** Keeps errors in handlers from reaching µWebSockets.js (handler-guard.ts). */
  private readonly guard: HandlerGuard
  private readonly adminToken: string | undefined
  /** This thread's backend (it owns the log); null in a worker thread. */
  private readonly local: LocalBackend | null
  /** The worker threads serving HTTP and WebSocket, when there are any (then `app` is null). */
  private pool: WorkerPool | null = null

  private constructor(wiring: ServingWiring, local: LocalBackend | null, serveHere: boolean) {
    this.streams = wiring.streams
    this.settings = wiring.settings
    this.backend = wiring.backend
    this.metrics = wiring.metrics
    this.series = new GatewaySeries(wiring.metrics)
    this.budget = wiring.budget
    this.logger = wiring.logger
    this.guard = new HandlerGuard(wiring.logger, wiring.metrics.handlerErrors, wiring.faults)
    this.adminToken = wiring.adminToken
    this.local = local
    this.app = serveHere ? this.routes(uws.App()) : null
  }

  /** The rate limits of the node (kept by the thread that owns the log). */
  get limiter(): RateLimiter {
    if (this.local === null) throw new Error('a worker thread’s gateway has no rate limiter of its own')
    return this.local.limiter
  }

  /** Starts listening; rejects with CONFIG_INVALID when the address cannot be bound. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const settings = gatewaySettings(options)
    const threads = options.threads?.count ?? 1
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new SluiceError('CONFIG_INVALID', `gateway threads must be a positive integer, got ${threads}`)
    }
    if (threads > 1 && settings.maxInFlightBytes > SHARED_BUDGET_MAX) {
      throw new SluiceError(
        'CONFIG_INVALID',
        `gateway maxInFlightBytes must be at most ${SHARED_BUDGET_MAX} with worker threads, got ${settings.maxInFlightBytes}`,
      )
    }
    const logger = (options.logger ?? silentLogger).child({ component: 'gateway' })
    const budget =
      threads > 1
        ? SharedBudget.create(settings.maxInFlightBytes, threads)
        : new LocalBudget(settings.maxInFlightBytes)
    // Read at scrape time (not set per request): the budget knows its bytes, in either mode.
    const metrics = registerGatewayMetrics(options.metrics, () => budget.bytes)
    let pool: WorkerPool | null = null
    const local = new LocalBackend({
      log: options.log,
      readyTopic: options.streams.values().next().value?.topic,
      limiter: new RateLimiter(options.limits ?? {}, options.now),
      appendTimeoutMs: settings.appendTimeoutMs,
      readyTimeoutMs: settings.readyTimeoutMs,
      logger,
      render: async () => {
        await pool?.flushMetrics()
        return options.metrics.render()
      },
    })
    const gateway = new Gateway(
      {
        streams: options.streams,
        settings,
        backend: local,
        metrics,
        budget,
        logger,
        ...(options.adminToken === undefined ? {} : { adminToken: options.adminToken }),
        ...(options.faults === undefined ? {} : { faults: options.faults }),
      },
      local,
      threads === 1,
    )
    if (threads > 1) {
      pool = await WorkerPool.start({
        count: threads,
        artifactDirs: options.threads!.artifactDirs,
        keyFields: options.threads!.keyFields ?? {},
        settings,
        port: options.port,
        budget: budget as SharedBudget,
        backend: local,
        metrics,
        logger,
        ...(options.adminToken === undefined ? {} : { adminToken: options.adminToken }),
        registry: options.metrics,
        ...(options.threads!.restartBackoff === undefined
          ? {}
          : { restartBackoff: options.threads!.restartBackoff }),
        ...(options.threads!.livenessTimeoutMs === undefined
          ? {}
          : { livenessTimeoutMs: options.threads!.livenessTimeoutMs }),
        ...(options.threads!.migrateQueuedConnections === undefined
          ? {}
          : { migrateQueuedConnections: options.threads!.migrateQueuedConnections }),
        ...(options.threads!.maxHeapMb === undefined ? {} : { maxHeapMb: options.threads!.maxHeapMb }),
      })
      gateway.pool = pool
      gateway.listenPort = pool.port
    } else await gateway.listen(options.port)
    return gateway
  }

  /** A worker thread's gateway: serves on `port` (shared with the other workers) through `wiring.backend`. */
  static async serveInWorker(wiring: ServingWiring, port: number): Promise<Gateway> {
    const gateway = new Gateway(wiring, null, true)
    await gateway.listen(port)
    return gateway
  }

  private listen(port: number): Promise<void> {
    const { host } = this.settings
    const app = this.app!
    return new Promise<void>((resolve, reject) => {
      app.listen(host, port, (socket) => {
        if (socket === false) {
          app.close()
          reject(
            new SluiceError(
              'CONFIG_INVALID',
              `the gateway cannot listen on ${host}:${port} (in use, or not an address of this machine)`,
            ),
          )
          return
        }
        this.listenSocket = socket
        this.listenPort = uws.us_socket_local_port(socket)
        resolve()
      })
    })
  }

  get port(): number {
    return this.listenPort
  }

  get url(): string {
    return `http://${this.settings.host}:${this.listenPort}`
  }

  /** The worker threads serving HTTP and WebSocket (null when this thread serves). */
  get workers(): WorkerPool | null {
    return this.pool
  }

  /** Brings the metric increments the worker threads recorded into the registry (none without workers). */
  flushMetrics(): Promise<void> {
    return this.pool?.flushMetrics() ?? Promise.resolve()
  }

  /** Bytes of requests being received or waiting for the log now (in every thread). */
  get bytesInFlight(): number {
    return this.budget.bytes
  }

  /**
   * Graceful stop: accepts no new connection or request (503 DRAINING), waits up to `timeoutMs`
   * for the requests and messages in hand to be answered (their events appended and acknowledged),
   * then closes every connection (WebSockets with 1001 Going Away). With worker threads, each
   * worker drains so, then exits.
   */
  drain(timeoutMs = 30_000): Promise<void> {
    this.drained ??= this.drainOnce(timeoutMs)
    return this.drained
  }

  /**
   * Closes the listening socket and every connection at once, answering nothing more: what a
   * worker thread does when it crashes, since a thread that ends with µWebSockets.js sockets open
   * aborts the whole process (Node's uv_loop_close assertion).
   */
  closeNow(): void {
    this.draining = true
    this.listenSocket = null
    this.sockets.clear()
    this.app?.close()
  }

  private async drainOnce(timeoutMs: number): Promise<void> {
    this.draining = true
    if (this.listenSocket) uws.us_listen_socket_close(this.listenSocket)
    this.listenSocket = null
    // The workers' requests wait for this thread's appends, so they drain first, while it serves them.
    const workers = this.pool?.drain(timeoutMs)
    await new Promise((resolve) => setTimeout(resolve, DRAIN_READ_MS))
    if (this.active > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        new Promise<void>((resolve) => this.activeWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs)
        }),
      ])
      clearTimeout(timer)
      if (this.active > 0) {
        this.logger.warn('drain timed out; requests still waiting for the log are cut off', {
          active: this.active,
        })
        this.backend.abortWaiting()
        await this.backend.idle()
      }
    }
    await workers
    for (const ws of this.sockets) ws.end(1001, 'the node is shutting down')
    this.sockets.clear()
    this.app?.close()
  }

  private routes(app: TemplatedApp): TemplatedApp {
    return app
      .post('/streams/:source/events', (res, req) => this.events(res, req))
      .ws<SocketData>('/streams/:source/ws', {
        // The hard cap: uWebSockets.js drops the connection of a longer message at its frame
        // header; one up to it reaches message() and, over maxRequestBytes, gets an error ack.
        maxPayloadLength: this.settings.maxWebSocketMessageBytes,
        idleTimeout: 120,
        // A client that does not read its acks is disconnected at 1 MiB of them, rather than
        // having acks dropped (uWebSockets.js's default) or buffered without bound.
        maxBackpressure: 1024 * 1024,
        closeOnBackpressureLimit: 1,
        upgrade: (res, req, context) => this.guard.http(WS_ROUTE, res, () => this.upgrade(res, req, context)),
        open: (ws) =>
          this.guard.ws(WS_ROUTE, ws, () => {
            this.sockets.add(ws)
            this.guard.point('ws.open')
          }),
        message: (ws, message) => this.message(ws, message),
        close: (ws, code, reason) =>
          this.guard.ws(WS_ROUTE, ws, () => {
            ws.getUserData().closed = true
            this.sockets.delete(ws)
            this.guard.point('ws.close')
            if (code === 1006 && Buffer.from(reason).toString() === UWS_TOO_BIG) {
              this.reject(gatewayError('REQUEST_TOO_LARGE', 'a WebSocket message over the hard cap'))
              this.logger.warn('a WebSocket message over the hard cap closed its connection', {
                maxWebSocketMessageBytes: this.settings.maxWebSocketMessageBytes,
              })
            }
          }),
      })
      .get('/healthz', (res) =>
        this.guard.http('GET /healthz', res, () => {
          this.guard.point('healthz')
          this.send(res, 'http', { status: 200, body: { status: 'ok' } }, false)
        }),
      )
      .get('/readyz', (res) => this.guard.http('GET /readyz', res, () => this.ready(res)))
      .get('/metrics', (res) => this.guard.http('GET /metrics', res, () => this.scrape(res)))
      .get('/admin/limits', (res, req) =>
        this.guard.http('GET /admin/limits', res, () => this.admin(res, req, false)),
      )
      .put('/admin/limits', (res, req) =>
        this.guard.http('PUT /admin/limits', res, () => this.admin(res, req, true)),
      )
      .any('/*', (res, req) =>
        this.guard.http('* /*', res, () => {
          this.guard.point('not-found')
          this.send(
            res,
            'http',
            fail(
              gatewayError(
                'NOT_FOUND',
                `no route ${req.getMethod().toUpperCase()} ${req.getUrl()}: events go to POST /streams/SOURCE/events or the WebSocket /streams/SOURCE/ws`,
              ),
            ),
            false,
          )
        }),
      )
  }

  // --- HTTP events ---------------------------------------------------------------------------

  private events(res: HttpResponse, req: HttpRequest): void {
    const state = { done: false, aborted: false, reserved: 0 }
    this.begin()
    const finish = (outcome: Outcome, started: number | null, closeConnection: boolean) => {
      if (state.done) return
      state.done = true
      try {
        this.release(state.reserved)
        state.reserved = 0
        if (!state.aborted) this.send(res, 'http', outcome, closeConnection || this.draining)
        if (started !== null) this.series.ackSeconds('http').observe((performance.now() - started) / 1000)
      } finally {
        this.end()
      }
    }
    // A handler error ends the request as a 500 (handler-guard.ts), its bytes and count given back.
    const failed = () => finish(fail(this.reject(INTERNAL_ERROR)), null, true)
    this.guard.http(EVENTS_ROUTE, res, () => this.receiveEvents(res, req, state, finish), failed)
  }

  /** The body of events(): reads the request, then validates and appends its events. */
  private receiveEvents(
    res: HttpResponse,
    req: HttpRequest,
    state: { done: boolean; aborted: boolean; reserved: number },
    finish: (outcome: Outcome, started: number | null, closeConnection: boolean) => void,
  ): void {
    res.onAborted(() => {
      state.aborted = true
      this.guard.http(EVENTS_ROUTE, res, () => finish({ status: 499, body: null }, null, true))
    })
    const source = decodeSegment(req.getParameter(0) ?? '')
    const contentType = req.getHeader('content-type')
    const declared = req.getHeader('content-length')
    const apiKey = req.getHeader('x-api-key')
    const context = requestContext(req)
    // The ce-* headers matter only in binary mode, which ce-specversion announces: only then is
    // every header handed over (one call into JavaScript each).
    let ce: Readonly<Record<string, string>> = NO_HEADERS
    if (req.getHeader('ce-specversion') !== '') {
      const found: Record<string, string> = {}
      req.forEach((name, value) => {
        if (name.startsWith('ce-')) found[name.slice(3)] = value
      })
      ce = found
    }
    this.guard.point('events')
    if (this.draining) {
      finish(fail(draining()), null, true)
      return
    }
    const stream = this.streams.get(source)
    if (stream === undefined) {
      finish(fail(this.unknownStream(source)), null, true)
      return
    }
    const length = /^\d+$/.test(declared) ? Number(declared) : 0
    if (length > this.settings.maxRequestBytes) {
      finish(fail(this.tooLarge(length)), null, true)
      return
    }
    if (!this.reserve(length)) {
      finish(fail(this.overloaded()), null, true)
      return
    }
    state.reserved = length
    const chunks: Buffer[] = []
    let received = 0
    const failed = () => finish(fail(this.reject(INTERNAL_ERROR)), null, true)
    res.onData((chunk, isLast) =>
      this.guard.http(
        EVENTS_ROUTE,
        res,
        () => {
          if (state.done) return
          const bytes = Buffer.from(new Uint8Array(chunk))
          received += bytes.length
          if (received > this.settings.maxRequestBytes) {
            finish(fail(this.tooLarge(received)), null, true)
            return
          }
          if (received > state.reserved) {
            if (!this.reserve(received - state.reserved)) {
              finish(fail(this.overloaded()), null, true)
              return
            }
            state.reserved = received
          }
          chunks.push(bytes)
          if (!isLast) return
          this.guard.point('events.data')
          this.series.bytes('http').inc(received)
          const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
          const started = performance.now()
          const ingested = this.ingestBody(stream, contentType, body, ce, apiKey, context)
          if (!(ingested instanceof Promise)) {
            finish(fail(this.reject(ingested)), started, false)
            return
          }
          // Both callbacks guarded: an error answering is a handler error too, not an unhandled
          // rejection (which ends the node); guarded here rather than by a .catch, one promise less.
          ingested.then(
            (outcome) =>
              this.guard.http(
                EVENTS_ROUTE,
                res,
                () => {
                  this.guard.point('events.answer')
                  finish(outcome, started, false)
                },
                failed,
              ),
            // ingest answers a failed append itself (APPEND_FAILED, LOG_UNAVAILABLE); what rejects
            // here is a bug (in validation, record building or answering): a handler error, 500
            // INTERNAL_ERROR, not an unhandled rejection (which ends the node).
            this.guard.httpFailure(EVENTS_ROUTE, res, failed),
          )
        },
        failed,
      ),
    )
  }

  /**
   * Validates, rate-limits and appends the events of an HTTP request's body; or the error that
   * refuses the whole body (it cannot be read).
   */
  private ingestBody(
    stream: IngestStream,
    contentType: string,
    body: Buffer,
    ce: Readonly<Record<string, string>>,
    apiKey: string,
    context: RequestContext,
  ): Promise<Outcome> | GatewayError {
    this.guard.point('validate')
    // One JSON object, for a stream whose decoders read bytes: judged without JSON.parse of the
    // body (single-event.ts). An event they refuse is judged again below, as it always was.
    if (readsFromBytes(stream)) {
      const event = unparsedSingleEvent(contentType, body, ce)
      if (event !== null) {
        const checked = toRecord(stream, event, context, this.settings.maxEventBytes)
        if (!('error' in checked)) return this.appendOne(stream, checked.record, apiKey)
      }
    }
    // A JSON array or NDJSON batch whose events all pass: judged from its bytes (batch-bytes.ts).
    const valid = validBatchRecords(stream, contentType, body, ce, context, this.settings.maxEventBytes)
    if (valid !== null) return this.appendBatch(stream, valid, apiKey)
    const parsed = parseBody(contentType, body, ce)
    if ('error' in parsed) return parsed.error
    return this.ingest(stream, parsed.items, parsed.batch, apiKey, context)
  }

  /**
   * Validates, rate-limits and appends a request's or message's events. A failed append is an
   * answer (APPEND_FAILED, LOG_UNAVAILABLE); any other error (a bug in validation, record building
   * or the answer) rejects, never throws, for the caller's guard to answer as INTERNAL_ERROR
   * (issue 16).
   */
  private ingest(
    stream: IngestStream,
    items: readonly IncomingItem[],
    batch: boolean,
    apiKey: string,
    context: RequestContext,
  ): Promise<Outcome> {
    try {
      this.guard.point('validate')
      if (!batch && items.length === 1) return this.ingestOne(stream, items[0]!, apiKey, context)
      return this.ingestMany(stream, items, batch, apiKey, context)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * ingest() of a single event answered on its own (a single-event POST, the commonest request):
   * the same checks, counts and answer as ingestMany gives it, without the per-event arrays, the
   * async frame and the call to submit with no records for an invalid event.
   */
  private ingestOne(
    stream: IngestStream,
    item: IncomingItem,
    apiKey: string,
    context: RequestContext,
  ): Promise<Outcome> {
    const checked = 'error' in item ? item : toRecord(stream, item, context, this.settings.maxEventBytes)
    if ('error' in checked) {
      this.series.events(stream.name, 'rejected').inc()
      const error = this.reject(checked.error)
      return Promise.resolve({ status: statusOf(error), body: error })
    }
    return this.appendOne(stream, checked.record, apiKey)
  }

  /**
   * Rate-limits and appends one valid event answered on its own; counts it. Only the append's own
   * failure is APPEND_FAILED (the second callback): an error in the first rejects (see ingest).
   */
  private appendOne(stream: IngestStream, record: OutgoingRecord, apiKey: string): Promise<Outcome> {
    return this.backend.submit(stream.topic, stream.name, apiKey, [record]).then(
      (submitted) => {
        if ('rateLimited' in submitted) return this.rateLimited(stream, 1, submitted.rateLimited)
        const results = submitted.results
        const refused = results.refused.get(0)
        if (refused !== undefined) {
          this.series.events(stream.name, 'rejected').inc()
          const error = this.reject(gatewayError('LOG_REFUSED', `the log refused the event: ${refused}`))
          return { status: statusOf(error), body: error }
        }
        this.series.events(stream.name, 'accepted').inc()
        return { status: 200, body: { partition: results.partitions[0]!, offset: results.offsets[0]! } }
      },
      (error: unknown) => fail(this.appendFailure(error)),
    )
  }

  /**
   * Rate-limits and appends a batch whose every event passed already (batch-bytes.ts), answered
   * and counted as ingestMany answers such a batch. Like ingest, rejects rather than throws.
   */
  private appendBatch(stream: IngestStream, records: OutgoingRecord[], apiKey: string): Promise<Outcome> {
    let submitted: Promise<Submission>
    try {
      this.guard.point('validate')
    } catch (error) {
      return Promise.reject(error)
    }
    try {
      submitted = this.backend.submit(stream.topic, stream.name, apiKey, records)
    } catch (error) {
      return Promise.resolve(fail(this.appendFailure(error)))
    }
    return submitted.then(
      (submission) => {
        if ('rateLimited' in submission)
          return this.rateLimited(stream, records.length, submission.rateLimited)
        // The answer reads the positions where the appender put them: nothing per event here.
        const results = submission.results
        const errors = new Map<number, GatewayError>()
        for (const [i, reason] of results.refused)
          errors.set(i, this.reject(gatewayError('LOG_REFUSED', `the log refused the event: ${reason}`)))
        const rejected = errors.size
        const accepted = records.length - rejected
        if (accepted > 0) this.series.events(stream.name, 'accepted').inc(accepted)
        if (rejected > 0) this.series.events(stream.name, 'rejected').inc(rejected)
        return {
          status: rejected === 0 ? 200 : 207,
          body: new BatchAnswer(accepted, rejected, results, errors),
        }
      },
      (error: unknown) => fail(this.appendFailure(error)),
    )
  }

  /** The answer to a request of `count` events the rate limits refused whole. */
  private rateLimited(
    stream: IngestStream,
    count: number,
    refusal: { readonly message: string; readonly retryAfterMs: number },
  ): Outcome {
    this.series.events(stream.name, 'rejected').inc(count)
    const { message, retryAfterMs } = refusal
    return fail(this.reject(gatewayError('RATE_LIMITED', message, { retryAfterMs }), 1))
  }

  private async ingestMany(
    stream: IngestStream,
    items: readonly IncomingItem[],
    batch: boolean,
    apiKey: string,
    context: RequestContext,
  ): Promise<Outcome> {
    // Filled in the loop below, every index (Array.prototype.fill is a slow builtin call here).
    const errors: (GatewayError | null)[] = new Array(items.length)
    const records: OutgoingRecord[] = []
    const indexes: number[] = []
    // One headers object for every record of the request whose event brings none of its own.
    const shared = items.length > 1 ? recordHeaders(stream, context) : undefined
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      const checked =
        'error' in item ? item : toRecord(stream, item, context, this.settings.maxEventBytes, shared)
      if ('error' in checked) errors[i] = checked.error
      else {
        errors[i] = null
        records.push(checked.record)
        indexes.push(i)
      }
    }
    // Only the append's own failure is APPEND_FAILED: nothing else may be caught here.
    let submitted: Submission
    try {
      submitted = await this.backend.submit(stream.topic, stream.name, apiKey, records)
    } catch (error) {
      return fail(this.appendFailure(error))
    }
    if ('rateLimited' in submitted) return this.rateLimited(stream, items.length, submitted.rateLimited)
    const appended = submitted.results
    const entries: (Position | GatewayError)[] = new Array(items.length)
    let accepted = 0
    for (let r = 0; r < indexes.length; r++) {
      const result = appended.at(r)
      if ('refused' in result)
        errors[indexes[r]!] = gatewayError('LOG_REFUSED', `the log refused the event: ${result.refused}`)
      else {
        entries[indexes[r]!] = result
        accepted++
      }
    }
    for (let i = 0; i < items.length; i++) {
      const error = errors[i]
      if (error) entries[i] = this.reject(error)
    }
    const rejected = items.length - accepted
    if (accepted > 0) this.series.events(stream.name, 'accepted').inc(accepted)
    if (rejected > 0) this.series.events(stream.name, 'rejected').inc(rejected)
    if (!batch) {
      const error = errors[0]
      if (error) return { status: statusOf(error), body: error }
      const { partition, offset } = entries[0] as Position
      return { status: 200, body: { partition, offset } }
    }
    return { status: rejected === 0 ? 200 : 207, body: BatchAnswer.fromEntries(entries) }
  }

  /**
   * For transports beside HTTP and WebSocket (gRPC: grpc.ts): validates, rate-limits and appends
   * a batch of `bytes` bytes with the same bounds, counting it under `protocol`. Always a batch
   * answer (per-event results) unless the whole batch is refused.
   */
  async publish(
    protocol: Protocol,
    streamName: string,
    items: readonly IncomingItem[],
    bytes: number,
    apiKey: string,
    context: RequestContext,
  ): Promise<Outcome> {
    const started = performance.now()
    this.series.bytes(protocol).inc(bytes)
    let outcome: Outcome
    try {
      outcome = await this.publishCounted(streamName, items, bytes, apiKey, context)
    } catch (error) {
      // A bug, not a refusal: the caller's guard answers it (handlerFailed); counted as its 500.
      this.series.requests(protocol, statusOf(INTERNAL_ERROR)).inc()
      throw error
    }
    this.series.requests(protocol, outcome.status).inc()
    this.series.ackSeconds(protocol).observe((performance.now() - started) / 1000)
    return outcome
  }

  private async publishCounted(
    streamName: string,
    items: readonly IncomingItem[],
    bytes: number,
    apiKey: string,
    context: RequestContext,
  ): Promise<Outcome> {
    if (this.draining) return fail(draining())
    const stream = this.streams.get(streamName)
    if (stream === undefined) return fail(this.unknownStream(streamName))
    if (bytes > this.settings.maxRequestBytes) return fail(this.tooLarge(bytes))
    if (!this.reserve(bytes)) return fail(this.overloaded())
    this.begin()
    try {
      // A failed append is an outcome of ingest; what it throws is a bug, for grpc.ts's guard.
      return await this.ingest(stream, items, true, apiKey, context)
    } finally {
      this.release(bytes)
      this.end()
    }
  }

  /**
   * For transports beside µWebSockets.js (grpc.ts): a handler error of `route`, logged and counted
   * as the guard does for HTTP and WebSocket (handler-guard.ts). Returns the refusal to answer
   * with, INTERNAL_ERROR (counted): nothing of the call is acknowledged. Never throws.
   */
  handlerFailed(route: string, error: unknown): GatewayError {
    this.guard.report(route, error)
    try {
      return this.reject(INTERNAL_ERROR)
    } catch {
      return INTERNAL_ERROR
    }
  }

  /** Test seam for transports beside µWebSockets.js: throws where GatewayOptions.faults asks at `point`. */
  faultPoint(point: FaultPoint): void {
    this.guard.point(point)
  }

  /** Whether the gateway has begun to drain (transports beside it refuse new calls then). */
  get isDraining(): boolean {
    return this.draining
  }

  // --- WebSocket ---------------------------------------------------------------------------------

  private upgrade(res: HttpResponse, req: HttpRequest, context: unknown): void {
    const source = decodeSegment(req.getParameter(0) ?? '')
    const key = req.getHeader('sec-websocket-key')
    const protocol = req.getHeader('sec-websocket-protocol')
    const extensions = req.getHeader('sec-websocket-extensions')
    const data: SocketData = {
      stream: this.streams.get(source)!,
      apiKey: req.getHeader('x-api-key'),
      context: requestContext(req),
      seq: 0,
      closed: false,
    }
    this.guard.point('ws.upgrade')
    if (this.draining) {
      this.send(res, 'websocket', fail(draining()), true)
      return
    }
    if (data.stream === undefined) {
      this.send(res, 'websocket', fail(this.unknownStream(source)), true)
      return
    }
    res.upgrade(data, key, protocol, extensions, context as us_socket_context_t)
  }

  private message(ws: WebSocket<SocketData>, received: ArrayBuffer): void {
    const data = ws.getUserData()
    const seq = ++data.seq
    const started = performance.now()
    const held = { bytes: 0, active: false }
    // A handler error closes the connection with 1011 (handler-guard.ts); this message's bytes and
    // count are given back, and it is never acknowledged (its client sees the close).
    const failed = () => {
      this.release(held.bytes)
      held.bytes = 0
      if (held.active) {
        held.active = false
        this.end()
      }
      this.reject(INTERNAL_ERROR)
      this.series.requests('websocket', statusOf(INTERNAL_ERROR)).inc()
    }
    const ack = (outcome: Outcome) => {
      this.series.requests('websocket', outcome.status).inc()
      this.series.ackSeconds('websocket').observe((performance.now() - started) / 1000)
      if (data.closed) return
      const body = outcome.body
      const text =
        body instanceof BatchAnswer ? body.bytes(seq) : JSON.stringify({ seq, ...(body as object) })
      ws.cork(() => ws.send(text, false))
    }
    const done = (outcome: Outcome) => {
      this.release(held.bytes)
      held.bytes = 0
      if (held.active) {
        held.active = false
        this.end()
      }
      ack(outcome)
    }
    this.guard.ws(
      WS_ROUTE,
      ws,
      () => {
        this.guard.point('ws.message')
        this.series.bytes('websocket').inc(received.byteLength)
        if (this.draining) {
          ack(fail(draining()))
          return
        }
        // Over the limit but under the hard cap: refused whole (not copied), the connection kept.
        if (received.byteLength > this.settings.maxRequestBytes) {
          ack(fail(this.tooLarge(received.byteLength, 'message')))
          return
        }
        // uWebSockets.js reuses the ArrayBuffer after this call returns: copy it.
        const message = Buffer.from(new Uint8Array(received))
        if (!this.reserve(message.length)) {
          ack(fail(this.overloaded()))
          return
        }
        held.bytes = message.length
        this.begin()
        held.active = true
        // A batch whose events all pass is judged from its bytes, without JSON.parse of the
        // message (batch-bytes.ts); any other message goes the ordinary way below.
        const valid = validBatchRecords(
          data.stream,
          'application/json',
          message,
          NO_HEADERS,
          data.context,
          this.settings.maxEventBytes,
        )
        let ingested: Promise<Outcome>
        if (valid !== null) ingested = this.appendBatch(data.stream, valid, data.apiKey)
        else {
          const parsed = parseBody('application/json', message, {})
          if ('error' in parsed) {
            done(fail(this.reject(parsed.error)))
            return
          }
          ingested = this.ingest(data.stream, parsed.items, true, data.apiKey, data.context)
        }
        ingested
          .then((outcome) => {
            this.guard.point('ws.ack')
            done(outcome)
          })
          // A failed append is an outcome of ingest; an error in it otherwise (validation) or
          // acknowledging is a handler error, not an unhandled rejection (which ends the node).
          .catch(this.guard.wsFailure(WS_ROUTE, ws, failed))
      },
      failed,
    )
  }

  // --- operations --------------------------------------------------------------------------------

  private ready(res: HttpResponse): void {
    const state = { aborted: false }
    res.onAborted(() => {
      state.aborted = true
    })
    const answer = (ready: boolean, reason?: string) => {
      if (state.aborted) return
      this.send(
        res,
        'http',
        { status: ready ? 200 : 503, body: ready ? { status: 'ready' } : { status: 'unavailable', reason } },
        false,
      )
    }
    this.guard.point('readyz')
    if (this.draining) {
      answer(false, 'draining')
      return
    }
    this.backend
      .ready()
      .then(
        (problem) => answer(problem === null, problem ?? undefined),
        (error: unknown) => answer(false, `the log is unreachable: ${String(error)}`),
      )
      .catch(this.guard.httpFailure('GET /readyz', res))
  }

  private scrape(res: HttpResponse): void {
    const state = { aborted: false }
    res.onAborted(() => {
      state.aborted = true
    })
    this.guard.point('metrics')
    this.backend
      .renderMetrics()
      .then(
        (text) => {
          if (state.aborted) return
          res.cork(() => {
            res
              .writeStatus('200 OK')
              .writeHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8')
              .end(text)
          })
        },
        (error: unknown) => {
          if (!state.aborted)
            this.send(
              res,
              'http',
              { status: 500, body: { error_code: 'APPEND_FAILED', message: String(error) } },
              false,
            )
        },
      )
      .catch(this.guard.httpFailure('GET /metrics', res))
  }

  private admin(res: HttpResponse, req: HttpRequest, write: boolean): void {
    const authorization = req.getHeader('authorization')
    const state = { aborted: false, done: false }
    res.onAborted(() => {
      state.aborted = true
    })
    const answer = (outcome: Outcome, close = false) => {
      if (state.aborted || state.done) return
      state.done = true
      this.send(res, 'http', outcome, close)
    }
    const route = write ? 'PUT /admin/limits' : 'GET /admin/limits'
    this.guard.point('admin')
    const token = this.adminToken
    if (token !== undefined && authorization !== `Bearer ${token}`) {
      answer(
        fail(
          this.reject(
            gatewayError('UNAUTHORIZED', 'the admin endpoint needs Authorization: Bearer <admin token>'),
          ),
        ),
        true,
      )
      return
    }
    if (!write) {
      this.backend
        .limits()
        .then(
          (limits) => answer({ status: 200, body: limits }),
          (error: unknown) => answer(fail(gatewayError('APPEND_FAILED', String(error)))),
        )
        .catch(this.guard.httpFailure(route, res))
      return
    }
    const chunks: Buffer[] = []
    let received = 0
    res.onData((chunk, isLast) =>
      this.guard.http(route, res, () => {
        if (state.done) return
        received += chunk.byteLength
        if (received > ADMIN_BODY_BYTES) {
          answer(fail(this.tooLarge(received)), true)
          return
        }
        chunks.push(Buffer.from(new Uint8Array(chunk)))
        if (!isLast) return
        this.guard.point('admin.data')
        let limits: RateLimits
        try {
          limits = validateLimits(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        } catch (error) {
          answer(
            fail(
              this.reject(
                gatewayError('INVALID_LIMITS', error instanceof Error ? error.message : String(error)),
              ),
            ),
          )
          return
        }
        this.backend
          .setLimits(limits)
          .then(
            (current) => answer({ status: 200, body: current }),
            (error: unknown) => answer(fail(gatewayError('APPEND_FAILED', String(error)))),
          )
          .catch(this.guard.httpFailure(route, res))
      }),
    )
  }

  // --- helpers -----------------------------------------------------------------------------------

  private send(res: HttpResponse, protocol: Protocol, outcome: Outcome, closeConnection: boolean): void {
    // The body first: an error making it must come before anything is written, since the first
    // header commits the status, and the guard's 500 (handler-guard.ts) must not go out as a 200.
    const body = outcome.body
    const text = body instanceof BatchAnswer ? body.bytes() : JSON.stringify(body)
    this.series.requests(protocol, outcome.status).inc()
    res.cork(() => {
      // µWebSockets.js answers 200 OK unless told otherwise: one call into it less per accepted request.
      if (outcome.status !== 200) res.writeStatus(statusLine(outcome.status))
      if (outcome.retryAfterMs !== undefined)
        res.writeHeader('retry-after', String(Math.max(1, Math.ceil(outcome.retryAfterMs / 1000))))
      res.writeHeader('content-type', 'application/json').end(text, closeConnection)
    })
  }

  private reserve(bytes: number): boolean {
    return this.budget.reserve(bytes)
  }

  private release(bytes: number): void {
    this.budget.release(bytes)
  }

  private begin(): void {
    this.active++
  }

  private end(): void {
    this.active--
    if (this.active === 0) for (const wake of this.activeWaiters.splice(0)) wake()
  }

  /** Counts a refusal by its code; returns it. */
  private reject(error: GatewayError, count = 1): GatewayError {
    this.metrics.rejections.labels({ reason: error.error_code }).inc(count)
    return error
  }

  private unknownStream(source: string): GatewayError {
    const known = [...this.streams.keys()]
    return this.reject(
      gatewayError(
        'UNKNOWN_STREAM',
        `no stream ${JSON.stringify(source)}: the deployed artifacts' sources are ${known.join(', ') || 'none'}`,
      ),
    )
  }

  private tooLarge(bytes: number, what: 'request' | 'message' = 'request'): GatewayError {
    return this.reject(
      gatewayError(
        'REQUEST_TOO_LARGE',
        `the ${what} has ${bytes} bytes or more; at most ${this.settings.maxRequestBytes} are accepted`,
        {
          rule: `at most ${this.settings.maxRequestBytes} bytes`,
        },
      ),
    )
  }

  private overloaded(): GatewayError {
    return this.reject(
      gatewayError(
        'OVERLOADED',
        `the gateway holds ${this.settings.maxInFlightBytes} bytes of requests in flight at most and is full: try again later`,
        {
          retryAfterMs: OVERLOAD_RETRY_MS,
        },
      ),
    )
  }

  private appendFailure(error: unknown): GatewayError {
    const retryable = error instanceof SluiceError && error.retryable
    if (!retryable) this.logger.error('append failed', { error: String(error) })
    return this.reject(
      retryable
        ? gatewayError('LOG_UNAVAILABLE', `the log did not take the events: ${(error as Error).message}`, {
            retryAfterMs: OVERLOAD_RETRY_MS,
          })
        : gatewayError(
            'APPEND_FAILED',
            `the log refused the append: ${error instanceof Error ? error.message : String(error)}`,
          ),
    )
  }
}

/** The options' settings with their defaults, checked. */
function gatewaySettings(options: GatewayOptions): GatewaySettings {
  const maxRequestBytes = options.maxRequestBytes ?? GATEWAY_DEFAULTS.maxRequestBytes
  const settings: GatewaySettings = {
    host: options.host ?? GATEWAY_DEFAULTS.host,
    maxRequestBytes,
    maxWebSocketMessageBytes: options.maxWebSocketMessageBytes ?? WS_HARD_CAP_FACTOR * maxRequestBytes,
    maxEventBytes: options.maxEventBytes ?? GATEWAY_DEFAULTS.maxEventBytes,
    maxInFlightBytes: options.maxInFlightBytes ?? GATEWAY_DEFAULTS.maxInFlightBytes,
    appendTimeoutMs: options.appendTimeoutMs ?? GATEWAY_DEFAULTS.appendTimeoutMs,
    readyTimeoutMs: options.readyTimeoutMs ?? GATEWAY_DEFAULTS.readyTimeoutMs,
  }
  for (const name of [
    'maxRequestBytes',
    'maxWebSocketMessageBytes',
    'maxEventBytes',
    'maxInFlightBytes',
    'appendTimeoutMs',
    'readyTimeoutMs',
  ] as const) {
    const value = settings[name]
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new SluiceError('CONFIG_INVALID', `gateway ${name} must be a positive integer, got ${value}`)
    }
  }
  if (settings.maxWebSocketMessageBytes < maxRequestBytes) {
    throw new SluiceError(
      'CONFIG_INVALID',
      `gateway maxWebSocketMessageBytes (${settings.maxWebSocketMessageBytes}) must be at least maxRequestBytes (${maxRequestBytes})`,
    )
  }
  return settings
}

function fail(error: GatewayError): Outcome {
  return {
    status: statusOf(error),
    body: error,
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
  }
}

function draining(): GatewayError {
  // Also answered by one gateway thread that is stopping while the others go on (a restart).
  return gatewayError(
    'DRAINING',
    'this gateway is stopping (the node shutting down, or one of its threads restarting): try again, or send to another node',
    {
      retryAfterMs: OVERLOAD_RETRY_MS,
    },
  )
}

function requestContext(req: HttpRequest): RequestContext {
  const traceparent = req.getHeader('traceparent')
  const tracestate = req.getHeader('tracestate')
  const tenant = req.getHeader('x-sluice-tenant')
  // Most requests carry none: they share one context (and so their records one headers object).
  if (traceparent === '' && tracestate === '' && tenant === '') return NO_CONTEXT
  return {
    ...(traceparent === '' ? {} : { traceparent }),
    ...(tracestate === '' ? {} : { tracestate }),
    ...(tenant === '' ? {} : { tenant }),
  }
}

function decodeSegment(segment: string): string {
  // Nothing to decode without an escape: skips decodeURIComponent (and its try) for most names.
  if (!segment.includes('%')) return segment
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}
