/**
 * Integer operations that need no check, because their result provably stays within ±(2^53−1)
 * and they cannot fail (issue 17: no overflow check where none can happen). Only what a glance at
 * the operands proves; everything else keeps `checkI64`, `idiv` and `imod`.
 */
import type { BinaryExpr, Expr } from '../ir/types.ts'

/** Operands below 2^52 in magnitude: the sum or difference of two is within ±(2^53−2). */
const SMALL = 2 ** 52

/** The plain JavaScript of `l op r` when it needs no check, else null. */
export function uncheckedIntegerOp(e: BinaryExpr, l: string, r: string): string | null {
  const divisor = integerLiteral(e.right)
  // A nonzero integer divisor: no division by zero, and |a / b| ≤ |a|, |a % b| < |b|.
  if (divisor !== null && divisor !== 0) {
    if (e.op === '%') return `(${l} % ${r})`
    if (e.op === '/') return `Math.trunc(${l} / ${r})`
  }
  if ((e.op === '+' || e.op === '-') && isSmall(e.left) && isSmall(e.right)) return `(${l} ${e.op} ${r})`
  return null
}

/** The value of an integer literal (or its negation), else null. */
function integerLiteral(expr: Expr): number | null {
  if (expr.kind === 'Unary' && expr.op === 'neg') {
    const operand = integerLiteral(expr.operand)
    return operand === null ? null : -operand
  }
  return expr.kind === 'Literal' && typeof expr.value === 'number' && Number.isInteger(expr.value)
    ? expr.value
    : null
}

/** A literal below 2^52 in magnitude, or a length (a string's or list's: below 2^32). */
function isSmall(expr: Expr): boolean {
  const literal = integerLiteral(expr)
  if (literal !== null) return Math.abs(literal) < SMALL
  return expr.kind === 'Call' && expr.fn === 'len'
}
