/**
 * The task assigner without a broker: assignTasks on its own, with fast-check over random groups,
 * members and partition counts, and the kafkajs adapter over encoded member metadata.
 */
import fc from 'fast-check'
import { AssignerProtocol, type Cluster, type Logger } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import {
  type AssignableMember,
  assignTasks,
  type MemberPartitions,
  TASK_ASSIGNER,
  taskAssigner,
} from './kafka-assigner.ts'
import { Tasks } from './tasks.ts'

async function tasksOf(topics: readonly string[], groups: readonly (readonly string[])[]): Promise<Tasks> {
  return Tasks.of({ group: 'g', topics, copartitioned: groups }, async () => 1)
}

const member = (memberId: string, topics: readonly string[]): AssignableMember => ({ memberId, topics })

/** member → sorted `topic/partition` entries, for readable expectations. */
function flat(assignment: ReadonlyMap<string, MemberPartitions>): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [memberId, partitions] of assignment) {
    out[memberId] = Object.entries(partitions)
      .flatMap(([topic, ps]) => ps.map((p) => `${topic}/${p}`))
      .sort()
  }
  return out
}

describe('assignTasks', () => {
  it('gives partition p of every topic of a group to one member, spreading the tasks round robin by sorted member id', async () => {
    const topics = ['a', 'b']
    const tasks = await tasksOf(topics, [['a', 'b']])
    const members = [member('m-2', topics), member('m-1', topics)]
    expect(flat(assignTasks(members, topics, () => 4, tasks))).toEqual({
      'm-1': ['a/0', 'a/2', 'b/0', 'b/2'],
      'm-2': ['a/1', 'a/3', 'b/1', 'b/3'],
    })
    // The order members and topics come in does not matter.
    expect(flat(assignTasks([...members].reverse(), ['b', 'a'], () => 4, tasks))).toEqual(
      flat(assignTasks(members, topics, () => 4, tasks)),
    )
  })

  it('spreads the grouped tasks first, then partitions of topics in no group, each member within one of the others', async () => {
    const topics = ['lone', 'a', 'b']
    const tasks = await tasksOf(topics, [['a', 'b']])
    const members = [member('x', topics), member('y', topics)]
    const counts: Record<string, number> = { a: 3, b: 3, lone: 3 }
    expect(flat(assignTasks(members, topics, (t) => counts[t]!, tasks))).toEqual({
      x: ['a/0', 'a/2', 'b/0', 'b/2', 'lone/1'],
      y: ['a/1', 'b/1', 'lone/0', 'lone/2'],
    })
  })

  it('a task goes to a member subscribed to all its topics; every member gets an entry, even an empty one', async () => {
    const topics = ['a', 'b']
    const tasks = await tasksOf(topics, [['a', 'b']])
    const members = [member('m-1', ['a']), member('m-2', topics), member('m-3', topics)]
    expect(flat(assignTasks(members, topics, () => 3, tasks))).toEqual({
      'm-1': [],
      'm-2': ['a/0', 'a/2', 'b/0', 'b/2'],
      'm-3': ['a/1', 'b/1'],
    })
  })

  it('topics of a group that no longer agree on their partition count still assign partition p of each that has it together', async () => {
    const topics = ['a', 'b']
    const tasks = await tasksOf(topics, [['a', 'b']])
    const counts: Record<string, number> = { a: 2, b: 3 }
    expect(flat(assignTasks([member('m', topics)], topics, (t) => counts[t]!, tasks))).toEqual({
      m: ['a/0', 'a/1', 'b/0', 'b/1', 'b/2'],
    })
  })

  it('without members assigns nothing', async () => {
    const tasks = await tasksOf(['a', 'b'], [['a', 'b']])
    expect(assignTasks([], ['a', 'b'], () => 2, tasks).size).toBe(0)
  })

  it('property: every partition once, tasks whole, grouped tasks and all tasks each spread within one', async () => {
    const scenario = fc.record({
      /** Topic i has counts[i] partitions; consecutive runs of topics form groups. */
      counts: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }),
      groupSizes: fc.array(fc.integer({ min: 2, max: 3 }), { maxLength: 3 }),
      members: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }),
    })
    await fc.assert(
      fc.asyncProperty(scenario, async ({ counts, groupSizes, members: ids }) => {
        const topics = counts.map((_, i) => `t${i}`)
        const groups: string[][] = []
        let next = 0
        for (const size of groupSizes) {
          if (next + size > topics.length) break
          groups.push(topics.slice(next, next + size))
          next += size
        }
        // Co-partitioned topics share their first topic's count.
        const count = new Map<string, number>()
        for (const [i, topic] of topics.entries()) count.set(topic, counts[i]!)
        for (const group of groups) for (const topic of group) count.set(topic, count.get(group[0]!)!)
        const tasks = await Tasks.of(
          { group: 'g', topics, copartitioned: groups },
          async (t) => count.get(t)!,
        )
        const assignment = assignTasks(
          ids.map((id) => member(id, topics)),
          topics,
          (t) => count.get(t)!,
          tasks,
        )
        const owner = new Map<string, string>()
        for (const [memberId, partitions] of assignment) {
          for (const [topic, ps] of Object.entries(partitions)) {
            for (const p of ps) {
              const key = `${topic}/${p}`
              expect(owner.has(key), `${key} assigned twice`).toBe(false)
              owner.set(key, memberId)
            }
          }
        }
        let total = 0
        for (const topic of topics) {
          for (let p = 0; p < count.get(topic)!; p++) {
            total++
            expect(owner.has(`${topic}/${p}`), `${topic}/${p} unassigned`).toBe(true)
          }
        }
        expect(owner.size).toBe(total)
        const taskLoad = new Map(ids.map((id) => [id, 0]))
        const allLoad = new Map(ids.map((id) => [id, 0]))
        for (const topic of topics) {
          const lead = tasks.of(topic, 0).topic
          if (lead !== topic) continue
          for (let p = 0; p < count.get(topic)!; p++) {
            const holder = owner.get(`${topic}/${p}`)!
            for (const other of tasks.topicsOf(lead)) expect(owner.get(`${other}/${p}`)).toBe(holder)
            allLoad.set(holder, allLoad.get(holder)! + 1)
            if (tasks.topicsOf(lead).length > 1) taskLoad.set(holder, taskLoad.get(holder)! + 1)
          }
        }
        for (const load of [taskLoad, allLoad]) {
          expect(Math.max(...load.values()) - Math.min(...load.values())).toBeLessThanOrEqual(1)
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('taskAssigner (kafkajs)', () => {
  it('decodes the members’ topics, reads partition counts from the cluster, and encodes each assignment', async () => {
    const tasks = await tasksOf(['a', 'b'], [['a', 'b']])
    const cluster = {
      findTopicPartitionMetadata: (topic: string) =>
        Array.from({ length: topic === 'a' || topic === 'b' ? 2 : 0 }, (_, partitionId) => ({ partitionId })),
    } as unknown as Cluster
    const assigner = taskAssigner(tasks)({ cluster, groupId: 'g', logger: {} as Logger })
    expect(assigner.name).toBe(TASK_ASSIGNER)
    const protocol = assigner.protocol({ topics: ['a', 'b'] })
    expect(protocol.name).toBe(TASK_ASSIGNER)
    expect(AssignerProtocol.MemberMetadata.decode(protocol.metadata)?.topics).toEqual(['a', 'b'])
    const members = ['m-2', 'm-1'].map((memberId) => ({ memberId, memberMetadata: protocol.metadata }))
    const assigned = await assigner.assign({ members, topics: ['a', 'b'] })
    const decoded = Object.fromEntries(
      assigned.map(({ memberId, memberAssignment }) => [
        memberId,
        AssignerProtocol.MemberAssignment.decode(memberAssignment)?.assignment,
      ]),
    )
    expect(decoded).toEqual({ 'm-1': { a: [0], b: [0] }, 'm-2': { a: [1], b: [1] } })
  })
})
