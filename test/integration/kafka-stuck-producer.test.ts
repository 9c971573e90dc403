/**
 * An idempotent producer whose sequence the broker no longer accepts (issues 15/16, Kafka client
 * defects; runtime/log/kafka-stuck-producer.ts): before the fix, one OUT_OF_ORDER_SEQUENCE_NUMBER
 * or INVALID_PRODUCER_EPOCH left every later append to the partition failing the same way; in a
 * transaction the refusal left the transaction open and the error unmapped (not LOG_FENCED).
 *
 * Runs against the shared broker without restarting it. The broker's state for the log's producer
 * id is moved behind the log's back, deterministically: the test copies the log's last Produce
 * request off its socket and sends the copy to the broker on a connection of its own, with the
 * sequence moved on (the broker then expects a later sequence than the client: a write under the
 * id that the client never learned of) or with the next producer epoch (the id's epoch moved on).
 */
import { connect, Socket } from 'node:net'
import { type ISocketFactory, Kafka, logLevel } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { isSluiceError } from '../../runtime/errors.ts'
import { crc32c } from '../../runtime/log/crc32c.ts'
import type { OutgoingRecord } from '../../runtime/log/index.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { TransactionalProducer } from '../../runtime/log/kafka-transactions.ts'
import { readTopic } from '../support/read-topic.ts'
import { connectKafkaLog, kafkaBrokers, uniqueName } from './kafka-env.ts'

const PRODUCE_API_KEY = 0

/** Sockets that keep a copy of the last Produce request written to them. */
class ProduceTap {
  last: Buffer | undefined

  readonly factory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = connect({ host, port }, onConnect)
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      // A request is a size (int32) then its header, which starts with the API key (int16).
      if (Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === PRODUCE_API_KEY) {
        this.last = Buffer.from(chunk)
      }
      return write(chunk, ...rest)
    }) as typeof socket.write
    return socket
  }
}

/**
 * Where the record batch starts in a Produce request (v3 to v8, one topic with one partition, as
 * the tests send): size, API key, version, correlation id, client id, transactional id, acks,
 * timeout, topic count, topic name, partition count, partition, record set size.
 */
function batchStart(request: Buffer): number {
  let at = 4 + 2 + 2 + 4
  at += 2 + request.readInt16BE(at) // client id
  const transactionalId = request.readInt16BE(at)
  at += 2 + Math.max(transactionalId, 0)
  at += 2 + 4 // acks, timeout
  expect(request.readInt32BE(at)).toBe(1)
  at += 4
  at += 2 + request.readInt16BE(at) // topic name
  expect(request.readInt32BE(at)).toBe(1)
  at += 4 + 4 + 4 // partition count, partition, record set size
  return at
}

/** Offsets in a record batch (format v2) of the fields the test changes, and of the CRC's range. */
const BATCH = { length: 8, crc: 17, attributes: 21, producerEpoch: 51, baseSequence: 53, recordCount: 57 }

/**
 * `request` (the log's last Produce) with the batch's sequence or epoch changed, its CRC-32C
 * computed again, sent to the broker on a connection of the test's own; resolves to the broker's
 * error code for the partition (0: written).
 */
async function sendAltered(request: Buffer, alter: (batch: Buffer) => void): Promise<number> {
  const copy = Buffer.from(request)
  const start = batchStart(copy)
  const batch = copy.subarray(start, start + 12 + copy.readInt32BE(start + BATCH.length))
  alter(batch)
  batch.writeUInt32BE(crc32c(batch, BATCH.attributes) >>> 0, BATCH.crc)
  const [host, port] = kafkaBrokers()[0]!.split(':') as [string, string]
  const socket = new Socket()
  try {
    const answer = await new Promise<Buffer>((resolve, reject) => {
      let received = Buffer.alloc(0)
      socket.on('error', reject)
      socket.on('data', (data) => {
        received = Buffer.concat([received, data])
        if (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) resolve(received)
      })
      socket.connect(Number(port), host, () => socket.write(copy))
    })
    // Size, correlation id, topic count, topic name, partition count, partition, error code.
    let at = 4 + 4 + 4
    at += 2 + answer.readInt16BE(at)
    at += 4 + 4
    return answer.readInt16BE(at)
  } finally {
    socket.destroy()
  }
}

const logs: KafkaLog[] = []
afterEach(async () => {
  await Promise.all(logs.splice(0).map((log) => log.close()))
})

const batch = (name: string, count: number): OutgoingRecord[] =>
  Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`${name}-${i}`), partition: 0 }))

async function setUp() {
  const tap = new ProduceTap()
  const log = await connectKafkaLog({
    clientId: 'sluice-stuck-producer',
    socketFactory: tap.factory,
    retries: 1,
    logLevel: 'error',
    logger: () => {},
  })
  logs.push(log)
  const topic = uniqueName('stuck-producer')
  await log.ensureTopic(topic, { partitions: 1 })
  const first = batch('first', 3)
  await log.append(topic, first)
  expect(tap.last).toBeDefined()
  return { log, topic, request: tap.last! }
}

/** Appends `records`, checks each is in the topic at the offset its append answered. */
async function expectStored(log: KafkaLog, topic: string, records: OutgoingRecord[]): Promise<void> {
  const positions = await log.append(topic, records)
  const stored = await readTopic(log, topic)
  for (const [i, position] of positions.entries()) {
    expect(stored.find((r) => r.offset === position.offset)?.value.toString()).toBe(
      records[i]!.value.toString(),
    )
  }
}

describe('KafkaLog append after the broker refused its producer’s sequence', () => {
  it('goes on under a new producer id after OUT_OF_ORDER_SEQUENCE_NUMBER, storing every record once', async () => {
    const { log, topic, request } = await setUp()
    // The broker writes a copy of the first batch under the log's id with the next sequence: it
    // now expects sequence 6 from the id, the log will send 3.
    const written = await sendAltered(request, (b) =>
      b.writeInt32BE(
        b.readInt32BE(BATCH.baseSequence) + b.readInt32BE(BATCH.recordCount),
        BATCH.baseSequence,
      ),
    )
    expect(written).toBe(0)
    // Another count than the copy's, so the broker does not take it for that batch.
    const second = batch('second', 2)
    await expectStored(log, topic, second)
    const third = batch('third', 4)
    await expectStored(log, topic, third)
    const values = (await readTopic(log, topic)).map((r) => r.value.toString())
    for (const record of [...second, ...third]) {
      expect(values.filter((v) => v === record.value.toString())).toHaveLength(1)
    }
  })

  it('goes on under a new producer id after the id’s epoch moved on (INVALID_PRODUCER_EPOCH)', async () => {
    const { log, topic, request } = await setUp()
    const written = await sendAltered(request, (b) => {
      b.writeInt16BE(b.readInt16BE(BATCH.producerEpoch) + 1, BATCH.producerEpoch)
      b.writeInt32BE(0, BATCH.baseSequence)
    })
    expect(written).toBe(0)
    const second = batch('second', 2)
    await expectStored(log, topic, second)
    await expectStored(log, topic, batch('third', 3))
  })
})

describe('a transaction after the broker refused its producer’s sequence', () => {
  it('is aborted and ends as LOG_FENCED; a new producer for the id goes on, and only its records are visible', async () => {
    const tap = new ProduceTap()
    const kafka = new Kafka({
      clientId: 'sluice-stuck-transaction',
      brokers: kafkaBrokers(),
      socketFactory: tap.factory,
      logLevel: logLevel.NOTHING,
    })
    const log = await connectKafkaLog({ clientId: 'sluice-stuck-transaction-reader' })
    logs.push(log)
    const topic = uniqueName('stuck-transaction')
    const group = uniqueName('stuck-transaction-group')
    await log.ensureTopic(topic, { partitions: 1 })
    const open = () =>
      TransactionalProducer.open({
        kafka,
        transactionalId: uniqueName('stuck-transaction-id'),
        retries: 1,
        transactionTimeoutMs: 60_000,
        mapError: (error) => error,
      })
    const messages = (name: string, count: number) =>
      Array.from({ length: count }, (_, i) => ({ value: `${name}-${i}`, partition: 0 }))
    const producer = await open()
    try {
      await producer.send({ topic, messages: messages('first', 3) })
      const written = await sendAltered(tap.last!, (b) =>
        b.writeInt32BE(
          b.readInt32BE(BATCH.baseSequence) + b.readInt32BE(BATCH.recordCount),
          BATCH.baseSequence,
        ),
      )
      expect(written).toBe(0)
      const error = await producer.send({ topic, messages: messages('second', 2) }).catch((e: unknown) => e)
      expect(isSluiceError(error, 'LOG_FENCED'), String(error)).toBe(true)
      await expect(producer.commit(group, [{ topic, partition: 0, offset: 0 }], '')).rejects.toBe(error)
    } finally {
      await producer.close()
    }
    const next = await open()
    try {
      await next.send({ topic, messages: messages('after', 1) })
      await next.commit(group, [{ topic, partition: 0, offset: 0 }], '')
    } finally {
      await next.close()
    }
    const deadline = Date.now() + 30_000
    let visible: string[] = []
    while (!visible.includes('after-0') && Date.now() < deadline) {
      visible = (await readTopic(log, topic)).map((r) => r.value.toString())
      if (!visible.includes('after-0')) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(visible).toEqual(['after-0'])
  })
})
