/**
 * What the gateway's request handling needs from the thread that owns the log: admission (the rate
 * limits), the append itself (group commit), readiness, the rate limits in force and the metrics
 * page. In one thread (`threads: 1`) the gateway calls a LocalBackend directly; with worker threads
 * (docs/decisions/0030-gateway-threads.md) the workers call a RemoteBackend (remote-backend.ts)
 * that ships the same calls to the LocalBackend of the thread that owns the log. Everything else a
 * request needs (parsing, validation, building records, answers) happens where it arrived.
 */
import { SluiceError } from '../errors.ts'
import type { Log, OutgoingRecord } from '../log/index.ts'
import type { Logger } from '../observability/logger.ts'
import type { AppendResults } from './append-results.ts'
import { GroupAppender } from './appender.ts'
import type { RateLimiter, RateLimits } from './rate-limit.ts'

/** A request's valid records after admission: where each went, or the rate limit that refused them all. */
export type Submission =
  | { readonly results: AppendResults }
  | { readonly rateLimited: { readonly message: string; readonly retryAfterMs: number } }

export interface GatewayBackend {
  /**
   * Takes `records` (one request's valid events, in order) past the rate limits of `apiKey` and
   * `stream`, then appends them; resolves once the log holds them. Rejects as the appender does
   * (a retryable SluiceError: the log was unavailable for too long).
   */
  submit(topic: string, stream: string, apiKey: string, records: OutgoingRecord[]): Promise<Submission>
  /** null when the log takes appends and answers; else why not. */
  ready(): Promise<string | null>
  limits(): Promise<RateLimits>
  setLimits(limits: RateLimits): Promise<RateLimits>
  /** The Prometheus text of the node's metrics. */
  renderMetrics(): Promise<string>
  /** Ends the back-off waits of appends in flight (a drain that timed out). */
  abortWaiting(): void
  /** Resolves once nothing submitted here is waiting for the log. */
  idle(): Promise<void>
}

export interface LocalBackendOptions {
  readonly log: Log
  /** The topic /readyz asks the log about (the first stream's). */
  readonly readyTopic: string | undefined
  readonly limiter: RateLimiter
  readonly appendTimeoutMs: number
  readonly readyTimeoutMs: number
  readonly render: () => Promise<string>
  readonly logger: Logger
}

/** The backend of the thread that owns the log: the rate limiter and the group appender. */
export class LocalBackend implements GatewayBackend {
  readonly appender: GroupAppender

  constructor(private readonly options: LocalBackendOptions) {
    const { logger } = options
    this.appender = new GroupAppender(options.log, {
      appendTimeoutMs: options.appendTimeoutMs,
      onAvailability: (available, error) => {
        if (available) logger.info('log available again; appends go through')
        else logger.warn('log unavailable; retrying appends with back-off', { error: String(error) })
      },
    })
  }

  get limiter(): RateLimiter {
    return this.options.limiter
  }

  submit(topic: string, stream: string, apiKey: string, records: OutgoingRecord[]): Promise<Submission> {
    if (records.length > 0) {
      const decision = this.options.limiter.take(apiKey, stream, records.length)
      if (!decision.allowed)
        return Promise.resolve({
          rateLimited: { message: decision.message, retryAfterMs: decision.retryAfterMs },
        })
    }
    // Not async: one promise less per request on the hot path.
    return this.appender.append(topic, records).then(asResults)
  }

  async ready(): Promise<string | null> {
    if (this.appender.unavailable) return 'the log does not take appends'
    const topic = this.options.readyTopic
    if (topic === undefined) return null
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      return await Promise.race([
        this.options.log.endOffsets(topic).then(() => null),
        new Promise<string>((resolve) => {
          timer = setTimeout(
            () => resolve(`the log did not answer within ${this.options.readyTimeoutMs} ms`),
            this.options.readyTimeoutMs,
          )
        }),
      ])
    } catch (error) {
      // A topic nobody wrote yet is not a sick log.
      if (error instanceof SluiceError && error.code === 'LOG_UNKNOWN_TOPIC') return null
      return `the log is unreachable: ${error instanceof Error ? error.message : String(error)}`
    } finally {
      clearTimeout(timer)
    }
  }

  async limits(): Promise<RateLimits> {
    return this.options.limiter.current
  }

  async setLimits(limits: RateLimits): Promise<RateLimits> {
    this.options.limiter.set(limits)
    this.options.logger.info('rate limits changed', { limits })
    return this.options.limiter.current
  }

  renderMetrics(): Promise<string> {
    return this.options.render()
  }

  abortWaiting(): void {
    this.appender.abortWaiting()
  }

  idle(): Promise<void> {
    return this.appender.idle()
  }
}

function asResults(results: AppendResults): Submission {
  return { results }
}
