/**
 * UncertainBatches against a model of the broker's idempotent-producer bookkeeping: whatever answers
 * are lost and whatever the caller sends next (the same records again, or others), every append
 * that resolved has its records in the partition at the offsets it answered, i.e. nothing
 * acknowledged is dropped as a duplicate. The model follows Kafka's ProducerStateManager as far
 * as a single producer with one request in flight needs: a batch whose first and last sequence
 * match one of the producer's last five is a duplicate (answered with its first offset, not
 * written), any other batch must start at the next sequence (else OUT_OF_ORDER_SEQUENCE_NUMBER),
 * and a new producer id starts at sequence 0. The client side is kafkajs's: sequences advance per
 * send and roll back when the send fails.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { OutgoingRecord } from './index.ts'
import { UncertainBatches } from './kafka-uncertain-batches.ts'

interface ProducerState {
  nextSequence: number
  /** The last five batches: first and last sequence, first offset. */
  batches: { first: number; last: number; offset: number }[]
}

/** One partition of the broker. */
class BrokerPartition {
  readonly log: OutgoingRecord[] = []
  readonly producers = new Map<number, ProducerState>()

  /** Answers the batch's first offset, or throws OUT_OF_ORDER_SEQUENCE_NUMBER (nothing written). */
  produce(producerId: number, firstSequence: number, records: readonly OutgoingRecord[]): number {
    let state = this.producers.get(producerId)
    if (state === undefined) {
      state = { nextSequence: 0, batches: [] }
      this.producers.set(producerId, state)
    }
    const last = firstSequence + records.length - 1
    const duplicate = state.batches.find((b) => b.first === firstSequence && b.last === last)
    if (duplicate) return duplicate.offset
    if (firstSequence !== state.nextSequence) throw new Error('OUT_OF_ORDER_SEQUENCE_NUMBER')
    const offset = this.log.length
    this.log.push(...records)
    state.nextSequence = last + 1
    state.batches.push({ first: firstSequence, last, offset })
    if (state.batches.length > 5) state.batches.shift()
    return offset
  }
}

/** What happens to one produce request. */
type Fate = 'answered' | 'answer-lost' | 'not-delivered'

/** KafkaLog's send to one partition with the guard of kafka-uncertain-batches.ts (or without). */
class GuardedProducer {
  private producerId = 1
  private sequence = 0
  readonly uncertain = new UncertainBatches()

  constructor(
    private readonly broker: BrokerPartition,
    private readonly guarded: boolean,
  ) {}

  send(records: readonly OutgoingRecord[], fate: Fate): number {
    const batches = new Map([[0, records]])
    if (this.guarded && this.uncertain.conflicts('t', batches)) {
      this.producerId++
      this.sequence = 0
      this.uncertain.clear()
    }
    const first = this.sequence
    this.sequence += records.length
    try {
      if (fate === 'not-delivered') throw new Error('connection refused')
      const offset = this.broker.produce(this.producerId, first, records)
      if (fate === 'answer-lost') throw new Error('connection closed before the answer')
      this.uncertain.settled('t', [0])
      return offset
    } catch (error) {
      this.sequence -= records.length // kafkajs's rollback
      this.uncertain.failed('t', batches)
      throw error
    }
  }
}

/** A caller's step: send new records, or the last failed ones again; and that send's fate. */
const step = fc.record({
  again: fc.boolean(),
  count: fc.integer({ min: 1, max: 4 }),
  fate: fc.constantFrom<Fate>('answered', 'answered', 'answer-lost', 'not-delivered'),
})

function run(guarded: boolean, steps: readonly { again: boolean; count: number; fate: Fate }[]) {
  const broker = new BrokerPartition()
  const producer = new GuardedProducer(broker, guarded)
  const acknowledged: { records: readonly OutgoingRecord[]; offset: number }[] = []
  let failed: readonly OutgoingRecord[] | undefined
  let next = 0
  for (const { again, count, fate } of steps) {
    const records =
      again && failed !== undefined
        ? failed
        : Array.from({ length: count }, () => ({ key: null, value: Buffer.from(`r${next++}`) }))
    try {
      acknowledged.push({ records, offset: producer.send(records, fate) })
      failed = undefined
    } catch {
      failed = records
    }
  }
  return { broker, acknowledged }
}

describe('UncertainBatches against a model of the broker', () => {
  it('no acknowledged record is missing from the partition or at another offset than answered', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const { broker, acknowledged } = run(true, steps)
        for (const { records, offset } of acknowledged) {
          records.forEach((record, i) => {
            expect(broker.log[offset + i]?.value.toString()).toBe(record.value.toString())
          })
        }
      }),
      { numRuns: 500 },
    )
  })

  it('the model shows the loss without the guard: the broker drops other records of the same count', () => {
    const { broker, acknowledged } = run(false, [
      { again: false, count: 3, fate: 'answer-lost' },
      { again: false, count: 3, fate: 'answered' },
    ])
    const [second] = acknowledged
    expect(second!.offset).toBe(0)
    expect(broker.log.map((r) => r.value.toString())).toEqual(['r0', 'r1', 'r2'])
  })
})
