/**
 * A window over a union of a source's events and a window's results, in the reference interpreter
 * (issue 13; specs/language.md, "Unions": timing). A union's events are results when any input's
 * are: they meet the watermark as of the record before, so no window result is late at the window,
 * as in the runtime (runtime/window/window-over-join.ts, inputTiming; the end-to-end case is
 * specs/conformance/union-of-window-results). The inputs are given in both orders.
 */
import { describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { checkSource } from '../frontend.ts'
import { createInterpreter } from './interpret.ts'
import type { Pipeline } from './types.ts'

const SPEC = `schema Ev { k: string, n: i64, ts: timestamp @event_time }
source evs: Ev from kafka("in") watermark ts - 1s
stream plain = evs | select { k, n }
stream counts = evs | aggregate by k window tumbling 10s { n: count() }
stream both = union FIRST, SECOND
stream total = both | aggregate by k window tumbling 1m { start: window_start(), s: sum(n) }
sink total -> stdout
`

function pipelineOf(first: string, second: string): Pipeline {
  const { pipeline, diagnostics } = checkSource(
    'union-timing.pipe',
    SPEC.replace('FIRST', first).replace('SECOND', second),
  )
  if (pipeline === null) throw new Error(`the spec does not check: ${diagnostics.map((d) => d.message)}`)
  return pipeline
}

describe('a window over a union of events and window results (reference interpreter)', () => {
  it.each([
    ['plain', 'counts'],
    ['counts', 'plain'],
  ])(
    'takes the results as met one record late: none is late, all are summed (union %s, %s)',
    (first, second) => {
      const outputs: unknown[] = []
      const errors: string[] = []
      const interpreter = createInterpreter(pipelineOf(first, second), {
        functions: stdlib,
        onSink: ({ value, timestamp }) => void outputs.push({ ...(value as object), at: timestamp }),
        onError: ({ error }) => void errors.push(error.message),
      })
      const push = (ts: number) =>
        interpreter.push('evs', { value: { k: 'a', n: 1, ts }, key: null, timestamp: ts })
      // 1 s: into [0, 1 m) of `total` (n 1) and [0, 10 s) of `counts`.
      push(1_000)
      // 12 s: the watermark reaches 11 s; `counts` fires [0, 10 s) (n 1, timed 9.999 s), which
      // `total` meets at the watermark of the record before (0 s): not late.
      push(12_000)
      // 70 s: the watermark reaches 69 s; `counts` fires [10 s, 20 s) (n 1, timed 19.999 s), met at
      // 11 s; then `total` ticks to 69 s and fires [0, 1 m): 1 + 1 + 1 + 1.
      push(70_000)
      expect(errors).toEqual([])
      expect(outputs).toEqual([{ k: 'a', start: 0, s: 4, at: 59_999 }])
    },
  )
})
