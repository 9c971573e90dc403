import { describe, expect, it } from 'vitest'
import { createDiagnostic } from './diagnostic.ts'
import { formatDiagnostic } from './format.ts'

function render(text: string, start: number, end: number): string {
  const diagnostic = createDiagnostic('E0301', 'problem', { file: 'f.pipe', start, end })
  return formatDiagnostic(diagnostic, new Map([['f.pipe', text]]), { color: false })
}

describe('diagnostic snippets', () => {
  it('show a window around the span of a very long line, not the whole line twice', () => {
    const literal = 'x'.repeat(10_000_000)
    const text = `stream s = e | select { big: "${literal}" + 1 }`
    const plus = text.indexOf('+ 1')
    const out = render(text, plus, plus + 1)
    expect(out.length).toBeLessThan(1000)
    const [, location, , line, carets] = out.split('\n')
    expect(location).toBe(`  --> f.pipe:1:${plus + 1}`)
    expect(line).toMatch(/^ 1 \| …x+" \+ 1 }$/)
    // The caret is under the `+` of the window.
    expect(carets!.indexOf('^') - 5).toBe(line!.slice(5).indexOf('+'))
  })

  it('put the caret under the span after wide characters (CJK, emoji) and combining marks', () => {
    const text = 'a: "日本語" + "e\u0301" + 1'
    const second = text.lastIndexOf('+')
    const [, , , line, carets] = render(text, second, second + 1).split('\n')
    // 日本語 take two columns each, e + U+0301 one: the display column of the second `+`.
    const columns = [...line!.slice(5, 5 + text.indexOf('+ 1'))].reduce(
      (w, ch) => w + (/[\u3000-\u9fff]/.test(ch) ? 2 : /\p{Mn}/u.test(ch) ? 0 : 1),
      0,
    )
    expect(carets!.slice(5).indexOf('^')).toBe(columns)
  })

  it('show control characters and bidirectional overrides as visible stand-ins, one column each', () => {
    const text = 'schema E \u001b[31m\u202e { }'
    const [, , , line, carets] = render(text, 9, 10).split('\n')
    expect(line).toBe(' 1 | schema E \u241b[31m\ufffd { }')
    expect(carets).toBe('   |          ^')
  })

  it('count a CR alone as a line end', () => {
    const text = 'schema E { id: string }\rsource e: E from kafka("e")\rstream s = e | where id + 1'
    const plus = text.indexOf('+')
    expect(render(text, plus, plus + 1).split('\n')[1]).toBe('  --> f.pipe:3:25')
  })
})
