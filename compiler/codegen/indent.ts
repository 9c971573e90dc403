/**
 * Indents generated TypeScript by its brackets, two spaces a level. Code generation writes lines
 * without caring for indentation; this was ts-morph's formatter, which cost a language service
 * (most of `sluice compile`'s time, issue 17 "a fast CLI"). Only whitespace at the start of a line
 * changes, and never on a line that starts inside a template literal or a block comment, so the
 * code means what it meant.
 *
 * The scan knows strings, template literals (with `${…}` inside), and comments; generated code has
 * no regular expression literals, whose brackets it would count.
 */

type Mode = 'code' | 'single' | 'double' | 'template' | 'block-comment'

export function indentCode(text: string): string {
  const out: string[] = []
  let depth = 0
  let mode: Mode = 'code'
  /** Open `${` of template literals, innermost last: a `}` at depth `n` there ends the substitution. */
  const substitutions: number[] = []
  for (const line of text.split('\n')) {
    const startsInside = mode === 'template' || mode === 'block-comment'
    const trimmed = line.trim()
    if (startsInside) out.push(line)
    else if (trimmed === '') out.push('')
    else {
      let closers = 0
      while (closers < trimmed.length && '}])'.includes(trimmed[closers]!)) closers++
      out.push(`${'  '.repeat(Math.max(0, depth - closers))}${trimmed}`)
    }
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!
      switch (mode) {
        case 'code':
          if (c === "'") mode = 'single'
          else if (c === '"') mode = 'double'
          else if (c === '`') mode = 'template'
          else if (c === '/' && line[i + 1] === '/') i = line.length
          else if (c === '/' && line[i + 1] === '*') {
            mode = 'block-comment'
            i++
          } else if (c === '{' || c === '[' || c === '(') depth++
          else if (c === '}' || c === ']' || c === ')') {
            depth--
            if (c === '}' && substitutions.length > 0 && substitutions[substitutions.length - 1] === depth) {
              substitutions.pop()
              mode = 'template'
            }
          }
          break
        case 'single':
        case 'double':
          if (c === '\\') i++
          else if (c === (mode === 'single' ? "'" : '"')) mode = 'code'
          break
        case 'template':
          if (c === '\\') i++
          else if (c === '`') mode = 'code'
          else if (c === '$' && line[i + 1] === '{') {
            substitutions.push(depth)
            depth++
            i++
            mode = 'code'
          }
          break
        case 'block-comment':
          if (c === '*' && line[i + 1] === '/') {
            mode = 'code'
            i++
          }
          break
      }
    }
    // A string cannot go on to the next line (generated code has no line continuations).
    if (mode === 'single' || mode === 'double') mode = 'code'
  }
  // Unbalanced, the scan met something it does not know (a regular expression?): the text as it
  // came is better than indentation that misleads.
  return depth === 0 && mode === 'code' ? out.join('\n') : text
}
