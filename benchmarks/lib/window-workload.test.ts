import { describe, expect, it } from 'vitest'
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter } from '../../compiler/ir/interpret.ts'
import {
  batchMaxTimes,
  generateWindowPayments,
  HandWrittenTumblingWindows,
  WATERMARK_DELAY_MS,
  windowPaymentChunks,
  windowPipeline,
} from './window-workload.ts'

const SMALL = { seed: 7, keys: 50, eventsPerSecond: 100, disorderMs: 500 } as const

describe('window workload', () => {
  it('is deterministic, chunking aside', () => {
    const whole = generateWindowPayments(5_000, SMALL)
    const chunked = [...windowPaymentChunks(5_000, SMALL, 777)].flat()
    expect(chunked).toEqual(whole)
    expect(generateWindowPayments(5_000, { ...SMALL, seed: 8 })).not.toEqual(whole)
  })

  it('advances event time steadily with disorder below the watermark delay', () => {
    const startMs = Date.UTC(2026, 0, 1)
    const events = generateWindowPayments(20_000, { ...SMALL, startMs })
    let max = Number.NEGATIVE_INFINITY
    for (const [i, e] of events.entries()) {
      // Its place in the sequence, less up to the disorder (the sequence starts that much after startMs).
      const place = startMs + SMALL.disorderMs + (i * 1000) / SMALL.eventsPerSecond
      expect(e.ts).toBeGreaterThanOrEqual(startMs)
      expect(e.ts).toBeLessThanOrEqual(place)
      expect(e.ts).toBeGreaterThan(place - SMALL.disorderMs - 1)
      expect(max - e.ts).toBeLessThan(WATERMARK_DELAY_MS)
      max = Math.max(max, e.ts)
    }
    expect(new Set(events.map((e) => e.card)).size).toBe(SMALL.keys)
  })

  it('batchMaxTimes is the running maximum', () => {
    expect(Array.from(batchMaxTimes([3, 1, 5, 4], 4, new Float64Array(4)))).toEqual([3, 3, 5, 5])
  })
})

describe('HandWrittenTumblingWindows', () => {
  it('emits what the reference interpreter emits, in the same order, whatever the batch size', () => {
    // 20,000 events at 100 events/s: 200 s of event time, three windows fire.
    const events = generateWindowPayments(20_000, SMALL)
    const checked = checkSource('window.pipe', windowPipeline())
    expect(checked.pipeline).not.toBeNull()
    const expected: { value: unknown; key: string | null; timestamp: number }[] = []
    const interpreter = createInterpreter(checked.pipeline!, {
      onSink: (out) => expected.push({ value: out.value, key: out.key, timestamp: out.timestamp }),
    })
    for (const e of events) interpreter.push('payments', { value: { ...e }, key: null, timestamp: e.ts })
    expect(expected.length).toBe(3 * SMALL.keys)

    for (const batchSize of [1, 999, 20_000]) {
      const hand = new HandWrittenTumblingWindows()
      const actual: typeof expected = []
      for (let from = 0; from < events.length; from += batchSize) {
        hand.process(events.slice(from, from + batchSize))
        for (let i = 0; i < hand.length; i++)
          actual.push({ value: { ...hand.values[i]! }, key: hand.keys[i]!, timestamp: hand.timestamps[i]! })
      }
      expect(hand.late).toBe(0)
      expect(actual).toStrictEqual(expected)
      // Field order too (toStrictEqual does not compare it).
      expect(actual.map((a) => Object.keys(a.value as object))).toEqual(
        expected.map((e) => Object.keys(e.value as object)),
      )
    }
  })
})
