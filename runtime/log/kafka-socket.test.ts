import net from 'node:net'
import type { ISocketFactoryArgs } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { kafkaSocketFactory } from './kafka-socket.ts'

/** kafkajs passes its `ssl` option as configured: undefined without TLS. */
const NO_TLS = undefined as unknown as ISocketFactoryArgs['ssl']

/** A port nothing listens on (a server's, closed again). */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function refusedSocket(connect = kafkaSocketFactory()): Promise<net.Socket> {
  const socket = connect({ host: '127.0.0.1', port: await closedPort(), ssl: NO_TLS, onConnect: () => {} })
  await new Promise((resolve) => socket.once('error', resolve))
  await new Promise((resolve) => socket.once('close', resolve))
  return socket
}

describe('kafkaSocketFactory', () => {
  it('leaves no listener behind when kafkajs unrefs a refused socket on every retry', async () => {
    const socket = await refusedSocket()
    const before = socket.listenerCount('connect')
    for (let retry = 0; retry < 20; retry++) socket.unref()
    expect(socket.listenerCount('connect')).toBe(before)
  })

  it('is needed: a plain refused socket collects one connect listener per unref', async () => {
    const plain = await refusedSocket(({ host, port, onConnect }) => net.connect({ host, port }, onConnect))
    const before = plain.listenerCount('connect')
    for (let retry = 0; retry < 20; retry++) plain.unref()
    expect(plain.listenerCount('connect')).toBe(before + 20)
  })

  it('still unrefs a connected socket', async () => {
    const server = net.createServer((peer) => peer.end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    try {
      const socket = await new Promise<net.Socket>((resolve) => {
        const s = kafkaSocketFactory()({ host: '127.0.0.1', port, ssl: NO_TLS, onConnect: () => resolve(s) })
      })
      expect(socket.unref()).toBe(socket)
      expect(socket.listenerCount('connect')).toBeLessThanOrEqual(1)
      socket.destroy()
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})
