import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { LogRecord } from '../index.ts'
import {
  BATCH_MAGIC,
  BatchBuilder,
  batchProducer,
  MIN_BATCH_BYTES,
  soloBatchSize,
  TXN_BATCH_HEADER_BYTES,
  TXN_BATCH_MAGIC,
} from './batch.ts'
import { crc32 } from './crc32.ts'
import { checkFrame, decodeRecords, type FrameInput } from './frame.ts'

const ARTIFACT = { 'sluice.artifact': `sha256:${'ab'.repeat(32)}` }

const arbHeaders = fc.oneof(
  fc.constant(ARTIFACT),
  fc.constant({}),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 8 }), { maxKeys: 3 }),
)

const arbRecord: fc.Arbitrary<FrameInput> = fc.record({
  timestamp: fc.oneof(
    fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 }),
    fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
  ),
  key: fc.option(fc.string({ unit: 'grapheme', maxLength: 20 }), { nil: null }),
  headers: arbHeaders,
  value: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
})

/** The records split into batches as an append does (a new batch where a record cannot join). */
function encodeAll(records: readonly FrameInput[], first: number): { buf: Buffer; counts: number[] } {
  const batches: BatchBuilder[] = []
  let batch = new BatchBuilder()
  for (const record of records) {
    let size = batch.measure(record)
    if (size === Number.POSITIVE_INFINITY) {
      batches.push(batch)
      batch = new BatchBuilder()
      size = batch.measure(record)
    }
    batch.add(record)
    expect(batch.size).toBe(size)
  }
  if (batch.count > 0) batches.push(batch)
  const buf = Buffer.alloc(batches.reduce((n, b) => n + b.size, 0))
  let pos = 0
  let offset = first
  for (const b of batches) {
    pos = b.encode(buf, pos, offset)
    offset += b.count
  }
  expect(pos).toBe(buf.length)
  return { buf, counts: batches.map((b) => b.count) }
}

function readAll(buf: Buffer, from: number, max: number): LogRecord[] {
  const out: LogRecord[] = []
  for (let pos = 0; pos < buf.length; ) {
    const check = checkFrame(buf, pos, buf.length)
    if (check.status !== 'ok') throw new Error(`frame at ${pos}: ${check.status}`)
    if (check.offset + check.count > from)
      decodeRecords(buf, pos, check.size, 't', 2, from, max - out.length, out)
    pos += check.size
  }
  return out
}

describe('record batch frame (magic 2)', () => {
  it('round-trips random records, also read from an offset inside a batch and with a limit', () => {
    fc.assert(
      fc.property(
        fc.array(arbRecord, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.nat(),
        fc.nat(),
        (records, first, skip, limit) => {
          const { buf, counts } = encodeAll(records, first)
          expect(counts.reduce((a, b) => a + b, 0)).toBe(records.length)
          const expected = records.map((r, i) => ({
            topic: 't',
            partition: 2,
            offset: first + i,
            key: r.key,
            value: Buffer.from(r.value),
            headers: { ...r.headers },
            timestamp: r.timestamp,
          }))
          expect(readAll(buf, first, records.length)).toEqual(expected)
          const from = first + (skip % records.length)
          const max = 1 + (limit % records.length)
          expect(readAll(buf, from, max)).toEqual(expected.slice(from - first, from - first + max))
        },
      ),
    )
  })

  it('measures a record alone as soloBatchSize does', () => {
    fc.assert(
      fc.property(arbRecord, (record) => {
        expect(new BatchBuilder().measure(record)).toBe(soloBatchSize(record))
      }),
    )
    expect(soloBatchSize({ timestamp: 0, key: null, headers: {}, value: Buffer.alloc(0) })).toBe(
      MIN_BATCH_BYTES,
    )
  })

  it('stores a header set once per batch for records sharing the object or equal headers', () => {
    const records: FrameInput[] = Array.from({ length: 100 }, (_, i) => ({
      timestamp: 1_700_000_000_000 + i,
      key: `card-${i % 7}`,
      // Every third record has an equal copy, not the same object: found by value.
      headers: i % 3 === 0 ? { ...ARTIFACT } : ARTIFACT,
      value: Buffer.from(`{"n":${i}}`),
    }))
    const { buf, counts } = encodeAll(records, 0)
    expect(counts).toEqual([100])
    const hash = ARTIFACT['sluice.artifact']
    expect(buf.toString('latin1').split(hash).length - 1).toBe(1)
    const decoded = readAll(buf, 0, 100)
    // One decoded object per set, shared by its records.
    expect(new Set(decoded.map((r) => r.headers)).size).toBe(1)
    expect(decoded[5]!.headers).toEqual(ARTIFACT)
  })

  it('gives records with different headers sets of their own, and none to records without', () => {
    const records: FrameInput[] = [
      { timestamp: 1, key: null, headers: { a: '1' }, value: Buffer.from('x') },
      { timestamp: 2, key: null, headers: {}, value: Buffer.from('y') },
      { timestamp: 3, key: null, headers: { a: '2' }, value: Buffer.from('z') },
      { timestamp: 4, key: null, headers: { b: '1' }, value: Buffer.from('w') },
    ]
    const decoded = readAll(encodeAll(records, 9).buf, 0, 10)
    expect(decoded.map((r) => r.headers)).toEqual([{ a: '1' }, {}, { a: '2' }, { b: '1' }])
  })

  it('starts a new batch for a timestamp too far from the first', () => {
    const batch = new BatchBuilder()
    const record = (timestamp: number): FrameInput => ({
      timestamp,
      key: null,
      headers: {},
      value: Buffer.alloc(1),
    })
    batch.measure(record(-(2 ** 50)))
    batch.add(record(-(2 ** 50)))
    // Deltas up to ±2^51 keep their zigzag form a safe integer.
    expect(batch.measure(record(2 ** 52))).toBe(Number.POSITIVE_INFINITY)
    expect(batch.measure(record(2 ** 50))).toBeLessThan(100)
  })

  it('encodes the documented layout', () => {
    const batch = new BatchBuilder()
    const records: FrameInput[] = [
      { timestamp: 1000, key: null, headers: {}, value: Buffer.alloc(0) },
      { timestamp: 999, key: 'k', headers: { h: 'v' }, value: Buffer.from('ab') },
    ]
    for (const r of records) {
      batch.measure(r)
      batch.add(r)
    }
    const buf = Buffer.alloc(batch.size)
    batch.encode(buf, 0, 7)
    expect(buf.readUInt32BE(0)).toBe(buf.length - 4)
    expect(buf.readUInt32BE(4)).toBe(crc32(buf.subarray(8)))
    expect(buf[8]).toBe(BATCH_MAGIC)
    expect(buf.readUInt32BE(9) * 2 ** 32 + buf.readUInt32BE(13)).toBe(7)
    expect(buf.readUInt32BE(17) * 2 ** 32 + buf.readUInt32BE(21)).toBe(1000)
    expect(buf.readUInt32BE(25)).toBe(2)
    expect([...buf.subarray(29)]).toEqual([
      ...[1, 1, 1, ...Buffer.from('h'), 1, ...Buffer.from('v')], // one set: one pair h=v
      ...[0, 0, 0, 0, 0], // record 0: delta 0, timestamp +0, null key, no headers, empty value
      ...[1, 1, 2, ...Buffer.from('k'), 1, 2, ...Buffer.from('ab')], // record 1: timestamp -1 (zigzag 1)
    ])
  })

  it('writes the batch of a transaction as magic 3 with its producer id and epoch, read like any other', () => {
    const batch = new BatchBuilder({ producerId: 2 ** 40 + 5, epoch: 7 })
    const records: FrameInput[] = [
      { timestamp: 1000, key: 'k', headers: ARTIFACT, value: Buffer.from('ab') },
      { timestamp: 1001, key: null, headers: ARTIFACT, value: Buffer.from('c') },
    ]
    for (const r of records) {
      expect(batch.measure(r)).toBeGreaterThan(TXN_BATCH_HEADER_BYTES)
      batch.add(r)
    }
    const buf = Buffer.alloc(batch.size)
    expect(batch.encode(buf, 0, 9)).toBe(buf.length)
    expect(buf[8]).toBe(TXN_BATCH_MAGIC)
    expect(batchProducer(buf, 0)).toEqual({ producerId: 2 ** 40 + 5, epoch: 7 })
    const check = checkFrame(buf, 0, buf.length)
    expect(check).toMatchObject({ status: 'ok', offset: 9, count: 2 })
    const out: LogRecord[] = []
    decodeRecords(buf, 0, buf.length, 't', 0, 10, 10, out)
    expect(out.map((r) => [r.offset, r.key, r.value.toString(), r.headers])).toEqual([
      [10, null, 'c', ARTIFACT],
    ])
    // The same records in a plain batch: 12 bytes less, magic 2, no producer.
    const { buf: plain } = encodeAll(records, 9)
    expect(plain.length).toBe(buf.length - 12)
    expect(batchProducer(plain, 0)).toBeNull()
  })

  it('detects a flipped bit anywhere after the length field', () => {
    const { buf: clean } = encodeAll(
      [
        { timestamp: 5, key: 'k', headers: ARTIFACT, value: Buffer.from('one') },
        { timestamp: 6, key: null, headers: ARTIFACT, value: Buffer.from('two') },
      ],
      3,
    )
    for (let i = 4; i < clean.length; i++) {
      const damaged = Buffer.from(clean)
      damaged[i]! ^= 0x10
      expect(checkFrame(damaged, 0, damaged.length).status, `byte ${i}`).toBe('invalid')
    }
  })

  it('refuses a batch whose fields do not fill its frame, even with a matching CRC', () => {
    const { buf } = encodeAll([{ timestamp: 5, key: null, headers: {}, value: Buffer.from('abc') }], 0)
    const longer = Buffer.concat([buf, Buffer.from([0])])
    longer.writeUInt32BE(longer.length - 4, 0)
    longer.writeUInt32BE(crc32(longer.subarray(8)), 4)
    const check = checkFrame(longer, 0, longer.length)
    expect(check.status).toBe('ok')
    expect(() => decodeRecords(longer, 0, longer.length, 't', 0, 0, 10, [])).toThrow(/end 1 bytes before/)
  })
})
