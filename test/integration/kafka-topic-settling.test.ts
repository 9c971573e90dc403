/**
 * A topic created while an append or read is already asking for it (issues 15/16, Kafka client
 * defects; runtime/log/kafka-topic-settling.ts): another node creates it, and until its metadata
 * reaches the broker this node asks, the broker answers UNKNOWN_TOPIC_OR_PARTITION. Before the fix
 * the append failed at once with the final LOG_UNKNOWN_TOPIC. The window is made deterministic by
 * starting the call before the topic exists and creating it while the call waits.
 */
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
