import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type CommittedOffset, OffsetCommitScheduler } from './kafka-offset-commits.ts'

/**
 * A consumer's offset bookkeeping as kafkajs keeps it: offsets resolved per partition (after their
 * handler resolved), and what the broker holds. A commit takes what is resolved when it starts and
 * lands when `settle` says so (or at once), or fails.
 */
class FakeConsumer {
  readonly resolvedOffsets = new Map<number, number>()
  readonly committedOffsets = new Map<number, number>()
  /** Every commit, in the order they started. */
  readonly commits: CommittedOffset[][] = []
  inFlight = 0
  maxInFlight = 0
  /** Commits that fail next (then they succeed again). */
  failNext = 0
  /** When a commit last failed (Date.now(), faked in these tests). */
  lastFailureAt = Number.NEGATIVE_INFINITY
  /** Whether a commit waits for release() instead of landing in the next microtask. */
  hold = false
  readonly #held: (() => void)[] = []

  resolve(partition: number, offset: number): void {
    this.resolvedOffsets.set(partition, offset)
  }

  commit = async (): Promise<CommittedOffset[]> => {
    const offsets = [...this.resolvedOffsets]
      .filter(([p, o]) => this.committedOffsets.get(p) !== o)
      .map(([partition, offset]) => ({ topic: 't', partition, offset }))
    if (offsets.length === 0) return []
    this.commits.push(offsets)
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      if (this.hold) await new Promise<void>((resolve) => this.#held.push(resolve))
      else await Promise.resolve()
      if (this.failNext > 0) {
        this.failNext--
        this.lastFailureAt = Date.now()
        throw new Error('broker away')
      }
      for (const o of offsets) {
        const before = this.committedOffsets.get(o.partition) ?? -1
        if (o.offset < before)
          throw new Error(`partition ${o.partition} went back from ${before} to ${o.offset}`)
        this.committedOffsets.set(o.partition, o.offset)
      }
      return offsets
    } finally {
      this.inFlight--
    }
  }

  release(): void {
    for (const resolve of this.#held.splice(0)) resolve()
  }

  /** Everything resolved is committed. */
  get caughtUp(): boolean {
    return [...this.resolvedOffsets].every(([p, o]) => this.committedOffsets.get(p) === o)
  }
}

/** Lets the commit chain's promises run (a commit takes a few microtask turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve()
}

describe('OffsetCommitScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('commits the batches of one interval together, not one by one', async () => {
    const consumer = new FakeConsumer()
    const committed: CommittedOffset[][] = []
    const commits = new OffsetCommitScheduler({
      intervalMs: 250,
      commit: consumer.commit,
      onCommitted: (offsets) => committed.push([...offsets]),
    })
    for (let batch = 1; batch <= 5; batch++) {
      consumer.resolve(batch % 2, batch * 100)
      commits.resolved()
      await vi.advanceTimersByTimeAsync(40)
    }
    // 200 ms after the first batch: nothing committed yet.
    expect(consumer.commits).toEqual([])
    await vi.advanceTimersByTimeAsync(50)
    expect(consumer.commits).toEqual([
      [
        { topic: 't', partition: 1, offset: 500 },
        { topic: 't', partition: 0, offset: 400 },
      ],
    ])
    expect(committed).toEqual(consumer.commits)
    // Nothing resolved since: no timer, no empty commit.
    await vi.advanceTimersByTimeAsync(1000)
    expect(consumer.commits).toHaveLength(1)
  })

  it('bounds the wait of the oldest resolved offset by the interval, whatever follows it', async () => {
    const consumer = new FakeConsumer()
    const commits = new OffsetCommitScheduler({ intervalMs: 100, commit: consumer.commit })
    consumer.resolve(0, 1)
    commits.resolved()
    // Batches keep coming: the first one's commit still happens 100 ms after it.
    for (let i = 2; i <= 9; i++) {
      await vi.advanceTimersByTimeAsync(11)
      consumer.resolve(0, i)
      commits.resolved()
    }
    await vi.advanceTimersByTimeAsync(12)
    expect(consumer.committedOffsets.get(0)).toBe(9)
  })

  it('flush commits at once, after the commit under way, and never two commits at a time', async () => {
    const consumer = new FakeConsumer()
    const commits = new OffsetCommitScheduler({ intervalMs: 100, commit: consumer.commit })
    consumer.hold = true
    consumer.resolve(0, 10)
    commits.resolved()
    await vi.advanceTimersByTimeAsync(100)
    expect(consumer.inFlight).toBe(1)
    // Resolved while the first commit is under way: the flush waits for it, then commits this.
    consumer.resolve(0, 20)
    consumer.resolve(1, 5)
    let flushed = false
    const flush = commits.flush().then(() => {
      flushed = true
    })
    await settle()
    expect(flushed).toBe(false)
    expect(consumer.commits).toHaveLength(1)
    consumer.release()
    await settle()
    consumer.release()
    await flush
    expect(consumer.commits).toEqual([
      [{ topic: 't', partition: 0, offset: 10 }],
      [
        { topic: 't', partition: 0, offset: 20 },
        { topic: 't', partition: 1, offset: 5 },
      ],
    ])
    expect(consumer.maxInFlight).toBe(1)
    expect(consumer.caughtUp).toBe(true)
  })

  it('retries a failed background commit after the interval, without another batch', async () => {
    const consumer = new FakeConsumer()
    const errors: unknown[] = []
    const commits = new OffsetCommitScheduler({
      intervalMs: 100,
      commit: consumer.commit,
      onBackgroundError: (error) => errors.push(error),
    })
    consumer.failNext = 1
    consumer.resolve(0, 7)
    commits.resolved()
    await vi.advanceTimersByTimeAsync(100)
    expect(errors).toEqual([new Error('broker away')])
    expect(consumer.committedOffsets.get(0)).toBeUndefined()
    await vi.advanceTimersByTimeAsync(100)
    expect(consumer.committedOffsets.get(0)).toBe(7)
  })

  it('flush rejects when its commit fails; what it held is committed by the next one', async () => {
    const consumer = new FakeConsumer()
    const commits = new OffsetCommitScheduler({ intervalMs: 100, commit: consumer.commit })
    consumer.resolve(0, 3)
    consumer.failNext = 1
    await expect(commits.flush()).rejects.toThrow('broker away')
    await commits.flush()
    expect(consumer.committedOffsets.get(0)).toBe(3)
  })

  it('after close, only flush commits (the final commit of a stop)', async () => {
    const consumer = new FakeConsumer()
    const commits = new OffsetCommitScheduler({ intervalMs: 100, commit: consumer.commit })
    consumer.resolve(0, 1)
    commits.resolved()
    commits.close()
    consumer.resolve(0, 2)
    commits.resolved()
    await vi.advanceTimersByTimeAsync(1000)
    expect(consumer.commits).toEqual([])
    await commits.flush()
    expect(consumer.committedOffsets.get(0)).toBe(2)
  })

  it('interval 0 leaves every commit to the caller', async () => {
    const consumer = new FakeConsumer()
    const commits = new OffsetCommitScheduler({ intervalMs: 0, commit: consumer.commit })
    expect(commits.background).toBe(false)
    consumer.resolve(0, 1)
    commits.resolved()
    await vi.advanceTimersByTimeAsync(1000)
    expect(consumer.commits).toEqual([])
    await commits.flush()
    expect(consumer.committedOffsets.get(0)).toBe(1)
  })

  it('refuses a negative or non-finite interval', () => {
    const commit = async () => []
    expect(() => new OffsetCommitScheduler({ intervalMs: -1, commit })).toThrow(RangeError)
    expect(() => new OffsetCommitScheduler({ intervalMs: Number.NaN, commit })).toThrow(RangeError)
  })

  type Step =
    | { kind: 'batch'; partition: number; records: number }
    | { kind: 'wait'; ms: number }
    | { kind: 'flush' }
    | { kind: 'fail' }

  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('batch' as const),
        partition: fc.integer({ min: 0, max: 3 }),
        records: fc.integer({ min: 1, max: 1000 }),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 400 }) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('fail' as const) }) },
  )

  it('matches the reference: in order, one at a time, nothing older than the interval uncommitted, all after a flush', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 300 }),
        fc.array(step, { maxLength: 60 }),
        async (intervalMs, steps) => {
          const consumer = new FakeConsumer()
          const commits = new OffsetCommitScheduler({
            intervalMs,
            commit: consumer.commit,
            onBackgroundError: () => {},
          })
          // The reference: per partition, the offsets resolved and when, minus what the broker holds.
          const resolvedAt: { partition: number; offset: number; at: number }[] = []
          for (const s of steps) {
            if (s.kind === 'batch') {
              const offset = (consumer.resolvedOffsets.get(s.partition) ?? 0) + s.records
              consumer.resolve(s.partition, offset)
              resolvedAt.push({ partition: s.partition, offset, at: Date.now() })
              commits.resolved()
            } else if (s.kind === 'wait') {
              await vi.advanceTimersByTimeAsync(s.ms)
            } else if (s.kind === 'flush') {
              await commits.flush().catch(() => {})
            } else {
              consumer.failNext++
            }
            await settle()
            // Offsets resolved an interval ago are committed; a failed commit postpones them by an
            // interval (from the failure), one still to fail indefinitely.
            for (const r of resolvedAt) {
              const due = Math.max(r.at, consumer.lastFailureAt) + intervalMs
              if (Date.now() >= due && consumer.failNext === 0) {
                expect(consumer.committedOffsets.get(r.partition) ?? 0).toBeGreaterThanOrEqual(r.offset)
              }
            }
            for (const [p, o] of consumer.committedOffsets) {
              expect(o).toBeLessThanOrEqual(consumer.resolvedOffsets.get(p)!)
            }
          }
          consumer.failNext = 0
          await commits.flush()
          expect(consumer.caughtUp).toBe(true)
          expect(consumer.maxInFlight).toBeLessThanOrEqual(1)
          commits.close()
        },
      ),
      { numRuns: 150 },
    )
  })
})
