/**
 * Keeps errors inside the gateway's µWebSockets.js callbacks (issue 16). An error thrown out of
 * any of them (a request handler, onData, onAborted, WebSocket upgrade/open/message/close) is an
 * uncaught exception, which in the main thread (single-thread mode, the default) ends the whole
 * node; and a request handler that returns without answering or attaching onAborted makes
 * µWebSockets.js call std::terminate (docs/decisions/0030-gateway-threads.md). A promise callback
 * of a handler that throws is an unhandled rejection, which ends the node too.
 *
 * So every callback runs through a guard: an error is logged once (`gateway handler failed`, with
 * the route), counted (`sluice_gateway_handler_errors_total{route}`), the handler's own clean-up
 * runs (giving back in-flight bytes, ending its count of active requests), and the request gets
 * 500 INTERNAL_ERROR, or a WebSocket is closed with 1011 (Internal Error). No answer here is an
 * acknowledgement: events of a failed request may already be in the log, and the client, told
 * nothing was acknowledged, sends them again (at least once, as for any lost answer).
 */
import type { HttpResponse, WebSocket } from 'uWebSockets.js'
import type { CounterSeries, Labels } from '../metrics/registry.ts'
import type { Logger } from '../observability/logger.ts'
import { gatewayError } from './errors.ts'

/** Where a test may make a handler throw (GatewayOptions.faults); one per callback, or its continuation. */
export type FaultPoint =
  | 'events'
  | 'events.data'
  | 'events.answer'
  /** Inside ingest, before the events are validated (every protocol, gRPC too). */
  | 'validate'
  | 'grpc.publish'
  | 'grpc.reply'
  | 'ws.upgrade'
  | 'ws.open'
  | 'ws.message'
  | 'ws.ack'
  | 'ws.close'
  | 'healthz'
  | 'readyz'
  | 'metrics'
  | 'admin'
  | 'admin.data'
  | 'not-found'

/** Test seam: called at each fault point; what it throws there is a handler error. */
export type FaultInjector = (point: FaultPoint) => void

/** The body of a request a handler error ended. */
export const INTERNAL_ERROR = gatewayError(
  'INTERNAL_ERROR',
  'the gateway failed handling the request (an internal error, logged): nothing in it is acknowledged, send it again',
)
const INTERNAL_ERROR_JSON = JSON.stringify(INTERNAL_ERROR)
/** WebSocket close code 1011: the server met a condition that kept it from fulfilling the request. */
export const WS_INTERNAL_ERROR = 1011

export class HandlerGuard {
  private readonly byRoute = new Map<string, CounterSeries>()

  constructor(
    private readonly logger: Logger,
    private readonly errors: { labels(labels: Labels): CounterSeries },
    private readonly faults?: FaultInjector,
  ) {}

  /** Throws where a test asked for a fault at `point`; nothing otherwise. */
  point(point: FaultPoint): void {
    if (this.faults !== undefined) this.faults(point)
  }

  /**
   * Runs `work`, an HTTP callback of `route`; on an error, see `httpFailure`. Never throws.
   */
  http(route: string, res: HttpResponse, work: () => void, recover?: () => void): void {
    try {
      work()
    } catch (error) {
      this.httpFailure(route, res, recover)(error)
    }
  }

  /**
   * What a failed HTTP callback or one of its promise callbacks ends with: logged and counted, the
   * handler's `recover` (its clean-up; it may answer), then 500 unless the response was answered
   * or aborted. Never throws.
   */
  httpFailure(route: string, res: HttpResponse, recover?: () => void): (error: unknown) => void {
    return (error) => {
      this.failed(route, error)
      this.quietly(route, recover)
      answerInternalError(res)
    }
  }

  /** Runs `work`, a WebSocket callback of `route`; on an error, see `wsFailure`. Never throws. */
  ws<T>(route: string, ws: WebSocket<T>, work: () => void, recover?: () => void): void {
    try {
      work()
    } catch (error) {
      this.wsFailure(route, ws, recover)(error)
    }
  }

  /** Logged and counted, the handler's `recover`, then the socket closed with 1011 (unless closed). Never throws. */
  wsFailure<T>(route: string, ws: WebSocket<T>, recover?: () => void): (error: unknown) => void {
    return (error) => {
      this.failed(route, error)
      this.quietly(route, recover)
      try {
        ws.end(WS_INTERNAL_ERROR, 'internal error')
      } catch {
        // Closed already (µWebSockets.js throws on a closed socket): nothing to close.
      }
    }
  }

  /** Logs one structured line and counts the error under its route, for a caller that answers itself (grpc.ts). Never throws. */
  report(route: string, error: unknown): void {
    this.failed(route, error)
  }

  /** Logs one structured line and counts the error under its route. */
  private failed(route: string, error: unknown): void {
    try {
      let series = this.byRoute.get(route)
      if (series === undefined) {
        series = this.errors.labels({ route })
        this.byRoute.set(route, series)
      }
      series.inc()
      this.logger.error('gateway handler failed', {
        route,
        error: error instanceof Error ? error.message : String(error),
        ...(error instanceof Error && error.stack !== undefined ? { stack: error.stack } : {}),
      })
    } catch {
      // A logger or metric that fails must not carry the error out into µWebSockets.js either.
    }
  }

  /** Runs a clean-up whose own error is logged, not thrown: the answer after it must still go out. */
  private quietly(route: string, recover: (() => void) | undefined): void {
    if (recover === undefined) return
    try {
      recover()
    } catch (error) {
      this.failed(route, error)
    }
  }
}

/**
 * Answers 500 INTERNAL_ERROR and closes the connection. A response answered already or aborted
 * throws on any access (µWebSockets.js), which is the sign there is nothing to answer; should the
 * answer fail otherwise, the connection is closed so the handler never returns unanswered.
 */
export function answerInternalError(res: HttpResponse): void {
  try {
    res.cork(() => {
      res
        .writeStatus('500 Internal Server Error')
        .writeHeader('content-type', 'application/json')
        .end(INTERNAL_ERROR_JSON, true)
    })
  } catch {
    try {
      res.close()
    } catch {
      // Answered or aborted already.
    }
  }
}
