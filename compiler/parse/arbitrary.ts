/**
 * fast-check arbitraries for syntactically valid `.pipe` trees, for the round-trip property
 * (`parse(print(ast))` equals `ast`) and for fuzzing later passes with well-formed input.
 * Spans are dummies: comparisons go through `stripSpans`.
 */
import fc from 'fast-check'
import type { Span } from '../ir/types.ts'
import type {
  AggregateInit,
  AllFields,
  ArithmeticOperator,
  ConnectorExpr,
  DurationUnit,
  Expression,
  FieldDecl,
  FieldInit,
  Identifier,
  IntervalBound,
  JoinClause,
  JoinType,
  MatchStep,
  PatternSequenceSyntax,
  PatternSyntax,
  PatternTermSyntax,
  PipeFile,
  QuantifierSyntax,
  SelectItem,
  Statement,
  Step,
  StringLiteral,
  TypeExpr,
  WindowClause,
} from './ast.ts'
import { isKeyword } from './lexer.ts'
import { OPERATOR_WORDS, PATTERN_RESERVED, RECORD_TIMESTAMP_MODES } from './parser.ts'

const span: Span = { file: 'arbitrary.pipe', start: 0, end: 0 }

/** Identifiers that are not keywords (reserved) and not `list` (which needs `<T>` in a type). */
export const nameArb: fc.Arbitrary<string> = fc
  .stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,7}$/)
  .filter((n) => !isKeyword(n) && n !== 'list')

const identArb: fc.Arbitrary<Identifier> = nameArb.map((name) => ({ kind: 'Identifier', name, span }))

/**
 * Field names, which may be quoted: plain names mostly, JSON keys that need quotes (`user-id`,
 * `@timestamp`, reserved words), names that are unsafe spliced into code, and any other text.
 */
export const fieldNameArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: nameArb, weight: 6 },
  {
    arbitrary: fc.constantFrom(
      'user-id',
      '@timestamp',
      'key',
      'source',
      'select',
      'a"b',
      'a`b',
      'constructor',
      'x y',
      'a\\b',
    ),
    weight: 2,
  },
  { arbitrary: fc.string({ minLength: 1, maxLength: 6 }), weight: 1 },
)

const fieldIdentArb: fc.Arbitrary<Identifier> = fieldNameArb.map((name) => ({
  kind: 'Identifier',
  name,
  span,
}))

const stringValueArb = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }))

const stringLiteralArb: fc.Arbitrary<StringLiteral> = stringValueArb.map((value) => ({
  kind: 'StringLiteral',
  value,
  span,
}))

const leafArb: fc.Arbitrary<Expression> = fc.oneof(
  fc
    .integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
    .map((value) => ({ kind: 'IntLiteral' as const, value, span })),
  fc
    .double({ min: 0, max: 1e300, noNaN: true })
    .map((v) => ({ kind: 'FloatLiteral' as const, value: Object.is(v, -0) ? 0 : v, span })),
  stringLiteralArb,
  fc.boolean().map((value) => ({ kind: 'BoolLiteral' as const, value, span })),
  fc.constant({ kind: 'NullLiteral' as const, span }),
  fc
    .record({
      amount: fc.integer({ min: 0, max: 100_000 }),
      unit: fc.constantFrom<DurationUnit>('ms', 's', 'm', 'h', 'd', 'w'),
    })
    .map(({ amount, unit }) => ({ kind: 'DurationLiteral' as const, amount, unit, span })),
  fieldNameArb.map((name) => ({ kind: 'Name' as const, name, span })),
  // The operator words are not reserved: fields with these names must print and parse back too.
  fc.constantFrom(...Object.values(OPERATOR_WORDS)).map((name) => ({ kind: 'Name' as const, name, span })),
)

const BINARY_OPS = ['+', '-', '*', '/', '%', '==', '!=', '<', '<=', '>', '>=', 'and', 'or'] as const

export const expressionArb: fc.Arbitrary<Expression> = fc.letrec<{ expr: Expression; fieldInit: FieldInit }>(
  (tie) => ({
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leafArb,
      fc
        .record({ object: tie('expr'), name: fieldIdentArb })
        .map(({ object, name }) => ({ kind: 'Member' as const, object, name, span })),
      fc
        .record({ object: tie('expr'), index: tie('expr') })
        .map(({ object, index }) => ({ kind: 'Index' as const, object, index, span })),
      fc
        .record({ op: fc.constantFrom('-' as const, 'not' as const), operand: tie('expr') })
        .map(({ op, operand }) => ({ kind: 'Unary' as const, op, operand, span })),
      fc
        .record({ op: fc.constantFrom(...BINARY_OPS), left: tie('expr'), right: tie('expr') })
        .map(({ op, left, right }) => ({ kind: 'Binary' as const, op, left, right, opSpan: span, span })),
      fc
        .record({ left: tie('expr'), right: tie('expr') })
        .map(({ left, right }) => ({ kind: 'Coalesce' as const, left, right, span })),
      // A chain long enough to be read flat (ArithmeticChain), of one precedence level.
      fc
        .record({
          ops: fc.oneof(
            fc.array(fc.constantFrom<ArithmeticOperator>('+', '-'), { minLength: 32, maxLength: 40 }),
            fc.array(fc.constantFrom<ArithmeticOperator>('*', '/', '%'), { minLength: 32, maxLength: 40 }),
          ),
          first: tie('expr'),
          terms: fc.array(
            fc.oneof({ arbitrary: leafArb, weight: 8 }, { arbitrary: tie('expr'), weight: 1 }),
            {
              minLength: 40,
              maxLength: 40,
            },
          ),
        })
        .map(({ ops, first, terms }) => ({
          kind: 'ArithmeticChain' as const,
          terms: [first, ...terms.slice(0, ops.length)],
          ops: ops.map((op) => ({ op, opSpan: span })),
          span,
        })),
      fc
        .record({ operand: tie('expr'), negated: fc.boolean() })
        .map(({ operand, negated }) => ({ kind: 'IsNull' as const, operand, negated, span })),
      fc.tuple(tie('expr'), tie('expr'), tie('expr')).map(([condition, then, otherwise]) => ({
        kind: 'If' as const,
        condition,
        whenTrue: then,
        whenFalse: otherwise,
        span,
      })),
      fc
        .record({ callee: identArb, args: fc.array(tie('expr'), { maxLength: 3 }) })
        .map(({ callee, args }) => ({ kind: 'Call' as const, callee, args, span })),
      // A list function with a lambda, `map(xs, x -> x + 1)` (the parser takes one in any argument).
      fc
        .record({ callee: identArb, list: tie('expr'), param: identArb, body: tie('expr') })
        .map(({ callee, list, param, body }) => ({
          kind: 'Call' as const,
          callee,
          args: [list, { kind: 'Lambda' as const, param, body, span }],
          span,
        })),
      fc
        .array(tie('fieldInit'), { maxLength: 3 })
        .map((fields) => ({ kind: 'RecordLiteral' as const, fields, span })),
      fc.array(tie('expr'), { maxLength: 3 }).map((items) => ({ kind: 'ListLiteral' as const, items, span })),
      fc
        .array(fc.record({ key: stringValueArb, value: tie('expr') }), { minLength: 1, maxLength: 3 })
        .map((entries) => ({
          kind: 'MapLiteral' as const,
          entries: entries.map((entry) => ({ ...entry, keySpan: span })),
          span,
        })),
      fc
        .record({
          operand: tie('expr'),
          items: fc.array(tie('expr'), { minLength: 1, maxLength: 3 }),
          negated: fc.boolean(),
        })
        .map(({ operand, items, negated }) => ({
          kind: 'In' as const,
          operand,
          items,
          negated,
          opSpan: span,
          span,
        })),
      fc
        .record({ operand: tie('expr'), low: tie('expr'), high: tie('expr'), negated: fc.boolean() })
        .map(({ operand, low, high, negated }) => ({
          kind: 'Between' as const,
          operand,
          low,
          high,
          negated,
          opSpan: span,
          span,
        })),
      fc
        .record({ operand: tie('expr'), pattern: tie('expr'), negated: fc.boolean() })
        .map(({ operand, pattern, negated }) => ({
          kind: 'Like' as const,
          operand,
          pattern,
          negated,
          opSpan: span,
          span,
        })),
      fc
        .record({
          operand: fc.option(tie('expr'), { nil: null }),
          branches: fc.array(fc.record({ condition: tie('expr'), value: tie('expr') }), {
            minLength: 1,
            maxLength: 3,
          }),
          otherwise: fc.option(tie('expr'), { nil: null }),
        })
        .map(({ operand, branches, otherwise }) => ({
          kind: 'Case' as const,
          operand,
          branches,
          otherwise,
          span,
        })),
    ),
    fieldInit: fc.oneof(
      fc
        .record({ name: fieldIdentArb, value: tie('expr') })
        .map(({ name, value }) => ({ kind: 'FieldInit' as const, name, value, span })),
      nameArb.map((name) => ({
        kind: 'FieldInit' as const,
        name: null,
        value: { kind: 'Name' as const, name, span },
        span,
      })),
      fc.record({ object: tie('expr'), name: fieldIdentArb }).map(({ object, name }) => ({
        kind: 'FieldInit' as const,
        name: null,
        value: { kind: 'Member' as const, object, name, span },
        span,
      })),
    ),
  }),
).expr

const fieldInitsArb: fc.Arbitrary<FieldInit[]> = fc.array(
  fc.oneof(
    fc.record({ name: fieldIdentArb, value: expressionArb }).map(({ name, value }) => ({
      kind: 'FieldInit' as const,
      name,
      value,
      span,
    })),
    fieldNameArb.map((name) => ({
      kind: 'FieldInit' as const,
      name: null,
      value: { kind: 'Name' as const, name, span },
      span,
    })),
  ),
  { maxLength: 4 },
)

const typeArb: fc.Arbitrary<TypeExpr> = fc.letrec<{ type: TypeExpr; required: TypeExpr; field: FieldDecl }>(
  (tie) => ({
    // `T??` does not parse, so an optional wraps only a non-optional type.
    type: fc.oneof(
      { depthSize: 'small' },
      tie('required'),
      tie('required').map((of) => ({ kind: 'OptionalType' as const, of, span })),
    ),
    required: fc.oneof(
      { depthSize: 'small' },
      identArb.map((name) => ({ kind: 'NamedType' as const, name, span })),
      tie('type').map((of) => ({ kind: 'ListType' as const, of, span })),
      fc
        .record({ key: tie('type'), of: tie('type') })
        .map(({ key, of }) => ({ kind: 'MapType' as const, key, of, span })),
      fc
        .array(tie('field'), { maxLength: 3 })
        .map((fields) => ({ kind: 'RecordType' as const, fields, span })),
    ),
    field: fc
      .record({ name: fieldIdentArb, type: tie('type'), annotations: fc.array(identArb, { maxLength: 2 }) })
      .map(({ name, type, annotations }) => ({
        kind: 'FieldDecl' as const,
        name,
        type,
        annotations: annotations.map((a) => ({ kind: 'Annotation' as const, name: a, span })),
        span,
      })),
  }),
).type

const fieldDeclArb: fc.Arbitrary<FieldDecl> = fc
  .record({ name: fieldIdentArb, type: typeArb, annotations: fc.array(identArb, { maxLength: 1 }) })
  .map(({ name, type, annotations }) => ({
    kind: 'FieldDecl' as const,
    name,
    type,
    annotations: annotations.map((a) => ({ kind: 'Annotation' as const, name: a, span })),
    span,
  }))

const connectorArb: fc.Arbitrary<ConnectorExpr> = fc
  .record({ name: identArb, args: fc.option(fc.array(stringLiteralArb, { maxLength: 2 }), { nil: null }) })
  .map(({ name, args }) => ({ kind: 'Connector' as const, name, args, span }))

const durationArb = fc
  .record({
    amount: fc.integer({ min: 0, max: 100_000 }),
    unit: fc.constantFrom<DurationUnit>('ms', 's', 'm', 'h', 'd', 'w'),
  })
  .map(({ amount, unit }) => ({ kind: 'DurationLiteral' as const, amount, unit, span }))

const aggregateInitArb: fc.Arbitrary<AggregateInit> = fc
  .record({
    name: fieldIdentArb,
    fn: identArb,
    args: fc.array(expressionArb, { maxLength: 2 }),
  })
  .map((r) => ({ kind: 'AggregateInit' as const, ...r, span }))

const windowArb: fc.Arbitrary<WindowClause> = fc
  .record({
    type: fc.constantFrom('tumbling', 'hopping', 'session', 'count'),
    count: fc.integer({ min: 0, max: 1000 }),
    countEvery: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
    computedGap: fc.option(expressionArb, { nil: null }),
    size: durationArb,
    every: durationArb,
    processingTime: fc.boolean(),
    lateness: fc.option(durationArb, { nil: null }),
    emit: fc.option(fc.constantFrom<'every' | 'update' | 'close'>('every', 'update', 'close'), { nil: null }),
    lateInto: fc.option(identArb, { nil: null }),
  })
  .map((r) => ({
    kind: 'WindowClause' as const,
    type: { kind: 'Identifier' as const, name: r.type, span },
    events:
      r.type === 'count'
        ? {
            size: { kind: 'IntLiteral' as const, value: r.count, span },
            every: r.countEvery === null ? null : { kind: 'IntLiteral' as const, value: r.countEvery, span },
          }
        : null,
    size: r.type === 'count' || (r.type === 'session' && r.computedGap !== null) ? null : r.size,
    gap: r.type === 'session' ? r.computedGap : null,
    every: r.type === 'hopping' ? r.every : null,
    processingTime: r.processingTime,
    lateness: r.lateness,
    emit:
      r.emit === null
        ? null
        : { kind: 'EmitClause' as const, mode: r.emit, every: r.emit === 'every' ? r.every : null, span },
    lateInto: r.lateInto,
    span,
  }))

const stepNameArb: fc.Arbitrary<Identifier> = identArb.filter((n) => !PATTERN_RESERVED.has(n.name))

const quantifierArb: fc.Arbitrary<QuantifierSyntax> = fc
  .record({
    form: fc.constantFrom<QuantifierSyntax['form']>('exact', 'range', 'atLeast', '+', '*', '?'),
    a: fc.integer({ min: 0, max: 20 }),
    b: fc.integer({ min: 0, max: 20 }),
    mode: fc.constantFrom<QuantifierSyntax['mode']>('all', 'greedy', 'reluctant'),
    inner: fc.constantFrom<QuantifierSyntax['inner']>('relaxed', 'strict', 'any'),
  })
  .map(({ form, a, b, mode, inner }) => {
    const [min, max] =
      form === 'exact'
        ? [a, a]
        : form === 'range'
          ? [a, b]
          : form === 'atLeast'
            ? [a, null]
            : form === '+'
              ? [1, null]
              : form === '*'
                ? [0, null]
                : [0, 1]
    return { kind: 'Quantifier' as const, form, min, max, mode, inner, span }
  })

const { pattern: patternArb } = fc.letrec<{
  pattern: PatternSyntax
  sequence: PatternSequenceSyntax
  term: PatternTermSyntax
}>((tie) => ({
  pattern: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('sequence'),
    fc
      .array(tie('sequence'), { minLength: 2, maxLength: 3 })
      .map((options) => ({ kind: 'PatternAlternation' as const, options, span })),
  ),
  sequence: fc
    .record({
      first: tie('term'),
      rest: fc.array(
        fc.record({
          connector: fc.constantFrom(
            'next',
            'followedBy',
            'followedByAny',
            'notNext',
            'notFollowedBy' as const,
          ),
          term: tie('term'),
        }),
        { maxLength: 3 },
      ),
    })
    .map(({ first, rest }) => ({
      kind: 'PatternSequence' as const,
      elements: [{ connector: 'begin' as const, term: first }, ...rest],
      span,
    })),
  term: fc
    .record({
      body: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        stepNameArb.map((step) => ({ step, group: null })),
        tie('pattern').map((group) => ({ step: null, group })),
      ),
      quantifier: fc.option(quantifierArb, { nil: null }),
      within: fc.option(durationArb, { nil: null }),
    })
    .map(({ body, ...r }) => ({ kind: 'PatternTerm' as const, ...body, ...r, span })),
}))

const matchArb: fc.Arbitrary<MatchStep> = fc
  .record({
    key: fc.option(expressionArb, { nil: null }),
    within: fc.option(durationArb, { nil: null }),
    pattern: patternArb,
    defines: fc.array(
      fc
        .record({ name: identArb, condition: expressionArb, until: fc.option(expressionArb, { nil: null }) })
        .map((r) => ({ kind: 'StepDefinition' as const, ...r, span })),
      { minLength: 1, maxLength: 3 },
    ),
    skip: fc.option(
      fc
        .record({
          strategy: fc.constantFrom('toNext', 'pastLastEvent', 'toFirst', 'toLast' as const),
          step: stepNameArb,
        })
        .map(({ strategy, step }) => ({
          kind: 'SkipClause' as const,
          strategy,
          step: strategy === 'toFirst' || strategy === 'toLast' ? step : null,
          span,
        })),
      { nil: null },
    ),
    lateInto: fc.option(identArb, { nil: null }),
    timeout: fc.option(
      fc
        .record({ into: identArb, fields: fieldInitsArb })
        .map((r) => ({ kind: 'TimeoutClause' as const, ...r, span })),
      { nil: null },
    ),
    fields: fieldInitsArb,
  })
  .map((r) => ({ kind: 'Match' as const, ...r, span }))

/** `* except (…) rename (…)` of a `select`. */
const allFieldsArb: fc.Arbitrary<AllFields> = fc
  .record({
    except: fc.array(fieldIdentArb, { maxLength: 2 }),
    renames: fc.array(
      fc.record({ from: fieldIdentArb, to: fieldIdentArb }).map((r) => ({ ...r, span })),
      { maxLength: 2 },
    ),
  })
  .map((r) => ({ kind: 'AllFields' as const, ...r, span }))

const selectItemsArb: fc.Arbitrary<SelectItem[]> = fc
  .tuple(fieldInitsArb, fc.option(fc.tuple(allFieldsArb, fc.nat(4)), { nil: null }))
  .map(([fields, star]) =>
    star === null ? fields : [...fields.slice(0, star[1]), star[0], ...fields.slice(star[1])],
  )

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  matchArb,
  expressionArb.map((predicate) => ({ kind: 'Where' as const, predicate, span })),
  selectItemsArb.map((fields) => ({ kind: 'Select' as const, fields, span })),
  expressionArb.map((key) => ({ kind: 'KeyBy' as const, key, span })),
  fc
    .record({ keys: fc.array(expressionArb, { minLength: 1, maxLength: 3 }), within: durationArb })
    .map((r) => ({ kind: 'Dedup' as const, ...r, span })),
  fc
    .record({
      keys: fieldInitsArb.filter((keys) => keys.length > 0),
      window: fc.option(windowArb, { nil: null }),
      aggregates: fc.array(aggregateInitArb, { maxLength: 3 }),
    })
    .map((r) => ({ kind: 'Aggregate' as const, ...r, span })),
  fc
    .record({
      table: identArb,
      alias: fieldIdentArb,
      key: expressionArb,
      asOf: fc.option(expressionArb, { nil: null }),
      orNull: fc.boolean(),
    })
    .map((r) => ({ kind: 'Lookup' as const, ...r, span })),
  fc
    .record({ list: expressionArb, alias: identArb, orNull: fc.boolean() })
    .map((r) => ({ kind: 'Explode' as const, ...r, span })),
)

const boundOffsetArb = fc
  .record({ amount: durationArb, direction: fc.constantFrom<'before' | 'after'>('before', 'after') })
  .map((r) => ({ ...r, span }))

const intervalBoundArb: fc.Arbitrary<IntervalBound> = fc
  .record({
    subject: identArb,
    lower: boundOffsetArb,
    upper: boundOffsetArb,
    reference: identArb,
    lateness: fc.option(durationArb, { nil: null }),
    lateInto: fc.option(identArb, { nil: null }),
  })
  .map((r) => ({ kind: 'IntervalBound' as const, ...r, span }))

const joinArb: fc.Arbitrary<JoinClause> = fc
  .record({
    type: fc.constantFrom<JoinType>('inner', 'left', 'full'),
    leftAlias: identArb,
    right: identArb,
    rightAlias: identArb,
    on: expressionArb,
    bound: fc.oneof(
      intervalBoundArb.map((within) => ({ within, window: null })),
      windowArb.map((window) => ({ within: null, window })),
    ),
  })
  .map(({ bound, ...r }) => ({ kind: 'JoinClause' as const, ...r, ...bound, span }))

export const statementArb: fc.Arbitrary<Statement> = fc.oneof(
  fc
    .record({ name: identArb, fields: fc.array(fieldDeclArb, { maxLength: 4 }) })
    .map(({ name, fields }) => ({ kind: 'Schema' as const, name, fields, span })),
  fc
    .record({
      name: identArb,
      schema: identArb,
      connector: connectorArb,
      watermark: fc.option(
        fc.record({
          field: fieldIdentArb,
          delay: fc.option(
            fc.record({
              amount: fc.integer({ min: 0, max: 100_000 }),
              unit: fc.constantFrom<DurationUnit>('ms', 's', 'm', 'h', 'd', 'w'),
            }),
            { nil: null },
          ),
        }),
        { nil: null },
      ),
    })
    .map(({ watermark, ...rest }) => ({
      kind: 'Source' as const,
      ...rest,
      watermark:
        watermark === null
          ? null
          : {
              kind: 'Watermark' as const,
              field: watermark.field,
              delay:
                watermark.delay === null
                  ? null
                  : { kind: 'DurationLiteral' as const, ...watermark.delay, span },
              span,
            },
      span,
    })),
  fc
    .record({
      name: identArb,
      input: identArb,
      join: fc.option(joinArb, { nil: null }),
      union: fc.array(identArb, { maxLength: 2 }),
      steps: fc.array(stepArb, { maxLength: 3 }),
    })
    // A stream starts with a join, a union of two or more (`union a, b`), or one name.
    .map(({ union, ...r }) => ({
      kind: 'Stream' as const,
      ...r,
      ...(r.join === null && union.length > 0 ? { union } : {}),
      span,
    })),
  fc
    .record({
      input: identArb,
      connector: connectorArb,
      mode: fc.option(fc.constantFrom(...RECORD_TIMESTAMP_MODES), { nil: null }),
      headers: fc.option(
        fc.array(fc.record({ name: stringLiteralArb, value: expressionArb }), { maxLength: 2 }),
        { nil: null },
      ),
    })
    .map(({ mode, headers, ...rest }) => ({
      kind: 'Sink' as const,
      ...rest,
      timestamp: mode === null ? null : { kind: 'RecordTimestamp' as const, mode, span },
      ...(headers === null
        ? {}
        : {
            headers: {
              kind: 'SinkHeaders' as const,
              headers: headers.map((h) => ({ kind: 'SinkHeader' as const, ...h, span })),
              span,
            },
          }),
      span,
    })),
  fc
    .record({ name: identArb, schema: identArb, connector: connectorArb, key: expressionArb })
    .map((r) => ({ kind: 'Table' as const, ...r, span })),
  fc
    .record({
      name: identArb,
      params: fc.array(
        fc.record({ name: identArb, type: typeArb }).map((p) => ({ kind: 'UdfParam' as const, ...p, span })),
        { maxLength: 3 },
      ),
      result: typeArb,
      from: stringLiteralArb,
    })
    .map((r) => ({ kind: 'ImportFunction' as const, ...r, span })),
)

export const pipeFileArb: fc.Arbitrary<PipeFile> = fc
  .array(statementArb, { maxLength: 5 })
  .map((statements) => ({ kind: 'File' as const, statements, span }))

/** A deep copy without `span`/`opSpan` keys, for comparing trees by structure. */
export function stripSpans(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSpans)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value))
      if (k !== 'span' && k !== 'opSpan' && k !== 'keySpan') out[k] = stripSpans(v)
    return out
  }
  return value
}
