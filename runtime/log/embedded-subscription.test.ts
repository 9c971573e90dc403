/**
 * The embedded subscription's loop under load: the next batch is handed out while the previous
 * batch's offsets are written, commits stay in order and never pass a batch the handler has not
 * finished, and waiting for appends costs no timer per wait.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { EmbeddedLog } from './embedded.ts'

const dirs: string[] = []
const logs: EmbeddedLog[] = []

afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.allSettled(logs.splice(0).map((l) => l.close()))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function openLog(idleWakeMs = 1000): Promise<EmbeddedLog> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-sub-'))
  dirs.push(dir)
  // fsync 'never': a commit writes the group's offsets file at once (GroupOffsets.commit), the
  // call these tests hold up.
  const log = await EmbeddedLog.open(dir, { fsync: 'never', idleWakeMs })
  logs.push(log)
  return log
}

const records = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`r${from + i}`) }))

/** Waits (up to `ms`) on the event loop itself (setImmediate), so no timer is involved. */
async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  // Date.now: one test mocks performance.now.
  const deadline = Date.now() + ms
  while (!condition() && Date.now() < deadline) await new Promise((r) => setImmediate(r))
  expect(condition()).toBe(true)
}

/** Makes every offset commit of `log` wait until the test releases it (or fails it). */
function holdCommits(log: EmbeddedLog) {
  const held: { offset: number; release: () => void; fail: (error: Error) => void }[] = []
  const commitAll = log.groups.commitAll.bind(log.groups)
  vi.spyOn(log.groups, 'commitAll').mockImplementation(
    (group, offsets, metadata) =>
      new Promise<void>((resolve, reject) => {
        held.push({
          offset: offsets[0]!.offset,
          release: () => commitAll(group, offsets, metadata).then(resolve, reject),
          fail: reject,
        })
      }),
  )
  return held
}

describe('EmbeddedSubscription', () => {
  it('hands out the next batch while the previous batch’s offsets are still being written', async () => {
    const log = await openLog()
    await log.ensureTopic('t')
    await log.append('t', records(10))
    const held = holdCommits(log)
    const batches: number[][] = []
    const sub = await log.subscribe({ group: 'g', topics: ['t'], maxBatchRecords: 4 }, async (batch) => {
      batches.push(batch.records.map((r) => r.offset))
    })
    // The first commit (offset 4) is held; the second batch is handed out all the same.
    await until(() => batches.length === 2)
    expect(batches).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ])
    // At most one commit in flight: the second waits for the first, so offsets land in order.
    expect(held.map((h) => h.offset)).toEqual([4])
    held[0]!.release()
    await until(() => held.length === 2)
    held[1]!.release()
    await until(() => held.length === 3)
    held[2]!.release()
    await until(() => batches.length === 3)
    expect(held.map((h) => h.offset)).toEqual([4, 8, 10])
    await sub.stop()
    expect(await log.committedOffsets('g', 't')).toEqual([10])
  })

  it('stop() resolves only once the last batch’s offsets are written', async () => {
    const log = await openLog()
    await log.ensureTopic('t')
    await log.append('t', records(3))
    const held = holdCommits(log)
    let handled = 0
    const sub = await log.subscribe({ group: 'g', topics: ['t'] }, async (batch) => {
      handled += batch.records.length
    })
    await until(() => held.length === 1)
    let stopped = false
    const stopping = sub.stop().then(() => {
      stopped = true
    })
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r))
    expect(handled).toBe(3)
    expect(stopped).toBe(false)
    held[0]!.release()
    await stopping
    expect(await log.committedOffsets('g', 't')).toEqual([3])
  })

  it('a failed commit ends the subscription with its error; the batch handed out meanwhile stays uncommitted', async () => {
    const log = await openLog()
    await log.ensureTopic('t')
    await log.append('t', records(8))
    const held = holdCommits(log)
    const batches: number[] = []
    const sub = await log.subscribe({ group: 'g', topics: ['t'], maxBatchRecords: 4 }, async (batch) => {
      batches.push(batch.records[0]!.offset)
    })
    await until(() => batches.length === 2)
    held[0]!.fail(new Error('offsets file: disk full'))
    await expect(sub.done).rejects.toThrow('disk full')
    // Neither batch's offsets were written: both are delivered again (at-least-once).
    expect(held).toHaveLength(1)
    expect(await log.committedOffsets('g', 't')).toEqual([-1])
    vi.restoreAllMocks()
    const again: number[] = []
    const next = await log.subscribe({ group: 'g', topics: ['t'], maxBatchRecords: 4 }, async (batch) => {
      again.push(batch.records[0]!.offset)
    })
    await until(() => again.length === 2)
    expect(again).toEqual([0, 4])
    await next.stop()
    expect(await log.committedOffsets('g', 't')).toEqual([8])
  })

  it('waits for appends without a timer per wait', async () => {
    const idleWakeMs = 987_654 // a delay nothing else uses, to tell the subscription's timers apart
    const log = await openLog(idleWakeMs)
    await log.ensureTopic('t')
    const timers = vi.spyOn(globalThis, 'setTimeout')
    const intervals = vi.spyOn(globalThis, 'setInterval')
    let handled = 0
    const sub = await log.subscribe({ group: 'g', topics: ['t'] }, async (batch) => {
      handled += batch.records.length
    })
    // A trickle: the subscription catches up and falls asleep after every append.
    for (let i = 0; i < 30; i++) {
      await log.append('t', records(1, i))
      await until(() => handled === i + 1)
      // Let it commit and go back to sleep before the next append.
      while ((await log.committedOffsets('g', 't'))[0] !== i + 1) await new Promise((r) => setImmediate(r))
      for (let j = 0; j < 20; j++) await new Promise((r) => setImmediate(r))
    }
    await sub.stop()
    const subscriptionTimers = [...timers.mock.calls, ...intervals.mock.calls].filter(
      (call) => call[1] === idleWakeMs,
    )
    expect(subscriptionTimers.length).toBeLessThanOrEqual(1)
    expect(await log.committedOffsets('g', 't')).toEqual([30])
  })

  it('still wakes on the idle timer when no append in this process says so', async () => {
    const log = await openLog(20)
    await log.ensureTopic('t')
    let handled = 0
    const sub = await log.subscribe({ group: 'g', topics: ['t'] }, async (batch) => {
      handled += batch.records.length
    })
    await new Promise((r) => setTimeout(r, 50)) // asleep by now
    // Silence the append notification: only the idle timer can wake the sleeping loop now.
    const emit = vi.spyOn(log.events, 'emit').mockImplementation(() => false)
    await log.append('t', records(2))
    expect(emit).toHaveBeenCalled()
    for (let i = 0; i < 200 && handled < 2; i++) await new Promise((r) => setTimeout(r, 5))
    expect(handled).toBe(2)
    await sub.stop()
  })

  it('sizes batches to the handler’s pace while it keeps up, full batches once it falls behind', async () => {
    // A clock the handler advances: `msPerRecord` of work per record it is given.
    let now = 0
    let msPerRecord = 0.01
    vi.spyOn(performance, 'now').mockImplementation(() => now)
    const log = await openLog()
    await log.ensureTopic('t')
    const batches: number[] = []
    const sub = await log.subscribe({ group: 'g', topics: ['t'], maxBatchRecords: 1000 }, async (batch) => {
      now += batch.records.length * msPerRecord
      batches.push(batch.records.length)
    })
    const total = () => batches.reduce((a, b) => a + b, 0)
    await log.append('t', records(100))
    await until(() => total() === 100)
    expect(batches).toEqual([100]) // no pace known yet: whatever is there
    // 0.01 ms a record: 0.5 ms is 50 records, at least 64. A burst of 300 goes out in small
    // batches, so no record waits for 300 others.
    batches.length = 0
    await log.append('t', records(300, 100))
    await until(() => total() === 300)
    expect(batches).toEqual([64, 64, 64, 64, 44])
    // 5 ms a record and 2,500 waiting: after the first small batch the backlog has stood for
    // 320 ms, so the subscription is behind and hands out full batches.
    batches.length = 0
    msPerRecord = 5
    await log.append('t', records(2500, 400))
    await until(() => total() === 2500)
    expect(batches.slice(0, 2)).toEqual([64, 1000])
    await sub.stop()
    expect(await log.committedOffsets('g', 't')).toEqual([2900])
  })
})
