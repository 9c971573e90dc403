/**
 * Code for a long flat arithmetic chain (ArithmeticChainExpr, issue 17): one sequence of
 * assignments to a running value, `(v = t0, v = v op1 t1, v = v op2 t2, …, v)`, not nested calls,
 * so neither this code generator nor the JavaScript parser of the generated module recurses once
 * per term (V8 reads a flat sequence of 20,000 assignments without trouble; for esbuild it is
 * grouped, see sequence).
 *
 * Each step means what its BinaryExpr (chainStep) means in expressions.ts: its operand is always
 * evaluated, the step is null when either side is null, else the same checked arithmetic
 * (arithmeticCode), so errors, their order and their locations are those of the left-deep tree.
 */
import { chainStep, isOptional, typeBeforeStep } from '../ir/expr.ts'
import type { ArithmeticChainExpr, Expr } from '../ir/types.ts'
import { arithmeticCode, compileExpr, type ExprContext } from './expressions.ts'

export function arithmeticChain(e: ArithmeticChainExpr, ctx: ExprContext): string {
  // All terms of a chain that type-checks are numbers (`+` of strings alone is built balanced).
  const value = ctx.temp('number | null')
  // One temporary for the operand of every step that needs a null test: each is used and done
  // before the next step's operand is evaluated.
  let operand: string | undefined
  const parts = [`${value} = ${compileExpr(e.first, ctx)}`]
  for (let i = 0; i < e.steps.length; i++) {
    const step = e.steps[i]!
    const code = compileExpr(step.operand, ctx)
    // The running value stands in as the step's left side; it is a variable, never evaluated again.
    const left: Expr = { kind: 'Local', name: value, type: typeBeforeStep(e, i), span: e.first.span }
    const binary = chainStep(e, i, left)
    const leftOptional = isOptional(left.type)
    const rightOptional = isOptional(step.operand.type)
    if (!leftOptional && !rightOptional) {
      parts.push(`${value} = ${arithmeticCode(binary, `(${value} as number)`, code, ctx)}`)
      continue
    }
    operand ??= ctx.temp('number | null')
    const checks = [
      ...(leftOptional ? [`${value} === null`] : []),
      ...(rightOptional ? [`${operand} === null`] : []),
    ]
    const apply = arithmeticCode(binary, `(${value} as number)`, `(${operand} as number)`, ctx)
    parts.push(`${operand} = ${code}`, `${value} = ${checks.join(' || ')} ? null : ${apply}`)
  }
  parts.push(isOptional(e.type) ? value : `${value} as number`)
  return sequence(parts)
}

/** Parts of a sequence expression grouped in parentheses per GROUP at most (nested as needed). */
const GROUP = 32

/**
 * `(p0, p1, …)`, with the parts grouped in nested parentheses of at most GROUP each: esbuild takes
 * time quadratic in the length of one flat comma sequence (2 s for 10,000 steps, 0.15 s grouped),
 * and prints the same flat sequence either way.
 */
function sequence(parts: readonly string[]): string {
  let level = parts
  while (level.length > GROUP) {
    const grouped: string[] = []
    for (let i = 0; i < level.length; i += GROUP) grouped.push(`(${level.slice(i, i + GROUP).join(', ')})`)
    level = grouped
  }
  return `(${level.join(', ')})`
}
