/**
 * sendRenewingStuckProducer against a model of the broker's idempotent-producer bookkeeping, in the
 * style of kafka-uncertain-batches.property.test.ts but with several partitions per request and
 * the faults that leave a producer stuck: the broker's state for the producer id on a partition
 * runs ahead of the client's (a batch written under the id that the client never learned of),
 * disappears (UNKNOWN_PRODUCER_ID from a broker that insists on it), or moves to a newer epoch.
 *
 * Broker, as Kafka's ProducerStateManager for one producer and one request in flight: a batch whose
 * first and last sequence match one of the id's last five on the partition is a duplicate
 * (answered with its offset, not written); an id the partition does not know must start at 0;
 * otherwise a batch must start at the next sequence (else OUT_OF_ORDER_SEQUENCE_NUMBER) with the
 * current epoch (else INVALID_PRODUCER_EPOCH). A request is answered per partition; kafkajs
 * throws the first partition's error and rolls the sequences of every partition of the request
 * back, and a new producer id starts at sequence 0.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { sendRenewingStuckProducer } from './kafka-stuck-producer.ts'

interface ProducerState {
  epoch: number
  nextSequence: number
  batches: { first: number; last: number; offset: number }[]
}

class BrokerError extends Error {
  constructor(readonly type: string) {
    super(type)
  }
}

class BrokerPartition {
  readonly log: string[] = []
  readonly producers = new Map<number, ProducerState>()

  /** The batch's first offset, or a BrokerError (nothing written). */
  produce(id: number, epoch: number, first: number, records: readonly string[]): number | BrokerError {
    const state = this.producers.get(id)
    const last = first + records.length - 1
    if (state === undefined) {
      if (first !== 0) return new BrokerError('UNKNOWN_PRODUCER_ID')
    } else {
      if (epoch < state.epoch) return new BrokerError('INVALID_PRODUCER_EPOCH')
      const duplicate = state.batches.find((b) => b.first === first && b.last === last)
      if (duplicate) return duplicate.offset
      if (first !== state.nextSequence) return new BrokerError('OUT_OF_ORDER_SEQUENCE_NUMBER')
    }
    return this.write(id, epoch, first, records)
  }

  write(id: number, epoch: number, first: number, records: readonly string[]): number {
    const state = this.producers.get(id) ?? { epoch, nextSequence: 0, batches: [] }
    this.producers.set(id, state)
    const offset = this.log.length
    this.log.push(...records)
    state.nextSequence = first + records.length
    state.batches.push({ first, last: first + records.length - 1, offset })
    if (state.batches.length > 5) state.batches.shift()
    return offset
  }
}

type Fault = 'ahead' | 'forgotten' | 'epoch-bumped'

/**
 * What a write the client never learned of leaves under its id: more records than any append of
 * the model sends to one partition, so no later batch of the client matches it as a duplicate
 * (one that did would be answered with the zombie's offsets: a loss no client can see, and not
 * what this test is about).
 */
const ZOMBIE_BATCH = Array.from({ length: 7 }, () => '(zombie)')

/** The client: kafkajs's sequence bookkeeping, and the log's renewal (or none). */
class Client {
  producerId = 1
  readonly sequences = new Map<number, number>()
  renewals = 0

  constructor(readonly broker: BrokerPartition[]) {}

  /** One request: returns each partition's base offset; throws the first partition's error. */
  request(batches: ReadonlyMap<number, readonly string[]>): Map<number, number> {
    const offsets = new Map<number, number>()
    let failure: BrokerError | undefined
    const sent: [number, number][] = []
    for (const [partition, records] of batches) {
      const first = this.sequences.get(partition) ?? 0
      this.sequences.set(partition, first + records.length)
      sent.push([partition, records.length])
      const answer = this.broker[partition]!.produce(this.producerId, 0, first, records)
      if (answer instanceof BrokerError) failure ??= answer
      else offsets.set(partition, answer)
    }
    if (failure !== undefined) {
      for (const [partition, count] of sent)
        this.sequences.set(partition, this.sequences.get(partition)! - count)
      throw failure
    }
    return offsets
  }

  renew(): void {
    this.producerId++
    this.sequences.clear()
    this.renewals++
  }

  /** The broker's state for this producer on `partition` changes behind the client's back. */
  fault(partition: number, fault: Fault): void {
    const broker = this.broker[partition]!
    const state = broker.producers.get(this.producerId)
    if (fault === 'forgotten') broker.producers.delete(this.producerId)
    else if (state === undefined) return
    else if (fault === 'ahead') broker.write(this.producerId, state.epoch, state.nextSequence, ZOMBIE_BATCH)
    else state.epoch++
  }
}

interface Item {
  readonly value: string
  readonly partition: number
}

/** The log's append of one chunk: positions of the items, as #send fills them in. */
async function append(
  client: Client,
  items: readonly Item[],
  renewing: boolean,
): Promise<Map<string, number>> {
  const positions = new Map<string, number>()
  const send = async (part: readonly Item[]) => {
    const batches = new Map<number, string[]>()
    for (const { value, partition } of part) {
      const batch = batches.get(partition)
      if (batch === undefined) batches.set(partition, [value])
      else batch.push(value)
    }
    const offsets = client.request(batches)
    const next = new Map<number, number>()
    for (const { value, partition } of part) {
      const n = next.get(partition) ?? 0
      next.set(partition, n + 1)
      positions.set(value, offsets.get(partition)! + n)
    }
  }
  if (renewing) {
    await sendRenewingStuckProducer(items, {
      partitionOf: (item) => item.partition,
      send,
      renew: async () => client.renew(),
    })
  } else {
    await send(items)
  }
  return positions
}

const PARTITIONS = 3

const step = fc.record({
  /** Partitions of the records of this append (1 to 6 records). */
  partitions: fc.array(fc.integer({ min: 0, max: PARTITIONS - 1 }), { minLength: 1, maxLength: 6 }),
  /** A fault before this append, on one partition. */
  fault: fc.option(
    fc.record({
      partition: fc.integer({ min: 0, max: PARTITIONS - 1 }),
      kind: fc.constantFrom<Fault>('ahead', 'forgotten', 'epoch-bumped'),
    }),
    { freq: 3 },
  ),
})

async function run(steps: readonly StepValue[], renewing: boolean) {
  const broker = Array.from({ length: PARTITIONS }, () => new BrokerPartition())
  const client = new Client(broker)
  const acknowledged = new Map<string, { partition: number; offset: number }>()
  let failures = 0
  let next = 0
  for (const { partitions, fault } of steps) {
    if (fault) client.fault(fault.partition, fault.kind)
    const items = partitions.map((partition) => ({ value: `r${next++}`, partition }))
    try {
      const positions = await append(client, items, renewing)
      for (const item of items)
        acknowledged.set(item.value, { partition: item.partition, offset: positions.get(item.value)! })
    } catch {
      failures++
    }
  }
  return { broker, client, acknowledged, failures }
}

type StepValue = { partitions: number[]; fault: { partition: number; kind: Fault } | null }

describe('a stuck idempotent producer against a model of the broker', () => {
  it('every append is acknowledged, each record once, at the offset it has, and never stored twice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 30 }), async (steps) => {
        const { broker, acknowledged, failures } = await run(steps, true)
        expect(failures).toBe(0)
        for (const [value, { partition, offset }] of acknowledged) {
          expect(broker[partition]!.log[offset]).toBe(value)
        }
        for (const partition of broker) {
          const records = partition.log.filter((value) => value !== '(zombie)')
          expect(new Set(records).size).toBe(records.length)
        }
        expect(acknowledged.size).toBe(steps.reduce((sum, s) => sum + s.partitions.length, 0))
      }),
      { numRuns: 500 },
    )
  })

  it('sends a batch the broker wrote again under the old id, so it is recognised, not written twice', async () => {
    // Partition 0's state ran ahead; a request to partitions 1 and 0 writes partition 1's batch and
    // is refused for partition 0. Sending both again under a new id would store r0 twice.
    const { broker, client, acknowledged } = await run(
      [
        { partitions: [0, 1], fault: null },
        { partitions: [1, 0], fault: { partition: 0, kind: 'ahead' } },
      ],
      true,
    )
    expect(client.renewals).toBe(1)
    expect(broker[1]!.log).toEqual(['r1', 'r2'])
    expect(broker[0]!.log).toEqual(['r0', ...ZOMBIE_BATCH, 'r3'])
    expect(acknowledged.get('r2')).toEqual({ partition: 1, offset: 1 })
    expect(acknowledged.get('r3')).toEqual({ partition: 0, offset: 8 })
  })

  it('the model shows the producer stuck without the renewal: every later append to the partition fails', async () => {
    for (const kind of ['ahead', 'forgotten', 'epoch-bumped'] as const) {
      const { acknowledged, failures } = await run(
        [
          { partitions: [0], fault: null },
          { partitions: [0], fault: { partition: 0, kind } },
          { partitions: [0, 0], fault: null },
          { partitions: [0], fault: null },
        ],
        false,
      )
      expect(failures, kind).toBe(3)
      expect([...acknowledged.keys()]).toEqual(['r0'])
    }
  })
})
