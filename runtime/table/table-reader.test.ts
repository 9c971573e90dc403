import { beforeAll, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { logScratch } from '../../test/support/log-scratch.ts'
import { loadArtifact } from '../artifact/load.ts'
import type { TableFunctions } from '../artifact/operators.ts'
import type { EmbeddedLog } from '../log/embedded.ts'
import type { Log, LogRecord } from '../log/index.ts'
import { TableReader, type TableReaderMetrics } from './table-reader.ts'

const PIPE = `
schema Payment { id: string, card: string }
schema Card { number: string, holder: string, limit: f64? }
source payments: Payment from kafka("payments")
table cards: Card from kafka("cards") key by number
stream enriched = payments | lookup cards as c on card
sink enriched -> stdout
`

const scratch = logScratch('sluice-table-reader')
let functions: TableFunctions

beforeAll(async () => {
  const artifact = await loadArtifact(await compileFixture(PIPE, 'table-reader'))
  functions = artifact.operators.tables!.cards!
})

function row(number: string, holder: string, limit: number | null = null): { key: null; value: Buffer } {
  return { key: null, value: Buffer.from(JSON.stringify({ number, holder, limit })) }
}

function tombstone(key: string | null, value = 'null'): { key: string | null; value: Buffer } {
  return { key, value: Buffer.from(value) }
}

interface Harness {
  readonly reader: TableReader
  readonly malformed: { offset: number; reason: string }[]
  readonly applied: string[]
  readonly held: { rows: number; lag: number }[]
}

function readerOn(log: Pick<Log, 'endOffsets' | 'read'>, pollIntervalMs = 10): Harness {
  const malformed: { offset: number; reason: string }[] = []
  const applied: string[] = []
  const held: { rows: number; lag: number }[] = []
  const metrics: TableReaderMetrics = {
    applied: (table) => void applied.push(table),
    held: (_table, rows, lag) => void held.push({ rows, lag }),
  }
  const reader = new TableReader({
    log,
    name: 'cards',
    topic: 'cards',
    functions,
    onMalformed: async (record: LogRecord, reason: string) => {
      malformed.push({ offset: record.offset, reason })
    },
    pollIntervalMs,
    metrics,
  })
  return { reader, malformed, applied, held }
}

async function openWithCards(partitions = 1): Promise<{ log: EmbeddedLog; dir: string }> {
  const dir = await scratch.newDir()
  const log = await scratch.openLog(dir, { durability: 'none' })
  await log.ensureTopic('cards', { partitions })
  return { log, dir }
}

/** Resolves once `check` holds, polling; fails the test after `timeoutMs`. */
async function eventually(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('TableReader', () => {
  it('keeps the latest row per key; a tombstone (null or empty value) deletes the row of its record key', async () => {
    const { log } = await openWithCards()
    await log.append('cards', [
      row('c1', 'Ada'),
      row('c2', 'Grace', 50),
      row('c1', 'Ada L.', 500),
      tombstone('c2'),
      row('c3', 'Linus'),
      tombstone('c3', ''),
      tombstone('c4', '  null\n'),
      row('c2', 'Grace H.'),
    ])
    const { reader, malformed, applied, held } = readerOn(log)
    await reader.catchUp()
    expect(reader.rows.get('c1')).toEqual({ number: 'c1', holder: 'Ada L.', limit: 500 })
    expect(reader.rows.get('c2')).toEqual({ number: 'c2', holder: 'Grace H.', limit: null })
    expect(reader.rows.get('c3')).toBeUndefined()
    expect(reader.rows.size).toBe(2)
    expect(malformed).toEqual([])
    // A tombstone of a key the table does not hold still counts as applied: it changed nothing, rightly.
    expect(applied).toHaveLength(8)
    expect(held.at(-1)).toEqual({ rows: 2, lag: 0 })
  })

  it('hands malformed records to onMalformed with the reason and goes on; they change no row', async () => {
    const { log } = await openWithCards()
    await log.append('cards', [
      row('c1', 'Ada'),
      { key: null, value: Buffer.from('{"number": "c1", "holder": 7}') },
      { key: null, value: Buffer.from('not json') },
      tombstone(null),
      { key: null, value: Buffer.from([0x7b, 0xff, 0x7d]) },
      { key: null, value: Buffer.from('{"holder": "nobody"}') },
      row('c2', 'Grace'),
    ])
    const { reader, malformed } = readerOn(log)
    await reader.catchUp()
    expect(reader.rows.get('c1')).toEqual({ number: 'c1', holder: 'Ada', limit: null })
    expect(reader.rows.get('c2')).toMatchObject({ holder: 'Grace' })
    expect(malformed.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5])
    expect(malformed[0]!.reason).toMatch(/^holder: expected a string/)
    expect(malformed[1]!.reason).toMatch(/^invalid JSON/)
    expect(malformed[2]!.reason).toMatch(/^a tombstone \(an empty or null value\) needs a record key/)
    expect(malformed[3]!.reason).toMatch(/not valid UTF-8/)
    expect(malformed[4]!.reason).toMatch(/^number: expected a string/)
  })

  it('reads every partition, and rebuilds the same rows from the topic after a restart', async () => {
    const { log, dir } = await openWithCards(3)
    const rows = Array.from({ length: 30 }, (_, i) => ({ ...row(`c${i % 7}`, `h${i}`), partition: i % 3 }))
    await log.append('cards', rows)
    const first = readerOn(log)
    await first.reader.catchUp()
    const before = new Map(Array.from({ length: 7 }, (_, k) => [`c${k}`, first.reader.rows.get(`c${k}`)]))
    // Each key's latest row is its last in its own partition; several partitions hold a key here,
    // so which row wins follows the order partitions are read: the same on every start.
    expect(first.reader.rows.size).toBe(7)
    await scratch.closeLogs()
    const reopened = await scratch.openLog(dir, { durability: 'none' })
    const second = readerOn(reopened)
    await second.reader.catchUp()
    for (const [key, value] of before) expect(second.reader.rows.get(key)).toEqual(value)
  })

  it('catches up to the end offsets of its first call, and follows new records once told to', async () => {
    const { log } = await openWithCards()
    await log.append('cards', [row('c1', 'Ada')])
    const { reader, held } = readerOn(log)
    await reader.catchUp()
    await log.append('cards', [row('c2', 'Grace')])
    await new Promise((r) => setTimeout(r, 40))
    expect(reader.rows.get('c2')).toBeUndefined()
    reader.follow()
    await eventually(() => reader.rows.get('c2') !== undefined)
    await log.append('cards', [row('c1', 'Ada L.'), tombstone('c2')])
    await eventually(() => reader.rows.get('c2') === undefined)
    expect(reader.rows.get('c1')).toMatchObject({ holder: 'Ada L.' })
    expect(held.at(-1)).toEqual({ rows: 1, lag: 0 })
    await reader.stop()
    await log.append('cards', [row('c3', 'Linus')])
    await new Promise((r) => setTimeout(r, 60))
    expect(reader.rows.get('c3')).toBeUndefined()
  })

  it('steps over offsets with no record below the end (compaction, aborted transactions)', async () => {
    const records = [row('c1', 'Ada'), row('c2', 'Grace')].map((r, i) => ({
      topic: 'cards',
      partition: 0,
      offset: i * 5,
      key: r.key,
      value: r.value,
      headers: {},
      timestamp: 0,
    }))
    const log: Pick<Log, 'endOffsets' | 'read'> = {
      endOffsets: async () => [12],
      read: async (_topic, _partition, from, max) => records.filter((r) => r.offset >= from).slice(0, max),
    }
    const { reader, held } = readerOn(log)
    await reader.catchUp()
    expect(reader.rows.size).toBe(2)
    expect(held.at(-1)).toEqual({ rows: 2, lag: 0 })
  })

  it('keeps following after the log fails for a while, and stop() ends a reader that waits out a failure', async () => {
    const { log } = await openWithCards()
    let failing = false
    const flaky: Pick<Log, 'endOffsets' | 'read'> = {
      endOffsets: async (topic) => {
        if (failing) throw new Error('broker away')
        return log.endOffsets(topic)
      },
      read: (topic, partition, from, max) => log.read(topic, partition, from, max),
    }
    const { reader } = readerOn(flaky)
    await reader.catchUp()
    failing = true
    reader.follow()
    await log.append('cards', [row('c9', 'Later')])
    await new Promise((r) => setTimeout(r, 50))
    expect(reader.rows.get('c9')).toBeUndefined()
    failing = false
    await eventually(() => reader.rows.get('c9') !== undefined)
    failing = true
    await new Promise((r) => setTimeout(r, 30))
    await reader.stop()
  })
})
