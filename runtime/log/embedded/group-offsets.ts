import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import path from 'node:path'
import { SluiceError } from '../../errors.ts'
import { isCode, syncDir } from './segment.ts'

/**
 * Committed offsets of consumer groups: one JSON file per group, `<dir>/<encoded group>.json`:
 *
 *   { "version": 1, "topics": { "<topic>": [<next offset of partition 0>, ...] } }
 *
 * with -1 for a partition the group never committed. Files are replaced atomically (write a temp
 * file, fsync it, rename it over the old one, fsync the directory), so a crash leaves either the
 * old or the new offsets, never a torn file. Commits that arrive while a write is in flight are
 * coalesced into the next write: the file always ends up with the newest offsets, and a burst of
 * commits costs two writes, not one per commit.
 */

interface GroupState {
  /** Topic → offsets; a prototype-less object, so any topic name (`__proto__`, `constructor`) is a plain key. */
  topics: Record<string, number[]>
  /** The write in flight, and whether another commit arrived after it took its snapshot. */
  writing: Promise<void> | null
  dirty: boolean
}

export class GroupOffsets {
  private readonly groups = new Map<string, Promise<GroupState>>()
  private dirCreated = false

  constructor(
    private readonly dir: string,
    private readonly options: { readonly fsync: boolean; readonly readOnly: boolean },
  ) {}

  /** Committed offsets of `group` for `topic` (-1 where none), `partitions` entries long. */
  async committed(group: string, topic: string, partitions: number): Promise<number[]> {
    // Read-only opens re-read the file every time: the owning process keeps committing.
    const state = this.options.readOnly ? await this.load(group) : await this.state(group)
    const stored = state.topics[topic] ?? []
    return Array.from({ length: partitions }, (_, p) => stored[p] ?? -1)
  }

  /** Records that `group` will next read `offset` in `topic`/`partition`; resolves once durable. */
  async commit(group: string, topic: string, partition: number, offset: number): Promise<void> {
    if (this.options.readOnly)
      throw new SluiceError('LOG_READ_ONLY', 'cannot commit offsets in a read-only log')
    const state = await this.state(group)
    const offsets = state.topics[topic] ?? []
    state.topics[topic] = offsets
    while (offsets.length <= partition) offsets.push(-1)
    offsets[partition] = offset
    await this.flush(group, state)
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
          await this.write(group, JSON.stringify({ version: 1, topics: state.topics }))
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

  private async load(group: string): Promise<GroupState> {
    const file = this.file(group)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if (isCode(error, 'ENOENT')) return { topics: Object.create(null), writing: null, dirty: false }
      throw error
    }
    const parsed: unknown = JSON.parse(text)
    const topics = (parsed as { topics?: unknown }).topics
    if (typeof topics !== 'object' || topics === null) {
      throw new SluiceError('LOG_CORRUPT_SEGMENT', `group offsets file ${file} has no "topics" object`)
    }
    const result: Record<string, number[]> = Object.create(null)
    for (const [topic, offsets] of Object.entries(topics)) {
      if (!Array.isArray(offsets) || !offsets.every((o) => Number.isSafeInteger(o) && o >= -1)) {
        throw new SluiceError(
          'LOG_CORRUPT_SEGMENT',
          `group offsets file ${file} has bad offsets for topic ${topic}`,
        )
      }
      result[topic] = offsets
    }
    return { topics: result, writing: null, dirty: false }
  }

  private async write(group: string, content: string): Promise<void> {
    if (!this.dirCreated) {
      await mkdir(this.dir, { recursive: true })
      this.dirCreated = true
    }
    const file = this.file(group)
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    const fh = await open(temp, 'w')
    try {
      try {
        await fh.writeFile(content)
        if (this.options.fsync) await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(temp, file)
    } catch (error) {
      await unlink(temp).catch(() => {})
      throw error
    }
    if (this.options.fsync) await syncDir(this.dir)
  }

  private file(group: string): string {
    return path.join(this.dir, `${encodeGroupName(group)}.json`)
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
