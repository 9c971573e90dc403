import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crc32 } from '../log/embedded/crc32.ts'
import {
  DELETED,
  type EntryLayer,
  EntryWriter,
  entryKey,
  entryValue,
  mergeLayers,
  SnapshotEntries,
  valueStartOf,
} from './snapshot-entries.ts'
import {
  decodeSnapshotFile,
  encodeSnapshotChunks,
  encodeSnapshotFile,
  fileWriter,
  finishFile,
} from './snapshot-file.ts'

type Change = { key: string; value: string | null }

/** A layer of puts (value) and deletions (null), written the way the stores write them. */
function layerOf(changes: readonly Change[]): EntryLayer {
  const writer = new EntryWriter(0, 16)
  for (const { key, value } of changes) {
    writer.key('', key)
    if (value === null) writer.deletion()
    else writer.value(Buffer.from(value))
  }
  return writer.finish().layer
}

const text = (entries: Iterable<[string, Buffer]>) =>
  Object.fromEntries([...entries].map(([k, v]) => [k, v.toString()]))

/** Keys with multi-byte UTF-8, a '/' and ':' (as scope keys have), and an empty one. */
const keys = fc.constantFrom('a', 'b', 'v:é', 'v:\u{1F600}', 'k/1:x', '')
const layers = fc.array(
  fc.uniqueArray(fc.record({ key: keys, value: fc.option(fc.string({ maxLength: 6 })) }), {
    selector: (c) => c.key,
    maxLength: 6,
  }),
  { minLength: 1, maxLength: 4 },
)

function model(all: readonly (readonly Change[])[]): Record<string, string> {
  const merged = new Map<string, string>()
  for (const changes of all) {
    for (const { key, value } of changes) {
      if (value === null) merged.delete(key)
      else merged.set(key, value)
    }
  }
  return Object.fromEntries(merged)
}

describe('SnapshotEntries', () => {
  it('property: as a map, layers read as every change applied in order', () => {
    fc.assert(
      fc.property(layers, (all) => {
        const entries = new SnapshotEntries(all.map(layerOf))
        const expected = model(all)
        expect(text(entries)).toEqual(expected)
        expect([...entries.keys()]).toEqual(Object.keys(expected))
        expect(entries.keysWithPrefix('v:').sort()).toEqual(
          Object.keys(expected)
            .filter((k) => k.startsWith('v:'))
            .sort(),
        )
        expect(entries.size).toBe(Object.keys(expected).length)
        const bytes = Object.values(expected).reduce((n, v) => n + Buffer.byteLength(v), 0)
        expect(entries.valueBytes).toBe(bytes)
        expect([...entries.values()].map((v) => v.toString())).toEqual(Object.values(expected))
        for (const { key } of all.flat()) {
          expect(entries.get(key)?.toString()).toBe(expected[key])
          expect(entries.has(key)).toBe(key in expected)
        }
      }),
    )
  })

  it('property: get and has by key answer from the layers before any merge, and after it alike', () => {
    fc.assert(
      fc.property(layers, fc.array(keys, { maxLength: 10 }), (all, asked) => {
        const entries = new SnapshotEntries(all.map(layerOf))
        const expected = model(all)
        // The first few lookups scan the layers (no merged Map yet), later ones use the Map.
        for (const key of asked) {
          expect(entries.get(key)?.toString()).toBe(expected[key])
          expect(entries.has(key)).toBe(key in expected)
        }
      }),
    )
  })

  it('property: merging layers into one (compaction) keeps exactly the merged entries', () => {
    fc.assert(
      fc.property(layers, (all) => {
        const writer = new EntryWriter(0, 16)
        mergeLayers(all.map(layerOf), writer)
        const merged = new SnapshotEntries([writer.finish().layer])
        expect(merged.isPlain).toBe(true)
        expect(text(merged)).toEqual(model(all))
      }),
    )
  })

  it('property: a base given as several chunks (no key in two) merges with the deltas after it', () => {
    fc.assert(
      fc.property(layers, fc.integer({ min: 1, max: 40 }), (all, maxBytes) => {
        const [first, ...later] = all
        const base = first!.filter((c) => c.value !== null)
        const chunks = encodeSnapshotChunks(
          'base',
          1,
          new SnapshotEntries([layerOf(base)]),
          [],
          maxBytes,
        ).map((chunk) => decodeSnapshotFile(chunk, 'chunk').layer)
        const writer = new EntryWriter(0, 16)
        mergeLayers([...chunks, ...later.map(layerOf)], writer, chunks.length)
        expect(text(new SnapshotEntries([writer.finish().layer]))).toEqual(model([base, ...later]))
      }),
    )
  })

  it('reads one layer without deletions in place, and lets the last copy of a repeated key count', () => {
    const plain = new SnapshotEntries([layerOf([{ key: 'a', value: '1' }])])
    expect(plain.isPlain).toBe(true)
    const value = [...plain.values()][0]
    expect(value?.buffer).toBe(plain.layers[0]!.bytes.buffer) // a view, not a copy

    const writer = new EntryWriter(0, 16)
    writer.pair(Buffer.from('a'), Buffer.from('old'))
    writer.pair(Buffer.from('b'), Buffer.from('2'))
    writer.pair(Buffer.from('a'), Buffer.from('new'))
    const repeated = new SnapshotEntries([writer.finish().layer], true)
    expect(repeated.isPlain).toBe(false)
    expect(text(repeated)).toEqual({ a: 'new', b: '2' })
  })
})

describe('EntryWriter', () => {
  it('property: keys and string values are written as the UTF-8 Buffer.from would give, ASCII or not', () => {
    const text = fc.string({
      unit: fc.oneof(
        fc.constant('a'),
        fc.constant('é'),
        fc.constant('\u{1F600}'),
        fc.constant('\ud800'),
        fc.string({ unit: 'binary', maxLength: 1 }),
      ),
      maxLength: 8,
    })
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 2 }), text, text, fc.double({ noNaN: true })), {
          maxLength: 5,
        }),
        (entries) => {
          const writer = new EntryWriter(0, 8)
          for (const [prefix, key, value, head] of entries) {
            writer.key(prefix, key)
            writer.valueString(value, head)
            expect(writer.lastValueBytes).toBe(8 + Buffer.byteLength(value))
          }
          const layer = writer.finish().layer
          expect(layer.count).toBe(entries.length)
          entries.forEach(([prefix, key, value, head], i) => {
            expect(entryKey(layer, i)).toBe(Buffer.from(prefix + key).toString())
            const bytes = entryValue(layer, i)!
            expect(bytes.readDoubleBE(0)).toBe(head)
            expect(bytes.subarray(8).equals(Buffer.from(value))).toBe(true)
          })
        },
      ),
    )
  })
})

describe('snapshot files', () => {
  it('property: any puts and deletes round-trip through a file, whether given as a map or as entries', () => {
    fc.assert(
      fc.property(layers, fc.integer({ min: 1, max: 2 ** 40 }), (all, epoch) => {
        const changes = all[0]!
        const puts = changes.filter((c) => c.value !== null)
        const deletes = changes.filter((c) => c.value === null).map((c) => c.key)
        const asMap = new Map(puts.map((c) => [c.key, Buffer.from(c.value!)]))
        const asEntries = puts.length === 0 ? asMap : new SnapshotEntries([layerOf(puts)])
        for (const given of [asMap, asEntries]) {
          const file = decodeSnapshotFile(encodeSnapshotFile('delta', epoch, given, deletes), 'f')
          expect(file.kind).toBe('delta')
          expect(file.epoch).toBe(epoch)
          expect(text(new SnapshotEntries([file.layer]))).toEqual(model([puts]))
          const deleted: string[] = []
          for (let i = 0; i < file.layer.count; i++) {
            if (valueStartOf(file.layer, i) === DELETED) deleted.push(entryKey(file.layer, i))
          }
          expect(deleted).toEqual(deletes)
        }
      }),
    )
  })

  it('property: chunks hold every entry once, each chunk a checked file of at most maxBytes of entries', () => {
    fc.assert(
      fc.property(
        layers,
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (all, maxBytes, epoch) => {
          const changes = all[0]!
          const puts = new Map(
            changes.filter((c) => c.value !== null).map((c) => [c.key, Buffer.from(c.value!)]),
          )
          const deletes = changes.filter((c) => c.value === null).map((c) => c.key)
          const chunks = encodeSnapshotChunks('delta', epoch, puts, deletes, maxBytes)
          if (changes.length === 0) expect(chunks).toEqual([])
          const files = chunks.map((chunk, i) => decodeSnapshotFile(chunk, `chunk ${i}`))
          for (const file of files) {
            expect(file.epoch).toBe(epoch)
            expect(file.kind).toBe('delta')
            // Over the limit only when one entry alone is.
            if (file.layer.end - file.layer.start > maxBytes) expect(file.layer.count).toBe(1)
          }
          expect(text(new SnapshotEntries(files.map((f) => f.layer)))).toEqual(model([changes]))
          const deleted = files.flatMap((f) =>
            Array.from({ length: f.layer.count }, (_, i) => i)
              .filter((i) => valueStartOf(f.layer, i) === DELETED)
              .map((i) => entryKey(f.layer, i)),
          )
          expect(deleted).toEqual(deletes)
          // The same bytes as one file, cut at entry boundaries.
          const whole = decodeSnapshotFile(encodeSnapshotFile('delta', epoch, puts, deletes), 'whole').layer
          const joined = Buffer.concat(files.map((f) => f.layer.bytes.subarray(f.layer.start, f.layer.end)))
          expect(joined.equals(whole.bytes.subarray(whole.start, whole.end))).toBe(true)
        },
      ),
    )
  })

  it('property: puts given as several layers are written merged (a state and its timers, or any overlap)', () => {
    fc.assert(
      fc.property(layers, (all) => {
        const puts = new SnapshotEntries(all.map(layerOf))
        const file = decodeSnapshotFile(encodeSnapshotFile('delta', 1, puts), 'f')
        expect(text(new SnapshotEntries([file.layer], true))).toEqual(model(all))
        expect(file.layer.count).toBe(Object.keys(model(all)).length)
      }),
    )
  })

  it('reads a file of the first format, byte for byte as the earlier encoder wrote it', () => {
    // magic | version 1 | kind 2 (delta) | u64 epoch 3 | u32 count 2 | "v:a" → "xy" | "v:b" deleted | CRC
    const body = Buffer.concat([
      Buffer.from('SLST'),
      Buffer.from([1, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 2]),
      Buffer.from([0, 0, 0, 3]),
      Buffer.from('v:a'),
      Buffer.from([0, 0, 0, 2]),
      Buffer.from('xy'),
      Buffer.from([0, 0, 0, 3]),
      Buffer.from('v:b'),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
    ])
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(body))
    const file = decodeSnapshotFile(Buffer.concat([body, crc]), 'f')
    expect(file).toMatchObject({ kind: 'delta', epoch: 3 })
    expect(entryKey(file.layer, 0)).toBe('v:a')
    expect(entryValue(file.layer, 0)?.toString()).toBe('xy')
    expect(entryKey(file.layer, 1)).toBe('v:b')
    expect(entryValue(file.layer, 1)).toBeNull()
    // And the encoder still writes exactly those bytes.
    const puts = new Map([['v:a', Buffer.from('xy')]])
    expect(encodeSnapshotFile('delta', 3, puts, ['v:b']).equals(Buffer.concat([body, crc]))).toBe(true)
  })

  it('writes a file from a writer with room for the header, as compaction does', () => {
    const writer = fileWriter(8)
    writer.key('v:', 'card-1')
    writer.value(Buffer.from('{"n":1}'), 42)
    const file = decodeSnapshotFile(finishFile(writer, 'base', 7), 'f')
    expect(file).toMatchObject({ kind: 'base', epoch: 7 })
    const value = new SnapshotEntries([file.layer]).get('v:card-1')!
    expect(value.readDoubleBE(0)).toBe(42)
    expect(value.subarray(8).toString()).toBe('{"n":1}')
  })
})
