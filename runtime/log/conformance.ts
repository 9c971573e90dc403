import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { expectCode, sleep, waitFor } from './conformance-support.ts'
import type { Log, LogRecord, OutgoingRecord, RecordBatch, SubscribeOptions, Subscription } from './index.ts'
import { partitionForKey } from './partitioner.ts'

/**
 * The tests every Log implementation must pass (the contract is in index.ts). Run by
 * embedded.test.ts against the embedded log and by test/integration/kafka-log.test.ts against a
 * real Kafka broker, so the tests are written for a shared, persistent broker:
 * - every topic and group name carries a random suffix, and every topic is created explicitly;
 * - nothing depends on timing except through `waitFor` with generous timeouts (group joins and
 *   rebalances take seconds on Kafka);
 * - `open` is called once per test; subscriptions a test leaves running are stopped before
 *   `cleanup`, even when the test failed.
 */
export function logConformance(
  name: string,
  open: () => Promise<{ log: Log; cleanup(): Promise<void> }>,
): void {
  describe(`Log conformance: ${name}`, () => {
    let log: Log
    let cleanup: () => Promise<void>
    let running: Subscription[] = []

    beforeEach(async () => {
      const opened = await open()
      log = opened.log
      cleanup = () => opened.cleanup()
      running = []
    }, HOOK_TIMEOUT)

    afterEach(async () => {
      await Promise.allSettled(running.map((s) => s.stop()))
      await cleanup()
    }, HOOK_TIMEOUT)

    /** Subscribes and records every batch; `onBatch` runs before a batch counts as delivered. */
    async function collect(
      options: SubscribeOptions,
      onBatch?: (batch: RecordBatch) => Promise<void>,
    ): Promise<{ subscription: Subscription; batches: RecordBatch[]; records: LogRecord[] }> {
      const batches: RecordBatch[] = []
      const records: LogRecord[] = []
      const subscription = await log.subscribe(options, async (batch) => {
        await onBatch?.(batch)
        batches.push(batch)
        records.push(...batch.records)
      })
      running.push(subscription)
      return { subscription, batches, records }
    }

    async function topicWith(partitions: number): Promise<string> {
      const topic = unique('t')
      await log.ensureTopic(topic, { partitions })
      return topic
    }

    describe('topics', () => {
      it(
        'ensureTopic creates a topic once and leaves an existing one as it is',
        async () => {
          const topic = unique('t')
          await log.ensureTopic(topic, { partitions: 3 })
          expect(await log.partitions(topic)).toBe(3)
          await log.ensureTopic(topic, { partitions: 5 })
          expect(await log.partitions(topic)).toBe(3)
          await log.ensureTopic(topic)
          expect(await log.partitions(topic)).toBe(3)

          const other = unique('t')
          await log.ensureTopic(other)
          expect(await log.partitions(other)).toBe(1)
        },
        TEST_TIMEOUT,
      )

      it(
        'concurrent ensureTopic calls for one new topic all succeed',
        async () => {
          const topic = unique('t')
          await Promise.all([1, 2, 3].map(() => log.ensureTopic(topic, { partitions: 2 })))
          expect(await log.partitions(topic)).toBe(2)
        },
        TEST_TIMEOUT,
      )

      it(
        'an unknown topic is LOG_UNKNOWN_TOPIC',
        async () => {
          const topic = unique('missing')
          await expectCode(log.partitions(topic), 'LOG_UNKNOWN_TOPIC')
          await expectCode(log.endOffsets(topic), 'LOG_UNKNOWN_TOPIC')
          await expectCode(log.read(topic, 0, 0, 10), 'LOG_UNKNOWN_TOPIC')
          await expectCode(log.append(topic, [{ key: 'k', value: Buffer.from('v') }]), 'LOG_UNKNOWN_TOPIC')
          await expectCode(log.committedOffsets(unique('g'), topic), 'LOG_UNKNOWN_TOPIC')
        },
        TEST_TIMEOUT,
      )

      it(
        'a partition the topic does not have is LOG_BAD_PARTITION',
        async () => {
          const topic = await topicWith(2)
          await expectCode(
            log.append(topic, [{ key: null, value: Buffer.from('v'), partition: 2 }]),
            'LOG_BAD_PARTITION',
          )
          await expectCode(log.read(topic, 2, 0, 10), 'LOG_BAD_PARTITION')
          expect(await log.endOffsets(topic)).toEqual([0, 0])
        },
        TEST_TIMEOUT,
      )
    })

    describe('append and read', () => {
      it(
        'returns positions in input order with consecutive offsets per partition',
        async () => {
          const topic = await topicWith(3)
          const partitions = [0, 1, 0, 2, 2, 0, 1, 0]
          const records = partitions.map((partition, i) => ({
            key: null,
            value: Buffer.from(`v${i}`),
            partition,
          }))
          const positions = await log.append(topic, records)
          expect(positions).toEqual([
            { topic, partition: 0, offset: 0 },
            { topic, partition: 1, offset: 0 },
            { topic, partition: 0, offset: 1 },
            { topic, partition: 2, offset: 0 },
            { topic, partition: 2, offset: 1 },
            { topic, partition: 0, offset: 2 },
            { topic, partition: 1, offset: 1 },
            { topic, partition: 0, offset: 3 },
          ])
          const more = await log.append(topic, [
            { key: null, value: Buffer.from('w0'), partition: 1 },
            { key: null, value: Buffer.from('w1'), partition: 0 },
          ])
          expect(more).toEqual([
            { topic, partition: 1, offset: 2 },
            { topic, partition: 0, offset: 4 },
          ])
          expect(await log.append(topic, [])).toEqual([])
          // Each record sits where its position says.
          for (const [i, position] of positions.entries()) {
            const [record] = await log.read(topic, position.partition, position.offset, 1)
            expect(record?.value.toString()).toBe(`v${i}`)
          }
        },
        TEST_TIMEOUT,
      )

      it(
        'round-trips keys, headers, timestamps and binary values',
        async () => {
          const topic = await topicWith(1)
          const records: OutgoingRecord[] = [
            {
              key: 'plain',
              value: Buffer.from('hello'),
              headers: { a: '1', 'content-type': 'application/json' },
              timestamp: 1_600_000_000_000,
            },
            { key: null, value: Buffer.from([0, 1, 2, 255, 254, 0]), timestamp: 1_600_000_000_001 },
            {
              key: 'ünïcödé ✓',
              value: Buffer.alloc(0),
              headers: { 'x-ü': 'ß ✓', empty: '' },
              timestamp: 1_500_000_000_000,
            },
            { key: '', value: Buffer.from('empty key'), headers: {}, timestamp: 1_700_000_000_000 },
            { key: 'big', value: randomBytes(200_000), timestamp: 1_700_000_000_123 },
          ]
          await log.append(
            topic,
            records.map((r) => ({ ...r, partition: 0 })),
          )
          const read = await log.read(topic, 0, 0, 100)
          expect(read.map(stripRecord)).toEqual(
            records.map((r, offset) => ({
              offset,
              key: r.key,
              value: Buffer.from(r.value),
              headers: r.headers ?? {},
              timestamp: r.timestamp,
            })),
          )
          for (const r of read) {
            expect(r.topic).toBe(topic)
            expect(r.partition).toBe(0)
            expect(Buffer.isBuffer(r.value)).toBe(true)
          }
        },
        TEST_TIMEOUT,
      )

      it(
        'stamps records without a timestamp with the time of the append',
        async () => {
          const topic = await topicWith(1)
          const before = Date.now()
          await log.append(topic, [{ key: 'k', value: Buffer.from('v') }])
          const after = Date.now()
          const [record] = await log.read(topic, 0, 0, 1)
          // Slack for a broker clock that differs a little from ours.
          expect(record!.timestamp).toBeGreaterThanOrEqual(before - CLOCK_SLACK_MS)
          expect(record!.timestamp).toBeLessThanOrEqual(after + CLOCK_SLACK_MS)
        },
        TEST_TIMEOUT,
      )

      it(
        'puts records with the same key in the partition partitionForKey names',
        async () => {
          const topic = await topicWith(6)
          const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`)
          const records = [...keys, ...keys].map((key, i) => ({ key, value: Buffer.from(String(i)) }))
          const positions = await log.append(topic, records)
          const partitionOfKey = new Map<string, number>()
          positions.forEach((position, i) => {
            const key = records[i]!.key
            expect(position.partition).toBe(partitionForKey(key, 6))
            const seen = partitionOfKey.get(key)
            if (seen !== undefined) expect(position.partition).toBe(seen)
            partitionOfKey.set(key, position.partition)
          })
          expect(new Set(partitionOfKey.values()).size).toBeGreaterThan(1)
          for (let p = 0; p < 6; p++) {
            const stored = await log.read(topic, p, 0, 1000)
            for (const record of stored) expect(partitionForKey(record.key!, 6)).toBe(p)
          }
          const total = (await log.endOffsets(topic)).reduce((a, b) => a + b, 0)
          expect(total).toBe(60)
        },
        TEST_TIMEOUT,
      )

      it(
        'an explicit partition overrides the key',
        async () => {
          const topic = await topicWith(4)
          const natural = partitionForKey('the-key', 4)
          const target = (natural + 1) % 4
          const [position] = await log.append(topic, [
            { key: 'the-key', value: Buffer.from('v'), partition: target },
          ])
          expect(position!.partition).toBe(target)
          const [record] = await log.read(topic, target, position!.offset, 1)
          expect(record!.key).toBe('the-key')
        },
        TEST_TIMEOUT,
      )

      it(
        'spreads records with neither key nor partition over the partitions',
        async () => {
          const topic = await topicWith(3)
          const positions = await log.append(
            topic,
            Array.from({ length: 30 }, (_, i) => ({ key: null, value: Buffer.from(String(i)) })),
          )
          for (const p of positions) expect(p.partition).toBeGreaterThanOrEqual(0)
          expect((await log.endOffsets(topic)).reduce((a, b) => a + b, 0)).toBe(30)
        },
        TEST_TIMEOUT,
      )

      it(
        'reads from an offset, at most maxRecords, and nothing past the end',
        async () => {
          const topic = await topicWith(1)
          await log.append(
            topic,
            values(20, 'r').map((value) => ({ key: null, value, partition: 0 })),
          )
          const first = await log.read(topic, 0, 0, 5)
          expect(first.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4])
          const middle = await log.read(topic, 0, 7, 100)
          expect(middle.map((r) => r.offset)).toEqual(range(7, 20))
          expect(middle.map((r) => r.value.toString())).toEqual(range(7, 20).map((i) => `r-${i}`))
          expect(await log.read(topic, 0, 19, 10)).toHaveLength(1)
          expect(await log.read(topic, 0, 20, 10)).toEqual([])
          expect(await log.read(topic, 0, 1000, 10)).toEqual([])
          expect(await log.read(topic, 0, 3, 0)).toEqual([])
        },
        TEST_TIMEOUT,
      )

      it(
        'endOffsets are the next offsets per partition',
        async () => {
          const topic = await topicWith(3)
          expect(await log.endOffsets(topic)).toEqual([0, 0, 0])
          await log.append(topic, [
            { key: null, value: Buffer.from('a'), partition: 0 },
            { key: null, value: Buffer.from('b'), partition: 2 },
            { key: null, value: Buffer.from('c'), partition: 2 },
          ])
          expect(await log.endOffsets(topic)).toEqual([1, 0, 2])
        },
        TEST_TIMEOUT,
      )

      it(
        'property: random batches read back exactly as appended',
        async () => {
          const topic = await topicWith(3)
          const arbRecord = fc.record({
            key: fc.option(fc.string({ unit: 'grapheme', maxLength: 12 }), { nil: null }),
            value: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
            headers: fc.dictionary(
              fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
              fc.string({ unit: 'grapheme', maxLength: 10 }),
              {
                maxKeys: 3,
              },
            ),
            // In the past: Kafka 4 refuses timestamps more than an hour ahead by default.
            timestamp: fc.integer({ min: 1_500_000_000_000, max: 1_700_000_000_000 }),
            partition: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
          })
          await fc.assert(
            fc.asyncProperty(fc.array(arbRecord, { minLength: 1, maxLength: 25 }), async (batch) => {
              const records: OutgoingRecord[] = batch.map(({ partition, ...rest }) =>
                partition === undefined ? rest : { ...rest, partition },
              )
              const positions = await log.append(topic, records)
              expect(positions).toHaveLength(records.length)
              const byPartition = new Map<number, { offset: number; record: OutgoingRecord }[]>()
              positions.forEach((position, i) => {
                const record = records[i]!
                if (record.partition !== undefined) expect(position.partition).toBe(record.partition)
                else if (record.key !== null) expect(position.partition).toBe(partitionForKey(record.key, 3))
                const list = byPartition.get(position.partition) ?? []
                list.push({ offset: position.offset, record })
                byPartition.set(position.partition, list)
              })
              for (const [partition, list] of byPartition) {
                // This test is the only writer of the topic, so a batch's records are consecutive.
                expect(list.map((e) => e.offset)).toEqual(
                  range(list[0]!.offset, list[0]!.offset + list.length),
                )
                const read = await log.read(topic, partition, list[0]!.offset, list.length)
                expect(read.map(stripRecord)).toEqual(
                  list.map(({ offset, record }) => ({
                    offset,
                    key: record.key,
                    value: Buffer.from(record.value),
                    headers: record.headers ?? {},
                    timestamp: record.timestamp,
                  })),
                )
              }
            }),
            { numRuns: 25 },
          )
        },
        TEST_TIMEOUT,
      )
    })

    describe('subscribe', () => {
      it(
        'delivers every record in per-partition offset order, in batches of at most maxBatchRecords',
        async () => {
          const topic = await topicWith(3)
          const appended = await log.append(
            topic,
            Array.from({ length: 60 }, (_, i) => ({ key: `k${i % 11}`, value: Buffer.from(`v${i}`) })),
          )
          const { batches, records } = await collect({
            group: unique('g'),
            topics: [topic],
            maxBatchRecords: 7,
          })
          await waitFor(() => records.length >= 60, 'all 60 records')
          expect(records).toHaveLength(60)
          for (const batch of batches) {
            expect(batch.topic).toBe(topic)
            expect(batch.records.length).toBeGreaterThan(0)
            expect(batch.records.length).toBeLessThanOrEqual(7)
            for (const r of batch.records) {
              expect(r.topic).toBe(topic)
              expect(r.partition).toBe(batch.partition)
            }
          }
          const expected = new Map(appended.map((p, i) => [`${p.partition}/${p.offset}`, `v${i}`]))
          for (let p = 0; p < 3; p++) {
            const delivered = records.filter((r) => r.partition === p)
            const count = appended.filter((a) => a.partition === p).length
            expect(delivered.map((r) => r.offset)).toEqual(range(0, count))
            for (const r of delivered) expect(r.value.toString()).toBe(expected.get(`${p}/${r.offset}`))
          }
        },
        TEST_TIMEOUT,
      )

      it(
        'delivers records appended after subscribing (tailing)',
        async () => {
          const topic = await topicWith(2)
          const { records } = await collect({ group: unique('g'), topics: [topic], fromBeginning: true })
          for (let round = 0; round < 3; round++) {
            await log.append(
              topic,
              values(5, `round${round}`).map((value, i) => ({ key: null, value, partition: i % 2 })),
            )
            await waitFor(() => records.length >= 5 * (round + 1), `${5 * (round + 1)} records`)
          }
          for (let p = 0; p < 2; p++) {
            const offsets = records.filter((r) => r.partition === p).map((r) => r.offset)
            expect(offsets).toEqual(range(0, offsets.length))
          }
          expect(records).toHaveLength(15)
        },
        TEST_TIMEOUT,
      )

      it(
        'commits after the handler resolves, so the next subscription of the group resumes there',
        async () => {
          const topic = await topicWith(2)
          const group = unique('g')
          expect(await log.committedOffsets(group, topic)).toEqual([-1, -1])
          await log.append(
            topic,
            values(10, 'first').map((value, i) => ({ key: null, value, partition: i % 2 })),
          )
          const first = await collect({ group, topics: [topic], maxBatchRecords: 3 })
          await waitFor(() => first.records.length >= 10, 'the first 10 records')
          await first.subscription.stop()
          expect(await log.committedOffsets(group, topic)).toEqual([5, 5])
          expect(await log.committedOffsets(group, topic)).toEqual(await log.endOffsets(topic))

          await log.append(
            topic,
            values(4, 'second').map((value, i) => ({ key: null, value, partition: i % 2 })),
          )
          const second = await collect({ group, topics: [topic] })
          await waitFor(() => second.records.length >= 4, 'the 4 new records')
          await second.subscription.stop()
          expect(second.records.map((r) => r.value.toString()).sort()).toEqual(
            values(4, 'second').map((v) => v.toString()),
          )
          expect(Math.min(...second.records.map((r) => r.offset))).toBe(5)
          expect(await log.committedOffsets(group, topic)).toEqual([7, 7])
        },
        TEST_TIMEOUT,
      )

      it(
        'stop() waits for the handler in flight and commits its batch',
        async () => {
          const topic = await topicWith(1)
          const group = unique('g')
          await log.append(
            topic,
            values(3, 'slow').map((value) => ({ key: null, value, partition: 0 })),
          )
          let started = false
          let finished = false
          const { subscription } = await collect({ group, topics: [topic] }, async () => {
            started = true
            await sleep(300)
            finished = true
          })
          await waitFor(() => started, 'the handler to start')
          await subscription.stop()
          expect(finished).toBe(true)
          expect(await log.committedOffsets(group, topic)).toEqual([3])
        },
        TEST_TIMEOUT,
      )

      it(
        'a handler that rejects ends the subscription, and the failed batch goes to the next subscriber',
        async () => {
          const topic = await topicWith(1)
          const group = unique('g')
          await log.append(
            topic,
            values(6, 'm').map((value) => ({ key: null, value, partition: 0 })),
          )
          const failure = new Error('handler failed on purpose')
          const first = await collect({ group, topics: [topic], maxBatchRecords: 2 }, async (batch) => {
            if (batch.records.some((r) => r.offset >= 2)) throw failure
          })
          await expect(first.subscription.done).rejects.toBe(failure)
          expect(first.records.map((r) => r.offset)).toEqual([0, 1])
          await first.subscription.stop() // stop() after a failure still resolves
          expect(await log.committedOffsets(group, topic)).toEqual([2])

          const second = await collect({ group, topics: [topic], maxBatchRecords: 2 })
          await waitFor(() => second.records.length >= 4, 'the remaining 4 records')
          expect(second.records.map((r) => r.offset)).toEqual([2, 3, 4, 5])
          expect(second.records.map((r) => r.value.toString())).toEqual(['m-2', 'm-3', 'm-4', 'm-5'])
        },
        TEST_TIMEOUT,
      )

      it(
        'fromBeginning false starts a new group at the end',
        async () => {
          const topic = await topicWith(1)
          await log.append(
            topic,
            values(3, 'old').map((value) => ({ key: null, value, partition: 0 })),
          )
          const { records } = await collect({ group: unique('g'), topics: [topic], fromBeginning: false })
          // When exactly "the end" is fixed may lag subscribe() a little on Kafka (the group join),
          // so keep appending until something arrives; none of the old records may ever arrive.
          let sent = 0
          await waitFor(
            async () => {
              if (records.length > 0) return true
              await log.append(topic, [{ key: null, value: Buffer.from(`new-${sent++}`), partition: 0 }])
              return false
            },
            'a record appended after subscribing',
            { intervalMs: 500 },
          )
          await log.append(
            topic,
            values(3, 'late').map((value) => ({ key: null, value, partition: 0 })),
          )
          await waitFor(() => records.some((r) => r.value.toString() === 'late-2'), 'the late records')
          const delivered = records.map((r) => r.value.toString())
          expect(delivered.some((v) => v.startsWith('old'))).toBe(false)
          // What arrived is a contiguous run of what was appended after subscribing.
          const offsets = records.map((r) => r.offset)
          expect(offsets).toEqual(range(offsets[0]!, offsets[0]! + offsets.length))
          expect(offsets[0]).toBeGreaterThanOrEqual(3)
          expect(delivered.slice(-3)).toEqual(['late-0', 'late-1', 'late-2'])
        },
        TEST_TIMEOUT,
      )

      it(
        'two groups each see every record',
        async () => {
          const topic = await topicWith(2)
          await log.append(
            topic,
            values(10, 'x').map((value, i) => ({ key: null, value, partition: i % 2 })),
          )
          const a = await collect({ group: unique('ga'), topics: [topic] })
          const b = await collect({ group: unique('gb'), topics: [topic] })
          await waitFor(
            () => a.records.length >= 10 && b.records.length >= 10,
            'both groups to see 10 records',
          )
          const sorted = (rs: LogRecord[]) => rs.map((r) => r.value.toString()).sort()
          expect(sorted(a.records)).toEqual(sorted(b.records))
          expect(sorted(a.records)).toHaveLength(10)
        },
        TEST_TIMEOUT,
      )

      it(
        'subscribes to several topics at once',
        async () => {
          const t1 = await topicWith(1)
          const t2 = await topicWith(2)
          await log.append(
            t1,
            values(3, 'one').map((value) => ({ key: null, value })),
          )
          await log.append(
            t2,
            values(4, 'two').map((value) => ({ key: null, value })),
          )
          const { records } = await collect({ group: unique('g'), topics: [t1, t2] })
          await waitFor(() => records.length >= 7, '7 records from two topics')
          expect(records.filter((r) => r.topic === t1)).toHaveLength(3)
          expect(records.filter((r) => r.topic === t2)).toHaveLength(4)
        },
        TEST_TIMEOUT,
      )

      it(
        'stop() is idempotent and resolves done',
        async () => {
          const topic = await topicWith(1)
          const { subscription } = await collect({ group: unique('g'), topics: [topic] })
          await Promise.all([subscription.stop(), subscription.stop()])
          await subscription.stop()
          await expect(subscription.done).resolves.toBeUndefined()
        },
        TEST_TIMEOUT,
      )
    })
  })
}

const TEST_TIMEOUT = 90_000
const HOOK_TIMEOUT = 60_000
const CLOCK_SLACK_MS = 5_000

/** A name no earlier run on a shared broker used. */
function unique(prefix: string): string {
  return `sluice-conformance-${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}

function values(n: number, prefix: string): Buffer[] {
  return Array.from({ length: n }, (_, i) => Buffer.from(`${prefix}-${i}`))
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)
}

function stripRecord(r: LogRecord) {
  return { offset: r.offset, key: r.key, value: r.value, headers: { ...r.headers }, timestamp: r.timestamp }
}
