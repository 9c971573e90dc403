/**
 * CheckpointedTasks without a broker: kafkajs's eachBatch payloads and the log are faked, so
 * what the Kafka integration tests can only provoke by luck (a timer firing while a handler runs,
 * a rebalance taking a partition with open work, a commit the new owner fenced, a batch fetched
 * again below the committed offset) is driven here step by step.
 */
import type { EachBatchPayload, KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { SluiceError } from '../errors.ts'
import type { CheckpointOptions, Delivery, RecordBatch } from './index.ts'
import { type CheckpointEnvironment, CheckpointedTasks } from './kafka-checkpoint.ts'
import type { PartitionOffset, TransactionalProducer } from './kafka-transactions.ts'
import { Tasks } from './tasks.ts'

const TOPIC = 'in'
/** Co-partitioned with TOPIC in the task tests: its partition p belongs to the task in/p. */
const SECOND = 'in2'

interface Harness {
  readonly partitions: CheckpointedTasks
  readonly events: string[]
  /** Every batch handed to the handler. */
  readonly batches: RecordBatch[]
  /** The topics hooks were called with. */
  readonly hookTopics: Set<string>
  readonly failures: unknown[]
  /** Offsets kafkajs was told were handled, per partition of TOPIC (`topic/partition` for others). */
  readonly resolved: Map<number | string, string[]>
  /** Committed offset and metadata per `topic/partition`, as the fake broker holds them. */
  readonly committed: Map<string, { offset: number; metadata: string | null }>
  /** Each commit request (OffsetCommit or TxnOffsetCommit), as `topic/partition@offset` entries. */
  readonly commits: string[][]
  /** What awaitCommitted was asked to wait for, per call. */
  readonly awaited: string[][]
  /** What onCommitted was told, as `topic/partition@offset`. */
  readonly told: string[]
  batch(partition: number, offsets: readonly number[], topic?: string): Promise<void>
}

async function harness(
  options: {
    readonly delivery?: Delivery
    readonly intervalMs?: number
    readonly tickIntervalMs?: number
    readonly handler?: (batch: RecordBatch) => Promise<void>
    readonly commitFails?: () => unknown
    /** Committed before the test, per `topic/partition`. */
    readonly committed?: ReadonlyMap<string, { offset: number; metadata: string | null }>
    /** Subscribe to TOPIC and SECOND as one co-partitioned group. */
    readonly grouped?: boolean
  } = {},
): Promise<Harness> {
  const events: string[] = []
  const batches: RecordBatch[] = []
  const hookTopics = new Set<string>()
  const failures: unknown[] = []
  const resolved = new Map<number | string, string[]>()
  const committed = new Map(options.committed ?? [])
  const commits: string[][] = []
  const awaited: string[][] = []
  const told: string[] = []
  const entries = (offsets: readonly PartitionOffset[]) =>
    offsets.map((o) => `${o.topic}/${o.partition}@${o.offset}`)
  const commit = (offsets: readonly PartitionOffset[], metadata: string) => {
    const failure = options.commitFails?.()
    if (failure !== undefined) throw failure
    commits.push(entries(offsets))
    for (const o of offsets) committed.set(`${o.topic}/${o.partition}`, { offset: o.offset, metadata })
  }
  const checkpoint: CheckpointOptions = {
    intervalMs: options.intervalMs ?? 0,
    ...(options.tickIntervalMs === undefined ? {} : { tickIntervalMs: options.tickIntervalMs }),
    transactionalId: 'txn',
    assigned: async (topic, partition, metadata) => {
      hookTopics.add(topic)
      events.push(`assigned ${partition} ${metadata}`)
    },
    prepare: async (topic, partition) => {
      hookTopics.add(topic)
      events.push(`prepare ${partition}`)
      return `m${partition}@${events.length}`
    },
    committed: async (topic, partition, metadata) => {
      hookTopics.add(topic)
      events.push(`committed ${partition} ${metadata}`)
    },
    revoked: (topic, partition) => {
      hookTopics.add(topic)
      events.push(`revoked ${partition}`)
    },
  }
  const topics = options.grouped ? [TOPIC, SECOND] : [TOPIC]
  const tasks = await Tasks.of(
    { group: 'g', topics, ...(options.grouped ? { copartitioned: [[TOPIC, SECOND]] } : {}) },
    async () => 4,
  )
  const env: CheckpointEnvironment = {
    group: 'g',
    delivery: options.delivery ?? 'at-least-once',
    checkpoint,
    tasks,
    maxBatchRecords: 100,
    handler: async (batch) => {
      batches.push(batch)
      events.push(`batch ${batch.partition} ${batch.records.map((r) => r.offset).join(',')}`)
      await options.handler?.(batch)
    },
    onCommitted: ({ topic, partition, offset, seconds }) => {
      expect(seconds).toBeGreaterThanOrEqual(0)
      told.push(`${topic}/${partition}@${offset}`)
    },
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
        commit: async (_group: string, offsets: readonly PartitionOffset[], metadata: string) => {
          commit(offsets, metadata)
          return new Map()
        },
        close: async () => {
          events.push(`producer closed ${partition}`)
        },
      }
      return producer as unknown as TransactionalProducer
    },
    fetchCommitted: async (topic, partition) =>
      committed.get(`${topic}/${partition}`) ?? { offset: -1, metadata: null },
    awaitCommitted: async (offsets) => {
      awaited.push(entries(offsets))
    },
    commitOffsets: async (offsets, metadata) => commit(offsets, metadata),
    append: async () => [],
    fail: (error) => {
      failures.push(error)
    },
  }
  const partitions = new CheckpointedTasks(env)
  return {
    partitions,
    events,
    batches,
    hookTopics,
    failures,
    resolved,
    committed,
    commits,
    awaited,
    told,
    batch: (partition, offsets, topic = TOPIC) =>
      partitions.eachBatch(
        payload(topic, partition, offsets, (offset) => {
          const key = topic === TOPIC ? partition : `${topic}/${partition}`
          resolved.set(key, [...(resolved.get(key) ?? []), offset])
        }),
      ),
  }
}

function payload(
  topic: string,
  partition: number,
  offsets: readonly number[],
  resolveOffset: (offset: string) => void,
) {
  const messages = offsets.map(
    (offset) => ({ offset: String(offset), key: null, value: Buffer.from(`v${offset}`) }) as KafkaMessage,
  )
  return {
    batch: { topic, partition, highWatermark: String(Math.max(...offsets) + 1), messages },
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

describe('CheckpointedTasks (Kafka)', () => {
  it('ticks a quiet task on its chain with its transaction; a tick that appends makes a checkpoint; none after it closed', async () => {
    let ticks = 0
    const h = await harness({
      delivery: 'exactly-once',
      intervalMs: 5,
      tickIntervalMs: 10,
      handler: async (batch) => {
        if (batch.tick !== true) return
        ticks++
        // The second tick fires something: its append belongs to the task's open checkpoint.
        if (ticks === 2) await batch.transaction!.append('out', [{ key: null, value: Buffer.from('x') }])
      },
    })
    await h.batch(0, [0, 1])
    while (h.commits.length < 1) await sleep(2)
    while (ticks < 3) await sleep(5)
    const tickBatches = h.batches.filter((b) => b.tick === true)
    expect(
      tickBatches.every((b) => b.records.length === 0 && b.partition === 0 && b.transaction !== undefined),
    ).toBe(true)
    expect(tickBatches[0]!.task).toEqual({ topic: TOPIC, partition: 0 })
    while (h.commits.length < 2) await sleep(5)
    await h.partitions.closeAll('commit')
    // The batch's checkpoint, then one for the tick that appended: not one per tick.
    expect(h.commits).toEqual([['in/0@2'], ['in/0@2']])
    const after = ticks
    await sleep(40)
    expect(ticks).toBe(after)
    expect(h.failures).toEqual([])
  })

  it('opens a partition once with its committed metadata and skips records below the committed offset', async () => {
    const h = await harness({
      committed: new Map([['in/0', { offset: 3, metadata: 'epoch-4' }]]),
      intervalMs: 60_000,
    })
    // kafkajs fetched from an older committed offset (before the previous owner's commit landed).
    await h.batch(0, [1, 2, 3, 4])
    await h.batch(0, [5])
    expect(h.events).toEqual(['assigned 0 epoch-4', 'batch 0 3,4', 'batch 0 5'])
    expect(h.resolved.get(0)).toEqual(['4', '5'])
    await h.partitions.closeAll('commit')
    expect(h.committed.get('in/0')?.offset).toBe(6)
    expect(h.events.slice(3)).toEqual(['prepare 0', 'committed 0 m0@4', 'revoked 0'])
  })

  it('exactly-once opens the producer (fencing the previous owner) before reading the committed offset', async () => {
    const h = await harness({ delivery: 'exactly-once' })
    await h.batch(2, [0])
    expect(h.events.slice(0, 3)).toEqual(['producer 2', 'assigned 2 null', 'batch 2 0'])
    await h.partitions.closeAll('abort')
    expect(h.events.slice(-2)).toEqual(['producer closed 2', 'revoked 2'])
  })

  it('a timer commit of an idle partition waits for the handler in flight', async () => {
    const held = gate()
    let calls = 0
    const h = await harness({
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
    expect(h.committed.get('in/0')?.offset).toBe(2)
    await h.partitions.closeAll('commit')
  })

  it('a rebalance that takes a partition commits its open work, then revokes it; its late batches are ignored', async () => {
    const h = await harness({ intervalMs: 60_000 })
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
    expect(h.committed.get('in/0')?.offset).toBe(2)
    expect(h.failures).toEqual([])
  })

  it('a revoked partition whose commit is fenced by the new owner is aborted without failing the subscription', async () => {
    let fenced = false
    const h = await harness({
      delivery: 'exactly-once',
      intervalMs: 60_000,
      commitFails: () => (fenced ? new SluiceError('LOG_FENCED', 'taken over') : undefined),
    })
    await h.batch(0, [0])
    fenced = true
    h.partitions.assign({})
    await h.partitions.closeAll('commit')
    expect(h.events.slice(-3)).toEqual(['prepare 0', 'producer closed 0', 'revoked 0'])
    expect(h.committed.get('in/0')).toBeUndefined()
    expect(h.failures).toEqual([])
  })

  it('a failing commit at stop() ends the subscription with its error, after revoked', async () => {
    const unavailable = new SluiceError('KAFKA_UNAVAILABLE', 'away', { retryable: true })
    let away = false
    const h = await harness({ intervalMs: 60_000, commitFails: () => (away ? unavailable : undefined) })
    await h.batch(0, [0])
    away = true
    h.partitions.end()
    await h.partitions.closeAll('commit')
    expect(h.failures).toEqual([unavailable])
    expect(h.events.at(-1)).toBe('revoked 0')
  })

  it('a partition kept through a rebalance skips the records kafkajs fetches again from the committed offset', async () => {
    const h = await harness({ intervalMs: 60_000 })
    await h.batch(0, [0, 1, 2])
    h.partitions.assign({ [TOPIC]: [0] })
    await h.batch(0, [0, 1, 2, 3])
    expect(h.events.filter((e) => e.startsWith('batch'))).toEqual(['batch 0 0,1,2', 'batch 0 3'])
    expect(h.resolved.get(0)).toEqual(['2', '3'])
    await h.partitions.closeAll('commit')
    expect(h.committed.get('in/0')?.offset).toBe(4)
  })

  it('after a consumer restart (open work aborted) the partition is assigned again from its last commit', async () => {
    const h = await harness({ delivery: 'exactly-once', intervalMs: 60_000 })
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
    expect(h.committed.get('in/0')?.offset).toBe(2)
    expect(h.failures).toEqual([])
    await h.partitions.closeAll('commit')
    expect(h.committed.get('in/0')?.offset).toBe(4)
  })

  it('a rejecting handler fails the subscription; nothing more of the partition is handled or committed', async () => {
    const failure = new Error('handler failed')
    const h = await harness({
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
    expect(h.committed.get('in/0')?.offset).toBe(1)
  })
})

describe('CheckpointedTasks (Kafka): co-partitioned tasks', () => {
  it('exactly-once: both topics of a partition are one task: one producer, hooks once under the first topic, both offsets in one commit', async () => {
    const h = await harness({
      delivery: 'exactly-once',
      intervalMs: 60_000,
      grouped: true,
      committed: new Map([
        ['in/0', { offset: 2, metadata: 'epoch-3' }],
        ['in2/0', { offset: 5, metadata: 'epoch-3' }],
      ]),
    })
    // kafkajs fetched both from older offsets: each topic's floor is its own committed offset.
    await h.batch(0, [5, 6], SECOND)
    await h.batch(0, [1, 2, 3])
    await h.batch(0, [7], SECOND)
    expect(h.events).toEqual(['producer 0', 'assigned 0 epoch-3', 'batch 0 5,6', 'batch 0 2,3', 'batch 0 7'])
    expect(h.batches.map((b) => [b.topic, b.task])).toEqual([
      [SECOND, { topic: TOPIC, partition: 0 }],
      [TOPIC, { topic: TOPIC, partition: 0 }],
      [SECOND, { topic: TOPIC, partition: 0 }],
    ])
    // One transaction for the task: the batches of both topics append through the same one.
    expect(new Set(h.batches.map((b) => b.transaction)).size).toBe(1)
    await h.partitions.closeAll('commit')
    expect(h.commits).toEqual([['in/0@4', 'in2/0@8']])
    expect(h.awaited).toEqual([['in/0@4', 'in2/0@8']])
    // onCommitted speaks of partitions: once for each partition the commit moved.
    expect(h.told).toEqual(['in/0@4', 'in2/0@8'])
    expect(h.committed.get('in/0')).toEqual({ offset: 4, metadata: 'm0@6' })
    expect(h.committed.get('in2/0')).toEqual({ offset: 8, metadata: 'm0@6' })
    expect(h.events.slice(5)).toEqual(['prepare 0', 'committed 0 m0@6', 'producer closed 0', 'revoked 0'])
    expect([...h.hookTopics]).toEqual([TOPIC])
  })

  it('at-least-once: a partition of the task with no position is left out of the commit; separate tasks get separate hooks', async () => {
    const h = await harness({ intervalMs: 60_000, grouped: true })
    await h.batch(0, [0, 1])
    await h.batch(1, [0], SECOND)
    await h.partitions.closeAll('commit')
    // in2/0 was never committed and nothing of it was handled; in/1 likewise.
    expect(h.commits.sort()).toEqual([['in/0@2'], ['in2/1@1']])
    expect(h.events.filter((e) => e.startsWith('assigned')).sort()).toEqual([
      'assigned 0 null',
      'assigned 1 null',
    ])
    expect(h.batches.map((b) => b.task)).toEqual([
      { topic: TOPIC, partition: 0 },
      { topic: TOPIC, partition: 1 },
    ])
    expect([...h.hookTopics]).toEqual([TOPIC])
  })

  it("batches of a task's two topics never run at once, while another task's do", async () => {
    const held = gate()
    let running = 0
    let overlapped = 0
    const h = await harness({
      intervalMs: 60_000,
      grouped: true,
      handler: async (batch) => {
        if (batch.partition !== 0) return
        if (++running > 1) overlapped++
        if (batch.topic === TOPIC) await held.wait
        running--
      },
    })
    const first = h.batch(0, [0])
    await sleep(10)
    const second = h.batch(0, [0], SECOND)
    const other = h.batch(1, [0], SECOND)
    await other
    expect(h.events.filter((e) => e.startsWith('batch'))).toEqual(['batch 0 0', 'batch 1 0'])
    held.open()
    await Promise.all([first, second])
    expect(overlapped).toBe(0)
    expect(h.events.filter((e) => e.startsWith('batch'))).toEqual(['batch 0 0', 'batch 1 0', 'batch 0 0'])
    await h.partitions.closeAll('commit')
  })

  it('a rebalance that takes a task takes both its partitions: committed together, revoked once; late batches of either are ignored', async () => {
    const h = await harness({ intervalMs: 60_000, grouped: true })
    await h.batch(0, [0])
    await h.batch(0, [0], SECOND)
    await h.batch(1, [0])
    h.partitions.assign({ [TOPIC]: [1], [SECOND]: [1] })
    await h.batch(0, [1])
    await h.batch(0, [1], SECOND)
    await h.batch(1, [1])
    await h.partitions.closeAll('commit')
    const of = (partition: number) => h.events.filter((e) => e.split(' ')[1] === String(partition))
    expect(of(0)).toEqual([
      'assigned 0 null',
      'batch 0 0',
      'batch 0 0',
      'prepare 0',
      expect.stringMatching(/^committed 0 /),
      'revoked 0',
    ])
    expect(of(1)).toEqual([
      'assigned 1 null',
      'batch 1 0',
      'batch 1 1',
      'prepare 1',
      expect.stringMatching(/^committed 1 /),
      'revoked 1',
    ])
    expect(h.commits).toContainEqual(['in/0@1', 'in2/0@1'])
    expect(h.commits).toContainEqual(['in/1@2'])
    expect(h.failures).toEqual([])
  })

  it('an assignment holding only part of a task (members that disagree on the groups) closes the task it had', async () => {
    const h = await harness({ intervalMs: 60_000, grouped: true })
    await h.batch(0, [0])
    await h.batch(0, [0], SECOND)
    h.partitions.assign({ [TOPIC]: [0] })
    await h.partitions.closeAll('commit')
    expect(h.events).toEqual([
      'assigned 0 null',
      'batch 0 0',
      'batch 0 0',
      'prepare 0',
      expect.stringMatching(/^committed 0 /),
      'revoked 0',
    ])
    expect(h.commits).toEqual([['in/0@1', 'in2/0@1']])
  })

  it('ungrouped topics keep their own tasks: batch.task is the partition itself', async () => {
    const h = await harness({ intervalMs: 0 })
    await h.batch(3, [0])
    expect(h.batches[0]!.task).toEqual({ topic: TOPIC, partition: 3 })
    expect(h.commits).toEqual([['in/3@1']])
    await h.partitions.closeAll('commit')
  })

  it('exactly-once: a commit asks the other tasks with open transactions to commit too, each after the batch it is handling', async () => {
    const held = gate()
    const h = await harness({
      delivery: 'exactly-once',
      intervalMs: 400,
      handler: async (batch) => {
        if (batch.partition === 1 && batch.records[0]?.offset === 5) await held.wait
      },
    })
    await h.batch(0, [0, 1])
    await sleep(250)
    // Tasks 1 and 2 open 250 ms after task 0: by their own interval they commit 400 ms from now.
    const siblingsOpened = Date.now()
    await h.batch(1, [0])
    await h.batch(2, [0])
    const inFlight = h.batch(1, [5])
    // Task 0 falls due (its timer) and commits; task 2 commits with it.
    while (h.commits.length < 2) await sleep(2)
    expect(Date.now() - siblingsOpened).toBeLessThan(400)
    expect(h.commits).toEqual([['in/0@2'], ['in/2@1']])
    // Task 1 is still inside its batch, which its commit follows.
    await sleep(20)
    expect(h.commits).toHaveLength(2)
    held.open()
    await inFlight
    while (h.commits.length < 3) await sleep(2)
    expect(Date.now() - siblingsOpened).toBeLessThan(400)
    expect(h.commits[2]).toEqual(['in/1@6'])
    await h.partitions.closeAll('abort')
    expect(h.failures).toEqual([])
  })

  for (const delivery of ['exactly-once', 'at-least-once'] as const) {
    it(`${delivery}: a task leaving at a rebalance commits alone; the others keep their interval`, async () => {
      const h = await harness({ delivery, intervalMs: 60_000 })
      await h.batch(0, [0, 1])
      await h.batch(1, [0])
      h.partitions.assign({ [TOPIC]: [1] })
      while (h.commits.length < 1) await sleep(2)
      await sleep(20)
      expect(h.commits).toEqual([['in/0@2']])
      await h.partitions.closeAll('abort')
    })
  }
})
