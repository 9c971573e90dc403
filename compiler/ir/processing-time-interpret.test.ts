/**
 * Processing-time windows in the reference interpreter (issue 13): with an injected clock, each
 * event goes to the window of the clock's time when it is pushed (its event time does not
 * matter), and a window fires once the clock passes its end, at the next event or tick().
 */
import { describe, expect, it } from 'vitest'
import { stdlib } from '../../stdlib/index.ts'
import { checkSource } from '../frontend.ts'
import { parse } from '../parse/parser.ts'
import { printFile } from '../parse/print.ts'
import { createInterpreter } from './interpret.ts'

const SPEC = `schema Ev { k: string, v: i64, ts: timestamp @event_time }
source evs: Ev from kafka("in") watermark ts - 5s
stream w = evs | aggregate by k window hopping 2s every 1s processing time { start: window_start(), n: count(), s: sum(v) }
sink w -> stdout
`

describe('processing-time windows in the reference interpreter', () => {
  const { pipeline } = checkSource('processing-time.pipe', SPEC)
  if (pipeline === null) throw new Error('the spec does not check')

  it('assigns by the clock and fires by it, also on a tick without an event', () => {
    let now = 10_500
    const outputs: unknown[] = []
    const interpreter = createInterpreter(pipeline, {
      functions: stdlib,
      onSink: ({ value, timestamp }) => void outputs.push({ ...(value as object), at: timestamp }),
      clock: () => now,
    })
    // Event times far in the past and future: ignored.
    const push = (k: string, v: number, ts: number) =>
      interpreter.push('evs', { value: { k, v, ts }, key: null, timestamp: ts })
    push('a', 1, 0)
    push('a', 2, 99_000_000)
    now = 11_200
    push('a', 4, 5)
    // Windows [9 s, 11 s) and [10 s, 12 s) hold the first two; [10 s, 12 s) and [11 s, 13 s) the third.
    // The clock passed 11 s at the third push, before it was added: [9 s, 11 s) fired with 1 + 2.
    expect(outputs).toEqual([{ k: 'a', start: 9000, n: 2, s: 3, at: 10_999 }])
    now = 13_000
    interpreter.tick()
    expect(outputs.slice(1)).toEqual([
      { k: 'a', start: 10_000, n: 3, s: 7, at: 11_999 },
      { k: 'a', start: 11_000, n: 1, s: 4, at: 12_999 },
    ])
  })

  it('prints `processing time` back where it was written', () => {
    const printed = printFile(parse('p.pipe', SPEC).ast)
    expect(printed).toContain('window hopping 2s every 1s processing time {')
  })
})
