/**
 * `max_by(x, by)` / `min_by(x, by)` of a window whose `x` is not a number (a string or a bool):
 * the value cannot be a column of the accumulator store, so it is kept beside it as the sketches
 * are (specs/language.md, "Windows"). Numeric `x` are store columns (runtime/window/accumulator-store.ts);
 * both choose by the same rule: the largest (max_by) or smallest (min_by) non-null `by`, ties to
 * the earliest event time, then to the first to arrive.
 *
 * An argument is `[x, by, time]`. Arrivals are numbered by the caller when accumulators merge
 * (sessions pass each event's arrival number); otherwise by the order of `add` calls, which is the
 * arrival order within one window.
 */

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class ArgBest {
  /** The chosen event's `by` (null: none chosen yet), time, arrival number and `x`. */
  private by: number | null = null
  private time = 0
  private seq = 0
  private value: unknown = null
  private adds = 0

  constructor(readonly fn: 'max_by' | 'min_by') {}

  /** Adds `[x, by, time]` (a null `by` is skipped); `seq` is its arrival number when known. */
  add(argument: unknown, seq?: number): void {
    const [x, by, time] = argument as [unknown, number | null, number]
    const arrival = seq ?? this.adds
    this.adds++
    if (by === null) return
    if (this.by === null || this.beats(by, time, arrival)) this.choose(by, time, arrival, x)
  }

  merge(other: ArgBest): void {
    if (other.by === null) return
    if (this.by === null || this.beats(other.by, other.time, other.seq)) {
      this.choose(other.by, other.time, other.seq, other.value)
    }
  }

  result(): unknown {
    return this.by === null ? null : this.value
  }

  /** UTF-8 JSON of [by, time, seq, x], or `null` before any choice. */
  serialize(): Uint8Array {
    return encoder.encode(
      JSON.stringify(this.by === null ? null : [this.by, this.time, this.seq, this.value]),
    )
  }

  static deserialize(fn: 'max_by' | 'min_by', bytes: Uint8Array): ArgBest {
    const acc = new ArgBest(fn)
    const state = JSON.parse(decoder.decode(bytes)) as [number, number, number, unknown] | null
    if (state !== null) acc.choose(state[0], state[1], state[2], state[3])
    return acc
  }

  private beats(by: number, time: number, seq: number): boolean {
    const best = this.by!
    if (by !== best) return this.fn === 'max_by' ? by > best : by < best
    return time < this.time || (time === this.time && seq < this.seq)
  }

  private choose(by: number, time: number, seq: number, value: unknown): void {
    this.by = by
    this.time = time
    this.seq = seq
    this.value = value
  }
}
