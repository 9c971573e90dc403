import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { OutgoingRecord } from '../log/index.ts'
import { AppendResults } from './append-results.ts'
import type { Submission } from './backend.ts'
import { SharedBudget } from './in-flight.ts'
import {
  type PendingSubmission,
  packSubmissions,
  replyOf,
  submissionOf,
  unpackSubmissions,
} from './thread-protocol.ts'

const headers = fc.option(
  fc.dictionary(fc.constantFrom('sluice.schema', 'traceparent', 'ce_type', 'sluice.tenant'), fc.string()),
  { nil: undefined },
)
const record: fc.Arbitrary<OutgoingRecord> = fc
  .record({
    key: fc.option(fc.string(), { nil: null }),
    value: fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    headers,
  })
  .map(({ key, value, headers }) => (headers === undefined ? { key, value } : { key, value, headers }))
const submission = (id: number): fc.Arbitrary<PendingSubmission> =>
  fc.record({
    id: fc.constant(id),
    topic: fc.constantFrom('payments', 'refunds'),
    stream: fc.constantFrom('payments', 'refunds'),
    apiKey: fc.string(),
    records: fc.array(record, { maxLength: 6 }),
  })

describe('thread protocol', () => {
  it('unpacks exactly the submissions packed: ids, topics, keys, values and headers, in order', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 0, max: 8 })
          .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => submission(i + 1)))),
        (submissions) => {
          const batch = packSubmissions(submissions)
          // Through structured clone with the values transferred, as between threads.
          const moved = structuredClone(batch, { transfer: [batch.values.buffer as ArrayBuffer] })
          const unpacked = unpackSubmissions(moved)
          expect(unpacked.map((s) => ({ ...s, records: s.records.map(plain) }))).toEqual(
            submissions.map((s) => ({ ...s, records: s.records.map(plain) })),
          )
        },
      ),
    )
  })

  it('carries append results, refusals and rate limits back as they were', () => {
    const result = fc.oneof(
      fc.record({ partition: fc.nat(64), offset: fc.nat() }),
      fc.record({ refused: fc.string() }),
    )
    const answer: fc.Arbitrary<Submission> = fc.oneof(
      fc.array(result, { maxLength: 10 }).map((results) => ({ results: AppendResults.of(results) })),
      fc.record({ rateLimited: fc.record({ message: fc.string(), retryAfterMs: fc.nat() }) }),
    )
    fc.assert(
      fc.property(fc.nat(), answer, (id, submitted) => {
        // As the replies cross: one JSON string.
        const reply = JSON.parse(structuredClone(JSON.stringify(replyOf(id, submitted))))
        expect(reply[0]).toBe(id)
        expect(reply[1]).not.toBe(2)
        const back = submissionOf(reply as Parameters<typeof submissionOf>[0])
        if ('results' in submitted)
          expect('results' in back && back.results.toArray()).toEqual(submitted.results.toArray())
        else expect(back).toEqual(submitted)
      }),
    )
  })
})

describe('shared in-flight budget', () => {
  it('never holds more than its bound, whatever the order of reservations and releases', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.array(fc.nat(300), { maxLength: 50 }), (max, sizes) => {
        const budget = SharedBudget.create(max)
        // A second view of the same memory, as another thread has.
        const other = new SharedBudget(budget.buffer, max)
        const held: number[] = []
        let expected = 0
        sizes.forEach((size, i) => {
          const side = i % 2 === 0 ? budget : other
          const fits = expected + size <= max
          expect(side.reserve(size)).toBe(fits)
          if (fits) {
            held.push(size)
            expected += size
          }
          if (i % 3 === 2 && held.length > 0) {
            const released = held.shift()!
            side.release(released)
            expected -= released
          }
          expect(budget.bytes).toBe(expected)
          expect(other.bytes).toBeLessThanOrEqual(max)
        })
      }),
    )
  })
})

function plain(record: OutgoingRecord) {
  return { key: record.key, value: [...record.value], headers: record.headers }
}
