/**
 * A stream-table lookup in distributed mode: the PipelineRunner on a real Kafka broker enriches
 * payments with the rows of a card table whose changelog topic has two partitions (rows keyed by
 * card number). The table is loaded in full before the first payment is processed; an update and a
 * tombstone appended while the node runs reach the payments processed after them; a second node
 * started afterwards rebuilds the table from the topic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { readTopic } from '../support/read-topic.ts'
import { connectKafkaLog, uniqueName } from './kafka-env.ts'

const payments = uniqueName('lookup-payments')
const cards = uniqueName('lookup-cards')
const enriched = uniqueName('lookup-enriched')
const deadLetterTopic = uniqueName('lookup-dead')

const PIPE = `
schema Payment { id: string, card: string, amount: f64 }
schema Card { number: string, holder: string, country: string? }
source payments: Payment from kafka("${payments}")
table cards: Card from kafka("${cards}") key by number
stream enriched = payments
  | lookup cards as c on card or null
  | select { id, holder: c.holder ?? "unknown", country: c.country, amount }
sink enriched -> kafka("${enriched}")
`

let log: KafkaLog

beforeAll(async () => {
  log = await connectKafkaLog()
  await log.ensureTopic(payments, { partitions: 2 })
  await log.ensureTopic(cards, { partitions: 2 })
})

afterAll(async () => {
  await log.close()
})

function card(number: string, holder: string, country: string | null = null) {
  return { key: number, value: Buffer.from(JSON.stringify({ number, holder, country })) }
}

function payment(id: string, cardNumber: string) {
  return { key: id, value: Buffer.from(JSON.stringify({ id, card: cardNumber, amount: 1.5 })) }
}

async function outputs(): Promise<Map<string, unknown>> {
  const byId = new Map<string, unknown>()
  for (const record of await readTopic(log, enriched)) {
    const value = JSON.parse(record.value.toString()) as { id: string }
    byId.set(value.id, value)
  }
  return byId
}

async function eventually(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('lookup against a table topic on Kafka', () => {
  it('enriches a stream from the table, and sees updates that arrive while it runs', async () => {
    const artifactDir = await compileFixture(PIPE, 'lookup-kafka')
    await log.append(
      cards,
      Array.from({ length: 40 }, (_, i) => card(`c${i}`, `holder ${i}`, i % 2 === 0 ? 'GB' : null)),
    )
    await log.append(payments, [payment('p1', 'c1'), payment('p2', 'c38'), payment('p3', 'nope')])
    const metrics = new MetricsRegistry()
    const common = { log, metrics, deadLetterTopic, partitions: 2, tablePollIntervalMs: 100 }
    const runner = await PipelineRunner.start({
      ...common,
      artifact: await loadArtifact(artifactDir),
      group: uniqueName('lookup-group'),
    })
    try {
      await runner.waitUntilCaughtUp(90_000)
      await log.append(cards, [
        card('c1', 'holder one, moved', 'FR'),
        { key: 'c38', value: Buffer.from('null') },
      ])
      await eventually(() => metrics.find('sluice_table_updates_total')?.total() === 42)
      expect(metrics.find('sluice_table_rows')?.value({ table: 'cards' })).toBe(39)
      await log.append(payments, [payment('p4', 'c1'), payment('p5', 'c38')])
      await runner.waitUntilCaughtUp(90_000)
    } finally {
      await runner.stop()
    }
    const out = await outputs()
    expect(out.get('p1')).toEqual({ id: 'p1', holder: 'holder 1', country: null, amount: 1.5 })
    expect(out.get('p2')).toEqual({ id: 'p2', holder: 'holder 38', country: 'GB', amount: 1.5 })
    expect(out.get('p3')).toEqual({ id: 'p3', holder: 'unknown', country: null, amount: 1.5 })
    expect(out.get('p4')).toEqual({ id: 'p4', holder: 'holder one, moved', country: 'FR', amount: 1.5 })
    expect(out.get('p5')).toEqual({ id: 'p5', holder: 'unknown', country: null, amount: 1.5 })

    // Another node (a new group, so it reads the payments again) rebuilds the table from the
    // topic: every payment now sees the rows as they are at its start.
    const second = await PipelineRunner.start({
      ...common,
      metrics: new MetricsRegistry(),
      artifact: await loadArtifact(artifactDir),
      group: uniqueName('lookup-group'),
    })
    await second.waitUntilCaughtUp(90_000)
    await second.stop()
    const again = (await readTopic(log, enriched)).map(
      (r) => JSON.parse(r.value.toString()) as { id: string },
    )
    const replayed = again.filter((v) => v.id === 'p1').at(-1)
    expect(replayed).toEqual({ id: 'p1', holder: 'holder one, moved', country: 'FR', amount: 1.5 })
  })
})
