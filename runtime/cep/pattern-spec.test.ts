/**
 * The compiler's pattern IR and the runtime's declaration of the artifact's pattern are two
 * declarations of one shape (the boundary between compiler and runtime is the artifact). If either
 * changes alone, these assignments stop type-checking (`npm run typecheck` covers test files).
 */
import { describe, expect, it } from 'vitest'
import type * as Compiler from '../../compiler/ir/pattern.ts'
import { readPattern } from '../../test/support/cep-nfa-fixtures.ts'
import type * as Runtime from './pattern-spec.ts'

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const checks: [
  Same<Compiler.PatternSpec, Runtime.PatternSpec>,
  Same<Compiler.Pattern, Runtime.Pattern>,
  Same<Compiler.SkipStrategy, Runtime.SkipStrategy>,
  Same<Compiler.PatternStepInfo, Runtime.PatternStepInfo>,
  Same<Compiler.Quantifier, Runtime.Quantifier>,
] = [true, true, true, true, true]

describe('pattern declarations', () => {
  it('the compiler and the runtime declare the same pattern shape', () => {
    expect(checks.every(Boolean)).toBe(true)
    // A real spec passes from one to the other as it is.
    const spec: Compiler.PatternSpec = readPattern('a followed by b{2,} next c')
    const runtime: Runtime.PatternSpec = spec
    expect(runtime.steps.map((s) => s.name)).toEqual(['a', 'b', 'c'])
  })
})
