import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import { lex } from './lexer.ts'

describe('duration units', () => {
  it('reads weeks as 7 days and keeps every unit', () => {
    const { tokens, diagnostics } = lex('t.pipe', '1w 2d 3h 4m 5s 6ms')
    expect(diagnostics).toEqual([])
    expect(tokens.filter((t) => t.kind === 'duration').map((t) => [t.value, t.unit])).toEqual([
      [1, 'w'],
      [2, 'd'],
      [3, 'h'],
      [4, 'm'],
      [5, 's'],
      [6, 'ms'],
    ])
  })

  it('types `1w` as a duration of 604,800,000 ms and names w in the unit list', () => {
    const { pipeline } = checkSource(
      't.pipe',
      'schema E { at: timestamp }\nsource e: E from kafka("e")\nstream s = e | select { later: at + 1w, ms: millis(2w) }\nsink s -> stdout\n',
    )
    const map = pipeline!.nodes.find((n) => n.kind === 'Map')!
    const ms = map.fields.find((f) => f.name === 'ms')!.value
    expect(ms.kind === 'Call' && ms.args[0]).toMatchObject({ kind: 'Literal', value: 2 * 604_800_000 })
    expect(lex('t.pipe', '3x').diagnostics[0]!.message).toMatch(/duration units are ms, s, m, h, d and w/)
    expect(lex('t.pipe', '1.5w').diagnostics[0]!.code).toBe('E0005')
  })
})
