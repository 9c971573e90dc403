import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EvaluationError } from './eval-error.ts'
import { stdlib } from './index.ts'
import { captureGroupCount, compileLike, likeMatches, nestedRepetition } from './patterns.ts'

const impl = (name: string) => stdlib[name]!.impl as (...args: unknown[]) => unknown
const compile = (name: string, literal: string) => stdlib[name]!.literalArg!.compile(literal)

/** The meaning of a `like` pattern as a regular expression, for comparison (not how it runs). */
function likeAsRegExp(pattern: string): RegExp {
  let source = ''
  const chars = Array.from(pattern)
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!
    if (c === '\\' && i + 1 < chars.length) source += escapeRegExp(chars[++i]!)
    else if (c === '%') source += '.*'
    else if (c === '_') source += '.'
    else source += escapeRegExp(c)
  }
  return new RegExp(`^${source}$`, 'su')
}

function escapeRegExp(c: string): string {
  return c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')
}

describe('like', () => {
  it('matches the whole string with % and _, case-sensitively', () => {
    const like = impl('like')
    expect(like('abc', 'a%')).toBe(true)
    expect(like('abc', 'a_')).toBe(false)
    expect(like('abc', '_b_')).toBe(true)
    expect(like('abc', 'A%')).toBe(false)
    expect(like('', '%')).toBe(true)
    expect(like('', '_')).toBe(false)
    expect(like('a\nb', 'a_b')).toBe(true)
  })

  it('reads \\ as an escape, and a \\ at the end as itself', () => {
    const like = impl('like')
    expect(like('100%', '100\\%')).toBe(true)
    expect(like('1000', '100\\%')).toBe(false)
    expect(like('a_b', 'a\\_b')).toBe(true)
    expect(like('axb', 'a\\_b')).toBe(false)
    expect(like('a\\', 'a\\')).toBe(true)
    expect(like('a\\b', 'a\\\\b')).toBe(true)
  })

  it('takes a character outside the BMP as one character', () => {
    const like = impl('like')
    expect(like('😀', '_')).toBe(true)
    expect(like('😀x', '_x')).toBe(true)
    expect(like('a😀', '%_')).toBe(true)
    expect(like('😀😀', '_')).toBe(false)
  })

  it('a compiled literal pattern gives what its text gives', () => {
    expect(impl('like')('abc', compile('like', 'a%c'))).toBe(true)
    expect(impl('like')('abd', compile('like', 'a%c'))).toBe(false)
  })

  it('property: agrees with the same pattern as an anchored regular expression', () => {
    const alphabet = fc.constantFrom('a', 'b', '%', '_', '\\', '😀', '.')
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 8 }).map((cs) => cs.join('')),
        fc
          .array(fc.constantFrom('a', 'b', '%', '_', '\\', '😀', '.'), { maxLength: 10 })
          .map((cs) => cs.join('')),
        (pattern, s) => {
          expect(likeMatches(compileLike(pattern), s)).toBe(likeAsRegExp(pattern).test(s))
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('runs in time proportional to |s|·|pattern| where a regular expression would backtrack', () => {
    const s = `${'a'.repeat(5000)}b`
    const start = performance.now()
    expect(likeMatches(compileLike('%a%a%a%a%a%c'), s)).toBe(false)
    expect(performance.now() - start).toBeLessThan(2000)
  })
})

describe('regular expressions', () => {
  it('regex_match searches; ^ and $ anchor', () => {
    expect(impl('regex_match')('ab12', '[0-9]+')).toBe(true)
    expect(impl('regex_match')('ab12', '^[0-9]+$')).toBe(false)
  })

  it('uses the u flag: . is one code point, \\p{…} works', () => {
    expect(impl('regex_match')('😀', '^.$')).toBe(true)
    expect(impl('regex_match')('é', '^\\p{L}$')).toBe(true)
    expect(impl('regex_extract')('x😀y', '.y')).toBe('😀y')
  })

  it('regex_extract: group 0 by default, null without a match or for a group that took no part', () => {
    const extract = impl('regex_extract')
    expect(extract('id=42', '[0-9]+')).toBe('42')
    expect(extract('id=42', '(id)=([0-9]+)', 2)).toBe('42')
    expect(extract('abc', '[0-9]+')).toBe(null)
    expect(extract('y', '(x)?y', 1)).toBe(null)
  })

  it('regex_extract: a group the pattern lacks is an evaluation error', () => {
    expect(() => impl('regex_extract')('a', 'a', 1)).toThrow(EvaluationError)
    expect(() => impl('regex_extract')('a', 'a', -1)).toThrow(
      'regex_extract: -1 is not a group of the pattern (it has 0 capture groups)',
    )
  })

  it('regex_replace replaces every match, with $ references', () => {
    const replace = impl('regex_replace')
    expect(replace('a1b22', '[0-9]', '#')).toBe('a#b##')
    expect(replace('ann@host', '(\\w+)@(\\w+)', '$2/$1')).toBe('host/ann')
    expect(replace('a1', '[0-9]', '$$')).toBe('a$')
    expect(replace('😀', '', '-')).toBe('-😀-')
    expect(replace('a1b2', compile('regex_replace', '[0-9]'), '')).toBe('ab')
  })

  it('an invalid pattern text is an evaluation error naming the function; compile throws for a literal', () => {
    expect(() => impl('regex_match')('a', '(')).toThrow(EvaluationError)
    expect(() => impl('regex_match')('a', '(')).toThrow(
      'regex_match: "(" is an invalid regular expression: Unterminated group',
    )
    expect(() => compile('regex_match', '(')).toThrow('invalid regular expression: Unterminated group')
  })

  it('counts capture groups, named ones too', () => {
    expect(captureGroupCount(/a/u)).toBe(0)
    expect(captureGroupCount(/(a)(?<b>b)(?:c)/u)).toBe(2)
  })
})

describe('nestedRepetition (W0020)', () => {
  it('finds a group repeated without bound that repeats without bound inside', () => {
    expect(nestedRepetition('^(a+)+$')).toBe('(a+)+')
    expect(nestedRepetition('x(\\w*\\s?)*y')).toBe('(\\w*\\s?)*')
    expect(nestedRepetition('((ab)*c){2,}')).toBe('((ab)*c){2,}')
    expect(nestedRepetition('(?:a|(?<b>b+))*')).toBe('(?:a|(?<b>b+))*')
  })

  it('leaves bounded or single repetition alone', () => {
    expect(nestedRepetition('^[a-z]+$')).toBe(null)
    expect(nestedRepetition('(a+){2}')).toBe(null)
    expect(nestedRepetition('(ab)+c*')).toBe(null)
    expect(nestedRepetition('[(+]+\\(+')).toBe(null)
    expect(nestedRepetition('(?<name>a)+')).toBe(null)
    expect(nestedRepetition('(a{1,5})+')).toBe(null)
  })
})
