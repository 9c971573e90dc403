/**
 * HTTP/1.1 written by hand on a connection of its own: for what a client library will not send
 * (several requests pipelined in one write) or will not report (a connection that ends without an
 * answer).
 */
import { connect } from 'node:net'

/** What came back on a raw connection before it closed, and the connection's error code, if any. */
export interface RawAnswer {
  readonly received: string
  readonly error?: string
}

/**
 * Sends `text` (one or more HTTP requests, written at once) on a connection of its own and
 * resolves with what came back before the connection closed (or `timeoutMs` passed): a stuck
 * worker answers nothing, so its connection ends with nothing, or an error code.
 */
export function rawExchange(port: number, text: string, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let received = ''
    let error: string | undefined
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      received += chunk
    })
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? String(e)
    })
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(error === undefined ? { received } : { received, error })
    })
    socket.write(text)
  })
}

/** POSTs of `bodies` to `/streams/<stream>/events`, one after the other, as one text to write at once (pipelined). */
export function pipelinedPosts(stream: string, bodies: readonly string[]): string {
  return bodies
    .map(
      (body) =>
        `POST /streams/${stream}/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    )
    .join('')
}

/**
 * The status of each HTTP response in `received`, in order. A status line follows the previous
 * body directly, not a line break; the gateway's bodies are JSON, which cannot hold one.
 */
export function statusesIn(received: string): number[] {
  return [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]))
}
