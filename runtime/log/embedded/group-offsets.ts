import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import path from 'node:path'
import { SluiceError } from '../../errors.ts'
import { isCode, syncDir } from './fs-util.ts'
import { ioError, withFile } from './io-errors.ts'
import type { ReportSink } from './report.ts'

/**
 * Committed offsets of consumer groups: one JSON file per group, `<dir>/<encoded group>.json`:
 *
 *   { "version": 1, "topics": { "<topic>": [<next offset of partition 0>, ...] },
 *     "metadata": { "<topic>": [<string or null per partition>, ...] } }
 *
 * with -1 for a partition the group never committed. `metadata` is what a checkpoint committed
 * with the offset (CheckpointOptions.prepare); it is left out when no partition has any, and
 * files written before it existed have none (null everywhere). Files are replaced atomically (write a temp
 * file, fsync it, rename it over the old one, fsync the directory), so a crash leaves either the
 * old or the new offsets, never a torn file. Before each replacement the current good file
 * becomes the backup generation `<encoded group>.json.bak` (a hard link, renamed into place), so
 * when the file is damaged later (a bad disk block, an editor) or deleted, the previous offsets
 * are still there: loading falls back to them with a loud warning (a few records are then
 * delivered again, which at-least-once allows), and fails with LOG_CORRUPT_OFFSETS naming both
 * files only when nothing good is left. A group whose file vanished while its backup (or a temp
 * file of it) remains is reported, instead of silently starting over.
 *
 * Two ways to commit, by durability policy (durability.ts):
 * - commit(): writes the file at once (policy 'none': without syncs). Commits that arrive while
 *   a write is in flight are coalesced into the next write: the file always ends up with the
 *   newest offsets, and a burst of commits costs two writes, not one per commit.
 * - record() + a group-commit round (policies 'batch' and interval, group-commit.ts): a commit
 *   only updates memory; the round takes a snapshot of every group that committed (takeDirty)
 *   and writes each group's file once, after the data it follows is synced. Each write is still
 *   the atomic replacement above with its backup generation, but one per round, not per commit.
 */

interface GroupState {
  /** Topic → offsets; a prototype-less object, so any topic name (`__proto__`, `constructor`) is a plain key. */
  topics: Record<string, number[]>
  /** Topic → metadata committed with each partition's offset (null: none); prototype-less too. */
  metadata: Record<string, (string | null)[]>
  /** The write in flight, and whether another commit arrived after it took its snapshot. */
  writing: Promise<void> | null
  dirty: boolean
  /** Whether the file on disk is a good generation that may become the backup on the next write. */
  fileIsGood: boolean
}

type FileRead =
  | { readonly status: 'missing' }
  | {
      readonly status: 'ok'
      readonly topics: Record<string, number[]>
      readonly metadata: Record<string, (string | null)[]>
    }
  | { readonly status: 'bad'; readonly problem: string }

export const BACKUP_SUFFIX = '.bak'

/** The offset a group commits for one partition. */
export interface PartitionOffset {
  readonly topic: string
  readonly partition: number
  readonly offset: number
}

/** Offsets of the groups that committed since the last round, as the files will hold them. */
export type OffsetsSnapshot = readonly { readonly group: string; readonly content: string }[]

export class GroupOffsets {
  private readonly groups = new Map<string, Promise<GroupState>>()
  private dirCreated = false
  /** Warnings already given (read-only readers load the file on every call). */
  private readonly warned = new Set<string>()
  /** Groups whose record()ed offsets are not written yet, with their loaded state. */
  private readonly dirty = new Map<string, GroupState>()
  /** The groups of the last takeDirty() snapshot, for restore(). */
  private taken = new Map<string, GroupState>()

  constructor(
    private readonly dir: string,
    private readonly options: {
      readonly fsync: boolean
      readonly readOnly: boolean
      readonly report?: ReportSink
      /** Told that a group-commit round has offsets to write (record() was called). */
      readonly onRecord?: () => void
      /** @internal Test seam: called before each offsets file is synced. */
      readonly beforeSync?: (file: string) => void | Promise<void>
    },
  ) {}

  /** Committed offsets of `group` for `topic` (-1 where none), `partitions` entries long. */
  async committed(group: string, topic: string, partitions: number): Promise<number[]> {
    // Read-only opens re-read the file every time: the owning process keeps committing.
    const state = this.options.readOnly ? await this.load(group) : await this.state(group)
    const stored = state.topics[topic] ?? []
    return Array.from({ length: partitions }, (_, p) => stored[p] ?? -1)
  }

  /** The metadata committed with `group`'s offset of `topic`/`partition`; null when none. */
  async committedMetadata(group: string, topic: string, partition: number): Promise<string | null> {
    const state = this.options.readOnly ? await this.load(group) : await this.state(group)
    return state.metadata[topic]?.[partition] ?? null
  }

  /**
   * The highest offset any group committed per partition of `topic` (-1 where none). Recovery
   * continues a partition past it, so a record a group already moved past is never replaced.
   * A group whose offsets cannot be read at all is left out (using it fails loudly later).
   */
  async highestCommitted(topic: string): Promise<number[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (error) {
      if (isCode(error, 'ENOENT')) return []
      throw error
    }
    const groups = new Set<string>()
    for (const name of names) {
      const match = /^(.+)\.json(?:\.bak)?$/.exec(name)
      if (match !== null) groups.add(match[1]!)
    }
    const highest: number[] = []
    for (const encoded of groups) {
      let state: GroupState
      try {
        state = await this.loadFile(path.join(this.dir, `${encoded}.json`), decodeGroupName(encoded))
      } catch {
        continue
      }
      for (const [p, offset] of (state.topics[topic] ?? []).entries())
        highest[p] = Math.max(highest[p] ?? -1, offset)
    }
    return highest
  }

  /**
   * Records that `group` will next read `offset` in `topic`/`partition`, with `metadata` (null:
   * none); resolves once durable.
   */
  commit(
    group: string,
    topic: string,
    partition: number,
    offset: number,
    metadata: string | null = null,
  ): Promise<void> {
    return this.commitAll(group, [{ topic, partition, offset }], metadata)
  }

  /**
   * commit() of several partitions (a task's, index.ts SubscribeOptions.copartitioned) with one
   * metadata: one write of the group's file, so they are committed together or not at all.
   */
  async commitAll(
    group: string,
    offsets: readonly PartitionOffset[],
    metadata: string | null,
  ): Promise<void> {
    if (this.options.readOnly)
      throw new SluiceError('LOG_READ_ONLY', 'cannot commit offsets in a read-only log')
    const state = await this.state(group)
    for (const { topic, partition, offset } of offsets) setOffset(state, topic, partition, offset, metadata)
    await this.flush(group, state)
  }

  /**
   * Records that `group` will next read `offset` in `topic`/`partition`, in memory only: the next
   * group-commit round writes it (takeDirty, writeSnapshot). Resolves once recorded.
   */
  record(
    group: string,
    topic: string,
    partition: number,
    offset: number,
    metadata: string | null = null,
  ): Promise<void> {
    return this.recordAll(group, [{ topic, partition, offset }], metadata)
  }

  /** record() of several partitions with one metadata; the round writes them in one file. */
  async recordAll(
    group: string,
    offsets: readonly PartitionOffset[],
    metadata: string | null,
  ): Promise<void> {
    if (this.options.readOnly)
      throw new SluiceError('LOG_READ_ONLY', 'cannot commit offsets in a read-only log')
    const state = await this.state(group)
    for (const { topic, partition, offset } of offsets) setOffset(state, topic, partition, offset, metadata)
    this.dirty.set(group, state)
    this.options.onRecord?.()
  }

  /** The file content of every group record()ed since the last call, taken now; null if none. */
  takeDirty(): OffsetsSnapshot | null {
    if (this.dirty.size === 0) return null
    const snapshot = [...this.dirty].map(([group, state]) => ({
      group,
      content: serialize(state),
    }))
    this.taken = new Map(this.dirty)
    this.dirty.clear()
    return snapshot
  }

  /** Marks the groups of a snapshot that was not written as dirty again. */
  restore(snapshot: OffsetsSnapshot): void {
    for (const { group } of snapshot) {
      const state = this.taken.get(group)
      // A newer record() since may have marked it already, with the same state object.
      if (state !== undefined && !this.dirty.has(group)) this.dirty.set(group, state)
    }
  }

  /**
   * Writes a snapshot's files (one atomic replacement each, backup kept). Rounds run one at a
   * time, so no two writes of a group overlap. A group whose write failed is forgotten and
   * re-read from its file on next use, as after a failed commit(); the first error is thrown.
   */
  async writeSnapshot(snapshot: OffsetsSnapshot): Promise<void> {
    let failure: unknown = null
    for (const { group, content } of snapshot) {
      try {
        const state = await this.state(group)
        await this.write(group, content, state.fileIsGood)
        state.fileIsGood = true
      } catch (error) {
        this.groups.delete(group)
        this.dirty.delete(group)
        failure ??= error
      }
    }
    if (failure !== null) throw failure
  }

  private async flush(group: string, state: GroupState): Promise<void> {
    if (state.writing !== null) {
      // A write is running with an older snapshot: ask for one more and wait for it.
      state.dirty = true
      while (state.writing !== null) await state.writing
      return
    }
    state.writing = (async () => {
      try {
        do {
          state.dirty = false
          await this.write(group, serialize(state), state.fileIsGood)
          state.fileIsGood = true
        } while (state.dirty)
      } catch (error) {
        // Every commit not yet durable rejects with this error, so its subscriber treats the batch
        // as uncommitted; the cache must not claim otherwise. Forget it and re-read the file.
        this.groups.delete(group)
        throw error
      } finally {
        state.writing = null
      }
    })()
    await state.writing
  }

  private state(group: string): Promise<GroupState> {
    let state = this.groups.get(group)
    if (state === undefined) {
      state = this.load(group)
      this.groups.set(group, state)
      state.catch(() => this.groups.delete(group))
    }
    return state
  }

  private load(group: string): Promise<GroupState> {
    return this.loadFile(this.file(group), group)
  }

  private async loadFile(file: string, group: string): Promise<GroupState> {
    const main = await readOffsetsFile(file)
    if (main.status === 'ok')
      return { topics: main.topics, metadata: main.metadata, writing: null, dirty: false, fileIsGood: true }
    const backupFile = `${file}${BACKUP_SUFFIX}`
    const backup = await readOffsetsFile(backupFile)
    if (main.status === 'missing') {
      if (backup.status === 'missing') {
        if (await this.hasTempFiles(file)) {
          this.warnOnce(
            'group-offsets-vanished',
            group,
            file,
            `the committed offsets of consumer group ${group} are gone: ${file} is missing but a temp file of it remains; the group starts over`,
          )
        }
        return {
          topics: Object.create(null),
          metadata: Object.create(null),
          writing: null,
          dirty: false,
          fileIsGood: false,
        }
      }
      if (backup.status === 'bad') {
        throw new SluiceError(
          'LOG_CORRUPT_OFFSETS',
          `the committed offsets of consumer group ${group} are lost: ${file} is missing and its backup ${backupFile} is damaged (${backup.problem}); run \`sluice log repair\` to set the damaged backup aside (the group then starts over)`,
        )
      }
      this.warnOnce(
        'group-offsets-vanished',
        group,
        file,
        `the committed offsets of consumer group ${group} vanished: ${file} is missing; using the backup generation ${backupFile} (records after it are delivered again)`,
      )
      return {
        topics: backup.topics,
        metadata: backup.metadata,
        writing: null,
        dirty: false,
        fileIsGood: false,
      }
    }
    if (backup.status !== 'ok') {
      throw new SluiceError(
        'LOG_CORRUPT_OFFSETS',
        `group offsets file ${file} of consumer group ${group} is damaged (${main.problem}) and there is no good backup generation (${backupFile}: ${backup.status === 'missing' ? 'missing' : backup.problem}); run \`sluice log repair\` to set it aside (the group then starts over)`,
      )
    }
    this.warnOnce(
      'group-offsets-backup-used',
      group,
      file,
      `group offsets file ${file} of consumer group ${group} is damaged (${main.problem}); using the backup generation ${backupFile} (records after it are delivered again)`,
    )
    return {
      topics: backup.topics,
      metadata: backup.metadata,
      writing: null,
      dirty: false,
      fileIsGood: false,
    }
  }

  private warnOnce(
    kind: 'group-offsets-backup-used' | 'group-offsets-vanished',
    group: string,
    file: string,
    message: string,
  ): void {
    const key = `${kind}\0${file}`
    if (this.warned.has(key)) return
    this.warned.add(key)
    this.options.report?.({ kind, message, group, file })
  }

  private async hasTempFiles(file: string): Promise<boolean> {
    const prefix = `${path.basename(file)}.`
    try {
      return (await readdir(path.dirname(file))).some((n) => n.startsWith(prefix) && n.endsWith('.tmp'))
    } catch {
      return false
    }
  }

  private async write(group: string, content: string, keepBackup: boolean): Promise<void> {
    const file = this.file(group)
    await withFile(file, 'writing', async () => {
      if (!this.dirCreated) {
        await mkdir(this.dir, { recursive: true })
        this.dirCreated = true
      }
      const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
      try {
        const fh = await open(temp, 'w')
        try {
          await fh.writeFile(content)
          if (this.options.fsync) {
            await this.options.beforeSync?.(file)
            await fh.sync()
          }
        } finally {
          await fh.close()
        }
        if (keepBackup) await keepAsBackup(file)
        await rename(temp, file)
      } catch (error) {
        await unlink(temp).catch(() => {})
        throw error
      }
      if (this.options.fsync) await syncDir(this.dir)
    })
  }

  private file(group: string): string {
    return path.join(this.dir, `${encodeGroupName(group)}.json`)
  }
}

/** Makes the current `file` the backup generation, atomically replacing the older backup. */
async function keepAsBackup(file: string): Promise<void> {
  const temp = `${file}${BACKUP_SUFFIX}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await link(file, temp)
  } catch (error) {
    if (isCode(error, 'ENOENT')) return
    throw error
  }
  try {
    await rename(temp, `${file}${BACKUP_SUFFIX}`)
  } catch (error) {
    await unlink(temp).catch(() => {})
    throw error
  }
}

/** Reads and validates one offsets file; `bad` says what is wrong with it. */
export async function readOffsetsFile(file: string): Promise<FileRead> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if (isCode(error, 'ENOENT')) return { status: 'missing' }
    throw ioError(error, file, 'reading')
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return { status: 'bad', problem: `not valid JSON: ${(error as Error).message}` }
  }
  const topics = (parsed as { topics?: unknown } | null)?.topics
  if (typeof topics !== 'object' || topics === null || Array.isArray(topics))
    return { status: 'bad', problem: 'no "topics" object' }
  const result: Record<string, number[]> = Object.create(null)
  for (const [topic, offsets] of Object.entries(topics)) {
    if (!Array.isArray(offsets) || !offsets.every((o) => Number.isSafeInteger(o) && o >= -1))
      return { status: 'bad', problem: `bad offsets for topic ${topic}` }
    result[topic] = offsets
  }
  const metadata: Record<string, (string | null)[]> = Object.create(null)
  const stored = (parsed as { metadata?: unknown }).metadata
  if (stored !== undefined) {
    if (typeof stored !== 'object' || stored === null || Array.isArray(stored))
      return { status: 'bad', problem: '"metadata" is not an object' }
    for (const [topic, list] of Object.entries(stored)) {
      if (!Array.isArray(list) || !list.every((m) => m === null || typeof m === 'string'))
        return { status: 'bad', problem: `bad metadata for topic ${topic}` }
      metadata[topic] = list
    }
  }
  return { status: 'ok', topics: result, metadata }
}

function setOffset(
  state: GroupState,
  topic: string,
  partition: number,
  offset: number,
  metadata: string | null,
): void {
  const offsets = state.topics[topic] ?? []
  state.topics[topic] = offsets
  while (offsets.length <= partition) offsets.push(-1)
  offsets[partition] = offset
  const list = state.metadata[topic]
  if (metadata === null && list === undefined) return
  const metadataList = list ?? []
  state.metadata[topic] = metadataList
  while (metadataList.length <= partition) metadataList.push(null)
  metadataList[partition] = metadata
}

/** The file content of a group's state; `metadata` only when some partition has any. */
function serialize(state: GroupState): string {
  const metadata = Object.entries(state.metadata).filter(([, list]) => list.some((m) => m !== null))
  if (metadata.length === 0) return JSON.stringify({ version: 1, topics: state.topics })
  return JSON.stringify({ version: 1, topics: state.topics, metadata: Object.fromEntries(metadata) })
}

/** The group name an encoded file name stands for (encodeGroupName reversed). */
export function decodeGroupName(encoded: string): string {
  try {
    return decodeURIComponent(encoded)
  } catch {
    return encoded
  }
}

/**
 * Group names are free-form strings (as in Kafka), so they are encoded for use as file names:
 * [A-Za-z0-9_-] stay, every other UTF-8 byte becomes %XX. The result cannot contain a path
 * separator or be "." / "..", and distinct names stay distinct.
 */
export function encodeGroupName(group: string): string {
  if (group.length === 0) throw new SluiceError('LOG_INVALID_ARGUMENT', 'group name must not be empty')
  let out = ''
  for (const byte of Buffer.from(group, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  // Leaves room under the usual 255-byte file name limit for ".json" and a temp-file suffix.
  if (out.length > 200)
    throw new SluiceError('LOG_INVALID_ARGUMENT', `group name too long: ${group.slice(0, 40)}…`)
  return out
}
