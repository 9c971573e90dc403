import { createRequire } from 'node:module'
import fc from 'fast-check'
import { type Message, Partitioners, type PartitionMetadata } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { PartitionedMessages, type PlacedMessage } from './kafka-partitioned-messages.ts'

const require = createRequire(import.meta.url)
// kafkajs's own grouping, as its producer's sendMessages calls it (pinned kafkajs).
const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (args: {
  topic: string
  partitionMetadata: PartitionMetadata[]
  messages: Message[]
  partitioner: ReturnType<typeof Partitioners.DefaultPartitioner>
}) => Record<string, Message[]>

const PARTITIONS = 6
const partitionMetadata: PartitionMetadata[] = Array.from({ length: PARTITIONS }, (_, partitionId) => ({
  partitionErrorCode: 0,
  partitionId,
  leader: 1,
  replicas: [1],
  isr: [1],
}))

function kafkajsGrouping(messages: Message[]): Record<string, Message[]> {
  return groupMessagesPerPartition({
    topic: 'out',
    partitionMetadata,
    messages,
    partitioner: Partitioners.DefaultPartitioner(),
  })
}

const placedMessage: fc.Arbitrary<PlacedMessage> = fc.record({
  key: fc.option(fc.string(), { nil: null }),
  value: fc.string(),
  partition: fc.integer({ min: 0, max: PARTITIONS - 1 }),
  timestamp: fc.integer({ min: 0, max: 2 ** 41 }).map(String),
})

describe('PartitionedMessages', () => {
  it('kafkajs groups it exactly as it groups the same messages in a plain array', () => {
    fc.assert(
      fc.property(fc.array(placedMessage, { maxLength: 300 }), (messages) => {
        const grouped = kafkajsGrouping(PartitionedMessages.placed(messages))
        expect(grouped).toEqual(kafkajsGrouping([...messages]))
        // The same message objects, in send order: kafkajs numbers them in this order.
        for (const [partition, list] of Object.entries(grouped)) {
          const sent = messages.filter((m) => m.partition === Number(partition))
          expect(list).toHaveLength(sent.length)
          for (let i = 0; i < sent.length; i++) expect(list[i]).toBe(sent[i])
        }
        expect(Object.keys(grouped)).toEqual(Object.keys(kafkajsGrouping([...messages])))
      }),
    )
  })

  it("kafkajs's per-message step (and its partitioner) is not called for placed messages", () => {
    const messages = PartitionedMessages.placed([
      { key: 'a', value: '1', partition: 1 },
      { key: 'b', value: '2', partition: 1 },
    ])
    const grouped = groupMessagesPerPartition({
      topic: 'out',
      partitionMetadata,
      messages,
      partitioner: () => {
        throw new Error('the partitioner was called')
      },
    })
    expect(grouped).toEqual({ 1: [messages[0], messages[1]] })
  })

  it('a message without a partition leaves the grouping to kafkajs (its partitioner hashes the key)', () => {
    const messages = [
      { key: 'a', value: '1', partition: 2 },
      { key: 'b', value: '2' },
      { key: 'c', value: '3', partition: 0 },
    ] as PlacedMessage[]
    const grouped = kafkajsGrouping(PartitionedMessages.placed(messages))
    expect(grouped).toEqual(kafkajsGrouping([...messages]))
    expect(Object.values(grouped).flat()).toHaveLength(3)
  })

  it('is an ordinary array to every other use', () => {
    const messages = PartitionedMessages.placed([
      { key: null, value: 'x', partition: 1 },
      { key: null, value: 'yy', partition: 0 },
    ])
    expect(messages.reduce((sum, m) => sum + String(m.value).length, 0)).toBe(3)
    const byValue = (acc: Record<string, unknown>, m: Message) =>
      Object.assign(acc, { [String(m.value)]: m.partition })
    expect(messages.reduce(byValue, { seed: 1 })).toEqual({ seed: 1, x: 1, yy: 0 })
    expect(messages.find((m) => m.value === 'yy')?.partition).toBe(0)
    const derived = messages.map((m) => m)
    expect(derived).not.toBeInstanceOf(PartitionedMessages)
    expect(Array.isArray(messages)).toBe(true)
    expect([...messages]).toHaveLength(2)
  })
})
