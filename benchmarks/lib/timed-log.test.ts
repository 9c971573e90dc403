import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import type { RecordBatch } from '../../runtime/log/index.ts'
import { TimedLog } from './timed-log.ts'

let dir: string
let inner: EmbeddedLog

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-timed-log-'))
  inner = await EmbeddedLog.open(dir, { fsync: 'never' })
})

afterEach(async () => {
  await inner.close()
  await rm(dir, { recursive: true, force: true })
})

/** A clock that advances by the next of `steps` (ns) on every reading. */
function steppingClock(steps: number[]): () => bigint {
  let now = 1_000n
  let i = 0
  return () => {
    now += BigInt(steps[i++ % steps.length]!)
    return now
  }
}

const records = (n: number, tag = 'r') =>
  Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`${tag}${i}`) }))

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((r) => setTimeout(r, 5))
  expect(condition()).toBe(true)
}

describe('TimedLog', () => {
  it('times each handler call and counts its records, passing batches through unchanged', async () => {
    // Readings alternate start/end: each call takes 250 ns, the gap between calls 1000 ns.
    const log = new TimedLog(inner, steppingClock([1_000, 250]))
    await log.ensureTopic('t')
    await log.append('t', records(5))
    const seen: RecordBatch[] = []
    const observed: [number, number][] = []
    log.onBatch = (duration, count) => observed.push([duration, count])
    const sub = await log.subscribe({ group: 'g', topics: ['t'], maxBatchRecords: 2 }, async (batch) => {
      seen.push(batch)
    })
    await waitFor(() => log.records === 5)
    await sub.stop()

    expect(seen.map((b) => b.records.map((r) => r.value.toString()))).toEqual([
      ['r0', 'r1'],
      ['r2', 'r3'],
      ['r4'],
    ])
    expect(log.durationsNs).toEqual([250, 250, 250])
    expect(log.batchRecords).toEqual([2, 2, 1])
    expect(log.handlerNs).toBe(750)
    expect(observed).toEqual([
      [250, 2],
      [250, 2],
      [250, 1],
    ])
    expect(log.firstCallStartNs).toBe(2_000n)
    expect(log.lastCallEndNs).toBe(2_000n + 250n + 2n * 1_250n)
    // Offsets were committed through the inner log, as without the decorator.
    expect(await log.committedOffsets('g', 't')).toEqual([5])
  })

  it('measures the time until the handler promise settles, not until it returns', async () => {
    const log = new TimedLog(inner)
    await log.ensureTopic('t')
    await log.append('t', records(1))
    const sub = await log.subscribe({ group: 'g', topics: ['t'] }, async () => {
      await new Promise((r) => setTimeout(r, 30))
    })
    await waitFor(() => log.durationsNs.length === 1)
    await sub.stop()
    expect(log.durationsNs[0]!).toBeGreaterThanOrEqual(25e6)
  })

  it('counts a rejecting handler as a failure, rethrows it and keeps it out of the samples', async () => {
    const log = new TimedLog(inner, steppingClock([10]))
    await log.ensureTopic('t')
    await log.append('t', records(3))
    const sub = await log.subscribe({ group: 'g', topics: ['t'] }, async () => {
      throw new Error('boom')
    })
    await expect(sub.done).rejects.toThrow('boom')
    expect(log.failures).toBe(1)
    expect(log.durationsNs).toEqual([])
    expect(log.lastCallEndNs).not.toBeNull()
    // Not committed: the batch goes to the next subscriber.
    expect(await log.committedOffsets('g', 't')).toEqual([-1])
    log.reset()
    expect([log.failures, log.firstCallStartNs, log.lastCallEndNs, log.records]).toEqual([0, null, null, 0])
  })

  it('passes every other Log call through to the inner log', async () => {
    const log = new TimedLog(inner)
    await log.ensureTopic('p', { partitions: 3 })
    expect(await log.partitions('p')).toBe(3)
    const positions = await log.append('p', [{ key: null, value: Buffer.from('x'), partition: 2 }])
    expect(positions).toEqual([{ topic: 'p', partition: 2, offset: 0 }])
    expect(await log.endOffsets('p')).toEqual([0, 0, 1])
    expect((await log.read('p', 2, 0, 10)).map((r) => r.value.toString())).toEqual(['x'])
    expect(await inner.endOffsets('p')).toEqual([0, 0, 1])
  })
})
