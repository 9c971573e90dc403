/**
 * The automaton a pattern compiles into (runtime/cep/nfa-compile.ts builds it from a PatternSpec;
 * docs/cep.md explains the construction). Its shape is Flink CEP's (NFACompiler): states with
 * TAKE, IGNORE and PROCEED edges guarded by conditions, quantifiers unrolled into copies of a
 * step's state (so a partial match needs no counters: its state says how many repetitions it has),
 * a STOP state for negations and a PENDING state for absence at the end. Both engines (the
 * TypeScript NFA and the WebAssembly kernel) step this one table; it is plain data so that the
 * kernel's host can flatten it into linear memory.
 */

/** A guard over one event, given the partial match it would extend. */
export type NfaCondition =
  | { readonly kind: 'true' }
  /** Step `step`'s condition (CepFunctions.conditions[step]). */
  | { readonly kind: 'step'; readonly step: number }
  /** Step `step`'s `until` condition. */
  | { readonly kind: 'until'; readonly step: number }
  | { readonly kind: 'not'; readonly of: NfaCondition }
  | { readonly kind: 'and'; readonly of: readonly NfaCondition[] }
  | { readonly kind: 'or'; readonly of: readonly NfaCondition[] }

export interface NfaEdge {
  /**
   * take: the event joins the partial match (as `step`'s) and it moves to `target`;
   * ignore: the event is skipped and the partial match stays where it is (target = own state);
   * proceed: without consuming the event, it moves on to `target` (an epsilon edge, followed at once).
   */
  readonly action: 'take' | 'ignore' | 'proceed'
  readonly target: number
  readonly condition: NfaCondition
  /** take: the step the taken event is recorded under. */
  readonly step: number
}

export interface NfaState {
  /** For traces and tests: the step's name, with a repetition suffix such as `small:2`. */
  readonly name: string
  /**
   * start: where every new partial match begins; normal; final: a partial match reaching it is a
   * match; stop: it dies (a negated step matched); pending: absence at the end: it becomes a match
   * when its window runs out without a stop.
   */
  readonly kind: 'start' | 'normal' | 'final' | 'stop' | 'pending'
  readonly edges: readonly NfaEdge[]
  /**
   * `within` from the previous step's last event to this state's first event (a step's `within`,
   * Flink's PREVIOUS_AND_CURRENT); null: none.
   */
  readonly windowMs: number | null
}

export interface Nfa {
  readonly states: readonly NfaState[]
  /** Index of the start state. */
  readonly start: number
  /** The whole pattern's `within` (first to last event, exclusive); null: none. */
  readonly windowMs: number | null
}
