/**
 * The SnapshotStore conformance suite against a real Redis (scripts/servers/redis.sh, started by
 * scripts/test-integration.sh, which exports SLUICE_REDIS_URL). Every store gets its own key
 * prefix, so runs never see each other's keys.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '../../runtime/errors.ts'
import { RedisSnapshotStore } from '../../runtime/state/redis-snapshot-store.ts'
import { snapshotStoreConformance } from '../../runtime/state/snapshot-store-conformance.ts'

const url = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6390'
const prefixes = new WeakMap<object, string>()

async function open(prefix: string): Promise<RedisSnapshotStore> {
  const store = await RedisSnapshotStore.connect({ url, prefix, chunk: 700 })
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
