/**
 * One window's numeric accumulators as a row of plain arrays, for the operators that keep their
 * windows themselves rather than in a columnar store (sessions: session-operator.ts; count
 * windows: count-operator.ts). The rules are those of accumulator-store.ts (`value`, `aux` per
 * accumulator), plus `seqs`: the arrival number of the event a first/last/max_by/min_by value came
 * from, which breaks ties of time when sessions merge.
 */
import type { AccumulatorKind } from './accumulator-store.ts'

export interface AccumulatorRow {
  readonly values: Float64Array
  readonly aux: Float64Array
  readonly seqs: Float64Array
}

/** A row before any event: the initial values of accumulator-store.ts. */
export function initialRow(kinds: readonly AccumulatorKind[]): AccumulatorRow {
  const k = kinds.length
  const row: AccumulatorRow = {
    values: new Float64Array(k),
    aux: new Float64Array(k),
    seqs: new Float64Array(k),
  }
  kinds.forEach((kind, j) => {
    if (kind === 'min') row.values[j] = Number.POSITIVE_INFINITY
    else if (kind === 'max') row.values[j] = Number.NEGATIVE_INFINITY
    else if (kind === 'first') {
      row.values[j] = Number.NaN
      row.aux[j] = Number.POSITIVE_INFINITY
    } else if (kind === 'last') {
      row.values[j] = Number.NaN
      row.aux[j] = Number.NEGATIVE_INFINITY
    } else if (kind === 'max_by' || kind === 'min_by') {
      row.values[j] = kind === 'max_by' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY
      row.aux[j] = Number.POSITIVE_INFINITY
    } else if (kind === 'taken') row.values[j] = Number.NaN
  })
  return row
}

/** Folds one event in: accumulator j's argument is `argOf(j)` (NaN: null, skipped). */
export function foldRow(
  row: AccumulatorRow,
  kinds: readonly AccumulatorKind[],
  argOf: (j: number) => number,
  time: number,
  seq: number,
): void {
  const { values, aux, seqs } = row
  /** Whether the last max_by/min_by chose this event (its `taken` then copies x). */
  let chosen = false
  for (let j = 0; j < kinds.length; j++) {
    const kind = kinds[j]!
    if (kind === 'count') {
      values[j]! += 1
      continue
    }
    const x = argOf(j)
    if (kind === 'taken') {
      if (chosen) values[j] = x
      continue
    }
    if (Number.isNaN(x)) {
      chosen = false
      continue
    }
    switch (kind) {
      case 'max_by':
      case 'min_by': {
        const best = values[j]!
        chosen =
          (kind === 'max_by' ? x > best : x < best) ||
          (x === best && (time < aux[j]! || (time === aux[j] && seq < seqs[j]!)))
        if (chosen) {
          values[j] = x
          aux[j] = time
          seqs[j] = seq
        }
        break
      }
      case 'sum':
        values[j]! += x
        aux[j]! += 1
        break
      case 'min':
        if (x < values[j]!) values[j] = x
        aux[j]! += 1
        break
      case 'max':
        if (x > values[j]!) values[j] = x
        aux[j]! += 1
        break
      case 'first':
        if (time < aux[j]!) {
          values[j] = x
          aux[j] = time
          seqs[j] = seq
        }
        break
      case 'last':
        if (time >= aux[j]!) {
          values[j] = x
          aux[j] = time
          seqs[j] = seq
        }
        break
    }
  }
}

/** One value per accumulator as the one-row columns the generated `result` reads. */
export function columnsOf(values: Float64Array): Float64Array[] {
  return Array.from(values, (v) => Float64Array.of(v))
}
