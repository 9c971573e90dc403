import { describe, expect, it } from 'vitest'
import type { EngineMatch } from '../../runtime/cep/engine.ts'
import { createNfaEngine } from '../../runtime/cep/nfa.ts'
import {
  CEP_BENCH_FUNCTIONS,
  CEP_BENCH_SPEC,
  type CepPayment,
  cepBatches,
  HandWrittenSmallSmallLarge,
  LARGE_ABOVE,
  SMALL_BELOW,
  WITHIN_MS,
} from './cep-workload.ts'

const UNBOUNDED = { maxPerKey: Number.POSITIVE_INFINITY, maxTotal: Number.POSITIVE_INFINITY }

describe('the CEP benchmark workload', () => {
  it('is the same for the same seed, in event-time order, mostly small payments', () => {
    const a = cepBatches(5000, { seed: 7, keys: 100, eventsPerSecond: 10 }, 1000)
    const b = cepBatches(5000, { seed: 7, keys: 100, eventsPerSecond: 10 }, 1000)
    expect(a.map((x) => x.rows)).toEqual(b.map((x) => x.rows))
    const rows = a.flatMap((x) => x.rows as CepPayment[])
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.ts).toBeGreaterThan(rows[i - 1]!.ts)
    const small = rows.filter((r) => r.amount < SMALL_BELOW).length / rows.length
    const large = rows.filter((r) => r.amount > LARGE_ABOVE).length / rows.length
    expect(small).toBeGreaterThan(0.65)
    expect(small).toBeLessThan(0.75)
    expect(large).toBeGreaterThan(0.01)
    expect(large).toBeLessThan(0.03)
  })

  it('the hand-written loop finds the TypeScript engine’s matches, in its order', () => {
    const batches = cepBatches(20_000, { seed: 3, keys: 200, eventsPerSecond: 2 }, 512)
    const engine = createNfaEngine(CEP_BENCH_SPEC, CEP_BENCH_FUNCTIONS, UNBOUNDED)
    const hand = new HandWrittenSmallSmallLarge(200)
    const expected: string[] = []
    const actual: string[] = []
    for (const batch of batches) {
      const matches: EngineMatch[] = []
      engine.step(batch, matches, [])
      engine.advanceTime(batch.watermark, matches, null)
      for (const m of matches) expected.push(`${m.keyId}: ${m.seqs.join(' ')} ${m.steps.join('')}`)
      hand.step(batch, (card, a, b, c) => actual.push(`${card}: ${a} ${b} ${c} 001`))
    }
    expect(expected.length).toBeGreaterThan(100)
    expect(actual).toEqual(expected)
  })

  it('the hand-written loop expires at a watermark what the engine expires there, and goes on after', () => {
    const batches = cepBatches(20_000, { seed: 5, keys: 200, eventsPerSecond: 2 }, 512)
    const engine = createNfaEngine(CEP_BENCH_SPEC, CEP_BENCH_FUNCTIONS, UNBOUNDED)
    const hand = new HandWrittenSmallSmallLarge(200)
    let expected = 0
    let found = 0
    let sawHeld = false
    for (const batch of batches) {
      const matches: EngineMatch[] = []
      engine.step(batch, matches, [])
      engine.advanceTime(batch.watermark, matches, null)
      expected += matches.length
      found += hand.step(batch, () => {})
      hand.expire(batch.watermark)
      expect(hand.held).toBe(engine.partialMatches)
      sawHeld ||= hand.held > 0
    }
    expect(sawHeld).toBe(true)
    expect(found).toBe(expected)
    const last = batches[batches.length - 1]!
    engine.advanceTime(last.watermark + WITHIN_MS + 1, [], null)
    hand.expire(last.watermark + WITHIN_MS + 1)
    expect(engine.partialMatches).toBe(0)
    expect(hand.held).toBe(0)
  })
})
