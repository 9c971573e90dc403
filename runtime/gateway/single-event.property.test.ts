/**
 * The single-event fast way (single-event.ts) accepts only what the ordinary way (parseBody, then
 * toRecord) accepts, and makes the same record of it: so answering from it changes no answer.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { nearJson, PAYMENT_ORDER_PIPE } from '../../test/support/payment-json-arbitraries.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'
import { parseBody } from './events.ts'
import { readsFromBytes, unparsedSingleEvent } from './single-event.ts'
import { type IngestStream, streamCatalog } from './streams.ts'
import { NO_CONTEXT, type RequestContext, toRecord } from './validate.ts'

const MAX_EVENT_BYTES = 300

let artifact: LoadedArtifact
beforeAll(async () => {
  artifact = await loadArtifact(await compileFixture(PAYMENT_ORDER_PIPE, 'single', 'single.pipe'))
})

const { text, number, member } = nearJson({
  maxTextLength: 12,
  texts: ['p1', 'caf\u00e9', 'a\\"b', 'tab\there', '\u{1F600}', ''],
  rightWeight: 12,
})
const whitespace = fc.constantFrom('', ' ', '\n', '\t ', '\r\n')
/** JSON objects near both schemas (right, wrong, missing and extra members, in any order), as text. */
const nearObject = fc
  .tuple(
    whitespace,
    fc.tuple(
      member(
        'id',
        text.map((s) => JSON.stringify(s)),
      ),
      member(
        'card',
        text.map((s) => JSON.stringify(s)),
      ),
      member('amount', number.map(String)),
      member('n', fc.oneof(fc.integer().map(String), number.map(String))),
      member('ok', fc.constantFrom('true', 'false')),
      member(
        'note',
        fc.oneof(
          fc.constant('null'),
          text.map((s) => JSON.stringify(s)),
        ),
      ),
      member(
        'ts',
        fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }).map(String), fc.constant('"2024-01-01T00:00:00Z"')),
      ),
      member('line', fc.constantFrom('{"sku":"s","qty":2}', '{"qty":3,"sku":""}', '{"sku":1}')),
      fc.option(
        fc.json().map((json) => `"extra":${json}`),
        { nil: undefined },
      ),
    ),
    whitespace,
  )
  .chain(([before, members, after]) =>
    fc
      .shuffledSubarray(
        members.filter((m) => m !== undefined),
        { minLength: members.filter((m) => m !== undefined).length },
      )
      .map((shuffled) => `${before}{${shuffled.join(',')}}${after}`),
  )
const body = fc.oneof(
  { arbitrary: nearObject, weight: 6 },
  { arbitrary: nearObject.map((o) => `${o.slice(0, -1)}`), weight: 1 },
  { arbitrary: nearObject.map((o) => `[${o}]`), weight: 1 },
  { arbitrary: fc.json(), weight: 1 },
  { arbitrary: fc.string(), weight: 1 },
)
const contentType = fc.constantFrom(
  'application/json',
  '',
  'Application/JSON; charset=utf-8',
  'application/x-ndjson',
)
const context = fc.constantFrom<RequestContext>(NO_CONTEXT, { traceparent: 't', tenant: 'acme' })

/** The record the ordinary way makes of a body answered as one event, or null if it makes none. */
function ordinary(stream: IngestStream, type: string, bytes: Buffer, ctx: RequestContext) {
  const parsed = parseBody(type, bytes, {})
  if ('error' in parsed || parsed.batch || parsed.items.length !== 1) return null
  const item = parsed.items[0]!
  const checked = 'error' in item ? item : toRecord(stream, item, ctx, MAX_EVENT_BYTES)
  return 'error' in checked ? null : checked.record
}

describe('the single-event fast way', () => {
  for (const name of ['payments', 'orders']) {
    it(`accepts only what the ordinary way accepts, as the same record (${name})`, () => {
      const stream = streamCatalog([artifact]).get(name)!
      expect(readsFromBytes(stream)).toBe(true)
      let fast = 0
      fc.assert(
        fc.property(body, contentType, context, (text, type, ctx) => {
          const bytes = Buffer.from(text)
          const event = unparsedSingleEvent(type, bytes, {})
          if (event === null) return
          const checked = toRecord(stream, event, ctx, MAX_EVENT_BYTES)
          if ('error' in checked) return
          fast++
          const record = ordinary(stream, type, bytes, ctx)
          expect(record).not.toBeNull()
          expect(checked.record.key).toBe(record!.key)
          expect(checked.record.value.equals(record!.value)).toBe(true)
          expect(checked.record.headers).toEqual(record!.headers)
        }),
        { numRuns: 2000 },
      )
      // The property is not vacuous: the fast way took many of the bodies.
      expect(fast).toBeGreaterThan(50)
    })
  }

  it('leaves batches, other media types, CloudEvents, invalid UTF-8, keyed streams and streams of several readers to the ordinary way', () => {
    const object = Buffer.from('{"id":"p1"}')
    expect(unparsedSingleEvent('application/json', object, {})).not.toBeNull()
    expect(unparsedSingleEvent('application/json', Buffer.from(' [{"id":"p1"}]'), {})).toBeNull()
    expect(unparsedSingleEvent('application/x-ndjson', object, {})).toBeNull()
    expect(unparsedSingleEvent('application/cloudevents+json', object, {})).toBeNull()
    expect(unparsedSingleEvent('application/json', object, { specversion: '1.0' })).toBeNull()
    expect(unparsedSingleEvent('application/json', Buffer.from([0x7b, 0xff, 0x7d]), {})).toBeNull()
    expect(unparsedSingleEvent('application/json', Buffer.from('   '), {})).toBeNull()
    const keyed = streamCatalog([artifact], { payments: 'card' }).get('payments')!
    expect(readsFromBytes(keyed)).toBe(false)
    const twoReaders = streamCatalog([artifact, artifact]).get('payments')!
    expect(twoReaders.decoders).toHaveLength(2)
    expect(readsFromBytes(twoReaders)).toBe(false)
  })
})
