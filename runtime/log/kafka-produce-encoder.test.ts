import { createRequire } from 'node:module'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { crc32c } from './crc32c.ts'
import {
  encodeProduceRequest,
  type ProduceRequestData,
  sluiceProduceEncoderInstalled,
  useSluiceProduceEncoder,
} from './kafka-produce-encoder.ts'

const require = createRequire(import.meta.url)

/** kafkajs's own Produce v3 request: the reference the encoder must match byte for byte. */
const kafkajsProduceV3 = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (
  data: ProduceRequestData,
) => { encode(): Promise<{ buffer: Buffer }> }
const Long = require('kafkajs/src/utils/long.js') as { fromString(s: string): { toString(): string } }
const produceDefinition = require('kafkajs/src/protocol/requests/produce/index.js') as {
  protocol(options: { version: number }): (data: ProduceRequestData) => {
    request: { apiKey: number; apiVersion: number; apiName: string; encode(): Promise<{ buffer: Buffer }> }
  }
}

const NOW = 1_764_000_000_000

const text = fc.string({ unit: 'grapheme', maxLength: 12 })
const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b))
const message = fc.record(
  {
    key: fc.oneof(fc.constant(null), text, bytes),
    value: fc.oneof(fc.constant(null), text, bytes),
    // 13 digits, as every millisecond timestamp from 2001 to 2286: kafkajs orders them as strings.
    timestamp: fc.integer({ min: NOW - 10_000_000, max: NOW + 10_000_000 }).map(String),
    headers: fc.dictionary(
      fc.string({ minLength: 1, maxLength: 6 }),
      fc.oneof(text, bytes, fc.array(text, { minLength: 1, maxLength: 3 })),
      { maxKeys: 3 },
    ),
  },
  { requiredKeys: ['value'] },
)
const request = fc.record({
  acks: fc.constantFrom(-1, 1),
  timeout: fc.nat({ max: 60_000 }),
  compression: fc.constantFrom(0, 1),
  transactionalId: fc.oneof(fc.constant(null), fc.string({ minLength: 1, maxLength: 20 })),
  producerId: fc.oneof(fc.constant('-1'), fc.bigInt({ min: 0n, max: 2n ** 62n }).map(String)),
  producerEpoch: fc.nat({ max: 32_767 }),
  topicData: fc.array(
    fc.record({
      topic: fc.string({ minLength: 1, maxLength: 20 }),
      partitions: fc.array(
        fc.record({
          partition: fc.nat({ max: 1000 }),
          firstSequence: fc.nat({ max: 2 ** 31 - 1 }),
          messages: fc.array(message, { minLength: 1, maxLength: 8 }),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    }),
    { minLength: 1, maxLength: 3 },
  ),
})

describe('encodeProduceRequest', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(NOW)
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('writes the bytes kafkajs’s own encoder writes', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (data) => {
        const kafkajsData = { ...data, producerId: Long.fromString(data.producerId) }
        const expected = (await kafkajsProduceV3(kafkajsData).encode()).buffer
        expect((await encodeProduceRequest(kafkajsData)).equals(expected)).toBe(true)
      }),
      { numRuns: 200 },
    )
    // gzip goes through libuv's thread pool: generous for a loaded machine.
  }, 120_000)

  it('stamps records without a timestamp with the time of encoding', async () => {
    const data: ProduceRequestData = {
      acks: -1,
      timeout: 30_000,
      topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ value: 'a' }, { value: 'b' }] }] }],
    }
    const expected = (await kafkajsProduceV3(data).encode()).buffer
    const encoded = await encodeProduceRequest(data)
    expect(encoded.equals(expected)).toBe(true)
    // first and max timestamp of the one batch (after the 26 bytes of request, topic and partition heads)
    const batch = 2 + 2 + 4 + 4 + (2 + 1) + 4 + 4 + 4
    expect(encoded.readBigInt64BE(batch + 27)).toBe(BigInt(NOW))
    expect(encoded.readBigInt64BE(batch + 35)).toBe(BigInt(NOW))
  })

  it('covers the batch from its attributes to its end with the CRC, as the broker checks it', async () => {
    const data: ProduceRequestData = {
      acks: -1,
      timeout: 1000,
      transactionalId: 'tx',
      producerId: '7',
      producerEpoch: 3,
      topicData: [
        {
          topic: 'orders',
          partitions: [{ partition: 2, firstSequence: 41, messages: [{ key: 'k', value: 'v' }] }],
        },
      ],
    }
    const encoded = await encodeProduceRequest(data)
    const batch = 2 + 2 + 2 + 4 + 4 + (2 + 6) + 4 + 4 + 4
    expect(encoded.readInt8(batch + 16)).toBe(2) // magic
    expect(encoded.readUInt32BE(batch + 17)).toBe(crc32c(encoded, batch + 21, encoded.length))
    expect(encoded.readInt16BE(batch + 21) & 0x10).toBe(0x10) // transactional
    expect(encoded.readBigInt64BE(batch + 43)).toBe(7n) // producer id
    expect(encoded.readInt16BE(batch + 51)).toBe(3) // producer epoch
    expect(encoded.readInt32BE(batch + 53)).toBe(41) // first sequence
  })

  it('writes batches kafkajs’s record batch decoder reads back as the records sent', async () => {
    const RecordBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (
      decoder: unknown,
    ) => Promise<{
      inTransaction: boolean
      producerId: string
      records: {
        key: Buffer | null
        value: Buffer | null
        timestamp: string
        headers: Record<string, unknown>
      }[]
    }>
    const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => unknown
    const messages = [
      { key: 'k1', value: Buffer.from('{"a":1}'), timestamp: String(NOW + 5), headers: { h: 'x' } },
      { key: null, value: 'é', timestamp: String(NOW) },
      { value: null, timestamp: String(NOW + 300_000) },
    ]
    for (const compression of [0, 1]) {
      const encoded = await encodeProduceRequest({
        acks: -1,
        timeout: 1000,
        compression,
        transactionalId: 'tx.1',
        producerId: '42',
        producerEpoch: 1,
        topicData: [{ topic: 'out', partitions: [{ partition: 0, firstSequence: 9, messages }] }],
      })
      // Skip the request head (transactional id, acks, timeout, topic array, topic, partition
      // array, partition, record set size): the rest is the batch as the broker stores it.
      const batchStart = 2 + 4 + 2 + 4 + 4 + (2 + 3) + 4 + 4 + 4
      const batch = await RecordBatchDecoder(new Decoder(encoded.subarray(batchStart)))
      expect(batch.inTransaction).toBe(true)
      expect(batch.producerId).toBe('42')
      expect(
        batch.records.map((r) => ({
          key: r.key?.toString() ?? null,
          value: r.value?.toString() ?? null,
          timestamp: r.timestamp,
          headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)])),
        })),
      ).toEqual([
        { key: 'k1', value: '{"a":1}', timestamp: String(NOW + 5), headers: { h: 'x' } },
        { key: null, value: 'é', timestamp: String(NOW), headers: {} },
        { key: null, value: null, timestamp: String(NOW + 300_000), headers: {} },
      ])
    }
  })

  it('refuses a codec kafkajs does not ship', async () => {
    await expect(
      encodeProduceRequest({ acks: -1, timeout: 1, compression: 2, topicData: [] }),
    ).rejects.toThrow(/compression type 2/)
  })
})

describe('useSluiceProduceEncoder', () => {
  afterEach(() => useSluiceProduceEncoder(false))

  it('puts the encoder into kafkajs’s Produce requests from v3 on, and takes it out again', async () => {
    const data: ProduceRequestData = {
      acks: -1,
      timeout: 1000,
      topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ value: 'x', timestamp: '5' }] }] }],
    }
    useSluiceProduceEncoder(true)
    useSluiceProduceEncoder(true)
    expect(sluiceProduceEncoderInstalled()).toBe(true)
    const ours = produceDefinition.protocol({ version: 7 })(data).request
    expect(ours.apiVersion).toBe(7)
    expect(ours.apiKey).toBe(0)
    expect(ours.apiName).toBe('Produce')
    const viaKafkajs = await ours.encode()
    expect(viaKafkajs.buffer.equals(await encodeProduceRequest(data))).toBe(true)
    useSluiceProduceEncoder(false)
    expect(sluiceProduceEncoderInstalled()).toBe(false)
    const theirs = produceDefinition.protocol({ version: 7 })(data).request
    expect((await theirs.encode()).buffer.equals(viaKafkajs.buffer)).toBe(true)
  })
})
