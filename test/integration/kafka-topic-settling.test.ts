/**
 * A topic created while an append or read is already asking for it (issues 15/16, Kafka client
 * defects; runtime/log/kafka-topic-settling.ts): another node creates it, and until its metadata
 * reaches the broker this node asks, the broker answers UNKNOWN_TOPIC_OR_PARTITION. Before the fix
 * the append failed at once with the final LOG_UNKNOWN_TOPIC. The window is made deterministic by
 * starting the call before the topic exists and creating it while the call waits; for ensureTopic,
 * whose kafkajs wait for leaders gave up on the same answer, by making the broker give it.
 */
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import type { ISocketFactory } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { isSluiceError } from '../../runtime/errors.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { connectKafkaLog, uniqueName } from './kafka-env.ts'

const logs: KafkaLog[] = []
afterEach(async () => {
  await Promise.all(logs.splice(0).map((log) => log.close()))
})

/** This node's log, and another node's that creates topics. */
async function twoNodes(unknownTopicWaitMs: number) {
  const log = await connectKafkaLog({ clientId: 'sluice-settling', unknownTopicWaitMs })
  const other = await connectKafkaLog({ clientId: 'sluice-settling-other' })
  logs.push(log, other)
  return { log, other }
}

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('KafkaLog on a topic another node is creating', () => {
  it('an append started before the topic exists lands once the topic is there', async () => {
    const { log, other } = await twoNodes(20_000)
    const topic = uniqueName('settling-append')
    const appending = log.append(topic, [{ key: 'k', value: Buffer.from('v') }])
    await later(300)
    await other.ensureTopic(topic, { partitions: 2 })
    const [position] = await appending
    const [record] = await other.read(topic, position!.partition, position!.offset, 1)
    expect(record?.value.toString()).toBe('v')
  })

  it('a read started before the topic exists answers from the topic once it is there', async () => {
    const { log, other } = await twoNodes(20_000)
    const topic = uniqueName('settling-read')
    const reading = log.read(topic, 0, 0, 10)
    await later(300)
    await other.ensureTopic(topic)
    expect(await reading).toEqual([])
  })

  it('a subscription started before its topic exists gets the topic’s records once it is there', async () => {
    const { log, other } = await twoNodes(20_000)
    const topic = uniqueName('settling-subscribe')
    const received: string[] = []
    const subscribing = log.subscribe(
      { group: uniqueName('settling-group'), topics: [topic] },
      async (batch) => {
        for (const record of batch.records) received.push(record.value.toString())
      },
    )
    await later(300)
    await other.ensureTopic(topic)
    const subscription = await subscribing
    try {
      await other.append(topic, [{ key: null, value: Buffer.from('hello') }])
      const deadline = Date.now() + 30_000
      while (received.length === 0 && Date.now() < deadline) await later(50)
      expect(received).toEqual(['hello'])
    } finally {
      await subscription.stop()
    }
  })

  it('a topic that stays unknown is LOG_UNKNOWN_TOPIC, final, after the wait', async () => {
    const { log } = await twoNodes(500)
    const topic = uniqueName('settling-never')
    for (const call of [
      log.append(topic, [{ key: 'k', value: Buffer.from('v') }]),
      log.read(topic, 0, 0, 1),
    ]) {
      const error = await call.catch((e: unknown) => e)
      expect(isSluiceError(error, 'LOG_UNKNOWN_TOPIC')).toBe(true)
      expect((error as { retryable: boolean }).retryable).toBe(false)
    }
    // The broker did not create it on the way (auto.create.topics.enable=false).
    await expect(log.partitions(topic)).rejects.toMatchObject({ code: 'LOG_UNKNOWN_TOPIC' })
  })
})

const CREATE_TOPICS_API_KEY = 19
const METADATA_API_KEY = 3

/**
 * Sockets on which the first Metadata request after a CreateTopics asks for another, unknown topic
 * instead of `topic` (same length): the broker answers UNKNOWN_TOPIC_OR_PARTITION, as a broker does
 * whose metadata has not caught up with the controller that just created the topic.
 */
function laggingMetadata(topic: string): ISocketFactory {
  let created = false
  return ({ host, port, onConnect }) => {
    const socket = connect({ host, port }, onConnect)
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (Buffer.isBuffer(chunk) && chunk.length >= 6) {
        const apiKey = chunk.readInt16BE(4)
        if (apiKey === CREATE_TOPICS_API_KEY) created = true
        const name = Buffer.from(topic)
        const at = chunk.indexOf(name)
        if (apiKey === METADATA_API_KEY && created && at >= 0) {
          created = false
          const other = Buffer.from(chunk)
          Buffer.from(`lagging-${randomBytes(topic.length).toString('hex')}`.slice(0, topic.length)).copy(
            other,
            at,
          )
          return write(other, ...rest)
        }
      }
      return write(chunk, ...rest)
    }) as typeof socket.write
    return socket
  }
}

describe('KafkaLog.ensureTopic on a broker whose metadata lags', () => {
  it('waits for the topic it created instead of calling it unknown', async () => {
    const topic = uniqueName('settling-create')
    const log = await connectKafkaLog({
      clientId: 'sluice-settling-create',
      socketFactory: laggingMetadata(topic),
    })
    logs.push(log)
    await log.ensureTopic(topic, { partitions: 2 })
    expect(await log.partitions(topic)).toBe(2)
    await log.append(topic, [{ key: 'k', value: Buffer.from('v') }])
  })
})
