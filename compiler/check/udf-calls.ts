/**
 * User-defined functions in the checker (specs/language.md, "User-defined functions"): the
 * `import function` declarations, and the calls of them. A call is typed by the declaration (the
 * TypeScript module's signature is checked against it apart, compiler/udf/typescript-check.ts):
 * each argument must fit its parameter (an i64 fits an f64; records by their fields), and a UDF
 * whose parameters are all non-optional propagates nulls like the stdlib, while one with an
 * optional parameter gets its arguments as they are, so no optional argument may go to a
 * non-optional parameter.
 */
import { udfIsNullPropagating } from '../../stdlib/udf.ts'
import type { DiagnosticCode } from '../diagnostics/catalogue.ts'
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import type { Expr, Span, Type, UdfDecl } from '../ir/types.ts'
import type { Expression, ImportFunctionDecl, TypeExpr } from '../parse/ast.ts'
import { baseType, ERROR_TYPE, isError, isNullable, show, unify, withNullability } from './types.ts'

export interface UdfContext {
  resolveType(type: TypeExpr): Type
  /** Whether a stdlib function (or another built-in one) has the name. */
  isBuiltIn(name: string): boolean
  report(code: DiagnosticCode, message: string, span: Span, related?: readonly RelatedInformation[]): void
}

/** The declarations of a file's `import function` statements, by name (the first of each name). */
export function checkUdfImports(
  decls: readonly ImportFunctionDecl[],
  context: UdfContext,
): Map<string, UdfDecl> {
  const udfs = new Map<string, UdfDecl>()
  for (const decl of decls) {
    const name = decl.name.name
    if (context.isBuiltIn(name)) {
      context.report(
        'E0365',
        `\`${name}\` is a function of the standard library; import the function under another name (export it under that name from ${JSON.stringify(decl.from.value)})`,
        decl.name.span,
      )
      continue
    }
    const first = udfs.get(name)
    if (first) {
      context.report('E0366', `function \`${name}\` is imported more than once`, decl.name.span, [
        { message: 'first imported here', span: first.span },
      ])
      continue
    }
    if (!/\.(ts|mts)$/.test(decl.from.value)) {
      context.report(
        'E0366',
        `a function is imported from a TypeScript module (a path ending in \`.ts\`, relative to the .pipe), not ${JSON.stringify(decl.from.value)}`,
        decl.from.span,
      )
      continue
    }
    const params = decl.params.map((p) => ({ name: p.name.name, type: context.resolveType(p.type) }))
    udfs.set(name, {
      name,
      params,
      result: context.resolveType(decl.result),
      module: decl.from.value,
      span: decl.span,
    })
  }
  return udfs
}

/** The IR of a call of `udf`, reporting arguments that do not fit. */
export function checkUdfCall(
  udf: UdfDecl,
  args: readonly Expr[],
  argAsts: readonly Expression[],
  span: Span,
  report: UdfContext['report'],
): Expr {
  const call = (type: Type): Expr => ({ kind: 'Call', fn: udf.name, args, type, span })
  if (args.length !== udf.params.length) {
    const n = udf.params.length
    report(
      'E0303',
      `\`${udf.name}\` takes ${n} argument${n === 1 ? '' : 's'} (${udf.params.map((p) => p.name).join(', ')}), but ${args.length} ${args.length === 1 ? 'was' : 'were'} given`,
      span,
      [{ message: 'imported here', span: udf.span }],
    )
    return call(ERROR_TYPE)
  }
  if (args.some((a) => isError(a.type))) return call(ERROR_TYPE)
  const propagating = udfIsNullPropagating(udf)
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const param = udf.params[i]!
    const fits = propagating ? fitsType(baseType(arg.type), param.type) : fitsType(arg.type, param.type)
    if (!fits) {
      const nullable = !propagating && isNullable(arg.type) && fitsType(baseType(arg.type), param.type)
      report(
        'E0304',
        nullable
          ? `argument \`${param.name}\` of \`${udf.name}\` may be null, but the parameter is \`${show(param.type)}\` (the function takes an optional parameter, so nulls are passed, not propagated); declare it \`${show(param.type)}?\` or give a default with \`??\``
          : `argument \`${param.name}\` of \`${udf.name}\` must be \`${show(param.type)}\`, found \`${show(arg.type)}\``,
        argAsts[i]!.span,
      )
      return call(ERROR_TYPE)
    }
  }
  const optionalArg = propagating && args.some((a) => isNullable(a.type) && a.type.kind !== 'null')
  return call(withNullability(udf.result, optionalArg || isNullable(udf.result)))
}

/** Whether a value of type `arg` is a value of type `param` (i64 is a number where f64 is). */
function fitsType(arg: Type, param: Type): boolean {
  if (arg.kind === 'null') return param.kind === 'optional'
  if (param.kind === 'optional') return fitsType(baseType(arg), param.of)
  if (arg.kind === 'optional') return false
  const unified = unify(arg, param)
  return unified !== null && shape(unified) === shape(param)
}

/** A type's structure, without schema names and event-time marks. */
function shape(type: Type): string {
  switch (type.kind) {
    case 'optional':
      return `${shape(type.of)}?`
    case 'list':
      return `list<${shape(type.of)}>`
    case 'record':
      return `{${type.fields.map((f) => `${f.name}:${shape(f.type)}`).join(',')}}`
    default:
      return type.kind
  }
}
