/**
 * When an at-least-once Kafka subscription without checkpoints commits its consumer offsets
 * (issue 15, docs/decisions/0031-offset-commit-interval.md): at most `intervalMs` after a batch's
 * handler resolved, in the background, instead of one OffsetCommit round trip (and one
 * __consumer_offsets write on the broker) after every batch.
 *
 * The scheduler decides *when*; *what* is the caller's `commit`, which commits the offsets the
 * consumer resolved so far (kafkajs resolves a batch's offset only after its handler resolved, in
 * offset order per partition). Commits run one at a time, each taking what was resolved when it
 * starts, so a partition's committed offset only ever moves forward. `flush()` commits everything
 * resolved now (after the commit under way): on stop, on a rebalance, after a failed handler.
 */

/** A partition's committed offset: the next record the group reads. */
export interface CommittedOffset {
  readonly topic: string
  readonly partition: number
  readonly offset: number
}

export interface OffsetCommitSchedulerOptions {
  /** Longest a resolved offset waits for its commit, ms; 0: the caller flushes after every batch. */
  readonly intervalMs: number
  /** Commits every offset resolved so far; resolves with what it committed (nothing: []). */
  readonly commit: () => Promise<readonly CommittedOffset[]>
  /** After each commit that committed something, with how long it took. */
  readonly onCommitted?: (offsets: readonly CommittedOffset[], seconds: number) => void
  /**
   * A background commit failed (broker away, group rebalanced meanwhile): what it would have
   * committed stays resolved and is tried again after `intervalMs`, or by the next flush.
   */
  readonly onBackgroundError?: (error: unknown) => void
}

export class OffsetCommitScheduler {
  readonly #options: OffsetCommitSchedulerOptions
  #timer: NodeJS.Timeout | undefined
  /** The commit under way (or the last one, settled): the next one starts after it. */
  #last: Promise<void> = Promise.resolve()
  #closed = false

  constructor(options: OffsetCommitSchedulerOptions) {
    if (!(Number.isFinite(options.intervalMs) && options.intervalMs >= 0)) {
      throw new RangeError(`commit interval must be a non-negative number of ms, got ${options.intervalMs}`)
    }
    this.#options = options
  }

  /** With an interval, a commit is due within it (the caller flushes itself when it is 0). */
  get background(): boolean {
    return this.#options.intervalMs > 0
  }

  /** A batch's offset was resolved: commit it within the interval (one timer for all batches). */
  resolved(): void {
    if (this.#closed || !this.background || this.#timer !== undefined) return
    this.#arm()
  }

  /**
   * Commits everything resolved so far, after the commit under way; rejects when that commit
   * fails (nothing of it is lost: it stays resolved for the next commit).
   */
  flush(): Promise<void> {
    this.#disarm()
    return this.#enqueue().catch((error: unknown) => {
      // What it held is still resolved: commit it on the interval unless a flush comes first.
      if (!this.#closed && this.background && this.#timer === undefined) this.#arm()
      throw error
    })
  }

  /** No more background commits (flush still works: the final commit on stop). */
  close(): void {
    this.#closed = true
    this.#disarm()
  }

  #arm(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#enqueue().catch((error: unknown) => {
        this.#options.onBackgroundError?.(error)
        // Still resolved, still uncommitted: try again later rather than wait for another batch.
        if (!this.#closed && this.#timer === undefined) this.#arm()
      })
    }, this.#options.intervalMs)
    // A pending commit must not keep the process alive by itself; stop() flushes anyway.
    this.#timer.unref()
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #enqueue(): Promise<void> {
    const run = async () => {
      const started = performance.now()
      const committed = await this.#options.commit()
      if (committed.length > 0) this.#options.onCommitted?.(committed, (performance.now() - started) / 1000)
    }
    const next = this.#last.then(run, run)
    this.#last = next.catch(() => {})
    return next
  }
}
