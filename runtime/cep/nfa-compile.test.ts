import { describe, expect, test } from 'vitest'
import { readPattern } from '../../test/support/cep-nfa-fixtures.ts'
import { compileNfa, nfaRefusal } from './nfa-compile.ts'
import { nfaText } from './nfa-text.ts'

/** The NFA of a pattern text, one line per state (nfa-text.ts). */
function nfaLines(text: string, options: Parameters<typeof readPattern>[1] = {}): string[] {
  const spec = readPattern(text, options)
  return nfaText(
    compileNfa(spec),
    spec.steps.map((s) => s.name),
  )
}

describe('compileNfa builds Flink NFACompiler graphs', () => {
  test('a followed by b{2,} followed by c: two mandatory copies, then a looping state with its ignore copy', () => {
    expect(nfaLines('a followed by b{2,} followed by c')).toEqual([
      '0 a start: take->1[a] ignore->0[!a]',
      '1 b normal: take->2[b] ignore->1[!b]',
      '2 b:2 normal: take->3[b] ignore->2[!b]',
      '3 b:3 normal: proceed->4[true] take->3[b] ignore->5[!b]',
      '4 c normal: take->6[c] ignore->4[!c]',
      '5 b:4 normal: take->3[b] ignore->5[!b]',
      '6 $end final:',
    ])
  })

  test('consecutive drops the inner ignore edges, any makes them unconditional', () => {
    const anyText = nfaLines('a followed by b+ any followed by c')
    expect(anyText.some((line) => /^\d b:\d normal: take->\d\[b\] ignore->\d\[true\]$/.test(line))).toBe(true)
    const strict = nfaLines('a next b{2,3} consecutive')
    expect(strict.filter((line) => line.includes('ignore'))).toEqual(['0 a start: take->1[a] ignore->0[!a]'])
  })

  test('an optional step proceeds past itself and has an ignore copy without the proceed', () => {
    expect(nfaLines('a followed by b? followed by c')).toEqual([
      '0 a start: take->1[a] ignore->0[!a]',
      '1 b normal: take->2[b] proceed->2[true] ignore->3[!b]',
      '2 c normal: take->4[c] ignore->2[!c]',
      '3 b:2 normal: take->2[b] ignore->3[!b]',
      '4 $end final:',
    ])
  })

  test('not next at the end ignores into the final state (so its proceed does not fire at once)', () => {
    expect(nfaLines('a not next b')).toEqual([
      '0 a start: take->1[a] ignore->0[!a]',
      '1 b normal: ignore->2[!b] proceed->3[b]',
      '2 $end final:',
      '3 b:2 stop: take->3[b]',
    ])
  })

  test('not followed by in the middle is a proceed into a stop state on the states after it', () => {
    expect(nfaLines('a not followed by b followed by c')).toEqual([
      '0 a start: take->1[a] ignore->0[!a]',
      '1 c normal: take->2[c] ignore->1[!c] proceed->3[b]',
      '2 $end final:',
      '3 b stop: take->3[b]',
    ])
  })

  test('not followed by at the end under a within is a pending state', () => {
    expect(nfaLines('a not followed by b', { withinMs: 10 })).toEqual([
      '0 a start: take->1[a] ignore->0[!a]',
      '1 b pending: proceed->2[b] ignore->1[!b]',
      '2 b:2 stop: take->2[b]',
    ])
    // The negated step's own within is the pending state's window.
    expect(nfaLines('a not followed by b within 7')[1]).toBe('1 b pending w7: proceed->2[b] ignore->1[!b]')
  })

  test('a step within is the window of the states that wait for its first event', () => {
    const lines = nfaLines('a followed by b? within 5 followed by c')
    expect(lines[1]).toBe('1 b normal w5: take->2[b] proceed->2[true] ignore->3[!b]')
    expect(lines[3]).toBe('3 b:2 normal w5: take->2[b] ignore->3[!b]')
  })

  test('greedy narrows every edge of what follows to events the loop cannot take', () => {
    expect(nfaLines('a followed by b+ greedy followed by c').slice(2, 4)).toEqual([
      '2 b:2 normal: proceed->3[true] take->2[b] ignore->4[!b]',
      '3 c normal: take->5[(c & !b)] ignore->3[(!c & !b)]',
    ])
    // With until, the until event proceeds into an un-narrowed copy of what follows.
    expect(nfaLines('a followed by b+ greedy followed by c', { untils: ['b'] })[2]).toBe(
      '2 b:2 normal: proceed->3[until(b)] proceed->4[!until(b)] take->2[(!until(b) & b)] ignore->5[(!until(b) & !b)]',
    )
  })

  test('reluctant narrows the repetitions to events the next step would not take', () => {
    expect(nfaLines('a followed by b+ reluctant followed by c')[2]).toBe(
      '2 b:2 normal: proceed->3[true] take->2[(b & !c)] ignore->4[!b]',
    )
    // At the end, nothing follows to prefer: it repeats exactly its minimum.
    expect(nfaLines('a followed by b{2,} reluctant')).toEqual([
      '0 a start: take->1[a] ignore->0[!a]',
      '1 b normal: take->2[b] ignore->1[!b]',
      '2 b:2 normal: take->3[b] ignore->2[!b]',
      '3 $end final:',
    ])
  })

  test('until guards the repetitions', () => {
    expect(nfaLines('a followed by b+ followed by c', { untils: ['b'] })[2]).toBe(
      '2 b:2 normal: proceed->3[true] take->2[(!until(b) & b)] ignore->4[(!until(b) & !b)]',
    )
  })

  test('a repeated group loops back through a dummy state to its head', () => {
    expect(nfaLines('a followed by (b next c)+ followed by d')).toEqual([
      '0 a start: take->1[a] ignore->0[!a]',
      '1 b normal: take->2[b] ignore->1[!b]',
      '2 c normal: take->3[c]',
      '3 b:2 normal: take->4[b] ignore->3[!b] proceed->5[true]',
      '4 c:2 normal: take->6[c]',
      '5 d normal: take->7[d] ignore->5[!d]',
      '6 (b…) normal: proceed->3[true]',
      '7 $end final:',
    ])
  })

  test('an alternation proceeds into each option', () => {
    expect(nfaLines('a | b next c')).toEqual([
      '0 (a|b) start: proceed->1[true] proceed->2[true]',
      '1 a normal: take->3[a] ignore->1[!a]',
      '2 b normal: take->4[b] ignore->2[!b]',
      '3 $end final:',
      '4 c normal: take->3[c]',
    ])
    expect(nfaLines('x next (a | b) followed by c')[0]).toBe('0 x start: take->1[x] ignore->0[!x]')
  })
})

describe('compileNfa refuses what it cannot compile', () => {
  const refusals: [string, Parameters<typeof readPattern>[1], RegExp][] = [
    ['a not followed by b', {}, /only under a within/],
    ['a followed by b not followed by c followed by d{0,0}', {}, /admits no repetition/],
    ['a followed by b? not followed by c followed by d', {}, /cannot follow an optional part/],
    ['a within 5 followed by b', {}, /first step has no step before it/],
    ['a followed by b* reluctant', {}, /never matches an event/],
    ['a followed by b+ greedy followed by c?', {}, /cannot follow a greedy one/],
    ['a followed by (b | c)+', {}, /alternation cannot be quantified/],
    ['x next (a not followed by b)', { withinMs: 5 }, /cannot end a group/],
    ['a not followed by b followed by c', { skip: 'toFirst b' }, /negated step/],
    ['a followed by b not followed by c within 5 followed by d', {}, /only for absence at the end/],
  ]
  test.each(refusals)('%s', (text, options, message) => {
    expect(() => compileNfa(readPattern(text, options))).toThrow(message)
  })

  test('a step that appears twice', () => {
    const spec = readPattern('a followed by b')
    const twice = {
      ...spec,
      pattern: {
        kind: 'Sequence' as const,
        span: spec.pattern.span,
        elements: [
          ...(spec.pattern.kind === 'Sequence' ? spec.pattern.elements : []),
          ...(spec.pattern.kind === 'Sequence' ? spec.pattern.elements.slice(1) : []),
        ],
      },
    }
    expect(() => compileNfa(twice)).toThrow(/appears twice/)
  })

  test('nfaRefusal gives the reason, or null', () => {
    expect(nfaRefusal(readPattern('a followed by b'))).toBeNull()
    expect(nfaRefusal(readPattern('a not followed by b'))).toMatch(/only under a within/)
  })

  test('until on a step that matches once', () => {
    expect(() => compileNfa(readPattern('a followed by b', { untils: ['b'] }))).toThrow(
      /until needs a repeated step/,
    )
  })
})
