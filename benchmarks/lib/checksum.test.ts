import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { OutputChecksum, type OutputView } from './checksum.ts'

function digestOf(events: readonly { value: unknown; key: string | null; timestamp: number }[]): string {
  const checksum = new OutputChecksum()
  for (const e of events) checksum.addEvent(e.value, e.key, e.timestamp)
  return checksum.result().digest
}

const base = {
  value: { id: 'p-1', card: 'card-7', cents: 12345, country: 'DE' },
  key: 'card-7',
  timestamp: 1000,
}

describe('OutputChecksum', () => {
  it('is deterministic and counts events', () => {
    const checksum = new OutputChecksum()
    checksum.addEvent(base.value, base.key, base.timestamp)
    checksum.addEvent(base.value, base.key, base.timestamp)
    expect(checksum.result()).toEqual({ events: 2, digest: digestOf([base, base]) })
    expect(checksum.result().digest).toMatch(/^[0-9a-f]{16}$/)
  })

  it('changes when any value, key, timestamp, type, field name or field order changes', () => {
    const reference = digestOf([base])
    const variants = [
      { ...base, value: { ...base.value, cents: 12346 } },
      { ...base, value: { ...base.value, cents: '12345' } },
      { ...base, value: { ...base.value, cents: 12345.5 } },
      { ...base, value: { ...base.value, country: 'FR' } },
      { ...base, value: { id: 'p-1', card: 'card-7', amount: 12345, country: 'DE' } },
      { ...base, value: { card: 'card-7', id: 'p-1', cents: 12345, country: 'DE' } },
      { ...base, value: { ...base.value, extra: null } },
      { ...base, value: [base.value] },
      { ...base, key: null },
      { ...base, key: 'card-8' },
      { ...base, timestamp: 1001 },
    ]
    for (const changed of variants) expect(digestOf([changed]), JSON.stringify(changed)).not.toBe(reference)
    // Order of events counts too.
    const other = { ...base, key: 'card-9' }
    expect(digestOf([base, other])).not.toBe(digestOf([other, base]))
    // Tags keep null, undefined, "null", false and 0 apart.
    const digests = [null, undefined, 'null', false, 0, -0, 0n, [], {}].map((value) =>
      digestOf([{ ...base, value }]),
    )
    expect(new Set(digests).size).toBe(digests.length)
  })

  it('addBatch folds in exactly the first `length` outputs, keys as stored', () => {
    const batch: OutputView = {
      values: [base.value, { x: 1 }, { never: 'read' }],
      keys: ['card-7', null, 'stale'],
      timestamps: [1000, 2000, 3000],
      length: 2,
    }
    const checksum = new OutputChecksum()
    checksum.addBatch(batch)
    expect(checksum.result()).toEqual({
      events: 2,
      digest: digestOf([base, { value: { x: 1 }, key: null, timestamp: 2000 }]),
    })
    const undefinedKey = new OutputChecksum()
    undefinedKey.addBatch({ ...batch, keys: ['card-7', undefined as unknown as null] })
    expect(undefinedKey.result().digest).not.toBe(checksum.result().digest)
  })

  it('agrees for equal outputs however they are batched', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ value: fc.jsonValue(), key: fc.option(fc.string()), timestamp: fc.integer() }), {
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 7 }),
        (events, size) => {
          const batched = new OutputChecksum()
          for (let start = 0; start < events.length; start += size) {
            const slice = events.slice(start, start + size)
            batched.addBatch({
              values: slice.map((e) => e.value),
              keys: slice.map((e) => e.key),
              timestamps: slice.map((e) => e.timestamp),
              length: slice.length,
            })
          }
          expect(batched.result()).toEqual({ events: events.length, digest: digestOf(events) })
        },
      ),
    )
  })
})
