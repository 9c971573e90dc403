/**
 * Checking and lowering of tables and lookups (specs/language.md, "Tables and lookups"), for the
 * checker (check.ts), which owns schemas, connectors, scopes and expression checking and lends
 * them here.
 *
 * Before: `table accounts: Account from kafka("accounts") key by id` and a step
 *         `| lookup accounts as a on card_id [or null]`.
 * After:  a `TableDecl` in `Pipeline.tables`, and a `Lookup` node whose record is the input's
 *         fields followed by `a` (the table's row; optional for `or null`).
 */
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import type { Connector, Expr, LookupNode, RecordType, Span, TableDecl, Type } from '../ir/types.ts'
import type {
  ConnectorExpr,
  Expression,
  Identifier,
  LookupStep,
  TableDecl as TableAst,
} from '../parse/ast.ts'
import { didYouMean } from './suggest.ts'
import { baseType, describeRecord, ERROR_TYPE, isError, isKeyType, optional, show } from './types.ts'

/** A table as lookups see it; `ir` is null when its declaration had an error. */
export interface TableEntry {
  readonly name: Identifier
  readonly ir: TableDecl | null
  used: boolean
}

/** What the checker lends this module for a table declaration. */
export interface TableContext {
  /** The record type of a schema name, or null after reporting an unknown one. */
  schema(name: Identifier): RecordType | null
  connector(decl: ConnectorExpr): Connector | null
  /** Checks an expression over `record`. */
  expr(e: Expression, record: Type): Expr
  checkFieldName(name: string, span: Span): void
  report(code: DiagnosticCode, message: string, span: Span, related?: readonly RelatedInformation[]): void
}

const KEY_TYPE_RULE = 'a key must be a string, i64, bool or timestamp (optionally `?`)'

export function checkTable(decl: TableAst, ctx: TableContext): TableDecl | null {
  ctx.checkFieldName(decl.name.name, decl.name.span)
  const schema = ctx.schema(decl.schema)
  const connector = ctx.connector(decl.connector)
  const key = ctx.expr(decl.key, schema ?? ERROR_TYPE)
  let ok = schema !== null && connector !== null && !isError(key.type)
  if (!isError(key.type) && (!isKeyType(key.type) || key.type.kind === 'null')) {
    ctx.report('E0308', `${KEY_TYPE_RULE}, but this is \`${show(key.type)}\``, decl.key.span)
    ok = false
  }
  if (!ok || schema === null || connector?.kind !== 'kafka') return null
  // A row is a nested record of the lookup's output: event time belongs to the event alone.
  const row: RecordType = {
    kind: 'record',
    name: decl.schema.name,
    fields: schema.fields.map((f) => ({ name: f.name, type: f.type })),
  }
  const eventTimeField = schema.fields.find((f) => f.eventTime)?.name ?? null
  return { kind: 'Table', name: decl.name.name, span: decl.span, schema: row, connector, key, eventTimeField }
}

/** What the checker lends this module for one lookup step. */
export interface LookupContext {
  /** The step's input record. */
  readonly record: Type
  readonly id: string
  readonly input: string
  /** The table a name refers to, or undefined. */
  table(name: string): TableEntry | undefined
  /** Names of every table, for suggestions. */
  tableNames(): Iterable<string>
  /** Whether `name` is a source or stream (a lookup of one gets a hint). */
  isStream(name: string): boolean
  /** Whether `name`'s declaration failed to parse (then it is not reported as unknown). */
  isIncomplete(name: string): boolean
  expr(e: Expression): Expr
  checkFieldName(name: string, span: Span): void
  report(code: DiagnosticCode, message: string, span: Span, related?: readonly RelatedInformation[]): void
}

export function checkLookup(step: LookupStep, ctx: LookupContext): LookupNode {
  const key = ctx.expr(step.key)
  const entry = ctx.table(step.table.name)
  if (entry === undefined && !ctx.isIncomplete(step.table.name)) {
    ctx.report(
      'E0452',
      ctx.isStream(step.table.name)
        ? `\`${step.table.name}\` is a source or stream, not a table; declare the topic as a table (\`table ${step.table.name}_rows: Schema from kafka("topic") key by id\`) to look rows up in it`
        : `unknown table \`${step.table.name}\`${didYouMean(step.table.name, ctx.tableNames())}`,
      step.table.span,
    )
  }
  if (entry) entry.used = true
  const table = entry?.ir ?? null
  if (!isError(key.type) && (!isKeyType(key.type) || key.type.kind === 'null')) {
    ctx.report('E0308', `${KEY_TYPE_RULE}, but this is \`${show(key.type)}\``, step.key.span)
  } else if (table !== null && !isError(key.type) && !isError(table.key.type)) {
    const looked = baseType(key.type)
    const stored = baseType(table.key.type)
    if (looked.kind !== stored.kind) {
      ctx.report(
        'E0453',
        `table \`${table.name}\` is keyed by \`${show(stored)}\` values, but this key is \`${show(key.type)}\`; no row could match (convert it, e.g. with \`to_string\` or \`parse_i64\`)`,
        step.key.span,
        [{ message: `the key of \`${table.name}\``, span: table.key.span }],
      )
    }
  }
  const asOf = step.asOf === null ? null : ctx.expr(step.asOf)
  if (asOf !== null && step.asOf !== null) {
    if (!isError(asOf.type) && baseType(asOf.type).kind !== 'timestamp') {
      ctx.report(
        'E0456',
        `\`as of\` needs a \`timestamp\` (usually the event time), but this is \`${show(asOf.type)}\``,
        step.asOf.span,
      )
    }
    if (table !== null && table.eventTimeField === null) {
      ctx.report(
        'E0455',
        `the rows of \`${table.name}\` have no time to look them up \`as of\`: mark the field that says from when a row is valid \`@event_time\` in its schema`,
        step.asOf.span,
        [{ message: `the table \`${table.name}\``, span: table.span }],
      )
    }
  }
  ctx.checkFieldName(step.alias.name, step.alias.span)
  const input = isError(ctx.record) ? null : (baseType(ctx.record) as RecordType)
  if (input?.kind === 'record' && input.fields.some((f) => f.name === step.alias.name)) {
    ctx.report(
      'E0454',
      `the row's name \`${step.alias.name}\` is already a field of ${describeRecord(input)}; choose another name after \`as\``,
      step.alias.span,
    )
  }
  const rowType: Type = table === null ? ERROR_TYPE : table.schema
  const schema: RecordType = {
    kind: 'record',
    fields: [
      ...(input?.kind === 'record' ? input.fields : []),
      { name: step.alias.name, type: step.orNull && !isError(rowType) ? optional(rowType) : rowType },
    ],
  }
  return {
    kind: 'Lookup',
    id: ctx.id,
    span: step.span,
    schema,
    input: ctx.input,
    table: step.table.name,
    alias: step.alias.name,
    key,
    asOf,
    mode: step.orNull ? 'left' : 'inner',
  }
}
