import { describe, expect, it } from 'vitest'
import { checkSource } from '../frontend.ts'
import { createInterpreter, type InterpreterError } from './interpret.ts'

const SCHEMA = `schema E { id: string, card: string, kind: string, ts: timestamp @event_time }
`

interface Output {
  readonly sink: string
  readonly value: Record<string, unknown>
  readonly key: string | null
  /** Seconds. */
  readonly at: number
}

/** Runs rows (`ts` in seconds) through `text` (after the schema), the sinks named by their topic. */
function run(
  text: string,
  rows: readonly Record<string, unknown>[],
): { outputs: Output[]; errors: InterpreterError[] } {
  const { pipeline, diagnostics } = checkSource('t.pipe', SCHEMA + text)
  if (!pipeline) throw new Error(JSON.stringify(diagnostics))
  const outputs: Output[] = []
  const errors: InterpreterError[] = []
  const interpreter = createInterpreter(pipeline, {
    onSink: ({ sinkId, value, key, timestamp }) => {
      const sink = pipeline.nodes.find((n) => n.id === sinkId)
      const topic = sink?.kind === 'Sink' && sink.connector.kind === 'kafka' ? sink.connector.topic : 'stdout'
      outputs.push({ sink: topic, value, key, at: timestamp / 1000 })
    },
    onError: (error) => errors.push(error),
  })
  for (const row of rows) {
    const value = { id: '', card: 'c1', kind: '', ...row, ts: (row.ts as number) * 1000 }
    interpreter.push('e', { value, key: null, timestamp: value.ts })
  }
  return { outputs, errors }
}

const A_THEN_B = (watermark: string, extra = '') => `source e: E from kafka("e") watermark ts - ${watermark}
stream out = e
  | match by card within 10s
      pattern a followed by b
      define a as kind == "a", b as kind == "b"
      ${extra}
      { a: a.id, b: b.id }
sink out -> kafka("out")
`

describe('match in the reference interpreter', () => {
  it('buffers events until the watermark passes them and matches them in event-time order', () => {
    const { outputs } = run(A_THEN_B('5s'), [
      { id: 'b1', kind: 'b', ts: 3 },
      { id: 'a1', kind: 'a', ts: 1 },
      { id: 'x', kind: 'x', ts: 7 },
      { id: 'y', kind: 'x', ts: 8 },
    ])
    // The watermark reaches 3 s only with y (8 s − 5 s): a1 (1 s) then b1 (3 s) match then.
    expect(outputs).toEqual([{ sink: 'out', value: { a: 'a1', b: 'b1' }, key: 'c1', at: 3 }])
  })

  it('emits nothing before the watermark passes the last event, and each match once', () => {
    const rows = [
      { id: 'a1', kind: 'a', ts: 1 },
      { id: 'b1', kind: 'b', ts: 2 },
    ]
    expect(run(A_THEN_B('1s'), rows).outputs).toEqual([])
    const later = run(A_THEN_B('1s'), [...rows, { id: 'x', kind: 'x', ts: 3 }, { id: 'y', kind: 'x', ts: 9 }])
    expect(later.outputs.map((o) => o.value)).toEqual([{ a: 'a1', b: 'b1' }])
  })

  it('orders the matches one watermark releases by their events across keys', () => {
    const { outputs } = run(A_THEN_B('10s'), [
      { id: 'a1', card: 'k1', kind: 'a', ts: 1 },
      { id: 'a2', card: 'k2', kind: 'a', ts: 2 },
      { id: 'b2', card: 'k2', kind: 'b', ts: 3 },
      { id: 'b1', card: 'k1', kind: 'b', ts: 4 },
      { id: 'end', card: 'k3', kind: 'x', ts: 30 },
    ])
    expect(outputs.map((o) => [o.key, o.value.a, o.at])).toEqual([
      ['k2', 'a2', 3],
      ['k1', 'a1', 4],
    ])
  })

  it('sends an event before the watermark of the record before it to the dead letters with the reason; one at it is on time', () => {
    const { outputs, errors } = run(A_THEN_B('1s'), [
      { id: 'a1', kind: 'a', ts: 5 },
      { id: 'a0', kind: 'a', ts: 3.999 },
      { id: 'a2', kind: 'a', ts: 4 },
      { id: 'b', kind: 'b', ts: 6 },
      { id: 'end', kind: 'x', ts: 20 },
    ])
    // After a1 the watermark is 4 s: a0 (3.999 s) is late; a2, at 4 s, is not.
    expect(errors.map((e) => [e.event.value.id, e.error.message])).toEqual([
      [
        'a0',
        expect.stringMatching(/^late event: its event time 1970-01-01T00:00:03.999Z is before the watermark/),
      ],
    ])
    expect(outputs.map((o) => o.value)).toEqual([
      { a: 'a2', b: 'b' },
      { a: 'a1', b: 'b' },
    ])
  })

  it('sends late events to the late stream when there is one', () => {
    const { outputs, errors } = run(
      `${A_THEN_B('1s', 'late into late_events')}sink late_events -> kafka("late")\n`,
      [
        { id: 'a1', kind: 'a', ts: 5 },
        { id: 'a0', kind: 'a', ts: 3 },
        { id: 'end', kind: 'x', ts: 20 },
      ],
    )
    expect(errors).toEqual([])
    expect(outputs.map((o) => [o.sink, o.value.id, o.at])).toEqual([['late', 'a0', 3]])
  })

  it('emits timeouts once, when the watermark passes the time their span ran out, stamped with it', () => {
    const text = `${A_THEN_B('0s', 'timeout into expired { started: a.id }')}sink expired -> kafka("expired")\n`
    const { outputs } = run(text, [
      { id: 'a1', kind: 'a', ts: 0 },
      { id: 'a2', kind: 'a', ts: 4 },
      { id: 'x', kind: 'x', ts: 9 },
      { id: 'y', kind: 'x', ts: 10 },
      { id: 'z', kind: 'x', ts: 13 },
      { id: 'w', kind: 'x', ts: 14 },
      { id: 'v', kind: 'x', ts: 30 },
    ])
    expect(outputs.map((o) => [o.sink, o.value.started, o.at])).toEqual([
      ['expired', 'a1', 10],
      ['expired', 'a2', 14],
    ])
  })

  it('keys every event alike without `by`', () => {
    const { outputs } = run(
      `source e: E from kafka("e")
stream out = e
  | match pattern a next b define a as kind == "a", b as kind == "b" { a: a.id, b: b.card }
sink out -> kafka("out")
`,
      [
        { id: 'a1', card: 'k1', kind: 'a', ts: 1 },
        { id: 'b1', card: 'k2', kind: 'b', ts: 2 },
        { id: 'end', kind: 'x', ts: 3 },
      ],
    )
    expect(outputs).toEqual([{ sink: 'out', value: { a: 'a1', b: 'k2' }, key: '', at: 2 }])
  })
})
