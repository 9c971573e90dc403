/**
 * Exactly-once under chaos, as issue 12's "done when" asks: 200,000 payments go through a dedup and
 * a keyed running count and sum, while the node (`sluice run --delivery exactly-once`, a real
 * process) is SIGKILLed at random points at least 20 times and, on Kafka, the broker is restarted
 * once. The committed output (what a read-committed reader sees) must equal a brute-force
 * reference run exactly: every row once, none missing, each card's rows in order.
 *
 * Once against the real Kafka broker with state in the real Redis (both started by
 * scripts/test-integration.sh), once on the embedded log with state in files. Kills that come after
 * the node has already finished do not count: the test keeps killing until 20 landed mid-stream.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { EmbeddedLog } from '../../runtime/log/embedded.ts'
import type { Log } from '../../runtime/log/index.ts'
import { partitionForKey } from '../../runtime/log/partitioner.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { readTopic } from '../support/read-topic.ts'
import {
  type ChaosEvent,
  type CountRow,
  chaosEvents,
  compareCounts,
  expectedCounts,
  seededRandom,
} from '../support/stateful-reference.ts'
import { connectKafkaLog, kafkaBrokers, uniqueName } from './kafka-env.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const EVENTS = 200_000
const KILLS = 20
const PARTITIONS = 3
const WITHIN_MS = 60_000
const SEED = Number(process.env.SLUICE_CHAOS_SEED ?? 12)
const REDIS_URL = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6390'

const scratch: string[] = []
afterAll(async () => {
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })))
})

function pipeline(input: string, output: string): string {
  return `
schema Payment { id: string, card: string, amount: i64, ts: timestamp @event_time }
source payments: Payment from kafka("${input}")
stream fresh = payments | dedup by id within 1m
stream counts = fresh | aggregate by card { n: count(), total: sum(amount) } | key by card
sink counts -> kafka("${output}")
`
}

interface Mode {
  readonly name: 'kafka' | 'embedded'
  /** Arguments that select the log and the state store. */
  readonly args: readonly string[]
  readonly env: NodeJS.ProcessEnv
  /** Opens the log from the test process (embedded: only while no node holds the directory). */
  open(): Promise<Log>
}

/** The distributed mode of every Kafka case here: the shared broker, state in Redis. */
function kafkaWithRedis(): Mode {
  return {
    name: 'kafka',
    args: ['--state', REDIS_URL],
    env: { SLUICE_KAFKA_BROKERS: kafkaBrokers().join(',') },
    open: () => connectKafkaLog(),
  }
}

function sluice(args: readonly string[], mode: Mode): ChildProcess {
  return spawn(process.execPath, [join(ROOT, 'bin/sluice.js'), ...args, ...mode.args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...mode.env },
  })
}

/** Resolves with the exit code once the process ends; `stderr()` is what it wrote. */
function watch(child: ChildProcess) {
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  /** Resolves once the node's log holds `text`; rejects if it exits or `timeoutMs` passes first. */
  const logged = async (text: string, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    let exited = false
    void exit.then(() => {
      exited = true
    })
    while (!stderr.includes(text)) {
      if (exited || Date.now() > deadline)
        throw new Error(
          `the node never logged "${text}" (${exited ? 'it exited' : 'timed out'}):\n${stderr.slice(-3000)}`,
        )
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  return { stderr: () => stderr, exit, logged }
}

/** `sluice run` of a chaos node: exactly-once, a checkpoint every 100 ms, JSON log lines. */
function nodeArgs(artifact: string, group: string, deadLetters: string): string[] {
  return [
    'run',
    artifact,
    '--group',
    group,
    '--partitions',
    String(PARTITIONS),
    '--dead-letter-topic',
    deadLetters,
    '--delivery',
    'exactly-once',
    '--checkpoint-interval',
    '100',
    '--log-format',
    'json',
  ]
}

async function produce(log: Log, topic: string, events: readonly ChaosEvent[]): Promise<void> {
  await log.ensureTopic(topic, { partitions: PARTITIONS })
  for (let i = 0; i < events.length; i += 5000) {
    await log.append(
      topic,
      events.slice(i, i + 5000).map((e) => ({
        key: e.card,
        value: Buffer.from(
          JSON.stringify({ id: e.id, card: e.card, amount: e.amount, ts: new Date(e.ts).toISOString() }),
        ),
      })),
    )
  }
}

async function committed(log: Log, group: string, topic: string): Promise<number> {
  return (await log.committedOffsets(group, topic)).reduce((sum, o) => sum + Math.max(0, o), 0)
}

/** Tries `call` again for up to a minute while it fails: a broker just restarted may still settle. */
async function settled<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      return await call()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((r) => setTimeout(r, 500))
    }
  }
}

async function restartBroker(): Promise<void> {
  await promisify(execFile)('bash', [join(ROOT, 'scripts/servers/kafka.sh'), 'restart', '2'], {
    env: process.env,
    timeout: 120_000,
  })
}

async function chaos(mode: Mode): Promise<void> {
  const input = uniqueName('chaos-in')
  const output = uniqueName('chaos-out')
  const deadLetters = uniqueName('chaos-dead')
  const group = uniqueName('chaos-group')
  // A name of its own: the state scopes in Redis start with it.
  const artifact = await compileFixture(pipeline(input, output), uniqueName('chaos'))
  const events = chaosEvents(EVENTS, 500, WITHIN_MS, SEED)
  const log = await mode.open()
  try {
    await produce(log, input, events)
  } finally {
    if (mode.name === 'embedded') await log.close()
  }
  const runArgs = nodeArgs(artifact, group, deadLetters)
  const random = seededRandom(SEED)
  let midStream = 0
  let lives = 0
  let brokerRestarted = mode.name !== 'kafka'
  // A quarter of the lives die while starting (restoring state, joining the group); the others
  // once running, after a random share of a processing time adapted to this machine, so that a
  // life gets through about a fortieth of the input and twenty kills land mid-stream on a fast
  // machine as on a slow one.
  const targetPerLife = EVENTS / (KILLS * 2)
  let lifeMs = 300
  let previous = 0
  const progressPerLife: number[] = []
  while (midStream < KILLS) {
    lives++
    if (lives > KILLS * 4)
      throw new Error(`only ${midStream} of ${lives} kills landed before the node finished`)
    const node = sluice(runArgs, mode)
    const watched = watch(node)
    const duringStart = random() < 0.25
    if (duringStart) {
      await Promise.race([new Promise((r) => setTimeout(r, random() * 300)), watched.exit])
    } else {
      while (!watched.stderr().includes('"msg":"running"') && node.exitCode === null) {
        await new Promise((r) => setTimeout(r, 5))
      }
      await Promise.race([new Promise((r) => setTimeout(r, lifeMs * (0.3 + random()))), watched.exit])
    }
    // Once, the broker goes away under a running node, which must ride it out (and then dies anyway).
    if (!brokerRestarted && midStream === KILLS / 2) {
      await restartBroker()
      brokerRestarted = true
    }
    node.kill('SIGKILL')
    const code = await watched.exit
    if (code !== null)
      throw new Error(`the node exited by itself (${code}):\n${watched.stderr().slice(-4000)}`)
    const done = await settled(async () => {
      const reader = mode.name === 'kafka' ? log : await mode.open()
      try {
        return await committed(reader, group, input)
      } finally {
        if (reader !== log) await reader.close()
      }
    })
    // The group's offsets count input records, repeats included, so EVENTS means finished.
    if (done < EVENTS) midStream++
    const progress = done - previous
    previous = done
    progressPerLife.push(progress)
    if (!duringStart && progress > targetPerLife) lifeMs = Math.max(5, lifeMs * 0.6)
    else if (!duringStart && progress < targetPerLife / 4) lifeMs = Math.min(5000, lifeMs * 1.5)
  }
  // A last life that runs to the end and stops cleanly.
  const last = sluice([...runArgs, '--until-caught-up'], mode)
  const lastWatched = watch(last)
  expect(await lastWatched.exit, lastWatched.stderr().slice(-4000)).toBe(0)

  const reader = mode.name === 'kafka' ? log : await mode.open()
  try {
    const rows = (await settled(() => readTopic(reader, output))).map(
      (r) => JSON.parse(r.value.toString()) as CountRow,
    )
    const expected = expectedCounts(events, WITHIN_MS, (e) => partitionForKey(e.card, PARTITIONS))
    const total = [...expected.values()].reduce((n, list) => n + list.length, 0)
    const problems = compareCounts(expected, rows)
    console.log(
      `[chaos ${mode.name}] ${EVENTS} events, ${lives} lives, ${midStream} kills mid-stream: ${rows.length} rows committed, ${total} expected, ${problems.length} problems; records committed per life: ${progressPerLife.join(' ')}`,
    )
    expect(problems.slice(0, 20)).toEqual([])
    expect(rows.length).toBe(total)
    expect((await readTopic(reader, deadLetters).catch(() => [])).length).toBe(0)
  } finally {
    await reader.close()
    if (reader !== log) await log.close().catch(() => {})
  }
}

/**
 * Scale-out: two nodes share the group; one is SIGKILLed mid-stream, and after the session timeout
 * its partitions move, with their state (in Redis), to the survivor, which finishes the stream.
 */
async function survivorTakesOver(events: readonly ChaosEvent[]): Promise<void> {
  const input = uniqueName('takeover-in')
  const output = uniqueName('takeover-out')
  const deadLetters = uniqueName('takeover-dead')
  const group = uniqueName('takeover-group')
  const artifact = await compileFixture(pipeline(input, output), uniqueName('takeover'))
  const mode = kafkaWithRedis()
  const log = await mode.open()
  try {
    await produce(log, input, events)
    const args = nodeArgs(artifact, group, deadLetters)
    const victim = sluice(args, mode)
    const victimWatched = watch(victim)
    const survivor = sluice(args, mode)
    const survivorWatched = watch(survivor)
    // Both nodes own partitions and have committed some of them before the kill.
    const deadline = Date.now() + 60_000
    while ((await committed(log, group, input)) < events.length / 10) {
      if (Date.now() > deadline) throw new Error(`no progress:\n${victimWatched.stderr().slice(-3000)}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    victim.kill('SIGKILL')
    await victimWatched.exit
    const left = await committed(log, group, input)
    while ((await committed(log, group, input)) < events.length) {
      if (Date.now() > deadline + 120_000)
        throw new Error(`the survivor did not finish:\n${survivorWatched.stderr().slice(-3000)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    survivor.kill('SIGTERM')
    expect(await survivorWatched.exit, survivorWatched.stderr().slice(-3000)).toBe(0)
    const rows = (await readTopic(log, output)).map((r) => JSON.parse(r.value.toString()) as CountRow)
    const problems = compareCounts(
      expectedCounts(events, WITHIN_MS, (e) => partitionForKey(e.card, PARTITIONS)),
      rows,
    )
    console.log(
      `[takeover] ${events.length} events, victim killed at ${left} committed; ${rows.length} rows, ${problems.length} problems`,
    )
    expect(left).toBeLessThan(events.length)
    expect(problems.slice(0, 20)).toEqual([])
  } finally {
    await log.close()
  }
}

/**
 * Restarts under a stable node id (decision 0033): two nodes with ids share the group, and one or
 * the other is SIGKILLed at random (while starting, while reading its predecessor's state ahead,
 * while running) and restarted at once under the same id. Each restart evicts its predecessor and
 * reads that one's partitions' state while it joins; with the other node alive the assignment
 * may differ (state read for partitions it does not get is dropped) and the other node may have
 * committed further meanwhile (a fresh load). The committed output must still be exact.
 */
async function restartsUnderNodeIds(events: readonly ChaosEvent[], kills: number): Promise<void> {
  const input = uniqueName('restart-in')
  const output = uniqueName('restart-out')
  const deadLetters = uniqueName('restart-dead')
  const group = uniqueName('restart-group')
  const artifact = await compileFixture(pipeline(input, output), uniqueName('restart'))
  const mode = kafkaWithRedis()
  const log = await mode.open()
  const random = seededRandom(SEED + 2)
  const args = nodeArgs(artifact, group, deadLetters)
  const start = (id: string) => {
    const child = sluice([...args, '--node-id', id], mode)
    return { child, watched: watch(child) }
  }
  const nodes = new Map([
    ['a', start('a')],
    ['b', start('b')],
  ])
  let logs = ''
  try {
    await produce(log, input, events)
    for (let k = 0; k < kills; k++) {
      await new Promise((r) => setTimeout(r, 200 + random() * 1500))
      const id = random() < 0.5 ? 'a' : 'b'
      const node = nodes.get(id)!
      node.child.kill('SIGKILL')
      const code = await node.watched.exit
      if (code !== null)
        throw new Error(`node ${id} exited by itself (${code}):\n${node.watched.stderr().slice(-3000)}`)
      logs += node.watched.stderr()
      nodes.set(id, start(id))
    }
    const deadline = Date.now() + 240_000
    while ((await committed(log, group, input)) < events.length) {
      if (Date.now() > deadline)
        throw new Error(
          `the nodes did not finish:\n${[...nodes.values()].map((n) => n.watched.stderr().slice(-2000)).join('\n')}`,
        )
      await new Promise((r) => setTimeout(r, 100))
    }
    // A node restarted by the last kill may still be starting: until `sluice run` takes SIGTERM
    // over (right after its state store connects), the signal ends it by Node's default, which is
    // no clean stop to check.
    for (const node of nodes.values()) await node.watched.logged('state store connected', 60_000)
    for (const node of nodes.values()) node.child.kill('SIGTERM')
    for (const node of nodes.values()) {
      expect(await node.watched.exit, node.watched.stderr().slice(-3000)).toBe(0)
      logs += node.watched.stderr()
    }
    const rows = (await readTopic(log, output)).map((r) => JSON.parse(r.value.toString()) as CountRow)
    const problems = compareCounts(
      expectedCounts(events, WITHIN_MS, (e) => partitionForKey(e.card, PARTITIONS)),
      rows,
    )
    const lines = logs.split('\n')
    const readingAhead = lines.filter((line) => line.includes('reading ahead the state')).length
    const adopted = lines.filter(
      (line) => line.includes('"preloadedSlots":') && !line.includes('"preloadedSlots":0'),
    ).length
    console.log(
      `[restarts] ${events.length} events, ${kills} kills: ${rows.length} rows, ${problems.length} problems, ${readingAhead} restarts read ahead, ${adopted} partitions restored from it`,
    )
    expect(problems.slice(0, 20)).toEqual([])
    // The path under test ran: restarts read their predecessor's state while joining. Whether a
    // read is then adopted is timing: while the predecessor's member is removed, the surviving node
    // holds its partitions for a moment and may commit an epoch (every 100 ms here), which makes
    // the read stale and the restart load afresh (both outcomes must give the exact output above;
    // adoption itself: test/integration/redis-preload.test.ts). On a loaded machine none was adopted
    // in one run of 12 restarts.
    expect(readingAhead).toBeGreaterThan(0)
  } finally {
    for (const node of nodes.values()) node.child.kill('SIGKILL')
    await log.close()
  }
}

describe('exactly-once under SIGKILL and a broker restart', () => {
  it('Kafka + Redis: nodes restarted under their node ids read their predecessors’ state while joining', async () => {
    await restartsUnderNodeIds(chaosEvents(60_000, 300, WITHIN_MS, SEED + 3), 12)
  }, 600_000)

  it('Kafka + Redis: a killed node’s partitions and state move to the survivor of its group', async () => {
    await survivorTakesOver(chaosEvents(50_000, 300, WITHIN_MS, SEED + 1))
  }, 600_000)

  it(`Kafka + Redis: ${EVENTS} events, ${KILLS} kills mid-stream, one broker restart`, async () => {
    await chaos(kafkaWithRedis())
  }, 900_000)

  it(`embedded log + state files: ${EVENTS} events, ${KILLS} kills mid-stream`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-chaos-'))
    scratch.push(dir)
    await chaos({
      name: 'embedded',
      args: ['--data-dir', dir, '--durability', '100ms'],
      env: { SLUICE_KAFKA_BROKERS: '' },
      open: async () => EmbeddedLog.open(dir),
    })
  }, 900_000)
})
