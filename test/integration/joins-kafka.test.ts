/**
 * Joins in distributed mode: a full outer interval join of two co-partitioned topics on a real
 * Kafka broker, exactly-once, its buffers in a real Redis. The first half of the input is run by one
 * node that then stops; the second half by two nodes in one consumer group, which split the tasks
 * between them (each takes partition p of both topics, decision 0020) and hand them over through
 * the rebalance as the second joins. The committed output must equal the brute-force reference,
 * nothing lost or twice.
 *
 * Within a side and partition event time never decreases, so no event is late whatever order the
 * nodes read the two topics in, and the outcome does not depend on that order.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import { partitionForKey } from '../../runtime/log/partitioner.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { RedisSnapshotStore } from '../../runtime/state/redis-snapshot-store.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { type JoinRefRecord, joinReference, rowText } from '../support/join-reference.ts'
import { readTopic } from '../support/read-topic.ts'
import { connectKafkaLog, uniqueName } from './kafka-env.ts'

const redisUrl = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6390'
const PARTITIONS = 2

interface Ev {
  readonly side: 'left' | 'right'
  readonly id: number
  readonly k: string
  readonly ts: number
}

/** 600 events over 12 keys; per side and partition, event time never decreases. */
function events(count: number, seed: number): Ev[] {
  let state = seed >>> 0
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
  const clock = new Map<string, number>()
  return Array.from({ length: count }, (_, id) => {
    const side = random() < 0.5 ? ('left' as const) : ('right' as const)
    const k = `k${Math.floor(random() * 12)}`
    const lane = `${side}/${partitionForKey(k, PARTITIONS)}`
    const ts = (clock.get(lane) ?? Date.UTC(2026, 0, 1)) + Math.floor(random() * 400)
    clock.set(lane, ts)
    return { side, id, k, ts }
  })
}

describe('joins on Kafka with their state in Redis', () => {
  it('two co-partitioned topics through a restart and a second node: the committed rows equal the reference', async () => {
    const [lefts, rights, out] = ['lefts', 'rights', 'out'].map((t) => uniqueName(`join-${t}`)) as [
      string,
      string,
      string,
    ]
    const text = `
schema L { id: i64, k: string, ts: timestamp @event_time }
schema R { id: i64, k: string, ts: timestamp @event_time }
source lefts: L from kafka("${lefts}") watermark ts
source rights: R from kafka("${rights}") watermark ts
stream joined = full join lefts as l, rights as r on l.k == r.k within r between 1s before and 2s after l
  | select { l: l.id, r: r.id, k: l.k ?? r.k }
sink joined -> kafka("${out}")
`
    const artifact = await loadArtifact(await compileFixture(text, `join-kafka-${randomUUID().slice(0, 8)}`))
    const all = events(600, 11)
    const logs = [await connectKafkaLog(), await connectKafkaLog()]
    const stateStore = await RedisSnapshotStore.connect({ url: redisUrl, prefix: uniqueName('joins') })
    const group = uniqueName('join-group')
    const start = (node: number) =>
      PipelineRunner.start({
        log: logs[node]!,
        artifact,
        metrics: new MetricsRegistry(),
        group,
        deadLetterTopic: uniqueName('join-dead'),
        stateStore,
        delivery: 'exactly-once',
        checkpointIntervalMs: 100,
        maxBatchRecords: 23,
      })
    const append = async (batch: readonly Ev[]) => {
      for (const side of ['left', 'right'] as const) {
        await logs[0]!.append(
          side === 'left' ? lefts : rights,
          batch
            .filter((e) => e.side === side)
            .map((e) => ({
              key: e.k,
              value: Buffer.from(JSON.stringify({ id: e.id, k: e.k, ts: new Date(e.ts).toISOString() })),
            })),
        )
      }
    }
    try {
      for (const topic of [lefts, rights]) await logs[0]!.ensureTopic(topic, { partitions: PARTITIONS })
      await append(all.slice(0, 300))
      const first = await start(0)
      await first.waitUntilCaughtUp(90_000)
      await first.stop()

      await append(all.slice(300))
      const nodes = [await start(0), await start(1)]
      await Promise.all(nodes.map((n) => n.waitUntilCaughtUp(90_000)))
      await Promise.all(nodes.map((n) => n.stop()))

      const actual = (await readTopic(logs[0]!, out))
        .map((r) => {
          const row = JSON.parse(r.value.toString()) as { l: number | null; r: number | null; k: string }
          return rowText({ left: row.l, right: row.r, key: row.k, time: r.timestamp })
        })
        .sort()
      const expected: string[] = []
      for (let p = 0; p < PARTITIONS; p++) {
        const records: JoinRefRecord[] = all
          .filter((e) => partitionForKey(e.k, PARTITIONS) === p)
          .sort((a, b) => (a.side === b.side ? 0 : a.side === 'left' ? -1 : 1))
          .map((e) => ({ side: e.side, id: e.id, time: e.ts, key: e.k, dropped: false }))
        const outcome = joinReference(records, {
          joinType: 'full',
          bound: { kind: 'interval', lowerMs: -1000, upperMs: 2000 },
          latenessMs: 0,
          delayMs: { left: 0, right: 0 },
        })
        expect(outcome.late).toEqual([])
        expected.push(...outcome.rows.map(rowText))
      }
      expect(actual).toEqual(expected.sort())
      // Pairs and outer rows of both sides, or the test would prove little.
      expect(actual.some((r) => !r.startsWith('-') && !r.split('|')[1]!.startsWith('-'))).toBe(true)
      expect(actual.some((r) => r.startsWith('-|'))).toBe(true)
      expect(actual.some((r) => r.split('|')[1] === '-')).toBe(true)
    } finally {
      await stateStore.close()
      await Promise.all(logs.map((log) => log.close()))
    }
  })
})
