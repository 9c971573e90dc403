/**
 * An open-loop load driver for the event gateway (runtime/gateway/): request k (a batch of
 * `batch` events) is due at origin + k · batch ÷ rate, whatever happened to the requests before
 * it, and its acknowledgement latency is measured from that intended time, so a stalled gateway
 * shows up in the figures instead of slowing the driver down (coordinated omission; the schedule
 * is lib/open-loop.ts's). Every 1 ms tick sends every request due, over `connections` HTTP
 * keep-alive connections (fetch), WebSockets or one gRPC channel, without waiting for answers.
 * At most `maxOutstanding` requests wait for answers: beyond that the driver is the bottleneck,
 * and says so (`driverLimited`) rather than buffering without bound.
 */
import * as grpc from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { PROTO_FILE } from '../../runtime/gateway/grpc.ts'
import { connectWebSocket, type WsClient } from '../../test/support/ws-client.ts'
import { type HistogramSummary, LatencyHistogram } from './latency-histogram.ts'
import { OpenLoopSchedule } from './open-loop.ts'

export type GatewayProtocol = 'http' | 'websocket' | 'grpc'

export interface GatewayLoadOptions {
  readonly protocol: GatewayProtocol
  /** HTTP and WebSocket: the gateway's http://host:port. */
  readonly url: string
  /** gRPC: host:port. */
  readonly grpcAddress?: string
  readonly stream: string
  /** Events per second offered. */
  readonly rate: number
  /** Events per request (HTTP: 1 sends a single event, more a JSON array). */
  readonly batch: number
  readonly durationMs: number
  readonly connections: number
  /** The JSON of event `seq`. */
  readonly event: (seq: number) => string
  /** Default 10,000. */
  readonly maxOutstanding?: number
}

export interface GatewayLoadResult {
  readonly protocol: GatewayProtocol
  readonly offeredPerSecond: number
  readonly batch: number
  readonly requests: number
  /** Events the gateway acknowledged (status 200 for each), per second of the run. */
  readonly acknowledgedPerSecond: number
  readonly acknowledged: number
  /** Requests answered with anything but full acceptance (429, 503, 207, …), by status. */
  readonly refused: Readonly<Record<string, number>>
  /** Per request: intended send time → acknowledgement, ns. */
  readonly ack: HistogramSummary
  /** Requests that could not be sent on time because `maxOutstanding` were waiting. */
  readonly driverLimited: number
  readonly clientCpuSeconds: number
  readonly seconds: number
}

interface Sender {
  /** Sends one request; resolves with its status (200: every event acknowledged). */
  send(body: string, events: number): Promise<number>
  close(): Promise<void>
}

export async function runGatewayLoad(options: GatewayLoadOptions): Promise<GatewayLoadResult> {
  const senders = await openSenders(options)
  const histogram = new LatencyHistogram()
  const refused: Record<string, number> = {}
  const maxOutstanding = options.maxOutstanding ?? 10_000
  const requestRate = options.rate / options.batch
  const totalRequests = Math.max(1, Math.floor((requestRate * options.durationMs) / 1000))
  const clock = () => Number(process.hrtime.bigint())
  const cpuBefore = process.cpuUsage()
  const origin = clock()
  const schedule = new OpenLoopSchedule(requestRate, origin)
  let sent = 0
  let outstanding = 0
  let acknowledged = 0
  let driverLimited = 0
  let seq = 0
  let next = 0
  await new Promise<void>((resolve) => {
    const finishIfDone = () => {
      if (sent === totalRequests && outstanding === 0) {
        clearInterval(timer)
        resolve()
      }
    }
    const tick = () => {
      const due = Math.min(totalRequests, schedule.dueBy(clock()))
      while (sent < due) {
        if (outstanding >= maxOutstanding) {
          driverLimited += due - sent
          return
        }
        const request = sent++
        const intended = schedule.intendedNs(request)
        const events: string[] = []
        for (let i = 0; i < options.batch; i++) events.push(options.event(seq++))
        const body = options.batch === 1 && options.protocol === 'http' ? events[0]! : `[${events.join(',')}]`
        const sender = senders[next++ % senders.length]!
        outstanding++
        sender.send(body, options.batch).then(
          (status) => {
            outstanding--
            histogram.record(clock() - intended)
            if (status === 200) acknowledged += options.batch
            else refused[status] = (refused[status] ?? 0) + 1
            finishIfDone()
          },
          () => {
            outstanding--
            refused.error = (refused.error ?? 0) + 1
            finishIfDone()
          },
        )
      }
    }
    const timer = setInterval(tick, 1)
    tick()
  })
  const seconds = (clock() - origin) / 1e9
  const cpu = process.cpuUsage(cpuBefore)
  await Promise.all(senders.map((s) => s.close()))
  return {
    protocol: options.protocol,
    offeredPerSecond: options.rate,
    batch: options.batch,
    requests: totalRequests,
    // Over the offered duration at least: the last request is due a little before it ends.
    acknowledgedPerSecond: acknowledged / Math.max(seconds, options.durationMs / 1000),
    acknowledged,
    refused,
    ack: histogram.summary(),
    driverLimited,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
    seconds,
  }
}

async function openSenders(options: GatewayLoadOptions): Promise<Sender[]> {
  const count = Math.max(1, options.connections)
  if (options.protocol === 'http') {
    const url = `${options.url}/streams/${options.stream}/events`
    const sender: Sender = {
      send: async (body) => {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        })
        await response.arrayBuffer()
        return response.status
      },
      close: async () => {},
    }
    return [sender]
  }
  if (options.protocol === 'websocket') {
    const senders: Sender[] = []
    for (let i = 0; i < count; i++)
      senders.push(webSocketSender(await connectWebSocket(`${options.url}/streams/${options.stream}/ws`)))
    return senders
  }
  const loaded = grpc.loadPackageDefinition(
    loadSync(PROTO_FILE.pathname, { keepCase: true, longs: Number, defaults: true }),
  ) as unknown as {
    sluice: {
      gateway: { v1: { Gateway: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client } }
    }
  }
  const client = new loaded.sluice.gateway.v1.Gateway(
    options.grpcAddress!,
    grpc.credentials.createInsecure(),
  ) as grpc.Client & {
    Publish(
      request: unknown,
      callback: (error: grpc.ServiceError | null, reply: { rejected: number }) => void,
    ): void
  }
  return [
    {
      send: (body) =>
        new Promise((resolve) => {
          const events = (JSON.parse(body) as unknown[]).map((e) => ({
            json: Buffer.from(JSON.stringify(e)),
          }))
          client.Publish({ stream: options.stream, events }, (error, reply) => {
            if (error) resolve(error.code === grpc.status.RESOURCE_EXHAUSTED ? 429 : 503)
            else resolve(reply.rejected === 0 ? 200 : 207)
          })
        }),
      close: async () => client.close(),
    },
  ]
}

/** Acks come back per message with `seq` (1, 2, … per connection); each send waits for its own. */
function webSocketSender(ws: WsClient): Sender {
  let sent = 0
  const waiting = new Map<number, (status: number) => void>()
  const pump = async () => {
    for (;;) {
      const text = await ws.next(600_000).catch(() => null)
      if (text === null) return
      const ack = JSON.parse(text) as { seq: number; rejected?: number; error_code?: string }
      const status = ack.error_code
        ? ack.error_code === 'RATE_LIMITED'
          ? 429
          : 503
        : ack.rejected === 0
          ? 200
          : 207
      waiting.get(ack.seq)?.(status)
      waiting.delete(ack.seq)
    }
  }
  void pump()
  return {
    send: (body) =>
      new Promise((resolve) => {
        waiting.set(++sent, resolve)
        ws.send(body)
      }),
    close: async () => {
      ws.close()
      await ws.closed
    },
  }
}
