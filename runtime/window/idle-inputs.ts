/**
 * Idle inputs, Flink's `withIdleness`: an input that has delivered nothing for `timeoutMs` of
 * processing time stops holding a watermark back until it delivers again. One rule for both
 * places that combine watermarks: a join's two inputs (runtime/join/interval-join.ts) and the
 * source partitions a node reads (PartitionWatermarks below, for windows, sessions, count windows
 * and `match` steps; docs/decisions/0028-idle-partitions-and-processing-time.md).
 */

/** The idle timeout and the clock it is measured by (wall-clock ms; tests inject their own). */
export interface IdleClock {
  readonly timeoutMs: number
  readonly now: () => number
}

/** When each input last delivered, and which count as idle now. */
export class IdleInputs<K> {
  private readonly lastArrival = new Map<K, number>()

  constructor(private readonly clock: IdleClock) {}

  /** `input` delivered now (a batch, even one whose records all failed to decode). */
  arrived(input: K): void {
    this.lastArrival.set(input, this.clock.now())
  }

  /** Starts the timeout of an input not heard of before (a side of a new join, a restored partition). */
  known(input: K): void {
    if (!this.lastArrival.has(input)) this.arrived(input)
  }

  /** Whether `input` delivered nothing for the timeout; an input never heard of is not idle. */
  isIdle(input: K): boolean {
    const last = this.lastArrival.get(input)
    return last !== undefined && this.clock.now() - last >= this.clock.timeoutMs
  }

  /** The inputs heard of, in the order they were first. */
  inputs(): IterableIterator<K> {
    return this.lastArrival.keys()
  }
}

/**
 * The source partitions this node reads, per source: each one's largest event time and whether
 * it is idle. A partition's windows follow its own watermark (decision 0019) while it delivers;
 * once it is idle, they follow the smallest watermark of the source's partitions that are not
 * (what Flink's operator watermark would be with the idle input excluded), so its windows close
 * as the others' time moves on. With every partition idle nothing moves.
 */
export class PartitionWatermarks {
  private readonly sources = new Map<string, { idle: IdleInputs<number>; maxTime: Map<number, number> }>()

  constructor(private readonly clock: IdleClock) {}

  private source(name: string) {
    let entry = this.sources.get(name)
    if (entry === undefined) {
      entry = { idle: new IdleInputs<number>(this.clock), maxTime: new Map() }
      this.sources.set(name, entry)
    }
    return entry
  }

  /** A batch of `partition` arrived; `maxTime` is its largest event time (-Infinity: none decoded). */
  arrived(source: string, partition: number, maxTime: number): void {
    const entry = this.source(source)
    entry.idle.arrived(partition)
    const before = entry.maxTime.get(partition) ?? Number.NEGATIVE_INFINITY
    entry.maxTime.set(partition, Math.max(before, maxTime))
  }

  /** A tick of `partition`: known from now on, so its timeout runs even if no batch comes. */
  ticked(source: string, partition: number): void {
    const entry = this.source(source)
    entry.idle.known(partition)
    if (!entry.maxTime.has(partition)) entry.maxTime.set(partition, Number.NEGATIVE_INFINITY)
  }

  /**
   * The largest event time `partition`'s operators should take as seen, when it is idle: the
   * smallest of the other partitions' that are not idle. Null when it is not idle or every
   * partition is (nothing to follow).
   */
  idleMaxTime(source: string, partition: number): number | null {
    const entry = this.sources.get(source)
    if (entry === undefined || !entry.idle.isIdle(partition)) return null
    let min: number | null = null
    for (const q of entry.idle.inputs()) {
      if (q === partition || entry.idle.isIdle(q)) continue
      const max = entry.maxTime.get(q) ?? Number.NEGATIVE_INFINITY
      if (min === null || max < min) min = max
    }
    return min === null || min === Number.NEGATIVE_INFINITY ? null : min
  }

  /** How many of `source`'s partitions are idle now. */
  idleCount(source: string): number {
    const entry = this.sources.get(source)
    if (entry === undefined) return 0
    let n = 0
    for (const q of entry.idle.inputs()) if (entry.idle.isIdle(q)) n++
    return n
  }
}
