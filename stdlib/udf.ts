/**
 * User-defined functions (specs/language.md, "User-defined functions"): TypeScript functions a
 * `.pipe` imports with `import function name(…): T from "./file.ts"`. The compiler bundles their
 * module into the artifact; the runtime and the reference interpreter both call them through the
 * wrapper made here, so both treat a UDF's failures and results alike:
 * - an exception thrown by the function is an EvaluationError (the event is dead-lettered, located
 *   at the call), whatever was thrown;
 * - the result must be a value of the declared type (a TypeScript signature can be bypassed with
 *   `any`): anything else, `undefined` included, is an EvaluationError naming the function.
 * Values are those of the stdlib: i64, f64, timestamp (epoch ms) and duration (ms) are numbers
 * (i64 a safe integer), records plain objects, lists arrays, null is `null`.
 */
import { EvaluationError } from './eval-error.ts'
import { type LibType, showType } from './types.ts'

/** A UDF as the artifact's graph declares it (compiler/ir/types.ts UdfDecl). */
export interface UdfSignature {
  readonly name: string
  readonly params: readonly { readonly name: string; readonly type: LibType }[]
  readonly result: LibType
}

/** A UDF as the generated code and the interpreter call it (the shape of a stdlib entry they use). */
export interface BoundUdf {
  readonly nullPropagating: boolean
  readonly mayFail: true
  readonly impl: (...args: never[]) => unknown
}

/**
 * A UDF whose parameters are all non-optional is null-propagating: a null argument gives null
 * without calling it. One with an optional parameter is called with its arguments as they are.
 */
export function udfIsNullPropagating(udf: UdfSignature): boolean {
  return udf.params.every((p) => p.type.kind !== 'optional')
}

/** Each declared UDF bound to its export of `module` (the bundle's namespace). */
export function bindUdfs(
  module: Readonly<Record<string, unknown>>,
  udfs: readonly UdfSignature[],
): Record<string, BoundUdf> {
  const bound: Record<string, BoundUdf> = {}
  for (const udf of udfs) {
    const fn = module[udf.name]
    if (typeof fn !== 'function') throw new Error(`the UDF bundle exports no function ${udf.name}`)
    bound[udf.name] = {
      nullPropagating: udfIsNullPropagating(udf),
      mayFail: true,
      impl: callUdf(udf, fn as (...args: unknown[]) => unknown),
    }
  }
  return bound
}

function callUdf(udf: UdfSignature, fn: (...args: unknown[]) => unknown): (...args: never[]) => unknown {
  return (...args: unknown[]) => {
    let result: unknown
    try {
      result = fn(...args)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      throw new EvaluationError(`function \`${udf.name}\` threw: ${message}`)
    }
    const problem = mismatch(result, udf.result)
    if (problem !== null) {
      throw new EvaluationError(
        `function \`${udf.name}\` returned ${problem}, not a \`${showType(udf.result)}\``,
      )
    }
    return result
  }
}

/** Why `value` is not a value of `type` (a short description of it), or null when it is. */
function mismatch(value: unknown, type: LibType): string | null {
  if (value === null) return type.kind === 'optional' || type.kind === 'null' ? null : 'null'
  if (value === undefined) return 'undefined'
  const base = type.kind === 'optional' ? type.of : type
  switch (base.kind) {
    case 'string':
      return typeof value === 'string' ? null : describe(value)
    case 'bool':
      return typeof value === 'boolean' ? null : describe(value)
    case 'f64':
      return typeof value === 'number' ? null : describe(value)
    case 'i64':
    case 'duration':
      return Number.isSafeInteger(value) ? null : describe(value)
    case 'timestamp':
      return Number.isSafeInteger(value) && Math.abs(value as number) <= 8.64e15 ? null : describe(value)
    case 'list': {
      if (!Array.isArray(value)) return describe(value)
      for (const item of value) {
        const inner = mismatch(item, base.of)
        if (inner !== null) return `a list holding ${inner}`
      }
      return null
    }
    case 'record': {
      if (typeof value !== 'object' || Array.isArray(value)) return describe(value)
      for (const field of base.fields) {
        const inner = mismatch((value as Record<string, unknown>)[field.name] ?? null, field.type)
        if (inner !== null) return `a record whose \`${field.name}\` is ${inner}`
      }
      return null
    }
    default:
      return describe(value)
  }
}

function describe(value: unknown): string {
  if (typeof value === 'number') return `the number ${value}`
  if (typeof value === 'string') return `a string`
  if (Array.isArray(value)) return 'a list'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}
