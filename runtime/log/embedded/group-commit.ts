/**
 * Group commit: one sync round makes everything written since the previous round durable, the
 * data of every partition written to (one fdatasync each, in parallel) and then the offsets of
 * every consumer group that committed (one file write each). Callers that ask for a round while
 * one is running share the next one, so N concurrent appends and commits cost one round, not N.
 *
 * Order within a round, for crash safety: the dirty partitions and the offsets to write are
 * taken at the same moment, the data is synced first, the offsets written after. A commit
 * follows the appends of its batch, so any offset on disk is backed by durable data.
 */

/** Something written but maybe not yet durable (a partition's active segment). */
export interface SyncTarget {
  /** Makes what was written durable; a failure poisons the target (its writes can no longer be trusted). */
  syncData(): Promise<void>
}

/** The consumer-group offsets side of a round (GroupOffsets). */
export interface OffsetsTarget<Snapshot> {
  /** The offsets committed since the last round, taken now; null when there are none. */
  takeDirty(): Snapshot | null
  /** Writes (and syncs) a snapshot taken by takeDirty. */
  write(snapshot: Snapshot): Promise<void>
  /** Marks a snapshot's groups dirty again (it was not written). */
  restore(snapshot: Snapshot): void
}

export interface RoundResult<T extends SyncTarget = SyncTarget> {
  /** Targets whose sync failed in this round, with the error. */
  readonly failed: ReadonlyMap<T, Error>
  /** Why the offsets could not be written, or null. */
  readonly offsetsError: Error | null
}

export class GroupCommit<T extends SyncTarget, Snapshot> {
  private readonly dirty = new Set<T>()
  private hasDirtyOffsets = false
  private waiters: ((result: RoundResult<T>) => void)[] = []
  private running = false
  /**
   * Set when a data sync failed and offsets must not follow it: data acknowledged before may be
   * lost to a machine crash, and no offset written later could say which. Offsets then stay as
   * last written (their records are delivered again after a restart) until the log is reopened.
   */
  private offsetsHeld: Error | null = null

  constructor(
    private readonly offsets: OffsetsTarget<Snapshot>,
    private readonly options: {
      /**
       * Write the offsets even when a data sync failed. True for 'batch' (each commit's appends
       * were already durable before it); false for the interval policy, where offsets must not
       * become durable ahead of data that may now be lost: after a failed data sync no round
       * writes offsets any more.
       */
      readonly offsetsDespiteDataFailure: boolean
      /** Told about every round that failed somewhere (also when nobody waits for it). */
      readonly onFailure?: (result: RoundResult<T>) => void
    },
  ) {}

  /** `target` has written data a round must sync. */
  readonly markDirty = (target: T): void => {
    this.dirty.add(target)
  }

  /** A group committed offsets a round must write. */
  readonly markOffsetsDirty = (): void => {
    this.hasDirtyOffsets = true
  }

  /** Nothing written since the last round began. */
  get idle(): boolean {
    return this.dirty.size === 0 && !this.hasDirtyOffsets
  }

  /** Whether a round is running or callers wait for one. */
  get busy(): boolean {
    return this.running || this.waiters.length > 0
  }

  /**
   * Resolves after the next round without starting one: a timer (the interval policy) or another
   * caller of round() does. Never rejects; see RoundResult.
   */
  nextRound(): Promise<RoundResult<T>> {
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Resolves after a round that began after this call (it never rejects; see RoundResult). */
  round(): Promise<RoundResult<T>> {
    return new Promise((resolve) => {
      this.waiters.push(resolve)
      if (!this.running) {
        this.running = true
        void this.loop()
      }
    })
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiters.length > 0) {
        const waiters = this.waiters
        this.waiters = []
        const result = await this.runRound()
        for (const resolve of waiters) resolve(result)
      }
    } finally {
      this.running = false
    }
  }

  private async runRound(): Promise<RoundResult<T>> {
    const targets = [...this.dirty]
    this.dirty.clear()
    this.hasDirtyOffsets = false
    const snapshot = this.offsets.takeDirty()
    const failed = new Map<T, Error>()
    const synced = await Promise.allSettled(targets.map((t) => t.syncData()))
    synced.forEach((r, i) => {
      if (r.status === 'rejected') failed.set(targets[i]!, asError(r.reason))
    })
    if (failed.size > 0 && !this.options.offsetsDespiteDataFailure)
      this.offsetsHeld ??= failed.values().next().value!
    let offsetsError: Error | null = null
    let report = failed.size > 0
    if (snapshot !== null) {
      if (this.offsetsHeld !== null) {
        this.offsets.restore(snapshot)
        offsetsError = new Error(
          `offsets are not written after a failed data sync (${this.offsetsHeld.message}); reopen the log`,
        )
      } else {
        try {
          await this.offsets.write(snapshot)
        } catch (error) {
          offsetsError = asError(error)
          report = true
        }
      }
    }
    const result = { failed, offsetsError }
    // Held offsets were reported with the failed sync that held them, not again every round.
    if (report) this.options.onFailure?.(result)
    return result
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}
