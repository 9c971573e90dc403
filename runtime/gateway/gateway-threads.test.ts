/**
 * The gateway with worker threads against the gateway in one thread, under the same concurrent
 * clients (docs/decisions/0030-gateway-threads.md): the same answers to every request and message,
 * the same records in the log, and every acknowledged offset naming the very event it acknowledged.
 * gateway.test.ts runs each behaviour in both modes; this runs them side by side under concurrency.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { connectWebSocket } from '../../test/support/ws-client.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'
import { SluiceError } from '../errors.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import type { LogRecord } from '../log/index.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { Gateway } from './gateway.ts'
import { streamCatalog } from './streams.ts'

const PIPE = `
schema Payment { id: string, card: string, amount: f64, ts: timestamp @event_time }
source payments: Payment from kafka("payments")
stream big = payments | where amount > 10.0 | select { id, card, amount }
sink big -> kafka("big-payments")
`
const PARTITIONS = 4
const KEY_FIELDS = { payments: 'card' }

let artifact: LoadedArtifact
const cleanups: (() => Promise<void>)[] = []
beforeAll(async () => {
  artifact = await loadArtifact(await compileFixture(PIPE, 'payments', 'payments.pipe'))
})
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

// biome-ignore lint/suspicious/noExplicitAny: answers are compared whole and read field by field
type Answer = any

/** One request of the workload: what is sent, over which protocol. */
type Request =
  | { readonly kind: 'http'; readonly contentType: string; readonly body: string }
  | { readonly kind: 'ws'; readonly client: number; readonly body: string }

/** A small deterministic generator, so both gateways get exactly the same workload. */
function workload(seed: number): Request[] {
  let state = seed
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
  let id = 0
  const event = () => {
    const n = id++
    const bad = random() < 0.15
    return {
      id: `e${n}`,
      card: `c${Math.floor(random() * 7)}`,
      amount: bad ? 'lots' : n + 0.5,
      ts: 1_700_000_000_000 + n,
    }
  }
  const requests: Request[] = []
  for (let i = 0; i < 120; i++) {
    const shape = Math.floor(random() * 4)
    if (shape === 0)
      requests.push({ kind: 'http', contentType: 'application/json', body: JSON.stringify(event()) })
    else if (shape === 1) {
      const events = Array.from({ length: 1 + Math.floor(random() * 5) }, event)
      requests.push({ kind: 'http', contentType: 'application/json', body: JSON.stringify(events) })
    } else if (shape === 2) {
      const lines = Array.from({ length: 1 + Math.floor(random() * 4) }, () => JSON.stringify(event()))
      requests.push({ kind: 'http', contentType: 'application/x-ndjson', body: `${lines.join('\n')}\n` })
    } else {
      const events = Array.from({ length: 1 + Math.floor(random() * 6) }, event)
      requests.push({ kind: 'ws', client: Math.floor(random() * 4), body: JSON.stringify(events) })
    }
  }
  return requests
}

interface Run {
  /** Per request of the workload, in its order. */
  readonly answers: Answer[]
  readonly records: LogRecord[]
  readonly gateway: Gateway
}

async function runWorkload(threads: number, requests: readonly Request[]): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-gateway-threads-'))
  const log = await EmbeddedLog.open(dir, { durability: 'batch' })
  await log.ensureTopic('payments', { partitions: PARTITIONS })
  const gateway = await Gateway.start({
    log,
    streams: streamCatalog([artifact], KEY_FIELDS),
    metrics: new MetricsRegistry(),
    port: 0,
    ...(threads > 1
      ? { threads: { count: threads, artifactDirs: [artifact.dir], keyFields: KEY_FIELDS } }
      : {}),
  })
  cleanups.push(async () => {
    await gateway.drain(1000)
    await log.close()
    await rm(dir, { recursive: true, force: true })
  })
  const sockets = await Promise.all(
    [0, 1, 2, 3].map(() => connectWebSocket(`${gateway.url}/streams/payments/ws`)),
  )
  // Every request at once: HTTP requests concurrently, each socket's messages back to back.
  const answers = await Promise.all(
    requests.map(async (request) => {
      if (request.kind === 'http') {
        const response = await fetch(`${gateway.url}/streams/payments/events`, {
          method: 'POST',
          headers: { 'content-type': request.contentType },
          body: request.body,
        })
        return { status: response.status, body: await response.json() }
      }
      sockets[request.client]!.send(request.body)
      return null
    }),
  )
  // An ack names its message by seq (the socket's messages counted from 1); a message whose
  // events are all invalid is answered before earlier ones that wait for the log.
  for (const [client, socket] of sockets.entries()) {
    const mine = requests.flatMap((request, i) =>
      request.kind === 'ws' && request.client === client ? [i] : [],
    )
    for (let n = 0; n < mine.length; n++) {
      const ack = JSON.parse(await socket.next(10_000))
      answers[mine[ack.seq - 1]!] = ack
    }
    socket.close()
  }
  const records: LogRecord[] = []
  for (let p = 0; p < PARTITIONS; p++) records.push(...(await log.read('payments', p, 0, 100_000)))
  return { answers, records, gateway }
}

/** An answer without positions (the interleaving of concurrent requests decides them). */
function withoutPositions(answer: Answer): Answer {
  return JSON.parse(JSON.stringify(answer), (key, value) => (key === 'offset' ? undefined : value))
}

/** Each acknowledged event with the position its answer gave it. */
function acknowledged(requests: readonly Request[], answers: readonly Answer[]) {
  const acks: { id: string; partition: number; offset: number }[] = []
  requests.forEach((request, i) => {
    const events =
      request.kind === 'http' && request.contentType === 'application/x-ndjson'
        ? request.body
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line))
        : [JSON.parse(request.body)].flat()
    const answer = answers[i]
    const results =
      request.kind === 'ws'
        ? answer.results
        : Array.isArray(answer.body.results)
          ? answer.body.results
          : [{ status: answer.status, ...answer.body }]
    results.forEach((result: Answer, j: number) => {
      if (result.status === 200)
        acks.push({ id: events[j].id, partition: result.partition, offset: result.offset })
    })
  })
  return acks
}

describe('gateway worker threads', () => {
  it('answer concurrent clients as one thread does, with the same records in the log and every ack naming its own record', async () => {
    const requests = workload(7)
    const one = await runWorkload(1, requests)
    const two = await runWorkload(2, requests)

    expect(two.answers.map(withoutPositions)).toEqual(one.answers.map(withoutPositions))
    const content = (records: LogRecord[]) =>
      records.map((r) => JSON.stringify([r.partition, r.key, r.value.toString(), r.headers])).sort()
    expect(content(two.records)).toEqual(content(one.records))

    for (const run of [one, two]) {
      const acks = acknowledged(requests, run.answers)
      expect(acks.length).toBe(run.records.length)
      expect(acks.length).toBeGreaterThan(100)
      const byPosition = new Map(run.records.map((r) => [`${r.partition}:${r.offset}`, r]))
      for (const ack of acks) {
        const record = byPosition.get(`${ack.partition}:${ack.offset}`)
        expect(JSON.parse(record!.value.toString()).id).toBe(ack.id)
        byPosition.delete(`${ack.partition}:${ack.offset}`)
      }
      expect(byPosition.size).toBe(0)
    }
  })

  it('refuses a port another node serves, and a thread count or in-flight bound it cannot keep', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-gateway-threads-'))
    const log = await EmbeddedLog.open(dir, { durability: 'batch' })
    cleanups.push(async () => {
      await log.close()
      await rm(dir, { recursive: true, force: true })
    })
    const base = {
      log,
      streams: streamCatalog([artifact]),
      metrics: new MetricsRegistry(),
      threads: { count: 2, artifactDirs: [artifact.dir] },
    }
    const first = await Gateway.start({ ...base, port: 0 })
    cleanups.push(() => first.drain(1000))
    await expect(
      Gateway.start({ ...base, metrics: new MetricsRegistry(), port: first.port }),
    ).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+/)
    await expect(
      Gateway.start({
        ...base,
        metrics: new MetricsRegistry(),
        port: 0,
        threads: { count: 0, artifactDirs: [] },
      }),
    ).rejects.toThrow(SluiceError)
    await expect(
      Gateway.start({ ...base, metrics: new MetricsRegistry(), port: 0, maxInFlightBytes: 2 ** 32 }),
    ).rejects.toThrow(/at most 2147483647 with worker threads/)
    // The first goes on serving.
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200)
  })
})
