import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BatchAnswer, type Position } from './batch-answer.ts'
import { GATEWAY_ERRORS, type GatewayError, gatewayError, statusOf } from './errors.ts'

const position = fc.record({
  partition: fc.integer({ min: -1, max: 63 }),
  offset: fc.oneof(fc.constant(-1), fc.maxSafeNat()),
})
const error = fc
  .tuple(
    fc.constantFrom(...(Object.keys(GATEWAY_ERRORS) as (keyof typeof GATEWAY_ERRORS)[])),
    fc.string(),
    fc.option(fc.record({ field: fc.option(fc.string()), rule: fc.string() }), { nil: undefined }),
  )
  .map(([code, message, extra]) => gatewayError(code, message, extra))

describe('BatchAnswer', () => {
  it('writes the JSON text JSON.stringify writes for its per-event results, with and without seq', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(position, error), { minLength: 1, maxLength: 20 }),
        fc.nat(),
        (entries, seq) => {
          const accepted = entries.filter((e) => !('error_code' in e)).length
          const answer = BatchAnswer.fromEntries(entries as (Position | GatewayError)[])
          expect([answer.accepted, answer.rejected]).toEqual([accepted, entries.length - accepted])
          // The reference: the objects the gateway answered with before (one per event).
          const results = entries.map((e) =>
            'error_code' in e
              ? { status: statusOf(e), ...e }
              : { status: 200, partition: e.partition, offset: e.offset },
          )
          const body = { accepted, rejected: entries.length - accepted, results }
          expect(answer.json()).toBe(JSON.stringify(body))
          expect(answer.json(seq)).toBe(JSON.stringify({ seq, ...body }))
          expect(answer.bytes(seq).toString()).toBe(JSON.stringify({ seq, ...body }))
          expect(answer.results).toEqual(results)
          expect(JSON.stringify(answer)).toBe(JSON.stringify(body))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('writes answers larger than its reused buffer, and a later small one after them', () => {
    const many = Array.from({ length: 20_000 }, (_, i) => ({ partition: i % 7, offset: 2 ** 40 + i }))
    const large = BatchAnswer.fromEntries(many)
    const results = many.map((p) => ({ status: 200, ...p }))
    expect(large.json(1)).toBe(JSON.stringify({ seq: 1, accepted: 20_000, rejected: 0, results }))
    const small = BatchAnswer.fromEntries([{ partition: 0, offset: 5 }])
    expect(small.json()).toBe(
      '{"accepted":1,"rejected":0,"results":[{"status":200,"partition":0,"offset":5}]}',
    )
  })
})
