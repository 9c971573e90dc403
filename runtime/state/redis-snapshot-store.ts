import { Redis, type RedisOptions } from 'ioredis'
import { SluiceError } from '../errors.ts'
import type { PreloadedSnapshot, Snapshot, SnapshotChanges, SnapshotStore, StateScope } from './index.ts'
import { encodeScopePart, parseScopeId, scopeId } from './index.ts'
import { type EntryLayer, EntryWriter, mergeLayers, SnapshotEntries } from './snapshot-entries.ts'
import { chunksOfLayer, decodeSnapshotFile, encodeSnapshotChunks } from './snapshot-file.ts'

export interface RedisSnapshotStoreOptions {
  /** redis://[user:password@]host:port[/db]; rediss:// for TLS. */
  readonly url: string
  /** Prefix of every key. Default: 'sluice'. */
  readonly prefix?: string
  /**
   * Most bytes of one chunk (one Redis value) of a snapshot. Default: 4 MiB: a million keys are a
   * dozen values, each far below Redis's 512 MiB limit and quick to move between cluster nodes.
   */
  readonly chunkBytes?: number
  /**
   * Fold the committed deltas into a new base once their bytes reach this fraction of the base's
   * (the restore then reads at most 1 + this much), or once there are `maxDeltas` of them.
   * Default: 0.5.
   */
  readonly compactAtRatio?: number
  /** Default: 32. */
  readonly maxDeltas?: number
  /** Extra ioredis options (TLS, timeouts). */
  readonly redis?: RedisOptions
}

/**
 * Snapshots in Redis (distributed mode), as a base and the deltas after it, each kept as a few
 * chunks in the snapshot file encoding (snapshot-file.ts: entries back to back, a header and a
 * CRC per chunk) rather than a hash field per key: a restore of a million keys is one script call
 * that returns about a dozen large values, which this process indexes in place, instead of two
 * million bulk strings to parse and copy (docs/decisions/0029). Keys of one scope share a hash
 * tag, so they live on one node of a Redis Cluster and one script can touch them all:
 *
 *   <prefix>:{<scope id>}:epoch          string: the newest committed epoch
 *   <prefix>:{<scope id>}:base           string: the epoch of the base in use (absent: none yet)
 *   <prefix>:{<scope id>}:base:<b>       hash: chunk number → chunk, the whole state as of epoch b
 *   <prefix>:{<scope id>}:bases          set: bases written (one in use; others being written or left over)
 *   <prefix>:{<scope id>}:deltas         sorted set: the epochs after the base, staged or committed
 *   <prefix>:{<scope id>}:delta:<e>      hash: chunk number → chunk, the changes of epoch e
 *   <prefix>:{<scope id>}:owner          integer: the scope's owner generation (below)
 *
 * An epoch is wholly visible or not at all: stage writes its chunks and its entry in `deltas` in
 * one script (a crash mid-write leaves none of it), and it counts once `epoch` reaches it, which
 * commit sets in one script.
 *
 * Owners are fenced: a recovering load (or an adopted preload) is how a node takes a scope over,
 * and it increments `owner` in the same script; the store remembers the generation it got. Its
 * stage is refused (STATE_FENCED) and its commit changes nothing once another node has taken the
 * scope over since. Without this a zombie (a node that stalled, lost its partitions and woke) could
 * stage the epoch number its successor staged, replacing the successor's changes before the
 * successor's log commit made that epoch the one every restore loads (decision 0011, addendum). Load runs as one script, so it sees one consistent state.
 * Compaction (in the background after a commit) writes a new base beside the old one, then one
 * script switches `base` to it and drops the deltas it covers. Durability is Redis's: run it with
 * AOF (`appendonly yes`, `appendfsync everysec` or `always`) for state that must survive a Redis
 * crash.
 *
 * A scope written by the layout before (a `data` hash, one field per key) is still read, as the
 * oldest layer; its first compaction replaces it.
 */
export class RedisSnapshotStore implements SnapshotStore {
  private readonly redis: Redis
  private readonly prefix: string
  private readonly chunkBytes: number
  private readonly compactAtRatio: number
  private readonly maxDeltas: number
  /** Per scope: compactions in flight, so one at a time and close() waits for them. */
  private readonly compacting = new Map<string, Promise<void>>()
  /** Per scope: the bytes of its base and of its deltas as last seen (the compaction policy). */
  private readonly sizes = new Map<string, { base: number; deltas: Map<number, number> }>()
  /** Per scope this store took over (load with an epoch, adopt): the owner generation it got. */
  private readonly owners = new Map<string, number>()

  private constructor(redis: Redis, options: RedisSnapshotStoreOptions) {
    this.redis = redis
    this.prefix = options.prefix ?? 'sluice'
    this.chunkBytes = options.chunkBytes ?? 4 * 1024 * 1024
    this.compactAtRatio = options.compactAtRatio ?? 0.5
    this.maxDeltas = options.maxDeltas ?? 32
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
    store.redis.defineCommand('sluiceCommitEpoch', { numberOfKeys: 1, lua: COMMIT_SCRIPT })
    store.redis.defineCommand('sluiceStageEpoch', { numberOfKeys: 2, lua: STAGE_SCRIPT })
    store.redis.defineCommand('sluicePromoteDelta', { numberOfKeys: 5, lua: PROMOTE_SCRIPT })
    store.redis.defineCommand('sluiceLoadEpoch', { numberOfKeys: 4, lua: LOAD_SCRIPT })
    store.redis.defineCommand('sluiceInstallBase', { numberOfKeys: 4, lua: INSTALL_BASE_SCRIPT })
    store.redis.defineCommand('sluiceAdoptEpoch', { numberOfKeys: 3, lua: ADOPT_SCRIPT })
    return store
  }

  async stage(scope: StateScope, epoch: number, changes: SnapshotChanges): Promise<void> {
    checkEpoch(epoch)
    const keys = this.keys(scope)
    const chunks = encodeSnapshotChunks('delta', epoch, changes.puts, changes.deletes, this.chunkBytes)
    const owner = this.owners.get(scopeId(scope))
    const reply = (await this.call(() =>
      (
        this.redis as unknown as { sluiceStageEpoch(...args: (string | number | Buffer)[]): Promise<unknown> }
      ).sluiceStageEpoch(
        keys.epoch,
        keys.deltas,
        String(epoch),
        owner === undefined ? '' : String(owner),
        keys.stem,
        ...chunks,
      ),
    )) as [string, string?]
    if (reply[0] === 'fenced') {
      throw new SluiceError(
        'STATE_FENCED',
        `cannot stage epoch ${epoch} for ${scopeId(scope)}: another node took the scope over (owner generation ${reply[1]}, this node's ${owner})`,
      )
    }
    if (reply[0] === 'behind') {
      throw new SluiceError(
        'STATE_EPOCH_MISMATCH',
        `cannot stage epoch ${epoch} for ${scopeId(scope)}: epoch ${reply[1]} is already committed`,
      )
    }
    this.sizesOf(scope).deltas.set(epoch, byteLength(chunks))
  }

  async commit(scope: StateScope, epoch: number): Promise<void> {
    checkEpoch(epoch)
    const keys = this.keys(scope)
    await this.call(() =>
      (
        this.redis as unknown as { sluiceCommitEpoch(...args: (string | number)[]): Promise<unknown> }
      ).sluiceCommitEpoch(
        keys.epoch,
        String(epoch),
        String(this.owners.get(scopeId(scope)) ?? ''),
        keys.stem,
      ),
    )
    this.maybeCompact(scope, epoch)
  }

  async load(scope: StateScope, epoch?: number): Promise<Snapshot> {
    const keys = this.keys(scope)
    await this.compacting.get(scopeId(scope))
    const read = await this.read(scope, keys, epoch)
    if (read.owner > 0) this.owners.set(scopeId(scope), read.owner)
    return this.snapshotOf(scope, keys, read)
  }

  /**
   * A peek (LOAD_SCRIPT without its recovery) and, to adopt it, ADOPT_SCRIPT: the recovery, if the
   * base and the epochs up to `epoch` are still the ones the peek returned. A compaction between
   * the two (by the previous owner) makes adopt() false, though the state it read was right: rare,
   * and the caller's fresh load is then correct too.
   */
  async preload(scope: StateScope, epoch: number): Promise<PreloadedSnapshot> {
    checkEpochOrZero(epoch)
    const keys = this.keys(scope)
    await this.compacting.get(scopeId(scope))
    const read = await this.read(scope, keys, epoch, true)
    // The legacy layout's hash is read by HSCAN, outside the script: not a consistent peek.
    if (read.legacy) return { epoch: read.target, entries: new Map(), adopt: async () => false }
    const snapshot = await this.snapshotOf(scope, keys, read)
    return {
      ...snapshot,
      adopt: async () => {
        const adopted = (await this.call(() =>
          (
            this.redis as unknown as { sluiceAdoptEpoch(...args: (string | number)[]): Promise<unknown> }
          ).sluiceAdoptEpoch(
            keys.epoch,
            keys.base,
            keys.deltas,
            String(epoch),
            keys.stem,
            String(read.baseEpoch),
            read.deltas.map(([e]) => String(e)).join(','),
          ),
        )) as number
        // The owner generation this node got by adopting (0: not adopted).
        if (adopted > 0) this.owners.set(scopeId(scope), adopted)
        return adopted > 0
      },
    }
  }

  /** A read's chunks as layers (each CRC-checked and indexed in place), and the sizes it saw. */
  private async snapshotOf(
    scope: StateScope,
    keys: ReturnType<RedisSnapshotStore['keys']>,
    read: Awaited<ReturnType<RedisSnapshotStore['read']>>,
  ): Promise<Snapshot> {
    const layers: EntryLayer[] = []
    let mayRepeat = false
    if (read.legacy) {
      const legacy = await this.call(() => this.scanLegacy(keys.data))
      if (legacy !== null) {
        layers.push(legacy)
        mayRepeat = true
      }
    }
    const base = read.base.map((chunk, i) => decodeChunk(chunk, `${keys.baseOf(read.baseEpoch)} chunk ${i}`))
    layers.push(...base)
    for (const [e, chunks] of read.deltas) {
      for (const [i, chunk] of chunks.entries())
        layers.push(decodeChunk(chunk, `${keys.delta(e)} chunk ${i}`))
    }
    this.sizes.set(scopeId(scope), {
      base: byteLength(read.base),
      deltas: new Map(read.deltas.map(([e, chunks]) => [e, byteLength(chunks)])),
    })
    if (layers.every((l) => l.count === 0)) return { epoch: read.target, entries: new Map() }
    return { epoch: read.target, entries: new SnapshotEntries(layers, mayRepeat) }
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
    await Promise.allSettled([...this.compacting.values()])
    await this.redis.quit().catch(() => this.redis.disconnect())
  }

  /**
   * One script call (LOAD_SCRIPT): recovery to `epoch` when given (staged epochs up to it count,
   * later ones are dropped), and the chunks of the base and of the deltas up to the target.
   */
  private async read(
    scope: StateScope,
    keys: ReturnType<RedisSnapshotStore['keys']>,
    epoch: number | undefined,
    peek = false,
  ): Promise<{
    target: number
    legacy: boolean
    baseEpoch: number
    base: Buffer[]
    deltas: [number, Buffer[]][]
    /** The owner generation a recovering read took (0: a plain read or a peek). */
    owner: number
  }> {
    if (epoch !== undefined) checkEpochOrZero(epoch)
    const reply = (await this.call(() =>
      (
        this.redis as unknown as {
          sluiceLoadEpochBuffer(...args: (string | number)[]): Promise<unknown>
        }
      ).sluiceLoadEpochBuffer(
        keys.epoch,
        keys.base,
        keys.deltas,
        keys.data,
        epoch === undefined ? '' : String(epoch),
        keys.stem,
        peek ? 'peek' : '',
      ),
    )) as [Buffer, Buffer, Buffer, Buffer, Buffer[], ...(Buffer | Buffer[])[]]
    const [status, target, baseEpoch, owner, base, ...rest] = reply
    if (status.toString() === 'behind') {
      throw new SluiceError(
        'STATE_EPOCH_MISMATCH',
        `the log committed epoch ${epoch} for ${scopeId(scope)} but Redis holds its state at epoch ${target.toString()}, which it cannot roll back`,
      )
    }
    const deltas: [number, Buffer[]][] = []
    for (let i = 0; i < rest.length; i += 2) {
      deltas.push([Number((rest[i] as Buffer).toString()), rest[i + 1] as Buffer[]])
    }
    return {
      target: Number(target.toString()),
      legacy: status.toString() === 'legacy',
      baseEpoch: Number(baseEpoch.toString()),
      base,
      deltas,
      owner: Number(owner.toString()),
    }
  }

  /** Starts a compaction in the background when the committed deltas have grown past the policy. */
  private maybeCompact(scope: StateScope, epoch: number): void {
    const id = scopeId(scope)
    if (this.compacting.has(id)) return
    const sizes = this.sizesOf(scope)
    let count = 0
    let bytes = 0
    for (const [e, b] of sizes.deltas) {
      if (e > epoch) continue
      count++
      bytes += b
    }
    if (count === 0) return
    if (count < this.maxDeltas && bytes < sizes.base * this.compactAtRatio) return
    const run = this.compact(scope)
      .catch(() => {
        // A failed compaction changes nothing visible; the next commit tries again.
      })
      .finally(() => this.compacting.delete(id))
    this.compacting.set(id, run)
  }

  /**
   * Writes the committed state as a new base (its chunks and its name in `bases` in one
   * transaction, invisible until installed), then installs it in one script: `base` names it,
   * and the deltas it covers, the base before and any base left by an interrupted compaction go.
   */
  private async compact(scope: StateScope): Promise<void> {
    const keys = this.keys(scope)
    const sizes = this.sizesOf(scope)
    if (sizes.base === 0) {
      // A scope's first committed epoch is its whole state: its chunks become the base by RENAME,
      // without reading them (the script checks that there is no base and one committed delta).
      const promoted = (await this.call(() =>
        (
          this.redis as unknown as { sluicePromoteDelta(...args: (string | number)[]): Promise<unknown> }
        ).sluicePromoteDelta(keys.epoch, keys.base, keys.bases, keys.deltas, keys.data, keys.stem),
      )) as number
      if (promoted > 0) {
        sizes.base = sizes.deltas.get(promoted) ?? 1
        sizes.deltas.delete(promoted)
        return
      }
    }
    const read = await this.read(scope, keys, undefined)
    if (read.deltas.length === 0 && !read.legacy) return
    const c = read.target
    const layers: EntryLayer[] = []
    let bases = 0
    if (read.legacy) {
      const legacy = await this.call(() => this.scanLegacy(keys.data))
      if (legacy !== null) layers.push(legacy)
    } else {
      for (const [i, chunk] of read.base.entries())
        layers.push(decodeChunk(chunk, `${keys.baseOf(read.baseEpoch)} chunk ${i}`))
      bases = layers.length
    }
    for (const [e, chunks] of read.deltas) {
      for (const [i, chunk] of chunks.entries())
        layers.push(decodeChunk(chunk, `${keys.delta(e)} chunk ${i}`))
    }
    const size = layers.reduce((n, l) => n + l.end - l.start, 0)
    const writer = new EntryWriter(0, size + 64)
    // The base's chunks hold each key once between them; only the deltas' keys are decoded.
    mergeLayers(layers, writer, bases)
    const chunks = chunksOfLayer(writer.finish().layer, 'base', c, this.chunkBytes)
    const base = keys.baseOf(c)
    await this.call(async () => {
      const multi = this.redis.multi().sadd(keys.bases, String(c)).del(base)
      for (const [i, chunk] of chunks.entries()) multi.hset(base, String(i), chunk)
      await execMulti(multi)
      await (
        this.redis as unknown as {
          sluiceInstallBase(...args: (string | number)[]): Promise<unknown>
        }
      ).sluiceInstallBase(keys.base, keys.bases, keys.deltas, keys.data, String(c), keys.stem)
    })
    sizes.base = byteLength(chunks)
    for (const e of [...sizes.deltas.keys()]) if (e <= c) sizes.deltas.delete(e)
  }

  /** The legacy `data` hash (one field per key), by HSCAN, as one layer that may repeat keys. */
  private async scanLegacy(data: string): Promise<EntryLayer | null> {
    const writer = new EntryWriter(0, 1 << 16)
    let cursor = '0'
    do {
      const [next, flat] = await this.redis.hscanBuffer(data, cursor, 'COUNT', 10_000)
      for (let i = 0; i < flat.length; i += 2) writer.pair(flat[i]!, flat[i + 1]!)
      cursor = next.toString()
    } while (cursor !== '0')
    return writer.count === 0 ? null : writer.finish().layer
  }

  private sizesOf(scope: StateScope): { base: number; deltas: Map<number, number> } {
    const id = scopeId(scope)
    let sizes = this.sizes.get(id)
    if (sizes === undefined) {
      sizes = { base: 0, deltas: new Map() }
      this.sizes.set(id, sizes)
    }
    return sizes
  }

  private keys(scope: StateScope) {
    const stem = `${this.prefix}:{${scopeId(scope)}}:`
    return {
      stem,
      epoch: `${stem}epoch`,
      base: `${stem}base`,
      bases: `${stem}bases`,
      deltas: `${stem}deltas`,
      data: `${stem}data`,
      baseOf: (epoch: number) => `${stem}base:${epoch}`,
      delta: (epoch: number) => `${stem}delta:${epoch}`,
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
 * Sets the committed epoch, never backwards, unless another node took the scope over since the
 * caller did (its successor's recovery committed what the log committed; a zombie's commit must
 * not move the epoch onto deltas that recovery dropped). KEYS: epoch. ARGV: epoch, the caller's
 * owner generation ('': unchecked, a store that never took the scope over), the scope's key stem.
 */
const COMMIT_SCRIPT = `
if ARGV[2] ~= '' and (redis.call('GET', ARGV[3] .. 'owner') or '0') ~= ARGV[2] then return 0 end
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`

/**
 * Writes a staged epoch whole: its chunks and its entry in `deltas`, if the epoch is above the
 * committed one and the caller still owns the scope. KEYS: epoch, deltas. ARGV: epoch, the caller's
 * owner generation ('': unchecked), the scope's key stem, then the chunks in order.
 * Returns {'ok'}, {'fenced', current owner generation} or {'behind', committed epoch}.
 */
const STAGE_SCRIPT = `
if ARGV[2] ~= '' then
  local owner = redis.call('GET', ARGV[3] .. 'owner') or '0'
  if owner ~= ARGV[2] then return {'fenced', owner} end
end
local committed = redis.call('GET', KEYS[1]) or '0'
if tonumber(ARGV[1]) <= tonumber(committed) then return {'behind', committed} end
local delta = ARGV[3] .. 'delta:' .. ARGV[1]
redis.call('DEL', delta)
for i = 4, #ARGV do redis.call('HSET', delta, tostring(i - 4), ARGV[i]) end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])
return {'ok'}
`

/**
 * Makes a scope's only committed delta its base, by RENAME (a first snapshot is often the whole
 * state: a million keys), when there is no base and no legacy hash; returns its epoch, or 0 when
 * that is not the case (a full compaction then follows).
 * KEYS: epoch, base, bases, deltas, data. ARGV: the scope's key stem.
 */
const PROMOTE_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
local committed = redis.call('GET', KEYS[1]) or '0'
local deltas = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', committed)
if #deltas ~= 1 then return 0 end
local e = deltas[1]
local delta = ARGV[1] .. 'delta:' .. e
if redis.call('EXISTS', delta) == 1 then
  redis.call('RENAME', delta, ARGV[1] .. 'base:' .. e)
  redis.call('SADD', KEYS[3], e)
  redis.call('SET', KEYS[2], e)
end
redis.call('ZREM', KEYS[4], e)
return tonumber(e)
`

/**
 * Reads a scope as of an epoch, in one script so nothing changes between its parts.
 * KEYS: epoch, base, deltas, data (the legacy hash). ARGV: the target epoch ('' for a plain read
 * of the newest committed state, which changes nothing), the scope's key stem, and 'peek' for a
 * read as of the target that changes nothing either (a preload; ADOPT_SCRIPT recovers later).
 * With a target (recovery): below the committed epoch is refused ('behind'); staged epochs above
 * it are dropped (their outputs never committed); staged ones up to it become committed; the
 * caller takes the scope over (the owner generation is incremented).
 * Returns: status ('ok', or 'legacy' when the legacy hash exists), target, base epoch (0: none),
 * the owner generation taken (0: none), the base's chunks, then per delta up to the target its
 * epoch and its chunks, in epoch order.
 */
const LOAD_SCRIPT = `
local committed = tonumber(redis.call('GET', KEYS[1]) or '0')
local target = committed
local owner = 0
if ARGV[1] ~= '' then
  target = tonumber(ARGV[1])
  if target < committed then return {'behind', tostring(committed)} end
end
if ARGV[1] ~= '' and ARGV[3] ~= 'peek' then
  local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf')
  for _, e in ipairs(stale) do redis.call('DEL', ARGV[2] .. 'delta:' .. e) end
  if #stale > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf') end
  if target > committed then redis.call('SET', KEYS[1], ARGV[1]) end
  owner = redis.call('INCR', ARGV[2] .. 'owner')
end
local function chunks(key)
  local n = redis.call('HLEN', key)
  local out = {}
  for i = 0, n - 1 do out[#out + 1] = redis.call('HGET', key, tostring(i)) end
  return out
end
local base = redis.call('GET', KEYS[2]) or '0'
local status = 'ok'
if redis.call('EXISTS', KEYS[4]) == 1 then status = 'legacy' end
local out = {status, tostring(target), base, tostring(owner), {}}
if base ~= '0' then out[5] = chunks(ARGV[2] .. 'base:' .. base) end
for _, e in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', tostring(target))) do
  out[#out + 1] = e
  out[#out + 1] = chunks(ARGV[2] .. 'delta:' .. e)
end
return out
`

/**
 * The recovery half of LOAD_SCRIPT for a scope preloaded by a peek: only if the scope still has the
 * base and the epochs up to the target that the peek read (so the state read is the state as of the
 * target), drops the staged epochs above the target, commits those up to it and takes the scope
 * over; returns the owner generation taken (at least 1), else 0 and changes nothing. KEYS: epoch, base, deltas. ARGV: the target epoch, the scope's key stem,
 * the base epoch read ('0': none), the epochs read after it (comma-separated, in order).
 */
const ADOPT_SCRIPT = `
local committed = tonumber(redis.call('GET', KEYS[1]) or '0')
local target = tonumber(ARGV[1])
if target < committed then return 0 end
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[3] then return 0 end
if table.concat(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1]), ',') ~= ARGV[4] then return 0 end
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf')
for _, e in ipairs(stale) do redis.call('DEL', ARGV[2] .. 'delta:' .. e) end
if #stale > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf') end
if target > committed then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', ARGV[2] .. 'owner')
`

/**
 * Installs the base written for epoch ARGV[1] if it is newer than the one in use and was written
 * whole (another node's compaction may have won, or cleared it as left over): `base` names it;
 * the deltas it covers, the legacy hash and every other base written go.
 * KEYS: base, bases, deltas, data. ARGV: the base's epoch, the scope's key stem.
 */
const INSTALL_BASE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local epoch = tonumber(ARGV[1])
local key = ARGV[2] .. 'base:' .. ARGV[1]
if epoch <= current or redis.call('EXISTS', key) == 0 then
  if epoch ~= current then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[2], ARGV[1])
  end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
for _, b in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if b ~= ARGV[1] then
    redis.call('DEL', ARGV[2] .. 'base:' .. b)
    redis.call('SREM', KEYS[2], b)
  end
end
for _, e in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])) do
  redis.call('DEL', ARGV[2] .. 'delta:' .. e)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
redis.call('DEL', KEYS[4])
return 1
`

/** A chunk's entries in place; a damaged chunk is STATE_CORRUPT naming it. */
function decodeChunk(chunk: Buffer, where: string): EntryLayer {
  return decodeSnapshotFile(chunk, where).layer
}

function byteLength(chunks: readonly Buffer[]): number {
  return chunks.reduce((n, c) => n + c.length, 0)
}

async function execMulti(multi: ReturnType<Redis['multi']>): Promise<void> {
  const results = await multi.exec()
  if (results === null) throw new Error('the Redis transaction was aborted')
  for (const [error] of results) if (error) throw error
}

function unavailable(where: string, error: unknown): SluiceError {
  return new SluiceError(
    'STATE_UNAVAILABLE',
    `Redis at ${where} is unavailable: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error, retryable: true },
  )
}

function checkEpochOrZero(epoch: number): void {
  if (epoch !== 0) checkEpoch(epoch)
}

function checkEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 1) {
    throw new SluiceError('LOG_INVALID_ARGUMENT', `an epoch is a positive integer, got ${epoch}`)
  }
}
