/**
 * Every HTTP route of the gateway attaches µWebSockets.js's onAborted before any code of its own
 * runs (docs/decisions/0030-gateway-threads.md, addendum "a handler stuck before onAborted,
 * pipelined requests").
 *
 * Why: µWebSockets.js ends the whole process (std::terminate, "Returning from a request handler
 * without responding or attaching an abort handler is forbidden!") when a request handler returns
 * having done neither. A handler that answers at once never does that while it runs normally, but
 * a worker thread stuck inside it (a runaway loop, a deadlock) is terminated from outside
 * (worker-pool.ts), and the termination makes the handler return, unanswered, into
 * µWebSockets.js. With onAborted attached first, that return is an abandoned request like any
 * other: µWebSockets.js keeps the connection (which the pool disconnected first, so it closes).
 * The alternative, attaching it only in routes that answer later, left /healthz, the not-found
 * route and the WebSocket upgrade exposed, and any route added later that forgot it.
 *
 * One onAborted per request, as before for the routes that had one: a route reads `aborted` or
 * sets `onAbort` instead of attaching its own (a second would replace the first, and cost
 * µWebSockets.js a second persistent handle).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'

/** What a route knows of its request's abort (its connection closed before the answer). */
export interface RequestAbort {
  /** True once µWebSockets.js said the request was aborted: nothing may be written to it then. */
  aborted: boolean
  /** Called once when it is aborted, if set by then. It must not throw (guard it: handler-guard.ts). */
  onAbort: (() => void) | undefined
}

/** A route handler given its request's abort state; `rest` is the upgrade handler's context. */
export type AbortFirstHandler<Rest extends unknown[]> = (
  res: HttpResponse,
  req: HttpRequest,
  abort: RequestAbort,
  ...rest: Rest
) => void

/** Wraps `handler` so that onAborted is attached before it runs (see above). */
export function abortFirst<Rest extends unknown[]>(
  handler: AbortFirstHandler<Rest>,
): (res: HttpResponse, req: HttpRequest, ...rest: Rest) => void {
  return (res, req, ...rest) => {
    const abort: RequestAbort = { aborted: false, onAbort: undefined }
    res.onAborted(() => {
      abort.aborted = true
      abort.onAbort?.()
    })
    handler(res, req, abort, ...rest)
  }
}
