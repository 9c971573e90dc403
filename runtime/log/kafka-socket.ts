/**
 * The sockets KafkaLog's kafkajs clients connect with: kafkajs's own (net or tls, keep-alive after
 * 60 s), except that `unref()` on a socket already destroyed does nothing.
 *
 * Why: kafkajs's `Connection.disconnect()` ends and unrefs its socket, and while a broker is down it
 * disconnects the same refused socket again on every metadata retry. Node's `Socket.unref()` on a
 * socket without a handle defers itself to a `once('connect')` listener, so each retry left one
 * more listener on a socket that can never connect: Node printed MaxListenersExceededWarning on a
 * node's stderr (which `--log-format json` promises is JSON) after ten, during a broker restart.
 * A destroyed socket emits no 'connect', so skipping the deferral changes nothing else.
 */
import net from 'node:net'
import tls from 'node:tls'
import type { ISocketFactory } from 'kafkajs'

/** kafkajs's network/socketFactory.js value. */
const KEEP_ALIVE_DELAY_MS = 60_000

/** kafkajs's default socket factory, as `kafkaSocketFactory(defaultConnect)` uses it. */
const defaultConnect: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
    : net.connect({ host, port }, onConnect)
  socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS)
  return socket
}

/** `connect` (kafkajs's default unless given) with `unref()` a no-op on destroyed sockets. */
export function kafkaSocketFactory(connect: ISocketFactory = defaultConnect): ISocketFactory {
  return (options) => {
    const socket = connect(options)
    const unref = socket.unref
    socket.unref = function (this: net.Socket) {
      return this.destroyed ? this : unref.call(this)
    }
    return socket
  }
}
