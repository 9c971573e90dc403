/**
 * The SnapshotStore conformance suite against a real Redis (scripts/servers/redis.sh, started by
 * scripts/test-integration.sh, which exports SLUICE_REDIS_URL). Every store gets its own key
 * prefix, so runs never see each other's keys.
 */
import { randomUUID } from 'node:crypto'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '../../runtime/errors.ts'
import { type StateScope, scopeId } from '../../runtime/state/index.ts'
import {
  RedisSnapshotStore,
  type RedisSnapshotStoreOptions,
} from '../../runtime/state/redis-snapshot-store.ts'
import { snapshotStoreConformance } from '../../runtime/state/snapshot-store-conformance.ts'

const url = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6390'
const prefixes = new WeakMap<object, string>()

async function open(
  prefix: string,
  options: Partial<RedisSnapshotStoreOptions> = {},
): Promise<RedisSnapshotStore> {
  const store = await RedisSnapshotStore.connect({ url, prefix, ...options })
  prefixes.set(store, prefix)
  return store
}

snapshotStoreConformance('RedisSnapshotStore', {
  create: () => open(`sluice-test-${randomUUID().slice(0, 8)}`),
  reopen: async (store) => {
    await store.close()
    return open(prefixes.get(store)!)
  },
})

// Chunks of a few entries and a compaction after every other epoch: every layout path runs
// (several chunks per epoch, promotion of the first delta, merges into new bases).
const tiny = { chunkBytes: 48, maxDeltas: 2, compactAtRatio: 0.01 }
snapshotStoreConformance('RedisSnapshotStore (tiny chunks, eager compaction)', {
  create: () => open(`sluice-test-${randomUUID().slice(0, 8)}`, tiny),
  reopen: async (store) => {
    await store.close()
    return open(prefixes.get(store)!, tiny)
  },
})

const scope: StateScope = { pipeline: 'p', operator: 'agg', topic: 'in', partition: 0 }
const b = (s: string) => Buffer.from(s)
const text = (entries: ReadonlyMap<string, Buffer>) =>
  Object.fromEntries([...entries].map(([k, v]) => [k, v.toString()]).sort(([x], [y]) => (x! < y! ? -1 : 1)))

describe('RedisSnapshotStore layout (docs/decisions/0029)', () => {
  it('keeps a snapshot as chunks of many keys, not a Redis field per key', async () => {
    const prefix = `sluice-test-${randomUUID().slice(0, 8)}`
    const store = await open(prefix, { chunkBytes: 4096 })
    const redis = new Redis(url)
    try {
      const puts = new Map<string, Buffer>()
      for (let i = 0; i < 10_000; i++) puts.set(`card-${i}`, b(`{"n":${i}}`))
      await store.stage(scope, 1, { puts, deletes: [] })
      await store.commit(scope, 1)
      const loaded = (await store.load(scope)).entries // after the background compaction, too
      const keys = await redis.keys(`${prefix}:*`)
      const fields = await Promise.all(
        keys.map(async (k) => ((await redis.type(k)) === 'hash' ? redis.hlen(k) : 0)),
      )
      const total = fields.reduce((n, f) => n + f, 0)
      expect(total).toBeGreaterThan(10) // split into chunks of at most 4 KiB…
      expect(total).toBeLessThan(200) // …each holding many keys
      expect(loaded.size).toBe(10_000)
      expect(loaded.get('card-9999')?.toString()).toBe('{"n":9999}')
    } finally {
      await store.close()
      redis.disconnect()
    }
  })

  it('property: a connection cut at any byte of a stage leaves the epoch wholly visible or not at all', async () => {
    const epoch1 = new Map<string, Buffer>()
    for (let i = 0; i < 30; i++) epoch1.set(`k${i}`, b(`one-${i}`))
    const epoch2 = new Map<string, Buffer>()
    for (let i = 10; i < 40; i++) epoch2.set(`k${i}`, b(`two-${i}`))
    const deletes2 = ['k0', 'k1', 'k2']
    const state1 = text(epoch1)
    const state2 = { ...state1, ...text(epoch2) }
    for (const k of deletes2) delete state2[k]
    // The bytes a whole run sends, to draw cut points from.
    const whole = await stageThroughProxy(Number.POSITIVE_INFINITY, epoch1, epoch2, deletes2)
    expect(whole.staged).toBe(true)
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: whole.sent }), async (limit) => {
        const run = await stageThroughProxy(limit, epoch1, epoch2, deletes2)
        const store = await open(run.prefix, { chunkBytes: 64 })
        try {
          if (run.staged) {
            // Only a stage that resolved lets the log commit its epoch.
            expect(text((await store.load(scope, 2)).entries)).toEqual(state2)
          } else {
            // The log never committed epoch 2; whether or not it reached Redis, the state is 1's,
            // and a later epoch 2 commits whole.
            expect(text((await store.load(scope, 1)).entries)).toEqual(state1)
            await store.stage(scope, 2, { puts: epoch2, deletes: deletes2 })
            await store.commit(scope, 2)
            expect(text((await store.load(scope)).entries)).toEqual(state2)
          }
        } finally {
          await store.close()
        }
      }),
      { numRuns: 15 },
    )
  })

  it('reads a scope written in the layout before (a field per key) and compacts it away', async () => {
    const prefix = `sluice-test-${randomUUID().slice(0, 8)}`
    const redis = new Redis(url)
    const stem = `${prefix}:{${scopeId(scope)}}:`
    await redis.hset(`${stem}data`, 'a', b('old-a'), 'b', b('old-b'))
    await redis.set(`${stem}epoch`, '4')
    const store = await open(prefix, { maxDeltas: 1 })
    try {
      expect(text((await store.load(scope, 4)).entries)).toEqual({ a: 'old-a', b: 'old-b' })
      await store.stage(scope, 5, { puts: new Map([['a', b('new-a')]]), deletes: ['b'] })
      await store.commit(scope, 5)
      expect(text((await store.load(scope)).entries)).toEqual({ a: 'new-a' })
      expect(await redis.exists(`${stem}data`)).toBe(0)
      expect(text((await store.load(scope)).entries)).toEqual({ a: 'new-a' })
    } finally {
      await store.close()
      redis.disconnect()
    }
  })
})

describe('RedisSnapshotStore owners: a node that lost a scope cannot write it (decision 0011)', () => {
  const state = (store: RedisSnapshotStore, epoch?: number) =>
    store.load(scope, epoch).then((s) => ({ epoch: s.epoch, entries: text(s.entries) }))
  const put = (entries: Record<string, string>) => ({
    puts: new Map(Object.entries(entries).map(([k, v]) => [k, b(v)])),
    deletes: [],
  })
  /** Two stores on one prefix; the first owns the scope and committed epoch 1 ({ a: '1' }). */
  async function twoNodes(
    body: (first: RedisSnapshotStore, second: RedisSnapshotStore, prefix: string) => Promise<void>,
  ) {
    const prefix = `sluice-test-${randomUUID().slice(0, 8)}`
    const first = await open(prefix)
    const second = await open(prefix)
    try {
      await first.load(scope, 0)
      await first.stage(scope, 1, put({ a: '1' }))
      await first.commit(scope, 1)
      await body(first, second, prefix)
    } finally {
      await first.close()
      await second.close()
    }
  }

  it("refuses a zombie's stage of the epoch its successor staged, so the successor's changes stay", () =>
    twoNodes(async (zombie, successor, prefix) => {
      // The zombie stalls; its partition moves: the successor recovers epoch 1 and stages epoch 2.
      await successor.load(scope, 1)
      await successor.stage(scope, 2, put({ a: 'successor' }))
      // The zombie wakes before the successor's store commit and stages the same epoch number.
      const error = await zombie.stage(scope, 2, put({ a: 'zombie', z: 'zombie' })).catch((e: unknown) => e)
      expect(isSluiceError(error, 'STATE_FENCED')).toBe(true)
      // The successor's log committed epoch 2: a restore of epoch 2 loads the successor's changes.
      const restored = await open(prefix)
      try {
        expect(await state(restored, 2)).toEqual({ epoch: 2, entries: { a: 'successor' } })
      } finally {
        await restored.close()
      }
    }))

  it("ignores a zombie's commit of an epoch its successor's recovery dropped", () =>
    twoNodes(async (zombie, successor) => {
      await zombie.stage(scope, 2, put({ a: '2' }))
      // The log never committed epoch 2 (at-least-once: the zombie's offset commit comes too late):
      // the successor recovers epoch 1, which drops the staged epoch 2.
      await successor.load(scope, 1)
      await zombie.commit(scope, 2)
      expect(await state(successor)).toEqual({ epoch: 1, entries: { a: '1' } })
      await successor.stage(scope, 2, put({ b: 'successor' }))
      await successor.commit(scope, 2)
      expect(await state(successor)).toEqual({ epoch: 2, entries: { a: '1', b: 'successor' } })
    }))

  it('takes a scope over by adopting a preload too, and a node that takes it back writes again', () =>
    twoNodes(async (first, second) => {
      // A plain read waits for the store's background compaction, which would fail an adopt too.
      await first.load(scope)
      const preloaded = await second.preload!(scope, 1)
      // A peek takes nothing over: the first node still writes.
      await first.stage(scope, 2, put({ a: '2' }))
      await first.commit(scope, 2)
      await first.load(scope)
      // The peek is stale now (epoch 2 committed since), so adopting it fails and the second node
      // loads afresh, which takes the scope over.
      expect(await preloaded.adopt()).toBe(false)
      const fresh = await second.preload!(scope, 2)
      expect(await fresh.adopt()).toBe(true)
      const refused = await first.stage(scope, 3, put({ a: '3' })).catch((e: unknown) => e)
      expect(isSluiceError(refused, 'STATE_FENCED')).toBe(true)
      await second.stage(scope, 3, put({ a: 'second' }))
      await second.commit(scope, 3)
      // The partition comes back to the first node: its recovery takes the scope over again.
      expect(await state(first, 3)).toEqual({ epoch: 3, entries: { a: 'second' } })
      await first.stage(scope, 4, put({ a: 'first again' }))
      await first.commit(scope, 4)
      expect(await state(second)).toEqual({ epoch: 4, entries: { a: 'first again' } })
    }))
})

describe('RedisSnapshotStore connection', () => {
  it('reports an unreachable Redis as a retryable STATE_UNAVAILABLE naming it', async () => {
    const error = await RedisSnapshotStore.connect({
      url: 'redis://127.0.0.1:1',
      redis: { retryStrategy: () => null, connectTimeout: 500 },
    }).catch((e: unknown) => e)
    expect(isSluiceError(error, 'STATE_UNAVAILABLE')).toBe(true)
    expect((error as { retryable: boolean }).retryable).toBe(true)
    expect((error as Error).message).toContain('redis://127.0.0.1:1')
  })
})

/**
 * Commits epoch 1 directly, then stages epoch 2 (small chunks, so many commands) through a TCP
 * proxy to Redis that forwards only the first `limit` bytes and then drops both sides, as if the
 * node died mid-write. Returns whether the stage resolved and how many bytes the client sent.
 */
async function stageThroughProxy(
  limit: number,
  epoch1: ReadonlyMap<string, Buffer>,
  epoch2: ReadonlyMap<string, Buffer>,
  deletes2: readonly string[],
): Promise<{ prefix: string; staged: boolean; sent: number }> {
  const prefix = `sluice-test-${randomUUID().slice(0, 8)}`
  const direct = await open(prefix, { chunkBytes: 64 })
  await direct.stage(scope, 1, { puts: epoch1, deletes: [] })
  await direct.commit(scope, 1)
  await direct.close()
  const target = new URL(url)
  let sent = 0
  const sockets = new Set<Socket>()
  const proxy = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname)
    sockets.add(client).add(upstream)
    const cut = () => {
      for (const s of sockets) s.destroy()
    }
    client.on('data', (chunk: Buffer) => {
      const room = limit - sent
      if (room <= 0) return cut()
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room)
      sent += part.length
      upstream.write(part)
      if (part.length < chunk.length || sent >= limit) upstream.end(() => cut())
    })
    upstream.on('data', (chunk: Buffer) => client.write(chunk))
    client.on('error', cut)
    upstream.on('error', cut)
    client.on('close', cut)
    upstream.on('close', cut)
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  const port = (proxy.address() as AddressInfo).port
  let staged = false
  try {
    const store = await RedisSnapshotStore.connect({
      url: `redis://127.0.0.1:${port}`,
      prefix,
      chunkBytes: 64,
      redis: { retryStrategy: () => null, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false },
    })
    try {
      await store.stage(scope, 2, { puts: epoch2, deletes: deletes2 })
      staged = true
    } catch {
      // Cut off: what a crashed node leaves behind.
    } finally {
      await store.close().catch(() => {})
    }
  } catch {
    // Cut off before the connection was up.
  } finally {
    for (const s of sockets) s.destroy()
    await new Promise((r) => proxy.close(r))
  }
  // Redis drops a MULTI whose connection closed before EXEC; give it the moment to notice.
  await new Promise((r) => setTimeout(r, 20))
  return { prefix, staged, sent }
}
