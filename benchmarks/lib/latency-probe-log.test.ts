import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import { ForwardingLog } from '../../runtime/log/forwarding-log.ts'
import type { AppendOptions, OutgoingRecord, RecordPosition } from '../../runtime/log/index.ts'
import { LatencyProbeLog } from './latency-probe-log.ts'

let dir: string
let inner: EmbeddedLog
let now: number

/** The embedded log, with appends that take 5 µs of the test clock to become durable. */
class SlowAppends extends ForwardingLog {
  override async append(
    topic: string,
    records: readonly OutgoingRecord[],
    options?: AppendOptions,
  ): Promise<RecordPosition[]> {
    const positions = await this.inner.append(topic, records, options)
    now += 5_000
    return positions
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-probe-log-'))
  inner = await EmbeddedLog.open(dir, { fsync: 'never' })
  now = 1_000_000
})

afterEach(async () => {
  await inner.close()
  await rm(dir, { recursive: true, force: true })
})

const BASE = 1_700_000_000_000

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((r) => setTimeout(r, 5))
  expect(condition()).toBe(true)
}

/** An HDR percentile: the exact value or up to 0.1 % above it. */
const within = (reported: number, exact: number) => reported >= exact && reported <= exact * 1.001

function probe(events: number, measureFromSeq: number) {
  return new LatencyProbeLog(new SlowAppends(inner), {
    outputTopic: 'out',
    events,
    measureFromSeq,
    seqOf: (timestamp) => timestamp - BASE,
    intendedNs: (seq) => seq * 100,
    clock: () => now,
  })
}

describe('LatencyProbeLog', () => {
  it('measures read → handoff, read → durable and offered → durable per output, from the warm-up on', async () => {
    const log = probe(10, 4)
    await log.ensureTopic('in')
    await log.ensureTopic('out')
    await log.ensureTopic('other')
    // A "runner": takes 2 µs per batch, then writes the even events to `out` (with their event
    // time as the record timestamp) and every event to `other` (not measured).
    const sub = await log.subscribe({ group: 'g', topics: ['in'], fromBeginning: true }, async (batch) => {
      now += 2_000
      const outputs = batch.records
        .filter((r) => (r.timestamp - BASE) % 2 === 0)
        .map((r) => ({ key: null, value: r.value, timestamp: r.timestamp }))
      await log.append('out', outputs)
      await log.append('other', [{ key: null, value: Buffer.from('x') }])
    })
    await inner.append(
      'in',
      Array.from({ length: 10 }, (_, seq) => ({
        key: null,
        value: Buffer.from(`e${seq}`),
        timestamp: BASE + seq,
      })),
    )
    await waitFor(() => log.outputsDurable === 3) // seqs 4, 6, 8
    await sub.stop()

    expect(log.recordsRead).toBe(10)
    expect(log.batches).toBe(1)
    expect(log.failedAppends).toBe(0)
    // Every output: read at 1,000,000 ns, handed off 2 µs later, durable 5 µs after that.
    expect(log.readToHandoff.summary()).toMatchObject({ count: 3, max: 2_000 })
    expect(log.readToDurable.summary()).toMatchObject({ count: 3, max: 7_000 })
    expect(within(log.readToHandoff.percentile(99), 2_000)).toBe(true)
    expect(within(log.readToDurable.percentile(50), 7_000)).toBe(true)
    // Durable at 1,007,000 ns; seq 8 was due at 800 ns, seq 4 at 400 ns.
    const offered = log.offeredToDurable.summary()
    expect(offered.count).toBe(3)
    expect(offered.max).toBe(1_007_000 - 400)
    expect(log.lastDurableNs).toBe(1_007_000)
  })

  it('refuses outputs that do not say which event they came from', async () => {
    const log = probe(4, 0)
    await log.ensureTopic('out')
    await expect(log.append('out', [{ key: null, value: Buffer.from('x') }])).rejects.toThrow(
      'has no timestamp',
    )
    await expect(
      log.append('out', [{ key: null, value: Buffer.from('x'), timestamp: BASE + 99 }]),
    ).rejects.toThrow('outside 0..3')
    // An output whose source was never handed to the runner is a harness error, not a latency of 0.
    await expect(
      log.append('out', [{ key: null, value: Buffer.from('x'), timestamp: BASE + 1 }]),
    ).rejects.toThrow('before its source record was read')
    expect(log.readToHandoff.count).toBe(0)
  })

  it('counts a rejected output append and records nothing durable for it', async () => {
    const log = probe(4, 0)
    await log.ensureTopic('in')
    let handed = false
    const sub = await log.subscribe({ group: 'g', topics: ['in'], fromBeginning: true }, async () => {
      handed = true
    })
    await inner.append('in', [{ key: null, value: Buffer.from('e0'), timestamp: BASE }])
    await waitFor(() => handed)
    await sub.stop()
    // No topic `out` exists: the embedded log refuses the append.
    await expect(
      log.append('out', [{ key: null, value: Buffer.from('x'), timestamp: BASE }]),
    ).rejects.toThrow()
    expect(log.failedAppends).toBe(1)
    expect(log.readToHandoff.count).toBe(1)
    expect(log.readToDurable.count).toBe(0)
    expect(log.outputsDurable).toBe(0)
  })
})
