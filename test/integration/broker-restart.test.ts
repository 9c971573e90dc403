/**
 * A node rides out broker restarts. The real `sluice produce` and `sluice run` binaries work
 * against the real broker while it is restarted three times on the same storage (SIGTERM, start
 * again: what an operator's rolling restart does, scripts/servers/kafka.sh restart). Every one of
 * 100,000 events must come out of the pipeline; the producer and the runner must both finish
 * cleanly. At-least-once allows a replayed batch (a commit lost to a restart), so duplicates are
 * counted and reported, not failed; a missing event fails the test.
 *
 * This test restarts the broker every other integration test uses, so it runs on its own file
 * (vitest.integration.config.ts runs files one at a time) and leaves the broker running.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import type { LogRecord } from '../../runtime/log/index.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { connectKafkaLog, kafkaBrokers, uniqueName } from './kafka-env.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const EVENTS = 100_000
const RESTARTS = 3
const PARTITIONS = 3

const scratch: string[] = []
afterAll(async () => {
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })))
})

/** The process's stderr and exit, collected. */
function watch(child: ChildProcess): { stderr: () => string; exit: Promise<number | null> } {
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  child.stdout?.resume()
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { stderr: () => stderr, exit }
}

function sluice(args: string[]): ChildProcess {
  return spawn(process.execPath, [join(ROOT, 'bin/sluice.js'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, SLUICE_KAFKA_BROKERS: kafkaBrokers().join(',') },
  })
}

/** Restarts the broker on its storage, staying down `downSeconds` in between. */
async function restartBroker(downSeconds: number): Promise<void> {
  await promisify(execFile)(
    'bash',
    [join(ROOT, 'scripts/servers/kafka.sh'), 'restart', String(downSeconds)],
    {
      env: process.env,
      timeout: 120_000,
    },
  )
}

/**
 * Writes `lines` to the producer's stdin, waiting whenever its buffer is full (the producer is
 * blocked on the log); fails with the producer's stderr if it exits before taking them.
 */
async function feed(
  child: ChildProcess,
  watched: { stderr: () => string; exit: Promise<number | null> },
  lines: string[],
): Promise<void> {
  const stdin = child.stdin!
  stdin.on('error', () => {}) // EPIPE when the producer died: reported below with its stderr
  const exited = watched.exit.then((code) => {
    throw new Error(`sluice produce exited with ${code} while being fed:\n${watched.stderr().slice(-4000)}`)
  })
  exited.catch(() => {})
  const chunk = 2000
  for (let i = 0; i < lines.length; i += chunk) {
    const text = `${lines.slice(i, i + chunk).join('\n')}\n`
    if (!stdin.write(text))
      await Promise.race([new Promise((resolve) => stdin.once('drain', resolve)), exited])
  }
}

describe('a node and a producer during broker restarts', () => {
  it(`deliver all of ${EVENTS} events through ${RESTARTS} broker restarts`, async () => {
    const input = uniqueName('restart-in')
    const output = uniqueName('restart-out')
    const deadLetters = uniqueName('restart-dead')
    const group = uniqueName('restart-group')
    const artifact = await compileFixture(
      `
schema Tick { id: i64, device: string, value: f64 }
source ticks: Tick from kafka("${input}")
stream scaled = ticks | select { id, device, scaled: value * 2.0 } | key by device
sink scaled -> kafka("${output}") timestamp append
`,
      'restarts',
    )
    const data = await mkdtemp(join(tmpdir(), 'sluice-restarts-'))
    scratch.push(data)
    const lines = Array.from({ length: EVENTS }, (_, id) =>
      JSON.stringify({ id, device: `d${id % 97}`, value: id / 10 }),
    )

    const producer = sluice(['produce', input, '--key-field', 'device', '--partitions', String(PARTITIONS)])
    const produced = watch(producer)
    const runner = sluice([
      'run',
      artifact,
      '--group',
      group,
      '--partitions',
      String(PARTITIONS),
      '--dead-letter-topic',
      deadLetters,
      '--log-level',
      'info',
      '--log-format',
      'json',
    ])
    const running = watch(runner)

    // Events arrive in ten slices with a broker restart after the 2nd, 5th and 8th, so the
    // producer and the runner both meet each restart with work in flight.
    const slices = 10
    // The second outage outlasts kafkajs's own retries (about 10 s), so the producer's and the
    // runner's sends fail and Sluice's own waiting has to carry them.
    const restartAfter = new Map([
      [2, 0],
      [5, 20],
      [8, 0],
    ])
    // A restart runs while the next slices are fed, so the producer and the runner both have
    // work during every outage (waiting for it first would let the producer sit idle through it).
    let restarting: Promise<void> = Promise.resolve()
    for (let s = 0; s < slices; s++) {
      await feed(producer, produced, lines.slice((s * EVENTS) / slices, ((s + 1) * EVENTS) / slices))
      const down = restartAfter.get(s)
      if (down !== undefined) {
        await restarting
        restarting = restartBroker(down)
      } else await new Promise((resolve) => setTimeout(resolve, 300))
    }
    await restarting
    producer.stdin!.end()
    const producerExit = await produced.exit
    expect(producerExit, produced.stderr()).toBe(0)
    expect(produced.stderr()).toMatch(new RegExp(`${EVENTS} records appended`))

    // The runner goes on until it has written every event; then a SIGTERM stops it cleanly.
    const log = await connectKafkaLog()
    try {
      const deadline = Date.now() + 180_000
      let written = 0
      while (Date.now() < deadline) {
        written = (await log.endOffsets(output)).reduce((a, b) => a + b, 0)
        if (written >= EVENTS && (await caughtUp(log, group, input))) break
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
      runner.kill('SIGTERM')
      const runnerExit = await running.exit
      expect(runnerExit, running.stderr().slice(-4000)).toBe(0)
      // Every stderr line is JSON (--log-format json), and the outages were reported.
      const stderrLines = running
        .stderr()
        .split('\n')
        .filter((l) => l.length > 0)
      expect(stderrLines.filter((l) => !l.startsWith('{'))).toEqual([])
      const records = stderrLines.map((l) => JSON.parse(l) as { msg: string })
      expect(records.some((r) => /log unavailable/.test(r.msg))).toBe(true)
      expect(produced.stderr()).toMatch(/log unavailable; retrying the append/)
      expect(records.some((r) => r.msg === 'log available again')).toBe(true)

      const seen = new Map<number, number>()
      for (const record of await readAll(log, output)) {
        const id = (JSON.parse(record.value.toString()) as { id: number }).id
        seen.set(id, (seen.get(id) ?? 0) + 1)
      }
      const missing = lines.length - seen.size
      const duplicates = [...seen.values()].reduce((a, n) => a + n - 1, 0)
      console.log(
        `[broker-restart] ${EVENTS} events, ${RESTARTS} restarts: ${seen.size} delivered, ${missing} missing, ${duplicates} duplicates (at-least-once replays)`,
      )
      expect(missing).toBe(0)
      for (let id = 0; id < EVENTS; id++) expect(seen.has(id)).toBe(true)
      expect((await log.endOffsets(deadLetters)).reduce((a, b) => a + b, 0)).toBe(0)
      // What the producer appended: every line at least once (its retries resend only what the
      // broker did not acknowledge), in the input topic.
      expect((await log.endOffsets(input)).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(EVENTS)
    } finally {
      runner.kill('SIGKILL')
      producer.kill('SIGKILL')
      await log.close()
    }
  }, 600_000)
})

async function caughtUp(
  log: Awaited<ReturnType<typeof connectKafkaLog>>,
  group: string,
  topic: string,
): Promise<boolean> {
  const [ends, committed] = await Promise.all([log.endOffsets(topic), log.committedOffsets(group, topic)])
  return ends.every((end, p) => (committed[p] ?? -1) >= end)
}

async function readAll(
  log: Awaited<ReturnType<typeof connectKafkaLog>>,
  topic: string,
): Promise<LogRecord[]> {
  const records: LogRecord[] = []
  const ends = await log.endOffsets(topic)
  for (const [partition, end] of ends.entries()) {
    for (let offset = 0; offset < end; ) {
      const batch = await log.read(topic, partition, offset, 20_000)
      if (batch.length === 0) break
      records.push(...batch)
      offset = batch.at(-1)!.offset + 1
    }
  }
  return records
}
