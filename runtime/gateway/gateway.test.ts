import { connect } from 'node:net'
import { describe, expect, it, vi } from 'vitest'
import { gatewayFixture, type TestGatewayOptions } from '../../test/support/gateway-fixture.ts'
import { pipelinedPosts, rawExchange, statusesIn } from '../../test/support/raw-http.ts'
import { connectWebSocket, UpgradeRefused } from '../../test/support/ws-client.ts'
import { SluiceError } from '../errors.ts'
import type { AppendOptions, Log, OutgoingRecord, RecordPosition } from '../log/index.ts'
import type { MetricsRegistry } from '../metrics/registry.ts'
import type { Gateway } from './gateway.ts'

const PIPE = `
schema Merchant { name: string, country: string? }
schema Payment { id: string, card: string, amount: f64, merchant: Merchant, tags: list<string>, ts: timestamp @event_time }
source payments: Payment from kafka("payments")
stream big = payments | where amount > 10.0 | select { id, card, amount }
sink big -> kafka("big-payments")
`

const fixture = gatewayFixture(PIPE)

function payment(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    card: `card-${id}`,
    amount: 25.5,
    merchant: { name: 'shop' },
    tags: ['a'],
    ts: 1_700_000_000_000,
    ...extra,
  }
}

/** A JSON answer, read loosely: the assertions say what it must hold. */
// biome-ignore lint/suspicious/noExplicitAny: test answers are checked field by field
type Answer = any

interface Harness {
  gateway: Gateway
  log: Log
  metrics: MetricsRegistry
  url: string
  post(
    body: string,
    headers?: Record<string, string>,
    stream?: string,
  ): Promise<{ status: number; json: Answer; headers: Headers }>
  records(topic?: string): Promise<import('../log/index.ts').LogRecord[]>
  /** The registry's text once the worker threads' increments are in. */
  renderMetrics(): Promise<string>
}

type HarnessOptions = Omit<TestGatewayOptions, 'threads' | 'prefix'>

async function startHarness(options: HarnessOptions & { threads: number }): Promise<Harness> {
  const { threads, ...rest } = options
  const {
    gateway,
    log: embedded,
    metrics,
  } = await fixture.startGateway({
    prefix: 'sluice-gateway',
    ...rest,
    ...(threads > 1
      ? {
          threads: {
            count: threads,
            artifactDirs: [fixture.artifact().dir],
            keyFields: options.keyFields ?? {},
          },
        }
      : {}),
  })
  const url = gateway.url
  return {
    gateway,
    log: embedded,
    metrics,
    url,
    async post(body, headers = {}, stream = 'payments') {
      const response = await fetch(`${url}/streams/${stream}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      })
      const text = await response.text()
      return {
        status: response.status,
        json: text === '' ? null : JSON.parse(text),
        headers: response.headers,
      }
    },
    async renderMetrics() {
      await gateway.flushMetrics()
      return metrics.render()
    },
    async records(topic = 'payments') {
      const ends = await embedded.endOffsets(topic)
      const all = []
      for (let p = 0; p < ends.length; p++) all.push(...(await embedded.read(topic, p, 0, 100_000)))
      return all
    },
  }
}

// Every behaviour holds alike with the gateway in this thread and with worker threads serving
// (docs/decisions/0030-gateway-threads.md): the same answers, acks and records in the log.
for (const threads of [1, 2]) {
  describe(threads === 1 ? 'one thread' : `${threads} worker threads`, () => {
    const harness = (options: HarnessOptions = {}) => startHarness({ threads, ...options })

    // HTTP/1.1 pipelining (docs/decisions/0030-gateway-threads.md, addendum "a handler stuck before
    // onAborted, pipelined requests"): µWebSockets.js answers requests in order only while each is
    // answered before the next is read; one that waits for the log when the next arrives gets the
    // connection closed, which the gateway keeps as its behaviour: no answer is an acknowledgement.
    describe('HTTP/1.1 pipelining', () => {
      it('answers pipelined requests that are answered at once, in order, on the one connection', async () => {
        const h = await harness()
        const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`
        const unknownStream = pipelinedPosts('nope', [JSON.stringify(payment('u1'))])
        const answer = await rawExchange(
          h.gateway.port,
          get('/healthz') + get('/no/such/route') + get('/healthz') + unknownStream,
        )
        // The unknown stream's 404 closes the connection, as every refusal of a request does.
        expect(statusesIn(answer.received)).toEqual([200, 404, 200, 404])
        expect(await h.records()).toEqual([])
      })

      it('closes the connection at a request pipelined behind one waiting for the log: nothing is answered or acknowledged, what follows is never read, the gateway serves on', async () => {
        const h = await harness()
        const ids = ['pl-0', 'pl-1', 'pl-2']
        const answer = await rawExchange(
          h.gateway.port,
          pipelinedPosts(
            'payments',
            ids.map((id) => JSON.stringify(payment(id))),
          ),
        )
        expect(answer.received).toBe('')
        const inLog = (await h.records()).map((record) => JSON.parse(record.value.toString()).id)
        // The first request was read whole and handed to the log before the second was parsed: it
        // may be there, unacknowledged (its client resends: at least once, as for any lost
        // answer). The ones behind it never were.
        expect(inLog.filter((id) => id !== 'pl-0')).toEqual([])
        expect(inLog.length).toBeLessThanOrEqual(1)
        await vi.waitFor(() => expect(h.gateway.bytesInFlight).toBe(0))
        expect((await h.post(JSON.stringify(payment('after')))).status).toBe(200)
      })
    })

    describe('HTTP events', () => {
      it('acknowledges one JSON event with its offset once the log holds it, with schema, trace and tenant headers', async () => {
        const h = await harness()
        const body = JSON.stringify(payment('p1'))
        const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
        const answer = await h.post(body, { traceparent, 'x-sluice-tenant': 'acme' })
        expect(answer.status).toBe(200)
        expect(answer.json).toEqual({ partition: 0, offset: 0 })
        const [record] = await h.records()
        expect(record!.value.toString()).toBe(body)
        expect(record!.key).toBeNull()
        expect(record!.headers).toEqual({ 'sluice.schema': 'Payment', traceparent, 'sluice.tenant': 'acme' })
      })

      it('finds a stream whose name in the path is percent-encoded', async () => {
        const h = await harness()
        const answer = await h.post(JSON.stringify(payment('p1')), {}, 'pay%6Dents')
        expect(answer.status).toBe(200)
        expect(answer.json).toEqual({ partition: 0, offset: 0 })
        expect(await h.records()).toHaveLength(1)
      })

      it('names the field and the rule of an event that does not match the schema (422), and appends nothing', async () => {
        const h = await harness()
        const wrongType = await h.post(JSON.stringify(payment('p1', { amount: 'lots' })))
        expect(wrongType.status).toBe(422)
        expect(wrongType.json).toMatchObject({
          error_code: 'SCHEMA_MISMATCH',
          field: 'amount',
          rule: 'expected a finite number',
        })
        const nested = await h.post(JSON.stringify(payment('p2', { merchant: { country: 'FR' } })))
        expect(nested.status).toBe(422)
        expect(nested.json).toMatchObject({ field: 'merchant.name', rule: 'expected a string' })
        expect(nested.json.message).toMatch(/merchant\.name/)
        const notJson = await h.post('{"id": ')
        expect(notJson.status).toBe(400)
        expect(notJson.json.error_code).toBe('INVALID_JSON')
        expect(await h.records()).toHaveLength(0)
      })

      it('answers a JSON array batch per event (207) and loses no valid event to an invalid neighbour', async () => {
        const h = await harness()
        const answer = await h.post(
          JSON.stringify([payment('a'), payment('b', { tags: 'x' }), payment('c'), 7]),
        )
        expect(answer.status).toBe(207)
        expect(answer.json.accepted).toBe(2)
        expect(answer.json.rejected).toBe(2)
        expect(answer.json.results.map((r: { status: number }) => r.status)).toEqual([200, 422, 200, 422])
        expect(answer.json.results[1]).toMatchObject({
          error_code: 'SCHEMA_MISMATCH',
          field: 'tags',
          rule: 'expected a list',
        })
        expect(answer.json.results[3]).toMatchObject({ field: null, rule: 'expected an object' })
        expect(answer.json.results[2]).toEqual({ status: 200, partition: 0, offset: 1 })
        const ids = (await h.records()).map((r) => JSON.parse(r.value.toString()).id)
        expect(ids).toEqual(['a', 'c'])
        const all = await h.post(JSON.stringify([payment('d'), payment('e')]))
        expect(all.status).toBe(200)
        expect(all.json).toMatchObject({ accepted: 2, rejected: 0 })
      })

      it('takes NDJSON line by line, answering each line', async () => {
        const h = await harness()
        const lines = [
          JSON.stringify(payment('a')),
          '',
          '{broken',
          JSON.stringify(payment('b', { ts: 'yesterday' })),
          JSON.stringify(payment('c')),
        ]
        const answer = await h.post(`${lines.join('\n')}\n`, { 'content-type': 'application/x-ndjson' })
        expect(answer.status).toBe(207)
        expect(answer.json.results.map((r: { status: number }) => r.status)).toEqual([200, 400, 422, 200])
        expect(answer.json.results[1].error_code).toBe('INVALID_JSON')
        expect(answer.json.results[2]).toMatchObject({ field: 'ts' })
        const records = await h.records()
        expect(records.map((r) => r.value.toString())).toEqual([lines[0], lines[4]])
      })

      it('keys records by the stream key field, so one key lands in one partition', async () => {
        const h = await harness({ keyFields: { payments: 'card' }, partitions: 4 })
        const events = Array.from({ length: 20 }, (_, i) => payment(`e${i}`, { card: `card-${i % 3}` }))
        const answer = await h.post(JSON.stringify(events))
        expect(answer.status).toBe(200)
        const partitionOf = new Map<string, Set<number>>()
        for (const record of await h.records()) {
          expect(record.key).toBe(JSON.parse(record.value.toString()).card)
          partitionOf.set(record.key!, (partitionOf.get(record.key!) ?? new Set()).add(record.partition))
        }
        expect(partitionOf.size).toBe(3)
        for (const partitions of partitionOf.values()) expect(partitions.size).toBe(1)
      })

      it('refuses an unknown stream (404), an unknown route (404) and a media type it does not speak (415)', async () => {
        const h = await harness()
        const unknown = await h.post(JSON.stringify(payment('a')), {}, 'refunds')
        expect(unknown.status).toBe(404)
        expect(unknown.json).toMatchObject({ error_code: 'UNKNOWN_STREAM' })
        expect(unknown.json.message).toMatch(/payments/)
        const route = await fetch(`${h.url}/nowhere`)
        expect(route.status).toBe(404)
        expect((await route.json()).error_code).toBe('NOT_FOUND')
        const xml = await h.post('<payment/>', { 'content-type': 'application/xml' })
        expect(xml.status).toBe(415)
        expect(xml.json.error_code).toBe('UNSUPPORTED_MEDIA_TYPE')
      })
    })

    describe('CloudEvents', () => {
      const ce = (id: string, data: unknown, extra: Record<string, unknown> = {}) => ({
        specversion: '1.0',
        id,
        source: '/shop/checkout',
        type: 'com.example.payment',
        datacontenttype: 'application/json',
        data,
        ...extra,
      })

      it('structured mode: the data is the event, the attributes become ce_ headers, partitionkey the key', async () => {
        const h = await harness()
        const event = payment('s1')
        const answer = await h.post(
          JSON.stringify(ce('evt-1', event, { partitionkey: 'card-s1', subject: 'p' })),
          {
            'content-type': 'application/cloudevents+json',
          },
        )
        expect(answer.status).toBe(200)
        const [record] = await h.records()
        expect(JSON.parse(record!.value.toString())).toEqual(event)
        expect(record!.key).toBe('card-s1')
        expect(record!.headers).toMatchObject({
          ce_specversion: '1.0',
          ce_id: 'evt-1',
          ce_source: '/shop/checkout',
          ce_type: 'com.example.payment',
          ce_subject: 'p',
          ce_partitionkey: 'card-s1',
          'content-type': 'application/json',
          'sluice.schema': 'Payment',
        })
      })

      it('structured mode: a missing required attribute is a 400 naming it; bad data a 422 naming the field', async () => {
        const h = await harness()
        const { id: _id, ...noId } = ce('x', payment('s1'))
        const missing = await h.post(JSON.stringify(noId), { 'content-type': 'application/cloudevents+json' })
        expect(missing.status).toBe(400)
        expect(missing.json).toMatchObject({ error_code: 'INVALID_CLOUDEVENT', field: 'id' })
        const version = await h.post(JSON.stringify(ce('y', payment('s1'), { specversion: '0.3' })), {
          'content-type': 'application/cloudevents+json',
        })
        expect(version.json).toMatchObject({ field: 'specversion', rule: 'must be "1.0"' })
        const badData = await h.post(JSON.stringify(ce('z', payment('s1', { card: 5 }))), {
          'content-type': 'application/cloudevents+json',
        })
        expect(badData.status).toBe(422)
        expect(badData.json).toMatchObject({ field: 'card', rule: 'expected a string' })
        expect(await h.records()).toHaveLength(0)
      })

      it('binary mode: attributes from ce-* headers, the body is the event', async () => {
        const h = await harness()
        const body = JSON.stringify(payment('b1'))
        const answer = await h.post(body, {
          'ce-specversion': '1.0',
          'ce-id': 'evt-b1',
          'ce-source': '/pos/7',
          'ce-type': 'com.example.payment',
          'ce-time': '2026-01-01T10:00:00Z',
          'ce-traceparent': '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        })
        expect(answer.status).toBe(200)
        const [record] = await h.records()
        expect(record!.value.toString()).toBe(body)
        expect(record!.headers).toMatchObject({
          ce_id: 'evt-b1',
          ce_source: '/pos/7',
          ce_time: '2026-01-01T10:00:00Z',
          'content-type': 'application/json',
        })
        const noType = await h.post(body, { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-source': '/s' })
        expect(noType.status).toBe(400)
        expect(noType.json).toMatchObject({ error_code: 'INVALID_CLOUDEVENT', field: 'type' })
      })

      it('batch mode: per-event results for an array of structured events', async () => {
        const h = await harness()
        const answer = await h.post(
          JSON.stringify([
            ce('1', payment('a')),
            { specversion: '1.0', id: '2', source: '/s', type: 't' },
            ce('3', payment('c', { amount: null })),
          ]),
          { 'content-type': 'application/cloudevents-batch+json' },
        )
        expect(answer.status).toBe(207)
        expect(answer.json.results.map((r: { status: number }) => r.status)).toEqual([200, 400, 422])
        expect(answer.json.results[1]).toMatchObject({ field: 'data' })
        expect(answer.json.results[2]).toMatchObject({ field: 'amount' })
        expect((await h.records()).map((r) => r.headers.ce_id)).toEqual(['1'])
      })
    })

    describe('WebSocket', () => {
      it('acknowledges each message once, with per-event results and offsets', async () => {
        const h = await harness()
        const ws = await connectWebSocket(`${h.url}/streams/payments/ws`, { 'x-sluice-tenant': 't1' })
        ws.send(JSON.stringify(payment('w1')))
        expect(JSON.parse(await ws.next())).toEqual({
          seq: 1,
          accepted: 1,
          rejected: 0,
          results: [{ status: 200, partition: 0, offset: 0 }],
        })
        ws.send(JSON.stringify([payment('w2'), payment('w3', { amount: 'x' }), payment('w4')]))
        const ack = JSON.parse(await ws.next())
        expect(ack).toMatchObject({ seq: 2, accepted: 2, rejected: 1 })
        expect(ack.results[0]).toEqual({ status: 200, partition: 0, offset: 1 })
        expect(ack.results[1]).toMatchObject({ status: 422, field: 'amount' })
        expect(ack.results[2]).toEqual({ status: 200, partition: 0, offset: 2 })
        ws.send('not json')
        expect(JSON.parse(await ws.next())).toMatchObject({ seq: 3, error_code: 'INVALID_JSON' })
        const records = await h.records()
        expect(records.map((r) => JSON.parse(r.value.toString()).id)).toEqual(['w1', 'w2', 'w4'])
        expect(records[0]!.headers['sluice.tenant']).toBe('t1')
        ws.close()
        expect(await ws.closed).toBe(1000)
      })

      it('answers a message over the request size with an error ack naming the limit, and keeps the connection', async () => {
        const h = await harness({ maxRequestBytes: 1000 })
        const ws = await connectWebSocket(`${h.url}/streams/payments/ws`)
        const oversized = JSON.stringify(Array.from({ length: 20 }, (_, i) => payment(`e${i}`)))
        expect(oversized.length).toBeGreaterThan(1000)
        expect(oversized.length).toBeLessThanOrEqual(4000) // under the default hard cap, 4 × 1000
        ws.send(oversized)
        expect(JSON.parse(await ws.next())).toEqual({
          seq: 1,
          error_code: 'REQUEST_TOO_LARGE',
          message: `the message has ${oversized.length} bytes or more; at most 1000 are accepted`,
          rule: 'at most 1000 bytes',
        })
        // The same connection goes on: the next message is taken.
        ws.send(JSON.stringify(payment('after')))
        expect(JSON.parse(await ws.next())).toMatchObject({ seq: 2, accepted: 1, rejected: 0 })
        expect((await h.records()).map((r) => JSON.parse(r.value.toString()).id)).toEqual(['after'])
        expect(await h.renderMetrics()).toMatch(
          /sluice_gateway_rejections_total\{reason="REQUEST_TOO_LARGE"\} 1\b/,
        )
        ws.close()
        expect(await ws.closed).toBe(1000)
      })

      it('closes a connection whose message is over the hard cap, without reading or appending it', async () => {
        const h = await harness({ maxRequestBytes: 1000, maxWebSocketMessageBytes: 2000 })
        const ws = await connectWebSocket(`${h.url}/streams/payments/ws`)
        ws.send(JSON.stringify(Array.from({ length: 20 }, (_, i) => payment(`e${i}`))))
        // 1009 would be right, but uWebSockets.js drops the connection without a close frame: 1006.
        expect(await ws.closed).toBe(1006)
        expect(await h.records()).toHaveLength(0)
        // Counted when uWebSockets.js closed the socket, before the client saw it closed.
        expect(await h.renderMetrics()).toMatch(
          /sluice_gateway_rejections_total\{reason="REQUEST_TOO_LARGE"\} 1\b/,
        )
        // Other connections are not affected.
        const next = await connectWebSocket(`${h.url}/streams/payments/ws`)
        next.send(JSON.stringify(payment('next')))
        expect(JSON.parse(await next.next())).toMatchObject({ seq: 1, accepted: 1 })
        next.close()
        await next.closed
      })

      it('refuses a hard cap under the request size', async () => {
        await expect(harness({ maxRequestBytes: 1000, maxWebSocketMessageBytes: 999 })).rejects.toThrow(
          /maxWebSocketMessageBytes \(999\) must be at least maxRequestBytes \(1000\)/,
        )
      })

      it('refuses the upgrade for an unknown stream', async () => {
        const h = await harness()
        const refused = await connectWebSocket(`${h.url}/streams/nope/ws`).catch((error: unknown) => error)
        expect(refused).toBeInstanceOf(UpgradeRefused)
        expect((refused as UpgradeRefused).status).toBe(404)
      })
    })

    describe('rate limits', () => {
      it('answers 429 with Retry-After past the stream bucket, and takes new limits from PUT /admin/limits at run time', async () => {
        let now = 0
        const h = await harness({ limits: { stream: { eventsPerSecond: 1, burst: 3 } }, now: () => now })
        expect((await h.post(JSON.stringify([payment('a'), payment('b')]))).status).toBe(200)
        const limited = await h.post(JSON.stringify([payment('c'), payment('d')]))
        expect(limited.status).toBe(429)
        expect(limited.headers.get('retry-after')).toBe('1')
        expect(limited.json).toMatchObject({ error_code: 'RATE_LIMITED', retryAfterMs: 1000 })
        now += 1000
        expect((await h.post(JSON.stringify([payment('c'), payment('d')]))).status).toBe(200)
        expect((await h.post(JSON.stringify(payment('e')))).status).toBe(429)

        const put = await fetch(`${h.url}/admin/limits`, {
          method: 'PUT',
          body: JSON.stringify({ stream: { eventsPerSecond: 1000, burst: 100 } }),
        })
        expect(put.status).toBe(200)
        now += 10
        expect((await h.post(JSON.stringify(payment('e')))).status).toBe(200)
        const current = await (await fetch(`${h.url}/admin/limits`)).json()
        expect(current.stream).toEqual({ eventsPerSecond: 1000, burst: 100 })
        const bad = await fetch(`${h.url}/admin/limits`, {
          method: 'PUT',
          body: JSON.stringify({ stream: { eventsPerSecond: -1 } }),
        })
        expect(bad.status).toBe(400)
        expect((await bad.json()).message).toMatch(/stream\.eventsPerSecond/)
        expect((await h.records()).length).toBe(5)
      })

      it('keeps a bucket per API key, and the WebSocket gets an error ack with retryAfterMs', async () => {
        const h = await harness({ limits: { apiKey: { eventsPerSecond: 0.5, burst: 1 } }, now: () => 0 })
        expect((await h.post(JSON.stringify(payment('a')), { 'x-api-key': 'k1' })).status).toBe(200)
        expect((await h.post(JSON.stringify(payment('b')), { 'x-api-key': 'k1' })).status).toBe(429)
        expect((await h.post(JSON.stringify(payment('c')), { 'x-api-key': 'k2' })).status).toBe(200)
        const ws = await connectWebSocket(`${h.url}/streams/payments/ws`, { 'x-api-key': 'k1' })
        ws.send(JSON.stringify(payment('d')))
        expect(JSON.parse(await ws.next())).toMatchObject({
          seq: 1,
          error_code: 'RATE_LIMITED',
          retryAfterMs: 2000,
        })
        ws.close()
        await ws.closed
      })

      it('guards the admin endpoint with the admin token when one is set', async () => {
        const h = await harness({ adminToken: 'sesame' })
        expect((await fetch(`${h.url}/admin/limits`)).status).toBe(401)
        const ok = await fetch(`${h.url}/admin/limits`, { headers: { authorization: 'Bearer sesame' } })
        expect(ok.status).toBe(200)
      })
    })

    describe('size limits', () => {
      it('refuses an event over the event size (413) and, in a batch, only that event', async () => {
        const h = await harness({ maxEventBytes: 200 })
        const big = payment('big', { tags: Array.from({ length: 50 }, () => 'xxxxx') })
        const single = await h.post(JSON.stringify(big))
        expect(single.status).toBe(413)
        expect(single.json).toMatchObject({ error_code: 'EVENT_TOO_LARGE', rule: 'at most 200 bytes' })
        const batch = await h.post(JSON.stringify([payment('a'), big]))
        expect(batch.status).toBe(207)
        expect(batch.json.results.map((r: { status: number }) => r.status)).toEqual([200, 413])
      })

      it('refuses a request over the request size with 413 and a JSON body, declared or chunked', async () => {
        const h = await harness({ maxRequestBytes: 1000 })
        const body = JSON.stringify(Array.from({ length: 20 }, (_, i) => payment(`e${i}`)))
        const declared = await h.post(body)
        expect(declared.status).toBe(413)
        expect(declared.json.error_code).toBe('REQUEST_TOO_LARGE')
        // Chunked, written in one go over a raw socket: a client still writing when the gateway
        // answers and closes would see EPIPE instead of the answer, whatever the gateway does.
        const url = new URL(h.url)
        const socket = connect(Number(url.port), url.hostname)
        await new Promise((resolve) => socket.once('connect', resolve))
        const chunks = Array.from({ length: 10 }, (_, i) => body.slice(i * 300, (i + 1) * 300)).filter(
          (chunk) => chunk !== '',
        )
        socket.write(
          'POST /streams/payments/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n' +
            chunks.map((chunk) => `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`).join('') +
            '0\r\n\r\n',
        )
        let response = ''
        socket.on('data', (data: Buffer) => {
          response += data.toString()
        })
        await new Promise((resolve) => socket.once('close', resolve))
        expect(response).toMatch(/^HTTP\/1\.1 413 /)
        expect(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)).error_code).toBe(
          'REQUEST_TOO_LARGE',
        )
        expect(await h.records()).toHaveLength(0)
      })
    })

    /** A log whose appends wait until `open()`: requests pile up in flight. */
    function gatedLog(inner: Log): Log & { open(): void; appends: number } {
      let release: () => void = () => {}
      let gate = new Promise<void>((resolve) => {
        release = resolve
      })
      const wrapper = Object.create(inner) as Log & { open(): void; appends: number }
      wrapper.appends = 0
      wrapper.open = () => {
        release()
        gate = Promise.resolve()
      }
      wrapper.append = async (
        topic: string,
        records: readonly OutgoingRecord[],
        options?: AppendOptions,
      ): Promise<RecordPosition[]> => {
        wrapper.appends++
        await gate
        return inner.append(topic, records, options)
      }
      wrapper.partitions = (topic) => inner.partitions(topic)
      return wrapper
    }

    describe('overload and drain', () => {
      it('answers 503 with Retry-After beyond the bytes in flight, never holding more, and acknowledges what it took', async () => {
        let gated: ReturnType<typeof gatedLog> | undefined
        const event = JSON.stringify(payment('x'))
        const h = await harness({
          maxInFlightBytes: event.length * 5,
          wrap: (log) => {
            gated = gatedLog(log)
            return gated
          },
        })
        const pending = Array.from({ length: 5 }, () => h.post(event))
        // All five bodies received (each then goes to the appender at once), their bytes held.
        await waitFor(
          () => h.metrics.find('sluice_gateway_received_bytes_total')?.total() === event.length * 5,
        )
        expect(h.gateway.bytesInFlight).toBe(event.length * 5)
        const shed = await Promise.all(Array.from({ length: 10 }, () => h.post(event)))
        for (const answer of shed) {
          expect(answer.status).toBe(503)
          expect(answer.headers.get('retry-after')).toBe('1')
          expect(answer.json.error_code).toBe('OVERLOADED')
        }
        expect(h.gateway.bytesInFlight).toBe(event.length * 5)
        // Group commit: the first request's append is in flight, the other four wait to go as one.
        expect(gated!.appends).toBe(1)
        gated!.open()
        const taken = await Promise.all(pending)
        expect(taken.map((a) => a.status)).toEqual([200, 200, 200, 200, 200])
        expect(gated!.appends).toBe(2)
        expect(h.gateway.bytesInFlight).toBe(0)
        expect(await h.records()).toHaveLength(5)
        const metrics = await h.renderMetrics()
        expect(metrics).toMatch(/sluice_gateway_rejections_total\{reason="OVERLOADED"\} 10/)
      })

      it('drains: stops accepting, answers what it holds once the log has it, and loses no acknowledged event', async () => {
        let gated: ReturnType<typeof gatedLog> | undefined
        const h = await harness({
          wrap: (log) => {
            gated = gatedLog(log)
            return gated
          },
        })
        const ws = await connectWebSocket(`${h.url}/streams/payments/ws`)
        const bodies = Array.from({ length: 8 }, (_, i) => JSON.stringify(payment(`d${i}`)))
        const inFlight = bodies.map((body) => h.post(body))
        const message = JSON.stringify([payment('w1'), payment('w2')])
        ws.send(message)
        // Every request and the message received, all waiting for the log.
        const expected = bodies.reduce((sum, body) => sum + body.length, message.length)
        await waitFor(() => h.gateway.bytesInFlight === expected)
        const drained = h.gateway.drain(10_000)
        const refused = await fetch(`${h.url}/healthz`).then(
          (r) => r.status,
          () => 'refused',
        )
        expect(refused).toBe('refused')
        gated!.open()
        await drained
        const answers = await Promise.all(inFlight)
        expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200))
        expect(JSON.parse(await ws.next())).toMatchObject({ seq: 1, accepted: 2 })
        expect(await ws.closed).toBe(1001)
        const ids = new Set((await h.records()).map((r) => JSON.parse(r.value.toString()).id))
        for (let i = 0; i < 8; i++) expect(ids.has(`d${i}`)).toBe(true)
        expect(ids.has('w1') && ids.has('w2')).toBe(true)
      })
    })

    describe('aborted requests', () => {
      it('gives back the bytes of a request whose client goes away mid-body, and appends nothing of it', async () => {
        const h = await harness()
        const url = new URL(h.url)
        const socket = connect(Number(url.port), url.hostname)
        await new Promise((resolve) => socket.once('connect', resolve))
        socket.write(
          'POST /streams/payments/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{"id":',
        )
        await waitFor(() => h.gateway.bytesInFlight === 5000)
        socket.destroy()
        await waitFor(() => h.gateway.bytesInFlight === 0)
        expect(await h.records()).toHaveLength(0)
        // The gateway goes on serving.
        expect((await h.post(JSON.stringify(payment('after')))).status).toBe(200)
      })
    })

    describe('operations', () => {
      it('serves /healthz, /readyz (503 once the log is gone) and the gateway metrics', async () => {
        const h = await harness()
        expect((await fetch(`${h.url}/healthz`)).status).toBe(200)
        const ready = await fetch(`${h.url}/readyz`)
        expect(ready.status).toBe(200)
        await h.post(JSON.stringify([payment('a'), payment('b', { amount: 'x' })]))
        const text = await (await fetch(`${h.url}/metrics`)).text()
        expect(text).toMatch(/sluice_gateway_requests_total\{code="207",protocol="http"\} 1/)
        expect(text).toMatch(/sluice_gateway_events_total\{outcome="accepted",stream="payments"\} 1/)
        expect(text).toMatch(/sluice_gateway_events_total\{outcome="rejected",stream="payments"\} 1/)
        expect(text).toMatch(/sluice_gateway_rejections_total\{reason="SCHEMA_MISMATCH"\} 1/)
        expect(text).toMatch(/sluice_gateway_ack_seconds_count\{protocol="http"\} 1/)
        expect(text).toMatch(/sluice_gateway_received_bytes_total\{protocol="http"\} \d+/)
        expect(h.metrics.lint()).toEqual([])
        await h.log.close()
        const notReady = await fetch(`${h.url}/readyz`)
        expect(notReady.status).toBe(503)
        expect((await notReady.json()).reason).toMatch(/unreachable/)
      })

      it('answers 503 LOG_UNAVAILABLE when the log stays unavailable past the append timeout', async () => {
        const h = await harness({
          appendTimeoutMs: 300,
          wrap: (log) => {
            const down = Object.create(log) as Log
            down.append = async () => {
              throw new SluiceError('KAFKA_UNAVAILABLE', 'broker down', { retryable: true })
            }
            return down
          },
        })
        const answer = await h.post(JSON.stringify(payment('a')))
        expect(answer.json).toMatchObject({ error_code: 'LOG_UNAVAILABLE' })
        expect(answer.status).toBe(503)
        expect(answer.json.error_code).toBe('LOG_UNAVAILABLE')
        expect(answer.headers.get('retry-after')).toBe('1')
        expect((await fetch(`${h.url}/readyz`)).status).toBe(503)
      })
    })
  })
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
