/**
 * A sink's record timestamp (`timestamp event` / `timestamp append`) and its name, from the
 * `.pipe` text through the checker and the optimiser into the artifact's manifest, which is what
 * the node reads to decide what timestamp each written record gets.
 */
import { describe, expect, it } from 'vitest'
import { compileSource } from './compile.ts'
import { checkSource } from './frontend.ts'
import type { SinkNode } from './ir/types.ts'
import { parse } from './parse/parser.ts'
import { printFile } from './parse/print.ts'

const HEADER = `schema P { id: string, ts: timestamp @event_time }
source payments: P from kafka("payments")
stream large = payments | where id != ""
`

function sinksOf(text: string): SinkNode[] {
  const { pipeline, diagnostics } = checkSource('t.pipe', text)
  if (!pipeline) throw new Error(diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'))
  return pipeline.nodes.filter((n): n is SinkNode => n.kind === 'Sink')
}

function errorsOf(text: string): { code: string; message: string; text: string }[] {
  return checkSource('t.pipe', text)
    .diagnostics.filter((d) => d.severity === 'error')
    .map((d) => ({ code: d.code, message: d.message, text: text.slice(d.span.start, d.span.end) }))
}

describe('parsing the timestamp clause of a sink', () => {
  it('reads the mode with a span covering `timestamp` and the mode, and prints it back', () => {
    const text = `sink large -> kafka("out") timestamp append\nsink large -> kafka("other")\n`
    const { ast, diagnostics } = parse('t.pipe', text)
    expect(diagnostics).toEqual([])
    const [withClause, without] = ast.statements
    expect(withClause).toMatchObject({ kind: 'Sink', timestamp: { kind: 'RecordTimestamp', mode: 'append' } })
    expect(without).toMatchObject({ kind: 'Sink', timestamp: null })
    const clause = withClause?.kind === 'Sink' ? withClause.timestamp : null
    expect(text.slice(clause!.span.start, clause!.span.end)).toBe('timestamp append')
    expect(text.slice(withClause!.span.start, withClause!.span.end)).toBe(
      'sink large -> kafka("out") timestamp append',
    )
    expect(printFile(ast)).toBe(
      'sink large -> kafka("out") timestamp append\n\nsink large -> kafka("other")\n',
    )
  })

  it('keeps `timestamp` a type name: it is a word only after a sink connector', () => {
    const errors = errorsOf(
      `schema timestamp_holder { timestamp: timestamp @event_time }\nsource s: timestamp_holder from kafka("in")\nsink s -> kafka("out") timestamp event\n`,
    )
    expect(errors).toEqual([])
  })

  it('reports an unknown or missing mode, and a second clause, as syntax errors', () => {
    expect(errorsOf(`${HEADER}sink large -> kafka("out") timestamp apend\n`)).toEqual([
      {
        code: 'E0101',
        message:
          'expected `event` (the event time) or `append` (the time the record is written) after `timestamp`, found identifier `apend`',
        text: 'apend',
      },
    ])
    expect(errorsOf(`${HEADER}sink large -> kafka("out") timestamp\n`)).toMatchObject([
      { code: 'E0101', message: expect.stringMatching(/after `timestamp`, found end of file$/) },
    ])
    expect(errorsOf(`${HEADER}sink large -> kafka("out") timestamp append timestamp event\n`)).toEqual([
      { code: 'E0101', message: 'a sink takes one `timestamp` clause', text: 'timestamp' },
    ])
  })

  it('reports a misspelt clause where it is, not as a statement that does not start', () => {
    expect(errorsOf(`${HEADER}sink large -> kafka("out") timestmp append\n`)).toEqual([
      {
        code: 'E0101',
        message:
          'unexpected identifier `timestmp` after the sink\'s connector; a sink may end with `timestamp event` or `timestamp append`, then `headers { "name": value, … }`',
        text: 'timestmp',
      },
    ])
  })

  it('recovers after a bad clause: the next statement is still checked', () => {
    const errors = errorsOf(`${HEADER}sink large -> kafka("out") timestamp 5s\nsink nope -> stdout\n`)
    expect(errors.map((e) => e.code)).toEqual(['E0101', 'E0202'])
  })
})

describe('checking and lowering the timestamp clause', () => {
  it('lowers each sink with the sunk stream as its name and its record timestamp (event by default)', () => {
    const sinks = sinksOf(
      `${HEADER}sink large -> kafka("a") timestamp append\nsink large -> kafka("b") timestamp event\nsink payments -> kafka("c")\nsink large -> stdout\n`,
    )
    expect(sinks.map((s) => [s.id, s.name, s.connector, s.recordTimestamp])).toEqual([
      ['sink#1', 'large', { kind: 'kafka', topic: 'a' }, 'append'],
      ['sink#2', 'large', { kind: 'kafka', topic: 'b' }, 'event'],
      ['sink#3', 'payments', { kind: 'kafka', topic: 'c' }, 'event'],
      ['sink#4', 'large', { kind: 'stdout' }, 'event'],
    ])
  })

  it('refuses the clause on a stdout sink, which writes lines and no record timestamp (E0407)', () => {
    for (const mode of ['append', 'event']) {
      expect(errorsOf(`${HEADER}sink large -> stdout timestamp ${mode}\n`)).toEqual([
        {
          code: 'E0407',
          message: `\`stdout\` writes lines of text, not log records, so there is no record timestamp to choose; remove \`timestamp ${mode}\``,
          text: `timestamp ${mode}`,
        },
      ])
    }
  })

  it('says nothing more about the clause of a sink whose connector is already wrong', () => {
    expect(errorsOf(`${HEADER}sink large -> stdot timestamp append\n`).map((e) => e.code)).toEqual(['E0210'])
  })
})

describe('the manifest of a compiled artifact', () => {
  const result = compileSource(
    'ts.pipe',
    `${HEADER}stream copy = payments\nsink large -> kafka("late") timestamp append\nsink copy -> kafka("copies")\n`,
  )
  const manifest = result.artifact?.manifest

  it('gives every Sink graph node its name and record timestamp, after optimisation', () => {
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([])
    const sinks = manifest!.graph.nodes.filter((n): n is SinkNode => n.kind === 'Sink')
    expect(sinks.map((s) => ({ id: s.id, name: s.name, recordTimestamp: s.recordTimestamp }))).toEqual([
      { id: 'sink#1', name: 'large', recordTimestamp: 'append' },
      { id: 'sink#2', name: 'copy', recordTimestamp: 'event' },
    ])
    // The optimiser rewired the sink to the fused chain and kept the fields.
    expect(sinks[0]!.input).toMatch(/^fused\(/)
  })

  it('lists them in outputs[] too, and writes them into manifest.json', () => {
    expect(manifest!.outputs.map((o) => [o.sink, o.name, o.recordTimestamp])).toEqual([
      ['sink#1', 'large', 'append'],
      ['sink#2', 'copy', 'event'],
    ])
    const written = JSON.parse(result.artifact!.files.get('manifest.json')!) as typeof manifest
    expect(written!.graph.nodes.find((n) => n.id === 'sink#1')).toMatchObject({
      name: 'large',
      recordTimestamp: 'append',
    })
  })
})
