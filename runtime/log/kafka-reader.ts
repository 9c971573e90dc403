/**
 * KafkaLog.read's fetches: a range of one partition read with plain Fetch requests to the
 * partition's leader, from a given offset, on one kafkajs cluster object kept for the log's
 * lifetime. No consumer group is joined or created: kafkajs has no public assign(), and a consumer
 * in a throw-away group per call cost a JoinGroup/SyncGroup round, an offset commit and a
 * DeleteGroups (`sluice consume` of 14 records took ~2 s).
 *
 * Fetches ask with read_committed, and records of aborted transactions and control records are
 * dropped as kafkajs's consumer drops them (its Batch and filterAbortedMessages, reused here), so a
 * read sees what a subscription sees. The caller bounds the range at the last stable offset.
 */
import { createRequire } from 'node:module'
import type { Kafka } from 'kafkajs'
import {
  createCluster,
  type FetchedMessage,
  type FetchedPartition,
  type InternalCluster,
  READ_COMMITTED,
} from './kafka-cluster.ts'

interface KafkajsBatchView {
  readonly messages: readonly FetchedMessage[]
}
/**
 * kafkajs's own filter of a fetched partition (offsets below the fetch offset, aborted
 * transactions, control records); internal, so loaded by path (kafkajs is pinned).
 */
const Batch = createRequire(import.meta.url)('kafkajs/src/consumer/batch.js') as new (
  topic: string,
  fetchedOffset: string,
  partitionData: FetchedPartition,
) => KafkajsBatchView

/** Bytes one fetch may return for the partition (the broker returns at least one record batch). */
const FETCH_MAX_BYTES = 4 * 1024 * 1024
/** Longest the broker holds a fetch that has no records yet; the range ends before the high watermark, so rarely. */
const FETCH_MAX_WAIT_MS = 100

/** Protocol errors after which fresh metadata (a new leader) makes the next fetch succeed. */
export const STALE_METADATA_ERRORS: ReadonlySet<string> = new Set([
  'NOT_LEADER_FOR_PARTITION',
  'NOT_LEADER_OR_FOLLOWER',
  'LEADER_NOT_AVAILABLE',
  'UNKNOWN_LEADER_EPOCH',
  'FENCED_LEADER_EPOCH',
  'REPLICA_NOT_AVAILABLE',
])

export interface ReadRange {
  readonly topic: string
  readonly partition: number
  /** First offset wanted. */
  readonly start: number
  /** Offset the range ends before. */
  readonly until: number
  readonly maxRecords: number
  /** When the read gives up (Date.now() clock). */
  readonly deadline: number
}

export interface PartitionReaderHooks {
  /** The partition's log start offset now: where a range whose start was deleted continues. */
  lowWatermark(topic: string, partition: number): Promise<number>
  /** Whether a failure is worth another try before the deadline (the cluster unavailable, settling). */
  isTransient(error: unknown): boolean
}

export class KafkaPartitionReader {
  readonly #kafka: Kafka
  readonly #hooks: PartitionReaderHooks
  #cluster: Promise<InternalCluster> | undefined

  constructor(kafka: Kafka, hooks: PartitionReaderHooks) {
    this.#kafka = kafka
    this.#hooks = hooks
  }

  /** The records of [start, until), at most maxRecords of them; [] when only markers or aborted records lie there. */
  async read(range: ReadRange): Promise<FetchedMessage[]> {
    const { topic, partition, until, maxRecords } = range
    const records: FetchedMessage[] = []
    let next = range.start
    for (let delay = 50; next < until && records.length < maxRecords; ) {
      let fetched: FetchedPartition
      try {
        fetched = await this.#fetch(topic, partition, next)
      } catch (error) {
        if (isKafkaError(error, 'OFFSET_OUT_OF_RANGE')) {
          // Deleted under the read (retention, DeleteRecords): go on from what is left.
          const low = await this.#hooks.lowWatermark(topic, partition)
          if (low > next) {
            next = low
            continue
          }
        }
        const stale = STALE_METADATA_ERRORS.has((error as { type?: string }).type ?? '')
        if (!(stale || this.#hooks.isTransient(error)) || Date.now() + delay > range.deadline) throw error
        if (stale) await (await this.#connected()).refreshMetadata().catch(() => {})
        await new Promise((resolve) => setTimeout(resolve, delay))
        delay = Math.min(delay * 2, 1000)
        continue
      }
      const batch = new Batch(topic, String(next), fetched)
      for (const message of batch.messages) {
        const offset = Number(message.offset)
        if (offset >= until || records.length >= maxRecords) break
        records.push(message)
      }
      // Past every record batch of the response, aborted ones and transaction markers included,
      // and past the end of its last batch even where compaction removed that batch's last records.
      const after = endOfBatches(fetched.messages)
      if (after > next) next = after
      else if (Date.now() > range.deadline) throw new ReadTimeout(records.length)
    }
    return records
  }

  /** Disconnects the cluster, if one was connected. */
  async close(): Promise<void> {
    const cluster = this.#cluster
    this.#cluster = undefined
    if (cluster) await cluster.then((c) => c.disconnect()).catch(() => {})
  }

  async #fetch(topic: string, partition: number, offset: number): Promise<FetchedPartition> {
    const cluster = await this.#connected()
    await cluster.addTargetTopic(topic)
    let leader = cluster.findTopicPartitionMetadata(topic).find((p) => p.partitionId === partition)?.leader
    if (leader === undefined || leader < 0) {
      // A partition an admin added since the metadata was loaded, or a leader being elected.
      await cluster.refreshMetadata()
      leader = cluster.findTopicPartitionMetadata(topic).find((p) => p.partitionId === partition)?.leader
    }
    if (leader === undefined || leader < 0) {
      throw Object.assign(new Error(`no leader for ${topic}/${partition}`), { type: 'LEADER_NOT_AVAILABLE' })
    }
    const broker = await cluster.findBroker({ nodeId: String(leader) })
    const { responses } = await broker.fetch({
      isolationLevel: READ_COMMITTED,
      maxWaitTime: FETCH_MAX_WAIT_MS,
      minBytes: 1,
      maxBytes: FETCH_MAX_BYTES,
      topics: [
        { topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes: FETCH_MAX_BYTES }] },
      ],
    })
    const found = responses
      .find((r) => r.topicName === topic)
      ?.partitions.find((p) => p.partition === partition)
    return found ?? { partition, errorCode: 0, highWatermark: '-1', messages: [] }
  }

  #connected(): Promise<InternalCluster> {
    if (this.#cluster === undefined) {
      const cluster = createCluster(this.#kafka)
      const connecting = cluster.connect().then(() => cluster)
      // A failed connect is tried again by the next read.
      connecting.catch(() => {
        if (this.#cluster === connecting) this.#cluster = undefined
      })
      this.#cluster = connecting
    }
    return this.#cluster
  }
}

/** The offset after the last record batch that `messages` came from (-1 for none). */
function endOfBatches(messages: readonly FetchedMessage[]): number {
  const last = messages[messages.length - 1]
  if (last === undefined) return -1
  const context = last.batchContext
  const end = context === undefined ? -1 : Number(context.firstOffset) + context.lastOffsetDelta + 1
  return Math.max(end, Number(last.offset) + 1)
}

/** The range did not come within the read's deadline; `got` records had. */
export class ReadTimeout extends Error {
  constructor(readonly got: number) {
    super(`read timed out after ${got} records`)
  }
}

/** A leader moved or is being elected (a broker restarted): fresh metadata and a retry answer it. */
export function isStaleMetadata(error: unknown): boolean {
  for (const type of STALE_METADATA_ERRORS) if (isKafkaError(error, type)) return true
  return false
}

function isKafkaError(error: unknown, type: string): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if ((current as { type?: unknown }).type === type) return true
    current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError
  }
  return false
}
