import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isSluiceError } from '../../errors.ts'
import { encodeGroupName, GroupOffsets } from './group-offsets.ts'
import type { RecoveryEvent } from './report.ts'

let dir: string

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-groups-'))
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('GroupOffsets', () => {
  it('answers -1 for partitions never committed and keeps topics apart', async () => {
    const groups = new GroupOffsets(dir, { fsync: true, readOnly: false })
    expect(await groups.committed('g', 't', 3)).toEqual([-1, -1, -1])
    await groups.commit('g', 't', 1, 7)
    await groups.commit('g', 'u', 0, 2)
    expect(await groups.committed('g', 't', 3)).toEqual([-1, 7, -1])
    expect(await groups.committed('g', 'u', 1)).toEqual([2])
    expect(await groups.committed('h', 't', 3)).toEqual([-1, -1, -1])
    const fresh = new GroupOffsets(dir, { fsync: true, readOnly: false })
    expect(await fresh.committed('g', 't', 3)).toEqual([-1, 7, -1])
  })

  it('keeps checkpoint metadata with the offset, and reads files written before metadata existed', async () => {
    // A file of an earlier version: offsets only.
    await writeFile(path.join(dir, 'old.json'), JSON.stringify({ version: 1, topics: { t: [4, 9] } }))
    const groups = new GroupOffsets(dir, { fsync: true, readOnly: false })
    expect(await groups.committed('old', 't', 2)).toEqual([4, 9])
    expect(await groups.committedMetadata('old', 't', 1)).toBeNull()

    await groups.commit('old', 't', 1, 10, 'epoch 3')
    await groups.record('old', 'u', 0, 1, 'epoch 1')
    await groups.writeSnapshot(groups.takeDirty()!)
    expect(JSON.parse(await readFile(path.join(dir, 'old.json'), 'utf8'))).toEqual({
      version: 1,
      topics: { t: [4, 10], u: [1] },
      metadata: { t: [null, 'epoch 3'], u: ['epoch 1'] },
    })
    const fresh = new GroupOffsets(dir, { fsync: true, readOnly: true })
    expect(await fresh.committedMetadata('old', 't', 1)).toBe('epoch 3')
    expect(await fresh.committedMetadata('old', 't', 0)).toBeNull()
    expect(await fresh.committedMetadata('old', 'u', 0)).toBe('epoch 1')

    // A commit without metadata (no checkpoint) clears what the partition had.
    await groups.commit('old', 't', 1, 11)
    await groups.commit('old', 'u', 0, 2)
    expect(await groups.committedMetadata('old', 't', 1)).toBeNull()
    expect(JSON.parse(await readFile(path.join(dir, 'old.json'), 'utf8'))).toEqual({
      version: 1,
      topics: { t: [4, 11], u: [2] },
    })
  })

  it('treats malformed metadata as a damaged file (the backup generation is used)', async () => {
    await writeFile(path.join(dir, 'g.json.bak'), JSON.stringify({ version: 1, topics: { t: [3] } }))
    await writeFile(
      path.join(dir, 'g.json'),
      JSON.stringify({ version: 1, topics: { t: [5] }, metadata: { t: [7] } }),
    )
    const events: RecoveryEvent[] = []
    const groups = new GroupOffsets(dir, { fsync: true, readOnly: false, report: (e) => events.push(e) })
    expect(await groups.committed('g', 't', 1)).toEqual([3])
    expect(events.map((e) => e.kind)).toEqual(['group-offsets-backup-used'])
    expect(events[0]!.message).toMatch(/bad metadata for topic t/)
  })

  it('coalesces concurrent commits and ends with the newest offsets on disk, leaving no temp files', async () => {
    const groups = new GroupOffsets(dir, { fsync: true, readOnly: false })
    await Promise.all(Array.from({ length: 50 }, (_, i) => groups.commit('g', 't', i % 5, i)))
    const onDisk = JSON.parse(await readFile(path.join(dir, 'g.json'), 'utf8'))
    expect(onDisk).toEqual({ version: 1, topics: { t: [45, 46, 47, 48, 49] } })
    // The generation before the newest is kept as the backup; no temp files are left.
    expect((await readdir(dir)).sort()).toEqual(['g.json', 'g.json.bak'])
    const backup = JSON.parse(await readFile(path.join(dir, 'g.json.bak'), 'utf8'))
    expect(backup.version).toBe(1)
    expect(backup).not.toEqual(onDisk)
  })

  it('record() only remembers; a round writes one snapshot per group and keeps the backup generation', async () => {
    let recorded = 0
    const groups = new GroupOffsets(dir, { fsync: true, readOnly: false, onRecord: () => recorded++ })
    expect(groups.takeDirty()).toBeNull()
    for (let i = 1; i <= 10; i++) await groups.record('g', 't', 0, i)
    await groups.record('h', 't', 1, 4)
    expect(recorded).toBe(11)
    expect(await readdir(dir)).toEqual([])
    expect(await groups.committed('g', 't', 1)).toEqual([10])
    const first = groups.takeDirty()!
    expect(first.map((s) => s.group).sort()).toEqual(['g', 'h'])
    // Taken at that moment: a commit recorded afterwards is not in it.
    await groups.record('g', 't', 0, 11)
    await groups.writeSnapshot(first)
    expect(JSON.parse(await readFile(path.join(dir, 'g.json'), 'utf8')).topics.t).toEqual([10])
    expect(JSON.parse(await readFile(path.join(dir, 'h.json'), 'utf8')).topics.t).toEqual([-1, 4])
    await groups.writeSnapshot(groups.takeDirty()!)
    expect(JSON.parse(await readFile(path.join(dir, 'g.json'), 'utf8')).topics.t).toEqual([11])
    expect(JSON.parse(await readFile(path.join(dir, 'g.json.bak'), 'utf8')).topics.t).toEqual([10])
    expect(groups.takeDirty()).toBeNull()
  })

  it('a snapshot that was not written is taken again by the next round', async () => {
    const groups = new GroupOffsets(dir, { fsync: false, readOnly: false })
    await groups.record('g', 't', 0, 5)
    groups.restore(groups.takeDirty()!)
    await groups.writeSnapshot(groups.takeDirty()!)
    expect(JSON.parse(await readFile(path.join(dir, 'g.json'), 'utf8')).topics.t).toEqual([5])
  })

  it('rejects a commit it could not write and forgets it, so the batch counts as uncommitted', async () => {
    const groups = new GroupOffsets(dir, { fsync: true, readOnly: false })
    await groups.commit('g', 't', 0, 3)
    // A non-empty directory where the file goes makes the rename fail, even for root.
    await rm(path.join(dir, 'g.json'))
    await mkdir(path.join(dir, 'g.json'))
    await writeFile(path.join(dir, 'g.json', 'x'), '')
    await expect(groups.commit('g', 't', 0, 9)).rejects.toThrow()
    await rm(path.join(dir, 'g.json'), { recursive: true })
    await writeFile(path.join(dir, 'g.json'), JSON.stringify({ version: 1, topics: { t: [3] } }))
    expect(await groups.committed('g', 't', 1)).toEqual([3])
  })

  it('read-only instances see the writer’s latest commits and cannot commit', async () => {
    const writer = new GroupOffsets(dir, { fsync: false, readOnly: false })
    const reader = new GroupOffsets(dir, { fsync: false, readOnly: true })
    await writer.commit('g', 't', 0, 1)
    expect(await reader.committed('g', 't', 1)).toEqual([1])
    await writer.commit('g', 't', 0, 2)
    expect(await reader.committed('g', 't', 1)).toEqual([2])
    await expect(reader.commit('g', 't', 0, 5)).rejects.toSatisfy((e) => isSluiceError(e, 'LOG_READ_ONLY'))
  })

  it('keeps offsets of topics named like Object.prototype members, without polluting it', async () => {
    const groups = new GroupOffsets(dir, { fsync: false, readOnly: false })
    expect(await groups.committed('constructor', 'constructor', 2)).toEqual([-1, -1])
    expect(await groups.committed('constructor', '__proto__', 2)).toEqual([-1, -1])
    await groups.commit('constructor', '__proto__', 1, 5)
    await groups.commit('constructor', 'constructor', 0, 3)
    await groups.commit('constructor', 'toString', 0, 4)
    expect(await groups.committed('constructor', '__proto__', 2)).toEqual([-1, 5])
    expect(await groups.committed('constructor', 'constructor', 2)).toEqual([3, -1])
    const onDisk = JSON.parse(await readFile(path.join(dir, 'constructor.json'), 'utf8'))
    expect(Object.entries(onDisk.topics)).toEqual([
      ['__proto__', [-1, 5]],
      ['constructor', [3]],
      ['toString', [4]],
    ])
    for (const readOnly of [false, true]) {
      const fresh = new GroupOffsets(dir, { fsync: false, readOnly })
      expect(await fresh.committed('constructor', '__proto__', 2)).toEqual([-1, 5])
      expect(await fresh.committed('constructor', 'constructor', 1)).toEqual([3])
      expect(await fresh.committed('constructor', 'hasOwnProperty', 1)).toEqual([-1])
    }
  })

  it('refuses a damaged offsets file without a backup, naming the file (LOG_CORRUPT_OFFSETS)', async () => {
    await writeFile(path.join(dir, 'g.json'), JSON.stringify({ version: 1, topics: { t: ['x'] } }))
    const groups = new GroupOffsets(dir, { fsync: false, readOnly: false })
    await expect(groups.committed('g', 't', 1)).rejects.toSatisfy((e) =>
      isSluiceError(e, 'LOG_CORRUPT_OFFSETS'),
    )
    // A torn file: before, JSON.parse's bare "Unexpected end of JSON input" named no file.
    await writeFile(path.join(dir, 'h.json'), '{"version":1,"topics":{"t":[4')
    const error = await groups.committed('h', 't', 1).catch((e: Error) => e)
    expect(isSluiceError(error, 'LOG_CORRUPT_OFFSETS')).toBe(true)
    expect((error as Error).message).toContain(path.join(dir, 'h.json'))
    expect((error as Error).message).toMatch(/JSON/)
  })

  it('falls back to the backup generation of a damaged file, with a warning naming it', async () => {
    const events: RecoveryEvent[] = []
    const writer = new GroupOffsets(dir, { fsync: true, readOnly: false })
    await writer.commit('g', 't', 0, 10)
    await writer.commit('g', 't', 0, 20)
    await writeFile(path.join(dir, 'g.json'), '{"version":1,"topics":{"t":[2')
    const groups = new GroupOffsets(dir, { fsync: true, readOnly: false, report: (e) => events.push(e) })
    expect(await groups.committed('g', 't', 1)).toEqual([10])
    expect(events.map((e) => e.kind)).toEqual(['group-offsets-backup-used'])
    expect(events[0]!.file).toBe(path.join(dir, 'g.json'))
    expect(events[0]!.message).toContain(path.join(dir, 'g.json.bak'))
    // The next commit replaces the damaged file but keeps the good backup: damaging the new file
    // again still leaves a good generation.
    await groups.commit('g', 't', 0, 30)
    expect(JSON.parse(await readFile(path.join(dir, 'g.json.bak'), 'utf8')).topics.t).toEqual([10])
    await writeFile(path.join(dir, 'g.json'), 'garbage')
    const again = new GroupOffsets(dir, { fsync: true, readOnly: false })
    expect(await again.committed('g', 't', 1)).toEqual([10])
  })

  it('warns loudly when a group’s offsets file vanished and its backup remains', async () => {
    const events: RecoveryEvent[] = []
    const writer = new GroupOffsets(dir, { fsync: true, readOnly: false })
    await writer.commit('g', 't', 0, 10)
    await writer.commit('g', 't', 0, 20)
    await rm(path.join(dir, 'g.json'))
    for (const readOnly of [false, true]) {
      const groups = new GroupOffsets(dir, { fsync: true, readOnly, report: (e) => events.push(e) })
      expect(await groups.committed('g', 't', 1)).toEqual([10])
      expect(await groups.committed('g', 't', 1)).toEqual([10])
    }
    // Once per instance, not on every read.
    expect(events.map((e) => e.kind)).toEqual(['group-offsets-vanished', 'group-offsets-vanished'])
    expect(events[0]!.message).toMatch(/vanished/)
    // A group that never existed is just new: no warning.
    const fresh = new GroupOffsets(dir, { fsync: true, readOnly: false, report: (e) => events.push(e) })
    expect(await fresh.committed('never', 't', 1)).toEqual([-1])
    expect(events).toHaveLength(2)
  })

  it('fails with LOG_CORRUPT_OFFSETS when both generations are damaged, naming both files', async () => {
    await writeFile(path.join(dir, 'g.json'), '{')
    await writeFile(path.join(dir, 'g.json.bak'), '[')
    const error = await new GroupOffsets(dir, { fsync: false, readOnly: false })
      .committed('g', 't', 1)
      .catch((e: Error) => e)
    expect(isSluiceError(error, 'LOG_CORRUPT_OFFSETS')).toBe(true)
    expect((error as Error).message).toContain(path.join(dir, 'g.json'))
    expect((error as Error).message).toContain(path.join(dir, 'g.json.bak'))
  })

  it('reports the highest offset any group committed per partition, using backups when needed', async () => {
    const groups = new GroupOffsets(dir, { fsync: false, readOnly: false })
    await groups.commit('a', 't', 0, 5)
    await groups.commit('a', 't', 1, 2)
    await groups.commit('b', 't', 0, 3)
    await groups.commit('b', 't', 1, 9)
    await groups.commit('b', 't', 1, 11)
    await writeFile(path.join(dir, 'b.json'), '{') // damaged: b's backup says 9
    const fresh = new GroupOffsets(dir, { fsync: false, readOnly: false })
    expect(await fresh.highestCommitted('t')).toEqual([5, 9])
    expect(await fresh.highestCommitted('other')).toEqual([])
  })
})

describe('encodeGroupName', () => {
  it('keeps safe names and escapes everything else, so names stay distinct and path-free', () => {
    expect(encodeGroupName('billing-v2_a')).toBe('billing-v2_a')
    expect(encodeGroupName('..')).toBe('%2E%2E')
    expect(encodeGroupName('a/b')).toBe('a%2Fb')
    expect(encodeGroupName('a%2Fb')).toBe('a%252Fb')
    expect(encodeGroupName('ü')).toBe('%C3%BC')
    expect(() => encodeGroupName('')).toThrow()
    expect(() => encodeGroupName('x'.repeat(201))).toThrow()
  })
})
