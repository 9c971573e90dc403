/**
 * At-least-once offset commits on an interval (KafkaLogOptions.commitIntervalMs, issue 15) against
 * the real broker: a clean stop and a rebalance commit everything handled first (nothing is
 * replayed), and a node killed with SIGKILL replays exactly the records past its last commit,
 * losing none.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LogRecord, RecordBatch } from '../../runtime/log/index.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { runCli } from '../support/capture-io.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { connectKafkaLog, kafkaBrokers, uniqueName } from './kafka-env.ts'

let log: KafkaLog

beforeAll(async () => {
  // Background commits only after a minute: what a test sees committed, stop or rebalance did.
  log = await connectKafkaLog({ commitIntervalMs: 60_000 })
})
afterAll(async () => {
  await log.close()
})

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const text = (s: string) => Buffer.from(s)
const key = (r: LogRecord) => `${r.partition}@${r.offset}`

async function readTopic(topic: string): Promise<LogRecord[]> {
  const records: LogRecord[] = []
  for (const [partition, end] of (await log.endOffsets(topic)).entries()) {
    for (let offset = 0; offset < end; ) {
      const batch = await log.read(topic, partition, offset, 5000)
      if (batch.length === 0) break
      records.push(...batch)
      offset = batch[batch.length - 1]!.offset + 1
    }
  }
  return records
}

describe('KafkaLog commit interval (at-least-once, no checkpoints)', () => {
  it('commits nothing before the interval, everything handled on a clean stop, and the next member replays nothing', async () => {
    const topic = uniqueName('ci-stop')
    const group = uniqueName('ci-stop-group')
    await log.ensureTopic(topic, { partitions: 2 })
    await log.append(
      topic,
      Array.from({ length: 60 }, (_, i) => ({ key: null, value: text(`a${i}`), partition: i % 2 })),
    )
    const seen: LogRecord[] = []
    const first = await log.subscribe({ group, topics: [topic], maxBatchRecords: 7 }, async (batch) => {
      seen.push(...batch.records)
    })
    await waitFor(() => seen.length === 60, 'the 60 records')
    // Handled, within the interval: not committed yet (the commits the interval saves).
    expect(await log.committedOffsets(group, topic)).toEqual([-1, -1])
    await first.stop()
    await first.done
    expect(await log.committedOffsets(group, topic)).toEqual([30, 30])

    await log.append(topic, [{ key: null, value: text('late'), partition: 1 }])
    const later: LogRecord[] = []
    const second = await log.subscribe({ group, topics: [topic] }, async (batch) => {
      later.push(...batch.records)
    })
    await waitFor(() => later.length >= 1, 'the late record')
    await second.stop()
    expect(later.map((r) => r.value.toString())).toEqual(['late'])
    expect(await log.committedOffsets(group, topic)).toEqual([30, 31])
  })

  it('commits what a failed handler’s predecessors handled, and the failed batch comes again', async () => {
    const topic = uniqueName('ci-fail')
    const group = uniqueName('ci-fail-group')
    await log.ensureTopic(topic)
    await log.append(
      topic,
      Array.from({ length: 6 }, (_, i) => ({ key: null, value: text(`m${i}`), partition: 0 })),
    )
    const failure = new Error('handler failed on purpose')
    const first = await log.subscribe({ group, topics: [topic], maxBatchRecords: 2 }, async (batch) => {
      if (batch.records.some((r) => r.offset >= 4)) throw failure
    })
    await expect(first.done).rejects.toBe(failure)
    expect(await log.committedOffsets(group, topic)).toEqual([4])
  })

  it('a rebalance commits what the old member handled before the partitions move: no record twice, none lost', async () => {
    const topic = uniqueName('ci-rebalance')
    const group = uniqueName('ci-rebalance-group')
    const partitions = 4
    await log.ensureTopic(topic, { partitions })
    const handled = new Map<string, number>()
    const handler = (who: string[]) => async (batch: RecordBatch) => {
      // Slow enough that both members are busy when the group rebalances.
      await new Promise((resolve) => setTimeout(resolve, 20))
      for (const r of batch.records) {
        handled.set(key(r), (handled.get(key(r)) ?? 0) + 1)
        who.push(key(r))
      }
    }
    let appended = 0
    const appendSome = async (n: number) => {
      await log.append(
        topic,
        Array.from({ length: n }, (_, i) => ({
          key: null,
          value: text(`r${appended + i}`),
          partition: (appended + i) % partitions,
        })),
      )
      appended += n
    }
    await appendSome(2000)
    const byA: string[] = []
    const byB: string[] = []
    const a = await log.subscribe({ group, topics: [topic], maxBatchRecords: 20 }, handler(byA))
    await waitFor(() => byA.length >= 200, 'A to be under way')
    // B joins while A works through the backlog: the group rebalances under A's feet.
    const other = await connectKafkaLog({ commitIntervalMs: 60_000 })
    try {
      const b = await other.subscribe({ group, topics: [topic], maxBatchRecords: 20 }, handler(byB))
      await appendSome(400)
      await waitFor(() => handled.size === appended, `all ${appended} records`, 90_000)
      await a.stop()
      await b.stop()
      // B got partitions (the rebalance happened) ...
      expect(byB.length).toBeGreaterThan(0)
      // ... and started each where A had handled up to: no record handled twice, none missing.
      const twice = [...handled].filter(([, n]) => n > 1).map(([k]) => k)
      expect(twice).toEqual([])
      expect(handled.size).toBe(appended)
      expect(await log.committedOffsets(group, topic)).toEqual(await log.endOffsets(topic))
    } finally {
      await other.close()
    }
  })

  it('a node killed with SIGKILL replays exactly the records past its last commit, and loses none', async () => {
    const input = uniqueName('ci-kill-in')
    const output = uniqueName('ci-kill-out')
    const group = uniqueName('ci-kill-group')
    const artifactDir = await compileFixture(
      `
schema Reading { sensor: string, seq: i64, at: timestamp @event_time }
source readings: Reading from kafka("${input}")
stream copied = readings | select { sensor, seq, at }
sink copied -> kafka("${output}")
`,
      'commit-interval-kill',
    )
    const partitions = 3
    await log.ensureTopic(input, { partitions })
    const total = 30_000
    const positions = await log.append(
      input,
      Array.from({ length: total }, (_, seq) => ({
        key: null,
        partition: seq % partitions,
        value: text(JSON.stringify({ sensor: `s${seq % 7}`, seq, at: 1_700_000_000_000 + seq })),
      })),
    )
    const brokers = kafkaBrokers().join(',')
    const runArgs = ['run', artifactDir, '--kafka', brokers, '--group', group, '--log-level', 'error']
    const victim = spawn(
      process.execPath,
      [join(import.meta.dirname, '..', '..', 'bin/sluice.js'), ...runArgs, '--commit-interval', '1000'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    )
    let committedAtKill: number[]
    try {
      // Killed mid-stream, with records handled since its last commit.
      await waitFor(
        async () => (await log.endOffsets(output).catch(() => [0])).reduce((x, y) => x + y, 0) >= total / 3,
        'the victim to be a third through',
      )
    } finally {
      victim.kill('SIGKILL')
      await new Promise((resolve) => victim.once('exit', resolve))
      committedAtKill = await log.committedOffsets(group, input)
    }
    const byVictim = new Set(
      (await readTopic(output)).map((r) => (JSON.parse(r.value.toString()) as { seq: number }).seq),
    )
    expect(byVictim.size).toBeLessThan(total)

    const { code, stderr } = await runCli(...runArgs, '--until-caught-up')
    expect(code, stderr).toBe(0)
    expect(await log.committedOffsets(group, input)).toEqual(await log.endOffsets(input))
    const copies = new Map<number, number>()
    for (const r of await readTopic(output)) {
      const { seq } = JSON.parse(r.value.toString()) as { seq: number }
      copies.set(seq, (copies.get(seq) ?? 0) + 1)
    }
    // None lost; twice exactly those the victim wrote past its partition's last commit.
    const expectedCopies = (seq: number) => {
      const { partition, offset } = positions[seq]!
      return byVictim.has(seq) && offset >= committedAtKill[partition]! ? 2 : 1
    }
    const wrong = Array.from({ length: total }, (_, seq) => seq).filter(
      (seq) => (copies.get(seq) ?? 0) !== expectedCopies(seq),
    )
    expect(wrong.slice(0, 10)).toEqual([])
  })
})
