/**
 * C spellings of `and`/`or` in long chains (issue 17): a generated `s || s || …` filter of 2,000
 * terms gave 2,975 errors (a hint per operator, and E0301 for each string pair); it must give one.
 */
import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'

function chainSpec(op: string, fieldType: string, terms: number): string {
  const condition = Array.from({ length: terms }, () => 's').join(` ${op} `)
  return `schema E { id: string, s: ${fieldType} }
source e: E from kafka("in")
stream o = e | where ${condition} | select { id }
sink o -> kafka("out")
`
}

describe('C spellings in and/or chains', () => {
  for (const [op, word] of [
    ['||', 'or'],
    ['&&', 'and'],
  ] as const) {
    for (const fieldType of ['string', 'bool']) {
      it(`one error for a 2,000-term \`${op}\` chain of ${fieldType}s, at its first operator`, () => {
        const text = chainSpec(op, fieldType, 2000)
        const { diagnostics } = checkSource('chain.pipe', text)
        expect(diagnostics.map((d) => [d.code, d.message, d.span.start])).toEqual([
          [
            'E0001',
            `\`${op}\` is spelled \`${word}\` in Sluice (this chain writes \`${op}\` 1999 times)`,
            text.indexOf(op),
          ],
        ])
      })
    }
  }

  it('keeps the plain hint for a lone C spelling and one hint per chain', () => {
    const text = chainSpec('||', 'bool', 2).replace('where s || s', 'where (s && s && s) || s && s')
    const { diagnostics } = checkSource('chain.pipe', text)
    expect(diagnostics.map((d) => d.message)).toEqual([
      '`&&` is spelled `and` in Sluice (this chain writes `&&` 2 times)',
      '`||` is spelled `or` in Sluice',
      '`&&` is spelled `and` in Sluice',
    ])
  })

  it('still reports a type error at an operator spelt the Sluice way', () => {
    const text = chainSpec('||', 'string', 3).replace('where s || s || s', 'where s == "a" && s == "b" and s')
    const { diagnostics } = checkSource('chain.pipe', text)
    expect(diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['E0001', '`&&` is spelled `and` in Sluice'],
      ['E0301', 'cannot apply `and` to `bool` and `string`; `and` needs two bools'],
    ])
  })
})
