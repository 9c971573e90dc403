/**
 * Operator state: what every stateful operator (dedup, running aggregates, and later windows,
 * joins and CEP) keeps between events, and how it survives a crash. Design and reasons:
 * docs/decisions/0015-state-snapshots-and-epochs.md.
 *
 * - Working state lives in memory on the node that owns the source partition (KeyedState, one
 *   per operator and partition, read and written synchronously on the hot path).
 * - At each checkpoint epoch, the changes since the last epoch (keys written or deleted, timers
 *   added or fired) are written to a SnapshotStore: files under the data directory (embedded) or
 *   Redis (distributed), in a few large writes, never a round trip per event.
 * - A staged epoch becomes visible to restore only once committed, and the caller commits it only
 *   after the log committed the same epoch's outputs and offsets. After a crash the node restores
 *   exactly the epoch the log says committed, so state, outputs and offsets agree.
 * - State is scoped per source topic-partition, so it moves with the partition when a consumer
 *   group rebalances: the node that takes a partition over loads that partition's state.
 */

import { writeJson } from './json-bytes.ts'

/** Encodes values for snapshots (not on the hot path: only changed keys, once per epoch). */
export interface StateCodec<V> {
  encode(value: V): Buffer
  decode(bytes: Buffer): V
  /**
   * Optional: the encoding as a string whose UTF-8 bytes are what `encode` returns. A snapshot
   * then writes it straight into its one buffer, without a Buffer per value (a full snapshot of a
   * million keys is a million of them).
   */
  readonly encodeString?: (value: V) => string
  /**
   * Optional: writes what `encode` returns straight into bytes[at, limit), so a checkpoint encodes
   * its changed values into the snapshot's buffer with no string or Buffer per value. Returns the
   * end, or json-bytes.ts's NO_ROOM (the caller gives more room and asks again) or UNSUPPORTED
   * (this value goes through `encodeString` or `encode` instead).
   */
  readonly encodeInto?: (value: V, bytes: Uint8Array, at: number, limit: number) => number
}

/** JSON, for values of plain data (numbers, strings, arrays, records). */
export const jsonCodec: StateCodec<unknown> = {
  encode: (value) => Buffer.from(JSON.stringify(value)),
  decode: (bytes) => JSON.parse(bytes.toString('utf8')) as unknown,
  encodeString: (value) => JSON.stringify(value),
  encodeInto: writeJson,
}

/** Whose state: one operator of one pipeline, for one source partition. */
export interface StateScope {
  readonly pipeline: string
  readonly operator: string
  readonly topic: string
  readonly partition: number
}

/** The changes of one epoch: entries written (key → bytes) and deleted. */
export interface SnapshotChanges {
  readonly puts: ReadonlyMap<string, Buffer>
  readonly deletes: readonly string[]
}

/** A scope's state as of an epoch. */
export interface Snapshot {
  /** The epoch loaded; 0 when nothing was ever committed (and `entries` is empty). */
  readonly epoch: number
  /**
   * Key → value. Read-only: the file store hands out its files' buffers in place
   * (snapshot-entries.ts), which KeyedState.restore reads without a Buffer per key.
   */
  readonly entries: ReadonlyMap<string, Buffer>
}

/** A scope's state read ahead of its ownership (SnapshotStore.preload). */
export interface PreloadedSnapshot extends Snapshot {
  /** The recovery of `load(scope, epoch)`, if the scope is still as read; false: load afresh. */
  adopt(): Promise<boolean>
}

/**
 * Durable snapshots of per-scope state, written per epoch. Two implementations pass one
 * conformance suite (snapshot-store-conformance.ts): FileSnapshotStore and RedisSnapshotStore.
 *
 * Contract:
 * - `stage(scope, epoch, changes)` writes the changes of `epoch` (greater than every epoch staged
 *   or committed before for the scope) durably but invisibly: `load` does not see them yet.
 * - `commit(scope, epoch)` makes every staged epoch up to `epoch` visible, in order; older
 *   history may then be folded together (compaction), so only the newest committed state can be
 *   loaded afterwards.
 * - `load(scope, epoch)` returns the state as of `epoch`: every committed change up to it, plus
 *   staged ones up to it (a caller that names a staged epoch knows it committed elsewhere: the
 *   crash came between the log's commit and this store's). Staged epochs above it are discarded,
 *   since their outputs never committed: that is recovery. Without `epoch`, a plain read of the
 *   newest committed state that changes nothing.
 * - Scopes are independent; a store may be shared by many nodes of a group, each writing only
 *   the scopes of the partitions it owns. Such a store fences: `load(scope, epoch)` (recovery) is
 *   how a node takes a scope over, and once another node has taken it over since, this node's
 *   `stage` rejects with STATE_FENCED and its `commit` changes nothing (a zombie cannot replace
 *   its successor's staged epoch; docs/decisions/0011, addendum of session 26).
 */
export interface SnapshotStore {
  stage(scope: StateScope, epoch: number, changes: SnapshotChanges): Promise<void>
  commit(scope: StateScope, epoch: number): Promise<void>
  load(scope: StateScope, epoch?: number): Promise<Snapshot>
  /**
   * Optional: `load(scope, epoch)` in two halves, for a node that reads a scope before it owns it
   * (a restart reads its predecessor's state while it joins the consumer group): `preload` reads
   * the state as of `epoch` and changes nothing; the result's `adopt()`, called once the scope is
   * the caller's, does the recovery `load` would have done (staged epochs above `epoch` dropped,
   * those up to it committed) and resolves true, or changes nothing and resolves false when the
   * scope's epochs up to `epoch` are no longer the ones read (another owner compacted or wrote
   * them meanwhile): the caller then loads afresh. Rejects like `load` (STATE_EPOCH_MISMATCH when
   * the store is past `epoch`).
   */
  preload?(scope: StateScope, epoch: number): Promise<PreloadedSnapshot>
  /** Every scope of a pipeline that has state (for `sluice state` tools and tests). */
  scopes(pipeline: string): Promise<StateScope[]>
  close(): Promise<void>
}

/** A scope as one string, for file names and Redis keys (unambiguous: each part is encoded). */
export function scopeId(scope: StateScope): string {
  return [scope.pipeline, scope.operator, scope.topic, String(scope.partition)].map(encodeScopePart).join('/')
}

export function parseScopeId(id: string): StateScope {
  const parts = id.split('/').map(decodeURIComponent)
  if (parts.length !== 4 || !/^\d+$/.test(parts[3]!)) throw new Error(`not a state scope id: ${id}`)
  return { pipeline: parts[0]!, operator: parts[1]!, topic: parts[2]!, partition: Number(parts[3]) }
}

/** One part of a scope id: URI-encoded, dots too, so no part is `.` or `..` or holds a `/`. */
export function encodeScopePart(part: string): string {
  return encodeURIComponent(part).replace(/\./g, '%2E')
}
