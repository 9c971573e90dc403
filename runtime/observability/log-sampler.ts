/**
 * Caps how many lines of one kind a logger writes per second, so a flood of bad events (a producer
 * gone wrong sending thousands a second) costs a few lines instead of one per event: formatting a
 * JSON line costs microseconds, which at 100,000 events/s would be most of a core. What is held
 * back is counted and reported in one line when the next second's first line passes, or on flush.
 * The metrics (sluice_dead_letters_total) still count every event.
 */
export class LogSampler {
  private windowStart = Number.NEGATIVE_INFINITY
  private inWindow = 0
  private held = 0

  constructor(
    readonly perSecond: number,
    /** Told how many lines were held back since the last report. */
    private readonly reportHeld: (count: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether to write this line now. */
  take(): boolean {
    const now = this.now()
    if (now - this.windowStart >= 1000) {
      this.flush()
      this.windowStart = now
      this.inWindow = 0
    }
    if (this.inWindow < this.perSecond) {
      this.inWindow++
      return true
    }
    this.held++
    return false
  }

  /** Reports what was held back, if anything (on stop, or a new window). */
  flush(): void {
    if (this.held === 0) return
    const count = this.held
    this.held = 0
    this.reportHeld(count)
  }
}
