import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EntryWriter, entryKey, entryValue, mergeLayers } from './snapshot-entries.ts'

/**
 * Compaction's merge (mergeLayers) finds keys by their bytes in a hash table instead of a Map of
 * decoded keys (issue 12). Checked here against the plain model, order included: the base's
 * surviving entries in base order, then each later key where its last change lies. Later layers
 * may name a key twice (a Redis reply can), the last copy counting.
 */

type Change = { key: string; value: string | null }

/** Few keys, so layers overlap; multi-byte UTF-8 and keys that differ only in length. */
const keys = fc.constantFrom('a', 'aa', 'b', 'v:é', 'v:\u{1F600}', 'card-1', 'card-10', '')
const changes = fc.array(fc.record({ key: keys, value: fc.option(fc.string({ maxLength: 5 })) }), {
  maxLength: 12,
})
const baseChanges = fc.uniqueArray(fc.record({ key: keys, value: fc.string({ maxLength: 5 }) }), {
  selector: (c) => c.key,
  maxLength: 8,
})

function layerOf(list: readonly Change[]) {
  const writer = new EntryWriter(0, 16)
  for (const { key, value } of list) {
    writer.key('', key)
    if (value === null) writer.deletion()
    else writer.value(Buffer.from(value))
  }
  return writer.finish().layer
}

/** The merge as a list, in the order described above, computed on decoded keys. */
function model(base: readonly Change[], later: readonly (readonly Change[])[]): [string, string][] {
  const latest = new Map<string, string | null>()
  for (const list of later) {
    for (const { key, value } of list) {
      latest.delete(key)
      latest.set(key, value)
    }
  }
  const out: [string, string][] = []
  for (const { key, value } of base) if (!latest.has(key) && value !== null) out.push([key, value])
  for (const [key, value] of latest) if (value !== null) out.push([key, value])
  return out
}

describe('mergeLayers', () => {
  it('property: keeps each key’s last change, in the base’s order then the order of last changes', () => {
    fc.assert(
      fc.property(baseChanges, fc.array(changes, { maxLength: 5 }), (base, later) => {
        const writer = new EntryWriter(0, 16)
        mergeLayers([layerOf(base), ...later.map(layerOf)], writer)
        const { layer } = writer.finish()
        const merged: [string, string][] = []
        for (let i = 0; i < layer.count; i++)
          merged.push([entryKey(layer, i), entryValue(layer, i)!.toString()])
        expect(merged).toEqual(model(base, later))
      }),
      { numRuns: 1000 },
    )
  })
})
