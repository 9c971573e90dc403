/**
 * The checkpoint-and-crash driver of the state-budget properties (window-budget, join-budget): a
 * budgeted operator fed batch after batch. After batch b, `checkpoints[b]` commits what it emitted
 * since the last checkpoint and snapshots it; otherwise `crashes[b]` (each batch once) drops what
 * it emitted since, restores the snapshot into a fresh operator (which the budget bounds again) and
 * replays the batches since. The end of the stream commits. After every batch the operator must
 * hold no more than the budget. What a batch is and what it emits are the property's; the
 * commits, snapshots, replays and the refusals counted at each checkpoint (as OperatorState adds
 * them to `sluice_state_refused_keys_total`) are here, so both properties crash alike.
 */
import fc from 'fast-check'
import { expect } from 'vitest'
import type { EventBatch } from '../../runtime/artifact/operators.ts'
import { type Budgeted, type EntryBudgetLimits, stateFullReason } from '../../runtime/state/entry-budget.ts'

/** What one batch emitted: results, late events' ids, refused events' ids. */
export interface Emitted<R> {
  readonly results: R[]
  readonly late: number[]
  readonly refused: number[]
}

/** What the committed output of a run holds. */
export interface CommittedRun<R> extends Emitted<R> {
  /** Refusals the operators counted, added up at each checkpoint as OperatorState does. */
  readonly counted: number
}

/** An operator the driver can bound, snapshot and restore. */
export interface Restorable extends Budgeted {
  snapshot(): Buffer
  restore(snapshot: Buffer | undefined): void
}

/** The batch cuts, checkpoints and crashes of a budget property (each cycled over the batches). */
export const cutsArb = fc.array(fc.boolean(), { minLength: 1, maxLength: 30 })
export const checkpointsArb = fc.array(fc.boolean(), { minLength: 1, maxLength: 8 })
export const crashesArb = fc.array(fc.boolean(), { minLength: 1, maxLength: 8 })

/** Runs the batches `0 .. batches - 1` through `process`, with checkpoints and crashes (see above). */
export function driveCheckpointed<R, O extends Restorable>(options: {
  readonly batches: number
  /** A new operator (not yet bound or restored). */
  readonly make: () => O
  /** The budget, bound to each new operator as step `step`; null: none. */
  readonly limits: EntryBudgetLimits | null
  readonly step: string
  readonly process: (operator: O, batch: number) => Emitted<R>
  readonly checkpoints: readonly boolean[]
  readonly crashes: readonly boolean[]
}): CommittedRun<R> {
  const { limits, checkpoints, crashes } = options
  const fresh = (snapshot: Buffer | undefined) => {
    const operator = options.make()
    if (limits !== null) operator.bound(limits, options.step)
    operator.restore(snapshot)
    return operator
  }
  let operator = fresh(undefined)
  let counted = 0
  let countedOf = 0
  const committed: Emitted<R> = { results: [], late: [], refused: [] }
  let pending: Emitted<R> = { results: [], late: [], refused: [] }
  let snapshot: Buffer | undefined
  let checkpointAt = 0
  const crashed = new Set<number>()
  const commit = () => {
    committed.results.push(...pending.results)
    committed.late.push(...pending.late)
    committed.refused.push(...pending.refused)
    pending = { results: [], late: [], refused: [] }
    counted += operator.stats.refused - countedOf
    countedOf = operator.stats.refused
  }
  for (let b = 0; b < options.batches; ) {
    const out = options.process(operator, b)
    pending.results.push(...out.results)
    pending.late.push(...out.late)
    pending.refused.push(...out.refused)
    if (limits?.maxKeys !== undefined) expect(operator.stateEntries).toBeLessThanOrEqual(limits.maxKeys)
    if (limits?.maxBytes !== undefined) expect(operator.stateBytes).toBeLessThanOrEqual(limits.maxBytes)
    b++
    if (checkpoints[b % checkpoints.length]) {
      commit()
      snapshot = operator.snapshot()
      checkpointAt = b
    } else if (crashes[b % crashes.length] && !crashed.has(b)) {
      crashed.add(b)
      pending = { results: [], late: [], refused: [] }
      operator = fresh(snapshot)
      countedOf = 0
      b = checkpointAt
    }
  }
  commit()
  return { ...committed, counted }
}

/**
 * Cuts `items` into batches, [from, to) each: one ends after item i when `cuts[i]` (cycled) says
 * so, when `apart(i)` (the next item may not share its batch), and at the end.
 */
export function batchesOf(
  length: number,
  cuts: readonly boolean[],
  apart: (i: number) => boolean = () => false,
): [number, number][] {
  const batches: [number, number][] = []
  let from = 0
  for (let i = 0; i < length; i++) {
    if (i === length - 1 || apart(i) || cuts[i % cuts.length]) {
      batches.push([from, i + 1])
      from = i + 1
    }
  }
  return batches
}

/**
 * One batch as an operator takes it, one source record per item: the items `dropped` before the
 * operator (a `where`) only move the watermark (`maxTimes`, the largest time up to each record).
 */
export function eventBatchOf<T>(
  items: readonly T[],
  item: (t: T) => {
    readonly value: unknown
    readonly key: string | null
    readonly time: number
    readonly dropped: boolean
  },
): { input: EventBatch; maxTimes: Float64Array } {
  const input: EventBatch = { values: [], keys: [], timestamps: [], origins: [], length: 0 }
  const maxTimes = new Float64Array(items.length)
  let max = Number.NEGATIVE_INFINITY
  items.forEach((t, o) => {
    const { value, key, time, dropped } = item(t)
    max = Math.max(max, time)
    maxTimes[o] = max
    if (dropped) return
    input.values.push(value)
    input.keys.push(key)
    input.timestamps.push(time)
    input.origins.push(o)
    input.length++
  })
  return { input, maxTimes }
}

/** The ids of the items whose events the operator refused; each refusal must give a full state's reason. */
export function refusedIds<T extends { readonly id: number }>(
  failures: readonly { readonly error: unknown; readonly origin: number }[],
  items: readonly T[],
  step: string,
): number[] {
  return failures.map((failure) => {
    expect((failure.error as Error).message).toBe(stateFullReason(step))
    return items[failure.origin]!.id
  })
}
