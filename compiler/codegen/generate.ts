/**
 * Code generation: an optimised Pipeline → one TypeScript module (`operators.generated.ts`),
 * written as text and indented by its brackets (indent.ts).
 *
 * The module exports `instantiate(runtime)`, which binds the stdlib functions once and returns:
 * - `chains[id]`: one function per `Fused` node, `(input, output, errors, states) => void`, that
 *   loops over the input batch once, running every step of the chain on the event before the
 *   next event (filters `continue`, selects build one object, key by sets the key, dedup and
 *   aggregate read and write their keyed state in `states`, see stateful.ts);
 * - `sources[name]`: the generated decoders of the source's schema, `decode` from the value of
 *   JSON.parse and `decodeJson` from the record's bytes (both materialising only the fields the
 *   pipeline reads, see fields-read.ts), and its event-time getter;
 * - `sinks[id]`: the generated JSON encoder of what the sink writes;
 * - `tables[name]` and `lookups[id]`: the row decoders and key of each table, and one function per
 *   `Lookup` node over a batch (see lookup.ts).
 * The runtime (runtime/artifact/operators.ts) declares the same shapes: the module is the
 * contract, and neither side imports the other.
 *
 * Every step is preceded by a `/*! @pipe:N *\/` marker (siteMarker) naming a site (a span of the `.pipe`); the
 * artifact packager turns the markers into a source map, and evaluation errors carry the site
 * of the step or expression that failed so the dead-letter reason names file:line:col.
 */
import { isOptional, unwrapOptional } from '../ir/expr.ts'
import { TypeTable } from '../ir/type-table.ts'
import type {
  Expr,
  FusedNode,
  JoinNode,
  LookupNode,
  MatchNode,
  Pipeline,
  SinkNode,
  SourceNode,
  Span,
  StateSlot,
  Type,
  WindowAggregateNode,
} from '../ir/types.ts'
import { CANONICAL_HELPERS, passThroughCheck } from './canonical-json.ts'
import { CEP_HELPERS, cepFunctions } from './cep.ts'
import { CODEC_HELPERS, CodecWriter } from './codecs.ts'
import { sharedSubexpressions } from './common-subexpressions.ts'
import { compileExpr, EXPRESSION_HELPERS, type ExprContext, tsType } from './expressions.ts'
import { fieldsRead } from './fields-read.ts'
import { indentCode } from './indent.ts'
import { joinFunctions } from './join.ts'
import { SCANNER_HELPERS } from './json-scanner.ts'
import { lookupFunction, tableKeyFunction } from './lookup.ts'
import { propertyAccess, propertyKey } from './property.ts'
import { SOURCE_RECORD, stepsReadRecordMetadata } from './record-metadata.ts'
import { sinkHeadersFunction } from './sink-headers.ts'
import { siteMarker } from './site-marker.ts'
import { aggregateCode, dedupCode, EVENT_TIME, STATEFUL_HELPERS } from './stateful.ts'
import { recordTypeAliases } from './type-aliases.ts'
import { WINDOW_HELPERS, windowFunctions } from './window.ts'

export interface GeneratedModule {
  /** TypeScript source of the module. */
  readonly typescript: string
  /** Spans that evaluation errors and source-map markers refer to, by site index. */
  readonly sites: readonly Span[]
}

/** What a generated module needs to know about a stdlib function. */
export interface StdlibInfo {
  readonly nullPropagating: boolean
  /** It can throw an EvaluationError (a negative `sqrt`, `to_i64` of NaN): its calls set the site. */
  readonly mayFail?: boolean
  /** Its impl takes a generated codec after the call's arguments (stdlib/json-functions.ts). */
  readonly codec?: 'decode-result' | 'encode-argument'
}

export const GENERATED_FILE = 'operators.generated.ts'

export function generateModule(
  pipeline: Pipeline,
  stdlib: Readonly<Record<string, StdlibInfo>>,
  compilerVersion: string,
): GeneratedModule {
  const sites: Span[] = []
  const siteIndex = new Map<string, number>()
  const site = (span: Span): number => {
    const id = `${span.file}:${span.start}:${span.end}`
    let index = siteIndex.get(id)
    if (index === undefined) {
      index = sites.length
      sites.push(span)
      siteIndex.set(id, index)
    }
    return index
  }

  // Every record type has a name: a schema its interface, any other record a type alias (emitted
  // last), so that no type is spelled out where it is used (issue 17, defect 1).
  const types = new TypeTable()
  for (const schema of Object.values(pipeline.schemas)) types.nameOf(schema)
  const typeName = (type: Type): string | undefined =>
    type.kind === 'record' ? types.nameOf(type) : undefined

  const usedFunctions = new Map<string, string>()
  const fnRef = (name: string) => {
    const info = stdlib[name]
    if (!info)
      throw new Error(`codegen: unknown stdlib function ${name} (the checker should have rejected it)`)
    let ref = usedFunctions.get(name)
    if (!ref) {
      ref = `fn_${name}`
      usedFunctions.set(name, ref)
    }
    // parse_json gets the generated decoder of its result type, to_json the encoder of its
    // argument's: JSON in a string decodes and encodes exactly as an event does, and a value it
    // cannot write is named by its path, as a sink names it (issue 17).
    const codec =
      info.codec === 'decode-result'
        ? (call: Extract<Expr, { kind: 'Call' }>) => codecs.decoder(call.type)
        : info.codec === 'encode-argument'
          ? (call: Extract<Expr, { kind: 'Call' }>) => codecs.sinkEncoder(call.args[0]!.type)
          : undefined
    return { ref, nullPropagating: info.nullPropagating, mayFail: info.mayFail === true, codec }
  }

  // Constants of the module (ExprContext.constant), one per distinct code, in first-use order.
  const constants = new Map<string, string>()
  const constant = (code: string): string => {
    let name = constants.get(code)
    if (name === undefined) {
      name = `k${constants.size}`
      constants.set(code, name)
    }
    return name
  }

  const codecs = new CodecWriter(typeName, (type) => types.keyOf(type))
  const chains = pipeline.nodes.filter((n): n is FusedNode => n.kind === 'Fused')
  const sources = pipeline.nodes.filter((n): n is SourceNode => n.kind === 'Source')
  const sinks = pipeline.nodes.filter((n): n is SinkNode => n.kind === 'Sink')

  const chainCode = chains.map((chain, i) =>
    chainFunction(`chain${i}`, chain, {
      site,
      fnRef,
      typeName,
      constant,
      mayFail: (fn) => stdlib[fn]?.mayFail === true,
    }),
  )
  const windows = pipeline.nodes.filter((n): n is WindowAggregateNode => n.kind === 'WindowAggregate')
  const windowEntries = windows.map(
    (node) => `${JSON.stringify(node.id)}: ${windowFunctions(node, { site, fnRef, typeName, constant })}`,
  )
  const joins = pipeline.nodes.filter((n): n is JoinNode => n.kind === 'Join')
  const joinEntries = joins.map(
    (node) =>
      `${JSON.stringify(node.id)}: ${joinFunctions(node, { site, fnRef, keyToString, typeName, constant })}`,
  )
  const matches = pipeline.nodes.filter((n): n is MatchNode => n.kind === 'Match')
  const matchEntries = matches.map(
    (node) =>
      `${JSON.stringify(node.id)}: ${cepFunctions(node, { site, fnRef, keyToString, typeName, constant })}`,
  )
  // The canonical-bytes checks of sources that flow into a sink unchanged (canonical-json.ts).
  const passThroughCode: string[] = []
  const sourceEntries = sources.map((source) => {
    const read = fieldsRead(pipeline, source)
    const reader = codecs.reader(source.schema, read)
    // The reader is the success path; a value it rejects goes to the explaining decoder, which
    // throws the DecodeFailure naming the field (it returns the full row if they ever disagree).
    const explain = codecs.decoder(source.schema)
    const eventTime =
      source.eventTimeField === null
        ? 'null'
        : `(row: ${tsType(source.schema, typeName)}) => ${propertyAccess('row', source.eventTimeField)}`
    const decodeJson = codecs.jsonDecoder(source.schema, read)
    const passThrough = passThroughCheck(pipeline, source, passThroughCode)
    return `${JSON.stringify(source.name)}: { decode: (value: unknown) => ${reader}(value) ?? ${explain}(value, ''), decodeJson: ${decodeJson}, eventTime: ${eventTime}${passThrough} }`
  })
  const sinkHeadersCode = sinks.map((sink, i) =>
    sinkHeadersFunction(`sinkHeaders${i}`, sink, { site, fnRef, typeName, keyToString, constant }),
  )
  const sinkEntries = sinks.map(
    (sink, i) =>
      `${JSON.stringify(sink.id)}: { encode: ${codecs.sinkEncoder(sink.schema)} as (value: never) => string${sinkHeadersCode[i] === null ? '' : `, headers: sinkHeaders${i} as (value: never, record: SourceRecord) => Record<string, string>`} }`,
  )
  const chainEntries = chains.map((chain, i) => `${JSON.stringify(chain.id)}: chain${i}`)
  const lookupContext = { site, fnRef, typeName, keyToString, constant }
  const tables = Object.values(pipeline.tables ?? {})
  const tableCode = tables.map((table, i) => tableKeyFunction(`tableKey${i}`, table, lookupContext))
  const tableEntries = tables.map(
    (table, i) =>
      `${JSON.stringify(table.name)}: { decode: (value: unknown) => ${codecs.reader(table.schema, null)}(value) ?? ${codecs.decoder(table.schema)}(value, ''), decodeJson: ${codecs.jsonDecoder(table.schema, null)}, key: tableKey${i} as (row: never) => string | null, time: ${table.eventTimeField === null ? 'null' : `(row: { ${propertyKey(table.eventTimeField)}: number }) => ${propertyAccess('row', table.eventTimeField)}`} }`,
  )
  const lookups = pipeline.nodes.filter((n): n is LookupNode => n.kind === 'Lookup')
  const lookupCode = lookups.map((node, i) => {
    const input = pipeline.nodes.find((n) => n.id === node.input)
    const table = pipeline.tables?.[node.table]
    if (!input || !table) throw new Error(`codegen: lookup ${node.id} reads a missing input or table`)
    return lookupFunction(`lookup${i}`, node, input.schema, table, lookupContext)
  })
  const lookupEntries = lookups.map((node, i) => `${JSON.stringify(node.id)}: lookup${i}`)

  const body: string[] = [
    'const EvaluationError = runtime.EvaluationError',
    `const parseTimestamp = runtime.stdlib['parse_ts']!.impl as (text: string) => number | null`,
    ...[...usedFunctions].map(
      ([name, ref]) =>
        `const ${ref} = runtime.stdlib[${JSON.stringify(name)}]!.impl as (...args: any[]) => any`,
    ),
    ...[...constants].map(([code, name]) => `const ${name} = ${code}`),
    EXPRESSION_HELPERS,
    CODEC_HELPERS,
    SCANNER_HELPERS,
    ...(chains.some((chain) => (chain.state?.length ?? 0) > 0) ? [STATEFUL_HELPERS] : []),
    ...(windows.length > 0 ? [WINDOW_HELPERS] : []),
    ...(matches.length > 0 ? [CEP_HELPERS] : []),
    ...(passThroughCode.length > 0 ? [CANONICAL_HELPERS, ...passThroughCode] : []),
    codecs.code(),
    ...chainCode,
    ...tableCode,
    ...lookupCode,
    ...sinkHeadersCode.filter((code) => code !== null),
    'return {',
    `  chains: { ${chainEntries.join(', ')} },`,
    `  sources: { ${sourceEntries.join(',\n    ')} },`,
    `  sinks: { ${sinkEntries.join(',\n    ')} },`,
    `  windows: { ${windowEntries.join(',\n    ')} },`,
    `  joins: { ${joinEntries.join(',\n    ')} },`,
    `  matches: { ${matchEntries.join(',\n    ')} },`,
    `  tables: { ${tableEntries.join(',\n    ')} },`,
    `  lookups: { ${lookupEntries.join(',\n    ')} },`,
    '  isDecodeFailure: (error: unknown): boolean => error instanceof DecodeFailure,',
    '}',
  ]
  // Plain text, indented by its brackets: ts-morph's structures and formatter gave the same text
  // at the cost of a TypeScript language service, most of what `sluice compile` took.
  const schemaInterfaces = Object.entries(pipeline.schemas).map(
    ([name, schema]) =>
      `export interface ${name} {\n${schema.fields.map((f) => `${propertyKey(f.name)}: ${tsType(f.type, typeName)};`).join('\n')}\n}`,
  )
  const instantiate = `export function instantiate(runtime: OperatorRuntime) {\n${body.join('\n')}\n}`
  const aliases = recordTypeAliases(types, new Set(Object.keys(pipeline.schemas)))
  const typescript = [
    `// Generated by the Sluice compiler ${compilerVersion} from ${pipeline.file}. Do not edit: recompile instead.`,
    `// Markers ${siteMarker('N')} name site N of the manifest (a location in the .pipe); the source map is built from them.`,
    `export const IR_VERSION = ${pipeline.irVersion};`,
    '',
    MODULE_INTERFACES,
    ...schemaInterfaces.flatMap((text) => [text, '']),
    instantiate,
    ...(aliases.length > 0 ? ['', ...aliases] : []),
  ].join('\n')
  return {
    typescript: `${indentCode(typescript)
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd()}\n`,
    sites,
  }
}

/** The interfaces every generated module declares (runtime/artifact/operators.ts has their twins). */
const MODULE_INTERFACES = `/** A batch of events: parallel arrays, of which the first \`length\` entries are valid. */
export interface EventBatch {
values: unknown[];
keys: (string | null)[];
timestamps: number[];
/** Index of the log record each event came from. */
origins: number[];
length: number;
}

/** The log record an event came from, as the record metadata functions read it: \`records[origins[i]]\`. */
export interface SourceRecord {
readonly key: string | null;
readonly partition: number;
readonly offset: number;
readonly timestamp: number;
readonly headers: Readonly<Record<string, string>>;
}

/** The bytes of a JSON record as the log hands them over (a Node Buffer). */
export interface JsonBytes {
readonly [index: number]: number;
readonly length: number;
toString(encoding: 'latin1' | 'utf8', start: number, end: number): string;
}

export interface ChainError {
/** Index of the failed event in the input batch. */
index: number;
error: unknown;
/** The step that was running (a site index). */
site: number;
}

/** A stateful step's values per key; \`now\` is the event time (runtime/artifact/operators.ts). */
export interface StepState {
/** The newest event time the step has seen. */
clock: number;
/** The source's watermark delay: how far behind the clock an event may arrive. */
readonly latenessMs: number;
get(key: string, now: number): unknown;
/** False when the state is full and refuses a new key: the event then fails. */
set(key: string, value: unknown, now: number): boolean;
/** A running aggregate of numbers: the offset of the key's row in \`rows\` (-1: none yet). */
findRow(key: string, now: number, layout: readonly ('number' | 'pair')[]): number;
/** Sets the key's row to \`rowScratch\`; false when the state refuses a new key, as \`set\`. */
setRow(key: string, now: number): boolean;
readonly rows: Float64Array;
readonly rowScratch: Float64Array;
}

/** The events each step of a \`match\` matched so far (runtime/cep/engine.ts). */
export interface MatchContext {
events(step: number): readonly unknown[];
}

/** A table's rows by key string, as a lookup reads them (runtime/artifact/operators.ts). */
export interface LookupTable {
get(key: string): unknown;
getAsOf(key: string, at: number): unknown;
}

export interface OperatorRuntime {
stdlib: Readonly<Record<string, { readonly impl: (...args: never[]) => unknown; readonly literalArg?: { readonly compile: (literal: string) => unknown } }>>;
EvaluationError: new (message: string, site?: number) => Error;
}
`

interface ChainContext {
  site(span: Span): number
  constant(code: string): string
  fnRef(name: string): { ref: string; nullPropagating: boolean; mayFail: boolean }
  /** Whether a stdlib function may raise an evaluation error (without binding it in the module). */
  mayFail(name: string): boolean
  typeName(type: Type): string | undefined
}

/**
 * One fused chain as a function with a single loop. Sketch of the output for
 * `where amount > 100.0 | select { id, cents: to_i64(amount * 100.0) } | key by id`:
 *
 *   for (let i = 0; i < n; i++) {
 *     try {
 *       const r0 = values[i]; let key = keys[i]
 *       site = 0; if (!(r0.amount > 100)) continue
 *       site = 1
 *       const r1_id = r0.id
 *       const r1_cents = fn_to_i64(r0.amount * 100)
 *       const r1 = { id: r1_id, cents: r1_cents }
 *       site = 2; key = r1.id
 *       outValues[o] = r1; outKeys[o] = key; outTimestamps[o] = timestamps[i]; o++
 *     } catch (error) { errors.push({ index: i, error, site }) }
 *   }
 *
 */
function chainFunction(name: string, chain: FusedNode, context: ChainContext): string {
  const temps: string[] = []
  let row = 'r0'
  /** In a Map step: the variables of its common subexpressions. */
  let shared: ExprContext['shared']
  const readsRecord = stepsReadRecordMetadata(chain.steps)
  const ctx = (): ExprContext => ({
    row,
    ...(readsRecord ? { record: SOURCE_RECORD } : {}),
    ...(shared === undefined ? {} : { shared }),
    temp: (type) => {
      const t = `t${temps.length}`
      temps.push(`${t}: ${type} = null`)
      return t
    },
    site: (span) => context.site(span),
    fn: (fnName) => context.fnRef(fnName),
    typeName: context.typeName,
    constant: (code) => context.constant(code),
  })

  const slots = chain.state ?? []
  /** A stateful step's state is `states[n]`, n its slot's index in the chain's `state`. */
  const statefulContext = (step: number, state: StateSlot, stepSite: number) => {
    const slot = slots.findIndex((s) => s.id === state.id)
    if (slot < 0) throw new Error(`codegen: chain ${chain.id} lists no state slot ${state.id}`)
    return { expr: ctx, step, slot, site: stepSite, typeName: context.typeName }
  }
  const steps: string[] = []
  /** What closes the loops over exploded items opened so far, innermost last. */
  const closers: string[] = []
  const explodes = chain.steps.some((step) => step.kind === 'Explode')
  chain.steps.forEach((step, i) => {
    const stepSite = context.site(step.span)
    const lines: string[] = [siteMarker(stepSite)]
    const siteLine = `site = ${stepSite}`
    switch (step.kind) {
      case 'Filter': {
        const predicate = compileExpr(step.predicate, ctx())
        const test = isOptional(step.predicate.type) ? `${predicate} !== true` : `!${predicate}`
        lines.push(siteLine, `if (${test}) continue`)
        break
      }
      case 'Map': {
        // One statement per output field, each under the marker of its field, so the code and the
        // source map read at field level; the fields are evaluated in order, as the object literal
        // they are then put together in did.
        const next = `r${i + 1}`
        lines.push(siteLine)
        // Repeated expressions that cannot fail are computed once, before the first field using them.
        const common = sharedSubexpressions(
          step.fields.map((f) => f.value),
          (fn) => context.mayFail(fn),
        )
        const computed = new Map<string, string>()
        shared = (expr) => {
          const key = common.keyOf(expr)
          return key === undefined ? undefined : computed.get(key)
        }
        const values = step.fields.map((f, k) => {
          lines.push(siteMarker(context.site(f.span)))
          common.order.forEach((entry, s) => {
            if (entry.field !== k) return
            const name = `${next}_c${s}`
            lines.push(`const ${name} = ${compileExpr(entry.expr, ctx())}`)
            computed.set(entry.key, name)
          })
          const variable = `${next}_${IDENTIFIER.test(f.name) ? f.name : k}`
          lines.push(`const ${variable} = ${compileExpr(f.value, ctx())}`)
          return `${propertyKey(f.name)}: ${variable}`
        })
        shared = undefined
        lines.push(
          siteMarker(stepSite),
          `const ${next}: ${tsType(step.schema, context.typeName)} = { ${values.join(', ')} }`,
        )
        row = next
        break
      }
      case 'KeyBy':
        lines.push(siteLine, `key = ${keyToString(step.key, compileExpr(step.key, ctx()), ctx())}`)
        break
      case 'Explode': {
        // The steps after it run once per item, in a loop of their own: their `continue` skips
        // to the next item, and an item that fails is reported alone (the input's index, so its
        // record is dead-lettered) while the other items go on. Each item starts from the
        // input's key.
        const list = compileExpr(step.list, ctx())
        const next = `r${i + 1}`
        const [items, count, outerKey, j] = [`l${i}`, `n${i}`, `k${i}`, `j${i}`]
        const copied = step.schema.fields
          .slice(0, -1)
          .map((f) => `${propertyKey(f.name)}: ${propertyAccess(row, f.name)}`)
        const item = step.outer ? `(${count} === 0 ? null : ${items}![${j}]!)` : `${items}![${j}]!`
        lines.push(
          siteLine,
          `const ${items} = ${list}`,
          `const ${count} = ${items} === null ? 0 : ${items}.length`,
          `const ${outerKey} = key`,
          `for (let ${j} = 0; ${j} < ${step.outer ? `Math.max(${count}, 1)` : count}; ${j}++) {`,
          'try {',
          `let key = ${outerKey}`,
          `const ${next}: ${tsType(step.schema, context.typeName)} = { ${[...copied, `${propertyKey(step.alias)}: ${item}`].join(', ')} }`,
        )
        closers.push('} catch (error) {\ntouched = i\nerrors.push({ index: i, error, site })\n}\n}')
        row = next
        break
      }
      case 'Dedup':
        lines.push(siteLine, ...dedupCode(step, statefulContext(i, step.state, stepSite)))
        break
      case 'Aggregate': {
        const next = `r${i + 1}`
        lines.push(siteLine, ...aggregateCode(step, statefulContext(i, step.state, stepSite), next))
        row = next
        break
      }
    }
    steps.push(lines.join('\n'))
  })

  const body = steps.join('\n')
  const inputType = tsType(chain.inputSchema, context.typeName)
  // A chain returns how many inputs it dropped (no output, no error); with an explode, an input
  // may have several outputs, so each input that emits or fails marks itself `touched`.
  const emit = `outValues[o] = ${row}; outKeys[o] = key; outTimestamps[o] = timestamps[i]!; outOrigins[o] = origins[i]!; o++${explodes ? '; touched = i' : ''}\n${closers.reverse().join('\n')}`
  // Every chain catches per event, also errors no step should raise: one event that breaks an
  // assumption is dead-lettered instead of failing its whole batch again on every restart. The
  // benchmark measured the try block as free (its cost is within noise).
  const stateful = slots.length > 0 ? `const ${EVENT_TIME} = timestamps[i]!\n` : ''
  // Only a chain that reads record metadata looks its event's source record up.
  const record = readsRecord ? `const ${SOURCE_RECORD} = records![origins[i]!]!\n` : ''
  const loopBody = `try {\nconst r0 = values[i]!\nlet key = keys[i]!\n${stateful}${record}${body}\n${emit}\n} catch (error) {\n${explodes ? 'touched = i\n' : ''}errors.push({ index: i, error, site })\n}`
  return [
    `function ${name}(input: EventBatch, output: EventBatch, errors: ChainError[], states: readonly StepState[], records?: readonly SourceRecord[]): number {`,
    `const values = input.values as ${inputType}[], keys = input.keys, timestamps = input.timestamps, origins = input.origins, n = input.length`,
    'const outValues = output.values, outKeys = output.keys, outTimestamps = output.timestamps, outOrigins = output.origins',
    'const errorsBefore = errors.length',
    'let o = 0',
    'let site = -1',
    ...(explodes ? ['let touched = -1, dropped = 0'] : []),
    ...(temps.length > 0 ? [`let ${temps.join(', ')}`] : []),
    explodes
      ? `for (let i = 0; i < n; dropped += touched === i ? 0 : 1, i++) {\n${loopBody}\n}`
      : `for (let i = 0; i < n; i++) {\n${loopBody}\n}`,
    'output.length = o',
    siteMarker('end'),
    explodes ? 'return dropped' : 'return n - o - (errors.length - errorsBefore)',
    '}',
  ]
    .join('\n')
    .replace(/\n{2,}/g, '\n')
}

/** A field name that can be part of a JavaScript variable name as it is. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The event key is a string (or null): numbers in decimal, booleans as words, timestamps ISO-8601. */
function keyToString(expr: Expr, code: string, ctx: ExprContext): string {
  const type = unwrapOptional(expr.type)
  const convert = (v: string): string => {
    switch (type.kind) {
      case 'string':
        return v
      case 'timestamp':
        return `timestampKey(${v}, ${ctx.site(expr.span)})`
      case 'bool':
        return `(${v} ? 'true' : 'false')`
      default:
        return `String(${v})`
    }
  }
  if (!isOptional(expr.type)) return convert(code)
  const t = ctx.temp(tsType(expr.type, ctx.typeName))
  return `((${t} = ${code}) === null ? null : ${convert(`(${t} as ${tsType(type, ctx.typeName)})`)})`
}
