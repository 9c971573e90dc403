/**
 * --kafka-unknown-topic-wait (KafkaLogOptions.unknownTopicWaitMs, runtime/log/kafka-topic-settling.ts)
 * from the command line to the Kafka client: KafkaLog.connect is replaced by one that records the
 * options it is given and refuses to connect, so no broker is needed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import type { KafkaLogOptions } from '../runtime/log/kafka.ts'
import { runCli } from '../test/support/capture-io.ts'
import { UsageError } from './args.ts'
import { serveSettings } from './commands/serve.ts'
import { kafkaTopicSettling, openLog } from './open-log.ts'

const connected: KafkaLogOptions[] = []

vi.mock('../runtime/log/kafka.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../runtime/log/kafka.ts')>()
  // openLog only calls KafkaLog.connect.
  const connect = async (options: KafkaLogOptions): Promise<never> => {
    connected.push(options)
    throw new Error('test: connect recorded, not connecting')
  }
  return { ...original, KafkaLog: { connect } }
})

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-unknown-topic-wait-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
beforeEach(() => {
  connected.length = 0
})

describe('--kafka-unknown-topic-wait', () => {
  it('becomes unknownTopicWaitMs, from the flag or else $SLUICE_KAFKA_UNKNOWN_TOPIC_WAIT; absent leaves the default', () => {
    expect(kafkaTopicSettling({}, {})).toEqual({})
    expect(kafkaTopicSettling({ 'kafka-unknown-topic-wait': '10000' }, {})).toEqual({
      unknownTopicWaitMs: 10_000,
    })
    expect(kafkaTopicSettling({ 'kafka-unknown-topic-wait': '0' }, {})).toEqual({ unknownTopicWaitMs: 0 })
    const env = { SLUICE_KAFKA_UNKNOWN_TOPIC_WAIT: '7000' }
    expect(kafkaTopicSettling({}, env)).toEqual({ unknownTopicWaitMs: 7000 })
    expect(kafkaTopicSettling({ 'kafka-unknown-topic-wait': '250' }, env)).toEqual({
      unknownTopicWaitMs: 250,
    })
  })

  it('refuses what is not a whole number of milliseconds up to an hour, naming where it came from', () => {
    for (const bad of ['-1', '1.5', '3s', 'soon', ' ', '3600001', '99999999']) {
      expect(() => kafkaTopicSettling({ 'kafka-unknown-topic-wait': bad }, {})).toThrow(UsageError)
    }
    expect(() => kafkaTopicSettling({ 'kafka-unknown-topic-wait': '3s' }, {})).toThrow(
      '--kafka-unknown-topic-wait "3s": a whole number of milliseconds from 0 to 3600000',
    )
    expect(() => kafkaTopicSettling({}, { SLUICE_KAFKA_UNKNOWN_TOPIC_WAIT: 'soon' })).toThrow(
      /^\$SLUICE_KAFKA_UNKNOWN_TOPIC_WAIT "soon"/,
    )
    expect(kafkaTopicSettling({ 'kafka-unknown-topic-wait': '3600000' }, {})).toEqual({
      unknownTopicWaitMs: 3_600_000,
    })
  })

  it('reaches KafkaLog.connect beside the consumer timing of run/serve', async () => {
    await expect(
      openLog(
        { kafka: '127.0.0.1:1', 'kafka-unknown-topic-wait': '4500' },
        { consumer: { commitIntervalMs: 100 } },
      ),
    ).rejects.toThrow('connect recorded')
    expect(connected).toHaveLength(1)
    expect(connected[0]).toMatchObject({
      brokers: ['127.0.0.1:1'],
      unknownTopicWaitMs: 4500,
      commitIntervalMs: 100,
    })
    await expect(openLog({ kafka: '127.0.0.1:1' })).rejects.toThrow('connect recorded')
    expect(connected[1]).not.toHaveProperty('unknownTopicWaitMs')
  })

  it('is a flag of the commands that open a log, checked before connecting', async () => {
    const consumed = await runCli(
      'consume',
      'orders',
      '--kafka',
      '127.0.0.1:1',
      '--kafka-unknown-topic-wait',
      '1500',
      '--log-format',
      'text',
    )
    expect(consumed.code).not.toBe(0)
    expect(connected.map((options) => options.unknownTopicWaitMs)).toEqual([1500])

    const input = join(dir, 'events.jsonl')
    await writeFile(input, '{"id":"a"}\n')
    const bad = await runCli(
      'produce',
      'orders',
      '--file',
      input,
      '--kafka',
      '127.0.0.1:1',
      '--kafka-unknown-topic-wait',
      '5s',
      '--log-format',
      'text',
    )
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--kafka-unknown-topic-wait "5s": a whole number of milliseconds')
    expect(connected).toHaveLength(1) // refused before any connection

    const embedded = await runCli(
      'consume',
      'orders',
      '--data-dir',
      join(dir, 'log'),
      '--kafka-unknown-topic-wait',
      '1500',
      '--log-format',
      'text',
    )
    expect(embedded.code).toBe(2)
    expect(embedded.stderr).toContain('--kafka-unknown-topic-wait needs --kafka BROKERS')
  })
})

describe('serve --config log.unknownTopicWaitMs', () => {
  const values = { run: ['dist/x'] }

  it('becomes the flag for the log serve opens, the flag winning', () => {
    expect(serveSettings(values, { log: { unknownTopicWaitMs: 5000 } }).log).toEqual({
      'kafka-unknown-topic-wait': '5000',
    })
    expect(
      serveSettings({ ...values, 'kafka-unknown-topic-wait': '250' }, { log: { unknownTopicWaitMs: 5000 } })
        .log['kafka-unknown-topic-wait'],
    ).toBe('250')
    expect(serveSettings(values, {}).log).toEqual({})
  })

  it('refuses what is not whole milliseconds up to an hour, naming the field', () => {
    for (const bad of [-1, 1.5, '3000', 3_600_001, null]) {
      expect(() => serveSettings(values, { log: { unknownTopicWaitMs: bad } })).toThrow(
        /^config log\.unknownTopicWaitMs: expected whole milliseconds from 0 to 3600000/,
      )
    }
  })
})
