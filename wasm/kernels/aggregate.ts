// Grouped aggregation over one columnar batch (AssemblyScript, compiled by wasm/build.ts).
//
// Memory contract (all pointers are byte offsets into this module's exported `memory`; the host
// lays the columns out above `heapBase()` and never relies on anything the kernel allocates):
//
//   groups  i32[length]      group index of each row, 0 <= g < groupCount
//   values  f64[length]      the value aggregated for each row
//   count   f64[groupCount]  rows seen per group (exact up to 2^53)
//   sum     f64[groupCount]  sum of values, added in row order
//   min     f64[groupCount]  smallest value (f64.min: NaN-propagating, -0 < +0)
//   max     f64[groupCount]  largest value  (f64.max: NaN-propagating, -0 < +0)
//
// f64 arrays must be 8-byte aligned and i32 arrays 4-byte aligned. The accumulators are updated
// in place, so one set of accumulators can absorb many batches (a window's state).

/** The first byte the host may use: everything below belongs to the module's static data. */
export function heapBase(): usize {
  return __heap_base
}

/** Resets `groupCount` accumulators: count = sum = 0, min = +Infinity, max = -Infinity. */
export function resetAccumulators(count: usize, sum: usize, mins: usize, maxs: usize, groupCount: i32): void {
  for (let g: i32 = 0; g < groupCount; g++) {
    const offset = (<usize>g) << 3
    store<f64>(count + offset, 0.0)
    store<f64>(sum + offset, 0.0)
    store<f64>(mins + offset, Infinity)
    store<f64>(maxs + offset, -Infinity)
  }
}

/**
 * Folds `length` rows into the accumulators in one pass. Returns `length` when every row was
 * folded, or the index of the first row whose group is outside [0, groupCount): that row and the
 * rows after it are left untouched (the host reports the error).
 */
export function aggregate(
  groups: usize,
  values: usize,
  length: i32,
  count: usize,
  sum: usize,
  mins: usize,
  maxs: usize,
  groupCount: i32,
): i32 {
  for (let i: i32 = 0; i < length; i++) {
    const g = load<i32>(groups + ((<usize>i) << 2))
    if (<u32>g >= <u32>groupCount) return i
    const v = load<f64>(values + ((<usize>i) << 3))
    const offset = (<usize>g) << 3
    store<f64>(count + offset, load<f64>(count + offset) + 1.0)
    store<f64>(sum + offset, load<f64>(sum + offset) + v)
    store<f64>(mins + offset, min<f64>(load<f64>(mins + offset), v))
    store<f64>(maxs + offset, max<f64>(load<f64>(maxs + offset), v))
  }
  return length
}
