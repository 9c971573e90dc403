/**
 * Random JSON near the gateway tests' two schemas, as text: for properties that compare the
 * gateway's fast byte paths (single-event.ts, batch-bytes.ts) with its ordinary JSON.parse way.
 */
import fc from 'fast-check'

// Payment has a byte-level scanner; Order (a nested record) decodes from bytes through JSON.parse.
export const PAYMENT_ORDER_PIPE = `
schema Payment { id: string, card: string, amount: f64, n: i64, ok: bool, note: string?, ts: timestamp @event_time }
schema Line { sku: string, qty: i64 }
schema Order { id: string, line: Line }
source payments: Payment from kafka("payments")
source orders: Order from kafka("orders")
sink payments -> kafka("payments-out")
sink orders -> kafka("orders-out")
`

export interface NearJsonOptions {
  /** Longest random string. */
  readonly maxTextLength: number
  /** Strings that test the decoders' edges, added to the random ones (quotes, escapes, framing look-alikes). */
  readonly texts: readonly string[]
  /** Weight of a right member against 1 for a wrong type and 1 for a missing one. */
  readonly rightWeight: number
}

/** Strings, numbers (with the spellings JSON.parse rounds or canonicalises), scalars and members. */
export function nearJson(options: NearJsonOptions) {
  const text = fc.oneof(fc.string({ maxLength: options.maxTextLength }), fc.constantFrom(...options.texts))
  const number = fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom('100.0000000000000001', '9007199254740993', '1e2', '-0', '1.5E+3'),
  )
  const scalar = fc.oneof(
    text.map((s) => JSON.stringify(s)),
    number.map(String),
    fc.constantFrom('true', 'null', '[]', '{}'),
  )
  /** A member mostly right for the schemas, sometimes of another type, sometimes absent (undefined). */
  const member = (name: string, right: fc.Arbitrary<string>) =>
    fc
      .oneof(
        { arbitrary: right, weight: options.rightWeight },
        { arbitrary: scalar, weight: 1 },
        { arbitrary: fc.constant(undefined), weight: 1 },
      )
      .map((value) => (value === undefined ? undefined : `${JSON.stringify(name)}:${value}`))
  return { text, number, scalar, member }
}
