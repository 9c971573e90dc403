import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BatchReleases } from './batch-releases.ts'
import { EventBuffer } from './event-buffer.ts'

/** A push (time, and whether its seq is a fresh, growing one or an old one as a restore pushes) or a release. */
type Op = { push: number; oldSeq: boolean } | { release: number }

describe('EventBuffer', () => {
  it('releases what a sort by (time, seq) of the events at or before the watermark releases (random pushes and releases)', () => {
    const ops = fc.array(
      fc.oneof(
        fc.record({ push: fc.integer({ min: 0, max: 40 }), oldSeq: fc.boolean() }),
        fc.record({ release: fc.integer({ min: -1, max: 45 }) }),
      ),
      { maxLength: 80 },
    )
    let outOfOrder = 0
    let inOrderReleases = 0
    fc.assert(
      fc.property(ops, (list: Op[]) => {
        const buffer = new EventBuffer()
        let held: { keyId: number; time: number; seq: number; row: unknown }[] = []
        let seq = 1000
        let old = 999
        let last = Number.NEGATIVE_INFINITY
        list.forEach((op, i) => {
          if ('push' in op) {
            const s = op.oldSeq ? old-- : seq++
            if (op.push < last) outOfOrder++
            last = Math.max(last, op.push)
            buffer.push(i % 3, op.push, s, { i })
            held.push({ keyId: i % 3, time: op.push, seq: s, row: { i } })
            expect(buffer.length).toBe(held.length)
            expect(buffer.dueAt).toBe(Math.min(...held.map((e) => e.time)))
            return
          }
          const want = held
            .filter((e) => e.time <= op.release)
            .sort((a, b) => a.time - b.time || a.seq - b.seq)
          held = held.filter((e) => e.time > op.release)
          const got = buffer.release(op.release, true)
          if (want.length > 0 && want.every((e) => e.seq >= 1000)) inOrderReleases++
          expect(got.length).toBe(want.length)
          expect(got.masks.length).toBe(want.length)
          expect([...got.keyIds]).toEqual(want.map((e) => e.keyId))
          expect([...got.times]).toEqual(want.map((e) => e.time))
          expect([...got.seqs]).toEqual(want.map((e) => e.seq))
          expect(got.rows).toEqual(want.map((e) => e.row))
          const listed: number[] = []
          buffer.forEach((_k, _t, s) => {
            listed.push(s)
          })
          expect(listed.sort()).toEqual(held.map((e) => e.seq).sort())
        })
      }),
      { numRuns: 300 },
    )
    expect(outOfOrder).toBeGreaterThan(0)
    expect(inOrderReleases).toBeGreaterThan(0)
  })

  it('releaseInto appends what a sort by (time, seq) releases, short and long releases, the queue emptied and refilled', () => {
    // Bursts of pushes (some of more than the 16 events from which the columns are copied with
    // TypedArray.set) and releases into one BatchReleases, as a batch collects them; a release
    // that empties the queue and the pushes after it reuse the queue's rows.
    const ops = fc.array(
      fc.oneof(
        fc.record({ burst: fc.integer({ min: 1, max: 40 }), late: fc.boolean() }),
        fc.record({ release: fc.integer({ min: 0, max: 30 }) }),
      ),
      { maxLength: 40 },
    )
    let long = 0
    let emptied = 0
    fc.assert(
      fc.property(ops, (list) => {
        const buffer = new EventBuffer()
        const batch = new BatchReleases()
        let held: { keyId: number; time: number; seq: number; row: unknown }[] = []
        const want: typeof held = []
        let seq = 0
        let time = 0
        for (const op of list) {
          if ('burst' in op) {
            for (let b = 0; b < op.burst; b++) {
              // Mostly in order (the queue), sometimes earlier than the last (the heap).
              const t = op.late && b % 5 === 4 ? time - 3 : time++
              const e = { keyId: seq % 5, time: t, seq: seq++, row: { seq } }
              buffer.push(e.keyId, e.time, e.seq, e.row)
              held.push(e)
            }
            continue
          }
          const watermark = time - op.release
          const out = held.filter((e) => e.time <= watermark).sort((a, b) => a.time - b.time || a.seq - b.seq)
          held = held.filter((e) => e.time > watermark)
          if (out.length > 16) long++
          if (held.length === 0 && out.length > 0) emptied++
          expect(buffer.releaseInto(watermark, batch)).toBe(out.length)
          want.push(...out)
          expect(buffer.length).toBe(held.length)
        }
        expect(batch.length).toBe(want.length)
        expect([...batch.keyIds.subarray(0, batch.length)]).toEqual(want.map((e) => e.keyId))
        expect([...batch.times.subarray(0, batch.length)]).toEqual(want.map((e) => e.time))
        expect([...batch.seqs.subarray(0, batch.length)]).toEqual(want.map((e) => e.seq))
        expect(batch.rows.slice(0, batch.length)).toEqual(want.map((e) => e.row))
        const listed: unknown[] = []
        buffer.forEach((_k, _t, _s, row) => {
          listed.push(row)
        })
        expect(listed).toHaveLength(held.length)
        expect(new Set(listed)).toEqual(new Set(held.map((e) => e.row)))
      }),
      { numRuns: 300 },
    )
    expect(long).toBeGreaterThan(0)
    expect(emptied).toBeGreaterThan(0)
  })

  it('keeps many in-order events across growth and reuse of its columns', () => {
    const buffer = new EventBuffer()
    let seq = 0
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3000; i++) buffer.push(i % 7, round * 10_000 + i, seq++, i)
      const released = buffer.release(round * 10_000 + 1499, false)
      expect(released.length).toBe(round === 0 ? 1500 : 3000)
      expect(released.rows[0]).toBe(round === 0 ? 0 : 1500)
    }
    expect(buffer.length).toBe(1500)
  })
})
