/**
 * Where a window operator keeps its accumulators: a table of rows, one per (key id, window start),
 * each with two f64 columns per accumulator. Two implementations with identical results: a
 * TypeScript one over typed arrays (typed-array-store.ts) and the AssemblyScript kernel in
 * wasm/kernels/window.ts (host: wasm/host/window-kernel.ts). The window operator
 * (runtime/window/window-operator.ts) owns everything else: key dictionary, event time,
 * watermarks, lateness, the order of emitted results, snapshots.
 *
 * Windows are time windows aligned to the epoch: window starts are multiples of `slideMs`, each
 * window covers [start, start + sizeMs). Tumbling windows have slideMs === sizeMs. An event at time
 * t belongs to every window with start <= t < start + sizeMs.
 *
 * Accumulators, two f64 columns each (`value`, `aux`); an argument of NaN stands for null and is
 * skipped (the operator never passes a real NaN: aggregates refuse non-finite arguments first):
 *
 *   count   value: events in the window (its argument column is ignored)   aux: unused (0)
 *   sum     value: sum of non-null arguments, in add order (0 before any)  aux: non-null count
 *   min     value: smallest non-null argument (+Infinity before any)       aux: non-null count
 *   max     value: largest non-null argument (-Infinity before any)        aux: non-null count
 *   first   value: the non-null argument with the smallest time             aux: its time (+Infinity before any)
 *           (ties: the one added first, i.e. replace only when t < aux)
 *   last    value: the non-null argument with the largest time              aux: its time (-Infinity before any)
 *           (ties: the one added last, i.e. replace when t >= aux)
 *   max_by  value: the largest non-null argument (`by`; -Infinity before any) aux: the time of the event
 *           holding it (+Infinity before any); ties of the argument: the smaller time, then the one
 *           added first, i.e. replace when v > value or (v == value and t < aux)
 *   min_by  the same with the smallest argument (+Infinity before any)
 *   taken   value: the argument (x) of the event the accumulator just before it (a max_by or
 *           min_by) chose, NaN before any or when that event's x was null    aux: unused (0)
 *           It always follows its max_by/min_by, and is replaced exactly when that one is.
 *
 * min and max compare with `<` and `>` (a new value replaces only when strictly smaller/larger).
 */

export type AccumulatorKind =
  | 'count'
  | 'sum'
  | 'min'
  | 'max'
  | 'first'
  | 'last'
  | 'max_by'
  | 'min_by'
  | 'taken'

export interface WindowStoreSpec {
  readonly accumulators: readonly AccumulatorKind[]
  /** Window length in ms: a positive safe integer. */
  readonly sizeMs: number
  /** Step between window starts in ms: a positive safe integer <= sizeMs (tumbling: === sizeMs). */
  readonly slideMs: number
}

/** Rows copied out of a store: column i of `values`/`aux` belongs to accumulator i. */
export interface WindowRows {
  readonly length: number
  readonly keyIds: Int32Array
  readonly starts: Float64Array
  /** 1 when the row changed since it was last emitted by collect (or was never emitted). */
  readonly dirty: Uint8Array
  readonly values: readonly Float64Array[]
  readonly aux: readonly Float64Array[]
}

export interface WindowAccumulatorStore {
  readonly spec: WindowStoreSpec
  /** Rows held. */
  readonly size: number
  /** Approximate bytes the store holds (for metrics and budgets). */
  readonly approximateBytes: number
  /** The smallest window end among dirty rows; +Infinity when none. */
  readonly nextEmitEnd: number
  /** The smallest window end among all rows; +Infinity when none. */
  readonly minEnd: number
  /**
   * Adds events 0 … length-1 in order: event i (key id keyIds[i] >= 0, time times[i], argument
   * args[j][i] for accumulator j) goes into every window of times[i] whose end is greater than
   * horizons[i] (windows ending at or before it are closed for good: the operator passes the
   * watermark less the allowed lateness). A row that an event reaches becomes dirty; a row is
   * created (with the initial accumulators above) when the event is its first.
   * `args` has one column per accumulator (count's may be any column: it is not read).
   */
  add(
    keyIds: Int32Array,
    times: Float64Array,
    horizons: Float64Array,
    args: readonly Float64Array[],
    length: number,
  ): void
  /**
   * Copies out every dirty row whose window end is <= emitUpTo and marks it clean, then removes
   * every row whose end is <= purgeUpTo (purgeUpTo <= emitUpTo, so a removed row was emitted
   * first if it was dirty). Rows come in no particular order.
   */
  collect(emitUpTo: number, purgeUpTo: number): WindowRows
  /** Every row (dirty flag included), for a snapshot. */
  export(): WindowRows
  /**
   * The row of (key id, window start), unchanged (its dirty flag stays), or no row: for early
   * results of single windows (`emit on update`). Absent only in kernels built before it (an
   * artifact ships its kernel, and older artifacts have no `emit`).
   */
  peek?(keyId: number, start: number): WindowRows
  /** Removes every row. */
  clear(): void
  /** Adds rows as exported (into an empty store: restoring a snapshot). */
  import(rows: WindowRows): void
}
