import { describe, expect, it } from 'vitest'
import { NO_HEADERS } from './events.ts'
import type { IngestStream } from './streams.ts'
import { NO_CONTEXT, recordHeaders, SCHEMA_HEADER, TENANT_HEADER } from './validate.ts'

const stream = (schema: string): IngestStream => ({
  name: 'payments',
  topic: 'payments',
  schema,
  keyField: null,
  decoders: [],
})

describe('recordHeaders', () => {
  it('gives the requests without trace context or tenant one frozen schema-only object per stream', () => {
    const payments = stream('Payment')
    const first = recordHeaders(payments, NO_CONTEXT)
    expect(first).toEqual({ [SCHEMA_HEADER]: 'Payment' })
    expect(Object.isFrozen(first)).toBe(true)
    expect(recordHeaders(payments, NO_CONTEXT, NO_HEADERS)).toBe(first)
    // Another stream (even of the same name) gets its own schema, never the first one's object.
    const orders = recordHeaders(stream('Order'), NO_CONTEXT)
    expect(orders).toEqual({ [SCHEMA_HEADER]: 'Order' })
    expect(orders).not.toBe(first)
  })

  it('builds the headers afresh when the request or the event brings any, so nothing leaks between them', () => {
    const payments = stream('Payment')
    const traced = recordHeaders(payments, { traceparent: 't1', tenant: 'acme' })
    expect(traced).toEqual({ [SCHEMA_HEADER]: 'Payment', traceparent: 't1', [TENANT_HEADER]: 'acme' })
    // An empty context that is not the shared one is still no context at all.
    expect(recordHeaders(payments, {})).toEqual({ [SCHEMA_HEADER]: 'Payment' })
    const own = recordHeaders(payments, NO_CONTEXT, { ce_type: 'paid' })
    expect(own).toEqual({ ce_type: 'paid', [SCHEMA_HEADER]: 'Payment' })
    expect(recordHeaders(payments, NO_CONTEXT)).toEqual({ [SCHEMA_HEADER]: 'Payment' })
  })
})
