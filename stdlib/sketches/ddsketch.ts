/**
 * DDSketch (Masson, Rim, Lee, "DDSketch: a fast and fully-mergeable quantile sketch with
 * relative-error guarantees", VLDB 2019) for `quantile(x, q)`, with relative accuracy α = 1%.
 *
 * Mapping (the logarithmic one of the paper and of DataDog's sketches): γ = (1 + α)/(1 − α); a
 * positive x goes to bucket i = ⌈log_γ x⌉, which covers (γ^(i−1), γ^i]; a bucket's value is
 * 2γ^i/(γ + 1) = γ^(i−1)·(1 + α), within α of every x in it. Negative values go, by |x|, to a
 * second store; zeros are counted apart.
 *
 * Each store keeps at most 2048 buckets, collapsing its lowest ones as DDSketch's "collapsing
 * lowest dense store" does: when its buckets span more than 2048 indices, every bucket below
 * max − 2047 is added into bucket max − 2047. Since the kept range follows the largest index
 * only, a store depends only on the multiset of indices added (the same whatever their order or
 * merges). The bound holds for every quantile whose bucket was not collapsed: with α = 1% the
 * 2048 buckets span a ratio of γ^2048 ≈ 10^17.7 below the largest magnitude.
 *
 * Quantile q of n values: the value of rank ⌊q·(n − 1)⌋ (0-based, ascending), as the
 * sketches' getValueAtQuantile: its bucket's value, negated for a negative one, 0 for a zero.
 */

export const DDSKETCH_RELATIVE_ACCURACY = 0.01
export const DDSKETCH_MAX_BUCKETS = 2048
const GAMMA = (1 + DDSKETCH_RELATIVE_ACCURACY) / (1 - DDSKETCH_RELATIVE_ACCURACY)
const LOG_GAMMA = Math.log(GAMMA)

/** The bucket of a positive finite value. */
export function bucketIndex(value: number): number {
  return Math.ceil(Math.log(value) / LOG_GAMMA)
}

/** The value a bucket stands for: within the relative accuracy of every value in it. */
export function bucketValue(index: number): number {
  return Math.exp((index - 1) * LOG_GAMMA) * (1 + DDSKETCH_RELATIVE_ACCURACY)
}

/** Counts per bucket index, collapsing the lowest buckets beyond DDSKETCH_MAX_BUCKETS. */
class CollapsingLowestStore {
  readonly bins = new Map<number, number>()
  count = 0
  private min = Number.POSITIVE_INFINITY
  private max = Number.NEGATIVE_INFINITY

  add(index: number, count: number): void {
    this.bins.set(index, (this.bins.get(index) ?? 0) + count)
    this.count += count
    if (index < this.min) this.min = index
    if (index > this.max) this.max = index
  }

  /** Collapses what lies below max − (DDSKETCH_MAX_BUCKETS − 1) into that bucket. */
  collapse(): void {
    const floor = this.max - (DDSKETCH_MAX_BUCKETS - 1)
    if (this.min >= floor) return
    let moved = 0
    for (const [index, count] of this.bins) {
      if (index < floor) {
        moved += count
        this.bins.delete(index)
      }
    }
    this.bins.set(floor, (this.bins.get(floor) ?? 0) + moved)
    this.min = floor
  }

  merge(other: CollapsingLowestStore): void {
    for (const [index, count] of other.bins) this.add(index, count)
    this.collapse()
  }

  /** Indices ascending. */
  sorted(): number[] {
    return [...this.bins.keys()].sort((a, b) => a - b)
  }

  /**
   * The index holding rank `rank` (0-based, ascending): `lower` takes the first bucket whose
   * running count exceeds the rank, else the first whose running count reaches rank + 1.
   */
  keyAtRank(rank: number, lower: boolean): number {
    let running = 0
    const keys = this.sorted()
    for (const key of keys) {
      running += this.bins.get(key)!
      if ((lower && running > rank) || (!lower && running >= rank + 1)) return key
    }
    return keys[keys.length - 1]!
  }
}

export class DDSketch {
  private readonly positive = new CollapsingLowestStore()
  private readonly negative = new CollapsingLowestStore()
  private zeros = 0

  get count(): number {
    return this.positive.count + this.negative.count + this.zeros
  }

  /** Adds a finite number (null is skipped; the caller refuses NaN and infinities). */
  add(value: unknown): void {
    if (value === null || value === undefined) return
    const x = value as number
    if (!Number.isFinite(x)) throw new RangeError(`DDSketch takes finite numbers, not ${x}`)
    if (x > 0) {
      this.positive.add(bucketIndex(x), 1)
      this.positive.collapse()
    } else if (x < 0) {
      this.negative.add(bucketIndex(-x), 1)
      this.negative.collapse()
    } else {
      this.zeros++
    }
  }

  merge(other: DDSketch): void {
    this.positive.merge(other.positive)
    this.negative.merge(other.negative)
    this.zeros += other.zeros
  }

  /** The q-quantile (0 <= q <= 1) as above; null for an empty sketch. */
  quantile(q: number): number | null {
    const n = this.count
    if (n === 0) return null
    // Floored before it is compared: a fractional rank would pick the wrong bucket among negatives.
    const rank = Math.floor(q * (n - 1))
    const negatives = this.negative.count
    if (rank < negatives) {
      return -bucketValue(this.negative.keyAtRank(negatives - rank - 1, false))
    }
    if (rank < negatives + this.zeros) return 0
    return bucketValue(this.positive.keyAtRank(rank - negatives - this.zeros, true))
  }

  /**
   * Bytes: zeros (f64), then per store (positive, negative) its bucket count (u32) and its buckets
   * by index ascending, each index (i32) and count (f64); big-endian.
   */
  serialize(): Uint8Array {
    const pos = this.positive.sorted()
    const neg = this.negative.sorted()
    const bytes = new Uint8Array(8 + 8 + 12 * (pos.length + neg.length))
    const view = new DataView(bytes.buffer)
    view.setFloat64(0, this.zeros)
    let at = 8
    for (const [store, keys] of [
      [this.positive, pos],
      [this.negative, neg],
    ] as const) {
      view.setUint32(at, keys.length)
      at += 4
      for (const key of keys) {
        view.setInt32(at, key)
        view.setFloat64(at + 4, store.bins.get(key)!)
        at += 12
      }
    }
    return bytes
  }

  static deserialize(bytes: Uint8Array): DDSketch {
    const sketch = new DDSketch()
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    sketch.zeros = view.getFloat64(0)
    let at = 8
    for (const store of [sketch.positive, sketch.negative]) {
      const n = view.getUint32(at)
      at += 4
      for (let b = 0; b < n; b++) {
        store.add(view.getInt32(at), view.getFloat64(at + 4))
        at += 12
      }
    }
    if (at !== bytes.length) throw new Error('not a DDSketch: trailing bytes')
    return sketch
  }
}
