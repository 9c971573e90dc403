/**
 * End to end through a real Apache Kafka broker: events produced to a topic → the compiled
 * artifact running on KafkaLog in a consumer group → output and dead-letter topics consumed back.
 * Topic names are unique per run because the broker outlives the tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadArtifact } from '../../runtime/artifact/load.ts'
import type { LogRecord } from '../../runtime/log/index.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { partitionForKey } from '../../runtime/log/partitioner.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { DEAD_LETTER_HEADERS, PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { runCli } from '../support/capture-io.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { connectKafkaLog, kafkaBrokers, uniqueName } from './kafka-env.ts'

const PARTITIONS = 3

function pipe(input: string, output: string): string {
  return `
schema Reading { sensor: string, celsius: f64, seq: i64, at: timestamp @event_time }
source readings: Reading from kafka("${input}")
stream hot = readings
  | where celsius > 30.0
  | select { sensor, fahrenheit: celsius * 9.0 / 5.0 + 32.0, seq, at }
  | key by sensor
sink hot -> kafka("${output}")
`
}

function reading(seq: number): { sensor: string; celsius: number; seq: number; at: number } {
  return { sensor: `s${seq % 7}`, celsius: seq % 60, seq, at: 1_700_000_000_000 + seq }
}

let log: KafkaLog

beforeAll(async () => {
  log = await connectKafkaLog()
})
afterAll(async () => {
  await log.close()
})

async function readTopic(topic: string): Promise<LogRecord[]> {
  const ends = await log.endOffsets(topic)
  const records: LogRecord[] = []
  for (const [partition, end] of ends.entries()) {
    for (let offset = 0; offset < end; ) {
      const batch = await log.read(topic, partition, offset, 1000)
      if (batch.length === 0) break
      records.push(...batch)
      offset = batch[batch.length - 1]!.offset + 1
    }
  }
  return records
}

/** How many members of the group hold at least one partition (the broker's view). */
async function assignedMembers(group: string): Promise<number> {
  const { Kafka, AssignerProtocol, logLevel } = await import('kafkajs')
  const admin = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    const { groups } = await admin.describeGroups([group])
    return (groups[0]?.members ?? []).filter((m) => {
      const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
      return assignment !== null && Object.values(assignment.assignment).some((p) => p.length > 0)
    }).length
  } finally {
    await admin.disconnect()
  }
}

/** Whether the group has committed every record of the topic (it processed them all). */
async function groupCaughtUp(group: string, topic: string): Promise<boolean> {
  const [ends, committed] = await Promise.all([log.endOffsets(topic), log.committedOffsets(group, topic)])
  return ends.every((end, p) => (committed[p] ?? -1) >= end)
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

async function runOnce(artifactDir: string, group: string, deadLetterTopic: string): Promise<void> {
  const runner = await PipelineRunner.start({
    log,
    artifact: await loadArtifact(artifactDir),
    metrics: new MetricsRegistry(),
    group,
    deadLetterTopic,
    partitions: PARTITIONS,
  })
  await runner.waitUntilCaughtUp(90_000)
  await runner.stop()
  await runner.done
}

describe('a compiled pipeline on Apache Kafka', () => {
  it('processes every event once, keys outputs to Kafka partitions, dead-letters bad input, resumes after restart', async () => {
    const input = uniqueName('readings')
    const output = uniqueName('hot')
    const deadLetters = uniqueName('dead')
    const group = uniqueName('group')
    const artifactDir = await compileFixture(pipe(input, output), 'sensors')
    await log.ensureTopic(input, { partitions: PARTITIONS })

    const first = Array.from({ length: 1500 }, (_, i) => reading(i))
    await log.append(
      input,
      first.map((r) => ({ key: r.sensor, value: Buffer.from(JSON.stringify(r)) })),
    )
    await log.append(input, [
      { key: 's1', value: Buffer.from('{"sensor":"s1","celsius":"hot","seq":-1,"at":0}') },
      { key: 's2', value: Buffer.from('not json at all') },
    ])
    await runOnce(artifactDir, group, deadLetters)

    // A second run of the same group sees only what was appended since: no duplicates, no loss.
    const second = Array.from({ length: 500 }, (_, i) => reading(1500 + i))
    await log.append(
      input,
      second.map((r) => ({ key: r.sensor, value: Buffer.from(JSON.stringify(r)) })),
    )
    await runOnce(artifactDir, group, deadLetters)

    const expected = [...first, ...second].filter((r) => r.celsius > 30)
    const out = await readTopic(output)
    expect(
      out.map((r) => (JSON.parse(r.value.toString()) as { seq: number }).seq).sort((a, b) => a - b),
    ).toEqual(expected.map((r) => r.seq))
    for (const record of out) {
      const value = JSON.parse(record.value.toString()) as { sensor: string; fahrenheit: number; seq: number }
      expect(record.key).toBe(value.sensor)
      expect(record.partition).toBe(partitionForKey(value.sensor, PARTITIONS))
      expect(value.fahrenheit).toBeCloseTo(((value.seq % 60) * 9) / 5 + 32, 9)
    }
    // Per key, order is preserved (one key lives in one partition).
    const seqsOf = (sensor: string) =>
      out.filter((r) => r.key === sensor).map((r) => (JSON.parse(r.value.toString()) as { seq: number }).seq)
    for (let s = 0; s < 7; s++) {
      const seqs = seqsOf(`s${s}`)
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    }

    const dead = await readTopic(deadLetters)
    expect(dead.map((r) => r.headers[DEAD_LETTER_HEADERS.reason]).sort()).toEqual([
      'celsius: expected a finite number, got the string "hot"',
      expect.stringMatching(/^invalid JSON/),
    ])
    expect(dead.every((r) => r.headers[DEAD_LETTER_HEADERS.topic] === input)).toBe(true)
  })

  it('scales out: two nodes in one consumer group share the partitions and together process everything', async () => {
    const input = uniqueName('shared-in')
    const output = uniqueName('shared-out')
    const group = uniqueName('shared-group')
    const artifactDir = await compileFixture(pipe(input, output), 'sensors-shared')
    await log.ensureTopic(input, { partitions: PARTITIONS })
    // Each node has its own connection, as two processes would.
    const nodes = await Promise.all([connectKafkaLog(), connectKafkaLog()])
    const metrics = [new MetricsRegistry(), new MetricsRegistry()]
    const runners: PipelineRunner[] = []
    try {
      for (const [i, nodeLog] of nodes.entries()) {
        runners.push(
          await PipelineRunner.start({
            log: nodeLog,
            artifact: await loadArtifact(artifactDir),
            metrics: metrics[i]!,
            group,
            deadLetterTopic: uniqueName('dead'),
            partitions: PARTITIONS,
          }),
        )
      }
      const readings = Array.from({ length: 900 }, (_, i) => reading(i))
      await log.append(
        input,
        readings.map((r) => ({ key: r.sensor, value: Buffer.from(JSON.stringify(r)) })),
      )
      await Promise.all(runners.map((runner) => runner.waitUntilCaughtUp(90_000)))
      const seqs = (await readTopic(output)).map(
        (r) => (JSON.parse(r.value.toString()) as { seq: number }).seq,
      )
      expect(seqs.sort((a, b) => a - b)).toEqual(readings.filter((r) => r.celsius > 30).map((r) => r.seq))
      const processed = metrics.map((m) => m.find('sluice_events_in_total')?.total() ?? 0)
      expect(processed[0]! + processed[1]!).toBe(900)
      expect(processed.every((n) => n > 0)).toBe(true)
    } finally {
      for (const runner of runners) await runner.stop()
      for (const nodeLog of nodes) await nodeLog.close()
    }
  })

  it('dead-letters an output the broker refuses (event time hours ahead) and goes on, also after a restart', async () => {
    const input = uniqueName('future-in')
    const output = uniqueName('future-out')
    const deadLetters = uniqueName('future-dead')
    const group = uniqueName('future-group')
    // The sink writes the event time as the record timestamp; the broker refuses one more than
    // message.timestamp.after.max.ms (1 h by default) ahead.
    const artifactDir = await compileFixture(pipe(input, output), 'sensors-future')
    await log.ensureTopic(input, { partitions: PARTITIONS })
    const now = Date.now()
    const events = [
      { sensor: 's1', celsius: 40, seq: 1, at: now },
      { sensor: 's1', celsius: 41, seq: 2, at: now + 3 * 3600_000 },
      { sensor: 's2', celsius: 42, seq: 3, at: now },
    ]
    // The input records carry the append time, so the broker takes them; only the output is refused.
    await log.append(
      input,
      events.map((e) => ({ key: e.sensor, value: Buffer.from(JSON.stringify(e)) })),
    )
    await runOnce(artifactDir, group, deadLetters)
    // A restart neither fails on the refused record nor repeats anything.
    await runOnce(artifactDir, group, deadLetters)

    const seqs = (await readTopic(output)).map((r) => (JSON.parse(r.value.toString()) as { seq: number }).seq)
    expect(seqs.sort()).toEqual([1, 3])
    const dead = await readTopic(deadLetters)
    expect(dead).toHaveLength(1)
    expect(JSON.parse(dead[0]!.value.toString())).toEqual(events[1])
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.stage]).toBe('sink')
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(
      new RegExp(`^${output} refused the output record: .*timestamp`, 'i'),
    )
  })

  it('moves a killed node’s partitions to the survivor within seconds (session timeout from the CLI)', async () => {
    const input = uniqueName('kill-in')
    const output = uniqueName('kill-out')
    const group = uniqueName('kill-group')
    const artifactDir = await compileFixture(pipe(input, output), 'sensors-kill')
    await log.ensureTopic(input, { partitions: PARTITIONS })
    const { spawn } = await import('node:child_process')
    const { join } = await import('node:path')
    const node = () =>
      spawn(
        process.execPath,
        [
          join(import.meta.dirname, '..', '..', 'bin/sluice.js'),
          'run',
          artifactDir,
          '--kafka',
          kafkaBrokers().join(','),
          '--group',
          group,
          '--partitions',
          String(PARTITIONS),
          '--kafka-session-timeout',
          '6000',
          '--kafka-heartbeat-interval',
          '500',
          '--log-level',
          'error',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      )
    const survivor = node()
    const victim = node()
    let survivorErr = ''
    survivor.stderr.on('data', (chunk: Buffer) => {
      survivorErr += chunk.toString()
    })
    try {
      const first = Array.from({ length: 300 }, (_, i) => reading(i))
      // Both members hold partitions before anything is appended.
      await waitFor(async () => (await assignedMembers(group)) === 2)
      await log.append(
        input,
        first.map((r) => ({ key: r.sensor, value: Buffer.from(JSON.stringify(r)) })),
      )
      // Both members work until the first events are through, then one is killed without leaving.
      await waitFor(() => groupCaughtUp(group, input))
      victim.kill('SIGKILL')
      const second = Array.from({ length: 300 }, (_, i) => reading(300 + i))
      await log.append(
        input,
        second.map((r) => ({ key: r.sensor, value: Buffer.from(JSON.stringify(r)) })),
      )
      const expected = [...first, ...second].filter((r) => r.celsius > 30).map((r) => r.seq)
      // Every partition, the victim's included, is processed (and committed) by the survivor.
      await waitFor(() => groupCaughtUp(group, input), 60_000)
      const seqs = new Set(
        (await readTopic(output)).map((r) => (JSON.parse(r.value.toString()) as { seq: number }).seq),
      )
      expect([...seqs].sort((a, b) => a - b)).toEqual(expected)
      expect(survivor.exitCode, survivorErr).toBe(null)
    } finally {
      victim.kill('SIGKILL')
      survivor.kill('SIGTERM')
      await new Promise((resolve) => survivor.once('exit', resolve))
    }
  })

  it('works through the CLI with --kafka', async () => {
    const input = uniqueName('cli-in')
    const output = uniqueName('cli-out')
    const artifactDir = await compileFixture(pipe(input, output), 'sensors-cli')
    const { mkdtemp, writeFile } = await import('node:fs/promises')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const file = join(await mkdtemp(join(tmpdir(), 'sluice-kafka-cli-')), 'events.jsonl')
    await writeFile(file, [reading(45), reading(10), reading(31)].map((r) => JSON.stringify(r)).join('\n'))

    const cli = async (...argv: string[]) => {
      const { code, stdout, stderr } = await runCli(...argv)
      expect(code, stderr).toBe(0)
      return stdout
    }
    const brokers = kafkaBrokers().join(',')
    await cli('produce', input, '--file', file, '--key-field', 'sensor', '--kafka', brokers)
    await cli(
      'run',
      artifactDir,
      '--kafka',
      brokers,
      '--until-caught-up',
      '--group',
      uniqueName('g'),
      '--log-level',
      'error',
    )
    const lines = (await cli('consume', output, '--kafka', brokers)).trim().split('\n')
    expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq).sort((a, b) => a - b)).toEqual([31, 45])
  })
})
