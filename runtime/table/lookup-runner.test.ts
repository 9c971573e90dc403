/**
 * Lookups in a running node (runtime/node/pipeline-runner.ts with its TableReaders) on the embedded
 * log: the table is loaded in full before the first event, updates that arrive while it runs reach
 * the events processed after them, a restart rebuilds the table from its topic, and malformed
 * table records are dead-lettered.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { logScratch } from '../../test/support/log-scratch.ts'
import { loadArtifact } from '../artifact/load.ts'
import type { EmbeddedLog } from '../log/embedded.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_TOPIC, PipelineRunner } from '../node/pipeline-runner.ts'

const PIPE = `
schema Payment { id: string, card: string, amount: f64 }
schema Card { number: string, holder: string }
source payments: Payment from kafka("payments")
table cards: Card from kafka("cards") key by number
stream enriched = payments
  | lookup cards as c on card
  | select { id, holder: c.holder, amount }
sink enriched -> kafka("enriched")
`

const scratch = logScratch('sluice-lookup-runner')
let dir: string
let log: EmbeddedLog
let artifactDir: string

beforeEach(async () => {
  dir = await scratch.newDir()
  log = await scratch.openLog(dir, { durability: 'none' })
  artifactDir ??= await compileFixture(PIPE, 'lookup-runner')
  await log.ensureTopic('cards')
  await log.ensureTopic('payments')
})

afterEach(async () => {
  await scratch.closeLogs()
})

function card(number: string, holder: string) {
  return { key: number, value: Buffer.from(JSON.stringify({ number, holder })) }
}

function payment(id: string, cardNumber: string, amount = 1) {
  return { key: null, value: Buffer.from(JSON.stringify({ id, card: cardNumber, amount })) }
}

async function enriched(): Promise<unknown[]> {
  return (await log.read('enriched', 0, 0, 100_000)).map((r) => JSON.parse(r.value.toString()))
}

async function start(metrics = new MetricsRegistry()) {
  return PipelineRunner.start({
    log,
    artifact: await loadArtifact(artifactDir),
    metrics,
    tablePollIntervalMs: 10,
  })
}

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('lookups in a running node', () => {
  it('loads the whole table (several reads of it) before it processes the first event', async () => {
    const cards = Array.from({ length: 2500 }, (_, i) => card(`c${i}`, `h${i}`))
    await log.append('cards', cards)
    await log.append('payments', [payment('p1', 'c2499'), payment('p2', 'c0'), payment('p3', 'none')])
    const metrics = new MetricsRegistry()
    const runner = await start(metrics)
    await runner.waitUntilCaughtUp()
    await runner.stop()
    expect(await enriched()).toEqual([
      { id: 'p1', holder: 'h2499', amount: 1 },
      { id: 'p2', holder: 'h0', amount: 1 },
    ])
    expect(metrics.find('sluice_table_rows')?.value({ table: 'cards' })).toBe(2500)
    expect(metrics.find('sluice_table_updates_total')?.total()).toBe(2500)
    expect(metrics.find('sluice_table_lag_records')?.value({ table: 'cards' })).toBe(0)
    expect(metrics.find('sluice_lookup_misses_total')?.total()).toBe(1)
  })

  it('reads updates that arrive while it runs: events after an update see the new row', async () => {
    await log.append('cards', [card('c1', 'Ada')])
    const metrics = new MetricsRegistry()
    const runner = await start(metrics)
    try {
      await log.append('payments', [payment('p1', 'c1'), payment('p2', 'c2')])
      await runner.waitUntilCaughtUp()
      await log.append('cards', [card('c1', 'Ada L.'), card('c2', 'Grace')])
      await eventually(() => metrics.find('sluice_table_updates_total')?.total() === 3)
      await log.append('payments', [payment('p3', 'c1'), payment('p4', 'c2')])
      await runner.waitUntilCaughtUp()
      await log.append('cards', [{ key: 'c2', value: Buffer.from('null') }])
      await eventually(() => metrics.find('sluice_table_rows')?.value({ table: 'cards' }) === 1)
      await log.append('payments', [payment('p5', 'c2')])
      await runner.waitUntilCaughtUp()
    } finally {
      await runner.stop()
    }
    expect(await enriched()).toEqual([
      { id: 'p1', holder: 'Ada', amount: 1 },
      { id: 'p3', holder: 'Ada L.', amount: 1 },
      { id: 'p4', holder: 'Grace', amount: 1 },
    ])
  })

  it('rebuilds the table from its topic when it starts again', async () => {
    await log.append('cards', [card('c1', 'Ada'), card('c2', 'Grace')])
    const first = await start()
    await first.stop()
    await log.append('cards', [card('c2', 'Grace H.')])
    await log.append('payments', [payment('p1', 'c1'), payment('p2', 'c2')])
    const second = await start()
    await second.waitUntilCaughtUp()
    await second.stop()
    expect(await enriched()).toEqual([
      { id: 'p1', holder: 'Ada', amount: 1 },
      { id: 'p2', holder: 'Grace H.', amount: 1 },
    ])
  })

  it('dead-letters a malformed table record with the reason and where it came from, and goes on', async () => {
    await log.append('cards', [card('c1', 'Ada'), { key: 'c2', value: Buffer.from('{"number": "c2"}') }])
    await log.append('payments', [payment('p1', 'c1'), payment('p2', 'c2')])
    const runner = await start()
    await runner.waitUntilCaughtUp()
    await runner.stop()
    expect(await enriched()).toEqual([{ id: 'p1', holder: 'Ada', amount: 1 }])
    const dead = await log.read(DEFAULT_DEAD_LETTER_TOPIC, 0, 0, 100)
    expect(dead).toHaveLength(1)
    expect(dead[0]!.value.toString()).toBe('{"number": "c2"}')
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.topic]).toBe('cards')
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.offset]).toBe('1')
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/^holder: expected a string/)
  })
})

describe('lookups under exactly-once delivery', () => {
  it('work in transactions, and dead-letter a malformed table record outside them', async () => {
    await log.append('cards', [card('c1', 'Ada'), { key: null, value: Buffer.from('not json') }])
    await log.append('payments', [payment('p1', 'c1'), payment('p2', 'c9')])
    const metrics = new MetricsRegistry()
    const runner = await PipelineRunner.start({
      log,
      artifact: await loadArtifact(artifactDir),
      metrics,
      delivery: 'exactly-once',
      checkpointIntervalMs: 0,
      tablePollIntervalMs: 10,
    })
    try {
      await runner.waitUntilCaughtUp()
      await log.append('cards', [card('c9', 'Late')])
      await eventually(() => metrics.find('sluice_table_updates_total')?.total() === 2)
      await log.append('payments', [payment('p3', 'c9')])
      await runner.waitUntilCaughtUp()
    } finally {
      await runner.stop()
    }
    expect(await enriched()).toEqual([
      { id: 'p1', holder: 'Ada', amount: 1 },
      { id: 'p3', holder: 'Late', amount: 1 },
    ])
    const dead = await log.read(DEFAULT_DEAD_LETTER_TOPIC, 0, 0, 100)
    expect(dead.map((d) => d.headers[DEAD_LETTER_HEADERS.reason])).toEqual([
      expect.stringMatching(/^invalid JSON/),
    ])
  })
})

const AS_OF_PIPE = `
schema Trade { id: string, pair: string, at: timestamp @event_time }
schema Rate { pair: string, rate: f64, valid_from: timestamp @event_time }
source trades: Trade from kafka("trades")
table rates: Rate from kafka("rates") key by pair
stream priced = trades
  | lookup rates as r on pair as of at or null
  | select { id, rate: r.rate }
sink priced -> kafka("priced")
`

describe('temporal lookups in a running node', () => {
  it('find the version valid at the event time, also one that arrived after newer versions', async () => {
    const artifact = await loadArtifact(await compileFixture(AS_OF_PIPE, 'lookup-as-of-runner'))
    const rate = (rateValue: number, validFrom: string) => ({
      key: 'EURUSD',
      value: Buffer.from(JSON.stringify({ pair: 'EURUSD', rate: rateValue, valid_from: validFrom })),
    })
    const trade = (id: string, at: string) => ({
      key: null,
      value: Buffer.from(JSON.stringify({ id, pair: 'EURUSD', at })),
    })
    await log.ensureTopic('rates')
    await log.ensureTopic('trades')
    await log.append('rates', [rate(1.5, '2024-03-01T10:00:00Z'), rate(2, '2024-03-01T12:00:00Z')])
    const metrics = new MetricsRegistry()
    const runner = await PipelineRunner.start({ log, artifact, metrics, tablePollIntervalMs: 10 })
    try {
      await log.append('trades', [trade('t1', '2024-03-01T11:30:00Z'), trade('t2', '2024-03-01T12:30:00Z')])
      await runner.waitUntilCaughtUp()
      // A version from 11:00, read after the 12:00 one: it serves 11:00 to 12:00 from now on.
      await log.append('rates', [rate(1.25, '2024-03-01T11:00:00Z')])
      await eventually(() => metrics.find('sluice_table_updates_total')?.total() === 3)
      await log.append('trades', [
        trade('t3', '2024-03-01T11:30:00Z'),
        trade('t4', '2024-03-01T12:30:00Z'),
        trade('t5', '2024-03-01T09:00:00Z'),
      ])
      await runner.waitUntilCaughtUp()
    } finally {
      await runner.stop()
    }
    const priced = (await log.read('priced', 0, 0, 100)).map((r) => JSON.parse(r.value.toString()))
    expect(priced).toEqual([
      { id: 't1', rate: 1.5 },
      { id: 't2', rate: 2 },
      { id: 't3', rate: 1.25 },
      { id: 't4', rate: 2 },
      { id: 't5', rate: null },
    ])
  })
})
