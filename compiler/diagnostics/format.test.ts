import { describe, expect, it } from 'vitest'
import { createDiagnostic } from './diagnostic.ts'
import { formatDiagnostics, lineColumnOf, lineStarts, summarizeDiagnostics } from './format.ts'

const file = 'f.pipe'
const text = 'schema A {\n\tx: strng,\n  y: i64\n}'
const sources = new Map([[file, text]])
const at = (start: number, end: number) => ({ file, start, end })

describe('formatDiagnostics', () => {
  it('prints location, source line and carets, keeping tabs so carets line up', () => {
    const start = text.indexOf('strng')
    const out = formatDiagnostics(
      [createDiagnostic('E0201', 'unknown type `strng`', at(start, start + 5))],
      sources,
      {
        color: false,
      },
    )
    expect(out).toBe(
      [
        'error[E0201]: unknown type `strng`',
        '  --> f.pipe:2:5',
        '   |',
        ' 2 | \tx: strng,',
        '   | \t   ^^^^^',
        '',
        '1 error',
        '',
      ].join('\n'),
    )
  })

  it('underlines a multi-line span to the end of its first line and an empty span with one caret', () => {
    const out = formatDiagnostics(
      [
        createDiagnostic('E0101', 'multi', at(0, text.length)),
        createDiagnostic('W0001', 'at end', at(text.length, text.length)),
      ],
      sources,
      { color: false },
    )
    expect(out).toContain(' 1 | schema A {\n   | ^^^^^^^^^^\n')
    expect(out).toContain('  --> f.pipe:4:2\n   |\n 4 | }\n   |  ^\n')
    expect(out.endsWith('1 error, 1 warning\n')).toBe(true)
  })

  it('colors only when asked', () => {
    const d = [createDiagnostic('E0201', 'x', at(0, 1))]
    expect(formatDiagnostics(d, sources, { color: true })).toContain('\u001b[')
    expect(formatDiagnostics(d, sources, { color: false })).not.toContain('\u001b[')
    expect(formatDiagnostics([], sources, { color: false })).toBe('')
  })

  it('counts lines and columns from 1', () => {
    const starts = lineStarts(text)
    expect(lineColumnOf(starts, 0)).toEqual({ line: 1, column: 1 })
    expect(lineColumnOf(starts, text.indexOf('y'))).toEqual({ line: 3, column: 3 })
    expect(summarizeDiagnostics([createDiagnostic('W0001', 'w', at(0, 0))])).toBe('1 warning')
  })
})
