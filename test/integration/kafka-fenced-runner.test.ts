/**
 * A zombie runner fenced mid-stream on the real broker (issue 12 item 4, decision 0011's addendum):
 * two PipelineRunner incarnations of one node (same group, so the same transactional ids
 * `<group>.<topic>.<partition>`, and the same client id), exactly-once, state in the real Redis.
 * The first stalls on one partition (held in its handler, or in the middle of a checkpoint's
 * commit); the second starts, removes the first's group member as a node's new incarnation does
 * (decision 0025), takes the partitions and, by its InitProducerId, fences the first's producers
 * and aborts their open transactions. Then the first wakes up:
 *
 * - its held work must not land: every append or commit it tries after waking fails (LOG_FENCED),
 *   and what its open transaction had appended is never visible to read_committed readers;
 * - the runner must take the fence as the end of a subscription, not of the node: it joins the
 *   group again, restores the epochs its new partitions committed, and goes on;
 * - the committed output of both incarnations together must equal the brute-force reference
 *   exactly (0 missing, 0 duplicated, each card's rows in order).
 *
 * Sharing of the partitions after the first rejoins restores state on whichever node gets them, so
 * state written by the zombie where it no longer owned the partition would show in the counts.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type LoadedArtifact, loadArtifact } from '../../runtime/artifact/load.ts'
import { isSluiceError } from '../../runtime/errors.ts'
import type { Log } from '../../runtime/log/index.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { partitionForKey } from '../../runtime/log/partitioner.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'
import { epochOfMetadata } from '../../runtime/node/operator-state.ts'
import { PipelineRunner } from '../../runtime/node/pipeline-runner.ts'
import { createLogger } from '../../runtime/observability/logger.ts'
import { RedisSnapshotStore } from '../../runtime/state/redis-snapshot-store.ts'
import { compileFixture } from '../support/compile-fixture.ts'
import { withTimeout } from '../support/crash-injection.ts'
import { readTopic } from '../support/read-topic.ts'
import { type FencePoint, StallingLog } from '../support/stalling-log.ts'
import {
  type ChaosEvent,
  type CountRow,
  chaosEvents,
  compareCounts,
  expectedCounts,
} from '../support/stateful-reference.ts'
import { connectKafkaAdmin, connectKafkaLog, stableGroupAssignment, uniqueName } from './kafka-env.ts'

const PARTITIONS = 2
const EVENTS = 8000
const WITHIN_MS = 60_000
const REDIS_URL = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6390'
const FENCED_WARNING = 'fenced by a newer owner of a partition; joining the group again'

function pipeline(input: string, output: string): string {
  return `
schema Payment { id: string, card: string, amount: i64, ts: timestamp @event_time }
source payments: Payment from kafka("${input}")
stream fresh = payments | dedup by id within 1m
stream counts = fresh | aggregate by card { n: count(), total: sum(amount) } | key by card
sink counts -> kafka("${output}")
`
}

/** What a test opened, closed after it whatever happens. */
const opened: { close(): Promise<void> }[] = []
const runners: PipelineRunner[] = []
const stalling: StallingLog[] = []
afterEach(async () => {
  // A stalled runner's stop() waits for its held batch.
  for (const log of stalling.splice(0)) log.release()
  await Promise.allSettled(runners.splice(0).map((r) => r.stop()))
  await Promise.allSettled(opened.splice(0).map((o) => o.close()))
}, 60_000)

/** One incarnation of the node: its own Kafka connections and Redis connection, its log lines. */
interface Incarnation {
  readonly runner: PipelineRunner
  readonly log: StallingLog
  readonly lines: string[]
  /** Set when the runner ended by itself (it must not: a fence only ends a subscription). */
  ended: { error: unknown } | null
}

async function incarnation(
  artifact: LoadedArtifact,
  names: { group: string; deadLetters: string; prefix: string },
  stall: FencePoint | null,
  stallAfterRecords: number,
): Promise<Incarnation> {
  const kafka: KafkaLog = await connectKafkaLog()
  opened.push(kafka)
  const log = new StallingLog(kafka, stall, stallAfterRecords)
  stalling.push(log)
  const stateStore = await RedisSnapshotStore.connect({ url: REDIS_URL, prefix: names.prefix })
  const lines: string[] = []
  const runner = await PipelineRunner.start({
    log,
    artifact,
    metrics: new MetricsRegistry(),
    logger: createLogger({ level: 'info', write: (line) => lines.push(line) }),
    group: names.group,
    deadLetterTopic: names.deadLetters,
    partitions: PARTITIONS,
    stateStore,
    delivery: 'exactly-once',
    checkpointIntervalMs: 200,
    maxBatchRecords: 25,
  })
  runners.push(runner)
  const self: Incarnation = { runner, log, lines, ended: null }
  runner.done.then(
    () => {
      self.ended = { error: null }
    },
    (error: unknown) => {
      self.ended = { error }
    },
  )
  return self
}

async function produce(log: Log, topic: string, events: readonly ChaosEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) {
    await log.append(
      topic,
      events.slice(i, i + 1000).map((e) => ({
        key: e.card,
        value: Buffer.from(
          JSON.stringify({ id: e.id, card: e.card, amount: e.amount, ts: new Date(e.ts).toISOString() }),
        ),
      })),
    )
  }
}

/**
 * The scenario of every test: the first incarnation stalls at `stall` once it has handled a
 * fifth of the input, the second takes its partitions over, then the first wakes up.
 */
async function fencedMidStream(stall: FencePoint, seed: number): Promise<void> {
  const input = uniqueName('fence-in')
  const output = uniqueName('fence-out')
  const names = {
    group: uniqueName('fence-group'),
    deadLetters: uniqueName('fence-dead'),
    prefix: uniqueName('fence-state'),
  }
  // A name of its own: the state scopes in Redis start with it.
  const artifact = await loadArtifact(await compileFixture(pipeline(input, output), uniqueName('fence')))
  const admin = await connectKafkaLog()
  opened.push(admin)
  const events = chaosEvents(EVENTS, 40, WITHIN_MS, seed)
  // The second half comes once the zombie has joined again, so that both incarnations have work
  // (and restore state) after the fence.
  const half = EVENTS / 2
  await admin.ensureTopic(input, { partitions: PARTITIONS })
  await produce(admin, input, events.slice(0, half))

  const zombie = await incarnation(artifact, names, stall, half / 4)
  await waitFor(() => zombie.log.stalled !== null, 'the first incarnation to stall', 60_000)
  const stalled = zombie.log.stalled!
  // Held with outputs in its open transaction: they must never become visible.
  expect(stalled.openAppends.length).toBeGreaterThan(0)

  const successor = await incarnation(artifact, names, null, 0)
  // The successor handles the stalled partition only after its InitProducerId fenced the zombie's
  // producer of that partition and aborted its open transaction; it has committed an epoch of it,
  // in the log and in the state store, before the zombie wakes. (The zombie's other partitions go
  // on meanwhile: only the stalled one is held; whatever they commit before the successor takes
  // them over is read by the successor when it does.)
  await waitFor(
    () => successor.log.lastCommitOf(stalled.partition) !== undefined,
    () =>
      `the second incarnation to take partition ${stalled.partition} over; its log:\n${successor.lines.join('')}\n${successor.log.trace.slice(-20).join('\n')}`,
    60_000,
  )
  const successorEpoch = epochOfMetadata(successor.log.lastCommitOf(stalled.partition)!)
  await waitForAsync(
    async () =>
      (await storeEpoch(names.prefix, artifact.manifest.name, input, stalled.partition)) >= successorEpoch,
    `the state store to commit epoch ${successorEpoch} of partition ${stalled.partition}`,
  )
  const visibleWhileHeld = await positions(admin, output)
  for (const p of stalled.openAppends)
    expect(visibleWhileHeld.has(p), `zombie output ${p} visible`).toBe(false)

  zombie.log.release()
  await waitFor(
    () => zombie.ended !== null || zombie.lines.some((line) => line.includes(FENCED_WARNING)),
    () =>
      `the first incarnation to be fenced and to join the group again (ended: ${String(zombie.ended?.error)}); its log:\n${zombie.lines.join('').slice(-3000)}\n${zombie.log.trace.slice(-20).join('\n')}`,
    60_000,
  )
  expect(zombie.ended, `the first incarnation ended: ${String(zombie.ended?.error)}`).toBeNull()
  // Whatever the woken zombie tried for its held batch or checkpoint was refused.
  await stalled.settled()
  expect(stalled.landed, 'appends or a commit of the zombie after the fence landed').toEqual([])
  expect(stalled.refusals.length).toBeGreaterThan(0)
  for (const refusal of stalled.refusals)
    expect(isSluiceError(refusal, 'LOG_FENCED'), `refused with ${String(refusal)}`).toBe(true)
  if (stall === 'before-stage') {
    // Refused by the state store before the log was asked: the successor took the scope over there.
    expect(isSluiceError((stalled.refusals[0] as Error).cause, 'STATE_FENCED')).toBe(true)
  }

  // Both incarnations in the group now: the partitions are shared again, each restored on the
  // node that gets it, and the two finish the input together. (The fence warning comes when the
  // zombie starts to join again: until the group settles the successor still holds every
  // partition, and input produced before then could all be its to handle.)
  await waitForAsync(
    async () => (await membersHolding(names.group, input)) === PARTITIONS,
    `the group to settle with each incarnation holding a partition of ${input}`,
    90_000,
  )
  await produce(admin, input, events.slice(half))
  await zombie.runner.waitUntilCaughtUp(120_000)
  expect(zombie.ended, `the first incarnation ended: ${zombie.lines.slice(-5).join('')}`).toBeNull()
  expect(successor.ended, `the second incarnation ended: ${successor.lines.slice(-5).join('')}`).toBeNull()
  expect(
    zombie.log.handledAfterRelease,
    'the first incarnation handled nothing after rejoining',
  ).toBeGreaterThan(0)
  await withTimeout(successor.runner.stop(), 'the second incarnation to stop', 30_000)
  await withTimeout(zombie.runner.stop(), 'the first incarnation to stop', 30_000)

  const committed = await readTopic(admin, output)
  for (const p of stalled.openAppends)
    expect(committed.some((r) => position(output, r.partition, r.offset) === p)).toBe(false)
  const rows = committed.map((r) => JSON.parse(r.value.toString()) as CountRow)
  const expected = expectedCounts(events, WITHIN_MS, (e) => partitionForKey(e.card, PARTITIONS))
  const total = [...expected.values()].reduce((n, list) => n + list.length, 0)
  const problems = compareCounts(expected, rows)
  console.log(
    `[fence ${stall}] partition ${stalled.partition} stalled after ${stalled.handledBefore} records with ${stalled.openAppends.length} open outputs, refused on waking: ${stalled.refusals.map((e) => (isSluiceError(e) ? e.code : String(e))).join(' ')}; ${rows.length} rows committed, ${total} expected, ${problems.length} problems`,
  )
  expect(problems.slice(0, 20)).toEqual([])
  expect(rows.length).toBe(total)
  expect(await readTopic(admin, names.deadLetters).catch(() => [])).toEqual([])
}

/** How many members of a stable `group` hold at least one partition of `topic` (0 while it rebalances). */
async function membersHolding(group: string, topic: string): Promise<number> {
  const admin = await connectKafkaAdmin()
  try {
    const assignment = await stableGroupAssignment(admin, group)
    return assignment.filter((member) => (member[topic]?.length ?? 0) > 0).length
  } finally {
    await admin.disconnect()
  }
}

/** The newest epoch the state store committed for every stateful step of one source partition. */
async function storeEpoch(
  prefix: string,
  pipeline: string,
  topic: string,
  partition: number,
): Promise<number> {
  const store = await RedisSnapshotStore.connect({ url: REDIS_URL, prefix })
  try {
    const scopes = (await store.scopes(pipeline)).filter(
      (s) => s.topic === topic && s.partition === partition,
    )
    if (scopes.length === 0) return 0
    const epochs = await Promise.all(scopes.map(async (scope) => (await store.load(scope)).epoch))
    return Math.min(...epochs)
  } finally {
    await store.close()
  }
}

async function waitForAsync(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function position(topic: string, partition: number, offset: number): string {
  return `${topic}/${partition}@${offset}`
}

async function positions(log: Log, topic: string): Promise<Set<string>> {
  return new Set((await readTopic(log, topic)).map((r) => position(topic, r.partition, r.offset)))
}

async function waitFor(
  condition: () => boolean,
  what: string | (() => string),
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      )
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('a runner fenced mid-stream by a second incarnation of its node (Kafka + Redis)', () => {
  it('stalled before handling a batch, with outputs in its open transaction: its appends are refused, it rejoins, the output is exact', async () => {
    await fencedMidStream('before-handler', 31)
  }, 240_000)

  it('stalled in a checkpoint after staging its state: LOG_FENCED arrives in the middle of the commit, it rejoins, the output is exact', async () => {
    await fencedMidStream('after-stage', 32)
  }, 240_000)

  it('stalled in a checkpoint before staging its state: its late epoch is refused, it rejoins, the output is exact', async () => {
    await fencedMidStream('before-stage', 33)
  }, 240_000)
})
