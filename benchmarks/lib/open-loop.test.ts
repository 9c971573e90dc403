import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { OutgoingRecord } from '../../runtime/log/index.ts'
import { OpenLoopProducer, OpenLoopSchedule } from './open-loop.ts'

describe('OpenLoopSchedule', () => {
  it('spaces events 1/rate apart from the origin', () => {
    const s = new OpenLoopSchedule(100_000, 5_000)
    expect(s.intendedNs(0)).toBe(5_000)
    expect(s.intendedNs(1)).toBe(15_000)
    expect(s.intendedNs(100_000)).toBe(5_000 + 1e9)
  })

  it('counts as due exactly the events whose intended time has come', () => {
    const s = new OpenLoopSchedule(1000, 0)
    expect(s.dueBy(-1)).toBe(0)
    expect(s.dueBy(0)).toBe(1)
    expect(s.dueBy(999_999)).toBe(1)
    expect(s.dueBy(1_000_000)).toBe(2)
    expect(s.dueBy(1e9)).toBe(1001)
    // A rate whose period is not a whole number of ns.
    expect(new OpenLoopSchedule(300_000, 0).dueBy(1e9 / 30)).toBe(10_001)
  })

  it('never calls an event due before its intended time, nor leaves one out after it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2_000_000 }),
        fc.integer({ min: 0, max: 1e9 }),
        fc.double({ min: 0, max: 5e9, noNaN: true }),
        (rate, origin, elapsed) => {
          const s = new OpenLoopSchedule(rate, origin)
          const now = origin + elapsed
          const due = s.dueBy(now)
          expect(s.intendedNs(due - 1)).toBeLessThanOrEqual(now + 1e-3)
          expect(s.intendedNs(due)).toBeGreaterThan(now - 1e-3)
        },
      ),
    )
  })

  it('refuses a rate that is not a positive finite number', () => {
    for (const rate of [0, -5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => new OpenLoopSchedule(rate, 0)).toThrow(RangeError)
  })
})

/** A log whose appends resolve when the test says so. */
class ManualTarget {
  readonly calls: { topic: string; seqs: number[]; settle: (error?: Error) => void }[] = []
  append(topic: string, records: readonly OutgoingRecord[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.calls.push({
        topic,
        seqs: records.map((r) => r.timestamp!),
        settle: (error) => (error ? reject(error) : resolve([])),
      })
    })
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve))

describe('OpenLoopProducer', () => {
  function setup(total: number) {
    let now = 0
    const target = new ManualTarget()
    const schedule = new OpenLoopSchedule(1000, 0) // one event per ms
    const producer = new OpenLoopProducer(
      target,
      'in',
      schedule,
      total,
      (seq) => ({ key: null, value: Buffer.from(`e${seq}`), timestamp: seq }),
      () => now,
    )
    return { target, producer, advance: (ms: number) => (now += ms * 1e6) }
  }

  it('sends what the schedule says is due, whatever the log did, in order and once', async () => {
    const { target, producer, advance } = setup(20)
    producer.tick() // t = 0: event 0
    expect(target.calls.map((c) => c.seqs)).toEqual([[0]])
    advance(5) // events 1 … 5 fall due while the first append is in flight
    producer.tick()
    expect(target.calls).toHaveLength(1)
    target.calls[0]!.settle()
    await flush()
    // Nothing until the next tick: no burst of tiny appends the moment one resolves.
    expect(target.calls).toHaveLength(1)
    advance(1)
    producer.tick()
    // One group with everything due, the schedule's and not the log's pace: 1 … 6.
    expect(target.calls.map((c) => c.seqs)).toEqual([[0], [1, 2, 3, 4, 5, 6]])
    target.calls[1]!.settle()
    await flush()
    producer.tick() // nothing new due
    expect(target.calls).toHaveLength(2)
    advance(100) // far past the end: only the 20 events exist
    producer.tick()
    expect(target.calls[2]!.seqs).toEqual([7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19])
    expect(producer.sent).toBe(20)
    target.calls[2]!.settle()
    await producer.done
    expect(producer.acknowledged).toBe(20)
    expect(producer.appends).toBe(3)
    expect(producer.largestGroup).toBe(13)
    expect(target.calls.every((c) => c.topic === 'in')).toBe(true)
  })

  it('stops and rejects done when an append fails', async () => {
    const { target, producer, advance } = setup(10)
    producer.tick()
    target.calls[0]!.settle(new Error('disk full'))
    await expect(producer.done).rejects.toThrow('disk full')
    expect(producer.failed).toBe(true)
    advance(50)
    producer.tick()
    expect(target.calls).toHaveLength(1)
  })

  it('is done at once with nothing to send', async () => {
    await setup(0).producer.done
  })
})
