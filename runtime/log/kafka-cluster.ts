/**
 * kafkajs's internal cluster object: the connections, metadata and per-broker requests every
 * kafkajs client is built on. Two things Sluice needs are only reachable through it: LeaveGroup
 * for another member's id (kafka-handover.ts) and a Fetch of one partition from an offset without
 * joining a consumer group (kafka-reader.ts; kafkajs has no public assign()).
 *
 * kafkajs 2.x builds its clusters with a private factory on the Kafka object. The lookup is by the
 * symbol's description, checked here, so a kafkajs that renamed it fails loudly (kafkajs is pinned).
 */
import type { Kafka, KafkaMessage } from 'kafkajs'

/** What eviction needs of kafkajs's coordinator lookup. */
export interface GroupCoordinator {
  leaveGroup(request: { groupId: string; memberId: string }): Promise<unknown>
}

/** One partition of a Fetch response, as kafkajs decodes it (v4 and later). */
export interface FetchedPartition {
  readonly partition: number
  readonly errorCode: number
  readonly highWatermark: string
  readonly lastStableOffset?: string
  readonly abortedTransactions?: readonly { producerId: string; firstOffset: string }[]
  /** Records of every record batch in the response, control records included. */
  readonly messages: readonly FetchedMessage[]
}

export type FetchedMessage = KafkaMessage & {
  readonly isControlRecord?: boolean
  /** The record batch the record came in: where it starts and ends, and its producer. */
  readonly batchContext?: {
    readonly firstOffset: string
    readonly lastOffsetDelta: number
    readonly producerId: string
    readonly inTransaction: boolean
  }
}

export interface FetchRequest {
  readonly isolationLevel: number
  readonly maxWaitTime: number
  readonly minBytes: number
  readonly maxBytes: number
  readonly topics: readonly {
    topic: string
    partitions: readonly { partition: number; fetchOffset: string; maxBytes: number }[]
  }[]
}

export interface InternalBroker {
  fetch(request: FetchRequest): Promise<{
    responses: readonly { topicName: string; partitions: readonly FetchedPartition[] }[]
  }>
}

export interface InternalCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  isConnected(): boolean
  findGroupCoordinator(request: { groupId: string }): Promise<GroupCoordinator>
  addTargetTopic(topic: string): Promise<void>
  refreshMetadata(): Promise<void>
  findTopicPartitionMetadata(topic: string): readonly { partitionId: number; leader: number }[]
  findBroker(request: { nodeId: string }): Promise<InternalBroker>
}

/** Kafka's isolation level for Fetch: records of open transactions wait, aborted ones are marked. */
export const READ_COMMITTED = 1

/** A new cluster object (unconnected) with `kafka`'s brokers, security and client id. */
export function createCluster(kafka: Kafka): InternalCluster {
  const symbol = Object.getOwnPropertySymbols(kafka).find(
    (s) => s.description === 'private:Kafka:createCluster',
  )
  const factory = symbol && (kafka as unknown as Record<symbol, unknown>)[symbol]
  if (typeof factory !== 'function') throw new Error('kafkajs changed: no private cluster factory')
  return (factory as (options: object) => InternalCluster)({ allowAutoTopicCreation: false })
}
