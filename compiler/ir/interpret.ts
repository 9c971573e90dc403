/**
 * The reference interpreter: runs a `Pipeline` one event at a time, one operator at a time.
 *
 * It has two jobs.
 * 1. It is the *reference semantics* of the IR. Generated (fused) code is property-tested against
 *    it, so every rule about nulls, three-valued logic, integer arithmetic and keys lives here, in
 *    the plainest form we could write, with the rule spelled out beside the code that implements it.
 * 2. It is the *unfused baseline* in benchmarks: a classic push (Volcano-style) interpreter where
 *    every operator node is a separate object with its own `push(event)` and every event is a
 *    separate object. Expressions are compiled once into closures (no re-dispatch on `kind` per
 *    event), so the baseline is a reasonable interpreter, not a strawman.
 *
 * State: each `dedup` and `aggregate` operator keeps its own Map from key to value, with no
 * budget and no expiry, and applies the rules of stateful-semantics.ts. Windows, joins and
 * `match` steps run by window-semantics.ts, join-semantics.ts and match-interpret.ts (the
 * brute-force matcher of cep-semantics.ts) on their source's watermark. Like the conformance
 * cases, it stands for one source partition.
 *
 * Tables: each table is a Map from key string to its latest row, changed only by `updateTable`,
 * and, for a table whose schema has an `@event_time` field, every version of each key in the
 * order applied (for lookups `as of` a time, which pick the version with the latest time not
 * after it, by a plain scan). A lookup reads the table as it is when the event is pushed: the interleaving of `updateTable`
 * and `push` calls is the interleaving of table updates and events (specs/language.md, "Tables
 * and lookups"; the conformance cases apply every table update before the first event).
 *
 * Values: i64, f64, timestamp (epoch ms) and duration (ms) are JS numbers; null is `null`; records
 * are plain objects; lists are arrays.
 *
 * Errors: an `EvaluationError` thrown while evaluating an expression for one event is caught at the edge
 * into the node that threw, reported once to `onError` with the source name and the original
 * event, and the event is dropped from that branch only (a sibling branch of a fan-out still gets
 * it). Any other exception is a bug and propagates to the caller of `push`.
 */

import { EvaluationError } from '../../stdlib/eval-error.ts'
import { stdlib } from '../../stdlib/index.ts'
import {
  type JsonDecode,
  type JsonEncode,
  referenceDecode,
  referenceEncode,
} from '../../stdlib/json-functions.ts'
import type { RecordMetadata } from '../../stdlib/record-metadata.ts'
import { inputsOf, mergedInputNodes } from './graph.ts'
import {
  type JoinRow,
  type JoinSide,
  joinLateReason,
  joinOutputHoldMs,
  ReferenceJoin,
} from './join-semantics.ts'
import { type MatchEvaluators, matchOperator, type StepEvaluator } from './match-interpret.ts'
import { matchOutputHoldMs } from './match-output.ts'
import { bindRecordMetadata } from './record-functions.ts'
import { sinkHeadersEvaluator } from './sink-headers.ts'
import {
  accumulate,
  aggregateValues,
  dedupKeeps,
  initialAccumulators,
  type ReferenceState,
  stateKey,
} from './stateful-semantics.ts'
import type {
  AggregateField,
  BinaryExpr,
  BinaryOp,
  Expr,
  FusedStep,
  JoinNode,
  ListFunction,
  ListLambdaExpr,
  LookupNode,
  MatchNode,
  Node,
  Pipeline,
  Type,
  WindowAggregateNode,
} from './types.ts'
import { severalSourcesOfUnion } from './union-sources.ts'
import { countLateReason, lateReason, ReferenceWindows } from './window-semantics.ts'

/** One decoded event as it enters a source (or travels between operators). */
export interface InterpreterEvent {
  readonly value: Record<string, unknown>
  readonly key: string | null
  /** Event time, epoch milliseconds. */
  readonly timestamp: number
  /**
   * The log record a source event was read from, for the record metadata functions; without it
   * they read the event's key and time, partition 0, offset 0 and no headers.
   */
  readonly record?: RecordMetadata
}

/** An event delivered to a sink. `sinkId` is the id of the `Sink` node. */
export interface SinkOutput {
  readonly sinkId: string
  readonly value: Record<string, unknown>
  readonly key: string | null
  readonly timestamp: number
  /** The headers the sink's `headers { … }` set (null values left out); absent when it has none. */
  readonly headers?: Readonly<Record<string, string>>
}

/** An event that failed to evaluate on one branch; it is dropped from that branch. */
export interface InterpreterError {
  readonly sourceName: string
  readonly event: InterpreterEvent
  readonly error: EvaluationError
}

/** What the interpreter needs to know about a stdlib function (a subset of the stdlib registry entry). */
export interface InterpretedFunction {
  readonly nullPropagating: boolean
  /** Compiles a literal pattern argument (CallExpr.literalArg) once, before the first event. */
  readonly literalArg?: { readonly compile: (literal: string) => unknown }
  /** Typed `never[]` like the stdlib's: the type checker, not this signature, vouches for the arguments. */
  readonly impl: (...args: never[]) => unknown
  /** The impl takes a codec after the call's arguments (stdlib/json-functions.ts): the reference one. */
  readonly codec?: 'decode-result' | 'encode-argument'
}

export type FunctionTable = Readonly<Record<string, InterpretedFunction>>

export interface InterpreterOptions {
  /** The callable functions by registered name; defaults to the stdlib registry. */
  readonly functions?: FunctionTable
  /** Receives every event that reaches a sink, in order. */
  readonly onSink: (output: SinkOutput) => void
  /** Receives every evaluation error. Defaults to rethrowing the error. */
  readonly onError?: (error: InterpreterError) => void
  /**
   * The wall clock of processing-time windows (`window tumbling 1m processing time`), ms since
   * the epoch; default Date.now. Tests inject one, since such windows depend on it.
   */
  readonly clock?: () => number
}

export interface Interpreter {
  /** The source names this pipeline reads, in node order. */
  readonly sources: readonly string[]
  /** Pushes one decoded event into source `sourceName` and runs it through to the sinks. */
  push(sourceName: string, event: InterpreterEvent): void
  /**
   * Applies one record of table `table`'s changelog: a decoded row is stored under its key string
   * (replacing the row before it); a tombstone deletes the row whose key string is the record's
   * key. A row whose key is null, or fails to evaluate, and a tombstone without a record key
   * change nothing and go to `onError` (the runtime dead-letters them).
   */
  updateTable(table: string, update: TableUpdate): void
  /**
   * Time alone passed: processing-time windows fire what the clock made due, as the runner's
   * ticks do (event-time windows have nothing new to fire).
   */
  tick(): void
}

/** One record of a table's changelog topic, decoded. */
export type TableUpdate =
  | { readonly kind: 'row'; readonly value: Record<string, unknown> }
  /**
   * `timestamp`: the record's timestamp, from when the key has no row for lookups `as of` a time;
   * without it the tombstone deletes only the latest row.
   */
  | { readonly kind: 'tombstone'; readonly key: string | null; readonly timestamp?: number }

/** A running operator: takes one event, emits zero or more to its consumers. */
interface Operator {
  push(event: InterpreterEvent): void
}

/** The context of the event currently being pushed (the interpreter is synchronous and re-entrant-free). */
interface Current {
  sourceName: string
  event: InterpreterEvent
}

type Row = Record<string, unknown>
type Evaluator = (row: Row) => unknown

/**
 * Builds an interpreter for `pipeline`. Throws (a plain Error, at build time) when the pipeline is
 * malformed: an unknown input id, an unknown function, a key type that has no string form.
 */
export function createInterpreter(pipeline: Pipeline, options: InterpreterOptions): Interpreter {
  const { onSink } = options
  const functions = bindRecordMetadata(options.functions ?? stdlib, () => current.event)
  const onError =
    options.onError ??
    ((failure: InterpreterError) => {
      throw failure.error
    })
  const current: Current = { sourceName: '', event: { value: {}, key: null, timestamp: 0 } }

  /** Delivers one event to one operator, catching evaluation errors for that branch only. */
  const deliver = (target: Operator, event: InterpreterEvent): void => {
    try {
      target.push(event)
    } catch (error) {
      if (!(error instanceof EvaluationError)) throw error
      onError({ sourceName: current.sourceName, event: current.event, error })
    }
  }

  /** The edge out of a node: delivers to each consumer in turn, each branch failing on its own. */
  const edgeTo = (targets: readonly Operator[]): Operator => {
    if (targets.length === 1) {
      const only = targets[0]!
      return { push: (event) => deliver(only, event) }
    }
    return {
      push: (event) => {
        for (const target of targets) deliver(target, event)
      },
    }
  }

  const ids = new Set<string>()
  const nodesById = new Map(pipeline.nodes.map((n) => [n.id, n]))
  for (const node of pipeline.nodes) {
    if (ids.has(node.id)) throw new Error(`duplicate node id '${node.id}'`)
    ids.add(node.id)
  }

  // Nodes are topologically ordered, so walking them backwards builds every consumer before the
  // node it reads from: when a node is built, its consumer list is complete.
  // Each node's lateness: its source's watermark delay, the slack a dedup's clock allows.
  const lateness = new Map<string, number>()
  for (const node of pipeline.nodes) {
    lateness.set(
      node.id,
      node.kind === 'Source'
        ? (node.watermark?.delayMs ?? 0)
        : Math.max(...inputsOf(node).map((input) => lateness.get(input) ?? 0)),
    )
  }
  // Windows run on their source's watermark: the largest event time it has read less its delay.
  const sourceNameOf = new Map<string, string>()
  for (const node of pipeline.nodes) {
    // A join's output has no one source (a window over it follows the join: afterJoin), nor has a
    // union's of several sources; a union of one source's streams has that source.
    const sources = new Set(inputsOf(node).map((input) => sourceNameOf.get(input) ?? ''))
    sourceNameOf.set(
      node.id,
      node.kind === 'Source' ? node.name : node.kind === 'Join' || sources.size !== 1 ? '' : [...sources][0]!,
    )
  }
  // Whether a node's output events are (derived from) a window's results: a window reading them
  // runs on that window's output watermark (docs/decisions/0023-windows-over-windows.md). A
  // match's results (and timeouts) likewise meet the watermark of the record before their own.
  // A union's events are results when any input's are (specs/language.md, "Unions"; as the
  // runtime's inputTiming, runtime/window/window-over-join.ts).
  const afterWindow = new Map<string, boolean>()
  for (const node of pipeline.nodes) {
    afterWindow.set(
      node.id,
      node.kind === 'WindowAggregate' ||
        node.kind === 'Match' ||
        (node.kind === 'Union' && node.inputs.some((input) => afterWindow.get(input) ?? false)) ||
        (node.kind !== 'Source' &&
          node.kind !== 'LateEvents' &&
          node.kind !== 'Join' &&
          node.kind !== 'Union' &&
          (afterWindow.get(node.input) ?? false)),
    )
  }
  // The join whose results a node's events are, if any, also through a window over them (a window
  // passes its input's watermark on): a join or a window reading them follows its output
  // watermark (runtime/join/join-over-join.ts, runtime/window/window-over-join.ts). And every
  // source whose events reach a node.
  const afterJoin = new Map<string, string | null>()
  const sourcesOf = new Map<string, ReadonlySet<string>>()
  for (const node of pipeline.nodes) {
    afterJoin.set(
      node.id,
      node.kind === 'Join'
        ? node.id
        : node.kind === 'Source' ||
            node.kind === 'LateEvents' ||
            node.kind === 'Union' ||
            node.kind === 'Match'
          ? null
          : (afterJoin.get(node.input) ?? null),
    )
    sourcesOf.set(
      node.id,
      node.kind === 'Source'
        ? new Set([node.name])
        : new Set(inputsOf(node).flatMap((input) => [...(sourcesOf.get(input) ?? [])])),
    )
  }
  // What a match's output watermark holds back besides its source's delay (match-output.ts),
  // passed on through stateless steps and windows (a join's output watermark starts anew).
  const matchHold = new Map<string, number>()
  for (const node of pipeline.nodes) {
    matchHold.set(
      node.id,
      node.kind === 'Match'
        ? matchOutputHoldMs(node)
        : node.kind === 'Source' || node.kind === 'LateEvents' || node.kind === 'Join'
          ? 0
          : Math.max(0, ...inputsOf(node).map((input) => matchHold.get(input) ?? 0)),
    )
  }
  /** Each join's output watermark (its watermark less its hold), registered as it is built. */
  const joinOutputWatermarks = new Map<string, () => number>()
  const maxEventTime = new Map<string, number>()
  /** Per source, the ticks of its operators with the index of each operator's node. */
  const ticks = new Map<string, { index: number; run: () => void }[]>()
  /** The index of the node being built (ticks are registered while building). */
  let building = 0
  const windowContext: WindowContext = {
    watermark: (source, delayMs) => (maxEventTime.get(source) ?? Number.NEGATIVE_INFINITY) - delayMs,
    onTick: (source, tick) => {
      // Operators are built last-first: ticks run in node order, so a window's results reach a
      // window that reads them before that one ticks.
      const list = ticks.get(source) ?? []
      list.unshift({ index: building, run: tick })
      ticks.set(source, list)
    },
    report: (error) => onError({ sourceName: current.sourceName, event: current.event, error }),
    clock: options.clock ?? Date.now,
  }
  // Each table's rows by key string, shared by every lookup of it.
  const tables = new Map<
    string,
    ReferenceTable & { key: (row: Row) => string | null; timeField: string | null }
  >()
  for (const [name, table] of Object.entries(pipeline.tables ?? {})) {
    const evaluate = compileExpr(table.key, functions)
    const toKey = keyString(table.key.type)
    tables.set(name, {
      rows: new Map(),
      versions: new Map(),
      key: (row) => toKey(evaluate(row)),
      timeField: table.eventTimeField,
    })
  }
  const tableOf = (name: string): ReferenceTable => {
    const table = tables.get(name)
    if (table === undefined) throw new Error(`lookup of unknown table '${name}'`)
    return table
  }
  /** Every version of a key, in the order applied; `row` null for a tombstone. */
  const addVersion = (table: ReferenceTable, key: string, time: number, row: Row | null) => {
    const list = table.versions.get(key) ?? []
    list.push({ time, row })
    table.versions.set(key, list)
  }
  // Nodes one source reaches through several inputs take a source event's copies after it went
  // through everything upstream, by input slot (a join's left first): `held` keeps them till then.
  const merged = mergedInputNodes(pipeline)
  const held = new Map<string, { slot: number; event: InterpreterEvent }[]>()
  const heldTargets = new Map<string, readonly Operator[]>()
  const holder = (nodeId: string, slot: number): Operator => ({
    push: (event) => {
      const list = held.get(nodeId) ?? []
      list.push({ slot, event })
      held.set(nodeId, list)
    },
  })
  /**
   * After a source event went through: in node order, each held node takes what it holds and each
   * operator ticks, so what a tick fires into a held node (a window's results into a join of one
   * source) reaches it before that node's own tick, as everything upstream of it came first.
   */
  const settle = (tickList: readonly { index: number; run: () => void }[]) => {
    let t = 0
    for (let k = 0; k < pipeline.nodes.length; k++) {
      const nodeId = pipeline.nodes[k]!.id
      const events = held.get(nodeId)
      if (events !== undefined) {
        held.delete(nodeId)
        const targets = heldTargets.get(nodeId)!
        events.sort((a, b) => a.slot - b.slot)
        for (const { slot, event } of events) deliver(targets[slot]!, event)
      }
      for (; t < tickList.length && tickList[t]!.index <= k; t++) tickList[t]!.run()
    }
  }
  const consumers = new Map<string, Operator[]>()
  const lateEdges = new Map<string, Operator>()
  const timeoutEdges = new Map<string, Operator>()
  const sourceEntries = new Map<string, Operator>()
  const sources: string[] = []
  const built = new Set<string>()
  for (let i = pipeline.nodes.length - 1; i >= 0; i--) {
    const node = pipeline.nodes[i]!
    building = i
    built.add(node.id)
    const emit = edgeTo(consumers.get(node.id) ?? [])
    if (node.kind === 'Join') {
      // Two entries, one per side, each registered as a consumer of that side's node.
      const side = (input: string): JoinSideContext => {
        const upstream = afterJoin.get(input) ?? null
        return {
          source: sourceNameOf.get(input)!,
          sources: [...(sourcesOf.get(input) ?? [])],
          delayMs: lateness.get(input)! + matchHold.get(input)!,
          readsWindowResults: afterWindow.get(input) ?? false,
          // Looked up when called: the upstream join is built after this one (last-first).
          follows: upstream === null ? null : () => joinOutputWatermarks.get(upstream)!(),
        }
      }
      const entries = joinOperator(node, emit, lateEdges.get(node.id) ?? null, functions, {
        ...windowContext,
        left: side(node.left),
        right: side(node.right),
      })
      joinOutputWatermarks.set(node.id, entries.outputWatermark)
      const isMerged = merged.has(node.id)
      if (isMerged) heldTargets.set(node.id, [entries.left, entries.right])
      for (const [input, entry] of [
        [node.left, isMerged ? holder(node.id, 0) : entries.left],
        [node.right, isMerged ? holder(node.id, 1) : entries.right],
      ] as const) {
        if (!ids.has(input)) throw new Error(`node '${node.id}' reads unknown input '${input}'`)
        if (built.has(input)) throw new Error(`node '${node.id}' comes before its input '${input}'`)
        const list = consumers.get(input)
        if (list === undefined) consumers.set(input, [entry])
        else list.unshift(entry)
      }
      continue
    }
    const upstreamJoin = node.kind === 'WindowAggregate' ? (afterJoin.get(node.input) ?? null) : null
    // Over a union of several sources: the smallest of their watermarks (union-sources.ts).
    const unionSources = node.kind === 'WindowAggregate' ? severalSourcesOfUnion(node.input, nodesById) : null
    const operator =
      node.kind === 'WindowAggregate'
        ? windowOperator(node, emit, lateEdges.get(node.id) ?? null, functions, {
            ...windowContext,
            source: sourceNameOf.get(node.id)!,
            sources: [...(sourcesOf.get(node.id) ?? [])],
            delayMs: lateness.get(node.id)! + matchHold.get(node.input)!,
            readsWindowResults: (afterWindow.get(node.input) ?? false) || upstreamJoin !== null,
            // Looked up when called: the upstream join is built after this window (last-first).
            follows:
              unionSources !== null
                ? () =>
                    Math.min(...unionSources.map((s) => windowContext.watermark(s.name, lateness.get(s.id)!)))
                : upstreamJoin === null
                  ? null
                  : () => joinOutputWatermarks.get(upstreamJoin)!(),
          })
        : node.kind === 'Lookup'
          ? lookupOperator(node, tableOf(node.table), functions, emit)
          : node.kind === 'Match'
            ? matchOperator(
                node,
                matchEvaluators(node, functions),
                emit,
                lateEdges.get(node.id) ?? null,
                timeoutEdges.get(node.id) ?? null,
                {
                  watermark: () =>
                    windowContext.watermark(sourceNameOf.get(node.id)!, lateness.get(node.id)!),
                  onTick: (tick) => windowContext.onTick(sourceNameOf.get(node.id)!, tick),
                  report: windowContext.report,
                },
              )
            : buildNode(node, emit, functions, onSink, lateness.get(node.id)!, (target) => ({
                push: (event) => deliver(target, event),
              }))
    if (node.kind === 'LateEvents') {
      // Not a consumer of the window's results: the window hands it the events it refuses. A
      // late stream nothing reads (a warning) leaves them to the dead letters, never dropped.
      if ((consumers.get(node.id) ?? []).length > 0) lateEdges.set(node.input, operator)
      continue
    }
    if (node.kind === 'MatchTimeouts') {
      // Likewise the match hands it the partial matches that timed out.
      timeoutEdges.set(node.input, operator)
      continue
    }
    if (node.kind === 'Source') {
      if (sourceEntries.has(node.name)) throw new Error(`duplicate source name '${node.name}'`)
      sourceEntries.set(node.name, operator)
      sources.unshift(node.name)
    } else {
      // A union reads each of its inputs: its operator is a consumer of every one.
      if (merged.has(node.id))
        heldTargets.set(
          node.id,
          inputsOf(node).map(() => operator),
        )
      for (const [slot, input] of inputsOf(node).entries()) {
        if (!ids.has(input)) throw new Error(`node '${node.id}' reads unknown input '${input}'`)
        if (built.has(input)) throw new Error(`node '${node.id}' comes before its input '${input}'`)
        const list = consumers.get(input)
        // Consumers are built last-first; keep them in node order.
        const reader = merged.has(node.id) ? holder(node.id, slot) : operator
        if (list === undefined) consumers.set(input, [reader])
        else list.unshift(reader)
      }
    }
  }

  return {
    sources,
    push(sourceName, event) {
      const entry = sourceEntries.get(sourceName)
      if (entry === undefined) throw new Error(`unknown source '${sourceName}'`)
      current.sourceName = sourceName
      current.event = event
      if (event.timestamp > (maxEventTime.get(sourceName) ?? Number.NEGATIVE_INFINITY)) {
        maxEventTime.set(sourceName, event.timestamp)
      }
      deliver(entry, event)
      // The watermark moved with this event even if no window saw it: windows it closed fire now.
      settle(ticks.get(sourceName) ?? [])
    },
    tick() {
      settle([...ticks.values()].flat().sort((a, b) => a.index - b.index))
    },
    updateTable(name, update) {
      const table = tables.get(name)
      if (table === undefined) throw new Error(`unknown table '${name}'`)
      const event = { value: update.kind === 'row' ? update.value : {}, key: null, timestamp: 0 }
      const fail = (message: string) =>
        onError({ sourceName: name, event, error: new EvaluationError(message) })
      if (update.kind === 'tombstone') {
        if (update.key === null) fail('a tombstone without a record key deletes nothing')
        else {
          table.rows.delete(update.key)
          if (table.timeField !== null && update.timestamp !== undefined)
            addVersion(table, update.key, update.timestamp, null)
        }
        return
      }
      let key: string | null
      try {
        key = table.key(update.value)
      } catch (error) {
        if (!(error instanceof EvaluationError)) throw error
        onError({ sourceName: name, event, error })
        return
      }
      if (key === null) fail("the row's key is null, so no lookup could find it")
      else {
        table.rows.set(key, update.value)
        if (table.timeField !== null)
          addVersion(table, key, update.value[table.timeField] as number, update.value)
      }
    },
  }
}

/** A table's latest rows, and its versions per key in the order applied (`row` null: deleted). */
interface ReferenceTable {
  readonly rows: Map<string, Row>
  readonly versions: Map<string, { readonly time: number; readonly row: Row | null }[]>
}

/**
 * The row of `key` as of `at`: of the key's versions with a time not after `at`, the one with the
 * latest time, the last applied among equal times; undefined when there is none or it is a
 * tombstone.
 */
function rowAsOf(table: ReferenceTable, key: string, at: number): Row | undefined {
  let found: { readonly time: number; readonly row: Row | null } | undefined
  for (const version of table.versions.get(key) ?? []) {
    if (version.time <= at && (found === undefined || version.time >= found.time)) found = version
  }
  return found?.row ?? undefined
}

/**
 * Lookup adds the row of the event's key (the key string of `key`, see `keyString`) as field
 * `alias` after the event's fields: the latest row, or with `asOf` the row as of that time (see
 * rowAsOf). With no row (or a null key or time) an inner lookup drops the event and a left one
 * sets the alias to null. The event's key and time travel unchanged.
 */
function lookupOperator(
  node: LookupNode,
  table: ReferenceTable,
  functions: FunctionTable,
  next: Operator,
): Operator {
  const evaluate = compileExpr(node.key, functions)
  const toKey = keyString(node.key.type)
  const asOf = node.asOf === null ? null : compileExpr(node.asOf, functions)
  const { alias } = node
  return {
    push: (event) => {
      const key = toKey(evaluate(event.value))
      const at = asOf === null ? null : (asOf(event.value) as number | null)
      const row =
        key === null
          ? undefined
          : asOf === null
            ? table.rows.get(key)
            : at === null
              ? undefined
              : rowAsOf(table, key, at)
      if (row === undefined && node.mode === 'inner') return
      next.push({
        value: { ...event.value, [alias]: row ?? null },
        key: event.key,
        timestamp: event.timestamp,
      })
    },
  }
}

/** Builds the operator for one node; `emit` is the edge to its consumers. */
function buildNode(
  node: Node,
  emit: Operator,
  functions: FunctionTable,
  onSink: (output: SinkOutput) => void,
  latenessMs: number,
  isolate: (next: Operator) => Operator,
): Operator {
  switch (node.kind) {
    case 'Source':
    case 'LateEvents':
    case 'MatchTimeouts':
    case 'Union':
      return emit
    case 'WindowAggregate':
      throw new Error('codegen: window operators are built by windowOperator')
    case 'Match':
      throw new Error('codegen: match operators are built by matchOperator')
    case 'Join':
      throw new Error('codegen: join operators are built by joinOperator')
    case 'Lookup':
      throw new Error('codegen: lookup operators are built by lookupOperator')
    case 'Filter':
      return filterOperator(compileExpr(node.predicate, functions), emit)
    case 'Map':
      return mapOperator(node.fields, functions, emit)
    case 'KeyBy':
      return keyByOperator(node.key, functions, emit)
    case 'Explode':
      return explodeOperator(node, functions, emit)
    case 'Dedup':
      return dedupOperator(node.keys, node.withinMs, latenessMs, functions, emit)
    case 'Aggregate':
      return aggregateOperator(node.keys, node.aggregates, functions, emit)
    case 'Fused': {
      // Each step stays a separate operator (no fusion here): built back to front so each step
      // pushes into the next one.
      let next: Operator = emit
      for (let i = node.steps.length - 1; i >= 0; i--) {
        next = buildStep(node.steps[i]!, next, functions, latenessMs, isolate)
      }
      return next
    }
    case 'Sink': {
      const sinkId = node.id
      const headers = sinkHeadersEvaluator(node, functions)
      if (headers !== null) {
        return {
          push: (event) => {
            const set = headers(event.value)
            onSink({ sinkId, value: event.value, key: event.key, timestamp: event.timestamp, headers: set })
          },
        }
      }
      return {
        push: (event) => onSink({ sinkId, value: event.value, key: event.key, timestamp: event.timestamp }),
      }
    }
  }
}

function buildStep(
  step: FusedStep,
  next: Operator,
  functions: FunctionTable,
  latenessMs: number,
  isolate: (next: Operator) => Operator,
): Operator {
  switch (step.kind) {
    case 'Explode':
      // Each item fails on its own, as behind an unfused explode node's edge.
      return explodeOperator(step, functions, isolate(next))
    case 'Filter':
      return filterOperator(compileExpr(step.predicate, functions), next)
    case 'Map':
      return mapOperator(step.fields, functions, next)
    case 'KeyBy':
      return keyByOperator(step.key, functions, next)
    case 'Dedup':
      return dedupOperator(step.keys, step.withinMs, latenessMs, functions, next)
    case 'Aggregate':
      return aggregateOperator(step.keys, step.aggregates, functions, next)
  }
}

/** Each stateful operator keeps its own state, in memory, with no budget and no expiry. */
function mapState(): ReferenceState {
  const values = new Map<string, unknown>()
  return {
    clock: Number.NEGATIVE_INFINITY,
    get: (key) => values.get(key),
    set: (key, value) => void values.set(key, value),
  }
}

/** Dedup passes an event on unchanged when `dedupKeeps` keeps it (stateful-semantics.ts). */
function dedupOperator(
  keys: readonly Expr[],
  withinMs: number,
  latenessMs: number,
  functions: FunctionTable,
  next: Operator,
): Operator {
  const evaluators = keys.map((key) => compileExpr(key, functions))
  const toKey = stateKey(keys.map((key) => key.type))
  const state = mapState()
  return {
    push: (event) => {
      const key = toKey(evaluators.map((evaluate) => evaluate(event.value)))
      if (dedupKeeps(state, key, event.timestamp, withinMs, latenessMs)) next.push(event)
    },
  }
}

/**
 * Aggregate emits, per event, the key fields then the aggregates after including the event; the
 * event's key and time travel unchanged. An event that fails (a key, an argument or an overflow)
 * leaves the state as it was.
 */
function aggregateOperator(
  keys: readonly { readonly name: string; readonly value: Expr }[],
  aggregates: readonly AggregateField[],
  functions: FunctionTable,
  next: Operator,
): Operator {
  const keyEvaluators = keys.map((key) => compileExpr(key.value, functions))
  const argEvaluators = aggregates.map((a) => (a.arg === null ? () => null : compileExpr(a.arg, functions)))
  const toKey = stateKey(keys.map((key) => key.value.type))
  const state = mapState()
  return {
    push: (event) => {
      const keyValues = keyEvaluators.map((evaluate) => evaluate(event.value))
      const args = argEvaluators.map((evaluate) => evaluate(event.value))
      const key = toKey(keyValues)
      const before =
        (state.get(key) as ReturnType<typeof initialAccumulators> | undefined) ??
        initialAccumulators(aggregates)
      const after = accumulate(aggregates, before, args)
      state.set(key, after)
      const row: Row = {}
      keys.forEach((k, i) => {
        row[k.name] = keyValues[i]
      })
      const values = aggregateValues(aggregates, after)
      aggregates.forEach((a, i) => {
        row[a.name] = values[i]
      })
      next.push({ value: row, key: event.key, timestamp: event.timestamp })
    },
  }
}

interface WindowContext {
  watermark(source: string, delayMs: number): number
  onTick(source: string, tick: () => void): void
  report(error: EvaluationError): void
  /** The wall clock of processing-time windows. */
  clock(): number
}

/**
 * A windowed aggregate by the rules of window-semantics.ts: before each event, the windows the
 * watermark closed fire; the event is added (or refused as late); an event that changed a fired
 * window makes it fire again at once. After every event of its source the windows fire too.
 */
function windowOperator(
  node: WindowAggregateNode,
  emit: Operator,
  late: Operator | null,
  functions: FunctionTable,
  ctx: WindowContext & {
    readonly source: string
    /** Every source whose events reach the window (a join's results: both of its sides'). */
    readonly sources: readonly string[]
    readonly delayMs: number
    /**
     * Its input is another window's or a join's results: they come before the watermark that
     * fired them, so an input event meets the watermark as of the previous source event (the
     * last tick's).
     */
    readonly readsWindowResults: boolean
    /**
     * Over a join's results (runtime/window/window-over-join.ts): that join's output watermark,
     * which the window takes at each tick of any of its sources.
     */
    readonly follows: (() => number) | null
  },
): Operator {
  const keyEvaluators = node.keys.map((key) => compileExpr(key.value, functions))
  const argEvaluators = node.aggregates.map((a) =>
    a.arg === null ? () => null : compileExpr(a.arg, functions),
  )
  const finiteOnly = node.aggregates.map((a) => a.arg !== null && unwrap(a.arg.type).kind === 'f64')
  // max_by(x, by) / min_by(x, by): the argument is [x, by], both evaluated (x first) and checked.
  const byEvaluators = node.aggregates.map((a) => (a.by === undefined ? null : compileExpr(a.by, functions)))
  const byFiniteOnly = node.aggregates.map((a) => a.by !== undefined && unwrap(a.by.type).kind === 'f64')
  const toKey = stateKey(node.keys.map((key) => key.value.type))
  const { window } = node
  const sessionGap: Evaluator | null =
    window.kind !== 'session'
      ? null
      : window.gap !== null
        ? compileExpr(window.gap, functions)
        : () => window.gapMs
  const windows = new ReferenceWindows({
    window: node.window,
    latenessMs: node.latenessMs,
    keyNames: node.keys.map((key) => key.name),
    aggregates: node.aggregates,
    emit: node.emit,
  })
  const emitResults = ({ results, failures }: ReturnType<ReferenceWindows['fire']>) => {
    for (const result of results)
      emit.push({ value: result.record, key: result.key, timestamp: result.end - 1 })
    for (const failure of failures) ctx.report(failure)
  }
  const fire = (watermark: number) => emitResults(windows.fire(watermark))
  // Processing time: the clock is both each event's time and the watermark (specs/language.md).
  const processingTime = node.time === 'processing'
  const watermarkNow = () =>
    processingTime
      ? ctx.clock()
      : ctx.follows !== null
        ? ctx.follows()
        : ctx.watermark(ctx.source, ctx.delayMs)
  let lastTicked = Number.NEGATIVE_INFINITY
  const tick = () => {
    lastTicked = watermarkNow()
    fire(lastTicked)
  }
  if (ctx.follows === null) ctx.onTick(ctx.source, tick)
  else for (const source of ctx.sources) ctx.onTick(source, tick)
  return {
    push: (event) => {
      const keyValues = keyEvaluators.map((evaluate) => evaluate(event.value))
      const finite = (value: unknown, i: number) => {
        if (value !== null && !Number.isFinite(value as number)) {
          throw new EvaluationError(
            `${node.aggregates[i]!.fn} of ${String(value)}: aggregates take finite numbers only`,
          )
        }
      }
      const args = argEvaluators.map((evaluate, i) => {
        const value = evaluate(event.value)
        if (finiteOnly[i]) finite(value, i)
        const by = byEvaluators[i]
        if (by === null || by === undefined) return value
        const byValue = by(event.value)
        if (byFiniteOnly[i]) finite(byValue, i)
        return [value, byValue]
      })
      const gapMs = sessionGap === null ? 0 : (sessionGap(event.value) as number | null)
      if (sessionGap !== null && (gapMs === null || gapMs <= 0)) {
        throw new EvaluationError(
          `a session gap must be a positive duration, but it is ${gapMs === null ? 'null' : `${gapMs} ms`}`,
        )
      }
      const watermark = processingTime ? ctx.clock() : ctx.readsWindowResults ? lastTicked : watermarkNow()
      fire(watermark)
      const time = processingTime ? watermark : event.timestamp
      const added = windows.add(toKey(keyValues), keyValues, time, args, watermark, gapMs!)
      if (added === 'update') fire(watermark)
      if (node.emit.kind === 'update') emitResults(windows.updates())
      if (added !== 'late') return
      if (late === null) {
        throw new EvaluationError(
          node.window.kind === 'count'
            ? countLateReason(event.timestamp, watermark)
            : lateReason(event.timestamp, watermark, node.latenessMs),
        )
      }
      late.push(event)
    },
  }
}

/**
 * A `match` step's expressions by this interpreter's evaluator: a row carries the current event's
 * fields (none for the output records) and the steps' events (STEP_EVENTS).
 */
function matchEvaluators(node: MatchNode, functions: FunctionTable): MatchEvaluators {
  const overSteps = (expr: Expr): StepEvaluator => {
    const evaluate = compileExpr(expr, functions)
    return (event, context) => evaluate({ ...event, [STEP_EVENTS]: (step: number) => context.events(step) })
  }
  const record = (fields: readonly { readonly name: string; readonly value: Expr }[]): StepEvaluator => {
    const values = fields.map((field) => overSteps(field.value))
    return (event, context) => {
      const row: Row = {}
      fields.forEach((field, i) => {
        row[field.name] = values[i]!(event, context)
      })
      return row
    }
  }
  const key = node.key === null ? null : compileExpr(node.key, functions)
  const toKey = node.key === null ? null : keyString(node.key.type)
  return {
    key: (event) => (key === null || toKey === null ? '' : toKey(key(event))),
    conditions: node.steps.map((step) => overSteps(step.condition)),
    untils: node.steps.map((step) => (step.until === null ? null : overSteps(step.until))),
    select: record(node.fields),
    timeout: node.timeout === null ? null : record(node.timeout.fields),
  }
}

interface JoinSideContext {
  readonly source: string
  readonly delayMs: number
  /**
   * Whether the side reads a window's results: its watermark is then the one of its source's last
   * tick, so a result meets the watermark as of the event before the one that fired it
   * (runtime/join/join-over-window.ts).
   */
  readonly readsWindowResults: boolean
  /** Every source whose events reach the side (a join's results: both of its sides'). */
  readonly sources: readonly string[]
  /**
   * For a side over another join's results: that join's output watermark, which the side takes at
   * each tick of its sources, so a row meets it as of the event before (join-over-join.ts).
   */
  readonly follows: (() => number) | null
}

interface JoinContext extends WindowContext {
  readonly left: JoinSideContext
  readonly right: JoinSideContext
}

/**
 * A join by the rules of join-semantics.ts, with an entry per side. The join's watermark is the
 * smaller of its sides' (each its source's largest event time less the delay, as of the source's
 * last tick for a side over a window's results); after every event of either side's source what it
 * made due is emitted, and before and after each event reaching it.
 */
function joinOperator(
  node: JoinNode,
  emit: Operator,
  late: Operator | null,
  functions: FunctionTable,
  ctx: JoinContext,
): { left: Operator; right: Operator; outputWatermark: () => number } {
  const join = new ReferenceJoin({ joinType: node.joinType, bound: node.bound, latenessMs: node.latenessMs })
  const ticked = { left: Number.NEGATIVE_INFINITY, right: Number.NEGATIVE_INFINITY }
  const sideWatermark = (side: JoinSide) =>
    ctx[side].readsWindowResults || ctx[side].follows !== null
      ? ticked[side]
      : ctx.watermark(ctx[side].source, ctx[side].delayMs)
  const watermark = () => Math.min(sideWatermark('left'), sideWatermark('right'))
  const output = (row: JoinRow) =>
    emit.push({
      value:
        row.window === null
          ? { [node.leftAlias]: row.left, [node.rightAlias]: row.right }
          : {
              [node.leftAlias]: row.left,
              [node.rightAlias]: row.right,
              window_start: row.window.start,
              window_end: row.window.end,
            },
      key: row.key,
      timestamp: row.timestamp,
    })
  const advance = () => {
    for (const row of join.advance(watermark())) output(row)
  }
  const tickOf = (source: string) => () => {
    for (const side of ['left', 'right'] as const) {
      const follows = ctx[side].follows
      if (follows !== null) {
        if (ctx[side].sources.includes(source)) ticked[side] = follows()
      } else if (ctx[side].source === source) ticked[side] = ctx.watermark(source, ctx[side].delayMs)
    }
    advance()
  }
  for (const source of new Set([...ctx.left.sources, ...ctx.right.sources]))
    ctx.onTick(source, tickOf(source))
  const entry = (side: JoinSide): Operator => {
    const keyOf = joinKeyFunction(side === 'left' ? node.leftKeys : node.rightKeys, functions)
    return {
      push: (event) => {
        const key = keyOf(event.value)
        const now = watermark()
        advance()
        if (join.isLate(event.timestamp, now)) {
          if (late === null) throw new EvaluationError(joinLateReason(event.timestamp, now, node.latenessMs))
          const value =
            side === 'left' ? { left: event.value, right: null } : { left: null, right: event.value }
          late.push({
            value: { [node.leftAlias]: value.left, [node.rightAlias]: value.right },
            key: event.key,
            timestamp: event.timestamp,
          })
          return
        }
        for (const row of join.add(side, key, event.value, event.timestamp, now)) output(row)
        advance()
      },
    }
  }
  const holdMs = joinOutputHoldMs(node)
  return { left: entry('left'), right: entry('right'), outputWatermark: () => watermark() - holdMs }
}

/**
 * The join key string of a side's record: null when any key value is null (it matches nothing),
 * else the state key of the values over their non-optional types, so `string` and `string?`
 * keys of the two sides give the same strings.
 */
export function joinKeyFunction(
  keys: readonly Expr[],
  functions: FunctionTable,
): (row: Row) => string | null {
  const evaluators = keys.map((key) => compileExpr(key, functions))
  const strings = keys.map((key) => keyString(unwrap(key.type)))
  return (row) => {
    const parts: string[] = []
    for (let i = 0; i < evaluators.length; i++) {
      const value = evaluators[i]!(row)
      if (value === null) return null
      parts.push(strings[i]!(value)!)
    }
    return parts.length === 1 ? parts[0]! : JSON.stringify(parts)
  }
}

function unwrap(type: Type): Type {
  return type.kind === 'optional' ? unwrap(type.of) : type
}

/** Filter keeps an event only when the predicate is exactly `true` (false and null drop it). */
function filterOperator(predicate: Evaluator, next: Operator): Operator {
  return {
    push: (event) => {
      if (predicate(event.value) === true) next.push(event)
    },
  }
}

/** Map builds a new record with the fields in declaration order; key and timestamp travel unchanged. */
function mapOperator(
  fields: readonly { readonly name: string; readonly value: Expr }[],
  functions: FunctionTable,
  next: Operator,
): Operator {
  const names = fields.map((field) => field.name)
  const values = fields.map((field) => compileExpr(field.value, functions))
  return {
    push: (event) => {
      const row: Row = {}
      for (let i = 0; i < names.length; i++) row[names[i]!] = values[i]!(event.value)
      next.push({ value: row, key: event.key, timestamp: event.timestamp })
    },
  }
}

/**
 * Explode emits, per item of the list in order, the event's fields and the item under `alias`,
 * with the event's key and time; a null or empty list emits nothing, or with `outer` one event
 * whose item is null. Each item goes on as an event of its own: one that fails later fails alone.
 */
function explodeOperator(
  step: { readonly list: Expr; readonly alias: string; readonly outer: boolean },
  functions: FunctionTable,
  next: Operator,
): Operator {
  const list = compileExpr(step.list, functions)
  const { alias, outer } = step
  return {
    push: (event) => {
      const items = list(event.value) as readonly unknown[] | null
      const each = items === null || items.length === 0 ? (outer ? [null] : []) : items
      for (const item of each) {
        next.push({ value: { ...event.value, [alias]: item }, key: event.key, timestamp: event.timestamp })
      }
    },
  }
}

/** KeyBy replaces the event's key with the string form of the key expression (see `keyString`). */
function keyByOperator(key: Expr, functions: FunctionTable, next: Operator): Operator {
  const evaluate = compileExpr(key, functions)
  const toKey = keyString(key.type)
  return {
    push: (event) => {
      next.push({ value: event.value, key: toKey(evaluate(event.value)), timestamp: event.timestamp })
    },
  }
}

/**
 * The string form of a key: null → null; string → itself; i64/f64/duration → `String(n)`;
 * bool → 'true'/'false'; timestamp → ISO 8601 UTC (`new Date(ms).toISOString()`), and an
 * evaluation error when the timestamp is outside the range a Date can represent.
 */
export function keyString(type: Type): (value: unknown) => string | null {
  const base = unwrapOptional(type)
  switch (base.kind) {
    case 'null':
      return () => null
    case 'string':
      return (value) => (value === null ? null : (value as string))
    case 'bool':
      return (value) => (value === null ? null : value === true ? 'true' : 'false')
    case 'i64':
    case 'f64':
    case 'duration':
      return (value) => (value === null ? null : String(value as number))
    case 'timestamp':
      return (value) => {
        if (value === null) return null
        const date = new Date(value as number)
        if (Number.isNaN(date.getTime()))
          throw new EvaluationError(`timestamp ${String(value)} is out of range for a key`)
        return date.toISOString()
      }
    case 'optional':
    case 'list':
    case 'map':
    case 'record':
      throw new Error(`cannot key by a value of type ${base.kind}`)
  }
}

type MapValue = Readonly<Record<string, unknown>>

/** Only maps reach `==` as objects: records and lists cannot be compared. */
function isMapValue(value: unknown): value is MapValue {
  return typeof value === 'object' && value !== null
}

/** Same keys, and equal (===) values under each; null values are equal to each other. */
function mapsEqual(a: MapValue, b: MapValue): boolean {
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  for (const key of keys) if (!Object.hasOwn(b, key) || a[key] !== b[key]) return false
  return true
}

function mapEntry(map: unknown, key: unknown): unknown {
  if (map === null || key === null) return null
  return Object.hasOwn(map as object, key as string) ? (map as Record<string, unknown>)[key as string] : null
}

function unwrapOptional(type: Type): Type {
  let t = type
  while (t.kind === 'optional') t = t.of
  return t
}

// ---------------------------------------------------------------------------------------------
// Expressions

/** The reference codec a `codec` function's impl takes after its arguments, or null for the rest. */
function referenceCodec(
  fn: InterpretedFunction,
  call: Extract<Expr, { kind: 'Call' }>,
): JsonDecode | JsonEncode | null {
  if (fn.codec === 'decode-result') {
    const decode: JsonDecode = (value, path) => referenceDecode(call.type, value, path)
    return decode
  }
  if (fn.codec === 'encode-argument') {
    const type = call.args[0]!.type
    const encode: JsonEncode = (value) => referenceEncode(type, value)
    return encode
  }
  return null
}

/** Compiles an expression into a closure over the input row. */
export function compileExpr(expr: Expr, functions: FunctionTable): Evaluator {
  switch (expr.kind) {
    case 'Literal': {
      const value = expr.value
      return () => value
    }
    case 'Column': {
      // A missing field reads as null.
      const name = expr.name
      return (row) => {
        const value = row[name]
        return value === undefined ? null : value
      }
    }
    case 'Member': {
      // Member access on null is null; a missing field is null.
      const object = compileExpr(expr.object, functions)
      const name = expr.name
      return (row) => {
        const target = object(row)
        if (target === null) return null
        const value = (target as Row)[name]
        return value === undefined ? null : value
      }
    }
    case 'Index': {
      // Null list or null index → null; an index outside [0, length) → null.
      const object = compileExpr(expr.object, functions)
      const index = compileExpr(expr.index, functions)
      // A map: the value of an own key, else null (an inherited name is no key).
      if (unwrapOptional(expr.object.type).kind === 'map') return (row) => mapEntry(object(row), index(row))
      return (row) => {
        const list = object(row)
        const i = index(row)
        if (list === null || i === null) return null
        const items = list as readonly unknown[]
        const n = i as number
        if (!Number.isInteger(n) || n < 0 || n >= items.length) return null
        const value = items[n]
        return value === undefined ? null : value
      }
    }
    case 'Unary': {
      const operand = compileExpr(expr.operand, functions)
      if (expr.op === 'neg') {
        return (row) => {
          const value = operand(row)
          return value === null ? null : -(value as number)
        }
      }
      return (row) => {
        const value = operand(row)
        return value === null ? null : !(value as boolean)
      }
    }
    case 'Binary':
      return compileBinary(expr.op, unwrapOptional(expr.type), expr, functions)
    case 'ArithmeticChain': {
      // A loop over the steps, each evaluated as its BinaryExpr would be: the operand, then null
      // if either side is null, else the step's checked arithmetic (so the first failing step's
      // error is the one raised, as in the left-deep tree).
      const first = compileExpr(expr.first, functions)
      const steps = expr.steps.map((step) => ({
        operand: compileExpr(step.operand, functions),
        apply: arithmetic(step.op, unwrapOptional(step.type)),
      }))
      return (row) => {
        let value = first(row)
        for (const step of steps) {
          const operand = step.operand(row)
          value = value === null || operand === null ? null : step.apply(value, operand)
        }
        return value
      }
    }
    case 'Coalesce': {
      // The right side is evaluated only when the left is null (so its errors only count then).
      const left = compileExpr(expr.left, functions)
      const right = compileExpr(expr.right, functions)
      return (row) => {
        const value = left(row)
        return value === null ? right(row) : value
      }
    }
    case 'IsNull': {
      const operand = compileExpr(expr.operand, functions)
      return expr.negated ? (row) => operand(row) !== null : (row) => operand(row) === null
    }
    case 'Conditional': {
      // Only the chosen branch is evaluated; a null condition takes the else branch.
      const condition = compileExpr(expr.condition, functions)
      const then = compileExpr(expr.whenTrue, functions)
      const otherwise = compileExpr(expr.whenFalse, functions)
      return (row) => (condition(row) === true ? then(row) : otherwise(row))
    }
    case 'Call': {
      const fn = functions[expr.fn]
      if (fn === undefined) throw new Error(`unknown function '${expr.fn}'`)
      const args = expr.args.map((arg, i) => {
        if (
          i !== expr.literalArg ||
          arg.kind !== 'Literal' ||
          typeof arg.value !== 'string' ||
          !fn.literalArg
        )
          return compileExpr(arg, functions)
        const compiled = fn.literalArg.compile(arg.value)
        return () => compiled
      })
      const call = fn.impl as (...args: unknown[]) => unknown
      const codec = referenceCodec(fn, expr)
      const impl = codec === null ? call : (...values: unknown[]) => call(...values, codec)
      const nullPropagating = fn.nullPropagating
      return (row) => {
        const values = new Array<unknown>(args.length)
        for (let i = 0; i < args.length; i++) values[i] = args[i]!(row)
        if (nullPropagating && values.includes(null)) return null
        return impl(...values)
      }
    }
    case 'Record': {
      const names = expr.fields.map((field) => field.name)
      const values = expr.fields.map((field) => compileExpr(field.value, functions))
      return (row) => {
        const record: Row = {}
        for (let i = 0; i < names.length; i++) record[names[i]!] = values[i]!(row)
        return record
      }
    }
    case 'List': {
      const items = expr.items.map((item) => compileExpr(item, functions))
      return (row) => items.map((item) => item(row))
    }
    case 'StepRef': {
      // The events of a `match` step, from the context the row carries (STEP_EVENTS).
      const { step } = expr
      const asList = unwrapOptional(expr.type).kind === 'list'
      return (row) => {
        const events =
          (row as { [STEP_EVENTS]?: (step: number) => readonly unknown[] })[STEP_EVENTS]?.(step) ?? []
        return asList ? events : (events[0] ?? null)
      }
    }
    case 'Project': {
      const object = compileExpr(expr.object, functions)
      const name = expr.name
      return (row) => {
        const list = object(row) as readonly (Row | null)[] | null
        if (list === null) return null
        return list.map((item) => (item === null ? null : (item[name] ?? null)))
      }
    }
    case 'ListFunction':
      return listFunction(expr.fn, compileExpr(expr.list, functions), unwrapOptional(expr.type).kind)
    case 'In': {
      // Every item is evaluated; then true on an equal item, else null if anything was null.
      const operand = compileExpr(expr.operand, functions)
      const items = expr.items.map((item) => compileExpr(item, functions))
      // `in` means `==` on each item, so maps are equal by their entries, not by identity.
      const equal =
        unwrapOptional(expr.operand.type).kind === 'map'
          ? (a: unknown, b: unknown) => mapsEqual(a as MapValue, b as MapValue)
          : (a: unknown, b: unknown) => a === b
      return (row) => {
        const value = operand(row)
        let sawNull = value === null
        let found = false
        for (const item of items) {
          const v = item(row)
          if (v === null) sawNull = true
          else if (value !== null && equal(v, value)) found = true
        }
        return found ? true : sawNull ? null : false
      }
    }
    case 'Between': {
      // `low <= x and x <= high` in three-valued logic, all three evaluated.
      const operand = compileExpr(expr.operand, functions)
      const low = compileExpr(expr.low, functions)
      const high = compileExpr(expr.high, functions)
      return (row) => {
        const x = operand(row) as number | string | null
        const lo = low(row) as number | string | null
        const hi = high(row) as number | string | null
        const above = x === null || lo === null ? null : lo <= x
        const below = x === null || hi === null ? null : x <= hi
        return above === false || below === false ? false : above === null || below === null ? null : true
      }
    }
    case 'MapLiteral': {
      // An object without a prototype, so `__proto__` is a key like any other.
      const entries = expr.entries.map((entry) => ({
        key: entry.key,
        value: compileExpr(entry.value, functions),
      }))
      return (row) => {
        const map: Record<string, unknown> = Object.create(null)
        for (const entry of entries) map[entry.key] = entry.value(row)
        return map
      }
    }
    case 'SimpleCase': {
      // The operand once; then each `when` value in order until one equals it (null never does).
      const operand = compileExpr(expr.operand, functions)
      const branches = expr.branches.map((b) => ({
        match: compileExpr(b.match, functions),
        result: compileExpr(b.result, functions),
      }))
      const otherwise = compileExpr(expr.otherwise, functions)
      return (row) => {
        const value = operand(row)
        for (const branch of branches) {
          const candidate = branch.match(row)
          if (value !== null && candidate === value) return branch.result(row)
        }
        return otherwise(row)
      }
    }
    case 'Local': {
      const { name } = expr
      return (row) => (row as { [LOCALS]?: ReadonlyMap<string, unknown> })[LOCALS]?.get(name) ?? null
    }
    case 'ListLambda':
      return listLambda(expr, compileExpr(expr.list, functions), compileExpr(expr.body, functions))
  }
}

/** Where a lambda's body finds its parameters (LocalExpr): a map on the row it is evaluated on. */
const LOCALS: unique symbol = Symbol('locals')

/**
 * map/filter/any/all (ListLambdaExpr): the body runs on a row that reads as the outer one (its
 * prototype) with the item bound to the parameter; any and all stop at the item that decides.
 */
function listLambda(expr: ListLambdaExpr, list: Evaluator, body: Evaluator): Evaluator {
  const { fn, param } = expr
  return (row) => {
    const items = list(row) as readonly unknown[] | null
    if (items === null) return null
    const outer = (row as { [LOCALS]?: ReadonlyMap<string, unknown> })[LOCALS]
    const apply = (item: unknown): unknown => {
      const scope = Object.create(row) as Row & { [LOCALS]?: ReadonlyMap<string, unknown> }
      scope[LOCALS] = new Map(outer ?? []).set(param, item)
      return body(scope)
    }
    if (fn === 'map') return items.map(apply)
    if (fn === 'filter') return items.filter((item) => apply(item) === true)
    // any: true at the first true; all: false at the first false; else null if one was null.
    const decisive = fn === 'any'
    let sawNull = false
    for (const item of items) {
      const value = apply(item)
      if (value === decisive) return decisive
      if (value === null) sawNull = true
    }
    return sawNull ? null : !decisive
  }
}

/**
 * Where an evaluator of a `match` step's expression finds the step's events: a row passed to it
 * carries `[STEP_EVENTS](step)`, the events step `step` matched (the engine's MatchContext).
 */
export const STEP_EVENTS: unique symbol = Symbol('stepEvents')

/** count/sum/min/max/avg/first/last over a list, skipping nulls (ListFunctionExpr). */
function listFunction(fn: ListFunction, list: Evaluator, resultKind: string): Evaluator {
  return (row) => {
    const items = list(row) as readonly unknown[] | null
    if (items === null) return null
    if (fn === 'first') return items.length === 0 ? null : (items[0] ?? null)
    if (fn === 'last') return items.length === 0 ? null : (items[items.length - 1] ?? null)
    const present = items.filter((item) => item !== null)
    if (fn === 'count') return present.length
    if (present.length === 0) return null
    if (fn === 'min' || fn === 'max') {
      let best = present[0] as number | string
      for (const item of present) {
        const v = item as number | string
        if (fn === 'min' ? v < best : v > best) best = v
      }
      return best
    }
    let sum = 0
    for (const item of present) sum += item as number
    if (fn === 'avg') return sum / present.length
    if ((resultKind === 'i64' || resultKind === 'duration') && !(Math.abs(sum) <= Number.MAX_SAFE_INTEGER)) {
      throw new EvaluationError('i64 overflow')
    }
    return sum
  }
}

/**
 * Binary operators.
 * - Arithmetic and comparisons evaluate both sides and are null if either side is null.
 * - `and`: false if either side is false, else null if either is null, else true.
 *   `or`: true if either side is true, else null if either is null, else false.
 *   Both short-circuit: when the left side is false (`and`) or true (`or`) the right side is not
 *   evaluated, so an evaluation error there does not count. The results are the same as
 *   evaluating both sides whenever neither side fails; compiler/codegen/expressions.ts does the same.
 * - `==`/`!=`: `===`/`!==` on the values.
 * - When the result type is i64, duration or timestamp (integer milliseconds): `/` truncates toward zero; `/` or `%` by zero throws
 *   `EvaluationError('integer division by zero')`; a `+ - * /` result outside ±MAX_SAFE_INTEGER throws
 *   `EvaluationError('i64 overflow')`. Everything else (f64, timestamp, duration) follows IEEE 754.
 * - `+` on strings concatenates (the result type is string).
 */
function compileBinary(
  op: BinaryOp,
  resultType: Type,
  expr: BinaryExpr,
  functions: FunctionTable,
): Evaluator {
  const left = compileExpr(expr.left, functions)
  const right = compileExpr(expr.right, functions)

  // Three-valued and short-circuiting: the right side is evaluated only when the left side does
  // not decide the result, so `b != 0 and a / b > 1` guards the division.
  if (op === 'and') {
    return (row) => {
      const a = left(row)
      if (a === false) return false
      const b = right(row)
      if (b === false) return false
      if (a === null || b === null) return null
      return true
    }
  }
  if (op === 'or') {
    return (row) => {
      const a = left(row)
      if (a === true) return true
      const b = right(row)
      if (b === true) return true
      if (a === null || b === null) return null
      return false
    }
  }

  const apply = arithmetic(op, resultType)
  return (row) => {
    const a = left(row)
    const b = right(row)
    if (a === null || b === null) return null
    return apply(a, b)
  }
}

/** `a op b` of two non-null operands whose result is of type `resultType` (not optional). */
function arithmetic(op: NonLogicalOp, resultType: Type): (a: unknown, b: unknown) => unknown {
  // Durations and timestamps are integer milliseconds: the same checks as i64, and a timestamp
  // result must be one a Date can hold.
  const integerApply = binaryFunction(
    op,
    resultType.kind === 'i64' || resultType.kind === 'duration' || resultType.kind === 'timestamp',
  )
  return resultType.kind === 'timestamp'
    ? (a: unknown, b: unknown) => checkTimestamp(integerApply(a, b) as number)
    : integerApply
}

function checkTimestamp(value: number): number {
  if (!(Math.abs(value) <= 8.64e15)) {
    throw new EvaluationError(
      `timestamp arithmetic gave ${value} ms, outside the range of a timestamp (±8.64e15 ms, years -271821 to 275760)`,
    )
  }
  return value
}

function checkI64(result: number): number {
  if (result > Number.MAX_SAFE_INTEGER || result < -Number.MAX_SAFE_INTEGER)
    throw new EvaluationError('i64 overflow')
  return result
}

type NonLogicalOp = Exclude<BinaryOp, 'and' | 'or'>

function binaryFunction(op: NonLogicalOp, integer: boolean): (a: unknown, b: unknown) => unknown {
  // `unknown` operands: the type checker guarantees they are numbers, or strings for `+` and the
  // comparisons, or booleans for `==`/`!=`.
  type N = number
  switch (op) {
    case '+':
      return integer ? (a, b) => checkI64((a as N) + (b as N)) : (a, b) => (a as N) + (b as N)
    case '-':
      return integer ? (a, b) => checkI64((a as N) - (b as N)) : (a, b) => (a as N) - (b as N)
    case '*':
      return integer ? (a, b) => checkI64((a as N) * (b as N)) : (a, b) => (a as N) * (b as N)
    case '/':
      return integer
        ? (a, b) => {
            if (b === 0) throw new EvaluationError('integer division by zero')
            return checkI64(Math.trunc((a as N) / (b as N)))
          }
        : (a, b) => (a as N) / (b as N)
    case '%':
      return integer
        ? (a, b) => {
            if (b === 0) throw new EvaluationError('integer division by zero')
            return (a as N) % (b as N)
          }
        : (a, b) => (a as N) % (b as N)
    case '==':
      return (a, b) => (isMapValue(a) ? mapsEqual(a, b as MapValue) : a === b)
    case '!=':
      return (a, b) => (isMapValue(a) ? !mapsEqual(a, b as MapValue) : a !== b)
    case '<':
      return (a, b) => (a as N) < (b as N)
    case '<=':
      return (a, b) => (a as N) <= (b as N)
    case '>':
      return (a, b) => (a as N) > (b as N)
    case '>=':
      return (a, b) => (a as N) >= (b as N)
  }
}
