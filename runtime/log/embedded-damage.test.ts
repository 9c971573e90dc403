import { execFileSync } from 'node:child_process'
import { mkdir, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectCode, logScratch } from '../../test/support/log-scratch.ts'
import { isSluiceError } from '../errors.ts'
import { createLogger } from '../observability/logger.ts'
import { checkFrame } from './embedded/frame.ts'
import { EmbeddedLog, type EmbeddedLogOptions } from './embedded.ts'
import type { LogRecord } from './index.ts'

// Damaged data directories, written by the tests: what recovery, readers and appends do with them
// (docs/decisions/0008-embedded-log-damage.md).

const { newDir, openLog, track, closeLogs } = logScratch('sluice-damage')

function openReader(dir: string, skipCorrupt = false): Promise<EmbeddedLog> {
  return EmbeddedLog.openReadOnly(dir, { skipCorrupt }).then(track)
}

function texts(records: readonly LogRecord[]): string[] {
  return records.map((r) => r.value.toString())
}

async function appendOne(log: EmbeddedLog, topic: string, value: string, partition = 0) {
  const [position] = await log.append(topic, [{ key: null, value: Buffer.from(value), partition }])
  return position!.offset
}

async function segmentFiles(dir: string, topic: string, partition = 0): Promise<string[]> {
  const partitionDir = path.join(dir, 'log', topic, String(partition))
  return (await readdir(partitionDir))
    .filter((n) => n.endsWith('.seg'))
    .sort()
    .map((n) => path.join(partitionDir, n))
}

async function framePositions(file: string): Promise<number[]> {
  const buf = await readFile(file)
  const positions: number[] = []
  let pos = 0
  while (pos < buf.length) {
    const check = checkFrame(buf, pos, buf.length)
    if (check.status !== 'ok') throw new Error(`unexpected ${check.status} frame at ${pos}`)
    positions.push(pos)
    pos += check.size
  }
  return positions
}

async function overwrite(file: string, position: number, bytes: Buffer | string): Promise<void> {
  const fh = await open(file, 'r+')
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes
  await fh.write(buf, 0, buf.length, position)
  await fh.close()
}

/** n one-record appends r0..r{n-1} to topic t; optionally a group consumes (and commits) them all. */
async function recordsIn(n: number, options: { group?: string; topics?: string[] } = {}) {
  const dir = await newDir()
  const log = await openLog(dir)
  for (const topic of options.topics ?? ['t']) {
    await log.ensureTopic(topic)
    for (let i = 0; i < n; i++) await appendOne(log, topic, `r${i}`)
  }
  if (options.group !== undefined) await consumeAll(log, options.group, n)
  await log.close()
  const [file] = await segmentFiles(dir, 't')
  return { dir, file: file!, positions: await framePositions(file!) }
}

/** Subscribes `group` to t until it has seen `count` records; returns their values. */
async function consumeAll(log: EmbeddedLog, group: string, count: number): Promise<string[]> {
  const seen: string[] = []
  let resolve!: () => void
  const enough = new Promise<void>((r) => {
    resolve = r
  })
  const sub = await log.subscribe({ group, topics: ['t'] }, async (batch) => {
    seen.push(...texts(batch.records))
    if (seen.length >= count) resolve()
  })
  if (count > 0) await enough
  await sub.stop()
  return seen
}

function waitForCommitted(log: EmbeddedLog, group: string, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000
    const tick = async () => {
      const [c] = await log.committedOffsets(group, 't')
      if (c === offset) resolve()
      else if (Date.now() > deadline) reject(new Error(`committed ${c}, wanted ${offset}`))
      else setTimeout(tick, 10)
    }
    void tick()
  })
}

describe('a damaged tail after a group consumed it (defect 3: offsets are never reused)', () => {
  it('continues past the cut records and the group’s offset, so new records reach the group', async () => {
    const { dir, file, positions } = await recordsIn(5, { group: 'billing' })
    // Flip a byte inside the last record (its timestamp): a complete frame with a bad CRC.
    await overwrite(file, positions[4]! + 20, Buffer.from([0xee]))
    const log = await openLog(dir)
    expect(await log.endOffsets('t')).toEqual([5])
    expect(await appendOne(log, 't', 'new')).toBe(5)
    // Before the fix 'new' got offset 4, below billing's committed 5, and was never delivered.
    expect(await consumeAll(log, 'billing', 1)).toEqual(['new'])
    const kinds = log.recoveryReport.map((e) => e.kind)
    expect(kinds).toEqual(['corrupt-tail-quarantined', 'offsets-skipped'])
    expect(log.recoveryReport[1]!.offsets).toEqual({ from: 4, to: 5 })
    expect(texts(await log.read('t', 0, 0, 10))).toEqual(['r0', 'r1', 'r2', 'r3', 'new'])
    expect((await log.read('t', 0, 4, 10)).map((r) => r.offset)).toEqual([5])
    await log.close()

    // The retired offset is recorded, so the sealed segment that ends before it still verifies.
    const gaps = JSON.parse(await readFile(path.join(path.dirname(file), 'gaps.json'), 'utf8'))
    expect(gaps.gaps).toMatchObject([{ from: 4, to: 5 }])
    const again = await openLog(dir)
    expect(again.recoveryReport).toEqual([])
    expect(texts(await again.read('t', 0, 0, 10))).toEqual(['r0', 'r1', 'r2', 'r3', 'new'])
    expect(await again.endOffsets('t')).toEqual([6])
  })

  it('continues past a group’s committed offset even when the cut bytes hold no readable offset', async () => {
    const { dir, file, positions } = await recordsIn(5, { group: 'g' })
    await truncate(file, positions[4]! + 6) // the last record, torn before its offset field
    const log = await openLog(dir)
    expect(await log.endOffsets('t')).toEqual([5])
    expect(log.recoveryReport.map((e) => e.kind)).toEqual(['torn-tail-cut', 'offsets-skipped'])
    expect(log.recoveryReport[1]!.message).toMatch(/committed offset 5/)
  })

  it('rejects a segment boundary with missing offsets that no gap explains', async () => {
    const { dir, file, positions } = await recordsIn(5, { group: 'g' })
    await overwrite(file, positions[4]! + 20, Buffer.from([0xee]))
    let log = await openLog(dir)
    await appendOne(log, 't', 'new')
    await log.close()
    await rm(path.join(path.dirname(file), 'gaps.json'))
    log = await openLog(dir)
    // The records before the unexplained hole are handed out; the read that reaches it fails.
    expect(texts(await log.read('t', 0, 0, 10))).toEqual(['r0', 'r1', 'r2', 'r3'])
    const error = await expectCode(log.read('t', 0, 4, 10), 'LOG_CORRUPT_SEGMENT')
    expect(error.message).toMatch(
      /segment ends at offset 4 but the next segment starts at 5 and no gap is recorded/,
    )
  })

  it('starts the segment after a recorded gap that a crash left without one', async () => {
    const { dir, file } = await recordsIn(4)
    await writeFile(
      path.join(path.dirname(file), 'gaps.json'),
      JSON.stringify({ version: 1, gaps: [{ from: 4, to: 9, reason: 'test', time: '' }] }),
    )
    const log = await openLog(dir)
    expect(await appendOne(log, 't', 'after')).toBe(9)
    expect((await log.read('t', 0, 3, 10)).map((r) => r.offset)).toEqual([3, 9])
  })

  it('moves a subscribed group over retired offsets so it is caught up', async () => {
    const { dir, file, positions } = await recordsIn(5)
    const log0 = await openLog(dir)
    // The group has processed r0..r3 only; r4 then gets damaged, is cut and its offset retired.
    await log0.groups.commit('slow', 't', 0, 4)
    await log0.close()
    await overwrite(file, positions[4]! + 20, Buffer.from([0xee]))
    const log = await openLog(dir)
    const seen = await log.subscribe({ group: 'slow', topics: ['t'] }, async () => {})
    await waitForCommitted(log, 'slow', 5)
    await seen.stop()
    expect(await log.endOffsets('t')).toEqual([5])
  })
})

describe('torn write or corruption at the tail (defect 4)', () => {
  it('quarantines a complete record with a bad checksum beside the segment, never deleting it', async () => {
    const { dir, file, positions } = await recordsIn(5)
    await overwrite(file, positions[4]! + 20, Buffer.from([0xee]))
    const damaged = (await readFile(file)).subarray(positions[4]!)
    const log = await openLog(dir, { logger: createLogger({ write: () => {} }) })
    const [event] = log.recoveryReport
    expect(event).toMatchObject({
      kind: 'corrupt-tail-quarantined',
      topic: 't',
      partition: 0,
      file,
      position: positions[4],
      bytes: damaged.length,
      offsets: { from: 4, to: 5 },
    })
    expect(event!.message).toMatch(/CRC mismatch/)
    expect(event!.quarantine).toBe(`${file}.quarantine-at-${positions[4]}`)
    expect(await readFile(event!.quarantine!)).toEqual(damaged)
    expect((await stat(file)).size).toBe(positions[4])
  })

  it('cuts an incomplete last frame as a torn write, without quarantine, and says so', async () => {
    const { dir, file, positions } = await recordsIn(5)
    await truncate(file, (await stat(file)).size - 3)
    const lines: string[] = []
    const log = await openLog(dir, { logger: createLogger({ write: (l) => lines.push(l) }) })
    const [event] = log.recoveryReport
    expect(event).toMatchObject({ kind: 'torn-tail-cut', file, position: positions[4] })
    expect(event!.message).toMatch(/incomplete frame at the end of the file.*torn write/)
    expect(event!.quarantine).toBeUndefined()
    expect((await readdir(path.dirname(file))).filter((n) => n.includes('quarantine'))).toEqual([])
    // Reported as a JSON warning line, too.
    expect(lines.map((l) => JSON.parse(l).level)).toContain('warn')
  })
})

describe('read-only readers and corruption (defect 5)', () => {
  it('fails the read at a corrupt record in the middle, naming file, byte and offset, after the records before it', async () => {
    const { dir, file, positions } = await recordsIn(6)
    await overwrite(file, positions[2]! + 20, Buffer.from([0xee]))
    const reader = await openReader(dir)
    expect(texts(await reader.read('t', 0, 0, 100))).toEqual(['r0', 'r1'])
    const error = await expectCode(reader.read('t', 0, 2, 100), 'LOG_CORRUPT_SEGMENT')
    expect(error.message).toContain(`corrupt segment ${file} at byte ${positions[2]}`)
    expect(error.message).toMatch(/CRC mismatch/)
    expect(error.message).toMatch(/record offset 2/)
    // Before the fix the reader stopped here silently, as if the rest were being written.
  })

  it('hands out the records of a sealed segment before its damage, then fails naming it', async () => {
    const dir = await newDir()
    const log = await openLog(dir, { segmentBytes: 200 })
    await log.ensureTopic('t')
    for (let i = 0; i < 12; i++) await appendOne(log, 't', `r${i}`)
    await log.close()
    const [first] = await segmentFiles(dir, 't')
    const positions = await framePositions(first!)
    await overwrite(first!, positions[2]! + 20, Buffer.from([0xee]))
    const reader = await openReader(dir)
    expect(texts(await reader.read('t', 0, 0, 100))).toEqual(['r0', 'r1'])
    const error = await expectCode(reader.read('t', 0, 2, 100), 'LOG_CORRUPT_SEGMENT')
    expect(error.message).toContain(`corrupt segment ${first} at byte ${positions[2]}`)
    expect(error.message).toMatch(/record offset 2/)
    const skipping = await openReader(dir, true)
    expect(texts(await skipping.read('t', 0, 0, 100))).toHaveLength(11)
  })

  it('steps over the damaged range with a warning when asked to', async () => {
    const { dir, file, positions } = await recordsIn(6)
    await overwrite(file, positions[2]! + 20, Buffer.from([0xee]))
    const reader = await openReader(dir, true)
    const records = await reader.read('t', 0, 0, 100)
    expect(texts(records)).toEqual(['r0', 'r1', 'r3', 'r4', 'r5'])
    expect(reader.recoveryReport).toMatchObject([
      { kind: 'corrupt-skipped', file, position: positions[2], offsets: { from: 2, to: 3 } },
    ])
  })

  it('still treats an incomplete last frame as a write in progress', async () => {
    const { dir, file, positions } = await recordsIn(3)
    const whole = await readFile(file)
    await writeFile(file, Buffer.concat([whole, whole.subarray(0, positions[1]! - 5)]))
    const reader = await openReader(dir)
    expect(texts(await reader.read('t', 0, 0, 10))).toEqual(['r0', 'r1', 'r2'])
    expect(await reader.read('t', 0, 3, 10)).toEqual([])
  })

  it('reports a corrupt complete last frame instead of waiting for it forever', async () => {
    const { dir, file, positions } = await recordsIn(3)
    await overwrite(file, positions[2]! + 20, Buffer.from([0xee]))
    const reader = await openReader(dir)
    expect(texts(await reader.read('t', 0, 0, 10))).toEqual(['r0', 'r1'])
    await expectCode(reader.read('t', 0, 2, 10), 'LOG_CORRUPT_SEGMENT')
  })
})

describe('damage stays in its partition (defect 6)', () => {
  it('opens a data directory with a damaged partition; other topics and partitions keep working', async () => {
    const dir = await newDir()
    let log = await openLog(dir)
    await log.ensureTopic('t', { partitions: 2 })
    await log.ensureTopic('other')
    for (let i = 0; i < 5; i++) await appendOne(log, 't', `r${i}`, 0)
    await appendOne(log, 't', 'p1', 1)
    await log.close()
    const [file] = await segmentFiles(dir, 't', 0)
    const positions = await framePositions(file!)
    await overwrite(file!, positions[2]! + 30, 'X')
    const before = await readFile(file!)

    log = await openLog(dir)
    expect(await appendOne(log, 'other', 'fine')).toBe(0)
    expect(texts(await log.read('t', 1, 0, 10))).toEqual(['p1'])
    expect(await appendOne(log, 't', 'p1-b', 1)).toBe(1)
    for (const attempt of [log.read('t', 0, 0, 10), appendOne(log, 't', 'x', 0), log.endOffsets('t')]) {
      const error = await expectCode(attempt, 'LOG_CORRUPT_SEGMENT')
      expect(error.message).toContain(`corrupt segment ${file} at byte ${positions[2]}`)
      expect(error.message).toContain(`followed by a valid frame (offset 3) at byte ${positions[3]}`)
      expect(error.message).toContain('sluice log repair')
    }
    expect(log.recoveryReport).toMatchObject([{ kind: 'partition-damaged', topic: 't', partition: 0 }])
    // Nothing was cut: the damaged file is as it was.
    expect(await readFile(file!)).toEqual(before)
  })

  it('opens a data directory with a damaged meta.json; only that topic is unusable', async () => {
    const dir = await newDir()
    let log = await openLog(dir)
    await log.ensureTopic('t')
    await log.ensureTopic('other')
    await log.close()
    await writeFile(path.join(dir, 'log', 't', 'meta.json'), '{"version":1,"partit')
    log = await openLog(dir)
    expect(await appendOne(log, 'other', 'fine')).toBe(0)
    const error = await expectCode(log.partitions('t'), 'LOG_CORRUPT_SEGMENT')
    expect(error.message).toContain(path.join(dir, 'log', 't', 'meta.json'))
    expect(log.recoveryReport).toMatchObject([{ kind: 'topic-damaged', topic: 't' }])
  })
})

describe('a damaged length field (defect 11)', () => {
  it('says what is there: a frame claiming more bytes than remain, probably a damaged length', async () => {
    const { dir, file, positions } = await recordsIn(6)
    const size = (await stat(file)).size
    const claimed = 1_000_000
    const lengthField = Buffer.alloc(4)
    lengthField.writeUInt32BE(claimed - 4)
    await overwrite(file, positions[2]!, lengthField)
    const log = await openLog(dir)
    const error = await expectCode(log.read('t', 0, 0, 1), 'LOG_CORRUPT_SEGMENT')
    expect(error.message).not.toMatch(/incomplete frame at the end of the file/)
    expect(error.message).toContain(
      `the frame at byte ${positions[2]} claims ${claimed} bytes but only ${size - positions[2]!} remain`,
    )
    expect(error.message).toMatch(/followed by a valid frame \(offset 3\).*length field is probably damaged/)
  })

  it('treats a last frame whose bytes pass its CRC under a damaged length as corruption, not a torn write', async () => {
    const { dir, file, positions } = await recordsIn(5)
    const lengthField = Buffer.alloc(4)
    lengthField.writeUInt32BE(5000)
    await overwrite(file, positions[4]!, lengthField)
    const log = await openLog(dir)
    expect(log.recoveryReport[0]).toMatchObject({ kind: 'corrupt-tail-quarantined', position: positions[4] })
    expect(log.recoveryReport[0]!.message).toMatch(/length field is damaged/)
  })
})

describe('a full disk (defect 8)', () => {
  it('fails an append with LOG_DISK_FULL naming the segment file, keeps nothing of it, and recovers', async () => {
    const dir = await newDir()
    let full = false
    const log = await openLog(dir, {
      beforeWrite: () => {
        if (full)
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
            code: 'ENOSPC',
            syscall: 'write',
          })
      },
    })
    await log.ensureTopic('t')
    await appendOne(log, 't', 'a')
    full = true
    const error = await expectCode(appendOne(log, 't', 'b'), 'LOG_DISK_FULL')
    const [file] = await segmentFiles(dir, 't')
    expect(error.message).toContain(file!)
    expect(error.message).toContain('ENOSPC')
    // None of the failed batch is in the log, and the error says so (a caller resends all of it).
    expect((error as { appended?: number }).appended).toBe(0)
    expect(await log.endOffsets('t')).toEqual([1])
    full = false
    expect(await appendOne(log, 't', 'c')).toBe(1)
    expect(texts(await log.read('t', 0, 0, 10))).toEqual(['a', 'c'])
  })

  it('reports another failed write as LOG_IO naming the file and the errno code', async () => {
    const dir = await newDir()
    let failing = false
    const log = await openLog(dir, {
      beforeWrite: () => {
        if (failing)
          throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', syscall: 'write' })
      },
    })
    await log.ensureTopic('t')
    failing = true
    const error = await expectCode(appendOne(log, 't', 'x'), 'LOG_IO')
    const [file] = await segmentFiles(dir, 't')
    expect(error.message).toContain(`writing ${file} failed: EIO`)
  })

  it('reports an unreadable partition file as LOG_IO naming it, not a bare system error', async () => {
    const dir = await newDir()
    let log = await openLog(dir)
    await log.ensureTopic('t')
    await log.close()
    const gaps = path.join(dir, 'log', 't', '0', 'gaps.json')
    await mkdir(gaps) // reading it fails with EISDIR
    const error = await expectCode(EmbeddedLog.open(dir), 'LOG_IO')
    expect(error.message).toContain(`reading ${gaps} failed: EISDIR`)
    await rm(gaps, { recursive: true })
    log = await openLog(dir)
    expect(await log.endOffsets('t')).toEqual([0])
  })

  it('on a file system that fills up: a small tmpfs where this machine lets us mount one, else the seam', async () => {
    const dir = await newDir()
    let budget: number | null = null
    let mounted = true
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir], { stdio: 'ignore' })
    } catch {
      mounted = false
      budget = 256 * 1024
    }
    try {
      const options: EmbeddedLogOptions = {
        segmentBytes: 64 * 1024,
        beforeWrite: (_file, bytes) => {
          if (budget === null) return
          budget -= bytes
          if (budget < 0)
            throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
        },
      }
      const log = await openLog(dir, options)
      await log.ensureTopic('t')
      let appended = 0
      let failure: unknown = null
      for (let i = 0; i < 1000 && failure === null; i++) {
        try {
          await log.append('t', [{ key: null, value: Buffer.alloc(4000, 1), partition: 0 }])
          appended++
        } catch (error) {
          failure = error
        }
      }
      expect(isSluiceError(failure, 'LOG_DISK_FULL'), String(failure)).toBe(true)
      expect((failure as Error).message).toContain(dir)
      expect(await log.endOffsets('t')).toEqual([appended])
      await log.close().catch(() => {})
      const reopened = await openLog(dir)
      expect(await reopened.endOffsets('t')).toEqual([appended])
      expect(await reopened.read('t', 0, 0, 1000)).toHaveLength(appended)
    } finally {
      // Every file on it must be closed, even when an expectation failed, or umount is refused.
      await closeLogs()
      if (mounted) execFileSync('umount', [dir])
    }
  })
})
