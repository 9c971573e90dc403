import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkFrame, decodeFrame, type FrameInput, MIN_RECORD_FRAME_BYTES } from './frame.ts'
import { encodeRecordFrames, recordFrameSize } from './frame-v1.ts'

// The magic 1 frame (one record per frame), which the log reads but no longer writes; batch.test.ts
// has the magic 2 batch frame. The old encoder (frame-v1.ts) writes what segments held before.

const record = (over: Partial<FrameInput> = {}): FrameInput => ({
  timestamp: 1_700_000_000_123,
  key: 'k',
  headers: { h: 'v' },
  value: Buffer.from('value'),
  ...over,
})

const arbRecord: fc.Arbitrary<FrameInput> = fc.record({
  timestamp: fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
  key: fc.option(fc.string({ unit: 'grapheme', maxLength: 20 }), { nil: null }),
  headers: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 8 }), {
    maxKeys: 4,
  }),
  value: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
})

function decodeAll(buf: Buffer): { records: ReturnType<typeof decodeFrame>[]; positions: number[] } {
  const records = []
  const positions = []
  let pos = 0
  while (pos < buf.length) {
    const check = checkFrame(buf, pos, buf.length)
    if (check.status !== 'ok') throw new Error(`frame at ${pos}: ${check.status}`)
    expect(check.count).toBe(1)
    positions.push(pos)
    records.push(decodeFrame(buf, pos, check.size, 't', 3))
    pos += check.size
  }
  return { records, positions }
}

describe('record frame codec (magic 1)', () => {
  it('round-trips random records with consecutive offsets', () => {
    fc.assert(
      fc.property(
        fc.array(arbRecord, { maxLength: 10 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (records, first) => {
          const sizes = records.map(recordFrameSize)
          const buf = encodeRecordFrames(records, first)
          expect(buf.length).toBe(sizes.reduce((a, b) => a + b, 0))
          const { records: decoded, positions } = decodeAll(buf)
          expect(decoded.map((r) => r.offset)).toEqual(records.map((_, i) => first + i))
          for (let i = 0; i < records.length; i++) {
            const r = records[i]!
            expect(decoded[i]).toEqual({
              topic: 't',
              partition: 3,
              offset: first + i,
              key: r.key,
              value: Buffer.from(r.value),
              headers: { ...r.headers },
              timestamp: r.timestamp,
            })
          }
          let expectedPos = 0
          for (let i = 0; i < records.length; i++) {
            expect(positions[i]).toBe(expectedPos)
            expectedPos += sizes[i]!
          }
        },
      ),
    )
  })

  it('encodes the documented layout', () => {
    const buf = encodeRecordFrames([record({ key: null, headers: {}, value: Buffer.alloc(0) })], 5)
    expect(buf.length).toBe(MIN_RECORD_FRAME_BYTES)
    expect(buf.readUInt32BE(0)).toBe(MIN_RECORD_FRAME_BYTES - 4)
    expect(buf[8]).toBe(1)
    expect(buf.readUInt32BE(9)).toBe(0)
    expect(buf.readUInt32BE(13)).toBe(5)
    expect(buf.readInt32BE(25)).toBe(-1)
    expect(buf.readUInt32BE(29)).toBe(0)
    expect(buf.readUInt32BE(33)).toBe(0)
  })

  it('detects a flipped bit anywhere after the length field', () => {
    const clean = encodeRecordFrames([record()], 0)
    for (let i = 4; i < clean.length; i++) {
      const damaged = Buffer.from(clean)
      damaged[i]! ^= 0x10
      expect(checkFrame(damaged, 0, damaged.length).status, `byte ${i}`).toBe('invalid')
    }
  })

  it('reports a frame cut short as incomplete with its claimed size', () => {
    const r = record()
    const size = recordFrameSize(r)
    const buf = encodeRecordFrames([r], 0)
    expect(checkFrame(buf, 0, 3)).toEqual({ status: 'incomplete', size: 0 })
    expect(checkFrame(buf, 0, size - 1)).toEqual({ status: 'incomplete', size })
    expect(checkFrame(buf, 0, size)).toEqual({ status: 'ok', size, offset: 0, count: 1 })
  })

  it('rejects absurd lengths', () => {
    const buf = Buffer.alloc(64)
    expect(checkFrame(buf, 0, buf.length).status).toBe('invalid')
    buf.writeUInt32BE(0xffffffff, 0)
    expect(checkFrame(buf, 0, buf.length).status).toBe('invalid')
  })
})
