/**
 * The state budget (`--state-max-keys`, `--state-max-bytes`; docs/decisions/0015) for operators
 * whose state is not a KeyedState of keys: windows and joins. They hold *entries* (a time window's
 * rows, one per key and window; a session; a count window's key or waiting event; a join's
 * buffered event) that their own watermark expires, as a dedup's TTL expires its keys. The budget
 * counts those entries, per operator and source partition, as it counts a dedup's keys.
 *
 * The policy is the stateful steps' default, `refuse`: an event that needs a new entry when the
 * state is full is dead-lettered with the same reason a full dedup or aggregate gives ("the state
 * of step … is full: its budget refuses new keys") and reaches nothing, so what the operator emits
 * is exactly what it would emit had the event been filtered out before it, and the refusal is
 * counted (`sluice_state_refused_keys_total`). Windows and joins refuse under `evict-lru` too:
 * forgetting an open window or a buffered event would change results emitted later (a window's
 * total, a pair never made, an outer row made too early) with nothing in them to say so, where a
 * refused event is in the dead letters with its reason.
 */
import { EvaluationError } from '../../stdlib/eval-error.ts'

/** What a state dropped or refused so far, in the shape of KeyedState.stats (the counters read it). */
export interface StateStats {
  evicted: number
  refused: number
  expired: number
}

export interface EntryBudgetLimits {
  readonly maxKeys?: number
  readonly maxBytes?: number
}

/** The reason of an event that a full state refused: the words of the stateful steps' (codegen/stateful.ts). */
export function stateFullReason(step: string): string {
  return `the state of step ${step} is full: its budget refuses new keys`
}

/** The reason of a table record that a full table refuses (a table is not a step: it is named as one). */
export function tableFullReason(table: string): string {
  return `the table ${table} is full: its budget refuses new keys`
}

export class EntryBudget {
  readonly maxKeys: number
  readonly maxBytes: number

  constructor(
    /** The operator's state id (its metrics label and the name in the reason). */
    readonly step: string,
    limits: EntryBudgetLimits,
    /** Where refusals are counted: the operator's stats. */
    private readonly stats: StateStats,
  ) {
    this.maxKeys = limits.maxKeys ?? Number.POSITIVE_INFINITY
    this.maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY
  }

  /** Whether the budget limits anything (without one, operators skip the accounting). */
  get bounded(): boolean {
    return this.maxKeys !== Number.POSITIVE_INFINITY || this.maxBytes !== Number.POSITIVE_INFINITY
  }

  /**
   * Whether `entries` more entries (0: the held ones change) adding `bytes` in all fit beside
   * `heldEntries` of `heldBytes`.
   */
  fits(heldEntries: number, heldBytes: number, entries: number, bytes: number): boolean {
    return (
      (entries <= 0 || heldEntries + entries <= this.maxKeys) &&
      (bytes <= 0 || heldBytes + bytes <= this.maxBytes)
    )
  }

  /** Counts a refusal and gives the error to dead-letter the event with. */
  refuse(): EvaluationError {
    this.stats.refused++
    return new EvaluationError(stateFullReason(this.step))
  }
}

/** An operator that takes the node's state budget after it is made (OperatorState applies it). */
export interface Budgeted {
  readonly stats: StateStats
  /** Entries held (the figure the budget's keys bound), and their approximate bytes. */
  readonly stateEntries: number
  readonly stateBytes: number
  bound(limits: EntryBudgetLimits, step: string): void
}

/** Whether an operator takes the state budget (windows and joins do; `match` has its own, EngineBudget). */
export function isBudgeted(operator: object): operator is Budgeted {
  return 'bound' in operator && typeof operator.bound === 'function'
}
