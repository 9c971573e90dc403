/**
 * HyperLogLog (Flajolet, Fusy, Gandouet, Meunier 2007) for `approx_count_distinct`: precision 14,
 * so 2^14 one-byte registers (16 KiB, allocated at the first value). A value's 64-bit hash
 * (hash.ts, of its canonical string) picks a register with its top 14 bits; the register keeps
 * the largest rank (1 + leading zeros) of the other 50 bits seen, 1…51.
 *
 * The estimate: the classic one (the raw α_m·m²/Σ2^−M[j], and linear counting m·ln(m/V) while it
 * is at most 2.5·m) is biased by up to 3% just above 2.5·m (measured: +3.0% at 40,000 values),
 * which HLL++ corrects with empirical tables. This uses instead the improved estimator of Ertl
 * ("New cardinality estimation algorithms for HyperLogLog sketches", 2017, its corrected raw
 * estimate): α∞·m²/(m·σ(C₀/m) + Σ_k C_k·2^−k + m·τ(1 − C₅₁/m)·2^−50), C_k the number of registers
 * holding k. Its σ term is the small-range (linear counting) correction and τ the large-range
 * one; it has no bias to speak of from 1 value to far beyond 10^9, without tables. The standard
 * error is about 1.04/√m ≈ 0.81%.
 *
 * Merging takes the register-wise maximum, so a sketch depends only on the set of values added,
 * never on their order or on how they were split among merged sketches.
 */
import { canonical, hash64 } from './hash.ts'

export const HLL_PRECISION = 14
export const HLL_REGISTERS = 1 << HLL_PRECISION
/** The relative standard error of the estimate, 1.04/√m. */
export const HLL_STANDARD_ERROR = 1.04 / Math.sqrt(HLL_REGISTERS)
const LOW_BITS = 32 - HLL_PRECISION

export class HyperLogLog {
  /** Null until the first value (an empty sketch costs nothing). */
  private registers: Uint8Array | null = null

  /** Adds a key-typed value (null is skipped). */
  add(value: unknown): void {
    if (value === null || value === undefined) return
    const { hi, lo } = hash64(canonical(value))
    this.addHash(hi, lo)
  }

  addHash(hi: number, lo: number): void {
    const registers = this.ensureRegisters()
    const index = hi >>> LOW_BITS
    const rest = hi & ((1 << LOW_BITS) - 1)
    const rank = rest !== 0 ? Math.clz32(rest) - HLL_PRECISION + 1 : LOW_BITS + Math.clz32(lo) + 1
    if (rank > registers[index]!) registers[index] = rank
  }

  private ensureRegisters(): Uint8Array {
    if (this.registers === null) this.registers = new Uint8Array(HLL_REGISTERS)
    return this.registers
  }

  merge(other: HyperLogLog): void {
    if (other.registers === null) return
    const registers = this.ensureRegisters()
    for (let j = 0; j < HLL_REGISTERS; j++) {
      if (other.registers[j]! > registers[j]!) registers[j] = other.registers[j]!
    }
  }

  /**
   * The estimated number of distinct values, rounded to an integer (0 for an empty sketch): Ertl's
   * improved estimator (see the header) over the histogram of register values.
   */
  result(): number {
    const registers = this.registers
    if (registers === null) return 0
    const m = HLL_REGISTERS
    const q = 64 - HLL_PRECISION
    const histogram = new Float64Array(q + 2)
    for (let j = 0; j < m; j++) histogram[registers[j]!]!++
    if (histogram[0] === m) return 0
    let z = m * tau(1 - histogram[q + 1]! / m)
    for (let k = q; k >= 1; k--) z = 0.5 * (z + histogram[k]!)
    z += m * sigma(histogram[0]! / m)
    return Math.round((m * m) / (2 * Math.LN2 * z))
  }

  /** The registers (empty for an empty sketch). */
  serialize(): Uint8Array {
    return this.registers === null ? new Uint8Array(0) : this.registers.slice()
  }

  static deserialize(bytes: Uint8Array): HyperLogLog {
    const sketch = new HyperLogLog()
    if (bytes.length === 0) return sketch
    if (bytes.length !== HLL_REGISTERS) {
      throw new Error(`a HyperLogLog has ${HLL_REGISTERS} registers, not ${bytes.length}`)
    }
    sketch.registers = Uint8Array.from(bytes)
    return sketch
  }
}

/** σ(x) = x + Σ_{k≥1} x^(2^k)·2^(k−1) (Ertl 2017), for 0 <= x < 1. */
function sigma(x: number): number {
  let y = 1
  let z = x
  for (;;) {
    x *= x
    const before = z
    z += x * y
    y += y
    if (z === before) return z
  }
}

/** τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))²·2^−k)/3 (Ertl 2017), for 0 <= x <= 1. */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0
  let y = 1
  let z = 1 - x
  for (;;) {
    x = Math.sqrt(x)
    const before = z
    y *= 0.5
    z -= (1 - x) ** 2 * y
    if (z === before) return z / 3
  }
}
