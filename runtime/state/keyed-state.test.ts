import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FileSnapshotStore } from './file-snapshot-store.ts'
import { jsonCodec, type StateCodec } from './index.ts'
import { KeyedState } from './keyed-state.ts'
import { mergeChanges, TimerQueue } from './timers.ts'

const numbers = jsonCodec as StateCodec<number>

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
})
