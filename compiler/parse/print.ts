/**
 * Prints a syntax tree back to `.pipe` text, in the house layout (one statement per line group,
 * steps on their own `|` lines). Parentheses are added exactly where precedence needs them, so
 * `parse(print(ast))` gives back `ast` (spans aside) — the round-trip property test in
 * print.test.ts holds the printer and the parser to the same grammar.
 */
import type {
  AggregateInit,
  AllFields,
  BoundOffset,
  ConnectorExpr,
  Expression,
  FieldDecl,
  FieldInit,
  Identifier,
  JoinClause,
  MatchStep,
  PatternSyntax,
  PatternTermSyntax,
  PipeFile,
  QuantifierSyntax,
  SelectItem,
  Statement,
  Step,
  TypeExpr,
  WindowClause,
} from './ast.ts'
import { isKeyword } from './lexer.ts'
import { LONG_LOGICAL_CHAIN } from './parser.ts'

/** Binding strength, loosest first; mirrors the parser's precedence climbing. */
enum Prec {
  If = 0,
  Coalesce = 1,
  Or = 2,
  And = 3,
  Not = 4,
  Comparison = 5,
  Additive = 6,
  Multiplicative = 7,
  Unary = 8,
  Postfix = 9,
}

function precedence(e: Expression): Prec {
  switch (e.kind) {
    case 'If':
      return Prec.If
    case 'Coalesce':
      return Prec.Coalesce
    case 'ArithmeticChain':
      return e.ops[0]!.op === '+' || e.ops[0]!.op === '-' ? Prec.Additive : Prec.Multiplicative
    case 'Binary':
      switch (e.op) {
        case 'or':
          return Prec.Or
        case 'and':
          return Prec.And
        case '+':
        case '-':
          return Prec.Additive
        case '*':
        case '/':
        case '%':
          return Prec.Multiplicative
        default:
          return Prec.Comparison
      }
    case 'IsNull':
    case 'In':
    case 'Between':
    case 'Like':
      return Prec.Comparison
    case 'Unary':
      return e.op === 'not' ? Prec.Not : Prec.Unary
    default:
      return Prec.Postfix
  }
}

/** Prints `e`, parenthesised when it binds looser than `min`. */
function sub(e: Expression, min: Prec): string {
  const text = printExpression(e)
  return precedence(e) < min ? `(${text})` : text
}

export function printString(value: string): string {
  let out = '"'
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0
    if (ch === '"') out += '\\"'
    else if (ch === '\\') out += '\\\\'
    else if (ch === '\n') out += '\\n'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\r') out += '\\r'
    else if (code < 0x20 || code === 0x7f) out += `\\u{${code.toString(16)}}`
    else out += ch
  }
  return `${out}"`
}

const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** A field name as written: plain when it can be, else backquoted (`` `user-id` ``, `` `key` ``). */
export function printName(name: string): string {
  if (PLAIN_NAME.test(name) && !isKeyword(name)) return name
  const quoted = printString(name).slice(1, -1).replace(/\\"/g, '"').replace(/`/g, '\\`')
  return `\`${quoted}\``
}

/** A float always prints with a `.` or an exponent so it reads back as a float, not an i64. */
export function printFloat(value: number): string {
  const text = String(value)
  return /[.eE]/.test(text) ? text : `${text}.0`
}

export function printExpression(e: Expression): string {
  switch (e.kind) {
    case 'IntLiteral':
      return String(e.value)
    case 'FloatLiteral':
      return printFloat(e.value)
    case 'StringLiteral':
      return printString(e.value)
    case 'BoolLiteral':
      return String(e.value)
    case 'NullLiteral':
      return 'null'
    case 'DurationLiteral':
      return `${e.amount}${e.unit}`
    case 'Name':
      return printName(e.name)
    case 'Member':
      return `${sub(e.object, Prec.Postfix)}.${printName(e.name.name)}`
    case 'Index':
      return `${sub(e.object, Prec.Postfix)}[${printExpression(e.index)}]`
    case 'Call':
      return `${e.callee.name}(${e.args.map(printExpression).join(', ')})`
    case 'Unary': {
      if (e.op === 'not') return `not ${sub(e.operand, Prec.Not)}`
      // A space keeps `- -x` readable; the lexer has no `--` token, so either form parses the same.
      const operand = sub(e.operand, Prec.Unary)
      return operand.startsWith('-') ? `- ${operand}` : `-${operand}`
    }
    case 'Binary': {
      const p = precedence(e)
      // Left-associative: the right operand needs parentheses at equal strength; comparisons do not chain at all.
      // A flat chain on the left is parenthesised, or it would read back as one longer chain.
      const leftMin = p === Prec.Comparison || e.left.kind === 'ArithmeticChain' ? p + 1 : p
      return `${sub(e.left, leftMin)} ${e.op} ${sub(e.right, p + 1)}`
    }
    case 'ArithmeticChain': {
      // Flat, as written: it parses back the same. A first term of the same strength (only
      // parentheses give one) keeps them, or it would read back as part of the chain.
      const p = precedence(e)
      let text = sub(e.terms[0]!, p + 1)
      for (let i = 1; i < e.terms.length; i++) text += ` ${e.ops[i - 1]!.op} ${sub(e.terms[i]!, p + 1)}`
      return text
    }
    case 'Coalesce': {
      // A chain the parser built balanced (more than LONG_LOGICAL_CHAIN terms) prints flat, as
      // written: it parses back the same. Otherwise right-associative.
      const terms = coalesceTerms(e)
      if (terms.length > LONG_LOGICAL_CHAIN) return terms.map((t) => sub(t, Prec.Coalesce + 1)).join(' ?? ')
      return `${sub(e.left, Prec.Coalesce + 1)} ?? ${sub(e.right, Prec.Coalesce)}`
    }
    case 'IsNull':
      return `${sub(e.operand, Prec.Comparison + 1)} is ${e.negated ? 'not ' : ''}null`
    case 'If':
      return `if ${printExpression(e.condition)} then ${printExpression(e.whenTrue)} else ${printExpression(e.whenFalse)}`
    case 'RecordLiteral':
      return printFieldInits(e.fields)
    case 'ListLiteral':
      return `[${e.items.map(printExpression).join(', ')}]`
    case 'MapLiteral':
      return `{ ${e.entries.map((entry) => `${printString(entry.key)}: ${printExpression(entry.value)}`).join(', ')} }`
    case 'In':
      return `${sub(e.operand, Prec.Comparison + 1)} ${e.negated ? 'not ' : ''}in (${e.items.map(printExpression).join(', ')})`
    case 'Between':
      return `${sub(e.operand, Prec.Comparison + 1)} ${e.negated ? 'not ' : ''}between ${sub(e.low, Prec.Additive)} and ${sub(e.high, Prec.Additive)}`
    case 'Like':
      return `${sub(e.operand, Prec.Comparison + 1)} ${e.negated ? 'not ' : ''}like ${sub(e.pattern, Prec.Additive)}`
    case 'Case':
      return printCase(e)
    case 'Lambda':
      return `${e.param.name} -> ${printExpression(e.body)}`
  }
}

/** The terms of a `??` chain, left to right, through nested `??` on either side. */
function coalesceTerms(e: Expression, into: Expression[] = []): Expression[] {
  if (e.kind !== 'Coalesce') into.push(e)
  else {
    coalesceTerms(e.left, into)
    coalesceTerms(e.right, into)
  }
  return into
}

/** A name `case` ending a branch's value would start a new `case` with the next `when`. */
const ENDS_WITH_CASE_NAME = /(^|[^A-Za-z0-9_])case$/

function printCase(e: Extract<Expression, { kind: 'Case' }>): string {
  const branches = e.branches.map((b, i) => {
    const value = printExpression(b.value)
    const beforeWhen = i < e.branches.length - 1
    return `when ${printExpression(b.condition)} then ${beforeWhen && ENDS_WITH_CASE_NAME.test(value) ? `(${value})` : value}`
  })
  const otherwise = e.otherwise === null ? '' : ` else ${printExpression(e.otherwise)}`
  const operand = e.operand === null ? '' : `${printCaseOperand(e.operand)} `
  return `case ${operand}${branches.join(' ')}${otherwise} end`
}

/**
 * The `x` of `case x when …`: a name or a literal as it is, anything else in parentheses, so the
 * parser cannot read it another way (`case case when …` starts a searched case, `case - 1` and
 * `case.f` read a field `case`, an operand that is a `case` could end in a name `case`).
 */
function printCaseOperand(operand: Expression): string {
  const text = printExpression(operand)
  const plain =
    (operand.kind === 'Name' && !CASE_OPERAND_WORDS.has(operand.name)) ||
    (['IntLiteral', 'FloatLiteral', 'StringLiteral', 'BoolLiteral', 'DurationLiteral'].includes(
      operand.kind,
    ) &&
      !text.startsWith('-'))
  return plain ? text : `(${text})`
}

const CASE_OPERAND_WORDS: ReadonlySet<string> = new Set(['case', 'when', 'end', 'in', 'between', 'like'])

function printFieldInit(f: FieldInit): string {
  return f.name === null ? printExpression(f.value) : `${printName(f.name.name)}: ${printExpression(f.value)}`
}

function printFieldInits(fields: readonly FieldInit[]): string {
  if (fields.length === 0) return '{}'
  return `{ ${fields.map(printFieldInit).join(', ')} }`
}

function printSelectItems(items: readonly SelectItem[]): string {
  if (items.length === 0) return '{}'
  return `{ ${items.map((item) => (item.kind === 'AllFields' ? printAllFields(item) : printFieldInit(item))).join(', ')} }`
}

function printAllFields(all: AllFields): string {
  const except =
    all.except.length === 0 ? '' : ` except (${all.except.map((n) => printName(n.name)).join(', ')})`
  const renames =
    all.renames.length === 0
      ? ''
      : ` rename (${all.renames.map((r) => `${printName(r.from.name)} as ${printName(r.to.name)}`).join(', ')})`
  return `*${except}${renames}`
}

function printWindowClause(w: WindowClause): string {
  const duration = (d: { amount: number; unit: string }) => `${d.amount}${d.unit}`
  return [
    `window ${w.type.name} ${w.events ? w.events.size.value : w.size ? duration(w.size) : `(${printExpression(w.gap!)})`}`,
    w.events?.every ? ` every ${w.events.every.value}` : '',
    w.every ? ` every ${duration(w.every)}` : '',
    w.processingTime ? ' processing time' : '',
    w.lateness ? ` lateness ${duration(w.lateness)}` : '',
    w.emit === null ? '' : w.emit.every ? ` emit every ${duration(w.emit.every)}` : ` emit on ${w.emit.mode}`,
    w.lateInto ? ` late into ${w.lateInto.name}` : '',
  ].join('')
}

const JOIN_WORDS: Readonly<Record<JoinClause['type'], string>> = {
  inner: 'join',
  left: 'left join',
  full: 'full join',
}

function printJoin(left: Identifier, join: JoinClause): string {
  const offset = (o: BoundOffset) => `${o.amount.amount}${o.amount.unit} ${o.direction}`
  const w = join.within
  const bound =
    w !== null
      ? [
          `within ${w.subject.name} between ${offset(w.lower)} and ${offset(w.upper)} ${w.reference.name}`,
          w.lateness ? ` lateness ${w.lateness.amount}${w.lateness.unit}` : '',
          w.lateInto ? ` late into ${w.lateInto.name}` : '',
        ].join('')
      : printWindowClause(join.window!)
  return `${JOIN_WORDS[join.type]} ${left.name} as ${join.leftAlias.name}, ${join.right.name} as ${join.rightAlias.name}\n  on ${printExpression(join.on)}\n  ${bound}`
}

function printAggregateInit(a: AggregateInit): string {
  return `${printName(a.name.name)}: ${a.fn.name}(${a.args.map(printExpression).join(', ')})`
}

export function printType(type: TypeExpr): string {
  switch (type.kind) {
    case 'NamedType':
      return type.name.name
    case 'OptionalType':
      return `${printType(type.of)}?`
    case 'ListType':
      return `list<${printType(type.of)}>`
    case 'MapType':
      return `map<${printType(type.key)}, ${printType(type.of)}>`
    case 'RecordType':
      return type.fields.length === 0 ? '{}' : `{ ${type.fields.map(printFieldDecl).join(', ')} }`
  }
}

function printFieldDecl(field: FieldDecl): string {
  const annotations = field.annotations.map((a) => ` @${a.name.name}`).join('')
  return `${printName(field.name.name)}: ${printType(field.type)}${annotations}`
}

function printConnector(c: ConnectorExpr): string {
  return c.args === null
    ? c.name.name
    : `${c.name.name}(${c.args.map((a) => printString(a.value)).join(', ')})`
}

function printStep(step: Step): string {
  switch (step.kind) {
    case 'Where':
      return `where ${printExpression(step.predicate)}`
    case 'Select':
      return `select ${printSelectItems(step.fields)}`
    case 'KeyBy':
      return `key by ${printExpression(step.key)}`
    case 'Dedup':
      return `dedup by ${step.keys.map(printExpression).join(', ')} within ${step.within.amount}${step.within.unit}`
    case 'Aggregate': {
      const aggregates =
        step.aggregates.length === 0 ? '{}' : `{ ${step.aggregates.map(printAggregateInit).join(', ')} }`
      const window = step.window === null ? '' : ` ${printWindowClause(step.window)}`
      return `aggregate by ${step.keys.map(printFieldInit).join(', ')}${window} ${aggregates}`
    }
    case 'Match':
      return printMatch(step)
    case 'Explode':
      return `explode ${printExpression(step.list)} as ${step.alias.name}${step.orNull ? ' or null' : ''}`
    case 'Lookup': {
      // `or null` after the key ends the key, so a key that is an `or` (or ends in one, as `??`
      // and `if` can) is parenthesised.
      const key = sub(step.key, Prec.Or + 1)
      const asOf = step.asOf === null ? '' : ` as of ${sub(step.asOf, Prec.Or + 1)}`
      return `lookup ${step.table.name} as ${printName(step.alias.name)} on ${key}${asOf}${step.orNull ? ' or null' : ''}`
    }
  }
}

const CONNECTOR_WORDS: Readonly<Record<string, string>> = {
  next: 'next',
  followedBy: 'followed by',
  followedByAny: 'followed by any',
  notNext: 'not next',
  notFollowedBy: 'not followed by',
}

export function printPattern(pattern: PatternSyntax): string {
  if (pattern.kind === 'PatternAlternation') return pattern.options.map(printPattern).join(' | ')
  return pattern.elements
    .map((e) => (e.connector === 'begin' ? '' : `${CONNECTOR_WORDS[e.connector]} `) + printTerm(e.term))
    .join(' ')
}

function printTerm(term: PatternTermSyntax): string {
  const body = term.step !== null ? term.step.name : `(${printPattern(term.group!)})`
  const quantifier = term.quantifier === null ? '' : printQuantifier(term.quantifier)
  const within = term.within === null ? '' : ` within ${term.within.amount}${term.within.unit}`
  return `${body}${quantifier}${within}`
}

function printQuantifier(q: QuantifierSyntax): string {
  const bounds = {
    exact: `{${q.min}}`,
    range: `{${q.min},${q.max}}`,
    atLeast: `{${q.min},}`,
    '+': '+',
    '*': '*',
    '?': '?',
  }[q.form]
  const mode = q.mode === 'all' ? '' : ` ${q.mode}`
  const inner = q.inner === 'relaxed' ? '' : q.inner === 'strict' ? ' consecutive' : ' any'
  return `${bounds}${mode}${inner}`
}

function printMatch(step: MatchStep): string {
  const indent = '\n      '
  const head = [
    'match',
    step.key === null ? '' : ` by ${printExpression(step.key)}`,
    step.within === null ? '' : ` within ${step.within.amount}${step.within.unit}`,
  ].join('')
  const defines = step.defines
    .map(
      (d) =>
        `  ${d.name.name} as ${printExpression(d.condition)}${d.until === null ? '' : ` until ${printExpression(d.until)}`}`,
    )
    .join(`,${indent}`)
  const skip = step.skip
  const skipText =
    skip === null
      ? ''
      : `${indent}skip ${
          skip.strategy === 'toNext'
            ? 'to next'
            : skip.strategy === 'pastLastEvent'
              ? 'past last event'
              : `to ${skip.strategy === 'toFirst' ? 'first' : 'last'} ${skip.step!.name}`
        }`
  return [
    head,
    `${indent}pattern ${printPattern(step.pattern)}`,
    `${indent}define${indent}${defines}`,
    skipText,
    step.lateInto === null ? '' : `${indent}late into ${step.lateInto.name}`,
    step.timeout === null
      ? ''
      : `${indent}timeout into ${step.timeout.into.name} ${printFieldInits(step.timeout.fields)}`,
    `${indent}${printFieldInits(step.fields)}`,
  ].join('')
}

export function printStatement(s: Statement): string {
  switch (s.kind) {
    case 'Schema':
      return s.fields.length === 0
        ? `schema ${s.name.name} {}`
        : `schema ${s.name.name} {\n${s.fields.map((f) => `  ${printFieldDecl(f)},`).join('\n')}\n}`
    case 'Source': {
      const wm = s.watermark
      const watermark =
        wm === null
          ? ''
          : ` watermark ${printName(wm.field.name)}${wm.delay ? ` - ${wm.delay.amount}${wm.delay.unit}` : ''}`
      return `source ${s.name.name}: ${s.schema.name} from ${printConnector(s.connector)}${watermark}`
    }
    case 'Stream':
      return `stream ${s.name.name} = ${s.join !== null ? printJoin(s.input, s.join) : s.union !== undefined ? `union ${[s.input, ...s.union].map((i) => i.name).join(', ')}` : s.input.name}${s.steps.map((step) => `\n  | ${printStep(step)}`).join('')}`
    case 'Sink':
      return `sink ${s.input.name} -> ${printConnector(s.connector)}${s.timestamp ? ` timestamp ${s.timestamp.mode}` : ''}${s.headers ? ` headers { ${s.headers.headers.map((h) => `${printString(h.name.value)}: ${printExpression(h.value)}`).join(', ')} }` : ''}`
    case 'Table':
      return `table ${s.name.name}: ${s.schema.name} from ${printConnector(s.connector)} key by ${printExpression(s.key)}`
    case 'ImportFunction':
      return `import function ${s.name.name}(${s.params.map((p) => `${p.name.name}: ${printType(p.type)}`).join(', ')}): ${printType(s.result)} from ${printString(s.from.value)}`
  }
}

/** The whole file, statements separated by blank lines, ending with a newline. */
export function printFile(file: PipeFile): string {
  return file.statements.map((s) => `${printStatement(s)}\n`).join('\n')
}
