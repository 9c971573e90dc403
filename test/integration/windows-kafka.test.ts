/**
 * Windows in distributed mode: a tumbling window (WebAssembly kernel) and a session window run by
 * the PipelineRunner on a real Kafka broker, exactly-once, with their state in a real Redis. The
 * input goes in two halves with a stop and a restart between them, so the second runner resumes
 * from the window state and watermark it restores from Redis at the committed epoch. Each key's
 * committed results must equal the reference interpreter's for that key's source partition.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { checkSource } from '../../compiler/frontend.ts'
import { createInterpreter } from '../../compiler/ir/interpret.ts'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import type { Log } from '../../runtime/log/index.ts'
import { partitionForKey } from '../../runtime/log/partitioner.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { RedisSnapshotStore } from '../../runtime/state/redis-snapshot-store.ts'
import { stdlib } from '../../stdlib/index.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { readTopic } from '../support/read-topic.ts'
import { connectKafkaLog, uniqueName } from './kafka-env.ts'

const redisUrl = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6390'
const PARTITIONS = 2

function pipe(input: string, perSecond: string, sessions: string, late: string): string {
  return `
schema Payment { id: i64, card: string, amount: i64, ts: timestamp @event_time }
source payments: Payment from kafka("${input}") watermark ts - 500ms
stream per_second = payments
  | aggregate by card window tumbling 1s lateness 1s late into late_payments {
      start: window_start(), n: count(), total: sum(amount), low: min(amount), last_amount: last(amount)
    }
stream sessions = payments
  | aggregate by card window session 700ms { start: window_start(), end: window_end(), n: count() }
sink per_second -> kafka("${perSecond}")
sink sessions -> kafka("${sessions}")
sink late_payments -> kafka("${late}")
`
}

interface Payment {
  readonly id: number
  readonly card: string
  readonly amount: number
  readonly ts: number
}

/** Bounded disorder (up to 3 s back, so some events are late) over 8 cards. */
function payments(count: number, seed: number): Payment[] {
  let state = seed >>> 0
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
  const base = Date.UTC(2026, 0, 1)
  return Array.from({ length: count }, (_, id) => ({
    id,
    card: `card-${Math.floor(random() * 8)}`,
    amount: Math.floor(random() * 1000),
    ts: base + id * 40 - Math.floor(random() < 0.1 ? random() * 3000 : random() * 200),
  }))
}

const encode = (p: Payment) => Buffer.from(JSON.stringify({ ...p, ts: new Date(p.ts).toISOString() }))

/** What the reference interpreter writes per sink topic and key, one source partition at a time. */
function expected(
  text: string,
  events: readonly Payment[],
): { outputs: Map<string, string[]>; deadLetters: number[] } {
  const deadLetters: number[] = []
  const { pipeline } = checkSource('windows.pipe', text)
  const sinkTopic = new Map(
    pipeline!.nodes.flatMap((n) =>
      n.kind === 'Sink' && n.connector.kind === 'kafka' ? [[n.id, n.connector.topic] as const] : [],
    ),
  )
  const out = new Map<string, string[]>()
  for (let p = 0; p < PARTITIONS; p++) {
    const interpreter = createInterpreter(pipeline!, {
      functions: stdlib,
      onSink: ({ sinkId, value, key }) => {
        const id = `${sinkTopic.get(sinkId)}|${key}`
        const list = out.get(id) ?? []
        list.push(JSON.stringify(value))
        out.set(id, list)
      },
      onError: ({ event }) => deadLetters.push(event.value.id as number),
    })
    for (const e of events.filter((e) => partitionForKey(e.card, PARTITIONS) === p)) {
      interpreter.push('payments', { value: { ...e }, key: e.card, timestamp: e.ts })
    }
  }
  return { outputs: out, deadLetters: deadLetters.sort((a, b) => a - b) }
}

/** The committed records per sink topic and key, values parsed back to the interpreter's shape. */
async function committed(log: Log, topics: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  for (const topic of topics) {
    for (const record of await readTopic(log, topic)) {
      const value = JSON.parse(record.value.toString('utf8'), (name, v) =>
        typeof v === 'string' && /^(ts|start|end)$/.test(name) ? Date.parse(v) : v,
      ) as unknown
      const id = `${topic}|${record.key}`
      const list = out.get(id) ?? []
      list.push(JSON.stringify(value))
      out.set(id, list)
    }
  }
  return out
}

describe('windows on Kafka with their state in Redis', () => {
  it('resume after a restart from the restored window state: each key’s results equal the reference', async () => {
    const [input, perSecond, sessions, late] = ['in', 'per-second', 'sessions', 'late'].map((t) =>
      uniqueName(`windows-${t}`),
    ) as [string, string, string, string]
    const text = pipe(input, perSecond, sessions, late)
    const artifact = await loadArtifact(await compileFixture(text, `windows-${randomUUID().slice(0, 8)}`))
    const events = payments(600, 7)
    const log = await connectKafkaLog()
    const stateStore = await RedisSnapshotStore.connect({ url: redisUrl, prefix: uniqueName('windows') })
    const group = uniqueName('windows-group')
    const deadLetterTopic = uniqueName('windows-dead')
    try {
      await log.ensureTopic(input, { partitions: PARTITIONS })
      const run = async () => {
        const runner = await PipelineRunner.start({
          log,
          artifact,
          metrics: new MetricsRegistry(),
          group,
          deadLetterTopic,
          stateStore,
          delivery: 'exactly-once',
          checkpointIntervalMs: 100,
          maxBatchRecords: 37,
        })
        await runner.waitUntilCaughtUp(90_000)
        await runner.stop()
      }
      for (const half of [events.slice(0, 300), events.slice(300)]) {
        await log.append(
          input,
          half.map((e) => ({ key: e.card, value: encode(e) })),
        )
        await run()
      }
      const actual = await committed(log, [perSecond, sessions, late])
      const { outputs: want, deadLetters } = expected(text, events)
      expect([...actual.keys()].sort()).toEqual([...want.keys()].sort())
      for (const [id, values] of want) expect(actual.get(id), id).toEqual(values)
      // Late events of the session window (no late stream) are dead-lettered, once each.
      const dead = (await readTopic(log, deadLetterTopic)).map(
        (r) => (JSON.parse(r.value.toString('utf8')) as { id: number }).id,
      )
      expect(dead.sort((a, b) => a - b)).toEqual(deadLetters)
      // The stream has late events and results of both windows, or the test would prove little.
      expect([...want.keys()].some((id) => id.startsWith(`${late}|`))).toBe(true)
      expect([...want.keys()].some((id) => id.startsWith(`${sessions}|`))).toBe(true)
      expect(deadLetters.length).toBeGreaterThan(0)
    } finally {
      await stateStore.close()
      await log.close()
    }
  })
})
