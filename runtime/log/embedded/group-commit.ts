/**
 * Group commit: one sync round makes everything written since the previous round durable, the
 * data of every partition written to (one fdatasync each, in parallel) and then the offsets of
 * every consumer group that committed (one file write each). Callers that ask for a round while
 * one is running share the next one, so N concurrent appends and commits cost one round, not N.
 *
 * Order within a round, for crash safety: the dirty partitions and the offsets to write are
 * taken at the same moment, the data is synced first, the offsets written after. A commit
 * follows the appends of its batch, so any offset on disk is backed by durable data. With
 * 'batch' that holds already when the commit is made, so there data rounds and offsets rounds
 * run side by side: the next batch's append is synced while the last batch's offsets are written.
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

/**
 * Runs a task in rounds: callers that ask while a round runs share the next one, so N
 * concurrent callers cost at most two rounds. A round's task never rejects.
 */
class Rounds<R> {
  private waiters: ((result: R) => void)[] = []
  private running = false

  constructor(private readonly task: () => Promise<R>) {}

  /** Whether a round is running or callers wait for one. */
  get busy(): boolean {
    return this.running || this.waiters.length > 0
  }

  /** Resolves after a round that began after this call. */
  run(): Promise<R> {
    return new Promise((resolve) => {
      this.waiters.push(resolve)
      if (!this.running) {
        this.running = true
        void this.loop()
      }
    })
  }

  /** Resolves after the next round without starting one (a timer or another caller does). */
  next(): Promise<R> {
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiters.length > 0) {
        const waiters = this.waiters
        this.waiters = []
        const result = await this.task()
        for (const resolve of waiters) resolve(result)
      }
    } finally {
      this.running = false
    }
  }
}

export class GroupCommit<T extends SyncTarget, Snapshot> {
  private readonly dirty = new Set<T>()
  private hasDirtyOffsets = false
  /**
   * Set when a data sync failed and offsets must not follow it: data acknowledged before may be
   * lost to a machine crash, and no offset written later could say which. Offsets then stay as
   * last written (their records are delivered again after a restart) until the log is reopened.
   */
  private offsetsHeld: Error | null = null
  /** Data, then offsets, in one round (the interval policy and 'none'). */
  private readonly together = new Rounds(() => this.runRound(true, true))
  /** 'batch': data rounds and offsets rounds run side by side (see `independent`). */
  private readonly dataRounds = new Rounds(() => this.runRound(true, false))
  private readonly offsetsRounds = new Rounds(() => this.runRound(false, true))

  constructor(
    private readonly offsets: OffsetsTarget<Snapshot>,
    private readonly options: {
      /**
       * 'batch': every commit's appends were durable before the commit was made, so offsets
       * need not wait for data: data rounds (for appends) and offsets rounds (for commits) run
       * side by side, and offsets are written even after a failed data sync. Otherwise (the
       * interval policy) a round syncs data and then writes offsets, and after a failed data
       * sync no round writes offsets any more.
       */
      readonly independent: boolean
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
    return this.together.busy || this.dataRounds.busy || this.offsetsRounds.busy
  }

  /** Resolves after the next round of both data and offsets without starting one. */
  nextRound(): Promise<RoundResult<T>> {
    if (!this.options.independent) return this.together.next()
    return Promise.all([this.dataRounds.next(), this.offsetsRounds.next()]).then(merge)
  }

  /** Resolves once data and offsets written before this call are durable (never rejects). */
  round(): Promise<RoundResult<T>> {
    if (!this.options.independent) return this.together.run()
    return Promise.all([this.dataRounds.run(), this.offsetsRounds.run()]).then(merge)
  }

  /** Resolves once data written before this call is durable (with `independent`; else round()). */
  dataRound(): Promise<RoundResult<T>> {
    return this.options.independent ? this.dataRounds.run() : this.together.run()
  }

  /** Resolves once offsets recorded before this call are written (with `independent`; else round()). */
  offsetsRound(): Promise<RoundResult<T>> {
    return this.options.independent ? this.offsetsRounds.run() : this.together.run()
  }

  private async runRound(withData: boolean, withOffsets: boolean): Promise<RoundResult<T>> {
    const targets = withData ? [...this.dirty] : []
    if (withData) this.dirty.clear()
    if (withOffsets) this.hasDirtyOffsets = false
    const snapshot = withOffsets ? this.offsets.takeDirty() : null
    const failed = new Map<T, Error>()
    const synced = await Promise.allSettled(targets.map((t) => t.syncData()))
    synced.forEach((r, i) => {
      if (r.status === 'rejected') failed.set(targets[i]!, asError(r.reason))
    })
    if (failed.size > 0 && !this.options.independent) this.offsetsHeld ??= failed.values().next().value!
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

function merge<T extends SyncTarget>([data, offsets]: RoundResult<T>[]): RoundResult<T> {
  return {
    failed: data!.failed.size > 0 ? data!.failed : offsets!.failed,
    offsetsError: offsets!.offsetsError ?? data!.offsetsError,
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}
