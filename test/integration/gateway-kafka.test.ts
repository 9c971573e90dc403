/**
 * The event gateway in front of the real Kafka broker: what it acknowledges is in the topic, keyed
 * and with its headers, at the offsets the answers gave; and while the broker restarts under a
 * steady stream of batches, no acknowledged event is lost (clients retry what got 503, so
 * duplicates are allowed and counted; a missing acknowledged event fails the test).
 *
 * The restart case restarts the broker SLUICE_KAFKA_BROKERS names (scripts/servers/kafka.sh
 * restart, with this process's environment), as broker-restart.test.ts does; integration files
 * run one at a time.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { CommandIO } from '../../cli/command.ts'
import { main } from '../../cli/main.ts'
import { type LoadedArtifact, loadArtifact } from '../../runtime/artifact/load.ts'
import { Gateway } from '../../runtime/gateway/gateway.ts'
import { streamCatalog } from '../../runtime/gateway/streams.ts'
import type { LogRecord } from '../../runtime/log/index.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { connectWebSocket } from '../support/ws-client.ts'
import { connectKafkaLog, kafkaBrokers, uniqueName } from './kafka-env.ts'

const ROOT = join(import.meta.dirname, '..', '..')

let artifact: LoadedArtifact
let artifactDir: string
let topic: string
beforeAll(async () => {
  topic = uniqueName('gateway-payments')
  const pipe = `
schema Payment { id: string, card: string, amount: f64, ts: timestamp @event_time }
source payments: Payment from kafka("${topic}")
stream large = payments | where amount >= 100.0
sink large -> kafka("${topic}-large")
`
  artifactDir = await compileFixture(pipe, 'payments', 'payments.pipe')
  artifact = await loadArtifact(artifactDir)
})

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function start(
  options: { appendTimeoutMs?: number } = {},
): Promise<{ gateway: Gateway; log: KafkaLog }> {
  const log = await connectKafkaLog({ clientId: 'sluice-gateway-test' })
  await log.ensureTopic(topic, { partitions: 3 })
  const gateway = await Gateway.start({
    log,
    streams: streamCatalog([artifact], { payments: 'card' }),
    metrics: new MetricsRegistry(),
    port: 0,
    ...options,
  })
  cleanups.push(async () => {
    await gateway.drain(5000)
    await log.close()
  })
  return { gateway, log }
}

async function readAll(log: KafkaLog, from = topic): Promise<LogRecord[]> {
  const ends = await log.endOffsets(from).catch(() => [] as number[])
  const records: LogRecord[] = []
  for (let p = 0; p < ends.length; p++) {
    let offset = 0
    while (offset < ends[p]!) {
      const batch = await log.read(from, p, offset, 10_000)
      if (batch.length === 0) break
      records.push(...batch)
      offset = batch.at(-1)!.offset + 1
    }
  }
  return records
}

const payment = (id: string, card: string) => ({ id, card, amount: 150, ts: 1_700_000_000_000 })

describe('gateway on Kafka', () => {
  it('acknowledges JSON, CloudEvents and WebSocket events with the offsets Kafka gave them, keyed and with their headers', async () => {
    const { gateway, log } = await start()
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200)
    const batch = await fetch(`${gateway.url}/streams/payments/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sluice-tenant': 'acme' },
      body: JSON.stringify([payment('a', 'c1'), payment('b', 'c2'), { id: 'bad' }, payment('c', 'c1')]),
    })
    expect(batch.status).toBe(207)
    const { results } = (await batch.json()) as {
      results: { status: number; partition?: number; offset?: number; field?: string }[]
    }
    expect(results.map((r) => r.status)).toEqual([200, 200, 422, 200])
    expect(results[2]!.field).toBe('card')
    const cloud = await fetch(`${gateway.url}/streams/payments/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({
        specversion: '1.0',
        id: 'ce-1',
        source: '/t',
        type: 'pay',
        data: payment('d', 'c3'),
      }),
    })
    expect(cloud.status).toBe(200)
    const ws = await connectWebSocket(`${gateway.url}/streams/payments/ws`)
    ws.send(JSON.stringify([payment('e', 'c1')]))
    const ack = JSON.parse(await ws.next()) as {
      accepted: number
      results: { partition: number; offset: number }[]
    }
    expect(ack.accepted).toBe(1)
    ws.close()

    const records = await readAll(log)
    const byId = new Map(records.map((r) => [JSON.parse(r.value.toString()).id as string, r]))
    expect([...byId.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e'])
    for (const [i, id] of ['a', 'b', undefined, 'c'].entries()) {
      if (id === undefined) continue
      const record = byId.get(id)!
      expect({ partition: record.partition, offset: record.offset }).toEqual({
        partition: results[i]!.partition,
        offset: results[i]!.offset,
      })
      expect(record.headers).toMatchObject({ 'sluice.schema': 'Payment', 'sluice.tenant': 'acme' })
    }
    // One key, one partition.
    expect(byId.get('a')!.partition).toBe(byId.get('c')!.partition)
    expect(byId.get('e')!.partition).toBe(byId.get('a')!.partition)
    expect(byId.get('d')!.headers).toMatchObject({ ce_id: 'ce-1', ce_source: '/t' })
    expect(byId.get('e')!).toMatchObject({
      partition: ack.results[0]!.partition,
      offset: ack.results[0]!.offset,
    })
  })

  it('sluice serve --kafka: events posted to the gateway flow through the running pipeline to its sink topic', async () => {
    let stop: () => void = () => {}
    let stderr = ''
    let onServing: (url: string) => void = () => {}
    const serving = new Promise<string>((resolve) => {
      onServing = resolve
    })
    const io: CommandIO = {
      stdout: () => {},
      stderr: (text) => {
        stderr += text
        const line = text.split('\n').find((l) => l.includes('"msg":"serving"'))
        if (line) onServing(JSON.parse(line).gateway as string)
      },
      color: false,
      interrupted: new Promise<void>((resolve) => {
        stop = resolve
      }),
    }
    const exit = main(
      [
        'serve',
        '--log-format',
        'json',
        '--kafka',
        kafkaBrokers().join(','),
        '--gateway',
        '127.0.0.1:0',
        '--run',
        artifactDir,
        '--group',
        uniqueName('serve'),
        '--partitions',
        '3',
      ],
      io,
    )
    const url = await Promise.race([
      serving,
      exit.then((code) => Promise.reject(new Error(`serve exited ${code}: ${stderr}`))),
    ])
    const answer = await fetch(`${url}/streams/payments/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: ['s1', 's2', 's3']
        .map((id, i) => JSON.stringify({ id, card: 'c', amount: 100 * (i + 1), ts: 0 }))
        .join('\n'),
    })
    expect(answer.status).toBe(200)
    const log = await connectKafkaLog({ clientId: 'sluice-gateway-test-reader' })
    try {
      const deadline = Date.now() + 60_000
      let sink: LogRecord[] = []
      while (Date.now() < deadline) {
        // The source topic also holds the first test's events: look at this test's only.
        sink = (await readAll(log, `${topic}-large`)).filter((r) =>
          JSON.parse(r.value.toString()).id.startsWith('s'),
        )
        if (sink.length >= 3) break
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
      expect(sink.map((r) => JSON.parse(r.value.toString()).id).sort()).toEqual(['s1', 's2', 's3'])
    } finally {
      await log.close()
    }
    stop()
    expect(await exit).toBe(0)
  })

  it('loses no acknowledged event while the broker restarts under ingestion', async () => {
    const { gateway, log } = await start({ appendTimeoutMs: 20_000 })
    const acknowledged = new Set<string>()
    let answers503 = 0
    /** When each acknowledgement came: a gap shows the outage happened during ingestion. */
    const ackTimes: number[] = []
    let stop = false
    const client = async (name: string) => {
      for (let n = 0; !stop; n++) {
        const events = Array.from({ length: 50 }, (_, i) => payment(`${name}-${n}-${i}`, `card-${i % 7}`))
        for (;;) {
          const answer = await fetch(`${gateway.url}/streams/payments/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(events),
          }).catch(() => null)
          if (answer?.status === 200) {
            for (const e of events) acknowledged.add(e.id)
            ackTimes.push(Date.now())
            break
          }
          if (answer?.status === 503) answers503++
          else if (answer !== null) throw new Error(`unexpected ${answer.status}: ${await answer.text()}`)
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    const clients = [client('x'), client('y')]
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const before = acknowledged.size
    await promisify(execFile)('bash', [join(ROOT, 'scripts/servers/kafka.sh'), 'restart', '3'], {
      env: process.env,
      timeout: 120_000,
    })
    // Keep sending until the gateway acknowledges again after the restart.
    const deadline = Date.now() + 60_000
    const afterRestart = acknowledged.size
    while (acknowledged.size < afterRestart + 500 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    stop = true
    await Promise.all(clients)
    expect(before).toBeGreaterThan(0)
    ackTimes.sort((a, b) => a - b)
    const longestGapMs = Math.max(...ackTimes.slice(1).map((t, i) => t - ackTimes[i]!))
    // The broker was down for 3 s at least while the clients sent: no acknowledgement meanwhile.
    expect(longestGapMs).toBeGreaterThan(2000)
    expect(acknowledged.size).toBeGreaterThanOrEqual(afterRestart + 500)

    const records = await readAll(log)
    const stored = new Set(records.map((r) => JSON.parse(r.value.toString()).id as string))
    const missing = [...acknowledged].filter((id) => !stored.has(id))
    expect(missing).toEqual([])
    const duplicates = records.length - stored.size
    console.log(
      `gateway across a broker restart: ${acknowledged.size} acknowledged, ${records.length} records, ${duplicates} duplicates, ${answers503} answers 503, longest wait for an ack ${longestGapMs} ms`,
    )
  })
})
