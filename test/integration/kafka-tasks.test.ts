import type { Admin } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import type { Delivery, Log, RecordBatch, Subscription } from '../../runtime/log/index.ts'
import type { KafkaLog } from '../../runtime/log/kafka.ts'
import { readTopic } from '../support/read-topic.ts'
import { CuttableNetwork } from './cuttable-network.ts'
import { connectKafkaAdmin, connectKafkaLog, stableGroupAssignment, uniqueName } from './kafka-env.ts'

const PARTITIONS = 4

/** What one member of the group saw: hooks by task partition, and the records it handled. */
class Member {
  readonly events: string[] = []
  /** Per task partition, the metadata of its last `committed`. */
  readonly lastCommitted = new Map<number, string>()
  /** Per task partition, the metadata `assigned` was given, in order. */
  readonly assignedWith = new Map<number, (string | null)[]>()
  /** Topics the hooks were called with. */
  readonly hookTopics = new Set<string>()
  /** `topic/partition/offset` of every record handled. */
  readonly handled: string[] = []
  subscription: Subscription | undefined

  constructor(readonly name: string) {}

  /** Task partitions this member holds now: assigned and not revoked since. */
  owned(): number[] {
    const held = new Set<number>()
    for (const event of this.events) {
      const [kind, partition] = event.split(' ')
      if (kind === 'assigned') held.add(Number(partition))
      if (kind === 'revoked') held.delete(Number(partition))
    }
    return [...held].sort()
  }
}

describe('KafkaLog co-partitioned tasks in a consumer group', () => {
  const logs: KafkaLog[] = []
  const running: Subscription[] = []
  const admins: Admin[] = []
  const cleanups: (() => void)[] = []

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) cleanup()
    await Promise.allSettled(running.splice(0).map((s) => s.stop()))
    await Promise.allSettled(logs.splice(0).map((l) => l.close()))
    await Promise.allSettled(admins.splice(0).map((a) => a.disconnect()))
  }, 90_000)

  async function open(network?: CuttableNetwork): Promise<KafkaLog> {
    const log = await connectKafkaLog(
      network === undefined ? {} : { socketFactory: network.factory, retries: 2 },
    )
    logs.push(log)
    return log
  }

  /** The group's members and their assignments once it is stable (kafka-env's stableGroupAssignment). */
  async function groupAssignment(group: string): Promise<Record<string, number[]>[]> {
    if (admins.length === 0) admins.push(await connectKafkaAdmin())
    return stableGroupAssignment(admins[0]!, group)
  }

  /** Waits until the group is stable with `members` members, and returns their assignments. */
  async function settled(group: string, members: number): Promise<Record<string, number[]>[]> {
    let last: Record<string, number[]>[] = []
    await waitForAsync(
      async () => {
        last = await groupAssignment(group)
        return last.length === members
      },
      `the group to settle with ${members} member(s)`,
      60_000,
    )
    return last
  }

  async function fill(log: Log, topic: string, from: number, n: number): Promise<void> {
    await log.append(
      topic,
      Array.from({ length: n }, (_, i) => ({
        key: null,
        value: Buffer.from(`${topic}-${from + i}`),
        partition: (from + i) % PARTITIONS,
      })),
    )
  }

  async function subscribe(
    log: Log,
    member: Member,
    options: {
      readonly group: string
      readonly topics: readonly string[]
      /** The co-partitioned pair among `topics`; hooks of other tasks are only counted in hookTopics. */
      readonly grouped: readonly [string, string]
      readonly out: string
      readonly delivery: Delivery
      readonly intervalMs: number
      readonly transactionalId?: string
      /** Runs after the batch's outputs were appended. */
      readonly afterAppend?: (batch: RecordBatch) => Promise<void>
    },
  ): Promise<Subscription> {
    let prepared = 0
    const subscription = await log.subscribe(
      {
        group: options.group,
        topics: options.topics,
        copartitioned: [options.grouped],
        delivery: options.delivery,
        maxBatchRecords: 5,
        checkpoint: {
          intervalMs: options.intervalMs,
          ...(options.transactionalId === undefined ? {} : { transactionalId: options.transactionalId }),
          assigned: async (topic, partition, metadata) => {
            member.hookTopics.add(topic)
            if (topic !== options.grouped[0]) return
            member.events.push(`assigned ${partition} ${metadata}`)
            member.assignedWith.set(partition, [...(member.assignedWith.get(partition) ?? []), metadata])
          },
          prepare: async (topic, partition) => {
            member.hookTopics.add(topic)
            return `${member.name}:${partition}:${++prepared}`
          },
          committed: async (topic, partition, metadata) => {
            member.hookTopics.add(topic)
            if (topic !== options.grouped[0]) return
            member.events.push(`committed ${partition} ${metadata}`)
            member.lastCommitted.set(partition, metadata)
          },
          revoked: (topic, partition) => {
            member.hookTopics.add(topic)
            if (topic !== options.grouped[0]) return
            member.events.push(`revoked ${partition}`)
          },
        },
      },
      async (batch) => {
        const lead = options.grouped.includes(batch.topic) ? options.grouped[0] : batch.topic
        expect(batch.task).toEqual({ topic: lead, partition: batch.partition })
        await batch.transaction!.append(
          options.out,
          batch.records.map((r) => ({
            key: null,
            value: Buffer.from(`out:${r.value.toString()}`),
            partition: r.partition,
          })),
        )
        member.handled.push(...batch.records.map((r) => `${r.topic}/${r.partition}/${r.offset}`))
        await options.afterAppend?.(batch)
      },
    )
    member.subscription = subscription
    running.push(subscription)
    return subscription
  }

  /** Every member of `assignments` holds whole tasks: the same partitions of both topics. */
  function expectWholeTasks(assignments: Record<string, number[]>[], a: string, b: string): void {
    for (const assignment of assignments) expect(assignment[b] ?? []).toEqual(assignment[a] ?? [])
    const all = assignments.flatMap((assignment) => assignment[a] ?? []).sort()
    expect(all).toEqual([0, 1, 2, 3])
  }

  it('assigns whole tasks to each member, and moves a leaving member’s tasks whole to the other, whose assigned gets the committed metadata', async () => {
    const firstLog = await open()
    const secondLog = await open()
    const a = uniqueName('tasks-a')
    const b = uniqueName('tasks-b')
    const lone = uniqueName('tasks-ab-lone')
    const out = uniqueName('tasks-out')
    const group = uniqueName('tasks-group')
    await firstLog.ensureTopic(lone)
    await firstLog.ensureTopic(a, { partitions: PARTITIONS })
    await firstLog.ensureTopic(b, { partitions: PARTITIONS })
    await firstLog.ensureTopic(out, { partitions: PARTITIONS })
    const options = {
      group,
      // A topic in no group between the pair's (in subscription and in name order): kafkajs's
      // round robin would then give a's partition p and b's to different members, so whole tasks
      // below are the task assigner's doing.
      topics: [a, lone, b],
      grouped: [a, b] as const,
      out,
      delivery: 'at-least-once' as const,
      intervalMs: 100,
    }
    await firstLog.append(
      lone,
      Array.from({ length: 10 }, (_, i) => ({ key: null, value: Buffer.from(`${lone}-${i}`) })),
    )
    await fill(firstLog, a, 0, 40)
    await fill(firstLog, b, 0, 40)
    const first = new Member('first')
    await subscribe(firstLog, first, options)
    const alone = await settled(group, 1)
    expect(alone[0]).toEqual({ [lone]: [0], [a]: [0, 1, 2, 3], [b]: [0, 1, 2, 3] })
    await waitForAsync(async () => (await firstLog.committedOffsets(group, lone))[0] === 10, 'the lone topic')
    // Everything committed before the second member joins, so the tasks it gets are not dirty.
    await waitForAsync(
      async () =>
        [
          ...(await firstLog.committedOffsets(group, a)),
          ...(await firstLog.committedOffsets(group, b)),
        ].every((offset) => offset === 10),
      'the first member to commit every record',
    )

    // A second member joins: two tasks each, both topics' partition p together.
    const second = new Member('second')
    await subscribe(secondLog, second, options)
    const split = await settled(group, 2)
    expectWholeTasks(split, a, b)
    expect(split.map((assignment) => assignment[a]!.length)).toEqual([2, 2])
    expect(split.flatMap((assignment) => assignment[lone] ?? [])).toEqual([0])
    // A task is opened (`assigned`) at its first batch: new records for every partition.
    await fill(firstLog, a, 40, 40)
    await fill(firstLog, b, 40, 40)
    await waitFor(
      () => first.owned().length === 2 && second.owned().length === 2,
      'two tasks each, as the hooks see them',
      60_000,
    )
    expect([...second.owned(), ...first.owned()].sort()).toEqual([0, 1, 2, 3])
    for (const partition of second.owned()) {
      // What the first member committed for the task before it left it.
      expect(second.assignedWith.get(partition)).toEqual([first.lastCommitted.get(partition)])
    }
    const handledBoth = () => new Set([...first.handled, ...second.handled]).size
    await waitFor(() => handledBoth() >= 170, 'both members to handle the new records')
    await waitForAsync(
      async () =>
        [
          ...(await firstLog.committedOffsets(group, a)),
          ...(await firstLog.committedOffsets(group, b)),
        ].every((offset) => offset === 20),
      'both members to commit the new records',
    )

    // The first member leaves: its tasks move to the second, whole.
    const leaving = first.owned()
    await first.subscription!.stop()
    await expect(first.subscription!.done).resolves.toBeUndefined()
    const together = await settled(group, 1)
    expect(together[0]).toEqual({ [lone]: [0], [a]: [0, 1, 2, 3], [b]: [0, 1, 2, 3] })
    await fill(secondLog, a, 80, 40)
    await fill(secondLog, b, 80, 40)
    await waitFor(() => second.owned().length === PARTITIONS, 'the second member to take every task', 60_000)
    for (const partition of leaving) {
      expect(first.lastCommitted.get(partition)).toMatch(/^first:/)
      expect(second.assignedWith.get(partition)!.at(-1)).toBe(first.lastCommitted.get(partition))
    }
    await waitForAsync(
      async () => {
        const offsets = [
          ...(await secondLog.committedOffsets(group, a)),
          ...(await secondLog.committedOffsets(group, b)),
        ]
        return offsets.every((offset) => offset === 30)
      },
      'every partition of both topics to commit its 30 records',
      60_000,
    )
    await second.subscription!.stop()
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const metadata = await secondLog.committedMetadata(group, a, partition)
      expect(metadata).toMatch(/^second:/)
      expect(await secondLog.committedMetadata(group, b, partition)).toBe(metadata)
    }
    // Hooks name a task by its first topic: never the pair's second one.
    expect(new Set([...first.hookTopics, ...second.hookTopics])).toEqual(new Set([lone, a]))
    const outputs = new Set((await readTopic(secondLog, out)).map((r) => r.value.toString()))
    for (let i = 0; i < 10; i++) expect(outputs.has(`out:${lone}-${i}`), `out:${lone}-${i}`).toBe(true)
    for (const topic of [a, b]) {
      for (let i = 0; i < 120; i++) expect(outputs.has(`out:${topic}-${i}`), `out:${topic}-${i}`).toBe(true)
    }
  }, 240_000)

  it('exactly-once: a member dying mid-epoch of its tasks (outputs of both topics appended) loses them whole to the other, which redoes the epoch: every output once', async () => {
    const network = new CuttableNetwork()
    const firstLog = await open(network)
    const secondLog = await open()
    cleanups.push(() => network.heal())
    const a = uniqueName('tasks-a')
    const b = uniqueName('tasks-b')
    const out = uniqueName('tasks-out')
    const group = uniqueName('tasks-group')
    const transactionalId = uniqueName('tasks-txn')
    await secondLog.ensureTopic(a, { partitions: PARTITIONS })
    await secondLog.ensureTopic(b, { partitions: PARTITIONS })
    await secondLog.ensureTopic(out, { partitions: PARTITIONS })
    await fill(secondLog, a, 0, 20)
    await fill(secondLog, b, 0, 20)

    let crashing = false
    /** Task partitions whose epoch the first member appended outputs of both topics for, then hung in. */
    const hung = new Set<number>()
    /** Per task partition, the topics the first member appended for since crashing began. */
    const appendedSince = new Map<number, Set<string>>()
    let release = () => {}
    const never = new Promise<void>((resolve) => {
      release = resolve
    })
    cleanups.push(() => release())
    const first = new Member('first')
    const second = new Member('second')
    const options = {
      group,
      topics: [a, b],
      grouped: [a, b] as const,
      out,
      delivery: 'exactly-once' as const,
      transactionalId,
    }
    await subscribe(firstLog, first, {
      ...options,
      // Long enough that the crashed epoch holds batches of both topics.
      intervalMs: 3000,
      afterAppend: async (batch) => {
        if (!crashing) return
        const topics = appendedSince.get(batch.partition) ?? new Set<string>()
        topics.add(batch.topic)
        appendedSince.set(batch.partition, topics)
        if (topics.size < 2) return
        hung.add(batch.partition)
        // The process dies here: the transaction stays open, nothing after this runs.
        await never
        throw new Error('the crashed member never gets further')
      },
    })
    await subscribe(secondLog, second, { ...options, intervalMs: 200 })
    expectWholeTasks(await settled(group, 2), a, b)
    await waitFor(() => first.owned().length === 2 && second.owned().length === 2, 'two tasks each', 60_000)
    const doomed = first.owned()
    // The first epoch of every task commits: the crash is in a later one.
    await waitForAsync(
      async () =>
        [
          ...(await secondLog.committedOffsets(group, a)),
          ...(await secondLog.committedOffsets(group, b)),
        ].every((offset) => offset === 5),
      'the first 40 records to commit',
      60_000,
    )

    crashing = true
    await fill(secondLog, a, 20, 20)
    await fill(secondLog, b, 20, 20)
    await waitFor(() => hung.size > 0, 'the first member to hang mid-epoch with outputs of both topics')
    network.cut()
    // What the dead member committed last: the next owner's `assigned` must get it.
    const committedAtCrash = new Map<number, string | null>()
    for (const partition of doomed) {
      const metadata = await secondLog.committedMetadata(group, a, partition)
      expect(metadata).toMatch(/^first:/)
      committedAtCrash.set(partition, metadata)
    }

    // The group drops the dead member after its session timeout; the second takes its tasks,
    // fences their transactions (aborting the hung epoch) and handles the records again.
    await waitFor(() => second.owned().length === PARTITIONS, 'the second member to take every task', 60_000)
    for (const partition of doomed) {
      expect(second.assignedWith.get(partition)!.at(-1)).toBe(committedAtCrash.get(partition))
    }
    await waitForAsync(
      async () =>
        [
          ...(await secondLog.committedOffsets(group, a)),
          ...(await secondLog.committedOffsets(group, b)),
        ].every((offset) => offset === 10),
      'every record to commit',
      90_000,
    )
    await second.subscription!.stop()
    await expect(second.subscription!.done).resolves.toBeUndefined()

    const outputs = (await readTopic(secondLog, out)).map((r) => r.value.toString())
    const expected = [a, b].flatMap((topic) => Array.from({ length: 40 }, (_, i) => `out:${topic}-${i}`))
    expect(outputs.sort()).toEqual(expected.sort())
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const metadata = await secondLog.committedMetadata(group, a, partition)
      expect(await secondLog.committedMetadata(group, b, partition)).toBe(metadata)
    }
  }, 240_000)
})

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  await waitForAsync(async () => condition(), what, timeoutMs)
}

async function waitForAsync(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}
