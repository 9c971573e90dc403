/**
 * A node restarted under the same instance id takes its partitions back at once: the group drops
 * the dead incarnation's member when the new one subscribes (runtime/log/kafka-handover.ts), not
 * when that member's session times out. The session timeout here is 60 s and the test's wait 30 s,
 * so only the handover can pass it; without an instance id the successor waits out the session.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { RecordBatch, Subscription } from '../../runtime/log/index.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { CuttableNetwork } from './cuttable-network.ts'
import { connectKafkaLog, uniqueName } from './kafka-env.ts'

const SESSION_TIMEOUT_MS = 60_000

describe('KafkaLog handover to a restarted incarnation (instance id)', () => {
  const logs: KafkaLog[] = []
  const running: Subscription[] = []
  const cleanups: (() => void)[] = []

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) cleanup()
    for (const log of abandoned.splice(0)) void log.close().catch(() => {})
    await Promise.allSettled(running.splice(0).map((s) => s.stop()))
    await Promise.allSettled(logs.splice(0).map((l) => l.close()))
  }, 90_000)

  /** Logs of dead incarnations: closed without waiting (kafkajs's stop waits out its cut connections). */
  const abandoned: KafkaLog[] = []

  async function open(instanceId: string | undefined, network?: CuttableNetwork): Promise<KafkaLog> {
    const log = await connectKafkaLog({
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: 1000,
      // A subscribe that waits for the dead member's session fails here, well before 60 s.
      subscribeTimeoutMs: 30_000,
      ...(instanceId === undefined ? {} : { instanceId }),
      ...(network === undefined ? {} : { socketFactory: network.factory, retries: 1 }),
    })
    logs.push(log)
    return log
  }

  /** Subscribes, recording the partitions handed to the handler. */
  async function consume(log: KafkaLog, group: string, topic: string, seen: Set<number>) {
    const subscription = await log.subscribe({ group, topics: [topic] }, async (batch: RecordBatch) => {
      seen.add(batch.partition)
    })
    running.push(subscription)
    return subscription
  }

  it('the restarted node removes its dead predecessor from the group and gets every partition within 30 s of a 60 s session', async () => {
    const topic = uniqueName('handover')
    const group = uniqueName('handover-group')
    const network = new CuttableNetwork()
    cleanups.push(() => network.heal())
    const first = await open('node-a', network)
    await first.ensureTopic(topic, { partitions: 2 })
    await first.append(topic, [
      { key: null, value: Buffer.from('0'), partition: 0 },
      { key: null, value: Buffer.from('1'), partition: 1 },
    ])
    const firstSeen = new Set<number>()
    await consume(first, group, topic, firstSeen)
    await waitFor(() => firstSeen.size === 2, 'the first incarnation to read both partitions')

    // The process dies: no LeaveGroup, no heartbeat; its member stays for the 60 s session.
    network.cut()
    logs.splice(logs.indexOf(first), 1)
    abandoned.push(first)
    running.splice(0)

    const restarted = await open('node-a')
    await restarted.append(topic, [
      { key: null, value: Buffer.from('2'), partition: 0 },
      { key: null, value: Buffer.from('3'), partition: 1 },
    ])
    const seen = new Set<number>()
    await consume(restarted, group, topic, seen)
    await waitFor(() => seen.size === 2, 'the restarted incarnation to read both partitions', 30_000)
    expect([...seen].sort()).toEqual([0, 1])
  }, 90_000)

  it('a node with another instance id leaves a live member alone: both share the partitions', async () => {
    const topic = uniqueName('handover-peers')
    const group = uniqueName('handover-peers-group')
    const a = await open('node-a')
    const b = await open('node-b')
    await a.ensureTopic(topic, { partitions: 2 })
    const seenA = new Set<number>()
    const seenB = new Set<number>()
    await consume(a, group, topic, seenA)
    await consume(b, group, topic, seenB)
    await a.append(topic, [
      { key: null, value: Buffer.from('0'), partition: 0 },
      { key: null, value: Buffer.from('1'), partition: 1 },
    ])
    await waitFor(() => seenA.size + seenB.size === 2, 'each partition read once')
    expect(seenA.size).toBe(1)
    expect(seenB.size).toBe(1)
  }, 90_000)
})

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
