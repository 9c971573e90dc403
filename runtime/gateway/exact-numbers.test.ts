/**
 * Issue 17: an i64 written as a non-integer that JSON.parse rounds (`100.0000000000000001`) is
 * refused by the pipeline's byte decoder, naming the field; the gateway must refuse it too on every
 * path, including events it parsed already (a JSON body, array items, CloudEvent data), and what it
 * accepts must be bytes the pipeline decodes.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'
import { statusOf } from './errors.ts'
import { parseBody } from './events.ts'
import { arrayItems, mayHideRounding, memberValue } from './exact-numbers.ts'
import { streamCatalog } from './streams.ts'
import { toRecord } from './validate.ts'

const PIPE = `
schema Item { q: i64 }
schema Reading { id: string, n: i64, f: f64, items: list<Item> }
source readings: Reading from kafka("readings")
sink readings -> kafka("readings-out")
`

let artifact: LoadedArtifact
beforeAll(async () => {
  artifact = await loadArtifact(await compileFixture(PIPE, 'readings', 'readings.pipe'))
})

/** What the gateway answers for each event of a body: the status, and the field of a refusal. */
function ingest(
  body: string,
  contentType: string,
): { status: number; field?: string | null; value?: Buffer }[] {
  const stream = streamCatalog([artifact]).get('readings')!
  const parsed = parseBody(contentType, Buffer.from(body), {})
  if ('error' in parsed) return [{ status: statusOf(parsed.error), field: parsed.error.field }]
  return parsed.items.map((item) => {
    const checked = 'error' in item ? item : toRecord(stream, item, {}, 1 << 20)
    return 'error' in checked
      ? { status: statusOf(checked.error), field: checked.error.field }
      : { status: 200, value: checked.record.value }
  })
}

/** The pipeline's decoder of the source, from a record's bytes. */
function pipelineAccepts(bytes: Buffer): boolean {
  try {
    artifact.operators.sources.readings!.decodeJson!(bytes)
    return true
  } catch {
    return false
  }
}

const rounded = '{"id":"a","n":100.0000000000000001,"f":1,"items":[]}'
const roundedItem = '{"id":"b","n":1,"f":1,"items":[{"q":2},{"q":4503599627370495.0000001}]}'
const exact = '{"id":"c","n":1e2,"f":100.0000000000000001,"items":[{"q":100.00000000000000000}]}'
const ce = (data: string) => `{"specversion":"1.0","id":"1","source":"/s","type":"t","data":${data}}`

describe('i64 numbers JSON.parse would round, at the gateway (issue 17)', () => {
  it('refuses them in a parsed JSON body with 422 naming the field, as the pipeline does', () => {
    expect(ingest(rounded, 'application/json')).toEqual([{ status: 422, field: 'n' }])
    expect(ingest(roundedItem, 'application/json')).toEqual([{ status: 422, field: 'items[1].q' }])
    expect(pipelineAccepts(Buffer.from(rounded))).toBe(false)
  })

  it('refuses an i64 whose exponent JSON.parse rounds to 0 (1e-400), though no long run of digits shows it', () => {
    const underflow = '{"id":"u","n":1e-400,"f":1,"items":[]}'
    expect(pipelineAccepts(Buffer.from(underflow))).toBe(false)
    expect(ingest(underflow, 'application/json')).toEqual([{ status: 422, field: 'n' }])
    expect(ingest(`[${underflow.replace('1e-400', '1')}, ${underflow}]`, 'application/json')).toMatchObject([
      { status: 200 },
      { status: 422, field: 'n' },
    ])
    expect(ingest(ce(underflow), 'application/cloudevents+json')).toEqual([{ status: 422, field: 'n' }])
  })

  it('refuses them per item of a JSON array, and writes the accepted items as written', () => {
    const answers = ingest(`[ ${exact} ,${rounded},\n${roundedItem}]`, 'application/json')
    expect(answers.map((a) => [a.status, a.field])).toEqual([
      [200, undefined],
      [422, 'n'],
      [422, 'items[1].q'],
    ])
    expect(answers[0]!.value!.toString()).toBe(exact)
  })

  it('refuses them in the data of structured CloudEvents, one and batched', () => {
    expect(ingest(ce(rounded), 'application/cloudevents+json')).toEqual([{ status: 422, field: 'n' }])
    const batch = ingest(`[${ce(exact)}, ${ce(roundedItem)}]`, 'application/cloudevents-batch+json')
    expect(batch.map((a) => [a.status, a.field])).toEqual([
      [200, undefined],
      [422, 'items[1].q'],
    ])
    expect(batch[0]!.value!.toString()).toBe(exact)
    const base64 = `{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"${Buffer.from(rounded).toString('base64')}"}`
    expect(ingest(base64, 'application/cloudevents+json')).toEqual([{ status: 422, field: 'n' }])
  })

  it('accepts an event exactly when the pipeline decodes the bytes it writes', () => {
    const number = fc.oneof(
      fc.integer({ min: -1000, max: 1000 }).map(String),
      fc.constantFrom(
        '100.0000000000000001',
        '100.00000000000000000',
        '1e2',
        '9007199254740991',
        '9007199254740993',
        '4503599627370495.0000001',
        '-1234567890.1234560e6',
        '1.5',
        // Rounded to 0 by underflow, with no long run of digits: not an integer as written.
        '1e-400',
        '-2E-999',
        '0e-400',
      ),
    )
    const event = fc
      .record({ n: number, f: number, qs: fc.array(number, { maxLength: 3 }) })
      .map(
        ({ n, f, qs }) => `{"id":"x","n":${n},"f":${f},"items":[${qs.map((q) => `{"q":${q}}`).join(',')}]}`,
      )
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 4 }), (events) => {
        for (const [body, type] of [
          [`[${events.join(', ')}]`, 'application/json'],
          [`[${events.map(ce).join(',')}]`, 'application/cloudevents-batch+json'],
        ] as const) {
          const answers = ingest(body, type)
          answers.forEach((answer, i) => {
            const expected = pipelineAccepts(Buffer.from(events[i]!))
            expect(answer.status === 200).toBe(expected)
            if (answer.value !== undefined) expect(pipelineAccepts(answer.value)).toBe(true)
          })
        }
        for (const one of events) {
          expect(ingest(one, 'application/json')[0]!.status === 200).toBe(pipelineAccepts(Buffer.from(one)))
        }
      }),
      { seed: 17, numRuns: 200 },
    )
  })
})

describe('exact-numbers helpers', () => {
  it('finds the bytes of array items and of an object member, strings and nesting included', () => {
    const array = Buffer.from(' [ {"a":"],}\\"","b":[1,{"c":2}]} , 7,"x" ,null,[ ] ] ')
    expect(arrayItems(array).map(String)).toEqual([
      '{"a":"],}\\"","b":[1,{"c":2}]}',
      '7',
      '"x"',
      'null',
      '[ ]',
    ])
    expect(arrayItems(Buffer.from('[]'))).toEqual([])
    const object = Buffer.from('{"dat\\u0061":1, "data" : {"x":[1, 2]} ,"d":"data"}')
    expect(memberValue(object, 'data')?.toString()).toBe('{"x":[1, 2]}')
    expect(memberValue(object, 'none')).toBeUndefined()
  })

  it('flags the text only when a run of digits could hide a rounding', () => {
    expect(mayHideRounding(Buffer.from('{"n":9007199254740991}'))).toBe(false)
    expect(mayHideRounding(Buffer.from('{"n":100.0000000000000001}'))).toBe(true)
  })
})
