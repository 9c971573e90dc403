/**
 * A worker thread's GatewayBackend: ships each call to the thread that owns the log
 * (worker-pool.ts) over a MessagePort. Submissions of one event-loop turn go as one message (one
 * packed batch, thread-protocol.ts), so the cost of crossing threads is paid per turn, not per
 * request; the owning thread's group commit then merges them with every other thread's.
 */
import type { MessagePort } from 'node:worker_threads'
import { type RuntimeErrorCode, SluiceError } from '../errors.ts'
import type { OutgoingRecord } from '../log/index.ts'
import { AppendResults } from './append-results.ts'
import type { GatewayBackend, Submission } from './backend.ts'
import type { MetricsRelay } from './gateway-metrics.ts'
import type { RateLimits } from './rate-limit.ts'
import {
  type CallOp,
  type MainMessage,
  type PendingSubmission,
  packSubmissions,
  type SubmitReply,
  submissionOf,
  type WorkerMessage,
} from './thread-protocol.ts'

interface Waiting<T> {
  readonly resolve: (value: T) => void
  readonly reject: (error: unknown) => void
}

/** How often a worker sends the metric increments it recorded (and before each scrape). */
const METRICS_INTERVAL_MS = 250

export class RemoteBackend implements GatewayBackend {
  private nextId = 1
  private queued: PendingSubmission[] = []
  private scheduled = false
  private readonly submissions = new Map<number, Waiting<Submission>>()
  private readonly calls = new Map<number, Waiting<unknown>>()
  private readonly idleWaiters: (() => void)[] = []
  private readonly metricsTimer: ReturnType<typeof setInterval>

  constructor(
    private readonly port: MessagePort,
    private readonly relay: MetricsRelay,
  ) {
    this.metricsTimer = setInterval(() => this.sendMetrics(null), METRICS_INTERVAL_MS)
    this.metricsTimer.unref()
  }

  /** Handles an answer from the owning thread; false for a message that is not one. */
  handle(message: MainMessage): boolean {
    if (message.t === 'results') {
      for (const reply of JSON.parse(message.replies) as SubmitReply[]) {
        const waiting = this.submissions.get(reply[0])
        if (waiting === undefined) continue
        this.submissions.delete(reply[0])
        if (reply[1] === 2) {
          const [, , code, text, retryable] = reply
          waiting.reject(
            code === null ? new Error(text) : new SluiceError(code as RuntimeErrorCode, text, { retryable }),
          )
        } else waiting.resolve(submissionOf(reply))
      }
      if (this.submissions.size === 0 && this.queued.length === 0)
        for (const wake of this.idleWaiters.splice(0)) wake()
      return true
    }
    if (message.t === 'answer') {
      const waiting = this.calls.get(message.id)
      if (waiting !== undefined) {
        this.calls.delete(message.id)
        if (message.ok) waiting.resolve(message.value)
        else waiting.reject(new Error(String(message.value)))
      }
      return true
    }
    if (message.t === 'flush') {
      this.sendMetrics(message.id)
      return true
    }
    return false
  }

  submit(topic: string, stream: string, apiKey: string, records: OutgoingRecord[]): Promise<Submission> {
    if (records.length === 0) return Promise.resolve({ results: AppendResults.EMPTY })
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.submissions.set(id, { resolve, reject })
      this.queued.push({ id, topic, stream, apiKey, records })
      if (!this.scheduled) {
        this.scheduled = true
        // After this turn's other I/O callbacks: every request read in this turn goes in one message.
        setImmediate(() => this.sendQueued())
      }
    })
  }

  private sendQueued(): void {
    this.scheduled = false
    const queued = this.queued
    this.queued = []
    if (queued.length === 0) return
    const batch = packSubmissions(queued)
    this.post({ t: 'submit', batch }, [batch.values.buffer as ArrayBuffer])
  }

  ready(): Promise<string | null> {
    return this.call('ready') as Promise<string | null>
  }

  limits(): Promise<RateLimits> {
    return this.call('limits') as Promise<RateLimits>
  }

  setLimits(limits: RateLimits): Promise<RateLimits> {
    return this.call('setLimits', limits) as Promise<RateLimits>
  }

  async renderMetrics(): Promise<string> {
    this.sendMetrics(null)
    return (await this.call('metrics')) as string
  }

  abortWaiting(): void {
    this.post({ t: 'abort' })
  }

  idle(): Promise<void> {
    if (this.submissions.size === 0 && this.queued.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Sends what the relay recorded (with `id`: the answer to a flush, sent even when empty). */
  sendMetrics(id: number | null): void {
    const deltas = this.relay.take()
    if (deltas !== null || id !== null) this.post({ t: 'metrics', id, deltas })
  }

  close(): void {
    clearInterval(this.metricsTimer)
    this.sendMetrics(null)
  }

  private call(op: CallOp, arg?: RateLimits): Promise<unknown> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject })
      this.post(arg === undefined ? { t: 'call', id, op } : { t: 'call', id, op, arg })
    })
  }

  private post(message: WorkerMessage, transfer?: ArrayBuffer[]): void {
    this.port.postMessage(message, transfer)
  }
}
