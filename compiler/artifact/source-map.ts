/**
 * Source map (v3) from the generated JavaScript back to the `.pipe` file. Code generation puts a
 * `/*! @pipe:N *\/` marker before each operator step (site-marker.ts); every JS line from a marker up
 * to the next marker (or `/*! @pipe:end *\/`) maps to the start of site N. A stack trace or a profiler then
 * points at the `.pipe` line of the operator, which is the granularity a pipeline author can act on.
 */

import { SITE_MARKER } from '../codegen/site-marker.ts'
import { lineColumnOf } from '../diagnostics/index.ts'
import type { Span } from '../ir/types.ts'

export interface SourceMapV3 {
  readonly version: 3
  readonly file: string
  readonly sources: readonly string[]
  readonly sourcesContent: readonly string[]
  readonly names: readonly string[]
  readonly mappings: string
}

export function buildSourceMap(
  javascript: string,
  jsFileName: string,
  sites: readonly Span[],
  lineStarts: readonly number[],
  sourceName: string,
  sourceText: string,
): SourceMapV3 {
  const lines = javascript.split('\n')
  let current: { line: number; column: number } | null = null
  let previous = { line: 0, column: 0 }
  const mappings: string[] = []
  for (const line of lines) {
    const marker = SITE_MARKER.exec(line)
    if (marker) {
      const site = marker[1] === 'end' ? undefined : sites[Number(marker[1])]
      current = site ? lineColumnOf(lineStarts, site.start) : null
    }
    if (current === null) {
      mappings.push('')
      continue
    }
    // Segment: generated column 0, source 0 (relative), source line and column (relative, 0-based).
    const segment = [0, 0, current.line - 1 - previous.line, current.column - 1 - previous.column]
    previous = { line: current.line - 1, column: current.column - 1 }
    mappings.push(segment.map(vlq).join(''))
  }
  return {
    version: 3,
    file: jsFileName,
    sources: [sourceName],
    sourcesContent: [sourceText],
    names: [],
    mappings: mappings.join(';'),
  }
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** Base64 VLQ of a signed integer, as the source map spec defines it. */
export function vlq(value: number): string {
  let rest = value < 0 ? (-value << 1) | 1 : value << 1
  let out = ''
  do {
    let digit = rest & 31
    rest >>>= 5
    if (rest > 0) digit |= 32
    out += BASE64[digit]
  } while (rest > 0)
  return out
}
