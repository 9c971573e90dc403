/**
 * The shape of a generated operator module (`operators.mjs` in an artifact), as the runtime uses
 * it. compiler/codegen/generate.ts writes modules of this shape; the two sides share no code, so
 * this file and that one change together (the artifact format version guards it).
 */
import type { CepFunctions } from '../cep/engine.ts'
import type { RowLayout } from '../state/number-rows.ts'
import type { AccumulatorKind } from '../window/accumulator-store.ts'

/** A batch of events as parallel arrays; the first `length` entries are valid, the rest are reused space. */
export interface EventBatch {
  values: unknown[]
  keys: (string | null)[]
  timestamps: number[]
  /** For each event, the index of the log record it came from (for dead-lettering). */
  origins: number[]
  length: number
}

export interface ChainError {
  /** Index of the failed event in the chain's input batch. */
  readonly index: number
  readonly error: unknown
  /** Site (manifest.sites index) of the step or expression that failed; -1 when unknown. */
  readonly site: number
}

/**
 * One fused chain: reads `input`, overwrites `output` (setting its length), reports per-event errors.
 * `states` holds, for a chain with stateful steps, each step's state for the source partition the
 * batch came from, in the order of the Fused node's `state` slots (runtime/artifact/manifest.ts).
 * It returns how many inputs it dropped (neither output nor error): an `explode` step makes one
 * output per item, so outputs no longer tell. Artifacts compiled before that return nothing, and
 * emit at most one output per input.
 */
export type ChainFunction = (
  input: EventBatch,
  output: EventBatch,
  errors: ChainError[],
  states: readonly StepState[],
  /**
   * The log records the batch's events came from (`origins` index them): a chain that calls the
   * record metadata functions (`record_key()`, …) reads its event's record here; others ignore it.
   */
  records?: readonly SourceRecord[],
) => number | undefined

/** What the record metadata functions read of a log record (a LogRecord has these members). */
export interface SourceRecord {
  readonly key: string | null
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
  readonly headers: Readonly<Record<string, string>>
}

/**
 * A stateful step's values per key (runtime/state/keyed-state.ts implements it). `now` is the event's
 * time: TTLs run in event time. Keys are strings; the generated code turns a key value into one
 * (a string as it is, anything else as its JSON).
 */
export interface StepState {
  /**
   * The step's event-time clock: the newest event time it has seen (-Infinity before any). The
   * generated code advances it per event; the runtime snapshots it with the state, so a restored
   * step goes on with the clock it had at the checkpoint.
   */
  clock: number
  /**
   * How far behind its clock an event may still arrive: the largest declared watermark delay of
   * the sources that reach the step (0 without one; runtime/node/step-lateness.ts). A dedup key whose kept time is `within` or more behind `clock - latenessMs`
   * is gone (specs/language.md), and the runtime drops such keys at checkpoints.
   */
  readonly latenessMs: number
  get(key: string, now: number): unknown
  /**
   * Returns false when the state is full and its budget policy is to refuse new keys: the generated
   * code then fails the event (it is dead-lettered with the reason) rather than forgetting state.
   */
  set(key: string, value: unknown, now: number): boolean
  /**
   * A running aggregate whose accumulators are all numbers keeps them as a row of float64 columns
   * per key (runtime/state/number-rows.ts, docs/decisions/0037): `findRow` gives the offset of the
   * key's row in `rows` (-1: no value yet); the code computes the new accumulators, writes them
   * into `rowScratch` and `setRow` copies them in (false: refused, as `set`). `rows` may be
   * replaced by findRow and setRow (the state grew), so it is read after them. `layout` is the
   * same array at every call ('number': a count, or a sum, min or max, null as NaN; 'pair': avg's
   * [sum, n]); the snapshot holds the same JSON as the accumulators' array would.
   */
  findRow(key: string, now: number, layout: RowLayout): number
  setRow(key: string, now: number): boolean
  readonly rows: Float64Array
  readonly rowScratch: Float64Array
}

export interface OperatorModule {
  readonly IR_VERSION: number
  instantiate(runtime: {
    readonly stdlib: Readonly<
      Record<
        string,
        {
          readonly impl: (...args: never[]) => unknown
          /** Compiles a literal pattern argument once, when the module is instantiated (stdlib/patterns.ts). */
          readonly literalArg?: { readonly compile: (literal: string) => unknown }
        }
      >
    >
    readonly EvaluationError: new (message: string, site?: number) => Error
  }): Operators
}

/**
 * The generated part of a windowed aggregate (compiler/codegen/window.ts); the runtime's window
 * operator (runtime/window/window-operator.ts) does the rest.
 */
export interface WindowFunctions {
  /** The accumulator store's kinds, one per aggregate that needs one (runtime/window/accumulator-store.ts). */
  readonly accumulators: readonly AccumulatorKind[]
  /**
   * Per accumulator, the column `extract` writes its argument to (-1: it has none, as count());
   * accumulators of the same argument share one column. Absent in artifacts compiled before
   * columns were shared: then accumulator j's argument is in column j.
   */
  readonly argColumns?: readonly number[]
  /**
   * The rich aggregates, in written order: the runtime keeps one stdlib/sketches accumulator of
   * each per window (or session), beside the store. Absent in artifacts compiled before they
   * existed (none then).
   */
  readonly rich?: readonly {
    readonly fn: 'count_distinct' | 'approx_count_distinct' | 'quantile' | 'top_k' | 'max_by' | 'min_by'
    readonly k?: number
    readonly q?: number
  }[]
  /**
   * Per event i of `input`: `keys[i]` its state key string and `columns[j][i]` accumulator j's
   * argument as an f64 (NaN for null), `richArgs[r][i]` rich aggregate r's argument as it is
   * (null for null), and `gaps[i]` its session gap when the gap is computed per event; an event
   * that fails gets `keys[i] = null` and an error.
   */
  extract(
    input: EventBatch,
    keys: (string | null)[],
    columns: readonly Float64Array[],
    errors: ChainError[],
    gaps: Float64Array,
    richArgs: unknown[][],
  ): void
  /** The key field values of a key string. */
  keyValues(key: string): readonly unknown[]
  /**
   * The output record of row `row` of a store's rows, with the rich aggregates' finished values
   * (`rich[r]`, in the order of `rich`); throws an EvaluationError on an overflow. `final` is false
   * for an early result (window_final(); absent: true).
   */
  result(
    keyValues: readonly unknown[],
    start: number,
    end: number,
    values: readonly Float64Array[],
    aux: readonly Float64Array[],
    row: number,
    rich: readonly unknown[],
    final?: boolean,
  ): unknown
}

/**
 * The generated part of a join (compiler/codegen/join.ts); the runtime's join operator
 * (runtime/join/interval-join.ts) does the rest.
 */
export interface JoinFunctions {
  /**
   * Per event i of a batch of the left side: `keys[i]` its join key string, null when a key value
   * is null (it matches nothing) or when it failed (then also an entry in `errors`).
   */
  leftKeys(input: EventBatch, keys: (string | null)[], errors: ChainError[]): void
  /** The same for the right side. */
  rightKeys(input: EventBatch, keys: (string | null)[], errors: ChainError[]): void
  /**
   * The output record of a pair, or of an outer row (the missing side null); a window join's
   * includes its window's start and end (an interval join's ignores them).
   */
  output(left: unknown, right: unknown, start: number, end: number): unknown
  /** The record of a late event for the late stream: one field per side, the other side null. */
  late(left: unknown, right: unknown): unknown
}

/**
/** A table's rows by key string, as a lookup reads them (runtime/table/ keeps them). */
export interface LookupTable {
  /** The latest row of `key`, or undefined when the table has none (never held one, or deleted). */
  get(key: string): unknown
  /**
   * The row of `key` valid at `at` (epoch ms): of its versions with a time not after `at`, the one
   * with the latest time (the last read among equal times); undefined when there is none, or it
   * is a tombstone. Only tables whose rows have a time (TableFunctions.time) keep versions.
   */
  getAsOf(key: string, at: number): unknown
}

/**
 * One lookup (compiler/codegen/lookup.ts): reads `input`, overwrites `output` with the events that
 * go on (each with the table's row added under the lookup's alias, or null for a left lookup with
 * no row), reports per-event errors, and returns how many events found no row.
 */
export type LookupFunction = (
  input: EventBatch,
  output: EventBatch,
  errors: ChainError[],
  table: LookupTable,
) => number

/** A table's generated decoders and key (compiler/codegen/lookup.ts). */
export interface TableFunctions {
  /** From the value of JSON.parse; throws the module's decode failure for a bad row. */
  decode(value: unknown): unknown
  /** From a record's JSON bytes (throws a SyntaxError for invalid JSON). */
  decodeJson(bytes: Buffer): unknown
  /**
   * The key string of a decoded row, as `key by` would write it; null when the key is null.
   * Throws an EvaluationError when the key expression fails.
   */
  key(row: never): string | null
  /**
   * The version time of a decoded row (its `@event_time` field), from which it is valid for
   * lookups `as of` a time; null when the table's schema has none. Absent in artifacts compiled
   * before temporal lookups existed.
   */
  readonly time?: ((row: never) => number) | null
}

export interface Operators {
  readonly chains: Readonly<Record<string, ChainFunction>>
  /** Absent in artifacts compiled before windows existed. */
  readonly windows?: Readonly<Record<string, WindowFunctions>>
  /** Absent in artifacts compiled before joins existed. */
  readonly joins?: Readonly<Record<string, JoinFunctions>>
  /** Per `match` step, its generated functions (compiler/codegen/cep.ts). Absent in artifacts compiled before patterns existed. */
  readonly matches?: Readonly<Record<string, CepFunctions>>
  /** Absent in artifacts compiled before tables existed. */
  readonly tables?: Readonly<Record<string, TableFunctions>>
  /** Absent in artifacts compiled before lookups existed. */
  readonly lookups?: Readonly<Record<string, LookupFunction>>
  readonly sources: Readonly<Record<string, SourceDecoder>>
  readonly sinks: Readonly<
    Record<
      string,
      {
        encode(value: never): string
        /**
         * The sink's `headers { … }` of one event (`record`: the log record it came from);
         * absent when the sink sets none. Throws an EvaluationError when a value fails.
         */
        headers?(value: never, record: SourceRecord): Record<string, string>
      }
    >
  >
  isDecodeFailure(error: unknown): boolean
}

/** A source's generated decoders; both throw the module's decode failure for a bad event. */
export interface SourceDecoder {
  /** From the value of JSON.parse. */
  decode(value: unknown): unknown
  /**
   * From a record's JSON bytes (throws a SyntaxError for invalid JSON). Artifacts compiled before
   * it existed lack it (the member is additive, the format version unchanged); then the runner
   * decodes through JSON.parse and `decode`.
   */
  readonly decodeJson?: (bytes: Buffer) => unknown
  readonly eventTime: ((row: never) => number) | null
  /**
   * For a source a sink reads directly: whether a record's bytes (valid UTF-8) are exactly what
   * the sink's encoder writes for them (compiler/codegen/canonical-json.ts). NaN when not; else
   * the event time, or 0 without an event-time field. Absent in other artifacts.
   */
  readonly passThrough?: (bytes: Buffer) => number
}

/** Appends one event to a batch that grows by pushing (an operator's output, built event by event). */
export function pushEvent(
  batch: EventBatch,
  value: unknown,
  key: string | null,
  timestamp: number,
  origin: number,
): void {
  batch.values.push(value)
  batch.keys.push(key)
  batch.timestamps.push(timestamp)
  batch.origins.push(origin)
  batch.length++
}

export function createEventBatch(capacity = 0): EventBatch {
  return {
    values: new Array(capacity),
    keys: new Array(capacity),
    timestamps: new Array(capacity),
    origins: new Array(capacity),
    length: 0,
  }
}
