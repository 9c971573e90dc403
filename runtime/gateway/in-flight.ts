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

/** One counter in a SharedArrayBuffer, updated with compare-and-swap, so it never goes over `max`. */
export class SharedBudget implements InFlightBudget {
  private readonly counter: Int32Array

  constructor(
    readonly buffer: SharedArrayBuffer,
    private readonly max: number,
  ) {
    if (max > SHARED_BUDGET_MAX)
      throw new RangeError(`a shared budget holds at most ${SHARED_BUDGET_MAX} bytes`)
    this.counter = new Int32Array(buffer, 0, 1)
  }

  static create(max: number): SharedBudget {
    return new SharedBudget(new SharedArrayBuffer(4), max)
  }

  get bytes(): number {
    return Atomics.load(this.counter, 0)
  }

  reserve(bytes: number): boolean {
    for (;;) {
      const now = Atomics.load(this.counter, 0)
      if (now + bytes > this.max) return false
      if (Atomics.compareExchange(this.counter, 0, now, now + bytes) === now) return true
    }
  }

  release(bytes: number): void {
    Atomics.sub(this.counter, 0, bytes)
  }
}
