/**
 * The parts of an artifact's `manifest.json` the runtime relies on (the compiler writes it:
 * compiler/artifact/package.ts). The runtime validates them on load instead of trusting the file,
 * because an artifact can come from another compiler version or another machine.
 */
import type { UdfSignature } from '../../stdlib/udf.ts'
import type { PatternEngineFactory } from '../cep/engine.ts'
import { SluiceError } from '../errors.ts'
import { typeReferenceProblem } from './manifest-types.ts'

export type Connector = { readonly kind: 'kafka'; readonly topic: string } | { readonly kind: 'stdout' }

/**
 * What a sink gives the log as each record's timestamp: `event` the event's event time, `append`
 * none, so the log stamps the time it appends the record (specs/language.md, "Record timestamps").
 */
export type RecordTimestampMode = 'event' | 'append'
export const RECORD_TIMESTAMP_MODES: readonly RecordTimestampMode[] = ['event', 'append']

export interface SinkGraphNode {
  readonly kind: 'Sink'
  readonly id: string
  readonly input: string
  readonly connector: Connector
  /**
   * The source or stream the sink writes, for metric labels and logs. Not unique: one stream may
   * have several sinks. An artifact compiled before sinks had names gets the node id.
   */
  readonly name: string
  /** `event` for an artifact compiled before sinks could choose (they all wrote the event time). */
  readonly recordTimestamp: RecordTimestampMode
}

export type GraphNode =
  | { readonly kind: 'Source'; readonly id: string; readonly name: string; readonly connector: Connector }
  | {
      readonly kind: 'Fused'
      readonly id: string
      readonly input: string
      /**
       * The chain's stateful steps (dedup, aggregate), in the order of the `states` argument of its
       * chain function. Absent or empty for a stateless chain (and in artifacts compiled before
       * stateful steps existed).
       */
      readonly state?: readonly StateSlot[]
    }
  | WindowGraphNode
  | JoinGraphNode
  | LookupGraphNode
  | MatchGraphNode
  | {
      /** The events a window, join or match refused as too late (`late into name`), for the streams that read them. */
      readonly kind: 'LateEvents'
      readonly id: string
      /** The WindowAggregate, Join or Match node. */
      readonly input: string
    }
  | {
      /**
       * `union a, b`: every event of each input, passed on as it comes (specs/language.md,
       * "Unions"); each batch is one source partition's, so the union's readers take it as is.
       */
      readonly kind: 'Union'
      readonly id: string
      readonly inputs: readonly string[]
    }
  | {
      /** The records of a match's timed-out partial matches (`timeout into name { … }`). */
      readonly kind: 'MatchTimeouts'
      readonly id: string
      /** The Match node. */
      readonly input: string
    }
  | SinkGraphNode

/** A windowed aggregate (specs/language.md, "Windows"); its functions are the module's `windows[id]`. */
export interface WindowGraphNode {
  readonly kind: 'WindowAggregate'
  readonly id: string
  readonly input: string
  readonly window:
    | { readonly kind: 'tumbling' | 'hopping'; readonly sizeMs: number; readonly slideMs: number }
    /** `gapMs` null: the gap is computed per event by the module's `extract`. */
    | { readonly kind: 'session'; readonly gapMs: number | null }
    /** `window count size every slide` (runtime/window/count-operator.ts). */
    | { readonly kind: 'count'; readonly size: number; readonly slide: number }
  /** `processing time`: windows by the node's wall clock (absent: event time). */
  readonly time?: 'processing'
  readonly latenessMs: number
  /** Early results besides the final one (absent in artifacts compiled before it: on close). */
  readonly emit?:
    | { readonly kind: 'close' }
    | { readonly kind: 'update' }
    | { readonly kind: 'every'; readonly everyMs: number }
  /** The LateEvents node's id, or null: late events are dead-lettered. */
  readonly late: string | null
  readonly state: StateSlot
  /** Where the accumulators live: the artifact's WebAssembly kernel, or typed arrays. */
  readonly execution: 'wasm' | 'typescript'
}

/** The pattern of a `match` step, as the engines take it. */
type PatternSpec = Parameters<PatternEngineFactory>[0]

/**
 * A `match` step (specs/language.md, "Patterns"); its functions are the module's `matches[id]`.
 * The node is the PatternSpec itself (steps, pattern, within, skip: runtime/cep/pattern-spec.ts), from
 * which the runtime builds its NFA (runtime/cep/nfa-compile.ts).
 */
export interface MatchGraphNode extends PatternSpec {
  readonly kind: 'Match'
  readonly id: string
  readonly input: string
  /** The `match by` expression (the module computes it), or null: one key for all events. */
  readonly key: object | null
  /** The LateEvents node's id, or null: late events are dead-lettered. */
  readonly late: string | null
  /** The MatchTimeouts node (`timeout into`), or null: timed-out partial matches are dropped, counted. */
  readonly timeout: { readonly stream: string } | null
  readonly latenessMs: number
  readonly state: StateSlot
  /** Which engine steps the NFA: the WebAssembly kernel (every condition event-local) or TypeScript. */
  readonly execution: 'wasm' | 'typescript'
}

/** The ids of the nodes `node` reads: none for a source, both sides for a join. */
export function inputsOf(node: GraphNode): readonly string[] {
  if (node.kind === 'Source') return []
  if (node.kind === 'Join') return [node.left, node.right]
  if (node.kind === 'Union') return node.inputs
  return [node.input]
}

/**
 * A join of two inputs (specs/language.md, "Joins"); its functions are the module's `joins[id]`,
 * its operator runtime/join/interval-join.ts, one per co-partitioned task (decision 0020).
 */
export interface JoinGraphNode {
  readonly kind: 'Join'
  readonly id: string
  readonly left: string
  readonly right: string
  readonly leftAlias: string
  readonly rightAlias: string
  readonly joinType: 'inner' | 'left' | 'full'
  readonly bound:
    | { readonly kind: 'interval'; readonly lowerMs: number; readonly upperMs: number }
    | { readonly kind: 'tumbling' | 'hopping'; readonly sizeMs: number; readonly slideMs: number }
  readonly latenessMs: number
  /** The LateEvents node's id, or null: late events are dead-lettered. */
  readonly late: string | null
  readonly state: StateSlot
}

/**
 * `lookup table as alias on key [or null]` (specs/language.md, "Tables and lookups"); its
 * function is the module's `lookups[id]`, and its table is `graph.tables[table]`.
 */
export interface LookupGraphNode {
  readonly kind: 'Lookup'
  readonly id: string
  readonly input: string
  readonly table: string
  readonly mode: 'inner' | 'left'
  /**
   * A temporal lookup's time expression (the IR's; the module computes it): non-null when the
   * lookup reads the row as of a time, so the table keeps every version. Null or absent: the
   * latest row.
   */
  readonly asOf?: object | null
}

/** A table lookups read: the changelog topic every node reads in full (runtime/table/). */
export interface TableGraphEntry {
  readonly name: string
  readonly connector: { readonly kind: 'kafka'; readonly topic: string }
}

/**
 * One stateful step's keyed state. The runner keeps one KeyedState per slot and source partition,
 * scoped (artifact name, slot id, topic, partition) in the snapshot store, so `id` must stay the same
 * when a pipeline is recompiled without changing that step: the compiler derives it from the stream
 * name, the step's kind and position, and a hash of what its stored values mean (key types,
 * aggregates), `<stream>.<kind>.<n>.<layout>`; not from the content hash. A step whose state would
 * be read differently gets a new id, and starts empty.
 */
export interface StateSlot {
  readonly id: string
  readonly step: 'dedup' | 'aggregate' | 'window' | 'join' | 'match'
  /** Keys idle this long in event time are dropped (dedup: its `within` duration); null: kept. */
  readonly ttlMs: number | null
}

export interface ManifestSite {
  readonly file: string
  readonly line: number
  readonly column: number
}

export interface RuntimeManifest {
  readonly format: 'sluice-artifact'
  /** 2 writes types by reference (`types`); 1 spelled them out (manifest-types.ts). */
  readonly formatVersion: 1 | 2
  readonly name: string
  readonly contentHash: string
  readonly irVersion: number
  readonly compiler: { readonly version: string }
  readonly source: { readonly file: string }
  /** `udfs`: the bundle of the imported functions (stdlib/udf.ts), when the pipeline has any. */
  readonly files: { readonly module: string; readonly udfs?: string }
  /** Version 2: the record types by name, which `{kind: "ref", name}` types refer to. */
  readonly types?: Readonly<Record<string, unknown>>
  readonly inputs: readonly {
    readonly source: string
    readonly connector: Connector
    /** The source's record type: a reference into `types` (version 2), or spelled out (1). */
    readonly schema?: unknown
    readonly eventTimeField: string | null
    readonly watermark: { readonly field: string; readonly delayMs: number } | null
  }[]
  readonly graph: {
    readonly nodes: readonly GraphNode[]
    /** The tables the lookups read, by name; absent when there are none. */
    readonly tables?: Readonly<Record<string, TableGraphEntry>>
    /** The imported functions' signatures, by name; absent when there are none. */
    readonly udfs?: Readonly<Record<string, UdfSignature>>
  }
  /** WebAssembly kernels shipped in the artifact (absent in artifacts compiled before any was). */
  readonly wasm?: readonly { readonly name: string; readonly file: string; readonly sha256: string }[]
  readonly sites: readonly ManifestSite[]
}

/** Version 1 artifacts (types spelled out) still run: the runtime reads no type that changed. */
export const SUPPORTED_FORMAT_VERSIONS: readonly number[] = [1, 2]

const RUNNABLE_KINDS: ReadonlySet<string> = new Set([
  'Source',
  'Fused',
  'WindowAggregate',
  'Join',
  'LateEvents',
  'Lookup',
  'Match',
  'MatchTimeouts',
  'Union',
  'Sink',
])
export const SUPPORTED_IR_VERSION = 0

/**
 * Checks the fields the runtime uses; throws ARTIFACT_INVALID naming the first problem. Returns a
 * copy with the defaults of older artifacts filled in (a sink's `name` and `recordTimestamp`);
 * `value` itself is left as it is, because the content hash is computed over it as written.
 */
export function validateManifest(value: unknown, where: string): RuntimeManifest {
  const fail = (problem: string): never => {
    throw new SluiceError('ARTIFACT_INVALID', `${where}: ${problem}`)
  }
  if (typeof value !== 'object' || value === null) return fail('manifest is not a JSON object')
  const m = value as Record<string, unknown>
  if (m.format !== 'sluice-artifact') fail(`not a Sluice artifact (format is ${JSON.stringify(m.format)})`)
  if (!SUPPORTED_FORMAT_VERSIONS.includes(m.formatVersion as number)) {
    fail(
      `artifact format version ${String(m.formatVersion)} is not supported (this runtime reads ${SUPPORTED_FORMAT_VERSIONS.join(' and ')})`,
    )
  }
  if (m.formatVersion === 2) {
    const problem = typeReferenceProblem(m)
    if (problem !== null) fail(problem)
  }
  if (m.irVersion !== SUPPORTED_IR_VERSION) fail(`IR version ${String(m.irVersion)} is not supported`)
  for (const key of ['name', 'contentHash'] as const) if (typeof m[key] !== 'string') fail(`missing "${key}"`)
  if (!Array.isArray(m.inputs)) fail('missing "inputs"')
  if (!Array.isArray(m.sites)) fail('missing "sites"')
  const graph = m.graph as { nodes?: unknown } | undefined
  if (!graph || !Array.isArray(graph.nodes)) fail('missing "graph.nodes"')
  const ids = new Set<string>()
  const nodes: GraphNode[] = []
  for (const node of (graph as { nodes: unknown[] }).nodes) {
    if (typeof node !== 'object' || node === null) return fail('a graph node is not a JSON object')
    const n = node as Record<string, unknown>
    if (!RUNNABLE_KINDS.has(n.kind as string)) {
      fail(`graph node ${String(n.id)} has kind ${String(n.kind)}, which this runtime cannot run`)
    }
    const inputs =
      n.kind === 'Source'
        ? []
        : n.kind === 'Join'
          ? [n.left, n.right]
          : n.kind === 'Union'
            ? Array.isArray(n.inputs)
              ? (n.inputs as unknown[])
              : fail(`graph node ${String(n.id)} has no inputs`)
            : [n.input]
    for (const input of inputs) {
      if (!ids.has(input as string)) {
        fail(`graph node ${String(n.id)} reads ${String(input)}, which does not come before it`)
      }
    }
    if (n.kind === 'Lookup') lookupTable(n, graph as { tables?: unknown }, fail)
    // A window by a clock this runtime does not know must not run as an event-time window.
    if (n.kind === 'WindowAggregate' && n.time !== undefined && n.time !== 'processing') {
      fail(
        `window ${String(n.id)} has time ${JSON.stringify(n.time)}, which this runtime does not know (it knows "processing")`,
      )
    }
    ids.add(n.id as string)
    nodes.push(n.kind === 'Sink' ? sinkNode(n, fail) : (n as unknown as GraphNode))
  }
  return { ...(m as unknown as RuntimeManifest), graph: { ...(graph as object), nodes } }
}

/** Checks that a Lookup node's table is declared with a kafka topic in `graph.tables`. */
function lookupTable(
  node: Record<string, unknown>,
  graph: { tables?: unknown },
  fail: (problem: string) => never,
): void {
  const tables = (graph.tables ?? {}) as Record<string, { connector?: { kind?: unknown; topic?: unknown } }>
  const name = String(node.table)
  const table = Object.hasOwn(tables, name) ? tables[name] : undefined
  if (table?.connector?.kind !== 'kafka' || typeof table.connector.topic !== 'string') {
    fail(
      `lookup ${String(node.id)} reads table ${name}, which "graph.tables" does not declare with a kafka topic`,
    )
  }
}

/** A Sink graph node with its naming and record-timestamp fields checked, or defaulted when absent. */
function sinkNode(node: Record<string, unknown>, fail: (problem: string) => never): SinkGraphNode {
  const id = String(node.id)
  const { name, recordTimestamp } = node
  if (name !== undefined && (typeof name !== 'string' || name === '')) {
    fail(`sink ${id} has name ${JSON.stringify(name)}; a sink's name must be a non-empty string`)
  }
  if (
    recordTimestamp !== undefined &&
    !RECORD_TIMESTAMP_MODES.includes(recordTimestamp as RecordTimestampMode)
  ) {
    fail(
      `sink ${id} has recordTimestamp ${JSON.stringify(recordTimestamp)}, which this runtime does not know (it knows ${RECORD_TIMESTAMP_MODES.map((m) => `"${m}"`).join(' and ')})`,
    )
  }
  return {
    ...(node as unknown as SinkGraphNode),
    name: (name as string | undefined) ?? id,
    recordTimestamp: (recordTimestamp as RecordTimestampMode | undefined) ?? 'event',
  }
}
