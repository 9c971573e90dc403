/**
 * The syntax tree of a `.pipe` file, as written: names are unresolved, types are as spelled and
 * parentheses are gone (precedence is in the tree shape). Every node has the `Span` of its text.
 * Like the IR it is plain readonly data tagged by `kind`, so `parse(print(ast))` can be compared
 * to `ast` structurally (spans aside).
 */
import type { Contiguity, Connector as PatternConnector } from '../ir/pattern.ts'
import type { RecordTimestampMode, Span } from '../ir/types.ts'

export type { RecordTimestampMode }

export interface Identifier {
  readonly kind: 'Identifier'
  readonly name: string
  readonly span: Span
}

// ---------------------------------------------------------------------------------------------
// Types as written

export type TypeExpr = NamedTypeExpr | OptionalTypeExpr | ListTypeExpr | MapTypeExpr | RecordTypeExpr

/** `string`, `i64`, …, or a schema name. */
export interface NamedTypeExpr {
  readonly kind: 'NamedType'
  readonly name: Identifier
  readonly span: Span
}

export interface OptionalTypeExpr {
  readonly kind: 'OptionalType'
  readonly of: TypeExpr
  readonly span: Span
}

export interface ListTypeExpr {
  readonly kind: 'ListType'
  readonly of: TypeExpr
  readonly span: Span
}

/** `map<string, T>`: the key type is written out (and must be `string`), for readers from other languages. */
export interface MapTypeExpr {
  readonly kind: 'MapType'
  readonly key: TypeExpr
  readonly of: TypeExpr
  readonly span: Span
}

export interface RecordTypeExpr {
  readonly kind: 'RecordType'
  readonly fields: readonly FieldDecl[]
  readonly span: Span
}

/** `name: type @annotation…` inside a schema or an inline record type. */
export interface FieldDecl {
  readonly kind: 'FieldDecl'
  readonly name: Identifier
  readonly type: TypeExpr
  readonly annotations: readonly Annotation[]
  readonly span: Span
}

/** `@event_time`; the span covers the `@`. */
export interface Annotation {
  readonly kind: 'Annotation'
  readonly name: Identifier
  readonly span: Span
}

// ---------------------------------------------------------------------------------------------
// Expressions

export type BinaryOperator =
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'and'
  | 'or'
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd' | 'w'

export type Expression =
  | IntLiteral
  | FloatLiteral
  | StringLiteral
  | BoolLiteral
  | NullLiteral
  | DurationLiteral
  | NameExpr
  | MemberAccess
  | IndexAccess
  | UnaryExpression
  | BinaryExpression
  | ArithmeticChain
  | CoalesceExpression
  | IsNullExpression
  | IfExpression
  | CallExpression
  | RecordLiteral
  | ListLiteral
  | MapLiteral
  | InExpression
  | BetweenExpression
  | LikeExpression
  | CaseExpression
  | Lambda

export interface IntLiteral {
  readonly kind: 'IntLiteral'
  /** Non-negative (a minus sign is a `UnaryExpression`) and at most 2^53−1. */
  readonly value: number
  readonly span: Span
}

export interface FloatLiteral {
  readonly kind: 'FloatLiteral'
  readonly value: number
  readonly span: Span
}

export interface StringLiteral {
  readonly kind: 'StringLiteral'
  /** The value after escapes. */
  readonly value: string
  readonly span: Span
}

export interface BoolLiteral {
  readonly kind: 'BoolLiteral'
  readonly value: boolean
  readonly span: Span
}

export interface NullLiteral {
  readonly kind: 'NullLiteral'
  readonly span: Span
}

/** `5s` is `{ amount: 5, unit: 's' }`; the unit is kept so printing gives back what was written. */
export interface DurationLiteral {
  readonly kind: 'DurationLiteral'
  readonly amount: number
  readonly unit: DurationUnit
  readonly span: Span
}

/** A bare name: a field of the input record. */
export interface NameExpr {
  readonly kind: 'Name'
  readonly name: string
  readonly span: Span
}

export interface MemberAccess {
  readonly kind: 'Member'
  readonly object: Expression
  readonly name: Identifier
  readonly span: Span
}

export interface IndexAccess {
  readonly kind: 'Index'
  readonly object: Expression
  readonly index: Expression
  readonly span: Span
}

export interface UnaryExpression {
  readonly kind: 'Unary'
  readonly op: '-' | 'not'
  readonly operand: Expression
  readonly span: Span
}

export interface BinaryExpression {
  readonly kind: 'Binary'
  readonly op: BinaryOperator
  readonly left: Expression
  readonly right: Expression
  /** The operator token, where operator type errors point. */
  readonly opSpan: Span
  readonly span: Span
  /**
   * Set when the source wrote `and`/`or` as C does (`&&`, `||`): the parser reported the
   * spelling, so the checker adds no operand type errors of its own here (issue 17).
   */
  readonly spelledAs?: '&&' | '||'
}

/** The operators of an ArithmeticChain: one precedence level, left-associative. */
export type ArithmeticOperator = '+' | '-' | '*' | '/' | '%'

/**
 * A flat chain of more than LONG_LOGICAL_CHAIN terms joined by operators of one precedence level
 * (`a + b - c …` or `a * b / c …`), as written: it means ((t0 op t1) op t2) …, the left-deep
 * BinaryExpressions a shorter chain is. Held flat so that no pass recurses once per term, which a
 * 10,000-term chain would overflow the stack with (issue 17).
 */
export interface ArithmeticChain {
  readonly kind: 'ArithmeticChain'
  readonly terms: readonly Expression[]
  /** ops[i - 1] stands between terms[i - 1] and terms[i]; its span is the operator token. */
  readonly ops: readonly { readonly op: ArithmeticOperator; readonly opSpan: Span }[]
  readonly span: Span
}

export interface CoalesceExpression {
  readonly kind: 'Coalesce'
  readonly left: Expression
  readonly right: Expression
  readonly span: Span
}

export interface IsNullExpression {
  readonly kind: 'IsNull'
  readonly operand: Expression
  readonly negated: boolean
  readonly span: Span
}

export interface IfExpression {
  readonly kind: 'If'
  readonly condition: Expression
  /** Named `whenTrue`, not `then`: an object with a `then` member is a thenable to `await`. */
  readonly whenTrue: Expression
  readonly whenFalse: Expression
  readonly span: Span
}

/** `x in (a, b, …)` or `x not in (…)`: at least one item. */
export interface InExpression {
  readonly kind: 'In'
  readonly operand: Expression
  readonly items: readonly Expression[]
  readonly negated: boolean
  /** The `in` (or `not in`) words, where type errors of the operand point. */
  readonly opSpan: Span
  readonly span: Span
}

/** `x between low and high` (inclusive) or `x not between …`. */
export interface BetweenExpression {
  readonly kind: 'Between'
  readonly operand: Expression
  readonly low: Expression
  readonly high: Expression
  readonly negated: boolean
  readonly opSpan: Span
  readonly span: Span
}

/** `s like pattern` or `s not like pattern` (SQL `%` and `_`, `\\` escapes). */
export interface LikeExpression {
  readonly kind: 'Like'
  readonly operand: Expression
  readonly pattern: Expression
  readonly negated: boolean
  readonly opSpan: Span
  readonly span: Span
}

/** One `when c then v` of a `case`; in the simple form, `condition` is the value compared with the operand. */
export interface CaseBranch {
  readonly condition: Expression
  readonly value: Expression
}

/**
 * `case when c1 then v1 … [else e] end`: the first branch whose condition is true; null without
 * `else`. The simple form `case x when w1 then v1 … end` (`operand` set) takes the first branch
 * whose `w` equals `x` (`==`, so a null never matches).
 */
export interface CaseExpression {
  readonly kind: 'Case'
  readonly operand: Expression | null
  readonly branches: readonly CaseBranch[]
  readonly otherwise: Expression | null
  readonly span: Span
}

export interface CallExpression {
  readonly kind: 'Call'
  readonly callee: Identifier
  readonly args: readonly Expression[]
  readonly span: Span
}

/**
 * `name: value`, or a shorthand `value` when `name` is null: a bare name or a member path, whose
 * last segment names the field (`{ addr.city }` is `{ city: addr.city }`).
 */
export interface FieldInit {
  readonly kind: 'FieldInit'
  readonly name: Identifier | null
  readonly value: Expression
  readonly span: Span
}

export interface RecordLiteral {
  readonly kind: 'RecordLiteral'
  readonly fields: readonly FieldInit[]
  readonly span: Span
}

export interface ListLiteral {
  readonly kind: 'ListLiteral'
  readonly items: readonly Expression[]
  readonly span: Span
}

/** One `"key": value` of a map literal. */
export interface MapEntry {
  readonly key: string
  readonly keySpan: Span
  readonly value: Expression
}

/** `{ "a": 1, "b": x }`: a `map<string, T>`; its keys are string literals (a record's are names). */
export interface MapLiteral {
  readonly kind: 'MapLiteral'
  readonly entries: readonly MapEntry[]
  readonly span: Span
}

/**
 * `x -> body`: a function of one list item, only as the last argument of `map`, `filter`, `any`
 * and `all` (specs/language.md, "Lists"); the checker refuses it anywhere else.
 */
export interface Lambda {
  readonly kind: 'Lambda'
  readonly param: Identifier
  readonly body: Expression
  readonly span: Span
}

// ---------------------------------------------------------------------------------------------
// Statements

/** `kafka("topic")` or `stdout`; `args` is null when there are no parentheses. */
export interface ConnectorExpr {
  readonly kind: 'Connector'
  readonly name: Identifier
  readonly args: readonly StringLiteral[] | null
  readonly span: Span
}

export interface SchemaDecl {
  readonly kind: 'Schema'
  readonly name: Identifier
  readonly fields: readonly FieldDecl[]
  readonly span: Span
}

/** `watermark ts - 5s`; `delay` is null for `watermark ts` (no allowed lateness). */
export interface WatermarkClause {
  readonly kind: 'Watermark'
  readonly field: Identifier
  readonly delay: DurationLiteral | null
  readonly span: Span
}

export interface SourceDecl {
  readonly kind: 'Source'
  readonly name: Identifier
  readonly schema: Identifier
  readonly connector: ConnectorExpr
  readonly watermark: WatermarkClause | null
  readonly span: Span
}

export type Step =
  | WhereStep
  | SelectStep
  | KeyByStep
  | DedupStep
  | AggregateStep
  | LookupStep
  | MatchStep
  | ExplodeStep

/**
 * `explode items as item [or null]`: one event per item of a list, the input's fields and `item`
 * (specs/language.md, "Lists"); `explode` is a word only where a step starts.
 */
export interface ExplodeStep {
  readonly kind: 'Explode'
  readonly list: Expression
  readonly alias: Identifier
  /** `or null`: an event whose list is null or empty goes on once, with the item null. */
  readonly orNull: boolean
  readonly span: Span
}

export interface WhereStep {
  readonly kind: 'Where'
  readonly predicate: Expression
  readonly span: Span
}

export interface SelectStep {
  readonly kind: 'Select'
  readonly fields: readonly SelectItem[]
  readonly span: Span
}

/** A field of a `select`: `name: expr`, a shorthand, or `*` (every field of the input). */
export type SelectItem = FieldInit | AllFields

/**
 * `* except (a, b) rename (old as new)` in a `select`: the input's fields in order, less those of
 * `except`, those of `rename` under their new names. `except` and `rename` are words after `*`.
 */
export interface AllFields {
  readonly kind: 'AllFields'
  readonly except: readonly Identifier[]
  readonly renames: readonly FieldRename[]
  readonly span: Span
}

/** `old as new` in a `rename (…)` list. */
export interface FieldRename {
  readonly from: Identifier
  readonly to: Identifier
  readonly span: Span
}

export interface KeyByStep {
  readonly kind: 'KeyBy'
  readonly key: Expression
  readonly span: Span
}

/**
 * `dedup by a, b within 10m`: keeps an event unless one with the same key values was kept less
 * than the duration of event time away. `dedup`, `within` are words of the step, not keywords.
 */
export interface DedupStep {
  readonly kind: 'Dedup'
  readonly keys: readonly Expression[]
  readonly within: DurationLiteral
  readonly span: Span
}

/**
 * `aggregate by card, k: lower(x) { n: count(), total: sum(amount) }`: a keyed running aggregate.
 * Keys are written like `select` fields (a shorthand name or path, or `name: expr`). A later
 * `window …` clause goes between the keys and `{` (the parser reserves the word there).
 */
export interface AggregateStep {
  readonly kind: 'Aggregate'
  readonly keys: readonly FieldInit[]
  /** `window tumbling 1m …`: a windowed aggregate; null for a running one. */
  readonly window: WindowClause | null
  readonly aggregates: readonly AggregateInit[]
  readonly span: Span
}

/**
 * `window tumbling 1m`, `window hopping 10m every 1m`, `window count 100 every 10`, optionally
 * followed by `lateness 30s` and `late into name`. All words of the clause are contextual, not
 * keywords.
 */
/** When a window emits: `every` a duration of event time while open, `on update` or `on close`. */
export interface EmitClause {
  readonly kind: 'EmitClause'
  readonly mode: 'every' | 'update' | 'close'
  /** The period of `emit every D`; null otherwise. */
  readonly every: DurationLiteral | null
  readonly span: Span
}

export interface WindowClause {
  readonly kind: 'WindowClause'
  /** `tumbling`, `hopping`, `session` or `count` (the parser accepts no other). */
  readonly type: Identifier
  /** `count N [every S]`: the number of events in a window and between firings; null otherwise. */
  readonly events: { readonly size: IntLiteral; readonly every: IntLiteral | null } | null
  /** The length (tumbling, hopping) or the fixed gap (session); null for a computed gap or count. */
  readonly size: DurationLiteral | null
  /** `session (expr)`: the gap computed per event. */
  readonly gap: Expression | null
  /** The `every` of a hopping window. */
  readonly every: DurationLiteral | null
  /**
   * `processing time` after the shape: windows by the node's wall clock instead of event time
   * (specs/language.md, Windows; tumbling and hopping only, without lateness: E0422, E0423).
   */
  readonly processingTime: boolean
  readonly lateness: DurationLiteral | null
  /** `emit every 30s`, `emit on update` or `emit on close`; null: on close. */
  readonly emit: EmitClause | null
  /** The stream the late events go to. */
  readonly lateInto: Identifier | null
  readonly span: Span
}

/** `name: fn(args)` inside an `aggregate { … }`; `fn` is resolved by the checker. */
export interface AggregateInit {
  readonly kind: 'AggregateInit'
  readonly name: Identifier
  readonly fn: Identifier
  readonly args: readonly Expression[]
  readonly span: Span
}

/**
 * `lookup accounts as a on card_id [as of ts] [or null]`: the event with the row of table
 * `accounts` whose key equals `card_id` added as field `a`. `asOf`: the version of the row valid
 * at that time (a temporal lookup) instead of the latest row. `orNull`: an event with no row goes
 * on with `a` null (a left lookup) instead of being dropped. `lookup`, `as`, `of` and `on` are
 * words of the step.
 */
export interface LookupStep {
  readonly kind: 'Lookup'
  readonly table: Identifier
  readonly alias: Identifier
  readonly key: Expression
  readonly asOf: Expression | null
  readonly orNull: boolean
  readonly span: Span
}

/**
 * `match [by key] [within d] pattern … define … [skip …] [late into x] [timeout into y { … }] { … }`:
 * complex event processing (specs/language.md, "Patterns"). All its words (`match`, `pattern`,
 * `define`, `next`, `followed`, `any`, `until`, `skip`, `timeout`, …) are contextual, not keywords.
 */
export interface MatchStep {
  readonly kind: 'Match'
  readonly key: Expression | null
  readonly within: DurationLiteral | null
  readonly pattern: PatternSyntax
  readonly defines: readonly StepDefinition[]
  readonly skip: SkipClause | null
  readonly lateInto: Identifier | null
  readonly timeout: TimeoutClause | null
  /** The output record of a match. */
  readonly fields: readonly FieldInit[]
  readonly span: Span
}

export type PatternSyntax = PatternSequenceSyntax | PatternAlternationSyntax

/** `a followed by b{2} next c`: the first element's connector is `begin`. */
export interface PatternSequenceSyntax {
  readonly kind: 'PatternSequence'
  readonly elements: readonly { readonly connector: PatternConnector; readonly term: PatternTermSyntax }[]
  readonly span: Span
}

/** `a | b next c`: two or more options (one option is just a sequence). */
export interface PatternAlternationSyntax {
  readonly kind: 'PatternAlternation'
  readonly options: readonly PatternSequenceSyntax[]
  readonly span: Span
}

/** A step name or a parenthesised group, with its quantifier and `within` as written. */
export interface PatternTermSyntax {
  readonly kind: 'PatternTerm'
  /** Exactly one of `step` and `group` is set. */
  readonly step: Identifier | null
  readonly group: PatternSyntax | null
  readonly quantifier: QuantifierSyntax | null
  readonly within: DurationLiteral | null
  readonly span: Span
}

/**
 * `{n}` (`exact`), `{n,m}` (`range`), `{n,}` (`atLeast`), `+`, `*`, `?`, then `greedy` or
 * `reluctant`, then `consecutive` or `any`; `min`/`max` are the bounds it means.
 */
export interface QuantifierSyntax {
  readonly kind: 'Quantifier'
  readonly form: 'exact' | 'range' | 'atLeast' | '+' | '*' | '?'
  readonly min: number
  /** null: unbounded. */
  readonly max: number | null
  readonly mode: 'all' | 'greedy' | 'reluctant'
  readonly inner: Contiguity
  readonly span: Span
}

/** `name as condition [until condition]` of a `define` list. */
export interface StepDefinition {
  readonly kind: 'StepDefinition'
  readonly name: Identifier
  readonly condition: Expression
  readonly until: Expression | null
  readonly span: Span
}

/** `skip to next`, `skip past last event`, `skip to first s`, `skip to last s`. */
export interface SkipClause {
  readonly kind: 'SkipClause'
  readonly strategy: 'toNext' | 'pastLastEvent' | 'toFirst' | 'toLast'
  /** The step of `to first` / `to last`. */
  readonly step: Identifier | null
  readonly span: Span
}

/** `timeout into name { fields }`: the record of each partial match whose `within` ran out. */
export interface TimeoutClause {
  readonly kind: 'TimeoutClause'
  readonly into: Identifier
  readonly fields: readonly FieldInit[]
  readonly span: Span
}

export interface StreamDecl {
  readonly kind: 'Stream'
  readonly name: Identifier
  /** The stream read; for a join, its left side (the first one written). */
  readonly input: Identifier
  /** `join a as x, b as y on … within …`: the stream starts with a join of `input` and another; null otherwise. */
  readonly join: JoinClause | null
  /**
   * `union a, b, …`: the stream reads the events of `input` (the first) and of these, each in its
   * order (specs/language.md, "Unions"); absent otherwise. `union` is a word only there.
   */
  readonly union?: readonly Identifier[]
  readonly steps: readonly Step[]
  readonly span: Span
}

/** The kinds of join: `join` (inner), `left join`, `full join` (outer). */
export type JoinType = 'inner' | 'left' | 'full'

/**
 * `[left|full] join A as a, B as b on a.k == b.k within b between 5m before and 1m after a`, or
 * `… on a.k == b.k window tumbling 1m` (a window join). The left side is the stream's `input`.
 * `join`, `left`, `full`, `as`, `on` and the words of the bound are contextual, not keywords.
 */
export interface JoinClause {
  readonly kind: 'JoinClause'
  readonly type: JoinType
  readonly leftAlias: Identifier
  readonly right: Identifier
  readonly rightAlias: Identifier
  /** The join condition: equalities of the two sides' keys joined by `and` (checked, not parsed, as such). */
  readonly on: Expression
  /** `within …` (an interval join) or `window …` (a window join): exactly one is set. */
  readonly within: IntervalBound | null
  readonly window: WindowClause | null
  readonly span: Span
}

/** `5m before`, `1m after`, `0ms after`. */
export interface BoundOffset {
  readonly amount: DurationLiteral
  readonly direction: 'before' | 'after'
  readonly span: Span
}

/**
 * `within s between 5m before and 1m after o`: the time of `subject`'s event is at least
 * `lower` and at most `upper` away from the time of `reference`'s event, optionally with
 * `lateness D` and `late into name` as a window has.
 */
export interface IntervalBound {
  readonly kind: 'IntervalBound'
  readonly subject: Identifier
  readonly lower: BoundOffset
  readonly upper: BoundOffset
  readonly reference: Identifier
  readonly lateness: DurationLiteral | null
  readonly lateInto: Identifier | null
  readonly span: Span
}

/** `timestamp append` after a sink's connector; the span covers `timestamp` and the mode. */
export interface RecordTimestampClause {
  readonly kind: 'RecordTimestamp'
  readonly mode: RecordTimestampMode
  readonly span: Span
}

export interface SinkDecl {
  readonly kind: 'Sink'
  readonly input: Identifier
  readonly connector: ConnectorExpr
  /** Null when the sink does not say: it then writes the event time (`timestamp event`). */
  readonly timestamp: RecordTimestampClause | null
  /** `headers { "name": expr, … }`: headers each record gets; absent when the sink sets none. */
  readonly headers?: SinkHeadersClause
  readonly span: Span
}

/** One `"name": expr` (or `name: expr`) of a sink's `headers { … }`. */
export interface SinkHeader {
  readonly kind: 'SinkHeader'
  /** The header name, written as a string literal or an identifier (both read as this literal). */
  readonly name: StringLiteral
  readonly value: Expression
  readonly span: Span
}

/** `headers { … }` after a sink's connector; `headers` is a word only there. */
export interface SinkHeadersClause {
  readonly kind: 'SinkHeaders'
  readonly headers: readonly SinkHeader[]
  readonly span: Span
}

/**
 * `table accounts: Account from kafka("accounts") key by id`: a changelog topic read in full, the
 * latest row per key (specs/language.md, "Tables and lookups"). `table` is a word only where a
 * statement starts.
 */
export interface TableDecl {
  readonly kind: 'Table'
  readonly name: Identifier
  readonly schema: Identifier
  readonly connector: ConnectorExpr
  /** The row's key, an expression over the table's schema. */
  readonly key: Expression
  readonly span: Span
}

/** One parameter of an imported function: `amount: f64`. */
export interface UdfParam {
  readonly kind: 'UdfParam'
  readonly name: Identifier
  readonly type: TypeExpr
  readonly span: Span
}

/**
 * `import function risk_score(amount: f64, country: string?): f64 from "./udf.ts"`: a function
 * written in TypeScript, exported under `name` by the module `from` (a path relative to the
 * `.pipe`). `import` and `function` are words only where a statement starts.
 */
export interface ImportFunctionDecl {
  readonly kind: 'ImportFunction'
  readonly name: Identifier
  readonly params: readonly UdfParam[]
  readonly result: TypeExpr
  readonly from: StringLiteral
  readonly span: Span
}

export type Statement = SchemaDecl | SourceDecl | StreamDecl | SinkDecl | TableDecl | ImportFunctionDecl

export interface PipeFile {
  readonly kind: 'File'
  readonly statements: readonly Statement[]
  readonly span: Span
}
