import { spawnSync } from 'node:child_process'
import { appendFile, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectCode, logScratch } from '../../test/support/log-scratch.ts'
import { logConformance } from './conformance.ts'
import { checkFrame } from './embedded/frame.ts'
import { EmbeddedLog, type EmbeddedLogOptions } from './embedded.ts'
import type { LogRecord } from './index.ts'

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'sluice-log-'))
}

function conformanceWith(options: EmbeddedLogOptions) {
  return async () => {
    const dir = await tempDir()
    const log = await EmbeddedLog.open(dir, options)
    return {
      log,
      async cleanup() {
        await log.close()
        await rm(dir, { recursive: true, force: true })
      },
    }
  }
}

logConformance('embedded, durability batch (the default)', conformanceWith({}))
logConformance('embedded, durability every 100 ms', conformanceWith({ durability: { intervalMs: 100 } }))
logConformance('embedded, durability every 5 ms', conformanceWith({ durability: { intervalMs: 5 } }))
// The whole contract again with every segment a few records long and a dense index, so that
// reads, subscriptions and appends constantly cross segment boundaries.
logConformance(
  'embedded, tiny segments, durability none',
  conformanceWith({ segmentBytes: 300, indexInterval: 2, durability: 'none' }),
)

const { newDir, openLog, track } = logScratch('sluice-log')

function texts(records: readonly LogRecord[]): string[] {
  return records.map((r) => r.value.toString())
}

async function appendValues(
  log: EmbeddedLog,
  topic: string,
  prefix: string,
  n: number,
  partition = 0,
): Promise<void> {
  await log.append(
    topic,
    Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`${prefix}-${i}`), partition })),
  )
}

async function segmentFiles(dir: string, topic: string, partition = 0): Promise<string[]> {
  const partitionDir = path.join(dir, 'log', topic, String(partition))
  return (await readdir(partitionDir))
    .filter((n) => n.endsWith('.seg'))
    .sort()
    .map((n) => path.join(partitionDir, n))
}

/** Start positions of the frames in a segment file. */
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

/** Records per frame of a segment file (a batch frame holds several). */
async function frameRecordCounts(file: string): Promise<number[]> {
  const buf = await readFile(file)
  const counts: number[] = []
  for (let pos = 0; pos < buf.length; ) {
    const check = checkFrame(buf, pos, buf.length)
    if (check.status !== 'ok') throw new Error(`unexpected ${check.status} frame at ${pos}`)
    counts.push(check.count)
    pos += check.size
  }
  return counts
}

function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (condition()) resolve()
      else if (Date.now() > deadline) reject(new Error('timed out'))
      else setTimeout(tick, 10)
    }
    tick()
  })
}

describe('EmbeddedLog persistence', () => {
  it('keeps records and group offsets across close and reopen, and continues the offsets', async () => {
    const dir = await newDir()
    const first = await openLog(dir)
    await first.ensureTopic('orders', { partitions: 3 })
    const positions = await first.append(
      'orders',
      Array.from({ length: 30 }, (_, i) => ({
        key: `k${i % 7}`,
        value: Buffer.from(`v${i}`),
        headers: { i: String(i) },
      })),
    )
    const seen: LogRecord[] = []
    const sub = await first.subscribe({ group: 'billing', topics: ['orders'] }, async (batch) => {
      seen.push(...batch.records)
    })
    await waitFor(() => seen.length === 30)
    await sub.stop()
    const ends = await first.endOffsets('orders')
    const before = await Promise.all([0, 1, 2].map((p) => first.read('orders', p, 0, 100)))
    await first.close()
    expect(await readdir(dir)).not.toContain('LOCK')

    const second = await openLog(dir)
    expect(await second.partitions('orders')).toBe(3)
    expect(await second.endOffsets('orders')).toEqual(ends)
    expect(await second.committedOffsets('billing', 'orders')).toEqual(ends)
    expect(await Promise.all([0, 1, 2].map((p) => second.read('orders', p, 0, 100)))).toEqual(before)
    const [again] = await second.append('orders', [{ key: 'k0', value: Buffer.from('after reopen') }])
    const p = positions[0]!.partition // k0's partition
    expect(again).toEqual({ topic: 'orders', partition: p, offset: ends[p] })
  })

  it('creates one segment file per roll, named by base offset, and reads across segment boundaries', async () => {
    const dir = await newDir()
    // Small segments, so that batch frames (a few records each) roll them often.
    const options = { segmentBytes: 160, indexInterval: 3 }
    let log = await openLog(dir, options)
    await log.ensureTopic('t')
    const expected: string[] = []
    for (let batch = 0; batch < 12; batch++) {
      const n = (batch % 4) + 1
      await appendValues(log, 't', `b${batch}`, n)
      for (let i = 0; i < n; i++) expected.push(`b${batch}-${i}`)
    }
    // One batch larger than a whole segment gets a segment of its own.
    await log.append('t', [{ key: null, value: Buffer.alloc(1000, 7), partition: 0 }])
    expected.push(Buffer.alloc(1000, 7).toString())

    const files = await segmentFiles(dir, 't')
    expect(files.length).toBeGreaterThan(4)
    let base = 0
    for (const file of files) {
      expect(path.basename(file)).toBe(`${String(base).padStart(20, '0')}.seg`)
      const size = (await stat(file)).size
      const frames = await framePositions(file)
      if (frames.length > 1) expect(size).toBeLessThanOrEqual(160)
      base += (await frameRecordCounts(file)).reduce((a, b) => a + b, 0)
    }
    expect(base).toBe(expected.length)

    const checkReads = async () => {
      for (let from = 0; from <= expected.length; from++) {
        for (const max of [1, 2, 5, 100]) {
          const records = await log.read('t', 0, from, max)
          expect(texts(records)).toEqual(expected.slice(from, from + max))
          expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => from + i))
        }
      }
    }
    await checkReads()
    await log.close()
    // After reopening, the older segments are indexed lazily on first read.
    log = await openLog(dir, options)
    await checkReads()
    await appendValues(log, 't', 'after', 2)
    expect((await log.endOffsets('t'))[0]).toBe(expected.length + 2)
  })
})

describe('EmbeddedLog concurrent appends', () => {
  it('serializes concurrent appends: each call gets consecutive offsets, none shared', async () => {
    const log = await openLog(await newDir(), { segmentBytes: 2048 })
    await log.ensureTopic('t', { partitions: 2 })
    const calls = await Promise.all(
      Array.from({ length: 25 }, (_, c) =>
        log.append(
          't',
          Array.from({ length: 4 }, (_, i) => ({
            key: null,
            value: Buffer.from(`c${c}-${i}`),
            partition: i % 2,
          })),
        ),
      ),
    )
    const taken = new Set<string>()
    for (const positions of calls) {
      for (const p of [0, 1]) {
        const offsets = positions.filter((x) => x.partition === p).map((x) => x.offset)
        expect(offsets).toEqual([offsets[0]!, offsets[0]! + 1])
      }
      for (const x of positions) taken.add(`${x.partition}/${x.offset}`)
    }
    expect(taken.size).toBe(100)
    expect(await log.endOffsets('t')).toEqual([50, 50])
    for (const [c, positions] of calls.entries()) {
      for (const [i, x] of positions.entries()) {
        const [record] = await log.read('t', x.partition, x.offset, 1)
        expect(record!.value.toString()).toBe(`c${c}-${i}`)
      }
    }
  })
})

describe('EmbeddedLog recovery', () => {
  async function fiveRecords(): Promise<{ dir: string; file: string; positions: number[] }> {
    const dir = await newDir()
    const log = await openLog(dir)
    await log.ensureTopic('t')
    for (let i = 0; i < 5; i++) await appendValues(log, 't', `r${i}`, 1)
    await log.close()
    const [file] = await segmentFiles(dir, 't')
    return { dir, file: file!, positions: await framePositions(file!) }
  }

  it('cuts off a last frame torn short and continues past its offset, never reusing it', async () => {
    const { dir, file, positions } = await fiveRecords()
    const size = (await stat(file)).size
    await truncate(file, size - 3)
    const log = await openLog(dir)
    expect(texts(await log.read('t', 0, 0, 10))).toEqual(['r0-0', 'r1-0', 'r2-0', 'r3-0'])
    // The torn frame's offset (4) is readable in the cut bytes: it may have been seen, so it is
    // retired (a recorded gap) instead of handed out again.
    expect(await log.endOffsets('t')).toEqual([5])
    expect((await stat(file)).size).toBe(positions[4])
    const [position] = await log.append('t', [{ key: null, value: Buffer.from('new') }])
    expect(position!.offset).toBe(5)
    expect(texts(await log.read('t', 0, 3, 10))).toEqual(['r3-0', 'new'])
    expect(log.recoveryReport.map((e) => e.kind)).toEqual(['torn-tail-cut', 'offsets-skipped'])
  })

  it('cuts off garbage and zeros after the last complete frame', async () => {
    for (const tail of [
      Buffer.from('garbage that is not a frame at all'),
      Buffer.alloc(4096),
      Buffer.from([0, 0]),
    ]) {
      const { dir, file } = await fiveRecords()
      const size = (await stat(file)).size
      await appendFile(file, tail)
      const log = await openLog(dir)
      expect(await log.endOffsets('t')).toEqual([5])
      expect((await stat(file)).size).toBe(size)
      const [position] = await log.append('t', [{ key: null, value: Buffer.from('new') }])
      expect(position!.offset).toBe(5)
      await log.close()
    }
  })

  it('cuts off a half-written multi-record batch', async () => {
    const { dir, file, positions } = await fiveRecords()
    // Simulate a crash in the middle of writing records 3 and 4 as one batch: keep record 3 whole
    // but damage its CRC-covered bytes, and cut record 4 short.
    const fh = await open(file, 'r+')
    await fh.write(Buffer.from([0xff]), 0, 1, positions[3]! + 20)
    await fh.close()
    await truncate(file, positions[4]! + 10)
    const log = await openLog(dir)
    expect(texts(await log.read('t', 0, 0, 10))).toEqual(['r0-0', 'r1-0', 'r2-0'])
  })

  it('refuses damage in the middle of the last segment, naming the file and byte', async () => {
    const { dir, file, positions } = await fiveRecords()
    const fh = await open(file, 'r+')
    await fh.write(Buffer.from('X'), 0, 1, positions[2]! + 30)
    await fh.close()
    const before = await readFile(file)
    // The log opens (other partitions and topics work), but this partition refuses everything.
    const log = await openLog(dir)
    await expectCode(
      log.read('t', 0, 0, 1),
      'LOG_CORRUPT_SEGMENT',
      `corrupt segment ${file} at byte ${positions[2]}: CRC mismatch, followed by a valid frame (offset 3) at byte ${positions[3]}`,
    )
    await log.close()
    expect(await readdir(dir)).not.toContain('LOCK')
    expect(await readFile(file)).toEqual(before)
  })

  it('reports damage in an older segment when it is read', async () => {
    const dir = await newDir()
    let log = await openLog(dir, { segmentBytes: 100 })
    await log.ensureTopic('t')
    for (let i = 0; i < 6; i++) await appendValues(log, 't', `r${i}`, 1)
    await log.close()
    const files = await segmentFiles(dir, 't')
    expect(files.length).toBeGreaterThan(2)
    const fh = await open(files[0]!, 'r+')
    await fh.write(Buffer.from('X'), 0, 1, 30)
    await fh.close()
    log = await openLog(dir, { segmentBytes: 100 })
    await expectCode(log.read('t', 0, 0, 10), 'LOG_CORRUPT_SEGMENT', `corrupt segment ${files[0]} at byte 0`)
    // Records in intact segments stay readable.
    expect(texts(await log.read('t', 0, 5, 10))).toEqual(['r5-0'])
  })
})

describe('EmbeddedLog lock', () => {
  it('refuses a data directory another open log holds, naming the pid', async () => {
    const dir = await newDir()
    const first = await openLog(dir)
    await expectCode(EmbeddedLog.open(dir), 'LOG_LOCKED', new RegExp(`pid ${process.pid}`))
    expect((await readFile(path.join(dir, 'LOCK'), 'utf8')).trim()).toBe(String(process.pid))
    await first.close()
    const second = await openLog(dir)
    await second.ensureTopic('t')
  })

  it('takes over a lock left by a dead process', async () => {
    const dir = await newDir()
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    })
    const deadPid = Number(child.stdout)
    expect(deadPid).toBeGreaterThan(0)
    await writeFile(path.join(dir, 'LOCK'), `${deadPid}\n`)
    const log = await openLog(dir)
    expect((await readFile(path.join(dir, 'LOCK'), 'utf8')).trim()).toBe(String(process.pid))
    await log.close()
    expect(await readdir(dir)).not.toContain('LOCK')
  })

  it('refuses a lock held by another live process', async () => {
    const dir = await newDir()
    // pid 1 (init) is always alive; kill(1, 0) answers EPERM or success, both mean "alive".
    await writeFile(path.join(dir, 'LOCK'), '1\n')
    await expectCode(EmbeddedLog.open(dir), 'LOG_LOCKED', /pid 1\b/)
    expect((await readFile(path.join(dir, 'LOCK'), 'utf8')).trim()).toBe('1')
  })
})

describe('EmbeddedLog read-only', () => {
  it('sees what the owner wrote, including later appends, without taking the lock', async () => {
    const dir = await newDir()
    // 'batch': a commit is in the offsets file once it resolves (the interval policy writes it
    // with the next round; see embedded-durability.test.ts).
    const owner = await openLog(dir, { segmentBytes: 200, durability: 'batch' })
    await owner.ensureTopic('t', { partitions: 2 })
    await appendValues(owner, 't', 'a', 3, 1)
    const seen: LogRecord[] = []
    const sub = await owner.subscribe({ group: 'g', topics: ['t'] }, async (b) => {
      seen.push(...b.records)
    })
    await waitFor(() => seen.length === 3)
    await sub.stop()

    const reader = track(await EmbeddedLog.openReadOnly(dir))
    expect(await reader.partitions('t')).toBe(2)
    expect(await reader.endOffsets('t')).toEqual([0, 3])
    expect(texts(await reader.read('t', 1, 0, 10))).toEqual(['a-0', 'a-1', 'a-2'])
    expect(await reader.committedOffsets('g', 't')).toEqual([-1, 3])

    // Appends after the reader opened, rolling into new segments.
    await appendValues(owner, 't', 'b', 10, 1)
    expect(await reader.endOffsets('t')).toEqual([0, 13])
    expect(texts(await reader.read('t', 1, 11, 10))).toEqual(['b-8', 'b-9'])
    expect(texts(await reader.read('t', 1, 0, 100))).toHaveLength(13)

    await expectCode(reader.append('t', [{ key: null, value: Buffer.from('x') }]), 'LOG_READ_ONLY')
    await expectCode(
      reader.subscribe({ group: 'g2', topics: ['t'] }, async () => {}),
      'LOG_READ_ONLY',
    )
    await expectCode(reader.ensureTopic('new-topic'), 'LOG_READ_ONLY')
    await reader.ensureTopic('t') // exists: nothing to do
    await reader.close()
    expect((await readFile(path.join(dir, 'LOCK'), 'utf8')).trim()).toBe(String(process.pid))
  })

  it('ignores a partly written last frame and leaves the file alone', async () => {
    const dir = await newDir()
    const owner = await openLog(dir)
    await owner.ensureTopic('t')
    await appendValues(owner, 't', 'r', 3)
    await owner.close()
    const [file] = await segmentFiles(dir, 't')
    const whole = await readFile(file!)
    // The three records are one batch frame, the file's only one.
    expect(await framePositions(file!)).toEqual([0])
    // A copy of that frame, half written, as if the owner were in the middle of a write.
    await appendFile(file!, whole.subarray(0, Math.floor(whole.length / 2)))
    const size = (await stat(file!)).size

    const reader = track(await EmbeddedLog.openReadOnly(dir))
    expect(await reader.endOffsets('t')).toEqual([3])
    expect(texts(await reader.read('t', 0, 0, 10))).toEqual(['r-0', 'r-1', 'r-2'])
    expect((await stat(file!)).size).toBe(size)
  })

  it('refuses a directory that does not exist', async () => {
    const dir = await newDir()
    await expectCode(EmbeddedLog.openReadOnly(path.join(dir, 'nope')), 'LOG_INVALID_ARGUMENT')
  })
})

describe('EmbeddedLog subscriptions and close', () => {
  it('allows one subscription per group and topic at a time', async () => {
    const log = await openLog(await newDir())
    await log.ensureTopic('t')
    const first = await log.subscribe({ group: 'g', topics: ['t'] }, async () => {})
    await expectCode(
      log.subscribe({ group: 'g', topics: ['t'] }, async () => {}),
      'LOG_GROUP_BUSY',
      /group g/,
    )
    const other = await log.subscribe({ group: 'other', topics: ['t'] }, async () => {})
    await first.stop()
    const again = await log.subscribe({ group: 'g', topics: ['t'] }, async () => {})
    await Promise.all([other.stop(), again.stop()])
  })

  it('wakes an idle subscription on append instead of waiting for its timer', async () => {
    const log = await openLog(await newDir(), { idleWakeMs: 60_000 })
    await log.ensureTopic('t')
    const seen: LogRecord[] = []
    const sub = await log.subscribe({ group: 'g', topics: ['t'] }, async (b) => {
      seen.push(...b.records)
    })
    await new Promise((r) => setTimeout(r, 50)) // let it go idle
    const start = Date.now()
    await appendValues(log, 't', 'x', 1)
    await waitFor(() => seen.length === 1, 5_000)
    expect(Date.now() - start).toBeLessThan(5_000)
    await sub.stop()
  })

  it('close() stops subscriptions, lets their handlers append, then refuses everything', async () => {
    const dir = await newDir()
    const log = await openLog(dir)
    await log.ensureTopic('in')
    await log.ensureTopic('out')
    await appendValues(log, 'in', 'e', 1)
    let handlerStarted = false
    const sub = await log.subscribe({ group: 'g', topics: ['in'] }, async (batch) => {
      handlerStarted = true
      await new Promise((r) => setTimeout(r, 100))
      await log.append(
        'out',
        batch.records.map((r) => ({ key: null, value: r.value })),
      )
    })
    await waitFor(() => handlerStarted)
    await Promise.all([log.close(), log.close()])
    await expect(sub.done).resolves.toBeUndefined()
    await expectCode(log.read('in', 0, 0, 1), 'LOG_CLOSED')
    await expectCode(log.append('in', [{ key: null, value: Buffer.from('x') }]), 'LOG_CLOSED')
    await expectCode(
      log.subscribe({ group: 'h', topics: ['in'] }, async () => {}),
      'LOG_CLOSED',
    )
    expect(await readdir(dir)).not.toContain('LOCK')

    const reopened = await openLog(dir)
    expect(texts(await reopened.read('out', 0, 0, 10))).toEqual(['e-0'])
    expect(await reopened.committedOffsets('g', 'in')).toEqual([1])
  })

  it('rejects bad arguments with LOG_INVALID_ARGUMENT', async () => {
    const log = await openLog(await newDir())
    await expectCode(log.ensureTopic('../escape'), 'LOG_INVALID_ARGUMENT')
    await expectCode(log.ensureTopic('t', { partitions: 0 }), 'LOG_INVALID_ARGUMENT')
    await log.ensureTopic('t')
    await expectCode(log.read('t', 0, -1, 10), 'LOG_INVALID_ARGUMENT')
    await expectCode(
      log.append('t', [{ key: null, value: Buffer.from('v'), timestamp: 1.5 }]),
      'LOG_INVALID_ARGUMENT',
    )
    await expectCode(
      log.subscribe({ group: '', topics: ['t'] }, async () => {}),
      'LOG_INVALID_ARGUMENT',
    )
    await expectCode(
      log.subscribe({ group: 'g', topics: ['t'], maxBatchRecords: 0 }, async () => {}),
      'LOG_INVALID_ARGUMENT',
    )
    expect(await log.endOffsets('t')).toEqual([0])
  })

  it('stores offsets of groups whose names are not file-name safe', async () => {
    const dir = await newDir()
    const log = await openLog(dir, { durability: 'batch' })
    await log.ensureTopic('t')
    await appendValues(log, 't', 'v', 2)
    const group = '../weird group/ü'
    const seen: LogRecord[] = []
    const sub = await log.subscribe({ group, topics: ['t'] }, async (b) => {
      seen.push(...b.records)
    })
    await waitFor(() => seen.length === 2)
    await sub.stop()
    expect(await log.committedOffsets(group, 't')).toEqual([2])
    expect(await log.committedOffsets('..', 't')).toEqual([-1])
    expect(await readdir(path.join(dir, 'groups'))).toEqual([
      '%2E%2E%2Fweird_group%2F%C3%BC.json'.replace('_', '%20'),
    ])
  })
})
