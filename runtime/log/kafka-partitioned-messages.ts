/**
 * The messages of one kafkajs send, each already placed on its partition (KafkaLog places every
 * record itself), grouped per partition by kafkajs in linear time.
 *
 * Why: kafkajs 2.2.4 groups a send's messages per partition (producer/groupMessagesPerPartition.js)
 * with a `reduce` whose step copies the partition's whole array to append one message
 * (`[...current, message]`) and calls the partitioner, which filters the partition metadata, for
 * every message: quadratic in the messages per partition, and most of it garbage. Issue 15's
 * profile of the exactly-once pipeline put that reduce at 4.7% of the node's busy time, plus its
 * share of the garbage collector's 17.6%. kafkajs calls `messages.reduce(step, {})` on the very
 * array handed to `send` (sendBatch merges only repeated topics, which KafkaLog never sends), so
 * an array whose `reduce` groups by each message's own `partition` gives kafkajs the same
 * grouping: the DefaultPartitioner returns a message's `partition` whenever it is set.
 * kafka-partitioned-messages.test.ts checks that against kafkajs's own grouping; kafkajs is pinned.
 *
 * The sequence numbers (one per message of a partition's batch), AddPartitionsToTxn, the request
 * and everything after it stay kafkajs's (and kafka-produce-encoder.ts's).
 */
import type { Message } from 'kafkajs'

/** A message whose partition is already chosen, as KafkaLog sends every one. */
export type PlacedMessage = Message & { readonly partition: number }

/**
 * An array of placed messages whose `reduce(step, {})`, kafkajs's grouping call, returns the
 * messages per partition (partition → messages in send order) without calling `step`. Any other
 * use of `reduce` (another initial value, a message without a partition) is Array's own.
 */
export class PartitionedMessages extends Array<Message> {
  // Derived arrays (map, filter, slice) are plain ones: only the array handed to send groups itself.
  static override get [Symbol.species](): ArrayConstructor {
    return Array
  }

  /** The messages of one send, in send order. */
  static placed(messages: readonly PlacedMessage[]): PartitionedMessages {
    const array = new PartitionedMessages()
    for (const message of messages) array.push(message)
    return array
  }

  override reduce(
    step: (previous: Message, current: Message, index: number, array: Message[]) => Message,
  ): Message
  override reduce(
    step: (previous: Message, current: Message, index: number, array: Message[]) => Message,
    initial: Message,
  ): Message
  override reduce<U>(
    step: (previous: U, current: Message, index: number, array: Message[]) => U,
    initial: U,
  ): U
  override reduce(...args: unknown[]): unknown {
    const initial: unknown = args[1]
    if (args.length !== 2 || !isEmptyPlainObject(initial)) {
      return (Array.prototype.reduce as (...a: unknown[]) => unknown).apply(this, args)
    }
    const grouped = initial as Record<number, Message[]>
    for (const message of this) {
      if (!Number.isInteger(message.partition)) {
        // Not placed by KafkaLog: kafkajs's own step decides (the partitioner may hash a key).
        return (Array.prototype.reduce as (...a: unknown[]) => unknown).apply(this, args)
      }
    }
    for (const message of this) {
      const partition = message.partition as number
      const list = grouped[partition]
      if (list === undefined) grouped[partition] = [message]
      else list.push(message)
    }
    return grouped
  }
}

function isEmptyPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return false
  for (const _ in value) return false
  return true
}
