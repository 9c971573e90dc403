/**
 * Test support: a minimal WebSocket client (RFC 6455) over a `node:http` upgrade, for talking to
 * the gateway without a WebSocket package. Text frames only, masked as a client must; answers pings.
 *
 * Frame layout: byte 0 FIN(1) RSV(3) opcode(4); byte 1 MASK(1) length(7) (126: a 16-bit length
 * follows, 127: a 64-bit one); then the 4-byte mask (client frames) and the payload.
 */
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import type { Socket } from 'node:net'

export interface WsClient {
  send(text: string): void
  /** The next text message from the server. */
  next(timeoutMs?: number): Promise<string>
  /** Resolves with the close code when the connection closes. */
  readonly closed: Promise<number>
  close(): void
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused with ${status}: ${body}`)
  }
}

export function connectWebSocket(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      headers: {
        ...headers,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-version': '13',
      },
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (chunk) => {
        body += chunk
      })
      res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, body)))
    })
    req.on('error', reject)
    req.on('upgrade', (_res, socket, head) => resolve(client(socket, head)))
    req.end()
  })
}

function frame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4)
  const length = payload.length
  const header =
    length < 126
      ? Buffer.from([0x80 | opcode, 0x80 | length])
      : length < 65_536
        ? Buffer.alloc(4)
        : Buffer.alloc(10)
  if (length >= 126 && length < 65_536) {
    header[0] = 0x80 | opcode
    header[1] = 0x80 | 126
    header.writeUInt16BE(length, 2)
  } else if (length >= 65_536) {
    header[0] = 0x80 | opcode
    header[1] = 0x80 | 127
    header.writeBigUInt64BE(BigInt(length), 2)
  }
  const masked = Buffer.alloc(length)
  for (let i = 0; i < length; i++) masked[i] = payload[i]! ^ mask[i % 4]!
  return Buffer.concat([header, mask, masked])
}

function client(socket: Socket, head: Buffer): WsClient {
  let buffer = head
  const messages: string[] = []
  const waiting: ((message: string) => void)[] = []
  let resolveClosed: (code: number) => void = () => {}
  const closed = new Promise<number>((resolve) => {
    resolveClosed = resolve
  })
  let closeCode = 1006
  const deliver = (text: string) => {
    const waiter = waiting.shift()
    if (waiter) waiter(text)
    else messages.push(text)
  }
  const parse = () => {
    for (;;) {
      if (buffer.length < 2) return
      const opcode = buffer[0]! & 0x0f
      let length = buffer[1]! & 0x7f
      let offset = 2
      if (length === 126) {
        if (buffer.length < 4) return
        length = buffer.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (buffer.length < 10) return
        length = Number(buffer.readBigUInt64BE(2))
        offset = 10
      }
      if (buffer.length < offset + length) return
      const payload = buffer.subarray(offset, offset + length)
      buffer = buffer.subarray(offset + length)
      if (opcode === 0x1 || opcode === 0x2) deliver(payload.toString('utf8'))
      else if (opcode === 0x8) {
        closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005
        socket.end()
      } else if (opcode === 0x9) socket.write(frame(0xa, Buffer.from(payload)))
    }
  }
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
    parse()
  })
  socket.on('close', () => resolveClosed(closeCode))
  socket.on('error', () => {})
  parse()
  return {
    send: (text) => socket.write(frame(0x1, Buffer.from(text))),
    next: (timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const message = messages.shift()
        if (message !== undefined) return resolve(message)
        const timer = setTimeout(
          () => reject(new Error(`no WebSocket message within ${timeoutMs} ms`)),
          timeoutMs,
        )
        waiting.push((text) => {
          clearTimeout(timer)
          resolve(text)
        })
      }),
    closed,
    close: () => {
      const code = Buffer.alloc(2)
      code.writeUInt16BE(1000)
      socket.write(frame(0x8, code))
    },
  }
}
