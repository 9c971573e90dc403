/**
 * A gateway worker thread (started by worker-pool.ts): loads the deployed artifacts again to build
 * the same streams and generated decoders, then serves HTTP and WebSocket on the node's port,
 * which every worker listens on (SO_REUSEPORT: the kernel spreads new connections over them).
 * Requests are parsed, validated and answered here; admission and appends go to the thread that
 * owns the log (remote-backend.ts).
 */
import { createRequire } from 'node:module'
import { getHeapStatistics } from 'node:v8'
import { parentPort, workerData } from 'node:worker_threads'
import { loadArtifact } from '../artifact/load.ts'
import { SluiceError } from '../errors.ts'
import type { Logger } from '../observability/logger.ts'
import { Gateway, type GatewaySettings } from './gateway.ts'
import { MetricsRelay } from './gateway-metrics.ts'
import type { FaultPoint } from './handler-guard.ts'
import { SharedBudget } from './in-flight.ts'
import { seeFd } from './loop-sockets.ts'
import { RemoteBackend } from './remote-backend.ts'
import type { SocketTeardownModule } from './socket-teardown.ts'
import { streamCatalog } from './streams.ts'
import { type MainMessage, STOPPED_EXIT_CODE, type WorkerMessage } from './thread-protocol.ts'

/** What the pool hands each worker. */
export interface WorkerSetup {
  readonly index: number
  readonly artifactDirs: readonly string[]
  readonly keyFields: Readonly<Record<string, string>>
  readonly settings: GatewaySettings
  readonly port: number
  readonly budget: SharedArrayBuffer
  /** The native hook that closes this thread's sockets if it is stopped from outside (socket-teardown.ts). */
  readonly socketTeardown: string | null
  /** The native hook that disconnects them first when V8 ends the thread at its heap limit (native/heap-limit.cc). */
  readonly heapLimitGuard: string | null
  /** Set to 1 by that hook when it ends the thread (one Int32), so the pool can say why it ended. */
  readonly heapLimitReached: SharedArrayBuffer
  readonly adminToken?: string
}

const port = parentPort!
const setup = workerData as WorkerSetup
// After µWebSockets.js (loaded by gateway.ts, imported above): Node runs clean-up hooks last
// registered first, so a thread stopped from outside closes its sockets before µWebSockets.js
// frees what they belong to.
const teardown =
  setup.socketTeardown === null
    ? null
    : (createRequire(import.meta.url)(setup.socketTeardown) as SocketTeardownModule)
if (setup.heapLimitGuard !== null)
  (createRequire(import.meta.url)(setup.heapLimitGuard) as { watch(flag: Int32Array): void }).watch(
    new Int32Array(setup.heapLimitReached),
  )
const post = (message: WorkerMessage) => port.postMessage(message)
/** A drain's own cut-off (abortWaiting, then the log's idle) may take a moment past its timeout. */
const STOP_DRAIN_MARGIN_MS = 500
/** This thread's gateway, once it serves. */
let serving: Gateway | undefined
/** A drill (wedgeWorker with `at`): the next handler reaching this fault point does not return. */
let wedgeAt: FaultPoint | undefined
/** A drill (exhaustWorkerAt): the next handler reaching this fault point allocates until the heap limit. */
let exhaustAt: FaultPoint | undefined
/** What the exhaust drill allocates (kept reachable, so the heap fills). */
const hoard: number[][] = []

/** The thread does not return to its event loop: until `until` (performance.now()), or for good. */
function wedge(until = Number.POSITIVE_INFINITY): void {
  // Asleep, not spinning: a stuck thread in a drill need not burn a core.
  while (performance.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
}

/**
 * An error nothing caught ends this thread, not the node: the pool starts a new worker
 * (worker-pool.ts). Left to Node, the thread would end with µWebSockets.js's sockets open, and
 * Node aborts the whole process on that (uv_loop_close with open handles), so they are closed
 * first; their clients see the connection close.
 */
function crash(error: unknown): void {
  post({
    t: 'log',
    level: 'error',
    msg: 'gateway worker thread crashed',
    fields: {
      worker: setup.index,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    },
  })
  serving?.closeNow()
  setImmediate(() => process.exit(1))
}
process.on('uncaughtException', crash)
process.on('unhandledRejection', crash)

/**
 * Ends this thread for the pool (WorkerPool.stop) while it may be busy. Only this thread may close
 * its µWebSockets.js sockets safely: a thread stopped from outside runs no JavaScript, and a
 * request µWebSockets.js reads then goes to a handler that cannot answer, which ends the process
 * (std::terminate). So it drains for at most `graceMs` (or closes at once when a drain is already
 * under way: that one did not end in time), closes whatever is left, and exits; the pool starts
 * it again. Nothing unanswered is acknowledged: a request cut off sees its connection close.
 */
function stop(gateway: Gateway, backend: RemoteBackend, graceMs: number): void {
  const already = gateway.isDraining
  let drainEnded = false
  const drained = already
    ? Promise.resolve()
    : gateway.drain(graceMs).then(() => {
        drainEnded = true
      })
  let timer: ReturnType<typeof setTimeout> | undefined
  void Promise.race([
    drained,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, already ? 0 : graceMs + STOP_DRAIN_MARGIN_MS)
    }),
  ]).then(() => {
    clearTimeout(timer)
    // A drain that ended closed the app itself; one that did not is cut off here.
    if (!drainEnded) gateway.closeNow()
    backend.close()
    // After the turn, as crash() does: the close of every socket has reached µWebSockets.js.
    setImmediate(() => process.exit(STOPPED_EXIT_CODE))
  })
}

/** Log records go to the owning thread's logger, with this worker's index. */
function relayLogger(fields: Record<string, unknown>): Logger {
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, extra?: Record<string, unknown>) =>
    post({ t: 'log', level, msg, fields: { ...fields, ...extra } })
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => relayLogger({ ...fields, ...more }),
  }
}

async function main(): Promise<void> {
  const artifacts = await Promise.all(setup.artifactDirs.map((dir) => loadArtifact(dir)))
  const streams = streamCatalog(artifacts, setup.keyFields)
  const relay = new MetricsRelay()
  const backend = new RemoteBackend(port, relay)
  const gateway = await Gateway.serveInWorker(
    {
      streams,
      settings: setup.settings,
      backend,
      metrics: relay.metrics,
      budget: new SharedBudget(setup.budget, setup.settings.maxInFlightBytes, setup.index),
      logger: relayLogger({ worker: setup.index }),
      ...(setup.adminToken === undefined ? {} : { adminToken: setup.adminToken }),
      faults: (point) => {
        if (point === wedgeAt) wedge()
        if (point === exhaustAt) for (;;) hoard.push(new Array(100_000).fill(1.5))
      },
    },
    setup.port,
  )
  serving = gateway
  port.on('message', (message: MainMessage) => {
    if (backend.handle(message)) return
    if (message.t === 'ping') {
      post({ t: 'pong' })
      return
    }
    if (message.t === 'wedge') {
      // A drill: the thread does not return to its event loop (for good: only a stop from outside
      // ends it; for forMs: it then reads the messages that waited, a stop among them), now or
      // inside a request handler.
      if (message.at !== undefined) wedgeAt = message.at
      else wedge(message.forMs === undefined ? undefined : performance.now() + message.forMs)
    }
    if (message.t === 'exhaust') exhaustAt = message.at
    if (message.t === 'crash') {
      setImmediate(() => {
        throw new Error(message.message)
      })
      return
    }
    if (message.t === 'stop') {
      stop(gateway, backend, message.graceMs)
      return
    }
    if (message.t === 'drain') {
      void gateway.drain(message.timeoutMs).then(() => {
        backend.close()
        post({ t: 'drained' })
        // Nothing holds the thread open now: it ends once this port closes.
        port.close()
      })
    }
  })
  // After the loop polled once: libuv adds a socket to its epoll set then, and the pool looks for
  // the listen socket there (loop-sockets.ts). (An immediate set now may run before that poll.)
  setImmediate(() =>
    setImmediate(() =>
      post({
        t: 'listening',
        poll: teardown === null ? null : seeFd(teardown.pollFd()),
        heapLimitBytes: getHeapStatistics().heap_size_limit,
      }),
    ),
  )
}

main().catch((error: unknown) => {
  post({
    t: 'failed',
    message: error instanceof Error ? error.message : String(error),
    code: error instanceof SluiceError ? error.code : null,
  })
  port.close()
})
