/**
 * The gateway's worker threads, seen from the thread that owns the log
 * (docs/decisions/0030-gateway-threads.md): starts them on one port, answers their calls with this
 * thread's LocalBackend (rate limits, group commit, readiness, metrics), applies the metric
 * increments they send, and drains them.
 *
 * The port: uWebSockets.js sets SO_REUSEPORT on a listening socket with a port given, so each worker
 * listens on the same one and the kernel spreads connections over them. This thread first checks
 * that the port is free (for port 0: picks one) with a socket that does not share (probePort).
 *
 * A worker that ends on its own (a crash, an uncaught error, crashWorker, V8's heap limit), is
 * stopped from outside (Worker.terminate(): terminateWorker) or stops answering pings (watch) is
 * started again after a back-off (doubling per crash in a row; a worker that served `stableMs`
 * starts the count again), counted in sluice_gateway_worker_restarts_total and logged; the bytes
 * it held of the shared in-flight budget are given back. While fewer workers listen than asked,
 * readiness fails (its /readyz is answered by the others). Submissions it had handed over are
 * still appended; their answers have no connection to go to (its clients saw the connection
 * close).
 *
 * A thread stopped from outside runs no JavaScript to close its µWebSockets.js sockets, and Node
 * aborts the process when a thread ends with them open; each worker therefore loads a native
 * clean-up hook that closes them (socket-teardown.ts). Without it (no C compiler), the pool says so
 * in its log and never stops a worker from outside itself. And a busy thread stopped from outside
 * could still end the process (a request read as it stops cannot be answered), so the pool first
 * asks a worker to stop itself (stop(): drain briefly, close, exit) and terminates only one that
 * does not, which is stuck; before that, this thread disconnects the worker's sockets from outside
 * (loop-sockets.ts), so that what µWebSockets.js reads in the thread after it is stopped is an
 * error, not a request whose handler cannot answer. A thread V8 ends at its heap limit does the
 * same to its own sockets first (native/heap-limit.cc).
 *
 * Connections the kernel queued on the listen socket of a worker that closes it (SO_REUSEPORT
 * keeps one accept queue per socket) would be reset; the pool attaches to the port's group a
 * program that migrates them to another worker's socket instead (loop-sockets.ts, migrateQueued).
 */
import { type AddressInfo, createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { SluiceError } from '../errors.ts'
import { type Backoff, backoffDelay } from '../log/retry.ts'
import type { Counter, MetricsRegistry } from '../metrics/registry.ts'
import type { Logger } from '../observability/logger.ts'
import type { LocalBackend } from './backend.ts'
import type { GatewaySettings } from './gateway.ts'
import { applyDeltas, type GatewayMetrics } from './gateway-metrics.ts'
import type { WorkerSetup } from './gateway-worker.ts'
import type { FaultPoint } from './handler-guard.ts'
import type { SharedBudget } from './in-flight.ts'
import { LoopSockets, type QueuedConnections, type SeenFd } from './loop-sockets.ts'
import { nativeAddon } from './native-addon.ts'
import type { RateLimits } from './rate-limit.ts'
import { type SocketTeardown, socketTeardown } from './socket-teardown.ts'
import {
  type MainMessage,
  replyOf,
  type SubmitReply,
  unpackSubmissions,
  type WorkerMessage,
} from './thread-protocol.ts'

const WORKER_FILE = new URL('./gateway-worker-boot.mjs', import.meta.url)

export interface WorkerPoolOptions {
  readonly count: number
  readonly artifactDirs: readonly string[]
  readonly keyFields: Readonly<Record<string, string>>
  readonly settings: GatewaySettings
  readonly port: number
  readonly budget: SharedBudget
  readonly backend: LocalBackend
  readonly metrics: GatewayMetrics
  readonly logger: Logger
  readonly adminToken?: string
  /** Where the pool registers its own metrics (restarts, workers listening). */
  readonly registry: MetricsRegistry
  /** Wait before starting a crashed worker again. Default 100 ms doubling up to 10 s. */
  readonly restartBackoff?: Backoff
  /** A worker that listened this long before it ended starts its crash count again. Default 30 s. */
  readonly stableMs?: number
  /**
   * A listening worker whose event loop has not answered a ping for this long is stopped from
   * outside (and so started again), where that is safe. Default 30 s: far above a GC pause or a
   * loaded machine's scheduling delays.
   */
  readonly livenessTimeoutMs?: number
  /**
   * Migrate the connections queued on a closing worker's listen socket to another worker (true,
   * the default, where the kernel allows it). false only to see what it prevents: they are reset.
   */
  readonly migrateQueuedConnections?: boolean
  /** The V8 heap limit of each worker thread (its old generation, MiB). Default: Node's, as for the process. */
  readonly maxHeapMb?: number
}

export const DEFAULT_RESTART_BACKOFF: Backoff = { initialMs: 100, maxMs: 10_000 }
const DEFAULT_STABLE_MS = 30_000
const DEFAULT_LIVENESS_TIMEOUT_MS = 30_000
/** How long past its drain timeout a worker may take to end before it is stopped (stop()). */
const DRAIN_GRACE_MS = 2000
/** How long a worker asked to stop may drain (answer what it holds) before it closes everything. */
const STOP_GRACE_MS = 1000
/** How long past its grace a worker asked to stop may take to end before it is terminated from outside. */
const STOP_TERMINATE_AFTER_MS = 2000
/** Between cutting a thread's sockets and terminating it: time for a busy one to finish the handlers it began. */
const TERMINATE_SETTLE_MS = 50

interface Thread {
  readonly index: number
  readonly worker: Worker
  readonly exited: Promise<void>
  /** Replies waiting for the end of this turn, sent together. */
  replies: SubmitReply[]
  scheduled: boolean
  /** performance.now() when it said it listens; undefined before. */
  listeningSince: number | undefined
  ended: boolean
  /** performance.now() of the ping not answered yet; undefined when none is out. */
  pingSentAt: number | undefined
  /** Asked to stop (stop()): it is not asked again, nor pinged. */
  stopping: boolean
  /** 1 once its thread reached its heap limit (native/heap-limit.cc). */
  readonly heapLimitReached: Int32Array
  /** Its loop's epoll set, where its sockets are (loop-sockets.ts); null until it listens, or without the hook. */
  poll: SeenFd | null
  /** Its V8 heap limit, as it said when it listened (0 before). */
  heapLimitBytes: number
}

export class WorkerPool {
  /** The current thread of each worker index. */
  private readonly threads: Thread[] = []
  private nextFlush = 1
  private readonly flushes = new Map<number, { left: number; resolve: () => void }>()
  private drained: Promise<void> | null = null
  /** Restarts begin once every worker listened the first time (a failed start fails the node). */
  private restarting = false
  /** Per worker index: crashes in a row, and the restart waiting for its back-off. */
  private readonly crashes: number[] = []
  private readonly pendingRestarts = new Map<number, ReturnType<typeof setTimeout>>()
  private readonly restarts: Counter
  private watchdog: ReturnType<typeof setInterval> | undefined
  /** How connections queued on a closing listen socket fare (migrateQueued); 'reset' until a worker listens. */
  private queued: QueuedConnections = 'reset'
  private warnedQueuedReset = false

  private constructor(
    private readonly options: WorkerPoolOptions,
    readonly port: number,
    private readonly teardown: SocketTeardown,
    private readonly sockets: LoopSockets | null,
    private readonly heapLimitGuard: string | null,
  ) {
    this.restarts = options.registry.counter(
      'sluice_gateway_worker_restarts_total',
      'Gateway worker threads started again after they ended on their own (crashed).',
    )
    options.registry.gauge(
      'sluice_gateway_worker_threads',
      'Gateway worker threads listening now; readiness fails while fewer than configured do.',
      { collect: () => [{ value: this.listening }] },
    )
    // What V8 applies, read in each thread: shows that maxHeapMb (serve --gateway-worker-heap-mb) took.
    options.registry.gauge(
      'sluice_gateway_worker_heap_limit_bytes',
      'V8 heap limit of each gateway worker thread listening (old generation plus young), as the thread reads it.',
      {
        collect: () =>
          this.threads
            .filter((thread) => thread.listeningSince !== undefined && !thread.ended)
            .map((thread) => ({ labels: { worker: String(thread.index) }, value: thread.heapLimitBytes })),
      },
    )
  }

  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const port = await probePort(options.settings.host, options.port)
    // Built together on a first start (the C++ one takes seconds), then cached.
    const [teardown, sockets, guard] = await Promise.all([
      socketTeardown(),
      LoopSockets.load(),
      nativeAddon('heap-limit.cc'),
    ])
    if ('unavailable' in teardown)
      options.logger.warn(
        'gateway worker threads cannot be stopped from outside safely: one that is (Worker.terminate, its heap limit) aborts the process',
        { reason: teardown.unavailable },
      )
    if ('unavailable' in sockets)
      options.logger.warn(
        'gateway worker threads: connections queued on a stopping worker are reset, and a stuck one stopped from outside may end the process',
        { reason: sockets.unavailable },
      )
    if ('unavailable' in guard)
      options.logger.warn(
        'gateway worker threads: one that reaches its heap limit under load may end the process',
        { reason: guard.unavailable },
      )
    const pool = new WorkerPool(
      options,
      port,
      teardown,
      'unavailable' in sockets ? null : sockets,
      'path' in guard ? guard.path : null,
    )
    const started = Array.from({ length: options.count }, (_, index) => pool.spawn(index))
    const outcomes = await Promise.allSettled(started)
    const failed = outcomes.find((outcome) => outcome.status === 'rejected')
    if (failed) {
      await pool.drain(1000)
      throw (failed as PromiseRejectedResult).reason
    }
    pool.restarting = true
    pool.watch()
    return pool
  }

  /**
   * Pings every listening worker; one that has not answered within the liveness timeout (its
   * thread is stuck: a runaway loop, a deadlock in native code) is stopped from outside, and its
   * exit starts it again as for a crash.
   */
  private watch(): void {
    const timeoutMs = this.options.livenessTimeoutMs ?? DEFAULT_LIVENESS_TIMEOUT_MS
    this.watchdog = setInterval(
      () => {
        const now = performance.now()
        for (const thread of this.threads) {
          if (thread.ended || thread.stopping || thread.listeningSince === undefined) continue
          if (thread.pingSentAt === undefined) {
            thread.pingSentAt = now
            this.post(thread, { t: 'ping' })
          } else if (now - thread.pingSentAt > timeoutMs) {
            this.options.logger.error('gateway worker thread unresponsive; stopping it', {
              worker: thread.index,
              unansweredForMs: Math.round(now - thread.pingSentAt),
              stoppable: this.stoppableFromOutside,
            })
            thread.pingSentAt = now
            // Asked first: a thread that turns again (a long pause, not a loop) ends itself safely;
            // one that does not is terminated, only where the clean-up hook is built (else it
            // would abort the process: it is left running).
            void this.stop(thread, STOP_GRACE_MS, 'unresponsive')
          }
        }
      },
      Math.max(25, timeoutMs / 4),
    )
    this.watchdog.unref()
  }

  /** Workers listening now (one asked to stop is not: it closes its listen socket first). */
  get listening(): number {
    return this.threads.filter(
      (thread) => thread.listeningSince !== undefined && !thread.ended && !thread.stopping,
    ).length
  }

  /** Readiness: the log's, and every worker asked for listening. */
  async ready(): Promise<string | null> {
    const listening = this.listening
    if (listening < this.options.count)
      return `${listening} of ${this.options.count} gateway worker threads are listening (the others are starting again)`
    return this.options.backend.ready()
  }

  /**
   * Makes worker `index` crash (it throws an error nothing catches; the pool starts it again after
   * its back-off): for drills and tests of the restart. Resolves when it has ended. Its sockets
   * close as it crashes (gateway-worker.ts); terminateWorker is the drill of a thread that dies
   * without a word.
   */
  async crashWorker(index: number): Promise<void> {
    const thread = this.threads[index]
    if (thread === undefined) throw new RangeError(`no gateway worker ${index}`)
    this.post(thread, { t: 'crash', message: `crash drill of gateway worker ${index}` })
    await thread.exited
  }

  /**
   * How connections the kernel queued on a worker's listen socket fare when it closes (a worker
   * stopping, crashing, stopped from outside): moved to another worker's, or reset.
   */
  get queuedConnections(): QueuedConnections {
    return this.queued
  }

  /** Whether a worker can be stopped from outside without aborting the process (socket-teardown.ts). */
  get stoppableFromOutside(): boolean {
    return 'path' in this.teardown
  }

  /**
   * Stops worker `index` from outside, as Worker.terminate() does: no JavaScript of it runs
   * again; its sockets are closed by the native clean-up hook, and the pool starts it again after
   * its back-off. For drills and tests of a worker that dies without a word. Resolves when it has
   * ended; refuses where the hook could not be built (the process would abort).
   */
  async terminateWorker(index: number): Promise<void> {
    const thread = this.threads[index]
    if (thread === undefined) throw new RangeError(`no gateway worker ${index}`)
    if (!this.stoppableFromOutside)
      throw new SluiceError(
        'CONFIG_INVALID',
        'gateway workers cannot be stopped from outside here: the socket clean-up hook is not built',
      )
    await this.terminate(thread)
    await thread.exited
  }

  /**
   * Worker.terminate(), its sockets disconnected first where the native part is built: µWebSockets.js
   * in the thread then reads errors (it closes those sockets; their clients see a reset), not
   * requests whose handlers could not answer once the thread stops (which would end the process).
   * A handler the thread is stuck in must have attached onAborted already (every route that does
   * work does so first). Queued connections of its listen socket move to another worker's.
   */
  private async terminate(thread: Thread): Promise<void> {
    if (this.sockets !== null && thread.poll !== null && !thread.ended) {
      const cut = this.sockets.disconnectAll(thread.poll)
      this.options.logger.warn(
        'gateway worker thread sockets disconnected before it is stopped from outside',
        {
          worker: thread.index,
          ...cut,
        },
      )
      // A busy thread (not stuck) may be at the start of a handler it began before the cut, or
      // about to run one for bytes it had read already; stopped there, before the handler's
      // onAborted, µWebSockets.js ends the process (seen once in the unit suite under load). In
      // this pause it finishes them and then meets only errors on its sockets. A stuck thread is
      // stuck after its onAborted (abort-first.ts), so the pause costs it nothing but the time.
      await sleep(TERMINATE_SETTLE_MS)
    }
    await thread.worker.terminate()
  }

  /**
   * Stops worker `index` safely though it is busy, and the pool starts it again after its
   * back-off: it is asked to stop (stop()): it closes its listen socket at once, answers the
   * requests in hand once the log has them (up to `graceMs`), closes its connections and exits. Only
   * a worker that does not end so is terminated from outside. Resolves when it has ended.
   */
  async stopWorker(index: number, graceMs = STOP_GRACE_MS): Promise<void> {
    const thread = this.threads[index]
    if (thread === undefined) throw new RangeError(`no gateway worker ${index}`)
    await this.stop(thread, graceMs, 'asked')
  }

  /**
   * Ends a worker that may be busy. Worker.terminate() alone is not safe then: once a thread is
   * being stopped it runs no JavaScript, but its loop finishes the turn it is in, and a request
   * µWebSockets.js reads in that turn goes to a handler that cannot answer, on which µWebSockets.js
   * ends the whole process (std::terminate; decision 0030, addendum "a busy worker's stop"). So
   * the worker is asked to end itself (it closes its own sockets, which only its thread can do
   * safely), and only one that has not ended `STOP_TERMINATE_AFTER_MS` past its grace (its thread
   * is stuck, so it reads nothing either) is terminated from outside, where the clean-up hook
   * makes that possible. Resolves when it has ended.
   */
  private stop(thread: Thread, graceMs: number, reason: string): Promise<void> {
    if (thread.ended || thread.stopping) return thread.exited
    thread.stopping = true
    this.options.logger.warn('gateway worker thread stopping', { worker: thread.index, reason, graceMs })
    this.post(thread, { t: 'stop', graceMs })
    const overdue = setTimeout(() => {
      if (thread.ended || !this.stoppableFromOutside) return
      this.options.logger.warn('gateway worker thread did not stop; terminating it', { worker: thread.index })
      void this.terminate(thread)
    }, graceMs + STOP_TERMINATE_AFTER_MS)
    return thread.exited.finally(() => clearTimeout(overdue))
  }

  /**
   * Makes worker `index`'s thread not return to its event loop (it sleeps), for good or for
   * `forMs` (a long pause that ends): a drill for the liveness check.
   */
  wedgeWorker(index: number, forMs?: number): void {
    const thread = this.threads[index]
    if (thread === undefined) throw new RangeError(`no gateway worker ${index}`)
    this.post(thread, forMs === undefined ? { t: 'wedge' } : { t: 'wedge', forMs })
  }

  /**
   * Makes worker `index`'s thread stick, for good, inside the next request handler that reaches
   * fault point `at` (handler-guard.ts): a drill for a runaway handler, which only a stop from
   * outside ends.
   */
  wedgeWorkerAt(index: number, at: FaultPoint): void {
    const thread = this.threads[index]
    if (thread === undefined) throw new RangeError(`no gateway worker ${index}`)
    this.post(thread, { t: 'wedge', at })
  }

  /**
   * Makes the next request handler of worker `index` that reaches fault point `at` allocate without
   * end: a drill for a heap blow-up, which V8 ends at the thread's heap limit (maxHeapMb).
   */
  exhaustWorkerAt(index: number, at: FaultPoint): void {
    const thread = this.threads[index]
    if (thread === undefined) throw new RangeError(`no gateway worker ${index}`)
    this.post(thread, { t: 'exhaust', at })
  }

  /** A worker ended. Unless the pool drains (or is still starting), it starts again after a back-off. */
  private ended(thread: Thread, code: number): void {
    thread.ended = true
    const { index } = thread
    const released = this.options.budget.releaseHolder(index)
    if (!this.restarting || this.drained !== null || this.threads[index] !== thread) return
    const lived = thread.listeningSince === undefined ? 0 : performance.now() - thread.listeningSince
    const crashes = lived >= (this.options.stableMs ?? DEFAULT_STABLE_MS) ? 1 : (this.crashes[index] ?? 0) + 1
    this.crashes[index] = crashes
    const delayMs = Math.round(backoffDelay(crashes, this.options.restartBackoff ?? DEFAULT_RESTART_BACKOFF))
    this.options.logger.error('gateway worker thread ended; starting it again', {
      worker: index,
      exitCode: code,
      ...(Atomics.load(thread.heapLimitReached, 0) === 1 ? { reason: 'heap limit reached' } : {}),
      crashesInARow: crashes,
      restartInMs: delayMs,
      releasedInFlightBytes: released,
    })
    const timer = setTimeout(() => {
      this.pendingRestarts.delete(index)
      this.restart(index)
    }, delayMs)
    this.pendingRestarts.set(index, timer)
  }

  private restart(index: number): void {
    if (this.drained !== null) return
    this.restarts.inc()
    // A worker still starting is in `threads`: a drain meanwhile reaches it and waits for it.
    void this.spawn(index).then(
      () =>
        this.options.logger.info('gateway worker thread started again', {
          worker: index,
          restarts: this.restarts.total(),
        }),
      // Its exit schedules the next try (ended()).
      (error: unknown) =>
        this.options.logger.error('gateway worker thread failed to start again', {
          worker: index,
          error: String(error),
        }),
    )
  }

  private spawn(index: number): Promise<void> {
    const heapLimitReached = new Int32Array(new SharedArrayBuffer(4))
    const setup: WorkerSetup = {
      index,
      artifactDirs: this.options.artifactDirs,
      keyFields: this.options.keyFields,
      settings: this.options.settings,
      port: this.port,
      budget: this.options.budget.buffer,
      socketTeardown: 'path' in this.teardown ? this.teardown.path : null,
      heapLimitGuard: this.heapLimitGuard,
      heapLimitReached: heapLimitReached.buffer as SharedArrayBuffer,
      ...(this.options.adminToken === undefined ? {} : { adminToken: this.options.adminToken }),
    }
    const worker = new Worker(WORKER_FILE, {
      workerData: setup,
      ...(this.options.maxHeapMb === undefined
        ? {}
        : { resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMb } }),
    })
    const thread: Thread = {
      index,
      worker,
      exited: new Promise<void>((resolve) =>
        worker.once('exit', (code) => {
          this.ended(thread, code)
          resolve()
        }),
      ),
      replies: [],
      scheduled: false,
      listeningSince: undefined,
      ended: false,
      pingSentAt: undefined,
      stopping: false,
      heapLimitReached,
      poll: null,
      heapLimitBytes: 0,
    }
    // A worker that fails takes its connections with it; the others go on serving, and the pool
    // starts it again (ended()).
    worker.on('error', (error) =>
      this.options.logger.error('gateway worker thread failed', { worker: index, error: String(error) }),
    )
    this.threads[index] = thread
    return new Promise<void>((resolve, reject) => {
      worker.once('error', reject)
      worker.once('exit', (code) =>
        reject(
          new SluiceError('CONFIG_INVALID', `gateway worker ${index} exited (code ${code}) before listening`),
        ),
      )
      worker.on('message', (message: WorkerMessage) => {
        if (message.t === 'listening') {
          thread.listeningSince = performance.now()
          thread.poll = message.poll
          thread.heapLimitBytes = message.heapLimitBytes
          this.migrateQueued(thread)
          resolve()
        } else if (message.t === 'failed')
          reject(new SluiceError('CONFIG_INVALID', `gateway worker ${index}: ${message.message}`))
        else this.handle(thread, message)
      })
    })
  }

  /**
   * Has the port's SO_REUSEPORT group, which a worker that listens now belongs to, migrate the
   * connections queued on a listener that closes (the group keeps the program while any of its
   * sockets listens, so doing it for every worker that listens covers a group started anew).
   * Logged once when it cannot be done.
   */
  private migrateQueued(thread: Thread): void {
    if (this.sockets === null || thread.poll === null || this.options.migrateQueuedConnections === false)
      return
    const { outcome, reason } = this.sockets.migrateQueued(thread.poll)
    this.queued = outcome
    if (outcome !== 'reset' || this.warnedQueuedReset) return
    this.warnedQueuedReset = true
    this.options.logger.warn(
      'gateway worker threads: connections queued on a stopping worker are reset (clients must retry); give the node CAP_BPF or set net.ipv4.tcp_migrate_req = 1',
      { reason },
    )
  }

  private handle(thread: Thread, message: WorkerMessage): void {
    const { backend, metrics, logger } = this.options
    switch (message.t) {
      case 'submit':
        for (const submission of unpackSubmissions(message.batch)) {
          backend
            .submit(submission.topic, submission.stream, submission.apiKey, submission.records as never)
            .then(
              (submitted) => this.reply(thread, replyOf(submission.id, submitted)),
              (error: unknown) =>
                this.reply(thread, [
                  submission.id,
                  2,
                  error instanceof SluiceError ? error.code : null,
                  error instanceof Error ? error.message : String(error),
                  error instanceof SluiceError && error.retryable,
                ]),
            )
        }
        return
      case 'call': {
        const answer = (ok: boolean, value: unknown) =>
          this.post(thread, { t: 'answer', id: message.id, ok, value })
        const calls: Record<typeof message.op, () => Promise<unknown>> = {
          ready: () => this.ready(),
          limits: () => backend.limits(),
          setLimits: () => backend.setLimits(message.arg as RateLimits),
          metrics: () => backend.renderMetrics(),
        }
        calls[message.op]().then(
          (value) => answer(true, value),
          (error: unknown) => answer(false, error instanceof Error ? error.message : String(error)),
        )
        return
      }
      case 'metrics':
        if (message.deltas !== null) applyDeltas(metrics, message.deltas)
        if (message.id !== null) {
          const flush = this.flushes.get(message.id)
          if (flush && --flush.left === 0) {
            this.flushes.delete(message.id)
            flush.resolve()
          }
        }
        return
      case 'abort':
        backend.abortWaiting()
        return
      case 'pong':
        thread.pingSentAt = undefined
        return
      case 'log':
        logger[message.level](message.msg, message.fields)
        return
      default:
        return
    }
  }

  /** Queues a reply; a turn's replies to one worker go as one message. */
  private reply(thread: Thread, reply: SubmitReply): void {
    thread.replies.push(reply)
    if (thread.scheduled) return
    thread.scheduled = true
    setImmediate(() => {
      thread.scheduled = false
      const replies = thread.replies
      thread.replies = []
      this.post(thread, { t: 'results', replies: JSON.stringify(replies) })
    })
  }

  private post(thread: Thread, message: MainMessage): void {
    // A worker that ended has no one to read it (its replacement is another thread).
    if (!thread.ended) thread.worker.postMessage(message)
  }

  /** Resolves once every running worker sent the metric increments it recorded so far. */
  flushMetrics(): Promise<void> {
    const running = this.threads.filter((thread) => !thread.ended)
    if (running.length === 0) return Promise.resolve()
    const id = this.nextFlush++
    return new Promise<void>((resolve) => {
      this.flushes.set(id, { left: running.length, resolve })
      for (const thread of running) this.post(thread, { t: 'flush', id })
      // A worker that ends before answering must not hold the scrape.
      setTimeout(() => {
        if (this.flushes.delete(id)) resolve()
      }, 1000).unref()
    })
  }

  /**
   * Drains every worker (gateway.ts drain(): stop accepting, answer what is in hand, close) and
   * waits for them to end. One that has not ended `DRAIN_GRACE_MS` after the timeout (stuck in a
   * loop, say) is stopped from outside where that is safe, so a drain always ends.
   */
  drain(timeoutMs: number): Promise<void> {
    this.drained ??= (async () => {
      clearInterval(this.watchdog)
      for (const timer of this.pendingRestarts.values()) clearTimeout(timer)
      this.pendingRestarts.clear()
      for (const thread of this.threads) this.post(thread, { t: 'drain', timeoutMs })
      // A worker still draining then is told to close at once (it is draining: stop() closes
      // without a grace), and terminated only if even that does not end it.
      const overdue = setTimeout(() => {
        for (const thread of this.threads) {
          if (thread.ended) continue
          this.options.logger.warn('gateway worker thread did not drain in time; stopping it', {
            worker: thread.index,
          })
          void this.stop(thread, 0, 'drain overdue')
        }
      }, timeoutMs + DRAIN_GRACE_MS)
      await Promise.all(this.threads.map((thread) => thread.exited))
      clearTimeout(overdue)
    })()
    return this.drained
  }
}

/**
 * Checks that `port` (0: any) is free on `host` and answers it: bound without SO_REUSEPORT and
 * closed again. The workers' sockets share the port among themselves only; this check keeps a
 * second node started on the same port from joining them silently (its check fails while theirs
 * are bound) and makes it fail as a single-threaded gateway does.
 */
function probePort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', () =>
      reject(
        new SluiceError(
          'CONFIG_INVALID',
          `the gateway cannot listen on ${host}:${port} (in use, or not an address of this machine)`,
        ),
      ),
    )
    server.listen({ host, port, exclusive: true }, () => {
      const bound = (server.address() as AddressInfo).port
      server.close(() => resolve(bound))
    })
  })
}
