/**
 * The pattern of a `match` step as the artifact carries it (manifest.json → graph; the compiler's
 * declaration is compiler/ir/pattern.ts, which explains the semantics). The runtime declares the
 * shape itself, as runtime/artifact/manifest.ts does for the other nodes: the artifact is the only
 * contract between compiler and runtime (runtime/boundaries.test.ts), and
 * runtime/cep/pattern-spec.test.ts checks at compile time that both declarations accept each other.
 */

/** A range of source text (compiler/ir/types.ts `Span`). */
export interface Span {
  readonly file: string
  readonly start: number
  readonly end: number
}

/** How the events of two neighbouring parts of a pattern (or a quantified step's repetitions) may be separated. */
export type Contiguity = 'strict' | 'relaxed' | 'any'

/**
 * How many times a step (or group) matches: `{n}` = {n, n}, `{n,m}`, `{n,}` = {n, null}, `+` =
 * {1, null}, `*` = {0, null}, `?` = {0, 1}; a step without one is {1, 1}.
 */
export interface Quantifier {
  readonly min: number
  /** null: unbounded. */
  readonly max: number | null
  /**
   * `all` (the default, Flink's): every number of repetitions the input allows makes its own
   * match; `greedy`: a repetition is taken whenever the event matches the step, never left to
   * the next step; `reluctant`: the next step is taken whenever the event matches it, never
   * repeated instead.
   */
  readonly mode: 'all' | 'greedy' | 'reluctant'
  /** Between the repetitions: relaxed (default), strict (`consecutive`), any (`any`). */
  readonly inner: Contiguity
}

/** How a part of a pattern is joined to the part before it (the first part's is `begin`). */
export type Connector = 'begin' | 'next' | 'followedBy' | 'followedByAny' | 'notNext' | 'notFollowedBy'

export type PatternTerm = PatternStepTerm | PatternGroupTerm

/** One named step. Under a negated connector it is always {1,1} and never part of a match. */
export interface PatternStepTerm {
  readonly kind: 'Step'
  /** Index into MatchNode.steps. */
  readonly step: number
  readonly quantifier: Quantifier
  /**
   * `within d` on a step: its (first) event must come less than d after the previous step's last
   * event; on a negated step: the span in which no such event may come (absence at the end).
   */
  readonly withinMs: number | null
  readonly span: Span
}

/** `( pattern ) quantifier`: a group, repeated as a whole (Flink's GroupPattern). */
export interface PatternGroupTerm {
  readonly kind: 'Group'
  readonly pattern: Pattern
  readonly quantifier: Quantifier
  readonly withinMs: number | null
  readonly span: Span
}

export interface PatternElement {
  readonly connector: Connector
  readonly term: PatternTerm
}

/** Parts in order: `a followed by b next c`. */
export interface PatternSequence {
  readonly kind: 'Sequence'
  readonly elements: readonly PatternElement[]
  readonly span: Span
}

/** `a | b next c`: any one of the options (every option that matches makes its own match). */
export interface PatternAlternation {
  readonly kind: 'Alternation'
  readonly options: readonly PatternSequence[]
  readonly span: Span
}

export type Pattern = PatternSequence | PatternAlternation

/** What happens to other partial matches once a match is emitted (Flink's AfterMatchSkipStrategy). */
export type SkipStrategy =
  | { readonly kind: 'noSkip' }
  | { readonly kind: 'toNext' }
  | { readonly kind: 'pastLastEvent' }
  | { readonly kind: 'toFirst'; readonly step: number }
  | { readonly kind: 'toLast'; readonly step: number }

/**
 * What the runtime needs to know of a step besides its place in the pattern (the MatchNode's steps
 * add the checked condition expressions; the generated code evaluates them by index).
 */
export interface PatternStepInfo {
  readonly name: string
  /** Under `not next` / `not followed by`: its events stop a partial match and are never in a match. */
  readonly negated: boolean
  /** It can match more than one event (a quantifier with max > 1, or inside a repeated group). */
  readonly repeated: boolean
  /** Whether it has an `until` condition (a repeated step stops repeating at an event that meets it). */
  readonly hasUntil: boolean
  /**
   * The steps whose matched events its condition or `until` reads (an iterative condition). Empty:
   * the condition reads the current event alone, so it can be evaluated ahead over a whole batch
   * into a bitmask (the WebAssembly kernel's path).
   */
  readonly reads: readonly number[]
}

/** The pattern part of a `match` step, all the runtime's NFA needs besides the generated conditions. */
export interface PatternSpec {
  readonly steps: readonly PatternStepInfo[]
  readonly pattern: Pattern
  /** `within d` on the whole match: last event time − first event time < d. null: unbounded. */
  readonly withinMs: number | null
  readonly skip: SkipStrategy
}
