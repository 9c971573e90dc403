import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EvaluationError } from './eval-error.ts'
import { stdlib } from './index.ts'
import { invalidRegexFlags } from './patterns.ts'

type Impl = (...args: unknown[]) => unknown
const impl = (name: string) => stdlib[name]!.impl as unknown as Impl
const literal = (name: string, pattern: string) => stdlib[name]!.literalArg!.compile(pattern)

describe('regular-expression flags (issue 17)', () => {
  it('accepts i, m, s and u, each once, and nothing else', () => {
    for (const ok of ['', 'i', 'm', 's', 'u', 'ims', 'smi', 'imsu']) expect(invalidRegexFlags(ok)).toBeNull()
    for (const bad of ['g', 'y', 'd', 'v', 'I', 'ii', 'msm', ' i', 'x'])
      expect(invalidRegexFlags(bad)).toMatch(/not a regular-expression flag|given twice/)
  })

  it('mean the same for a pattern given as text and one compiled from a literal', () => {
    const texts = fc.constantFrom('Hello\nworld', 'HELLO', 'a\nb', 'hello', 'x\r\ny', 'ǅ')
    const patterns = fc.constantFrom('^hello', 'world$', 'a.b', '^b', 'L+', '.+', 'ǆ')
    const flags = fc.constantFrom(undefined, '', 'i', 'm', 's', 'ims', 'u')
    fc.assert(
      fc.property(texts, patterns, flags, (s, p, f) => {
        const args = f === undefined ? [] : [f]
        expect(impl('regex_match')(s, literal('regex_match', p), ...args)).toBe(
          impl('regex_match')(s, p, ...args),
        )
        expect(impl('regex_replace')(s, literal('regex_replace', p), '_', ...args)).toBe(
          impl('regex_replace')(s, p, '_', ...args),
        )
        const js = new RegExp(p, `u${f ?? ''}`.replace(/u(?=.*u)/, ''))
        expect(impl('regex_match')(s, p, ...args)).toBe(js.test(s))
      }),
    )
  })

  it('take effect: i ignores case, m anchors at line breaks, s lets . match one', () => {
    expect(impl('regex_match')('Hello', '^hello')).toBe(false)
    expect(impl('regex_match')('Hello', '^hello', 'i')).toBe(true)
    expect(impl('regex_extract')('a\nbc', '^b.*$')).toBeNull()
    expect(impl('regex_extract')('a\nbc', '^b.*$', 'm')).toBe('bc')
    expect(impl('regex_extract')('ab\nCd', '(b.c)', 1, 'si')).toBe('b\nC')
    expect(impl('regex_replace')('Lola', 'l', '_', 'i')).toBe('_o_a')
  })

  it('computed per event, fail the call when invalid', () => {
    expect(() => impl('regex_match')('a', 'a', 'g')).toThrow(EvaluationError)
    expect(() => impl('regex_extract')('a', literal('regex_extract', 'a'), 0, 'ii')).toThrow(/given twice/)
  })
})
