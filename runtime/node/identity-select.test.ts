/**
 * An identity `select { * }` (a select keeping every field as it is) between a source and a sink
 * must not defeat the pass-through of canonical record bytes (issue 17; pass-through.ts): the
 * optimiser drops it (compiler/passes/drop-identity-projections.ts). The same random records
 * through the runner with the pass-through and without it give byte-identical sink records and
 * the same dead letters.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { compileSource } from '../../compiler/compile.ts'
import { compileFixture } from '../../test/support/compile-fixture.ts'
import { runBids, visible, withoutPassThrough } from '../../test/support/pass-through-runs.ts'
import { type LoadedArtifact, loadArtifact } from '../artifact/load.ts'

const SCHEMA = `schema Bid { auction: i64, price: i64, date_time: timestamp @event_time, extra: string, note: string? }
source bids: Bid from kafka("bid") watermark date_time
`
const pipe = (select: string) => `${SCHEMA}stream s = bids | ${select}
sink s -> kafka("out")
`

let withCheck: LoadedArtifact
let withoutCheck: LoadedArtifact

beforeAll(async () => {
  withCheck = await loadArtifact(
    await compileFixture(pipe('select { * }'), 'identity-select', 'identity.pipe'),
  )
  withoutCheck = withoutPassThrough(withCheck)
})

describe('an identity select', () => {
  it('is dropped by the optimiser; a select that changes anything is kept', () => {
    const kinds = (select: string) => {
      const { pipeline, diagnostics } = compileSource('p.pipe', pipe(select))
      if (pipeline === null || pipeline === undefined)
        throw new Error(diagnostics.map((d) => d.message).join('\n'))
      return pipeline.nodes.map((n) => n.kind)
    }
    expect(kinds('select { * }')).toEqual(['Source', 'Sink'])
    expect(kinds('select { auction, price, date_time, extra, note }')).toEqual(['Source', 'Sink'])
    for (const changed of [
      'select { auction, price, date_time, note, extra }',
      'select { * except (note) }',
      'select { * rename (note as remark) }',
      'select { *, more: 1 }',
      'select { auction, price: auction, date_time, extra, note }',
      'select { auction, price: price + 0, date_time, extra, note }',
    ]) {
      expect(kinds(changed), changed).not.toEqual(['Source', 'Sink'])
    }
  })

  it('keeps the pass-through: the same bytes and dead letters as decoding and encoding every record', async () => {
    const passThrough = withCheck.operators.sources.bids!.passThrough
    expect(passThrough).toBeDefined()
    const canonical = fc
      .record({
        auction: fc.integer({ min: -5000, max: 5000 }).map(String),
        price: fc.oneof(fc.nat().map(String), fc.constantFrom('1.0', '"7"', '9007199254740993')),
        date_time: fc.oneof(
          fc.integer({ min: 0, max: 4e12 }).map((ms) => JSON.stringify(new Date(ms).toISOString())),
          fc.integer({ min: 0, max: 4e12 }).map(String),
        ),
        extra: fc.oneof(
          fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)),
          fc.constant('"tab\\there"'),
        ),
        note: fc.constantFrom('null', '"n"', undefined),
      })
      .map((b) =>
        Buffer.from(
          `{${Object.entries(b)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => `"${k}":${v}`)
            .join(',')}}`,
        ),
      )
    const record = fc.oneof(
      { weight: 6, arbitrary: canonical },
      fc.constantFrom(
        Buffer.from('{"auction":1,"price":3,"date_time":"2026-01-01T00:00:00.000Z","extra":"x"'),
        Buffer.from(' {"auction":1,"price":3,"date_time":0,"extra":"x"}'),
        Buffer.from('not json'),
        Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
        Buffer.from('[]'),
      ),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 25 }), async (records) => {
        const fast = await runBids(withCheck, records)
        const slow = await runBids(withoutCheck, records)
        expect(visible(fast.out, true)).toEqual(visible(slow.out, true))
        expect(visible(fast.dead, false)).toEqual(visible(slow.dead, false))
        // What the encoder wrote is canonical, so the pass-through takes it (bar escapes): without
        // this the comparison would also pass if the select still stood in the way.
        for (const written of slow.out) {
          if (/\\/.test(written.value.toString())) continue
          expect(passThrough!(written.value)).not.toBeNaN()
        }
      }),
      { seed: 17, numRuns: 15 },
    )
  }, 120_000)
})
