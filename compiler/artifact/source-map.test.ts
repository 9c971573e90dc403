import { describe, expect, it } from 'vitest'
import { compileSource } from '../compile.ts'
import { MODULE_FILE, SOURCE_MAP_FILE } from './package.ts'
import { type SourceMapV3, vlq } from './source-map.ts'

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** Decodes one VLQ segment list (the inverse of `vlq`), as a source-map consumer does. */
function decodeSegment(text: string): number[] {
  const values: number[] = []
  let shift = 0
  let value = 0
  for (const char of text) {
    const digit = BASE64.indexOf(char)
    value += (digit & 31) << shift
    if (digit & 32) shift += 5
    else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1)
      value = 0
      shift = 0
    }
  }
  return values
}

describe('vlq', () => {
  it('encodes the examples of the source map spec and round-trips', () => {
    expect(vlq(0)).toBe('A')
    expect(vlq(1)).toBe('C')
    expect(vlq(-1)).toBe('D')
    expect(vlq(16)).toBe('gB')
    for (const n of [0, 1, -1, 15, 16, -16, 123456, -987654]) expect(decodeSegment(vlq(n))).toEqual([n])
  })
})

describe('buildSourceMap', () => {
  it('maps the generated lines of each step to the .pipe line of that operator', () => {
    const text = [
      'schema E { id: string, n: i64 }',
      'source e: E from kafka("e")',
      'stream s = e',
      '  | where n > 1',
      '  | select {',
      '      id,',
      '      m: n * 2,',
      '      k: len(id)',
      '    }',
      'sink s -> kafka("out")',
      '',
    ].join('\n')
    const { artifact } = compileSource('map.pipe', text)
    const js = artifact!.files.get(MODULE_FILE)!.split('\n')
    const map = JSON.parse(artifact!.files.get(SOURCE_MAP_FILE)!) as SourceMapV3
    expect(map.sources).toEqual(['map.pipe'])
    expect(map.sourcesContent).toEqual([text])
    expect(js.at(-2)).toBe(`//# sourceMappingURL=${SOURCE_MAP_FILE}`)

    // Resolve every generated line to its original (0-based) line by accumulating the deltas.
    const lines = map.mappings.split(';')
    expect(lines).toHaveLength(js.length)
    let sourceLine = 0
    const originalLineOf = lines.map((segment) => {
      if (segment === '') return null
      sourceLine += decodeSegment(segment)[2]!
      return sourceLine + 1
    })
    const lineOf = (pattern: RegExp) => originalLineOf[js.findIndex((l) => pattern.test(l))]
    expect(lineOf(/if \(!\(r0\.n > 1\)\)/)).toBe(4)
    // One statement per output field, mapped to the field's line (issue 17, a fast CLI).
    expect(lineOf(/const r\d_id = r\d\.id/)).toBe(6)
    expect(lineOf(/const r\d_m = checkI64\(r\d\.n \* 2/)).toBe(7)
    // `len` is the string's length (UTF-16 code units, as stdlib's len), not a stdlib call.
    expect(lineOf(/const r\d_k = r\d\.id\.length/)).toBe(8)
    expect(js.join('\n')).not.toContain('fn_len')
    expect(lineOf(/function decode/)).toBeNull()
  })
})
