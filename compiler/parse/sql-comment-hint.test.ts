import { describe, expect, it } from 'vitest'
import { parse } from './parser.ts'
import { SQL_COMMENT_NOTE } from './sql-comment-hint.ts'

/** Each diagnostic's code and whether it has the note, and the note's text where it points. */
function notes(text: string): { code: string; at: string | null }[] {
  return parse('t.pipe', text).diagnostics.map((d) => {
    const note = d.related?.find((r) => r.message === SQL_COMMENT_NOTE)
    return { code: d.code, at: note ? text.slice(note.span.start, note.span.end) : null }
  })
}

describe('SQL line comments (`--`)', () => {
  it('get a note at the `--` on the error they cause, at the start of a line or after a statement', () => {
    expect(notes('-- the events\nschema E { id: string }\n')).toEqual([{ code: 'E0101', at: '--' }])
    expect(notes('schema E { id: string } -- one per event\n')).toEqual([{ code: 'E0101', at: '--' }])
  })

  it('get it where the comment parses on and fails later in the line, lexical errors included', () => {
    expect(notes('stream s = e | where a > 1 -- big ones only\n')).toEqual([{ code: 'E0101', at: '--' }])
    expect(notes("schema E { id: string } -- it's\n").map((d) => d.at)).toEqual(['--', '--'])
  })

  it('leave errors on other lines and before the `--` without the note', () => {
    const text = 'schema E { id: string }\nstream s = e | where ]\nschema F { x: i64 } -- x\n'
    expect(notes(text)).toEqual([
      { code: 'E0101', at: null },
      { code: 'E0101', at: '--' },
    ])
    expect(notes('stream s = ] -- x\n')[0]).toEqual({ code: 'E0101', at: null })
  })

  it('leave valid double minus alone: `x --1` and `- -x` are arithmetic', () => {
    expect(notes('stream s = e | select { a: x --1, b: - -x }\n')).toEqual([])
    expect(notes('stream s = e | select { a: x - - 1 } ]\n')).toEqual([{ code: 'E0101', at: null }])
  })
})
