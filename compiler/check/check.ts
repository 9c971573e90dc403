/**
 * Name resolution, type checking and lowering of a parsed `.pipe` file to the IR.
 *
 * Before: a `PipeFile` (compiler/parse/ast.ts) with names as written.
 * After: a `Pipeline` (compiler/ir/types.ts) of Source → Filter/Map/KeyBy/Dedup/Aggregate → Sink
 * nodes in topological order, every expression typed, or null when any error was found. The
 * stateful steps are checked in stateful-steps.ts, windows in window-steps.ts, and the join a
 * stream may start with (a Join node of two inputs) in join-steps.ts.
 *
 * The checker goes on after an error: a failed expression gets `ERROR_TYPE`, which every rule
 * accepts silently, and names of statements the parser had to drop (`incomplete`) resolve to it
 * too, so each mistake is reported once, where it was made.
 */
import { stdlib } from '../../stdlib/index.ts'
import { isRecordMetadataFunction } from '../../stdlib/record-metadata.ts'
import type { ArgInfo } from '../../stdlib/types.ts'
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import {
  createDiagnostic,
  type Diagnostic,
  hasErrors,
  type RelatedInformation,
} from '../diagnostics/diagnostic.ts'
import type {
  Connector,
  Expr,
  FieldType,
  JoinNode,
  ListFunction,
  MapNode,
  Node,
  Pipeline,
  RecordType,
  SourceNode,
  Span,
  TableDecl,
  Type,
  UdfDecl,
} from '../ir/types.ts'
import type {
  ConnectorExpr,
  Expression,
  FieldDecl,
  FieldInit,
  Identifier,
  JoinClause,
  PipeFile,
  SchemaDecl,
  SinkDecl,
  SourceDecl,
  Step,
  StreamDecl,
  TableDecl as TableAst,
  TypeExpr,
} from '../parse/ast.ts'
import { DURATION_UNIT_MS } from '../parse/lexer.ts'
import { LONG_LOGICAL_CHAIN } from '../parse/parser.ts'
import { type UnionReader, unionRefusal } from './after-union.ts'
import { type ChainContext, checkArithmeticChain, checkCoalesceChain } from './chains.ts'
import { checkExplode } from './explode-step.ts'
import {
  checkSharedSourceOverJoin,
  timedInputAt,
  UNBOUNDED_MATCH,
  UNBOUNDED_MATCH_FIX,
} from './join-over-results.ts'
import { checkJoin, type JoinInput, lateRecordOf } from './join-steps.ts'
import { checkListLambda, isLambdaFunction, misplacedLambdaMessage } from './list-lambdas.ts'
import { checkLookup, checkTable, type TableEntry } from './lookup-steps.ts'
import { checkMapLiteral } from './map-literals.ts'
import { checkMapIndex, type Reporter, resolveMapType } from './maps.ts'
import { checkMatch, type StepScope } from './match-steps.ts'
import { checkOperatorWord, warnBacktracking } from './operator-words.ts'
import { MAX_RECORD_DEPTH } from './record-depth-limit.ts'
import { expandSelectItems } from './select-all.ts'
import { checkSinkHeaders } from './sink-headers.ts'
import { checkAggregate, checkDedup, type StepContext } from './stateful-steps.ts'
import { firstTooDeepNode, MAX_STREAM_RECORD_DEPTH } from './stream-record-depth.ts'
import { didYouMean } from './suggest.ts'
import {
  arithmeticResult,
  BOOL,
  baseType,
  comparable,
  containsBareNull,
  describeRecord,
  ERROR_TYPE,
  isError,
  isKeyType,
  isNullable,
  listOf,
  NULL,
  optional,
  scalar,
  show,
  unify,
  withNullability,
} from './types.ts'
import { checkUdfCall, checkUdfImports } from './udf-calls.ts'
import { checkUnion, oneSourceOfUnion, type UnionInput } from './union-head.ts'
import { checkWindowAggregate } from './window-steps.ts'

export interface CheckResult {
  /** Null when there is any error (including errors in `priorDiagnostics`). */
  readonly pipeline: Pipeline | null
  readonly diagnostics: readonly Diagnostic[]
}

const SCALAR_TYPE_NAMES = ['string', 'bool', 'i64', 'f64', 'timestamp'] as const
const EVENT_TIME = 'event_time'
const CONNECTORS = ['kafka', 'stdout'] as const
const RESERVED_FIELD_NAME = '__proto__'
/** Names a schema cannot take: the scalar types, and the type constructors and `duration`. */
const BUILT_IN_TYPE_NAMES: ReadonlySet<string> = new Set([...SCALAR_TYPE_NAMES, 'list', 'duration'])
/** What users of other languages write for Sluice's types. */
const TYPE_NAME_HINTS: Readonly<Record<string, string>> = {
  int: 'i64',
  integer: 'i64',
  long: 'i64',
  int64: 'i64',
  float: 'f64',
  double: 'f64',
  number: 'f64',
  float64: 'f64',
  boolean: 'bool',
  str: 'string',
  text: 'string',
  datetime: 'timestamp',
  date: 'timestamp',
  instant: 'timestamp',
}
/**
 * The node's default dead-letter topic (runtime/node/pipeline-runner.ts; the compiler does not
 * import the runtime, and compiler/sink-checks.test.ts keeps the two equal).
 */
export const DEFAULT_DEAD_LETTER_TOPIC = 'sluice.dead-letter'

/** Checks and lowers `ast`. `priorDiagnostics` (lexer and parser) only decide whether a pipeline is built. */
export function checkProgram(
  ast: PipeFile,
  file: string,
  incomplete: ReadonlySet<string> = new Set(),
  priorDiagnostics: readonly Diagnostic[] = [],
): CheckResult {
  // Statements the parser dropped may have read a stream, so "never used" would be a guess.
  const checker = new Checker(file, incomplete, !hasErrors(priorDiagnostics))
  const pipeline = checker.run(ast)
  const diagnostics = checker.diagnostics
  return {
    pipeline: hasErrors(diagnostics) || hasErrors(priorDiagnostics) ? null : pipeline,
    diagnostics,
  }
}

interface SchemaEntry {
  readonly decl: SchemaDecl
  state: 'unresolved' | 'resolving' | 'done'
  type: RecordType | null
}

/** A source or stream as later statements see it. */
interface StreamEntry {
  readonly kind: 'source' | 'stream'
  readonly name: Identifier
  readonly schema: Type
  readonly eventTimeField: string | null
  readonly lastId: string
  used: boolean
  /**
   * Why its events are no longer each one record of a source (`after \`aggregate\``), so the
   * record metadata functions cannot read them; absent while they are (record-metadata.ts).
   */
  readonly notOneRecord?: string
}

/** What expressions in one step can see: the fields of the step's input record. */
interface Scope {
  readonly record: Type
  /** Inside a `match` step: the names that read its steps' events (they shadow fields). */
  readonly steps?: StepScope | null
  /** Inside a lambda's body: its parameters, innermost last (they shadow steps and fields). */
  readonly locals?: ReadonlyMap<string, Type>
  /**
   * Whether `record_key()` and the other record metadata functions may be called here: true in
   * the per-event steps of events that are each one source record, else why not.
   */
  readonly recordMetadata?: true | string
}

class Checker {
  readonly diagnostics: Diagnostic[] = []
  private readonly schemas = new Map<string, SchemaEntry>()
  private readonly streams = new Map<string, StreamEntry>()
  /** Every source/stream declaration by name, to tell "declared later" from "unknown". */
  private readonly declared = new Map<string, Identifier>()
  private readonly nodes: Node[] = []
  /** Names some statement tried to read, even where that failed (e.g. read before declared). */
  private readonly referenced = new Set<string>()
  /** Topic → the first source reading it, to catch sinks that feed a pipeline its own output. */
  private readonly sourceTopics = new Map<string, SourceDecl>()
  /** `<stream>\0<topic>` of every sink so far, for W0006. */
  private readonly sinkTargets = new Map<string, SinkDecl>()
  /** Tables by name (lookup-steps.ts); declared anywhere in the file, like schemas. */
  private readonly tables = new Map<string, TableEntry>()
  /** The imported functions by name (udf-calls.ts). */
  private udfs = new Map<string, UdfDecl>()

  constructor(
    private readonly file: string,
    private readonly incomplete: ReadonlySet<string>,
    private readonly warnUnused: boolean,
  ) {}

  /** `report` as a function, for the checks in modules of their own. */
  private reporter(): Reporter {
    return (code, message, span, related) => this.report(code, message, span, related)
  }

  private report(
    code: DiagnosticCode,
    message: string,
    span: Span,
    related?: readonly RelatedInformation[],
  ): void {
    this.diagnostics.push(createDiagnostic(code, message, span, related))
  }

  run(ast: PipeFile): Pipeline {
    for (const statement of ast.statements) {
      if (statement.kind !== 'Schema') continue
      const existing = this.schemas.get(statement.name.name)
      if (existing) {
        this.report(
          'E0205',
          `schema \`${statement.name.name}\` is defined more than once`,
          statement.name.span,
          [{ message: 'first defined here', span: existing.decl.name.span }],
        )
      } else if (BUILT_IN_TYPE_NAMES.has(statement.name.name)) {
        // A field of type `string` would silently mean this record instead of text.
        this.report(
          'E0213',
          `\`${statement.name.name}\` is a built-in type, so a schema cannot have that name; rename the schema`,
          statement.name.span,
        )
      } else {
        this.checkFieldName(statement.name.name, statement.name.span, 'a schema name')
        this.schemas.set(statement.name.name, { decl: statement, state: 'unresolved', type: null })
      }
    }
    // Dependencies first, so resolving a schema never recurses through a chain of schemas (1,500
    // chained schemas overflowed the stack), then the nesting limit on what they resolved to.
    for (const entry of this.schemasInDependencyOrder()) this.resolveSchema(entry)
    this.checkRecordDepths()

    for (const statement of ast.statements) {
      if (statement.kind === 'Source' || statement.kind === 'Stream') {
        if (!this.declared.has(statement.name.name)) this.declared.set(statement.name.name, statement.name)
      }
      if (statement.kind === 'Stream') {
        for (const step of statement.steps) {
          const late = step.kind === 'Aggregate' ? step.window?.lateInto : undefined
          if (late && !this.declared.has(late.name)) this.declared.set(late.name, late)
        }
        const join = statement.join
        const joinLate = join?.within?.lateInto ?? join?.window?.lateInto
        if (joinLate && !this.declared.has(joinLate.name)) this.declared.set(joinLate.name, joinLate)
      }
    }
    this.udfs = checkUdfImports(
      ast.statements.filter((s) => s.kind === 'ImportFunction'),
      {
        resolveType: (type) => this.resolveType(type),
        isBuiltIn: (name) => Object.hasOwn(stdlib, name) || LIST_FUNCTIONS.some((f) => f === name),
        report: (code, message, span, related) => this.report(code, message, span, related),
      },
    )
    for (const statement of ast.statements) if (statement.kind === 'Table') this.checkTableDecl(statement)
    const sinks: SinkDecl[] = []
    for (const statement of ast.statements) {
      if (statement.kind === 'Source') this.checkSource(statement)
      else if (statement.kind === 'Stream') this.checkStream(statement)
      else if (statement.kind === 'Sink') sinks.push(statement)
    }
    sinks.forEach((sink, i) => {
      this.checkSink(sink, i + 1)
    })
    // A schema past its own limit (reported above) makes every stream of it too deep as well.
    const tooDeep = this.diagnostics.some((d) => d.code === 'E0216') ? null : firstTooDeepNode(this.nodes)
    if (tooDeep !== null) {
      this.report(
        'E0216',
        `\`${tooDeep.node.id.split('#')[0]}\` nests records ${tooDeep.depth} levels deep (each select that wraps its input's record in another adds one); a stream's records may nest at most ${MAX_STREAM_RECORD_DEPTH} levels`,
        tooDeep.node.span,
      )
    }
    const sources = ast.statements.filter((s) => s.kind === 'Source').length
    // Only on a file that parsed: a sink with a syntax error is not in the tree, yet it is there.
    if ((sources === 0 || sinks.length === 0) && this.warnUnused) {
      // An artifact without both would compile and then have nothing to run.
      const missing =
        sources === 0 && sinks.length === 0
          ? 'no source and no sink'
          : sources === 0
            ? 'no source'
            : 'no sink'
      this.report(
        'E0214',
        `the file declares ${missing}: a pipeline reads at least one \`source\` and writes at least one \`sink\``,
        { file: ast.span.file, start: ast.span.end, end: ast.span.end },
      )
    }
    for (const entry of this.streams.values()) {
      if (!this.warnUnused || entry.used || this.referenced.has(entry.name.name)) continue
      if (entry.kind === 'stream') {
        this.report(
          'W0001',
          `stream \`${entry.name.name}\` is never used; sink it (\`sink ${entry.name.name} -> stdout\`) or remove it`,
          entry.name.span,
        )
      } else {
        this.report('W0002', `source \`${entry.name.name}\` is never read`, entry.name.span)
      }
    }

    for (const entry of this.tables.values()) {
      if (!this.warnUnused || entry.used) continue
      this.report(
        'W0016',
        `table \`${entry.name.name}\` is never looked up; look rows up with \`| lookup ${entry.name.name} as row on key\` or remove it`,
        entry.name.span,
      )
    }
    const tables: Record<string, TableDecl> = {}
    for (const [name, entry] of this.tables) if (entry.ir) tables[name] = entry.ir

    const schemas: Record<string, RecordType> = {}
    for (const [name, entry] of this.schemas) if (entry.type) schemas[name] = entry.type
    const streams: Record<string, string> = {}
    for (const [name, entry] of this.streams) streams[name] = entry.lastId
    return {
      kind: 'Pipeline',
      irVersion: 0,
      file: this.file,
      schemas,
      streams,
      nodes: this.nodes,
      ...(Object.keys(tables).length > 0 ? { tables } : {}),
      ...(this.udfs.size > 0 ? { udfs: Object.fromEntries(this.udfs) } : {}),
    }
  }

  /** A `table` statement: its name shares the namespace of sources and streams (E0206). */
  private checkTableDecl(decl: TableAst): void {
    const clash = this.tables.get(decl.name.name)?.name ?? this.declared.get(decl.name.name)
    if (clash) {
      this.report(
        'E0206',
        `\`${decl.name.name}\` is already defined; sources, streams and tables share one namespace`,
        decl.name.span,
        [{ message: 'first defined here', span: clash.span }],
      )
      return
    }
    const ir = checkTable(decl, {
      schema: (name) => {
        const entry = this.schemas.get(name.name)
        if (entry?.type) return entry.type
        if (!this.incomplete.has(name.name)) {
          this.report(
            'E0201',
            `unknown schema \`${name.name}\`${didYouMean(name.name, this.schemas.keys())}`,
            name.span,
          )
        }
        return null
      },
      connector: (c) => this.connector(c, 'source'),
      expr: (e, record) => this.expr(e, { record }),
      checkFieldName: (name, span) => this.checkFieldName(name, span, 'a table name'),
      report: (code, message, span, related) => this.report(code, message, span, related),
    })
    this.tables.set(decl.name.name, { name: decl.name, ir, used: false })
  }

  // -------------------------------------------------------------------------------------------
  // Schemas and types

  /** Schemas ordered so each comes after the schemas its fields name (cycles: in any order). */
  private schemasInDependencyOrder(): SchemaEntry[] {
    const order: SchemaEntry[] = []
    const visited = new Set<string>()
    for (const [root] of this.schemas) {
      if (visited.has(root)) continue
      // Iterative depth-first search, children before parents.
      const stack: { name: string; children: string[] | null }[] = [{ name: root, children: null }]
      visited.add(root)
      while (stack.length > 0) {
        const top = stack.at(-1)!
        top.children ??= this.schemaReferences(this.schemas.get(top.name)!.decl.fields)
        const next = top.children.pop()
        if (next === undefined) {
          order.push(this.schemas.get(top.name)!)
          stack.pop()
        } else if (!visited.has(next) && this.schemas.has(next)) {
          visited.add(next)
          stack.push({ name: next, children: null })
        }
      }
    }
    return order
  }

  private schemaReferences(fields: readonly FieldDecl[]): string[] {
    const names: string[] = []
    const pending: TypeExpr[] = fields.map((f) => f.type)
    for (let type = pending.pop(); type !== undefined; type = pending.pop()) {
      if (type.kind === 'NamedType') names.push(type.name.name)
      else if (type.kind === 'RecordType') pending.push(...type.fields.map((f) => f.type))
      else pending.push(type.of)
    }
    return names
  }

  /**
   * Records nested deeper than MAX_RECORD_DEPTH are refused (E0216) at the schema where the limit
   * is crossed: generated decoders and encoders nest as the records do, and no JSON event needs
   * that many levels.
   */
  private checkRecordDepths(): void {
    const depths = new WeakMap<object, number>()
    const depthOf = (type: Type): number => {
      const known = depths.get(type)
      if (known !== undefined) return known
      let depth = 0
      if (type.kind === 'record') depth = 1 + Math.max(0, ...type.fields.map((f) => depthOf(f.type)))
      else if (type.kind === 'list' || type.kind === 'map' || type.kind === 'optional')
        depth = depthOf(type.of)
      depths.set(type, depth)
      return depth
    }
    // In dependency order, so the depth of each referenced record is known before its user's.
    for (const entry of this.schemasInDependencyOrder()) {
      if (!entry.type) continue
      const depth = depthOf(entry.type)
      const inner = Math.max(0, ...entry.type.fields.map((f) => depthOf(f.type)))
      if (depth > MAX_RECORD_DEPTH && inner <= MAX_RECORD_DEPTH) {
        this.report(
          'E0216',
          `schema \`${entry.decl.name.name}\` nests records ${depth} levels deep; at most ${MAX_RECORD_DEPTH} are allowed`,
          entry.decl.name.span,
        )
      }
    }
  }

  private resolveSchema(entry: SchemaEntry): RecordType | null {
    if (entry.state === 'done') return entry.type
    entry.state = 'resolving'
    const fields = this.resolveFields(entry.decl.fields, true)
    this.checkEventTimeFields(entry.decl.fields, fields)
    entry.type = { kind: 'record', name: entry.decl.name.name, fields }
    entry.state = 'done'
    return entry.type
  }

  private resolveFields(decls: readonly FieldDecl[], topLevel: boolean): FieldType[] {
    const fields: FieldType[] = []
    const seen = new Map<string, Identifier>()
    for (const decl of decls) {
      const first = seen.get(decl.name.name)
      if (first) {
        this.report('E0207', `field \`${decl.name.name}\` is declared more than once`, decl.name.span, [
          { message: 'first declared here', span: first.span },
        ])
        continue
      }
      seen.set(decl.name.name, decl.name)
      this.checkFieldName(decl.name.name, decl.name.span)
      const type = this.resolveType(decl.type)
      let eventTime = false
      const marked = new Map<string, Span>()
      for (const annotation of decl.annotations) {
        // Said twice it means nothing more; a warning, as it is likely a slip of editing.
        const first = marked.get(annotation.name.name)
        if (first) {
          this.report(
            'W0021',
            `\`@${annotation.name.name}\` is given twice on \`${decl.name.name}\`; remove one`,
            annotation.span,
            [{ message: 'first given here', span: first }],
          )
          continue
        }
        marked.set(annotation.name.name, annotation.span)
        if (annotation.name.name !== EVENT_TIME) {
          this.report(
            'E0211',
            `unknown annotation \`@${annotation.name.name}\`${didYouMean(annotation.name.name, [EVENT_TIME]).replace('`', '`@')}`,
            annotation.span,
          )
        } else if (!topLevel) {
          this.report('E0402', '`@event_time` can only mark a top-level field of a schema', annotation.span)
        } else {
          eventTime = true
        }
      }
      fields.push(
        eventTime ? { name: decl.name.name, type, eventTime: true } : { name: decl.name.name, type },
      )
    }
    return fields
  }

  /** At most one `@event_time` per schema, on a required timestamp; a bad mark is dropped after reporting. */
  private checkEventTimeFields(decls: readonly FieldDecl[], fields: FieldType[]): void {
    let first: FieldDecl | null = null
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!
      if (!field.eventTime) continue
      const decl = decls.find((d) => d.name.name === field.name)!
      const annotation = decl.annotations.find((a) => a.name.name === EVENT_TIME)!
      let ok = true
      if (first) {
        this.report(
          'E0401',
          `a schema can have only one \`@event_time\` field, but \`${first.name.name}\` already is`,
          annotation.span,
          [{ message: 'first `@event_time` field', span: first.name.span }],
        )
        ok = false
      } else if (isError(field.type)) {
        ok = false
      } else if (field.type.kind !== 'timestamp') {
        this.report(
          'E0402',
          field.type.kind === 'optional' && field.type.of.kind === 'timestamp'
            ? `the \`@event_time\` field \`${field.name}\` cannot be optional: every event needs a time`
            : `\`@event_time\` must mark a \`timestamp\` field, but \`${field.name}\` is \`${show(field.type)}\``,
          decl.type.span,
        )
        ok = false
      }
      if (ok) first = decl
      else fields[i] = { name: field.name, type: field.type }
    }
  }

  private resolveType(type: TypeExpr): Type {
    switch (type.kind) {
      case 'OptionalType':
        return optional(this.resolveType(type.of))
      case 'ListType':
        return listOf(this.resolveType(type.of))
      case 'MapType':
        return resolveMapType(type, this.resolveType(type.key), this.resolveType(type.of), this.reporter())
      case 'RecordType':
        return { kind: 'record', fields: this.resolveFields(type.fields, false) }
      case 'NamedType': {
        const name = type.name.name
        if ((SCALAR_TYPE_NAMES as readonly string[]).includes(name)) return scalar(name as 'string')
        if (name === 'duration') {
          this.report(
            'E0312',
            '`duration` cannot be a field type; store milliseconds as `i64` and convert with `to_duration_ms`',
            type.span,
          )
          return ERROR_TYPE
        }
        const entry = this.schemas.get(name)
        if (!entry) {
          if (!this.incomplete.has(name)) {
            this.report(
              'E0201',
              `unknown type \`${name}\`${TYPE_NAME_HINTS[name] ? `; Sluice spells it \`${TYPE_NAME_HINTS[name]}\`` : didYouMean(name, [...SCALAR_TYPE_NAMES, ...this.schemas.keys()])}`,
              type.span,
            )
          }
          return ERROR_TYPE
        }
        if (entry.state === 'resolving') {
          this.report(
            'E0208',
            `schema \`${name}\` contains itself; records cannot be recursive (use a list or an id field)`,
            type.span,
            [{ message: `\`${name}\` is defined here`, span: entry.decl.name.span }],
          )
          return ERROR_TYPE
        }
        const record = this.resolveSchema(entry)
        if (!record) return ERROR_TYPE
        // Event time belongs to the top-level record; a nested copy of the schema does not carry it.
        return { kind: 'record', name, fields: record.fields.map((f) => ({ name: f.name, type: f.type })) }
      }
    }
  }

  /**
   * Events are plain JavaScript objects, where `__proto__` is not an ordinary key (a literal or an
   * assignment sets the prototype instead), so no record may have a field of that name. Schemas,
   * sources and streams are kept in objects keyed by name too, so the name is reserved for them
   * as well.
   */
  private checkFieldName(name: string, span: Span, what = 'a field name'): void {
    if (name !== RESERVED_FIELD_NAME) return
    this.report(
      'E0212',
      `\`__proto__\` cannot be ${what}: JavaScript objects, which carry events and names, treat it specially; rename it`,
      span,
    )
  }

  // -------------------------------------------------------------------------------------------
  // Sources, streams, sinks

  private connector(decl: ConnectorExpr, role: 'source' | 'sink'): Connector | null {
    const name = decl.name.name
    if (name === 'kafka') {
      const arg = decl.args?.[0]
      if (decl.args?.length !== 1 || !arg) {
        this.report('E0404', '`kafka` takes one topic name: `kafka("topic")`', decl.span)
        return null
      }
      if (arg.value === '') {
        this.report('E0404', 'the topic name cannot be empty', arg.span)
        return null
      }
      const invalid = invalidTopicName(arg.value)
      if (invalid !== null) {
        this.report('E0404', invalid, arg.span)
        return null
      }
      return { kind: 'kafka', topic: arg.value }
    }
    if (name === 'stdout') {
      if (role === 'source') {
        this.report('E0405', '`stdout` can only be a sink; read events with `kafka("topic")`', decl.span)
        return null
      }
      if (decl.args !== null) {
        this.report('E0404', '`stdout` takes no arguments', decl.span)
        return null
      }
      return { kind: 'stdout' }
    }
    this.report(
      'E0210',
      `unknown connector \`${name}\`${didYouMean(name, CONNECTORS) || `; the connectors are ${role === 'source' ? '`kafka("topic")`' : '`kafka("topic")` and `stdout`'}`}`,
      decl.name.span,
    )
    return null
  }

  private declare(name: Identifier, entry: StreamEntry): void {
    this.checkFieldName(name.name, name.span, `a ${entry.kind} name`)
    const existing = this.streams.get(name.name)
    if (existing) {
      this.report(
        'E0206',
        `\`${name.name}\` is already defined as a ${existing.kind}; sources and streams share one namespace`,
        name.span,
        [{ message: 'first defined here', span: existing.name.span }],
      )
      return
    }
    this.streams.set(name.name, entry)
  }

  private checkSource(decl: SourceDecl): void {
    let schema: Type = ERROR_TYPE
    const schemaEntry = this.schemas.get(decl.schema.name)
    if (schemaEntry?.type) schema = schemaEntry.type
    else if (!this.incomplete.has(decl.schema.name)) {
      this.report(
        'E0201',
        `unknown schema \`${decl.schema.name}\`${didYouMean(decl.schema.name, this.schemas.keys())}`,
        decl.schema.span,
      )
    }
    const connector = this.connector(decl.connector, 'source')
    if (connector?.kind === 'kafka' && connector.topic === DEFAULT_DEAD_LETTER_TOPIC) {
      // Reprocessing dead letters is legitimate, but not by a node that writes them there too.
      this.report(
        'W0022',
        `"${connector.topic}" is the dead-letter topic a node writes by default, and a node refuses to read the topic it writes its dead letters to; run this pipeline with another --dead-letter-topic`,
        decl.connector.span,
      )
    }
    if (connector?.kind === 'kafka' && !this.sourceTopics.has(connector.topic)) {
      this.sourceTopics.set(connector.topic, decl)
    }
    const record = isError(schema) ? null : (schema as RecordType)
    const eventTimeField = record?.fields.find((f) => f.eventTime)?.name ?? null
    let watermark: SourceNode['watermark'] = null
    if (decl.watermark) {
      const wm = decl.watermark
      const delayMs = wm.delay ? wm.delay.amount * DURATION_UNIT_MS[wm.delay.unit] : 0
      watermark = { field: wm.field.name, delayMs }
      const field = record?.fields.find((f) => f.name === wm.field.name)
      if (record && !field) {
        this.report(
          'E0203',
          `unknown field \`${wm.field.name}\` on \`${decl.schema.name}\`${didYouMean(
            wm.field.name,
            record.fields.filter((f) => f.type.kind === 'timestamp').map((f) => f.name),
          )}`,
          wm.field.span,
        )
      } else if (field && !isError(field.type) && field.type.kind !== 'timestamp') {
        this.report(
          'E0403',
          `the watermark field must be a required \`timestamp\`, but \`${field.name}\` is \`${show(field.type)}\``,
          wm.field.span,
        )
      } else if (field && field.name !== eventTimeField) {
        this.report(
          'W0005',
          eventTimeField === null
            ? `\`${field.name}\` is not marked \`@event_time\`, so events are timed by their log append time and this watermark does not follow them; mark the field \`@event_time\``
            : `the watermark follows \`${field.name}\`, but the event time is \`${eventTimeField}\``,
          wm.field.span,
        )
      }
    }
    this.nodes.push({
      kind: 'Source',
      id: decl.name.name,
      span: decl.span,
      schema: record ?? (ERROR_TYPE as RecordType),
      name: decl.name.name,
      connector: connector ?? { kind: 'stdout' },
      eventTimeField,
      watermark,
    })
    this.declare(decl.name, {
      kind: 'source',
      name: decl.name,
      schema,
      eventTimeField,
      lastId: decl.name.name,
      used: false,
    })
  }

  /** The source or stream `name` refers to, or null (reported unless the name's statement failed to parse). */
  private lookupStream(name: Identifier, reader: string | null): StreamEntry | null {
    if (name.name !== reader) this.referenced.add(name.name)
    const entry = this.streams.get(name.name)
    if (entry) {
      entry.used = true
      return entry
    }
    if (this.incomplete.has(name.name)) return null
    const table = this.tables.get(name.name)
    if (table) {
      table.used = true
      this.report(
        reader === null ? 'E0451' : 'E0450',
        reader === null
          ? `\`${name.name}\` is a table, which holds rows, not a stream of events, so it cannot be sunk; sink a stream that looks rows up in it`
          : `\`${name.name}\` is a table, not a stream: a stream reads a source or a stream, and looks rows of a table up with \`| lookup ${name.name} as row on key\``,
        name.span,
        [{ message: 'the table is declared here', span: table.name.span }],
      )
      return null
    }
    if (reader !== null && name.name === reader) {
      this.report('E0209', `stream \`${reader}\` cannot read itself`, name.span)
      return null
    }
    const later = this.declared.get(name.name)
    if (later && reader !== null) {
      this.report(
        'E0209',
        `\`${name.name}\` is used before its declaration; declare it above this stream`,
        name.span,
        [{ message: 'declared here', span: later.span }],
      )
      return null
    }
    const candidates = reader === null ? this.declared.keys() : this.streams.keys()
    this.report(
      'E0202',
      `unknown stream or source \`${name.name}\`${didYouMean(name.name, candidates)}`,
      name.span,
    )
    return null
  }

  private checkStream(decl: StreamDecl): void {
    const input = this.lookupStream(decl.input, decl.name.name)
    let record: Type = input?.schema ?? ERROR_TYPE
    let eventTimeField = input?.eventTimeField ?? null
    let previous = input?.lastId ?? ''
    let notOneRecord = input?.notOneRecord
    if (decl.join !== null) {
      const joined = this.checkJoinHead(decl, decl.join, input)
      record = joined.schema
      eventTimeField = null
      previous = joined.id
      notOneRecord = 'after a join (a joined event is two records)'
    } else if (decl.union !== undefined) {
      const united = this.checkUnionHead(decl, decl.union, input)
      record = united.record
      eventTimeField = united.eventTimeField
      previous = united.id
    }
    /** Stateful steps of each kind so far, for their state slot ids. */
    const statefulCounts = { dedup: 0, aggregate: 0, window: 0, match: 0 }
    decl.steps.forEach((step, i) => {
      const id = `${decl.name.name}#${i + 1}`
      // Steps that run in a fused chain see the source record; a window, a lookup's key and a
      // match are evaluated elsewhere, without it.
      const scope: Scope = { record, recordMetadata: notOneRecord ?? true }
      const otherScope: Scope = { record, recordMetadata: notOneRecord ?? `in ${STEP_WORDS[step.kind]}` }
      const schema = record as RecordType
      const stepContext = (kind: 'dedup' | 'aggregate' | 'window'): StepContext => ({
        record,
        eventTimeField,
        id,
        input: previous,
        stateId: `${decl.name.name}.${kind}.${statefulCounts[kind]++}`,
        expr: (e) => this.expr(e, kind === 'window' ? otherScope : scope),
        fieldInits: (inits) => this.fieldInits(inits, kind === 'window' ? otherScope : scope),
        checkFieldName: (name, span) => this.checkFieldName(name, span),
        report: (code, message, span, related) => this.report(code, message, span, related),
      })
      if (step.kind === 'Dedup' || step.kind === 'Aggregate' || step.kind === 'Match') {
        const reader =
          step.kind === 'Dedup'
            ? 'dedup'
            : step.kind === 'Match'
              ? 'match'
              : step.window === null
                ? 'aggregate'
                : 'window'
        this.refuseAfterUnion(previous, step.span, reader)
      }
      switch (step.kind) {
        case 'Dedup':
          this.nodes.push(checkDedup(step, stepContext('dedup')))
          break
        case 'Aggregate': {
          if (step.window !== null) {
            const windowStep = { ...step, window: step.window }
            this.checkWindowInput(previous, step.window.span)
            const node = checkWindowAggregate(windowStep, stepContext('window'), `${id}.late`)
            this.nodes.push(node)
            if (node.late !== null) {
              this.nodes.push({
                kind: 'LateEvents',
                id: node.late,
                span: step.window.span,
                schema,
                input: id,
              })
              this.declare(step.window.lateInto!, {
                kind: 'stream',
                name: step.window.lateInto!,
                schema: record,
                eventTimeField,
                lastId: node.late,
                used: false,
                notOneRecord: LATE_EVENTS,
              })
            }
            record = node.schema
            eventTimeField = null
            notOneRecord = 'after a window (a result sums up many records)'
            break
          }
          const { node, eventTimeField: outputEventTime } = checkAggregate(step, stepContext('aggregate'))
          this.nodes.push(node)
          record = node.schema
          eventTimeField = outputEventTime
          notOneRecord = 'after `aggregate` (a result sums up many records)'
          break
        }
        case 'Match': {
          this.checkMatchInput(previous, step.span)
          const { node, timeoutSchema } = checkMatch(step, {
            record,
            id,
            input: previous,
            stateId: `${decl.name.name}.match.${statefulCounts.match++}`,
            lateId: `${id}.late`,
            timeoutId: `${id}.timeout`,
            expr: (e, steps) => this.expr(e, { ...otherScope, steps }),
            fieldInits: (inits, steps) => this.fieldInits(inits, { ...otherScope, steps }),
            report: (code, message, span, related) => this.report(code, message, span, related),
          })
          this.nodes.push(node)
          if (node.late !== null) {
            this.nodes.push({
              kind: 'LateEvents',
              id: node.late,
              span: step.lateInto!.span,
              schema,
              input: id,
            })
            this.declare(step.lateInto!, {
              kind: 'stream',
              name: step.lateInto!,
              schema: record,
              eventTimeField,
              lastId: node.late,
              used: false,
              notOneRecord: LATE_EVENTS,
            })
          }
          if (node.timeout !== null && timeoutSchema !== null) {
            const into = step.timeout!.into
            this.nodes.push({
              kind: 'MatchTimeouts',
              id: node.timeout.stream,
              span: step.timeout!.span,
              schema: timeoutSchema,
              input: id,
            })
            this.declare(into, {
              kind: 'stream',
              name: into,
              schema: timeoutSchema,
              eventTimeField: null,
              lastId: node.timeout.stream,
              used: false,
              notOneRecord: TIMEOUTS,
            })
          }
          record = node.schema
          eventTimeField = null
          notOneRecord = 'after `match` (a match is made of many records)'
          break
        }
        case 'Lookup': {
          const node = checkLookup(step, {
            record,
            id,
            input: previous,
            table: (name) => this.tables.get(name),
            tableNames: () => this.tables.keys(),
            isStream: (name) => this.streams.has(name) || this.declared.has(name),
            isIncomplete: (name) => this.incomplete.has(name),
            expr: (e) => this.expr(e, otherScope),
            checkFieldName: (name, span) => this.checkFieldName(name, span),
            report: (code, message, span, related) => this.report(code, message, span, related),
          })
          this.nodes.push(node)
          record = node.schema
          break
        }
        case 'Explode': {
          const node = checkExplode(step, {
            record,
            id,
            input: previous,
            expr: (e) => this.expr(e, scope),
            checkFieldName: (name, span) => this.checkFieldName(name, span),
            report: (code, message, span) => this.report(code, message, span),
          })
          this.nodes.push(node)
          record = node.schema
          break
        }
        case 'Where': {
          const predicate = this.expr(step.predicate, scope)
          this.expectCondition(predicate, '`where`', step.predicate.span)
          this.nodes.push({ kind: 'Filter', id, span: step.span, schema, input: previous, predicate })
          break
        }
        case 'KeyBy': {
          const key = this.expr(step.key, scope)
          if (!isError(key.type) && (!isKeyType(key.type) || key.type.kind === 'null')) {
            this.report(
              'E0308',
              `a key must be a string, i64, bool or timestamp (optionally \`?\`), but this is \`${show(key.type)}\``,
              step.key.span,
            )
          }
          this.nodes.push({ kind: 'KeyBy', id, span: step.span, schema, input: previous, key })
          break
        }
        case 'Select': {
          if (step.fields.length === 0) {
            this.report(
              'E0215',
              '`select { }` selects no field, so every event would be empty; name the fields to keep',
              step.span,
            )
          }
          const inits = expandSelectItems(step.fields, {
            input: record.kind === 'record' ? record : { kind: 'record', fields: [] },
            inputKnown: record.kind === 'record' && !isError(record),
            report: (code, message, span, related) => this.report(code, message, span, related),
          })
          if (inits.length === 0 && step.fields.length > 0 && record.kind === 'record' && !isError(record)) {
            this.report('E0215', '`*` here leaves out every field, so every event would be empty', step.span)
          }
          const fields = this.fieldInits(inits, scope)
          let outputEventTime: string | null = null
          const types: FieldType[] = fields.map((f) => {
            const isEventTime =
              outputEventTime === null &&
              eventTimeField !== null &&
              f.value.kind === 'Column' &&
              f.value.name === eventTimeField
            if (isEventTime) outputEventTime = f.name
            return isEventTime
              ? { name: f.name, type: f.value.type, eventTime: true }
              : { name: f.name, type: f.value.type }
          })
          const output: RecordType = { kind: 'record', fields: types }
          const node: MapNode = { kind: 'Map', id, span: step.span, schema: output, input: previous, fields }
          this.nodes.push(node)
          record = output
          eventTimeField = outputEventTime
          break
        }
      }
      previous = id
    })
    this.declare(decl.name, {
      kind: 'stream',
      name: decl.name,
      schema: record,
      eventTimeField,
      lastId: previous,
      used: false,
      ...(notOneRecord === undefined ? {} : { notOneRecord }),
    })
  }

  /**
   * The join a stream starts with (join-steps.ts), and its late stream. Its output carries no
   * event-time field: a pair is timed by the later of its events, an outer row by its event.
   */
  private checkJoinHead(decl: StreamDecl, clause: JoinClause, leftEntry: StreamEntry | null): JoinNode {
    const rightEntry = this.lookupStream(clause.right, decl.name.name)
    for (const entry of [leftEntry, rightEntry])
      if (entry) this.refuseAfterUnion(entry.lastId, clause.span, 'join')
    const id = `${decl.name.name}#join`
    const sides = [this.joinInput(decl.input, leftEntry), this.joinInput(clause.right, rightEntry)]
    const report = (
      code: DiagnosticCode,
      message: string,
      span: Span,
      related?: readonly RelatedInformation[],
    ) => this.report(code, message, span, related)
    if (sides[0] && sides[1]) {
      const byId = new Map(this.nodes.map((n) => [n.id, n]))
      const described = sides.map((s) => ({ name: s!.name, lastId: s!.lastId, timed: s!.timedResultsOf }))
      checkSharedSourceOverJoin(described, byId, { report })
    }
    const node = checkJoin(clause, sides[0] ?? null, sides[1] ?? null, clause.span, {
      id,
      lateId: `${id}.late`,
      stateId: `${decl.name.name}.join.0`,
      expr: (e, record) => this.expr(e, { record }),
      checkFieldName: (name, span) => this.checkFieldName(name, span),
      report: (code, message, span, related) => this.report(code, message, span, related),
    })
    this.nodes.push(node)
    const lateInto = clause.within?.lateInto ?? clause.window?.lateInto ?? null
    if (node.late !== null && lateInto !== null) {
      const schema = lateRecordOf(node)
      this.nodes.push({ kind: 'LateEvents', id: node.late, span: lateInto.span, schema, input: id })
      this.declare(lateInto, {
        kind: 'stream',
        name: lateInto,
        schema,
        eventTimeField: null,
        lastId: node.late,
        used: false,
        notOneRecord: LATE_EVENTS,
      })
    }
    return node
  }

  /** `union a, b, …` at the head of a stream (union-head.ts); `first` is `a`, already looked up. */
  private checkUnionHead(
    decl: StreamDecl,
    others: readonly Identifier[],
    first: StreamEntry | null,
  ): { id: string; record: Type; eventTimeField: string | null } {
    const byId = new Map(this.nodes.map((n) => [n.id, n]))
    const describe = (name: Identifier, entry: StreamEntry | null): UnionInput | null => {
      if (entry === null) return null
      let source: string | null = null
      let through: UnionInput['through'] = null
      for (let node = byId.get(entry.lastId); node !== undefined; ) {
        if (node.kind === 'Source') {
          source = node.name
          break
        }
        if (node.kind === 'Join' || node.kind === 'Union') {
          through = { kind: node.kind, span: node.span }
          break
        }
        node = byId.get(node.input)
      }
      return {
        name,
        record: entry.schema,
        lastId: entry.lastId,
        eventTimeField: entry.eventTimeField,
        source,
        through,
      }
    }
    const inputs = [
      describe(decl.input, first),
      ...others.map((name) => describe(name, this.lookupStream(name, decl.name.name))),
    ]
    const id = `${decl.name.name}#union`
    const span = { ...decl.input.span, end: (others.at(-1) ?? decl.input).span.end }
    const { node, record, eventTimeField } = checkUnion(inputs, {
      id,
      span,
      report: (code, message, at, related) => this.report(code, message, at, related),
    })
    this.nodes.push(node)
    return { id, record, eventTimeField }
  }

  /**
   * Which steps may read a union (after-union.ts): `dedup` and `aggregate` without a window any,
   * keeping the task's state; windows, matches and joins one whose inputs follow one source's
   * watermark (oneSourceOfUnion). Else E0483 (several sources) or E0484 (a union of results).
   */
  private refuseAfterUnion(input: string, span: Span, reader: UnionReader): boolean {
    const refusal = unionRefusal(input, new Map(this.nodes.map((n) => [n.id, n])), reader)
    if (refusal === null) return false
    this.report(refusal.code, refusal.message, span, refusal.related)
    return true
  }

  /** What a join needs to know of one of its inputs, found by walking the nodes up to its source. */
  private joinInput(name: Identifier, entry: StreamEntry | null): JoinInput | null {
    if (entry === null) return null
    const byId = new Map(this.nodes.map((n) => [n.id, n]))
    let hasEventTime = true
    let source: string | null = null
    let timedResultsOf: JoinInput['timedResultsOf'] = null
    for (let node = byId.get(entry.lastId); node !== undefined; ) {
      if (node.kind === 'Source') {
        hasEventTime = node.eventTimeField !== null
        source = node.name
        break
      }
      // A window's results (joinable when emitted once each), a join's, a match's, late events.
      const timed = timedInputAt(node, byId)
      if (timed !== undefined) {
        timedResultsOf = timed
        break
      }
      // After a union of several sources the events have no one source (a join is refused, E0483).
      if (node.kind === 'Union') {
        const one = oneSourceOfUnion(node, byId)
        if (one !== null) {
          hasEventTime = one.eventTimeField !== null
          source = one.name
        }
        break
      }
      if (node.kind === 'Join') break // (reported by timedInputAt; narrows the type)
      node = byId.get(node.input)
    }
    return { name, record: entry.schema, lastId: entry.lastId, hasEventTime, source, timedResultsOf }
  }

  /**
   * A window may read another window's results (docs/decisions/0023-windows-over-windows.md): it
   * runs on that window's output watermark, and sees each result before the watermark that fired
   * it; likewise a join's results, on the join's output watermark (docs/decisions/0020), and a
   * match's, on the match's (compiler/ir/match-output.ts; refused when a skip strategy holds
   * matches back with no `within`, E0447). Refused: reading a window with `lateness` (its updates would be counted again as new
   * events, E0430), and reading a late stream (those events are behind the watermark already, E0411).
   */
  private checkWindowInput(input: string, span: Span): void {
    const byId = new Map(this.nodes.map((n) => [n.id, n]))
    for (let node = byId.get(input); node !== undefined; ) {
      if (node.kind === 'LateEvents') {
        this.report(
          'E0411',
          'this window reads the late events of another window: they are behind the watermark already, so every one would be late here too; aggregate them without a window, or give the first window more `lateness`',
          span,
          [{ message: 'the window whose late events these are', span: byId.get(node.input)?.span ?? span }],
        )
        return
      }
      // A match's results: the window follows the match's output watermark (compiler/ir/match-output.ts).
      if (node.kind === 'Match' || node.kind === 'MatchTimeouts') {
        const timed = timedInputAt(node, byId)
        if (timed?.kind === 'Match' && timed.unbounded)
          this.report(
            'E0447',
            `this window ${UNBOUNDED_MATCH} and be late here; ${UNBOUNDED_MATCH_FIX}`,
            span,
            [{ message: 'the match', span: timed.span }],
          )
        return
      }
      // A join's results: the window follows the join's output watermark (runtime/window/window-over-join.ts).
      if (node.kind === 'Join') return
      if (node.kind === 'WindowAggregate') {
        if (node.time === 'processing') {
          this.report(
            'E0424',
            "this window reads the results of a processing-time window, timed by the node's wall clock, which no source's watermark follows; aggregate both from the source, or window this one by `processing time` too over the source",
            span,
            [{ message: 'the processing-time window', span: node.span }],
          )
          return
        }
        if (node.emit.kind !== 'close') {
          this.report(
            'E0430',
            `this window reads the results of a window with early results (\`emit ${node.emit.kind === 'every' ? 'every …' : 'on update'}\`), which emits a window several times: each early result would be counted here once more; let the first window emit on close only, or aggregate both from the source`,
            span,
            [{ message: 'the first window, with early results', span: node.span }],
          )
          return
        }
        if (node.latenessMs > 0) {
          this.report(
            'E0430',
            'this window reads the results of a window with `lateness`, which emits a window again for each late event: each update would be counted here once more; remove the `lateness` of the first window, or aggregate both from the source',
            span,
            [{ message: 'the first window, with lateness', span: node.span }],
          )
        }
        return
      }
      // A union (of one source, else refused, E0483, E0484): each input as the window's own input.
      if (node.kind === 'Union') {
        for (const each of node.inputs) this.checkWindowInput(each, span)
        return
      }
      node = node.kind === 'Source' ? undefined : byId.get(node.input)
    }
  }

  /**
   * A match reads events timed by their source: the results of a window, a join or another match
   * come when a watermark fires them, and late events are behind the watermark already, so both
   * are refused (E0475) until the runner gives a match a results watermark as it gives windows.
   */
  private checkMatchInput(input: string, span: Span): void {
    const byId = new Map(this.nodes.map((n) => [n.id, n]))
    for (let node = byId.get(input); node !== undefined; ) {
      if (node.kind === 'Source') return
      if (
        node.kind === 'LateEvents' ||
        node.kind === 'MatchTimeouts' ||
        node.kind === 'WindowAggregate' ||
        node.kind === 'Join' ||
        node.kind === 'Match'
      ) {
        const what =
          node.kind === 'LateEvents'
            ? 'late events, which are behind the watermark already, so every one would be late here too'
            : node.kind === 'WindowAggregate'
              ? "the results of a window, which come when the window's watermark fires them"
              : node.kind === 'Join'
                ? "the results of a join, timed by the join's watermark"
                : 'the results of another match, which come when its watermark releases them'
        this.report(
          'E0475',
          `this match reads ${what}; a match over them is not supported yet: match on the source's events`,
          span,
          [{ message: 'here', span: node.span }],
        )
        return
      }
      // A union is refused before any match unless it is of one source's streams (E0483, E0484).
      node = node.kind === 'Union' ? undefined : byId.get(node.input)
    }
  }

  private checkSink(decl: SinkDecl, index: number): void {
    const input = this.lookupStream(decl.input, null)
    const connector = this.connector(decl.connector, 'sink')
    const topic = connector?.kind === 'kafka' ? connector.topic : null
    if (topic === DEFAULT_DEAD_LETTER_TOPIC) {
      this.report(
        'E0408',
        `"${topic}" is where the node writes the events it cannot process (the dead-letter topic), so this sink's output would be mixed with the dead letters; write to another topic`,
        decl.connector.span,
      )
    }
    if (topic !== null && input !== undefined) {
      const target = `${decl.input.name}\u0000${topic}`
      const earlier = this.sinkTargets.get(target)
      if (earlier) {
        this.report(
          'W0006',
          `\`${decl.input.name}\` is already sunk to "${topic}": every event would be written there twice; remove one of the sinks`,
          decl.span,
          [{ message: 'the first sink of it to that topic', span: earlier.span }],
        )
      } else this.sinkTargets.set(target, decl)
    }
    const reader = topic === null ? undefined : this.sourceTopics.get(topic)
    if (reader) {
      this.report(
        'E0406',
        `this sink writes "${topic}", which source \`${reader.name.name}\` reads, so the pipeline would read its own output again, forever; write to another topic`,
        decl.connector.span,
        [{ message: `source \`${reader.name.name}\` reads "${topic}" here`, span: reader.connector.span }],
      )
    }
    if (decl.timestamp && connector?.kind === 'stdout') {
      this.report(
        'E0407',
        `\`stdout\` writes lines of text, not log records, so there is no record timestamp to choose; remove \`timestamp ${decl.timestamp.mode}\``,
        decl.timestamp.span,
      )
    }
    const headers =
      decl.headers === undefined
        ? []
        : checkSinkHeaders(decl.headers, {
            connector,
            // A header may read the record metadata of events that are each one record.
            expr: (e) =>
              this.expr(e, {
                record: input?.schema ?? ERROR_TYPE,
                recordMetadata: input?.notOneRecord ?? true,
              }),
            report: (code, message, span, related) => this.report(code, message, span, related),
          })
    this.nodes.push({
      kind: 'Sink',
      id: `sink#${index}`,
      span: decl.span,
      schema: (input?.schema ?? ERROR_TYPE) as RecordType,
      input: input?.lastId ?? '',
      connector: connector ?? { kind: 'stdout' },
      name: decl.input.name,
      recordTimestamp: decl.timestamp?.mode ?? 'event',
      ...(headers.length > 0 ? { headers } : {}),
    })
  }

  // -------------------------------------------------------------------------------------------
  // Expressions

  private expectCondition(condition: Expr, what: string, span: Span): void {
    if (isError(condition.type) || baseType(condition.type).kind === 'bool') return
    this.report('E0302', `${what} needs a \`bool\` condition, but this is \`${show(condition.type)}\``, span)
  }

  /** Checks `{ name: value, shorthand }` lists of `select` and record literals. */
  private fieldInits(inits: readonly FieldInit[], scope: Scope): MapNode['fields'] {
    const fields: { name: string; value: Expr; span: Span }[] = []
    const seen = new Map<string, Span>()
    for (const init of inits) {
      const value = this.expr(init.value, scope)
      const name =
        init.name?.name ??
        (init.value.kind === 'Member'
          ? init.value.name.name
          : init.value.kind === 'Name'
            ? init.value.name
            : '')
      const nameSpan =
        init.name?.span ?? (init.value.kind === 'Member' ? init.value.name.span : init.value.span)
      const first = seen.get(name)
      if (first) {
        this.report('E0207', `field \`${name}\` is defined more than once`, nameSpan, [
          { message: 'first defined here', span: first },
        ])
        continue
      }
      seen.set(name, nameSpan)
      // A shorthand `__proto__` already failed as an unknown field: report it once.
      if (init.name || !isError(value.type)) this.checkFieldName(name, nameSpan)
      if (!isError(value.type) && containsBareNull(value.type)) {
        this.report(
          'E0310',
          `the type of field \`${name}\` cannot be inferred: a bare \`null\` has no type (give it one, e.g. \`if false then 0 else null\` for an \`i64?\`)`,
          init.value.span,
        )
      }
      fields.push({ name, value, span: init.span })
    }
    return fields
  }

  private expr(e: Expression, scope: Scope): Expr {
    const span = e.span
    switch (e.kind) {
      case 'IntLiteral':
        return { kind: 'Literal', value: e.value, type: scalar('i64'), span }
      case 'FloatLiteral':
        return { kind: 'Literal', value: e.value, type: scalar('f64'), span }
      case 'StringLiteral':
        return { kind: 'Literal', value: e.value, type: scalar('string'), span }
      case 'BoolLiteral':
        return { kind: 'Literal', value: e.value, type: BOOL, span }
      case 'NullLiteral':
        return { kind: 'Literal', value: null, type: NULL, span }
      case 'DurationLiteral':
        return { kind: 'Literal', value: e.amount * DURATION_UNIT_MS[e.unit], type: scalar('duration'), span }
      case 'Name': {
        const local = scope.locals?.get(e.name)
        if (local !== undefined) return { kind: 'Local', name: e.name, type: local, span }
        return (
          scope.steps?.resolve(e.name, span) ?? {
            kind: 'Column',
            name: e.name,
            type: this.fieldType(scope.record, e.name, span),
            span,
          }
        )
      }
      case 'Lambda':
        this.report('E0330', misplacedLambdaMessage(), span)
        return { kind: 'Literal', value: null, type: ERROR_TYPE, span }
      case 'Member': {
        const object = this.expr(e.object, scope)
        const list = isError(object.type) ? null : baseType(object.type)
        if (list?.kind === 'list' && baseType(list.of).kind === 'record') {
          // `small.amount` on a list of records: the list of their amounts.
          const item = this.fieldType(list.of, e.name.name, e.name.span)
          const type = isError(item) ? ERROR_TYPE : withNullability(listOf(item), isNullable(object.type))
          return { kind: 'Project', object, name: e.name.name, type, span }
        }
        return {
          kind: 'Member',
          object,
          name: e.name.name,
          type: this.fieldType(object.type, e.name.name, e.name.span),
          span,
        }
      }
      case 'Index':
        return this.index(e.object, e.index, span, scope)
      case 'Unary':
        return this.unary(e.op, e.operand, span, scope)
      case 'Binary':
        if (e.spelledAs !== undefined) return this.misspeltLogical(e, span, scope)
        return this.binary(e.op, e.left, e.right, e.opSpan, span, scope)
      case 'ArithmeticChain':
        return checkArithmeticChain(e, this.chainContext(scope))
      case 'Coalesce':
        return checkCoalesceChain(e, this.chainContext(scope))
      case 'IsNull': {
        const operand = this.expr(e.operand, scope)
        if (!isError(operand.type) && !isNullable(operand.type)) {
          this.report(
            'W0003',
            `this is never null (its type is \`${show(operand.type)}\`), so \`${e.negated ? 'is not null' : 'is null'}\` is always ${e.negated ? 'true' : 'false'}`,
            span,
          )
        }
        return { kind: 'IsNull', operand, negated: e.negated, type: BOOL, span }
      }
      case 'If': {
        const condition = this.expr(e.condition, scope)
        this.expectCondition(condition, '`if`', e.condition.span)
        const then = this.expr(e.whenTrue, scope)
        const otherwise = this.expr(e.whenFalse, scope)
        let type = unify(then.type, otherwise.type)
        if (type === null) {
          this.report(
            'E0307',
            `the branches of \`if\` have different types: \`${show(then.type)}\` and \`${show(otherwise.type)}\``,
            e.whenFalse.span,
            [{ message: `this branch is \`${show(then.type)}\``, span: e.whenTrue.span }],
          )
          type = ERROR_TYPE
        }
        return { kind: 'Conditional', condition, whenTrue: then, whenFalse: otherwise, type, span }
      }
      case 'Call':
        return this.call(e.callee, e.args, span, scope)
      case 'RecordLiteral': {
        const fields = this.fieldInits(e.fields, scope).map((f) => ({ name: f.name, value: f.value }))
        const type: Type = {
          kind: 'record',
          fields: fields.map((f) => ({ name: f.name, type: f.value.type })),
        }
        return { kind: 'Record', fields, type, span }
      }
      case 'In':
      case 'Between':
      case 'Like':
      case 'Case':
        return checkOperatorWord(e, {
          expr: (inner) => this.expr(inner, scope),
          call: (callee, args, callSpan) => this.call(callee, args, callSpan, scope),
          expectCondition: (condition, what, conditionSpan) =>
            this.expectCondition(condition, what, conditionSpan),
          report: (code, message, reportSpan, related) => this.report(code, message, reportSpan, related),
        })
      case 'MapLiteral':
        return checkMapLiteral(
          e,
          (inner) => this.expr(inner, scope),
          (code, message, reportSpan, related) => this.report(code, message, reportSpan, related),
        )
      case 'ListLiteral': {
        const items = e.items.map((item) => this.expr(item, scope))
        const first = items[0]
        if (!first) {
          this.report('E0310', 'the item type of an empty list cannot be inferred', span)
          return { kind: 'List', items, type: ERROR_TYPE, span }
        }
        let itemType: Type = first.type
        for (let i = 1; i < items.length; i++) {
          const item = items[i]!
          const next = unify(itemType, item.type)
          if (next === null) {
            this.report(
              'E0307',
              `list items must have one type, but this is \`${show(item.type)}\` and earlier items are \`${show(itemType)}\``,
              item.span,
            )
            return { kind: 'List', items, type: ERROR_TYPE, span }
          }
          itemType = next
        }
        if (itemType.kind === 'null') {
          this.report('E0310', 'the item type of a list of only `null`s cannot be inferred', span)
          return { kind: 'List', items, type: ERROR_TYPE, span }
        }
        return { kind: 'List', items, type: listOf(itemType), span }
      }
    }
  }

  /** The type of field `name` of `record` (optional when `record` is, for `a.b`), or ERROR_TYPE after reporting. */
  private fieldType(record: Type, name: string, span: Span): Type {
    if (isError(record)) return ERROR_TYPE
    const base = baseType(record)
    if (base.kind !== 'record') {
      const mapHint = base.kind === 'map' ? `; read a map's key with \`[${JSON.stringify(name)}]\`` : ''
      this.report('E0306', `\`.${name}\` needs a record, but this is \`${show(record)}\`${mapHint}`, span)
      return ERROR_TYPE
    }
    if (isError(base)) return ERROR_TYPE
    const field = base.fields.find((f) => f.name === name)
    if (!field) {
      const names = base.fields.map((f) => f.name)
      const hint = didYouMean(name, names)
      this.report('E0203', `unknown field \`${name}\` on ${describeRecord(base)}${hint}`, span)
      return ERROR_TYPE
    }
    return withNullability(field.type, isNullable(record))
  }

  private index(objectAst: Expression, indexAst: Expression, span: Span, scope: Scope): Expr {
    const object = this.expr(objectAst, scope)
    const index = this.expr(indexAst, scope)
    let type: Type = ERROR_TYPE
    if (!isError(object.type)) {
      const base = baseType(object.type)
      if (base.kind === 'list') type = optional(base.of)
      else if (base.kind === 'map') return checkMapIndex(object, index, span, indexAst.span, this.reporter())
      else
        this.report(
          'E0305',
          `only lists and maps can be indexed, but this is \`${show(object.type)}\``,
          objectAst.span,
        )
    }
    if (!isError(index.type) && baseType(index.type).kind !== 'i64') {
      this.report(
        'E0305',
        `a list index must be an \`i64\`, but this is \`${show(index.type)}\``,
        indexAst.span,
      )
      type = ERROR_TYPE
    }
    if (!isError(type) && isNullable(index.type)) type = optional(type)
    return { kind: 'Index', object, index, type, span }
  }

  private unary(op: '-' | 'not', operandAst: Expression, span: Span, scope: Scope): Expr {
    const operand = this.expr(operandAst, scope)
    const irOp = op === '-' ? 'neg' : 'not'
    if (isError(operand.type)) return { kind: 'Unary', op: irOp, operand, type: ERROR_TYPE, span }
    const base = baseType(operand.type)
    const ok =
      op === '-'
        ? base.kind === 'i64' || base.kind === 'f64' || base.kind === 'duration'
        : base.kind === 'bool'
    if (!ok) {
      this.report(
        'E0301',
        op === '-'
          ? `cannot negate \`${show(operand.type)}\`; \`-\` applies to i64, f64 and duration`
          : `\`not\` needs a \`bool\`, but this is \`${show(operand.type)}\``,
        span,
      )
      return { kind: 'Unary', op: irOp, operand, type: ERROR_TYPE, span }
    }
    return { kind: 'Unary', op: irOp, operand, type: operand.type, span }
  }

  private binary(
    op: Extract<Expression, { kind: 'Binary' }>['op'],
    leftAst: Expression,
    rightAst: Expression,
    opSpan: Span,
    span: Span,
    scope: Scope,
  ): Expr {
    return this.binaryOf(
      op,
      this.expr(leftAst, scope),
      this.expr(rightAst, scope),
      rightAst.span,
      opSpan,
      span,
    )
  }

  /**
   * `a && b` or `a || b`: the parser already said how Sluice spells the operator, so operands
   * that are not bools (SQL's `||` joins strings) give no type error per operator on top of it
   * (issue 17); the result is then of unknown type, which keeps the checker quiet above it too.
   */
  private misspeltLogical(e: Extract<Expression, { kind: 'Binary' }>, span: Span, scope: Scope): Expr {
    const left = this.expr(e.left, scope)
    const right = this.expr(e.right, scope)
    const bools = [left.type, right.type].every((t) => !isError(t) && baseType(t).kind === 'bool')
    if (bools) return this.binaryOf(e.op, left, right, e.right.span, e.opSpan, span)
    return { kind: 'Binary', op: e.op, left, right, type: ERROR_TYPE, span }
  }

  private chainContext(scope: Scope): ChainContext {
    return {
      expr: (inner) => this.expr(inner, scope),
      binary: (op, left, right, rightSpan, opSpan, span) =>
        this.binaryOf(op, left, right, rightSpan, opSpan, span),
      report: (code, message, span) => this.report(code, message, span),
    }
  }

  /** `left op right` of checked operands. */
  private binaryOf(
    op: Extract<Expression, { kind: 'Binary' }>['op'],
    left: Expr,
    right: Expr,
    rightSpan: Span,
    opSpan: Span,
    span: Span,
  ): Expr {
    const result = (type: Type): Expr => ({ kind: 'Binary', op, left, right, type, span })
    if (isError(left.type) || isError(right.type)) return result(ERROR_TYPE)
    const nullable = isNullable(left.type) || isNullable(right.type)
    const a = baseType(left.type)
    const b = baseType(right.type)
    const mismatch = (hint = ''): Expr => {
      this.report(
        'E0301',
        `cannot apply \`${op}\` to \`${show(left.type)}\` and \`${show(right.type)}\`${hint}`,
        opSpan,
      )
      return result(ERROR_TYPE)
    }
    if (a.kind === 'null' || b.kind === 'null') {
      if (op === '==' || op === '!=') {
        this.report(
          'E0311',
          `comparing with \`null\` gives null, never true; write \`${op === '==' ? 'is null' : 'is not null'}\` instead`,
          opSpan,
        )
        return result(ERROR_TYPE)
      }
      return mismatch('; `null` has no operators (test it with `is null`)')
    }
    switch (op) {
      case 'and':
      case 'or':
        if (a.kind !== 'bool' || b.kind !== 'bool') return mismatch(`; \`${op}\` needs two bools`)
        return result(withNullability(BOOL, nullable))
      case '==':
      case '!=':
      case '<':
      case '<=':
      case '>':
      case '>=': {
        const ordered = op !== '==' && op !== '!='
        if (!comparable(a, b, ordered)) {
          return mismatch(
            ordered
              ? '; `<`, `<=`, `>` and `>=` compare two numbers, strings, timestamps or durations'
              : '; `==` and `!=` compare two scalars of the same type, or two maps of scalars',
          )
        }
        return result(withNullability(BOOL, nullable))
      }
      default: {
        const type = arithmeticResult(op, a, b)
        if (type === null) {
          const hint =
            op === '+' && (a.kind === 'string' || b.kind === 'string')
              ? '; convert the other side with `to_string(…)` to concatenate'
              : ''
          return mismatch(hint)
        }
        if (
          (op === '/' || op === '%') &&
          (type.kind === 'i64' || type.kind === 'duration') &&
          right.kind === 'Literal' &&
          right.value === 0
        ) {
          this.report(
            'E0309',
            `integer ${op === '/' ? 'division' : 'remainder'} by zero fails on every event`,
            rightSpan,
          )
          return result(ERROR_TYPE)
        }
        return result(withNullability(type, nullable))
      }
    }
  }

  /** `count(l)`, `sum(l)`, …: SQL-like over the list's non-null items (ListFunctionExpr). */
  private listFunction(fn: ListFunction, list: Expr, item: Type, listSpan: Span, span: Span): Expr {
    const allowed = LIST_FUNCTION_KINDS[fn]
    const base = baseType(item)
    if (allowed !== null && !allowed.includes(base.kind)) {
      this.report(
        'E0304',
        `\`${fn}\` of a list needs a list of ${allowed.map((k) => `\`${k}\``).join(', ')}, but this is \`${show(list.type)}\`${base.kind === 'record' ? `; name the field to ${fn} (\`${fn}(steps.amount)\`)` : ''}`,
        listSpan,
      )
      return { kind: 'ListFunction', fn, list, type: ERROR_TYPE, span }
    }
    const type: Type =
      fn === 'count'
        ? withNullability(scalar('i64'), isNullable(list.type))
        : optional(fn === 'avg' ? scalar('f64') : base)
    return { kind: 'ListFunction', fn, list, type, span }
  }

  private call(callee: Identifier, argAsts: readonly Expression[], span: Span, scope: Scope): Expr {
    if (callee.name === 'parse_json') return this.parseJsonCall(argAsts, span, scope)
    if (isLambdaFunction(callee.name)) {
      return checkListLambda(callee.name, callee, argAsts, span, {
        expr: (e, local) =>
          this.expr(
            e,
            local === undefined
              ? scope
              : { ...scope, locals: new Map([...(scope.locals ?? []), [local.name, local.type]]) },
          ),
        report: (code, message, at) => this.report(code, message, at),
      })
    }
    const args = argAsts.map((a) => this.expr(a, scope))
    const listFunction = LIST_FUNCTIONS.find((f) => f === callee.name)
    if (listFunction !== undefined && args.length === 1 && !isError(args[0]!.type)) {
      const list = baseType(args[0]!.type)
      if (list.kind === 'list')
        return this.listFunction(listFunction, args[0]!, list.of, argAsts[0]!.span, span)
      if (!Object.hasOwn(stdlib, callee.name)) {
        this.report(
          'E0304',
          `\`${callee.name}(l)\` takes a list (a repeated step, or a field of one: \`${callee.name}(small.amount)\`), but this is \`${show(args[0]!.type)}\``,
          argAsts[0]!.span,
        )
        return { kind: 'Call', fn: callee.name, args, type: ERROR_TYPE, span }
      }
    }
    const udf = this.udfs.get(callee.name)
    if (udf !== undefined) return checkUdfCall(udf, args, argAsts, span, (...r) => this.report(...r))
    const result = (type: Type): Expr => ({ kind: 'Call', fn: callee.name, args, type, span })
    const fn = Object.hasOwn(stdlib, callee.name) ? stdlib[callee.name] : undefined
    if (!fn) {
      this.report(
        'E0204',
        `unknown function \`${callee.name}\`${didYouMean(callee.name, Object.keys(stdlib))}`,
        callee.span,
      )
      return result(ERROR_TYPE)
    }
    if (isRecordMetadataFunction(callee.name) && scope.recordMetadata !== true) {
      this.report(
        'E0360',
        `\`${callee.name}()\` reads the log record an event was read from, so it works only on events that are each one record of a source, not ${scope.recordMetadata ?? 'here'}; to use it, read it into a field with a \`select\` before that (\`select { …, k: ${callee.name}(${callee.name === 'record_header' ? '"name"' : ''}) }\`)`,
        span,
      )
      return result(ERROR_TYPE)
    }
    if (args.some((a) => isError(a.type))) return result(ERROR_TYPE)
    const propagate = fn.nullPropagating && args.some((a) => isNullable(a.type) && a.type.kind !== 'null')
    const infos: ArgInfo[] = args.map((a) => {
      const type = fn.nullPropagating ? baseType(a.type) : a.type
      return a.kind === 'Literal' ? { type, literal: a.value } : { type }
    })
    const signature = fn.signature(infos)
    if (!signature.ok) {
      const argSpan = signature.argIndex === undefined ? undefined : argAsts[signature.argIndex]?.span
      const code = (signature.code as DiagnosticCode | undefined) ?? (signature.arity ? 'E0303' : 'E0304')
      this.report(code, signature.message, argSpan ?? span)
      return result(ERROR_TYPE)
    }
    const type = withNullability(signature.type, propagate)
    // `coalesce(a, b, c)` is `a ?? (b ?? c)`: an argument is evaluated only when all before it are
    // null, as with `??` (it used to evaluate them all, so `coalesce(x, 1 / y)` could fail on y).
    if (callee.name === 'coalesce') return coalesceChain(args, type, span)
    const literalArg = fn.literalArg?.index
    if (
      literalArg !== undefined &&
      args[literalArg]?.kind === 'Literal' &&
      typeof (args[literalArg] as { value: unknown }).value === 'string'
    ) {
      warnBacktracking(callee.name, args[literalArg]!, (code, message, at) => this.report(code, message, at))
      return { kind: 'Call', fn: callee.name, args, type, span, literalArg }
    }
    return result(type)
  }

  /**
   * `parse_json(s, T)`: the second argument is a type name, not a value (a schema, or a scalar
   * type such as `i64`), and the call is typed `T?`; the IR call keeps only `s` (the codec for T
   * comes from the call's type).
   */
  private parseJsonCall(argAsts: readonly Expression[], span: Span, scope: Scope): Expr {
    const args = argAsts.slice(0, 1).map((a) => this.expr(a, scope))
    const result = (type: Type): Expr => ({ kind: 'Call', fn: 'parse_json', args, type, span })
    if (argAsts.length !== 2) {
      this.report(
        'E0303',
        `\`parse_json\` takes 2 arguments (s, T), but ${argAsts.length} ${argAsts.length === 1 ? 'was' : 'were'} given`,
        span,
      )
      return result(ERROR_TYPE)
    }
    const typeArg = argAsts[1]!
    if (typeArg.kind !== 'Name') {
      this.report(
        'E0352',
        'the second argument of `parse_json` is the type to decode: a schema name such as `Order`, or a scalar type such as `i64`',
        typeArg.span,
      )
      return result(ERROR_TYPE)
    }
    const target = this.resolveType({
      kind: 'NamedType',
      name: { kind: 'Identifier', name: typeArg.name, span: typeArg.span },
      span: typeArg.span,
    })
    const text = args[0]!
    if (isError(target) || isError(text.type)) return result(ERROR_TYPE)
    if (baseType(text.type).kind !== 'string') {
      this.report(
        'E0304',
        `argument \`s\` of \`parse_json\` must be string, found \`${show(text.type)}\``,
        argAsts[0]!.span,
      )
      return result(ERROR_TYPE)
    }
    return result(optional(target))
  }
}

/**
 * Why the events of a late stream (of a window, a join or a match) and of a match's timeouts are
 * not read as source records (E0360): the runtime hands them on apart from the batch they came in.
 */
const LATE_EVENTS = 'in a late stream (its events are handed on apart from their records)'
const TIMEOUTS = 'in the timeouts of a `match` (a partial match is made of many records)'

/** How a step reads in the message of a record metadata function it cannot call (E0360). */
const STEP_WORDS: Readonly<Record<Step['kind'], string>> = {
  Where: '`where`',
  Select: '`select`',
  KeyBy: '`key by`',
  Dedup: '`dedup`',
  Aggregate: 'a window',
  Lookup: "a lookup's key (the lookup is evaluated apart from the record)",
  Match: 'a `match` (its conditions see many records)',
  Explode: '`explode`',
}

/** The functions of one list (count, sum, …; ListFunctionExpr); `min`/`max` of two values stay the stdlib's. */
const LIST_FUNCTIONS: readonly ListFunction[] = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last']
const LIST_FUNCTION_KINDS: Readonly<Record<ListFunction, readonly string[] | null>> = {
  count: null,
  first: null,
  last: null,
  sum: ['i64', 'f64', 'duration'],
  avg: ['i64', 'f64'],
  min: ['i64', 'f64', 'timestamp', 'duration', 'string'],
  max: ['i64', 'f64', 'timestamp', 'duration', 'string'],
}

/**
 * `??` nodes for `coalesce` arguments, each typed as what its arguments can give: right-nested, or
 * balanced past LONG_LOGICAL_CHAIN arguments so that no later pass recurses once per argument
 * (`??` is associative; issue 17).
 */
function coalesceChain(args: readonly Expr[], type: Type, span: Span): Expr {
  if (args.length > LONG_LOGICAL_CHAIN) return balancedCoalesce(args, 0, args.length, type, span)
  let chain = args.at(-1)!
  for (let i = args.length - 2; i >= 0; i--) {
    const left = args[i]!
    const right = chain
    const suffixType = i === 0 ? type : (unify(baseType(left.type), right.type) ?? type)
    chain = { kind: 'Coalesce', left, right, type: suffixType, span }
  }
  return chain
}

function balancedCoalesce(args: readonly Expr[], from: number, to: number, type: Type, span: Span): Expr {
  if (to - from === 1) return args[from]!
  const middle = (from + to) >> 1
  const left = balancedCoalesce(args, from, middle, type, span)
  const right = balancedCoalesce(args, middle, to, type, span)
  const partType = from === 0 && to === args.length ? type : (unify(baseType(left.type), right.type) ?? type)
  return { kind: 'Coalesce', left, right, type: partType, span }
}

const MAX_TOPIC_LENGTH = 249

/**
 * Why `topic` is not a legal Kafka topic name (`[A-Za-z0-9._-]{1,249}`, but not `.` or `..`), or
 * null when it is. The embedded log applies the same rule, so a pipeline moves to Kafka as is.
 */
function invalidTopicName(topic: string): string | null {
  const allowed = 'use only letters, digits, `.`, `_` and `-`'
  const bad = [...topic].find((c) => !/^[A-Za-z0-9._-]$/.test(c))
  if (bad !== undefined) {
    return `${JSON.stringify(topic)} is not a valid topic name: ${describeCharacter(bad)} is not allowed; ${allowed}`
  }
  if (topic === '.' || topic === '..') return `"." and ".." cannot be topic names (Kafka reserves them)`
  if (topic.length > MAX_TOPIC_LENGTH) {
    return `the topic name is ${topic.length} characters long; Kafka allows at most ${MAX_TOPIC_LENGTH}`
  }
  return null
}

function describeCharacter(c: string): string {
  if (c === ' ') return 'a space'
  if (c === '`') return 'a backtick'
  const code = c.codePointAt(0)!
  if (code < 0x20 || code === 0x7f)
    return `the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`
  return `\`${c}\``
}
