import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'
import { isSluiceError } from '../errors.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import type { Log, LogRecord } from '../log/index.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import {
  ARTIFACT_HEADER,
  DEAD_LETTER_HEADERS,
  DEFAULT_DEAD_LETTER_TOPIC,
  PipelineRunner,
} from './pipeline-runner.ts'

const PIPE = `
schema Order { id: string, customer: string, qty: i64, price: f64, ts: timestamp @event_time }
source orders: Order from kafka("orders") watermark ts - 2s

stream big = orders
  | where qty > 0
  | select { id, customer, total: price * to_f64(qty), per_unit: qty / (qty - 5), ts }
  | key by customer

stream printed = big | where total > 100.0 | select { id, total }

sink big -> kafka("big-orders")
sink printed -> stdout
`

let dataDir: string
let log: Log
let artifactDir: string

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sluice-runner-'))
  log = await EmbeddedLog.open(dataDir, { fsync: 'never' })
  artifactDir = await compileFixture(PIPE, 'orders', 'orders.pipe')
})

afterEach(async () => {
  await log.close()
  await rm(dataDir, { recursive: true, force: true })
})

function order(id: string, qty: number, price = 50, ts = 1_700_000_000_000): Buffer {
  return Buffer.from(JSON.stringify({ id, customer: `c-${id}`, qty, price, ts }))
}

async function readAll(topic: string): Promise<LogRecord[]> {
  return log.read(topic, 0, 0, 10_000)
}

async function runUntilCaughtUp(metrics = new MetricsRegistry(), stdout: string[] = []) {
  const runner = await PipelineRunner.start({
    log,
    artifact: await loadArtifact(artifactDir),
    metrics,
    stdout: (text) => void stdout.push(text),
  })
  await runner.waitUntilCaughtUp(20_000)
  await runner.stop()
  await runner.done
  return { metrics, stdout }
}

describe('PipelineRunner', () => {
  it('runs the compiled chains and writes keyed output stamped with the artifact hash', async () => {
    await log.ensureTopic('orders')
    await log.append('orders', [
      { key: null, value: order('a', 2) },
      { key: null, value: order('b', 0) },
      { key: null, value: order('c', 4, 30) },
    ])
    const { stdout, metrics } = await runUntilCaughtUp()

    const out = await readAll('big-orders')
    expect(out.map((r) => JSON.parse(r.value.toString()))).toEqual([
      { id: 'a', customer: 'c-a', total: 100, per_unit: 0, ts: '2023-11-14T22:13:20.000Z' },
      { id: 'c', customer: 'c-c', total: 120, per_unit: -4, ts: '2023-11-14T22:13:20.000Z' },
    ])
    expect(out.map((r) => r.key)).toEqual(['c-a', 'c-c'])
    expect(out[0]!.timestamp).toBe(1_700_000_000_000)
    const { manifest } = await loadArtifact(artifactDir)
    expect(out[0]!.headers[ARTIFACT_HEADER]).toBe(manifest.contentHash)
    expect(stdout.join('')).toBe('{"id":"c","total":120}\n')
    expect(metrics.find('sluice_events_in_total')?.total()).toBe(3)
    expect(metrics.find('sluice_events_out_total')?.total()).toBe(3)
    expect(metrics.find('sluice_watermark_seconds')?.value({ source: 'orders' })).toBe(
      (1_700_000_000_000 - 2000) / 1000,
    )
  })

  it('dead-letters malformed and failing events with the reason, the .pipe location and the origin', async () => {
    await log.ensureTopic('orders')
    await log.append('orders', [
      { key: 'k1', value: Buffer.from('{not json'), headers: { trace: 't1' } },
      {
        key: null,
        value: Buffer.from(JSON.stringify({ id: 'x', customer: 'c', qty: 'many', price: 1, ts: 0 })),
      },
      { key: null, value: order('boom', 5) }, // qty / (qty - 5) divides by zero
      { key: null, value: order('ok', 1) },
    ])
    const { metrics } = await runUntilCaughtUp()

    expect((await readAll('big-orders')).map((r) => JSON.parse(r.value.toString()).id)).toEqual(['ok'])
    const dead = await readAll(DEFAULT_DEAD_LETTER_TOPIC)
    expect(dead).toHaveLength(3)
    const [json, schema, evaluation] = dead
    expect(json!.value.toString()).toBe('{not json')
    expect(json!.key).toBe('k1')
    expect(json!.headers.trace).toBe('t1')
    expect(json!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/^invalid JSON/)
    expect(json!.headers[DEAD_LETTER_HEADERS.stage]).toBe('decode')
    expect(json!.headers[DEAD_LETTER_HEADERS.offset]).toBe('0')
    expect(json!.headers[DEAD_LETTER_HEADERS.topic]).toBe('orders')
    expect(schema!.headers[DEAD_LETTER_HEADERS.reason]).toBe(
      'qty: expected an integer within ±(2^53-1), got the string "many"',
    )
    const line = PIPE.split('\n').findIndex((l) => l.includes('qty / (qty - 5)')) + 1
    const column = PIPE.split('\n')[line - 1]!.indexOf('qty / (qty - 5)') + 1
    expect(evaluation!.headers[DEAD_LETTER_HEADERS.stage]).toBe('evaluate')
    expect(evaluation!.headers[DEAD_LETTER_HEADERS.location]).toBe(`orders.pipe:${line}:${column}`)
    expect(evaluation!.headers[DEAD_LETTER_HEADERS.reason]).toBe(
      `integer division by zero (at orders.pipe:${line}:${column})`,
    )
    expect(evaluation!.headers[DEAD_LETTER_HEADERS.offset]).toBe('2')
    expect(metrics.find('sluice_dead_letters_total')?.total()).toBe(3)
  })

  it('resumes after a restart from the committed offsets: no event twice, none lost', async () => {
    await log.ensureTopic('orders')
    await log.append('orders', [{ key: null, value: order('a', 1) }])
    await runUntilCaughtUp()
    await log.append('orders', [
      { key: null, value: order('b', 1) },
      { key: null, value: order('c', 1) },
    ])
    await runUntilCaughtUp()
    expect((await readAll('big-orders')).map((r) => JSON.parse(r.value.toString()).id)).toEqual([
      'a',
      'b',
      'c',
    ])
  })

  it('keeps its place across a close and reopen of the embedded log', async () => {
    await log.ensureTopic('orders')
    await log.append('orders', [{ key: null, value: order('a', 1) }])
    await runUntilCaughtUp()
    await log.close()
    log = await EmbeddedLog.open(dataDir, { fsync: 'never' })
    await log.append('orders', [{ key: null, value: order('b', 1) }])
    await runUntilCaughtUp()
    expect((await readAll('big-orders')).map((r) => JSON.parse(r.value.toString()).id)).toEqual(['a', 'b'])
  })

  it('refuses to read its own dead-letter topic, which would retry every failure forever', async () => {
    const artifact = await loadArtifact(artifactDir)
    const error = await PipelineRunner.start({
      log,
      artifact,
      metrics: new MetricsRegistry(),
      deadLetterTopic: 'orders',
    }).catch((e: unknown) => e)
    expect(isSluiceError(error, 'CONFIG_INVALID')).toBe(true)
    expect((error as Error).message).toMatch(/source `orders` reads `orders`, the dead-letter topic/)
    expect((error as Error).message).toContain('pass another --dead-letter-topic')
    // Refused before creating any topic.
    const unknown = await log.partitions('big-orders').catch((e: unknown) => e)
    expect(isSluiceError(unknown, 'LOG_UNKNOWN_TOPIC')).toBe(true)

    const fromDeadLetters = await compileFixture(
      `schema E { id: string }\nsource e: E from kafka("${DEFAULT_DEAD_LETTER_TOPIC}")\nsink e -> stdout\n`,
      'dlq',
    )
    const defaulted = await PipelineRunner.start({
      log,
      artifact: await loadArtifact(fromDeadLetters),
      metrics: new MetricsRegistry(),
    }).catch((e: unknown) => e)
    expect(isSluiceError(defaulted, 'CONFIG_INVALID')).toBe(true)
    const elsewhere = await PipelineRunner.start({
      log,
      artifact: await loadArtifact(fromDeadLetters),
      metrics: new MetricsRegistry(),
      deadLetterTopic: 'dlq.failures',
      stdout: () => {},
    })
    await elsewhere.stop()
    await elsewhere.done
  })
})

describe('loadArtifact', () => {
  it('refuses an artifact whose files changed after compilation', async () => {
    const js = join(artifactDir, 'operators.mjs')
    await writeFile(js, '// tampered\n', { flag: 'a' })
    const error = await loadArtifact(artifactDir).catch((e: unknown) => e)
    expect(isSluiceError(error, 'ARTIFACT_HASH_MISMATCH')).toBe(true)
  })

  it('explains a missing or foreign directory', async () => {
    const missing = await loadArtifact(join(dataDir, 'nope')).catch((e: unknown) => e)
    expect(isSluiceError(missing, 'ARTIFACT_NOT_FOUND')).toBe(true)
    const empty = await loadArtifact(dataDir).catch((e: unknown) => e)
    expect(isSluiceError(empty, 'ARTIFACT_NOT_FOUND')).toBe(true)
  })

  it('rejects a manifest of an unsupported format version', async () => {
    const manifestPath = join(artifactDir, 'manifest.json')
    const { readFile } = await import('node:fs/promises')
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'))
    await writeFile(manifestPath, JSON.stringify({ ...manifest, formatVersion: 99 }))
    const error = await loadArtifact(artifactDir).catch((e: unknown) => e)
    expect(isSluiceError(error, 'ARTIFACT_INVALID')).toBe(true)
    expect((error as Error).message).toMatch(/format version 99 is not supported/)
  })
})
