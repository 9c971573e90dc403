/**
 * Kafka connections a test can cut, as if the process holding them had died: no commit, no abort,
 * no LeaveGroup reaches the broker. Pass `factory` as the log's kafkajs socket factory.
 */
import { connect, Socket } from 'node:net'
import type { ISocketFactory } from 'kafkajs'

export class CuttableNetwork {
  readonly #sockets = new Set<Socket>()
  #cut = false

  readonly factory: ISocketFactory = ({ host, port, onConnect }) => {
    if (this.#cut) {
      const refused = new Socket()
      setImmediate(() => refused.destroy(new Error(`connection to ${host}:${port} cut off by the test`)))
      return refused
    }
    const socket = connect({ host, port }, onConnect)
    socket.setKeepAlive(true, 60_000)
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
    return socket
  }

  cut(): void {
    this.#cut = true
    for (const socket of this.#sockets) socket.destroy()
  }

  heal(): void {
    this.#cut = false
  }
}
