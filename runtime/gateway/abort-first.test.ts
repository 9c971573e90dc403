/**
 * abortFirst attaches onAborted before the route's code: a handler that returns with neither an
 * answer nor its own onAborted (what a handler of a thread terminated from outside does) is an
 * abandoned request, not the end of the process, and the route learns of the abort.
 */

import type { us_listen_socket } from 'uWebSockets.js'
import { createRequire } from 'node:module'
import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { abortFirst, type RequestAbort } from './abort-first.ts'

const uws = createRequire(import.meta.url)('uWebSockets.js') as typeof import('uWebSockets.js')

const closers: (() => void)[] = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
})

function listen(app: ReturnType<typeof uws.App>): Promise<number> {
  return new Promise((resolve, reject) =>
    app.listen('127.0.0.1', 0, (socket: us_listen_socket | false) => {
      if (!socket) return reject(new Error('cannot listen'))
      closers.push(() => app.close())
      resolve(uws.us_socket_local_port(socket))
    }),
  )
}

/** Opens a connection, sends one request, and closes the connection after `closeAfterMs`. */
function requestThenHangUp(port: number, path: string, closeAfterMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      received += chunk
    })
    socket.on('error', () => {})
    socket.once('close', () => resolve(received))
    socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`)
    setTimeout(() => socket.end(), closeAfterMs)
  })
}

describe('abortFirst', () => {
  it('lets a handler return with neither an answer nor its own onAborted; the abort reaches it once the client goes', async () => {
    const seen: RequestAbort[] = []
    let onAbortCalls = 0
    const app = uws.App().get(
      '/unanswered',
      abortFirst((_res, _req, abort) => {
        // What a terminated thread's handler does: nothing. Without abortFirst's onAborted,
        // µWebSockets.js would end this process here (std::terminate).
        abort.onAbort = () => {
          onAbortCalls++
        }
        seen.push(abort)
      }),
    )
    const port = await listen(app)
    expect(await requestThenHangUp(port, '/unanswered', 100)).toBe('')
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(seen).toHaveLength(1)
    expect(seen[0]!.aborted).toBe(true)
    expect(onAbortCalls).toBe(1)
  })

  it('passes the request through and leaves an answered request unaborted', async () => {
    const seen: RequestAbort[] = []
    const app = uws.App().get(
      '/answered/:name',
      abortFirst((res, req, abort) => {
        seen.push(abort)
        res.end(`hello ${req.getParameter(0)}`)
      }),
    )
    const port = await listen(app)
    expect(await requestThenHangUp(port, '/answered/you', 100)).toMatch(
      /^HTTP\/1\.1 200 OK\r\n[\s\S]*hello you$/,
    )
    expect(seen.map((abort) => abort.aborted)).toEqual([false])
  })
})
