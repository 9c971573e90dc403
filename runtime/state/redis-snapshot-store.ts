import { Redis, type RedisOptions } from 'ioredis'
import { SluiceError } from '../errors.ts'
import type { Snapshot, SnapshotChanges, SnapshotStore, StateScope } from './index.ts'
import { encodeScopePart, parseScopeId, scopeId } from './index.ts'
import { EntryWriter, SnapshotEntries } from './snapshot-entries.ts'

export interface RedisSnapshotStoreOptions {
  /** redis://[user:password@]host:port[/db]; rediss:// for TLS. */
  readonly url: string
  /** Prefix of every key. Default: 'sluice'. */
  readonly prefix?: string
  /** Field/value pairs per command when writing a hash. Default: 1000. */
  readonly chunk?: number
  /**
   * Fields per HSCAN when loading. Default: 10,000: fewer round trips for a million keys, and a
   * reply (about half a MiB of 50-byte entries) that still keeps Redis busy only about a
   * millisecond.
   */
  readonly scanChunk?: number
  /** Extra ioredis options (TLS, timeouts). */
  readonly redis?: RedisOptions
}

/**
 * Snapshots in Redis (distributed mode). Keys of one scope share a hash tag, so they live on one
 * node of a Redis Cluster and one script can touch them all:
 *
 *   <prefix>:{<scope id>}:data                 hash: the committed state, key → value
 *   <prefix>:{<scope id>}:epoch                string: the newest committed epoch
 *   <prefix>:{<scope id>}:staged               sorted set: staged epochs (score = epoch)
 *   <prefix>:{<scope id>}:staged:<e>:puts      hash: the values epoch e writes
 *   <prefix>:{<scope id>}:staged:<e>:dels      set: the keys epoch e deletes
 *
 * Writes go in pipelines of `chunk` fields per command, one round trip per pipeline, never one per
 * key. Commit folds the staged epochs into `data` and sets `epoch` in one Lua script, so a reader
 * sees the state before or after, never between. Durability is Redis's: run it with AOF
 * (`appendonly yes`, `appendfsync everysec` or `always`) for state that must survive a Redis crash.
 */
export class RedisSnapshotStore implements SnapshotStore {
  private readonly redis: Redis
  private readonly prefix: string
  private readonly chunk: number
  private readonly scanChunk: number

  private constructor(redis: Redis, options: RedisSnapshotStoreOptions) {
    this.redis = redis
    this.prefix = options.prefix ?? 'sluice'
    this.chunk = options.chunk ?? 1000
    this.scanChunk = options.scanChunk ?? 10_000
  }

  /** Connects; rejects with STATE_UNAVAILABLE when Redis does not answer. */
  static async connect(options: RedisSnapshotStoreOptions): Promise<RedisSnapshotStore> {
    const redis = new Redis(options.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 3,
      enableOfflineQueue: true,
      ...options.redis,
    })
    // ioredis reports connection trouble as 'error' events; the calls' rejections carry it.
    redis.on('error', () => {})
    try {
      await redis.connect()
      await redis.ping()
    } catch (error) {
      redis.disconnect()
      throw unavailable(options.url, error)
    }
    const store = new RedisSnapshotStore(redis, options)
    store.redis.defineCommand('sluiceCommitEpochs', { numberOfKeys: 3, lua: COMMIT_SCRIPT })
    return store
  }

  async stage(scope: StateScope, epoch: number, changes: SnapshotChanges): Promise<void> {
    checkEpoch(epoch)
    const keys = this.keys(scope)
    await this.call(async () => {
      const committed = Number((await this.redis.get(keys.epoch)) ?? 0)
      if (epoch <= committed) {
        throw new SluiceError(
          'STATE_EPOCH_MISMATCH',
          `cannot stage epoch ${epoch} for ${scopeId(scope)}: epoch ${committed} is already committed`,
        )
      }
      const puts = keys.stagedPuts(epoch)
      const dels = keys.stagedDels(epoch)
      let pipeline = this.redis.pipeline().del(puts, dels)
      let fields: (string | Buffer)[] = []
      for (const [key, value] of changes.puts) {
        fields.push(key, value)
        if (fields.length >= 2 * this.chunk) {
          pipeline = pipeline.hset(puts, ...fields)
          fields = []
        }
      }
      if (fields.length > 0) pipeline = pipeline.hset(puts, ...fields)
      for (let i = 0; i < changes.deletes.length; i += this.chunk) {
        pipeline = pipeline.sadd(dels, ...changes.deletes.slice(i, i + this.chunk))
      }
      pipeline = pipeline.zadd(keys.staged, epoch, String(epoch))
      await execPipeline(pipeline)
    })
  }

  async commit(scope: StateScope, epoch: number): Promise<void> {
    checkEpoch(epoch)
    const keys = this.keys(scope)
    await this.call(() =>
      (
        this.redis as unknown as {
          sluiceCommitEpochs(...args: (string | number)[]): Promise<unknown>
        }
      ).sluiceCommitEpochs(keys.data, keys.epoch, keys.staged, epoch, keys.stagedPrefix),
    )
  }

  async load(scope: StateScope, epoch?: number): Promise<Snapshot> {
    const keys = this.keys(scope)
    return this.call(async () => {
      const committed = Number((await this.redis.get(keys.epoch)) ?? 0)
      const target = epoch ?? committed
      if (target < committed) {
        throw new SluiceError(
          'STATE_EPOCH_MISMATCH',
          `the log committed epoch ${target} for ${scopeId(scope)} but Redis holds its state at epoch ${committed}, which it cannot roll back`,
        )
      }
      // Recovery: staged epochs up to the target committed in the log, so fold them in; later
      // ones did not, so drop them. A plain read (no epoch) changes nothing.
      if (target > committed) await this.commit(scope, target)
      const stale =
        epoch === undefined ? [] : await this.redis.zrangebyscore(keys.staged, `(${target}`, '+inf')
      if (stale.length > 0) {
        const pipeline = this.redis.pipeline()
        for (const e of stale) pipeline.del(keys.stagedPuts(Number(e)), keys.stagedDels(Number(e)))
        pipeline.zremrangebyscore(keys.staged, `(${target}`, '+inf')
        await execPipeline(pipeline)
      }
      return { epoch: target, entries: await this.scan(keys.data) }
    })
  }

  /**
   * The committed hash, by HSCAN in chunks of `scanChunk` fields. Each chunk's entries are copied
   * into one buffer in snapshot-file encoding (snapshot-entries.ts), not kept as a string and a
   * Buffer per entry, and the next HSCAN is sent before a chunk is copied, so Redis reads the
   * next chunk while this process copies the last. HSCAN may return an entry twice; the entries
   * say so (`mayRepeat`), and the last copy counts.
   */
  private async scan(data: string): Promise<ReadonlyMap<string, Buffer>> {
    const writer = new EntryWriter(0, 1 << 16)
    let reply = this.redis.hscanBuffer(data, '0', 'COUNT', this.scanChunk)
    for (;;) {
      const [next, flat] = await reply
      const cursor = next.toString()
      if (cursor !== '0') reply = this.redis.hscanBuffer(data, cursor, 'COUNT', this.scanChunk)
      for (let i = 0; i < flat.length; i += 2) writer.pair(flat[i]!, flat[i + 1]!)
      if (cursor === '0') break
    }
    if (writer.count === 0) return new Map()
    return new SnapshotEntries([writer.finish().layer], true)
  }

  async scopes(pipeline: string): Promise<StateScope[]> {
    const pattern = `${this.prefix}:{${encodeScopePart(pipeline)}/*}:epoch`
    const out: StateScope[] = []
    await this.call(async () => {
      let cursor = '0'
      do {
        const [next, found] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        for (const key of found) {
          const id = key.slice(this.prefix.length + 2, key.length - ':epoch'.length - 1)
          out.push(parseScopeId(id))
        }
        cursor = next
      } while (cursor !== '0')
    })
    return out
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect())
  }

  private keys(scope: StateScope) {
    const base = `${this.prefix}:{${scopeId(scope)}}`
    const stagedPrefix = `${base}:staged:`
    return {
      data: `${base}:data`,
      epoch: `${base}:epoch`,
      staged: `${base}:staged`,
      stagedPrefix,
      stagedPuts: (epoch: number) => `${stagedPrefix}${epoch}:puts`,
      stagedDels: (epoch: number) => `${stagedPrefix}${epoch}:dels`,
    }
  }

  /** Runs a Redis call; connection failures become a retryable STATE_UNAVAILABLE. */
  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      if (error instanceof SluiceError) throw error
      throw unavailable(this.redis.options.host ?? 'redis', error)
    }
  }
}

/**
 * Folds every staged epoch up to ARGV[1] into the data hash, in epoch order, then sets the
 * committed epoch; one script, so nobody sees a half-applied epoch. Fields go in commands of
 * 1,000 (one redis.call per field cost more than the copy); the first epoch of a scope (no data
 * hash yet: its deletions delete nothing) becomes the data hash by RENAME, without a copy, which
 * makes a first full snapshot of a million keys a constant-time commit.
 * KEYS: data, epoch, staged. ARGV: epoch, staged key prefix.
 */
const COMMIT_SCRIPT = `
local committed = tonumber(redis.call('GET', KEYS[2]) or '0')
local target = tonumber(ARGV[1])
if target <= committed then return committed end
local epochs = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
for _, e in ipairs(epochs) do
  local puts = ARGV[2] .. e .. ':puts'
  local dels = ARGV[2] .. e .. ':dels'
  if redis.call('EXISTS', KEYS[1]) == 0 then
    if redis.call('EXISTS', puts) == 1 then redis.call('RENAME', puts, KEYS[1]) end
  else
    local kv = redis.call('HGETALL', puts)
    for i = 1, #kv, 2000 do redis.call('HSET', KEYS[1], unpack(kv, i, math.min(i + 1999, #kv))) end
    local gone = redis.call('SMEMBERS', dels)
    for i = 1, #gone, 1000 do redis.call('HDEL', KEYS[1], unpack(gone, i, math.min(i + 999, #gone))) end
  end
  redis.call('DEL', puts, dels)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
redis.call('SET', KEYS[2], ARGV[1])
return target
`

async function execPipeline(pipeline: ReturnType<Redis['pipeline']>): Promise<void> {
  const results = await pipeline.exec()
  for (const [error] of results ?? []) if (error) throw error
}

function unavailable(where: string, error: unknown): SluiceError {
  return new SluiceError(
    'STATE_UNAVAILABLE',
    `Redis at ${where} is unavailable: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error, retryable: true },
  )
}

function checkEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 1) {
    throw new SluiceError('LOG_INVALID_ARGUMENT', `an epoch is a positive integer, got ${epoch}`)
  }
}
