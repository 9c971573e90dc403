/**
 * KafkaLog.read without a consumer group (runtime/log/kafka-reader.ts): what it sends to the
 * broker, and the ranges it reads across aborted transactions and record batches.
 */
import { connect } from 'node:net'
import { type ISocketFactory, Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { connectKafkaLog, kafkaBrokers, uniqueName } from './kafka-env.ts'

/** Kafka protocol API keys of the requests a consumer group needs. */
const GROUP_APIS: Record<number, string> = {
  8: 'OffsetCommit',
  10: 'FindCoordinator',
  11: 'JoinGroup',
  12: 'Heartbeat',
  13: 'LeaveGroup',
  14: 'SyncGroup',
  42: 'DeleteGroups',
}
const FETCH = 1

/** A socket factory that records the API key of every request the client sends. */
function recordingFactory(apiKeys: number[]): ISocketFactory {
  return ({ host, port, onConnect }) => {
    const socket = connect({ host, port }, onConnect)
    // Requests are size-prefixed frames: INT32 size, then INT16 api key, ...
    let pending = Buffer.alloc(0)
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (Buffer.isBuffer(chunk)) {
        pending = Buffer.concat([pending, chunk])
        while (pending.length >= 6 && pending.length >= 4 + pending.readInt32BE(0)) {
          apiKeys.push(pending.readInt16BE(4))
          pending = pending.subarray(4 + pending.readInt32BE(0))
        }
      }
      return write(chunk, ...rest)
    }) as typeof socket.write
    return socket
  }
}

let log: KafkaLog

beforeAll(async () => {
  log = await connectKafkaLog()
})

afterAll(async () => {
  await log?.close()
})

const text = (value: string): Buffer => Buffer.from(value, 'utf8')

describe('KafkaLog.read', () => {
  it('reads with Fetch requests alone: no consumer group is found, joined, committed to or deleted', async () => {
    const topic = uniqueName('read-nogroup')
    await log.ensureTopic(topic, { partitions: 2 })
    await log.append(
      topic,
      Array.from({ length: 10 }, (_, i) => ({ key: null, value: text(`v${i}`), partition: i % 2 })),
    )
    const apiKeys: number[] = []
    const reader = await connectKafkaLog({ socketFactory: recordingFactory(apiKeys) })
    try {
      const even = await reader.read(topic, 0, 0, 100)
      const odd = await reader.read(topic, 1, 2, 100)
      expect(even.map((r) => r.value.toString())).toEqual(['v0', 'v2', 'v4', 'v6', 'v8'])
      expect(odd.map((r) => r.value.toString())).toEqual(['v5', 'v7', 'v9'])
    } finally {
      await reader.close()
    }
    expect(apiKeys).toContain(FETCH)
    expect(apiKeys.filter((key) => key in GROUP_APIS).map((key) => GROUP_APIS[key])).toEqual([])
  })

  it('reads a range spanning many record batches and stops at maxRecords', async () => {
    const topic = uniqueName('read-batches')
    await log.ensureTopic(topic)
    // Ten appends: ten record batches of 300 records each.
    for (let a = 0; a < 10; a++) {
      await log.append(
        topic,
        Array.from({ length: 300 }, (_, i) => ({ key: null, value: text(`b${a * 300 + i}`) })),
      )
    }
    const all = await log.read(topic, 0, 0, 10_000)
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 3000 }, (_, i) => i))
    const middle = await log.read(topic, 0, 1234, 1000)
    expect(middle.map((r) => r.value.toString())).toEqual(
      Array.from({ length: 1000 }, (_, i) => `b${1234 + i}`),
    )
  })

  it("skips an aborted transaction's records and markers, and reads a committed one", async () => {
    const topic = uniqueName('read-txn')
    await log.ensureTopic(topic)
    const kafka = new Kafka({ clientId: 'sluice-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING })
    const producer = kafka.producer({
      transactionalId: uniqueName('read-txn'),
      idempotent: true,
      maxInFlightRequests: 1,
    })
    await producer.connect()
    try {
      await log.append(topic, [{ key: null, value: text('before') }])
      const aborted = await producer.transaction()
      await aborted.send({ topic, messages: [{ value: 'a1' }, { value: 'a2' }], acks: -1 })
      await aborted.abort()
      const committed = await producer.transaction()
      await committed.send({ topic, messages: [{ value: 'c1' }], acks: -1 })
      await committed.commit()
      await log.append(topic, [{ key: null, value: text('after') }])
    } finally {
      await producer.disconnect()
    }
    // Offsets: before 0, a1 1, a2 2, abort marker 3, c1 4; then the commit marker and 'after' in
    // either order (the broker acknowledges EndTxn before it writes the marker).
    const records = await log.read(topic, 0, 0, 100)
    expect(records.map((r) => r.value.toString())).toEqual(['before', 'c1', 'after'])
    expect(records.map((r) => r.offset).slice(0, 2)).toEqual([0, 4])
    expect([5, 6]).toContain(records[2]!.offset)
    // A range starting inside the aborted transaction reaches the next record.
    expect((await log.read(topic, 0, 1, 1)).map((r) => r.value.toString())).toEqual(['c1'])
  })
})
