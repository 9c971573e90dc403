import { describe, expect, it } from 'vitest'
import { MAX_RECORD_DEPTH } from './check/record-depth-limit.ts'
import { compileSource } from './compile.ts'
import { checkSource } from './frontend.ts'

/** `levels` schemas, each holding the next: records nested `levels` deep (plus the event's own). */
function chain(levels: number, order: 'forward' | 'backward' = 'forward'): string {
  const schemas = Array.from({ length: levels }, (_, i) =>
    i === levels - 1 ? `schema S${i} { v: string }` : `schema S${i} { x: S${i + 1}, n: i64 }`,
  )
  if (order === 'backward') schemas.reverse()
  return `${schemas.join('\n')}
schema E { s: S0 }
source e: E from kafka("in")
sink e -> kafka("out")
`
}

describe('chained schemas', () => {
  it('1,500 chained schemas are one E0216 where the limit is crossed, not a stack overflow (E9999)', () => {
    for (const order of ['forward', 'backward'] as const) {
      const { diagnostics } = checkSource('chain.pipe', chain(1500, order))
      expect(diagnostics.map((d) => d.code)).toEqual(['E0216'])
      expect(diagnostics[0]!.message).toBe(
        `schema \`S${1500 - MAX_RECORD_DEPTH - 1}\` nests records ${MAX_RECORD_DEPTH + 1} levels deep; at most ${MAX_RECORD_DEPTH} are allowed`,
      )
    }
  })

  it('chains far past the limit are one E0216 too, never a RangeError (E9999)', () => {
    for (const levels of [MAX_RECORD_DEPTH + 1, 10_000]) {
      for (const order of ['forward', 'backward'] as const) {
        const { diagnostics } = checkSource('chain.pipe', chain(levels, order))
        expect(diagnostics.map((d) => d.code)).toEqual(['E0216'])
        expect(diagnostics[0]!.message).toBe(
          `schema \`S${levels - MAX_RECORD_DEPTH - 1}\` nests records ${MAX_RECORD_DEPTH + 1} levels deep; at most ${MAX_RECORD_DEPTH} are allowed`,
        )
      }
    }
  })

  it('compiles the 400 chained schemas of the issue (sc400.pipe), which 64 levels refused', () => {
    const result = compileSource('chain.pipe', chain(400), { name: 'chain' })
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
    expect(result.artifact).toBeTruthy()
  })

  it(`compiles records nested ${MAX_RECORD_DEPTH} levels deep`, () => {
    // E holds S0, so the chain may be one shorter than the limit.
    const result = compileSource('chain.pipe', chain(MAX_RECORD_DEPTH - 1), { name: 'chain' })
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
    expect(result.artifact).toBeTruthy()
  })

  it('still reports a recursive schema (E0208) with the chain order resolved first', () => {
    const { diagnostics } = checkSource(
      'cycle.pipe',
      'schema A { b: B }\nschema B { a: A }\nschema E { a: A }\nsource e: E from kafka("in")\nsink e -> kafka("out")\n',
    )
    expect(diagnostics.map((d) => d.code)).toContain('E0208')
  })
})
