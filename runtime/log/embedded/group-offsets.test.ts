import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isSluiceError } from '../../errors.ts'
import { encodeGroupName, GroupOffsets } from './group-offsets.ts'

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

  it('coalesces concurrent commits and ends with the newest offsets on disk, leaving no temp files', async () => {
    const groups = new GroupOffsets(dir, { fsync: true, readOnly: false })
    await Promise.all(Array.from({ length: 50 }, (_, i) => groups.commit('g', 't', i % 5, i)))
    const onDisk = JSON.parse(await readFile(path.join(dir, 'g.json'), 'utf8'))
    expect(onDisk).toEqual({ version: 1, topics: { t: [45, 46, 47, 48, 49] } })
    expect(await readdir(dir)).toEqual(['g.json'])
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

  it('refuses a damaged offsets file', async () => {
    await writeFile(path.join(dir, 'g.json'), JSON.stringify({ version: 1, topics: { t: ['x'] } }))
    const groups = new GroupOffsets(dir, { fsync: false, readOnly: false })
    await expect(groups.committed('g', 't', 1)).rejects.toSatisfy((e) =>
      isSluiceError(e, 'LOG_CORRUPT_SEGMENT'),
    )
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
