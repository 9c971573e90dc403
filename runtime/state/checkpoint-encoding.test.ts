import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { jsonCodec, type StateCodec } from './index.ts'
import { KeyedState } from './keyed-state.ts'
import { SnapshotEntries } from './snapshot-entries.ts'
import { decodeSnapshotFile, encodeSnapshotFile } from './snapshot-file.ts'

/**
 * A checkpoint's write side (issue 12): KeyedState.takeChanges encodes values straight into its
 * buffer (StateCodec.encodeInto) and the file store finishes that buffer as the delta file in place
 * (encodeSnapshotFile). Both are checked against the plain path: values through JSON.stringify,
 * entries copied into a new file.
 */

type Op = { kind: 'set'; key: string; value: unknown; now: number } | { kind: 'delete'; key: string }

const keys = fc.constantFrom('a', 'b', 'card-1', 'card-22', 'é', '\u{1F600}', 'k/1:x', '')
/** Values of the shapes running state has, and some that JSON.stringify must write instead. */
const stateValues = fc.oneof(
  fc.tuple(fc.integer(), fc.maxSafeInteger()),
  fc.record({ n: fc.nat(), total: fc.double({ noNaN: true }), last: fc.option(fc.string()) }),
  fc.string(),
  fc.constantFrom('needs "escapes"\n', 'ünïcode', new Date(0), [1.5, -0, 1e21]),
)
const ops = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('set' as const),
        key: keys,
        value: stateValues,
        now: fc.nat(1000),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keys }) },
  ),
  { maxLength: 30 },
)
/** Several epochs of operations. */
const epochs = fc.array(ops, { minLength: 1, maxLength: 4 })

/** jsonCodec without its in-place writer: the plain path. */
const { encodeInto: _, ...stringCodec } = jsonCodec

function apply(state: KeyedState<unknown>, op: Op): void {
  if (op.kind === 'set') state.set(op.key, op.value, op.now)
  else state.delete(op.key)
}

describe('a checkpoint’s encoding', () => {
  it('property: takeChanges encodes in place what JSON.stringify gives, and the delta file finished around it equals a copied one', () => {
    fc.assert(
      fc.property(epochs, (epochOps) => {
        const direct = new KeyedState<unknown>({ codec: jsonCodec })
        const plain = new KeyedState<unknown>({ codec: stringCodec as StateCodec<unknown> })
        for (const [e, opsOfEpoch] of epochOps.entries()) {
          for (const op of opsOfEpoch) {
            apply(direct, op)
            apply(plain, op)
          }
          const changes = direct.takeChanges()
          const reference = plain.takeChanges()
          // Exactly the keys whose last operation in this epoch set them (in slot order or not).
          const lastOps = new Map(opsOfEpoch.map((op) => [op.key, op.kind]))
          const setKeys = [...lastOps].filter(([, kind]) => kind === 'set').map(([key]) => `v:${key}`)
          expect([...changes.puts.keys()].sort()).toEqual(setKeys.sort())
          const before = [...changes.puts].map(([k, v]) => [k, Buffer.from(v)] as const)
          expect(before).toEqual([...reference.puts].map(([k, v]) => [k, Buffer.from(v)] as const))
          expect(changes.deletes).toEqual(reference.deletes)

          const file = encodeSnapshotFile('delta', e + 1, changes.puts, changes.deletes)
          if (changes.puts instanceof SnapshotEntries) {
            // Finished in place: the file is the puts' own buffer.
            const { bytes } = changes.puts.layers[0]!
            expect([file.buffer, file.byteOffset]).toEqual([bytes.buffer, bytes.byteOffset])
          }
          // The copy path: a plain Map of the same entries.
          const copied = encodeSnapshotFile('delta', e + 1, new Map(reference.puts), reference.deletes)
          expect(Buffer.compare(file, copied)).toBe(0)
          // Finishing in place wrote only around the entries: the puts read as before.
          expect([...changes.puts].map(([k, v]) => [k, Buffer.from(v)] as const)).toEqual(before)
          const decoded = decodeSnapshotFile(Buffer.from(file), 'delta')
          expect(decoded.epoch).toBe(e + 1)
          expect(decoded.layer.count).toBe(before.length + changes.deletes.length)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('property: a value written in place decodes to what was set', () => {
    fc.assert(
      fc.property(ops, (opsOfEpoch) => {
        const state = new KeyedState<unknown>({ codec: jsonCodec })
        const model = new Map<string, unknown>()
        for (const op of opsOfEpoch) {
          apply(state, op)
          if (op.kind === 'set') model.set(op.key, op.value)
          else model.delete(op.key)
        }
        const { puts } = state.takeChanges()
        const restored = new KeyedState<unknown>({ codec: jsonCodec })
        const { layer } = decodeSnapshotFile(encodeSnapshotFile('delta', 1, puts, []), 'delta')
        restored.restore(new SnapshotEntries([layer]))
        expect(Object.fromEntries(restored)).toEqual(
          Object.fromEntries([...model].map(([k, v]) => [k, JSON.parse(JSON.stringify(v))])),
        )
      }),
      { numRuns: 300 },
    )
  })
})
