import { beforeAll, describe, expect, it } from 'vitest'
import type { ChainFunction } from '../../runtime/artifact/operators.ts'
import {
  checkedPipeline,
  checkMeasuredOutputs,
  crossCheck,
  loadFusedChain,
  type SpecFactory,
  specFactory,
  VARIANT_KEYS,
  VARIANTS,
} from './chain-variants.ts'
import type { OutputView } from './checksum.ts'
import { measureVariant, type VariantResult } from './measure.ts'
import { generatePayments } from './payments.ts'

let chain: ChainFunction
let factory: SpecFactory
const payments = generatePayments(3_000, 7)

beforeAll(async () => {
  const loaded = await loadFusedChain()
  chain = loaded.chain
  factory = specFactory(chain, checkedPipeline())
})

/** The factory with one variant's outputs rewritten by `change` (a view over the real outputs). */
function sabotaged(key: string, change: (out: OutputView) => OutputView): SpecFactory {
  return (k, p) => {
    const spec = factory(k, p)
    if (k !== key) return spec
    return { ...spec, outputs: () => change(spec.outputs!()) }
  }
}

describe('benchmark variants of the payments chain', () => {
  it('all four emit what the pipeline means, identical to the interpreter', () => {
    const passing = payments.filter((p) => p.amount > 100 && p.country !== 'US')
    expect(crossCheck(factory, payments, 256)).toBe(passing.length)
    // The reference itself, checked against the pipeline text by hand for one event.
    const spec = factory('fused', payments)
    spec.process(spec.batches(payments.length)[0]!)
    const out = spec.outputs!()
    const first = passing[0]!
    expect(out.length).toBe(passing.length)
    expect(out.values[0]).toEqual({
      id: first.id,
      card: first.card,
      cents: Math.trunc(first.amount * 100),
      country: first.country,
    })
    expect(out.keys[0]).toBe(first.card)
    expect(out.timestamps[0]).toBe(first.ts)
  })

  it('the prefix check names a variant with a wrong timestamp, a lost event or another field order', () => {
    const wrongTimestamp = sabotaged('operator-at-a-time', (out) => ({
      ...out,
      timestamps: Array.from(out.timestamps, (t, i) => (i === 3 ? t + 1 : t)),
    }))
    expect(() => crossCheck(wrongTimestamp, payments, 256)).toThrow(
      /operator-at-a-time differs from the interpreter on the check prefix, output 3:/,
    )
    const lostEvent = sabotaged('fused', (out) => ({ ...out, length: out.length - 1 }))
    expect(() => crossCheck(lostEvent, payments, 256)).toThrow(/fused \(generated\) differs/)
    const reordered = sabotaged('hand-written', (out) => ({
      ...out,
      values: Array.from(out.values as { id: string; card: string; cents: number; country: string }[], (v) =>
        v === undefined ? v : { card: v.card, id: v.id, cents: v.cents, country: v.country },
      ),
    }))
    expect(() => crossCheck(reordered, payments, 256)).toThrow(/hand-written loop differs .*field order/)
  })

  it('measured in-process, every variant reports the same output checksums', async () => {
    const results: VariantResult[] = []
    for (const key of VARIANT_KEYS) {
      results.push(
        await measureVariant(factory(key, payments), {
          events: payments.length,
          batchSize: 500,
          latencyBatchSize: 64,
          latencyBatches: 100,
          iterations: 1,
          timeMs: 1,
          warmupIterations: 1,
        }),
      )
    }
    expect(results.map((r) => r.name)).toEqual(Object.values(VARIANTS))
    expect(() => checkMeasuredOutputs(results)).not.toThrow()
    expect(results[0]!.outputs!.pass.events).toBe(results[0]!.throughput.outputsPerIteration)
    const changed = results.map((r, i) =>
      i === 2
        ? { ...r, outputs: { ...r.outputs!, latencyRun: { ...r.outputs!.latencyRun, digest: '0' } } }
        : r,
    )
    expect(() => checkMeasuredOutputs(changed)).toThrow(
      /interpreted emitted different outputs .* not writing a report/,
    )
    const unchecked = results.map((r, i) => (i === 1 ? { ...r, outputs: undefined } : r))
    expect(() => checkMeasuredOutputs(unchecked)).toThrow('operator-at-a-time reported no output checksums')
  })
})
