/**
 * Issue 17, defect 1: streams that each wrap their input's record in another (`select { r: { x: r } }`)
 * nest as deep as the chain is long; 1,300 of them ended compile in "Maximum call stack size
 * exceeded". Past MAX_STREAM_RECORD_DEPTH levels that is one E0216 where the limit is crossed.
 */
import { describe, expect, it } from 'vitest'
import { compileSource } from '../compile.ts'
import { MAX_STREAM_RECORD_DEPTH } from './stream-record-depth.ts'

/** `streams` wrapping streams: s0's records nest 2 levels, each next one more. */
function wrapping(streams: number): string {
  const lines = [
    'schema E { a: i64 }',
    'source e: E from kafka("e")',
    'stream s0 = e | select { r: { x: a } }',
  ]
  for (let i = 1; i < streams; i++) lines.push(`stream s${i} = s${i - 1} | select { r: { x: r } }`)
  lines.push(`sink s${streams - 1} -> kafka("out")`)
  return `${lines.join('\n')}\n`
}

describe("a stream's record depth", () => {
  it('compiles streams whose records nest exactly to the limit', () => {
    const result = compileSource('wrap.pipe', wrapping(MAX_STREAM_RECORD_DEPTH - 1), { name: 'wrap' })
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
    expect(result.artifact).toBeDefined()
  })

  it('refuses one level more with one E0216 at the stream that crosses it, however long the chain', () => {
    for (const streams of [MAX_STREAM_RECORD_DEPTH, 3000]) {
      const result = compileSource('wrap.pipe', wrapping(streams), { name: 'wrap' })
      expect(result.artifact ?? null).toBeNull()
      expect(result.diagnostics.map((d) => d.code)).toEqual(['E0216'])
      const crossing = `s${MAX_STREAM_RECORD_DEPTH - 1}`
      expect(result.diagnostics[0]!.message).toBe(
        `\`${crossing}\` nests records ${MAX_STREAM_RECORD_DEPTH + 1} levels deep (each select that wraps its input's record in another adds one); a stream's records may nest at most ${MAX_STREAM_RECORD_DEPTH} levels`,
      )
    }
  })
})
