import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compileNfa } from '../../runtime/cep/nfa-compile.ts'
import { patternArb } from '../../test/support/cep-arbitrary.ts'
import { readPattern } from '../../test/support/cep-nfa-fixtures.ts'
import { kernelRefusal } from './cep-kernel.ts'
import { inlineSlots, mostEventsTaken, recordLayout } from './cep-record-layout.ts'

describe('recordLayout', () => {
  const layoutOf = (pattern: string, options: Parameters<typeof readPattern>[1] = {}) => {
    const spec = readPattern(pattern, options)
    return recordLayout(compileNfa(spec), spec.skip)
  }

  it('keeps events inline for bounded patterns with a whole-pattern within and nothing a compact record lacks', () => {
    expect(layoutOf('a{2} followed by b', { withinMs: 600_000 })).toBe('inline')
    expect(layoutOf('a followed by b not followed by c', { withinMs: 5 })).toBe('inline')
    expect(layoutOf('a{2} followed by b')).toBe('compact')
    expect(layoutOf('a+ followed by b', { withinMs: 5 })).toBe('compact')
    expect(layoutOf('a{2} followed by b{3}', { withinMs: 5 })).toBe('compact')
    expect(layoutOf('a followed by b within 3', { withinMs: 5 })).toBe('full')
    expect(layoutOf('a{2} followed by b', { withinMs: 5, skip: 'pastLastEvent' })).toBe('full')
  })

  it('counts the most events a state holds by the longest path of takes, null with a cycle that takes', () => {
    const most = (pattern: string) => mostEventsTaken(compileNfa(readPattern(pattern, { withinMs: 5 })))
    expect(most('a')).toEqual({ any: 1, stored: 0 })
    expect(most('a{2} followed by b')).toEqual({ any: 3, stored: 2 })
    expect(most('a{1,3} followed by b')).toEqual({ any: 4, stored: 3 })
    expect(most('a* followed by b')).toBeNull()
    expect(inlineSlots(compileNfa(readPattern('a{2} followed by b', { withinMs: 5 })))).toBe(2)
    expect(inlineSlots(compileNfa(readPattern('a{1,3} followed by b', { withinMs: 5 })))).toBe(4)
  })

  // The CEP properties (runtime/cep/*.property.test.ts) draw their patterns from this generator:
  // enough of those the kernel runs must be of the inline class for them to test it.
  it('is inline for a share of the generated patterns the kernel runs', () => {
    let kernelRuns = 0
    let inline = 0
    for (const generated of fc.sample(patternArb, 2000)) {
      if (kernelRefusal(generated.spec) !== null) continue
      kernelRuns++
      if (recordLayout(compileNfa(generated.spec), generated.spec.skip) === 'inline') inline++
    }
    expect(kernelRuns).toBeGreaterThan(500)
    expect(inline / kernelRuns).toBeGreaterThan(0.04)
  })
})
