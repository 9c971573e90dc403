/**
 * Code generation: an optimised Pipeline → one TypeScript module (`operators.generated.ts`),
 * built with ts-morph structures (declarations) and writers (bodies).
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
 * Every step is preceded by a `/*@pipe:N*\/` marker naming a site (a span of the `.pipe`); the
 * artifact packager turns the markers into a source map, and evaluation errors carry the site
 * of the step or expression that failed so the dead-letter reason names file:line:col.
 */
import { type FunctionDeclarationStructure, Project, StructureKind, VariableDeclarationKind } from 'ts-morph'
import { isOptional, unwrapOptional } from '../ir/expr.ts'
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
import { CEP_HELPERS, cepFunctions } from './cep.ts'
import { CODEC_HELPERS, CodecWriter } from './codecs.ts'
import { compileExpr, EXPRESSION_HELPERS, type ExprContext, tsType } from './expressions.ts'
import { fieldsRead } from './fields-read.ts'
import { joinFunctions } from './join.ts'
import { SCANNER_HELPERS } from './json-scanner.ts'
import { lookupFunction, tableKeyFunction } from './lookup.ts'
import { propertyAccess, propertyKey } from './property.ts'
import { SOURCE_RECORD, stepsReadRecordMetadata } from './record-metadata.ts'
import { sinkHeadersFunction } from './sink-headers.ts'
import { aggregateCode, dedupCode, EVENT_TIME, STATEFUL_HELPERS } from './stateful.ts'
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

  const schemaNames = new Map<string, string>()
  for (const [name, schema] of Object.entries(pipeline.schemas)) schemaNames.set(JSON.stringify(schema), name)
  const typeName = (type: Type): string | undefined =>
    type.kind === 'record' ? schemaNames.get(JSON.stringify(type)) : undefined

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
    // argument's: JSON in a string decodes and encodes exactly as an event does.
    const codec =
      info.codec === 'decode-result'
        ? (call: Extract<Expr, { kind: 'Call' }>) => codecs.decoder(call.type)
        : info.codec === 'encode-argument'
          ? (call: Extract<Expr, { kind: 'Call' }>) => codecs.encoder(call.args[0]!.type)
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

  const codecs = new CodecWriter(typeName)
  const chains = pipeline.nodes.filter((n): n is FusedNode => n.kind === 'Fused')
  const sources = pipeline.nodes.filter((n): n is SourceNode => n.kind === 'Source')
  const sinks = pipeline.nodes.filter((n): n is SinkNode => n.kind === 'Sink')

  const chainCode = chains.map((chain, i) =>
    chainFunction(`chain${i}`, chain, { site, fnRef, typeName, constant }),
  )
  const windows = pipeline.nodes.filter((n): n is WindowAggregateNode => n.kind === 'WindowAggregate')
  const windowEntries = windows.map(
    (node) => `${JSON.stringify(node.id)}: ${windowFunctions(node, { site, fnRef, typeName, constant })}`,
  )
  const joins = pipeline.nodes.filter((n): n is JoinNode => n.kind === 'Join')
  const joinEntries = joins.map(
    (node) => `${JSON.stringify(node.id)}: ${joinFunctions(node, { site, fnRef, keyToString, constant })}`,
  )
  const matches = pipeline.nodes.filter((n): n is MatchNode => n.kind === 'Match')
  const matchEntries = matches.map(
    (node) => `${JSON.stringify(node.id)}: ${cepFunctions(node, { site, fnRef, keyToString, constant })}`,
  )
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
    return `${JSON.stringify(source.name)}: { decode: (value: unknown) => ${reader}(value) ?? ${explain}(value, ''), decodeJson: ${decodeJson}, eventTime: ${eventTime} }`
  })
  const sinkHeadersCode = sinks.map((sink, i) =>
    sinkHeadersFunction(`sinkHeaders${i}`, sink, { site, fnRef, typeName, keyToString, constant }),
  )
  const sinkEntries = sinks.map(
    (sink, i) =>
      `${JSON.stringify(sink.id)}: { encode: ${codecs.encoder(sink.schema)} as (value: never) => string${sinkHeadersCode[i] === null ? '' : `, headers: sinkHeaders${i} as (value: never, record: SourceRecord) => Record<string, string>`} }`,
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

  const project = new Project({ useInMemoryFileSystem: true })
  const file = project.createSourceFile(GENERATED_FILE, '', { overwrite: true })
  file.addStatements([
    `// Generated by the Sluice compiler ${compilerVersion} from ${pipeline.file}. Do not edit: recompile instead.`,
    '// Markers /*@pipe:N*/ name site N of the manifest (a location in the .pipe); the source map is built from them.',
  ])
  file.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: 'IR_VERSION', initializer: String(pipeline.irVersion) }],
  })
  file.addInterfaces([
    {
      name: 'EventBatch',
      isExported: true,
      docs: ['A batch of events: parallel arrays, of which the first `length` entries are valid.'],
      properties: [
        { name: 'values', type: 'unknown[]' },
        { name: 'keys', type: '(string | null)[]' },
        { name: 'timestamps', type: 'number[]' },
        { name: 'origins', type: 'number[]', docs: ['Index of the log record each event came from.'] },
        { name: 'length', type: 'number' },
      ],
    },
    {
      name: 'SourceRecord',
      isExported: true,
      docs: [
        'The log record an event came from, as the record metadata functions read it: `records[origins[i]]`.',
      ],
      properties: [
        { name: 'key', type: 'string | null', isReadonly: true },
        { name: 'partition', type: 'number', isReadonly: true },
        { name: 'offset', type: 'number', isReadonly: true },
        { name: 'timestamp', type: 'number', isReadonly: true },
        { name: 'headers', type: 'Readonly<Record<string, string>>', isReadonly: true },
      ],
    },
    {
      name: 'JsonBytes',
      isExported: true,
      docs: ['The bytes of a JSON record as the log hands them over (a Node Buffer).'],
      properties: [{ name: 'length', type: 'number', isReadonly: true }],
      indexSignatures: [{ keyName: 'index', keyType: 'number', returnType: 'number', isReadonly: true }],
      methods: [
        {
          name: 'toString',
          parameters: [
            { name: 'encoding', type: "'latin1' | 'utf8'" },
            { name: 'start', type: 'number' },
            { name: 'end', type: 'number' },
          ],
          returnType: 'string',
        },
      ],
    },
    {
      name: 'ChainError',
      isExported: true,
      properties: [
        { name: 'index', type: 'number', docs: ['Index of the failed event in the input batch.'] },
        { name: 'error', type: 'unknown' },
        { name: 'site', type: 'number', docs: ['The step that was running (a site index).'] },
      ],
    },
    {
      name: 'StepState',
      isExported: true,
      docs: ["A stateful step's values per key; `now` is the event time (runtime/artifact/operators.ts)."],
      properties: [
        { name: 'clock', type: 'number', docs: ['The newest event time the step has seen.'] },
        {
          name: 'latenessMs',
          type: 'number',
          isReadonly: true,
          docs: ["The source's watermark delay: how far behind the clock an event may arrive."],
        },
      ],
      methods: [
        {
          name: 'get',
          parameters: [
            { name: 'key', type: 'string' },
            { name: 'now', type: 'number' },
          ],
          returnType: 'unknown',
        },
        {
          name: 'set',
          docs: ['False when the state is full and refuses a new key: the event then fails.'],
          parameters: [
            { name: 'key', type: 'string' },
            { name: 'value', type: 'unknown' },
            { name: 'now', type: 'number' },
          ],
          returnType: 'boolean',
        },
      ],
    },
    {
      name: 'MatchContext',
      isExported: true,
      docs: ['The events each step of a `match` matched so far (runtime/cep/engine.ts).'],
      methods: [
        { name: 'events', parameters: [{ name: 'step', type: 'number' }], returnType: 'readonly unknown[]' },
      ],
    },
    {
      name: 'LookupTable',
      isExported: true,
      docs: ["A table's rows by key string, as a lookup reads them (runtime/artifact/operators.ts)."],
      methods: [
        { name: 'get', parameters: [{ name: 'key', type: 'string' }], returnType: 'unknown' },
        {
          name: 'getAsOf',
          parameters: [
            { name: 'key', type: 'string' },
            { name: 'at', type: 'number' },
          ],
          returnType: 'unknown',
        },
      ],
    },
    {
      name: 'OperatorRuntime',
      isExported: true,
      properties: [
        {
          name: 'stdlib',
          type: 'Readonly<Record<string, { readonly impl: (...args: never[]) => unknown; readonly literalArg?: { readonly compile: (literal: string) => unknown } }>>',
        },
        { name: 'EvaluationError', type: 'new (message: string, site?: number) => Error' },
      ],
    },
    ...Object.entries(pipeline.schemas).map(([name, schema]) => ({
      name,
      isExported: true,
      properties: schema.fields.map((f) => ({ name: propertyKey(f.name), type: tsType(f.type, typeName) })),
    })),
  ])
  const instantiate: FunctionDeclarationStructure = {
    kind: StructureKind.Function,
    name: 'instantiate',
    isExported: true,
    parameters: [{ name: 'runtime', type: 'OperatorRuntime' }],
    statements: (writer) => {
      writer.writeLine('const EvaluationError = runtime.EvaluationError')
      writer.writeLine(
        `const parseTimestamp = runtime.stdlib['parse_ts']!.impl as (text: string) => number | null`,
      )
      for (const [name, ref] of usedFunctions) {
        writer.writeLine(
          `const ${ref} = runtime.stdlib[${JSON.stringify(name)}]!.impl as (...args: any[]) => any`,
        )
      }
      for (const [code, name] of constants) writer.writeLine(`const ${name} = ${code}`)
      writer.write(EXPRESSION_HELPERS).newLine()
      writer.write(CODEC_HELPERS).newLine()
      writer.write(SCANNER_HELPERS).newLine()
      if (chains.some((chain) => (chain.state?.length ?? 0) > 0)) writer.write(STATEFUL_HELPERS).newLine()
      if (windows.length > 0) writer.write(WINDOW_HELPERS).newLine()
      if (matches.length > 0) writer.write(CEP_HELPERS).newLine()
      writer.write(codecs.code()).newLine()
      for (const code of chainCode) writer.write(code).newLine()
      for (const code of [...tableCode, ...lookupCode]) writer.write(code).newLine()
      for (const code of sinkHeadersCode) if (code !== null) writer.write(code).newLine()
      writer.writeLine('return {')
      writer.writeLine(`  chains: { ${chainEntries.join(', ')} },`)
      writer.writeLine(`  sources: { ${sourceEntries.join(',\n    ')} },`)
      writer.writeLine(`  sinks: { ${sinkEntries.join(',\n    ')} },`)
      writer.writeLine(`  windows: { ${windowEntries.join(',\n    ')} },`)
      writer.writeLine(`  joins: { ${joinEntries.join(',\n    ')} },`)
      writer.writeLine(`  matches: { ${matchEntries.join(',\n    ')} },`)
      writer.writeLine(`  tables: { ${tableEntries.join(',\n    ')} },`)
      writer.writeLine(`  lookups: { ${lookupEntries.join(',\n    ')} },`)
      writer.writeLine('  isDecodeFailure: (error: unknown): boolean => error instanceof DecodeFailure,')
      writer.writeLine('}')
    },
  }
  file.addFunction(instantiate)
  file.formatText({ indentSize: 2, convertTabsToSpaces: true })
  return { typescript: file.getFullText(), sites }
}

interface ChainContext {
  site(span: Span): number
  constant(code: string): string
  fnRef(name: string): { ref: string; nullPropagating: boolean; mayFail: boolean }
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
 *       site = 1; const r1 = { id: r0.id, cents: fn_to_i64(r0.amount * 100) }
 *       site = 2; key = r1.id
 *       outValues[o] = r1; outKeys[o] = key; outTimestamps[o] = timestamps[i]; o++
 *     } catch (error) { errors.push({ index: i, error, site }) }
 *   }
 *
 */
function chainFunction(name: string, chain: FusedNode, context: ChainContext): string {
  const temps: string[] = []
  let row = 'r0'
  const readsRecord = stepsReadRecordMetadata(chain.steps)
  const ctx = (): ExprContext => ({
    row,
    ...(readsRecord ? { record: SOURCE_RECORD } : {}),
    temp: (type) => {
      const t = `t${temps.length}`
      temps.push(`${t}: ${type} = null`)
      return t
    },
    site: (span) => context.site(span),
    fn: (fnName) => context.fnRef(fnName),
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
    const lines: string[] = [`/*@pipe:${stepSite}*/`]
    const siteLine = `site = ${stepSite}`
    switch (step.kind) {
      case 'Filter': {
        const predicate = compileExpr(step.predicate, ctx())
        const test = isOptional(step.predicate.type) ? `${predicate} !== true` : `!${predicate}`
        lines.push(siteLine, `if (${test}) continue`)
        break
      }
      case 'Map': {
        const fields = step.fields.map((f) => `${propertyKey(f.name)}: ${compileExpr(f.value, ctx())}`)
        const next = `r${i + 1}`
        lines.push(
          siteLine,
          `const ${next}: ${tsType(step.schema, context.typeName)} = { ${fields.join(', ')} }`,
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
        const copied = step.schema.fields.slice(0, -1).map((f) => `${f.name}: ${row}.${f.name}`)
        const item = step.outer ? `(${count} === 0 ? null : ${items}![${j}]!)` : `${items}![${j}]!`
        lines.push(
          siteLine,
          `const ${items} = ${list}`,
          `const ${count} = ${items} === null ? 0 : ${items}.length`,
          `const ${outerKey} = key`,
          `for (let ${j} = 0; ${j} < ${step.outer ? `Math.max(${count}, 1)` : count}; ${j}++) {`,
          'try {',
          `let key = ${outerKey}`,
          `const ${next}: ${tsType(step.schema, context.typeName)} = { ${[...copied, `${step.alias}: ${item}`].join(', ')} }`,
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
    `/*@pipe:end*/`,
    explodes ? 'return dropped' : 'return n - o - (errors.length - errorsBefore)',
    '}',
  ]
    .join('\n')
    .replace(/\n{2,}/g, '\n')
}

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
  const t = ctx.temp(tsType(expr.type))
  return `((${t} = ${code}) === null ? null : ${convert(`(${t} as ${tsType(type)})`)})`
}
