/**
 * Recursive-descent parser for `.pipe` (grammar: specs/language.md). It never throws to its
 * caller and reports as many syntax errors as it can per run: after an error it skips to a
 * synchronisation point — the next statement keyword, the next `|` step, or the next `,` / `}` of
 * a field list (bracket-aware) — and goes on.
 *
 * A statement that contained a syntax error is left out of the tree and its name is returned in
 * `incomplete`, so the checker can stay silent about uses of it instead of reporting a cascade of
 * "unknown stream" errors caused by the typo.
 */
import { createDiagnostic, type Diagnostic } from '../diagnostics/diagnostic.ts'
import type { Span } from '../ir/types.ts'
import type {
  AggregateInit,
  AggregateStep,
  AllFields,
  Annotation,
  ArithmeticOperator,
  BinaryOperator,
  BoundOffset,
  CaseBranch,
  ConnectorExpr,
  DedupStep,
  DurationLiteral,
  DurationUnit,
  EmitClause,
  ExplodeStep,
  Expression,
  FieldDecl,
  FieldInit,
  FieldRename,
  Identifier,
  ImportFunctionDecl,
  IntervalBound,
  IntLiteral,
  JoinClause,
  JoinType,
  LookupStep,
  MapEntry,
  MatchStep,
  PatternSequenceSyntax,
  PatternSyntax,
  PatternTermSyntax,
  PipeFile,
  QuantifierSyntax,
  RecordTimestampClause,
  RecordTimestampMode,
  SchemaDecl,
  SelectItem,
  SinkDecl,
  SinkHeader,
  SinkHeadersClause,
  SkipClause,
  SourceDecl,
  Statement,
  Step,
  StepDefinition,
  StreamDecl,
  StringLiteral,
  TableDecl,
  TimeoutClause,
  TypeExpr,
  UdfParam,
  WatermarkClause,
  WindowClause,
} from './ast.ts'
import { KEYWORDS, lex, type Token, type TokenKind } from './lexer.ts'
import { SpellingHintsPerChain } from './spelling-hints.ts'
import { noteSqlComments } from './sql-comment-hint.ts'

export interface ParseResult {
  readonly ast: PipeFile
  readonly diagnostics: readonly Diagnostic[]
  /** Names of schemas and streams whose statement had a syntax error (and is not in `ast`). */
  readonly incomplete: ReadonlySet<string>
}

/**
 * Deeper trees than this are rejected, so no later recursive pass can overflow the stack: the
 * checker, lowering, and TypeScript's own parser on the generated code, which is the first to
 * fail (near 700 levels of a flat `or` chain). Long `and`/`or` and `??` chains are built
 * balanced and long arithmetic chains flat (ArithmeticChain), so they never come near it.
 */
export const MAX_NESTING = 500

/** Longer `and`/`or` chains are built balanced (Parser.logicalChain); shorter ones as written. */
export const LONG_LOGICAL_CHAIN = 32

const STATEMENT_KEYWORDS: ReadonlySet<TokenKind> = new Set(['schema', 'source', 'stream', 'sink'])
const KEYWORD_SET: ReadonlySet<TokenKind> = new Set(KEYWORDS as readonly TokenKind[])
const COMPARISON_OPS: ReadonlySet<TokenKind> = new Set(['==', '!=', '<', '<=', '>', '>='])
const OPENERS: ReadonlySet<TokenKind> = new Set(['(', '[', '{'])
const CLOSERS: ReadonlySet<TokenKind> = new Set([')', ']', '}'])
/** The contextual word of a sink's record-timestamp clause, and its modes. */
const RECORD_TIMESTAMP = 'timestamp'
export const RECORD_TIMESTAMP_MODES: readonly RecordTimestampMode[] = ['event', 'append']
/** The contextual word of a sink's headers clause. */
const SINK_HEADERS = 'headers'
/**
 * The words of the stateful steps. They are not keywords, so fields named `window` or `within`
 * stay legal: a step starts with a keyword or one of these words, and `within` (after dedup's
 * keys) and `window` (after aggregate's keys, reserved for windowed aggregates) stand where an
 * expression has ended, so no expression can mean them.
 */
export const STEP_WORDS = {
  dedup: 'dedup',
  aggregate: 'aggregate',
  within: 'within',
  window: 'window',
} as const

/** The contextual words of a `window` clause. */
export const WINDOW_WORDS = {
  tumbling: 'tumbling',
  hopping: 'hopping',
  session: 'session',
  count: 'count',
  emit: 'emit',
  on: 'on',
  update: 'update',
  close: 'close',
  every: 'every',
  lateness: 'lateness',
  late: 'late',
  into: 'into',
  processing: 'processing',
  time: 'time',
} as const

/** The contextual words of a join (specs/language.md, "Joins"). */
export const JOIN_WORDS = {
  join: 'join',
  left: 'left',
  full: 'full',
  as: 'as',
  on: 'on',
  between: 'between',
  before: 'before',
  after: 'after',
} as const

/**
 * The words of tables and lookups: `table` where a statement starts, `lookup` where a step starts,
 * `as` and `on` inside the lookup step. None is a keyword, so fields may still have these names.
 */
/** Keywords that start or continue an expression, where a quoted-name hint would mislead. */
const EXPRESSION_KEYWORDS: ReadonlySet<TokenKind> = new Set([
  'and',
  'or',
  'not',
  'is',
  'null',
  'true',
  'false',
  'if',
  'then',
  'else',
])

/** The words after `*` in a `select` (contextual, not keywords). */
export const SELECT_WORDS = { except: 'except', rename: 'rename', as: 'as' } as const

export const LOOKUP_WORDS = {
  table: 'table',
  lookup: 'lookup',
  as: 'as',
  of: 'of',
  on: 'on',
} as const

/**
 * The words of a `match` step (specs/language.md, "Patterns"). None is a keyword; the pattern's
 * words cannot name a step, so `a next b` always reads as a connector.
 */
export const MATCH_WORDS = {
  match: 'match',
  within: 'within',
  pattern: 'pattern',
  define: 'define',
  as: 'as',
  until: 'until',
  next: 'next',
  followed: 'followed',
  any: 'any',
  greedy: 'greedy',
  reluctant: 'reluctant',
  consecutive: 'consecutive',
  skip: 'skip',
  to: 'to',
  past: 'past',
  last: 'last',
  first: 'first',
  event: 'event',
  late: 'late',
  into: 'into',
  timeout: 'timeout',
} as const

/** The word that starts a union of streams (`stream all = union a, b`). */
export const UNION_WORD = 'union'

/** The words of the `explode` step: `explode` where a step starts, `as` after its list. */
export const EXPLODE_WORDS = {
  explode: 'explode',
  as: 'as',
} as const

/** Words that stand where a step name of a pattern would, so they cannot name a step. */
export const PATTERN_RESERVED: ReadonlySet<string> = new Set([
  'next',
  'followed',
  'any',
  'greedy',
  'reluctant',
  'consecutive',
  'within',
  'define',
])

/** The deepest nesting of pattern groups `( ( … ) )`. */
const MAX_PATTERN_NESTING = 32

/**
 * The words of the SQL-style operators and of `case` (specs/language.md §2). None is a keyword, so
 * fields may still have these names: `in`, `between` and `like` are operators only right after an
 * operand (where no name can stand), and `case` starts a `case` only when `when` follows it.
 */
export const OPERATOR_WORDS = {
  in: 'in',
  between: 'between',
  like: 'like',
  case: 'case',
  when: 'when',
  end: 'end',
} as const
/** Words SQL users write in capitals where Sluice's lower-case word is an operator (E0109). */
const SQL_CAPITALS: ReadonlySet<string> = new Set(['IN', 'BETWEEN', 'LIKE', 'AND', 'OR', 'NOT', 'IS'])
const INFIX_WORDS: ReadonlySet<string> = new Set([
  OPERATOR_WORDS.in,
  OPERATOR_WORDS.between,
  OPERATOR_WORDS.like,
])

/**
 * Tokens that start the operand of a simple `case x when …` and cannot follow a name `case` in an
 * expression (besides identifiers other than `in`, `between`, `like` and `when`).
 */
const SIMPLE_CASE_OPERAND_STARTS: ReadonlySet<TokenKind> = new Set<TokenKind>([
  'int',
  'float',
  'string',
  'duration',
  'true',
  'false',
  'null',
  '{',
  '(',
  'if',
])

/** Unwinds to the nearest synchronisation point after an error has been reported. */
class ParseAbort {}

export function describeToken(token: Token): string {
  switch (token.kind) {
    case 'eof':
      return 'end of file'
    case 'ident':
      return `identifier \`${token.value}\``
    case 'int':
    case 'float':
      return `number \`${token.value}\``
    case 'string':
      return 'a string literal'
    case 'duration':
      return `duration \`${token.value}${token.unit ?? ''}\``
    default:
      return /^[a-z]/.test(token.kind) ? `keyword \`${token.kind}\`` : `\`${token.kind}\``
  }
}

export function parse(file: string, text: string): ParseResult {
  const lexed = lex(file, text)
  const parsed = new Parser(file, lexed.tokens, [...lexed.diagnostics]).parseFile(text.length)
  return { ...parsed, diagnostics: noteSqlComments(parsed.diagnostics, lexed.tokens, text) }
}

class Parser {
  private pos = 0
  private syntaxErrors = 0
  private nesting = 0
  private readonly depth = new WeakMap<object, number>()
  private readonly incomplete = new Set<string>()
  /**
   * While parsing the key of a lookup, the nesting level of its expression: an `or null` there
   * ends the key (it makes the lookup a left one) instead of continuing the `or` chain.
   */
  private orNullEndsAt = -1
  /**
   * C spellings of `and`/`or` the lexer reported, by position: in a chain only the first keeps
   * its report (with the chain's count, SpellingHintsPerChain); the others are dropped, so a
   * 2,000-term `||` chain gives one error, not 1,999.
   */
  private readonly chainSpellings = new SpellingHintsPerChain()

  constructor(
    private readonly file: string,
    private readonly tokens: readonly Token[],
    private readonly diagnostics: Diagnostic[],
  ) {}

  parseFile(length: number): ParseResult {
    const statements: Statement[] = []
    while (!this.at('eof')) {
      const errorsBefore = this.syntaxErrors
      let pendingName: string | null = null
      try {
        const statement = this.parseStatement((name) => {
          pendingName = name
        })
        if (this.syntaxErrors === errorsBefore) statements.push(statement)
        else if (pendingName !== null) this.incomplete.add(pendingName)
      } catch (e) {
        if (!(e instanceof ParseAbort)) throw e
        if (pendingName !== null) this.incomplete.add(pendingName)
        this.syncTo(new Set())
      }
    }
    return {
      ast: { kind: 'File', statements, span: this.span(0, length) },
      diagnostics: this.chainSpellings.apply(this.diagnostics),
      incomplete: this.incomplete,
    }
  }

  // -------------------------------------------------------------------------------------------
  // Token helpers

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!
  }

  private at(kind: TokenKind): boolean {
    return this.peek().kind === kind
  }

  private advance(): Token {
    const token = this.peek()
    if (token.kind !== 'eof') this.pos++
    return token
  }

  private eat(kind: TokenKind): Token | null {
    return this.at(kind) ? this.advance() : null
  }

  private span(start: number, end: number): Span {
    return { file: this.file, start, end }
  }

  private prevEnd(): number {
    return this.tokens[this.pos - 1]?.end ?? 0
  }

  private report(
    message: string,
    span: Span,
    code:
      | 'E0101'
      | 'E0102'
      | 'E0103'
      | 'E0104'
      | 'E0105'
      | 'E0106'
      | 'E0107'
      | 'E0108'
      | 'E0109'
      | 'E0114'
      | 'E0115' = 'E0101',
  ): void {
    this.syntaxErrors++
    this.diagnostics.push(createDiagnostic(code, message, span))
  }

  /** Reports `expected …, found …` at the current token and unwinds. */
  private fail(expected: string): never {
    const token = this.peek()
    this.report(`expected ${expected}, found ${describeToken(token)}`, this.span(token.start, token.end))
    throw new ParseAbort()
  }

  private expect(kind: TokenKind, expected: string): Token {
    return this.eat(kind) ?? this.fail(expected)
  }

  /**
   * The name of a field being declared. A reserved word there (`key: string`, a JSON key users
   * meet often) is reported as what it is and parsing goes on after it, instead of the statement
   * keyword it may be (`source`) starting a new statement in the middle of the field list.
   */
  private fieldName(): Identifier {
    const token = this.peek()
    if (KEYWORD_SET.has(token.kind) && this.peek(1).kind === ':') {
      this.advance()
      const span = this.span(token.start, token.end)
      this.reportReservedFieldName(token.kind, span)
      return { kind: 'Identifier', name: token.kind, span }
    }
    return this.identifier('a field name', true)
  }

  /** E0105 for a reserved word where a field name goes: it can still be written quoted. */
  private reportReservedFieldName(word: string, span: Span): void {
    this.report(
      `\`${word}\` is a reserved word of the language, so it cannot name a field as it is; quote it in backquotes (\`\` \`${word}\` \`\`) or rename the field (reserved: ${KEYWORDS.join(', ')})`,
      span,
      'E0105',
    )
  }

  /**
   * A name. A quoted one (`` `user-id` ``) is accepted only where a field is named (`fieldName`,
   * member access, …): sources, streams, schemas and functions name code and metrics, and keep
   * plain names.
   */
  private identifier(expected: string, quotedAllowed = false): Identifier {
    const token = this.expect('ident', expected)
    const span = this.span(token.start, token.end)
    if (token.quoted === true && !quotedAllowed) {
      this.report(
        `only field names can be quoted; ${expected} is a plain name (\`[A-Za-z_][A-Za-z0-9_]*\`)`,
        span,
        'E0114',
      )
    }
    return { kind: 'Identifier', name: String(token.value), span }
  }

  /**
   * Skips tokens until one of `stops` at bracket depth 0, a statement keyword (always a fresh
   * start: keywords are reserved) or the end of file. Unbalanced closers are skipped.
   */
  private syncTo(stops: ReadonlySet<TokenKind>): void {
    let depth = 0
    for (;;) {
      const kind = this.peek().kind
      if (
        kind === 'eof' ||
        STATEMENT_KEYWORDS.has(kind) ||
        this.atTableStatement() ||
        this.atImportStatement()
      )
        return
      if (depth === 0 && stops.has(kind)) return
      if (OPENERS.has(kind)) depth++
      else if (CLOSERS.has(kind) && depth > 0) depth--
      this.advance()
    }
  }

  /** Records a node's tree depth and rejects trees deeper than MAX_NESTING. */
  private node<T extends object>(value: T, ...children: readonly object[]): T {
    let d = 0
    for (const child of children) d = Math.max(d, this.depth.get(child) ?? 0)
    if (d + 1 > MAX_NESTING) {
      const s = (value as { span?: Span }).span ?? this.span(this.prevEnd(), this.prevEnd())
      this.report(`expression is nested too deeply (more than ${MAX_NESTING} levels)`, s, 'E0104')
      throw new ParseAbort()
    }
    this.depth.set(value, d + 1)
    return value
  }

  /** Guards recursion that does not build a node per level yet (parentheses, prefix operators). */
  private nested<T>(parse: () => T): T {
    if (this.nesting >= MAX_NESTING) {
      const token = this.peek()
      this.report(
        `expression is nested too deeply (more than ${MAX_NESTING} levels)`,
        this.span(token.start, token.end),
        'E0104',
      )
      throw new ParseAbort()
    }
    this.nesting++
    try {
      return parse()
    } finally {
      this.nesting--
    }
  }

  // -------------------------------------------------------------------------------------------
  // Statements

  private parseStatement(named: (name: string) => void): Statement {
    switch (this.peek().kind) {
      case 'schema':
        return this.parseSchema(named)
      case 'source':
        return this.parseSource(named)
      case 'stream':
        return this.parseStream(named)
      case 'sink':
        return this.parseSink()
      default:
        if (this.atTableStatement()) return this.parseTable(named)
        if (this.atImportStatement()) return this.parseImportFunction()
        return this.fail('a statement (`schema`, `source`, `stream` or `sink`)')
    }
  }

  private parseSchema(named: (name: string) => void): SchemaDecl {
    const start = this.advance().start
    const name = this.identifier('a schema name')
    named(name.name)
    const fields = this.parseFieldDecls('after the schema name')
    return { kind: 'Schema', name, fields, span: this.span(start, this.prevEnd()) }
  }

  /** `{ field, … }` of a schema or inline record type, recovering per field. */
  private parseFieldDecls(where: string): FieldDecl[] {
    this.expect('{', `\`{\` ${where}`)
    return this.parseFieldsUntilBrace(() => this.parseFieldDecl())
  }

  /**
   * The fields after a `{`, up to and including the `}`. A field that fails to parse is skipped
   * up to the next `,` or `}`, so one bad field does not hide the errors of the others.
   */
  private parseFieldsUntilBrace<T>(parseField: () => T): T[] {
    const fields: T[] = []
    const stops: ReadonlySet<TokenKind> = new Set([',', '}'])
    while (!this.at('}')) {
      try {
        fields.push(parseField())
        if (!this.at('}')) this.expect(',', '`,` or `}` after a field')
      } catch (e) {
        if (!(e instanceof ParseAbort)) throw e
        this.syncTo(stops)
        if (this.eat(',')) continue
        if (!this.at('}')) return fields
      }
    }
    this.advance()
    return fields
  }

  private parseFieldDecl(): FieldDecl {
    const name = this.fieldName()
    this.expect(':', `\`:\` after field name \`${name.name}\``)
    const type = this.parseType()
    const annotations: Annotation[] = []
    while (this.at('@')) {
      const at = this.advance()
      const annotationName = this.identifier('an annotation name after `@`')
      annotations.push({
        kind: 'Annotation',
        name: annotationName,
        span: this.span(at.start, this.prevEnd()),
      })
    }
    return { kind: 'FieldDecl', name, type, annotations, span: this.span(name.span.start, this.prevEnd()) }
  }

  private parseType(): TypeExpr {
    return this.nested(() => {
      const start = this.peek().start
      let type: TypeExpr
      if (this.at('{')) {
        const fields = this.parseFieldDecls('to start a record type')
        type = { kind: 'RecordType', fields, span: this.span(start, this.prevEnd()) }
      } else {
        const name = this.identifier('a type')
        if (name.name === 'list') {
          this.expect('<', '`<` after `list` (write `list<T>`)')
          const of = this.parseType()
          this.expect('>', '`>` to close `list<…>`')
          type = { kind: 'ListType', of, span: this.span(start, this.prevEnd()) }
        } else if (name.name === 'map' && this.at('<')) {
          this.advance()
          const key = this.parseType()
          this.expect(',', '`,` and the value type after the key type of `map` (write `map<string, T>`)')
          const of = this.parseType()
          this.expect('>', '`>` to close `map<…>`')
          type = { kind: 'MapType', key, of, span: this.span(start, this.prevEnd()) }
        } else {
          type = { kind: 'NamedType', name, span: name.span }
        }
      }
      if (this.eat('?')) {
        type = { kind: 'OptionalType', of: type, span: this.span(start, this.prevEnd()) }
      }
      if (this.at('?') || this.at('??')) {
        const token = this.peek()
        this.report('a type can be made optional only once', this.span(token.start, token.end))
        throw new ParseAbort()
      }
      return type
    })
  }

  private parseSource(named: (name: string) => void): SourceDecl {
    const start = this.advance().start
    const name = this.identifier('a source name')
    named(name.name)
    this.expect(':', '`:` and the schema of the source')
    const schema = this.identifier('a schema name')
    this.expect('from', '`from` and a connector')
    const connector = this.parseConnector()
    let watermark: WatermarkClause | null = null
    if (this.at('watermark')) {
      const wmStart = this.advance().start
      const field = this.identifier('the event-time field after `watermark`', true)
      let delay: DurationLiteral | null = null
      if (this.eat('-')) {
        const token = this.expect('duration', 'a duration literal such as `5s`')
        delay = this.durationLiteral(token)
      }
      watermark = { kind: 'Watermark', field, delay, span: this.span(wmStart, this.prevEnd()) }
    }
    return { kind: 'Source', name, schema, connector, watermark, span: this.span(start, this.prevEnd()) }
  }

  /**
   * Whether a table statement starts here: `table NAME :`. The word alone is not enough (a field
   * may be named `table`), but no other construct puts two names and a `:` in a row.
   */
  private atImportStatement(): boolean {
    return this.atWord('import') && this.peek(1).kind === 'ident' && this.peek(1).value === 'function'
  }

  /** `import function NAME(p: T, …): T from "./module.ts"` (a user-defined function). */
  private parseImportFunction(): ImportFunctionDecl {
    const start = this.advance().start
    this.advance()
    const name = this.identifier('the name of the function to import')
    this.expect('(', '`(` and the parameters of the function')
    const params: UdfParam[] = []
    while (!this.at(')')) {
      const param = this.identifier('a parameter name')
      this.expect(':', `\`:\` and the type of parameter \`${param.name}\``)
      const type = this.parseType()
      params.push({ kind: 'UdfParam', name: param, type, span: this.span(param.span.start, this.prevEnd()) })
      if (!this.at(')')) this.expect(',', '`,` or `)` in the parameter list')
    }
    this.advance()
    this.expect(':', '`:` and the type the function returns')
    const result = this.parseType()
    this.expect('from', '`from` and the TypeScript module that exports the function')
    const module = this.expect('string', 'the path of the module, e.g. `"./udf.ts"`')
    const from: StringLiteral = {
      kind: 'StringLiteral',
      value: String(module.value),
      span: this.span(module.start, module.end),
    }
    return { kind: 'ImportFunction', name, params, result, from, span: this.span(start, this.prevEnd()) }
  }

  private atTableStatement(): boolean {
    return this.atWord(LOOKUP_WORDS.table) && this.peek(1).kind === 'ident' && this.peek(2).kind === ':'
  }

  /** `table NAME: SCHEMA from connector key by expr` */
  private parseTable(named: (name: string) => void): TableDecl {
    const start = this.advance().start
    const name = this.identifier('a table name')
    named(name.name)
    this.expect(':', '`:` and the schema of the table')
    const schema = this.identifier('a schema name')
    this.expect('from', '`from` and a connector')
    const connector = this.parseConnector()
    this.expect('key', "`key by` and the key of the table's rows (`key by id`)")
    this.expect('by', '`by` after `key`')
    const key = this.parseExpression()
    return { kind: 'Table', name, schema, connector, key, span: this.span(start, this.prevEnd()) }
  }

  private parseConnector(): ConnectorExpr {
    const name = this.identifier('a connector (`kafka("topic")` or `stdout`)')
    let args: StringLiteral[] | null = null
    if (this.eat('(')) {
      args = []
      while (!this.at(')')) {
        const token = this.expect('string', 'a string argument')
        args.push({
          kind: 'StringLiteral',
          value: String(token.value),
          span: this.span(token.start, token.end),
        })
        if (!this.at(')')) this.expect(',', '`,` or `)`')
      }
      this.advance()
    }
    return { kind: 'Connector', name, args, span: this.span(name.span.start, this.prevEnd()) }
  }

  private parseStream(named: (name: string) => void): StreamDecl {
    const start = this.advance().start
    const name = this.identifier('a stream name')
    named(name.name)
    this.expect('=', '`=` after the stream name')
    const joinStart = this.joinStart()
    let input: Identifier
    let join: JoinClause | null = null
    let union: Identifier[] | null = null
    if (joinStart !== null) ({ input, join } = this.parseJoin(joinStart))
    else if (this.atUnion()) ({ input, union } = this.parseUnion())
    else input = this.identifier('the name of a source or stream to read')
    const steps: Step[] = []
    const stops: ReadonlySet<TokenKind> = new Set(['|'])
    while (this.eat('|')) {
      try {
        steps.push(this.parseStep())
      } catch (e) {
        if (!(e instanceof ParseAbort)) throw e
        this.syncTo(stops)
      }
    }
    const span = this.span(start, this.prevEnd())
    return { kind: 'Stream', name, input, join, ...(union === null ? {} : { union }), steps, span }
  }

  /**
   * `union a, b`: the word is not a keyword, so `stream s = union | …` still reads a source named
   * `union`; an identifier and a comma after it can only start a union.
   */
  private atUnion(): boolean {
    return this.atWord(UNION_WORD) && this.peek(1).kind === 'ident' && this.peek(2).kind === ','
  }

  /** `union A, B {, C}`: the first is the stream's `input`, the others its `union`. */
  private parseUnion(): { input: Identifier; union: Identifier[] } {
    this.advance()
    const input = this.identifier('the name of a source or stream to read')
    const union: Identifier[] = []
    while (this.eat(',')) union.push(this.identifier('the name of another source or stream after `,`'))
    return { input, union }
  }

  /**
   * The join type when a join starts here: `join X`, `left join`, `full join`. The words are not
   * keywords: a source named `join` is still read by `stream s = join | …`, as an identifier
   * followed by another (the joined stream) can only start a join.
   */
  private joinStart(): JoinType | null {
    const next = this.peek(1)
    if (this.atWord(JOIN_WORDS.join) && next.kind === 'ident') return 'inner'
    const isJoin = next.kind === 'ident' && next.value === JOIN_WORDS.join && next.quoted !== true
    if (this.atWord(JOIN_WORDS.left) && isJoin) return 'left'
    if (this.atWord(JOIN_WORDS.full) && isJoin) return 'full'
    return null
  }

  /** `[left|full] join A as a, B as b on expr (within … | window …)` */
  private parseJoin(type: JoinType): { input: Identifier; join: JoinClause } {
    const start = this.advance().start
    if (type !== 'inner') this.advance()
    const input = this.identifier('the name of a source or stream to join')
    const leftAlias = this.joinAlias(input)
    this.expect(',', '`,` and the second stream of the join (`join orders as o, shipments as s on …`)')
    const right = this.identifier('the name of the second source or stream to join')
    const rightAlias = this.joinAlias(right)
    if (!this.atWord(JOIN_WORDS.on)) {
      this.fail('`on` and the join condition (`on o.id == s.order_id`)')
    }
    this.advance()
    const on = this.parseExpression()
    let within: IntervalBound | null = null
    let window: WindowClause | null = null
    if (this.atWord(STEP_WORDS.within)) within = this.parseIntervalBound()
    else if (this.atWord(STEP_WORDS.window)) window = this.parseWindowClause()
    else {
      this.fail(
        'the time bound of the join after its condition: `within s between 5m before and 1m after o` or `window tumbling 1m`',
      )
    }
    const span = this.span(start, this.prevEnd())
    return {
      input,
      join: { kind: 'JoinClause', type, leftAlias, right, rightAlias, on, within, window, span },
    }
  }

  /** `as name` after a joined stream. */
  private joinAlias(of: Identifier): Identifier {
    if (!this.atWord(JOIN_WORDS.as)) {
      this.fail(`\`as\` and a name for the events of \`${of.name}\` in the join (\`${of.name} as x\`)`)
    }
    this.advance()
    return this.identifier(`a name for the events of \`${of.name}\` after \`as\``)
  }

  /** `within s between D before|after and D before|after o` [`lateness D`] [`late into name`] */
  private parseIntervalBound(): IntervalBound {
    const start = this.advance().start
    const subject = this.identifier('the name of one side of the join after `within` (`within s between …`)')
    if (!this.atWord(JOIN_WORDS.between)) {
      this.fail('`between` after the side (`within s between 5m before and 1m after o`)')
    }
    this.advance()
    const lower = this.boundOffset()
    this.expect('and', '`and` and the upper bound (`between 5m before and 1m after o`)')
    const upper = this.boundOffset()
    const reference = this.identifier(
      'the name of the other side of the join after the bounds (`… and 1m after o`)',
    )
    const { lateness, lateInto } = this.latenessClauses()
    return {
      kind: 'IntervalBound',
      subject,
      lower,
      upper,
      reference,
      lateness,
      lateInto,
      span: this.span(start, this.prevEnd()),
    }
  }

  /** `5m before` or `1m after`. */
  private boundOffset(): BoundOffset {
    const amount = this.durationLiteral(
      this.expect('duration', 'a duration in the bound, such as `5m before` or `0ms after`'),
    )
    const token = this.peek()
    if (!this.atWord(JOIN_WORDS.before) && !this.atWord(JOIN_WORDS.after)) {
      this.fail(`\`before\` or \`after\` after \`${amount.amount}${amount.unit}\``)
    }
    this.advance()
    return {
      amount,
      direction: token.value === JOIN_WORDS.before ? 'before' : 'after',
      span: this.span(amount.span.start, this.prevEnd()),
    }
  }

  /** [`lateness D`] [`late into name`], after a window or a join's bound. */
  private latenessClauses(): { lateness: DurationLiteral | null; lateInto: Identifier | null } {
    let lateness: DurationLiteral | null = null
    if (this.atWord(WINDOW_WORDS.lateness)) {
      this.advance()
      lateness = this.durationLiteral(
        this.expect(
          'duration',
          'a duration after `lateness`: how late an event may still change a window, such as `30s`',
        ),
      )
    }
    let lateInto: Identifier | null = null
    if (this.atWord(WINDOW_WORDS.late)) {
      this.advance()
      if (!this.atWord(WINDOW_WORDS.into))
        this.fail('`into` and a stream name after `late` (`late into late_payments`)')
      this.advance()
      lateInto = this.identifier('the name of the stream of late events after `late into`')
    }
    return { lateness, lateInto }
  }

  private parseStep(): Step {
    const start = this.peek().start
    if (this.eat('where')) {
      const predicate = this.parseExpression()
      return { kind: 'Where', predicate, span: this.span(start, this.prevEnd()) }
    }
    if (this.eat('select')) {
      this.expect('{', '`{` after `select`')
      const fields = this.parseFieldsUntilBrace<SelectItem>(() =>
        this.at('*') ? this.parseAllFields() : this.parseFieldInit(),
      )
      return { kind: 'Select', fields, span: this.span(start, this.prevEnd()) }
    }
    if (this.eat('key')) {
      this.expect('by', '`by` after `key`')
      const key = this.parseExpression()
      return { kind: 'KeyBy', key, span: this.span(start, this.prevEnd()) }
    }
    if (this.atWord(STEP_WORDS.dedup)) return this.parseDedup()
    if (this.atWord(STEP_WORDS.aggregate)) return this.parseAggregate()
    if (this.atWord(LOOKUP_WORDS.lookup)) return this.parseLookup()
    if (this.atWord(MATCH_WORDS.match)) return this.parseMatch()
    if (this.atWord(EXPLODE_WORDS.explode)) return this.parseExplode()
    return this.fail(
      'a step (`where`, `select`, `key by`, `dedup`, `aggregate`, `lookup`, `match` or `explode`)',
    )
  }

  /** `explode expr as name [or null]`; the list expression ends before `as`, which no operator is. */
  private parseExplode(): ExplodeStep {
    const start = this.advance().start
    const list = this.parseExpression()
    if (!this.atWord(EXPLODE_WORDS.as)) {
      this.fail('`as` and a name for each item after the list (`explode items as item`)')
    }
    this.advance()
    const alias = this.fieldName()
    let orNull = false
    if (this.at('or') && this.peek(1).kind === 'null') {
      this.advance()
      this.advance()
      orNull = true
    }
    return { kind: 'Explode', list, alias, orNull, span: this.span(start, this.prevEnd()) }
  }

  /** `lookup TABLE as ALIAS on expr [as of expr] [or null]` */
  private parseLookup(): LookupStep {
    const start = this.advance().start
    const table = this.identifier('the name of a table after `lookup` (`lookup accounts as a on card_id`)')
    if (!this.atWord(LOOKUP_WORDS.as)) {
      this.fail('`as` and a name for the row after the table (`lookup accounts as a on card_id`)')
    }
    this.advance()
    const alias = this.fieldName()
    if (!this.atWord(LOOKUP_WORDS.on)) {
      this.fail('`on` and the key to look up after the name of the row (`lookup accounts as a on card_id`)')
    }
    this.advance()
    const key = this.parseLookupExpression()
    let asOf: Expression | null = null
    if (this.atWord(LOOKUP_WORDS.as)) {
      // Nothing else can follow a key with `as`: a missing `of` is reported as such.
      this.advance()
      if (!this.atWord(LOOKUP_WORDS.of)) this.fail('`of` and the time to look the row up at (`as of ts`)')
      this.advance()
      asOf = this.parseLookupExpression()
    }
    let orNull = false
    if (this.at('or') && this.peek(1).kind === 'null') {
      this.advance()
      this.advance()
      orNull = true
    }
    return { kind: 'Lookup', table, alias, key, asOf, orNull, span: this.span(start, this.prevEnd()) }
  }

  /**
   * `match [by expr] [within D] pattern P define s as cond [until cond], … [skip …]
   * [late into x] [timeout into y { … }] { … }`
   */
  private parseMatch(): MatchStep {
    const start = this.advance().start
    const key = this.eat('by') ? this.parseExpression() : null
    let within: DurationLiteral | null = null
    if (this.atWord(MATCH_WORDS.within)) {
      this.advance()
      within = this.durationLiteral(
        this.expect('duration', 'a duration after `within`: the longest a match may last, such as `10m`'),
      )
    }
    if (!this.atWord(MATCH_WORDS.pattern)) {
      this.fail(
        key === null && within === null
          ? '`by` and a key, `within` and a duration, or `pattern` after `match` (`match by card within 10m pattern a followed by b …`)'
          : '`pattern` and the steps to match (`pattern a followed by b`)',
      )
    }
    this.advance()
    const pattern = this.parsePattern(0)
    if (!this.atWord(MATCH_WORDS.define)) {
      this.fail(
        '`define` and the condition of each step after the pattern (`define a as amount < 10, b as amount > 100`), or a connector (`next`, `followed by`, `followed by any`, `not next`, `not followed by`)',
      )
    }
    this.advance()
    const defines: StepDefinition[] = [this.parseStepDefinition()]
    while (this.eat(',')) defines.push(this.parseStepDefinition())
    const skip = this.atWord(MATCH_WORDS.skip) ? this.parseSkip() : null
    let lateInto: Identifier | null = null
    if (this.atWord(MATCH_WORDS.late)) {
      this.advance()
      if (!this.atWord(MATCH_WORDS.into))
        this.fail('`into` and a stream name after `late` (`late into late_payments`)')
      this.advance()
      lateInto = this.identifier('the name of the stream of late events after `late into`')
    }
    let timeout: TimeoutClause | null = null
    if (this.atWord(MATCH_WORDS.timeout)) {
      const timeoutStart = this.advance().start
      if (!this.atWord(MATCH_WORDS.into)) {
        this.fail(
          '`into`, a stream name and its record after `timeout` (`timeout into expired { card: first(a).card }`)',
        )
      }
      this.advance()
      const into = this.identifier('the name of the stream of timed-out partial matches after `timeout into`')
      const fields = this.parseFieldInits(
        '`{` and the record of a timed-out partial match after its stream name (`timeout into expired { n: count(a) }`)',
      )
      timeout = { kind: 'TimeoutClause', into, fields, span: this.span(timeoutStart, this.prevEnd()) }
    }
    if (!this.at('{')) {
      this.fail(
        skip === null && lateInto === null && timeout === null
          ? '`,` and another step definition, `skip …`, `late into …`, `timeout into …`, or `{` and the record of a match (`{ card: b.card, n: count(a) }`)'
          : '`{` and the record of a match (`{ card: b.card, n: count(a) }`)',
      )
    }
    const fields = this.parseFieldInits('`{`')
    return {
      kind: 'Match',
      key,
      within,
      pattern,
      defines,
      skip,
      lateInto,
      timeout,
      fields,
      span: this.span(start, this.prevEnd()),
    }
  }

  /** `option { "|" option }` */
  private parsePattern(depth: number): PatternSyntax {
    const first = this.parsePatternSequence(depth)
    if (!this.at('|')) return first
    const options: PatternSequenceSyntax[] = [first]
    while (this.eat('|')) options.push(this.parsePatternSequence(depth))
    return {
      kind: 'PatternAlternation',
      options,
      span: this.span(first.span.start, this.prevEnd()),
    }
  }

  /** `term { connector term }` */
  private parsePatternSequence(depth: number): PatternSequenceSyntax {
    const start = this.peek().start
    const elements: PatternSequenceSyntax['elements'][number][] = [
      { connector: 'begin', term: this.parsePatternTerm(depth) },
    ]
    for (;;) {
      const connector = this.patternConnector()
      if (connector === null) break
      elements.push({ connector, term: this.parsePatternTerm(depth) })
    }
    return { kind: 'PatternSequence', elements, span: this.span(start, this.prevEnd()) }
  }

  /** Reads a connector when one starts here: `next`, `followed by [any]`, `not next`, `not followed by`. */
  private patternConnector(): PatternSequenceSyntax['elements'][number]['connector'] | null {
    const negated = this.at('not')
    const word = this.peek(negated ? 1 : 0)
    const isWord = (w: string) => word.kind === 'ident' && word.value === w && word.quoted !== true
    if (!isWord(MATCH_WORDS.next) && !isWord(MATCH_WORDS.followed)) {
      if (negated) {
        this.advance()
        this.fail('`next` or `followed by` after `not` (`a not followed by b`)')
      }
      return null
    }
    if (negated) this.advance()
    if (isWord(MATCH_WORDS.next)) {
      this.advance()
      return negated ? 'notNext' : 'next'
    }
    this.advance()
    this.expect('by', '`by` after `followed` (`a followed by b`)')
    if (!negated && this.atWord(MATCH_WORDS.any)) {
      // `followed by any b`; a step named `any` cannot exist (PATTERN_RESERVED).
      this.advance()
      return 'followedByAny'
    }
    return negated ? 'notFollowedBy' : 'followedBy'
  }

  /** `(name | "(" pattern ")") [quantifier] [within D]` */
  private parsePatternTerm(depth: number): PatternTermSyntax {
    const start = this.peek().start
    let step: Identifier | null = null
    let group: PatternSyntax | null = null
    if (this.at('not')) {
      const token = this.peek()
      this.report(
        'a pattern (or a group, or an option of `|`) cannot start with `not …`: absence is checked after a step (`a not followed by b`)',
        this.span(token.start, token.end),
      )
      throw new ParseAbort()
    }
    if (this.at('(')) {
      if (depth >= MAX_PATTERN_NESTING) {
        const token = this.peek()
        this.report(
          `pattern groups are nested too deeply (more than ${MAX_PATTERN_NESTING} levels)`,
          this.span(token.start, token.end),
          'E0104',
        )
        throw new ParseAbort()
      }
      this.advance()
      group = this.parsePattern(depth + 1)
      this.expect(')', '`)` to close the group, or a connector (`next`, `followed by`, …)')
    } else {
      const token = this.peek()
      if (token.kind === 'ident' && PATTERN_RESERVED.has(String(token.value))) {
        this.report(
          `expected a step name or \`(\`, found \`${token.value}\`, a word of patterns (a step cannot be named so)`,
          this.span(token.start, token.end),
        )
        throw new ParseAbort()
      }
      step = this.identifier('a step name or `(` and a group of steps')
    }
    const quantifier = this.parseQuantifier()
    let within: DurationLiteral | null = null
    if (this.atWord(MATCH_WORDS.within)) {
      this.advance()
      within = this.durationLiteral(
        this.expect(
          'duration',
          "a duration after the step's `within`: how soon after the previous step it must come, such as `5m`",
        ),
      )
    }
    return { kind: 'PatternTerm', step, group, quantifier, within, span: this.span(start, this.prevEnd()) }
  }

  /** `{n}` `{n,m}` `{n,}` `+` `*` `?`, then `greedy`/`reluctant`, then `consecutive`/`any`; null when none. */
  private parseQuantifier(): QuantifierSyntax | null {
    const start = this.peek().start
    let form: QuantifierSyntax['form']
    let min: number
    let max: number | null
    if (this.eat('{')) {
      min = Number(this.expect('int', 'a number of repetitions after `{` (`a{2}`, `a{1,3}`, `a{2,}`)').value)
      if (this.eat(',')) {
        const upper = this.eat('int')
        form = upper === null ? 'atLeast' : 'range'
        max = upper === null ? null : Number(upper.value)
      } else {
        form = 'exact'
        max = min
      }
      this.expect(
        '}',
        form === 'exact' ? '`}` or `,` in the quantifier (`a{2}`, `a{1,3}`)' : '`}` to close the quantifier',
      )
    } else if (this.eat('+')) {
      ;[form, min, max] = ['+', 1, null]
    } else if (this.eat('*')) {
      ;[form, min, max] = ['*', 0, null]
    } else if (this.eat('?')) {
      ;[form, min, max] = ['?', 0, 1]
    } else {
      return null
    }
    let mode: QuantifierSyntax['mode'] = 'all'
    if (this.atWord(MATCH_WORDS.greedy) || this.atWord(MATCH_WORDS.reluctant)) {
      mode = this.advance().value === MATCH_WORDS.greedy ? 'greedy' : 'reluctant'
    }
    let inner: QuantifierSyntax['inner'] = 'relaxed'
    if (this.atWord(MATCH_WORDS.consecutive) || this.atWord(MATCH_WORDS.any)) {
      inner = this.advance().value === MATCH_WORDS.consecutive ? 'strict' : 'any'
    }
    return { kind: 'Quantifier', form, min, max, mode, inner, span: this.span(start, this.prevEnd()) }
  }

  /** `name as condition [until condition]` */
  private parseStepDefinition(): StepDefinition {
    const name = this.identifier('the name of a step to define (`define a as amount < 10`)')
    if (!this.atWord(MATCH_WORDS.as)) {
      this.fail(`\`as\` and the condition of step \`${name.name}\` (\`${name.name} as amount > 100\`)`)
    }
    this.advance()
    const condition = this.parseExpression()
    let until: Expression | null = null
    if (this.atWord(MATCH_WORDS.until)) {
      this.advance()
      until = this.parseExpression()
    }
    return {
      kind: 'StepDefinition',
      name,
      condition,
      until,
      span: this.span(name.span.start, this.prevEnd()),
    }
  }

  /** `skip to next` | `skip past last event` | `skip to first s` | `skip to last s` */
  private parseSkip(): SkipClause {
    const start = this.advance().start
    const expected = '`to next`, `past last event`, `to first <step>` or `to last <step>` after `skip`'
    if (this.atWord(MATCH_WORDS.past)) {
      this.advance()
      if (!this.atWord(MATCH_WORDS.last)) this.fail('`last event` after `skip past`')
      this.advance()
      if (!this.atWord(MATCH_WORDS.event)) this.fail('`event` after `skip past last`')
      this.advance()
      return {
        kind: 'SkipClause',
        strategy: 'pastLastEvent',
        step: null,
        span: this.span(start, this.prevEnd()),
      }
    }
    if (!this.atWord(MATCH_WORDS.to)) this.fail(expected)
    this.advance()
    if (this.atWord(MATCH_WORDS.next)) {
      this.advance()
      return { kind: 'SkipClause', strategy: 'toNext', step: null, span: this.span(start, this.prevEnd()) }
    }
    if (!this.atWord(MATCH_WORDS.first) && !this.atWord(MATCH_WORDS.last))
      this.fail('`next`, `first <step>` or `last <step>` after `skip to`')
    const strategy = this.advance().value === MATCH_WORDS.first ? 'toFirst' : 'toLast'
    const step = this.identifier(
      `the step to skip to after \`skip to ${strategy === 'toFirst' ? 'first' : 'last'}\``,
    )
    return { kind: 'SkipClause', strategy, step, span: this.span(start, this.prevEnd()) }
  }

  /** An expression of a lookup step, which a following `or null` ends. */
  private parseLookupExpression(): Expression {
    const outer = this.orNullEndsAt
    this.orNullEndsAt = this.nesting + 1
    try {
      return this.parseExpression()
    } finally {
      this.orNullEndsAt = outer
    }
  }

  /** `dedup by expr, … within DURATION` */
  private parseDedup(): DedupStep {
    const start = this.advance().start
    this.expect('by', '`by` and the key after `dedup` (`dedup by id within 10m`)')
    const keys: Expression[] = [this.parseExpression()]
    while (this.eat(',')) keys.push(this.parseExpression())
    if (!this.atWord(STEP_WORDS.within)) {
      this.fail('`within` and a duration after the keys of `dedup` (`dedup by id within 10m`)')
    }
    this.advance()
    const token = this.expect('duration', 'a duration literal after `within`, such as `10m`')
    const within = this.durationLiteral(token)
    return { kind: 'Dedup', keys, within, span: this.span(start, this.prevEnd()) }
  }

  /** `aggregate by key, name: expr, … { name: fn(args), … }` */
  private parseAggregate(): AggregateStep {
    const start = this.advance().start
    this.expect('by', '`by` and the keys after `aggregate` (`aggregate by card { n: count() }`)')
    const keys: FieldInit[] = [this.parseFieldInit()]
    while (this.eat(',')) keys.push(this.parseFieldInit())
    const window = this.atWord(STEP_WORDS.window) ? this.parseWindowClause() : null
    this.expect('{', '`{` and the aggregates after the keys (`{ n: count(), total: sum(amount) }`)')
    const aggregates = this.parseFieldsUntilBrace(() => this.parseAggregateInit())
    return { kind: 'Aggregate', keys, window, aggregates, span: this.span(start, this.prevEnd()) }
  }

  /**
   * `window tumbling D | hopping D every D | session D | session (expr) | count N [every N]`
   * [`processing time`] [`lateness D`] [`emit …`] [`late into name`]
   */
  private parseWindowClause(): WindowClause {
    const start = this.advance().start
    const type = this.identifier('a window type after `window`: `tumbling 1m` or `hopping 10m every 1m`')
    if (
      type.name !== WINDOW_WORDS.tumbling &&
      type.name !== WINDOW_WORDS.hopping &&
      type.name !== WINDOW_WORDS.session &&
      type.name !== WINDOW_WORDS.count
    ) {
      this.report(
        `unknown window type \`${type.name}\`; write \`window tumbling 1m\`, \`window hopping 10m every 1m\`, \`window session 30m\` or \`window count 100\``,
        type.span,
      )
      throw new ParseAbort()
    }
    let size: DurationLiteral | null = null
    let gap: Expression | null = null
    let events: WindowClause['events'] = null
    if (type.name === WINDOW_WORDS.count) {
      const count = this.intLiteral(
        this.expect('int', 'a number of events after `count`, such as `100` (`window count 100`)'),
      )
      let every: IntLiteral | null = null
      if (this.atWord(WINDOW_WORDS.every)) {
        this.advance()
        every = this.intLiteral(
          this.expect('int', 'a number of events after `every`, such as `10` (`window count 100 every 10`)'),
        )
      }
      events = { size: count, every }
    } else if (type.name === WINDOW_WORDS.session && this.at('(')) {
      this.advance()
      gap = this.parseExpression()
      this.expect(')', '`)` after the gap expression of `session (…)`')
    } else {
      size = this.durationLiteral(
        this.expect(
          'duration',
          type.name === WINDOW_WORDS.session
            ? 'a duration after `session`: the gap that ends a session, such as `30m`, or `(expression)` for a gap per event'
            : `a duration after \`${type.name}\`: the window's length, such as \`1m\``,
        ),
      )
    }
    let every: DurationLiteral | null = null
    if (type.name === WINDOW_WORDS.hopping) {
      if (!this.atWord(WINDOW_WORDS.every)) {
        this.fail('`every` and the step between windows after the length (`window hopping 10m every 1m`)')
      }
      this.advance()
      every = this.durationLiteral(this.expect('duration', 'a duration after `every`, such as `1m`'))
    }
    let processingTime = false
    if (this.atWord(WINDOW_WORDS.processing)) {
      this.advance()
      if (!this.atWord(WINDOW_WORDS.time))
        this.fail('`time` after `processing` (`window tumbling 1m processing time`)')
      this.advance()
      processingTime = true
    }
    let lateness: DurationLiteral | null = null
    if (this.atWord(WINDOW_WORDS.lateness)) {
      this.advance()
      lateness = this.durationLiteral(
        this.expect(
          'duration',
          'a duration after `lateness`: how late an event may still change a window, such as `30s`',
        ),
      )
    }
    const emit = this.atWord(WINDOW_WORDS.emit) ? this.parseEmitClause() : null
    let lateInto: Identifier | null = null
    if (this.atWord(WINDOW_WORDS.late)) {
      this.advance()
      if (!this.atWord(WINDOW_WORDS.into))
        this.fail('`into` and a stream name after `late` (`late into late_payments`)')
      this.advance()
      lateInto = this.identifier('the name of the stream of late events after `late into`')
      if (this.atWord(WINDOW_WORDS.emit)) {
        this.report(
          '`emit …` goes before `late into`: `window tumbling 1m emit every 10s late into late`',
          this.span(this.peek().start, this.peek().end),
        )
        throw new ParseAbort()
      }
    }
    return {
      kind: 'WindowClause',
      type,
      events,
      size,
      gap,
      every,
      processingTime,
      lateness,
      emit,
      lateInto,
      span: this.span(start, this.prevEnd()),
    }
  }

  /** `emit every D` | `emit on update` | `emit on close` */
  private parseEmitClause(): EmitClause {
    const start = this.advance().start
    const expected = '`every` and a duration, `on update` or `on close` after `emit` (`emit every 30s`)'
    if (this.atWord(WINDOW_WORDS.every)) {
      this.advance()
      const every = this.durationLiteral(
        this.expect(
          'duration',
          'a duration after `emit every`: how often an open window emits, such as `30s`',
        ),
      )
      return { kind: 'EmitClause', mode: 'every', every, span: this.span(start, this.prevEnd()) }
    }
    if (!this.atWord(WINDOW_WORDS.on)) this.fail(expected)
    this.advance()
    const mode = this.atWord(WINDOW_WORDS.update)
      ? 'update'
      : this.atWord(WINDOW_WORDS.close)
        ? 'close'
        : null
    if (mode === null) this.fail('`update` or `close` after `emit on`')
    this.advance()
    return { kind: 'EmitClause', mode, every: null, span: this.span(start, this.prevEnd()) }
  }

  private parseAggregateInit(): AggregateInit {
    const name = this.fieldName()
    this.expect(':', `\`:\` and an aggregate after \`${name.name}\` (\`${name.name}: sum(x)\`)`)
    const fn = this.identifier('an aggregate function: `count`, `sum`, `min`, `max` or `avg`')
    if (!this.at('(')) {
      // `total: amount`: a value where an aggregate belongs; say how to aggregate it.
      this.report(
        `an aggregate is a call of \`count\`, \`sum\`, \`min\`, \`max\` or \`avg\`, such as \`${name.name}: sum(${fn.name})\``,
        fn.span,
      )
      throw new ParseAbort()
    }
    this.advance()
    const args: Expression[] = []
    while (!this.at(')')) {
      args.push(this.parseExpression())
      if (!this.at(')')) this.expect(',', '`,` or `)` in the argument list')
    }
    this.advance()
    return { kind: 'AggregateInit', name, fn, args, span: this.span(name.span.start, this.prevEnd()) }
  }

  private parseSink(): SinkDecl {
    const start = this.advance().start
    const input = this.identifier('the name of the stream to sink')
    this.expect('->', '`->` and a connector')
    const connector = this.parseConnector()
    const timestamp = this.parseRecordTimestamp()
    const headers = this.parseSinkHeaders()
    if (this.at('ident') && !this.atTableStatement() && !this.atImportStatement()) {
      // No other statement starts with an identifier: this is a misspelt or repeated clause.
      const token = this.peek()
      this.report(
        headers && this.atWord(RECORD_TIMESTAMP)
          ? 'the `timestamp` clause of a sink comes before its `headers`'
          : timestamp && this.atWord(RECORD_TIMESTAMP)
            ? 'a sink takes one `timestamp` clause'
            : headers && this.atWord(SINK_HEADERS)
              ? 'a sink takes one `headers` clause'
              : `unexpected ${describeToken(token)} after the sink's connector; a sink may end with \`timestamp event\` or \`timestamp append\`, then \`headers { "name": value, … }\``,
        this.span(token.start, token.end),
      )
      throw new ParseAbort()
    }
    return {
      kind: 'Sink',
      input,
      connector,
      timestamp,
      ...(headers ? { headers } : {}),
      span: this.span(start, this.prevEnd()),
    }
  }

  /**
   * `headers { "name": expr, … }` after a sink's connector (and its `timestamp` clause), or null.
   * A name is a string literal (`"content-type"`) or an identifier; `headers` is a word only here.
   */
  private parseSinkHeaders(): SinkHeadersClause | null {
    if (!this.atWord(SINK_HEADERS) || this.peek(1).kind !== '{') return null
    const start = this.advance().start
    this.advance()
    const headers = this.parseFieldsUntilBrace((): SinkHeader => {
      const token = this.peek()
      if (token.kind !== 'string' && token.kind !== 'ident')
        this.fail('a header name (a string such as `"trace-id"`)')
      this.advance()
      const name: StringLiteral = {
        kind: 'StringLiteral',
        value: String(token.value),
        span: this.span(token.start, token.end),
      }
      this.expect(':', '`:` after the header name')
      const value = this.parseExpression()
      return {
        kind: 'SinkHeader',
        name,
        value,
        span: this.span(token.start, value.span.end),
      }
    })
    return { kind: 'SinkHeaders', headers, span: this.span(start, this.prevEnd()) }
  }

  /**
   * `timestamp event` / `timestamp append` after a sink's connector, or null. `timestamp` is also
   * a type name, so it is a word only here, not a keyword: no statement starts with an
   * identifier, so after a connector it cannot be anything else.
   */
  private parseRecordTimestamp(): RecordTimestampClause | null {
    if (!this.atWord(RECORD_TIMESTAMP)) return null
    const start = this.advance().start
    const token = this.peek()
    const mode = RECORD_TIMESTAMP_MODES.find((m) => token.kind === 'ident' && token.value === m)
    if (mode === undefined) {
      this.fail('`event` (the event time) or `append` (the time the record is written) after `timestamp`')
    }
    this.advance()
    return { kind: 'RecordTimestamp', mode, span: this.span(start, this.prevEnd()) }
  }

  /** Whether the current token is the identifier `word` (a contextual word, not a keyword). */
  private atWord(word: string): boolean {
    const token = this.peek()
    return token.kind === 'ident' && token.value === word && token.quoted !== true
  }

  // -------------------------------------------------------------------------------------------
  // Expressions, lowest precedence first

  parseExpression(): Expression {
    return this.nested(() => (this.at('if') ? this.parseIf() : this.parseCoalesce()))
  }

  private parseIf(): Expression {
    const start = this.advance().start
    const condition = this.parseExpression()
    this.expect('then', '`then` after the `if` condition')
    const then = this.parseExpression()
    this.expect('else', '`else` (an `if` needs both branches)')
    const otherwise = this.parseExpression()
    return this.node(
      {
        kind: 'If',
        condition,
        whenTrue: then,
        whenFalse: otherwise,
        span: this.span(start, otherwise.span.end),
      },
      condition,
      then,
      otherwise,
    )
  }

  /**
   * `a ?? b ?? …`: right-nested as written up to LONG_LOGICAL_CHAIN terms, balanced past it, so a
   * long chain is never "nested too deeply" (issue 17). `??` is associative and either tree
   * evaluates the terms left to right, each only while all before it are null. The terms after the
   * first are parsed one level deeper, as when the chain was parsed recursively, so an `or null`
   * there does not end a lookup key (§8: such a key goes in parentheses).
   */
  private parseCoalesce(): Expression {
    const terms = [this.parseOr()]
    while (this.eat('??')) terms.push(this.nested(() => this.parseOr()))
    return this.coalesceChain(terms, 0, terms.length, terms.length > LONG_LOGICAL_CHAIN)
  }

  /** terms[from..to) as one `??` chain: balanced, or right-nested. */
  private coalesceChain(
    terms: readonly Expression[],
    from: number,
    to: number,
    balanced: boolean,
  ): Expression {
    if (to - from === 1) return terms[from]!
    const middle = balanced ? (from + to) >> 1 : from + 1
    const left = this.coalesceChain(terms, from, middle, balanced)
    const right = balanced
      ? this.coalesceChain(terms, middle, to, balanced)
      : this.rightNestedCoalesce(terms, middle, to)
    return this.node(
      { kind: 'Coalesce', left, right, span: this.span(left.span.start, right.span.end) },
      left,
      right,
    )
  }

  /** terms[from..to) right-nested, built from the end (no recursion per term). */
  private rightNestedCoalesce(terms: readonly Expression[], from: number, to: number): Expression {
    let right = terms[to - 1]!
    for (let i = to - 2; i >= from; i--) {
      const left = terms[i]!
      right = this.node(
        { kind: 'Coalesce', left, right, span: this.span(left.span.start, right.span.end) },
        left,
        right,
      )
    }
    return right
  }

  private binary(op: BinaryOperator, opToken: Token, left: Expression, right: Expression): Expression {
    return this.node(
      {
        kind: 'Binary',
        op,
        left,
        right,
        opSpan: this.span(opToken.start, opToken.end),
        span: this.span(left.span.start, right.span.end),
        ...((opToken.spelledAs === '&&' || opToken.spelledAs === '||') && { spelledAs: opToken.spelledAs }),
      },
      left,
      right,
    )
  }

  private parseOr(): Expression {
    const terms = [this.parseAnd()]
    const ops: Token[] = []
    while (this.at('or') && !(this.nesting === this.orNullEndsAt && this.peek(1).kind === 'null')) {
      ops.push(this.advance())
      terms.push(this.parseAnd())
    }
    this.chainSpellings.chain(ops)
    return this.logicalChain('or', terms, ops)
  }

  private parseAnd(): Expression {
    const terms = [this.parseNot()]
    const ops: Token[] = []
    while (this.at('and')) {
      ops.push(this.advance())
      terms.push(this.parseNot())
    }
    this.chainSpellings.chain(ops)
    return this.logicalChain('and', terms, ops)
  }

  /**
   * `a or b or …` (likewise `and`): left-deep as written up to LONG_LOGICAL_CHAIN terms; a
   * longer chain is built balanced, so a flat 2,000-term filter nests 11 levels, not 2,000, and
   * is never "nested too deeply" (issue 17, defect 17). The shape does not change the meaning:
   * three-valued `and`/`or` are associative, and either tree evaluates the terms left to right,
   * each only when no term before it decided the result.
   */
  private logicalChain(op: 'and' | 'or', terms: readonly Expression[], ops: readonly Token[]): Expression {
    if (terms.length > LONG_LOGICAL_CHAIN) return this.balancedChain(op, terms, ops, 0, terms.length)
    let left = terms[0]!
    for (let i = 1; i < terms.length; i++) left = this.binary(op, ops[i - 1]!, left, terms[i]!)
    return left
  }

  /** terms[from..to) as a balanced tree; ops[i - 1] stands between terms[i - 1] and terms[i]. */
  private balancedChain(
    op: 'and' | 'or',
    terms: readonly Expression[],
    ops: readonly Token[],
    from: number,
    to: number,
  ): Expression {
    if (to - from === 1) return terms[from]!
    const middle = (from + to) >> 1
    return this.binary(
      op,
      ops[middle - 1]!,
      this.balancedChain(op, terms, ops, from, middle),
      this.balancedChain(op, terms, ops, middle, to),
    )
  }

  private parseNot(): Expression {
    if (!this.at('not')) return this.parseComparison()
    const start = this.advance().start
    const operand = this.nested(() => this.parseNot())
    return this.node({ kind: 'Unary', op: 'not', operand, span: this.span(start, operand.span.end) }, operand)
  }

  private parseComparison(): Expression {
    let left = this.parseAdditive()
    let compared = false
    for (;;) {
      let token = this.peek()
      if (token.kind === '=') {
        // SQL's `=`: one error, then read as `==` so the rest of the condition parses.
        this.report('`=` compares in SQL; Sluice compares with `==`', this.span(token.start, token.end))
        token = { ...token, kind: '==' }
      }
      if (token.kind === 'ident' && SQL_CAPITALS.has(String(token.value))) this.refuseCapitals(token)
      const infix = this.infixWord()
      if (!COMPARISON_OPS.has(token.kind) && token.kind !== 'is' && infix === null) return left
      if (compared) {
        // Reported without unwinding: the rest parses fine and may hold more errors worth showing.
        this.report(
          `comparisons cannot be chained; combine them with \`and\` (e.g. \`a < b and b < c\`)`,
          this.span(token.start, token.end),
          'E0102',
        )
      }
      compared = true
      if (infix !== null) {
        left = this.parseInfixWord(left, infix)
        continue
      }
      this.advance()
      if (token.kind === 'is') {
        const negated = this.eat('not') !== null
        this.expect('null', negated ? '`null` after `is not`' : '`null` or `not null` after `is`')
        left = this.node(
          { kind: 'IsNull', operand: left, negated, span: this.span(left.span.start, this.prevEnd()) },
          left,
        )
      } else {
        left = this.binary(token.kind as BinaryOperator, token, left, this.parseAdditive())
      }
    }
  }

  /**
   * SQL's `IN`, `AND`, `CASE WHEN`, … where Sluice's lower-case word would be an operator: one
   * error saying so, and the statement is skipped (it gave a false type error and a cascade).
   */
  private refuseCapitals(token: Token): never {
    this.report(
      `\`${token.value}\` is spelled \`${String(token.value).toLowerCase()}\` in Sluice: its words are lower case`,
      this.span(token.start, token.end),
      'E0109',
    )
    throw new ParseAbort()
  }

  /** `in`, `between` or `like` (or `not` and one of them) where an operand has ended, else null. */
  private infixWord(): { readonly word: string; readonly negated: boolean } | null {
    const isWord = (token: Token) => token.kind === 'ident' && INFIX_WORDS.has(String(token.value))
    if (isWord(this.peek())) return { word: String(this.peek().value), negated: false }
    if (this.at('not') && isWord(this.peek(1))) return { word: String(this.peek(1).value), negated: true }
    return null
  }

  /** `x [not] in (…)`, `x [not] between low and high`, `x [not] like pattern`, after `x`. */
  private parseInfixWord(
    operand: Expression,
    infix: { readonly word: string; readonly negated: boolean },
  ): Expression {
    const opStart = this.peek().start
    if (infix.negated) this.advance()
    const wordToken = this.advance()
    const opSpan = this.span(opStart, wordToken.end)
    const { negated } = infix
    if (infix.word === OPERATOR_WORDS.in) {
      if (!this.at('(')) {
        const token = this.peek()
        this.report(
          `\`in\` needs a parenthesised list of values: \`x in (a, b, c)\`, found ${describeToken(token)}`,
          this.span(token.start, token.end),
          'E0106',
        )
        throw new ParseAbort()
      }
      const open = this.advance()
      const items: Expression[] = []
      while (!this.at(')')) {
        items.push(this.parseExpression())
        if (!this.at(')')) this.expect(',', '`,` or `)` in the `in` list')
      }
      const close = this.advance()
      if (items.length === 0) {
        this.report('an `in` list needs at least one value', this.span(open.start, close.end), 'E0106')
        throw new ParseAbort()
      }
      return this.node(
        { kind: 'In', operand, items, negated, opSpan, span: this.span(operand.span.start, close.end) },
        operand,
        ...items,
      )
    }
    if (infix.word === OPERATOR_WORDS.between) {
      // The bounds are additive expressions, so the `and` between them is not a logical `and`.
      const low = this.parseAdditive()
      if (!this.at('and')) {
        const token = this.peek()
        this.report(
          `\`between\` needs \`and\` between its bounds (\`x between low and high\`), found ${describeToken(token)}`,
          this.span(token.start, token.end),
          'E0107',
        )
        throw new ParseAbort()
      }
      this.advance()
      const high = this.parseAdditive()
      return this.node(
        {
          kind: 'Between',
          operand,
          low,
          high,
          negated,
          opSpan,
          span: this.span(operand.span.start, high.span.end),
        },
        operand,
        low,
        high,
      )
    }
    const pattern = this.parseAdditive()
    return this.node(
      {
        kind: 'Like',
        operand,
        pattern,
        negated,
        opSpan,
        span: this.span(operand.span.start, pattern.span.end),
      },
      operand,
      pattern,
    )
  }

  /**
   * `case x when v then …`: `case` followed by an expression and then `when`. Anything else leaves
   * `case` a name (a field may be called `case`), so the operand is parsed on trial and the parser
   * goes back when no `when` follows it. A token that could continue an expression with `case` as
   * its left operand (`case - 1`, `case[0]`, `case in (…)`) keeps `case` a name without a trial.
   */
  private trySimpleCase(): Expression | null {
    // `case(x)` alone is a call (of a function that does not exist); `case (x) when` a case.
    const next = this.peek(1)
    const startsOperand =
      SIMPLE_CASE_OPERAND_STARTS.has(next.kind) ||
      (next.kind === 'ident' &&
        (next.quoted === true ||
          (!INFIX_WORDS.has(String(next.value)) &&
            next.value !== OPERATOR_WORDS.when &&
            // `… else case end when …`: a name `case` ending the last value of a case.
            next.value !== OPERATOR_WORDS.end)))
    if (!startsOperand) return null
    const saved = {
      pos: this.pos,
      syntaxErrors: this.syntaxErrors,
      diagnostics: this.diagnostics.length,
      nesting: this.nesting,
      orNullEndsAt: this.orNullEndsAt,
    }
    const start = this.advance().start
    let operand: Expression | null = null
    try {
      operand = this.parseExpression()
    } catch (e) {
      if (!(e instanceof ParseAbort)) throw e
    }
    if (operand !== null && this.syntaxErrors === saved.syntaxErrors && this.atWord(OPERATOR_WORDS.when))
      return this.parseCase(start, operand)
    this.pos = saved.pos
    this.syntaxErrors = saved.syntaxErrors
    this.diagnostics.length = saved.diagnostics
    this.nesting = saved.nesting
    this.orNullEndsAt = saved.orNullEndsAt
    return null
  }

  /**
   * `case [x] when c then v … [else e] end`. A case of n branches is n nested conditionals to every
   * later pass (and to TypeScript, in generated code), so it counts n levels toward MAX_NESTING.
   */
  private parseCase(simpleStart?: number, operand: Expression | null = null): Expression {
    const start = simpleStart ?? this.advance().start
    const branches: CaseBranch[] = []
    while (this.atWord(OPERATOR_WORDS.when)) {
      this.advance()
      const condition = this.parseExpression()
      this.expect('then', '`then` after the `when` condition')
      const value = this.parseExpression()
      branches.push({ condition, value })
    }
    const otherwise = this.eat('else') ? this.parseExpression() : null
    if (!this.atWord(OPERATOR_WORDS.end)) {
      const token = this.peek()
      this.report(
        `expected \`when\`, \`else\` or \`end\` to go on with the \`case\`, found ${describeToken(token)}`,
        this.span(token.start, token.end),
        'E0108',
      )
      throw new ParseAbort()
    }
    const end = this.advance().end
    const expr: Expression = { kind: 'Case', operand, branches, otherwise, span: this.span(start, end) }
    const children = [
      ...(operand ? [operand] : []),
      ...branches.flatMap((b) => [b.condition, b.value]),
      ...(otherwise ? [otherwise] : []),
    ]
    const depth = Math.max(0, ...children.map((c) => this.depth.get(c) ?? 0)) + branches.length
    if (depth > MAX_NESTING) {
      this.report(`expression is nested too deeply (more than ${MAX_NESTING} levels)`, expr.span, 'E0104')
      throw new ParseAbort()
    }
    this.depth.set(expr, depth)
    return expr
  }

  /** `a + b - c …`, left-associative (leftAssociativeChain). */
  private parseAdditive(): Expression {
    const terms = [this.parseMultiplicative()]
    const ops: Token[] = []
    while (this.at('+') || this.at('-')) {
      ops.push(this.advance())
      terms.push(this.parseMultiplicative())
    }
    return this.leftAssociativeChain(terms, ops)
  }

  /** `a * b / c …`, left-associative (leftAssociativeChain). */
  private parseMultiplicative(): Expression {
    const terms = [this.parseUnary()]
    const ops: Token[] = []
    while (this.at('*') || this.at('/') || this.at('%')) {
      ops.push(this.advance())
      terms.push(this.parseUnary())
    }
    return this.leftAssociativeChain(terms, ops)
  }

  /**
   * A chain of left-associative arithmetic as written: left-deep BinaryExpressions up to
   * LONG_LOGICAL_CHAIN terms, one flat ArithmeticChain past it, which means the same and nests one
   * level whatever its length, so a 10,000-term `a - b + …` is no deeper than `a - b` (issue 17;
   * such chains were refused past 500 terms).
   */
  private leftAssociativeChain(terms: readonly Expression[], ops: readonly Token[]): Expression {
    if (terms.length > LONG_LOGICAL_CHAIN) {
      const first = terms[0]!
      const last = terms[terms.length - 1]!
      const chain: Expression = {
        kind: 'ArithmeticChain',
        terms,
        ops: ops.map((token) => ({
          op: token.kind as ArithmeticOperator,
          opSpan: this.span(token.start, token.end),
        })),
        span: this.span(first.span.start, last.span.end),
      }
      // One level above its deepest term (not this.node: no spread of thousands of arguments).
      let depth = 0
      for (const term of terms) depth = Math.max(depth, this.depth.get(term) ?? 0)
      if (depth + 1 > MAX_NESTING) {
        this.report(`expression is nested too deeply (more than ${MAX_NESTING} levels)`, chain.span, 'E0104')
        throw new ParseAbort()
      }
      this.depth.set(chain, depth + 1)
      return chain
    }
    let left = terms[0]!
    for (let i = 1; i < terms.length; i++) {
      const op = ops[i - 1]!
      left = this.binary(op.kind as ArithmeticOperator, op, left, terms[i]!)
    }
    return left
  }

  private parseUnary(): Expression {
    if (!this.at('-')) return this.parsePostfix()
    const start = this.advance().start
    const operand = this.nested(() => this.parseUnary())
    return this.node({ kind: 'Unary', op: '-', operand, span: this.span(start, operand.span.end) }, operand)
  }

  private parsePostfix(): Expression {
    let expr = this.parsePrimary()
    for (;;) {
      if (this.eat('.')) {
        const keyword = this.peek()
        if (KEYWORD_SET.has(keyword.kind) && !STATEMENT_KEYWORDS.has(keyword.kind)) {
          // `e.key`: report the reserved word as such and read on as if it were quoted.
          this.advance()
          const span = this.span(keyword.start, keyword.end)
          this.reportReservedFieldName(keyword.kind, span)
          expr = this.node(
            {
              kind: 'Member',
              object: expr,
              name: { kind: 'Identifier', name: keyword.kind, span },
              span: this.span(expr.span.start, span.end),
            },
            expr,
          )
          continue
        }
        const name = this.identifier(
          KEYWORD_SET.has(keyword.kind)
            ? `a field name after \`.\` (quote a reserved word in backquotes: \`\` \`${keyword.kind}\` \`\`)`
            : 'a field name after `.`',
          true,
        )
        expr = this.node(
          { kind: 'Member', object: expr, name, span: this.span(expr.span.start, name.span.end) },
          expr,
        )
      } else if (this.at('[')) {
        this.advance()
        const index = this.parseExpression()
        this.expect(']', '`]` to close the index')
        expr = this.node(
          { kind: 'Index', object: expr, index, span: this.span(expr.span.start, this.prevEnd()) },
          expr,
          index,
        )
      } else if (this.at('(')) {
        const token = this.peek()
        this.report('only stdlib functions can be called, by name: `f(x)`', this.span(token.start, token.end))
        throw new ParseAbort()
      } else {
        return expr
      }
    }
  }

  private intLiteral(token: Token): IntLiteral {
    return { kind: 'IntLiteral', value: Number(token.value), span: this.span(token.start, token.end) }
  }

  private durationLiteral(token: Token): DurationLiteral {
    return {
      kind: 'DurationLiteral',
      amount: Number(token.value),
      unit: token.unit as DurationUnit,
      span: this.span(token.start, token.end),
    }
  }

  private parsePrimary(): Expression {
    const token = this.peek()
    const span = this.span(token.start, token.end)
    switch (token.kind) {
      case 'int':
        this.advance()
        return this.node({ kind: 'IntLiteral', value: Number(token.value), span })
      case 'float':
        this.advance()
        return this.node({ kind: 'FloatLiteral', value: Number(token.value), span })
      case 'string':
        this.advance()
        return this.node({ kind: 'StringLiteral', value: String(token.value), span })
      case 'duration':
        this.advance()
        return this.node(this.durationLiteral(token))
      case 'true':
      case 'false':
        this.advance()
        return this.node({ kind: 'BoolLiteral', value: token.kind === 'true', span })
      case 'null':
        this.advance()
        return this.node({ kind: 'NullLiteral', span })
      case 'ident': {
        if (
          token.value === OPERATOR_WORDS.case &&
          this.peek(1).kind === 'ident' &&
          this.peek(1).value === OPERATOR_WORDS.when
        )
          return this.parseCase()
        if (token.value === OPERATOR_WORDS.case && token.quoted !== true) {
          const simple = this.trySimpleCase()
          if (simple !== null) return simple
        }
        if (token.value === 'CASE' && this.peek(1).kind === 'ident' && this.peek(1).value === 'WHEN')
          this.refuseCapitals(token)
        this.advance()
        const name = String(token.value)
        if (!this.at('(')) return this.node({ kind: 'Name', name, span })
        if (token.quoted === true) {
          this.report('a function name cannot be quoted', span, 'E0114')
        }
        this.advance()
        const args: Expression[] = []
        while (!this.at(')')) {
          args.push(this.atLambda() ? this.parseLambda() : this.parseExpression())
          if (!this.at(')')) this.expect(',', '`,` or `)` in the argument list')
        }
        this.advance()
        return this.node(
          {
            kind: 'Call',
            callee: { kind: 'Identifier', name, span },
            args,
            span: this.span(token.start, this.prevEnd()),
          },
          ...args,
        )
      }
      case '(': {
        this.advance()
        const inner = this.parseExpression()
        this.expect(')', '`)` to close the parenthesis')
        return inner
      }
      case '{': {
        if (this.peek(1).kind === 'string' && this.peek(2).kind === ':') return this.parseMapLiteral()
        const fields = this.nested(() => this.parseFieldInits('`{`'))
        return this.node(
          { kind: 'RecordLiteral', fields, span: this.span(token.start, this.prevEnd()) },
          ...fields.map((f) => f.value),
        )
      }
      case '[': {
        this.advance()
        const items: Expression[] = []
        while (!this.at(']')) {
          items.push(this.parseExpression())
          if (!this.at(']')) this.expect(',', '`,` or `]` in the list')
        }
        this.advance()
        return this.node(
          { kind: 'ListLiteral', items, span: this.span(token.start, this.prevEnd()) },
          ...items,
        )
      }
      case 'if':
        return this.parseExpression()
      default:
        // `where key == "x"`: a field named like a reserved word must be quoted to be read.
        if (KEYWORD_SET.has(token.kind) && !EXPRESSION_KEYWORDS.has(token.kind)) {
          return this.fail(
            `an expression (a field named \`${token.kind}\` is read quoted, \`\` \`${token.kind}\` \`\`)`,
          )
        }
        return this.fail('an expression')
    }
  }

  /**
   * `{ "a": 1, "b": x }`: a map literal, told from a record literal by its first key, a string
   * (a record's field names are identifiers, quoted in backquotes). Every key is a string.
   */
  private parseMapLiteral(): Expression {
    const start = this.advance().start
    const entries: MapEntry[] = []
    const values = this.nested(() => {
      const out: Expression[] = []
      while (!this.at('}')) {
        const key = this.expect(
          'string',
          'a string key (`"key": value`): every key of a map literal is a string',
        )
        this.expect(':', '`:` after the key of a map entry')
        const value = this.parseExpression()
        entries.push({ key: String(key.value), keySpan: this.span(key.start, key.end), value })
        out.push(value)
        if (!this.at('}')) this.expect(',', '`,` or `}` in the map literal')
      }
      this.advance()
      return out
    })
    return this.node({ kind: 'MapLiteral', entries, span: this.span(start, this.prevEnd()) }, ...values)
  }

  /** `x ->` starts a lambda (an argument of `map`, `filter`, `any`, `all`). */
  private atLambda(): boolean {
    return this.at('ident') && this.peek(1).kind === '->'
  }

  /** `x -> body`: the body extends as far as an expression can (to the `,` or `)` of the call). */
  private parseLambda(): Expression {
    const token = this.advance()
    const param: Identifier = {
      kind: 'Identifier',
      name: String(token.value),
      span: this.span(token.start, token.end),
    }
    this.advance()
    const body = this.parseExpression()
    return this.node({ kind: 'Lambda', param, body, span: this.span(token.start, body.span.end) }, body)
  }

  /** `{ name: expr, shorthand, … }` of `select` and record literals, recovering per field. */
  private parseFieldInits(opening: string): FieldInit[] {
    this.expect('{', opening)
    return this.parseFieldsUntilBrace(() => this.parseFieldInit())
  }

  /** `* [except (a, …)] [rename (old as new, …)]` in a `select`. */
  private parseAllFields(): AllFields {
    const start = this.advance().start
    const except: Identifier[] = []
    const renames: FieldRename[] = []
    if (this.atWord(SELECT_WORDS.except)) {
      this.advance()
      this.expect('(', '`(` and the fields to leave out after `except` (`* except (a, b)`)')
      do except.push(this.fieldName())
      while (this.eat(','))
      this.expect(')', '`,` or `)` in the `except` list')
    }
    if (this.atWord(SELECT_WORDS.rename)) {
      this.advance()
      this.expect('(', '`(` and `old as new` pairs after `rename` (`* rename (ts as time)`)')
      do {
        const from = this.fieldName()
        if (!this.atWord(SELECT_WORDS.as)) this.fail(`\`as\` and the new name after \`${from.name}\``)
        this.advance()
        const to = this.fieldName()
        renames.push({ from, to, span: this.span(from.span.start, to.span.end) })
      } while (this.eat(','))
      this.expect(')', '`,` or `)` in the `rename` list')
    }
    return { kind: 'AllFields', except, renames, span: this.span(start, this.prevEnd()) }
  }

  private parseFieldInit(): FieldInit {
    if (this.at('*')) {
      // `*` names the input's fields only in a `select`; a record literal has no input of its own.
      const token = this.peek()
      this.report(
        '`*` (all the fields of the input) can be used only in a `select`',
        this.span(token.start, token.end),
        'E0115',
      )
      throw new ParseAbort()
    }
    if ((this.at('ident') || KEYWORD_SET.has(this.peek().kind)) && this.peek(1).kind === ':') {
      const name = this.fieldName()
      this.advance()
      const value = this.parseExpression()
      return { kind: 'FieldInit', name, value, span: this.span(name.span.start, value.span.end) }
    }
    const value = this.parseExpression()
    if (value.kind !== 'Name' && value.kind !== 'Member') {
      this.report(
        'this field needs a name: write `name: <expression>` (only a field or `a.b` path names itself)',
        value.span,
        'E0103',
      )
    }
    return { kind: 'FieldInit', name: null, value, span: value.span }
  }
}
