import fc from 'fast-check'
import { KafkaJSProtocolError } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { SluiceError } from '../errors.ts'
import { isTopicSettling, type SettlingClock, untilTopicSettles } from './kafka-topic-settling.ts'

/** A protocol error as kafkajs builds one from a broker's error code (its typings take only a message). */
function protocolError(type: string): Error {
  return new KafkaJSProtocolError({ type, code: 0, retriable: true, message: type } as unknown as Error)
}

/** Virtual time: sleeping advances it at once. */
class VirtualClock implements SettlingClock {
  time = 0
  readonly sleeps: number[] = []
  now(): number {
    return this.time
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms)
    this.time += ms
  }
}

/**
 * A broker on which a topic appears (its metadata reaches the broker) at `appearsAt`: before,
 * calls fail as the log maps them (LOG_UNKNOWN_TOPIC with the broker's error as cause, or a
 * leader not yet elected), after they succeed. Each call takes `callMs`.
 */
function brokerCall(clock: VirtualClock, appearsAt: number, callMs: number, noLeader: boolean) {
  let calls = 0
  const call = async (): Promise<string> => {
    calls++
    clock.time += callMs
    if (clock.time < appearsAt) {
      if (noLeader) throw protocolError('LEADER_NOT_AVAILABLE')
      throw new SluiceError('LOG_UNKNOWN_TOPIC', 'unknown topic t', {
        cause: protocolError('UNKNOWN_TOPIC_OR_PARTITION'),
      })
    }
    return 'done'
  }
  return { call, calls: () => calls }
}

describe('waiting for a topic the broker does not know yet', () => {
  it('succeeds when the topic appears within the bound, else throws the last error after the bound', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 6000 }),
        fc.integer({ min: 0, max: 4000 }),
        fc.integer({ min: 0, max: 50 }),
        fc.boolean(),
        async (appearsAt, waitMs, callMs, noLeader) => {
          const clock = new VirtualClock()
          const broker = brokerCall(clock, appearsAt, callMs, noLeader)
          let refreshed = 0
          const outcome = await untilTopicSettles(broker.call, {
            waitMs,
            clock,
            onSettling: () => refreshed++,
          }).then(
            (value) => ({ value }),
            (error: unknown) => ({ error }),
          )
          if ('value' in outcome) {
            expect(outcome.value).toBe('done')
            expect(clock.time).toBeGreaterThanOrEqual(appearsAt)
          } else {
            // Given up only after the bound, and not much later (one call at most past it).
            expect(clock.time).toBeGreaterThanOrEqual(waitMs)
            expect(clock.time).toBeLessThanOrEqual(waitMs + callMs)
            expect(clock.time).toBeLessThan(appearsAt)
            if (noLeader) expect(outcome.error).toMatchObject({ type: 'LEADER_NOT_AVAILABLE' })
            else expect(outcome.error).toMatchObject({ code: 'LOG_UNKNOWN_TOPIC', retryable: false })
          }
          // Metadata is dropped before every try again; waits back off (20 ms doubling to 500).
          expect(refreshed).toBe(broker.calls() - 1)
          expect(clock.sleeps.every((ms) => ms > 0 && ms <= 500)).toBe(true)
          if (appearsAt <= waitMs) expect(outcome).toEqual({ value: 'done' })
          // Back-off keeps the calls few: about waitMs / 500 plus the doubling steps.
          expect(broker.calls()).toBeLessThanOrEqual(Math.ceil(waitMs / 500) + 7)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('throws any other error at once', async () => {
    const clock = new VirtualClock()
    let calls = 0
    const error = new SluiceError('LOG_RECORD_REFUSED', 'too large')
    await expect(
      untilTopicSettles(
        async () => {
          calls++
          throw error
        },
        { waitMs: 5000, clock },
      ),
    ).rejects.toBe(error)
    expect(calls).toBe(1)
    expect(clock.time).toBe(0)
  })

  it('counts an unknown topic or a missing leader as settling, in the cause chain too', () => {
    expect(isTopicSettling(protocolError('UNKNOWN_TOPIC_OR_PARTITION'))).toBe(true)
    expect(isTopicSettling(protocolError('LEADER_NOT_AVAILABLE'))).toBe(true)
    expect(isTopicSettling(new SluiceError('LOG_UNKNOWN_TOPIC', 'unknown topic t'))).toBe(true)
    expect(
      isTopicSettling(
        new SluiceError('KAFKA_UNAVAILABLE', 'x', { cause: protocolError('LEADER_NOT_AVAILABLE') }),
      ),
    ).toBe(true)
    expect(isTopicSettling(protocolError('NOT_COORDINATOR'))).toBe(false)
    expect(isTopicSettling(new SluiceError('LOG_BAD_PARTITION', 'no partition 3'))).toBe(false)
  })
})
