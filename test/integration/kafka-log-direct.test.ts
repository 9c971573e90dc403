/**
 * KafkaLog against a real broker (scripts/servers/kafka.sh), beyond the shared Log conformance
 * suite: what is specific to Kafka (partition agreement with a plain kafkajs consumer, chunked
 * produce requests, error mapping, connection failures).
 */
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isSluiceError, SluiceError } from '../../runtime/errors.ts'
import type { LogRecord, OutgoingRecord, RecordBatch } from '../../runtime/log/index.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { KafkaLog as KafkaLogClass } from '../../runtime/log/kafka.ts'
import { partitionForKey } from '../../runtime/log/partitioner.ts'
import { connectKafkaLog, kafkaBrokers, uniqueName } from './kafka-env.ts'

let log: KafkaLog

beforeAll(async () => {
  log = await connectKafkaLog()
})

afterAll(async () => {
  await log?.close()
})

const text = (value: string): Buffer => Buffer.from(value, 'utf8')

async function expectCode(promise: Promise<unknown>, code: SluiceError['code']): Promise<SluiceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, `expected a SluiceError ${code}`).toBeInstanceOf(SluiceError)
  expect((error as SluiceError).code).toBe(code)
  return error as SluiceError
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('KafkaLog topics', () => {
  it('creates a topic once and leaves an existing one as it is', async () => {
    const topic = uniqueName('topics')
    await log.ensureTopic(topic, { partitions: 3 })
    expect(await log.partitions(topic)).toBe(3)
    await log.ensureTopic(topic, { partitions: 7 })
    expect(await log.partitions(topic)).toBe(3)
    expect(await log.endOffsets(topic)).toEqual([0, 0, 0])
    expect(await log.committedOffsets(uniqueName('group'), topic)).toEqual([-1, -1, -1])
  })

  it('rejects every operation on an unknown topic with LOG_UNKNOWN_TOPIC', async () => {
    const topic = uniqueName('missing')
    await expectCode(log.partitions(topic), 'LOG_UNKNOWN_TOPIC')
    await expectCode(log.append(topic, [{ key: 'k', value: text('v') }]), 'LOG_UNKNOWN_TOPIC')
    await expectCode(log.read(topic, 0, 0, 10), 'LOG_UNKNOWN_TOPIC')
    await expectCode(log.endOffsets(topic), 'LOG_UNKNOWN_TOPIC')
    await expectCode(log.committedOffsets('g', topic), 'LOG_UNKNOWN_TOPIC')
    await expectCode(
      log.subscribe({ group: uniqueName('g'), topics: [topic] }, async () => {}),
      'LOG_UNKNOWN_TOPIC',
    )
    // The broker must not have created it on the way (auto.create.topics.enable=false).
    await expectCode(log.partitions(topic), 'LOG_UNKNOWN_TOPIC')
  })

  it('maps records the broker refuses (timestamp hours ahead) to LOG_RECORD_REFUSED', async () => {
    const topic = uniqueName('future')
    await log.ensureTopic(topic)
    const future = Date.now() + 3 * 3600_000
    await expectCode(
      log.append(topic, [{ key: 'k', value: text('v'), timestamp: future }]),
      'LOG_RECORD_REFUSED',
    )
    // The producer goes on working after the refusal.
    expect(await log.append(topic, [{ key: 'k', value: text('v') }])).toEqual([
      { topic, partition: 0, offset: 0 },
    ])
  })

  it('with onRefused, leaves out only the refused records and writes every other record once', async () => {
    const topic = uniqueName('refusals')
    await log.ensureTopic(topic, { partitions: 3 })
    const future = Date.now() + 3 * 3600_000
    // Partition 1's batch holds the two refused records among good ones; partitions 0 and 2 are
    // fine, so the broker writes their batches in the same request that it refuses partition 1's.
    const records = Array.from({ length: 30 }, (_, i) => ({
      key: null,
      value: text(`v${i}`),
      partition: i % 3,
      ...(i === 7 || i === 22 ? { timestamp: future } : {}),
    }))
    const refused: [number, string][] = []
    const positions = await log.append(topic, records, {
      onRefused: (i, reason) => refused.push([i, reason]),
    })
    expect(refused.map(([i]) => i)).toEqual([7, 22])
    expect(refused[0]![1]).toMatch(/timestamp/i)
    expect(positions).toHaveLength(28)
    expect(await log.endOffsets(topic)).toEqual([10, 8, 10])
    const values: string[] = []
    for (const partition of [0, 1, 2]) {
      for (const r of await log.read(topic, partition, 0, 100)) values.push(r.value.toString())
    }
    const expected = records.map((r) => r.value.toString()).filter((_, i) => i !== 7 && i !== 22)
    expect(values.sort()).toEqual(expected.sort())
  })

  it('rejects a partition outside the topic with LOG_BAD_PARTITION', async () => {
    const topic = uniqueName('badpart')
    await log.ensureTopic(topic, { partitions: 2 })
    await expectCode(log.append(topic, [{ key: null, value: text('x'), partition: 2 }]), 'LOG_BAD_PARTITION')
    await expectCode(log.read(topic, 5, 0, 1), 'LOG_BAD_PARTITION')
    expect(await log.endOffsets(topic)).toEqual([0, 0])
  })
})

describe('KafkaLog append and read', () => {
  it('returns positions in input order and reads back keys, values, headers and timestamps', async () => {
    const topic = uniqueName('rw')
    await log.ensureTopic(topic, { partitions: 4 })
    const records: OutgoingRecord[] = [
      {
        key: 'alice',
        value: text('{"n":1}'),
        headers: { 'content-type': 'json', trace: 'αβγ' },
        timestamp: 1_700_000_000_000,
      },
      { key: 'bob', value: text('{"n":2}') },
      { key: 'alice', value: text('{"n":3}'), headers: { empty: '' } },
      { key: null, value: text('{"n":4}'), partition: 3 },
      { key: 'ключ', value: Buffer.from([0, 255, 1, 254]) },
    ]
    const positions = await log.append(topic, records)
    expect(positions).toHaveLength(records.length)
    for (const [i, record] of records.entries()) {
      const expected = record.partition ?? partitionForKey(record.key!, 4)
      expect(positions[i]).toMatchObject({ topic, partition: expected })
    }
    // Same key, same partition, consecutive offsets in input order.
    expect(positions[2]!.offset).toBe(positions[0]!.offset + 1)

    const alice = await log.read(topic, positions[0]!.partition, positions[0]!.offset, 10)
    const mine = alice.filter((r) => r.key === 'alice')
    expect(mine.map((r) => r.value.toString())).toEqual(['{"n":1}', '{"n":3}'])
    expect(mine[0]!.headers).toEqual({ 'content-type': 'json', trace: 'αβγ' })
    expect(mine[0]!.timestamp).toBe(1_700_000_000_000)
    expect(mine[1]!.headers).toEqual({ empty: '' })
    expect(Math.abs(mine[1]!.timestamp - Date.now())).toBeLessThan(60_000)

    const [binary] = await log.read(topic, positions[4]!.partition, positions[4]!.offset, 1)
    expect(binary!.key).toBe('ключ')
    expect([...binary!.value]).toEqual([0, 255, 1, 254])
    expect(binary).toMatchObject({ topic, partition: positions[4]!.partition, offset: positions[4]!.offset })

    const [unkeyed] = await log.read(topic, 3, positions[3]!.offset, 5)
    expect(unkeyed).toMatchObject({ key: null, headers: {}, partition: 3 })
    expect(unkeyed!.value.toString()).toBe('{"n":4}')
  })

  it('reads exactly the requested range and stops at the end of the partition', async () => {
    const topic = uniqueName('range')
    await log.ensureTopic(topic)
    const positions = await log.append(
      topic,
      Array.from({ length: 25 }, (_, i) => ({ key: null, value: text(`r${i}`) })),
    )
    expect(positions.map((p) => p.offset)).toEqual(Array.from({ length: 25 }, (_, i) => i))
    const values = (rs: LogRecord[]) => rs.map((r) => r.value.toString())
    expect(values(await log.read(topic, 0, 0, 5))).toEqual(['r0', 'r1', 'r2', 'r3', 'r4'])
    expect(values(await log.read(topic, 0, 10, 3))).toEqual(['r10', 'r11', 'r12'])
    expect(values(await log.read(topic, 0, 20, 100))).toEqual(['r20', 'r21', 'r22', 'r23', 'r24'])
    const started = Date.now()
    expect(await log.read(topic, 0, 25, 10)).toEqual([])
    expect(await log.read(topic, 0, 1000, 10)).toEqual([])
    expect(Date.now() - started).toBeLessThan(5000)
    const all = await log.read(topic, 0, 0, 1000)
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 25 }, (_, i) => i))
    expect(await log.endOffsets(topic)).toEqual([25])
  })

  it('reads what retention left: records deleted from the start of a partition are skipped', async () => {
    const topic = uniqueName('deleted')
    await log.ensureTopic(topic)
    await log.append(
      topic,
      Array.from({ length: 10 }, (_, i) => ({ key: null, value: text(`d${i}`) })),
    )
    const kafka = new Kafka({
      brokers: kafkaBrokers(),
      clientId: 'sluice-test-delete',
      logLevel: logLevel.NOTHING,
    })
    const admin = kafka.admin()
    await admin.connect()
    try {
      // kafkajs's deleteTopicRecords needs the topic in its metadata cache, which this loads.
      await admin.fetchTopicOffsets(topic)
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '6' }] })
    } finally {
      await admin.disconnect()
    }
    expect((await log.read(topic, 0, 0, 100)).map((r) => r.offset)).toEqual([6, 7, 8, 9])
    expect(await log.read(topic, 0, 0, 3)).toEqual([])
    expect((await log.read(topic, 0, 4, 4)).map((r) => r.value.toString())).toEqual(['d6', 'd7'])
    // Offsets are not reused after the deletion.
    expect(await log.append(topic, [{ key: null, value: text('d10') }])).toEqual([
      { topic, partition: 0, offset: 10 },
    ])
  })

  it('spreads unkeyed records round-robin and keeps offsets growing across appends', async () => {
    const topic = uniqueName('rr')
    await log.ensureTopic(topic, { partitions: 3 })
    const first = await log.append(
      topic,
      Array.from({ length: 6 }, (_, i) => ({ key: null, value: text(`a${i}`) })),
    )
    const counts = [0, 0, 0]
    for (const p of first) counts[p.partition]!++
    expect(counts).toEqual([2, 2, 2])
    await log.append(topic, [{ key: null, value: text('b'), partition: 1 }])
    expect(await log.endOffsets(topic)).toEqual([2, 3, 2])
  })

  it('places keys where Kafka clients and partitionForKey agree, as seen by a plain kafkajs consumer', async () => {
    const topic = uniqueName('agree')
    const partitions = 8
    await log.ensureTopic(topic, { partitions })
    const keys = Array.from({ length: 64 }, (_, i) => `user-${i}-${'x'.repeat(i % 7)}`)
    const positions = await log.append(
      topic,
      keys.map((key) => ({ key, value: text(key) })),
    )
    for (const [i, key] of keys.entries())
      expect(positions[i]!.partition).toBe(partitionForKey(key, partitions))

    // An independent reader: a kafkajs consumer reports where the broker stored each key.
    const kafka = new Kafka({
      brokers: kafkaBrokers(),
      clientId: 'sluice-test-agree',
      logLevel: logLevel.NOTHING,
    })
    const consumer = kafka.consumer({ groupId: uniqueName('agree-reader'), maxWaitTimeInMs: 200 })
    const seen = new Map<string, number>()
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          seen.set(message.key!.toString(), partition)
        },
      })
      await waitFor(() => seen.size === keys.length, 'all keys consumed')
    } finally {
      await consumer.disconnect()
    }
    for (const key of keys) expect(seen.get(key), key).toBe(partitionForKey(key, partitions))
  })

  it('serves concurrent offset calls while other topics are created and looked up', async () => {
    const own = await connectKafkaLog()
    try {
      const partitionsOf = (i: number) => 1 + (i % 3)
      const topics = Array.from({ length: 4 }, () => uniqueName('concurrent'))
      await Promise.all(topics.map((topic, i) => own.ensureTopic(topic, { partitions: partitionsOf(i) })))
      await Promise.all(
        topics.map((topic) => own.append(topic, [{ key: null, value: text('x'), partition: 0 }])),
      )
      // Offsets of known topics are asked for while topics the client never saw appear: in kafkajs
      // both go through one metadata cache.
      const fresh = Array.from({ length: 8 }, () => uniqueName('concurrent-new'))
      const calls: Promise<unknown>[] = fresh.map(async (topic, i) => {
        await own.ensureTopic(topic, { partitions: partitionsOf(i) })
        expect(await own.partitions(topic)).toBe(partitionsOf(i))
        expect(await own.endOffsets(topic)).toHaveLength(partitionsOf(i))
      })
      for (let round = 0; round < 10; round++) {
        for (const [i, topic] of topics.entries()) {
          calls.push(own.endOffsets(topic).then((ends) => expect(ends[0]).toBe(1)))
          calls.push(
            own.committedOffsets(uniqueName('g'), topic).then((c) => expect(c).toHaveLength(partitionsOf(i))),
          )
        }
      }
      await Promise.all(calls)
    } finally {
      await own.close()
    }
  })

  it('splits a large append into several produce requests without losing order', async () => {
    const topic = uniqueName('large')
    await log.ensureTopic(topic, { partitions: 2 })
    const payload = 'p'.repeat(1000)
    const records = Array.from({ length: 3000 }, (_, i) => ({
      key: `k${i % 10}`,
      value: text(`${i}:${payload}`),
    }))
    const positions = await log.append(topic, records)
    const ends = await log.endOffsets(topic)
    expect(ends[0]! + ends[1]!).toBe(3000)
    // Offsets per partition are 0..n-1 in input order.
    const perPartition = [0, 1].map((p) => positions.filter((x) => x.partition === p).map((x) => x.offset))
    for (const [p, offsets] of perPartition.entries()) {
      expect(offsets).toEqual(Array.from({ length: ends[p]! }, (_, i) => i))
    }
    const back = await log.read(topic, 0, 0, 5000)
    const expected = records.filter((_, i) => positions[i]!.partition === 0).map((r) => r.value.toString())
    expect(back.map((r) => r.value.toString())).toEqual(expected)
  })
})

describe('KafkaLog subscribe', () => {
  it('delivers in offset order, commits after the handler, and a new subscriber resumes there', async () => {
    const topic = uniqueName('sub')
    const group = uniqueName('sub-group')
    await log.ensureTopic(topic, { partitions: 2 })
    await log.append(
      topic,
      Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 5}`, value: text(String(i)) })),
    )
    const batches: RecordBatch[] = []
    const first = await log.subscribe({ group, topics: [topic], maxBatchRecords: 7 }, async (batch) => {
      batches.push(batch)
    })
    await waitFor(() => batches.reduce((n, b) => n + b.records.length, 0) === 40, '40 records')
    await first.stop()
    await first.done
    for (const batch of batches) {
      expect(batch.records.length).toBeGreaterThan(0)
      expect(batch.records.length).toBeLessThanOrEqual(7)
      expect(batch.records.every((r) => r.topic === topic && r.partition === batch.partition)).toBe(true)
    }
    for (const p of [0, 1]) {
      const offsets = batches.filter((b) => b.partition === p).flatMap((b) => b.records.map((r) => r.offset))
      expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => i))
    }
    expect(await log.committedOffsets(group, topic)).toEqual(await log.endOffsets(topic))

    // A second subscriber of the group gets only what was appended since.
    await log.append(topic, [{ key: null, value: text('late'), partition: 1 }])
    const later: LogRecord[] = []
    const second = await log.subscribe({ group, topics: [topic] }, async (batch) => {
      later.push(...batch.records)
    })
    await waitFor(() => later.length >= 1, 'the late record')
    await second.stop()
    expect(later.map((r) => r.value.toString())).toEqual(['late'])
    expect(await log.committedOffsets(group, topic)).toEqual(await log.endOffsets(topic))
  })

  it('stops on a rejecting handler without committing, and the batch goes to the next subscriber', async () => {
    const topic = uniqueName('reject')
    const group = uniqueName('reject-group')
    await log.ensureTopic(topic)
    await log.append(
      topic,
      Array.from({ length: 10 }, (_, i) => ({ key: null, value: text(String(i)) })),
    )
    const failure = new Error('handler failed')
    let calls = 0
    const failing = await log.subscribe({ group, topics: [topic], maxBatchRecords: 4 }, async (batch) => {
      calls++
      // The first batch succeeds (committed), the second fails.
      if (batch.records[0]!.offset >= 4) throw failure
    })
    await expect(failing.done).rejects.toBe(failure)
    expect(calls).toBe(2)
    expect(await log.committedOffsets(group, topic)).toEqual([4])
    await failing.stop() // idempotent after the failure

    const redelivered: number[] = []
    const next = await log.subscribe({ group, topics: [topic] }, async (batch) => {
      redelivered.push(...batch.records.map((r) => r.offset))
    })
    await waitFor(() => redelivered.length >= 6, 'offsets 4..9')
    await next.stop()
    expect(redelivered).toEqual([4, 5, 6, 7, 8, 9])
    expect(await log.committedOffsets(group, topic)).toEqual([10])
  })

  it('starts a new group at the end of each partition when fromBeginning is false', async () => {
    const topic = uniqueName('latest')
    await log.ensureTopic(topic, { partitions: 2 })
    await log.append(topic, [
      { key: null, value: text('old0'), partition: 0 },
      { key: null, value: text('old1'), partition: 1 },
    ])
    const got: string[] = []
    const sub = await log.subscribe(
      { group: uniqueName('latest-group'), topics: [topic], fromBeginning: false },
      async (batch) => {
        got.push(...batch.records.map((r) => r.value.toString()))
      },
    )
    await log.append(topic, [
      { key: null, value: text('new0'), partition: 0 },
      { key: null, value: text('new1'), partition: 1 },
    ])
    await waitFor(() => got.length >= 2, 'the two new records')
    await sub.stop()
    expect(got.sort()).toEqual(['new0', 'new1'])
  })

  it('waits for the handler in flight on stop and commits its batch', async () => {
    const topic = uniqueName('inflight')
    const group = uniqueName('inflight-group')
    await log.ensureTopic(topic)
    await log.append(topic, [{ key: null, value: text('slow') }])
    let entered = false
    let finished = false
    const sub = await log.subscribe({ group, topics: [topic] }, async () => {
      entered = true
      await new Promise((resolve) => setTimeout(resolve, 500))
      finished = true
    })
    await waitFor(() => entered, 'the handler to start')
    await sub.stop()
    expect(finished).toBe(true)
    await sub.done
    expect(await log.committedOffsets(group, topic)).toEqual([1])
  })
})

describe('KafkaLog lifecycle', () => {
  it('maps an unreachable cluster to a retryable KAFKA_UNAVAILABLE naming the brokers', async () => {
    const started = Date.now()
    const error = await expectCode(
      KafkaLogClass.connect({ brokers: ['127.0.0.1:1'], retries: 1, logLevel: 'error', logger: () => {} }),
      'KAFKA_UNAVAILABLE',
    )
    expect(error.retryable).toBe(true)
    expect(error.message).toContain('127.0.0.1:1')
    expect(Date.now() - started).toBeLessThan(20_000)
  })

  it('lets calls in flight finish on close: an append under way is written', async () => {
    const own = await connectKafkaLog()
    const topic = uniqueName('closing')
    await own.ensureTopic(topic)
    const appending = own.append(
      topic,
      Array.from({ length: 500 }, (_, i) => ({ key: null, value: text(`c${i}`) })),
    )
    const reading = own.read(topic, 0, 0, 10)
    await own.close()
    const positions = await appending
    expect(positions.map((p) => p.offset)).toEqual(Array.from({ length: 500 }, (_, i) => i))
    expect(Array.isArray(await reading)).toBe(true)
    expect(await log.endOffsets(topic)).toEqual([500])
  })

  it('rejects calls after close with LOG_CLOSED and stops its subscriptions', async () => {
    const own = await connectKafkaLog()
    const topic = uniqueName('closed')
    await own.ensureTopic(topic)
    const sub = await own.subscribe({ group: uniqueName('closed-group'), topics: [topic] }, async () => {})
    await own.close()
    await sub.done
    await own.close()
    await expectCode(own.partitions(topic), 'LOG_CLOSED')
    await expectCode(own.append(topic, [{ key: null, value: text('x') }]), 'LOG_CLOSED')
    expect(isSluiceError(await own.endOffsets(topic).catch((e: unknown) => e), 'LOG_CLOSED')).toBe(true)
  })
})
