/**
 * The runner against a log that fails the way real ones do: unavailable for a while (a broker
 * restart), refusing records it will never take, ending a subscription under the runner. Each
 * failure is injected by a thin wrapper around a real EmbeddedLog, so everything else is real.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { loadArtifact } from '../artifact/load.ts'
import { SluiceError } from '../errors.ts'
import { EmbeddedLog } from '../log/embedded.ts'
import { ForwardingLog } from '../log/forwarding-log.ts'
import type {
  AppendOptions,
  OutgoingRecord,
  RecordBatch,
  RecordPosition,
  SubscribeOptions,
  Subscription,
} from '../log/index.ts'
import { MetricsRegistry } from '../metrics/registry.ts'
import { createLogger } from '../observability/logger.ts'
import {
  ARTIFACT_HEADER,
  DEAD_LETTER_HEADERS,
  DEFAULT_DEAD_LETTER_TOPIC,
  PipelineRunner,
} from './pipeline-runner.ts'

const PIPE = `
schema Order { id: string, qty: i64, ts: timestamp @event_time }
source orders: Order from kafka("orders")
stream out = orders | where qty > 0 | select { id, copies: id + id + id + id + id + id + id + id, ts }
sink out -> kafka("out")
sink out -> kafka("out-appended") timestamp append
`

/** Forwards to a real log; tests set the failures it injects. */
class FaultyLog extends ForwardingLog {
  /** Appends to these topics fail with a retryable KAFKA_UNAVAILABLE while the count is above 0. */
  failAppends = new Map<string, number>()
  /** The first failing append writes this many leading records before failing (as Kafka can). */
  partialBeforeFailure = 0
  private subscriptions: { inner: Subscription; fail: (error: unknown) => void }[] = []

  override async append(
    topic: string,
    records: readonly OutgoingRecord[],
    options?: AppendOptions,
  ): Promise<RecordPosition[]> {
    const failures = this.failAppends.get(topic) ?? 0
    if (failures > 0) {
      this.failAppends.set(topic, failures - 1)
      const written = Math.min(this.partialBeforeFailure, records.length)
      this.partialBeforeFailure = 0
      if (written > 0) await this.inner.append(topic, records.slice(0, written), options)
      throw new SluiceError('KAFKA_UNAVAILABLE', 'broker went away (injected)', {
        retryable: true,
        appended: written,
      })
    }
    return this.inner.append(topic, records, options)
  }

  override async subscribe(
    options: SubscribeOptions,
    handler: (batch: RecordBatch) => Promise<void>,
  ): Promise<Subscription> {
    const inner = await this.inner.subscribe(options, handler)
    let fail!: (error: unknown) => void
    const failed = new Promise<never>((_, reject) => {
      fail = reject
    })
    const done = Promise.race([inner.done, failed])
    done.catch(() => {})
    this.subscriptions.push({ inner, fail })
    return { stop: () => inner.stop(), done }
  }

  /** Ends the newest subscription as a client does that gave up on an unreachable cluster. */
  async dropSubscription(): Promise<void> {
    const last = this.subscriptions.at(-1)!
    last.fail(new SluiceError('KAFKA_UNAVAILABLE', 'consumer crashed (injected)', { retryable: true }))
    await last.inner.stop()
  }

  get subscriptionCount(): number {
    return this.subscriptions.length
  }
}

let dataDir: string
let embedded: EmbeddedLog
let log: FaultyLog
let artifactDir: string
const logLines: Record<string, unknown>[] = []

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sluice-resilience-'))
  // Outputs of 8 copies of a long id are over the limit; the inputs and their dead letters are not.
  embedded = await EmbeddedLog.open(dataDir, { fsync: 'never', maxRecordBytes: 1200 })
  log = new FaultyLog(embedded)
  artifactDir = await compileFixture(PIPE, 'resilience', 'resilience.pipe')
  logLines.length = 0
})

afterEach(async () => {
  await embedded.close()
  await rm(dataDir, { recursive: true, force: true })
})

function order(id: string, qty = 1, ts = 1_700_000_000_000): Buffer {
  return Buffer.from(JSON.stringify({ id, qty, ts }))
}

async function startRunner(metrics = new MetricsRegistry(), signal?: AbortSignal): Promise<PipelineRunner> {
  return PipelineRunner.start({
    log,
    artifact: await loadArtifact(artifactDir),
    metrics,
    retryBackoff: { initialMs: 1, maxMs: 5 },
    logger: createLogger({ level: 'debug', write: (line) => void logLines.push(JSON.parse(line)) }),
    ...(signal ? { signal } : {}),
  })
}

async function ids(topic: string): Promise<string[]> {
  return (await embedded.read(topic, 0, 0, 10_000)).map((r) => JSON.parse(r.value.toString()).id)
}

describe('PipelineRunner while the log is unavailable', () => {
  it('retries a failed append with back-off, sends only what was not acknowledged, and reports not ready meanwhile', async () => {
    await log.ensureTopic('orders')
    await log.ensureTopic('out')
    await log.append(
      'orders',
      ['a', 'b', 'c', 'd'].map((id) => ({ key: null, value: order(id) })),
    )
    log.failAppends.set('out', 3)
    log.partialBeforeFailure = 2
    const metrics = new MetricsRegistry()
    const readiness: number[] = []
    const runner = await startRunner(metrics)
    const watch = setInterval(() => readiness.push(metrics.find('sluice_ready')!.value()), 0)
    await runner.waitUntilCaughtUp(10_000)
    clearInterval(watch)
    await runner.stop()
    await runner.done

    // Every output once, in order, although the first failed append had written two of them.
    expect(await ids('out')).toEqual(['a', 'b', 'c', 'd'])
    expect(log.failAppends.get('out')).toBe(0)
    expect(
      metrics.find('sluice_append_errors_total')!.value({ topic: 'out', code: 'KAFKA_UNAVAILABLE' }),
    ).toBe(3)
    const messages = logLines.map((l) => l.msg)
    expect(
      messages.filter((m) => m === 'log unavailable; retrying with back-off until it answers'),
    ).toHaveLength(1)
    expect(messages).toContain('log available again')
    expect(readiness.at(-1)).toBe(1)
  })

  it('subscribes again when the log ends its subscription with a retryable error, and goes on', async () => {
    await log.ensureTopic('orders')
    await log.append('orders', [{ key: null, value: order('a') }])
    const runner = await startRunner()
    await runner.waitUntilCaughtUp(10_000)
    await log.dropSubscription()
    await log.append('orders', [{ key: null, value: order('b') }])
    await runner.waitUntilCaughtUp(10_000)
    expect(log.subscriptionCount).toBe(2)
    await runner.stop()
    await runner.done
    expect(await ids('out')).toEqual(['a', 'b'])
  })

  it('waits at start while the log is unavailable, and a stop (abort) then ends it cleanly', async () => {
    await log.ensureTopic('orders')
    const unavailable = new SluiceError('KAFKA_UNAVAILABLE', 'no broker (injected)', { retryable: true })
    let attempts = 0
    log.ensureTopic = async () => {
      attempts++
      throw unavailable
    }
    const abort = new AbortController()
    const starting = startRunner(new MetricsRegistry(), abort.signal)
    while (attempts < 3) await new Promise((r) => setTimeout(r, 1))
    abort.abort()
    const runner = await starting
    await runner.done
    expect(runner.ready).toBe(false)
  })

  it('fails for good on an error retrying cannot fix', async () => {
    await log.ensureTopic('orders')
    await log.append('orders', [{ key: null, value: order('a') }])
    log.append = async () => {
      throw new SluiceError('LOG_CLOSED', 'closed (injected)')
    }
    const runner = await startRunner()
    await expect(runner.done).rejects.toThrow('closed (injected)')
  })
})

describe('PipelineRunner and records the log refuses', () => {
  it('dead-letters the source event of an output the log refuses, with the log’s reason, and writes the rest', async () => {
    await log.ensureTopic('orders')
    const long = 'x'.repeat(140)
    await log.append('orders', [
      { key: null, value: order('a') },
      { key: null, value: order(long) },
      { key: null, value: order('c') },
    ])
    const metrics = new MetricsRegistry()
    const runner = await startRunner(metrics)
    await runner.waitUntilCaughtUp(10_000)
    await runner.stop()
    await runner.done

    expect(await ids('out')).toEqual(['a', 'c'])
    const dead = await embedded.read(DEFAULT_DEAD_LETTER_TOPIC, 0, 0, 100)
    // One per sink that refused it: both sinks' outputs are too large.
    expect(dead).toHaveLength(2)
    expect(dead.map((d) => d.headers[DEAD_LETTER_HEADERS.stage])).toEqual(['sink', 'sink'])
    expect(dead[0]!.value.toString()).toBe(order(long).toString())
    expect(dead.map((d) => d.headers[DEAD_LETTER_HEADERS.reason]).sort()).toEqual([
      expect.stringMatching(
        /^out refused the output record: record of \d+ bytes exceeds the embedded log's limit of 1200 bytes$/,
      ),
      expect.stringMatching(/^out-appended refused the output record: record of \d+ bytes exceeds/),
    ])
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.offset]).toBe('1')
    expect(metrics.find('sluice_dead_letters_total')!.value({ stage: 'sink' })).toBe(2)
  })

  it('writes a dead letter the dead-letter topic refuses again without its value, naming where the original is', async () => {
    await log.ensureTopic('orders')
    const huge = `{"id": "${'y'.repeat(1000)}"`
    await log.append('orders', [
      { key: null, value: Buffer.from(huge) },
      { key: null, value: order('b') },
    ])
    const runner = await startRunner()
    await runner.waitUntilCaughtUp(10_000)
    await runner.stop()
    await runner.done

    expect(await ids('out')).toEqual(['b'])
    const [dead] = await embedded.read(DEFAULT_DEAD_LETTER_TOPIC, 0, 0, 100)
    expect(dead!.value.length).toBe(0)
    expect(dead!.headers[DEAD_LETTER_HEADERS.valueDropped]).toMatch(/exceeds the embedded log's limit/)
    expect(dead!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/^invalid JSON/)
    expect(dead!.headers[DEAD_LETTER_HEADERS.offset]).toBe('0')
  })
})

describe('PipelineRunner output records', () => {
  it('carry the source record’s headers (trace context) and the time each sink chose', async () => {
    await log.ensureTopic('orders')
    await log.append('orders', [
      {
        key: null,
        value: order('a', 1, 1_600_000_000_000),
        headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      },
      { key: null, value: order('b', 1, 1_600_000_000_000) },
    ])
    const before = Date.now()
    const runner = await startRunner()
    await runner.waitUntilCaughtUp(10_000)
    await runner.stop()
    await runner.done

    const { manifest } = await loadArtifact(artifactDir)
    const [a, b] = await embedded.read('out', 0, 0, 10)
    expect(a!.headers).toEqual({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      [ARTIFACT_HEADER]: manifest.contentHash,
    })
    expect(b!.headers).toEqual({ [ARTIFACT_HEADER]: manifest.contentHash })
    expect(a!.timestamp).toBe(1_600_000_000_000)
    const appended = await embedded.read('out-appended', 0, 0, 10)
    expect(appended.map((r) => JSON.parse(r.value.toString()).id)).toEqual(['a', 'b'])
    for (const record of appended) expect(record.timestamp).toBeGreaterThanOrEqual(before)
  })
})

describe('PipelineRunner logs under a flood of bad events', () => {
  it('writes at most 10 dead-letter lines a second and one line for the rest, while the metric counts all', async () => {
    await log.ensureTopic('orders')
    await log.append(
      'orders',
      Array.from({ length: 50 }, (_, i) => ({ key: null, value: Buffer.from(`not json ${i}`) })),
    )
    const metrics = new MetricsRegistry()
    const runner = await startRunner(metrics)
    await runner.waitUntilCaughtUp(10_000)
    await runner.stop()
    await runner.done
    expect(metrics.find('sluice_dead_letters_total')!.total()).toBe(50)
    expect(logLines.filter((l) => l.msg === 'event dead-lettered')).toHaveLength(10)
    expect(logLines.filter((l) => l.msg === 'more events dead-lettered than logged one by one')).toEqual([
      expect.objectContaining({ count: 40, linesPerSecond: 10 }),
    ])
    expect((await embedded.endOffsets(DEFAULT_DEAD_LETTER_TOPIC))[0]).toBe(50)
  })
})
