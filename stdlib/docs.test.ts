/**
 * specs/language.md embeds the stdlib table between markers; this test keeps it equal to what the
 * registry's `usage`/`doc` strings render (rewrite it with UPDATE_GOLDEN=1).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { renderStdlibTable } from './index.ts'

const path = new URL('../specs/language.md', import.meta.url)
const START = '<!-- stdlib-table:start -->'
const END = '<!-- stdlib-table:end -->'

/** Table rows without alignment padding, since `biome format` pads Markdown tables. */
function normalise(markdown: string): string {
  return markdown
    .split('\n')
    .map((line) => (line.startsWith('|') ? line.replace(/-{3,}/g, '---').replace(/\s+/g, ' ') : line))
    .join('\n')
}

describe('specs/language.md stdlib table', () => {
  it('matches the registry', () => {
    const text = readFileSync(path, 'utf8')
    const start = text.indexOf(START)
    const end = text.indexOf(END)
    expect(start).toBeGreaterThanOrEqual(0)
    expect(end).toBeGreaterThan(start)
    const expected = `${text.slice(0, start + START.length)}\n${renderStdlibTable()}\n${text.slice(end)}`
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, expected)
    expect(normalise(readFileSync(path, 'utf8'))).toBe(normalise(expected))
  })
})
