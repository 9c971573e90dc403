/**
 * CheckpointedPartitions without a broker: kafkajs's eachBatch payloads and the log are faked, so
 * what the Kafka integration tests can only provoke by luck (a timer firing while a handler runs,
 * a rebalance taking a partition with open work, a commit the new owner fenced, a batch fetched
 * again below the committed offset) is driven here step by step.
 */
import type { EachBatchPayload, KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { SluiceError } from '../errors.ts'
import type { CheckpointOptions, Delivery, RecordBatch } from './index.ts'
import { type CheckpointEnvironment, CheckpointedPartitions } from './kafka-checkpoint.ts'
import type { TransactionalProducer } from './kafka-transactions.ts'

const TOPIC = 'in'

interface Harness {
  readonly partitions: CheckpointedPartitions
  readonly events: string[]
  readonly failures: unknown[]
  /** Offsets kafkajs was told were handled, per partition. */
  readonly resolved: Map<number, string[]>
  /** Committed offset and metadata per partition, as the fake broker holds them. */
  readonly committed: Map<number, { offset: number; metadata: string | null }>
  batch(partition: number, offsets: readonly number[]): Promise<void>
}

function harness(
  options: {
    readonly delivery?: Delivery
    readonly intervalMs?: number
    readonly handler?: (batch: RecordBatch) => Promise<void>
    readonly commitFails?: () => unknown
    readonly committed?: ReadonlyMap<number, { offset: number; metadata: string | null }>
  } = {},
): Harness {
  const events: string[] = []
  const failures: unknown[] = []
  const resolved = new Map<number, string[]>()
  const committed = new Map(options.committed ?? [])
  const commit = (partition: number, offset: number, metadata: string) => {
    const failure = options.commitFails?.()
    if (failure !== undefined) throw failure
    committed.set(partition, { offset, metadata })
  }
  const checkpoint: CheckpointOptions = {
    intervalMs: options.intervalMs ?? 0,
    transactionalId: 'txn',
    assigned: async (_topic, partition, metadata) => {
      events.push(`assigned ${partition} ${metadata}`)
    },
    prepare: async (_topic, partition) => {
      events.push(`prepare ${partition}`)
      return `m${partition}@${events.length}`
    },
    committed: async (_topic, partition, metadata) => {
      events.push(`committed ${partition} ${metadata}`)
    },
    revoked: (_topic, partition) => {
      events.push(`revoked ${partition}`)
    },
  }
  const env: CheckpointEnvironment = {
    group: 'g',
    delivery: options.delivery ?? 'at-least-once',
    checkpoint,
    maxBatchRecords: 100,
    handler: async (batch) => {
      events.push(`batch ${batch.partition} ${batch.records.map((r) => r.offset).join(',')}`)
      await options.handler?.(batch)
    },
    onCommitted: undefined,
    toLogRecord: (topic, partition, message) => ({
      topic,
      partition,
      offset: Number(message.offset),
      key: null,
      value: message.value ?? Buffer.alloc(0),
      headers: {},
      timestamp: 0,
    }),
    openProducer: async (_topic, partition) => {
      events.push(`producer ${partition}`)
      const producer = {
        send: async () => [],
        commit: async (_group: string, _topic: string, p: number, offset: number, metadata: string) => {
          commit(p, offset, metadata)
          return new Map()
        },
        close: async () => {
          events.push(`producer closed ${partition}`)
        },
      }
      return producer as unknown as TransactionalProducer
    },
    fetchCommitted: async (_topic, partition) => committed.get(partition) ?? { offset: -1, metadata: null },
    awaitCommitted: async () => {},
    commitOffset: async (_topic, partition, offset, metadata) => commit(partition, offset, metadata),
    append: async () => [],
    fail: (error) => {
      failures.push(error)
    },
  }
  const partitions = new CheckpointedPartitions(env)
  return {
    partitions,
    events,
    failures,
    resolved,
    committed,
    batch: (partition, offsets) =>
      partitions.eachBatch(
        payload(partition, offsets, (offset) => {
          resolved.set(partition, [...(resolved.get(partition) ?? []), offset])
        }),
      ),
  }
}

function payload(partition: number, offsets: readonly number[], resolveOffset: (offset: string) => void) {
  const messages = offsets.map(
    (offset) => ({ offset: String(offset), key: null, value: Buffer.from(`v${offset}`) }) as KafkaMessage,
  )
  return {
    batch: { topic: TOPIC, partition, highWatermark: String(Math.max(...offsets) + 1), messages },
    resolveOffset,
    heartbeat: async () => {},
    isRunning: () => true,
    isStale: () => false,
  } as unknown as EachBatchPayload
}

function gate(): { wait: Promise<void>; open(): void } {
  let open = () => {}
  const wait = new Promise<void>((resolve) => {
    open = resolve
  })
  return { wait, open }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('CheckpointedPartitions (Kafka)', () => {
  it('opens a partition once with its committed metadata and skips records below the committed offset', async () => {
    const h = harness({ committed: new Map([[0, { offset: 3, metadata: 'epoch-4' }]]), intervalMs: 60_000 })
    // kafkajs fetched from an older committed offset (before the previous owner's commit landed).
    await h.batch(0, [1, 2, 3, 4])
    await h.batch(0, [5])
    expect(h.events).toEqual(['assigned 0 epoch-4', 'batch 0 3,4', 'batch 0 5'])
    expect(h.resolved.get(0)).toEqual(['4', '5'])
    await h.partitions.closeAll('commit')
    expect(h.committed.get(0)?.offset).toBe(6)
    expect(h.events.slice(3)).toEqual(['prepare 0', 'committed 0 m0@4', 'revoked 0'])
  })

  it('exactly-once opens the producer (fencing the previous owner) before reading the committed offset', async () => {
    const h = harness({ delivery: 'exactly-once' })
    await h.batch(2, [0])
    expect(h.events.slice(0, 3)).toEqual(['producer 2', 'assigned 2 null', 'batch 2 0'])
    await h.partitions.closeAll('abort')
    expect(h.events.slice(-2)).toEqual(['producer closed 2', 'revoked 2'])
  })

  it('a timer commit of an idle partition waits for the handler in flight', async () => {
    const held = gate()
    let calls = 0
    const h = harness({
      intervalMs: 30,
      handler: async () => {
        if (++calls === 2) await held.wait
      },
    })
    await h.batch(0, [0])
    const second = h.batch(0, [1])
    await sleep(120)
    // The timer of the first batch fired while the second was in its handler: no commit yet.
    expect(h.events).toEqual(['assigned 0 null', 'batch 0 0', 'batch 0 1'])
    held.open()
    await second
    expect(h.events.slice(3, 5)).toEqual(['prepare 0', 'committed 0 m0@4'])
    expect(h.committed.get(0)?.offset).toBe(2)
    await h.partitions.closeAll('commit')
  })

  it('a rebalance that takes a partition commits its open work, then revokes it; its late batches are ignored', async () => {
    const h = harness({ intervalMs: 60_000 })
    await h.batch(0, [0, 1])
    await h.batch(1, [0])
    h.partitions.assign({ [TOPIC]: [1] })
    await h.batch(0, [2])
    await h.partitions.closeAll('commit')
    // Partitions close on their own chains, concurrently: compare each partition's events.
    const of = (partition: number) => h.events.filter((e) => e.split(' ')[1] === String(partition))
    expect(of(0)).toEqual([
      'assigned 0 null',
      'batch 0 0,1',
      'prepare 0',
      expect.stringMatching(/^committed 0 /),
      'revoked 0',
    ])
    expect(of(1)).toEqual([
      'assigned 1 null',
      'batch 1 0',
      'prepare 1',
      expect.stringMatching(/^committed 1 /),
      'revoked 1',
    ])
    expect(h.committed.get(0)?.offset).toBe(2)
    expect(h.failures).toEqual([])
  })

  it('a revoked partition whose commit is fenced by the new owner is aborted without failing the subscription', async () => {
    let fenced = false
    const h = harness({
      delivery: 'exactly-once',
      intervalMs: 60_000,
      commitFails: () => (fenced ? new SluiceError('LOG_FENCED', 'taken over') : undefined),
    })
    await h.batch(0, [0])
    fenced = true
    h.partitions.assign({})
    await h.partitions.closeAll('commit')
    expect(h.events.slice(-3)).toEqual(['prepare 0', 'producer closed 0', 'revoked 0'])
    expect(h.committed.get(0)).toBeUndefined()
    expect(h.failures).toEqual([])
  })

  it('a failing commit at stop() ends the subscription with its error, after revoked', async () => {
    const unavailable = new SluiceError('KAFKA_UNAVAILABLE', 'away', { retryable: true })
    let away = false
    const h = harness({ intervalMs: 60_000, commitFails: () => (away ? unavailable : undefined) })
    await h.batch(0, [0])
    away = true
    h.partitions.end()
    await h.partitions.closeAll('commit')
    expect(h.failures).toEqual([unavailable])
    expect(h.events.at(-1)).toBe('revoked 0')
  })

  it('a partition kept through a rebalance skips the records kafkajs fetches again from the committed offset', async () => {
    const h = harness({ intervalMs: 60_000 })
    await h.batch(0, [0, 1, 2])
    h.partitions.assign({ [TOPIC]: [0] })
    await h.batch(0, [0, 1, 2, 3])
    expect(h.events.filter((e) => e.startsWith('batch'))).toEqual(['batch 0 0,1,2', 'batch 0 3'])
    expect(h.resolved.get(0)).toEqual(['2', '3'])
    await h.partitions.closeAll('commit')
    expect(h.committed.get(0)?.offset).toBe(4)
  })

  it('after a consumer restart (open work aborted) the partition is assigned again from its last commit', async () => {
    const h = harness({ delivery: 'exactly-once', intervalMs: 60_000 })
    await h.batch(0, [0, 1])
    await h.partitions.closeAll('commit')
    h.events.length = 0
    await h.batch(0, [2, 3])
    // kafkajs restarted the consumer: what was handled since the last commit is aborted...
    await h.partitions.closeAll('abort')
    // ...and fetched again from the committed offset, for a new owner's transaction.
    await h.batch(0, [2, 3])
    expect(h.events).toEqual([
      'producer 0',
      expect.stringMatching(/^assigned 0 m0@/),
      'batch 0 2,3',
      'producer closed 0',
      'revoked 0',
      'producer 0',
      expect.stringMatching(/^assigned 0 m0@/),
      'batch 0 2,3',
    ])
    expect(h.committed.get(0)?.offset).toBe(2)
    expect(h.failures).toEqual([])
    await h.partitions.closeAll('commit')
    expect(h.committed.get(0)?.offset).toBe(4)
  })

  it('a rejecting handler fails the subscription; nothing more of the partition is handled or committed', async () => {
    const failure = new Error('handler failed')
    const h = harness({
      handler: async (batch) => {
        if (batch.records[0]!.offset === 1) throw failure
      },
    })
    await h.batch(0, [0])
    await h.batch(0, [1])
    await h.batch(0, [2])
    expect(h.failures).toEqual([failure])
    await h.partitions.closeAll('abort')
    expect(h.events).toEqual([
      'assigned 0 null',
      'batch 0 0',
      'prepare 0',
      'committed 0 m0@3',
      'batch 0 1',
      'revoked 0',
    ])
    expect(h.committed.get(0)?.offset).toBe(1)
  })
})
