/**
 * The TypeScript window accumulator store (contract: accumulator-store.ts), over typed arrays.
 *
 *   const store = createTypedArrayWindowStore({ accumulators: ['count', 'sum'], sizeMs: 60_000, slideMs: 60_000 })
 *   store.add(keyIds, times, horizons, [times, amounts], n)
 *   const closed = store.collect(watermark, watermark - lateness)
 *
 * Layout (the WebAssembly kernel wasm/kernels/window.ts uses the same algorithm):
 * - rows: `keyIds` i32, `starts` f64, `dirty` u8, and one f64 block `acc` holding each row's
 *   accumulators interleaved (row r, accumulator j: value at acc[r·2A + 2j], aux at acc[r·2A + 2j + 1]),
 *   so one event touches one contiguous run of memory. Rows 0 … size-1 are live; the columns
 *   double when full.
 * - an open-addressing hash table (linear probing, power-of-two capacity = 2 × row capacity, so
 *   the load factor stays <= 1/2) from (key id, window start) to row index + 1 (0 = empty slot);
 *   each slot also keeps the 32-bit hash, so a probe reads the row's key only when the hashes
 *   match, and the table (8 bytes a slot, one Int32Array) stays small enough for the cache.
 * - removal (collect's purge) moves the last row into the hole and deletes the slot by backward
 *   shifting the probe run behind it: no tombstones, so the table is as fast after any number of
 *   collects as a freshly built one.
 *
 * `nextEmitEnd` and `minEnd` are kept exact: add only lowers them (a touched row is dirty, a new
 * row has its end), and a collect that emits or purges anything recomputes both in the same pass
 * over the rows. A collect with nothing due (emitUpTo < nextEmitEnd and purgeUpTo < minEnd)
 * returns without touching the rows.
 */

import type {
  AccumulatorKind,
  WindowAccumulatorStore,
  WindowRows,
  WindowStoreSpec,
} from './accumulator-store.ts'

/** The small integer codes of the accumulator kinds (the WebAssembly kernel takes these). */
export const ACCUMULATOR_CODES: Readonly<Record<AccumulatorKind, number>> = {
  count: 0,
  sum: 1,
  min: 2,
  max: 3,
  first: 4,
  last: 5,
  max_by: 6,
  min_by: 7,
  taken: 8,
}

const COUNT = 0
const SUM = 1
const MIN = 2
const MAX = 3
const FIRST = 4
const LAST = 5
const MAX_BY = 6
const MIN_BY = 7

/** Initial `value` of each accumulator kind, by code (first/last: NaN, i.e. null, before any argument). */
const INITIAL_VALUE = [
  0,
  0,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NaN,
  Number.NaN,
  Number.NEGATIVE_INFINITY,
  Number.POSITIVE_INFINITY,
  Number.NaN,
]
/** Initial `aux` of each accumulator kind, by code. */
const INITIAL_AUX = [
  0,
  0,
  0,
  0,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.POSITIVE_INFINITY,
  Number.POSITIVE_INFINITY,
  0,
]

/** Throws a RangeError naming what is wrong with `spec`; returns the accumulator codes. */
export function checkWindowStoreSpec(spec: WindowStoreSpec): Uint8Array {
  const { sizeMs, slideMs, accumulators } = spec
  if (!Number.isSafeInteger(sizeMs) || sizeMs <= 0) {
    throw new RangeError(`sizeMs must be a positive safe integer, got ${sizeMs}`)
  }
  if (!Number.isSafeInteger(slideMs) || slideMs <= 0 || slideMs > sizeMs) {
    throw new RangeError(`slideMs must be a positive safe integer <= sizeMs (${sizeMs}), got ${slideMs}`)
  }
  const codes = new Uint8Array(accumulators.length)
  for (const [j, kind] of accumulators.entries()) {
    const code = Object.hasOwn(ACCUMULATOR_CODES, kind) ? ACCUMULATOR_CODES[kind] : undefined
    if (code === undefined) throw new RangeError(`unknown accumulator kind '${String(kind)}' at ${j}`)
    codes[j] = code
  }
  return codes
}

/**
 * Checks add's arguments (lengths, one argument column per accumulator) and every event (key id
 * >= 0, finite time) before anything is added, so a bad batch changes nothing.
 */
export function checkAddArguments(
  codes: Uint8Array,
  keyIds: Int32Array,
  times: Float64Array,
  horizons: Float64Array,
  args: readonly Float64Array[],
  length: number,
): void {
  if (!Number.isInteger(length) || length < 0) throw new RangeError(`invalid length ${length}`)
  if (keyIds.length < length || times.length < length || horizons.length < length) {
    throw new RangeError(
      `length ${length} exceeds a column (keyIds ${keyIds.length}, times ${times.length}, horizons ${horizons.length})`,
    )
  }
  if (args.length !== codes.length) {
    throw new RangeError(
      `expected ${codes.length} argument columns (one per accumulator), got ${args.length}`,
    )
  }
  for (let j = 0; j < codes.length; j++) {
    if (codes[j] !== COUNT && !(args[j]!.length >= length)) {
      throw new RangeError(`argument column ${j} has ${args[j]!.length} values, fewer than length ${length}`)
    }
  }
}

/** The error for event `i` that failed the per-event check (key id < 0 or a non-finite time). */
export function badEventError(keyIds: Int32Array, times: Float64Array, i: number): RangeError {
  return keyIds[i]! < 0
    ? new RangeError(`key id ${keyIds[i]} at event ${i} is negative`)
    : new RangeError(`time ${times[i]} at event ${i} is not finite`)
}

/** Throws unless 0 <= purgeUpTo <= emitUpTo in the sense of the contract (no NaN). */
export function checkCollectBounds(emitUpTo: number, purgeUpTo: number): void {
  if (Number.isNaN(emitUpTo) || Number.isNaN(purgeUpTo) || purgeUpTo > emitUpTo) {
    throw new RangeError(
      `collect needs purgeUpTo <= emitUpTo, got purgeUpTo ${purgeUpTo}, emitUpTo ${emitUpTo}`,
    )
  }
}

/** Checks rows handed to import: consistent column lengths and one value/aux column per accumulator. */
export function checkImportRows(rows: WindowRows, accumulators: number): void {
  const n = rows.length
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`invalid row count ${n}`)
  if (rows.keyIds.length < n || rows.starts.length < n || rows.dirty.length < n) {
    throw new RangeError(`rows.length ${n} exceeds the keyIds/starts/dirty columns`)
  }
  if (rows.values.length !== accumulators || rows.aux.length !== accumulators) {
    throw new RangeError(
      `expected ${accumulators} value and aux columns, got ${rows.values.length} and ${rows.aux.length}`,
    )
  }
  for (let j = 0; j < accumulators; j++) {
    if (rows.values[j]!.length < n || rows.aux[j]!.length < n) {
      throw new RangeError(`value/aux column ${j} is shorter than rows.length ${n}`)
    }
  }
}

/**
 * The latest window start <= t: the largest multiple of `slide` <= t (floor division, also for
 * negative t). The f64 division may round across an integer, so the product is corrected by one
 * slide either way; `+ 0` turns -0 into 0.
 */
export function lastWindowStart(t: number, slide: number): number {
  let s = Math.floor(t / slide) * slide
  if (s > t) s -= slide
  else if (s + slide <= t) s += slide
  return s + 0
}

/** Hash of (key, start): a 32-bit mix of the key id and both halves of the start. */
function hashOf(key: number, start: number): number {
  const lo = start | 0
  const hi = ((start - lo) / 4294967296) | 0
  let h = Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi, 0x27d4eb2f) ^ Math.imul(key, 0x85ebca77)
  h ^= h >>> 15
  h = Math.imul(h, 0x2c1b3c6d)
  h ^= h >>> 12
  h = Math.imul(h, 0x297a2d39)
  h ^= h >>> 15
  return h
}

const INITIAL_ROW_CAPACITY = 64

export class TypedArrayWindowStore implements WindowAccumulatorStore {
  readonly spec: WindowStoreSpec
  private readonly codes: Uint8Array
  private readonly accCount: number
  private readonly sizeMs: number
  private readonly slideMs: number
  /** Accumulator block of one row: the initial (value, aux) pairs, copied into each new row. */
  private readonly initialRow: Float64Array

  private rowCount = 0
  private rowCapacity = 0
  private keyIds = new Int32Array(0)
  private starts = new Float64Array(0)
  private dirty = new Uint8Array(0)
  private acc = new Float64Array(0)

  private tableMask = 0
  /** Slot s: table[2s] = row index + 1 (0: empty), table[2s + 1] = hashOf(key id, start). */
  private table = new Int32Array(0)

  private nextEmit = Number.POSITIVE_INFINITY
  private minRowEnd = Number.POSITIVE_INFINITY
  /** Reused list of emitted row indices in collect (grows only). */
  private scratch = new Int32Array(0)

  constructor(spec: WindowStoreSpec) {
    this.codes = checkWindowStoreSpec(spec)
    this.spec = { accumulators: [...spec.accumulators], sizeMs: spec.sizeMs, slideMs: spec.slideMs }
    this.accCount = this.codes.length
    this.sizeMs = spec.sizeMs
    this.slideMs = spec.slideMs
    this.initialRow = new Float64Array(2 * this.accCount)
    for (let j = 0; j < this.accCount; j++) {
      this.initialRow[2 * j] = INITIAL_VALUE[this.codes[j]!]!
      this.initialRow[2 * j + 1] = INITIAL_AUX[this.codes[j]!]!
    }
    this.resize(INITIAL_ROW_CAPACITY)
  }

  get size(): number {
    return this.rowCount
  }

  get approximateBytes(): number {
    return (
      this.keyIds.byteLength +
      this.starts.byteLength +
      this.dirty.byteLength +
      this.acc.byteLength +
      this.table.byteLength +
      this.scratch.byteLength
    )
  }

  get nextEmitEnd(): number {
    return this.nextEmit
  }

  get minEnd(): number {
    return this.minRowEnd
  }

  add(
    keyIds: Int32Array,
    times: Float64Array,
    horizons: Float64Array,
    args: readonly Float64Array[],
    length: number,
  ): void {
    const codes = this.codes
    checkAddArguments(codes, keyIds, times, horizons, args, length)
    for (let i = 0; i < length; i++) {
      const t = times[i]!
      if (keyIds[i]! < 0 || t - t !== 0) throw badEventError(keyIds, times, i)
    }
    const accCount = this.accCount
    const stride = 2 * accCount
    const size = this.sizeMs
    const slide = this.slideMs
    let nextEmit = this.nextEmit
    for (let i = 0; i < length; i++) {
      const key = keyIds[i]!
      const t = times[i]!
      const horizon = horizons[i]!
      // Windows of t end in (t, t + size]; those ending at or before the horizon are closed.
      const lower = Math.max(t, horizon)
      for (let start = lastWindowStart(t, slide); start + size > lower; start -= slide) {
        const row = this.rowOf(key, start)
        this.dirty[row] = 1
        const end = start + size
        if (end < nextEmit) nextEmit = end
        const acc = this.acc
        let p = row * stride
        /** Whether the last max_by/min_by chose this event (its `taken` then copies x). */
        let chosen = false
        for (let j = 0; j < accCount; j++, p += 2) {
          const code = codes[j]!
          if (code === COUNT) {
            acc[p]! += 1
            continue
          }
          const v = args[j]![i]!
          if (code > MIN_BY) {
            if (chosen) acc[p] = v
            continue
          }
          if (Number.isNaN(v)) {
            chosen = false
            continue
          }
          if (code >= MAX_BY) {
            const best = acc[p]!
            chosen = (code === MAX_BY ? v > best : v < best) || (v === best && t < acc[p + 1]!)
            if (chosen) {
              acc[p] = v
              acc[p + 1] = t
            }
          } else if (code === SUM) {
            acc[p]! += v
            acc[p + 1]! += 1
          } else if (code === MIN) {
            if (v < acc[p]!) acc[p] = v
            acc[p + 1]! += 1
          } else if (code === MAX) {
            if (v > acc[p]!) acc[p] = v
            acc[p + 1]! += 1
          } else if (code === FIRST) {
            if (t < acc[p + 1]!) {
              acc[p] = v
              acc[p + 1] = t
            }
          } else if (code === LAST && t >= acc[p + 1]!) {
            acc[p] = v
            acc[p + 1] = t
          }
        }
      }
    }
    this.nextEmit = nextEmit
  }

  collect(emitUpTo: number, purgeUpTo: number): WindowRows {
    checkCollectBounds(emitUpTo, purgeUpTo)
    if (emitUpTo < this.nextEmit && purgeUpTo < this.minRowEnd) return this.copyRows(this.scratch, 0)
    const size = this.sizeMs
    if (this.scratch.length < this.rowCount) this.scratch = new Int32Array(this.rowCapacity)
    const emitted = this.scratch
    // Pass 1: which rows are emitted (copied out before the purge moves rows around).
    let n = 0
    for (let r = 0; r < this.rowCount; r++) {
      if (this.dirty[r] === 1 && this.starts[r]! + size <= emitUpTo) emitted[n++] = r
    }
    const out = this.copyRows(emitted, n)
    for (let e = 0; e < n; e++) this.dirty[emitted[e]!] = 0
    // Pass 2: purge, and recompute both bounds over the rows that stay.
    let nextEmit = Number.POSITIVE_INFINITY
    let minEnd = Number.POSITIVE_INFINITY
    let r = 0
    while (r < this.rowCount) {
      const end = this.starts[r]! + size
      if (end <= purgeUpTo) {
        this.removeRow(r) // the last row moves into r: look at r again
        continue
      }
      if (end < minEnd) minEnd = end
      if (this.dirty[r] === 1 && end < nextEmit) nextEmit = end
      r++
    }
    this.nextEmit = nextEmit
    this.minRowEnd = minEnd
    return out
  }

  export(): WindowRows {
    const n = this.rowCount
    if (this.scratch.length < n) this.scratch = new Int32Array(this.rowCapacity)
    for (let r = 0; r < n; r++) this.scratch[r] = r
    return this.copyRows(this.scratch, n)
  }

  peek(keyId: number, start: number): WindowRows {
    const r = this.find(keyId, start)
    if (this.scratch.length < 1) this.scratch = new Int32Array(Math.max(1, this.rowCapacity))
    this.scratch[0] = r
    return this.copyRows(this.scratch, r < 0 ? 0 : 1)
  }

  clear(): void {
    this.rowCount = 0
    this.table.fill(0)
    this.nextEmit = Number.POSITIVE_INFINITY
    this.minRowEnd = Number.POSITIVE_INFINITY
  }

  import(rows: WindowRows): void {
    checkImportRows(rows, this.accCount)
    if (this.rowCount !== 0) throw new Error(`import needs an empty store (it holds ${this.rowCount} rows)`)
    const n = rows.length
    let capacity = this.rowCapacity
    while (capacity < n) capacity *= 2
    if (capacity !== this.rowCapacity) this.resize(capacity)
    const size = this.sizeMs
    const stride = 2 * this.accCount
    let nextEmit = Number.POSITIVE_INFINITY
    let minEnd = Number.POSITIVE_INFINITY
    for (let i = 0; i < n; i++) {
      const key = rows.keyIds[i]!
      const start = rows.starts[i]!
      if (key < 0 || !Number.isSafeInteger(start)) {
        this.clear()
        throw new RangeError(`row ${i} has an invalid key id ${key} or window start ${start}`)
      }
      if (this.find(key, start) >= 0) {
        this.clear()
        throw new RangeError(`row ${i} repeats key id ${key} and window start ${start}`)
      }
      const row = this.insert(key, start, hashOf(key, start))
      const dirty = rows.dirty[i] === 0 ? 0 : 1
      this.dirty[row] = dirty
      for (let j = 0; j < this.accCount; j++) {
        this.acc[row * stride + 2 * j] = rows.values[j]![i]!
        this.acc[row * stride + 2 * j + 1] = rows.aux[j]![i]!
      }
      const end = start + size
      if (end < minEnd) minEnd = end
      if (dirty === 1 && end < nextEmit) nextEmit = end
    }
    this.nextEmit = nextEmit
    this.minRowEnd = minEnd
  }

  /** The row of (key, start), created with the initial accumulators (and counted in minEnd) if new. */
  private rowOf(key: number, start: number): number {
    const mask = this.tableMask
    const table = this.table
    const hash = hashOf(key, start)
    let slot = hash & mask
    for (;;) {
      const row = table[2 * slot]!
      if (row === 0) break
      if (table[2 * slot + 1] === hash && this.starts[row - 1] === start && this.keyIds[row - 1] === key) {
        return row - 1
      }
      slot = (slot + 1) & mask
    }
    const row = this.insert(key, start, hash)
    this.acc.set(this.initialRow, row * this.initialRow.length)
    const end = start + this.sizeMs
    if (end < this.minRowEnd) this.minRowEnd = end
    return row
  }

  /** The row of (key, start), or -1. */
  private find(key: number, start: number): number {
    const mask = this.tableMask
    const hash = hashOf(key, start)
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const row = this.table[2 * slot]!
      if (row === 0) return -1
      if (
        this.table[2 * slot + 1] === hash &&
        this.starts[row - 1] === start &&
        this.keyIds[row - 1] === key
      ) {
        return row - 1
      }
    }
  }

  /** Appends a row for a (key, start) that is not in the table (accumulators left as they are). */
  private insert(key: number, start: number, hash: number): number {
    if (this.rowCount === this.rowCapacity) this.resize(this.rowCapacity * 2)
    const row = this.rowCount++
    this.keyIds[row] = key
    this.starts[row] = start
    this.placeInTable(hash, row)
    return row
  }

  private placeInTable(hash: number, row: number): void {
    const mask = this.tableMask
    let slot = hash & mask
    while (this.table[2 * slot] !== 0) slot = (slot + 1) & mask
    this.table[2 * slot] = row + 1
    this.table[2 * slot + 1] = hash
  }

  /** The table slot holding row r (which is in the table). */
  private slotOf(r: number): number {
    const mask = this.tableMask
    let slot = hashOf(this.keyIds[r]!, this.starts[r]!) & mask
    while (this.table[2 * slot] !== r + 1) slot = (slot + 1) & mask
    return slot
  }

  /** Removes row r: its slot goes (backward shift), the last row moves into r. */
  private removeRow(r: number): void {
    this.deleteSlot(this.slotOf(r))
    const last = this.rowCount - 1
    if (r !== last) {
      this.table[2 * this.slotOf(last)] = r + 1
      this.keyIds[r] = this.keyIds[last]!
      this.starts[r] = this.starts[last]!
      this.dirty[r] = this.dirty[last]!
      const stride = 2 * this.accCount
      this.acc.copyWithin(r * stride, last * stride, last * stride + stride)
    }
    this.rowCount = last
  }

  /**
   * Empties slot i of the linear-probing table without a tombstone: every later entry of the probe
   * run whose home slot is not cyclically in (i, j] moves back into the hole.
   */
  private deleteSlot(i: number): void {
    const mask = this.tableMask
    const table = this.table
    let j = i
    for (;;) {
      j = (j + 1) & mask
      const row = table[2 * j]!
      if (row === 0) break
      const hash = table[2 * j + 1]!
      const home = hash & mask
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue
      table[2 * i] = row
      table[2 * i + 1] = hash
      i = j
    }
    table[2 * i] = 0
  }

  /** Grows the row columns to `capacity` rows and rebuilds the table at 2 × capacity slots. */
  private resize(capacity: number): void {
    const stride = 2 * this.accCount
    const keyIds = new Int32Array(capacity)
    const starts = new Float64Array(capacity)
    const dirty = new Uint8Array(capacity)
    const acc = new Float64Array(capacity * stride)
    keyIds.set(this.keyIds.subarray(0, this.rowCount))
    starts.set(this.starts.subarray(0, this.rowCount))
    dirty.set(this.dirty.subarray(0, this.rowCount))
    acc.set(this.acc.subarray(0, this.rowCount * stride))
    this.keyIds = keyIds
    this.starts = starts
    this.dirty = dirty
    this.acc = acc
    this.rowCapacity = capacity
    const slots = capacity * 2
    this.tableMask = slots - 1
    this.table = new Int32Array(2 * slots)
    for (let r = 0; r < this.rowCount; r++) this.placeInTable(hashOf(keyIds[r]!, starts[r]!), r)
  }

  /** Copies rows `indices[0 … n-1]` out as fresh columns. */
  private copyRows(indices: Int32Array, n: number): WindowRows {
    const accCount = this.accCount
    const stride = 2 * accCount
    const keyIds = new Int32Array(n)
    const starts = new Float64Array(n)
    const dirty = new Uint8Array(n)
    const values: Float64Array[] = []
    const aux: Float64Array[] = []
    for (let j = 0; j < accCount; j++) {
      values.push(new Float64Array(n))
      aux.push(new Float64Array(n))
    }
    for (let e = 0; e < n; e++) {
      const r = indices[e]!
      keyIds[e] = this.keyIds[r]!
      starts[e] = this.starts[r]!
      dirty[e] = this.dirty[r]!
    }
    for (let j = 0; j < accCount; j++) {
      const v = values[j]!
      const x = aux[j]!
      const acc = this.acc
      for (let e = 0; e < n; e++) {
        const p = indices[e]! * stride + 2 * j
        v[e] = acc[p]!
        x[e] = acc[p + 1]!
      }
    }
    return { length: n, keyIds, starts, dirty, values, aux }
  }
}

/** A TypeScript window accumulator store for `spec` (throws a RangeError on an invalid spec). */
export function createTypedArrayWindowStore(spec: WindowStoreSpec): TypedArrayWindowStore {
  return new TypedArrayWindowStore(spec)
}
