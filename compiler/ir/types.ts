/**
 * The logical dataflow IR: what the type checker lowers a `.pipe` file into, what the optimiser
 * passes rewrite, and what code generation reads. It is also written into the artifact
 * (`manifest.json` → `graph`) so that a runtime or a tool can inspect the operator graph.
 *
 * Rules (see docs/architecture.md):
 * - plain, readonly, JSON-serialisable data tagged by `kind`; no classes, no back-links;
 * - every node and every expression carries the `Span` of the source text it came from;
 * - every expression carries its checked `Type`, so later passes never re-infer types;
 * - nodes refer to their input by `id` (a `Join` to its two, `left` and `right`; graph.ts
 *   `inputsOf` lists any node's); ids are unique within a pipeline.
 */

import type { Pattern, PatternStepInfo, SkipStrategy } from './pattern.ts'

/** A range of source text: byte offsets into `file`'s text, `end` exclusive. Line:col is computed only when printed. */
export interface Span {
  readonly file: string
  readonly start: number
  readonly end: number
}

// ---------------------------------------------------------------------------------------------
// Types

export type ScalarTypeKind = 'string' | 'bool' | 'i64' | 'f64' | 'timestamp' | 'duration'

/**
 * Value types of the language.
 * - `i64` is carried as a JS number and is restricted to the safe-integer range (±2^53−1); see
 *   docs/decisions/0004-numbers.md.
 * - `timestamp` is milliseconds since the Unix epoch (UTC), `duration` is milliseconds.
 * - `null` is the type of the literal `null` only; it is assignable to any `optional`.
 */
export type Type =
  | { readonly kind: ScalarTypeKind }
  | { readonly kind: 'null' }
  | { readonly kind: 'optional'; readonly of: Type }
  | { readonly kind: 'list'; readonly of: Type }
  /** `map<string, T>`: a JSON object with any keys; at run time an object without a prototype. */
  | { readonly kind: 'map'; readonly of: Type }
  | RecordType

export interface RecordType {
  readonly kind: 'record'
  /** The schema name when the record is a declared schema, for messages and codegen names. */
  readonly name?: string
  readonly fields: readonly FieldType[]
}

export interface FieldType {
  readonly name: string
  readonly type: Type
  /** Set on the one field that a schema marks `@event_time` (must be a timestamp). */
  readonly eventTime?: boolean
}

// ---------------------------------------------------------------------------------------------
// Expressions (pure: no expression has a side effect, so passes may move or duplicate them)

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'and' | 'or'
export type UnaryOp = 'neg' | 'not'

export type Expr =
  | LiteralExpr
  | ColumnExpr
  | MemberExpr
  | IndexExpr
  | UnaryExpr
  | BinaryExpr
  | ArithmeticChainExpr
  | CoalesceExpr
  | IsNullExpr
  | ConditionalExpr
  | CallExpr
  | RecordExpr
  | ListExpr
  | StepRefExpr
  | ProjectExpr
  | ListFunctionExpr
  | InExpr
  | BetweenExpr
  | LocalExpr
  | ListLambdaExpr
  | SimpleCaseExpr
  | MapLiteralExpr

interface ExprBase {
  readonly type: Type
  readonly span: Span
}

/** `value` is a number for i64/f64/timestamp/duration, a string, a boolean, or null. */
export interface LiteralExpr extends ExprBase {
  readonly kind: 'Literal'
  readonly value: string | number | boolean | null
}

/** A field of the current record (the operator's input row). */
export interface ColumnExpr extends ExprBase {
  readonly kind: 'Column'
  readonly name: string
}

/** `object.name` on a nested record; null when `object` is null. */
export interface MemberExpr extends ExprBase {
  readonly kind: 'Member'
  readonly object: Expr
  readonly name: string
}

/** `object[index]` on a list; null when `object` is null or the index is out of range. */
export interface IndexExpr extends ExprBase {
  readonly kind: 'Index'
  readonly object: Expr
  readonly index: Expr
}

export interface UnaryExpr extends ExprBase {
  readonly kind: 'Unary'
  readonly op: UnaryOp
  readonly operand: Expr
}

/**
 * Arithmetic and comparison propagate null (SQL semantics); `and`/`or` use three-valued logic.
 * `+` on two strings concatenates; timestamp ± duration gives a timestamp; timestamp − timestamp a
 * duration. When the result is i64, duration or timestamp (all integers), `/` truncates toward
 * zero, division or `%` by zero is an evaluation error and a result outside ±(2^53−1) is an
 * evaluation error (the event goes to the dead-letter topic with the span).
 */
export interface BinaryExpr extends ExprBase {
  readonly kind: 'Binary'
  readonly op: BinaryOp
  readonly left: Expr
  readonly right: Expr
}

/** One step of an ArithmeticChainExpr: `(previous steps) op operand`, of type `type`. */
export interface ArithmeticStep {
  readonly op: '+' | '-' | '*' | '/' | '%'
  readonly operand: Expr
  /** What the BinaryExpr of this step would have: its result type, and a span from the chain's start. */
  readonly type: Type
  readonly span: Span
}

/**
 * `first op1 t1 op2 t2 …`, a long flat chain of arithmetic (issue 17): exactly the left-deep
 * BinaryExprs ((first op1 t1) op2 t2) …, each step with its own type and span, held flat so that
 * no pass recurses once per term. Evaluated left to right: `first`, then per step its operand and
 * the step (null if either side is null, checked as a BinaryExpr of its type is). The checker
 * builds it for chains of more than LONG_LOGICAL_CHAIN terms only; `type` is the last step's.
 */
export interface ArithmeticChainExpr extends ExprBase {
  readonly kind: 'ArithmeticChain'
  readonly first: Expr
  readonly steps: readonly ArithmeticStep[]
}

/** `left ?? right`: `left` unless it is null. */
export interface CoalesceExpr extends ExprBase {
  readonly kind: 'Coalesce'
  readonly left: Expr
  readonly right: Expr
}

/** `operand is null` / `operand is not null`. */
export interface IsNullExpr extends ExprBase {
  readonly kind: 'IsNull'
  readonly operand: Expr
  readonly negated: boolean
}

/** `if cond then a else b`; a null condition takes the else branch. */
export interface ConditionalExpr extends ExprBase {
  readonly kind: 'Conditional'
  readonly condition: Expr
  /** Named `whenTrue`, not `then`: an object with a `then` member is a thenable to `await`. */
  readonly whenTrue: Expr
  readonly whenFalse: Expr
}

/** A call of a stdlib function by its registered name (see stdlib/registry.ts). */
export interface CallExpr extends ExprBase {
  readonly kind: 'Call'
  readonly fn: string
  readonly args: readonly Expr[]
  /**
   * The index of an argument that is a string literal the function compiles before use (a `like`
   * or regular-expression pattern, the stdlib entry's `literalArg`): it is compiled once, when
   * the interpreter builds the expression or the generated module is instantiated.
   */
  readonly literalArg?: number
}

export interface RecordExpr extends ExprBase {
  readonly kind: 'Record'
  readonly fields: readonly { readonly name: string; readonly value: Expr }[]
}

export interface ListExpr extends ExprBase {
  readonly kind: 'List'
  readonly items: readonly Expr[]
}

/**
 * A step of a `match` pattern named in one of its conditions or output fields (specs/language.md,
 * "Patterns"): the events the step matched, as the engine's MatchContext gives them. Its type says
 * how they read: a record (the step matches exactly one event), an optional record (at most one,
 * maybe none), or a list of records (a repeated step; in its own condition, the events so far).
 */
export interface StepRefExpr extends ExprBase {
  readonly kind: 'StepRef'
  /** Index into MatchNode.steps. */
  readonly step: number
  readonly name: string
}

/**
 * `list.name` on a list of records: the list of each record's field `name`, in order (`small.amount`
 * is the amounts of the events `small` matched); null when `object` is null.
 */
export interface ProjectExpr extends ExprBase {
  readonly kind: 'Project'
  readonly object: Expr
  readonly name: string
}

/** The functions of one list argument (specs/language.md, "Patterns"). */
export type ListFunction = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'first' | 'last'

/**
 * `count(l)`, `sum(l)`, … over a list, SQL-like: nulls in the list are skipped; `count` counts the
 * non-null items (0 for an empty list); `sum`, `min`, `max` and `avg` of a list with no non-null
 * item are null; `first`/`last` are the first/last item, null for an empty list. All are null when
 * the list itself is null. An i64 or duration `sum` outside ±(2^53−1) is an evaluation error.
 */
export interface ListFunctionExpr extends ExprBase {
  readonly kind: 'ListFunction'
  readonly fn: ListFunction
  readonly list: Expr
}

/**
 * `operand in (items…)`: every part is evaluated, left to right. True when an item equals the
 * operand (`==`), else null when the operand or an item is null, else false (SQL's `IN`).
 * `not in` is `not` of it.
 */
export interface InExpr extends ExprBase {
  readonly kind: 'In'
  readonly operand: Expr
  readonly items: readonly Expr[]
}

/**
 * `operand between low and high`: `low <= operand and operand <= high` in three-valued logic,
 * with each of the three evaluated once, in that order (no short circuit). `not between` is `not` of it.
 */
export interface BetweenExpr extends ExprBase {
  readonly kind: 'Between'
  readonly operand: Expr
  readonly low: Expr
  readonly high: Expr
}

/**
 * `case operand when w1 then r1 … else otherwise end` (the simple form, specs/language.md §4): the
 * operand is evaluated once, then each `w` in order until one equals it (`==` on scalars, so a
 * null operand or a null `w` never matches); that branch's `r` is the result, else `otherwise`
 * (a null literal when the case has no `else`). Only the `w`s up to the match and the chosen
 * result are evaluated.
 */
export interface SimpleCaseExpr extends ExprBase {
  readonly kind: 'SimpleCase'
  readonly operand: Expr
  readonly branches: readonly { readonly match: Expr; readonly result: Expr }[]
  readonly otherwise: Expr
}

/**
 * `{ "a": e1, "b": e2 }`: a map (an object without a prototype) of the entries in order, each
 * value evaluated once, left to right. The checker refuses a key given twice.
 */
export interface MapLiteralExpr extends ExprBase {
  readonly kind: 'MapLiteral'
  readonly entries: readonly { readonly key: string; readonly value: Expr }[]
}

/** The parameter of the innermost enclosing `x -> …` named `name` (ListLambdaExpr): the current item. */
export interface LocalExpr extends ExprBase {
  readonly kind: 'Local'
  readonly name: string
}

/** The list functions that take a lambda (specs/language.md, "Lists"). */
export type ListLambdaFunction = 'map' | 'filter' | 'any' | 'all'

/**
 * `map(l, x -> body)`, `filter(l, x -> cond)`, `any(l, x -> cond)`, `all(l, x -> cond)`: `body`
 * is evaluated once per item in order, with `Local(param)` the item (null items included). `map`
 * gives the list of the bodies; `filter` the items whose condition is true; `any` is true at the
 * first true condition, else null when a condition was null, else false; `all` is false at the
 * first false condition, else null when one was null, else true (both stop at the deciding item,
 * so a later item's error does not count). All are null when the list is null.
 */
export interface ListLambdaExpr extends ExprBase {
  readonly kind: 'ListLambda'
  readonly fn: ListLambdaFunction
  readonly list: Expr
  readonly param: string
  readonly body: Expr
}

// ---------------------------------------------------------------------------------------------
// Connectors

/**
 * Where a source reads and a sink writes. `kafka("t")` names a topic of the node's log: the
 * embedded log in embedded mode, Apache Kafka in distributed mode (docs/decisions/0003-one-log-interface.md).
 * `stdout` prints one JSON line per event (sinks only).
 */
export type Connector = { readonly kind: 'kafka'; readonly topic: string } | { readonly kind: 'stdout' }

// ---------------------------------------------------------------------------------------------
// Operator nodes

export type Node =
  | SourceNode
  | FilterNode
  | MapNode
  | KeyByNode
  | DedupNode
  | AggregateNode
  | WindowAggregateNode
  | LateEventsNode
  | JoinNode
  | LookupNode
  | MatchNode
  | MatchTimeoutsNode
  | ExplodeNode
  | UnionNode
  | FusedNode
  | SinkNode
export type NodeKind = Node['kind']

interface NodeBase {
  readonly id: string
  readonly span: Span
  /** The record type this node emits (for a sink: the type it writes). */
  readonly schema: RecordType
}

/**
 * Reads events from a connector and decodes them against `schema`. An event that does not
 * decode goes to the dead-letter topic. Its event time is `eventTimeField` when set, else the
 * log's append time; downstream operators carry that timestamp with the event.
 */
export interface SourceNode extends NodeBase {
  readonly kind: 'Source'
  /** The name the `.pipe` gave the source (`source payments: ...`). */
  readonly name: string
  readonly connector: Connector
  readonly eventTimeField: string | null
  /** `watermark ts - 5s`: the watermark trails the largest event time seen by `delayMs`. */
  readonly watermark: { readonly field: string; readonly delayMs: number } | null
}

/** Drops events whose predicate is false or null. Stateless. */
export interface FilterNode extends NodeBase {
  readonly kind: 'Filter'
  readonly input: string
  readonly predicate: Expr
}

/** `select { ... }`: builds a new record from expressions over the input. Stateless. */
export interface MapNode extends NodeBase {
  readonly kind: 'Map'
  readonly input: string
  readonly fields: readonly { readonly name: string; readonly value: Expr; readonly span: Span }[]
}

/** `key by expr`: sets the event's key (used for partitioning and, later, keyed state). Stateless. */
export interface KeyByNode extends NodeBase {
  readonly kind: 'KeyBy'
  readonly input: string
  readonly key: Expr
}

/**
 * The keyed state of a stateful step, as the runtime sees it (runtime/artifact/manifest.ts
 * declares the same shape). `id` is `<stream>.<step>.<n>`, n counting that stream's steps of
 * that kind from 0: it stays the same when the pipeline is recompiled without changing the step,
 * because the runtime keeps the step's snapshots under it.
 */
export interface StateSlot {
  readonly id: string
  readonly step: 'dedup' | 'aggregate' | 'window' | 'join' | 'match'
  /** Keys idle this long in event time may be dropped (dedup: its `within`); null: kept. */
  readonly ttlMs: number | null
}

/**
 * `dedup by keys within d`: keeps an event unless an event with the same key values was kept
 * with an event time less than `withinMs` away from it; the state per key is the latest event
 * time kept. Emits its input's record type. Stateful.
 */
export interface DedupNode extends NodeBase {
  readonly kind: 'Dedup'
  readonly input: string
  readonly keys: readonly Expr[]
  readonly withinMs: number
  readonly state: StateSlot
}

/** The aggregate functions of `aggregate { … }` (specs/language.md, "Stateful steps"). */
export type AggregateFunction = 'count' | 'sum' | 'min' | 'max' | 'avg'

/** One output field of an aggregate: `name: fn(arg)`; `arg` is null for `count()`. */
export interface AggregateField {
  readonly name: string
  readonly fn: AggregateFunction
  readonly arg: Expr | null
  /** The output field's type (see the typing rules of `aggregate`). */
  readonly type: Type
  readonly span: Span
}

/**
 * `aggregate by keys { aggregates }`: a keyed running aggregate. For every input event it emits
 * one record, the key fields then the aggregate fields, with the aggregates' values after
 * including the event; the state per key is one accumulator per aggregate. Stateful.
 */
export interface AggregateNode extends NodeBase {
  readonly kind: 'Aggregate'
  readonly input: string
  readonly keys: readonly { readonly name: string; readonly value: Expr; readonly span: Span }[]
  readonly aggregates: readonly AggregateField[]
  readonly state: StateSlot
}

/**
 * Time windows aligned to the epoch: window starts are multiples of `slideMs`, each covering
 * [start, start + sizeMs). Tumbling windows have `slideMs === sizeMs`; hopping windows overlap.
 */
export interface WindowSpec {
  readonly kind: 'tumbling' | 'hopping'
  readonly sizeMs: number
  readonly slideMs: number
}

/**
 * Session windows: each event opens [t, t + gap), and a key's overlapping windows merge into one
 * session. The gap is fixed (`gapMs`) or computed per event from `gap` (a duration expression).
 */
export interface SessionSpec {
  readonly kind: 'session'
  /** The fixed gap; null when `gap` computes it per event. */
  readonly gapMs: number | null
  readonly gap: Expr | null
}

/**
 * Count windows (`window count N [every S]`): a key's events, in event-time order (ties: arrival
 * order in the partition), form windows of `size` events; one fires every `slide` events with the
 * last `size` of them (fewer at the start, as Flink's countWindow(size, slide)). Tumbling:
 * `slide === size`. Events are released in that order once the watermark has passed them.
 */
export interface CountSpec {
  readonly kind: 'count'
  readonly size: number
  readonly slide: number
}

/**
 * The functions of a windowed `aggregate`: the running ones, first/last, the window's bounds, and
 * the rich ones, whose state is not a numeric column (stdlib/sketches `RichFunction`).
 */
export type WindowFunction =
  | AggregateFunction
  | 'first'
  | 'last'
  | 'window_start'
  | 'window_end'
  | 'window_final'
  | 'count_distinct'
  | 'approx_count_distinct'
  | 'quantile'
  | 'top_k'
  | 'max_by'
  | 'min_by'

/**
 * One output field of a windowed aggregate; `arg` is null for count(), window_start(),
 * window_end(). `k` (top_k) and `q` (quantile) are their literal second arguments; `by` is the
 * second argument of max_by(x, by) and min_by(x, by) (the value compared; `arg` is the one taken).
 */
export interface WindowAggregateField {
  readonly name: string
  readonly fn: WindowFunction
  readonly arg: Expr | null
  readonly type: Type
  readonly span: Span
  readonly k?: number
  readonly q?: number
  readonly by?: Expr
}

/**
 * When a time window emits besides its final result (specs/language.md, "Early results"):
 * `close` only then; `every` also while open, each time the watermark crosses start + k·everyMs;
 * `update` also after each event that changes it while open.
 */
export type WindowEmit =
  | { readonly kind: 'close' }
  | { readonly kind: 'update' }
  | { readonly kind: 'every'; readonly everyMs: number }

/**
 * `aggregate by keys window tumbling 1m { … }`: a keyed aggregate per event-time window
 * (specs/language.md, "Windows"). It emits one record per key and window when the watermark
 * passes the window's end (and again for each late event within `latenessMs` that changes it):
 * the key fields, then the aggregate fields. Events later than that go to `late` (a
 * `LateEvents` node's id) or, without a `late into` clause, to the dead-letter topic. Not fused:
 * its output comes when event time advances, not per input event. `execution` is where the
 * accumulators live: the WebAssembly kernel, or typed arrays in TypeScript.
 */
export interface WindowAggregateNode extends NodeBase {
  readonly kind: 'WindowAggregate'
  readonly input: string
  readonly keys: readonly { readonly name: string; readonly value: Expr; readonly span: Span }[]
  readonly aggregates: readonly WindowAggregateField[]
  readonly window: WindowSpec | SessionSpec | CountSpec
  /**
   * `processing time` (tumbling and hopping windows only): events are assigned to windows by the
   * node's wall clock when processed, and windows fire by it. Absent: event time.
   */
  readonly time?: 'processing'
  readonly latenessMs: number
  readonly emit: WindowEmit
  readonly late: string | null
  readonly state: StateSlot
  readonly execution: 'wasm' | 'typescript'
}

/**
 * The events a window or a join refused as too late (`late into name`). A window's are its input's
 * record type; a join's are its output record type with both sides optional, the late side set.
 */
export interface LateEventsNode extends NodeBase {
  readonly kind: 'LateEvents'
  /** The WindowAggregate, Join or Match node. */
  readonly input: string
}

/**
 * An interval join: a right event joins a left event of equal keys whose time `l` puts its own
 * time `r` in [l + lowerMs, l + upperMs] (both ends inclusive, as Flink's `between`).
 */
export interface IntervalJoinBound {
  readonly kind: 'interval'
  readonly lowerMs: number
  readonly upperMs: number
}

/**
 * `[left|full] join A as a, B as b on a.k == b.k (within … | window …)` (specs/language.md,
 * "Joins"): joins the events of two inputs whose keys are equal and whose event times meet the
 * bound: an interval around the left event's time, or the same tumbling or hopping window
 * (inner only). It emits one record per pair, `{ <leftAlias>: left, <rightAlias>: right }`, and
 * for an outer join each event that can no longer meet a match with the other side null. Events
 * behind the join's watermark (the smaller of its inputs' watermarks) by more than the bound
 * allows go to `late` (a LateEvents node's id) or the dead-letter topic. Not fused: its state
 * holds both sides' events, and outer rows come when event time advances.
 */
export interface JoinNode extends NodeBase {
  readonly kind: 'Join'
  /** The node of the first stream written (the left side), and of the second. */
  readonly left: string
  readonly right: string
  readonly leftAlias: string
  readonly rightAlias: string
  readonly joinType: 'inner' | 'left' | 'full'
  /** The key expressions over a left event's record, and over a right event's, pairwise equal in type. */
  readonly leftKeys: readonly Expr[]
  readonly rightKeys: readonly Expr[]
  readonly bound: IntervalJoinBound | WindowSpec
  readonly latenessMs: number
  readonly late: string | null
  readonly state: StateSlot
  /** The record types of the two sides (the output's fields are these, optional on an outer side). */
  readonly leftSchema: RecordType
  readonly rightSchema: RecordType
}

/**
 * `lookup accounts as a on card_id [as of ts] [or null]`: the event with the current row of table
 * `table` whose key string equals that of `key` (an expression over the input) added as field
 * `alias` (specs/language.md, "Tables and lookups"). With `asOf` (a timestamp expression over the
 * input), the row is instead the version of the key valid at that time: the one with the latest
 * version time (the table's `eventTimeField`) not after it. `inner` drops an event with no row (or
 * a null key or time); `left` passes it on with the alias null. The output record is the input's fields, then the alias
 * (`schema`); the event's key and event time travel unchanged. Not fused: the table is the
 * runtime's, not a chain's keyed state.
 */
export interface LookupNode extends NodeBase {
  readonly kind: 'Lookup'
  readonly input: string
  /** The name of the table (a key of `Pipeline.tables`). */
  readonly table: string
  readonly alias: string
  readonly key: Expr
  /** The time to look the row up as of (a temporal lookup); null: the latest row. */
  readonly asOf: Expr | null
  readonly mode: 'inner' | 'left'
}

/** One step of a `match` pattern: what the runtime's NFA needs, and its checked conditions. */
export interface MatchStepInfo extends PatternStepInfo {
  /** Over the current event (its fields by name) and the earlier steps' events (StepRef). */
  readonly condition: Expr
  readonly until: Expr | null
  readonly span: Span
}

/**
 * `match by key within d pattern … define … { … }` (specs/language.md, "Patterns"; docs/cep.md):
 * complex event processing, with Flink CEP's semantics (docs/decisions/0024-cep-semantics.md).
 * Per key, events are released in event-time order once the watermark passes them and stepped
 * through the NFA built from `pattern`; each match emits one record (`fields`, over StepRefs),
 * timed by its last event (for absence at the end, when its span ran out), with the key as the
 * event key. Events before the watermark go to `late` (a LateEvents node) or the dead-letter
 * topic; partial matches whose `within` ran out go to `timeout` (a MatchTimeouts node) when there
 * is one. Not fused: its output comes when event time advances. `execution`: the WebAssembly
 * kernel steps the NFA (every condition event-local, evaluated ahead into bitmasks) or the
 * TypeScript engine does.
 */
export interface MatchNode extends NodeBase {
  readonly kind: 'Match'
  readonly input: string
  /** The input's record type, which the conditions read. */
  readonly inputSchema: RecordType
  /** null: one key for all events. */
  readonly key: Expr | null
  readonly steps: readonly MatchStepInfo[]
  readonly pattern: Pattern
  readonly withinMs: number | null
  readonly skip: SkipStrategy
  /** The output record of a match (its types are `schema`'s). */
  readonly fields: readonly { readonly name: string; readonly value: Expr; readonly span: Span }[]
  /** `timeout into name { … }`: the MatchTimeouts node and its record's fields. */
  readonly timeout: {
    readonly stream: string
    readonly fields: readonly { readonly name: string; readonly value: Expr; readonly span: Span }[]
  } | null
  readonly late: string | null
  /** How late an event may come behind the watermark and still be matched; 0 (the syntax has no lateness yet). */
  readonly latenessMs: number
  readonly state: StateSlot
  readonly execution: 'wasm' | 'typescript'
}

/** The records of the partial matches a `match` timed out (`timeout into name { … }`). */
export interface MatchTimeoutsNode extends NodeBase {
  readonly kind: 'MatchTimeouts'
  /** The Match node. */
  readonly input: string
}

/**
 * `table accounts: Account from kafka("accounts") key by id`: a changelog topic that every node
 * reads in full, keeping the latest row per key (`key`, an expression over `schema`, as a key
 * string); a record whose value is JSON `null` or empty (a tombstone) deletes the row whose key
 * string is the record's key.
 */
export interface TableDecl {
  readonly kind: 'Table'
  readonly name: string
  readonly span: Span
  readonly schema: RecordType
  readonly connector: { readonly kind: 'kafka'; readonly topic: string }
  readonly key: Expr
  /**
   * The schema's `@event_time` field: a row's version time, from which it is valid for lookups
   * `as of` a time; null when the schema has none (then only the latest row can be looked up).
   */
  readonly eventTimeField: string | null
}

/**
 * `explode list as alias [or null]`: for each item of `list`, in order, one event of the input's
 * fields and `alias` (the item), with the input's key and event time. A null or empty list gives
 * no event, or with `outer` (`or null`) one event with `alias` null. Stateless; it fuses into
 * chains, whose loop then emits several outputs per input.
 */
export interface ExplodeNode extends NodeBase {
  readonly kind: 'Explode'
  readonly input: string
  readonly list: Expr
  readonly alias: string
  readonly outer: boolean
}

/**
 * `union a, b, …`: every event of each input, unchanged (record, key, event time), in the order
 * each input gives them; the inputs have one record type. Stateless: the runtime passes each
 * input's batches on as they come (specs/language.md, "Unions").
 */
export interface UnionNode extends NodeBase {
  readonly kind: 'Union'
  readonly inputs: readonly string[]
}

/** One step inside a fused chain: the per-event operators, without ids or inputs. */
export type FusedStep =
  | { readonly kind: 'Filter'; readonly predicate: Expr; readonly span: Span }
  | {
      readonly kind: 'Map'
      readonly fields: readonly { readonly name: string; readonly value: Expr; readonly span: Span }[]
      readonly schema: RecordType
      readonly span: Span
    }
  | { readonly kind: 'KeyBy'; readonly key: Expr; readonly span: Span }
  | {
      readonly kind: 'Explode'
      readonly list: Expr
      readonly alias: string
      readonly outer: boolean
      readonly schema: RecordType
      readonly span: Span
    }
  | {
      readonly kind: 'Dedup'
      readonly keys: readonly Expr[]
      readonly withinMs: number
      readonly state: StateSlot
      readonly span: Span
    }
  | {
      readonly kind: 'Aggregate'
      readonly keys: AggregateNode['keys']
      readonly aggregates: readonly AggregateField[]
      readonly schema: RecordType
      readonly state: StateSlot
      readonly span: Span
    }

/**
 * A chain of per-event operators that code generation turns into one function with one loop
 * over the batch (made by passes/fuse-stateless-chains.ts). `inputSchema` is the record type the
 * first step reads. Stateful steps (dedup, aggregate) fuse too: they work event by event on
 * keyed state that the runtime passes in, one `StepState` per entry of `state`.
 */
export interface FusedNode extends NodeBase {
  readonly kind: 'Fused'
  readonly input: string
  readonly inputSchema: RecordType
  readonly steps: readonly FusedStep[]
  /** The ids of the nodes this chain replaced, for diagnostics and the artifact's graph view. */
  readonly fusedFrom: readonly string[]
  /** The state slots of the chain's stateful steps, in step order; absent when it has none. */
  readonly state?: readonly StateSlot[]
}

/**
 * What a sink gives the log as each record's timestamp (Kafka's CreateTime): `event` is the
 * event's event time, `append` leaves it to the log, which stamps the time it appends the record
 * (specs/language.md, "Record timestamps").
 */
export type RecordTimestampMode = 'event' | 'append'

/** Writes every event of `input` to a connector, encoded as JSON, with the event's key. */
export interface SinkNode extends NodeBase {
  readonly kind: 'Sink'
  readonly input: string
  readonly connector: Connector
  /**
   * The source or stream the `.pipe` sinks (`sink large -> …` is `large`), for metric labels and
   * logs; not unique when one stream has several sinks (`id` is).
   */
  readonly name: string
  readonly recordTimestamp: RecordTimestampMode
  /**
   * `headers { "name": expr, … }`: headers each record gets besides those of its source record,
   * each value written as its key string (a null value leaves the header out); absent when none.
   */
  readonly headers?: readonly SinkHeaderExpr[]
}

/** One header a sink sets: an expression over the event it writes, of a key type. */
export interface SinkHeaderExpr {
  readonly name: string
  readonly value: Expr
  readonly span: Span
}

/** A whole checked `.pipe` file. `streams` maps every named stream/source to the node that produces it. */
export interface Pipeline {
  readonly kind: 'Pipeline'
  readonly irVersion: 0
  readonly file: string
  readonly schemas: Readonly<Record<string, RecordType>>
  readonly streams: Readonly<Record<string, string>>
  /** Topologically ordered: a node's input always comes before it. */
  readonly nodes: readonly Node[]
  /** The tables lookups read, by name; absent when the file declares none. */
  readonly tables?: Readonly<Record<string, TableDecl>>
  /** The user-defined functions the file imports, by name; absent when it imports none. */
  readonly udfs?: Readonly<Record<string, UdfDecl>>
}

/**
 * `import function name(p: T, …): R from "./module.ts"`: a TypeScript function called like a
 * stdlib function (`Call` with `fn` its name; stdlib/udf.ts binds it). `module` is the path as
 * written, relative to the .pipe; the artifact ships the module bundled (specs/artifact.md).
 */
export interface UdfDecl {
  readonly name: string
  readonly params: readonly { readonly name: string; readonly type: Type }[]
  readonly result: Type
  readonly module: string
  readonly span: Span
}
