/**
 * Keeps errors inside the gateway's gRPC handlers (grpc.ts; issue 16), as handler-guard.ts does
 * for µWebSockets.js. An error thrown synchronously out of a handler makes @grpc/grpc-js answer
 * UNKNOWN ("Unknown error"), and one in a promise callback of a handler is an unhandled rejection,
 * which ends the node. So each call's work runs through a CallGuard: an error is logged once
 * (`gateway handler failed`, with the route) and counted (`sluice_gateway_handler_errors_total`)
 * by Gateway.handlerFailed, and the call is answered INTERNAL with the gateway's INTERNAL_ERROR
 * (`sluice-error-code` metadata, its message as details), unless it was answered already.
 *
 * No answer of the guard is an acknowledgement: events of a failed call may already be in the log
 * (an error after their append), and the client, told nothing was acknowledged, sends them again
 * (at least once). A call is answered at most once: after a failure nothing else of it is.
 */
import type * as grpc from '@grpc/grpc-js'
import type { GatewayError } from './errors.ts'

/** What the guard needs of the gateway (Gateway.handlerFailed). */
export interface HandlerFailures {
  handlerFailed(route: string, error: unknown): GatewayError
}

export class CallGuard<Reply> {
  private done = false

  constructor(
    private readonly gateway: HandlerFailures,
    private readonly route: string,
    private readonly callback: grpc.sendUnaryData<Reply>,
    /** The refusal as a gRPC status (grpc.ts callError), so INTERNAL_ERROR reads as other refusals do. */
    private readonly statusOf: (error: GatewayError) => Partial<grpc.StatusObject>,
  ) {}

  /** Whether the call was answered (a reply, a refusal or a failure): then nothing more of it is. */
  get answered(): boolean {
    return this.done
  }

  /** Answers the call, once; a later answer is dropped. */
  answer(error: Partial<grpc.StatusObject> | null, reply?: Reply): void {
    if (this.done) return
    this.done = true
    if (error !== null) this.callback(error)
    else this.callback(null, reply)
  }

  /** Runs `work`, part of the call's handling; an error in it is a failure (see `fail`). Never throws. */
  run(work: () => void): void {
    try {
      work()
    } catch (error) {
      this.fail(error)
    }
  }

  /** A handler error: logged and counted, and the call answered INTERNAL unless it was answered. Never throws. */
  readonly fail = (error: unknown): void => {
    const refusal = this.gateway.handlerFailed(this.route, error)
    if (this.done) return
    try {
      this.answer(this.statusOf(refusal))
    } catch (answering) {
      // The answer itself failed (inside @grpc/grpc-js): logged, not thrown into it.
      this.gateway.handlerFailed(this.route, answering)
    }
  }
}
