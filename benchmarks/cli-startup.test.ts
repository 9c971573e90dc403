import { describe, expect, it } from 'vitest'
import { hasErrors } from '../compiler/diagnostics/index.ts'
import { checkSource } from '../compiler/frontend.ts'
import { generatedSpec } from './cli-startup.bench.ts'

describe('the CLI benchmark spec', () => {
  it('has exactly the lines asked for and checks without a diagnostic', () => {
    for (const lines of [1000, 333]) {
      const { text, blocks } = generatedSpec(lines)
      expect(text.split('\n')).toHaveLength(lines)
      expect(blocks).toBeGreaterThan(lines / 50)
      const { diagnostics } = checkSource('generated.pipe', text)
      expect(hasErrors(diagnostics)).toBe(false)
      expect(diagnostics).toEqual([])
    }
  })
})
