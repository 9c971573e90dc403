/**
 * The gateway's bound on memory: bytes of requests being received or waiting for the log, at most
 * `max`. A request reserves its bytes before it is buffered and is refused (503) when they do not
 * fit. With worker threads the budget is one counter in shared memory, so the bound holds for the
 * node, not per thread.
 */
export interface InFlightBudget {
  /** Takes `bytes` if they fit under the bound; false (and nothing taken) if not. */
  reserve(bytes: number): boolean
  release(bytes: number): void
  readonly bytes: number
}

export class LocalBudget implements InFlightBudget {
  bytes = 0

  constructor(private readonly max: number) {}

  reserve(bytes: number): boolean {
    if (this.bytes + bytes > this.max) return false
    this.bytes += bytes
    return true
  }

  release(bytes: number): void {
    this.bytes -= bytes
  }
}

/** Largest bound a shared budget can keep (one Int32 counter, updated with Atomics). */
export const SHARED_BUDGET_MAX = 2 ** 31 - 1

/**
 * One counter in a SharedArrayBuffer, updated with compare-and-swap, so it never goes over `max`.
 * With holders (the worker threads), each also counts what it holds in a slot of its own, so what
 * a thread that crashed held can be given back (releaseHolder) instead of shrinking the bound for
 * good.
 */
export class SharedBudget implements InFlightBudget {
  private readonly counter: Int32Array

  /** `holder`: this thread's slot (0 to holders − 1 of create()); none: the counter alone. */
  constructor(
    readonly buffer: SharedArrayBuffer,
    private readonly max: number,
    private readonly holder?: number,
  ) {
    if (max > SHARED_BUDGET_MAX)
      throw new RangeError(`a shared budget holds at most ${SHARED_BUDGET_MAX} bytes`)
    this.counter = new Int32Array(buffer)
    if (
      holder !== undefined &&
      !(Number.isInteger(holder) && holder >= 0 && holder + 1 < this.counter.length)
    )
      throw new RangeError(`a shared budget of ${this.counter.length - 1} holders has no holder ${holder}`)
  }

  static create(max: number, holders = 0): SharedBudget {
    return new SharedBudget(new SharedArrayBuffer(4 * (1 + holders)), max)
  }

  get bytes(): number {
    return Atomics.load(this.counter, 0)
  }

  reserve(bytes: number): boolean {
    for (;;) {
      const now = Atomics.load(this.counter, 0)
      if (now + bytes > this.max) return false
      if (Atomics.compareExchange(this.counter, 0, now, now + bytes) === now) {
        if (this.holder !== undefined) Atomics.add(this.counter, 1 + this.holder, bytes)
        return true
      }
    }
  }

  release(bytes: number): void {
    if (this.holder !== undefined) Atomics.sub(this.counter, 1 + this.holder, bytes)
    Atomics.sub(this.counter, 0, bytes)
  }

  /**
   * Gives back everything `holder` holds (its thread ended and released nothing more) and zeroes
   * its slot for the thread that takes its place; answers the bytes given back.
   */
  releaseHolder(holder: number): number {
    const held = Atomics.exchange(this.counter, 1 + holder, 0)
    Atomics.sub(this.counter, 0, held)
    return held
  }
}
