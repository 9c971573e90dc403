// The window accumulator store as a kernel (AssemblyScript, compiled by wasm/build.ts): the same
// table of rows per (key id, window start) as runtime/window/typed-array-store.ts, kept in this
// module's linear memory across calls. Contract and accumulator semantics:
// runtime/window/accumulator-store.ts; host: wasm/host/window-kernel.ts.
//
// The kernel lays its memory out itself (no allocator), from heapBase() up, 16-byte aligned:
//
//   kinds    u8[accCount]              accumulator codes: 0 count, 1 sum, 2 min, 3 max, 4 first, 5 last
//   input    f64 times[inCap], f64 horizons[inCap], f64 args[accCount][inCap], i32 keyIds[inCap]
//   output   f64 starts[outCap], f64 values[accCount][outCap], f64 aux[accCount][outCap],
//            i32 keyIds[outCap], u8 dirty[outCap]
//   table    2·rowCap slots of 8 bytes: i32 row + 1 (0 = empty), u32 hash of (key id, start);
//            open addressing with linear probing, load factor <= 1/2. A probe compares the hash
//            first and reads the row only when it matches (the row is read next anyway), so the
//            table stays small enough to sit in cache.
//   rows     rowCap rows of 16 + 16·accCount bytes: f64 start, i32 key id, u8 dirty, then per
//            accumulator f64 value, f64 aux
//
// The host writes a batch into `input` (after `reserveInput(length)`, which may move things) and
// calls `add(length)`; collect/export/peekRow write their rows into `output` and return the count; import
// reads `output` (after `reserveOutput(count)`). When the rows fill up, table and rows double:
// they are rebuilt in scratch memory above everything, then copied down into place, so input and
// output (which lie below the table) keep their place and content. Every relayout bumps
// `layoutVersion()`, and memory.grow replaces the host's buffer: the host re-fetches its views
// when either changed.
//
// Removal moves the last row into the hole and deletes the table slot by backward shifting the rest
// of its probe run (no tombstones).

const COUNT: u8 = 0
const SUM: u8 = 1
const MIN: u8 = 2
const MAX: u8 = 3
const FIRST: u8 = 4
const LAST: u8 = 5
const MAX_BY: u8 = 6
const MIN_BY: u8 = 7

const INITIAL_ROW_CAPACITY: i32 = 256
const INITIAL_IO_CAPACITY: i32 = 256

let accCount: i32 = 0
let sizeMs: f64 = 0
let slideMs: f64 = 0
let rowStride: usize = 16

let kindsPtr: usize = 0
let inPtr: usize = 0
let inCap: i32 = 0
let outPtr: usize = 0
let outCap: i32 = 0
let tablePtr: usize = 0
let tableMask: u32 = 0
let rowsPtr: usize = 0
let rowCap: i32 = 0
let rowCount: i32 = 0
let layoutEnd: usize = 0
let version: i32 = 0

let nextEmit: f64 = Infinity
let minRowEnd: f64 = Infinity

/** The first byte above the module's static data. */
export function heapBase(): usize {
  return __heap_base
}

@inline
function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15)
}

function ensureMemory(end: usize): void {
  const have = (<usize>memory.size()) << 16
  if (end <= have) return
  const pages = <i32>((end - have + 0xffff) >> 16)
  if (memory.grow(pages) < 0) abort('window kernel: out of memory')
}

@inline
function hashOf(key: i32, start: f64): u32 {
  let x = <u64>(<i64>start) * 0x9e3779b97f4a7c15
  x ^= <u64>(<u32>key) * 0xc2b2ae3d27d4eb4f
  x ^= x >> 32
  x *= 0xd6e8feb86659fd93
  x ^= x >> 32
  return <u32>x
}

function inBytes(cap: i32): usize {
  return align16(<usize>cap * (20 + 8 * <usize>accCount))
}

function outBytes(cap: i32): usize {
  return align16(<usize>cap * (13 + 16 * <usize>accCount))
}

/** Puts row (whose key hashes to `hash`) into the table at `table` (it must not be there). */
@inline
function placeInTable(table: usize, mask: u32, hash: u32, row: i32): void {
  let slot = hash & mask
  while (load<i32>(table + ((<usize>slot) << 3)) != 0) slot = (slot + 1) & mask
  const p = table + ((<usize>slot) << 3)
  store<i32>(p, row + 1)
  store<u32>(p, hash, 4)
}

/**
 * Lays memory out for the given capacities. Input and output keep their place (and content) when
 * their capacities stay; table and rows are rebuilt in scratch memory above both the old and the
 * new layout, then copied into place.
 */
function relayout(newInCap: i32, newOutCap: i32, newRowCap: i32): void {
  const newIn = kindsPtr + align16(<usize>accCount)
  const newOut = newIn + inBytes(newInCap)
  const newTable = newOut + outBytes(newOutCap)
  const tableBytes = (<usize>newRowCap) << 4
  const newRows = newTable + tableBytes
  const newEnd = newRows + <usize>newRowCap * rowStride
  const usedRowBytes = <usize>rowCount * rowStride
  const scratch = align16(max<usize>(layoutEnd, newEnd))
  ensureMemory(max<usize>(newEnd, scratch + tableBytes + usedRowBytes))
  const scratchRows = scratch + tableBytes
  if (usedRowBytes > 0) memory.copy(scratchRows, rowsPtr, usedRowBytes)
  memory.fill(scratch, 0, tableBytes)
  const mask = <u32>(newRowCap * 2 - 1)
  for (let r: i32 = 0; r < rowCount; r++) {
    const p = scratchRows + <usize>r * rowStride
    placeInTable(scratch, mask, hashOf(load<i32>(p, 8), load<f64>(p)), r)
  }
  memory.copy(newTable, scratch, tableBytes + usedRowBytes)
  inPtr = newIn
  inCap = newInCap
  outPtr = newOut
  outCap = newOutCap
  tablePtr = newTable
  tableMask = mask
  rowsPtr = newRows
  rowCap = newRowCap
  layoutEnd = newEnd
  version++
}

/**
 * Starts an empty store: `accumulators` accumulators (their codes are set with setKind before the
 * first add), windows of `size` ms every `slide` ms. Forgets any earlier state.
 */
export function init(accumulators: i32, size: f64, slide: f64): void {
  accCount = accumulators
  sizeMs = size
  slideMs = slide
  rowStride = 16 + 16 * <usize>accumulators
  kindsPtr = align16(__heap_base)
  rowCount = 0
  rowsPtr = 0
  layoutEnd = kindsPtr + align16(<usize>accumulators)
  ensureMemory(layoutEnd)
  relayout(INITIAL_IO_CAPACITY, INITIAL_IO_CAPACITY, INITIAL_ROW_CAPACITY)
  nextEmit = Infinity
  minRowEnd = Infinity
}

export function setKind(j: i32, code: i32): void {
  store<u8>(kindsPtr + <usize>j, <u8>code)
}

/** Makes room for `length` input events (may move the layout: re-read the pointers after it). */
export function reserveInput(length: i32): void {
  if (length <= inCap) return
  let cap = inCap
  while (cap < length) cap <<= 1
  relayout(cap, outCap, rowCap)
}

/** Makes room for `length` output rows (may move the layout: re-read the pointers after it). */
export function reserveOutput(length: i32): void {
  if (length <= outCap) return
  let cap = outCap
  while (cap < length) cap <<= 1
  relayout(inCap, cap, rowCap)
}

export function layoutVersion(): i32 {
  return version
}
export function inputCapacity(): i32 {
  return inCap
}
export function inputTimes(): usize {
  return inPtr
}
export function inputHorizons(): usize {
  return inPtr + (<usize>inCap << 3)
}
/** Argument column j is at inputArgs() + 8·j·inputCapacity(). */
export function inputArgs(): usize {
  return inPtr + (<usize>inCap << 4)
}
export function inputKeyIds(): usize {
  return inPtr + (<usize>inCap << 4) + ((<usize>inCap * <usize>accCount) << 3)
}
export function outputCapacity(): i32 {
  return outCap
}
export function outputStarts(): usize {
  return outPtr
}
/** Value column j is at outputValues() + 8·j·outputCapacity(). */
export function outputValues(): usize {
  return outPtr + (<usize>outCap << 3)
}
/** Aux column j is at outputAux() + 8·j·outputCapacity(). */
export function outputAux(): usize {
  return outPtr + (<usize>outCap << 3) + ((<usize>outCap * <usize>accCount) << 3)
}
export function outputKeyIds(): usize {
  return outPtr + (<usize>outCap << 3) + ((<usize>outCap * <usize>accCount) << 4)
}
export function outputDirty(): usize {
  return outputKeyIds() + (<usize>outCap << 2)
}
export function rowCountOf(): i32 {
  return rowCount
}
export function nextEmitEnd(): f64 {
  return nextEmit
}
export function minEnd(): f64 {
  return minRowEnd
}
/** Bytes of linear memory in use by the layout. */
export function layoutBytes(): usize {
  return layoutEnd
}

/** The largest multiple of slide <= t (see lastWindowStart in typed-array-store.ts). */
@inline
function lastWindowStart(t: f64, slide: f64): f64 {
  let s = Math.floor(t / slide) * slide
  if (s > t) s -= slide
  else if (s + slide <= t) s += slide
  return s + 0.0
}

/**
 * Adds input events 0 … length-1 (see WindowAccumulatorStore.add). Returns `length`, or the index
 * of the first event with a negative key id or a non-finite time; then nothing was added.
 */
export function add(length: i32): i32 {
  const times = inPtr
  const horizons = inPtr + (<usize>inCap << 3)
  const args = inPtr + (<usize>inCap << 4)
  const argStride = <usize>inCap << 3
  const keys = args + argStride * <usize>accCount
  for (let i: i32 = 0; i < length; i++) {
    const t = load<f64>(times + ((<usize>i) << 3))
    if (load<i32>(keys + ((<usize>i) << 2)) < 0 || t - t != 0) return i
  }
  const size = sizeMs
  const slide = slideMs
  const kinds = kindsPtr
  const accs = accCount
  const stride = rowStride
  let table = tablePtr
  let mask = tableMask
  let rows = rowsPtr
  let emit = nextEmit
  for (let i: i32 = 0; i < length; i++) {
    const key = load<i32>(keys + ((<usize>i) << 2))
    const t = load<f64>(times + ((<usize>i) << 3))
    const horizon = load<f64>(horizons + ((<usize>i) << 3))
    const lower = t > horizon ? t : horizon
    const argBase = args + ((<usize>i) << 3)
    for (let start = lastWindowStart(t, slide); start + size > lower; start -= slide) {
      // Find or create the row of (key, start).
      let row: i32 = 0
      const hash = hashOf(key, start)
      let slot = hash & mask
      while (true) {
        const sp = table + ((<usize>slot) << 3)
        const r = load<i32>(sp)
        if (r == 0) {
          if (rowCount == rowCap) {
            relayout(inCap, outCap, rowCap << 1)
            table = tablePtr
            mask = tableMask
            rows = rowsPtr
            slot = hash & mask
            continue
          }
          row = rowCount++
          store<i32>(sp, row + 1)
          store<u32>(sp, hash, 4)
          const np = rows + <usize>row * stride
          store<f64>(np, start)
          store<i32>(np, key, 8)
          for (let j: i32 = 0; j < accs; j++) {
            const ap = np + 16 + ((<usize>j) << 4)
            const kind = load<u8>(kinds + <usize>j)
            let value: f64 = 0
            let aux: f64 = 0
            if (kind == MIN) value = Infinity
            else if (kind == MAX) value = -Infinity
            else if (kind == FIRST) {
              value = NaN
              aux = Infinity
            } else if (kind == LAST) {
              value = NaN
              aux = -Infinity
            } else if (kind == MAX_BY) {
              value = -Infinity
              aux = Infinity
            } else if (kind == MIN_BY) {
              value = Infinity
              aux = Infinity
            } else if (kind > MIN_BY) value = NaN
            store<f64>(ap, value)
            store<f64>(ap, aux, 8)
          }
          const end = start + size
          if (end < minRowEnd) minRowEnd = end
          break
        }
        if (load<u32>(sp, 4) == hash) {
          const cp = rows + <usize>(r - 1) * stride
          if (load<f64>(cp) == start && load<i32>(cp, 8) == key) {
            row = r - 1
            break
          }
        }
        slot = (slot + 1) & mask
      }
      const rp = rows + <usize>row * stride
      store<u8>(rp, 1, 12)
      const end = start + size
      if (end < emit) emit = end
      let ap = rp + 16
      let argp = argBase
      // Whether the last max_by/min_by chose this event (its `taken` then copies x).
      let chosen = false
      for (let j: i32 = 0; j < accs; j++, ap += 16, argp += argStride) {
        const kind = load<u8>(kinds + <usize>j)
        if (kind == COUNT) {
          store<f64>(ap, load<f64>(ap) + 1.0)
          continue
        }
        const v = load<f64>(argp)
        if (kind > MIN_BY) {
          if (chosen) store<f64>(ap, v)
          continue
        }
        if (v != v) {
          chosen = false
          continue
        }
        if (kind >= MAX_BY) {
          const best = load<f64>(ap)
          chosen = (kind == MAX_BY ? v > best : v < best) || (v == best && t < load<f64>(ap, 8))
          if (chosen) {
            store<f64>(ap, v)
            store<f64>(ap, t, 8)
          }
        } else if (kind == SUM) {
          store<f64>(ap, load<f64>(ap) + v)
          store<f64>(ap, load<f64>(ap, 8) + 1.0, 8)
        } else if (kind == MIN) {
          if (v < load<f64>(ap)) store<f64>(ap, v)
          store<f64>(ap, load<f64>(ap, 8) + 1.0, 8)
        } else if (kind == MAX) {
          if (v > load<f64>(ap)) store<f64>(ap, v)
          store<f64>(ap, load<f64>(ap, 8) + 1.0, 8)
        } else if (kind == FIRST) {
          if (t < load<f64>(ap, 8)) {
            store<f64>(ap, v)
            store<f64>(ap, t, 8)
          }
        } else if (kind == LAST && t >= load<f64>(ap, 8)) {
          store<f64>(ap, v)
          store<f64>(ap, t, 8)
        }
      }
    }
  }
  nextEmit = emit
  return length
}

/** Writes row r into output position e (columns: see the layout). */
@inline
function writeOutput(r: i32, e: i32): void {
  const p = rowsPtr + <usize>r * rowStride
  const cap = <usize>outCap
  const starts = outPtr
  const values = outPtr + (cap << 3)
  const aux = values + ((cap * <usize>accCount) << 3)
  const keys = values + ((cap * <usize>accCount) << 4)
  const dirty = keys + (cap << 2)
  const eo = <usize>e
  store<f64>(starts + (eo << 3), load<f64>(p))
  store<i32>(keys + (eo << 2), load<i32>(p, 8))
  store<u8>(dirty + eo, load<u8>(p, 12))
  for (let j: i32 = 0; j < accCount; j++) {
    const col = (<usize>j * cap + eo) << 3
    const ap = p + 16 + ((<usize>j) << 4)
    store<f64>(values + col, load<f64>(ap))
    store<f64>(aux + col, load<f64>(ap, 8))
  }
}

/** The table slot holding row r (which is in the table). */
function slotOf(r: i32): u32 {
  const p = rowsPtr + <usize>r * rowStride
  let slot = hashOf(load<i32>(p, 8), load<f64>(p)) & tableMask
  while (load<i32>(tablePtr + ((<usize>slot) << 3)) != r + 1) slot = (slot + 1) & tableMask
  return slot
}

/** Empties table slot i, moving back the later entries of its probe run (no tombstone). */
function deleteSlot(i: u32): void {
  const mask = tableMask
  const table = tablePtr
  let j = i
  while (true) {
    j = (j + 1) & mask
    const jp = table + ((<usize>j) << 3)
    if (load<i32>(jp) == 0) break
    const home = load<u32>(jp, 4) & mask
    if (i <= j ? i < home && home <= j : i < home || home <= j) continue
    store<u64>(table + ((<usize>i) << 3), load<u64>(jp))
    i = j
  }
  store<u64>(table + ((<usize>i) << 3), 0)
}

/** Removes row r: its slot goes, the last row moves into r. */
function removeRow(r: i32): void {
  deleteSlot(slotOf(r))
  const last = rowCount - 1
  if (r != last) {
    store<i32>(tablePtr + ((<usize>slotOf(last)) << 3), r + 1)
    memory.copy(rowsPtr + <usize>r * rowStride, rowsPtr + <usize>last * rowStride, rowStride)
  }
  rowCount = last
}

/**
 * Writes every dirty row whose end is <= emitUpTo to the output and marks it clean, then removes
 * every row whose end is <= purgeUpTo. Returns the number of rows written.
 */
export function collect(emitUpTo: f64, purgeUpTo: f64): i32 {
  if (emitUpTo < nextEmit && purgeUpTo < minRowEnd) return 0
  const size = sizeMs
  let n: i32 = 0
  for (let r: i32 = 0; r < rowCount; r++) {
    const p = rowsPtr + <usize>r * rowStride
    if (load<u8>(p, 12) != 0 && load<f64>(p) + size <= emitUpTo) n++
  }
  reserveOutput(n)
  let e: i32 = 0
  let emit: f64 = Infinity
  let least: f64 = Infinity
  let r: i32 = 0
  while (r < rowCount) {
    const p = rowsPtr + <usize>r * rowStride
    const end = load<f64>(p) + size
    if (load<u8>(p, 12) != 0 && end <= emitUpTo) {
      writeOutput(r, e++)
      store<u8>(p, 0, 12)
    }
    if (end <= purgeUpTo) {
      removeRow(r) // the last row moved into r: look at r again
      continue
    }
    if (end < least) least = end
    if (load<u8>(p, 12) != 0 && end < emit) emit = end
    r++
  }
  nextEmit = emit
  minRowEnd = least
  return e
}

/** Writes every row to the output (nothing changes); returns the row count. */
export function exportRows(): i32 {
  reserveOutput(rowCount)
  for (let r: i32 = 0; r < rowCount; r++) writeOutput(r, r)
  return rowCount
}

/**
 * Writes the row of (key, start) to the output area as it is (its dirty flag stays) and returns
 * 1, or returns 0 when there is none: the early results of single windows (`emit on update`).
 */
export function peekRow(key: i32, start: f64): i32 {
  const hash = hashOf(key, start)
  let slot = hash & tableMask
  while (true) {
    const sp = tablePtr + ((<usize>slot) << 3)
    const r = load<i32>(sp)
    if (r == 0) return 0
    if (load<u32>(sp, 4) == hash) {
      const p = rowsPtr + <usize>(r - 1) * rowStride
      if (load<f64>(p) == start && load<i32>(p, 8) == key) {
        reserveOutput(1)
        writeOutput(r - 1, 0)
        return 1
      }
    }
    slot = (slot + 1) & tableMask
  }
}

/** Removes every row (the memory stays as large as it grew). */
export function clear(): void {
  rowCount = 0
  memory.fill(tablePtr, 0, (<usize>rowCap) << 4)
  nextEmit = Infinity
  minRowEnd = Infinity
}

/**
 * Adds the `length` rows in the output area (written there by the host after reserveOutput) to an
 * empty store. Returns `length`, or the index of a row that repeats an earlier (key id, start)
 * (the rows before it were added), or -1 when the store is not empty.
 */
export function importRows(length: i32): i32 {
  if (rowCount != 0) return -1
  if (length > rowCap) {
    let cap = rowCap
    while (cap < length) cap <<= 1
    relayout(inCap, outCap, cap)
  }
  const cap = <usize>outCap
  const starts = outPtr
  const values = outPtr + (cap << 3)
  const aux = values + ((cap * <usize>accCount) << 3)
  const keys = values + ((cap * <usize>accCount) << 4)
  const dirty = keys + (cap << 2)
  const size = sizeMs
  let emit: f64 = Infinity
  let least: f64 = Infinity
  for (let i: i32 = 0; i < length; i++) {
    const io = <usize>i
    const key = load<i32>(keys + (io << 2))
    const start = load<f64>(starts + (io << 3))
    const hash = hashOf(key, start)
    let slot = hash & tableMask
    while (true) {
      const sp = tablePtr + ((<usize>slot) << 3)
      const r = load<i32>(sp)
      if (r == 0) break
      const cp = rowsPtr + <usize>(r - 1) * rowStride
      if (load<u32>(sp, 4) == hash && load<f64>(cp) == start && load<i32>(cp, 8) == key) return i
      slot = (slot + 1) & tableMask
    }
    const sp = tablePtr + ((<usize>slot) << 3)
    store<i32>(sp, rowCount + 1)
    store<u32>(sp, hash, 4)
    const p = rowsPtr + <usize>rowCount * rowStride
    rowCount++
    const d: u8 = load<u8>(dirty + io) != 0 ? 1 : 0
    store<f64>(p, start)
    store<i32>(p, key, 8)
    store<u8>(p, d, 12)
    for (let j: i32 = 0; j < accCount; j++) {
      const col = (<usize>j * cap + io) << 3
      const ap = p + 16 + ((<usize>j) << 4)
      store<f64>(ap, load<f64>(values + col))
      store<f64>(ap, load<f64>(aux + col), 8)
    }
    const end = start + size
    if (end < least) least = end
    if (d != 0 && end < emit) emit = end
  }
  nextEmit = emit
  minRowEnd = least
  return length
}
