/**
 * Appends whose outcome the client never learned (issue 16 item 5, the gateway-kafka run that lost
 * 29 acknowledged events under load): the broker wrote a produce request, but its answer was lost
 * with the connection, so kafkajs rolled its sequence numbers back and the append failed. If the
 * next batch to that partition carries different records under the same sequence numbers and the
 * same record count, the broker takes it for a duplicate of the written batch, drops it, and
 * answers with the old batch's offsets: records acknowledged and never stored. The log must send
 * the same records again (deduplicated by the broker) or start a new producer id first.
 *
 * Runs against the shared broker without restarting it: a socket factory holds back the answer
 * to one produce request and closes the connection, as a broker that went away after writing does.
 */
import { connect, Socket } from 'node:net'
import type { ISocketFactory } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import { isSluiceError } from '../../runtime/errors.ts'
import { Gateway } from '../../runtime/gateway/gateway.ts'
import { streamCatalog } from '../../runtime/gateway/streams.ts'
import type { OutgoingRecord } from '../../runtime/log/index.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { readTopic } from '../support/read-topic.ts'
import { connectKafkaLog, uniqueName } from './kafka-env.ts'

const PRODUCE_API_KEY = 0

/**
 * Connections to the broker on which the next produce request reaches the broker but its answer
 * does not reach the client (the connections close once the broker holds the records); afterwards
 * new connections are refused until heal().
 */
class LostAnswerNetwork {
  readonly #sockets = new Set<Socket>()
  #armed = false
  #refusing = false
  /** Resolves when the armed request's connection was closed. */
  #lost: Promise<void> = Promise.resolve()
  #onLost: () => void = () => {}
  #written: () => Promise<void> = async () => {}

  readonly factory: ISocketFactory = ({ host, port, onConnect }) => {
    if (this.#refusing) {
      const refused = new Socket()
      setImmediate(() => refused.destroy(new Error(`connection to ${host}:${port} refused by the test`)))
      return refused
    }
    const socket = connect({ host, port }, onConnect)
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      // A request is a size (int32) then its header, which starts with the API key (int16).
      if (
        this.#armed &&
        Buffer.isBuffer(chunk) &&
        chunk.length >= 6 &&
        chunk.readInt16BE(4) === PRODUCE_API_KEY
      ) {
        this.#armed = false
        // No 'data' events from here on: the answer stays in the socket until it is destroyed.
        socket.pause()
        void this.#written().then(() => {
          this.#refusing = true
          // With an error: kafkajs listens for 'error' and 'end', not for 'close'.
          for (const s of this.#sockets) s.destroy(new Error('connection lost (test)'))
          this.#onLost()
        })
      }
      return write(chunk, ...rest)
    }) as typeof socket.write
    return socket
  }

  /** The next produce request's answer is lost once `written` resolves (the broker holds it). */
  loseNextAnswer(written: () => Promise<void>): Promise<void> {
    this.#written = written
    this.#armed = true
    this.#lost = new Promise((resolve) => {
      this.#onLost = resolve
    })
    return this.#lost
  }

  heal(): void {
    this.#refusing = false
  }
}

const logs: KafkaLog[] = []
const gateways: Gateway[] = []
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.drain(1000)))
  await Promise.all(logs.splice(0).map((log) => log.close()))
})

interface Setup {
  /** The log whose connections the network cuts. */
  readonly log: KafkaLog
  readonly network: LostAnswerNetwork
  readonly topic: string
  /** Resolves once partition 0 of the topic ends at `end` or later (seen on a connection of its own). */
  held(end: number): Promise<void>
}

async function setUp(): Promise<Setup> {
  const network = new LostAnswerNetwork()
  const log = await connectKafkaLog({
    clientId: 'sluice-uncertain-append',
    socketFactory: network.factory,
    retries: 1,
    logLevel: 'error',
    logger: () => {},
  })
  logs.push(log)
  const topic = uniqueName('uncertain-append')
  await log.ensureTopic(topic, { partitions: 1 })
  // A first batch, so the producer's sequence on the partition does not start at 0.
  await log.append(topic, [{ key: null, value: Buffer.from('warm-up'), partition: 0 }])
  const observer = await connectKafkaLog({ clientId: 'sluice-uncertain-append-observer' })
  logs.push(observer)
  const held = async (end: number) => {
    const deadline = Date.now() + 30_000
    while ((await observer.endOffsets(topic))[0]! < end) {
      if (Date.now() > deadline) throw new Error(`${topic} did not reach offset ${end}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  return { log, network, topic, held }
}

const batch = (name: string, count: number): OutgoingRecord[] =>
  Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`${name}-${i}`), partition: 0 }))

/** Appends `records` (after the warm-up) while the network loses the answer; resolves to the append's error. */
async function appendLosingTheAnswer(
  { log, network, topic, held }: Setup,
  records: OutgoingRecord[],
): Promise<unknown> {
  const lost = network.loseNextAnswer(() => held(1 + records.length))
  const error = await log.append(topic, records).then(
    () => undefined,
    (e: unknown) => e,
  )
  await lost
  network.heal()
  return error
}

async function storedValues(log: KafkaLog, topic: string): Promise<string[]> {
  return (await readTopic(log, topic)).map((r) => r.value.toString())
}

describe('KafkaLog append whose answer was lost', () => {
  it('stores the next, different batch of the same size instead of taking it for a duplicate', async () => {
    const setup = await setUp()
    const { log, topic } = setup
    const first = batch('first', 5)
    const error = await appendLosingTheAnswer(setup, first)
    expect(isSluiceError(error) && error.retryable).toBe(true)
    // The caller gives up on `first` (the gateway answered 503) and goes on with other records.
    const second = batch('second', 5)
    const positions = await log.append(topic, second)
    const stored = await storedValues(log, topic)
    // Every acknowledged record is in the topic, at the offset the append gave it.
    expect(stored).toEqual(expect.arrayContaining(second.map((r) => r.value.toString())))
    const records = await readTopic(log, topic)
    for (const [i, position] of positions.entries()) {
      expect(records.find((r) => r.offset === position.offset)?.value.toString()).toBe(`second-${i}`)
    }
  })

  it('does not duplicate a batch sent again after its answer was lost', async () => {
    const setup = await setUp()
    const { log, topic } = setup
    const first = batch('first', 5)
    await appendLosingTheAnswer(setup, first)
    await log.append(topic, first)
    expect(await storedValues(log, topic)).toEqual(['warm-up', ...first.map((r) => r.value.toString())])
  })
})

describe('the gateway on Kafka after an append whose answer was lost', () => {
  it('answers 503 for the events it gave up on, and the next request it acknowledges is in the topic', async () => {
    const { log, network, topic, held } = await setUp()
    const dir = await compileFixture(
      `
schema Payment { id: string, card: string, amount: f64, ts: timestamp @event_time }
source payments: Payment from kafka("${topic}")
sink payments -> kafka("${topic}-out")
`,
      'payments',
      'payments.pipe',
    )
    const gateway = await Gateway.start({
      log,
      streams: streamCatalog([await loadArtifact(dir)], { payments: 'card' }),
      metrics: new MetricsRegistry(),
      port: 0,
      // Gives up on an unavailable log soon, as the restart test's gateway did under load.
      appendTimeoutMs: 1500,
    })
    gateways.push(gateway)
    const post = (ids: string[]) =>
      fetch(`${gateway.url}/streams/payments/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(ids.map((id) => ({ id, card: 'c1', amount: 150, ts: 1_700_000_000_000 }))),
      })
    const lost = network.loseNextAnswer(() => held(4))
    const first = await post(['a1', 'a2', 'a3'])
    await lost
    expect(first.status).toBe(503)
    network.heal()
    // Same partition (one card), same count: what the broker would take for the written batch.
    const second = await post(['b1', 'b2', 'b3'])
    expect(second.status).toBe(200)
    const events = (await storedValues(log, topic)).filter((value) => value !== 'warm-up')
    const ids = events.map((value) => JSON.parse(value).id as string)
    expect(ids.filter((id) => id.startsWith('b')).sort()).toEqual(['b1', 'b2', 'b3'])
  })
})
