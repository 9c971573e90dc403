import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../embedded.ts'
import { checkFrame } from './frame.ts'
import { repairDataDir } from './repair.ts'
import { hasDamage, verifyDataDir } from './verify.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

/** Topic t: `n` one-record appends in segments of about three records; group g committed all. */
async function dataDir(n: number): Promise<{ dir: string; partitionDir: string; segments: string[] }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-repair-'))
  dirs.push(dir)
  const log = await EmbeddedLog.open(dir, { segmentBytes: 140 })
  await log.ensureTopic('t')
  for (let i = 0; i < n; i++) await log.append('t', [{ key: null, value: Buffer.from(`record-${i}`) }])
  await log.groups.commit('g', 't', 0, n)
  await log.close()
  const partitionDir = path.join(dir, 'log', 't', '0')
  const segments = (await readdir(partitionDir))
    .filter((f) => f.endsWith('.seg'))
    .sort()
    .map((f) => path.join(partitionDir, f))
  return { dir, partitionDir, segments }
}

async function offsets(dir: string): Promise<number[]> {
  const log = await EmbeddedLog.open(dir)
  try {
    return (await log.read('t', 0, 0, 1000)).map((r) => r.offset)
  } finally {
    await log.close()
  }
}

async function flipByte(file: string, position: number): Promise<void> {
  const fh = await open(file, 'r+')
  const byte = Buffer.alloc(1)
  await fh.read(byte, 0, 1, position)
  byte[0] = byte[0]! ^ 0xff
  await fh.write(byte, 0, 1, position)
  await fh.close()
}

async function framesIn(file: string): Promise<number> {
  const buf = await readFile(file)
  let n = 0
  for (let pos = 0; pos < buf.length; n++) {
    const check = checkFrame(buf, pos, buf.length)
    if (check.status !== 'ok') throw new Error(`bad frame at ${pos}`)
    pos += check.size
  }
  return n
}

describe('repair', () => {
  it('quarantines a corrupt tail of the last segment and continues past the group’s offset', async () => {
    const { dir, segments } = await dataDir(8)
    const last = segments.at(-1)!
    const size = (await stat(last)).size
    await flipByte(last, size - 3)
    expect(hasDamage(await verifyDataDir(dir))).toBe(true)
    const result = await repairDataDir(dir, { dryRun: false })
    expect(result.unrepaired).toEqual([])
    expect(result.actions).toHaveLength(1)
    expect(result.actions[0]!.description).toMatch(/offsets 7\.\.7 retired.*appends continue at offset 8/)
    expect(hasDamage(await verifyDataDir(dir))).toBe(false)
    expect(await offsets(dir)).toEqual([0, 1, 2, 3, 4, 5, 6])
    const log = await EmbeddedLog.open(dir)
    const [p] = await log.append('t', [{ key: null, value: Buffer.from('next') }])
    await log.close()
    expect(p!.offset).toBe(8)
  })

  it('records offsets missing between segments as a gap, and rebuilds a damaged gaps.json', async () => {
    const { dir, partitionDir, segments } = await dataDir(10)
    const lost = await framesIn(segments[1]!)
    await unlink(segments[1]!) // a whole sealed segment gone
    await writeFile(path.join(partitionDir, 'gaps.json'), '{"version":1,"gaps":[{"from":')
    const report = await verifyDataDir(dir)
    expect(hasDamage(report)).toBe(true)
    const result = await repairDataDir(dir, { dryRun: false })
    expect(result.actions.map((a) => a.description).join('\n')).toMatch(
      /gaps\.json.*renamed it aside[\s\S]*offsets \d+\.\.\d+ are missing/,
    )
    expect(hasDamage(await verifyDataDir(dir))).toBe(false)
    const base = await framesIn(segments[0]!)
    const expected = [...Array(10).keys()].filter((o) => o < base || o >= base + lost)
    expect(await offsets(dir)).toEqual(expected)
    expect((await readdir(partitionDir)).some((n) => n.startsWith('gaps.json.damaged-'))).toBe(true)
  })

  it('rebuilds a damaged meta.json from the partition directories', async () => {
    const { dir } = await dataDir(3)
    const meta = path.join(dir, 'log', 't', 'meta.json')
    await writeFile(meta, '{"version":1,"partitions":"x"}')
    const result = await repairDataDir(dir, { dryRun: false })
    expect(result.actions[0]!.description).toMatch(
      /meta\.json is no valid partition count; renamed it aside and rewrote it with 1 partition/,
    )
    expect(JSON.parse(await readFile(meta, 'utf8'))).toEqual({ version: 1, partitions: 1 })
    expect(await offsets(dir)).toEqual([0, 1, 2])
  })

  it('rewrites a damaged transactional tail mark as offset 0, which makes the next open scan the whole partition', async () => {
    const { dir, partitionDir } = await dataDir(3)
    const mark = path.join(partitionDir, 'transactional.json')
    await writeFile(mark, '{"version":1,"from":')
    expect(hasDamage(await verifyDataDir(dir))).toBe(true)
    const damaged = await EmbeddedLog.open(dir)
    await expect(damaged.read('t', 0, 0, 10)).rejects.toThrow(/transactional tail file/)
    await damaged.close()
    const result = await repairDataDir(dir, { dryRun: false })
    expect(result.actions[0]!.description).toMatch(/transactional\.json.*rewrote it as offset 0/)
    expect(JSON.parse(await readFile(mark, 'utf8'))).toEqual({ version: 1, from: 0 })
    expect(hasDamage(await verifyDataDir(dir))).toBe(false)
    expect(await offsets(dir)).toEqual([0, 1, 2])
  })

  it('leaves a topic directory without meta.json alone: an unfinished creation, not damage', async () => {
    const { dir } = await dataDir(1)
    await mkdir(path.join(dir, 'log', 'half', '0'), { recursive: true })
    const report = await verifyDataDir(dir)
    expect(report.topics.find((t) => t.topic === 'half')).toMatchObject({ unfinished: true })
    expect(hasDamage(report)).toBe(false)
    expect((await repairDataDir(dir, { dryRun: false })).actions).toEqual([])
  })

  it('sets aside a group whose offsets files are both damaged, saying the group starts over', async () => {
    const { dir } = await dataDir(3)
    const groups = path.join(dir, 'groups')
    await writeFile(path.join(groups, 'g.json'), '{')
    await writeFile(path.join(groups, 'g.json.bak'), '[')
    const result = await repairDataDir(dir, { dryRun: false })
    expect(result.actions[0]!.description).toMatch(/offsets are lost.*starts over/)
    expect((await readdir(groups)).filter((n) => n.startsWith('g.json.') && !n.includes('damaged'))).toEqual(
      [],
    )
    expect(hasDamage(await verifyDataDir(dir))).toBe(false)
  })

  it('changes nothing with dryRun', async () => {
    const { dir, segments } = await dataDir(8)
    await flipByte(segments[0]!, 30)
    const before = await readFile(segments[0]!)
    const result = await repairDataDir(dir, { dryRun: true })
    expect(result.actions.length).toBeGreaterThan(0)
    expect(await readFile(segments[0]!)).toEqual(before)
    expect(hasDamage(await verifyDataDir(dir))).toBe(true)
  })
})
