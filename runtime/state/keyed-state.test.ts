import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FileSnapshotStore } from './file-snapshot-store.ts'
import { jsonCodec, type StateCodec } from './index.ts'
import { KeyedState, type KeyedStateOptions } from './keyed-state.ts'
import type { RowLayout } from './number-rows.ts'
import { type EntryLayer, SnapshotEntries } from './snapshot-entries.ts'
import { decodeSnapshotFile, encodeSnapshotFile } from './snapshot-file.ts'
import { mergeChanges, TimerQueue } from './timers.ts'

const numbers = jsonCodec as StateCodec<number>

/** A running aggregate's accumulators `{ n: count(), total: sum(x), mean: avg(x) }`, as rows of numbers. */
const ROW: RowLayout = ['number', 'number', 'pair']
type Accumulators = [number, number | null, [number, number]]

function setRow(state: KeyedState<unknown>, key: string, value: Accumulators, now: number): boolean {
  state.findRow(key, now, ROW)
  state.rowScratch.set([value[0], value[1] ?? Number.NaN, value[2][0], value[2][1]])
  return state.setRow(key, now)
}

/** What a checkpoint's puts hold, comparable: stored key → the value's bytes (last-use head included). */
function putsOf(state: KeyedState<unknown>): { puts: [string, string][]; deletes: readonly string[] } {
  const { puts, deletes } = state.takeChanges()
  return { puts: [...puts].map(([key, bytes]) => [key, bytes.toString('hex')]), deletes }
}

describe('KeyedState', () => {
  it('reports only what changed since the last epoch, and restores from its changes', () => {
    const state = new KeyedState({ codec: numbers })
    state.set('a', 1, 10)
    state.set('b', 2, 11)
    const first = state.takeChanges()
    expect([...first.puts.keys()].sort()).toEqual(['v:a', 'v:b'])
    expect(first.deletes).toEqual([])
    state.set('a', 3, 12)
    state.delete('b')
    const second = state.takeChanges()
    expect([...second.puts.keys()]).toEqual(['v:a'])
    expect(second.deletes).toEqual(['v:b'])
    expect(state.takeChanges()).toEqual({ puts: new Map(), deletes: [] })

    const restored = new KeyedState({ codec: numbers })
    restored.restore(new Map([...first.puts, ...second.puts]))
    expect(restored.get('a', 20)).toBe(3)
  })

  it('reports the same changes whether few or most of its keys changed (a list of them, or every slot)', () => {
    const state = new KeyedState({ codec: numbers })
    for (let i = 0; i < 800; i++) state.set(`k${i}`, i, i)
    state.takeChanges()
    // Few (under an eighth): takeChanges walks the list of written slots, a repeated write listed once.
    for (const i of [5, 70, 5, 699]) state.set(`k${i}`, -i, 1000)
    state.delete('k70')
    const few = state.takeChanges()
    expect([...few.puts].map(([k, v]) => [k, v.subarray(8).toString()])).toEqual([
      ['v:k5', '-5'],
      ['v:k699', '-699'],
    ])
    expect(few.deletes).toEqual(['v:k70'])
    // Most: the list stops growing and every slot is looked at, in slot order.
    for (let i = 799; i >= 100; i--) if (i !== 70) state.set(`k${i}`, i + 1, 2000)
    const most = state.takeChanges()
    expect([...most.puts.keys()]).toEqual(Array.from({ length: 700 }, (_, i) => `v:k${i + 100}`))
    expect(state.takeChanges()).toEqual({ puts: new Map(), deletes: [] })
  })

  it('writes the key a reused slot holds now, also after deletion, expiry, eviction and a restore into it', () => {
    const state = new KeyedState({ codec: numbers, ttlMs: 5, maxKeys: 2, overBudget: 'evict-lru' })
    state.set('a', 1, 0)
    state.set('b', 2, 2000)
    expect([...state.takeChanges().puts.keys()].sort()).toEqual(['v:a', 'v:b'])
    // Deleted, expired and evicted keys free their slots; the next new keys take them.
    state.delete('a')
    state.set('c', 3, 2001)
    expect([...state.takeChanges().puts.keys()]).toEqual(['v:c'])
    state.set('d', 4, 4000)
    state.set('b', 5, 4000)
    let changes = state.takeChanges()
    expect([...changes.puts.keys()].sort()).toEqual(['v:b', 'v:d'])
    expect(changes.deletes).toEqual(['v:c'])
    state.expire(5000)
    state.set('é', 6, 5000)
    state.set('b', 7, 5000)
    changes = state.takeChanges()
    expect(Object.fromEntries([...changes.puts].map(([k, v]) => [k, v.subarray(8).toString()]))).toEqual({
      'v:b': '7',
      'v:é': '6',
    })
    expect([...changes.deletes]).toEqual(['v:d'])
    // The same keys over several epochs.
    for (let epoch = 0; epoch < 3; epoch++) {
      state.set('b', epoch, 6000 + epoch)
      state.set('é', -epoch, 6000 + epoch)
      expect([...state.takeChanges().puts.keys()].sort()).toEqual(['v:b', 'v:é'])
    }
    // A restore into the same state starts its slots afresh.
    const other = new KeyedState({ codec: numbers })
    other.set('x', 8, 7000)
    other.set('yy', 9, 7000)
    state.restore(other.takeChanges().puts)
    state.set('yy', 10, 7001)
    state.set('x', 11, 7001)
    expect([...state.takeChanges().puts.keys()].sort()).toEqual(['v:x', 'v:yy'])
  })

  it('expires keys idle longer than the TTL, keeping their last-use time across a restore', () => {
    const state = new KeyedState({ codec: numbers, ttlMs: 100 })
    state.set('old', 1, 0)
    state.set('used', 2, 0)
    state.get('used', 90)
    const snapshot = state.takeChanges().puts
    const restored = new KeyedState({ codec: numbers, ttlMs: 100 })
    restored.restore(snapshot)
    expect(restored.expire(150)).toBe(1)
    expect(restored.has('old')).toBe(false)
    expect(restored.has('used')).toBe(true)
    expect(restored.takeChanges().deletes).toEqual(['v:old'])
    expect(restored.stats.expired).toBe(1)
  })

  it("refuses a new key beyond its budget by default, and evicts the least recently used under 'evict-lru'", () => {
    const refusing = new KeyedState({ codec: numbers, maxKeys: 2 })
    expect(refusing.set('a', 1, 0)).toBe(true)
    expect(refusing.set('b', 1, 0)).toBe(true)
    expect(refusing.set('c', 1, 0)).toBe(false)
    expect(refusing.set('a', 2, 0)).toBe(true) // an existing key can always change
    expect(refusing.stats.refused).toBe(1)

    const evicting = new KeyedState({ codec: numbers, maxKeys: 2, overBudget: 'evict-lru' })
    // Recency moves in steps of a second of the state's clock (moving a key costs a Map re-insert).
    evicting.set('a', 1, 0)
    evicting.set('b', 1, 1000)
    evicting.get('a', 2500)
    expect(evicting.set('c', 1, 3000)).toBe(true)
    expect([...evicting].map(([k]) => k)).toEqual(['a', 'c'])
    expect(evicting.stats.evicted).toBe(1)
  })

  it('counts bytes as encoded and holds a byte budget', () => {
    const state = new KeyedState({ codec: jsonCodec as StateCodec<string>, maxBytes: 100 })
    for (let i = 0; i < 5; i++) state.set(`k${i}`, 'x'.repeat(10), i)
    state.takeChanges()
    // 8 bytes of last-use time + 12 bytes of JSON per key.
    expect(state.approximateBytes).toBe(100)
    expect(state.set('k9', 'y', 9)).toBe(false)
  })

  it('property: values and timers after random operations and checkpoints equal a plain model, also after restore', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-keyed-'))
    try {
      let run = 0
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              fc.record({
                op: fc.constant('set' as const),
                key: fc.constantFrom('a', 'b', 'c'),
                value: fc.integer(),
              }),
              fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c') }),
              fc.record({
                op: fc.constant('timer' as const),
                key: fc.constantFrom('a', 'b'),
                time: fc.integer({ min: 0, max: 50 }),
              }),
              fc.record({ op: fc.constant('fire' as const), upTo: fc.integer({ min: 0, max: 50 }) }),
              fc.record({ op: fc.constant('checkpoint' as const) }),
            ),
            { maxLength: 40 },
          ),
          async (ops) => {
            const store = new FileSnapshotStore(path.join(dir, String(run++)), { fsync: false })
            const scope = { pipeline: 'p', operator: 'o', topic: 't', partition: 0 }
            const state = new KeyedState({ codec: numbers })
            const timers = new TimerQueue()
            const model = new Map<string, number>()
            let modelTimers: { key: string; time: number }[] = []
            let epoch = 0
            for (const o of ops) {
              if (o.op === 'set') {
                state.set(o.key, o.value, 0)
                model.set(o.key, o.value)
              } else if (o.op === 'delete') {
                state.delete(o.key)
                model.delete(o.key)
              } else if (o.op === 'timer') {
                timers.register(o.key, o.time)
                if (!modelTimers.some((t) => t.key === o.key && t.time === o.time)) modelTimers.push(o)
              } else if (o.op === 'fire') {
                const expected = modelTimers
                  .filter((t) => t.time <= o.upTo)
                  .sort((x, y) => x.time - y.time || (x.key < y.key ? -1 : 1))
                modelTimers = modelTimers.filter((t) => t.time > o.upTo)
                expect(timers.due(o.upTo)).toEqual(expected.map(({ key, time }) => ({ key, time })))
              } else {
                epoch++
                await store.stage(scope, epoch, mergeChanges(state.takeChanges(), timers.takeChanges()))
                await store.commit(scope, epoch)
              }
            }
            epoch++
            await store.stage(scope, epoch, mergeChanges(state.takeChanges(), timers.takeChanges()))
            await store.commit(scope, epoch)
            const { entries } = await store.load(scope)
            const restored = new KeyedState({ codec: numbers })
            restored.restore(entries)
            const restoredTimers = new TimerQueue()
            restoredTimers.restore(entries)
            expect(Object.fromEntries(restored)).toEqual(Object.fromEntries(model))
            expect(restoredTimers.due(Number.MAX_SAFE_INTEGER)).toEqual(
              modelTimers
                .sort((x, y) => x.time - y.time || (x.key < y.key ? -1 : 1))
                .map(({ key, time }) => ({ key, time })),
            )
            await store.close()
          },
        ),
        { numRuns: 60 },
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('restores base and deltas in place, decoding each value only when first used', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-keyed-'))
    try {
      const store = new FileSnapshotStore(dir, { fsync: false })
      const scope = { pipeline: 'p', operator: 'o', topic: 't', partition: 0 }
      const state = new KeyedState({ codec: numbers })
      for (const [i, key] of ['a', 'b', 'c', 'é\u{1F600}'].entries()) state.set(key, i, 100 + i)
      await store.stage(scope, 1, state.takeChanges())
      state.set('a', 10, 200)
      state.delete('b')
      await store.stage(scope, 2, state.takeChanges())
      await store.commit(scope, 2)
      const { entries } = await store.load(scope)
      expect(entries).toBeInstanceOf(SnapshotEntries)

      let decoded = 0
      const counting: StateCodec<number> = {
        encode: numbers.encode,
        decode: (bytes) => {
          decoded++
          return numbers.decode(bytes)
        },
      }
      const restored = new KeyedState({ codec: counting, ttlMs: 50 })
      restored.restore(entries)
      expect(decoded).toBe(0)
      expect(restored.size).toBe(3)
      expect(restored.has('b')).toBe(false)
      expect(restored.get('a', 210)).toBe(10)
      expect(restored.get('a', 211)).toBe(10)
      expect(decoded).toBe(1)
      expect(Object.fromEntries(restored)).toEqual({ a: 10, c: 2, 'é\u{1F600}': 3 })
      // Last-use times came back too: c (102) and the last key (103) are idle at 160, a is not.
      expect(restored.expire(160)).toBe(2)
      expect([...restored.takeChanges().deletes].sort()).toEqual(['v:c', 'v:é\u{1F600}'])
      await store.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('evicts in exact order of use under evict-lru once uses are a second apart, also after a restore', () => {
    const state = new KeyedState({ codec: numbers, maxKeys: 3, overBudget: 'evict-lru' })
    state.set('a', 1, 0)
    state.set('b', 2, 2000)
    state.set('c', 3, 4000)
    state.get('a', 6000)
    state.set('b', 20, 8000)
    expect([...state].map(([k]) => k)).toEqual(['c', 'a', 'b'])
    expect(state.set('d', 4, 10_000)).toBe(true)
    expect([...state].map(([k]) => k)).toEqual(['a', 'b', 'd'])

    const restored = new KeyedState({ codec: numbers, maxKeys: 3, overBudget: 'evict-lru' })
    restored.restore(state.takeChanges().puts)
    restored.get('a', 12_000)
    restored.set('e', 5, 12_000)
    expect(Object.fromEntries(restored)).toEqual({ d: 4, a: 1, e: 5 })
    expect(restored.stats.evicted).toBe(1)
  })

  it('property: any reads, writes, deletes, expiry and restores from checkpoints agree with a plain map', () => {
    const keys = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'é', '\u{1F600}', 'k:1/2')
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('set' as const), key: keys, value: fc.integer() }),
            fc.record({ op: fc.constant('increment' as const), key: keys }),
            fc.record({ op: fc.constant('delete' as const), key: keys }),
            fc.record({ op: fc.constant('expire' as const) }),
            fc.record({ op: fc.constant('checkpoint' as const) }),
            fc.record({ op: fc.constant('restore' as const), layered: fc.boolean() }),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const ttlMs = 5
          let state = new KeyedState({ codec: numbers, ttlMs })
          const model = new Map<string, { value: number; touched: number }>()
          let checkpointed = new Map<string, { value: number; touched: number }>()
          const layers: EntryLayer[] = []
          const snapshot = new Map<string, Buffer>()
          let now = 0
          for (const o of ops) {
            now++
            if (o.op === 'set') {
              state.set(o.key, o.value, now)
              model.set(o.key, { value: o.value, touched: now })
            } else if (o.op === 'increment') {
              // Read-modify-write, the generated code's pattern: set right after get of the same key.
              const value = (state.get(o.key, now) ?? 0) + 1
              state.set(o.key, value, now)
              model.set(o.key, { value, touched: now })
            } else if (o.op === 'delete') {
              state.delete(o.key)
              model.delete(o.key)
            } else if (o.op === 'expire') {
              state.expire(now)
              for (const [key, entry] of model) if (now - entry.touched > ttlMs) model.delete(key)
            } else if (o.op === 'checkpoint') {
              const changes = state.takeChanges()
              for (const key of changes.deletes) snapshot.delete(key)
              for (const [key, value] of changes.puts) snapshot.set(key, Buffer.from(value))
              layers.push(
                decodeSnapshotFile(
                  encodeSnapshotFile('delta', layers.length + 1, changes.puts, changes.deletes),
                  'f',
                ).layer,
              )
              checkpointed = new Map(model)
            } else {
              state = new KeyedState({ codec: numbers, ttlMs })
              state.restore(o.layered ? new SnapshotEntries(layers) : snapshot)
              model.clear()
              for (const [key, entry] of checkpointed) model.set(key, { ...entry })
            }
            expect(Object.fromEntries(state)).toEqual(
              Object.fromEntries([...model].map(([key, { value }]) => [key, value])),
            )
            expect(state.size).toBe(model.size)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('property: rows of numbers snapshot the bytes an array per key did, and restore from and into either', () => {
    const accumulators = fc.tuple(
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.option(fc.oneof(fc.integer(), fc.double({ min: -1e9, max: 1e9, noNaN: true })), { nil: null }),
      fc.tuple(fc.double({ min: -1e9, max: 1e9, noNaN: true }), fc.integer({ min: 0, max: 1000 })),
    )
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'é')
    fc.assert(
      fc.property(
        fc.record({
          maxKeys: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
          maxBytes: fc.option(fc.integer({ min: 30, max: 150 }), { nil: undefined }),
          overBudget: fc.constantFrom<'refuse' | 'evict-lru'>('refuse', 'evict-lru'),
        }),
        fc.array(
          fc.oneof(
            fc.record({
              op: fc.constant('set' as const),
              key,
              value: accumulators,
              now: fc.integer({ min: 0, max: 100 }),
            }),
            fc.record({ op: fc.constant('delete' as const), key }),
            fc.record({ op: fc.constant('expire' as const), now: fc.integer({ min: 0, max: 200 }) }),
            fc.record({
              op: fc.constant('checkpoint' as const),
              restore: fc.constantFrom('none', 'same', 'crossed'),
            }),
          ),
          { maxLength: 50 },
        ),
        (budget, ops) => {
          // Budgets in keys and bytes: a row's size is its JSON's, so both refuse and evict alike.
          const options: KeyedStateOptions<unknown> = { codec: jsonCodec, ttlMs: 50, ...budget }
          let objects = new KeyedState<unknown>(options)
          let rows = new KeyedState<unknown>(options)
          const snapshot = new Map<string, Buffer>()
          for (const o of ops) {
            if (o.op === 'set') {
              const value = o.value as Accumulators
              expect(setRow(rows, o.key, value, o.now)).toBe(objects.set(o.key, value, o.now))
            } else if (o.op === 'delete') {
              objects.delete(o.key)
              rows.delete(o.key)
            } else if (o.op === 'expire') {
              expect(rows.expire(o.now)).toBe(objects.expire(o.now))
            } else {
              const objectChanges = objects.takeChanges()
              const rowChanges = rows.takeChanges()
              const hex = (puts: ReadonlyMap<string, Buffer>) =>
                [...puts].map(([k, v]) => [k, v.toString('hex')])
              expect(hex(rowChanges.puts)).toEqual(hex(objectChanges.puts))
              expect(rowChanges.deletes).toEqual(objectChanges.deletes)
              for (const [k, v] of rowChanges.puts) snapshot.set(k, Buffer.from(v))
              for (const k of rowChanges.deletes) snapshot.delete(k)
              if (o.restore !== 'none') {
                objects = new KeyedState<unknown>(options)
                rows = new KeyedState<unknown>(options)
                objects.restore(snapshot)
                rows.restore(snapshot)
                // Crossed: the state of rows has taken its layout before the restore.
                if (o.restore === 'crossed') rows.findRow('none', 0, ROW)
              }
            }
            expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(objects))
            expect(rows.approximateBytes).toBe(objects.approximateBytes)
          }
          expect(putsOf(rows)).toEqual(putsOf(objects))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('restores a snapshot of arrays per key written before rows (294fafd) into rows, and writes it back unchanged', async () => {
    const file = decodeSnapshotFile(
      await readFile(path.join(import.meta.dirname, 'fixtures/aggregate-objects-294fafd.delta')),
      'fixture',
    )
    const state = new KeyedState<unknown>({ codec: jsonCodec })
    state.restore(new SnapshotEntries([file.layer]))
    const at = state.findRow('card-2', 0, ROW)
    expect([...state.rows.subarray(at, at + 4)]).toEqual([1, Number.NaN, 0, 0])
    expect(Object.fromEntries(state)).toEqual({
      'card-1': [3, 1742, [12.5, 2]],
      'card-2': [1, null, [0, 0]],
      'card-€': [2, -7.25, [-0.5, 1]],
      big: [9007199254740991, -9007199254740991, [1e300, 3]],
    })
    // Every key written again as a row (the same accumulators): the same entries, byte for byte.
    for (const [key, value] of state) setRow(state, key, value as Accumulators, 0)
    const rewritten = new Map(state.takeChanges().puts)
    const original = new SnapshotEntries([file.layer])
    expect([...rewritten.keys()].sort()).toEqual([...original.keys()].sort())
    for (const [key, bytes] of original) expect(rewritten.get(key)!.subarray(8)).toEqual(bytes.subarray(8))
  })

  it('keeps rows as the state grows, and checkpoints only the rows written since the last one', () => {
    const state = new KeyedState<unknown>({ codec: jsonCodec })
    for (let i = 0; i < 1000; i++) setRow(state, `k${i}`, [i, i % 3 === 0 ? null : -i, [i / 2, i]], i)
    expect(state.takeChanges().puts.size).toBe(1000)
    for (let i = 0; i < 1000; i += 7) {
      const at = state.findRow(`k${i}`, 5000, ROW)
      expect([...state.rows.subarray(at, at + 4)]).toEqual([i, i % 3 === 0 ? Number.NaN : -i, i / 2, i])
      setRow(state, `k${i}`, [i + 1, 1, [0, 0]], 5000)
    }
    const changes = state.takeChanges()
    expect([...changes.puts.keys()]).toEqual(Array.from({ length: 143 }, (_, j) => `v:k${7 * j}`))
    expect(changes.puts.get('v:k7')!.subarray(8).toString()).toBe('[8,1,[0,0]]')
  })

  it('refuses a restored value that is no row of its layout as a corrupt state', () => {
    const state = new KeyedState<unknown>({ codec: jsonCodec })
    const bytes = Buffer.concat([Buffer.alloc(8), Buffer.from('[1,"x",[0,0]]')])
    state.restore(new Map([['v:k', bytes]]))
    expect(() => state.findRow('k', 0, ROW)).toThrow(/"k" is \[1,"x",\[0,0\]\], not a row/)
  })
})
