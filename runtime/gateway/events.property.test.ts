import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isUtf8 } from '../text/utf8.ts'
import { GATEWAY_ERRORS } from './errors.ts'
import { parseBody } from './events.ts'

const CONTENT_TYPES = [
  '',
  'application/json',
  'application/json; charset=utf-8',
  'application/x-ndjson',
  'application/cloudevents+json',
  'application/cloudevents-batch+json',
  'text/plain',
]

/** Bodies that are close to valid as well as arbitrary bytes. */
const body = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.json().map((text) => Buffer.from(text)),
  fc.array(fc.json(), { maxLength: 5 }).map((lines) => Buffer.from(lines.join('\n'))),
  fc
    .tuple(
      fc.record(
        {
          specversion: fc.constantFrom('1.0', '0.3'),
          id: fc.string(),
          source: fc.string(),
          type: fc.string(),
          data: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
      fc.boolean(),
    )
    .map(([event, asBatch]) => Buffer.from(JSON.stringify(asBatch ? [event] : event))),
)

describe('parseBody (fuzzed)', () => {
  it('never throws: every body becomes events or catalogued errors, and every event is UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CONTENT_TYPES), body, fc.boolean(), (contentType, bytes, binary) => {
        const ce: Record<string, string> = binary
          ? { specversion: '1.0', id: 'x', source: '/s', type: 't' }
          : {}
        const parsed = parseBody(contentType, bytes, ce)
        if ('error' in parsed) {
          expect(GATEWAY_ERRORS[parsed.error.error_code]).toBeGreaterThanOrEqual(400)
          return
        }
        expect(parsed.items.length).toBeGreaterThan(0)
        for (const item of parsed.items) {
          if ('error' in item) expect(GATEWAY_ERRORS[item.error.error_code]).toBeGreaterThanOrEqual(400)
          else expect(isUtf8(item.value)).toBe(true)
        }
      }),
      { numRuns: 500 },
    )
  })
})

describe('parseBody: the items of a JSON array', () => {
  it('are each item’s bytes as written, which read back as the item JSON.parse gave', () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue(), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(undefined, 0, 1, 2, '\t'),
        (array, indent) => {
          const text = JSON.stringify(array, null, indent)
          const parsed = parseBody('application/json', Buffer.from(text), {})
          if ('error' in parsed) throw new Error(parsed.error.message)
          expect(parsed.batch).toBe(true)
          expect(parsed.items.length).toBe(array.length)
          const reference = JSON.parse(text) as unknown[]
          parsed.items.forEach((item, i) => {
            if ('error' in item) throw new Error(item.error.message)
            expect(JSON.parse(item.value.toString('utf8'))).toEqual(reference[i])
            expect(item.parsed).toEqual(reference[i])
            // As written: the same text the writer produced for that item (indentation included).
            const written = JSON.stringify(array[i], null, indent)
            if (indent === undefined || indent === 0) expect(item.value.toString('utf8')).toBe(written)
          })
        },
      ),
      { numRuns: 300 },
    )
  })
})
