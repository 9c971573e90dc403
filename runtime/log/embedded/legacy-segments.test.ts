import { mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../embedded.ts'
import type { RecordBatch } from '../index.ts'
import { checkFrame, type FrameInput } from './frame.ts'
import { encodeRecordFrames, recordFrameSize } from './frame-v1.ts'
import { repairDataDir } from './repair.ts'
import { segmentFileName } from './segment.ts'
import { hasDamage, verifyDataDir } from './verify.ts'

// Data directories written before record batches (magic 1 frames, one record each) stay readable,
// and appends after the upgrade put batch frames behind them in the same segment.

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

const ARTIFACT = { 'sluice.artifact': `sha256:${'0f'.repeat(32)}` }

const oldRecord = (i: number): FrameInput => ({
  timestamp: 1_700_000_000_000 + i,
  key: `k${i % 3}`,
  headers: i % 2 === 0 ? ARTIFACT : { traceparent: `t-${i}`, ...ARTIFACT },
  value: Buffer.from(`old-${i}`),
})

/** A data dir whose topic t holds `n` records written by the magic 1 encoder. */
async function oldDataDir(n: number): Promise<{ dir: string; segment: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-legacy-'))
  dirs.push(dir)
  const log = await EmbeddedLog.open(dir, { durability: 'none' })
  await log.ensureTopic('t')
  await log.close()
  const segment = path.join(dir, 'log', 't', '0', segmentFileName(0))
  await writeFile(
    segment,
    encodeRecordFrames(
      Array.from({ length: n }, (_, i) => oldRecord(i)),
      0,
    ),
  )
  return { dir, segment }
}

const texts = (records: readonly { value: Uint8Array }[]) =>
  records.map((r) => Buffer.from(r.value).toString())

describe('segments written before record batches', () => {
  it('are read, appended to with batches, verified and reopened', async () => {
    const { dir, segment } = await oldDataDir(20)
    const oldBytes = (await stat(segment)).size
    let log = await EmbeddedLog.open(dir, { durability: 'none', indexInterval: 4 })
    expect(await log.endOffsets('t')).toEqual([20])
    const old = await log.read('t', 0, 0, 100)
    expect(old.map((r) => ({ key: r.key, headers: r.headers, timestamp: r.timestamp }))).toEqual(
      Array.from({ length: 20 }, (_, i) => {
        const r = oldRecord(i)
        return { key: r.key, headers: r.headers, timestamp: r.timestamp }
      }),
    )
    expect(texts(old)).toEqual(Array.from({ length: 20 }, (_, i) => `old-${i}`))
    await log.append(
      't',
      Array.from({ length: 6 }, (_, i) => ({ key: null, value: Buffer.from(`new-${i}`), headers: ARTIFACT })),
    )
    // The new records are one batch frame after the old frames, in the same segment.
    const buf = await readFile(segment)
    const kinds: [number, number][] = []
    for (let pos = 0; pos < buf.length; ) {
      const check = checkFrame(buf, pos, buf.length)
      if (check.status !== 'ok') throw new Error(`bad frame at ${pos}`)
      kinds.push([buf[pos + 8]!, check.count])
      pos += check.size
    }
    expect(kinds).toEqual([...Array.from({ length: 20 }, (): [number, number] => [1, 1]), [2, 6]])
    expect(buf.length - oldBytes).toBeLessThan(6 * recordFrameSize(oldRecord(0)))
    // A read across the two kinds, starting in the old frames and ending inside the batch.
    expect(texts(await log.read('t', 0, 17, 5))).toEqual(['old-17', 'old-18', 'old-19', 'new-0', 'new-1'])
    await log.close()

    const report = await verifyDataDir(dir)
    expect(hasDamage(report)).toBe(false)
    expect(report.topics[0]!.partitions[0]!.segments[0]!.records).toBe(26)

    log = await EmbeddedLog.open(dir, { durability: 'none', indexInterval: 4 })
    expect(await log.endOffsets('t')).toEqual([26])
    for (let from = 0; from < 26; from++)
      expect((await log.read('t', 0, from, 3)).map((r) => r.offset)).toEqual(
        [from, from + 1, from + 2].filter((o) => o < 26),
      )
    await log.close()
    const reader = await EmbeddedLog.openReadOnly(dir)
    expect(texts(await reader.read('t', 0, 19, 3))).toEqual(['old-19', 'new-0', 'new-1'])
    await reader.close()
  })

  it('a damaged old frame in the middle is found by verify and set aside by repair', async () => {
    const { dir, segment } = await oldDataDir(10)
    const size = recordFrameSize(oldRecord(0))
    // Flip a byte of record 0's value: its frame fails its CRC, the frames after it are good.
    const fh = await open(segment, 'r+')
    await fh.write(Buffer.from([0xee]), 0, 1, size - 2)
    await fh.close()
    const report = await verifyDataDir(dir)
    expect(hasDamage(report)).toBe(true)
    const damage = report.topics[0]!.partitions[0]!.segments[0]!.damage
    expect(damage).toMatchObject([{ position: 0, expectedOffset: 0, resumeOffset: 1 }])
    const repaired = await repairDataDir(dir, { dryRun: false })
    expect(repaired.unrepaired).toEqual([])
    const log = await EmbeddedLog.open(dir, { durability: 'none' })
    expect(texts(await log.read('t', 0, 0, 100))).toEqual(Array.from({ length: 9 }, (_, i) => `old-${i + 1}`))
    await log.close()
  })
})

describe('batches', () => {
  it('a subscription whose group committed an offset inside a batch starts at that record', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-batch-'))
    dirs.push(dir)
    const log = await EmbeddedLog.open(dir, { durability: 'none' })
    await log.ensureTopic('t')
    await log.append(
      't',
      Array.from({ length: 10 }, (_, i) => ({ key: null, value: Buffer.from(`r${i}`) })),
    )
    await log.commitOffset('g', 't', 0, 7)
    const seen: string[] = []
    let done!: () => void
    const finished = new Promise<void>((resolve) => {
      done = resolve
    })
    const sub = await log.subscribe({ group: 'g', topics: ['t'] }, async (batch: RecordBatch) => {
      seen.push(...texts(batch.records))
      if (seen.length >= 3) done()
    })
    await finished
    await sub.stop()
    expect(seen).toEqual(['r7', 'r8', 'r9'])
    await log.close()
  })

  it('a batch torn short at the end is cut and every offset it claims is retired', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-batch-'))
    dirs.push(dir)
    let log = await EmbeddedLog.open(dir, { durability: 'none' })
    await log.ensureTopic('t')
    await log.append('t', [{ key: null, value: Buffer.from('first') }])
    await log.append(
      't',
      Array.from({ length: 50 }, (_, i) => ({ key: null, value: Buffer.alloc(100, i) })),
    )
    await log.close()
    const segment = path.join(dir, 'log', 't', '0', segmentFileName(0))
    const { size } = await stat(segment)
    // Only the first 100 of the 50-record batch's 5,000-odd bytes reached the disk: too few to
    // hold 50 records, but the batch's header says it claimed offsets 1..50.
    const firstFrame = checkFrame(await readFile(segment), 0, size)
    if (firstFrame.status !== 'ok') throw new Error('bad first frame')
    await truncate(segment, firstFrame.size + 100)
    log = await EmbeddedLog.open(dir, { durability: 'none' })
    expect(await log.endOffsets('t')).toEqual([51])
    expect((await stat(segment)).size).toBe(firstFrame.size)
    expect(texts(await log.read('t', 0, 0, 10))).toEqual(['first'])
    await log.close()
  })

  it('a damaged batch in the middle is found by resync, and repair keeps the batches after it readable', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-batch-'))
    dirs.push(dir)
    let log = await EmbeddedLog.open(dir, { durability: 'none' })
    await log.ensureTopic('t')
    for (const prefix of ['a', 'b', 'c'])
      await log.append(
        't',
        Array.from({ length: 4 }, (_, i) => ({ key: null, value: Buffer.from(`${prefix}${i}`) })),
      )
    await log.close()
    const segment = path.join(dir, 'log', 't', '0', segmentFileName(0))
    const first = checkFrame(await readFile(segment), 0, (await stat(segment)).size)
    if (first.status !== 'ok') throw new Error('bad first frame')
    const fh = await open(segment, 'r+')
    await fh.write(Buffer.from([0xee]), 0, 1, first.size + 40) // inside batch b
    await fh.close()
    const damage = (await verifyDataDir(dir)).topics[0]!.partitions[0]!.segments[0]!.damage
    expect(damage).toMatchObject([{ kind: 'corrupt', expectedOffset: 4, resumeOffset: 8 }])
    expect((await repairDataDir(dir, { dryRun: false })).unrepaired).toEqual([])
    expect(hasDamage(await verifyDataDir(dir))).toBe(false)
    log = await EmbeddedLog.open(dir, { durability: 'none' })
    expect(texts(await log.read('t', 0, 0, 100))).toEqual(['a0', 'a1', 'a2', 'a3', 'c0', 'c1', 'c2', 'c3'])
    expect((await log.read('t', 0, 5, 1)).map((r) => r.offset)).toEqual([8])
    await log.close()
  })

  it('a damaged batch at the end is set aside whole and its offsets are never handed out again', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-batch-'))
    dirs.push(dir)
    let log = await EmbeddedLog.open(dir, { durability: 'none' })
    await log.ensureTopic('t')
    await log.append('t', [{ key: null, value: Buffer.from('first') }])
    await log.append(
      't',
      Array.from({ length: 8 }, (_, i) => ({ key: null, value: Buffer.from(`r${i}`) })),
    )
    await log.close()
    const partitionDir = path.join(dir, 'log', 't', '0')
    const segment = path.join(partitionDir, segmentFileName(0))
    const fh = await open(segment, 'r+')
    const { size } = await fh.stat()
    await fh.write(Buffer.from([0xee]), 0, 1, size - 2) // inside the batch's last value
    await fh.close()
    const verified = await verifyDataDir(dir)
    expect(verified.topics[0]!.partitions[0]!.segments[0]!.damage).toMatchObject([
      { kind: 'corrupt', expectedOffset: 1, highestOffset: 8, completeRecords: 8 },
    ])
    log = await EmbeddedLog.open(dir, { durability: 'none' })
    // The batch held offsets 1..8: all retired, the next record gets 9.
    expect(await log.endOffsets('t')).toEqual([9])
    expect(texts(await log.read('t', 0, 0, 10))).toEqual(['first'])
    const [position] = await log.append('t', [{ key: null, value: Buffer.from('after') }])
    expect(position!.offset).toBe(9)
    expect(texts(await log.read('t', 0, 0, 10))).toEqual(['first', 'after'])
    expect((await readdir(partitionDir)).some((n) => n.includes('.quarantine-at-'))).toBe(true)
    await log.close()
  })
})
